// libmicrohttpd, as installed by Debian's libmicrohttpd-dev.
//
// microhttpd.h uses socket and select types without including their headers, so they come first.
#ifndef CMICROHTTPD_SHIM_H
#define CMICROHTTPD_SHIM_H

#include <stdarg.h>
#include <stdint.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>

#endif
