/* engine.h - the deterministic heart of oeed. Owns the per-machine state (current state,
 * counter baselines, rolling-window rings, calendar-period accumulators, cycle histograms),
 * all sized at engine_new() from the config: nothing grows with the message count.
 *
 * Pure: no I/O, no clock reads, no logging. Every call takes `now`, the receive (wall) time;
 * event times come from payloads or default to `now`. Results leave through the sink
 * callbacks. The same calls in the same order give the same output, byte for byte. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "calendar.h"
#include "config.h"
#include "kpi.h"
#include "pool.h"
#include "util.h"

#define ENGINE_ID_MAX	  128 /* longest machine id */
#define ENGINE_TAGS_BYTES 256 /* room for the topic template's tags of one machine */
#define ENGINE_RAW_MAX	  64  /* longest raw state kept (longer ones are cut) */
#define ENGINE_REASON_MAX 64

struct engine;

struct engine_tag {
	const char *key;
	const char *value;
};

/* A tag of a new machine as found in its topic: the value is a slice of the topic. */
struct engine_tag_slice {
	const char *key; /* terminated */
	const char *value;
	size_t value_len;
};

/* What the sink sees of a machine. */
struct engine_machine_info {
	const char *id;
	size_t n_tags;
	struct engine_tag tag[OEED_MAX_TEMPLATE_VARS];
};

/* The number a store that keeps numbers only (VictoriaMetrics) can hold for a status:
 * 0 no_data, 1 met, 2 on_track, 3 at_risk, 4 below_minimum, 5 breached (interface.md). */
int contract_status_code(enum contract_status s);

/* The time of one (category, reason) in a window or period: machine_loss (docs/output.md).
 * Interim records are cumulative, like machine_kpi. */
struct engine_loss {
	const char *label; /* the period: "shift", "day" */
	const char *shift; /* the shift's name on shift records, else NULL */
	oeed_ms window_start, window_end;
	enum oeed_category cat;
	const char *reason; /* "" when the state has none; "other" for reasons not in the config */
	oeed_ms time_ms;    /* time of the span in it */
	uint32_t events;    /* entries into it whose start lies in the span */
	bool final;
};

/* One ended stop (a state of category idle, down or planned that was not a micro-stop):
 * machine_stop. */
struct engine_stop {
	enum oeed_category cat;
	const char *reason;
	oeed_ms start, end;
};

struct engine_sink {
	void *ctx;
	/* A change of state: the evidence. prev_duration_s < 0 when there was no previous state. */
	void (*state)(void *ctx, const struct engine_machine_info *m, oeed_ms ts,
		      enum oeed_category cat, const char *raw, const char *reason,
		      double prev_duration_s);
	/* KPIs for a rolling window or a calendar period; label "15m", "1h", "shift", "day". */
	void (*kpi)(void *ctx, const struct engine_machine_info *m, const char *label,
		    oeed_ms window_start, oeed_ms window_end, const struct kpi_values *kv,
		    bool final);
	void (*contract)(void *ctx, const struct contract_result *r);
	/* An event later than max_lateness (or older than the bounded history holds), applied
	 * at `applied` instead of its own time `ts` (may be NULL). */
	void (*late)(void *ctx, const struct engine_machine_info *m, oeed_ms ts, oeed_ms applied,
		     oeed_ms behind_ms);
	/* Per (category, reason) of a calendar period, right after its kpi record (may be
	 * NULL). */
	void (*loss)(void *ctx, const struct engine_machine_info *m, const struct engine_loss *l);
	/* A stop ended (may be NULL). */
	void (*stop)(void *ctx, const struct engine_machine_info *m, const struct engine_stop *s);
};

struct engine_stats {
	uint64_t late;	    /* events beyond max_lateness (or the history), applied later */
	uint64_t reordered; /* events behind the machine's accounting, applied at their time */
	uint64_t skewed;    /* events too far in the future, clamped to receive time */
	uint64_t machines_dropped; /* messages for new machines beyond machines.max */
	uint64_t counter_resets;
	uint64_t unmapped; /* raw states the source's map does not know */
	size_t machines;   /* machines in use */
};

int engine_new(const struct oeed_config *cfg, const struct calendar *cal,
	       const struct engine_sink *sink, struct engine **ret, struct oeed_error *err);
void engine_free(struct engine *e);
/* Bytes the engine holds per machine and in total for the config (for --check-config). */
size_t engine_bytes_per_machine(const struct oeed_config *cfg);
size_t engine_bytes_total(const struct oeed_config *cfg);
/* Of those per machine: the history kept for late events (docs/kpi.md "Time"), and how many
 * state events it holds. */
size_t engine_lateness_bytes(const struct oeed_config *cfg, unsigned *ret_events);

/* Finds or adds the machine `id`; a new machine keeps the n_tags tags (from its topic; may be
 * NULL). Returns the machine's index (>= 0) or -ENOSPC when machines.max is reached (counted),
 * -EINVAL for an empty or too long id. */
int engine_machine(struct engine *e, const char *id, size_t id_len,
		   const struct engine_tag_slice *tags, size_t n_tags);
/* The max_lateness of the source whose events follow (-1: the machine's own). */
void engine_source_lateness(struct engine *e, oeed_ms max_lateness);
/* Any message of the machine is a sign of life (stale detection). */
void engine_seen(struct engine *e, int m, oeed_ms now);
/* ts: event time or OEED_MS_NONE. raw: the state as received; reason: from the map. */
void engine_state(struct engine *e, int m, oeed_ms ts, oeed_ms now, enum oeed_category cat,
		  const char *raw, size_t raw_len, const char *reason);
/* A part count: cumulative counter value or increment. */
void engine_count(struct engine *e, int m, oeed_ms ts, oeed_ms now, enum kpi_count which,
		  double value, enum oeed_counts mode);
/* One completed cycle: seconds, or NAN for "the time since the previous cycle".
 * count_part: also one part of total_count. */
void engine_cycle(struct engine *e, int m, oeed_ms ts, oeed_ms now, double seconds,
		  bool count_part);
/* The machine is reported dead (Sparkplug NDEATH/DDEATH, a last will): unknown from ts. */
void engine_death(struct engine *e, int m, oeed_ms ts, oeed_ms now);
/* Advances every machine to its clock at `now` (stale timeouts, period ends with their final
 * records). The live daemon does not call it between report ticks, so that it feeds the engine
 * exactly as a replay does (engine_report advances too); it calls it once at stop, so the
 * checkpoint holds all the time it watched. */
void engine_advance(struct engine *e, oeed_ms now);
/* The input has ended (replay, report): every period final still waiting for late events is
 * written now. */
void engine_flush(struct engine *e);
/* A report tick: advance, then emit machine_kpi for every window and open period and the
 * contract records, all stamped with each machine's clock. */
void engine_report(struct engine *e, oeed_ms now);
void engine_get_stats(const struct engine *e, struct engine_stats *ret);

/* Checkpoints and reload. engine_save() appends every machine's state to `out` (a binary blob
 * tied to this build: its format is checked by size and magic). engine_load() restores it
 * into a fresh engine (a new config may add or drop machines): returns the number of machines
 * restored or -EINVAL for an incompatible or truncated blob. *ret_full is false when windows,
 * periods or contract reasons changed shape: then only the current states, clocks and counter
 * baselines are kept and windows and periods start afresh. */
int engine_save(const struct engine *e, struct strbuf *out);
int engine_load(struct engine *e, const void *buf, size_t len, bool *ret_full,
		struct oeed_error *err);
/* Every machine turns unknown from its latest time, with `reason` ("restart"): the daemon was
 * not there to see what happened. Its counters and cycle clock go on if its next event is
 * within stale_after of its last sign of life (docs/kpi.md, "Counts"). */
void engine_gap(struct engine *e, const char *reason);

/* ---- read-only queries (`oeed status`, the mqtt output) ----
 * What the engine knows of a machine right now, between report ticks too: its state as last
 * applied (a stale timeout turns it unknown at the next tick). Nothing here changes the
 * engine, so asking does not make live differ from replay. */
struct engine_machine_view {
	const struct engine_machine_info *info;
	bool has_state;		/* false: never reported a state (unknown) */
	enum oeed_category cat; /* CAT_UNKNOWN when !has_state */
	const char *raw;	/* the state as received, "" when none */
	const char *reason;	/* "" when none */
	oeed_ms since;		/* when the current state began (event time), OEED_MS_NONE */
	oeed_ms last_seen;	/* machine time of its last sign of life, OEED_MS_NONE */
};

/* Machines in use: indexes 0 .. engine_machine_count() - 1, in the order first seen. */
size_t engine_machine_count(const struct engine *e);
/* Fills *ret for machine index i; -ENOENT when there is no such machine. The pointers stay
 * valid until the next call that feeds the engine. */
int engine_machine_view(const struct engine *e, size_t i, struct engine_machine_view *ret);
/* The index of the machine a sink callback was given `info` for. */
size_t engine_machine_index(const struct engine *e, const struct engine_machine_info *info);
