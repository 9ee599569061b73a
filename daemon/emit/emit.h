/* emit.h - formats what the engine reports as InfluxDB line protocol (docs/output.md):
 * machine_state, machine_kpi, machine_loss, machine_stop, contract, and the daemon's
 * self-metrics (oeed). Appends to a caller-owned buffer; the caller hands the buffer to the
 * outputs. */
#pragma once
#include <stdint.h>
#include "engine.h"
#include "util.h"

struct emitter {
	struct strbuf *out;
	const char *site; /* NULL: no site tag */
	/* NULL: no instance tag on machine and contract points (self-metrics always carry it) */
	const char *instance;
	uint64_t lines;	 /* lines appended so far */
	bool discard;	 /* compute everything but write nothing (benchmarks) */
	bool log_status; /* log contract status changes and period outcomes (the daemon) */
};

/* A sink that writes into em->out. */
void emit_sink(struct emitter *em, struct engine_sink *ret);

struct self_metrics {
	uint64_t messages, decode_errors, unmatched, dropped_messages, late, reordered, skewed;
	uint64_t machines, machines_dropped, counter_resets, unmapped;
	uint64_t lines_written, lines_retried, lines_spooled, write_errors, spool_bytes,
	    dropped_lines;
	uint64_t queue_depth, queue_waits, rss_bytes;
	uint64_t protocol_notices; /* Sparkplug seq gaps, unknown aliases, stale deaths... */
};
void emit_self(struct emitter *em, const char *instance, oeed_ms ts, const struct self_metrics *s);
