/* gw.h: error codes and allocation helpers shared by every aigw module. */
#ifndef GW_H
#define GW_H

#include <stddef.h>

/* One error enum for the whole gateway; gw_strerror() names each code. */
enum gw_err {
	GW_OK = 0,
	GW_ENOMEM,     /* out of memory */
	GW_EIO,        /* a file or socket operation failed (see errno) */
	GW_EPARSE,     /* input could not be parsed */
	GW_ETOOBIG,    /* input over a configured bound */
	GW_EINVAL,     /* input parsed but is not acceptable */
	GW_ENOTFOUND,  /* looked-up thing does not exist */
	GW_ELOCK,      /* a lock could not be taken */
	GW_EUPSTREAM,  /* the upstream failed or answered garbage */
	GW_ETIMEOUT,   /* the upstream did not answer in time */
	GW_ECLIENT,    /* the client went away */
	GW_ERR__MAX
};

/* Returns a static, human-readable name for err. */
const char *gw_strerror(enum gw_err err);

/* Allocation: aigw aborts on out-of-memory instead of threading ENOMEM
 * through every call site (as lighttpd's ck_malloc does). A worker that
 * cannot allocate a few bytes cannot serve anyway; the web server restarts it. */
void *gw_malloc(size_t n);
void *gw_calloc(size_t n, size_t size);
void *gw_realloc(void *p, size_t n);
char *gw_strdup(const char *s);
char *gw_strndup(const char *s, size_t n);

/* a followed by b in a new string; the caller frees it. */
char *gw_concat(const char *a, const char *b);

/* Formats into a new string; the caller frees it. */
char *gw_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The compiled-in policy path, $SYSCONFDIR/aigw/aigw.ini; AIGW_CONFIG overrides it. */
const char *gw_default_config(void);

#define GW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
