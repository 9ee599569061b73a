/* daemon.c - the live daemon (daemon.h has its context and threads): start, the event loop,
 * the outputs and the MQTT client, self-metrics, and a stop that loses nothing paho
 * acknowledged.
 *
 * One loop (loop.h) dispatches the MQTT queue's eventfd, a signalfd and a 100 ms timerfd to
 * their owners and then does each turn's work with the turn's `now`: drain the queue in
 * bounded batches, report ticks up to the receive-time watermark, hand lines to the outputs,
 * fsync the recording each second, checkpoint, ping the watchdog.
 *
 * Live and replay feed the engine identically (pipeline.h), so `oeed replay` of a recording
 * made live gives the live figures.
 *
 * Crash safety: every checkpoint_interval (and at stop) the engine's state is written with the
 * receive time of the last message it processed (restore.c). At start the checkpoint is
 * restored and, when recording is on, the recorded messages received after it are fed again
 * (the recording is written before paho acknowledges a message); then every machine is
 * unknown until it reports again, since nobody saw what happened while oeed was down. */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "app.h"
#include "clock.h"
#include "emit.h"

#define DRAIN_BATCH 8192 /* messages per turn, so ticks and signals are not starved */

/* ---- the pipeline and what it reports ---- */

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

/* At each report tick, after the engine's records: the daemon's own figures. */
static void self_metrics(void *ctx, struct pipeline *p, oeed_ms ts)
{
	struct daemon *d = ctx;
	struct self_metrics s;
	struct pipeline_stats ps;
	memset(&s, 0, sizeof(s));
	pipeline_get_stats(p, &ps);
	s.messages = ps.ingest.messages;
	s.decode_errors = ps.ingest.decode_errors + ps.ingest.bad_values;
	s.unmatched = ps.ingest.unmatched;
	s.unmapped = ps.ingest.unmapped;
	s.late = ps.engine.late;
	s.reordered = ps.engine.reordered;
	s.skewed = ps.engine.skewed;
	s.machines = ps.engine.machines;
	s.machines_dropped = ps.engine.machines_dropped;
	s.counter_resets = ps.engine.counter_resets;
	int healthy = 1;
	for (size_t i = 0; i < d->out.n; i++) {
		struct output_stats os;
		output_get_stats(d->out.o[i], &os);
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
	if (d->mqtt.client) {
		mqtt_get_stats(d->mqtt.client, &ms);
		s.dropped_messages = ms.queue_dropped + ms.too_large;
		s.queue_depth = ms.queue_depth;
		s.queue_waits = ms.queue_waits;
	}
	s.rss_bytes = rss_bytes();
	s.protocol_notices = d->protocol_notices;
	emit_self(pipeline_emitter(p), d->cfg->instance, ts, &s);
	if (d->pipe.p == p && d->pipe.view)
		liveview_ticked(d->pipe.view, ts);

	char status[256];
	snprintf(status, sizeof(status),
		 "STATUS=%s, %zu machines, %llu messages, %llu bad, outputs %s, %llu lines "
		 "written",
		 ms.connected ? "connected" : "not connected", ps.engine.machines,
		 (unsigned long long)ps.ingest.messages,
		 (unsigned long long)(s.decode_errors + s.unmatched + s.unmapped),
		 healthy ? "healthy" : "failing", (unsigned long long)s.lines_written);
	notify_send(&d->notify, status);
}

static int host_publish(void *ctx, const char *topic, const void *payload, size_t len)
{
	struct daemon *d = ctx;
	struct log_ratelimit *rl = &d->rl_rebirth;
	oeed_ms now = d->loop.now;
	/* A storm guard only: the Sparkplug decoder already limits each node to one request per
	 * rebirth interval; this caps all nodes together (an oeed restart asks every node). */
	if (now - rl->window_start >= 60000) {
		rl->window_start = now;
		rl->in_window = 0;
	}
	if (rl->in_window >= 120)
		return -EAGAIN;
	rl->in_window++;
	log_info("sparkplug: requesting a rebirth on %s", topic);
	return d->mqtt.client ? mqtt_publish(d->mqtt.client, topic, payload, len) : -ENOTCONN;
}

static void host_count(void *ctx, const char *what, const char *detail)
{
	struct daemon *d = ctx;
	d->protocol_notices++;
	log_limited(&d->rl_notice, d->loop.now, LOG_LVL_INFO, "decoder notice %s%s%s", what,
		    detail ? ": " : "", detail ? detail : "");
}

static struct oeed_decoder_host daemon_host(struct daemon *d, const struct oeed_config *cfg)
{
	struct oeed_decoder_host h = {.ctx = d,
				      .publish = cfg->mqtt.sparkplug_rebirth ? host_publish : NULL,
				      .count = host_count};
	return h;
}

int daemon_pipeline_new(struct daemon *d, struct oeed_config *cfg, struct daemon_pipeline *ret,
			struct oeed_error *err)
{
	struct oeed_decoder_host host = daemon_host(d, cfg);
	struct pipeline_opts opts = {.log_status = true, .on_tick = self_metrics, .ctx = d};
	int r = liveview_new(cfg, &ret->view);
	if (r < 0) {
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return r;
	}
	opts.observer = liveview_sink(ret->view);
	r = pipeline_new(cfg, &host, &opts, &ret->p, err);
	if (r < 0) {
		liveview_free(ret->view);
		ret->view = NULL;
		return r;
	}
	liveview_attach(ret->view, pipeline_engine(ret->p));
	ret->cfg = config_ref(cfg);
	return 0;
}

void daemon_pipeline_free(struct daemon_pipeline *dp)
{
	pipeline_free(dp->p);
	liveview_free(dp->view);
	config_free(dp->cfg);
	dp->p = NULL;
	dp->view = NULL;
	dp->cfg = NULL;
}

/* ---- outputs ---- */

/* The mqtt outputs' publisher: whichever client runs now (a reload may replace it). */
static int daemon_publish(void *ctx, const char *topic, const void *payload, size_t len, int qos,
			  bool retain, size_t max_inflight)
{
	struct daemon *d = ctx;
	if (!d->mqtt.client)
		return -ENOTCONN;
	return mqtt_publish_msg(d->mqtt.client, topic, payload, len, qos, retain, max_inflight);
}

int daemon_outputs_open(struct daemon *d, struct oeed_config *cfg, struct daemon_outputs *ret)
{
	struct oeed_error err = {{0}};
	d->publisher.publish = daemon_publish;
	d->publisher.ctx = d;
	struct output **o = calloc(cfg->n_outputs ? cfg->n_outputs : 1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_outputs; i++) {
		int r = output_new(&cfg->outputs[i], cfg->state_dir, &o[i], &err);
		if (r < 0) {
			log_error("%s", err.msg);
			for (size_t j = 0; j < i; j++)
				output_close(o[j], 0);
			free(o);
			return r;
		}
	}
	ret->machines = false;
	for (size_t i = 0; i < cfg->n_outputs; i++) {
		output_set_publisher(o[i], &d->publisher);
		ret->machines |= output_takes_machines(o[i]);
	}
	ret->o = o;
	ret->n = cfg->n_outputs;
	ret->cfg = config_ref(cfg);
	return 0;
}

/* A machine that changed (a state change, a report tick) goes to the mqtt outputs. */
static void machine_changed(void *ctx, size_t i, const char *id)
{
	struct daemon *d = ctx;
	strbuf_reset(&d->doc);
	if (liveview_machine_json(d->pipe.view, i, &d->doc) < 0 || d->doc.failed)
		return;
	for (size_t k = 0; k < d->out.n; k++)
		if (output_takes_machines(d->out.o[k]))
			output_machine(d->out.o[k], id, d->doc.buf, d->doc.len);
}

void daemon_outputs_close(struct daemon_outputs *out)
{
	for (size_t i = 0; i < out->n; i++)
		output_close(out->o[i], 5000);
	free(out->o);
	config_free(out->cfg);
	memset(out, 0, sizeof(*out));
}

void daemon_write(struct daemon *d, const char *lines, size_t len)
{
	for (size_t i = 0; i < d->out.n; i++)
		output_write(d->out.o[i], lines, len);
}

void daemon_flush(struct daemon *d)
{
	size_t len;
	const char *lines = pipeline_take_lines(d->pipe.p, &len);
	if (lines)
		daemon_write(d, lines, len);
}

/* ---- MQTT ---- */

static void on_mqtt_msg(void *ctx, const struct mqtt_msg *m)
{
	struct daemon *d = ctx;
	pipeline_message(d->pipe.p, m->rx_ns, m->topic, m->topic_len, m->payload, m->len);
	if (pipeline_pending_bytes(d->pipe.p) >= (1u << 20))
		daemon_flush(d);
}

/* The queue's eventfd: a bounded batch per turn, so ticks and signals are not starved; the
 * eventfd stays readable while messages are left, so the next turn comes at once. */
static void mqtt_ready(struct loop_source *s, uint32_t events, oeed_ms now)
{
	struct daemon *d = s->ctx;
	if (d->mqtt.client)
		mqtt_drain(d->mqtt.client, on_mqtt_msg, d, DRAIN_BATCH);
}

/* The subscriptions the pipeline's sources need; the filters point into the pipeline. */
static size_t subscriptions(const struct daemon *d, struct mqtt_subscription *subs)
{
	const char *filters[DAEMON_MAX_SUBS];
	int qos[DAEMON_MAX_SUBS];
	size_t n = pipeline_subscriptions(d->pipe.p, filters, qos, DAEMON_MAX_SUBS);
	if (d->pipe.cfg->n_sources > DAEMON_MAX_SUBS)
		log_error("more than %d sources: only the first %d subscriptions are made",
			  DAEMON_MAX_SUBS, DAEMON_MAX_SUBS);
	for (size_t i = 0; i < n; i++) {
		subs[i].filter = filters[i];
		subs[i].qos = qos[i];
	}
	return n;
}

int daemon_mqtt_new(struct daemon *d, struct oeed_config *cfg, struct daemon_mqtt *ret)
{
	struct oeed_error err = {{0}};
	struct mqtt_subscription subs[DAEMON_MAX_SUBS];
	int r;
	memset(ret, 0, sizeof(*ret));
	if (cfg->record.enabled) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/recordings", cfg->state_dir);
		r = recording_writer_open(dir, cfg->record.file_max, cfg->record.total_max,
					  &ret->rec, &err);
		if (r < 0) {
			log_error("%s", err.msg);
			return r;
		}
	}
	size_t n = subscriptions(d, subs);
	r = mqtt_new(&cfg->mqtt, subs, n, ret->rec, &ret->client, &err);
	if (r < 0) {
		log_error("%s", err.msg);
		recording_writer_close(ret->rec);
		ret->rec = NULL;
		return r;
	}
	ret->cfg = config_ref(cfg);
	return 0;
}

int daemon_mqtt_start(struct daemon *d)
{
	struct daemon_mqtt *m = &d->mqtt;
	m->src.fd = mqtt_fd(m->client);
	m->src.ready = mqtt_ready;
	m->src.ctx = d;
	int r = loop_add(&d->loop, &m->src);
	if (r < 0) {
		log_error("mqtt: cannot watch the receive queue: %s", strerror(-r));
		return r;
	}
	r = mqtt_start(m->client);
	if (r < 0) {
		log_error("mqtt: cannot start the client for %s", m->cfg->mqtt.url);
		loop_remove(&d->loop, &m->src);
	}
	return r;
}

void daemon_mqtt_stop(struct daemon *d)
{
	struct daemon_mqtt *m = &d->mqtt;
	if (m->client) {
		mqtt_stop(m->client);
		while (mqtt_drain(m->client, on_mqtt_msg, d, DRAIN_BATCH) > 0)
			;
		int r = loop_remove(&d->loop, &m->src);
		if (r < 0)
			log_error("mqtt: epoll_ctl(DEL): %s", strerror(-r));
	}
	mqtt_free(m->client);
	recording_writer_close(m->rec);
	config_free(m->cfg);
	memset(m, 0, sizeof(*m));
}

int daemon_subscribe(struct daemon *d)
{
	struct mqtt_subscription subs[DAEMON_MAX_SUBS];
	if (!d->mqtt.client)
		return 0;
	size_t n = subscriptions(d, subs);
	return mqtt_set_subscriptions(d->mqtt.client, subs, n);
}

/* ---- signals, the timer, the turn ---- */

static void signal_ready(struct loop_source *s, uint32_t events, oeed_ms now)
{
	struct daemon *d = s->ctx;
	struct signalfd_siginfo si;
	while (read(s->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			daemon_reload(d);
		else
			loop_quit(&d->loop);
	}
}

static void timer_ready(struct loop_source *s, uint32_t events, oeed_ms now)
{
	uint64_t expirations;
	if (read(s->fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		log_debug("timerfd: %s", strerror(errno));
}

static void turn(void *ctx, oeed_ms now)
{
	struct daemon *d = ctx;
	struct mqtt_client *c = d->mqtt.client;
	/* Ticks only up to the receive-time watermark: a tick is final once every message
	 * received before it has been fed, also when the drain left some queued. That keeps
	 * live output equal to a replay of the recording. */
	oeed_ms until = now;
	if (c)
		until = OEED_MIN(now, (oeed_ms)(mqtt_watermark_ns(c) / 1000000));
	pipeline_ticks_until(d->pipe.p, until);
	daemon_flush(d);
	if (d->out.machines && d->pipe.view)
		liveview_take_dirty(d->pipe.view, machine_changed, d);
	for (size_t i = 0; i < d->out.n; i++)
		output_tick(d->out.o[i], now);
	daemon_status_expire(d, now);
	if (d->mqtt.rec && now >= d->next_sync) {
		/* the recording is the write-ahead log: at most one second of it is exposed to a
		 * power loss */
		int r = recording_writer_sync(d->mqtt.rec);
		if (r < 0)
			log_limited(&d->rl_count, now, LOG_LVL_ERROR, "recording: fsync: %s",
				    strerror(-r));
		d->next_sync = now + 1000;
	}
	if (d->cfg->checkpoint_interval_ms > 0 && now >= d->next_checkpoint) {
		daemon_checkpoint(d, now);
		d->next_checkpoint = now + d->cfg->checkpoint_interval_ms;
	}
	notify_watchdog(&d->notify, clock_mono_ms());
	if (c) {
		struct mqtt_stats ms;
		mqtt_get_stats(c, &ms);
		if (ms.queue_dropped > d->queue_dropped_seen) {
			log_limited(&d->rl_dropped, now, LOG_LVL_WARN,
				    "mqtt: receive queue full, %llu messages dropped so far",
				    (unsigned long long)ms.queue_dropped);
			d->queue_dropped_seen = ms.queue_dropped;
		}
	}
}

static int watch_signals_and_timer(struct daemon *d)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	d->sig.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	d->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d->sig.fd < 0 || d->timer.fd < 0)
		return -errno;
	struct itimerspec its = {.it_interval = {0, 100000000}, .it_value = {0, 100000000}};
	if (timerfd_settime(d->timer.fd, 0, &its, NULL) < 0)
		return -errno;
	d->sig.ready = signal_ready;
	d->sig.ctx = d;
	d->timer.ready = timer_ready;
	d->timer.ctx = d;
	int r = loop_add(&d->loop, &d->sig);
	return r < 0 ? r : loop_add(&d->loop, &d->timer);
}

static void close_source(struct daemon *d, struct loop_source *s)
{
	if (s->fd < 0)
		return;
	loop_remove(&d->loop, s);
	close(s->fd);
	s->fd = -1;
}

int daemon_main(const char *cfg_path)
{
	struct daemon d;
	struct oeed_error err = {{0}};
	int r;
	memset(&d, 0, sizeof(d));
	strbuf_init(&d.doc);
	d.cfg_path = cfg_path;
	d.sig.fd = d.timer.fd = d.loop.epfd = -1;
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(10000, 5);
	d.rl_dropped = d.rl_count = d.rl_notice = rl;
	d.rc = EXIT_OK;
	notify_init(&d.notify);
	if (config_load(cfg_path, &d.cfg, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		d.rc = EXIT_CONFIG;
		goto out;
	}
	log_set_level((enum log_level)d.cfg->log_level);
	if ((r = loop_init(&d.loop)) < 0) {
		log_error("event loop: %s", strerror(-r));
		d.rc = EXIT_RUNTIME;
		goto out;
	}
	if (daemon_pipeline_new(&d, d.cfg, &d.pipe, &err) < 0) {
		fprintf(stderr, "%s: %s\n", d.cfg->path, err.msg);
		d.rc = EXIT_CONFIG;
		goto out;
	}
	if (mkdir(d.cfg->state_dir, 0750) < 0 && errno != EEXIST) {
		log_error("state_dir %s: %s", d.cfg->state_dir, strerror(errno));
		d.rc = EXIT_RUNTIME;
		goto out;
	}
	if (daemon_outputs_open(&d, d.cfg, &d.out) < 0) {
		d.rc = EXIT_RUNTIME;
		goto out;
	}
	daemon_restore(&d);
	if (daemon_mqtt_new(&d, d.cfg, &d.mqtt) < 0) {
		d.rc = EXIT_CONFIG;
		goto out;
	}
	if ((r = watch_signals_and_timer(&d)) < 0) {
		log_error("event loop setup: %s", strerror(-r));
		d.rc = EXIT_RUNTIME;
		goto out;
	}
	if (daemon_mqtt_start(&d) < 0) {
		d.rc = EXIT_RUNTIME;
		goto out;
	}
	daemon_status_open(&d, d.cfg);
	d.started = clock_wall_ms();
	d.next_checkpoint = clock_wall_ms() + d.cfg->checkpoint_interval_ms;
	log_info("started: %zu sources, %zu outputs, up to %zu machines, reporting every %lld ms",
		 d.cfg->n_sources, d.out.n, d.cfg->machines.max,
		 (long long)d.cfg->report.interval_ms);
	notify_send(&d.notify, "READY=1\nSTATUS=started");

	if ((r = loop_run(&d.loop, 1000, turn, &d)) < 0) {
		log_error("epoll_wait: %s", strerror(-r));
		d.rc = EXIT_RUNTIME;
	}

	notify_send(&d.notify, "STOPPING=1");
	log_info("stopping");
	const oeed_ms stop_at = clock_wall_ms(); /* what oeed watched ends here */
	/* stop receiving, then handle everything paho acknowledged until it stopped */
	daemon_mqtt_stop(&d);
	/* account every machine up to the stop, so the checkpoint holds all the time we
	 * watched (not the disconnect's own duration) */
	pipeline_advance(d.pipe.p, stop_at);
	daemon_flush(&d);
	daemon_checkpoint(&d, clock_wall_ms());
out:
	daemon_status_close(&d);
	daemon_mqtt_stop(&d);
	daemon_outputs_close(&d.out);
	strbuf_free(&d.doc);
	close_source(&d, &d.sig);
	close_source(&d, &d.timer);
	loop_deinit(&d.loop);
	daemon_pipeline_free(&d.pipe);
	config_free(d.cfg);
	notify_close(&d.notify);
	return d.rc;
}
