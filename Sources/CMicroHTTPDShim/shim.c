#include "CMicroHTTPDShim.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct acmhd_server {
    struct MHD_Daemon *daemon;
    acmhd_log_function log;
    void *context;
    int accepting;
    char last_message[512];
};

static void acmhd_format_log(void *cls, const char *format, va_list arguments) {
    struct acmhd_server *server = cls;
    vsnprintf(server->last_message, sizeof server->last_message, format, arguments);
    // libmicrohttpd ends its messages with a newline; a log line must not.
    size_t length = strlen(server->last_message);
    while (length > 0 && (server->last_message[length - 1] == '\n' || server->last_message[length - 1] == '\r')) {
        server->last_message[--length] = '\0';
    }
    if (server->log != NULL) {
        server->log(server->context, server->last_message);
    }
}

acmhd_server *acmhd_start(
    const acmhd_options *options,
    MHD_AccessHandlerCallback access,
    MHD_RequestCompletedCallback completed,
    acmhd_log_function log,
    void *context,
    char *error,
    size_t error_capacity) {
    struct sockaddr_in ipv4;
    struct sockaddr_in6 ipv6;
    const struct sockaddr *address;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;

    memset(&ipv4, 0, sizeof ipv4);
    memset(&ipv6, 0, sizeof ipv6);
    if (strchr(options->host, ':') != NULL) {
        ipv6.sin6_family = AF_INET6;
        ipv6.sin6_port = htons(options->port);
        if (inet_pton(AF_INET6, options->host, &ipv6.sin6_addr) != 1) {
            snprintf(error, error_capacity, "'%s' is not a numeric IPv6 address", options->host);
            return NULL;
        }
        address = (const struct sockaddr *)&ipv6;
        flags |= MHD_USE_IPv6;
    } else {
        ipv4.sin_family = AF_INET;
        ipv4.sin_port = htons(options->port);
        if (inet_pton(AF_INET, options->host, &ipv4.sin_addr) != 1) {
            snprintf(error, error_capacity, "'%s' is not a numeric IPv4 address", options->host);
            return NULL;
        }
        address = (const struct sockaddr *)&ipv4;
    }

    struct acmhd_server *server = calloc(1, sizeof *server);
    if (server == NULL) {
        snprintf(error, error_capacity, "out of memory");
        return NULL;
    }
    server->log = log;
    server->context = context;
    server->accepting = 1;

    // A pool of one is not a pool: libmicrohttpd then runs its single internal polling thread.
    unsigned int pool = options->threads > 1 ? options->threads : 0;
    server->daemon = MHD_start_daemon(
        flags, options->port, NULL, NULL, access, context,
        MHD_OPTION_EXTERNAL_LOGGER, acmhd_format_log, (void *)server,
        MHD_OPTION_SOCK_ADDR, address,
        MHD_OPTION_THREAD_POOL_SIZE, pool,
        MHD_OPTION_CONNECTION_LIMIT, options->connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, options->connection_timeout_seconds,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, options->connection_memory_limit,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, options->listen_backlog,
        MHD_OPTION_NOTIFY_COMPLETED, completed, context,
        MHD_OPTION_END);
    if (server->daemon == NULL) {
        snprintf(
            error, error_capacity, "%s",
            server->last_message[0] != '\0' ? server->last_message : "MHD_start_daemon failed");
        free(server);
        return NULL;
    }
    return server;
}

uint16_t acmhd_bound_port(const acmhd_server *server) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info == NULL ? 0 : info->port;
}

void acmhd_stop_accepting(acmhd_server *server) {
    if (!server->accepting) {
        return;
    }
    server->accepting = 0;
    MHD_socket listener = MHD_quiesce_daemon(server->daemon);
    if (listener != MHD_INVALID_SOCKET) {
        close(listener);
    }
}

void acmhd_stop(acmhd_server *server) {
    MHD_stop_daemon(server->daemon);
    free(server);
}

int acmhd_peer_address(struct MHD_Connection *connection, char *out, size_t capacity) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info == NULL || info->client_addr == NULL || capacity == 0) {
        return -1;
    }
    char text[INET6_ADDRSTRLEN];
    const struct sockaddr *address = info->client_addr;
    if (address->sa_family == AF_INET6) {
        const struct sockaddr_in6 *ipv6 = (const struct sockaddr_in6 *)address;
        if (inet_ntop(AF_INET6, &ipv6->sin6_addr, text, sizeof text) == NULL) {
            return -1;
        }
        snprintf(out, capacity, "[%s]:%u", text, (unsigned)ntohs(ipv6->sin6_port));
        return 0;
    }
    if (address->sa_family == AF_INET) {
        const struct sockaddr_in *ipv4 = (const struct sockaddr_in *)address;
        if (inet_ntop(AF_INET, &ipv4->sin_addr, text, sizeof text) == NULL) {
            return -1;
        }
        snprintf(out, capacity, "%s:%u", text, (unsigned)ntohs(ipv4->sin_port));
        return 0;
    }
    return -1;
}
