/* gw.c: error names and abort-on-failure allocation wrappers. */
#include "gw.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef AIGW_SYSCONFDIR
#define AIGW_SYSCONFDIR "/etc"
#endif

const char *gw_default_config(void)
{
	return AIGW_SYSCONFDIR "/aigw/aigw.ini";
}

static const char *const gw_err_names[GW_ERR__MAX] = {
	"ok",                       /* GW_OK */
	"out of memory",            /* GW_ENOMEM */
	"input/output error",       /* GW_EIO */
	"parse error",              /* GW_EPARSE */
	"too large",                /* GW_ETOOBIG */
	"invalid value",            /* GW_EINVAL */
	"not found",                /* GW_ENOTFOUND */
	"lock failed",              /* GW_ELOCK */
	"upstream error",           /* GW_EUPSTREAM */
	"upstream timeout",         /* GW_ETIMEOUT */
	"client gone",              /* GW_ECLIENT */
};

const char *gw_strerror(enum gw_err err)
{
	if ((int)err < 0 || err >= GW_ERR__MAX)
		return "unknown error";
	return gw_err_names[err];
}

static void *gw_oom(size_t n)
{
	fprintf(stderr, "aigw: out of memory allocating %zu bytes\n", n);
	abort();
}

void *gw_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	return p ? p : gw_oom(n);
}

void *gw_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	return p ? p : gw_oom(n * size);
}

void *gw_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	return q ? q : gw_oom(n);
}

char *gw_strdup(const char *s)
{
	return gw_strndup(s, strlen(s));
}

char *gw_strndup(const char *s, size_t n)
{
	char *p = gw_malloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *gw_concat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = gw_malloc(la + lb + 1);

	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

char *gw_asprintf(const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return gw_strdup("");
	p = gw_malloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}
