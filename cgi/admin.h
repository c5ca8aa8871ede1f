/* admin.h: the admin endpoints under every route: <path>/_aigw/health,
 * usage and metrics. */
#ifndef GW_ADMIN_H
#define GW_ADMIN_H

#include <stdbool.h>

#include "exchange.h"

/* Serves ex when its path below the route is an admin endpoint; returns
 * false (nothing sent) when it is not one. */
bool serve_admin(struct exchange *ex);

#endif
