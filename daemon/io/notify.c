/* notify.c - see notify.h */
#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void notify_init(struct notifier *n)
{
	memset(n, 0, sizeof(*n));
	n->fd = -1;
	const char *p = getenv("NOTIFY_SOCKET");
	if (!p || !*p || strlen(p) >= sizeof(n->path))
		return;
	if (p[0] != '/' && p[0] != '@')
		return;
	n->path_len = strlen(p);
	memcpy(n->path, p, n->path_len);
	if (n->path[0] == '@')
		n->path[0] = '\0'; /* abstract namespace */
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	const char *wu = getenv("WATCHDOG_USEC"), *wp = getenv("WATCHDOG_PID");
	if (wu && (!wp || strtol(wp, NULL, 10) == (long)getpid())) {
		long long usec = strtoll(wu, NULL, 10);
		if (usec > 0)
			n->watchdog_ms = usec / 1000;
	}
}

void notify_close(struct notifier *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}

int notify_send(struct notifier *n, const char *text)
{
	if (n->fd < 0)
		return 0;
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, n->path, n->path_len);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n->path_len);
	if (sendto(n->fd, text, strlen(text), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		return -errno;
	return 0;
}

void notify_watchdog(struct notifier *n, oeed_ms now)
{
	if (n->fd < 0 || n->watchdog_ms <= 0)
		return;
	if (now - n->last_ping >= n->watchdog_ms / 2) {
		notify_send(n, "WATCHDOG=1");
		n->last_ping = now;
	}
}
