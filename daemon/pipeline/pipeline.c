/* pipeline.c - see pipeline.h */
#include "pipeline.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "log.h"

struct pipeline {
	const struct oeed_config *cfg;
	struct calendar *cal;
	struct engine *engine;
	struct ingest *ingest;
	struct emitter em;
	struct engine_sink emit_sink; /* the emitter's, when an observer is told too */
	struct strbuf out;
	bool taken; /* out was handed out by pipeline_take_lines: reset before appending */
	struct pipeline_opts opts;
	struct oeed_decoder_host host; /* the decoders keep a pointer: it lives here */
	/* the feed rule */
	oeed_ms interval;
	oeed_ms next_tick; /* OEED_MS_NONE until the first message or tick */
	uint64_t messages, rejected;
	int64_t last_rx_ns;
	/* one limiter per kind of bad input, so a flood of one kind cannot hide another */
	struct log_ratelimit rl[INGEST__COUNT];
	struct ingest_error last_err; /* of the last rejected message */
	struct log_ratelimit rl_late;
	oeed_ms rx; /* of the message being fed */
};

/* An event beyond max_lateness: the engine has counted it; say which machine, how late. */
static void on_late(void *ctx, const struct engine_machine_info *m, oeed_ms ts, oeed_ms applied,
		    oeed_ms behind_ms)
{
	struct pipeline *p = (struct pipeline *)((char *)ctx - offsetof(struct pipeline, em));
	log_limited(&p->rl_late, p->rx, LOG_LVL_WARN,
		    "machine '%s': event stamped %lld ms is %.3f s behind its clock, beyond "
		    "max_lateness (or the history kept): applied at %lld ms (late)",
		    m->id, (long long)ts, (double)behind_ms / 1000.0, (long long)applied);
}

/* With an observer, the engine's sink is the emitter's with state, kpi and contract passed
 * on to both; its ctx stays the emitter, so every other callback reaches the emitter as is. */
static struct pipeline *of_emitter(void *ctx)
{
	return (struct pipeline *)((char *)ctx - offsetof(struct pipeline, em));
}

static void tee_state(void *ctx, const struct engine_machine_info *m, oeed_ms ts,
		      enum oeed_category cat, const char *raw, const char *reason,
		      double prev_duration_s)
{
	struct pipeline *p = of_emitter(ctx);
	const struct engine_sink *o = p->opts.observer;
	if (p->emit_sink.state)
		p->emit_sink.state(ctx, m, ts, cat, raw, reason, prev_duration_s);
	if (o->state)
		o->state(o->ctx, m, ts, cat, raw, reason, prev_duration_s);
}

static void tee_kpi(void *ctx, const struct engine_machine_info *m, const char *label,
		    oeed_ms start, oeed_ms end, const struct kpi_values *kv, bool final)
{
	struct pipeline *p = of_emitter(ctx);
	const struct engine_sink *o = p->opts.observer;
	if (p->emit_sink.kpi)
		p->emit_sink.kpi(ctx, m, label, start, end, kv, final);
	if (o->kpi)
		o->kpi(o->ctx, m, label, start, end, kv, final);
}

static void tee_contract(void *ctx, const struct contract_result *r)
{
	struct pipeline *p = of_emitter(ctx);
	const struct engine_sink *o = p->opts.observer;
	if (p->emit_sink.contract)
		p->emit_sink.contract(ctx, r);
	if (o->contract)
		o->contract(o->ctx, r);
}

int pipeline_new(const struct oeed_config *cfg, const struct oeed_decoder_host *host,
		 const struct pipeline_opts *opts, struct pipeline **ret, struct oeed_error *err)
{
	int r;
	struct engine_sink sink;
	struct pipeline *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return -ENOMEM;
	}
	p->cfg = cfg;
	if (host)
		p->host = *host;
	if (opts)
		p->opts = *opts;
	strbuf_init(&p->out);
	p->em.out = &p->out;
	p->em.site = cfg->site;
	p->em.instance = cfg->instance_tag ? cfg->instance : NULL;
	p->em.discard = p->opts.discard;
	p->em.log_status = p->opts.log_status;
	emit_sink(&p->em, &sink);
	sink.late = on_late;
	if (p->opts.observer && !p->opts.sink) {
		p->emit_sink = sink;
		sink.state = tee_state;
		sink.kpi = tee_kpi;
		sink.contract = tee_contract;
	}
	p->rl_late = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 5);
	p->interval = cfg->report.interval_ms;
	p->next_tick = OEED_MS_NONE;
	for (size_t i = 0; i < INGEST__COUNT; i++)
		p->rl[i] = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 5);
	r = calendar_new(cfg->report.timezone, cfg->report.shifts, cfg->report.n_shifts, &p->cal,
			 err);
	if (r == 0)
		r = engine_new(cfg, p->cal, p->opts.sink ? p->opts.sink : &sink, &p->engine, err);
	if (r == 0)
		r = ingest_new(cfg, p->engine, host ? &p->host : NULL, &p->ingest, err);
	if (r < 0) {
		pipeline_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

void pipeline_free(struct pipeline *p)
{
	if (!p)
		return;
	ingest_free(p->ingest);
	engine_free(p->engine);
	calendar_free(p->cal);
	strbuf_free(&p->out);
	free(p);
}

/* Every entry point that may append lines starts here. */
static void lines_begin(struct pipeline *p)
{
	if (p->taken) {
		strbuf_reset(&p->out);
		p->taken = false;
	}
}

static void tick(struct pipeline *p, oeed_ms t)
{
	engine_report(p->engine, t);
	if (p->opts.on_tick)
		p->opts.on_tick(p->opts.ctx, p, t);
}

static void ticks_until(struct pipeline *p, oeed_ms until)
{
	if (p->next_tick == OEED_MS_NONE)
		p->next_tick = (until / p->interval + 1) * p->interval;
	/* more than FEED_MAX_CATCHUP_TICKS due: only the last FEED_MAX_CATCHUP_TICKS of them */
	if (until - p->next_tick >= FEED_MAX_CATCHUP_TICKS * p->interval)
		p->next_tick = (until / p->interval - FEED_MAX_CATCHUP_TICKS + 1) * p->interval;
	while (until >= p->next_tick) {
		tick(p, p->next_tick);
		p->next_tick += p->interval;
	}
}

void pipeline_ticks_until(struct pipeline *p, oeed_ms until)
{
	lines_begin(p);
	ticks_until(p, until);
}

enum ingest_outcome pipeline_message(struct pipeline *p, int64_t rx_ns, const char *topic,
				     size_t topic_len, const uint8_t *payload, size_t len)
{
	oeed_ms rx = rx_ns / 1000000;
	lines_begin(p);
	ticks_until(p, rx);
	p->messages++;
	p->rx = rx;
	enum ingest_outcome o =
	    ingest_message(p->ingest, topic, topic_len, payload, len, rx, &p->last_err);
	if (o != INGEST_OK) {
		p->rejected++;
		log_limited(&p->rl[o], rx, LOG_LVL_WARN, "%s", p->last_err.msg);
	}
	if (rx_ns > p->last_rx_ns)
		p->last_rx_ns = rx_ns;
	return o;
}

void pipeline_final_tick(struct pipeline *p)
{
	lines_begin(p);
	if (p->messages == 0 || p->next_tick == OEED_MS_NONE)
		return;
	tick(p, p->next_tick);
}

void pipeline_flush(struct pipeline *p)
{
	lines_begin(p);
	engine_flush(p->engine);
}

void pipeline_advance(struct pipeline *p, oeed_ms now)
{
	lines_begin(p);
	engine_advance(p->engine, now);
}

void pipeline_gap(struct pipeline *p, const char *reason)
{
	lines_begin(p);
	engine_gap(p->engine, reason);
}

const char *pipeline_take_lines(struct pipeline *p, size_t *ret_len)
{
	if (p->taken || p->out.len == 0) {
		*ret_len = 0;
		return NULL;
	}
	p->taken = true;
	*ret_len = p->out.len;
	return p->out.buf;
}

size_t pipeline_pending_bytes(const struct pipeline *p)
{
	return p->taken ? 0 : p->out.len;
}

const char *pipeline_last_error(const struct pipeline *p)
{
	return p->rejected ? p->last_err.msg : "";
}

struct emitter *pipeline_emitter(struct pipeline *p)
{
	lines_begin(p);
	return &p->em;
}

int pipeline_save(const struct pipeline *p, struct strbuf *out)
{
	return engine_save(p->engine, out);
}

int pipeline_load(struct pipeline *p, const void *blob, size_t len, int64_t last_rx_ns,
		  bool *ret_full, struct oeed_error *err)
{
	lines_begin(p);
	int n = engine_load(p->engine, blob, len, ret_full, err);
	if (n >= 0 && last_rx_ns > p->last_rx_ns)
		p->last_rx_ns = last_rx_ns;
	return n;
}

int pipeline_carry(struct pipeline *p, const struct pipeline *from, bool *ret_full,
		   struct oeed_error *err)
{
	struct strbuf sb;
	struct ingest_stats counted;
	strbuf_init(&sb);
	lines_begin(p);
	int n = engine_save(from->engine, &sb);
	if (n < 0) {
		snprintf(err->msg, sizeof(err->msg), "out of memory");
	} else {
		n = engine_load(p->engine, sb.buf, sb.len, ret_full, err);
	}
	strbuf_free(&sb);
	if (n < 0)
		return n;
	/* self-metrics keep counting, and the next tick stays where it was due */
	ingest_get_stats(from->ingest, &counted);
	ingest_set_stats(p->ingest, &counted);
	p->next_tick = from->next_tick;
	p->messages = from->messages;
	p->rejected = from->rejected;
	p->last_rx_ns = from->last_rx_ns;
	p->last_err = from->last_err;
	p->em.lines = from->em.lines;
	return n;
}

size_t pipeline_subscriptions(const struct pipeline *p, const char **ret_filters, int *ret_qos,
			      size_t max)
{
	return ingest_subscriptions(p->ingest, ret_filters, ret_qos, max);
}

void pipeline_get_stats(const struct pipeline *p, struct pipeline_stats *ret)
{
	ingest_get_stats(p->ingest, &ret->ingest);
	engine_get_stats(p->engine, &ret->engine);
	ret->messages = p->messages;
	ret->rejected = p->rejected;
	ret->last_rx_ns = p->last_rx_ns;
}

const struct engine *pipeline_engine(const struct pipeline *p)
{
	return p->engine;
}
