/* serve.h: the responder core shared by aigw.fcgi and aigw.cgi: the
 * process's life (proc.h) and the request pipeline route -> admin -> auth ->
 * allow -> body -> mode prepare -> block -> mode serve (modes.h). */
#ifndef GW_SERVE_H
#define GW_SERVE_H

#include <time.h>

#include "io.h"
#include "proc.h"

/* Sets up the process: curl handle, first policy load (errors go to stderr).
 * Returns 0, or -1 when curl cannot start (a missing policy is not fatal:
 * requests get 500 until it becomes valid). */
int proc_init(struct gw_proc *proc, const char *config_path);

/* Re-reads the policy when its files changed; checks at most once a second. */
void proc_refresh_policy(struct gw_proc *proc, time_t now);

/* Serves one request on io. Never exits; errors become answers and log lines. */
void serve(struct gw_proc *proc, struct gw_io *io);

void proc_free(struct gw_proc *proc);

#endif
