/* prompt_route.c: prompt mode: a prompt in the query string (or a POST
 * form) becomes one chat or completion call to the route's upstream, whose
 * answer is relayed as it is. */
#include "balance.h"
#include "gw.h"
#include "modes.h"
#include "prompt.h"
#include "query.h"
#include "str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per-request state of prompt mode: on serve's stack, in ex->mode_state
 * while the upstreams are called. */
struct prompt_state {
	const char *text;
	size_t len;
};

/* Finds the prompt: the query string, or for a POST form its body. */
static bool prompt_text(struct exchange *ex, char **text, size_t *len)
{
	const char *name = ex->route->prompt_param;
	enum query_result q = QUERY_MISSING;

	if (ex->req.body.len && ex_is_form(ex->req.content_type))
		q = query_get(ex->req.body.data, ex->req.body.len, name, text, len);
	if (q == QUERY_MISSING)
		q = query_get(ex->req.query, strlen(ex->req.query), name, text, len);
	if (q == QUERY_TOO_MANY)
		return ex_refuse(ex, 400, "invalid_request_error", "too_many_parameters",
			      "Too many parameters", "bad_request");
	if (q == QUERY_MISSING) {
		char msg[160];
		snprintf(msg, sizeof(msg), "Missing the prompt: send it as the %.64s parameter",
			 name);
		return ex_refuse(ex, 400, "invalid_request_error", "missing_prompt", msg,
			      "bad_request");
	}
	return true;
}

/* Prompt mode: the body for one upstream, with its model. */
static const char *prompt_for(struct exchange *ex, const struct gw_upstream *u, size_t *len,
			      char **owned)
{
	const struct prompt_state *ps = ex->mode_state;
	const char *model = balance_model(u, u->model ? u->model : ex->model);
	const char *why;

	*owned = prompt_body(ex->route->api, model, ps->text, ps->len, &why);
	*len = *owned ? strlen(*owned) : 0;
	return *owned;
}

void prompt_serve(struct exchange *ex)
{
	const struct gw_route *r = ex->route;
	struct prompt_state ps;
	const char *why = NULL;
	char *text = NULL;
	size_t len = 0;

	if (strcmp(ex->req.method, "GET") != 0 && strcmp(ex->req.method, "POST") != 0) {
		reply_header(&ex->reply, "Allow", "GET, POST");
		ex_refuse(ex, 405, "invalid_request_error", "method_not_allowed",
		       "Use GET or POST on this route", "bad_method");
		return;
	}
	if (!prompt_text(ex, &text, &len))
		return;
	ex->model = r->upstream->model;
	if (ex->model && !ex_model_allowed(ex, ex->model)) {
		free(text);
		ex_refuse_model(ex);
		return;
	}
	if ((why = prompt_problem(text, len)) != NULL) {
		free(text);
		ex_refuse(ex, 400, "invalid_request_error", "invalid_prompt", why, "bad_request");
		return;
	}
	ps.text = text;
	ps.len = len;
	ex->mode_state = &ps;
	if (ex_limit(ex, limit_estimate_tokens(len) + ex->policy->default_max_tokens))
		ex_call_upstream(ex, "POST",
				 r->api == GW_API_CHAT ? "/chat/completions" : "/completions",
				 prompt_for);
	ex->mode_state = NULL;
	free(text);
}
