/* emit.c - see emit.h */
#include "emit.h"

#include <math.h>
#include <string.h>
#include "lineproto.h"
#include "log.h"

static void machine_tags(struct emitter *em, struct lp_line *l, const struct engine_machine_info *m)
{
	lp_tag(l, "machine", m->id);
	if (em->site)
		lp_tag(l, "site", em->site);
	if (em->instance)
		lp_tag(l, "instance", em->instance);
	for (size_t i = 0; i < m->n_tags; i++)
		lp_tag(l, m->tag[i].key, m->tag[i].value);
}

static void on_state(void *ctx, const struct engine_machine_info *m, oeed_ms ts,
		     enum oeed_category cat, const char *raw, const char *reason,
		     double prev_duration_s)
{
	struct emitter *em = ctx;
	if (em->discard)
		return;
	struct lp_line l;
	lp_begin(&l, em->out, "machine_state");
	machine_tags(em, &l, m);
	lp_tag(&l, "category", category_name(cat));
	lp_field_str(&l, "state", raw);
	lp_field_str(&l, "reason", reason);
	if (prev_duration_s >= 0)
		lp_field_decimal(&l, "prev_duration_s", prev_duration_s);
	if (lp_end(&l, ts))
		em->lines++;
}

static void on_kpi(void *ctx, const struct engine_machine_info *m, const char *label, oeed_ms start,
		   oeed_ms end, const struct kpi_values *kv, bool final)
{
	struct emitter *em = ctx;
	if (em->discard)
		return;
	struct lp_line l;
	lp_begin(&l, em->out, "machine_kpi");
	machine_tags(em, &l, m);
	lp_tag(&l, "window", label);
	if (kv->shift)
		lp_tag(&l, "shift", kv->shift);
	for (int f = 0; f < KF__COUNT; f++) {
		if (!kpi_has(kv, (enum kpi_field)f) || !isfinite(kv->v[f]))
			continue; /* llround(NaN) would be INT64_MIN */
		if (kpi_field_is_int((enum kpi_field)f))
			lp_field_int(&l, kpi_field_name((enum kpi_field)f),
				     (int64_t)llround(kv->v[f]));
		else
			lp_field_decimal(&l, kpi_field_name((enum kpi_field)f), kv->v[f]);
	}
	lp_field_bool(&l, "final", final);
	lp_field_int(&l, "window_start", start);
	if (lp_end(&l, end))
		em->lines++;
}

static void log_contract(const struct contract_result *r)
{
	char v[32] = "-";
	if (r->has_value)
		snprintf(v, sizeof(v), "%.6g", r->value);
	if (r->final)
		log_info("contract %s: %s period closed: %s (%s %s, target %.6g, minimum %.6g, "
			 "coverage %.4g)",
			 r->contract->name, r->period_label, contract_status_name(r->status),
			 kpi_name(r->contract->kpi), v, r->contract->target, r->contract->minimum,
			 r->coverage);
	else if (r->has_prev && r->prev_status != r->status)
		log_info("contract %s: %s -> %s (%s %s, target %.6g, minimum %.6g)",
			 r->contract->name, contract_status_name(r->prev_status),
			 contract_status_name(r->status), kpi_name(r->contract->kpi), v,
			 r->contract->target, r->contract->minimum);
}

static void on_contract(void *ctx, const struct contract_result *r)
{
	struct emitter *em = ctx;
	if (em->log_status)
		log_contract(r);
	if (em->discard)
		return;
	struct lp_line l;
	lp_begin(&l, em->out, "contract");
	lp_tag(&l, "contract", r->contract->name);
	if (em->site)
		lp_tag(&l, "site", em->site);
	if (em->instance)
		lp_tag(&l, "instance", em->instance);
	lp_tag(&l, "kpi", kpi_name(r->contract->kpi));
	lp_tag(&l, "period", r->period_label);
	if (r->shift)
		lp_tag(&l, "shift", r->shift);
	if (r->has_value)
		lp_field_decimal(&l, "value", r->value);
	lp_field_float(&l, "target", r->contract->target);
	lp_field_float(&l, "minimum", r->contract->minimum);
	lp_field_decimal(&l, "best_case", r->best_case); /* skipped when NaN */
	lp_field_decimal(&l, "worst_case", r->worst_case);
	lp_field_decimal(&l, "coverage", r->coverage);
	lp_field_str(&l, "status", contract_status_name(r->status));
	lp_field_int(&l, "status_code", contract_status_code(r->status));
	lp_field_bool(&l, "final", r->final);
	lp_field_int(&l, "period_start", r->period_start);
	lp_field_int(&l, "machines", r->n_machines);
	if (lp_end(&l, r->ts))
		em->lines++;
}

static void on_loss(void *ctx, const struct engine_machine_info *m, const struct engine_loss *ls)
{
	struct emitter *em = ctx;
	if (em->discard)
		return;
	struct lp_line l;
	lp_begin(&l, em->out, "machine_loss");
	machine_tags(em, &l, m);
	lp_tag(&l, "window", ls->label);
	if (ls->shift)
		lp_tag(&l, "shift", ls->shift);
	lp_tag(&l, "category", category_name(ls->cat));
	lp_tag(&l, "reason", ls->reason); /* left out when empty */
	lp_field_decimal(&l, "time_s", (double)ls->time_ms / 1000.0);
	lp_field_int(&l, "events", ls->events);
	if (ls->events)
		lp_field_decimal(&l, "mean_s", (double)ls->time_ms / 1000.0 / ls->events);
	lp_field_bool(&l, "final", ls->final);
	lp_field_int(&l, "window_start", ls->window_start);
	if (lp_end(&l, ls->window_end))
		em->lines++;
}

static void on_stop(void *ctx, const struct engine_machine_info *m, const struct engine_stop *st)
{
	struct emitter *em = ctx;
	if (em->discard)
		return;
	struct lp_line l;
	lp_begin(&l, em->out, "machine_stop");
	machine_tags(em, &l, m);
	lp_tag(&l, "category", category_name(st->cat));
	lp_tag(&l, "reason", st->reason);
	lp_field_decimal(&l, "duration_s", (double)(st->end - st->start) / 1000.0);
	lp_field_int(&l, "start", st->start);
	/* stamped with the stop's start: a point per stop, and a timeline in any store */
	if (lp_end(&l, st->start))
		em->lines++;
}

void emit_sink(struct emitter *em, struct engine_sink *ret)
{
	ret->ctx = em;
	ret->state = on_state;
	ret->kpi = on_kpi;
	ret->contract = on_contract;
	ret->loss = on_loss;
	ret->stop = on_stop;
}

void emit_self(struct emitter *em, const char *instance, oeed_ms ts, const struct self_metrics *s)
{
	if (em->discard)
		return;
	struct lp_line l;
	lp_begin(&l, em->out, "oeed");
	lp_tag(&l, "instance", instance);
	if (em->site)
		lp_tag(&l, "site", em->site);
#define F(name) lp_field_int(&l, #name, (int64_t)s->name)
	F(messages);
	F(decode_errors);
	F(unmatched);
	F(dropped_messages);
	F(late);
	F(reordered);
	F(skewed);
	F(machines);
	F(machines_dropped);
	F(counter_resets);
	F(unmapped);
	F(lines_written);
	F(lines_retried);
	F(lines_spooled);
	F(write_errors);
	F(spool_bytes);
	F(dropped_lines);
	F(queue_depth);
	F(queue_waits);
	F(rss_bytes);
	F(protocol_notices);
#undef F
	if (lp_end(&l, ts))
		em->lines++;
}
