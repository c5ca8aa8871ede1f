/* modes.h: the table of API modes a route can serve (cgit's cmd.c is the
 * model). Each row names a mode and its steps; the pipeline (serve.c) runs
 * prepare before the block step and serve after it. Adding a mode: one file
 * with its functions, one row in modes.c, its prototypes here. */
#ifndef GW_MODES_H
#define GW_MODES_H

#include <stdbool.h>

#include "exchange.h"
#include "policy.h"

/* One row per enum gw_mode (the last one + 1). */
#define GW_MODE_COUNT (GW_MODE_ANTHROPIC + 1)

struct gw_mode_def {
	const char *name;               /* as in the policy's mode = ... */
	enum gw_mode mode;
	enum gw_error_style errors;     /* the shape of the gateway's own errors */
	/* Before the block step: the method, the endpoint, the body parsed and
	 * checked (ex->json for a JSON body). False: answered. NULL: nothing. */
	bool (*prepare)(struct exchange *ex);
	/* After it: admission, the upstream call, the answer, accounting. */
	void (*serve)(struct exchange *ex);
	/* Frees ex->mode_state once the request is over. NULL: nothing. */
	void (*cleanup)(struct exchange *ex);
	/* A header that carries the caller's key on this mode's routes besides
	 * those [auth] names and Authorization: Bearer; NULL: none. */
	const char *key_header;
};

/* The row of mode m. */
const struct gw_mode_def *mode_def(enum gw_mode m);

/* Prompt mode (prompt_route.c): ?prompt=... to a chat or completion call. */
void prompt_serve(struct exchange *ex);

/* OpenAI mode (openai_route.c): the OpenAI REST API relayed. */
bool openai_prepare(struct exchange *ex);
void openai_serve(struct exchange *ex);
void openai_cleanup(struct exchange *ex);

/* Anthropic mode (anthropic_route.c): the Anthropic Messages API relayed. */
bool anthropic_prepare(struct exchange *ex);
void anthropic_serve(struct exchange *ex);
void anthropic_cleanup(struct exchange *ex);

#endif
