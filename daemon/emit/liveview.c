/* liveview.c - see liveview.h */
#include "liveview.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lineproto.h"

#define LV_MAX_LABELS (OEED_MAX_WINDOWS + PERIOD__COUNT)
#define LV_LABEL_MAX  16

struct lv_kpi {
	bool has, final;
	oeed_ms start, end;
	struct kpi_values kv;
};

struct lv_contract {
	bool has;
	struct contract_result r; /* period_label points into the engine or a static name */
	char label[LV_LABEL_MAX];
};

struct lv_order {
	const char *id;
	size_t i;
};

struct liveview {
	const struct oeed_config *cfg;
	const struct engine *engine;
	struct engine_sink sink;
	size_t max_machines;
	char labels[LV_MAX_LABELS][LV_LABEL_MAX];
	size_t n_labels;
	struct lv_kpi *kpi; /* max_machines * LV_MAX_LABELS */
	struct lv_contract *contracts;
	bool *dirty;
	struct lv_order *order; /* scratch for sorting */
	oeed_ms tick;
};

/* ---- JSON ---- */

/* The length of the valid UTF-8 sequence at s (1..4), 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n = c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
	for (size_t k = 1; k < n; k++)
		if ((s[k] & 0xC0) != 0x80)
			return 0;
	if (n == 3 && ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0)))
		return 0; /* overlong, surrogate */
	if (n == 4 && ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90)))
		return 0;
	return n;
}

void json_put_str(struct strbuf *out, const char *s)
{
	strbuf_putc(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		if (*p == '"' || *p == '\\') {
			strbuf_putc(out, '\\');
			strbuf_putc(out, (char)*p++);
		} else if (*p < 0x20) {
			strbuf_printf(out, "\\u%04x", *p++);
		} else if (*p < 0x80) {
			strbuf_putc(out, (char)*p++);
		} else {
			size_t n = utf8_len(p);
			if (n) {
				strbuf_append(out, (const char *)p, n);
				p += n;
			} else {
				strbuf_puts(out, "\\ufffd");
				p++;
			}
		}
	}
	strbuf_putc(out, '"');
}

static void json_key(struct strbuf *out, const char *key)
{
	json_put_str(out, key);
	strbuf_putc(out, ':');
}

static void json_ms(struct strbuf *out, const char *key, oeed_ms t)
{
	json_key(out, key);
	if (t == OEED_MS_NONE)
		strbuf_puts(out, "null");
	else
		strbuf_printf(out, "%lld", (long long)t);
}

/* ---- the sink ---- */

static int label_slot(struct liveview *v, const char *label)
{
	for (size_t i = 0; i < v->n_labels; i++)
		if (strcmp(v->labels[i], label) == 0)
			return (int)i;
	if (v->n_labels == LV_MAX_LABELS || strlen(label) >= LV_LABEL_MAX)
		return -1;
	snprintf(v->labels[v->n_labels], LV_LABEL_MAX, "%s", label);
	return (int)v->n_labels++;
}

static void on_state(void *ctx, const struct engine_machine_info *m, oeed_ms ts,
		     enum oeed_category cat, const char *raw, const char *reason,
		     double prev_duration_s)
{
	struct liveview *v = ctx;
	size_t i = engine_machine_index(v->engine, m);
	if (i < v->max_machines)
		v->dirty[i] = true;
}

static void on_kpi(void *ctx, const struct engine_machine_info *m, const char *label, oeed_ms start,
		   oeed_ms end, const struct kpi_values *kv, bool final)
{
	struct liveview *v = ctx;
	size_t i = engine_machine_index(v->engine, m);
	int s = label_slot(v, label);
	if (i >= v->max_machines || s < 0)
		return;
	struct lv_kpi *k = &v->kpi[i * LV_MAX_LABELS + (size_t)s];
	k->has = true;
	k->final = final;
	k->start = start;
	k->end = end;
	k->kv = *kv;
}

static void on_contract(void *ctx, const struct contract_result *r)
{
	struct liveview *v = ctx;
	size_t c = (size_t)(r->contract - v->cfg->contracts);
	if (c >= v->cfg->n_contracts)
		return;
	v->contracts[c].has = true;
	v->contracts[c].r = *r;
	snprintf(v->contracts[c].label, LV_LABEL_MAX, "%s", r->period_label);
	v->contracts[c].r.period_label = v->contracts[c].label;
}

int liveview_new(const struct oeed_config *cfg, struct liveview **ret)
{
	struct liveview *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->cfg = cfg;
	v->max_machines = cfg->machines.max;
	v->tick = OEED_MS_NONE;
	v->kpi = calloc(v->max_machines * LV_MAX_LABELS, sizeof(*v->kpi));
	v->contracts = calloc(cfg->n_contracts ? cfg->n_contracts : 1, sizeof(*v->contracts));
	v->dirty = calloc(v->max_machines, sizeof(*v->dirty));
	v->order = calloc(v->max_machines, sizeof(*v->order));
	if (!v->kpi || !v->contracts || !v->dirty || !v->order) {
		liveview_free(v);
		return -ENOMEM;
	}
	v->sink.ctx = v;
	v->sink.state = on_state;
	v->sink.kpi = on_kpi;
	v->sink.contract = on_contract;
	*ret = v;
	return 0;
}

void liveview_free(struct liveview *v)
{
	if (!v)
		return;
	free(v->kpi);
	free(v->contracts);
	free(v->dirty);
	free(v->order);
	free(v);
}

const struct engine_sink *liveview_sink(struct liveview *v)
{
	return &v->sink;
}

void liveview_attach(struct liveview *v, const struct engine *e)
{
	v->engine = e;
}

oeed_ms liveview_tick(const struct liveview *v)
{
	return v->tick;
}

void liveview_ticked(struct liveview *v, oeed_ms tick)
{
	v->tick = tick;
	size_t n = OEED_MIN(engine_machine_count(v->engine), v->max_machines);
	for (size_t i = 0; i < n; i++)
		v->dirty[i] = true;
}

/* ---- rendering ---- */

static void kpi_json(struct strbuf *out, const struct lv_kpi *k)
{
	strbuf_putc(out, '{');
	json_ms(out, "window_start", k->start);
	strbuf_putc(out, ',');
	json_ms(out, "window_end", k->end);
	strbuf_puts(out, k->final ? ",\"final\":true" : ",\"final\":false");
	for (int f = 0; f < KF__COUNT; f++) {
		if (!kpi_has(&k->kv, (enum kpi_field)f) || !isfinite(k->kv.v[f]))
			continue;
		strbuf_putc(out, ',');
		json_key(out, kpi_field_name((enum kpi_field)f));
		/* the digits of the line protocol: lp_field_int / lp_field_decimal */
		if (kpi_field_is_int((enum kpi_field)f))
			strbuf_printf(out, "%lld", (long long)llround(k->kv.v[f]));
		else
			lp_format_decimal9(out, k->kv.v[f]);
	}
	strbuf_putc(out, '}');
}

static bool contract_has_machine(const struct oeed_contract *c, const char *id)
{
	for (size_t i = 0; i < c->n_machines; i++)
		if (fnmatch(c->machines[i], id, 0) == 0)
			return true;
	return false;
}

int liveview_machine_json(const struct liveview *v, size_t i, struct strbuf *out)
{
	struct engine_machine_view mv;
	if (i >= v->max_machines || engine_machine_view(v->engine, i, &mv) < 0)
		return -ENOENT;
	strbuf_putc(out, '{');
	json_key(out, "machine");
	json_put_str(out, mv.info->id);
	strbuf_puts(out, ",\"tags\":{");
	for (size_t t = 0; t < mv.info->n_tags; t++) {
		if (t)
			strbuf_putc(out, ',');
		json_key(out, mv.info->tag[t].key);
		json_put_str(out, mv.info->tag[t].value);
	}
	strbuf_puts(out, "},\"category\":");
	json_put_str(out, category_name(mv.cat));
	strbuf_puts(out, ",\"state\":");
	json_put_str(out, mv.raw);
	strbuf_puts(out, ",\"reason\":");
	json_put_str(out, mv.reason);
	strbuf_putc(out, ',');
	json_ms(out, "since", mv.since);
	strbuf_putc(out, ',');
	json_ms(out, "last_seen", mv.last_seen);
	strbuf_puts(out, ",\"kpi\":{");
	bool first = true;
	for (size_t s = 0; s < v->n_labels; s++) {
		const struct lv_kpi *k = &v->kpi[i * LV_MAX_LABELS + s];
		if (!k->has)
			continue;
		if (!first)
			strbuf_putc(out, ',');
		first = false;
		json_key(out, v->labels[s]);
		kpi_json(out, k);
	}
	strbuf_puts(out, "},\"contracts\":[");
	first = true;
	for (size_t c = 0; c < v->cfg->n_contracts; c++) {
		const struct oeed_contract *ct = &v->cfg->contracts[c];
		if (!contract_has_machine(ct, mv.info->id))
			continue;
		if (!first)
			strbuf_putc(out, ',');
		first = false;
		strbuf_puts(out, "{\"contract\":");
		json_put_str(out, ct->name);
		strbuf_puts(out, ",\"status\":");
		json_put_str(out, v->contracts[c].has
				      ? contract_status_name(v->contracts[c].r.status)
				      : "no_data");
		strbuf_putc(out, '}');
	}
	strbuf_puts(out, "]}");
	return 0;
}

static int by_id(const void *a, const void *b)
{
	return strcmp(((const struct lv_order *)a)->id, ((const struct lv_order *)b)->id);
}

void liveview_machines_json(struct liveview *v, struct strbuf *out)
{
	size_t n = OEED_MIN(engine_machine_count(v->engine), v->max_machines);
	for (size_t i = 0; i < n; i++) {
		struct engine_machine_view mv;
		engine_machine_view(v->engine, i, &mv);
		v->order[i] = (struct lv_order){mv.info->id, i};
	}
	qsort(v->order, n, sizeof(*v->order), by_id);
	strbuf_putc(out, '[');
	for (size_t k = 0; k < n; k++) {
		if (k)
			strbuf_putc(out, ',');
		liveview_machine_json(v, v->order[k].i, out);
	}
	strbuf_putc(out, ']');
}

void liveview_contracts_json(const struct liveview *v, struct strbuf *out)
{
	strbuf_putc(out, '[');
	for (size_t c = 0; c < v->cfg->n_contracts; c++) {
		const struct oeed_contract *ct = &v->cfg->contracts[c];
		const struct lv_contract *lc = &v->contracts[c];
		if (c)
			strbuf_putc(out, ',');
		strbuf_puts(out, "{\"contract\":");
		json_put_str(out, ct->name);
		strbuf_puts(out, ",\"kpi\":");
		json_put_str(out, kpi_name(ct->kpi));
		strbuf_puts(out, ",\"target\":");
		lp_format_double(out, ct->target);
		strbuf_puts(out, ",\"minimum\":");
		lp_format_double(out, ct->minimum);
		strbuf_puts(out, ",\"status\":");
		json_put_str(out, lc->has ? contract_status_name(lc->r.status) : "no_data");
		if (lc->has) {
			const struct contract_result *r = &lc->r;
			strbuf_puts(out, ",\"period\":");
			json_put_str(out, r->period_label);
			strbuf_putc(out, ',');
			json_ms(out, "period_start", r->period_start);
			strbuf_putc(out, ',');
			json_ms(out, "ts", r->ts);
			strbuf_puts(out, r->final ? ",\"final\":true" : ",\"final\":false");
			if (r->has_value) {
				strbuf_puts(out, ",\"value\":");
				lp_format_decimal9(out, r->value);
			}
			if (isfinite(r->best_case)) {
				strbuf_puts(out, ",\"best_case\":");
				lp_format_decimal9(out, r->best_case);
			}
			if (isfinite(r->worst_case)) {
				strbuf_puts(out, ",\"worst_case\":");
				lp_format_decimal9(out, r->worst_case);
			}
			if (isfinite(r->coverage)) {
				strbuf_puts(out, ",\"coverage\":");
				lp_format_decimal9(out, r->coverage);
			}
			strbuf_printf(out, ",\"machines\":%u", r->n_machines);
		}
		strbuf_putc(out, '}');
	}
	strbuf_putc(out, ']');
}

void liveview_take_dirty(struct liveview *v, void (*fn)(void *ctx, size_t i, const char *id),
			 void *ctx)
{
	size_t n = OEED_MIN(engine_machine_count(v->engine), v->max_machines);
	for (size_t i = 0; i < n; i++) {
		if (!v->dirty[i])
			continue;
		v->dirty[i] = false;
		struct engine_machine_view mv;
		if (engine_machine_view(v->engine, i, &mv) == 0)
			fn(ctx, i, mv.info->id);
	}
}
