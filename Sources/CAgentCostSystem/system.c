#define _GNU_SOURCE
#include "CAgentCostSystem.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

_Static_assert(ACSYS_EPOLLIN == EPOLLIN && ACSYS_EPOLLOUT == EPOLLOUT && ACSYS_EPOLLERR == EPOLLERR &&
                   ACSYS_EPOLLHUP == EPOLLHUP && ACSYS_EPOLLRDHUP == EPOLLRDHUP &&
                   ACSYS_EPOLLEXCLUSIVE == EPOLLEXCLUSIVE,
               "epoll flags differ from this platform's");
_Static_assert(ACSYS_EPOLL_ADD == EPOLL_CTL_ADD && ACSYS_EPOLL_DEL == EPOLL_CTL_DEL && ACSYS_EPOLL_MOD == EPOLL_CTL_MOD,
               "epoll operations differ from this platform's");

int acsys_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int acsys_epoll_ctl(int epoll, int operation, int descriptor, uint32_t events) {
    struct epoll_event event = {.events = events, .data = {.fd = descriptor}};
    return epoll_ctl(epoll, operation, descriptor, &event);
}

int acsys_epoll_wait(int epoll, acsys_ready_t *ready, int capacity, int timeout_milliseconds) {
    struct epoll_event events[256];
    if (capacity > 256) capacity = 256;
    int count;
    do {
        count = epoll_wait(epoll, events, capacity, timeout_milliseconds);
    } while (count < 0 && errno == EINTR);
    for (int index = 0; index < count; index++) {
        ready[index].descriptor = events[index].data.fd;
        ready[index].events = events[index].events;
    }
    return count;
}

int acsys_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int acsys_accept(int listener, void *address, uint32_t *length) {
    socklen_t size = *length;
    int accepted = accept4(listener, (struct sockaddr *)address, &size, SOCK_NONBLOCK | SOCK_CLOEXEC);
    *length = size;
    return accepted;
}

long acsys_online_processors(void) { return sysconf(_SC_NPROCESSORS_ONLN); }

static uint64_t acsys_limit_value(rlim_t value) { return value == RLIM_INFINITY ? UINT64_MAX : (uint64_t)value; }

int acsys_raise_open_file_limit(uint64_t *soft, uint64_t *hard) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        *soft = 0;
        *hard = 0;
        return -1;
    }
    int result = 0;
    if (limit.rlim_cur != limit.rlim_max) {
        struct rlimit raised = {.rlim_cur = limit.rlim_max, .rlim_max = limit.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            limit = raised;
        } else {
            result = -1;
        }
    }
    *soft = acsys_limit_value(limit.rlim_cur);
    *hard = acsys_limit_value(limit.rlim_max);
    return result;
}
