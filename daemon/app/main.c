/* main.c - the command line (interface.md) and the live daemon's event loop.
 *
 *   oeed [-c FILE]                 run the daemon
 *   oeed -c FILE --check-config    validate, print the effective config and memory budget
 *   oeed replay -c FILE REC...     recompute everything from recordings to stdout
 *
 * The daemon is one thread that owns everything (config, engine, ingest, outputs) plus the
 * threads libraries force on us (paho's callback thread, each influxdb output's sender),
 * which talk to it only through bounded queues. One epoll loop waits on the MQTT queue's
 * eventfd, a signalfd and a timerfd, reads the clock once per turn and passes it down.
 *
 * Live and replay feed the engine identically: messages in receive order, with a report tick
 * at every multiple of report.interval placed before the first message received at or after
 * it. So `oeed replay` of a recording made live gives the live figures.
 *
 * Crash safety: every checkpoint_interval (and at stop) the engine's state is written with
 * the receive time of the last message it processed. At start the checkpoint is restored and,
 * when recording is on, the recorded messages received after it are fed again (the recording
 * is written before paho acknowledges a message); then every machine is unknown until it
 * reports again, since nobody saw what happened while oeed was down. */
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
#include "checkpoint.h"
#include "config.h"
#include "emit.h"
#include "engine.h"
#include "feed.h"
#include "ingest.h"
#include "log.h"
#include "mqtt.h"
#include "notify.h"
#include "output.h"
#include "plugin.h"
#include "recording.h"
#include "report.h"

#define DEFAULT_CONFIG	"/etc/oeed/oeed.yaml"
#define OUT_FLUSH_BYTES (1u << 20)
#define MAX_SUBS	256 /* distinct subscriptions; more sources than that are refused at start */

enum { EXIT_OK = 0, EXIT_CONFIG = 1, EXIT_RUNTIME = 2 };

/* The daemon's context: all mutable state of the program lives here. A config stays alive
 * while anything made from it does (engine and ingest: cfg; the MQTT client and recording:
 * mqtt_cfg; the outputs: out_cfg), so a reload can keep the parts that did not change. */
struct daemon {
	const char *cfg_path;
	struct oeed_config *cfg, *mqtt_cfg, *out_cfg;
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
	struct oeed_decoder_host host;
	struct feed feed; /* messages and report ticks into the engine */
	oeed_ms next_checkpoint;
	oeed_ms next_sync; /* of the recording */
	uint64_t queue_dropped_seen;
	struct log_ratelimit rl_dropped, rl_rebirth, rl_count, rl_notice;
	uint64_t protocol_notices; /* counted by decoders through the host (self-metrics) */
	bool to_stdout;		   /* replay: lines go to stdout instead of the outputs */
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
	fprintf(f,
		"Usage:\n"
		"  oeed [-c FILE]                  run the daemon (default " DEFAULT_CONFIG ")\n"
		"  oeed -c FILE --check-config     validate; print the effective config and its "
		"memory budget\n"
		"  oeed replay -c FILE REC...      recompute everything from recordings (files or "
		"directories),\n"
		"                                  line protocol to stdout (--no-output: compute\n"
		"                                  everything, write nothing: for benchmarks)\n"
		"  oeed report -c FILE --contract NAME --period LABEL [--html FILE] REC...\n"
		"                                  a contract's evidence for one period (LABEL:\n"
		"                                  2026-10, 2026-W43, 2026-10-25, \"2026-10-25 "
		"night\")\n"
		"  oeed --version | --help\n"
		"Signals: SIGHUP reloads the config, SIGTERM/SIGINT flush and stop.\n"
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

/* ---- the core: calendar, engine (with the emitter), ingest ---- */

struct core {
	struct calendar *cal;
	struct engine *engine;
	struct ingest *ingest;
};

static int core_new(struct oeed_config *cfg, struct emitter *em,
		    const struct oeed_decoder_host *host, struct core *ret, struct oeed_error *err)
{
	struct engine_sink sink;
	emit_sink(em, &sink);
	memset(ret, 0, sizeof(*ret));
	if (calendar_new(cfg->report.timezone, cfg->report.shifts, cfg->report.n_shifts, &ret->cal,
			 err) < 0 ||
	    engine_new(cfg, ret->cal, &sink, &ret->engine, err) < 0 ||
	    ingest_new(cfg, ret->engine, host, &ret->ingest, err) < 0) {
		ingest_free(ret->ingest);
		engine_free(ret->engine);
		calendar_free(ret->cal);
		memset(ret, 0, sizeof(*ret));
		return -EINVAL;
	}
	return 0;
}

static void core_free(struct daemon *d)
{
	ingest_free(d->ingest);
	engine_free(d->engine);
	calendar_free(d->cal);
	d->ingest = NULL;
	d->engine = NULL;
	d->cal = NULL;
}

static int build_core(struct daemon *d)
{
	struct oeed_error err = {{0}};
	struct core c;
	d->em.out = &d->out;
	d->em.site = d->cfg->site;
	if (core_new(d->cfg, &d->em, &d->host, &c, &err) < 0) {
		fprintf(stderr, "%s: %s\n", d->cfg->path, err.msg);
		return -1;
	}
	d->cal = c.cal;
	d->engine = c.engine;
	d->ingest = c.ingest;
	return 0;
}

static int cmd_check_config(const char *path)
{
	struct oeed_config *cfg;
	if (load_config(path, &cfg) < 0)
		return 1;
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

/* ---- where lines go ---- */

static void flush_lines(struct daemon *d, bool force)
{
	if (!d->out.len || (!force && d->out.len < OUT_FLUSH_BYTES))
		return;
	if (d->to_stdout) {
		fwrite(d->out.buf, 1, d->out.len, stdout);
	} else {
		for (size_t i = 0; i < d->n_outputs; i++)
			output_write(d->outputs[i], d->out.buf, d->out.len);
	}
	strbuf_reset(&d->out);
}

static void report_tick(void *ctx, oeed_ms tick);

static void after_feed(void *ctx)
{
	flush_lines(ctx, false);
}

static void feed_setup(struct daemon *d)
{
	feed_init(&d->feed, d->ingest, d->cfg->report.interval_ms, report_tick, after_feed, d);
}

static int cmd_replay(const char *cfg_path, char **recs, int n_recs, bool discard)
{
	struct daemon d;
	memset(&d, 0, sizeof(d));
	d.em.discard = discard;
	d.to_stdout = true;
	strbuf_init(&d.out);
	if (load_config(cfg_path, &d.cfg) < 0)
		return EXIT_CONFIG;
	int rc = EXIT_OK;
	char **paths = NULL;
	size_t n_paths = 0;
	struct oeed_error err = {{0}};
	if (build_core(&d) < 0) {
		rc = EXIT_CONFIG;
		goto out;
	}
	feed_setup(&d);
	if (feed_expand(recs, (size_t)n_recs, &paths, &n_paths, &err) < 0 ||
	    feed_files(&d.feed, paths, n_paths, INT64_MIN, &err) < 0) {
		fprintf(stderr, "oeed replay: %s\n", err.msg);
		rc = EXIT_RUNTIME;
	}
	feed_final_tick(&d.feed);
	flush_lines(&d, true);
	fflush(stdout);
	struct ingest_stats is;
	ingest_get_stats(d.ingest, &is);
	struct engine_stats es;
	engine_get_stats(d.engine, &es);
	log_info("replay: %llu messages, %llu bad recording lines, %llu decode errors, %llu "
		 "unmatched, %llu unmapped, %llu late, %llu skewed, %zu machines",
		 (unsigned long long)is.messages, (unsigned long long)d.feed.stats.bad_lines,
		 (unsigned long long)is.decode_errors, (unsigned long long)is.unmatched,
		 (unsigned long long)is.unmapped, (unsigned long long)es.late,
		 (unsigned long long)es.skewed, es.machines);
out:
	feed_free_paths(paths, n_paths);
	core_free(&d);
	strbuf_free(&d.out);
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
	int healthy = 1;
	for (size_t i = 0; i < d->n_outputs; i++) {
		struct output_stats os;
		output_get_stats(d->outputs[i], &os);
		s.lines_written += os.lines_written;
		s.lines_retried += os.lines_retried;
		s.lines_spooled += os.lines_spooled;
		s.write_errors += os.write_errors;
		s.spool_bytes += os.spool_bytes;
		s.dropped_lines += os.lines_dropped;
		healthy &= os.healthy != 0 || os.write_errors == 0;
	}
	struct mqtt_stats ms;
	memset(&ms, 0, sizeof(ms));
	if (d->mqtt) {
		mqtt_get_stats(d->mqtt, &ms);
		s.dropped_messages = ms.queue_dropped + ms.too_large;
		s.queue_depth = ms.queue_depth;
		s.queue_waits = ms.queue_waits;
	}
	s.rss_bytes = rss_bytes();
	s.protocol_notices = d->protocol_notices;
	emit_self(&d->em, d->instance, ts, &s);

	char status[256];
	snprintf(status, sizeof(status),
		 "STATUS=%s, %zu machines, %llu messages, %llu bad, outputs %s, %llu lines "
		 "written",
		 ms.connected ? "connected" : "not connected", es.machines,
		 (unsigned long long)is.messages,
		 (unsigned long long)(s.decode_errors + s.unmatched + s.unmapped),
		 healthy ? "healthy" : "failing", (unsigned long long)s.lines_written);
	notify_send(&d->notify, status);
}

static void report_tick(void *ctx, oeed_ms tick)
{
	struct daemon *d = ctx;
	engine_report(d->engine, tick);
	if (!d->to_stdout)
		self_metrics(d, tick);
}

static void on_mqtt_msg(void *ctx, const struct mqtt_msg *m)
{
	struct daemon *d = ctx;
	feed_message(&d->feed, m->rx_ns, m->topic, m->topic_len, m->payload, m->len);
}

static int host_publish(void *ctx, const char *topic, const void *payload, size_t len)
{
	struct daemon *d = ctx;
	struct log_ratelimit *rl = &d->rl_rebirth;
	oeed_ms now = wall_ms();
	/* rebirth requests: a burst of 5 per minute at most, whatever the decoders ask */
	if (now - rl->window_start >= 60000) {
		rl->window_start = now;
		rl->in_window = 0;
	}
	if (rl->in_window >= 5)
		return -EAGAIN;
	rl->in_window++;
	log_info("sparkplug: requesting a rebirth on %s", topic);
	return d->mqtt ? mqtt_publish(d->mqtt, topic, payload, len) : -ENOTCONN;
}

static void host_count(void *ctx, const char *what)
{
	struct daemon *d = ctx;
	d->protocol_notices++;
	log_limited(&d->rl_notice, wall_ms(), LOG_LVL_INFO, "sparkplug: %s", what);
}

static void set_host(struct daemon *d)
{
	d->host.ctx = d;
	d->host.publish = d->cfg->mqtt.sparkplug_rebirth ? host_publish : NULL;
	d->host.count = host_count;
}

static char *checkpoint_path(const struct daemon *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s/checkpoint", d->cfg->state_dir);
	return buf;
}

static void write_checkpoint(struct daemon *d, oeed_ms now)
{
	struct strbuf sb;
	struct oeed_error err = {{0}};
	char path[4096];
	strbuf_init(&sb);
	if (engine_save(d->engine, &sb) < 0) {
		log_error("checkpoint: out of memory");
	} else if (checkpoint_write(checkpoint_path(d, path, sizeof(path)), d->feed.last_rx_ns, now,
				    sb.buf, sb.len, &err) < 0) {
		log_error("%s", err.msg);
	} else {
		log_debug("checkpoint written: %zu bytes", sb.len);
	}
	strbuf_free(&sb);
}

/* Restores the checkpoint and the recording's tail; then every machine is unknown. */
static void restore(struct daemon *d)
{
	char path[4096];
	struct checkpoint ck;
	struct oeed_error err = {{0}};
	memset(&ck, 0, sizeof(ck));
	int r = checkpoint_read(checkpoint_path(d, path, sizeof(path)), &ck, &err);
	if (r == -ENOENT) {
		log_info("no checkpoint in %s: starting afresh", d->cfg->state_dir);
	} else if (r < 0) {
		log_error("%s: skipped, starting afresh", err.msg);
	} else {
		bool full = false;
		int n = engine_load(d->engine, ck.blob, ck.blob_len, &full, &err);
		if (n < 0) {
			log_error("checkpoint %s: %s: skipped, starting afresh", path, err.msg);
		} else {
			d->feed.last_rx_ns = ck.last_rx_ns;
			log_info("checkpoint restored: %d machines%s", n,
				 full ? "" : " (windows and periods changed shape: they restart)");
		}
	}
	checkpoint_clear(&ck);
	if (d->cfg->record.enabled && d->feed.last_rx_ns > 0) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/recordings", d->cfg->state_dir);
		char *recs[1] = {dir}, **paths = NULL;
		size_t n_paths = 0;
		struct stat st;
		if (stat(dir, &st) == 0 && feed_expand(recs, 1, &paths, &n_paths, &err) == 0) {
			long fed = feed_files(&d->feed, paths, n_paths, d->feed.last_rx_ns, &err);
			if (fed < 0)
				log_error("recording tail: %s", err.msg);
			else
				log_info(
				    "recording tail: %ld messages after the checkpoint replayed",
				    fed);
			feed_free_paths(paths, n_paths);
		}
	}
	engine_gap(d->engine, "restart");
	flush_lines(d, true);
}

static int open_outputs(struct daemon *d, struct oeed_config *cfg)
{
	struct oeed_error err = {{0}};
	struct output **outs = calloc(cfg->n_outputs ? cfg->n_outputs : 1, sizeof(*outs));
	if (!outs)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_outputs; i++) {
		if (output_new(&cfg->outputs[i], cfg->state_dir, &outs[i], &err) < 0) {
			log_error("%s", err.msg);
			for (size_t j = 0; j < i; j++)
				output_close(outs[j], 0);
			free(outs);
			return -EINVAL;
		}
	}
	d->outputs = outs;
	d->n_outputs = cfg->n_outputs;
	d->out_cfg = cfg;
	return 0;
}

static void close_outputs(struct daemon *d)
{
	for (size_t i = 0; i < d->n_outputs; i++)
		output_close(d->outputs[i], 5000);
	free(d->outputs);
	d->outputs = NULL;
	d->n_outputs = 0;
}

/* The subscriptions the current sources need; the filters point into the ingest. */
static size_t subscriptions(const struct daemon *d, struct mqtt_subscription *subs)
{
	const char *filters[MAX_SUBS];
	int qos[MAX_SUBS];
	size_t n = ingest_subscriptions(d->ingest, filters, qos, MAX_SUBS);
	if (d->cfg->n_sources > MAX_SUBS)
		log_error("more than %d sources: only the first %d subscriptions are made",
			  MAX_SUBS, MAX_SUBS);
	for (size_t i = 0; i < n; i++) {
		subs[i].filter = filters[i];
		subs[i].qos = qos[i];
	}
	return n;
}

static int open_mqtt(struct daemon *d, struct oeed_config *cfg)
{
	struct oeed_error err = {{0}};
	if (cfg->record.enabled) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/recordings", cfg->state_dir);
		if (recording_writer_open(dir, cfg->record.file_max, cfg->record.total_max, &d->rec,
					  &err) < 0) {
			log_error("%s", err.msg);
			return -EIO;
		}
	}
	if (!cfg->mqtt.client_id) {
		/* the documented default, stable across restarts so the broker keeps the session */
		char hostname[64] = "gateway", id[96];
		gethostname(hostname, sizeof(hostname) - 1);
		snprintf(id, sizeof(id), "oeed-%s", hostname);
		if (!(cfg->mqtt.client_id = strdup(id)))
			return -ENOMEM;
	}
	struct mqtt_subscription subs[MAX_SUBS];
	size_t n = subscriptions(d, subs);
	if (mqtt_new(&cfg->mqtt, subs, n, d->rec, &d->mqtt, &err) < 0) {
		log_error("%s", err.msg);
		return -EINVAL;
	}
	d->mqtt_cfg = cfg;
	return 0;
}

static void close_mqtt(struct daemon *d)
{
	mqtt_free(d->mqtt);
	d->mqtt = NULL;
	recording_writer_close(d->rec);
	d->rec = NULL;
}

/* One top-level section of the effective config as text, to see what a reload changed. */
static char *config_section(const struct oeed_config *cfg, const char *const *keys)
{
	char *text = NULL, *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	config_print(cfg, f);
	fclose(f);
	FILE *o = open_memstream(&out, &len);
	if (!o) {
		free(text);
		return NULL;
	}
	bool in = false;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] != ' ' && line[0] != '-' && line[0] != '#') {
			in = false;
			for (size_t k = 0; keys[k]; k++)
				in |= strncmp(line, keys[k], strlen(keys[k])) == 0;
		}
		if (in)
			fprintf(o, "%s\n", line);
	}
	fclose(o);
	free(text);
	return out;
}

static bool sections_differ(const struct oeed_config *a, const struct oeed_config *b,
			    const char *const *keys)
{
	char *x = config_section(a, keys), *y = config_section(b, keys);
	bool differ = !x || !y || strcmp(x, y) != 0;
	free(x);
	free(y);
	return differ;
}

static void release_config(struct daemon *d, struct oeed_config *c)
{
	if (c && c != d->cfg && c != d->mqtt_cfg && c != d->out_cfg)
		config_free(c);
}

/* SIGHUP: validate first; keep every machine's figures; rebuild only what changed. */
static void reload(struct daemon *d)
{
	struct oeed_config *nc;
	struct oeed_error err = {{0}};
	notify_send(&d->notify, "RELOADING=1");
	if (load_config(d->cfg_path, &nc) < 0) {
		log_error("reload: %s rejected (see the error above); the running config is kept",
			  d->cfg_path);
		goto out;
	}
	struct oeed_config *old = d->cfg;
	struct emitter em_probe = d->em;
	struct core c;
	d->cfg = nc; /* the decoder host reads the new settings */
	set_host(d);
	if (core_new(nc, &d->em, &d->host, &c, &err) < 0) {
		log_error("reload: %s: %s; the running config is kept", d->cfg_path, err.msg);
		d->cfg = old;
		set_host(d);
		d->em = em_probe;
		config_free(nc);
		goto out;
	}
	/* every machine's state moves over; figures are kept when windows and periods keep
	 * their shape */
	struct strbuf sb;
	strbuf_init(&sb);
	bool full = false;
	int n = engine_save(d->engine, &sb) < 0
		    ? -ENOMEM
		    : engine_load(c.engine, sb.buf, sb.len, &full, &err);
	strbuf_free(&sb);
	if (n < 0) {
		log_error(
		    "reload: machine state could not be carried over (%s); kept the old config",
		    n == -ENOMEM ? "out of memory" : err.msg);
		ingest_free(c.ingest);
		engine_free(c.engine);
		calendar_free(c.cal);
		d->cfg = old;
		set_host(d);
		config_free(nc);
		goto out;
	}
	flush_lines(d, true);
	struct ingest_stats counted;
	ingest_get_stats(d->ingest, &counted);
	ingest_set_stats(c.ingest, &counted);
	core_free(d);
	d->cal = c.cal;
	d->engine = c.engine;
	d->ingest = c.ingest;
	d->feed.ingest = c.ingest;
	d->feed.interval = nc->report.interval_ms;
	d->em.site = nc->site;
	log_set_level((enum log_level)nc->log_level);

	static const char *const out_keys[] = {"outputs:", "state_dir:", NULL};
	if (sections_differ(d->out_cfg, nc, out_keys)) {
		struct oeed_config *prev = d->out_cfg;
		close_outputs(d);
		if (open_outputs(d, nc) < 0)
			log_error("reload: outputs could not be opened; no output until the next "
				  "reload");
		else
			log_info("reload: outputs reopened");
		if (d->out_cfg == prev)
			d->out_cfg = NULL;
		release_config(d, prev);
	}
	static const char *const mqtt_keys[] = {"mqtt:", "record:", "state_dir:", NULL};
	if (sections_differ(d->mqtt_cfg, nc, mqtt_keys)) {
		struct oeed_config *prev = d->mqtt_cfg;
		close_mqtt(d);
		d->mqtt_cfg = NULL;
		if (open_mqtt(d, nc) < 0 || mqtt_start(d->mqtt) < 0)
			log_error("reload: the MQTT client could not be started");
		else
			log_info("reload: MQTT client restarted");
		release_config(d, prev);
	} else {
		struct mqtt_subscription subs[MAX_SUBS];
		size_t k = subscriptions(d, subs);
		if (mqtt_set_subscriptions(d->mqtt, subs, k) < 0)
			log_error("reload: subscriptions could not be updated");
	}
	release_config(d, old);
	log_info("reload: %s applied; %d machines kept%s", d->cfg_path, n,
		 full ? " with all their figures" : " (windows or periods changed: they restart)");
out:
	notify_send(&d->notify, "READY=1");
}

static int cmd_run(const char *cfg_path)
{
	struct daemon d;
	memset(&d, 0, sizeof(d));
	d.cfg_path = cfg_path;
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(10000, 5);
	d.rl_dropped = d.rl_count = d.rl_notice = rl;
	strbuf_init(&d.out);
	int rc = EXIT_OK, sfd = -1, tfd = -1, efd = -1;
	log_init();
	notify_init(&d.notify);
	if (load_config(cfg_path, &d.cfg) < 0) {
		rc = EXIT_CONFIG;
		goto out;
	}
	log_set_level((enum log_level)d.cfg->log_level);
	if (d.cfg->instance)
		strlcpy_oeed(d.instance, d.cfg->instance, sizeof(d.instance));
	else if (gethostname(d.instance, sizeof(d.instance) - 1) < 0)
		strlcpy_oeed(d.instance, "oeed", sizeof(d.instance));
	set_host(&d);
	if (build_core(&d) < 0) {
		rc = EXIT_CONFIG;
		goto out;
	}
	feed_setup(&d);
	d.em.log_status = true;
	if (mkdir(d.cfg->state_dir, 0750) < 0 && errno != EEXIST) {
		log_error("state_dir %s: %s", d.cfg->state_dir, strerror(errno));
		rc = EXIT_RUNTIME;
		goto out;
	}
	if (open_outputs(&d, d.cfg) < 0) {
		rc = EXIT_RUNTIME;
		goto out;
	}
	restore(&d);
	if (open_mqtt(&d, d.cfg) < 0) {
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
	int fds[2] = {sfd, tfd};
	for (int i = 0; i < 2; i++) {
		ev.data.fd = fds[i];
		if (epoll_ctl(efd, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
			log_error("epoll_ctl: %s", strerror(errno));
			rc = EXIT_RUNTIME;
			goto out;
		}
	}
	int mqfd = mqtt_fd(d.mqtt);
	ev.data.fd = mqfd;
	if (epoll_ctl(efd, EPOLL_CTL_ADD, mqfd, &ev) < 0 || mqtt_start(d.mqtt) < 0) {
		log_error("mqtt: cannot start the client");
		rc = EXIT_RUNTIME;
		goto out;
	}
	oeed_ms now = wall_ms();
	d.next_checkpoint = now + d.cfg->checkpoint_interval_ms;
	log_info("started: %zu sources, %zu outputs, up to %zu machines, reporting every %lld ms",
		 d.cfg->n_sources, d.n_outputs, d.cfg->machines.max,
		 (long long)d.cfg->report.interval_ms);
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
						int old_fd = mqtt_fd(d.mqtt);
						reload(&d);
						if (d.mqtt && mqtt_fd(d.mqtt) != old_fd) {
							epoll_ctl(efd, EPOLL_CTL_DEL, old_fd, NULL);
							ev.data.fd = mqtt_fd(d.mqtt);
							epoll_ctl(efd, EPOLL_CTL_ADD, ev.data.fd,
								  &ev);
						}
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
		if (d.mqtt)
			mqtt_drain(d.mqtt, on_mqtt_msg, &d, 8192);
		now = wall_ms();
		/* Ticks only up to the receive-time watermark: a tick is final once every message
		 * received before it has been fed, also when the drain above left some queued.
		 * That keeps live output equal to a replay of the recording. */
		oeed_ms ticks_until = now;
		if (d.mqtt)
			ticks_until = OEED_MIN(now, (oeed_ms)(mqtt_watermark_ns(d.mqtt) / 1000000));
		feed_ticks_until(&d.feed, ticks_until);
		flush_lines(&d, true);
		for (size_t i = 0; i < d.n_outputs; i++)
			output_tick(d.outputs[i], now);
		if (d.rec && now >= d.next_sync) {
			/* the recording is the write-ahead log: at most one second of it is
			 * exposed to a power loss */
			int r = recording_writer_sync(d.rec);
			if (r < 0)
				log_limited(&d.rl_count, now, LOG_LVL_ERROR, "recording: fsync: %s",
					    strerror(-r));
			d.next_sync = now + 1000;
		}
		if (d.cfg->checkpoint_interval_ms > 0 && now >= d.next_checkpoint) {
			write_checkpoint(&d, now);
			d.next_checkpoint = now + d.cfg->checkpoint_interval_ms;
		}
		notify_watchdog(&d.notify, mono_ms());
		if (d.mqtt) {
			struct mqtt_stats ms;
			mqtt_get_stats(d.mqtt, &ms);
			if (ms.queue_dropped > d.queue_dropped_seen) {
				log_limited(
				    &d.rl_dropped, now, LOG_LVL_WARN,
				    "mqtt: receive queue full, %llu messages dropped so far",
				    (unsigned long long)ms.queue_dropped);
				d.queue_dropped_seen = ms.queue_dropped;
			}
		}
	}
	notify_send(&d.notify, "STOPPING=1");
	log_info("stopping");
	const oeed_ms stop_at = wall_ms(); /* what oeed watched ends here */
	/* stop receiving, then handle everything paho acknowledged until it stopped */
	if (d.mqtt) {
		mqtt_stop(d.mqtt);
		while (mqtt_drain(d.mqtt, on_mqtt_msg, &d, 8192) > 0)
			;
	}
	close_mqtt(&d);
	/* account every machine up to the stop, so the checkpoint holds all the time we
	 * watched (not the disconnect's own duration) */
	engine_advance(d.engine, stop_at);
	flush_lines(&d, true);
	write_checkpoint(&d, wall_ms());
out:
	close_mqtt(&d);
	close_outputs(&d);
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	if (efd >= 0)
		close(efd);
	core_free(&d);
	strbuf_free(&d.out);
	struct oeed_config *cfgs[3] = {d.cfg, d.mqtt_cfg, d.out_cfg};
	d.cfg = d.mqtt_cfg = d.out_cfg = NULL;
	for (int i = 0; i < 3; i++) {
		bool seen = false;
		for (int j = 0; j < i; j++)
			seen |= cfgs[j] == cfgs[i];
		if (!seen)
			config_free(cfgs[i]);
	}
	notify_close(&d.notify);
	return rc;
}

int main(int argc, char **argv)
{
	const char *cfg_path = DEFAULT_CONFIG;
	bool check = false, replay = false, no_output = false;
	int argi = 1;
	if (argc > 1 && strcmp(argv[1], "report") == 0)
		return report_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "replay") == 0) {
		replay = true;
		argi = 2;
	}
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"check-config", no_argument, NULL, 'k'},
	    {"version", no_argument, NULL, 'V'},      {"no-output", no_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0}};
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
