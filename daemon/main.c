/* main.c - the command line (interface.md) and the live daemon's event loop.
 *
 *   oeed [-c FILE]                 run the daemon
 *   oeed -c FILE --check-config    validate, print the effective config and memory budget
 *   oeed replay -c FILE REC...     recompute everything from recordings to stdout
 *
 * The daemon is one thread that owns everything (config, engine, ingest, outputs) plus the
 * threads libraries force on us (paho's callback thread, each influxdb output's sender),
 * which talk to it only through bounded queues. One epoll loop waits on the MQTT queue's
 * eventfd, a signalfd and a 1 s timerfd, reads the clock once per turn and passes it down.
 *
 * Live and replay feed the engine identically: messages in receive order, with a report tick
 * at every multiple of report.interval placed before the first message received at or after
 * it. So `oeed replay` of a recording made live gives the live figures. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "calendar.h"
#include "config.h"
#include "emit.h"
#include "engine.h"
#include "ingest.h"
#include "log.h"
#include "mqtt.h"
#include "notify.h"
#include "output.h"
#include "plugin.h"
#include "recording.h"

#define DEFAULT_CONFIG "/etc/oeed/oeed.yaml"
#define OUT_FLUSH_BYTES (1u << 20)
#define TICK_GRACE_MS 100 /* let messages received just before a tick reach the queue */

enum { EXIT_OK = 0, EXIT_CONFIG = 1, EXIT_RUNTIME = 2 };

/* The daemon's context: all mutable state of the program lives here. */
struct daemon {
	struct oeed_config *cfg;
	struct calendar *cal;
	struct engine *engine;
	struct ingest *ingest;
	struct output **outputs;
	size_t n_outputs;
	struct mqtt_client *mqtt;
	struct recording_writer *rec;
	struct strbuf out;
	struct emitter em;
	struct notifier notify;
	oeed_ms next_report;
	uint64_t queue_dropped_seen;
	struct log_ratelimit rl_decode, rl_unmatched, rl_dropped;
	bool stop;
	char instance[128];
};

static oeed_ms wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (oeed_ms)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static oeed_ms mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (oeed_ms)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage:\n"
		   "  oeed [-c FILE]                  run the daemon (default " DEFAULT_CONFIG ")\n"
		   "  oeed -c FILE --check-config     validate; print the effective config and its "
		   "memory budget\n"
		   "  oeed replay -c FILE REC...      recompute everything from recordings (files or "
		   "directories),\n"
		   "                                  line protocol to stdout (--no-output: compute\n"
		   "                                  everything, write nothing: for benchmarks)\n"
		   "  oeed --version | --help\n"
		   "Exit codes: 0 ok, 1 bad config or usage, 2 runtime failure.\n");
}

static int load_config(const char *path, struct oeed_config **ret)
{
	struct oeed_error err = {{0}};
	int r = config_load(path, ret, &err);
	if (r < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	return 0;
}

/* The pieces both replay and the daemon need: calendar, engine (with the emitter), ingest. */
static int build_core(struct daemon *d, const struct oeed_decoder_host *host)
{
	struct oeed_error err = {{0}};
	strbuf_init(&d->out);
	d->em.out = &d->out;
	d->em.lines = 0;
	d->em.site = d->cfg->site;
	struct engine_sink sink;
	emit_sink(&d->em, &sink);
	if (calendar_new(d->cfg->report.timezone, d->cfg->report.shifts, d->cfg->report.n_shifts,
			 &d->cal, &err) < 0 ||
	    engine_new(d->cfg, d->cal, &sink, &d->engine, &err) < 0 ||
	    ingest_new(d->cfg, d->engine, host, &d->ingest, &err) < 0) {
		fprintf(stderr, "%s: %s\n", d->cfg->path, err.msg);
		return -1;
	}
	return 0;
}

static void free_core(struct daemon *d)
{
	ingest_free(d->ingest);
	engine_free(d->engine);
	calendar_free(d->cal);
	strbuf_free(&d->out);
}

static int cmd_check_config(const char *path)
{
	struct oeed_config *cfg;
	if (load_config(path, &cfg) < 0)
		return EXIT_CONFIG;
	struct oeed_error err = {{0}};
	struct calendar *cal = NULL;
	if (calendar_new(cfg->report.timezone, cfg->report.shifts, cfg->report.n_shifts, &cal,
			 &err) < 0) {
		fprintf(stderr, "%s: %s\n", path, err.msg);
		config_free(cfg);
		return EXIT_CONFIG;
	}
	calendar_free(cal);
	config_print(cfg, stdout);
	size_t per = engine_bytes_per_machine(cfg), total = engine_bytes_total(cfg);
	printf("# memory budget: %zu bytes per machine, %zu machines max, %.1f MiB engine "
	       "state in total\n",
	       per, cfg->machines.max, (double)total / 1048576.0);
	printf("# config OK\n");
	config_free(cfg);
	return EXIT_OK;
}

static void flush_stdout(struct daemon *d, bool force)
{
	if (d->out.len && (force || d->out.len >= OUT_FLUSH_BYTES)) {
		fwrite(d->out.buf, 1, d->out.len, stdout);
		strbuf_reset(&d->out);
	}
}

static int cmd_replay(const char *cfg_path, char **recs, int n_recs, bool discard)
{
	struct daemon d;
	memset(&d, 0, sizeof(d));
	d.em.discard = discard;
	if (load_config(cfg_path, &d.cfg) < 0)
		return EXIT_CONFIG;
	int rc = EXIT_OK;
	if (build_core(&d, NULL) < 0) {
		rc = EXIT_CONFIG;
		goto out;
	}
	const oeed_ms interval = d.cfg->report.interval_ms;
	oeed_ms next_tick = OEED_MS_NONE, last_rx = OEED_MS_NONE;
	uint64_t bad_lines = 0;
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(1000, 20);
	for (int i = 0; i < n_recs; i++) {
		char **paths = NULL;
		size_t n_paths = 0;
		struct stat st;
		if (stat(recs[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", recs[i], strerror(errno));
			rc = EXIT_RUNTIME;
			goto out;
		}
		if (S_ISDIR(st.st_mode)) {
			int r = recording_list_dir(recs[i], &paths, &n_paths);
			if (r < 0) {
				fprintf(stderr, "%s: %s\n", recs[i], strerror(-r));
				rc = EXIT_RUNTIME;
				goto out;
			}
		} else {
			paths = calloc(1, sizeof(char *));
			if (!paths || !(paths[0] = strdup(recs[i]))) {
				free(paths);
				rc = EXIT_RUNTIME;
				goto out;
			}
			n_paths = 1;
		}
		for (size_t p = 0; p < n_paths; p++) {
			struct recording_reader *rd;
			struct oeed_error err = {{0}};
			if (recording_reader_open(paths[p], &rd, &err) < 0) {
				fprintf(stderr, "%s\n", err.msg);
				rc = EXIT_RUNTIME;
				continue;
			}
			struct recording_msg m;
			int r;
			while ((r = recording_next(rd, &m, &err)) != 0) {
				if (r < 0) {
					bad_lines++;
					log_limited(&rl, 0, LOG_LVL_WARN, "%s (line skipped)", err.msg);
					continue;
				}
				oeed_ms rx = m.rx_ns / 1000000;
				if (next_tick == OEED_MS_NONE)
					next_tick = (rx / interval + 1) * interval;
				while (rx >= next_tick) {
					engine_report(d.engine, next_tick);
					next_tick += interval;
					flush_stdout(&d, false);
				}
				struct ingest_error ierr;
				if (ingest_message(d.ingest, m.topic, m.topic_len, m.payload, m.len, rx,
						   &ierr) < 0)
					log_limited(&rl, rx, LOG_LVL_WARN, "%s", ierr.msg);
				last_rx = rx;
				flush_stdout(&d, false);
			}
			recording_reader_close(rd);
		}
		for (size_t p = 0; p < n_paths; p++)
			free(paths[p]);
		free(paths);
	}
	/* one last tick after the last message, as the live daemon would have reported */
	if (last_rx != OEED_MS_NONE)
		engine_report(d.engine, next_tick);
	flush_stdout(&d, true);
	fflush(stdout);
	struct ingest_stats is;
	ingest_get_stats(d.ingest, &is);
	struct engine_stats es;
	engine_get_stats(d.engine, &es);
	log_info("replay: %llu messages, %llu bad recording lines, %llu decode errors, %llu "
		 "unmatched, %llu unmapped, %llu late, %llu skewed, %zu machines",
		 (unsigned long long)is.messages, (unsigned long long)bad_lines,
		 (unsigned long long)is.decode_errors, (unsigned long long)is.unmatched,
		 (unsigned long long)is.unmapped, (unsigned long long)es.late,
		 (unsigned long long)es.skewed, es.machines);
out:
	free_core(&d);
	config_free(d.cfg);
	return rc;
}

/* ---- the live daemon ---- */

static uint64_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long pages_total, pages_rss;
	uint64_t r = 0;
	if (f && fscanf(f, "%llu %llu", &pages_total, &pages_rss) == 2)
		r = pages_rss * (uint64_t)sysconf(_SC_PAGESIZE);
	if (f)
		fclose(f);
	return r;
}

static void push_outputs(struct daemon *d)
{
	if (!d->out.len)
		return;
	for (size_t i = 0; i < d->n_outputs; i++)
		output_write(d->outputs[i], d->out.buf, d->out.len);
	strbuf_reset(&d->out);
}

static void self_metrics(struct daemon *d, oeed_ms ts)
{
	struct self_metrics s;
	memset(&s, 0, sizeof(s));
	struct ingest_stats is;
	struct engine_stats es;
	ingest_get_stats(d->ingest, &is);
	engine_get_stats(d->engine, &es);
	s.messages = is.messages;
	s.decode_errors = is.decode_errors + is.bad_values;
	s.unmatched = is.unmatched;
	s.unmapped = is.unmapped;
	s.late = es.late;
	s.skewed = es.skewed;
	s.machines = es.machines;
	s.machines_dropped = es.machines_dropped;
	s.counter_resets = es.counter_resets;
	for (size_t i = 0; i < d->n_outputs; i++) {
		struct output_stats os;
		output_get_stats(d->outputs[i], &os);
		s.lines_written += os.lines_written;
		s.lines_retried += os.lines_retried;
		s.lines_spooled += os.lines_spooled;
		s.write_errors += os.write_errors;
		s.spool_bytes += os.spool_bytes;
		s.dropped_lines += os.lines_dropped;
	}
	if (d->mqtt) {
		struct mqtt_stats ms;
		mqtt_get_stats(d->mqtt, &ms);
		s.dropped_messages = ms.queue_dropped + ms.too_large;
		s.queue_depth = ms.queue_depth;
	}
	s.rss_bytes = rss_bytes();
	emit_self(&d->em, d->instance, ts, &s);

	char status[256];
	snprintf(status, sizeof(status),
		 "STATUS=%zu machines, %llu messages, %llu decode errors, %llu lines written, "
		 "%llu spooled bytes",
		 es.machines, (unsigned long long)is.messages,
		 (unsigned long long)s.decode_errors, (unsigned long long)s.lines_written,
		 (unsigned long long)s.spool_bytes);
	notify_send(&d->notify, status);
}

static void report_tick(struct daemon *d, oeed_ms tick)
{
	engine_report(d->engine, tick);
	self_metrics(d, tick);
}

static void on_mqtt_msg(void *ctx, const struct mqtt_msg *m)
{
	struct daemon *d = ctx;
	oeed_ms rx = m->rx_ns / 1000000;
	while (rx >= d->next_report) {
		report_tick(d, d->next_report);
		d->next_report += d->cfg->report.interval_ms;
	}
	struct ingest_error err;
	int r = ingest_message(d->ingest, m->topic, m->topic_len, m->payload, m->len, rx, &err);
	if (r == -ENOENT && strstr(err.msg, "matches no source"))
		log_limited(&d->rl_unmatched, rx, LOG_LVL_WARN, "%s", err.msg);
	else if (r == -ENOSPC)
		log_limited(&d->rl_dropped, rx, LOG_LVL_WARN, "%s", err.msg);
	else if (r < 0)
		log_limited(&d->rl_decode, rx, LOG_LVL_WARN, "%s", err.msg);
}

static int host_publish(void *ctx, const char *topic, const void *payload, size_t len)
{
	struct daemon *d = ctx;
	return d->mqtt ? mqtt_publish(d->mqtt, topic, payload, len) : -ENOTCONN;
}

static void host_count(void *ctx, const char *what)
{
	(void)ctx;
	log_debug("decoder: %s", what);
}

static int cmd_run(const char *cfg_path)
{
	struct daemon d;
	memset(&d, 0, sizeof(d));
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(10000, 5);
	d.rl_decode = rl;
	d.rl_unmatched = rl;
	d.rl_dropped = rl;
	int rc = EXIT_OK, sfd = -1, tfd = -1, efd = -1;
	log_init();
	notify_init(&d.notify);
	if (load_config(cfg_path, &d.cfg) < 0)
		return EXIT_CONFIG;
	log_set_level((enum log_level)d.cfg->log_level);
	if (d.cfg->instance)
		strlcpy_oeed(d.instance, d.cfg->instance, sizeof(d.instance));
	else if (gethostname(d.instance, sizeof(d.instance) - 1) < 0)
		strlcpy_oeed(d.instance, "oeed", sizeof(d.instance));

	struct oeed_decoder_host host = {.ctx = &d, .publish = host_publish, .count = host_count};
	if (build_core(&d, &host) < 0) {
		rc = EXIT_CONFIG;
		goto out;
	}
	struct oeed_error err = {{0}};
	if (mkdir(d.cfg->state_dir, 0750) < 0 && errno != EEXIST) {
		log_error("state_dir %s: %s", d.cfg->state_dir, strerror(errno));
		rc = EXIT_RUNTIME;
		goto out;
	}
	d.outputs = calloc(d.cfg->n_outputs ? d.cfg->n_outputs : 1, sizeof(struct output *));
	if (!d.outputs) {
		rc = EXIT_RUNTIME;
		goto out;
	}
	for (size_t i = 0; i < d.cfg->n_outputs; i++) {
		if (output_new(&d.cfg->outputs[i], d.cfg->state_dir, &d.outputs[i], &err) < 0) {
			log_error("%s", err.msg);
			rc = EXIT_RUNTIME;
			goto out;
		}
		d.n_outputs++;
	}
	if (d.cfg->record.enabled) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/recordings", d.cfg->state_dir);
		if (recording_writer_open(dir, d.cfg->record.file_max, d.cfg->record.total_max,
					  &d.rec, &err) < 0) {
			log_error("%s", err.msg);
			rc = EXIT_RUNTIME;
			goto out;
		}
	}
	if (!d.cfg->mqtt.client_id) {
		/* the documented default: oeed-<hostname>, stable across restarts so the broker
		 * keeps the persistent session */
		char hostname[64] = "gateway", id[96];
		gethostname(hostname, sizeof(hostname) - 1);
		snprintf(id, sizeof(id), "oeed-%s", hostname);
		d.cfg->mqtt.client_id = strdup(id);
		if (!d.cfg->mqtt.client_id) {
			rc = EXIT_RUNTIME;
			goto out;
		}
	}
	const char *filters[64];
	int qos[64];
	size_t n_subs = ingest_subscriptions(d.ingest, filters, qos, 64);
	struct mqtt_subscription subs[64];
	for (size_t i = 0; i < n_subs; i++) {
		subs[i].filter = filters[i];
		subs[i].qos = qos[i];
	}
	if (mqtt_new(&d.cfg->mqtt, subs, n_subs, d.rec, &d.mqtt, &err) < 0) {
		log_error("%s", err.msg);
		rc = EXIT_CONFIG;
		goto out;
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	efd = epoll_create1(EPOLL_CLOEXEC);
	struct itimerspec its = {.it_interval = {0, 100000000}, .it_value = {0, 100000000}};
	if (sfd < 0 || tfd < 0 || efd < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0) {
		log_error("event loop setup: %s", strerror(errno));
		rc = EXIT_RUNTIME;
		goto out;
	}
	struct epoll_event ev = {.events = EPOLLIN};
	int fds[3] = {sfd, tfd, mqtt_fd(d.mqtt)};
	for (int i = 0; i < 3; i++) {
		ev.data.fd = fds[i];
		if (epoll_ctl(efd, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
			log_error("epoll_ctl: %s", strerror(errno));
			rc = EXIT_RUNTIME;
			goto out;
		}
	}
	if (mqtt_start(d.mqtt) < 0) {
		log_error("mqtt: cannot start the client");
		rc = EXIT_RUNTIME;
		goto out;
	}
	oeed_ms interval = d.cfg->report.interval_ms;
	d.next_report = (wall_ms() / interval + 1) * interval;
	log_info("started: %zu sources, %zu outputs, up to %zu machines, reporting every %lld ms",
		 d.cfg->n_sources, d.n_outputs, d.cfg->machines.max, (long long)interval);
	notify_send(&d.notify, "READY=1\nSTATUS=started");

	while (!d.stop) {
		struct epoll_event evs[4];
		int n = epoll_wait(efd, evs, 4, 1000);
		if (n < 0 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			rc = EXIT_RUNTIME;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == sfd) {
				struct signalfd_siginfo si;
				while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP) {
						struct oeed_config *nc;
						notify_send(&d.notify, "RELOADING=1");
						if (load_config(cfg_path, &nc) == 0) {
							log_warn("reload: %s is valid; applying a new "
								 "config needs a restart in this "
								 "version, the running config is kept",
								 cfg_path);
							config_free(nc);
						} else {
							log_error("reload: %s rejected, the running "
								  "config is kept",
								  cfg_path);
						}
						notify_send(&d.notify, "READY=1");
					} else {
						d.stop = true;
					}
				}
			} else if (evs[i].data.fd == tfd) {
				uint64_t expirations;
				if (read(tfd, &expirations, sizeof(expirations)) < 0 &&
				    errno != EAGAIN)
					log_debug("timerfd: %s", strerror(errno));
			}
		}
		/* drain the queue in bounded batches so ticks and signals are not starved */
		mqtt_drain(d.mqtt, on_mqtt_msg, &d, 8192);
		oeed_ms now = wall_ms();
		while (now >= d.next_report + TICK_GRACE_MS) {
			report_tick(&d, d.next_report);
			d.next_report += interval;
		}
		push_outputs(&d);
		for (size_t i = 0; i < d.n_outputs; i++)
			output_tick(d.outputs[i], now);
		notify_watchdog(&d.notify, mono_ms());
		struct mqtt_stats ms;
		mqtt_get_stats(d.mqtt, &ms);
		if (ms.queue_dropped > d.queue_dropped_seen) {
			log_limited(&d.rl_dropped, now, LOG_LVL_WARN,
				    "mqtt: receive queue full, %llu messages dropped so far",
				    (unsigned long long)ms.queue_dropped);
			d.queue_dropped_seen = ms.queue_dropped;
		}
	}
	notify_send(&d.notify, "STOPPING=1");
	log_info("stopping");
out:
	mqtt_free(d.mqtt);
	d.mqtt = NULL;
	if (d.engine) {
		/* what was queued but not yet handled is in the recording; hand out what we have */
		push_outputs(&d);
	}
	for (size_t i = 0; i < d.n_outputs; i++)
		output_close(d.outputs[i], 5000);
	free(d.outputs);
	recording_writer_close(d.rec);
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	if (efd >= 0)
		close(efd);
	free_core(&d);
	config_free(d.cfg);
	notify_close(&d.notify);
	return rc;
}

int main(int argc, char **argv)
{
	const char *cfg_path = DEFAULT_CONFIG;
	bool check = false, replay = false, no_output = false;
	int argi = 1;
	if (argc > 1 && strcmp(argv[1], "replay") == 0) {
		replay = true;
		argi = 2;
	}
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
					     {"check-config", no_argument, NULL, 'k'},
					     {"version", no_argument, NULL, 'V'},
					     {"no-output", no_argument, NULL, 'n'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	optind = argi;
	int o;
	while ((o = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			cfg_path = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 'n':
			no_output = true;
			break;
		case 'V':
			printf("oeed %s\n", OEED_VERSION);
			return EXIT_OK;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_CONFIG;
		}
	}
	log_init();
	if (check)
		return cmd_check_config(cfg_path);
	if (replay) {
		if (optind >= argc) {
			fprintf(stderr, "oeed replay: no recordings given\n");
			usage(stderr);
			return EXIT_CONFIG;
		}
		return cmd_replay(cfg_path, argv + optind, argc - optind, no_output);
	}
	if (optind < argc) {
		fprintf(stderr, "oeed: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_CONFIG;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "oeed: curl_global_init failed\n");
		return EXIT_RUNTIME;
	}
	int rc = cmd_run(cfg_path);
	curl_global_cleanup();
	return rc;
}
