/* kpi.c - the KPI definitions of kpi.md: accumulating times, counts and cycles over an
 * interval, and turning an accumulator into the output fields. Pure: no I/O, no clock. */
#include "kpi.h"

#include <math.h>
#include <string.h>

static const char *const field_names[KF__COUNT] = {
    [KF_RUN_S] = "run_s",
    [KF_IDLE_S] = "idle_s",
    [KF_DOWN_S] = "down_s",
    [KF_PLANNED_S] = "planned_s",
    [KF_UNKNOWN_S] = "unknown_s",
    [KF_OBSERVED_S] = "observed_s",
    [KF_COVERAGE] = "coverage",
    [KF_PPT_S] = "ppt_s",
    [KF_TOTAL_COUNT] = "total_count",
    [KF_GOOD_COUNT] = "good_count",
    [KF_REJECT_COUNT] = "reject_count",
    [KF_AVAILABILITY] = "availability",
    [KF_UPTIME] = "uptime",
    [KF_PERFORMANCE] = "performance",
    [KF_QUALITY] = "quality",
    [KF_OEE] = "oee",
    [KF_DOWN_RUN_RATIO] = "down_run_ratio",
    [KF_FAILURES] = "failures",
    [KF_MTBF_S] = "mtbf_s",
    [KF_MTTR_S] = "mttr_s",
    [KF_RATE_PER_H] = "rate_per_h",
    [KF_CYCLE_COUNT] = "cycle_count",
    [KF_CYCLE_AVG_S] = "cycle_avg_s",
    [KF_CYCLE_MIN_S] = "cycle_min_s",
    [KF_CYCLE_MAX_S] = "cycle_max_s",
    [KF_CYCLE_P50_S] = "cycle_p50_s",
    [KF_CYCLE_P95_S] = "cycle_p95_s",
};

const char *kpi_field_name(enum kpi_field f)
{
	return (unsigned)f < KF__COUNT ? field_names[f] : NULL;
}

bool kpi_field_is_int(enum kpi_field f)
{
	switch (f) {
	case KF_TOTAL_COUNT:
	case KF_GOOD_COUNT:
	case KF_REJECT_COUNT:
	case KF_FAILURES:
	case KF_CYCLE_COUNT:
		return true;
	default:
		return false;
	}
}

enum kpi_field kpi_field_of(enum oeed_kpi k)
{
	static const enum kpi_field map[KPI__COUNT] = {
	    [KPI_AVAILABILITY] = KF_AVAILABILITY,
	    [KPI_UPTIME] = KF_UPTIME,
	    [KPI_PERFORMANCE] = KF_PERFORMANCE,
	    [KPI_QUALITY] = KF_QUALITY,
	    [KPI_OEE] = KF_OEE,
	    [KPI_DOWN_RUN_RATIO] = KF_DOWN_RUN_RATIO,
	    [KPI_MTBF] = KF_MTBF_S,
	    [KPI_MTTR] = KF_MTTR_S,
	    [KPI_RATE_PER_H] = KF_RATE_PER_H,
	    [KPI_CYCLE_AVG] = KF_CYCLE_AVG_S,
	    [KPI_CYCLE_P50] = KF_CYCLE_P50_S,
	    [KPI_CYCLE_P95] = KF_CYCLE_P95_S,
	};
	return (unsigned)k < KPI__COUNT ? map[k] : KF__COUNT;
}

void kpi_acc_clear(struct kpi_acc *a)
{
	memset(a, 0, sizeof(*a));
	a->has_ideal = 1; /* vacuously: no part without an ideal cycle time yet */
}

/* Merging is the same as having added everything to one accumulator: per-signal sums, the
 * union of the seen signals. So rolling buckets add up to the direct result. Pooling machines
 * whose count signals differ (one reports total+good, another good+reject) therefore derives
 * counts from incomplete sums; pooled contracts should cover machines counted alike. */
void kpi_acc_merge(struct kpi_acc *dst, const struct kpi_acc *src)
{
	for (int i = 0; i < CAT__COUNT; i++)
		dst->cat_ms[i] += src->cat_ms[i];
	for (int i = 0; i < CNT__COUNT; i++)
		dst->count[i] += src->count[i];
	dst->ideal_total_s += src->ideal_total_s;
	dst->ideal_good_s += src->ideal_good_s;
	dst->ideal_reject_s += src->ideal_reject_s;
	dst->counted |= src->counted;
	dst->has_ideal = dst->has_ideal && src->has_ideal;
	dst->failures += src->failures;
	if (src->cycles > 0) {
		if (dst->cycles == 0 || src->cycle_min_s < dst->cycle_min_s)
			dst->cycle_min_s = src->cycle_min_s;
		if (dst->cycles == 0 || src->cycle_max_s > dst->cycle_max_s)
			dst->cycle_max_s = src->cycle_max_s;
	}
	dst->cycles += src->cycles;
	dst->cycle_sum_s += src->cycle_sum_s;
}

/* The ideal time is kept per signal so that a derived count (reject = total - good ...) gets
 * the matching derived ideal time, exact even when pooled machines have different ideal
 * cycle times. A count added without an ideal time (ideal_s <= 0) makes performance and oee
 * undefined for the whole accumulator. */
void kpi_acc_add_count(struct kpi_acc *a, enum kpi_count c, int64_t n, double ideal_s)
{
	if ((unsigned)c >= CNT__COUNT)
		return;
	a->counted |= (uint8_t)(1u << c);
	a->count[c] += n;
	if (!(ideal_s > 0)) {
		a->has_ideal = 0;
		return;
	}
	double t = ideal_s * (double)n;
	if (c == CNT_TOTAL)
		a->ideal_total_s += t;
	else if (c == CNT_GOOD)
		a->ideal_good_s += t;
	else
		a->ideal_reject_s += t;
}

void kpi_acc_add_cycle(struct kpi_acc *a, double seconds)
{
	if (isnan(seconds))
		return;
	if (a->cycles == 0 || seconds < a->cycle_min_s)
		a->cycle_min_s = seconds;
	if (a->cycles == 0 || seconds > a->cycle_max_s)
		a->cycle_max_s = seconds;
	a->cycles++;
	a->cycle_sum_s += seconds;
}

static void set(struct kpi_values *out, enum kpi_field f, double v)
{
	out->v[f] = v;
	out->defined |= 1u << f;
}

/* Sets f = num / den unless den is 0 (then f stays omitted). */
static void set_ratio(struct kpi_values *out, enum kpi_field f, double num, double den)
{
	if (den != 0)
		set(out, f, num / den);
}

#define BIT(c) (1u << (c))

void kpi_compute(const struct kpi_acc *a, oeed_ms span_ms, const struct hist *h,
		 struct kpi_values *out)
{
	memset(out, 0, sizeof(*out));

	/* Times, exact in ms; unknown is whatever of the span no known category covers (explicit
	 * unknown and never seen alike). */
	oeed_ms run = a->cat_ms[CAT_RUNNING], idle = a->cat_ms[CAT_IDLE];
	oeed_ms down = a->cat_ms[CAT_DOWN], planned = a->cat_ms[CAT_PLANNED];
	oeed_ms span = span_ms > 0 ? span_ms : 0;
	oeed_ms unknown = span - (run + idle + down + planned);
	if (unknown < 0)
		unknown = 0;
	oeed_ms observed = span - unknown, ppt = run + idle + down;
	set(out, KF_RUN_S, (double)run / 1000.0);
	set(out, KF_IDLE_S, (double)idle / 1000.0);
	set(out, KF_DOWN_S, (double)down / 1000.0);
	set(out, KF_PLANNED_S, (double)planned / 1000.0);
	set(out, KF_UNKNOWN_S, (double)unknown / 1000.0);
	set(out, KF_OBSERVED_S, (double)observed / 1000.0);
	set_ratio(out, KF_COVERAGE, (double)observed, (double)span);
	set(out, KF_PPT_S, (double)ppt / 1000.0);

	/* Counts. Which are defined follows from the signals seen (T total, G good, R reject):
	 *   seen     total   good    reject  ideal times used
	 *   -        -       -       -       -
	 *   T        T       -       -       total
	 *   G        -       G       -       good
	 *   R        -       -       R       -
	 *   T G      T       G       T-G     total, good
	 *   T R      T       T-R     R       total, good = total - reject
	 *   G R      G+R     G       R       total = good + reject, good
	 *   T G R    T       G       R       as given
	 * Derived values are not clamped: inconsistent inputs (good > total) stay visible. */
	unsigned seen = a->counted & (BIT(CNT_TOTAL) | BIT(CNT_GOOD) | BIT(CNT_REJECT));
	bool has_t = false, has_g = false, has_r = false;
	double total = 0, good = 0, reject = 0, ideal_total = 0, ideal_good = 0;
	switch (seen) {
	case BIT(CNT_TOTAL):
		has_t = true;
		total = (double)a->count[CNT_TOTAL];
		ideal_total = a->ideal_total_s;
		break;
	case BIT(CNT_GOOD):
		has_g = true;
		good = (double)a->count[CNT_GOOD];
		ideal_good = a->ideal_good_s;
		break;
	case BIT(CNT_REJECT):
		has_r = true;
		reject = (double)a->count[CNT_REJECT];
		break;
	case BIT(CNT_TOTAL) | BIT(CNT_GOOD):
		has_t = has_g = has_r = true;
		total = (double)a->count[CNT_TOTAL];
		good = (double)a->count[CNT_GOOD];
		reject = (double)(a->count[CNT_TOTAL] - a->count[CNT_GOOD]);
		ideal_total = a->ideal_total_s;
		ideal_good = a->ideal_good_s;
		break;
	case BIT(CNT_TOTAL) | BIT(CNT_REJECT):
		has_t = has_g = has_r = true;
		total = (double)a->count[CNT_TOTAL];
		reject = (double)a->count[CNT_REJECT];
		good = (double)(a->count[CNT_TOTAL] - a->count[CNT_REJECT]);
		ideal_total = a->ideal_total_s;
		ideal_good = a->ideal_total_s - a->ideal_reject_s;
		break;
	case BIT(CNT_GOOD) | BIT(CNT_REJECT):
		has_t = has_g = has_r = true;
		good = (double)a->count[CNT_GOOD];
		reject = (double)a->count[CNT_REJECT];
		total = (double)(a->count[CNT_GOOD] + a->count[CNT_REJECT]);
		ideal_good = a->ideal_good_s;
		ideal_total = a->ideal_good_s + a->ideal_reject_s;
		break;
	case BIT(CNT_TOTAL) | BIT(CNT_GOOD) | BIT(CNT_REJECT):
		has_t = has_g = has_r = true;
		total = (double)a->count[CNT_TOTAL];
		good = (double)a->count[CNT_GOOD];
		reject = (double)a->count[CNT_REJECT];
		ideal_total = a->ideal_total_s;
		ideal_good = a->ideal_good_s;
		break;
	default:
		break;
	}
	if (has_t)
		set(out, KF_TOTAL_COUNT, total);
	if (has_g)
		set(out, KF_GOOD_COUNT, good);
	if (has_r)
		set(out, KF_REJECT_COUNT, reject);

	/* Ratios: every one is omitted when its denominator is 0. */
	set_ratio(out, KF_AVAILABILITY, (double)run, (double)ppt);
	set_ratio(out, KF_UPTIME, (double)(run + idle), (double)ppt);
	if (has_t && a->has_ideal)
		set_ratio(out, KF_PERFORMANCE, ideal_total, (double)run / 1000.0);
	if (has_t && has_g)
		set_ratio(out, KF_QUALITY, good, total);
	/* oee = A * P * Q = ideal time of the good parts / ppt: needs only the good count. */
	if (has_g && a->has_ideal)
		set_ratio(out, KF_OEE, ideal_good, (double)ppt / 1000.0);
	set_ratio(out, KF_DOWN_RUN_RATIO, (double)down, (double)run);
	set(out, KF_FAILURES, (double)a->failures);
	set_ratio(out, KF_MTBF_S, (double)run / 1000.0, (double)a->failures);
	set_ratio(out, KF_MTTR_S, (double)down / 1000.0, (double)a->failures);
	if (has_t)
		set_ratio(out, KF_RATE_PER_H, total, (double)ppt / 3600000.0);

	/* Cycles. */
	set(out, KF_CYCLE_COUNT, (double)a->cycles);
	if (a->cycles > 0) {
		set(out, KF_CYCLE_AVG_S, a->cycle_sum_s / (double)a->cycles);
		set(out, KF_CYCLE_MIN_S, a->cycle_min_s);
		set(out, KF_CYCLE_MAX_S, a->cycle_max_s);
		if (h && hist_count(h) > 0) {
			set(out, KF_CYCLE_P50_S,
			    hist_quantile(h, 0.50, a->cycle_min_s, a->cycle_max_s));
			set(out, KF_CYCLE_P95_S,
			    hist_quantile(h, 0.95, a->cycle_min_s, a->cycle_max_s));
		}
	}
}
