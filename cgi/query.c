/* query.c: urlencoded parameter lookup. */
#include "query.h"
#include "gw.h"
#include "str.h"

#include <stdlib.h>
#include <string.h>

enum query_result query_get(const char *qs, size_t len, const char *name, char **value,
			    size_t *vlen)
{
	size_t pos = 0, count = 0, name_len = strlen(name);
	char *found = NULL;
	size_t found_len = 0;

	*value = NULL;
	*vlen = 0;
	while (pos < len) {
		const char *item = qs + pos;
		const char *amp = memchr(item, '&', len - pos);
		size_t ilen = amp ? (size_t)(amp - item) : len - pos;
		const char *eq = memchr(item, '=', ilen);
		size_t klen = eq ? (size_t)(eq - item) : ilen;

		pos += ilen + 1;
		if (ilen == 0)
			continue;
		if (++count > QUERY_MAX_PARAMS) {
			free(found);
			return QUERY_TOO_MANY;
		}
		if (found)
			continue;
		size_t dklen;
		char *key = str_percent_decode(item, klen, true, &dklen, NULL);
		bool match = dklen == name_len && memcmp(key, name, name_len) == 0;
		free(key);
		if (!match)
			continue;
		if (eq)
			found = str_percent_decode(eq + 1, ilen - klen - 1, true, &found_len, NULL);
		else
			found = gw_strdup("");
	}
	if (!found)
		return QUERY_MISSING;
	*value = found;
	*vlen = found_len;
	return QUERY_FOUND;
}
