/* feed.h - the one rule by which messages reach the engine, shared by the live daemon,
 * `oeed replay`, the recording's tail after a crash and `oeed report`: messages in receive
 * order, and a report tick at every multiple of report.interval placed before the first
 * message received at or after it. Because all four use this code, `oeed replay` of a
 * recording made live gives the live figures. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "ingest.h"
#include "log.h"
#include "util.h"

#define FEED_MAX_CATCHUP_TICKS 360 /* after a long gap, report it at most this many times */

struct feed_stats {
	uint64_t messages;  /* messages handed to ingest */
	uint64_t rejected;  /* of those, rejected in part or whole (decode errors, unmatched...) */
	uint64_t bad_lines; /* malformed recording lines, skipped */
};

struct feed {
	struct ingest *ingest;
	oeed_ms interval;
	oeed_ms next_tick;  /* OEED_MS_NONE until the first message or tick */
	int64_t last_rx_ns; /* the last message handed to the engine */
	void (*tick)(void *ctx,
		     oeed_ms t);  /* a report tick (engine_report and what goes with it) */
	void (*after)(void *ctx); /* after each message or tick; may be NULL */
	void *ctx;
	struct feed_stats stats;
	struct log_ratelimit rl_decode, rl_unmatched, rl_dropped, rl_bad;
};

void feed_init(struct feed *f, struct ingest *in, oeed_ms interval, void (*tick)(void *, oeed_ms),
	       void (*after)(void *), void *ctx);
/* Hands one message received at rx_ns to the engine, after the ticks that are due. Bad input
 * is counted and logged with a rate limit. */
void feed_message(struct feed *f, int64_t rx_ns, const char *topic, size_t topic_len,
		  const uint8_t *payload, size_t len);
/* The ticks due at wall time `now` (the live loop, when no message brought them). */
void feed_ticks_until(struct feed *f, oeed_ms now);
/* Feeds the messages of recording files received after after_ns (INT64_MIN: all). Returns the
 * number fed, or a negative errno with err when a file cannot be read. */
long feed_files(struct feed *f, char *const *paths, size_t n_paths, int64_t after_ns,
		struct oeed_error *err);
/* One last tick after the last message, as the live daemon would have reported. */
void feed_final_tick(struct feed *f);

/* Expands recordings named on a command line (files, or directories of recording files in
 * time order) into a list of files. The caller frees each string and the array. */
int feed_expand(char *const *args, size_t n_args, char ***ret_paths, size_t *ret_n,
		struct oeed_error *err);
void feed_free_paths(char **paths, size_t n);
