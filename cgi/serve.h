/* serve.h: the responder core shared by aigw.fcgi and aigw.cgi: a worker
 * thread's life (proc.h) and the request pipeline route -> admin -> auth ->
 * allow -> body -> mode prepare -> block -> mode serve (modes.h). */
#ifndef GW_SERVE_H
#define GW_SERVE_H

#include <time.h>

#include "io.h"
#include "proc.h"

/* Sets up one worker thread's state over the process's shared state (see
 * shared_init). Its curl handle and store are made at its first request. */
void proc_init(struct gw_proc *proc, struct gw_shared *shared);

/* Serves one request on io with the policy in force when it starts (held
 * until it ends). Never exits; errors become answers and log lines. */
void serve(struct gw_proc *proc, struct gw_io *io);

void proc_free(struct gw_proc *proc);

#endif
