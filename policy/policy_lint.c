/* policy_lint.c: warnings for a valid policy's risky settings (aigwctl
 * check): open routes, keys in query strings or world-readable files, plain
 * http beyond this machine. */
#include "policy.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* True when an http:// URL's host is this machine: localhost, [::1] or
 * 127.x.y.z. */
static bool local_url(const char *url)
{
	const char *host = url + 7; /* after "http://" */
	size_t n = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":/");
	int a, b, c, d, used = 0;

	if (n == 9 && strncmp(host, "localhost", 9) == 0)
		return true;
	if (n == 5 && strncmp(host, "[::1]", 5) == 0)
		return true;
	return sscanf(host, "%d.%d.%d.%d%n", &a, &b, &c, &d, &used) == 4 && (size_t)used == n &&
	       a == 127 && b >= 0 && b < 256 && c >= 0 && c < 256 && d >= 0 && d < 256;
}

void policy_lint(const struct gw_policy *p, struct gw_diag *d)
{
	for (size_t i = 0; i < p->n_routes; i++) {
		const struct gw_route *r = p->routes[i];
		if (!p->auth.global_auth && r->allow.n == 0)
			diag_add(
			    d, true, r->file, r->line,
			    "[route %s] is open to everyone: no allow list and global_auth = false",
			    r->name);
	}
	if (p->auth.in_query)
		diag_add(d, true, p->files[0], 0,
			 "in_query = true: keys sent in query strings end up in access logs");
	for (size_t i = 0; i < p->secret_files.n; i++) {
		struct stat sb;
		if (stat(p->secret_files.v[i], &sb) == 0 && (sb.st_mode & S_IROTH))
			diag_add(d, true, p->secret_files.v[i], 0,
				 "holds a key and everyone may read it (chmod o-r)");
	}
	for (size_t i = 0; i < p->n_upstreams; i++) {
		const struct gw_upstream *u = p->upstreams[i];
		if (u->url && strncmp(u->url, "http://", 7) == 0 && !local_url(u->url))
			diag_add(d, true, u->file, u->line,
				 "[upstream %s] is reached over plain http: keys and prompts cross "
				 "the network unencrypted",
				 u->name);
	}
}
