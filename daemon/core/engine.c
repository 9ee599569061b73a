/* engine.c - the deterministic heart: per-machine state, time accounting into rolling
 * windows and calendar periods, counters, cycles, stale detection, micro-stops, contracts.
 *
 * Time accounting. Each machine has `acc_until`: the time up to which its current state's
 * time has been added to the accumulators. machine_advance(m, t) moves it to t, splitting at
 * period boundaries (closing the period and emitting its final record there) and at the
 * stale timeout (the machine turns unknown at last_seen + stale_after). Events are applied at
 * max(event time, acc_until): the past that was already accounted is never rewritten.
 *
 * Memory (all allocated in engine_new, one block per machine, nothing grows later):
 *   rolling window: B buckets of struct wbucket (B = report.window_buckets (config default 60), 80
 *   bytes each) + 7 histogram slots (776 bytes each) for percentiles, only when some source
 *   carries cycle times;
 *   calendar period: two accumulators (open and last closed) and the time per contract reason,
 *   plus two histograms when some source carries cycles. engine_bytes_per_machine() gives the
 *   exact figure for a config (11.5 KB a machine for config/demo.yaml).
 *
 * Rolling windows: bucket width b = W / B. A window reported at machine time t covers whole
 * buckets from (floor(t/b) - B + 1) * b to t, so its length is between W - b and W; its start is
 * reported as window_start. Percentiles use histogram slots of ceil(B/6) buckets, so they may
 * include up to W/6 more at the old edge. */
#include "engine.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HIST_SLOTS  7 /* 6 slots span the window, one more is being filled */
#define MAX_REASONS 8 /* contract planned_reasons: the first entries of engine->reasons */
/* engine->reasons also holds every reason of the config's maps and oeed's own (stale, dead,
 * restart) and "other" for any other reason: the losses by reason (docs/output.md). A
 * tl_entry keeps the index in an int8_t. */
#define MAX_LOSS_REASONS 120
/* The history kept for events that come late (docs/kpi.md "Time"): one state event per
 * TL_PER_MS of the largest max_lateness, at least TL_MIN, at most TL_MAX; CS_LEN samples of
 * each cumulative counter. */
#define TL_PER_MS 30000
#define TL_MIN	  16
#define TL_MAX	  4096
#define CS_LEN	  8 /* a power of two (the ring's index is masked) */

/* One state event of the recent history (repeats too: a late change may make a repeat a
 * change). ts is where it was applied (its own millisecond). 24 bytes. */
struct tl_entry {
	oeed_ms ts;
	uint64_t hash; /* raw state and reason */
	int8_t cat;
	int8_t reason_idx;
	int8_t acc_cat;	   /* what its time was accounted as: running for a micro-stop */
	int8_t acc_reason; /* -1 for a micro-stop */
	uint8_t flags;
};
#define TL_REPEAT   1u /* a repeat of the state before it: no change */
#define TL_FAILED   2u /* a failure was counted at its time */
#define TL_FROM_RUN 4u /* a change from running (a micro-stop candidate) */
#define TL_ENTERED  8u /* a loss event (an entry into its category and reason) was counted */

/* One cumulative counter sample. */
struct csample {
	oeed_ms ts;
	double v;
};

struct window {
	oeed_ms len;	/* W */
	oeed_ms width;	/* bucket width b */
	oeed_ms slot_w; /* histogram slot width */
	bool reported;	/* a report.windows entry (else only used by a rolling contract) */
	char label[16];
};

/* One rolling-window bucket: 80 bytes. Times fit 32 bits because a bucket is at most a
 * window (31 days max, 2.7e9 ms); the ideal cycle time is applied when the window is read. */
struct wbucket {
	int64_t idx;		      /* absolute bucket index t / width; -1 empty */
	uint32_t cat_ms[CAT_UNKNOWN]; /* unknown is derived from the span */
	uint32_t count[CNT__COUNT];
	uint32_t failures;
	uint32_t cycles;
	uint8_t counted;
	double cycle_sum_s, cycle_min_s, cycle_max_s;
};

struct period_state {
	oeed_ms start, end; /* open period [start, end) */
	int shift;
	struct kpi_acc acc;
	oeed_ms reason_ms[MAX_REASONS][CAT__COUNT];
	uint32_t reason_failures[MAX_REASONS];
	/* the last closed period, kept for contract finals */
	oeed_ms last_start, last_end;
	bool last_final; /* its final record is written (else it waits for late events) */
	struct kpi_acc last_acc;
	oeed_ms last_reason_ms[MAX_REASONS][CAT__COUNT];
	uint32_t last_reason_failures[MAX_REASONS];
};

struct machine {
	char id[ENGINE_ID_MAX + 1];
	char tagbuf[ENGINE_TAGS_BYTES];
	struct engine_machine_info info;
	double ideal_s;
	oeed_ms stale_after;
	oeed_ms microstop_below;

	bool has_state; /* a state was received (else unknown: never seen) */
	enum oeed_category cat;
	char raw[ENGINE_RAW_MAX + 1];
	char reason[ENGINE_REASON_MAX + 1];
	int reason_idx; /* index into engine->reasons, -1 */
	oeed_ms state_since;

	oeed_ms acc_until; /* accounted up to here */
	oeed_ms acc_hi;	   /* the latest time ever accounted (window ring edges) */
	oeed_ms lateness;  /* the machine's max_lateness */
	oeed_ms hold;	   /* finals wait this long: the largest lateness of its sources */
	uint64_t state_hash;
	oeed_ms state_own;	/* the current state's own time (before its own millisecond) */
	unsigned tl_n, tl_head; /* the state history ring (logical order from tl_head) */
	int tl_cur;		/* logical index of the current state's entry, -1 */
	bool tl_lost;		/* entries were dropped: nothing before tl[0] is known */
	/* Where each counter's sample ring starts. With finals_wait below it sits in what was
	 * padding, so the checkpoint's machine record keeps its size (a checkpoint written
	 * before has zeros there: rings starting at 0, as they did then). */
	uint8_t cs_head[CNT__COUNT];
	unsigned cs_n[CNT__COUNT];
	bool cs_lost[CNT__COUNT];
	bool finals_wait;  /* some period's final waits for late events (recomputed on load) */
	oeed_ms last_ts;   /* latest event time */
	oeed_ms last_rx;   /* receive time of that event */
	oeed_ms last_seen; /* machine time of the last sign of life */

	double counter_last[CNT__COUNT];
	bool counter_has[CNT__COUNT];
	oeed_ms last_cycle_ts;
	/* After the daemon's own restart gap: the counters and the cycle clock go on if the
	 * machine's next event is at most this time (engine_gap), else they restart from a
	 * baseline. OEED_MS_NONE: no such gap open. Not checkpointed: engine_gap sets it. */
	oeed_ms continue_until;

	bool pending; /* a stop from running that may still turn out a micro-stop */
	enum oeed_category pend_cat;
	oeed_ms pend_start;
	int pend_reason_idx;

	struct wbucket *buckets; /* n_windows * B */
	struct hist *slots;	 /* n_windows * HIST_SLOTS, NULL when no source has cycles */
	struct hist *phist;	 /* open and last closed period's histogram per tracked period,
				    NULL when no source has cycles */
	int64_t *slot_idx;
	struct period_state *periods[PERIOD__COUNT]; /* NULL for periods not tracked */
	struct tl_entry *tl;			     /* tl_len entries, NULL when tl_len is 0 */
	struct csample *cs;			     /* CNT__COUNT * CS_LEN */
	char *loss; /* per tracked period: time and entries per loss slot, open and last */
};

int contract_status_code(enum contract_status s)
{
	return s == CS_NO_DATA || (unsigned)s >= CS__COUNT ? 0 : (int)s + 1;
}

struct contract_state {
	const struct oeed_contract *c;
	int window;	    /* rolling: index into windows */
	oeed_ms start, end; /* calendar: the open period */
	int reason_idx[OEED_MAX_CONTRACT_REASONS];
	bool has_last;
	enum contract_status last_status;
};

struct engine {
	const struct oeed_config *cfg;
	const struct calendar *cal;
	struct engine_sink sink;
	struct window windows[OEED_MAX_WINDOWS * 2];
	size_t n_windows;
	unsigned buckets;     /* B */
	unsigned tl_len;      /* state history entries per machine */
	oeed_ms src_lateness; /* of the source feeding the current message, -1 */
	bool rerun;	      /* re-applying history after a late event: no evidence */
	oeed_ms evidence_ts;  /* a late change's own time for its evidence, or NONE */
	/* A late event being re-applied: the first stop from its time on is written again
	 * (machine_stop), with the duration the sorted events give it. */
	bool stop_redo;
	oeed_ms stop_redo_ts;
	bool cycles; /* some source carries cycles: windows and periods keep histograms */
	int period_slot[PERIOD__COUNT]; /* index among the tracked periods */
	bool period_on[PERIOD__COUNT];
	char reasons[MAX_LOSS_REASONS][ENGINE_REASON_MAX + 1];
	size_t n_reasons;
	int other_reason; /* index of "other" (reasons not in the config), -1 while building */
	/* Loss slots: the (category, reason) pairs the config can produce, each category with
	 * no reason (-1) and with "other". loss_slot[(reason + 1) * CAT__COUNT + cat] is the
	 * pair's slot, or that of (cat, other) for a pair the config does not have. */
	int16_t *loss_slot;
	int8_t *loss_cat;
	int16_t *loss_reason;
	size_t n_loss;
	size_t loss_bytes; /* per machine */

	struct machine *machines;
	size_t n_machines, max_machines;
	int32_t *hash; /* open addressing: machine index + 1, 0 empty */
	size_t hash_size;
	char *arena;

	size_t extra;	 /* arena bytes per machine */
	uint64_t layout; /* hash of what the arena's layout depends on (checkpoints) */

	struct contract_state *contracts;
	size_t n_contracts;
	oeed_ms now; /* the latest `now` seen (contract record timestamps) */
	struct engine_stats stats;
};

static size_t machine_extra_bytes(size_t n_windows, unsigned buckets, size_t n_periods, bool cycles,
				  unsigned tl_len)
{
	return tl_len * sizeof(struct tl_entry) +
	       (tl_len ? CNT__COUNT * CS_LEN * sizeof(struct csample) : 0) +
	       n_windows * buckets * sizeof(struct wbucket) +
	       (cycles ? n_windows * HIST_SLOTS * (sizeof(struct hist) + sizeof(int64_t)) : 0) +
	       n_periods * sizeof(struct period_state) +
	       (cycles ? n_periods * 2 * sizeof(struct hist) : 0);
}

static bool config_has_cycles(const struct oeed_config *cfg)
{
	for (size_t i = 0; i < cfg->n_sources; i++)
		if (cfg->sources[i].signal == SIG_CYCLE || cfg->sources[i].fields[SIG_CYCLE])
			return true;
	return false;
}

/* Which calendar periods the engine tracks: reported ones and those a contract is judged on. */
static size_t config_periods(const struct oeed_config *cfg, bool *on)
{
	size_t n = 0;
	for (int p = 0; p < PERIOD__COUNT; p++) {
		on[p] = cfg->report.periods[p];
		for (size_t i = 0; i < cfg->n_contracts; i++)
			if (!cfg->contracts[i].rolling &&
			    cfg->contracts[i].period == (enum oeed_period)p)
				on[p] = true;
		if (p == PERIOD_SHIFT && !cfg->report.n_shifts)
			on[p] = false;
		n += on[p];
	}
	return n;
}

static size_t config_windows(const struct oeed_config *cfg, oeed_ms *lens, bool *reported)
{
	size_t n = 0;
	for (size_t i = 0; i < cfg->report.n_windows; i++) {
		lens[n] = cfg->report.windows_ms[i];
		reported[n++] = true;
	}
	for (size_t i = 0; i < cfg->n_contracts; i++) {
		if (!cfg->contracts[i].rolling)
			continue;
		bool found = false;
		for (size_t j = 0; j < n; j++)
			found |= lens[j] == cfg->contracts[i].rolling_ms;
		if (!found && n < OEED_MAX_WINDOWS * 2) {
			lens[n] = cfg->contracts[i].rolling_ms;
			reported[n++] = false;
		}
	}
	return n;
}

/* The largest max_lateness any machine or source may have. */
static oeed_ms config_max_lateness(const struct oeed_config *cfg)
{
	oeed_ms l = cfg->machines.defaults.max_lateness_ms;
	for (size_t i = 0; i < cfg->machines.n_list; i++)
		l = OEED_MAX(l, cfg->machines.list[i].max_lateness_ms);
	for (size_t i = 0; i < cfg->n_sources; i++)
		l = OEED_MAX(l, cfg->sources[i].max_lateness_ms);
	return l;
}

static unsigned config_tl_len(const struct oeed_config *cfg)
{
	oeed_ms l = config_max_lateness(cfg);
	if (l <= 0)
		return 0;
	oeed_ms n = l / TL_PER_MS;
	return (unsigned)(n < TL_MIN ? TL_MIN : n > TL_MAX ? TL_MAX : n);
}

static unsigned config_buckets(const struct oeed_config *cfg)
{
	return (unsigned)cfg->report.window_buckets;
}

/* ---- the loss slots (machine_loss, machine_stop) ---- */

static int reason_index(const struct engine *e, const char *reason);

static int reason_add(struct engine *e, const char *reason)
{
	for (size_t i = 0; i < e->n_reasons; i++)
		if (strncmp(e->reasons[i], reason, ENGINE_REASON_MAX) == 0)
			return (int)i;
	if (e->n_reasons >= MAX_LOSS_REASONS - 4) /* room for stale, dead, restart, other */
		return -1;
	strlcpy_oeed(e->reasons[e->n_reasons], reason, ENGINE_REASON_MAX + 1);
	return (int)e->n_reasons++;
}

static void loss_pair(struct engine *e, enum oeed_category c, int reason)
{
	int16_t *slot = &e->loss_slot[(reason + 1) * CAT__COUNT + c];
	if (*slot >= 0)
		return;
	*slot = (int16_t)e->n_loss;
	e->loss_cat[e->n_loss] = (int8_t)c;
	e->loss_reason[e->n_loss] = (int16_t)reason;
	e->n_loss++;
}

/* Adds the reasons of the config's maps and oeed's own to e->reasons (after the contracts'
 * planned_reasons), and the slots of every (category, reason) pair the config can produce:
 * fixed at start, so the losses per machine are too. Reasons beyond MAX_LOSS_REASONS, and
 * any a plugin or annotation brings that the config does not name, count as "other". */
static int loss_build(struct engine *e, const struct oeed_config *cfg)
{
	for (size_t i = 0; i < cfg->n_sources; i++)
		for (size_t k = 0; k < cfg->sources[i].n_map; k++)
			if (cfg->sources[i].map[k].reason && cfg->sources[i].map[k].reason[0])
				reason_add(e, cfg->sources[i].map[k].reason);
	static const char *const own[] = {"stale", "dead", "restart", "other"};
	int own_idx[4];
	for (int k = 0; k < 4; k++) {
		own_idx[k] = reason_index(e, own[k]);
		if (own_idx[k] < 0) {
			strlcpy_oeed(e->reasons[e->n_reasons], own[k], ENGINE_REASON_MAX + 1);
			own_idx[k] = (int)e->n_reasons++;
		}
	}
	e->other_reason = own_idx[3];
	size_t table = (e->n_reasons + 1) * CAT__COUNT;
	e->loss_slot = malloc(table * sizeof(*e->loss_slot));
	e->loss_cat = malloc(table * sizeof(*e->loss_cat));
	e->loss_reason = malloc(table * sizeof(*e->loss_reason));
	if (!e->loss_slot || !e->loss_cat || !e->loss_reason)
		return -ENOMEM;
	for (size_t i = 0; i < table; i++)
		e->loss_slot[i] = -1;
	e->n_loss = 0;
	for (int c = 0; c < CAT__COUNT; c++)
		loss_pair(e, (enum oeed_category)c, -1);
	for (size_t i = 0; i < cfg->n_sources; i++)
		for (size_t k = 0; k < cfg->sources[i].n_map; k++) {
			const struct oeed_map_entry *me = &cfg->sources[i].map[k];
			loss_pair(e, me->category, reason_index(e, me->reason ? me->reason : ""));
		}
	for (int k = 0; k < 3; k++)
		loss_pair(e, CAT_UNKNOWN, own_idx[k]);
	for (int c = 0; c < CAT__COUNT; c++)
		loss_pair(e, (enum oeed_category)c, e->other_reason);
	for (size_t i = 0; i < table; i++)
		if (e->loss_slot[i] < 0)
			e->loss_slot[i] = e->loss_slot[(e->other_reason + 1) * CAT__COUNT +
						       (int)(i % CAT__COUNT)];
	return 0;
}

/* Per tracked period: time (ms) and entries of each slot, for the open and the last period. */
static size_t loss_bytes(size_t n_loss, size_t n_periods)
{
	return n_periods * 2 * n_loss * (sizeof(oeed_ms) + sizeof(uint32_t));
}

static void loss_table_free(struct engine *e)
{
	free(e->loss_slot);
	free(e->loss_cat);
	free(e->loss_reason);
}

/* The slots the config gives (for the memory figures, without an engine). */
static size_t config_loss_slots(const struct oeed_config *cfg)
{
	struct engine *t = calloc(1, sizeof(*t));
	if (!t)
		return 0;
	t->other_reason = -1;
	size_t n = loss_build(t, cfg) == 0 ? t->n_loss : 0;
	loss_table_free(t);
	free(t);
	return n;
}

size_t engine_bytes_per_machine(const struct oeed_config *cfg)
{
	oeed_ms lens[OEED_MAX_WINDOWS * 2];
	bool rep[OEED_MAX_WINDOWS * 2];
	size_t nw = config_windows(cfg, lens, rep);
	bool on[PERIOD__COUNT];
	size_t np = config_periods(cfg, on);
	return sizeof(struct machine) +
	       machine_extra_bytes(nw, config_buckets(cfg), np, config_has_cycles(cfg),
				   config_tl_len(cfg)) +
	       loss_bytes(config_loss_slots(cfg), np) + 2 * sizeof(int32_t);
}

size_t engine_lateness_bytes(const struct oeed_config *cfg, unsigned *ret_events)
{
	unsigned n = config_tl_len(cfg);
	*ret_events = n;
	return n * sizeof(struct tl_entry) + (n ? CNT__COUNT * CS_LEN * sizeof(struct csample) : 0);
}

size_t engine_bytes_total(const struct oeed_config *cfg)
{
	return sizeof(struct engine) + cfg->machines.max * engine_bytes_per_machine(cfg) +
	       cfg->n_contracts * sizeof(struct contract_state);
}

/* The reason's index; "" (no reason) is -1, and so is any other reason not in the table
 * while it is built; after that such a reason is "other". */
static int reason_index(const struct engine *e, const char *reason)
{
	if (!reason[0])
		return -1;
	for (size_t i = 0; i < e->n_reasons; i++)
		if (strncmp(e->reasons[i], reason, ENGINE_REASON_MAX) == 0)
			return (int)i;
	return e->other_reason;
}

static void *alloc_touched(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p)
		memset(p, 0, n);
	return p;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* Everything the per-machine arena's layout and meaning depend on. */
static uint64_t engine_layout_hash(const struct engine *e)
{
	uint64_t h = 1469598103934665603ull;
	size_t sizes[] = {sizeof(struct machine),
			  sizeof(struct period_state),
			  sizeof(struct wbucket),
			  sizeof(struct hist),
			  e->n_windows,
			  e->buckets,
			  e->n_reasons,
			  e->cycles,
			  e->tl_len,
			  sizeof(struct tl_entry)};
	h = fnv(h, sizes, sizeof(sizes));
	for (size_t w = 0; w < e->n_windows; w++)
		h = fnv(h, &e->windows[w].len, sizeof(e->windows[w].len));
	h = fnv(h, e->period_on, sizeof(e->period_on));
	for (size_t r = 0; r < e->n_reasons; r++)
		h = fnv(h, e->reasons[r], strlen(e->reasons[r]) + 1);
	h = fnv(h, &e->n_loss, sizeof(e->n_loss));
	h = fnv(h, e->loss_cat, e->n_loss * sizeof(*e->loss_cat));
	h = fnv(h, e->loss_reason, e->n_loss * sizeof(*e->loss_reason));
	return h;
}

int engine_new(const struct oeed_config *cfg, const struct calendar *cal,
	       const struct engine_sink *sink, struct engine **ret, struct oeed_error *err)
{
	struct engine *e = calloc(1, sizeof(*e));
	if (!e)
		goto fail_nomem;
	e->cfg = cfg;
	e->cal = cal;
	e->sink = *sink;
	e->buckets = config_buckets(cfg);
	e->cycles = config_has_cycles(cfg);
	e->tl_len = config_tl_len(cfg);
	e->src_lateness = -1;
	e->evidence_ts = OEED_MS_NONE;
	e->other_reason = -1;

	oeed_ms lens[OEED_MAX_WINDOWS * 2];
	bool rep[OEED_MAX_WINDOWS * 2];
	e->n_windows = config_windows(cfg, lens, rep);
	for (size_t i = 0; i < e->n_windows; i++) {
		struct window *w = &e->windows[i];
		w->len = lens[i];
		w->width = lens[i] / e->buckets;
		if (w->width < 1)
			w->width = 1;
		unsigned per_slot = (e->buckets + HIST_SLOTS - 2) / (HIST_SLOTS - 1);
		w->slot_w = w->width * per_slot;
		w->reported = rep[i];
		format_duration(lens[i], w->label, sizeof(w->label));
	}
	size_t n_periods = config_periods(cfg, e->period_on);
	for (int p = 0, k = 0; p < PERIOD__COUNT; p++)
		e->period_slot[p] = e->period_on[p] ? k++ : -1;

	for (size_t i = 0; i < cfg->n_contracts; i++) {
		const struct oeed_contract *c = &cfg->contracts[i];
		for (size_t r = 0; r < c->n_planned_reasons; r++) {
			if (reason_index(e, c->planned_reasons[r]) >= 0)
				continue;
			if (e->n_reasons >= MAX_REASONS) {
				snprintf(err->msg, sizeof(err->msg),
					 "contracts: more than %d distinct planned_reasons",
					 MAX_REASONS);
				engine_free(e);
				return -EINVAL;
			}
			strlcpy_oeed(e->reasons[e->n_reasons++], c->planned_reasons[r],
				     ENGINE_REASON_MAX + 1);
		}
	}

	if (loss_build(e, cfg) < 0)
		goto fail_nomem;
	e->loss_bytes = loss_bytes(e->n_loss, n_periods);
	e->layout = engine_layout_hash(e);
	e->max_machines = cfg->machines.max ? cfg->machines.max : 1;
	size_t extra =
	    machine_extra_bytes(e->n_windows, e->buckets, n_periods, e->cycles, e->tl_len) +
	    e->loss_bytes;
	e->extra = extra;
	/* Fixed memory, committed now: the pages are written at start (calloc would leave them
	 * untouched until a machine's clock reaches them), so the resident size seen at start is
	 * the size for good and an overcommitted system fails here, not in a year. */
	e->machines = alloc_touched(e->max_machines * sizeof(struct machine));
	e->arena = alloc_touched(e->max_machines * (extra ? extra : 1));
	e->hash_size = 16;
	while (e->hash_size < e->max_machines * 2)
		e->hash_size *= 2;
	e->hash = calloc(e->hash_size, sizeof(int32_t));
	e->n_contracts = cfg->n_contracts;
	e->contracts = calloc(e->n_contracts ? e->n_contracts : 1, sizeof(struct contract_state));
	if (!e->machines || !e->arena || !e->hash || !e->contracts)
		goto fail_nomem;
	for (size_t i = 0; i < e->max_machines; i++) {
		struct machine *m = &e->machines[i];
		char *p = e->arena + i * extra;
		if (e->tl_len) {
			m->tl = (struct tl_entry *)p;
			p += e->tl_len * sizeof(struct tl_entry);
			m->cs = (struct csample *)p;
			p += CNT__COUNT * CS_LEN * sizeof(struct csample);
		}
		m->buckets = (struct wbucket *)p;
		p += e->n_windows * e->buckets * sizeof(struct wbucket);
		if (e->cycles) {
			m->slots = (struct hist *)p;
			p += e->n_windows * HIST_SLOTS * sizeof(struct hist);
		}
		for (int k = 0; k < PERIOD__COUNT; k++) {
			if (!e->period_on[k])
				continue;
			m->periods[k] = (struct period_state *)p;
			p += sizeof(struct period_state);
		}
		m->slot_idx = e->cycles ? (int64_t *)p : NULL;
		if (e->cycles) {
			p += e->n_windows * HIST_SLOTS * sizeof(int64_t);
			m->phist = (struct hist *)p;
		}
		/* the losses are the arena's last part (all sizes before are multiples of 8) */
		m->loss = e->arena + i * extra + extra - e->loss_bytes;
	}
	for (size_t i = 0; i < e->n_contracts; i++) {
		struct contract_state *cs = &e->contracts[i];
		cs->c = &cfg->contracts[i];
		cs->window = -1;
		if (cs->c->rolling)
			for (size_t w = 0; w < e->n_windows; w++)
				if (e->windows[w].len == cs->c->rolling_ms)
					cs->window = (int)w;
		for (size_t r = 0; r < cs->c->n_planned_reasons; r++)
			cs->reason_idx[r] = reason_index(e, cs->c->planned_reasons[r]);
	}
	*ret = e;
	return 0;

fail_nomem:
	snprintf(err->msg, sizeof(err->msg), "engine: out of memory for %zu machines",
		 cfg->machines.max);
	engine_free(e);
	return -ENOMEM;
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	free(e->machines);
	free(e->arena);
	free(e->hash);
	free(e->contracts);
	loss_table_free(e);
	free(e);
}

/* ---- rolling windows ---- */

static struct wbucket *window_bucket(struct engine *e, struct machine *m, size_t w, oeed_ms t)
{
	int64_t idx = t / e->windows[w].width;
	struct wbucket *b = &m->buckets[w * e->buckets + (size_t)(idx % e->buckets)];
	if (b->idx != idx) {
		if (b->idx > idx)
			return NULL; /* older than the ring holds */
		memset(b, 0, sizeof(*b));
		b->idx = idx;
	}
	return b;
}

static struct hist *window_slot(struct engine *e, struct machine *m, size_t w, oeed_ms t)
{
	if (!m->slots)
		return NULL;
	int64_t idx = t / e->windows[w].slot_w;
	size_t slot = w * HIST_SLOTS + (size_t)(idx % HIST_SLOTS);
	if (m->slot_idx[slot] != idx) {
		if (m->slot_idx[slot] > idx)
			return NULL;
		hist_clear(&m->slots[slot]);
		m->slot_idx[slot] = idx;
	}
	return &m->slots[slot];
}

static struct hist *period_hist(const struct engine *e, const struct machine *m, int p, bool last)
{
	return m->phist ? &m->phist[e->period_slot[p] * 2 + (last ? 1 : 0)] : NULL;
}

/* ---- losses by reason: the accounting primitives' per-slot part ---- */

struct loss_view {
	oeed_ms *ms;
	uint32_t *events;
};

/* The losses of tracked period p: the open one or the last closed one. */
static struct loss_view loss_view(const struct engine *e, const struct machine *m, int p, bool last)
{
	size_t n = e->n_loss;
	char *b =
	    m->loss + (size_t)e->period_slot[p] * 2 * n * (sizeof(oeed_ms) + sizeof(uint32_t));
	struct loss_view v;
	v.ms = (oeed_ms *)b + (last ? n : 0);
	v.events = (uint32_t *)(b + 2 * n * sizeof(oeed_ms)) + (last ? n : 0);
	return v;
}

static int loss_slot_of(const struct engine *e, enum oeed_category c, int reason_idx)
{
	return e->loss_slot[(reason_idx + 1) * CAT__COUNT + c];
}

/* Called by add_time for each period part it accounts, so late events re-account too. */
static void loss_add_time(struct engine *e, struct machine *m, int p, bool last,
			  enum oeed_category c, int reason_idx, oeed_ms ms)
{
	loss_view(e, m, p, last).ms[loss_slot_of(e, c, reason_idx)] += ms;
}

/* An entry into (c, reason) at t, counted in the periods t lies in (sign -1 takes it back). */
static void loss_enter(struct engine *e, struct machine *m, oeed_ms t, enum oeed_category c,
		       int reason_idx, int sign)
{
	for (int p = 0; p < PERIOD__COUNT; p++) {
		if (!e->period_on[p])
			continue;
		struct period_state *ps = m->periods[p];
		bool last = t < ps->start;
		if (last && (ps->last_final || t < ps->last_start))
			continue;
		loss_view(e, m, p, last).events[loss_slot_of(e, c, reason_idx)] += (uint32_t)sign;
	}
}

static void loss_period_open(struct engine *e, struct machine *m, int p)
{
	struct loss_view v = loss_view(e, m, p, false);
	memset(v.ms, 0, e->n_loss * sizeof(*v.ms));
	memset(v.events, 0, e->n_loss * sizeof(*v.events));
}

static void loss_period_close(struct engine *e, struct machine *m, int p)
{
	struct loss_view o = loss_view(e, m, p, false), l = loss_view(e, m, p, true);
	memcpy(l.ms, o.ms, e->n_loss * sizeof(*o.ms));
	memcpy(l.events, o.events, e->n_loss * sizeof(*o.events));
}

static const char *reason_name(const struct engine *e, int reason_idx)
{
	return reason_idx >= 0 ? e->reasons[reason_idx] : "";
}

/* ---- accounting primitives ---- */

/* Where time t of period p is accounted: the open period, or the last one while its final
 * still waits for late events; NULL (never, given open_floor) for anything older. */
static struct kpi_acc *period_acc(struct period_state *ps, oeed_ms t, bool *ret_last)
{
	*ret_last = t < ps->start;
	if (!*ret_last)
		return &ps->acc;
	return !ps->last_final && t >= ps->last_start ? &ps->last_acc : NULL;
}

/* Adds sign * [from, to) of category c to the buckets and periods it falls in. Late events
 * take time back out (sign -1) and put it in again as the sorted events would have. */
static void add_time(struct engine *e, struct machine *m, oeed_ms from, oeed_ms to,
		     enum oeed_category c, int reason_idx, int sign)
{
	if (to <= from)
		return;
	for (size_t w = 0; w < e->n_windows; w++) {
		oeed_ms width = e->windows[w].width;
		/* only the last B buckets before the latest accounted time can still be reported
		 */
		oeed_ms hi = OEED_MAX(to, m->acc_hi);
		oeed_ms oldest = (hi / width - (oeed_ms)e->buckets + 1) * width;
		oeed_ms t = from > oldest ? from : oldest;
		while (t < to) {
			oeed_ms bend = (t / width + 1) * width;
			oeed_ms seg = (bend < to ? bend : to) - t;
			struct wbucket *b = window_bucket(e, m, w, t);
			if (b && c < CAT_UNKNOWN)
				b->cat_ms[c] += (uint32_t)(sign * seg);
			t += seg;
		}
	}
	for (int p = 0; p < PERIOD__COUNT; p++) {
		if (!e->period_on[p])
			continue;
		struct period_state *ps = m->periods[p];
		/* callers split at period ends: [from, to) lies in the open period, or (taken
		 * back or redone for a late event) partly in the last one */
		oeed_ms split = OEED_MIN(OEED_MAX(from, ps->start), to);
		if (split > from && !ps->last_final) {
			ps->last_acc.cat_ms[c] += sign * (split - from);
			if (reason_idx >= 0 && reason_idx < MAX_REASONS)
				ps->last_reason_ms[reason_idx][c] += sign * (split - from);
			loss_add_time(e, m, p, true, c, reason_idx, sign * (split - from));
		}
		if (to > split) {
			ps->acc.cat_ms[c] += sign * (to - split);
			if (reason_idx >= 0 && reason_idx < MAX_REASONS)
				ps->reason_ms[reason_idx][c] += sign * (to - split);
			loss_add_time(e, m, p, false, c, reason_idx, sign * (to - split));
		}
	}
}

/* add_time for the in-order case, from at or after the latest accounted time: every open
 * period starts at or before it and the window rings reach back to `to`, so neither the
 * split nor the ring bound of add_time is needed. */
static inline void add_time_forward(struct engine *e, struct machine *m, oeed_ms from, oeed_ms to,
				    enum oeed_category c, int reason_idx)
{
	for (size_t w = 0; w < e->n_windows; w++) {
		oeed_ms width = e->windows[w].width;
		oeed_ms oldest = (to / width - (oeed_ms)e->buckets + 1) * width;
		oeed_ms t = from > oldest ? from : oldest;
		while (t < to) {
			oeed_ms bend = (t / width + 1) * width;
			oeed_ms seg = (bend < to ? bend : to) - t;
			struct wbucket *b = window_bucket(e, m, w, t);
			if (b && c < CAT_UNKNOWN)
				b->cat_ms[c] += (uint32_t)seg;
			t += seg;
		}
	}
	for (int p = 0; p < PERIOD__COUNT; p++) {
		if (!e->period_on[p])
			continue;
		struct period_state *ps = m->periods[p];
		ps->acc.cat_ms[c] += to - from;
		/* reason_ms tracks the first MAX_REASONS reasons (the contracts' planned ones come
		 * first); losses by reason cover all of them */
		if (reason_idx >= 0 && reason_idx < MAX_REASONS)
			ps->reason_ms[reason_idx][c] += to - from;
		loss_add_time(e, m, p, false, c, reason_idx, to - from);
	}
}

static void add_failure(struct engine *e, struct machine *m, oeed_ms t, int reason_idx, int sign)
{
	for (size_t w = 0; w < e->n_windows; w++) {
		struct wbucket *b = window_bucket(e, m, w, t);
		if (b)
			b->failures += (uint32_t)sign;
	}
	for (int p = 0; p < PERIOD__COUNT; p++) {
		if (!e->period_on[p])
			continue;
		bool last;
		struct kpi_acc *a = period_acc(m->periods[p], t, &last);
		if (!a)
			continue;
		a->failures += sign;
		if (reason_idx >= 0 && reason_idx < MAX_REASONS)
			(last ? m->periods[p]->last_reason_failures
			      : m->periods[p]->reason_failures)[reason_idx] += (uint32_t)sign;
	}
}

static void add_count(struct engine *e, struct machine *m, oeed_ms t, enum kpi_count which,
		      int64_t n)
{
	for (size_t w = 0; w < e->n_windows; w++) {
		struct wbucket *b = window_bucket(e, m, w, t);
		if (b) {
			b->counted |= (uint8_t)(1u << which);
			b->count[which] += (uint32_t)n;
		}
	}
	for (int p = 0; p < PERIOD__COUNT; p++) {
		if (!e->period_on[p])
			continue;
		bool last;
		struct kpi_acc *a = period_acc(m->periods[p], t, &last);
		if (a)
			kpi_acc_add_count(a, which, n, m->ideal_s);
	}
}

static void add_cycle(struct engine *e, struct machine *m, oeed_ms t, double s)
{
	for (size_t w = 0; w < e->n_windows; w++) {
		struct wbucket *b = window_bucket(e, m, w, t);
		if (b) {
			if (b->cycles == 0 || s < b->cycle_min_s)
				b->cycle_min_s = s;
			if (b->cycles == 0 || s > b->cycle_max_s)
				b->cycle_max_s = s;
			b->cycles++;
			b->cycle_sum_s += s;
		}
		struct hist *h = window_slot(e, m, w, t);
		if (h)
			hist_add(h, s);
	}
	for (int p = 0; p < PERIOD__COUNT; p++) {
		if (!e->period_on[p])
			continue;
		bool last;
		struct kpi_acc *a = period_acc(m->periods[p], t, &last);
		if (!a)
			continue;
		kpi_acc_add_cycle(a, s);
		struct hist *ph = period_hist(e, m, p, last);
		if (ph)
			hist_add(ph, s);
	}
}

/* ---- periods ---- */

static void period_open(struct engine *e, struct machine *m, int p, oeed_ms t)
{
	struct period_state *ps = m->periods[p];
	oeed_ms start, end;
	int shift = -1;
	if (calendar_period(e->cal, (enum oeed_period)p, t, &start, &end, &shift) < 0) {
		/* cannot happen for a validated config; keep accounting in a day-long period */
		start = t - t % 86400000;
		end = start + 86400000;
	}
	ps->start = start;
	ps->end = end;
	ps->shift = shift;
	kpi_acc_clear(&ps->acc);
	struct hist *ph = period_hist(e, m, p, false);
	if (ph)
		hist_clear(ph);
	memset(ps->reason_ms, 0, sizeof(ps->reason_ms));
	memset(ps->reason_failures, 0, sizeof(ps->reason_failures));
	loss_period_open(e, m, p);
}

/* The shift's name of the shift starting at `start` (the `shift` tag), NULL for others. */
static const char *period_shift_name(const struct engine *e, int p, oeed_ms start)
{
	int shift = -1;
	oeed_ms s, en;
	if (p != PERIOD_SHIFT ||
	    calendar_period(e->cal, PERIOD_SHIFT, start, &s, &en, &shift) < 0 || shift < 0 ||
	    (size_t)shift >= e->cfg->report.n_shifts)
		return NULL;
	return e->cfg->report.shifts[shift].name;
}

/* machine_loss of period p: every slot with time or entries in [start, end). An interim
 * record shows a stop still pending micro-stop classification as what it is so far, like
 * machine_kpi. */
static void emit_losses(struct engine *e, struct machine *m, int p, oeed_ms start, oeed_ms end,
			bool final, bool last)
{
	if (!e->sink.loss)
		return;
	struct loss_view v = loss_view(e, m, p, last);
	int pend_slot = -1;
	oeed_ms pend_ms = 0;
	if (!final && m->pending && m->acc_until < end) {
		pend_slot = loss_slot_of(e, m->pend_cat, m->pend_reason_idx);
		pend_ms = end - OEED_MAX(m->pend_start, start);
	}
	struct engine_loss l = {.label = period_name((enum oeed_period)p),
				.shift = period_shift_name(e, p, start),
				.window_start = start,
				.window_end = end,
				.final = final};
	for (size_t i = 0; i < e->n_loss; i++) {
		l.time_ms = v.ms[i];
		l.events = v.events[i];
		if ((int)i == pend_slot) {
			l.time_ms += pend_ms;
			l.events += m->pend_start >= start;
		}
		if (!l.time_ms && !l.events)
			continue;
		l.cat = (enum oeed_category)e->loss_cat[i];
		l.reason = reason_name(e, e->loss_reason[i]);
		e->sink.loss(e->sink.ctx, &m->info, &l);
	}
}

/* The machine's state [state_since, end) ends: a machine_stop when it was a stop (not a
 * micro-stop). While history is re-applied for a late event only the stops it changed are
 * written again: the one it ends (evidence) and the first one from its time on. */
static void stop_ended(struct engine *e, struct machine *m, oeed_ms end, bool micro, bool evidence)
{
	if (!e->sink.stop || !m->has_state || micro ||
	    !(m->cat == CAT_IDLE || m->cat == CAT_DOWN || m->cat == CAT_PLANNED))
		return;
	if (e->rerun && !evidence) {
		if (!e->stop_redo || m->state_since < e->stop_redo_ts)
			return;
		e->stop_redo = false;
	}
	struct engine_stop st = {.cat = m->cat,
				 .reason = reason_name(e, m->reason_idx),
				 .start = m->state_since,
				 .end = end};
	e->sink.stop(e->sink.ctx, &m->info, &st);
}

static void emit_period(struct engine *e, struct machine *m, int p, oeed_ms end, bool final,
			const struct kpi_acc *acc, const struct hist *h, oeed_ms start)
{
	struct kpi_values kv;
	kpi_compute(acc, end - start, h, &kv);
	kv.shift = period_shift_name(e, p, start);
	if (e->sink.kpi)
		e->sink.kpi(e->sink.ctx, &m->info, period_name((enum oeed_period)p), start, end,
			    &kv, final);
}

/* Whether some period's final still waits (the in-order fast path skips periods_finalize
 * without it, which would touch every period's state on every event). */
static bool finals_waiting(const struct engine *e, const struct machine *m)
{
	for (int p = 0; p < PERIOD__COUNT; p++)
		if (e->period_on[p] && !m->periods[p]->last_final)
			return true;
	return false;
}

/* Writes the last period's final record (once). */
static void period_final(struct engine *e, struct machine *m, int p)
{
	struct period_state *ps = m->periods[p];
	if (ps->last_final)
		return;
	ps->last_final = true;
	m->finals_wait = finals_waiting(e, m);
	if (e->cfg->report.periods[p]) { /* else tracked only for a contract */
		emit_period(e, m, p, ps->last_end, true, &ps->last_acc, period_hist(e, m, p, true),
			    ps->last_start);
		emit_losses(e, m, p, ps->last_start, ps->last_end, true, true);
	}
}

/* Finals of periods whose end is the machine's hold (its sources' max_lateness) behind t. */
static void periods_finalize(struct engine *e, struct machine *m, oeed_ms t)
{
	if (!m->finals_wait)
		return;
	for (int p = 0; p < PERIOD__COUNT; p++)
		if (e->period_on[p] && !m->periods[p]->last_final &&
		    t - m->hold >= m->periods[p]->last_end)
			period_final(e, m, p);
}

/* The open period ends: it becomes the last one, whose final waits for late events (at most
 * until this one ends too). */
static void period_close(struct engine *e, struct machine *m, int p)
{
	struct period_state *ps = m->periods[p];
	period_final(e, m, p);
	ps->last_final = false;
	m->finals_wait = true;
	ps->last_start = ps->start;
	ps->last_end = ps->end;
	ps->last_acc = ps->acc;
	if (m->phist)
		*period_hist(e, m, p, true) = *period_hist(e, m, p, false);
	memcpy(ps->last_reason_ms, ps->reason_ms, sizeof(ps->reason_ms));
	memcpy(ps->last_reason_failures, ps->reason_failures, sizeof(ps->reason_failures));
	loss_period_close(e, m, p);
	period_open(e, m, p, ps->end);
	if (m->hold == 0)
		period_final(e, m, p);
}

/* Accounts the current state's time from acc_until to t, closing periods on the way. */
static void account_to(struct engine *e, struct machine *m, oeed_ms t, enum oeed_category c,
		       int reason_idx)
{
	while (m->acc_until < t) {
		oeed_ms seg_end = t;
		for (int p = 0; p < PERIOD__COUNT; p++)
			if (e->period_on[p] && m->periods[p]->end < seg_end)
				seg_end = m->periods[p]->end;
		if (seg_end <= m->acc_until) /* a period end at acc_until: close it first */
			seg_end = m->acc_until;
		if (m->has_state && m->acc_until >= m->acc_hi)
			add_time_forward(e, m, m->acc_until, seg_end, c, reason_idx);
		else if (m->has_state)
			add_time(e, m, m->acc_until, seg_end, c, reason_idx, 1);
		m->acc_until = seg_end;
		if (seg_end > m->acc_hi)
			m->acc_hi = seg_end;
		for (int p = 0; p < PERIOD__COUNT; p++)
			if (e->period_on[p] && m->periods[p]->end <= m->acc_until)
				period_close(e, m, p);
	}
}

/* ---- state changes ---- */

static void set_state(struct engine *e, struct machine *m, oeed_ms ts, enum oeed_category c,
		      const char *raw, size_t raw_len, const char *reason, bool evidence);

/* The next counter value is a baseline and the next cycle only starts the cycle clock. */
static void forget_counters(struct machine *m)
{
	memset(m->counter_has, 0, sizeof(m->counter_has));
	m->last_cycle_ts = OEED_MS_NONE;
	/* samples before this are not known to the counter history */
	memset(m->cs_n, 0, sizeof(m->cs_n));
	memset(m->cs_lost, 1, sizeof(m->cs_lost));
}

/* After the daemon's own restart: how late the machine's next event may come for its
 * counters to go on, as they would have under a daemon that stayed up (no stale timeout:
 * always). */
static oeed_ms restart_continue_until(const struct machine *m)
{
	return m->stale_after > 0 ? m->last_seen + m->stale_after : INT64_MAX;
}

static struct tl_entry *tl_at(const struct engine *e, const struct machine *m, int i)
{
	/* i < tl_len: a subtraction instead of a division, on every event's lateness check */
	unsigned k = m->tl_head + (unsigned)i;
	return &m->tl[k >= e->tl_len ? k - e->tl_len : k];
}

/* Drops the oldest entry: nothing before the next one can be re-accounted any more. */
static void tl_drop_oldest(struct engine *e, struct machine *m)
{
	m->tl_head = m->tl_head + 1 == e->tl_len ? 0 : m->tl_head + 1;
	m->tl_n--;
	if (m->tl_cur >= 0)
		m->tl_cur--;
	m->tl_lost = true;
}

/* Inserts at logical index k (tl_n for the end); returns the index it got, -1 if none. */
static int tl_insert(struct engine *e, struct machine *m, int k, const struct tl_entry *en)
{
	if (!e->tl_len)
		return -1;
	if (m->tl_n == e->tl_len) {
		if (k == 0)
			return -1;
		tl_drop_oldest(e, m);
		k--;
	}
	for (int i = (int)m->tl_n; i > k; i--)
		*tl_at(e, m, i) = *tl_at(e, m, i - 1);
	*tl_at(e, m, k) = *en;
	m->tl_n++;
	if (m->tl_cur >= k)
		m->tl_cur++;
	return k;
}

static void resolve_pending(struct engine *e, struct machine *m, oeed_ms until, bool microstop)
{
	/* [pend_start, until) is decided: running (a micro-stop) or the stop's own category */
	m->pending = false;
	enum oeed_category c = microstop ? CAT_RUNNING : m->pend_cat;
	struct tl_entry *en = m->tl_cur >= 0 ? tl_at(e, m, m->tl_cur) : NULL;
	if (en) {
		en->acc_cat = (int8_t)c;
		en->acc_reason = (int8_t)(microstop ? -1 : m->pend_reason_idx);
	}
	if (!microstop && m->pend_cat == CAT_DOWN) {
		add_failure(e, m, m->pend_start, m->pend_reason_idx, 1);
		if (en)
			en->flags |= TL_FAILED;
	}
	if (!microstop) {
		loss_enter(e, m, m->pend_start, m->pend_cat, m->pend_reason_idx, 1);
		if (en)
			en->flags |= TL_ENTERED;
	}
	account_to(e, m, until, c, microstop ? -1 : m->pend_reason_idx);
}

static void machine_advance(struct engine *e, struct machine *m, oeed_ms t)
{
	if (t <= m->acc_until)
		goto finals;
	if (m->pending) {
		oeed_ms decide = m->pend_start + m->microstop_below;
		if (t < decide)
			goto finals; /* keep deferring: the stop may still be a micro-stop */
		resolve_pending(e, m, decide, false);
	}
	if (m->has_state && m->cat != CAT_UNKNOWN && m->stale_after > 0) {
		oeed_ms stale_at = m->last_seen + m->stale_after;
		if (stale_at < t) {
			if (stale_at > m->acc_until)
				account_to(e, m, stale_at, m->cat, m->reason_idx);
			set_state(e, m, m->acc_until, CAT_UNKNOWN, "", 0, "stale", true);
		}
	}
	account_to(e, m, t, m->cat, m->reason_idx);
finals:
	if (!e->rerun)
		periods_finalize(e, m, t);
}

static uint64_t state_hash(const char *raw, size_t raw_len, const char *reason)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a over raw NUL reason */
	for (size_t i = 0; i < raw_len; i++)
		h = (h ^ (unsigned char)raw[i]) * 1099511628211ull;
	h *= 1099511628211ull;
	for (const char *r = reason; *r; r++)
		h = (h ^ (unsigned char)*r) * 1099511628211ull;
	return h;
}

/* Applies one state event at ts (history entry `idx`, -1 for none). raw and reason: the text
 * to keep, NULL when re-applying history (the text stays the current state's). Returns the
 * time it was applied at, or OEED_MS_NONE for a repeat. */
static oeed_ms change_state(struct engine *e, struct machine *m, oeed_ms ts, enum oeed_category c,
			    uint64_t hash, int new_reason_idx, const char *raw, size_t raw_len,
			    const char *reason, bool evidence, int idx)
{
	if (m->has_state && m->cat == c && m->state_hash == hash)
		return OEED_MS_NONE; /* a repeat of the current state is a sign of life */

	bool was_running = m->has_state && m->cat == CAT_RUNNING;
	/* Each change gets its own millisecond: two changes of one machine at the same time
	 * would be one point in InfluxDB, the second overwriting the first. The later one moves
	 * on by 1 ms. */
	if (m->has_state && ts <= m->state_since)
		ts = m->state_since + 1;

	bool micro = m->pending && c == CAT_RUNNING && ts - m->pend_start < m->microstop_below;
	if (m->pending) {
		/* the stop ends (or changes) before the micro-stop threshold */
		resolve_pending(e, m, ts, micro);
	} else {
		account_to(e, m, ts, m->cat, m->reason_idx);
	}
	stop_ended(e, m, ts, micro, evidence);

	if (evidence && e->sink.state) {
		char rawz[ENGINE_RAW_MAX + 1];
		memcpy(rawz, raw, raw_len);
		rawz[raw_len] = '\0';
		oeed_ms ets = e->evidence_ts != OEED_MS_NONE ? e->evidence_ts : ts;
		double prev = m->has_state ? (double)(ets - m->state_since) / 1000.0 : -1.0;
		e->sink.state(e->sink.ctx, &m->info, ets, c, rawz, reason, prev);
	}

	struct tl_entry *en = idx >= 0 ? tl_at(e, m, idx) : NULL;
	if (en) {
		en->ts = ts;
		en->acc_cat = (int8_t)c;
		en->acc_reason = (int8_t)new_reason_idx;
		en->flags = was_running ? TL_FROM_RUN : 0;
	}
	bool stop = c == CAT_IDLE || c == CAT_DOWN;
	if (was_running && stop && m->microstop_below > 0) {
		m->pending = true;
		m->pend_cat = c;
		m->pend_start = ts;
		m->pend_reason_idx = new_reason_idx;
	} else if (c == CAT_DOWN && !(m->has_state && m->cat == CAT_DOWN)) {
		add_failure(e, m, ts, new_reason_idx, 1);
		if (en)
			en->flags |= TL_FAILED;
	}
	if (!m->pending && !micro) { /* running after a micro-stop goes on: no new entry */
		loss_enter(e, m, ts, c, new_reason_idx, 1);
		if (en)
			en->flags |= TL_ENTERED;
	}

	m->has_state = true;
	m->cat = c;
	m->state_hash = hash;
	if (raw) {
		memcpy(m->raw, raw, raw_len);
		m->raw[raw_len] = '\0';
		strlcpy_oeed(m->reason, reason, sizeof(m->reason));
	}
	m->reason_idx = new_reason_idx;
	m->state_since = ts;
	m->tl_cur = idx;
	/* counters restart from a baseline after a gap in the evidence; the daemon's own
	 * restart gap leaves that to the machine's next event (continue_until) */
	if (c == CAT_UNKNOWN && m->continue_until == OEED_MS_NONE && !e->rerun)
		forget_counters(m);
	return ts;
}

static void set_state(struct engine *e, struct machine *m, oeed_ms ts, enum oeed_category c,
		      const char *raw, size_t raw_len, const char *reason, bool evidence)
{
	if (raw_len > ENGINE_RAW_MAX)
		raw_len = ENGINE_RAW_MAX;
	uint64_t hash = state_hash(raw, raw_len, reason);
	/* a repeat (the usual periodic state message) has the current reason: no lookup */
	bool repeat = m->has_state && m->cat == c && m->state_hash == hash;
	struct tl_entry en = {.ts = ts,
			      .hash = hash,
			      .cat = (int8_t)c,
			      .reason_idx =
				  (int8_t)(repeat ? m->reason_idx : reason_index(e, reason)),
			      .flags = TL_REPEAT};
	en.acc_cat = en.cat;
	en.acc_reason = en.reason_idx;
	int idx = tl_insert(e, m, (int)m->tl_n, &en);
	if (!e->rerun)
		m->state_own = ts;
	if (change_state(e, m, ts, c, hash, en.reason_idx, raw, raw_len, reason, evidence, idx) ==
		OEED_MS_NONE &&
	    idx >= 0) {
		tl_at(e, m, idx)->flags = TL_REPEAT;
		tl_at(e, m, idx)->ts = ts;
	}
}

/* The earliest time that can still be re-accounted: the start of the oldest period whose
 * final is not written yet, and of the oldest state in the history once it has wrapped. */
static oeed_ms open_floor(const struct engine *e, const struct machine *m)
{
	oeed_ms f = INT64_MIN;
	for (int p = 0; p < PERIOD__COUNT; p++) {
		if (!e->period_on[p])
			continue;
		const struct period_state *ps = m->periods[p];
		f = OEED_MAX(f, ps->last_final ? ps->start : ps->last_start);
	}
	if (m->tl_lost && m->tl_n)
		f = OEED_MAX(f, tl_at(e, m, 0)->ts);
	return f;
}

/* The last real change (not a repeat) before logical index k, -1. */
static int tl_real_before(const struct engine *e, const struct machine *m, int k)
{
	for (int i = k - 1; i >= 0; i--)
		if (!(tl_at(e, m, i)->flags & TL_REPEAT))
			return i;
	return -1;
}

/* A state event at ts before the accounted time: takes the time from the change before it
 * back out of the buckets and periods, puts the event into the history in event-time order
 * and applies the history again from there, so every figure is that of the sorted events.
 * Returns -ERANGE when the history or the open periods no longer reach back that far. */
static int rewind_state(struct engine *e, struct machine *m, oeed_ms ts, enum oeed_category c,
			const char *raw, size_t raw_len, const char *reason)
{
	if (!e->tl_len || (m->tl_lost && (!m->tl_n || ts < tl_at(e, m, 0)->ts)))
		return -ERANGE;
	if (raw_len > ENGINE_RAW_MAX)
		raw_len = ENGINE_RAW_MAX;
	int k = (int)m->tl_n;
	while (k > 0 && tl_at(e, m, k - 1)->ts > ts)
		k--;
	int j = tl_real_before(e, m, k);
	if (j < 0 && m->tl_lost)
		return -ERANGE;
	/* a stop from running before it may turn out a micro-stop (or no longer): redo it too */
	bool redo_prev = j >= 0 && m->microstop_below > 0 && (tl_at(e, m, j)->flags & TL_FROM_RUN);
	oeed_ms u0 = redo_prev ? tl_at(e, m, j)->ts : ts;
	if (u0 < open_floor(e, m))
		return -ERANGE;
	if (m->tl_n == e->tl_len &&
	    (k == 0 || j <= 0 || (redo_prev && tl_real_before(e, m, j) < 0)))
		return -ERANGE;

	oeed_ms until = m->acc_until;
	/* take back what [u0, until) was accounted as */
	for (int i = j >= 0 ? j : 0; i < (int)m->tl_n; i++) {
		struct tl_entry *en = tl_at(e, m, i);
		if (en->flags & TL_REPEAT)
			continue;
		int nx = i + 1;
		while (nx < (int)m->tl_n && (tl_at(e, m, nx)->flags & TL_REPEAT))
			nx++;
		oeed_ms seg_end = nx < (int)m->tl_n ? tl_at(e, m, nx)->ts : until;
		oeed_ms a = OEED_MAX(en->ts, u0), b = OEED_MIN(seg_end, until);
		if (b > a)
			add_time(e, m, a, b, (enum oeed_category)en->acc_cat, en->acc_reason, -1);
		if ((en->flags & TL_FAILED) && en->ts >= u0) {
			add_failure(e, m, en->ts, en->reason_idx, -1);
			en->flags &= (uint8_t)~TL_FAILED;
		}
		if ((en->flags & TL_ENTERED) && en->ts >= u0) {
			loss_enter(e, m, en->ts, (enum oeed_category)en->acc_cat, en->acc_reason,
				   -1);
			en->flags &= (uint8_t)~TL_ENTERED;
		}
	}
	uint64_t hash = state_hash(raw, raw_len, reason);
	struct tl_entry ne = {.ts = ts,
			      .hash = hash,
			      .cat = (int8_t)c,
			      .reason_idx = (int8_t)reason_index(e, reason)};
	ne.acc_cat = ne.cat;
	ne.acc_reason = ne.reason_idx;
	bool full = m->tl_n == e->tl_len;
	k = tl_insert(e, m, k, &ne);
	if (full)
		j--; /* the oldest entry went */
	/* back to the state before the first entry applied again */
	int from = redo_prev ? j : k;
	int before = redo_prev ? tl_real_before(e, m, j) : j;
	char saved_raw[ENGINE_RAW_MAX + 1], saved_reason[ENGINE_REASON_MAX + 1];
	memcpy(saved_raw, m->raw, sizeof(saved_raw));
	memcpy(saved_reason, m->reason, sizeof(saved_reason));
	m->pending = false;
	m->acc_until = u0;
	if (before >= 0) {
		const struct tl_entry *b = tl_at(e, m, before);
		m->has_state = true;
		m->cat = (enum oeed_category)b->cat;
		m->state_hash = b->hash;
		m->reason_idx = b->reason_idx;
		m->state_since = b->ts;
	} else {
		m->has_state = false;
		m->cat = CAT_UNKNOWN;
		m->state_hash = 0;
		m->reason_idx = -1;
	}
	m->tl_cur = before;
	e->rerun = true;
	for (int i = from; i < (int)m->tl_n; i++) {
		struct tl_entry *en = tl_at(e, m, i);
		bool mine = i == k;
		oeed_ms at = change_state(e, m, en->ts, (enum oeed_category)en->cat, en->hash,
					  en->reason_idx, mine ? raw : NULL, raw_len,
					  mine ? reason : NULL, mine, i);
		if (at == OEED_MS_NONE)
			en->flags = TL_REPEAT;
	}
	machine_advance(e, m, until);
	e->rerun = false;
	int last = tl_real_before(e, m, (int)m->tl_n);
	if (last != k) {
		memcpy(m->raw, saved_raw, sizeof(saved_raw));
		memcpy(m->reason, saved_reason, sizeof(saved_reason));
	}
	return 0;
}

/* ---- machines ---- */

static uint64_t hash_id(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static void machine_init(struct engine *e, struct machine *m, const char *id, size_t id_len,
			 const struct engine_tag_slice *tags, size_t n_tags)
{
	memcpy(m->id, id, id_len);
	m->id[id_len] = '\0';
	m->info.id = m->id;
	m->info.n_tags = 0;
	size_t used = 0;
	for (size_t i = 0; tags && i < n_tags && i < OEED_MAX_TEMPLATE_VARS; i++) {
		size_t kl = strlen(tags[i].key), vl = tags[i].value_len;
		if (used + kl + vl + 2 > sizeof(m->tagbuf))
			break; /* tags beyond the fixed room are not kept */
		char *k = m->tagbuf + used;
		memcpy(k, tags[i].key, kl + 1);
		char *v = k + kl + 1;
		memcpy(v, tags[i].value, vl);
		v[vl] = '\0';
		used += kl + vl + 2;
		m->info.tag[m->info.n_tags].key = k;
		m->info.tag[m->info.n_tags].value = v;
		m->info.n_tags++;
	}
	const struct oeed_machine_conf *mc = config_machine(e->cfg, m->id);
	const struct oeed_machine_conf *d = &e->cfg->machines.defaults;
	m->ideal_s = (double)(mc ? mc->ideal_cycle_ms : d->ideal_cycle_ms) / 1000.0;
	m->stale_after = mc ? mc->stale_after_ms : d->stale_after_ms;
	m->microstop_below = mc ? mc->microstop_below_ms : d->microstop_below_ms;
	m->lateness = mc ? mc->max_lateness_ms : d->max_lateness_ms;
	m->hold = m->lateness;
	m->tl_n = m->tl_head = 0;
	m->tl_cur = -1;
	m->tl_lost = false;
	m->finals_wait = false;
	memset(m->cs_head, 0, sizeof(m->cs_head));
	memset(m->cs_n, 0, sizeof(m->cs_n));
	memset(m->cs_lost, 0, sizeof(m->cs_lost));
	m->has_state = false;
	m->cat = CAT_UNKNOWN;
	m->reason_idx = -1;
	m->acc_until = OEED_MS_NONE;
	m->last_ts = OEED_MS_NONE;
	m->last_cycle_ts = OEED_MS_NONE;
	m->continue_until = OEED_MS_NONE;
	for (size_t i = 0; i < e->n_windows * e->buckets; i++)
		m->buckets[i].idx = -1;
	for (size_t i = 0; m->slot_idx && i < e->n_windows * HIST_SLOTS; i++)
		m->slot_idx[i] = -1;
}

/* The history's lines an event of the machine will touch: fetched while the payload is
 * decoded, so that in-order events do not wait for them (docs/benchmarks-engine.md). */
static void machine_prefetch(const struct engine *e, const struct machine *m)
{
	if (!e->tl_len)
		return;
	__builtin_prefetch(tl_at(e, m, m->tl_n ? (int)m->tl_n - 1 : 0), 1);
	for (int k = 0; k < CNT__COUNT; k++)
		if (m->counter_has[k])
			__builtin_prefetch(
			    &m->cs[k * CS_LEN + ((m->cs_head[k] + m->cs_n[k]) & (CS_LEN - 1))], 1);
}

int engine_machine(struct engine *e, const char *id, size_t id_len,
		   const struct engine_tag_slice *tags, size_t n_tags)
{
	if (id_len == 0 || id_len > ENGINE_ID_MAX)
		return -EINVAL;
	size_t mask = e->hash_size - 1;
	for (size_t h = hash_id(id, id_len) & mask;; h = (h + 1) & mask) {
		int32_t v = e->hash[h];
		if (v == 0) {
			if (e->n_machines >= e->max_machines) {
				e->stats.machines_dropped++;
				return -ENOSPC;
			}
			struct machine *m = &e->machines[e->n_machines];
			machine_init(e, m, id, id_len, tags, n_tags);
			e->hash[h] = (int32_t)++e->n_machines;
			return (int)(e->n_machines - 1);
		}
		struct machine *m = &e->machines[v - 1];
		if (strncmp(m->id, id, id_len) == 0 && m->id[id_len] == '\0') {
			machine_prefetch(e, m);
			return v - 1;
		}
	}
}

/* The machine's clock at receive time `now`: its latest event time plus the wall time since. */
static oeed_ms machine_clock(const struct machine *m, oeed_ms now)
{
	if (m->last_ts == OEED_MS_NONE)
		return now;
	return m->last_ts + (now > m->last_rx ? now - m->last_rx : 0);
}

/* First event of a machine: open its periods and start accounting here. */
static void machine_start(struct engine *e, struct machine *m, oeed_ms t)
{
	m->acc_until = t;
	m->acc_hi = t;
	m->last_seen = t;
	for (int p = 0; p < PERIOD__COUNT; p++)
		if (e->period_on[p]) {
			period_open(e, m, p, t);
			m->periods[p]->last_final = true;
		}
	m->finals_wait = false;
}

static void count_late(struct engine *e, struct machine *m, oeed_ms own, oeed_ms at, oeed_ms behind)
{
	e->stats.late++;
	if (e->sink.late)
		e->sink.late(e->sink.ctx, &m->info, own, at, behind);
}

/* Applies the time rules of kpi.md "Time": no timestamp -> now; too far ahead -> now
 * (skewed); more than max_lateness behind the machine's clock, or before the earliest time
 * still open -> that earliest open time (late, counted). Anything else lands at its own time,
 * also behind the accounted time (the callers take the time back and redo it). */
static oeed_ms event_time(struct engine *e, struct machine *m, oeed_ms ts, oeed_ms now,
			  oeed_ms *ret_own)
{
	if (now > e->now)
		e->now = now;
	if (ts == OEED_MS_NONE) {
		ts = now;
	} else if (ts > now + e->cfg->max_clock_skew_ms) {
		e->stats.skewed++;
		ts = now;
	}
	*ret_own = ts;
	if (m->acc_until == OEED_MS_NONE)
		machine_start(e, m, ts);
	if (m->continue_until != OEED_MS_NONE) {
		/* the first event after a restart gap: silent longer than stale_after, the
		 * machine would have gone stale under a daemon that stayed up */
		if (ts > m->continue_until)
			forget_counters(m);
		m->continue_until = OEED_MS_NONE;
	}
	oeed_ms lat = e->src_lateness >= 0 ? e->src_lateness : m->lateness;
	if (lat > m->hold)
		m->hold = lat;
	if (ts < m->acc_until || (m->last_ts != OEED_MS_NONE && ts < m->last_ts)) {
		oeed_ms clock = machine_clock(m, now);
		oeed_ms floor = open_floor(e, m);
		if (ts < clock - lat || ts < floor) {
			oeed_ms at = OEED_MAX(floor, clock - lat);
			at = OEED_MAX(OEED_MIN(at, m->acc_until), ts);
			count_late(e, m, ts, at, clock - ts);
			ts = at;
		}
	}
	if (ts >= m->acc_until)
		machine_advance(e, m, ts);
	if (m->last_ts == OEED_MS_NONE || ts >= m->last_ts) {
		m->last_ts = ts;
		m->last_rx = now;
	}
	if (ts > m->last_seen)
		m->last_seen = ts;
	return ts;
}

void engine_source_lateness(struct engine *e, oeed_ms max_lateness)
{
	e->src_lateness = max_lateness;
}

void engine_seen(struct engine *e, int mi, oeed_ms now)
{
	struct machine *m = &e->machines[mi];
	if (m->acc_until == OEED_MS_NONE)
		return; /* the first event sets the clock */
	oeed_ms t = machine_clock(m, now);
	machine_advance(e, m, t);
	if (t > m->last_seen)
		m->last_seen = t;
}

/* An event before the accounted time, other than one in the millisecond the latest change
 * was moved on from (which lands after it, as received). */
static bool behind(const struct engine *e, const struct machine *m, oeed_ms ts)
{
	if (m->last_ts != OEED_MS_NONE && ts < m->last_ts)
		return true;
	if (m->tl_n && ts < tl_at(e, m, (int)m->tl_n - 1)->ts)
		return !(ts >= m->state_own && m->has_state);
	if (ts < m->acc_until)
		return !(ts >= m->state_own && m->has_state && m->acc_until == m->state_since);
	return false;
}

/* behind() for a count or a cycle, whose time is in no history entry: there it only decides
 * the `reordered` counter. The in-order fast path: an event at or after the latest event and
 * the accounted time (*ret_quick) is also at or after every counter sample kept (each is at
 * an event's time or, late, at most at the accounted time), and if it is at or after the
 * current state's time too, after every state entry (the last entry's time is none of those
 * only for a change moved on by its own millisecond, which is then the current state's
 * time). That spares the history's cache lines on every sample. */
static bool behind_sample(const struct engine *e, const struct machine *m, oeed_ms ts,
			  bool *ret_quick)
{
	*ret_quick = (m->last_ts == OEED_MS_NONE || ts >= m->last_ts) && ts >= m->acc_until;
	if (*ret_quick && (!m->has_state || ts >= m->state_since))
		return false;
	return behind(e, m, ts);
}

static void apply_state(struct engine *e, struct machine *m, oeed_ms ts, oeed_ms now,
			enum oeed_category cat, const char *raw, size_t raw_len, const char *reason)
{
	oeed_ms own;
	ts = event_time(e, m, ts, now, &own);
	if (ts != own)
		e->evidence_ts = own; /* late: its evidence keeps its own time */
	bool back = behind(e, m, ts);
	e->stop_redo = back;
	e->stop_redo_ts = ts;
	if (back && rewind_state(e, m, ts, cat, raw, raw_len, reason) == 0) {
		if (ts == own)
			e->stats.reordered++;
		e->evidence_ts = OEED_MS_NONE;
		return;
	}
	if (back) {
		/* the history no longer reaches back there: at the latest time, as late */
		oeed_ms at = m->acc_until;
		if (m->tl_n)
			at = OEED_MAX(at, tl_at(e, m, (int)m->tl_n - 1)->ts);
		if (ts == own)
			count_late(e, m, own, at, machine_clock(m, now) - own);
		e->evidence_ts = own;
		ts = at;
	}
	set_state(e, m, ts, cat, raw, raw_len, reason, true);
	e->evidence_ts = OEED_MS_NONE;
}

void engine_state(struct engine *e, int mi, oeed_ms ts, oeed_ms now, enum oeed_category cat,
		  const char *raw, size_t raw_len, const char *reason)
{
	apply_state(e, &e->machines[mi], ts, now, cat, raw, raw_len, reason ? reason : "");
}

void engine_death(struct engine *e, int mi, oeed_ms ts, oeed_ms now)
{
	apply_state(e, &e->machines[mi], ts, now, CAT_UNKNOWN, "", 0, "dead");
}

static int64_t counter_delta(double from, double to)
{
	double d = to - from;
	return llround(d < 0 ? to : d); /* a decrease: the device restarted its counter */
}

/* Sample i (0 the oldest) of a cumulative counter's ring: in-order samples go in without
 * moving the others. */
static struct csample *cs_at(struct machine *m, enum kpi_count which, unsigned i)
{
	return &m->cs[which * CS_LEN + ((m->cs_head[which] + i) & (CS_LEN - 1))];
}

/* Drops the oldest sample: nothing before the next one can be split any more. */
static void cs_drop_oldest(struct machine *m, enum kpi_count which)
{
	m->cs_head[which] = (uint8_t)((m->cs_head[which] + 1) & (CS_LEN - 1));
	m->cs_lost[which] = true;
	m->cs_n[which]--;
}

/* A cumulative counter's sample before its latest: the parts between its neighbours are
 * split at its time, as the sorted samples would have. false: the samples kept no longer
 * reach back there (its parts are in the next sample's difference). */
static bool counter_insert(struct engine *e, struct machine *m, oeed_ms ts, enum kpi_count which,
			   double value)
{
	unsigned n = m->cs_n[which];
	unsigned k = n;
	while (k > 0 && cs_at(m, which, k - 1)->ts > ts)
		k--;
	if (k == 0 && (m->cs_lost[which] || n == CS_LEN))
		return false;
	if (k < n) {
		const struct csample *next = cs_at(m, which, k);
		if (k > 0)
			add_count(e, m, next->ts, which,
				  -counter_delta(cs_at(m, which, k - 1)->v, next->v));
		add_count(e, m, next->ts, which, counter_delta(value, next->v));
	}
	add_count(e, m, ts, which, k > 0 ? counter_delta(cs_at(m, which, k - 1)->v, value) : 0);
	if (n == CS_LEN) {
		cs_drop_oldest(m, which);
		n--;
		k--;
	}
	for (unsigned i = n; i > k; i--)
		*cs_at(m, which, i) = *cs_at(m, which, i - 1);
	*cs_at(m, which, k) = (struct csample){ts, value};
	m->cs_n[which] = n + 1;
	return true;
}

static void counter_append(struct machine *m, oeed_ms ts, enum kpi_count which, double value)
{
	if (!m->cs)
		return;
	if (m->cs_n[which] == CS_LEN)
		cs_drop_oldest(m, which);
	*cs_at(m, which, m->cs_n[which]++) = (struct csample){ts, value};
}

void engine_count(struct engine *e, int mi, oeed_ms ts, oeed_ms now, enum kpi_count which,
		  double value, enum oeed_counts mode)
{
	struct machine *m = &e->machines[mi];
	if (!isfinite(value) || which >= CNT__COUNT)
		return;
	oeed_ms own, raw_ts = ts == OEED_MS_NONE ? now : ts;
	bool quick;
	bool back = behind_sample(e, m, raw_ts, &quick);
	ts = event_time(e, m, ts, now, &own);
	double delta;
	if (mode == COUNTS_CUMULATIVE) {
		unsigned n = m->cs ? m->cs_n[which] : 0;
		if (n && !(quick && own == raw_ts) && own < cs_at(m, which, n - 1)->ts) {
			if (ts == own && counter_insert(e, m, ts, which, value)) {
				e->stats.reordered++;
			} else if (ts == own) {
				count_late(e, m, own, ts, machine_clock(m, now) - own);
			}
			return; /* a late sample's parts are in the next sample's difference */
		}
		counter_append(m, ts, which, value);
		if (!m->counter_has[which]) {
			/* the first value after start-up or unknown is a baseline, not production
			 */
			m->counter_has[which] = true;
			m->counter_last[which] = value;
			add_count(e, m, ts, which, 0);
			return;
		}
		delta = value - m->counter_last[which];
		if (delta < 0) {
			e->stats.counter_resets++;
			delta = value; /* the device restarted its counter: count from 0 */
		}
		m->counter_last[which] = value;
	} else {
		if (value < 0)
			return;
		delta = value;
	}
	if (back && ts == own)
		e->stats.reordered++;
	add_count(e, m, ts, which, (int64_t)llround(delta));
}

void engine_cycle(struct engine *e, int mi, oeed_ms ts, oeed_ms now, double seconds,
		  bool count_part)
{
	struct machine *m = &e->machines[mi];
	oeed_ms own;
	bool quick;
	bool back = behind_sample(e, m, ts == OEED_MS_NONE ? now : ts, &quick);
	ts = event_time(e, m, ts, now, &own);
	if (count_part)
		add_count(e, m, ts, CNT_TOTAL, 1);
	if (isnan(seconds)) {
		if (m->last_cycle_ts != OEED_MS_NONE && ts < m->last_cycle_ts) {
			/* "the time since the previous cycle" of a cycle before the latest: its
			 * time is in the next cycle's already */
			if (ts == own)
				count_late(e, m, own, ts, machine_clock(m, now) - own);
			return;
		}
		if (m->last_cycle_ts != OEED_MS_NONE)
			seconds = (double)(ts - m->last_cycle_ts) / 1000.0;
		m->last_cycle_ts = ts;
		if (isnan(seconds))
			return; /* the first cycle only starts the clock */
	} else if (m->last_cycle_ts == OEED_MS_NONE || ts >= m->last_cycle_ts) {
		m->last_cycle_ts = ts;
	}
	if (back && ts == own)
		e->stats.reordered++;
	if (seconds >= 0 && isfinite(seconds))
		add_cycle(e, m, ts, seconds);
}

/* ---- reporting ---- */

static void window_sum(struct engine *e, struct machine *m, size_t w, oeed_ms t,
		       struct kpi_acc *acc, struct hist *h, oeed_ms *ret_start)
{
	const struct window *win = &e->windows[w];
	int64_t cur = t / win->width;
	int64_t first = cur - (int64_t)e->buckets + 1;
	kpi_acc_clear(acc);
	for (unsigned i = 0; i < e->buckets; i++) {
		const struct wbucket *b = &m->buckets[w * e->buckets + i];
		if (b->idx < first || b->idx > cur)
			continue;
		struct kpi_acc a;
		kpi_acc_clear(&a);
		for (int c = 0; c < CAT_UNKNOWN; c++)
			a.cat_ms[c] = b->cat_ms[c];
		for (int k = 0; k < CNT__COUNT; k++)
			if (b->counted & (1u << k))
				kpi_acc_add_count(&a, (enum kpi_count)k, b->count[k], m->ideal_s);
		a.failures = b->failures;
		a.cycles = b->cycles;
		a.cycle_sum_s = b->cycle_sum_s;
		a.cycle_min_s = b->cycle_min_s;
		a.cycle_max_s = b->cycle_max_s;
		kpi_acc_merge(acc, &a);
	}
	*ret_start = first * win->width;
	if (h && acc->cycles && m->slots) { /* percentiles only where there are cycles */
		hist_clear(h);
		int64_t hfirst = *ret_start / win->slot_w;
		for (unsigned i = 0; i < HIST_SLOTS; i++) {
			size_t slot = w * HIST_SLOTS + i;
			if (m->slot_idx[slot] >= hfirst && m->slot_idx[slot] <= t / win->slot_w)
				hist_merge(h, &m->slots[slot]);
		}
	}
	/* a stop still pending micro-stop classification shows as what it is so far */
	if (m->pending && m->acc_until < t) {
		oeed_ms from = m->pend_start > *ret_start ? m->pend_start : *ret_start;
		if (t > from)
			acc->cat_ms[m->pend_cat] += t - from;
	}
}

static void machine_report(struct engine *e, struct machine *m, oeed_ms t)
{
	struct kpi_acc acc;
	struct hist h;
	struct kpi_values kv;
	for (size_t w = 0; w < e->n_windows; w++) {
		if (!e->windows[w].reported)
			continue;
		oeed_ms start;
		window_sum(e, m, w, t, &acc, &h, &start);
		kpi_compute(&acc, t - start, acc.cycles ? &h : NULL, &kv);
		if (e->sink.kpi)
			e->sink.kpi(e->sink.ctx, &m->info, e->windows[w].label, start, t, &kv,
				    false);
	}
	for (int p = 0; p < PERIOD__COUNT; p++) {
		if (!e->period_on[p] || !e->cfg->report.periods[p])
			continue;
		struct period_state *ps = m->periods[p];
		if (t <= ps->start)
			continue; /* nothing yet; also keeps this record off the final's timestamp
				   */
		acc = ps->acc;
		if (m->pending && m->acc_until < t) {
			oeed_ms from = OEED_MAX(m->pend_start, ps->start);
			acc.cat_ms[m->pend_cat] += t - from;
		}
		emit_period(e, m, p, t, false, &acc, period_hist(e, m, p, false), ps->start);
		emit_losses(e, m, p, ps->start, t, false, false);
	}
}

/* ---- contracts ---- */

/* The time and failures of the contract's planned_reasons in one machine's accumulator. */
static void contract_planned(const struct contract_state *cs, oeed_ms (*reason_ms)[CAT__COUNT],
			     const uint32_t *reason_fail, struct contract_part *part)
{
	for (size_t r = 0; reason_ms && r < cs->c->n_planned_reasons; r++) {
		int ri = cs->reason_idx[r];
		if (ri < 0)
			continue;
		for (int c = 0; c < CAT__COUNT; c++)
			if (c != CAT_PLANNED)
				part->planned_ms[c] += reason_ms[ri][c];
		part->planned_failures += reason_fail[ri];
	}
}

static void contract_emit(struct engine *e, struct contract_state *cs, oeed_ms pstart, oeed_ms pend,
			  oeed_ms ts, bool final, bool use_last)
{
	const struct oeed_contract *c = cs->c;
	struct contract_pool pool;
	struct hist h;
	contract_pool_init(&pool);
	for (size_t i = 0; i < e->n_machines; i++) {
		struct machine *m = &e->machines[i];
		if (!contract_pool_matches(c, m->id))
			continue;
		oeed_ms mt = machine_clock(m, e->now);
		struct contract_part part;
		memset(&part, 0, sizeof(part));
		oeed_ms(*reason_ms)[CAT__COUNT] = NULL;
		const uint32_t *reason_fail = NULL;
		if (c->rolling) {
			oeed_ms start;
			window_sum(e, m, (size_t)cs->window, mt, &part.acc, &h, &start);
			part.span = mt - start;
		} else {
			struct period_state *ps = m->periods[c->period];
			if (!ps)
				continue;
			if (use_last) {
				if (ps->last_end != pend)
					continue;
				part.acc = ps->last_acc;
				const struct hist *ph = period_hist(e, m, c->period, true);
				if (ph)
					h = *ph;
				else
					hist_clear(&h);
				part.span = pend - pstart;
				reason_ms = ps->last_reason_ms;
				reason_fail = ps->last_reason_failures;
			} else {
				if (ps->start != pstart)
					continue;
				part.acc = ps->acc;
				const struct hist *ph = period_hist(e, m, c->period, false);
				if (ph)
					h = *ph;
				else
					hist_clear(&h);
				part.span = OEED_MIN(mt, pend) - pstart;
				if (part.span < 0)
					part.span = 0;
				reason_ms = ps->reason_ms;
				reason_fail = ps->reason_failures;
			}
		}
		part.hist = &h;
		part.rest = c->rolling || final ? 0 : OEED_MAX(0, pend - pstart - part.span);
		part.ideal_s = m->ideal_s;
		part.down_now = m->has_state && m->cat == CAT_DOWN;
		contract_planned(cs, reason_ms, reason_fail, &part);
		contract_pool_add(&pool, c, &part);
	}

	struct contract_result r;
	memset(&r, 0, sizeof(r));
	r.contract = c;
	r.period_label = c->rolling ? e->windows[cs->window].label : period_name(c->period);
	r.period_start = pstart;
	r.period_end = pend;
	r.ts = ts;
	r.final = final;
	contract_pool_eval(&pool, c, &r);
	r.shift = c->rolling ? NULL : period_shift_name(e, c->period, pstart);
	r.has_prev = cs->has_last;
	r.prev_status = cs->last_status;
	cs->has_last = !final; /* a new period starts without history */
	cs->last_status = r.status;
	if (e->sink.contract)
		e->sink.contract(e->sink.ctx, &r);
}

static void contracts_advance(struct engine *e, bool report)
{
	for (size_t i = 0; i < e->n_contracts; i++) {
		struct contract_state *cs = &e->contracts[i];
		const struct oeed_contract *c = cs->c;
		if (c->rolling) {
			if (report && cs->window >= 0) {
				/* the span the window's whole buckets cover, as for machine_kpi */
				oeed_ms w = e->windows[cs->window].width;
				oeed_ms start = (e->now / w - (oeed_ms)e->buckets + 1) * w;
				contract_emit(e, cs, start, e->now, e->now, false, false);
			}
			continue;
		}
		if (cs->end == 0) {
			if (calendar_period(e->cal, c->period, e->now, &cs->start, &cs->end, NULL) <
			    0)
				continue;
		}
		/* the period is final once every matched machine has moved past its end */
		while (e->now >= cs->end) {
			bool all_past = true;
			for (size_t m = 0; m < e->n_machines && all_past; m++)
				if (contract_pool_matches(c, e->machines[m].id) &&
				    e->machines[m].periods[c->period] &&
				    (e->machines[m].periods[c->period]->start < cs->end ||
				     (e->machines[m].periods[c->period]->last_end == cs->end &&
				      !e->machines[m].periods[c->period]->last_final)))
					all_past = false;
			if (!all_past)
				break;
			contract_emit(e, cs, cs->start, cs->end, cs->end, true, true);
			oeed_ms s, en;
			if (calendar_period(e->cal, c->period, cs->end, &s, &en, NULL) < 0)
				break;
			cs->start = s;
			cs->end = en;
		}
		/* An ended period whose final waits for late events gets no interim records: its
		 * machines have moved on (the pooled figure would read no_data), and one stamped at
		 * the end would collide with the final. Interims resume with the next period. */
		if (report && e->now > cs->start && e->now < cs->end)
			contract_emit(e, cs, cs->start, cs->end, e->now, false, false);
	}
}

void engine_advance(struct engine *e, oeed_ms now)
{
	if (now > e->now)
		e->now = now;
	for (size_t i = 0; i < e->n_machines; i++) {
		struct machine *m = &e->machines[i];
		if (m->acc_until != OEED_MS_NONE)
			machine_advance(e, m, machine_clock(m, now));
	}
	contracts_advance(e, false);
}

void engine_flush(struct engine *e)
{
	for (size_t i = 0; i < e->n_machines; i++)
		for (int p = 0; p < PERIOD__COUNT; p++)
			if (e->period_on[p] && e->machines[i].acc_until != OEED_MS_NONE)
				period_final(e, &e->machines[i], p);
	contracts_advance(e, false);
}

void engine_report(struct engine *e, oeed_ms now)
{
	if (now > e->now)
		e->now = now;
	for (size_t i = 0; i < e->n_machines; i++) {
		struct machine *m = &e->machines[i];
		if (m->acc_until == OEED_MS_NONE)
			continue;
		oeed_ms t = machine_clock(m, now);
		machine_advance(e, m, t);
		machine_report(e, m, t);
	}
	contracts_advance(e, true);
}

void engine_get_stats(const struct engine *e, struct engine_stats *ret)
{
	*ret = e->stats;
	ret->machines = e->n_machines;
}

/* ---- checkpoints and reload ---- */

#define SAVE_MAGIC "OEEDENG1"

struct save_header {
	char magic[8];
	uint64_t layout;
	uint64_t machine_size;
	uint64_t extra;
	uint64_t n_machines;
	int64_t now;
	struct engine_stats stats;
};

int engine_save(const struct engine *e, struct strbuf *out)
{
	struct save_header h;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, SAVE_MAGIC, 8);
	h.layout = e->layout;
	h.machine_size = sizeof(struct machine);
	h.extra = e->extra;
	h.n_machines = e->n_machines;
	h.now = e->now;
	h.stats = e->stats;
	strbuf_append(out, (const char *)&h, sizeof(h));
	for (size_t i = 0; i < e->n_machines; i++) {
		struct machine c = e->machines[i];
		/* pointers become offsets into the machine's own tag buffer */
		for (size_t t = 0; t < c.info.n_tags; t++) {
			c.info.tag[t].key =
			    (const char *)(uintptr_t)(c.info.tag[t].key - e->machines[i].tagbuf);
			c.info.tag[t].value =
			    (const char *)(uintptr_t)(c.info.tag[t].value - e->machines[i].tagbuf);
		}
		c.info.id = NULL;
		c.buckets = NULL;
		c.slots = NULL;
		c.slot_idx = NULL;
		c.tl = NULL;
		c.cs = NULL;
		memset(c.periods, 0, sizeof(c.periods));
		strbuf_append(out, (const char *)&c, sizeof(c));
		strbuf_append(out, e->arena + i * e->extra, e->extra);
	}
	return out->failed ? -ENOMEM : 0;
}

int engine_load(struct engine *e, const void *buf, size_t len, bool *ret_full,
		struct oeed_error *err)
{
	const char *p = buf;
	struct save_header h;
	if (len < sizeof(h)) {
		snprintf(err->msg, sizeof(err->msg), "engine state: truncated header");
		return -EINVAL;
	}
	memcpy(&h, p, sizeof(h));
	if (memcmp(h.magic, SAVE_MAGIC, 8) != 0 || h.machine_size != sizeof(struct machine)) {
		snprintf(err->msg, sizeof(err->msg),
			 "engine state: incompatible format (written by another version)");
		return -EINVAL;
	}
	size_t rec = sizeof(struct machine) + h.extra;
	if (h.n_machines > (len - sizeof(h)) / (rec ? rec : 1)) {
		snprintf(err->msg, sizeof(err->msg), "engine state: truncated (%llu machines)",
			 (unsigned long long)h.n_machines);
		return -EINVAL;
	}
	bool full = h.layout == e->layout && h.extra == e->extra;
	p += sizeof(h);
	int restored = 0;
	for (uint64_t i = 0; i < h.n_machines; i++, p += rec) {
		struct machine c;
		memcpy(&c, p, sizeof(c));
		c.id[ENGINE_ID_MAX] = '\0';
		int mi = engine_machine(e, c.id, strlen(c.id), NULL, 0);
		if (mi < 0)
			continue; /* empty id, or over machines.max in the new config */
		struct machine *m = &e->machines[mi];
		memcpy(m->tagbuf, c.tagbuf, sizeof(m->tagbuf));
		m->tagbuf[sizeof(m->tagbuf) - 1] = '\0';
		m->info.n_tags = 0;
		for (size_t t = 0; t < c.info.n_tags && t < OEED_MAX_TEMPLATE_VARS; t++) {
			uintptr_t ko = (uintptr_t)c.info.tag[t].key,
				  vo = (uintptr_t)c.info.tag[t].value;
			if (ko >= sizeof(m->tagbuf) || vo >= sizeof(m->tagbuf))
				break;
			m->info.tag[t].key = m->tagbuf + ko;
			m->info.tag[t].value = m->tagbuf + vo;
			m->info.n_tags = t + 1;
		}
		m->has_state = c.has_state;
		m->cat = c.cat < CAT__COUNT ? c.cat : CAT_UNKNOWN;
		memcpy(m->raw, c.raw, sizeof(m->raw));
		m->raw[ENGINE_RAW_MAX] = '\0';
		memcpy(m->reason, c.reason, sizeof(m->reason));
		m->reason[ENGINE_REASON_MAX] = '\0';
		m->reason_idx = reason_index(e, m->reason);
		m->state_since = c.state_since;
		m->state_hash = c.state_hash;
		m->acc_until = c.acc_until;
		m->acc_hi = c.acc_hi;
		m->hold = OEED_MAX(m->lateness, c.hold);
		m->last_ts = c.last_ts;
		m->last_rx = c.last_rx;
		m->last_seen = c.last_seen;
		memcpy(m->counter_last, c.counter_last, sizeof(m->counter_last));
		memcpy(m->counter_has, c.counter_has, sizeof(m->counter_has));
		m->last_cycle_ts = c.last_cycle_ts;
		/* Unknown with counters kept: still in a restart gap (staleness and death clear
		 * them), so its bound holds across a reload too. */
		m->continue_until = OEED_MS_NONE;
		if (m->has_state && m->cat == CAT_UNKNOWN &&
		    memchr(m->counter_has, true, sizeof(m->counter_has)))
			m->continue_until = restart_continue_until(m);
		/* a pending micro-stop is the current stop, so its reason is the current one */
		m->pending = c.pending && m->microstop_below > 0;
		m->pend_cat = c.pend_cat < CAT__COUNT ? c.pend_cat : CAT_IDLE;
		m->pend_start = c.pend_start;
		m->pend_reason_idx = m->reason_idx;
		if (full) {
			memcpy(e->arena + (size_t)mi * e->extra, p + sizeof(struct machine),
			       e->extra);
			m->tl_n = c.tl_n <= e->tl_len ? c.tl_n : 0;
			m->tl_head = e->tl_len ? c.tl_head % e->tl_len : 0;
			m->tl_cur = c.tl_cur < (int)m->tl_n ? c.tl_cur : -1;
			m->tl_lost = c.tl_lost;
			for (int k = 0; k < CNT__COUNT; k++) {
				m->cs_n[k] = c.cs_n[k] <= CS_LEN ? c.cs_n[k] : 0;
				m->cs_head[k] = (uint8_t)(c.cs_head[k] & (CS_LEN - 1));
				m->cs_lost[k] = c.cs_lost[k];
			}
		} else if (m->acc_until != OEED_MS_NONE) {
			/* windows and periods changed shape: they start afresh from here, and
			 * nothing before can be re-accounted */
			for (int k = 0; k < PERIOD__COUNT; k++)
				if (e->period_on[k]) {
					period_open(e, m, k, m->acc_until);
					m->periods[k]->last_final = true;
				}
			m->tl_lost = true;
			memset(m->cs_lost, 1, sizeof(m->cs_lost));
		}
		m->finals_wait = m->acc_until != OEED_MS_NONE && finals_waiting(e, m);
		restored++;
	}
	if (h.now > e->now)
		e->now = h.now;
	e->stats.late += h.stats.late;
	e->stats.reordered += h.stats.reordered;
	e->stats.skewed += h.stats.skewed;
	e->stats.counter_resets += h.stats.counter_resets;
	e->stats.machines_dropped += h.stats.machines_dropped;
	if (ret_full)
		*ret_full = full;
	return restored;
}

void engine_gap(struct engine *e, const char *reason)
{
	for (size_t i = 0; i < e->n_machines; i++) {
		struct machine *m = &e->machines[i];
		if (m->acc_until == OEED_MS_NONE)
			continue;
		/* The daemon's absence is no gap in the machine's counter: what the broker kept
		 * for the persistent session arrives next, with its own timestamps. The counters
		 * go on (the spec says baseline; docs/kpi.md "Counts" says why not here) unless the
		 * machine's next event comes later than a daemon that stayed up would have
		 * waited before calling it stale. Also for a machine already unknown from an
		 * earlier restart (checkpointed with its counters); stale or dead machines have
		 * none left. */
		m->continue_until = restart_continue_until(m);
		if (m->has_state && m->cat == CAT_UNKNOWN)
			continue;
		oeed_ms t = OEED_MAX(m->last_ts, m->acc_until);
		if (m->pending)
			t = OEED_MAX(t, m->pend_start);
		set_state(e, m, t, CAT_UNKNOWN, "", 0, reason, true);
	}
}

/* ---- read-only queries ---- */

size_t engine_machine_count(const struct engine *e)
{
	return e->n_machines;
}

int engine_machine_view(const struct engine *e, size_t i, struct engine_machine_view *ret)
{
	if (i >= e->n_machines)
		return -ENOENT;
	const struct machine *m = &e->machines[i];
	ret->info = &m->info;
	ret->has_state = m->has_state;
	ret->cat = m->has_state ? m->cat : CAT_UNKNOWN;
	ret->raw = m->has_state ? m->raw : "";
	ret->reason = m->has_state ? m->reason : "";
	ret->since = m->has_state ? m->state_since : OEED_MS_NONE;
	ret->last_seen = m->last_ts == OEED_MS_NONE ? OEED_MS_NONE : m->last_seen;
	return 0;
}

size_t engine_machine_index(const struct engine *e, const struct engine_machine_info *info)
{
	const struct machine *m =
	    (const struct machine *)((const char *)info - offsetof(struct machine, info));
	return (size_t)(m - e->machines);
}
