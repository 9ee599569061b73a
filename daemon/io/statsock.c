/* statsock.c - see statsock.h */
#include "statsock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define STATSOCK_EVENTS 16

struct statsock_client {
	int fd; /* -1: free */
	struct strbuf doc;
	size_t off;
	oeed_ms deadline;
};

struct statsock {
	struct statsock_conf conf;
	char *path;
	int listen_fd, epfd;
	struct statsock_client *clients;
	struct statsock_stats stats;
};

static void client_close(struct statsock *s, struct statsock_client *c)
{
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	strbuf_free(&c->doc);
	c->off = 0;
	s->stats.clients--;
}

/* Writes what the client takes; closes it when done or broken. */
static void client_write(struct statsock *s, struct statsock_client *c)
{
	while (c->off < c->doc.len) {
		ssize_t w = send(c->fd, c->doc.buf + c->off, c->doc.len - c->off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; /* EPOLLOUT brings us back */
		if (w < 0) {
			s->stats.dropped++; /* went away before reading it all */
			client_close(s, c);
			return;
		}
		c->off += (size_t)w;
	}
	s->stats.served++;
	client_close(s, c);
}

static int bind_path(struct statsock *s, struct oeed_error *err)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(s->path) >= sizeof(a.sun_path)) {
		snprintf(err->msg, sizeof(err->msg),
			 "status socket %s: path too long (at most %zu)", s->path,
			 sizeof(a.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(a.sun_path, s->path, strlen(s->path) + 1);
	struct stat st;
	if (lstat(s->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err->msg, sizeof(err->msg),
				 "status socket %s: exists and is not a socket", s->path);
			return -EEXIST;
		}
		/* left by a crash, or another daemon's: only a socket nobody answers goes */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&a, sizeof(a)) == 0) {
			close(probe);
			snprintf(err->msg, sizeof(err->msg),
				 "status socket %s: another oeed answers on it", s->path);
			return -EADDRINUSE;
		}
		if (probe >= 0)
			close(probe);
		unlink(s->path);
	}
	/* created 0660 at once: no window in which others could connect */
	mode_t old = umask(0117);
	int r = bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a));
	int e = errno;
	umask(old);
	if (r < 0) {
		snprintf(err->msg, sizeof(err->msg), "status socket %s: bind: %s", s->path,
			 strerror(e));
		return -e;
	}
	if (chmod(s->path, 0660) < 0 || listen(s->listen_fd, 16) < 0) {
		e = errno;
		snprintf(err->msg, sizeof(err->msg), "status socket %s: %s", s->path, strerror(e));
		unlink(s->path);
		return -e;
	}
	return 0;
}

int statsock_open(const struct statsock_conf *conf, struct statsock **ret, struct oeed_error *err)
{
	int r = 0;
	struct statsock *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err->msg, sizeof(err->msg), "status socket: out of memory");
		return -ENOMEM;
	}
	s->conf = *conf;
	s->listen_fd = s->epfd = -1;
	s->path = strdup(conf->path);
	s->clients = calloc(conf->max_clients ? conf->max_clients : 1, sizeof(*s->clients));
	if (!s->path || !s->clients) {
		snprintf(err->msg, sizeof(err->msg), "status socket: out of memory");
		r = -ENOMEM;
		goto out;
	}
	s->conf.path = s->path;
	for (size_t i = 0; i < conf->max_clients; i++)
		s->clients[i].fd = -1;
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->listen_fd < 0 || s->epfd < 0) {
		r = -errno;
		snprintf(err->msg, sizeof(err->msg), "status socket: %s", strerror(-r));
		goto out;
	}
	if ((r = bind_path(s, err)) < 0)
		goto out;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev) < 0) {
		r = -errno;
		snprintf(err->msg, sizeof(err->msg), "status socket: epoll: %s", strerror(-r));
		unlink(s->path);
		goto out;
	}
	*ret = s;
out:
	if (r < 0) {
		if (s->listen_fd >= 0)
			close(s->listen_fd);
		if (s->epfd >= 0)
			close(s->epfd);
		free(s->clients);
		free(s->path);
		free(s);
	}
	return r;
}

int statsock_fd(const struct statsock *s)
{
	return s->epfd;
}

static void accept_all(struct statsock *s, oeed_ms now,
		       int (*render)(void *ctx, struct strbuf *out), void *ctx)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return; /* EAGAIN: none left; anything else: try again at the next event */
		struct statsock_client *c = NULL;
		for (size_t i = 0; i < s->conf.max_clients && !c; i++)
			if (s->clients[i].fd < 0)
				c = &s->clients[i];
		if (!c) {
			s->stats.refused++;
			close(fd);
			continue;
		}
		c->fd = fd;
		c->off = 0;
		c->deadline = now + s->conf.timeout_ms;
		strbuf_init(&c->doc);
		s->stats.clients++;
		int r = render(ctx, &c->doc);
		if (r >= 0 && !c->doc.failed && c->doc.len > s->conf.max_bytes) {
			size_t len = c->doc.len;
			s->stats.too_large++;
			strbuf_free(&c->doc);
			strbuf_init(&c->doc);
			strbuf_printf(&c->doc,
				      "{\"error\":\"the status is %zu bytes, over status.max_bytes "
				      "(%zu)\"}\n",
				      len, s->conf.max_bytes);
		} else if (r < 0 || c->doc.failed) {
			strbuf_free(&c->doc);
			strbuf_init(&c->doc);
			strbuf_printf(&c->doc, "{\"error\":\"%s\"}\n",
				      strerror(r < 0 ? -r : ENOMEM));
		}
		struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			s->stats.dropped++;
			client_close(s, c); /* DEL of an fd never added fails harmlessly */
			continue;
		}
		client_write(s, c);
	}
}

void statsock_ready(struct statsock *s, oeed_ms now, int (*render)(void *ctx, struct strbuf *out),
		    void *ctx)
{
	struct epoll_event evs[STATSOCK_EVENTS];
	int n = epoll_wait(s->epfd, evs, STATSOCK_EVENTS, 0);
	bool listen_ready = false;
	for (int i = 0; i < n; i++) {
		struct statsock_client *c = evs[i].data.ptr;
		if (!c)
			listen_ready = true;
		else if (c->fd >= 0)
			client_write(s, c);
	}
	if (listen_ready)
		accept_all(s, now, render, ctx);
}

void statsock_expire(struct statsock *s, oeed_ms now)
{
	for (size_t i = 0; i < s->conf.max_clients; i++) {
		struct statsock_client *c = &s->clients[i];
		if (c->fd >= 0 && now >= c->deadline) {
			s->stats.dropped++;
			client_close(s, c);
		}
	}
}

void statsock_get_stats(const struct statsock *s, struct statsock_stats *ret)
{
	*ret = s->stats;
}

void statsock_close(struct statsock *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->conf.max_clients; i++)
		if (s->clients[i].fd >= 0)
			client_close(s, &s->clients[i]);
	close(s->listen_fd);
	close(s->epfd);
	unlink(s->path);
	free(s->clients);
	free(s->path);
	free(s);
}
