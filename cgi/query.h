/* query.h: application/x-www-form-urlencoded parsing (query strings and forms). */
#ifndef GW_QUERY_H
#define GW_QUERY_H

#include <stdbool.h>
#include <stddef.h>

/* Upper bound on the parameters of one query string or form: more is refused. */
#define QUERY_MAX_PARAMS 256

enum query_result {
	QUERY_FOUND,
	QUERY_MISSING,
	QUERY_TOO_MANY, /* more than QUERY_MAX_PARAMS parameters */
};

/* Finds the first parameter called name in qs[0..len) ("a=1&b=2"; names and
 * values are percent- and plus-decoded before comparing). On QUERY_FOUND,
 * *value is a new decoded string the caller frees and *vlen its length
 * (it may hold NUL bytes). */
enum query_result query_get(const char *qs, size_t len, const char *name, char **value,
			    size_t *vlen);

#endif
