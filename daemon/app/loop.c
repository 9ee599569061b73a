/* loop.c - see loop.h */
#include "loop.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "clock.h"

#define LOOP_EVENTS 8

int loop_init(struct loop *l)
{
	l->stop = false;
	l->now = clock_wall_ms();
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd < 0 ? -errno : 0;
}

void loop_deinit(struct loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
}

int loop_add(struct loop *l, struct loop_source *s)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0)
		return -errno;
	s->added = true;
	return 0;
}

int loop_remove(struct loop *l, struct loop_source *s)
{
	if (!s->added)
		return 0;
	s->added = false;
	return epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL) < 0 ? -errno : 0;
}

int loop_run(struct loop *l, int timeout_ms, void (*turn)(void *ctx, oeed_ms now), void *ctx)
{
	while (!l->stop) {
		struct epoll_event evs[LOOP_EVENTS];
		int n = epoll_wait(l->epfd, evs, LOOP_EVENTS, timeout_ms);
		if (n < 0 && errno != EINTR)
			return -errno;
		l->now = clock_wall_ms();
		for (int i = 0; i < n; i++) {
			struct loop_source *s = evs[i].data.ptr;
			/* a callback earlier in this turn may have removed it (reload) */
			if (s->added)
				s->ready(s, evs[i].events, l->now);
		}
		turn(ctx, l->now);
	}
	return 0;
}

void loop_quit(struct loop *l)
{
	l->stop = true;
}
