/* pool.c - see pool.h. Moved out of engine.c unchanged in arithmetic (contract_matches,
 * contract_view, kpi_value, meets, the pooling and status part of contract_emit). */
#include "pool.h"

#include <fnmatch.h>
#include <math.h>
#include <string.h>

static const char *const contract_status_names[CS__COUNT] = {
    "met", "on_track", "at_risk", "below_minimum", "breached", "no_data"};

const char *contract_status_name(enum contract_status s)
{
	return (unsigned)s < CS__COUNT ? contract_status_names[s] : "?";
}

bool contract_pool_matches(const struct oeed_contract *c, const char *id)
{
	for (size_t i = 0; i < c->n_machines; i++)
		if (fnmatch(c->machines[i], id, 0) == 0)
			return true;
	return false;
}

void contract_pool_init(struct contract_pool *p)
{
	memset(p, 0, sizeof(*p));
	kpi_acc_clear(&p->pool);
	kpi_acc_clear(&p->evidence);
	kpi_acc_clear(&p->best);
	kpi_acc_clear(&p->worst);
	hist_clear(&p->hist);
}

/* The contract's view of one machine: reasons counted as planned, unknown counted as down. */
static void contract_view(const struct oeed_contract *c, const struct contract_part *part,
			  struct kpi_acc *acc)
{
	for (int k = 0; k < CAT__COUNT; k++) {
		if (k == CAT_PLANNED)
			continue;
		acc->cat_ms[k] -= part->planned_ms[k];
		acc->cat_ms[CAT_PLANNED] += part->planned_ms[k];
	}
	acc->failures -= part->planned_failures;
	if (c->unknown == UNKNOWN_AS_DOWN) {
		oeed_ms known = 0;
		for (int k = 0; k < CAT__COUNT; k++)
			if (k != CAT_UNKNOWN)
				known += acc->cat_ms[k];
		if (part->span > known)
			acc->cat_ms[CAT_DOWN] += part->span - known;
	}
}

void contract_pool_add(struct contract_pool *p, const struct oeed_contract *c,
		       const struct contract_part *part)
{
	struct kpi_acc acc = part->acc;
	/* coverage is about the evidence, before the contract's view of it */
	kpi_acc_merge(&p->evidence, &acc);
	contract_view(c, part, &acc);
	p->n++;
	kpi_acc_merge(&p->pool, &acc);
	if (part->hist)
		hist_merge(&p->hist, part->hist);
	p->span += part->span;
	/* bounds: the rest of this machine's period all running at ideal speed / all down */
	oeed_ms rest = part->rest;
	struct kpi_acc b = acc, wst = acc;
	b.cat_ms[CAT_RUNNING] += rest;
	if (part->ideal_s > 0 && rest > 0) {
		int64_t parts = (int64_t)((double)rest / 1000.0 / part->ideal_s);
		kpi_acc_add_count(&b, CNT_TOTAL, parts, part->ideal_s);
		kpi_acc_add_count(&b, CNT_GOOD, parts, part->ideal_s);
	}
	wst.cat_ms[CAT_DOWN] += rest;
	if (rest > 0 && !part->down_now)
		wst.failures++;
	kpi_acc_merge(&p->best, &b);
	kpi_acc_merge(&p->worst, &wst);
	p->best_span += part->span + rest;
}

static double kpi_value(const struct kpi_acc *acc, oeed_ms span, const struct hist *h,
			enum oeed_kpi k, bool *ok)
{
	struct kpi_values kv;
	kpi_compute(acc, span, h, &kv);
	enum kpi_field f = kpi_field_of(k);
	*ok = kpi_has(&kv, f);
	return *ok ? kv.v[f] : 0.0;
}

static bool meets(const struct oeed_contract *c, double v, double level)
{
	return c->higher_is_better ? v >= level : v <= level;
}

void contract_pool_eval(const struct contract_pool *p, const struct oeed_contract *c,
			struct contract_result *r)
{
	r->n_machines = p->n;
	r->value = r->best_case = r->worst_case = r->coverage = 0;
	bool ok_v = false, ok_b = false, ok_w = false;
	if (p->n) {
		/* pooled: span is summed over machines, like the times */
		r->value = kpi_value(&p->pool, p->span, &p->hist, c->kpi, &ok_v);
		r->best_case = kpi_value(&p->best, p->best_span, &p->hist, c->kpi, &ok_b);
		r->worst_case = kpi_value(&p->worst, p->best_span, &p->hist, c->kpi, &ok_w);
		struct kpi_values kv;
		kpi_compute(&p->evidence, p->span, NULL, &kv);
		r->coverage = kpi_has(&kv, KF_COVERAGE) ? kv.v[KF_COVERAGE] : 0;
	}
	r->has_value = ok_v;
	if (!ok_b)
		r->best_case = NAN;
	if (!ok_w)
		r->worst_case = NAN;
	if (!ok_v)
		r->status = CS_NO_DATA;
	else if (meets(c, r->value, c->target))
		r->status = ok_w && meets(c, r->worst_case, c->target) ? CS_MET : CS_ON_TRACK;
	else if (meets(c, r->value, c->minimum))
		r->status = CS_AT_RISK;
	else
		r->status =
		    ok_b && !meets(c, r->best_case, c->minimum) ? CS_BREACHED : CS_BELOW_MINIMUM;
}
