/* statsock.h - the status socket of `oeed status`: a unix stream socket (mode 0660: owner
 * and group only) on which every connection gets one document, produced by the caller's
 * render callback when the connection is accepted, and is then closed. Nothing is read from
 * a client, so nothing on the socket can change the daemon.
 *
 * Never blocks the caller: the listening socket and every client are non-blocking and watched
 * by an epoll set of the socket's own, whose fd (statsock_fd) the daemon's loop watches.
 * Bounded: at most max_clients at a time (more are refused, counted), a document larger than
 * max_bytes is replaced by a short error document, and a client that has not read its whole
 * document within timeout_ms is dropped (counted). Main thread only. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "util.h"

struct statsock;

struct statsock_conf {
	const char *path;
	size_t max_clients;
	size_t max_bytes;
	oeed_ms timeout_ms;
};

struct statsock_stats {
	uint64_t served;    /* documents written whole */
	uint64_t dropped;   /* clients that did not read in time, or went away early */
	uint64_t refused;   /* connections beyond max_clients */
	uint64_t too_large; /* documents over max_bytes */
	size_t clients;	    /* connected now */
};

/* Binds path (a stale socket left by a crash is replaced; one a live daemon answers on is an
 * error). Returns 0 or -errno with err set. */
int statsock_open(const struct statsock_conf *conf, struct statsock **ret, struct oeed_error *err);
/* Readable when there is work for statsock_ready(). */
int statsock_fd(const struct statsock *s);
/* Accepts new clients (render fills each one's document; a negative return sends an error
 * document) and writes what the clients can take. */
void statsock_ready(struct statsock *s, oeed_ms now, int (*render)(void *ctx, struct strbuf *out),
		    void *ctx);
/* Drops the clients whose time is up. */
void statsock_expire(struct statsock *s, oeed_ms now);
void statsock_get_stats(const struct statsock *s, struct statsock_stats *ret);
/* Closes every client and the socket, and removes its file. NULL is fine. */
void statsock_close(struct statsock *s);
