/* Unit tests for the engine: every figure here was computed by hand from the event list
 * next to it. Times are seconds after T0 = 2026-11-02 06:00:00 UTC unless said otherwise. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "engine.h"
#include "testutil.h"

#define T0   1793599200000LL /* 2026-11-02T06:00:00Z */
#define S(x) (T0 + (oeed_ms)((x)*1000))
#define DAY0 (T0 - 6 * 3600000LL)

struct rec {
	char machine[32];
	char label[16];
	bool final;
	oeed_ms start, end;
	struct kpi_values kv;
};

struct state_rec {
	char machine[32];
	oeed_ms ts;
	enum oeed_category cat;
	char raw[32], reason[32];
	double prev;
};

struct loss_rec {
	char label[16];
	bool final;
	oeed_ms start, end;
	enum oeed_category cat;
	char reason[32];
	oeed_ms ms;
	uint32_t events;
};

struct stop_rec {
	enum oeed_category cat;
	char reason[32];
	oeed_ms start, end;
};

struct capture {
	struct rec kpi[16384];
	size_t n_kpi;
	struct loss_rec loss[4096];
	size_t n_loss;
	struct stop_rec stop[64];
	size_t n_stop;
	struct state_rec st[256];
	size_t n_st;
	struct contract_result con[256];
	char con_status[256][16];
	size_t n_con;
};

static void cap_state(void *ctx, const struct engine_machine_info *m, oeed_ms ts,
		      enum oeed_category cat, const char *raw, const char *reason, double prev)
{
	struct capture *c = ctx;
	if (c->n_st >= 256)
		return;
	struct state_rec *s = &c->st[c->n_st++];
	snprintf(s->machine, sizeof(s->machine), "%s", m->id);
	s->ts = ts;
	s->cat = cat;
	snprintf(s->raw, sizeof(s->raw), "%s", raw);
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	s->prev = prev;
}

static void cap_kpi(void *ctx, const struct engine_machine_info *m, const char *label,
		    oeed_ms start, oeed_ms end, const struct kpi_values *kv, bool final)
{
	struct capture *c = ctx;
	if (c->n_kpi >= 16384)
		return;
	struct rec *r = &c->kpi[c->n_kpi++];
	snprintf(r->machine, sizeof(r->machine), "%s", m->id);
	snprintf(r->label, sizeof(r->label), "%s", label);
	r->final = final;
	r->start = start;
	r->end = end;
	r->kv = *kv;
}

static void cap_contract(void *ctx, const struct contract_result *r)
{
	struct capture *c = ctx;
	if (c->n_con >= 256)
		return;
	c->con[c->n_con] = *r;
	snprintf(c->con_status[c->n_con], 16, "%s", contract_status_name(r->status));
	c->n_con++;
}

static void cap_loss(void *ctx, const struct engine_machine_info *m, const struct engine_loss *l)
{
	(void)m;
	struct capture *c = ctx;
	if (c->n_loss >= 4096)
		return;
	struct loss_rec *r = &c->loss[c->n_loss++];
	snprintf(r->label, sizeof(r->label), "%s", l->label);
	snprintf(r->reason, sizeof(r->reason), "%s", l->reason);
	r->final = l->final;
	r->start = l->window_start;
	r->end = l->window_end;
	r->cat = l->cat;
	r->ms = l->time_ms;
	r->events = l->events;
}

static void cap_stop(void *ctx, const struct engine_machine_info *m, const struct engine_stop *st)
{
	(void)m;
	struct capture *c = ctx;
	if (c->n_stop >= 64)
		return;
	struct stop_rec *r = &c->stop[c->n_stop++];
	r->cat = st->cat;
	snprintf(r->reason, sizeof(r->reason), "%s", st->reason);
	r->start = st->start;
	r->end = st->end;
}

/* the last record for machine/label/final */
static const struct rec *find(const struct capture *c, const char *m, const char *label, bool final)
{
	for (size_t i = c->n_kpi; i-- > 0;)
		if (strcmp(c->kpi[i].machine, m) == 0 && strcmp(c->kpi[i].label, label) == 0 &&
		    c->kpi[i].final == final)
			return &c->kpi[i];
	return NULL;
}

static double val(const struct rec *r, enum kpi_field f)
{
	if (!r || !kpi_has(&r->kv, f))
		return NAN;
	return r->kv.v[f];
}

struct fixture {
	struct oeed_config cfg;
	struct oeed_source cycle_source; /* cycles are kept only when some source carries them */
	struct oeed_contract contract;
	char *cm[1];
	struct calendar *cal;
	struct engine *e;
	struct capture cap;
};

/* The common config; a test may change it before fixture_start(). */
static void fixture_config(struct fixture *f, oeed_ms stale, oeed_ms microstop, size_t max,
			   bool contract)
{
	memset(f, 0, sizeof(*f));
	struct oeed_config *c = &f->cfg;
	c->max_clock_skew_ms = 300000;
	c->machines.defaults.ideal_cycle_ms = 2000;
	c->machines.defaults.stale_after_ms = stale;
	c->machines.defaults.microstop_below_ms = microstop;
	c->machines.max = max;
	c->report.interval_ms = 10000;
	c->report.windows_ms[0] = 3600000;
	c->report.n_windows = 1;
	c->report.periods[PERIOD_DAY] = true;
	c->report.window_buckets = 60;
	c->report.timezone = "UTC";
	f->cycle_source.signal = SIG_CYCLE;
	c->sources = &f->cycle_source;
	c->n_sources = 1;
	if (contract) {
		f->cm[0] = "press-*";
		f->contract.name = "avail";
		f->contract.machines = f->cm;
		f->contract.n_machines = 1;
		f->contract.kpi = KPI_AVAILABILITY;
		f->contract.period = PERIOD_DAY;
		f->contract.target = 0.9;
		f->contract.minimum = 0.8;
		f->contract.higher_is_better = true;
		f->contract.planned_reasons[0] = "no_material";
		f->contract.n_planned_reasons = 1;
		c->contracts = &f->contract;
		c->n_contracts = 1;
	}
}

static void fixture_start(struct fixture *f)
{
	struct oeed_config *c = &f->cfg;
	struct oeed_error err = {{0}};
	CHECK_INT(
	    calendar_new(c->report.timezone, c->report.shifts, c->report.n_shifts, &f->cal, &err),
	    0);
	struct engine_sink sink = {.ctx = &f->cap,
				   .state = cap_state,
				   .kpi = cap_kpi,
				   .contract = cap_contract,
				   .loss = cap_loss,
				   .stop = cap_stop};
	CHECK_INT(engine_new(c, f->cal, &sink, &f->e, &err), 0);
}

static void setup(struct fixture *f, oeed_ms stale, oeed_ms microstop, size_t max, bool contract)
{
	fixture_config(f, stale, microstop, max, contract);
	fixture_start(f);
}

static void teardown(struct fixture *f)
{
	engine_free(f->e);
	calendar_free(f->cal);
}

static void st(struct fixture *f, int m, double t, enum oeed_category c, const char *raw,
	       const char *reason)
{
	engine_state(f->e, m, S(t), S(t), c, raw, strlen(raw), reason);
}

static void test_basic_kpis(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	setup(f, 0, 0, 4, false);
	int m = engine_machine(f->e, "press-01", 8, NULL, 0);
	CHECK_INT(m, 0);
	st(f, m, 0, CAT_RUNNING, "RUNNING", "");
	engine_count(f->e, m, S(0), S(0), CNT_TOTAL, 1000, COUNTS_CUMULATIVE); /* baseline */
	engine_count(f->e, m, S(600), S(600), CNT_TOTAL, 1250, COUNTS_CUMULATIVE);
	st(f, m, 600, CAT_DOWN, "FAULT", "fault");
	st(f, m, 900, CAT_RUNNING, "RUNNING", "");
	engine_count(f->e, m, S(1800), S(1800), CNT_TOTAL, 1600, COUNTS_CUMULATIVE);
	st(f, m, 1800, CAT_IDLE, "IDLE", "starved");
	st(f, m, 2400, CAT_PLANNED, "BREAK", "break");
	st(f, m, 3000, CAT_RUNNING, "RUNNING", "");
	engine_report(f->e, S(3600));

	/* evidence: 6 changes, with the previous state's duration */
	CHECK_INT(f->cap.n_st, 6);
	CHECK_STR(f->cap.st[1].raw, "FAULT");
	CHECK_STR(f->cap.st[1].reason, "fault");
	CHECK_NEAR(f->cap.st[1].prev, 600, 1e-9);
	CHECK_NEAR(f->cap.st[0].prev, -1, 1e-9);

	/* day: 00:00 .. 07:00 = 25200 s, seen from 06:00 */
	const struct rec *d = find(&f->cap, "press-01", "day", false);
	CHECK(d != NULL);
	CHECK_INT(d ? d->start : 0, DAY0);
	CHECK_NEAR(val(d, KF_RUN_S), 2100, 1e-9);
	CHECK_NEAR(val(d, KF_DOWN_S), 300, 1e-9);
	CHECK_NEAR(val(d, KF_IDLE_S), 600, 1e-9);
	CHECK_NEAR(val(d, KF_PLANNED_S), 600, 1e-9);
	CHECK_NEAR(val(d, KF_UNKNOWN_S), 21600, 1e-9);
	CHECK_NEAR(val(d, KF_COVERAGE), 3600.0 / 25200.0, 1e-12);
	CHECK_NEAR(val(d, KF_PPT_S), 3000, 1e-9);
	CHECK_NEAR(val(d, KF_AVAILABILITY), 0.7, 1e-12);
	CHECK_NEAR(val(d, KF_UPTIME), 0.9, 1e-12);
	CHECK_NEAR(val(d, KF_PERFORMANCE), 2.0 * 600 / 2100, 1e-12);
	CHECK_NEAR(val(d, KF_TOTAL_COUNT), 600, 0);
	CHECK(isnan(val(d, KF_QUALITY))); /* only total given: quality undefined */
	CHECK(isnan(val(d, KF_OEE)));
	CHECK_NEAR(val(d, KF_FAILURES), 1, 0);
	CHECK_NEAR(val(d, KF_MTBF_S), 2100, 1e-9);
	CHECK_NEAR(val(d, KF_MTTR_S), 300, 1e-9);
	CHECK_NEAR(val(d, KF_DOWN_RUN_RATIO), 300.0 / 2100, 1e-12);
	CHECK_NEAR(val(d, KF_RATE_PER_H), 720, 1e-9);
	CHECK_NEAR(val(d, KF_CYCLE_COUNT), 0, 0);
	CHECK(isnan(val(d, KF_CYCLE_AVG_S)));

	/* 1h window at 07:00 with 60 s buckets covers 06:01 .. 07:00 */
	const struct rec *w = find(&f->cap, "press-01", "1h", false);
	CHECK(w != NULL);
	CHECK_INT(w ? w->start : 0, S(60));
	CHECK_INT(w ? w->end : 0, S(3600));
	CHECK_NEAR(val(w, KF_RUN_S), 2040, 1e-9);
	CHECK_NEAR(val(w, KF_UNKNOWN_S), 0, 1e-9);
	CHECK_NEAR(val(w, KF_AVAILABILITY), 2040.0 / 2940.0, 1e-12);
	CHECK_NEAR(val(w, KF_TOTAL_COUNT), 600, 0);
	teardown(f);
	free(f);
}

static void test_zero_denominators(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	setup(f, 0, 0, 4, false);
	int m = engine_machine(f->e, "m", 1, NULL, 0);
	st(f, m, 0, CAT_PLANNED, "BREAK", "break");
	engine_report(f->e, S(600));
	const struct rec *d = find(&f->cap, "m", "day", false);
	CHECK_NEAR(val(d, KF_PLANNED_S), 600, 1e-9);
	CHECK_NEAR(val(d, KF_PPT_S), 0, 0);
	CHECK(isnan(val(d, KF_AVAILABILITY)));
	CHECK(isnan(val(d, KF_UPTIME)));
	CHECK(isnan(val(d, KF_PERFORMANCE)));
	CHECK(isnan(val(d, KF_DOWN_RUN_RATIO)));
	CHECK(isnan(val(d, KF_MTBF_S)));
	CHECK(isnan(val(d, KF_MTTR_S)));
	CHECK(isnan(val(d, KF_RATE_PER_H)));
	CHECK(isnan(val(d, KF_TOTAL_COUNT))); /* no count signal seen at all */
	CHECK_NEAR(val(d, KF_FAILURES), 0, 0);
	teardown(f);
	free(f);
}

static void test_stale_and_baseline(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	setup(f, 60000, 0, 4, false);
	int m = engine_machine(f->e, "m", 1, NULL, 0);
	st(f, m, 0, CAT_RUNNING, "RUNNING", "");
	engine_count(f->e, m, S(0), S(0), CNT_TOTAL, 10, COUNTS_CUMULATIVE);
	engine_count(f->e, m, S(30), S(30), CNT_TOTAL, 25, COUNTS_CUMULATIVE); /* +15 */
	engine_report(f->e, S(300));
	/* silent after 30 s: unknown from 90 s */
	CHECK_INT(f->cap.n_st, 2);
	CHECK_INT(f->cap.st[1].cat, CAT_UNKNOWN);
	CHECK_INT(f->cap.st[1].ts, S(90));
	CHECK_STR(f->cap.st[1].reason, "stale");
	const struct rec *d = find(&f->cap, "m", "day", false);
	CHECK_NEAR(val(d, KF_RUN_S), 90, 1e-9);
	CHECK_NEAR(val(d, KF_UNKNOWN_S), 6 * 3600 + 210, 1e-9);
	/* back: the first counter value after unknown is a baseline again */
	engine_count(f->e, m, S(400), S(400), CNT_TOTAL, 2000, COUNTS_CUMULATIVE);
	st(f, m, 400, CAT_RUNNING, "RUNNING", "");
	engine_count(f->e, m, S(450), S(450), CNT_TOTAL, 2100, COUNTS_CUMULATIVE);
	engine_report(f->e, S(500));
	d = find(&f->cap, "m", "day", false);
	CHECK_NEAR(val(d, KF_TOTAL_COUNT), 115, 0);
	CHECK_NEAR(val(d, KF_RUN_S), 190, 1e-9);
	teardown(f);
	free(f);
}

/* oeed's own restart (engine_gap) keeps the counters when the machine's next event comes
 * within stale_after of its last sign of life (the broker kept what was published meanwhile);
 * later than that, the first value is a baseline as after staleness. Also across a second
 * restart while still in the gap, from a checkpoint. */
static void test_restart_counters(void)
{
	struct fixture *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	setup(a, 60000, 0, 4, false);
	setup(b, 60000, 0, 4, false);
	int p = engine_machine(a->e, "prompt", 6, NULL, 0);
	int l = engine_machine(a->e, "late", 4, NULL, 0);
	for (int m = 0; m < 2; m++) {
		st(a, m, 0, CAT_RUNNING, "RUNNING", "");
		engine_count(a->e, m, S(0), S(0), CNT_TOTAL, 10, COUNTS_CUMULATIVE);
		engine_count(a->e, m, S(30), S(30), CNT_TOTAL, 25, COUNTS_CUMULATIVE); /* +15 */
	}
	engine_gap(a->e, "restart");
	/* a second restart before any message: from the checkpoint written in the gap */
	struct strbuf sb;
	strbuf_init(&sb);
	CHECK_INT(engine_save(a->e, &sb), 0);
	bool full = false;
	struct oeed_error err = {{0}};
	CHECK_INT(engine_load(b->e, sb.buf, sb.len, &full, &err), 2);
	strbuf_free(&sb);
	engine_gap(b->e, "restart");
	/* b: restarted again; a: the same state moved by a reload (engine_save/engine_load,
	 * no new gap): the stale_after bound must hold for both */
	struct fixture *r = calloc(1, sizeof(*r));
	setup(r, 60000, 0, 4, false);
	strbuf_init(&sb);
	CHECK_INT(engine_save(a->e, &sb), 0);
	CHECK_INT(engine_load(r->e, sb.buf, sb.len, &full, &err), 2);
	strbuf_free(&sb);
	struct fixture *both[2] = {b, r};
	for (int k = 0; k < 2; k++) {
		struct fixture *f = both[k];
		p = engine_machine(f->e, "prompt", 6, NULL, 0);
		l = engine_machine(f->e, "late", 4, NULL, 0);
		/* prompt: next event at 40 s (kept by the broker; 10 s after its last one): +2 */
		engine_count(f->e, p, S(40), S(95), CNT_TOTAL, 27, COUNTS_CUMULATIVE);
		st(f, p, 41, CAT_RUNNING, "RUNNING", "");
		engine_count(f->e, p, S(100), S(100), CNT_TOTAL, 30, COUNTS_CUMULATIVE); /* +3 */
		/* late: next event at 91 s, 61 s after its last: a running daemon had called it
		 * stale, so 27 is a baseline */
		st(f, l, 91, CAT_RUNNING, "RUNNING", "");
		engine_count(f->e, l, S(91), S(95), CNT_TOTAL, 27, COUNTS_CUMULATIVE);
		engine_count(f->e, l, S(100), S(100), CNT_TOTAL, 30, COUNTS_CUMULATIVE); /* +3 */
		engine_report(f->e, S(110));
		CHECK_NEAR(val(find(&f->cap, "prompt", "day", false), KF_TOTAL_COUNT), 20, 0);
		CHECK_NEAR(val(find(&f->cap, "late", "day", false), KF_TOTAL_COUNT), 18, 0);
		/* the gap is unknown time all the same: prompt's runs from 30 s to 41 s */
		CHECK_NEAR(val(find(&f->cap, "prompt", "day", false), KF_RUN_S), 30 + 69, 1e-9);
	}
	teardown(a);
	teardown(b);
	teardown(r);
	free(a);
	free(b);
	free(r);
}

static void test_counter_reset_and_increments(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	setup(f, 0, 0, 4, false);
	int m = engine_machine(f->e, "m", 1, NULL, 0);
	st(f, m, 0, CAT_RUNNING, "RUNNING", "");
	engine_count(f->e, m, S(0), S(0), CNT_TOTAL, 100, COUNTS_CUMULATIVE);
	engine_count(f->e, m, S(10), S(10), CNT_TOTAL, 150, COUNTS_CUMULATIVE); /* +50 */
	engine_count(f->e, m, S(20), S(20), CNT_TOTAL, 20, COUNTS_CUMULATIVE);	/* reset: +20 */
	engine_count(f->e, m, S(30), S(30), CNT_REJECT, 3, COUNTS_INCREMENTS);	/* +3 */
	engine_count(f->e, m, S(40), S(40), CNT_REJECT, 2, COUNTS_INCREMENTS);	/* +2 */
	engine_report(f->e, S(100));
	const struct rec *d = find(&f->cap, "m", "day", false);
	CHECK_NEAR(val(d, KF_TOTAL_COUNT), 70, 0);
	CHECK_NEAR(val(d, KF_REJECT_COUNT), 5, 0);
	CHECK_NEAR(val(d, KF_GOOD_COUNT), 65, 0);
	CHECK_NEAR(val(d, KF_QUALITY), 65.0 / 70.0, 1e-12);
	/* oee = ideal * good / ppt = 2 * 65 / 100 */
	CHECK_NEAR(val(d, KF_OEE), 1.3, 1e-12);
	struct engine_stats es;
	engine_get_stats(f->e, &es);
	CHECK_INT(es.counter_resets, 1);
	teardown(f);
	free(f);
}

static void test_microstops(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	setup(f, 0, 30000, 4, false);
	int m = engine_machine(f->e, "m", 1, NULL, 0);
	st(f, m, 0, CAT_RUNNING, "RUNNING", "");
	st(f, m, 100, CAT_IDLE, "IDLE", ""); /* 10 s: a micro-stop, counts as running */
	st(f, m, 110, CAT_RUNNING, "RUNNING", "");
	st(f, m, 200, CAT_DOWN, "FAULT", "fault"); /* 60 s: a real stop and a failure */
	st(f, m, 260, CAT_RUNNING, "RUNNING", "");
	st(f, m, 270, CAT_DOWN, "FAULT", "fault"); /* 20 s micro-stop: no failure */
	st(f, m, 290, CAT_RUNNING, "RUNNING", "");
	engine_report(f->e, S(300));
	const struct rec *d = find(&f->cap, "m", "day", false);
	CHECK_NEAR(val(d, KF_RUN_S), 240, 1e-9);
	CHECK_NEAR(val(d, KF_DOWN_S), 60, 1e-9);
	CHECK_NEAR(val(d, KF_IDLE_S), 0, 1e-9);
	CHECK_NEAR(val(d, KF_FAILURES), 1, 0);
	/* evidence still shows every raw change */
	CHECK_INT(f->cap.n_st, 7);
	/* a stop still pending at the report shows as what it is so far */
	st(f, m, 300, CAT_DOWN, "FAULT", "fault");
	engine_report(f->e, S(310));
	d = find(&f->cap, "m", "day", false);
	CHECK_NEAR(val(d, KF_DOWN_S), 70, 1e-9);
	CHECK_NEAR(val(d, KF_RUN_S), 240, 1e-9);
	teardown(f);
	free(f);
}

static void test_late_and_skewed(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	setup(f, 0, 0, 4, false);
	int m = engine_machine(f->e, "m", 1, NULL, 0);
	st(f, m, 0, CAT_RUNNING, "RUNNING", "");
	st(f, m, 100, CAT_DOWN, "FAULT", "fault");
	/* received at 200 s but stamped 50 s: late, applied at 100 s (the latest) */
	engine_state(f->e, m, S(50), S(200), CAT_RUNNING, "RUNNING", 7, "");
	/* stamped 1 h ahead of the receive time (300 s): skewed, applied at 300 s */
	engine_state(f->e, m, S(3900), S(300), CAT_IDLE, "IDLE", 4, "");
	engine_report(f->e, S(400));
	struct engine_stats es;
	engine_get_stats(f->e, &es);
	CHECK_INT(es.late, 1);
	CHECK_INT(es.skewed, 1);
	/* max_lateness 0: applied at the latest time, 100 s, where the down state already
	 * starts (a change gets its own millisecond, so it lands at 100.001 s); its evidence
	 * keeps its own time */
	CHECK_INT(f->cap.st[2].ts, S(50));
	CHECK_INT(f->cap.st[3].ts, S(300));
	const struct rec *d = find(&f->cap, "m", "day", false);
	/* run 0..100, down 100..100.001, run 100.001..300, idle 300..400 */
	CHECK_NEAR(val(d, KF_RUN_S), 299.999, 1e-9);
	CHECK_NEAR(val(d, KF_IDLE_S), 100, 1e-9);
	CHECK_NEAR(val(d, KF_DOWN_S), 0.001, 1e-9);
	CHECK_NEAR(val(d, KF_FAILURES), 1, 0);
	teardown(f);
	free(f);
}

static void test_period_final_and_clock(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	setup(f, 0, 0, 4, false);
	int m = engine_machine(f->e, "m", 1, NULL, 0);
	/* running from 23:00 on day 0; the machine's clock follows the receive time */
	engine_state(f->e, m, DAY0 + 23 * 3600000LL, DAY0 + 23 * 3600000LL, CAT_RUNNING, "R", 1,
		     "");
	engine_report(f->e, DAY0 + 25 * 3600000LL); /* 01:00 next day */
	const struct rec *fin = find(&f->cap, "m", "day", true);
	CHECK(fin != NULL);
	CHECK_INT(fin ? fin->start : 0, DAY0);
	CHECK_INT(fin ? fin->end : 0, DAY0 + 86400000LL);
	CHECK_NEAR(val(fin, KF_RUN_S), 3600, 1e-9);
	CHECK_NEAR(val(fin, KF_UNKNOWN_S), 23 * 3600, 1e-9);
	CHECK_NEAR(val(fin, KF_COVERAGE), 1.0 / 24, 1e-12);
	const struct rec *d = find(&f->cap, "m", "day", false);
	CHECK_INT(d ? d->start : 0, DAY0 + 86400000LL);
	CHECK_NEAR(val(d, KF_RUN_S), 3600, 1e-9);
	CHECK_NEAR(val(d, KF_UNKNOWN_S), 0, 1e-9);
	teardown(f);
	free(f);
}

static void test_cycles(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	setup(f, 0, 0, 4, false);
	int m = engine_machine(f->e, "m", 1, NULL, 0);
	st(f, m, 0, CAT_RUNNING, "R", "");
	engine_cycle(f->e, m, S(1), S(1), 2.0, true);
	engine_cycle(f->e, m, S(3), S(3), 2.5, true);
	engine_cycle(f->e, m, S(6), S(6), 3.0, true);
	engine_cycle(f->e, m, S(10), S(10), NAN, true); /* 4 s since the previous cycle */
	engine_report(f->e, S(20));
	const struct rec *d = find(&f->cap, "m", "day", false);
	CHECK_NEAR(val(d, KF_CYCLE_COUNT), 4, 0);
	CHECK_NEAR(val(d, KF_CYCLE_AVG_S), 11.5 / 4, 1e-12);
	CHECK_NEAR(val(d, KF_CYCLE_MIN_S), 2.0, 1e-12);
	CHECK_NEAR(val(d, KF_CYCLE_MAX_S), 4.0, 1e-12);
	CHECK_NEAR(val(d, KF_CYCLE_P50_S), 2.5, 2.5 * HIST_REL_ERROR);
	CHECK_NEAR(val(d, KF_TOTAL_COUNT), 4, 0);
	teardown(f);
	free(f);
}

static void test_machines_max(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	setup(f, 0, 0, 2, false);
	CHECK_INT(engine_machine(f->e, "a", 1, NULL, 0), 0);
	CHECK_INT(engine_machine(f->e, "b", 1, NULL, 0), 1);
	CHECK_INT(engine_machine(f->e, "a", 1, NULL, 0), 0);
	CHECK_INT(engine_machine(f->e, "c", 1, NULL, 0), -ENOSPC);
	CHECK_INT(engine_machine(f->e, "", 0, NULL, 0), -EINVAL);
	struct engine_stats es;
	engine_get_stats(f->e, &es);
	CHECK_INT(es.machines_dropped, 1);
	CHECK_INT(es.machines, 2);
	teardown(f);
	free(f);
}

static void test_contract_pooled(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	setup(f, 0, 0, 4, true);
	int a = engine_machine(f->e, "press-01", 8, NULL, 0);
	int b = engine_machine(f->e, "press-02", 8, NULL, 0);
	int x = engine_machine(f->e, "lathe-01", 8, NULL, 0);
	/* a: run 0..3600; b: run 0..1800, down/no_material 1800..3600 (planned for the contract);
	 * lathe is not in the contract */
	st(f, a, 0, CAT_RUNNING, "R", "");
	st(f, b, 0, CAT_RUNNING, "R", "");
	st(f, x, 0, CAT_DOWN, "F", "fault");
	st(f, b, 1800, CAT_DOWN, "NOMAT", "no_material");
	engine_report(f->e, S(3600));
	CHECK(f->cap.n_con >= 1);
	const struct contract_result *r = &f->cap.con[f->cap.n_con - 1];
	CHECK_INT(r->n_machines, 2);
	/* pooled: run 5400 / ppt 5400 -> 1.0 */
	CHECK_NEAR(r->value, 1.0, 1e-12);
	/* worst: the rest of the day (17 h per machine) down: 5400 / (5400 + 2 * 61200) */
	CHECK_NEAR(r->worst_case, 5400.0 / (5400.0 + 2 * 61200.0), 1e-12);
	CHECK_STR(f->cap.con_status[f->cap.n_con - 1], "on_track");
	/* press-01 goes down for the rest of the day: availability falls */
	st(f, a, 3600, CAT_DOWN, "F", "fault");
	engine_report(f->e, S(3600 + 3 * 3600));
	r = &f->cap.con[f->cap.n_con - 1];
	/* run 5400, ppt 5400 + 10800 (a down 3 h) -> 1/3; b's no_material time stays planned */
	CHECK_NEAR(r->value, 5400.0 / 16200.0, 1e-12);
	/* best case: the remaining 14 h of both machines running */
	CHECK_NEAR(r->best_case, (5400.0 + 2 * 50400) / (16200.0 + 2 * 50400), 1e-12);
	CHECK_STR(f->cap.con_status[f->cap.n_con - 1], "below_minimum");
	/* the change is visible to the sink (the daemon logs it) */
	CHECK(r->has_prev);
	CHECK_STR(contract_status_name(r->prev_status), "on_track");
	/* the day ends: a final record, breached */
	engine_report(f->e, DAY0 + 86400000LL + 10000);
	bool found_final = false;
	for (size_t i = 0; i < f->cap.n_con; i++)
		if (f->cap.con[i].final) {
			found_final = true;
			CHECK_INT(f->cap.con[i].period_start, DAY0);
			CHECK_INT(f->cap.con[i].ts, DAY0 + 86400000LL);
			/* run 5400 of ppt 5400 + (24-7)h... a down from 07:00 to 24:00 */
			CHECK_NEAR(f->cap.con[i].value, 5400.0 / (5400.0 + 61200.0), 1e-12);
			CHECK_STR(f->cap.con_status[i], "breached");
		}
	CHECK(found_final);
	teardown(f);
	free(f);
}

/* Calendar periods through the engine, in Europe/Berlin: a machine that runs without a break
 * gets run_s equal to the period's real length. */
static void test_berlin_periods(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	fixture_config(f, 0, 0, 2, false);
	struct oeed_config *c = &f->cfg;
	c->report.n_windows = 0;
	c->report.periods[PERIOD_MONTH] = true;
	c->report.periods[PERIOD_SHIFT] = true;
	c->report.timezone = "Europe/Berlin";
	static struct oeed_shift shifts[3] = {
	    {"early", 6 * 60}, {"late", 14 * 60}, {"night", 22 * 60}};
	c->report.shifts = shifts;
	c->report.n_shifts = 3;
	fixture_start(f);
	int m = engine_machine(f->e, "m", 1, NULL, 0);
	/* running from 2026-09-30 21:00Z (23:00 CEST); the state is repeated every hour until
	 * 2026-11-01 03:00Z, as a machine that reports periodically would */
	const oeed_ms start = 1790802000000LL; /* 2026-09-30T21:00:00Z */
	const oeed_ms stop = 1793502000000LL;  /* 2026-11-01T03:00:00Z */
	for (oeed_ms t = start; t <= stop; t += 3600000)
		engine_state(f->e, m, t, t, CAT_RUNNING, "R", 1, "");
	engine_report(f->e, stop);

	bool saw_month = false, saw_dst_day = false, saw_night = false;
	for (size_t i = 0; i < f->cap.n_kpi; i++) {
		const struct rec *r = &f->cap.kpi[i];
		if (!r->final)
			continue;
		/* October 2026 in Berlin: 2026-09-30T22:00Z .. 2026-10-31T23:00Z = 745 h */
		if (strcmp(r->label, "month") == 0 && r->start == 1790805600000LL) {
			saw_month = true;
			CHECK_INT(r->end, 1793487600000LL);
			CHECK_NEAR(val(r, KF_RUN_S), 745 * 3600.0, 1e-6);
			CHECK_NEAR(val(r, KF_UNKNOWN_S), 0, 1e-6);
			CHECK_NEAR(val(r, KF_AVAILABILITY), 1.0, 1e-12);
		}
		/* 2026-10-25, the autumn change: 25 hours, 2026-10-24T22:00Z .. 2026-10-25T23:00Z
		 */
		if (strcmp(r->label, "day") == 0 && r->start == 1792879200000LL) {
			saw_dst_day = true;
			CHECK_INT(r->end, 1792969200000LL);
			CHECK_NEAR(val(r, KF_RUN_S), 25 * 3600.0, 1e-6);
		}
		/* the night shift from 2026-10-24 22:00 CEST (20:00Z) to 2026-10-25 06:00 CET
		 * (05:00Z) crosses midnight and the change: 9 hours */
		if (strcmp(r->label, "shift") == 0 && r->start == 1792872000000LL) {
			saw_night = true;
			CHECK_INT(r->end, 1792904400000LL);
			CHECK_NEAR(val(r, KF_RUN_S), 9 * 3600.0, 1e-6);
		}
		/* every final day record of the machine's life covers its whole day */
		if (strcmp(r->label, "day") == 0 && r->start > start)
			CHECK_NEAR(val(r, KF_RUN_S), (double)(r->end - r->start) / 1000.0, 1e-6);
	}
	CHECK(saw_month);
	CHECK(saw_dst_day);
	CHECK(saw_night);
	teardown(f);
	free(f);
}

/* A checkpoint taken mid-shift and restored into a fresh engine gives the same figures as the
 * uninterrupted engine; a gap turns machines unknown from their latest time. */
static void feed_second_half(struct fixture *f, int m)
{
	st(f, m, 1800, CAT_DOWN, "FAULT", "fault");
	engine_count(f->e, m, S(1900), S(1900), CNT_TOTAL, 1900, COUNTS_CUMULATIVE);
	st(f, m, 2000, CAT_RUNNING, "RUNNING", "");
	engine_count(f->e, m, S(3000), S(3000), CNT_TOTAL, 2500, COUNTS_CUMULATIVE);
	engine_report(f->e, S(3600));
}

static void test_checkpoint_roundtrip(void)
{
	struct fixture *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	setup(a, 0, 30000, 4, true);
	setup(b, 0, 30000, 4, true);
	int m = engine_machine(a->e, "press-01", 8, NULL, 0);
	st(a, m, 0, CAT_RUNNING, "RUNNING", "");
	engine_count(a->e, m, S(0), S(0), CNT_TOTAL, 1000, COUNTS_CUMULATIVE);
	engine_count(a->e, m, S(900), S(900), CNT_TOTAL, 1600, COUNTS_CUMULATIVE);
	st(a, m, 1000, CAT_IDLE, "IDLE", "starved");
	engine_report(a->e, S(1200));

	struct strbuf sb;
	strbuf_init(&sb);
	CHECK_INT(engine_save(a->e, &sb), 0);
	bool full = false;
	struct oeed_error err = {{0}};
	CHECK_INT(engine_load(b->e, sb.buf, sb.len, &full, &err), 1);
	CHECK(full);
	/* truncated and foreign blobs are refused */
	CHECK_INT(engine_load(b->e, sb.buf, 10, &full, &err), -EINVAL);
	char junk[256] = "NOTOEED!";
	CHECK_INT(engine_load(b->e, junk, sizeof(junk), &full, &err), -EINVAL);
	strbuf_free(&sb);

	int mb = engine_machine(b->e, "press-01", 8, NULL, 0);
	CHECK_INT(mb, 0);
	feed_second_half(a, m);
	feed_second_half(b, mb);
	const struct rec *ra = find(&a->cap, "press-01", "day", false);
	const struct rec *rb = find(&b->cap, "press-01", "day", false);
	CHECK(ra && rb);
	for (int k = 0; ra && rb && k < KF__COUNT; k++) {
		CHECK_INT(kpi_has(&ra->kv, (enum kpi_field)k), kpi_has(&rb->kv, (enum kpi_field)k));
		if (kpi_has(&ra->kv, (enum kpi_field)k))
			CHECK_NEAR(rb->kv.v[k], ra->kv.v[k], 0);
	}
	CHECK_NEAR(val(rb, KF_TOTAL_COUNT), 1500, 0);
	CHECK_NEAR(val(rb, KF_FAILURES), 1, 0);
	const struct rec *wa = find(&a->cap, "press-01", "1h", false);
	const struct rec *wb = find(&b->cap, "press-01", "1h", false);
	CHECK_NEAR(val(wb, KF_RUN_S), val(wa, KF_RUN_S), 0);

	/* the daemon was away: unknown from the latest time (the report at 3600 s) */
	size_t n = b->cap.n_st;
	engine_gap(b->e, "restart");
	CHECK_INT(b->cap.n_st, n + 1);
	CHECK_INT(b->cap.st[n].cat, CAT_UNKNOWN);
	CHECK_INT(b->cap.st[n].ts, S(3600));
	CHECK_STR(b->cap.st[n].reason, "restart");
	st(b, mb, 4000, CAT_RUNNING, "RUNNING", "");
	engine_report(b->e, S(4200));
	rb = find(&b->cap, "press-01", "day", false);
	CHECK_NEAR(val(rb, KF_UNKNOWN_S), 6 * 3600 + 400, 1e-9);
	teardown(a);
	teardown(b);
	free(a);
	free(b);
}

/* A rolling contract (period: 30m) gets its own window ring, not reported as machine_kpi. */
static void test_contract_rolling(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	fixture_config(f, 0, 0, 2, true);
	f->cm[0] = "*";
	f->contract.name = "roll";
	f->contract.rolling = true;
	f->contract.rolling_ms = 1800000;
	f->contract.n_planned_reasons = 0;
	f->cfg.report.periods[PERIOD_DAY] = false;
	fixture_start(f);
	int m = engine_machine(f->e, "m", 1, NULL, 0);
	st(f, m, 0, CAT_RUNNING, "R", "");
	st(f, m, 1800, CAT_DOWN, "F", "fault");
	st(f, m, 2400, CAT_RUNNING, "R", "");
	engine_report(f->e, S(3600));
	/* 30 s buckets: the window covers 1830 s .. 3600 s: down 570 s, run 1200 s */
	const struct contract_result *r = &f->cap.con[f->cap.n_con - 1];
	CHECK_INT(r->period_start, S(1830));
	CHECK_NEAR(r->value, 1200.0 / 1770.0, 1e-12);
	CHECK_NEAR(r->best_case, r->value, 0);
	CHECK_STR(f->cap.con_status[f->cap.n_con - 1], "breached");
	CHECK(!r->final);
	/* only the reported window shows up as machine_kpi */
	for (size_t i = 0; i < f->cap.n_kpi; i++)
		CHECK_STR(f->cap.kpi[i].label, "1h");
	teardown(f);
	free(f);
}

/* Two changes in the same millisecond get distinct times; a message in that same millisecond
 * afterwards is not late (the rule goes by event times as received). */
static void test_same_millisecond(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	setup(f, 0, 0, 4, false);
	int m = engine_machine(f->e, "m", 1, NULL, 0);
	st(f, m, 0, CAT_RUNNING, "R", "");
	st(f, m, 10, CAT_DOWN, "F", "fault");
	st(f, m, 10, CAT_IDLE, "I", "starved");
	engine_count(f->e, m, S(10), S(10), CNT_TOTAL, 5, COUNTS_INCREMENTS);
	st(f, m, 10, CAT_RUNNING, "R", "");
	engine_report(f->e, S(20));
	CHECK_INT(f->cap.n_st, 4);
	CHECK_INT(f->cap.st[1].ts, S(10));
	CHECK_INT(f->cap.st[2].ts, S(10) + 1);
	CHECK_INT(f->cap.st[3].ts, S(10) + 2);
	struct engine_stats es;
	engine_get_stats(f->e, &es);
	CHECK_INT(es.late, 0);
	const struct rec *d = find(&f->cap, "m", "day", false);
	CHECK_NEAR(val(d, KF_DOWN_S), 0.001, 1e-9);
	CHECK_NEAR(val(d, KF_IDLE_S), 0.001, 1e-9);
	CHECK_NEAR(val(d, KF_RUN_S), 19.998, 1e-9);
	CHECK_NEAR(val(d, KF_TOTAL_COUNT), 5, 0);
	teardown(f);
	free(f);
}

/* Late and buffered events land at their own time (docs/kpi.md "Time"): random streams of
 * three machines (states, cumulative and incremental counts, cycles) delivered shuffled
 * within max_lateness, with report-tick advances in between, give the same day finals as the
 * same events sorted by event time. */
struct tev {
	int m, kind;
	oeed_ms ts, rx;
	int cat;
	double v;
};

static uint64_t rng_state;
static unsigned rnd(unsigned n)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned)((rng_state >> 33) % n);
}

static int tev_by_rx(const void *a, const void *b)
{
	const struct tev *x = a, *y = b;
	if (x->rx != y->rx)
		return x->rx < y->rx ? -1 : 1;
	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

static void run_stream(struct fixture *f, oeed_ms microstop, const struct tev *ev, size_t n)
{
	fixture_config(f, 0, microstop, 4, false);
	f->cfg.machines.defaults.max_lateness_ms = 600000;
	fixture_start(f);
	static const char *const names[] = {"m0", "m1", "m2"};
	static const char *const raw[] = {"RUN", "IDLE", "FAULT", "BREAK"};
	static const enum oeed_category cats[] = {CAT_RUNNING, CAT_IDLE, CAT_DOWN, CAT_PLANNED};
	oeed_ms next_tick = (ev[0].rx / 10000 + 1) * 10000;
	for (size_t i = 0; i < n; i++) {
		for (; next_tick <= ev[i].rx; next_tick += 10000)
			engine_advance(f->e, next_tick);
		int m = engine_machine(f->e, names[ev[i].m], 2, NULL, 0);
		switch (ev[i].kind) {
		case 0:
			engine_state(f->e, m, ev[i].ts, ev[i].rx, cats[ev[i].cat], raw[ev[i].cat],
				     strlen(raw[ev[i].cat]), ev[i].cat == 2 ? "fault" : "");
			break;
		case 1:
			engine_count(f->e, m, ev[i].ts, ev[i].rx, CNT_TOTAL, ev[i].v,
				     COUNTS_CUMULATIVE);
			break;
		case 2:
			engine_count(f->e, m, ev[i].ts, ev[i].rx, CNT_GOOD, ev[i].v,
				     COUNTS_INCREMENTS);
			break;
		default:
			engine_cycle(f->e, m, ev[i].ts, ev[i].rx, ev[i].v, false);
		}
	}
	engine_advance(f->e, ev[n - 1].rx + 86400000);
}

static void test_late_events_sorted_equal(void)
{
	enum { N = 9000 };
	struct tev *ev = calloc(N, sizeof(*ev));
	struct fixture *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	for (oeed_ms microstop = 0; microstop <= 30000; microstop += 30000) {
		rng_state = 14 + (uint64_t)microstop;
		size_t n = 0;
		for (int m = 0; m < 3; m++) {
			oeed_ms t = DAY0 + 3600000 * 20 + rnd(60000);
			double counter = 1000;
			while (n < (size_t)(m + 1) * N / 3 && t < DAY0 + 3 * 86400000LL) {
				struct tev *x = &ev[n++];
				x->m = m;
				x->ts = t;
				unsigned k = rnd(10);
				x->kind = k < 3 ? 0 : k < 5 ? 1 : k < 8 ? 2 : 3;
				x->cat = (int)rnd(4);
				if (x->kind == 1)
					x->v = (counter += rnd(40));
				else if (x->kind == 2)
					x->v = rnd(5);
				else
					x->v = 1.5 + rnd(100) / 10.0;
				t += 20000 + rnd(100000); /* a few events per max_lateness */
			}
		}
		for (size_t i = 0; i < n; i++)
			ev[i].rx = ev[i].ts;
		qsort(ev, n, sizeof(*ev), tev_by_rx);
		run_stream(a, microstop, ev, n);
		for (size_t i = 0; i < n; i++)
			ev[i].rx = ev[i].ts + rnd(540000); /* delivered up to 9 min late */
		qsort(ev, n, sizeof(*ev), tev_by_rx);
		run_stream(b, microstop, ev, n);
		struct engine_stats sa, sb;
		engine_get_stats(a->e, &sa);
		engine_get_stats(b->e, &sb);
		CHECK_INT(sa.late, 0);
		CHECK_INT(sb.late, 0);
		CHECK(sb.reordered > n / 4);
		size_t finals = 0, mismatched = 0;
		for (size_t i = 0; i < a->cap.n_kpi; i++) {
			const struct rec *ra = &a->cap.kpi[i];
			if (!ra->final)
				continue;
			finals++;
			const struct rec *rb = NULL;
			for (size_t j = 0; j < b->cap.n_kpi && !rb; j++)
				if (b->cap.kpi[j].final && b->cap.kpi[j].start == ra->start &&
				    strcmp(b->cap.kpi[j].machine, ra->machine) == 0)
					rb = &b->cap.kpi[j];
			CHECK(rb != NULL);
			if (!rb)
				continue;
			for (int k = 0; k < KF__COUNT; k++) {
				bool ha = kpi_has(&ra->kv, (enum kpi_field)k),
				     hb = kpi_has(&rb->kv, (enum kpi_field)k);
				if (ha != hb || (ha && fabs(ra->kv.v[k] - rb->kv.v[k]) > 1e-9)) {
					if (mismatched++ < 5)
						fprintf(stderr,
							"%s day %lld field %d: sorted %.6f, "
							"shuffled %.6f\n",
							ra->machine, (long long)ra->start, k,
							ha ? ra->kv.v[k] : NAN,
							hb ? rb->kv.v[k] : NAN);
				}
			}
		}
		CHECK_INT(finals, 9);
		CHECK_INT(mismatched, 0);
		teardown(a);
		teardown(b);
	}
	free(ev);
	free(a);
	free(b);
}

/* ---- losses by reason (machine_loss) and ended stops (machine_stop) ---- */

static struct oeed_map_entry loss_map[] = {
    {"RUNNING", CAT_RUNNING, ""},   {"FAULT", CAT_DOWN, "fault"},
    {"REPAIR", CAT_DOWN, "repair"}, {"STOP", CAT_IDLE, "short_stop"},
    {"IDLE", CAT_IDLE, "starved"},  {"BREAK", CAT_PLANNED, "break"},
};

static void loss_setup(struct fixture *f, oeed_ms stale, oeed_ms microstop, oeed_ms lateness)
{
	fixture_config(f, stale, microstop, 4, false);
	f->cycle_source.map = loss_map;
	f->cycle_source.n_map = OEED_ARRAY_SIZE(loss_map);
	f->cfg.machines.defaults.max_lateness_ms = lateness;
	fixture_start(f);
}

/* The machine_loss record of the day period ending at `end`, NULL when none was written. */
static const struct loss_rec *loss_at(const struct capture *c, oeed_ms end, bool final,
				      enum oeed_category cat, const char *reason)
{
	for (size_t i = c->n_loss; i-- > 0;) {
		const struct loss_rec *r = &c->loss[i];
		if (r->end == end && r->final == final && r->cat == cat &&
		    strcmp(r->reason, reason) == 0 && strcmp(r->label, "day") == 0)
			return r;
	}
	return NULL;
}

/* Checks one machine_loss record: time in s and entries; events < 0: no record at all. */
#define CHECK_LOSS(f, end_, final_, cat_, reason_, secs_, n_)                                      \
	do {                                                                                       \
		const struct loss_rec *l_ = loss_at(&(f)->cap, end_, final_, cat_, reason_);       \
		if ((n_) < 0) {                                                                    \
			CHECK(l_ == NULL);                                                         \
		} else {                                                                           \
			CHECK(l_ != NULL);                                                         \
			CHECK_INT(l_ ? l_->ms : -1, (oeed_ms)((secs_)*1000));                      \
			CHECK_INT(l_ ? (long long)l_->events : -1, n_);                            \
		}                                                                                  \
	} while (0)

#define CHECK_STOP(f, i, cat_, reason_, start_s, dur_s)                                            \
	do {                                                                                       \
		CHECK((f)->cap.n_stop > (size_t)(i));                                              \
		const struct stop_rec *s_ = &(f)->cap.stop[i];                                     \
		CHECK_INT(s_->cat, cat_);                                                          \
		CHECK_STR(s_->reason, reason_);                                                    \
		CHECK_INT(s_->start, S(start_s));                                                  \
		CHECK_INT(s_->end - s_->start, (oeed_ms)((dur_s)*1000));                           \
	} while (0)

static void test_loss_period_edge(void)
{
	/* A fault from 23:40 to 00:05 spans the day's end (T0 is 06:00, midnight is 64800 s). */
	struct fixture *f = calloc(1, sizeof(*f));
	loss_setup(f, 0, 0, 0);
	int m = engine_machine(f->e, "press-01", 8, NULL, 0);
	st(f, m, 0, CAT_RUNNING, "RUNNING", "");
	st(f, m, 63600, CAT_DOWN, "FAULT", "fault");
	engine_report(f->e, S(64000)); /* interim: the fault so far */
	CHECK_LOSS(f, S(64000), false, CAT_DOWN, "fault", 400, 1);
	CHECK_LOSS(f, S(64000), false, CAT_RUNNING, "", 63600, 1);
	st(f, m, 65100, CAT_RUNNING, "RUNNING", "");
	engine_report(f->e, S(66000));
	/* the day's final: 1200 s of the fault in it, entered in it */
	CHECK_LOSS(f, S(64800), true, CAT_DOWN, "fault", 1200, 1);
	CHECK_LOSS(f, S(64800), true, CAT_RUNNING, "", 63600, 1);
	CHECK_LOSS(f, S(64800), true, CAT_IDLE, "", 0, -1); /* nothing there: no record */
	/* the next day: 300 s of the fault, entered before the day: no entry, no mean */
	CHECK_LOSS(f, S(66000), false, CAT_DOWN, "fault", 300, 0);
	CHECK_LOSS(f, S(66000), false, CAT_RUNNING, "", 900, 1);
	/* one stop, 25 min, stamped with its start */
	CHECK_INT(f->cap.n_stop, 1);
	CHECK_STOP(f, 0, CAT_DOWN, "fault", 63600, 1500);
	/* the day's figures agree */
	const struct rec *d = find(&f->cap, "press-01", "day", true);
	CHECK_NEAR(val(d, KF_DOWN_S), 1200, 1e-9);
	CHECK_NEAR(val(d, KF_FAILURES), 1, 0);
	teardown(f);
	free(f);
}

static void test_loss_reason_change(void)
{
	/* down/fault 100..400, down/repair 400..1000 (one failure, two reasons), a reason the
	 * config does not name 1100..1150 counts as "other", and a raw state change with the
	 * same reason (IDLE, then WAIT: both starved) is a new entry. */
	struct fixture *f = calloc(1, sizeof(*f));
	loss_setup(f, 0, 0, 0);
	int m = engine_machine(f->e, "press-01", 8, NULL, 0);
	st(f, m, 0, CAT_RUNNING, "RUNNING", "");
	st(f, m, 100, CAT_DOWN, "FAULT", "fault");
	st(f, m, 400, CAT_DOWN, "REPAIR", "repair");
	st(f, m, 1000, CAT_RUNNING, "RUNNING", "");
	st(f, m, 1100, CAT_DOWN, "E-STOP", "emergency");
	st(f, m, 1150, CAT_IDLE, "IDLE", "starved");
	st(f, m, 1180, CAT_IDLE, "WAIT", "starved");
	st(f, m, 1200, CAT_RUNNING, "RUNNING", "");
	engine_report(f->e, S(1300));
	CHECK_LOSS(f, S(1300), false, CAT_DOWN, "fault", 300, 1);
	CHECK_LOSS(f, S(1300), false, CAT_DOWN, "repair", 600, 1);
	CHECK_LOSS(f, S(1300), false, CAT_DOWN, "other", 50, 1);
	CHECK_LOSS(f, S(1300), false, CAT_IDLE, "starved", 50, 2);
	CHECK_LOSS(f, S(1300), false, CAT_RUNNING, "", 100 + 100 + 100, 3);
	const struct rec *d = find(&f->cap, "press-01", "day", false);
	CHECK_NEAR(val(d, KF_FAILURES), 2, 0); /* the repair is no new failure */
	CHECK_NEAR(val(d, KF_DOWN_S), 950, 1e-9);
	CHECK_INT(f->cap.n_stop, 5);
	CHECK_STOP(f, 0, CAT_DOWN, "fault", 100, 300);
	CHECK_STOP(f, 1, CAT_DOWN, "repair", 400, 600);
	CHECK_STOP(f, 2, CAT_DOWN, "other", 1100, 50);
	CHECK_STOP(f, 3, CAT_IDLE, "starved", 1150, 30);
	CHECK_STOP(f, 4, CAT_IDLE, "starved", 1180, 20);
	teardown(f);
	free(f);
}

static void test_loss_microstops(void)
{
	/* microstop_below 30 s: STOP 100..110 and a fault 300..310 are run time (no stop point,
	 * no entry, running goes on); IDLE 200..260 is a real stop. */
	struct fixture *f = calloc(1, sizeof(*f));
	loss_setup(f, 0, 30000, 0);
	int m = engine_machine(f->e, "press-01", 8, NULL, 0);
	st(f, m, 0, CAT_RUNNING, "RUNNING", "");
	st(f, m, 100, CAT_IDLE, "STOP", "short_stop");
	st(f, m, 110, CAT_RUNNING, "RUNNING", "");
	st(f, m, 200, CAT_IDLE, "IDLE", "starved");
	st(f, m, 260, CAT_RUNNING, "RUNNING", "");
	st(f, m, 300, CAT_DOWN, "FAULT", "fault");
	st(f, m, 310, CAT_RUNNING, "RUNNING", "");
	st(f, m, 395, CAT_IDLE, "STOP", "short_stop");
	engine_report(f->e, S(400));
	/* a pending stop shows as what it is so far (5 s, one entry), like machine_kpi */
	CHECK_LOSS(f, S(400), false, CAT_RUNNING, "", 335, 2);
	CHECK_LOSS(f, S(400), false, CAT_IDLE, "starved", 60, 1);
	CHECK_LOSS(f, S(400), false, CAT_IDLE, "short_stop", 5, 1);
	CHECK_LOSS(f, S(400), false, CAT_DOWN, "fault", 0, -1);
	st(f, m, 398, CAT_RUNNING, "RUNNING", "");
	st(f, m, 500, CAT_IDLE, "STOP", "short_stop"); /* reaches the threshold: a real stop */
	engine_report(f->e, S(540));
	CHECK_LOSS(f, S(540), false, CAT_RUNNING, "", 440, 2);
	CHECK_LOSS(f, S(540), false, CAT_IDLE, "short_stop", 40, 1);
	st(f, m, 545, CAT_RUNNING, "RUNNING", "");
	engine_report(f->e, S(600));
	CHECK_LOSS(f, S(600), false, CAT_RUNNING, "", 495, 3);
	CHECK_LOSS(f, S(600), false, CAT_IDLE, "short_stop", 45, 1);
	CHECK_INT(f->cap.n_stop, 2);
	CHECK_STOP(f, 0, CAT_IDLE, "starved", 200, 60);
	CHECK_STOP(f, 1, CAT_IDLE, "short_stop", 500, 45);
	const struct rec *d = find(&f->cap, "press-01", "day", false);
	CHECK_NEAR(val(d, KF_FAILURES), 0, 0);
	CHECK_NEAR(val(d, KF_RUN_S), 495, 1e-9);
	teardown(f);
	free(f);
}

static void test_loss_unknown_gaps(void)
{
	/* stale_after 120 s: a fault at 100 with no message after it turns unknown/stale at
	 * 220; running again at 400; oeed's own restart gap 450..500. Never-seen time (the day
	 * before 06:00) is in unknown_s but in no loss record. */
	struct fixture *f = calloc(1, sizeof(*f));
	loss_setup(f, 120000, 0, 0);
	int m = engine_machine(f->e, "press-01", 8, NULL, 0);
	st(f, m, 0, CAT_RUNNING, "RUNNING", "");
	st(f, m, 100, CAT_DOWN, "FAULT", "fault");
	engine_report(f->e, S(300));
	CHECK_LOSS(f, S(300), false, CAT_DOWN, "fault", 120, 1);
	CHECK_LOSS(f, S(300), false, CAT_UNKNOWN, "stale", 80, 1);
	CHECK_INT(f->cap.n_stop, 1);
	CHECK_STOP(f, 0, CAT_DOWN, "fault", 100, 120); /* the stop ends where the evidence does */
	st(f, m, 400, CAT_RUNNING, "RUNNING", "");
	engine_report(f->e, S(450));
	engine_gap(f->e, "restart");
	st(f, m, 500, CAT_RUNNING, "RUNNING", "");
	engine_report(f->e, S(600));
	CHECK_LOSS(f, S(600), false, CAT_RUNNING, "", 100 + 50 + 100, 3);
	CHECK_LOSS(f, S(600), false, CAT_DOWN, "fault", 120, 1);
	CHECK_LOSS(f, S(600), false, CAT_UNKNOWN, "stale", 180, 1);
	CHECK_LOSS(f, S(600), false, CAT_UNKNOWN, "restart", 50, 1);
	CHECK_INT(f->cap.n_stop, 1); /* unknown is no stop */
	const struct rec *d = find(&f->cap, "press-01", "day", false);
	CHECK_NEAR(val(d, KF_UNKNOWN_S), 21600 + 180 + 50, 1e-9);
	teardown(f);
	free(f);
}

static void test_loss_late_events(void)
{
	/* max_lateness 10 min: a fault at 600 that arrives at 660, after a report accounted
	 * 600..650 as running, and a repair at 1100 inside the fault 1000..1300 that arrives
	 * at 1310: both re-account the losses as the sorted events would. */
	struct fixture *f = calloc(1, sizeof(*f));
	loss_setup(f, 0, 0, 600000);
	int m = engine_machine(f->e, "press-01", 8, NULL, 0);
	st(f, m, 0, CAT_RUNNING, "RUNNING", "");
	engine_report(f->e, S(650));
	engine_state(f->e, m, S(600), S(660), CAT_DOWN, "FAULT", 5, "fault");
	st(f, m, 700, CAT_RUNNING, "RUNNING", "");
	engine_report(f->e, S(800));
	CHECK_LOSS(f, S(800), false, CAT_RUNNING, "", 700, 2);
	CHECK_LOSS(f, S(800), false, CAT_DOWN, "fault", 100, 1);
	st(f, m, 1000, CAT_DOWN, "FAULT", "fault");
	st(f, m, 1300, CAT_RUNNING, "RUNNING", "");
	engine_state(f->e, m, S(1100), S(1310), CAT_DOWN, "REPAIR", 6, "repair");
	engine_report(f->e, S(1400));
	CHECK_LOSS(f, S(1400), false, CAT_DOWN, "fault", 200, 2);
	CHECK_LOSS(f, S(1400), false, CAT_DOWN, "repair", 200, 1);
	CHECK_LOSS(f, S(1400), false, CAT_RUNNING, "", 1000, 3);
	/* the fault's point is written again with its sorted duration (same series and time,
	 * so it replaces the first in the database), then the repair's */
	CHECK_INT(f->cap.n_stop, 4);
	CHECK_STOP(f, 0, CAT_DOWN, "fault", 600, 100);
	CHECK_STOP(f, 1, CAT_DOWN, "fault", 1000, 300);
	CHECK_STOP(f, 2, CAT_DOWN, "fault", 1000, 100);
	CHECK_STOP(f, 3, CAT_DOWN, "repair", 1100, 200);
	teardown(f);
	free(f);
}

int main(void)
{
	test_basic_kpis();
	test_zero_denominators();
	test_stale_and_baseline();
	test_restart_counters();
	test_counter_reset_and_increments();
	test_microstops();
	test_late_and_skewed();
	test_period_final_and_clock();
	test_cycles();
	test_machines_max();
	test_contract_pooled();
	test_berlin_periods();
	test_checkpoint_roundtrip();
	test_contract_rolling();
	test_same_millisecond();
	test_late_events_sorted_equal();
	test_loss_period_edge();
	test_loss_reason_change();
	test_loss_microstops();
	test_loss_unknown_gaps();
	test_loss_late_events();
	TEST_END();
}
