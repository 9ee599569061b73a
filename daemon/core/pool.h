/* pool.h - a contract's evaluation over machines: pools their times and counts (docs/kpi.md,
 * "Contracts": sums, not means), applies the contract's view (planned reasons, unknown as
 * down), bounds the period's end (best and worst case) and gives the status. Pure: the
 * engine feeds it its machines' accumulators, `oeed report --from` the final period records
 * read from a store; both get the same figure because this is the one implementation. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "config.h"
#include "hist.h"
#include "kpi.h"
#include "util.h"

/* A contract's standing (docs/contracts.md): the order is from good to bad. */
enum contract_status {
	CS_MET = 0,	  /* meets the target even in the worst case */
	CS_ON_TRACK,	  /* meets the target so far */
	CS_AT_RISK,	  /* between minimum and target */
	CS_BELOW_MINIMUM, /* below the minimum so far, can still recover */
	CS_BREACHED,	  /* below the minimum even in the best case */
	CS_NO_DATA,
	CS__COUNT
};
/* "met", "on_track", "at_risk", "below_minimum", "breached", "no_data". */
const char *contract_status_name(enum contract_status s);

struct contract_result {
	const struct oeed_contract *contract;
	const char *period_label;	  /* "month", "shift", "30d" */
	oeed_ms period_start, period_end; /* end = now for a rolling contract */
	oeed_ms ts;			  /* when evaluated (record timestamp) */
	bool has_value;
	double value, best_case, worst_case, coverage;
	enum contract_status status;
	bool has_prev;			  /* false for the first evaluation of a period */
	enum contract_status prev_status; /* at the previous evaluation, when has_prev */
	bool final;
	unsigned n_machines;
	const char *shift; /* the shift's name for a contract over `shift`, else NULL */
};

/* One machine's share of an evaluation. */
struct contract_part {
	struct kpi_acc acc;		/* its evidence over span, before the contract's view */
	const struct hist *hist;	/* its cycle times over span, NULL: none */
	oeed_ms span;			/* its part of the period so far */
	oeed_ms rest;			/* of the period still ahead (0 when final or rolling) */
	double ideal_s;			/* ideal cycle time, 0: unknown (best case parts) */
	bool down_now;			/* in down now: the worst case adds no failure */
	oeed_ms planned_ms[CAT__COUNT]; /* time of the contract's planned_reasons per category */
	uint32_t planned_failures;	/* entries into down with such a reason */
};

struct contract_pool {
	struct kpi_acc pool, best, worst, evidence;
	struct hist hist;
	oeed_ms span, best_span;
	unsigned n;
};

/* The contract names this machine (an id or an fnmatch(3) pattern of its `machines`). */
bool contract_pool_matches(const struct oeed_contract *c, const char *id);
void contract_pool_init(struct contract_pool *p);
void contract_pool_add(struct contract_pool *p, const struct oeed_contract *c,
		       const struct contract_part *part);
/* Fills value, bounds, coverage, status and n_machines of *r (the other fields are the
 * caller's). */
void contract_pool_eval(const struct contract_pool *p, const struct oeed_contract *c,
			struct contract_result *r);
