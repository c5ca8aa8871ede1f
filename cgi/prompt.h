/* prompt.h: the upstream JSON body of a prompt-mode request, built with json-c. */
#ifndef GW_PROMPT_H
#define GW_PROMPT_H

#include <stddef.h>

#include "policy.h"

/* Returns a new JSON text (the caller frees it): {"model":M,"messages":[{"role":
 * "user","content":P}]} for GW_API_CHAT, {"model":M,"prompt":P} for
 * GW_API_COMPLETIONS; model omitted when NULL. Returns NULL with *why set when
 * the prompt cannot be sent: it is empty, holds a NUL byte, or is not valid
 * UTF-8 (the upstream only ever receives valid UTF-8 JSON). */
/* Why a prompt cannot be sent (empty, a NUL byte, not UTF-8), or NULL. */
const char *prompt_problem(const char *prompt, size_t len);

char *prompt_body(enum gw_api api, const char *model, const char *prompt, size_t len,
		  const char **why);

#endif
