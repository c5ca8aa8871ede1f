/* prompt.c: prompt-mode request bodies. */
#include "prompt.h"
#include "gw.h"
#include "str.h"

#include <json-c/json.h>
#include <string.h>

const char *prompt_problem(const char *prompt, size_t len)
{
	if (len == 0)
		return "the prompt is empty";
	if (memchr(prompt, '\0', len))
		return "the prompt contains a NUL byte";
	if (!str_utf8_valid(prompt, len))
		return "the prompt is not valid UTF-8";
	return NULL;
}

char *prompt_body(enum gw_api api, const char *model, const char *prompt, size_t len,
		  const char **why)
{
	json_object *root;
	char *text;

	if ((*why = prompt_problem(prompt, len)) != NULL)
		return NULL;
	root = json_object_new_object();
	if (model)
		json_object_object_add(root, "model", json_object_new_string(model));
	if (api == GW_API_CHAT) {
		json_object *msgs = json_object_new_array();
		json_object *msg = json_object_new_object();
		json_object_object_add(msg, "role", json_object_new_string("user"));
		json_object_object_add(msg, "content", json_object_new_string_len(prompt, (int)len));
		json_object_array_add(msgs, msg);
		json_object_object_add(root, "messages", msgs);
	} else {
		json_object_object_add(root, "prompt", json_object_new_string_len(prompt, (int)len));
	}
	text = gw_strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
								      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return text;
}
