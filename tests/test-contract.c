/* Unit tests for contract evaluation in the engine (kpi.md "Contracts"): status in both
 * directions, bounds that decide the period early, a lower-is-better KPI, pooling machines
 * with different ideal cycle times, the unknown policy, planned reasons and the final record
 * at the period end. Every expected figure is computed by hand in the comment beside it.
 * Day contracts in UTC; D = 2026-11-02 00:00:00 UTC, times are seconds after D. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "engine.h"
#include "testutil.h"

#define D	1793577600000LL /* 2026-11-02T00:00:00Z */
#define S(x)	(D + (oeed_ms)((x)*1000))
#define DAY_S	86400.0
#define MAX_CON 4096

struct con {
	char name[32];
	char status[16];
	bool final, has_value;
	double value, best, worst, coverage;
	oeed_ms start, end, ts;
	unsigned n;
};

struct fixture {
	struct oeed_config cfg;
	struct oeed_contract contracts[4];
	struct oeed_machine_conf mlist[4];
	char *pattern[1];
	struct calendar *cal;
	struct engine *e;
	struct con con[MAX_CON];
	size_t n_con;
};

static void cap_contract(void *ctx, const struct contract_result *r)
{
	struct fixture *f = ctx;
	if (f->n_con >= MAX_CON)
		return;
	struct con *c = &f->con[f->n_con++];
	snprintf(c->name, sizeof(c->name), "%s", r->contract->name);
	snprintf(c->status, sizeof(c->status), "%s", contract_status_name(r->status));
	c->final = r->final;
	c->has_value = r->has_value;
	c->value = r->value;
	c->best = r->best_case;
	c->worst = r->worst_case;
	c->coverage = r->coverage;
	c->start = r->period_start;
	c->end = r->period_end;
	c->ts = r->ts;
	c->n = r->n_machines;
}

/* A contract on machines "press-*", day period, availability 0.9 / 0.8 unless changed. */
static struct oeed_contract *add_contract(struct fixture *f, const char *name)
{
	struct oeed_contract *c = &f->contracts[f->cfg.n_contracts++];
	memset(c, 0, sizeof(*c));
	c->name = (char *)name;
	c->machines = f->pattern;
	c->n_machines = 1;
	c->kpi = KPI_AVAILABILITY;
	c->period = PERIOD_DAY;
	c->target = 0.9;
	c->minimum = 0.8;
	c->higher_is_better = true;
	return c;
}

static void init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->pattern[0] = "press-*";
	struct oeed_config *c = &f->cfg;
	c->max_clock_skew_ms = 300000;
	c->machines.defaults.ideal_cycle_ms = 2000;
	c->machines.max = 4;
	c->report.interval_ms = 10000;
	c->report.window_buckets = 60;
	c->report.timezone = "UTC";
	c->contracts = f->contracts;
}

static void start(struct fixture *f)
{
	struct oeed_error err = {{0}};
	CHECK_INT(calendar_new("UTC", NULL, 0, &f->cal, &err), 0);
	struct engine_sink sink = {.ctx = f, .contract = cap_contract};
	CHECK_INT(engine_new(&f->cfg, f->cal, &sink, &f->e, &err), 0);
}

static void stop(struct fixture *f)
{
	engine_free(f->e);
	calendar_free(f->cal);
	free(f);
}

static int machine(struct fixture *f, const char *id)
{
	return engine_machine(f->e, id, strlen(id), NULL, 0);
}

static void st(struct fixture *f, int m, double t, enum oeed_category c, const char *reason)
{
	engine_state(f->e, m, S(t), S(t), c, "x", 1, reason);
}

/* The newest record of contract `name` (final or not as asked). */
static const struct con *last(const struct fixture *f, const char *name, bool final)
{
	for (size_t i = f->n_con; i-- > 0;)
		if (strcmp(f->con[i].name, name) == 0 && f->con[i].final == final)
			return &f->con[i];
	return NULL;
}

static size_t count_final(const struct fixture *f, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n_con; i++)
		n += strcmp(f->con[i].name, name) == 0 && f->con[i].final;
	return n;
}

/* Report at t and return the contract's record of that tick. */
static const struct con *report(struct fixture *f, double t, const char *name)
{
	engine_report(f->e, S(t));
	const struct con *c = last(f, name, false);
	CHECK(c != NULL);
	CHECK_INT(c ? c->ts : 0, S(t));
	return c;
}

#define STATUS(c, s) CHECK_STR((c) ? (c)->status : "(none)", s)
#define VALUE(c, v)  CHECK_NEAR((c) ? (c)->value : NAN, v, 1e-12)

/* Running 0..3600, then down for good: on_track -> at_risk -> below_minimum -> breached. */
static void test_falling(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	init(f);
	add_contract(f, "avail");
	start(f);
	int m = machine(f, "press-01");
	st(f, m, 0, CAT_RUNNING, "");
	const struct con *c = report(f, 3600, "avail");
	VALUE(c, 1.0);
	/* best: the rest running -> 1; worst: 3600 / 86400, below target: not met yet */
	CHECK_NEAR(c ? c->best : NAN, 1.0, 1e-12);
	CHECK_NEAR(c ? c->worst : NAN, 3600 / DAY_S, 1e-12);
	STATUS(c, "on_track");
	CHECK_INT(c ? c->n : 0, 1);
	CHECK_INT(c ? c->start : 0, D);
	CHECK_INT(c ? c->end : 0, D + 86400000LL);
	CHECK_NEAR(c ? c->coverage : NAN, 1.0, 1e-12);

	st(f, m, 3600, CAT_DOWN, "fault");
	c = report(f, 4200, "avail");
	VALUE(c, 3600.0 / 4200); /* 0.857: between minimum and target */
	STATUS(c, "at_risk");

	c = report(f, 7200, "avail");
	VALUE(c, 0.5);
	/* best: (3600 + 79200) / 86400 = 0.958 >= 0.8, so it can still recover */
	CHECK_NEAR(c ? c->best : NAN, (3600 + 79200) / DAY_S, 1e-12);
	STATUS(c, "below_minimum");

	c = report(f, 20800, "avail");
	/* best: (3600 + 65600) / 86400 = 0.8009: still recoverable, 80 s before it is not */
	CHECK_NEAR(c ? c->best : NAN, (3600 + 65600) / DAY_S, 1e-12);
	STATUS(c, "below_minimum");

	c = report(f, 21600, "avail");
	VALUE(c, 3600.0 / 21600);
	/* best: (3600 + 64800) / 86400 = 0.7917 < 0.8: the day is lost at 06:00 already */
	CHECK_NEAR(c ? c->best : NAN, 68400 / DAY_S, 1e-12);
	CHECK_NEAR(c ? c->worst : NAN, 3600 / DAY_S, 1e-12);
	STATUS(c, "breached");
	CHECK_INT(count_final(f, "avail"), 0);
	stop(f);
}

/* A 10-minute fault, then running: at_risk -> on_track (recovery) -> met before the end, and
 * the final record at the period end. */
static void test_recovery_met_final(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	init(f);
	add_contract(f, "avail");
	start(f);
	int m = machine(f, "press-01");
	st(f, m, 0, CAT_RUNNING, "");
	st(f, m, 3600, CAT_DOWN, "fault");
	st(f, m, 4200, CAT_RUNNING, "");
	const struct con *c = report(f, 4200, "avail");
	VALUE(c, 3600.0 / 4200);
	STATUS(c, "at_risk");

	c = report(f, 7200, "avail");
	VALUE(c, 6600.0 / 7200); /* 0.9167 */
	STATUS(c, "on_track");

	c = report(f, 75600, "avail");
	VALUE(c, 75000.0 / 75600);
	/* worst: 75000 / 86400 = 0.868 < 0.9: a long fault could still miss the target */
	CHECK_NEAR(c ? c->worst : NAN, 75000 / DAY_S, 1e-12);
	STATUS(c, "on_track");

	c = report(f, 79200, "avail");
	/* worst: 78600 / 86400 = 0.9097 >= 0.9: the target is met whatever happens */
	CHECK_NEAR(c ? c->worst : NAN, 78600 / DAY_S, 1e-12);
	CHECK_NEAR(c ? c->best : NAN, 85800 / DAY_S, 1e-12);
	STATUS(c, "met");
	CHECK_INT(count_final(f, "avail"), 0);

	/* the day ends; the next tick's machine clock is past midnight */
	engine_report(f->e, S(DAY_S + 10));
	CHECK_INT(count_final(f, "avail"), 1);
	const struct con *fin = last(f, "avail", true);
	CHECK(fin != NULL);
	if (fin) {
		CHECK_INT(fin->ts, D + 86400000LL); /* stamped with the period end */
		CHECK_INT(fin->start, D);
		CHECK_INT(fin->end, D + 86400000LL);
		VALUE(fin, 85800 / DAY_S);
		CHECK_NEAR(fin->best, 85800 / DAY_S, 1e-12); /* nothing left: bounds = value */
		CHECK_NEAR(fin->worst, 85800 / DAY_S, 1e-12);
		CHECK_NEAR(fin->coverage, 1.0, 1e-12);
		STATUS(fin, "met");
	}
	/* the next day's record starts at midnight */
	c = last(f, "avail", false);
	CHECK_INT(c ? c->start : 0, D + 86400000LL);
	VALUE(c, 1.0);
	engine_report(f->e, S(DAY_S + 20));
	CHECK_INT(count_final(f, "avail"), 1); /* once only */
	stop(f);
}

/* With max_lateness the day's final waits; meanwhile no interim record of the ended day (its
 * machines have moved on: it would read no_data, and one at the end collides with the final). */
static void test_final_waits_no_stale_interims(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	init(f);
	f->cfg.machines.defaults.max_lateness_ms = 300000;
	add_contract(f, "avail");
	start(f);
	int m = machine(f, "press-01");
	st(f, m, 0, CAT_RUNNING, "");
	st(f, m, 3600, CAT_DOWN, "fault");
	st(f, m, 4200, CAT_RUNNING, "");
	report(f, 79200, "avail");
	size_t before = f->n_con;
	for (int t = 10; t < 300; t += 10)
		engine_report(f->e, S(DAY_S + t));
	CHECK_INT(count_final(f, "avail"), 0);
	for (size_t i = before; i < f->n_con; i++) {
		CHECK(f->con[i].start != D); /* nothing more of the ended day */
		CHECK(strcmp(f->con[i].status, "no_data") != 0);
	}
	engine_report(f->e, S(DAY_S + 310));
	CHECK_INT(count_final(f, "avail"), 1);
	const struct con *fin = last(f, "avail", true);
	CHECK(fin != NULL);
	if (fin) {
		CHECK_INT(fin->ts, D + 86400000LL);
		VALUE(fin, 85800 / DAY_S);
		STATUS(fin, "met");
	}
	engine_report(f->e, S(DAY_S + 320));
	const struct con *c = last(f, "avail", false);
	CHECK_INT(c ? c->start : 0, D + 86400000LL); /* interims resume with the next day */
	CHECK_INT(count_final(f, "avail"), 1);
	stop(f);
}

/* mttr_s, lower is better: target 600 s, minimum 900 s. */
static void test_mttr_lower_is_better(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	init(f);
	struct oeed_contract *k = add_contract(f, "mttr");
	k->kpi = KPI_MTTR;
	k->target = 600;
	k->minimum = 900;
	k->higher_is_better = false;
	start(f);
	int m = machine(f, "press-01");
	st(f, m, 0, CAT_RUNNING, "");
	st(f, m, 1000, CAT_DOWN, "fault"); /* 300 s */
	st(f, m, 1300, CAT_RUNNING, "");
	st(f, m, 5000, CAT_DOWN, "jam"); /* 500 s */
	st(f, m, 5500, CAT_RUNNING, "");
	const struct con *c = report(f, 6000, "mttr");
	VALUE(c, 800.0 / 2); /* 400 <= 600 */
	/* best: the rest running adds no repair: 400; worst: the rest (80400 s) one more repair:
	 * (800 + 80400) / 3 */
	CHECK_NEAR(c ? c->best : NAN, 400, 1e-9);
	CHECK_NEAR(c ? c->worst : NAN, (800 + 80400) / 3.0, 1e-9);
	STATUS(c, "on_track");

	st(f, m, 7000, CAT_DOWN, "fault"); /* 1300 s */
	st(f, m, 8300, CAT_RUNNING, "");
	c = report(f, 8400, "mttr");
	VALUE(c, 2100.0 / 3); /* 700: between target 600 and minimum 900 */
	STATUS(c, "at_risk");

	/* two short repairs bring it back: (2100 + 60 + 60) / 5 = 444 */
	st(f, m, 9000, CAT_DOWN, "jam");
	st(f, m, 9060, CAT_RUNNING, "");
	st(f, m, 9500, CAT_DOWN, "jam");
	st(f, m, 9560, CAT_RUNNING, "");
	c = report(f, 10000, "mttr");
	VALUE(c, 2220.0 / 5);
	STATUS(c, "on_track");

	/* a machine down now: the worst case adds the rest to this repair, no new failure:
	 * down 2220 + 1000 (10000..11000) + rest 75400, failures 6 */
	st(f, m, 10000, CAT_DOWN, "fault");
	c = report(f, 11000, "mttr");
	VALUE(c, 3220.0 / 6);
	CHECK_NEAR(c ? c->worst : NAN, (3220.0 + 75400) / 6, 1e-9);
	STATUS(c, "on_track");

	/* down until 14000: 6220 / 6 = 1036.7 > 900 */
	st(f, m, 14000, CAT_RUNNING, "");
	c = report(f, 14000, "mttr");
	VALUE(c, 6220.0 / 6);
	STATUS(c, "breached"); /* kpi.md's best_case (the rest running) keeps mttr at 1036.7 */

	/* the final: the day closes at 6220 / 6, above the minimum */
	engine_report(f->e, S(DAY_S + 10));
	const struct con *fin = last(f, "mttr", true);
	CHECK(fin != NULL);
	VALUE(fin, 6220.0 / 6);
	STATUS(fin, "breached");
	CHECK_INT(fin ? fin->ts : 0, D + 86400000LL);
	stop(f);
}

/* performance pooled over two machines with ideal cycle times 2 s and 4 s:
 * Σ ideal·count / Σ run, not the mean of the machines' figures. */
static void test_pooled_performance(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	init(f);
	f->mlist[0].id = "press-01";
	f->mlist[0].ideal_cycle_ms = 2000;
	f->mlist[1].id = "press-02";
	f->mlist[1].ideal_cycle_ms = 4000;
	f->cfg.machines.list = f->mlist;
	f->cfg.machines.n_list = 2;
	struct oeed_contract *k = add_contract(f, "perf");
	k->kpi = KPI_PERFORMANCE;
	k->target = 0.95;
	k->minimum = 0.85;
	struct oeed_contract *a = add_contract(f, "avail");
	(void)a;
	start(f);
	int p1 = machine(f, "press-01"), p2 = machine(f, "press-02"), x = machine(f, "lathe-01");
	st(f, p1, 0, CAT_RUNNING, "");
	st(f, p2, 0, CAT_RUNNING, "");
	st(f, x, 0, CAT_DOWN, "fault"); /* not in the contract */
	engine_count(f->e, p1, S(1000), S(1000), CNT_TOTAL, 700, COUNTS_INCREMENTS);
	engine_count(f->e, p1, S(3000), S(3000), CNT_TOTAL, 800, COUNTS_INCREMENTS);
	engine_count(f->e, p2, S(1500), S(1500), CNT_TOTAL, 400, COUNTS_INCREMENTS);
	engine_count(f->e, x, S(1500), S(1500), CNT_TOTAL, 9999, COUNTS_INCREMENTS);
	st(f, p2, 1800, CAT_IDLE, "starved");
	const struct con *c = report(f, 3600, "perf");
	CHECK_INT(c ? c->n : 0, 2);
	/* press-01: 2 * 1500 / 3600 = 0.8333; press-02: 4 * 400 / 1800 = 0.8889; their mean
	 * 0.8611 would be at_risk too, the pooled figure is (3000 + 1600) / (3600 + 1800) */
	VALUE(c, 4600.0 / 5400);
	/* best: the rest (82800 s each) running at ideal speed: 41400 and 20700 parts, 82800
	 * ideal seconds each */
	CHECK_NEAR(c ? c->best : NAN, (4600.0 + 2 * 82800) / (5400 + 2 * 82800), 1e-12);
	/* worst: the rest down adds no run time and no parts */
	CHECK_NEAR(c ? c->worst : NAN, 4600.0 / 5400, 1e-12);
	STATUS(c, "at_risk");
	/* availability pools the times: run 5400 / ppt 7200 */
	const struct con *av = last(f, "avail", false);
	VALUE(av, 5400.0 / 7200);
	stop(f);
}

/* unknown excluded (default) vs `unknown: down`, with never-seen time and a death. */
static void test_unknown_policy(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	init(f);
	add_contract(f, "excl");
	struct oeed_contract *k = add_contract(f, "asdown");
	k->unknown = UNKNOWN_AS_DOWN;
	start(f);
	int m = machine(f, "press-01");
	/* first seen at 06:00: 00:00-06:00 is unknown */
	st(f, m, 21600, CAT_RUNNING, "");
	engine_report(f->e, S(25200));
	const struct con *e = last(f, "excl", false), *d = last(f, "asdown", false);
	VALUE(e, 1.0);
	VALUE(d, 3600.0 / 25200); /* 6 h unknown counted as down */
	CHECK_NEAR(e ? e->coverage : NAN, 3600.0 / 25200, 1e-12);
	/* the bounds of `unknown: down`: best (3600 + 61200) / (25200 + 61200) */
	CHECK_NEAR(d ? d->best : NAN, 64800.0 / 86400, 1e-12);
	STATUS(e, "on_track");
	STATUS(d, "breached"); /* value 0.14 and best 0.75, both below 0.8 */

	/* dead 07:00-07:30, running again to 08:00 */
	engine_death(f->e, m, S(25200), S(25200));
	st(f, m, 27000, CAT_RUNNING, "");
	engine_report(f->e, S(28800));
	e = last(f, "excl", false);
	d = last(f, "asdown", false);
	VALUE(e, 1.0);		  /* run 5400 / ppt 5400 */
	VALUE(d, 5400.0 / 28800); /* unknown 6 h + 30 min as down */
	CHECK_NEAR(e ? e->coverage : NAN, 5400.0 / 28800, 1e-12);
	/* coverage says how much of the period the evidence covers: counting unknown as down
	 * for the value does not create evidence */
	CHECK_NEAR(d ? d->coverage : NAN, 5400.0 / 28800, 1e-12);
	stop(f);
}

/* planned_reasons move their time (any category) to planned and drop their failures. */
static void test_planned_reasons(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	init(f);
	struct oeed_contract *a = add_contract(f, "avail-cust");
	a->planned_reasons[0] = "customer";
	a->n_planned_reasons = 1;
	struct oeed_contract *b = add_contract(f, "mtbf-cust");
	b->kpi = KPI_MTBF;
	b->target = 7000;
	b->minimum = 2000;
	b->planned_reasons[0] = "customer";
	b->n_planned_reasons = 1;
	add_contract(f, "avail-all");
	start(f);
	int m = machine(f, "press-01");
	st(f, m, 0, CAT_RUNNING, "");
	st(f, m, 3600, CAT_DOWN, "customer"); /* 1800 s, the customer's fault */
	st(f, m, 5400, CAT_RUNNING, "");
	st(f, m, 7200, CAT_DOWN, "fault"); /* 300 s */
	st(f, m, 7500, CAT_RUNNING, "");
	st(f, m, 8000, CAT_IDLE, "customer"); /* 500 s idle for the customer */
	st(f, m, 8500, CAT_RUNNING, "");
	engine_report(f->e, S(9000));
	/* run 3600 + 1800 + 500 + 500 = 6400 */
	const struct con *c = last(f, "avail-cust", false);
	VALUE(c, 6400.0 / (6400 + 300));
	c = last(f, "mtbf-cust", false);
	VALUE(c, 6400.0 / 1); /* the customer stop is no failure */
	STATUS(c, "at_risk");
	c = last(f, "avail-all", false);
	VALUE(c, 6400.0 / 9000);
	STATUS(c, "below_minimum");
	stop(f);
}

/* core/pool.c directly, as `oeed report --from` calls it: two machines' final accumulators
 * pool by sums (not means), planned-reason time moves to planned, unknown as down adds the
 * span's uncovered time. */
static void test_pool_direct(void)
{
	struct oeed_contract c;
	memset(&c, 0, sizeof(c));
	c.kpi = KPI_AVAILABILITY;
	c.higher_is_better = true;
	c.target = 0.9;
	c.minimum = 0.5;
	struct contract_part a, b;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	kpi_acc_clear(&a.acc);
	kpi_acc_clear(&b.acc);
	a.acc.cat_ms[CAT_RUNNING] = 9000; /* 9 s of 10 */
	a.acc.cat_ms[CAT_DOWN] = 1000;
	a.span = 10000;
	b.acc.cat_ms[CAT_RUNNING] = 1000; /* 1 s of 4 known, 6 s unknown */
	b.acc.cat_ms[CAT_IDLE] = 3000;
	b.span = 10000;
	struct contract_pool p;
	struct contract_result r;
	contract_pool_init(&p);
	contract_pool_add(&p, &c, &a);
	contract_pool_add(&p, &c, &b);
	memset(&r, 0, sizeof(r));
	contract_pool_eval(&p, &c, &r);
	CHECK_INT(r.n_machines, 2);
	CHECK(r.has_value);
	CHECK_NEAR(r.value, 10.0 / 14.0, 1e-15); /* not (0.9 + 0.25) / 2 */
	CHECK_NEAR(r.coverage, 14.0 / 20.0, 1e-15);
	CHECK_STR(contract_status_name(r.status), "at_risk");

	c.unknown = UNKNOWN_AS_DOWN;   /* b's 6 s unknown count as down */
	b.planned_ms[CAT_IDLE] = 3000; /* and its idle time had a planned reason */
	contract_pool_init(&p);
	contract_pool_add(&p, &c, &a);
	contract_pool_add(&p, &c, &b);
	contract_pool_eval(&p, &c, &r);
	CHECK_NEAR(r.value, 10.0 / 17.0, 1e-15);	/* run 10 / (run 10 + down 1 + 6) */
	CHECK_NEAR(r.coverage, 14.0 / 20.0, 1e-15);	/* the evidence, before the view */
	CHECK(contract_pool_matches(&c, "x") == false); /* no machines named */
}

int main(void)
{
	test_falling();
	test_recovery_met_final();
	test_final_waits_no_stale_interims();
	test_mttr_lower_is_better();
	test_pooled_performance();
	test_unknown_policy();
	test_planned_reasons();
	test_pool_direct();
	TEST_END();
}
