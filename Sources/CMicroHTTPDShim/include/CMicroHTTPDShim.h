// libmicrohttpd calls Swift cannot make directly: the variadic MHD_start_daemon, the va_list logger, and the
// sockaddr handling of listen and peer addresses. Every function is prefixed `acmhd_`.
#ifndef C_MICROHTTPD_SHIM_H
#define C_MICROHTTPD_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>

/// A running daemon and its logger.
typedef struct acmhd_server acmhd_server;

/// Receives each line libmicrohttpd logs, already formatted.
typedef void (*acmhd_log_function)(void *context, const char *message);

/// What `acmhd_start` configures; every field is required.
typedef struct {
    /// A numeric IPv4 or IPv6 address.
    const char *host;
    /// 0 lets the kernel choose; read the choice back with `acmhd_bound_port`.
    uint16_t port;
    /// Worker threads, each with its own epoll set; 1 means a single internal polling thread.
    unsigned int threads;
    /// MHD_OPTION_CONNECTION_LIMIT.
    unsigned int connection_limit;
    /// MHD_OPTION_CONNECTION_TIMEOUT, in seconds of inactivity.
    unsigned int connection_timeout_seconds;
    /// MHD_OPTION_CONNECTION_MEMORY_LIMIT: bounds the request line and headers of one connection.
    size_t connection_memory_limit;
    /// MHD_OPTION_LISTEN_BACKLOG_SIZE.
    unsigned int listen_backlog;
} acmhd_options;

/// Starts an epoll daemon with internal threads, or returns NULL with the reason in `error`.
///
/// `context` is passed to `access`, `completed` and `log`; it must outlive the daemon.
acmhd_server *acmhd_start(
    const acmhd_options *options,
    MHD_AccessHandlerCallback access,
    MHD_RequestCompletedCallback completed,
    acmhd_log_function log,
    void *context,
    char *error,
    size_t error_capacity);

/// The port the daemon listens on.
uint16_t acmhd_bound_port(const acmhd_server *server);

/// Stops accepting connections (MHD_quiesce_daemon) and closes the listening socket; connections already open keep
/// being served. Safe to call more than once.
void acmhd_stop_accepting(acmhd_server *server);

/// Stops the daemon (MHD_stop_daemon: joins its threads, closes every connection) and frees `server`.
void acmhd_stop(acmhd_server *server);

/// Writes the peer of `connection` as `host:port` (`[v6]:port` for IPv6) into `out`; returns 0 on success.
int acmhd_peer_address(struct MHD_Connection *connection, char *out, size_t capacity);

#endif
