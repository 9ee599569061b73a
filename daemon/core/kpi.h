/* kpi.h - the KPI definitions of kpi.md as pure functions over an accumulator.
 * An accumulator holds exact times per category and counts over some interval (a rolling
 * bucket, a calendar period, a pooled contract); kpi_compute() turns it into the output
 * fields, omitting every ratio whose denominator is 0. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "config.h"
#include "hist.h"
#include "util.h"

enum kpi_count { CNT_TOTAL = 0, CNT_GOOD, CNT_REJECT, CNT__COUNT };

struct kpi_acc {
	oeed_ms cat_ms[CAT__COUNT]; /* time per category (unknown: explicit unknown state only) */
	int64_t count[CNT__COUNT];  /* parts as received per signal */
	double ideal_total_s;	    /* sum of ideal_cycle * parts (for pooled performance) */
	double ideal_good_s;	    /* sum of ideal_cycle * good parts (for pooled oee) */
	double ideal_reject_s;	    /* sum of ideal_cycle * reject parts (derived good/total) */
	uint8_t counted;	    /* bit per enum kpi_count: a signal of that kind was seen */
	uint8_t has_ideal;	    /* every counted part had an ideal cycle time */
	uint32_t failures;
	uint32_t cycles;
	double cycle_sum_s;
	double cycle_min_s, cycle_max_s;
};

/* Output fields of machine_kpi, in output order. */
enum kpi_field {
	KF_RUN_S = 0,
	KF_IDLE_S,
	KF_DOWN_S,
	KF_PLANNED_S,
	KF_UNKNOWN_S,
	KF_OBSERVED_S,
	KF_COVERAGE,
	KF_PPT_S,
	KF_TOTAL_COUNT,
	KF_GOOD_COUNT,
	KF_REJECT_COUNT,
	KF_AVAILABILITY,
	KF_UPTIME,
	KF_PERFORMANCE,
	KF_QUALITY,
	KF_OEE,
	KF_DOWN_RUN_RATIO,
	KF_FAILURES,
	KF_MTBF_S,
	KF_MTTR_S,
	KF_RATE_PER_H,
	KF_CYCLE_COUNT,
	KF_CYCLE_AVG_S,
	KF_CYCLE_MIN_S,
	KF_CYCLE_MAX_S,
	KF_CYCLE_P50_S,
	KF_CYCLE_P95_S,
	KF__COUNT
};

struct kpi_values {
	uint32_t defined; /* bit per enum kpi_field */
	double v[KF__COUNT];
	const char *shift; /* the shift's name on a shift record (the `shift` tag), else NULL */
};

const char *kpi_field_name(enum kpi_field f);
bool kpi_field_is_int(enum kpi_field f);
static inline bool kpi_has(const struct kpi_values *kv, enum kpi_field f)
{
	return (kv->defined >> f) & 1u;
}
/* The kpi_field a contract KPI reads. */
enum kpi_field kpi_field_of(enum oeed_kpi k);

void kpi_acc_clear(struct kpi_acc *a);
void kpi_acc_merge(struct kpi_acc *dst, const struct kpi_acc *src);
/* Adds parts of one signal kind; ideal_s is the machine's ideal cycle time (0 = unknown). */
void kpi_acc_add_count(struct kpi_acc *a, enum kpi_count c, int64_t n, double ideal_s);
void kpi_acc_add_cycle(struct kpi_acc *a, double seconds);

/* Computes every field for an interval of span_ms (the window or period length so far).
 * Time of the span not covered by any category counts as unknown (never seen). `h` may be
 * NULL (no percentiles). */
void kpi_compute(const struct kpi_acc *a, oeed_ms span_ms, const struct hist *h,
		 struct kpi_values *out);
