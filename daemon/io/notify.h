/* notify.h - the systemd notify protocol, implemented from its documentation (no
 * libsystemd): one AF_UNIX datagram of KEY=VALUE lines to $NOTIFY_SOCKET (a path, or '@' for
 * the abstract namespace). Without $NOTIFY_SOCKET every call is a no-op. */
#pragma once
#include <stdbool.h>
#include "util.h"

struct notifier {
	int fd;
	char path[108];
	size_t path_len;
	oeed_ms watchdog_ms; /* WATCHDOG_USEC/1000 when it is meant for us, else 0 */
	oeed_ms last_ping;
};

void notify_init(struct notifier *n);
void notify_close(struct notifier *n);
/* Sends `text` ("READY=1\nSTATUS=..."); returns 0, or -errno. */
int notify_send(struct notifier *n, const char *text);
/* Pings WATCHDOG=1 at half the interval; call from the main loop only while it turns. */
void notify_watchdog(struct notifier *n, oeed_ms now_monotonic);
