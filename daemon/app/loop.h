/* loop.h - the daemon's event loop: one epoll set whose every fd has an owner that is called
 * back for it (as dbus-broker's dispatcher does), so the loop never compares fds. Each turn
 * reads the wall clock once, after the wait, and hands that `now` to every callback and to
 * the turn's own work (loop_run's `turn`).
 *
 * Ownership: the loop owns the epoll fd only; each fd belongs to whoever added it, who must
 * loop_remove() it before closing it. A loop_source must stay valid as long as the loop runs
 * (embed it in a long-lived struct): an event already fetched in this turn may still name it
 * after a callback removed it, and is then skipped. Single-threaded. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "util.h"

struct loop_source {
	int fd;
	void (*ready)(struct loop_source *s, uint32_t events, oeed_ms now);
	void *ctx;
	bool added;
};

struct loop {
	int epfd;
	bool stop;
	oeed_ms now; /* this turn's wall time */
};

int loop_init(struct loop *l);
void loop_deinit(struct loop *l);
/* Adds s (fd, ready, ctx set) for EPOLLIN. Returns 0 or -errno. */
int loop_add(struct loop *l, struct loop_source *s);
/* Removes s if it was added (before its fd is closed). Returns 0 or -errno. */
int loop_remove(struct loop *l, struct loop_source *s);
/* Turns until loop_quit(): wait (at most timeout_ms), read the clock, dispatch the ready fds,
 * then call turn(ctx, now). Returns 0, or -errno when epoll_wait fails. */
int loop_run(struct loop *l, int timeout_ms, void (*turn)(void *ctx, oeed_ms now), void *ctx);
void loop_quit(struct loop *l);
