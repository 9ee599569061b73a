/* mqtt-driver.c - runs daemon/mqtt.c alone against a broker for tests/test_mqtt.py: key=value
 * arguments build the config (no YAML), every received message is printed as
 * "<topic> <payload>\n" on stdout, and the final stats go to stderr as one
 * "stats key=value ..." line. Stops after duration_ms, after count messages, or on
 * SIGTERM/SIGINT (through a signalfd, so there is no global flag). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mqtt.h"

#define MAX_SUBS 16

struct driver {
	uint64_t printed;
	uint64_t count; /* 0: no limit */
};

static void print_msg(void *ctx, const struct mqtt_msg *m)
{
	struct driver *d = ctx;
	fwrite(m->topic, 1, m->topic_len, stdout);
	fputc(' ', stdout);
	fwrite(m->payload, 1, m->len, stdout);
	fputc('\n', stdout);
	d->printed++;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int usage(const char *arg)
{
	fprintf(stderr,
		"mqtt-driver: bad argument '%s'\n"
		"usage: mqtt-driver url=URL client_id=ID [clean=0|1] [qos=N] [protocol=4|5]\n"
		"  sub=FILTER[,QOS]... [ca=F] [cert=F] [key=F] [verify=0|1] [user=U]\n"
		"  [password_file=F] [status=TOPIC] [queue=N] [drain_delay_ms=N] [duration_ms=N]\n"
		"  [count=N] [keepalive_s=N] [resub=FILTER]... [resub_at_ms=N]\n",
		arg);
	return 2;
}

int main(int argc, char **argv)
{
	struct oeed_mqtt_conf conf = {
	    .url = "tcp://127.0.0.1:1883",
	    .client_id = "mqtt-driver",
	    .qos = 1,
	    .protocol = 4,
	    .session_expiry_ms = 3600 * 1000,
	    .keepalive_ms = 30000,
	    .reconnect_min_ms = 1000,
	    .reconnect_max_ms = 2000,
	    .queue_len = 65536,
	    .tls = {.verify = true},
	};
	struct mqtt_subscription subs[MAX_SUBS], resubs[MAX_SUBS];
	size_t n_subs = 0, n_resubs = 0;
	int64_t resub_at_ms = -1;
	int64_t duration_ms = 10000, drain_delay_ms = 0;
	struct driver d = {0};
	struct mqtt_client *c = NULL;
	struct oeed_error err = {{0}};
	int sfd = -1, rc = 1;

	for (int i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq)
			return usage(argv[i]);
		*eq = 0;
		const char *k = argv[i], *v = eq + 1;
		if (strcmp(k, "url") == 0)
			conf.url = (char *)v;
		else if (strcmp(k, "client_id") == 0)
			conf.client_id = (char *)v;
		else if (strcmp(k, "clean") == 0)
			conf.clean_session = atoi(v) != 0;
		else if (strcmp(k, "qos") == 0)
			conf.qos = atoi(v);
		else if (strcmp(k, "protocol") == 0)
			conf.protocol = atoi(v);
		else if (strcmp(k, "sub") == 0 && n_subs < MAX_SUBS) {
			/* "filter" or "filter,qos" */
			subs[n_subs].filter = v;
			subs[n_subs].qos = -1;
			char *comma = strrchr(v, ',');
			if (comma) {
				*comma = 0;
				subs[n_subs].qos = atoi(comma + 1);
			}
			n_subs++;
		} else if (strcmp(k, "resub") == 0 && n_resubs < MAX_SUBS) {
			/* the set mqtt_set_subscriptions installs at resub_at_ms */
			resubs[n_resubs].filter = v;
			resubs[n_resubs++].qos = conf.qos;
		} else if (strcmp(k, "resub_at_ms") == 0) {
			resub_at_ms = atoll(v);
		} else if (strcmp(k, "ca") == 0) {
			conf.has_tls = true;
			conf.tls.ca_file = (char *)v;
		} else if (strcmp(k, "cert") == 0) {
			conf.has_tls = true;
			conf.tls.cert_file = (char *)v;
		} else if (strcmp(k, "key") == 0) {
			conf.has_tls = true;
			conf.tls.key_file = (char *)v;
		} else if (strcmp(k, "verify") == 0) {
			conf.has_tls = true;
			conf.tls.verify = atoi(v) != 0;
		} else if (strcmp(k, "user") == 0)
			conf.username = (char *)v;
		else if (strcmp(k, "password_file") == 0)
			conf.password_file = (char *)v;
		else if (strcmp(k, "status") == 0)
			conf.status_topic = (char *)v;
		else if (strcmp(k, "queue") == 0)
			conf.queue_len = strtoull(v, NULL, 10);
		else if (strcmp(k, "drain_delay_ms") == 0)
			drain_delay_ms = atoll(v);
		else if (strcmp(k, "duration_ms") == 0)
			duration_ms = atoll(v);
		else if (strcmp(k, "count") == 0)
			d.count = strtoull(v, NULL, 10);
		else if (strcmp(k, "keepalive_s") == 0)
			conf.keepalive_ms = atoll(v) * 1000;
		else
			return usage(k);
	}
	for (size_t i = 0; i < n_subs; i++)
		if (subs[i].qos < 0)
			subs[i].qos = conf.qos;

	log_init();
	log_set_level(LOG_LVL_DEBUG);
	setvbuf(stdout, NULL, _IOFBF, 1 << 20);

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	/* Blocked before mqtt_new so that paho's threads inherit the mask. */
	if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0)
		goto out;
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		perror("signalfd");
		goto out;
	}

	int r = mqtt_new(&conf, subs, n_subs, NULL, &c, &err);
	if (r < 0) {
		fprintf(stderr, "mqtt-driver: %s\n", err.msg);
		goto out;
	}
	r = mqtt_start(c);
	if (r < 0)
		goto out;

	int64_t start = now_ms();
	int64_t deadline = start + duration_ms;
	bool stop = false;
	while (!stop) {
		int64_t now = now_ms();
		if (now >= deadline)
			break;
		if (resub_at_ms >= 0 && now >= start + resub_at_ms) {
			resub_at_ms = -1;
			r = mqtt_set_subscriptions(c, resubs, n_resubs);
			fprintf(stderr, "mqtt-driver: subscriptions replaced: %d\n", r);
		}
		struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN}, {.fd = -1}};
		/* While delaying, the queue is not watched: messages pile up (queue-full test). */
		if (now >= start + drain_delay_ms)
			pfd[1] = (struct pollfd){.fd = mqtt_fd(c), .events = POLLIN};
		int64_t wait = deadline - now;
		if (resub_at_ms >= 0)
			wait = OEED_MIN(wait, OEED_MAX(start + resub_at_ms - now, 0));
		if (pfd[1].fd < 0)
			wait = OEED_MIN(wait, start + drain_delay_ms - now);
		int n = poll(pfd, 2, (int)OEED_MIN(wait, 1000));
		if (n < 0 && errno != EINTR) {
			perror("poll");
			goto out;
		}
		if (n > 0 && pfd[0].revents)
			break;
		if (n > 0 && (pfd[1].revents & POLLIN)) {
			size_t max = d.count ? d.count - d.printed : 1024;
			mqtt_drain(c, print_msg, &d, OEED_MIN(max, 1024));
			fflush(stdout);
			if (d.count && d.printed >= d.count)
				stop = true;
		}
	}
	rc = 0;
out:
	if (c) {
		struct mqtt_stats st;
		mqtt_get_stats(c, &st);
		mqtt_free(c);
		fprintf(stderr,
			"stats received=%llu printed=%llu queue_dropped=%llu queue_waits=%llu "
			"too_large=%llu connects=%llu disconnects=%llu record_errors=%llu "
			"queue_high_water=%zu connected=%d last_error=\"%s\"\n",
			(unsigned long long)st.received, (unsigned long long)d.printed,
			(unsigned long long)st.queue_dropped, (unsigned long long)st.queue_waits,
			(unsigned long long)st.too_large, (unsigned long long)st.connects,
			(unsigned long long)st.disconnects, (unsigned long long)st.record_errors,
			st.queue_high_water, st.connected, st.last_error);
	}
	fflush(stdout);
	if (sfd >= 0)
		close(sfd);
	return rc;
}
