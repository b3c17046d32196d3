// Linux system calls that Swift's Glibc module does not expose (epoll, eventfd, accept4) or exposes awkwardly
// (sysconf, getrlimit), behind small functions with plain, unpacked types. Every function is prefixed `acsys_`.
#ifndef C_AGENTCOST_SYSTEM_H
#define C_AGENTCOST_SYSTEM_H

#include <stdint.h>

/// What `acsys_epoll_wait` reports for one ready descriptor.
typedef struct {
    int32_t descriptor;
    uint32_t events;
} acsys_ready_t;

enum {
    ACSYS_EPOLLIN = 0x001,
    ACSYS_EPOLLOUT = 0x004,
    ACSYS_EPOLLERR = 0x008,
    ACSYS_EPOLLHUP = 0x010,
    ACSYS_EPOLLRDHUP = 0x2000,
    ACSYS_EPOLLEXCLUSIVE = 1u << 28,
};

enum { ACSYS_EPOLL_ADD = 1, ACSYS_EPOLL_DEL = 2, ACSYS_EPOLL_MOD = 3 };

/// epoll_create1(EPOLL_CLOEXEC).
int acsys_epoll_create(void);

/// epoll_ctl with the descriptor itself as the event's data.
int acsys_epoll_ctl(int epoll, int operation, int descriptor, uint32_t events);

/// epoll_wait into an array of unpacked `acsys_ready_t`; retries on EINTR until the timeout has passed.
int acsys_epoll_wait(int epoll, acsys_ready_t *ready, int capacity, int timeout_milliseconds);

/// eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC).
int acsys_eventfd(void);

/// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC.
int acsys_accept(int listener, void *address, uint32_t *length);

/// sysconf(_SC_NPROCESSORS_ONLN): the processors online now, or -1.
long acsys_online_processors(void);

/// Raises RLIMIT_NOFILE's soft limit to its hard limit; reports the limits in effect afterwards (RLIM_INFINITY as
/// UINT64_MAX). Returns 0, or -1 with errno set when the limits cannot be read or set (the limits then hold what
/// was in effect before).
int acsys_raise_open_file_limit(uint64_t *soft, uint64_t *hard);

#endif
