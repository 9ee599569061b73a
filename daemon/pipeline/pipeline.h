/* pipeline.h - one object from a received message to line protocol, the same for the live
 * daemon, `oeed replay`, the recording's tail after a crash, `oeed report` and the ingest
 * fuzzer. It owns the calendar, the engine, the ingest (topic -> decoder -> engine), the feed
 * rule, the emitter and the line buffer; its caller owns the config and keeps it alive.
 *
 * The feed rule, by which live and replay give the same figures byte for byte: messages in
 * receive order, and a report tick at every multiple of report.interval placed before the
 * first message received at or after it (or, live, when the receive-time watermark passes
 * it). After a gap of more than FEED_MAX_CATCHUP_TICKS intervals only the last ones are
 * reported.
 *
 * No I/O and no clock reads: time comes in with each call. Bad input is counted (stats) and
 * logged with a rate limit per kind of outcome, timed by the messages' receive times.
 * Single-threaded: the caller's thread only. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "emit.h"
#include "engine.h"
#include "ingest.h"
#include "plugin.h"
#include "util.h"

#define FEED_MAX_CATCHUP_TICKS 360 /* after a long gap, report it at most this many times */

struct pipeline;

struct pipeline_opts {
	/* Where the engine's results go: NULL for line protocol into the pipeline's buffer
	 * (pipeline_take_lines); `oeed report` collects them itself. */
	const struct engine_sink *sink;
	bool discard;	 /* line protocol: compute everything, write nothing (benchmarks) */
	bool log_status; /* line protocol: log contract status changes (the daemon) */
	/* Called after each report tick's records, e.g. for the daemon's self-metrics. */
	void (*on_tick)(void *ctx, struct pipeline *p, oeed_ms tick);
	void *ctx;
	/* Also told of every state change, KPI record and contract record the line protocol
	 * gets (the daemon's live view: `oeed status`, the mqtt output); NULL: none. Must
	 * outlive the pipeline. */
	const struct engine_sink *observer;
};

struct pipeline_stats {
	struct ingest_stats ingest;
	struct engine_stats engine;
	uint64_t messages;  /* handed to pipeline_message() */
	uint64_t rejected;  /* of those, rejected in part or whole */
	int64_t last_rx_ns; /* the newest message handed to the engine, 0 before the first */
};

/* Builds everything from cfg (which must outlive the pipeline). host: the decoders' hooks to
 * the MQTT client (rebirth requests, notices), NULL when there is none (replay). Returns 0,
 * or a negative errno with err naming what the config could not build. */
int pipeline_new(const struct oeed_config *cfg, const struct oeed_decoder_host *host,
		 const struct pipeline_opts *opts, struct pipeline **ret, struct oeed_error *err);
void pipeline_free(struct pipeline *p);

/* One message received at rx_ns (ns since the epoch), after the ticks it makes due. */
enum ingest_outcome pipeline_message(struct pipeline *p, int64_t rx_ns, const char *topic,
				     size_t topic_len, const uint8_t *payload, size_t len);
/* The ticks due at `until` (the live loop: the receive-time watermark, when no message
 * brought them). */
void pipeline_ticks_until(struct pipeline *p, oeed_ms until);
/* One last tick after the last message, as the live daemon would have reported (replay). */
void pipeline_final_tick(struct pipeline *p);
/* The input has ended (`oeed replay --by-event-time`, `oeed report`): the finals still
 * waiting for late events are written. */
void pipeline_flush(struct pipeline *p);
/* Accounts every machine up to `now` without reporting (the daemon's stop). */
void pipeline_advance(struct pipeline *p, oeed_ms now);
/* Every machine turns unknown with `reason` ("restart"): oeed was not watching. */
void pipeline_gap(struct pipeline *p, const char *reason);

/* The line protocol produced since the last call, valid until the next call into the
 * pipeline (which then starts an empty buffer). NULL with *ret_len 0 when there is none. */
const char *pipeline_take_lines(struct pipeline *p, size_t *ret_len);
/* Bytes of line protocol waiting to be taken. */
size_t pipeline_pending_bytes(const struct pipeline *p);
/* What was wrong with the last rejected message ("topic 'a/b': json decoder: byte 7: ..."),
 * "" before the first. */
const char *pipeline_last_error(const struct pipeline *p);
/* The emitter (for lines of the caller's own, e.g. self-metrics from on_tick). */
struct emitter *pipeline_emitter(struct pipeline *p);

/* Checkpoints: the engine's state, and the receive time it belongs to. */
int pipeline_save(const struct pipeline *p, struct strbuf *out);
/* Restores a pipeline_save() blob received up to last_rx_ns: returns the machines restored,
 * or -EINVAL with err; *ret_full as engine_load(). */
int pipeline_load(struct pipeline *p, const void *blob, size_t len, int64_t last_rx_ns,
		  bool *ret_full, struct oeed_error *err);
/* Reload: moves everything `from` knows into the fresh `p` built from a new config: every
 * machine's state (figures too when windows and periods kept their shape: *ret_full), the
 * counters and the feed's position. Returns the machines kept, or a negative errno with err;
 * `from` is unchanged either way. */
int pipeline_carry(struct pipeline *p, const struct pipeline *from, bool *ret_full,
		   struct oeed_error *err);

/* The MQTT subscriptions the sources need (duplicates merged, the highest QoS kept). */
size_t pipeline_subscriptions(const struct pipeline *p, const char **ret_filters, int *ret_qos,
			      size_t max);
void pipeline_get_stats(const struct pipeline *p, struct pipeline_stats *ret);
/* The engine, for its read-only queries (engine.h). */
const struct engine *pipeline_engine(const struct pipeline *p);
