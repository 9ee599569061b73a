/* Unit tests for kpi.c: every KPI of kpi.md computed by hand for a few accumulators, every zero
 * denominator, the derived count cases, pooled merges. */
#include <string.h>

#include "kpi.h"
#include "testutil.h"

#define S 1000 /* ms per second */

static struct kpi_acc acc_times(oeed_ms run_s, oeed_ms idle_s, oeed_ms down_s, oeed_ms planned_s)
{
	struct kpi_acc a;
	kpi_acc_clear(&a);
	a.cat_ms[CAT_RUNNING] = run_s * S;
	a.cat_ms[CAT_IDLE] = idle_s * S;
	a.cat_ms[CAT_DOWN] = down_s * S;
	a.cat_ms[CAT_PLANNED] = planned_s * S;
	return a;
}

/* The field is omitted. */
#define OMITTED(kv, f) CHECK(!kpi_has(kv, f))
/* The field is defined and has the value want. */
#define VALUE(kv, f, want)                                                                         \
	do {                                                                                       \
		CHECK(kpi_has(kv, f));                                                             \
		CHECK_NEAR((kv)->v[f], (want), 1e-9);                                              \
	} while (0)

static void test_names(void)
{
	static const char *const want[KF__COUNT] = {
	    "run_s",	    "idle_s",	      "down_s",	     "planned_s",   "unknown_s",
	    "observed_s",   "coverage",	      "ppt_s",	     "total_count", "good_count",
	    "reject_count", "availability",   "uptime",	     "performance", "quality",
	    "oee",	    "down_run_ratio", "failures",    "mtbf_s",	    "mttr_s",
	    "rate_per_h",   "cycle_count",    "cycle_avg_s", "cycle_min_s", "cycle_max_s",
	    "cycle_p50_s",  "cycle_p95_s"};
	for (int f = 0; f < KF__COUNT; f++)
		CHECK_STR(kpi_field_name((enum kpi_field)f), want[f]);
	CHECK(kpi_field_name(KF__COUNT) == NULL);
	int ints = 0;
	for (int f = 0; f < KF__COUNT; f++)
		ints += kpi_field_is_int((enum kpi_field)f);
	CHECK_INT(ints, 5);
	CHECK(kpi_field_is_int(KF_TOTAL_COUNT));
	CHECK(kpi_field_is_int(KF_GOOD_COUNT));
	CHECK(kpi_field_is_int(KF_REJECT_COUNT));
	CHECK(kpi_field_is_int(KF_FAILURES));
	CHECK(kpi_field_is_int(KF_CYCLE_COUNT));
	CHECK(!kpi_field_is_int(KF_MTBF_S));
	/* Every contract KPI reads the field of the same name. */
	for (int k = 0; k < KPI__COUNT; k++)
		CHECK_STR(kpi_field_name(kpi_field_of((enum oeed_kpi)k)),
			  kpi_name((enum oeed_kpi)k));
	CHECK_INT(kpi_field_of(KPI_MTBF), KF_MTBF_S);
	CHECK_INT(kpi_field_of(KPI_CYCLE_P95), KF_CYCLE_P95_S);
}

/* One machine, one hour of running and everything defined. */
static void test_full(void)
{
	struct kpi_acc a = acc_times(3600, 600, 1200, 1800);
	struct kpi_values kv;
	struct hist h;
	kpi_acc_add_count(&a, CNT_TOTAL, 600, 3.0);
	kpi_acc_add_count(&a, CNT_TOTAL, 400, 3.0);
	kpi_acc_add_count(&a, CNT_GOOD, 950, 3.0);
	a.failures = 4;
	hist_clear(&h);
	for (int i = 2; i <= 4; i++) {
		kpi_acc_add_cycle(&a, i);
		hist_add(&h, i);
	}
	kpi_compute(&a, 8000 * S, &h, &kv);
	VALUE(&kv, KF_RUN_S, 3600);
	VALUE(&kv, KF_IDLE_S, 600);
	VALUE(&kv, KF_DOWN_S, 1200);
	VALUE(&kv, KF_PLANNED_S, 1800);
	VALUE(&kv, KF_UNKNOWN_S, 800);	 /* 8000 - 7200 */
	VALUE(&kv, KF_OBSERVED_S, 7200); /* 8000 - 800 */
	VALUE(&kv, KF_COVERAGE, 0.9);
	VALUE(&kv, KF_PPT_S, 5400); /* 3600 + 600 + 1200 */
	VALUE(&kv, KF_TOTAL_COUNT, 1000);
	VALUE(&kv, KF_GOOD_COUNT, 950);
	VALUE(&kv, KF_REJECT_COUNT, 50);
	VALUE(&kv, KF_AVAILABILITY, 3600.0 / 5400);
	VALUE(&kv, KF_UPTIME, 4200.0 / 5400);
	VALUE(&kv, KF_PERFORMANCE, 3.0 * 1000 / 3600);
	VALUE(&kv, KF_QUALITY, 0.95);
	VALUE(&kv, KF_OEE, 3.0 * 950 / 5400);
	/* oee = A * P * Q */
	CHECK_NEAR(kv.v[KF_OEE], kv.v[KF_AVAILABILITY] * kv.v[KF_PERFORMANCE] * kv.v[KF_QUALITY],
		   1e-12);
	VALUE(&kv, KF_DOWN_RUN_RATIO, 1200.0 / 3600);
	VALUE(&kv, KF_FAILURES, 4);
	VALUE(&kv, KF_MTBF_S, 900);
	VALUE(&kv, KF_MTTR_S, 300);
	VALUE(&kv, KF_RATE_PER_H, 1000 / 1.5); /* ppt is 1.5 h */
	VALUE(&kv, KF_CYCLE_COUNT, 3);
	VALUE(&kv, KF_CYCLE_AVG_S, 3.0);
	VALUE(&kv, KF_CYCLE_MIN_S, 2.0);
	VALUE(&kv, KF_CYCLE_MAX_S, 4.0);
	/* p50: rank 2 = 3 s, in bin 1 + floor(8 * log2(3000)) = 93, middle 2^(92.5/8) ms;
	 * p95: rank 3 = 4 s, bin 96, middle 2^(95.5/8) ms = 3.9226 s (inside [2, 4]). */
	VALUE(&kv, KF_CYCLE_P50_S, 0.001 * exp2(92.5 / 8));
	VALUE(&kv, KF_CYCLE_P95_S, 0.001 * exp2(95.5 / 8));
	CHECK_INT(kv.defined, (1u << KF__COUNT) - 1); /* everything */

	/* Without a histogram: no percentiles, the rest unchanged. */
	kpi_compute(&a, 8000 * S, NULL, &kv);
	OMITTED(&kv, KF_CYCLE_P50_S);
	OMITTED(&kv, KF_CYCLE_P95_S);
	VALUE(&kv, KF_CYCLE_AVG_S, 3.0);
}

static void test_zero_denominators(void)
{
	struct kpi_acc a;
	struct kpi_values kv;
	struct hist h;

	/* Nothing at all over an empty span. */
	kpi_acc_clear(&a);
	hist_clear(&h);
	kpi_compute(&a, 0, &h, &kv);
	VALUE(&kv, KF_RUN_S, 0);
	VALUE(&kv, KF_UNKNOWN_S, 0);
	VALUE(&kv, KF_OBSERVED_S, 0);
	OMITTED(&kv, KF_COVERAGE); /* span 0 */
	VALUE(&kv, KF_PPT_S, 0);
	OMITTED(&kv, KF_TOTAL_COUNT); /* no count signal seen */
	OMITTED(&kv, KF_GOOD_COUNT);
	OMITTED(&kv, KF_REJECT_COUNT);
	OMITTED(&kv, KF_AVAILABILITY);
	OMITTED(&kv, KF_UPTIME);
	OMITTED(&kv, KF_PERFORMANCE);
	OMITTED(&kv, KF_QUALITY);
	OMITTED(&kv, KF_OEE);
	OMITTED(&kv, KF_DOWN_RUN_RATIO);
	VALUE(&kv, KF_FAILURES, 0);
	OMITTED(&kv, KF_MTBF_S);
	OMITTED(&kv, KF_MTTR_S);
	OMITTED(&kv, KF_RATE_PER_H);
	VALUE(&kv, KF_CYCLE_COUNT, 0);
	OMITTED(&kv, KF_CYCLE_AVG_S);
	OMITTED(&kv, KF_CYCLE_MIN_S);
	OMITTED(&kv, KF_CYCLE_MAX_S);
	OMITTED(&kv, KF_CYCLE_P50_S);
	OMITTED(&kv, KF_CYCLE_P95_S);

	/* ppt 0: a planned hour with counts seen (zero parts). */
	a = acc_times(0, 0, 0, 3600);
	kpi_acc_add_count(&a, CNT_TOTAL, 0, 2.0);
	kpi_acc_add_count(&a, CNT_GOOD, 0, 2.0);
	kpi_compute(&a, 3600 * S, NULL, &kv);
	VALUE(&kv, KF_COVERAGE, 1.0);
	VALUE(&kv, KF_PPT_S, 0);
	VALUE(&kv, KF_TOTAL_COUNT, 0); /* seen: defined even when 0 */
	VALUE(&kv, KF_GOOD_COUNT, 0);
	VALUE(&kv, KF_REJECT_COUNT, 0);
	OMITTED(&kv, KF_AVAILABILITY);
	OMITTED(&kv, KF_UPTIME);
	OMITTED(&kv, KF_PERFORMANCE); /* run 0 */
	OMITTED(&kv, KF_QUALITY);     /* total 0 */
	OMITTED(&kv, KF_OEE);	      /* ppt 0 */
	OMITTED(&kv, KF_RATE_PER_H);  /* ppt 0 */

	/* run 0: ten minutes down after one failure. Ratios over ppt are defined (and 0). */
	a = acc_times(0, 0, 600, 0);
	a.failures = 1;
	kpi_acc_add_count(&a, CNT_TOTAL, 0, 2.0);
	kpi_compute(&a, 600 * S, NULL, &kv);
	VALUE(&kv, KF_AVAILABILITY, 0);
	VALUE(&kv, KF_UPTIME, 0);
	OMITTED(&kv, KF_PERFORMANCE);
	OMITTED(&kv, KF_DOWN_RUN_RATIO);
	VALUE(&kv, KF_MTBF_S, 0);
	VALUE(&kv, KF_MTTR_S, 600);
	VALUE(&kv, KF_RATE_PER_H, 0);

	/* failures 0 while running; total 0 while running. */
	a = acc_times(1800, 0, 0, 0);
	kpi_acc_add_count(&a, CNT_TOTAL, 0, 2.0);
	kpi_acc_add_count(&a, CNT_GOOD, 0, 2.0);
	kpi_compute(&a, 1800 * S, NULL, &kv);
	VALUE(&kv, KF_FAILURES, 0);
	OMITTED(&kv, KF_MTBF_S);
	OMITTED(&kv, KF_MTTR_S);
	VALUE(&kv, KF_DOWN_RUN_RATIO, 0);
	VALUE(&kv, KF_PERFORMANCE, 0);
	OMITTED(&kv, KF_QUALITY);
	VALUE(&kv, KF_OEE, 0);
	VALUE(&kv, KF_RATE_PER_H, 0);

	/* Cycles but an empty histogram: no percentiles. */
	kpi_acc_add_cycle(&a, 5.0);
	hist_clear(&h);
	kpi_compute(&a, 1800 * S, &h, &kv);
	VALUE(&kv, KF_CYCLE_COUNT, 1);
	VALUE(&kv, KF_CYCLE_AVG_S, 5.0);
	OMITTED(&kv, KF_CYCLE_P50_S);
}

static void test_derived_counts(void)
{
	struct kpi_acc a;
	struct kpi_values kv;

	/* Only total: good, reject, quality, oee omitted; performance and rate defined. */
	a = acc_times(400, 0, 0, 0);
	kpi_acc_add_count(&a, CNT_TOTAL, 100, 2.0);
	kpi_compute(&a, 400 * S, NULL, &kv);
	VALUE(&kv, KF_TOTAL_COUNT, 100);
	OMITTED(&kv, KF_GOOD_COUNT);
	OMITTED(&kv, KF_REJECT_COUNT);
	OMITTED(&kv, KF_QUALITY);
	OMITTED(&kv, KF_OEE);
	VALUE(&kv, KF_PERFORMANCE, 200.0 / 400);
	VALUE(&kv, KF_RATE_PER_H, 100 * 9.0); /* 400 s = 1/9 h */

	/* Only good: oee = ideal * good / ppt needs nothing else; total-based KPIs omitted. */
	a = acc_times(400, 0, 100, 0);
	kpi_acc_add_count(&a, CNT_GOOD, 80, 2.0);
	kpi_compute(&a, 500 * S, NULL, &kv);
	OMITTED(&kv, KF_TOTAL_COUNT);
	VALUE(&kv, KF_GOOD_COUNT, 80);
	OMITTED(&kv, KF_REJECT_COUNT);
	OMITTED(&kv, KF_PERFORMANCE);
	OMITTED(&kv, KF_QUALITY);
	OMITTED(&kv, KF_RATE_PER_H);
	VALUE(&kv, KF_OEE, 160.0 / 500);

	/* Only reject. */
	a = acc_times(400, 0, 0, 0);
	kpi_acc_add_count(&a, CNT_REJECT, 7, 2.0);
	kpi_compute(&a, 400 * S, NULL, &kv);
	OMITTED(&kv, KF_TOTAL_COUNT);
	OMITTED(&kv, KF_GOOD_COUNT);
	VALUE(&kv, KF_REJECT_COUNT, 7);
	OMITTED(&kv, KF_PERFORMANCE);
	OMITTED(&kv, KF_QUALITY);
	OMITTED(&kv, KF_OEE);

	/* total + reject: good = 100 - 10 = 90, its ideal time 2 * 90 = 180 s. */
	a = acc_times(400, 0, 100, 0);
	kpi_acc_add_count(&a, CNT_TOTAL, 100, 2.0);
	kpi_acc_add_count(&a, CNT_REJECT, 10, 2.0);
	kpi_compute(&a, 500 * S, NULL, &kv);
	VALUE(&kv, KF_TOTAL_COUNT, 100);
	VALUE(&kv, KF_GOOD_COUNT, 90);
	VALUE(&kv, KF_REJECT_COUNT, 10);
	VALUE(&kv, KF_QUALITY, 0.9);
	VALUE(&kv, KF_PERFORMANCE, 200.0 / 400);
	VALUE(&kv, KF_OEE, 180.0 / 500);

	/* good + reject: total = 90 + 10 = 100, its ideal time 180 + 20 = 200 s. */
	a = acc_times(400, 0, 100, 0);
	kpi_acc_add_count(&a, CNT_GOOD, 90, 2.0);
	kpi_acc_add_count(&a, CNT_REJECT, 10, 2.0);
	kpi_compute(&a, 500 * S, NULL, &kv);
	VALUE(&kv, KF_TOTAL_COUNT, 100);
	VALUE(&kv, KF_GOOD_COUNT, 90);
	VALUE(&kv, KF_REJECT_COUNT, 10);
	VALUE(&kv, KF_QUALITY, 0.9);
	VALUE(&kv, KF_PERFORMANCE, 200.0 / 400);
	VALUE(&kv, KF_OEE, 180.0 / 500);
	VALUE(&kv, KF_RATE_PER_H, 100 / (500.0 / 3600));

	/* All three given: used as given, even when they do not add up. */
	a = acc_times(400, 0, 0, 0);
	kpi_acc_add_count(&a, CNT_TOTAL, 100, 2.0);
	kpi_acc_add_count(&a, CNT_GOOD, 85, 2.0);
	kpi_acc_add_count(&a, CNT_REJECT, 10, 2.0);
	kpi_compute(&a, 400 * S, NULL, &kv);
	VALUE(&kv, KF_TOTAL_COUNT, 100);
	VALUE(&kv, KF_GOOD_COUNT, 85);
	VALUE(&kv, KF_REJECT_COUNT, 10);
	VALUE(&kv, KF_QUALITY, 0.85);
	VALUE(&kv, KF_OEE, 170.0 / 400);

	/* No ideal cycle time: performance and oee omitted, quality still defined. */
	a = acc_times(400, 0, 0, 0);
	kpi_acc_add_count(&a, CNT_TOTAL, 100, 0);
	kpi_acc_add_count(&a, CNT_GOOD, 90, 0);
	kpi_compute(&a, 400 * S, NULL, &kv);
	OMITTED(&kv, KF_PERFORMANCE);
	OMITTED(&kv, KF_OEE);
	VALUE(&kv, KF_QUALITY, 0.9);
	VALUE(&kv, KF_RATE_PER_H, 900);
}

static void test_unknown(void)
{
	struct kpi_acc a = acc_times(100, 0, 0, 0);
	struct kpi_values kv;
	/* 100 s run in a 400 s span: 300 s never seen are unknown, explicit unknown included. */
	a.cat_ms[CAT_UNKNOWN] = 50 * S;
	kpi_compute(&a, 400 * S, NULL, &kv);
	VALUE(&kv, KF_UNKNOWN_S, 300);
	VALUE(&kv, KF_OBSERVED_S, 100);
	VALUE(&kv, KF_COVERAGE, 0.25);
	VALUE(&kv, KF_AVAILABILITY, 1.0);
	/* Known time beyond the span (inconsistent input): unknown clamps at 0. */
	a = acc_times(500, 0, 0, 0);
	kpi_compute(&a, 400 * S, NULL, &kv);
	VALUE(&kv, KF_UNKNOWN_S, 0);
	VALUE(&kv, KF_OBSERVED_S, 400);
	VALUE(&kv, KF_COVERAGE, 1.0);
	/* Milliseconds are kept exactly. */
	a = acc_times(0, 0, 0, 0);
	a.cat_ms[CAT_RUNNING] = 1234;
	kpi_compute(&a, 2000, NULL, &kv);
	VALUE(&kv, KF_RUN_S, 1.234);
	VALUE(&kv, KF_UNKNOWN_S, 0.766);
}

static void test_merge(void)
{
	struct kpi_acc m1 = acc_times(1000, 100, 200, 0), m2 = acc_times(500, 0, 0, 300), pool;
	struct kpi_values kv;

	/* Two machines with ideal cycle times 2.5 s and 1 s: pooled, not averaged. */
	kpi_acc_add_count(&m1, CNT_TOTAL, 100, 2.5);
	kpi_acc_add_count(&m1, CNT_GOOD, 100, 2.5);
	kpi_acc_add_count(&m2, CNT_TOTAL, 300, 1.0);
	kpi_acc_add_count(&m2, CNT_GOOD, 290, 1.0);
	m1.failures = 2;
	m2.failures = 1;
	kpi_acc_add_cycle(&m1, 2.6);
	kpi_acc_add_cycle(&m1, 3.0);
	kpi_acc_add_cycle(&m2, 1.1);
	kpi_acc_clear(&pool);
	kpi_acc_merge(&pool, &m1);
	kpi_acc_merge(&pool, &m2);
	kpi_compute(&pool, 2 * 1800 * S, NULL, &kv);
	VALUE(&kv, KF_RUN_S, 1500);
	VALUE(&kv, KF_PPT_S, 1800);
	VALUE(&kv, KF_UNKNOWN_S, 3600 - 2100);
	VALUE(&kv, KF_AVAILABILITY, 1500.0 / 1800);
	VALUE(&kv, KF_PERFORMANCE, (2.5 * 100 + 1.0 * 300) / (1000 + 500));
	VALUE(&kv, KF_TOTAL_COUNT, 400);
	VALUE(&kv, KF_REJECT_COUNT, 10);
	VALUE(&kv, KF_QUALITY, 390.0 / 400);
	VALUE(&kv, KF_OEE, (2.5 * 100 + 1.0 * 290) / 1800);
	VALUE(&kv, KF_FAILURES, 3);
	VALUE(&kv, KF_MTBF_S, 500);
	VALUE(&kv, KF_CYCLE_COUNT, 3);
	VALUE(&kv, KF_CYCLE_MIN_S, 1.1);
	VALUE(&kv, KF_CYCLE_MAX_S, 3.0);
	VALUE(&kv, KF_CYCLE_AVG_S, 6.7 / 3);

	/* Derived good across machines keeps each machine's ideal time: total + reject with 2.5 s
	 * and 1 s gives ideal good time 2.5 * 95 + 1 * 280 = 517.5 s. */
	m1 = acc_times(1000, 0, 0, 0);
	m2 = acc_times(500, 0, 0, 0);
	kpi_acc_add_count(&m1, CNT_TOTAL, 100, 2.5);
	kpi_acc_add_count(&m1, CNT_REJECT, 5, 2.5);
	kpi_acc_add_count(&m2, CNT_TOTAL, 300, 1.0);
	kpi_acc_add_count(&m2, CNT_REJECT, 20, 1.0);
	kpi_acc_clear(&pool);
	kpi_acc_merge(&pool, &m1);
	kpi_acc_merge(&pool, &m2);
	kpi_compute(&pool, 1500 * S, NULL, &kv);
	VALUE(&kv, KF_GOOD_COUNT, 375);
	VALUE(&kv, KF_OEE, 517.5 / 1500);
	VALUE(&kv, KF_PERFORMANCE, 550.0 / 1500);

	/* One machine without an ideal cycle time spoils pooled performance and oee. */
	m2 = acc_times(500, 0, 0, 0);
	kpi_acc_add_count(&m2, CNT_TOTAL, 300, 0);
	kpi_acc_merge(&pool, &m2);
	kpi_compute(&pool, 2000 * S, NULL, &kv);
	OMITTED(&kv, KF_PERFORMANCE);
	OMITTED(&kv, KF_OEE);
	VALUE(&kv, KF_TOTAL_COUNT, 700);

	/* Merging buckets equals adding everything into one accumulator. */
	struct kpi_acc b1 = acc_times(10, 0, 0, 0), b2 = acc_times(20, 5, 0, 0), direct;
	kpi_acc_add_count(&b1, CNT_TOTAL, 3, 2.0);
	kpi_acc_add_count(&b2, CNT_GOOD, 4, 2.0);
	direct = acc_times(30, 5, 0, 0);
	kpi_acc_add_count(&direct, CNT_TOTAL, 3, 2.0);
	kpi_acc_add_count(&direct, CNT_GOOD, 4, 2.0);
	kpi_acc_merge(&b1, &b2);
	for (int c = 0; c < CAT__COUNT; c++)
		CHECK_INT(b1.cat_ms[c], direct.cat_ms[c]);
	for (int c = 0; c < CNT__COUNT; c++)
		CHECK_INT(b1.count[c], direct.count[c]);
	CHECK_INT(b1.counted, direct.counted);
	CHECK_INT(b1.has_ideal, 1);
	CHECK_NEAR(b1.ideal_total_s, 6.0, 0);
	CHECK_NEAR(b1.ideal_good_s, 8.0, 0);
}

int main(void)
{
	test_names();
	test_full();
	test_zero_denominators();
	test_derived_counts();
	test_unknown();
	test_merge();
	TEST_END();
}
