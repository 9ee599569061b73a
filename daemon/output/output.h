/* output.h - where line protocol goes. An output takes whole lines (one or more, each ending
 * in '\n') from the main thread and delivers them. output_write() never blocks on the
 * network: the influxdb output hands batches to its own sender thread through a bounded
 * queue and spools to disk what cannot be delivered; the file output writes directly.
 *
 * Lifecycle: output_new() -> output_write()* / output_tick()* -> output_close() (flushes,
 * waiting at most the given time, then spools what is left). */
#pragma once
#include <stdint.h>
#include "config.h"
#include "util.h"

struct output;

struct output_stats {
	uint64_t lines_written; /* acknowledged by the server / written to the file */
	uint64_t lines_retried;
	uint64_t lines_spooled;
	uint64_t lines_dropped; /* given up: rejected by the server, or spool over spool_max */
	uint64_t write_errors;
	uint64_t spool_bytes;
	int64_t last_latency_ms;
	char last_error[160];
	int healthy;		/* 1 when the last attempt succeeded */
	uint64_t lines_pending; /* accepted, not yet written or dropped (queue + spool) */
	/* outputs that publish a message per machine (mqtt) */
	uint64_t messages_published; /* handed to the broker */
	uint64_t messages_dropped;   /* an older message of a machine replaced by a newer one
					before it went out, or refused (too large, queue full) */
	uint64_t messages_pending;   /* machines whose message waits */
};

/* How an output that publishes per machine (mqtt) reaches the broker: the daemon's own MQTT
 * client. publish returns 0, -EAGAIN (busy: try later), -ENOTCONN (try later) or another
 * negative errno (the message is dropped, counted). */
struct output_publisher {
	int (*publish)(void *ctx, const char *topic, const void *payload, size_t len, int qos,
		       bool retain, size_t max_inflight);
	void *ctx;
};

/* state_dir: where the output keeps its spool (state_dir/spool/<name>). */
int output_new(const struct oeed_output_conf *conf, const char *state_dir, struct output **ret,
	       struct oeed_error *err);
/* Queues lines. Returns 0, or -errno when even the spool cannot take them (counted). */
int output_write(struct output *o, const char *lines, size_t len);
/* Periodic work from the main loop (flush timers, health). `now` is wall time. */
void output_tick(struct output *o, oeed_ms now);
void output_get_stats(struct output *o, struct output_stats *ret);
const char *output_name(const struct output *o);
/* "file", "influxdb", "mqtt". */
const char *output_type(const struct output *o);
/* Outputs that take one document per machine instead of lines (mqtt): true for them. */
bool output_takes_machines(const struct output *o);
/* Sets where such an output publishes (it must outlive the output); ignored by others. */
void output_set_publisher(struct output *o, const struct output_publisher *pub);
/* Queues machine `id`'s newest document (replacing one still waiting); ignored by outputs
 * that take lines. Returns 0 or -errno (counted). */
int output_machine(struct output *o, const char *id, const char *doc, size_t len);
/* Flushes, waits up to timeout_ms for delivery, spools the rest, frees. NULL is fine. */
void output_close(struct output *o, oeed_ms timeout_ms);
