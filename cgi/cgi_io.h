/* cgi_io.h: the plain CGI/1.1 front end: environment, stdin and stdout. */
#ifndef GW_CGI_IO_H
#define GW_CGI_IO_H

#include "io.h"

/* Fills io for the current process's CGI request. */
void cgi_io_init(struct gw_io *io);

#endif
