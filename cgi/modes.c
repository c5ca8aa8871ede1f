/* modes.c: the one table of API modes the pipeline dispatches through. */
#include "modes.h"
#include "gw.h"

#include <stdlib.h>

static const struct gw_mode_def modes[GW_MODE_COUNT] = {
	/* GW_MODE_PROMPT */
	[GW_MODE_PROMPT] = { "prompt", GW_MODE_PROMPT, GW_ERRORS_OPENAI, NULL, prompt_serve,
			     NULL, NULL },
	/* GW_MODE_OPENAI */
	[GW_MODE_OPENAI] = { "openai", GW_MODE_OPENAI, GW_ERRORS_OPENAI, openai_prepare,
			     openai_serve, openai_cleanup, NULL },
	/* GW_MODE_ANTHROPIC */
	[GW_MODE_ANTHROPIC] = { "anthropic", GW_MODE_ANTHROPIC, GW_ERRORS_ANTHROPIC,
				anthropic_prepare, anthropic_serve, anthropic_cleanup,
				"x-api-key" },
};

const struct gw_mode_def *mode_def(enum gw_mode m)
{
	if ((unsigned)m >= GW_ARRAY_LEN(modes) || !modes[m].serve)
		abort(); /* a mode the policy accepts without a row: a build error */
	return &modes[m];
}
