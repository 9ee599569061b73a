/* report.c - `oeed report` (see report.h): replays recordings through the engine with a sink
 * that collects one contract's records for one period, the matched machines' period figures
 * and their state changes, then writes a plain-text summary and, on request, a
 * self-contained HTML report (inline CSS and SVG, no scripts, printable).
 *
 * Nothing here computes a KPI of its own. The contract's value, bounds, status and coverage
 * are the engine's contract records; the series per day (or shift) comes from a clone of the
 * contract judged on that sub-period by the same engine, so planned reasons, the unknown
 * policy and pooling apply to each point exactly as to the whole period. The report only
 * lists evidence: failures and downtime by reason from the state changes (the same change
 * events `oeed replay` writes as machine_state). */
#include "report.h"

#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>

#include "app.h"
#include "calendar.h"
#include "fleet.h"
#include "log.h"
#include "replay.h"

#define REASON_LEN (ENGINE_REASON_MAX + 1)
#define PARETO_MAX 10 /* reasons shown in the Pareto; the rest are summed as "other" */

/* ---- what the report collects ---- */

struct failure {
	size_t machine;
	oeed_ms start, end; /* end: OEED_MS_NONE while the machine is still down */
	char reason[REASON_LEN];
	bool planned;	/* a planned_reason of the contract: not a failure for it */
	bool microstop; /* ended as a micro-stop: the engine counts it as running */
};

struct reason_time {
	char reason[REASON_LEN];
	oeed_ms ms;
	uint32_t failures;
};

struct rmachine {
	const struct engine_machine_info *info; /* identity: stable for the engine's life */
	bool matched;
	char id[ENGINE_ID_MAX + 1];
	oeed_ms microstop_below;
	bool has_state;
	enum oeed_category cat;
	char reason[REASON_LEN];
	oeed_ms since;
	bool down_from_running; /* the current down may still turn out a micro-stop */
	long open_failure;	/* index into failures while down, else -1 */
	oeed_ms clock;		/* latest machine time seen in its records */
	bool has_kpi, kpi_final;
	struct kpi_values kv; /* the contract period's record (final when there is one) */
};

/* One point of the series: a sub-period (day, shift) or, for a shift contract, an hour. */
struct point {
	oeed_ms start, end;
	bool has_value, final;
	double value, coverage;
	enum contract_status status;
	bool has_cum; /* the contract's value so far at the end of this point */
	double cum;
};

struct collect {
	const struct oeed_config *cfg;
	const struct oeed_contract *c;	 /* the requested contract */
	const struct oeed_contract *sub; /* its clone judged per sub-period, or NULL */
	const struct calendar *cal;
	enum oeed_period sub_period;
	oeed_ms pstart, pend;
	bool has_final, has_last;
	struct contract_result final, last;
	struct point *pts;
	size_t n_pts, cap_pts;
	struct rmachine *m;
	size_t n_m, cap_m;
	size_t *hash; /* index + 1 into m by info pointer, 0 empty */
	size_t hash_size;
	struct failure *f;
	size_t n_f, cap_f;
	struct reason_time *rt;
	size_t n_rt, cap_rt;
	oeed_ms planned_down_ms; /* down time with a planned reason of the contract */
	int error;		 /* -ENOMEM once an allocation failed: the report is refused */
};

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 64;
	while (nc < need)
		nc *= 2;
	void *np = realloc(*p, nc * size);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = nc;
	return 0;
}

static bool contract_has_machine(const struct oeed_contract *c, const char *id)
{
	for (size_t i = 0; i < c->n_machines; i++)
		if (fnmatch(c->machines[i], id, 0) == 0)
			return true;
	return false;
}

static bool planned_reason(const struct oeed_contract *c, const char *reason)
{
	for (size_t i = 0; i < c->n_planned_reasons; i++)
		if (strcmp(c->planned_reasons[i], reason) == 0)
			return true;
	return false;
}

static size_t ptr_hash(const void *p, size_t mask)
{
	uint64_t x = (uint64_t)(uintptr_t)p;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x & mask;
}

static int hash_insert(struct collect *col, size_t idx)
{
	size_t mask = col->hash_size - 1;
	for (size_t h = ptr_hash(col->m[idx].info, mask);; h = (h + 1) & mask) {
		if (!col->hash[h]) {
			col->hash[h] = idx + 1;
			return 0;
		}
	}
}

/* The collector's entry for a machine (matched or not), or NULL when out of memory. */
static struct rmachine *machine_of(struct collect *col, const struct engine_machine_info *info)
{
	if (col->hash_size) {
		size_t mask = col->hash_size - 1;
		for (size_t h = ptr_hash(info, mask); col->hash[h]; h = (h + 1) & mask)
			if (col->m[col->hash[h] - 1].info == info)
				return &col->m[col->hash[h] - 1];
	}
	if (grow((void **)&col->m, &col->cap_m, col->n_m + 1, sizeof(*col->m)) < 0)
		goto nomem;
	if (col->n_m + 1 > col->hash_size / 2) {
		size_t ns = col->hash_size ? col->hash_size * 2 : 64;
		size_t *nh = calloc(ns, sizeof(size_t));
		if (!nh)
			goto nomem;
		free(col->hash);
		col->hash = nh;
		col->hash_size = ns;
		for (size_t i = 0; i < col->n_m; i++)
			hash_insert(col, i);
	}
	struct rmachine *rm = &col->m[col->n_m];
	memset(rm, 0, sizeof(*rm));
	rm->info = info;
	strlcpy_oeed(rm->id, info->id, sizeof(rm->id));
	rm->matched = contract_has_machine(col->c, info->id);
	const struct oeed_machine_conf *mc = config_machine(col->cfg, info->id);
	rm->microstop_below =
	    mc ? mc->microstop_below_ms : col->cfg->machines.defaults.microstop_below_ms;
	rm->open_failure = -1;
	rm->clock = OEED_MS_NONE;
	hash_insert(col, col->n_m++);
	return rm;
nomem:
	col->error = -ENOMEM;
	return NULL;
}

static void add_reason_time(struct collect *col, const char *reason, oeed_ms ms, bool failure)
{
	size_t i;
	for (i = 0; i < col->n_rt; i++)
		if (strcmp(col->rt[i].reason, reason) == 0)
			break;
	if (i == col->n_rt) {
		if (grow((void **)&col->rt, &col->cap_rt, col->n_rt + 1, sizeof(*col->rt)) < 0) {
			col->error = -ENOMEM;
			return;
		}
		memset(&col->rt[i], 0, sizeof(col->rt[i]));
		strlcpy_oeed(col->rt[i].reason, reason, REASON_LEN);
		col->n_rt++;
	}
	col->rt[i].ms += ms;
	col->rt[i].failures += failure;
}

/* Ends the machine's current state at t: its down time inside the period goes to its
 * reason, unless the stop was a micro-stop (`to` is the category that follows). */
static void close_state(struct collect *col, struct rmachine *rm, oeed_ms t, enum oeed_category to)
{
	if (!rm->has_state || rm->cat != CAT_DOWN)
		return;
	bool micro = rm->down_from_running && rm->microstop_below > 0 && to == CAT_RUNNING &&
		     t - rm->since < rm->microstop_below;
	if (rm->open_failure >= 0) {
		col->f[rm->open_failure].end = t;
		col->f[rm->open_failure].microstop = micro;
	}
	if (micro)
		return;
	oeed_ms a = OEED_MAX(rm->since, col->pstart), b = OEED_MIN(t, col->pend);
	if (b <= a)
		return;
	if (planned_reason(col->c, rm->reason))
		col->planned_down_ms += b - a;
	else
		add_reason_time(col, rm->reason, b - a, false);
}

static void on_state(void *ctx, const struct engine_machine_info *m, oeed_ms ts,
		     enum oeed_category cat, const char *raw, const char *reason,
		     double prev_duration_s)
{
	(void)raw;
	(void)prev_duration_s;
	struct collect *col = ctx;
	struct rmachine *rm = machine_of(col, m);
	if (!rm || !rm->matched)
		return;
	if (ts > rm->clock || rm->clock == OEED_MS_NONE)
		rm->clock = ts;
	bool was_down = rm->has_state && rm->cat == CAT_DOWN;
	close_state(col, rm, ts, cat);
	if (cat != CAT_DOWN || !was_down) {
		rm->open_failure = -1;
		rm->down_from_running = rm->has_state && rm->cat == CAT_RUNNING;
	} else {
		rm->down_from_running = false; /* a change of reason while down decides it */
	}
	if (cat == CAT_DOWN && !was_down && ts >= col->pstart && ts < col->pend) {
		if (grow((void **)&col->f, &col->cap_f, col->n_f + 1, sizeof(*col->f)) < 0) {
			col->error = -ENOMEM;
		} else {
			struct failure *f = &col->f[col->n_f];
			memset(f, 0, sizeof(*f));
			f->machine = (size_t)(rm - col->m);
			f->start = ts;
			f->end = OEED_MS_NONE;
			strlcpy_oeed(f->reason, reason, REASON_LEN);
			f->planned = planned_reason(col->c, reason);
			rm->open_failure = (long)col->n_f++;
		}
	}
	rm->has_state = true;
	rm->cat = cat;
	strlcpy_oeed(rm->reason, reason, REASON_LEN);
	rm->since = ts;
}

static void on_kpi(void *ctx, const struct engine_machine_info *m, const char *label, oeed_ms start,
		   oeed_ms end, const struct kpi_values *kv, bool final)
{
	struct collect *col = ctx;
	struct rmachine *rm = machine_of(col, m);
	if (!rm || !rm->matched)
		return;
	if (end > rm->clock || rm->clock == OEED_MS_NONE)
		rm->clock = end;
	if (start != col->pstart || strcmp(label, period_name(col->c->period)) != 0)
		return;
	if (final || !rm->kpi_final) {
		rm->kv = *kv;
		rm->has_kpi = true;
		rm->kpi_final = final;
	}
}

/* The series point [start, end), found from the newest (records arrive in time order). */
static struct point *point_at(struct collect *col, oeed_ms start, oeed_ms end)
{
	for (size_t i = col->n_pts; i-- > 0;)
		if (col->pts[i].start == start)
			return &col->pts[i];
	if (grow((void **)&col->pts, &col->cap_pts, col->n_pts + 1, sizeof(*col->pts)) < 0) {
		col->error = -ENOMEM;
		return NULL;
	}
	/* keep the points sorted (a clone's final can come after the next day's record) */
	size_t i = col->n_pts;
	while (i > 0 && col->pts[i - 1].start > start)
		i--;
	memmove(&col->pts[i + 1], &col->pts[i], (col->n_pts - i) * sizeof(*col->pts));
	struct point *p = &col->pts[i];
	memset(p, 0, sizeof(*p));
	p->start = start;
	p->end = end;
	col->n_pts++;
	return p;
}

/* The point a record stamped t belongs to: the sub-period holding the instant before t. */
static int point_span(const struct collect *col, oeed_ms t, oeed_ms *s, oeed_ms *e)
{
	if (col->sub)
		return calendar_period(col->cal, col->sub_period, t - 1, s, e, NULL);
	/* a shift contract: hours from the period start */
	*s = t - 1 - (t - 1 - col->pstart) % 3600000;
	*e = OEED_MIN(*s + 3600000, col->pend);
	return 0;
}

static void on_contract(void *ctx, const struct contract_result *r)
{
	struct collect *col = ctx;
	if (r->contract == col->c && r->period_start == col->pstart) {
		if (r->final) {
			col->final = *r;
			col->has_final = true;
			return;
		}
		col->last = *r;
		col->has_last = true;
		oeed_ms s, e;
		if (!r->has_value || point_span(col, r->ts, &s, &e) < 0)
			return;
		struct point *p = point_at(col, s, e);
		if (p) {
			p->has_cum = true;
			p->cum = r->value;
		}
		if (!col->sub && p && !p->final) { /* hours: the value so far is the point */
			p->has_value = true;
			p->value = r->value;
			p->coverage = r->coverage;
			p->status = r->status;
		}
		return;
	}
	if (!col->sub || r->contract != col->sub || r->period_start < col->pstart ||
	    r->period_start >= col->pend)
		return;
	struct point *p = point_at(col, r->period_start, r->period_end);
	if (!p || (p->final && !r->final))
		return;
	p->final = r->final;
	p->has_value = r->has_value;
	p->value = r->value;
	p->coverage = r->coverage;
	p->status = r->status;
}

/* After the replay: states still open end at the machine's clock (capped at the period). */
static void collect_finish(struct collect *col)
{
	for (size_t i = 0; i < col->n_m; i++) {
		struct rmachine *rm = &col->m[i];
		if (!rm->matched || !rm->has_state || rm->cat != CAT_DOWN)
			continue;
		long of = rm->open_failure;
		close_state(col, rm, OEED_MIN(rm->clock, col->pend), CAT_DOWN);
		if (of >= 0)
			col->f[of].end = OEED_MS_NONE; /* still down: the duration is open */
	}
}

static void collect_free(struct collect *col)
{
	free(col->pts);
	free(col->m);
	free(col->hash);
	free(col->f);
	free(col->rt);
}

/* ---- checksums ---- */

struct checksum {
	const char *path;
	char hex[2 * 32 + 1];
	uint64_t size;
};

static int sha256_file(const char *path, struct checksum *ret, struct oeed_error *err)
{
	int r = 0;
	unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;
	FILE *f = fopen(path, "rb");
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!f || !ctx) {
		r = f ? -ENOMEM : -errno;
		goto out;
	}
	ret->path = path;
	ret->size = 0;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = -EIO;
		goto out;
	}
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (EVP_DigestUpdate(ctx, buf, n) != 1) {
			r = -EIO;
			goto out;
		}
		ret->size += n;
	}
	if (ferror(f)) {
		r = -EIO;
		goto out;
	}
	if (EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != 32) {
		r = -EIO;
		goto out;
	}
	for (unsigned i = 0; i < md_len; i++)
		snprintf(ret->hex + 2 * i, 3, "%02x", md[i]);
out:
	if (r < 0)
		snprintf(err->msg, sizeof(err->msg), "%s: sha256: %s", path, strerror(-r));
	EVP_MD_CTX_free(ctx);
	if (f)
		fclose(f);
	return r;
}

/* ---- formatting ---- */

static bool kpi_is_share(enum oeed_kpi k)
{
	return k == KPI_AVAILABILITY || k == KPI_UPTIME || k == KPI_PERFORMANCE ||
	       k == KPI_QUALITY || k == KPI_OEE;
}

static void fmt_value(enum oeed_kpi k, bool has, double v, char *buf, size_t n)
{
	if (!has || isnan(v))
		snprintf(buf, n, "n/a");
	else if (kpi_is_share(k))
		snprintf(buf, n, "%.3f %%", v * 100.0);
	else if (k == KPI_RATE_PER_H)
		snprintf(buf, n, "%.1f /h", v);
	else if (k == KPI_DOWN_RUN_RATIO)
		snprintf(buf, n, "%.4f", v);
	else
		snprintf(buf, n, "%.1f s", v);
}

static void fmt_duration(double s, char *buf, size_t n)
{
	long long t = llround(s);
	if (t >= 3600)
		snprintf(buf, n, "%lldh %02lldm %02llds", t / 3600, t / 60 % 60, t % 60);
	else if (t >= 60)
		snprintf(buf, n, "%lldm %02llds", t / 60, t % 60);
	else
		snprintf(buf, n, "%.1fs", s);
}

/* Local time in the configured zone with its offset: "2026-10-25 02:30:00 +01:00". */
static void fmt_local(const struct calendar *cal, oeed_ms t, bool seconds, char *buf, size_t n)
{
	int off = calendar_utc_offset(cal, t);
	time_t s = (time_t)((t >= 0 ? t : t - 999) / 1000) + off;
	struct tm tm;
	gmtime_r(&s, &tm);
	int a = off < 0 ? -off : off;
	char hm[16];
	snprintf(hm, sizeof(hm), seconds ? ":%02d" : "", tm.tm_sec);
	snprintf(buf, n, "%04d-%02d-%02d %02d:%02d%s %c%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, hm, off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
}

static double kv_get(const struct kpi_values *kv, enum kpi_field f)
{
	return kpi_has(kv, f) ? kv->v[f] : NAN;
}

static int cmp_reason(const void *a, const void *b)
{
	const struct reason_time *x = a, *y = b;
	if (x->ms != y->ms)
		return x->ms < y->ms ? 1 : -1;
	return strcmp(x->reason, y->reason);
}

/* Everything the writers need, derived once from the collection. */
struct summary {
	const struct contract_result *r; /* the final record, else the latest one, or NULL */
	size_t n_matched;
	size_t failures; /* failures of the contract: not micro-stops, not planned reasons */
	size_t planned_failures;
	oeed_ms down_ms;   /* in the Pareto */
	char label[64];	   /* the period label as given */
	char sub_name[16]; /* "day", "shift", "hour" */
};

static void summarize(const struct collect *col, const char *label, struct summary *s)
{
	memset(s, 0, sizeof(*s));
	s->r = col->has_final ? &col->final : col->has_last ? &col->last : NULL;
	for (size_t i = 0; i < col->n_m; i++)
		s->n_matched += col->m[i].matched;
	for (size_t i = 0; i < col->n_f; i++) {
		if (col->f[i].microstop)
			continue;
		if (col->f[i].planned)
			s->planned_failures++;
		else
			s->failures++;
	}
	for (size_t i = 0; i < col->n_rt; i++)
		s->down_ms += col->rt[i].ms;
	strlcpy_oeed(s->label, label, sizeof(s->label));
	strlcpy_oeed(s->sub_name, col->sub ? period_name(col->sub_period) : "hour",
		     sizeof(s->sub_name));
}

static void write_text(const struct collect *col, const struct summary *s,
		       const struct checksum *cs, size_t n_cs, FILE *out)
{
	const struct oeed_contract *c = col->c;
	char a[64], b[64], v[64];
	fmt_local(col->cal, col->pstart, false, a, sizeof(a));
	fmt_local(col->cal, col->pend, false, b, sizeof(b));
	fprintf(out, "Contract %s: %s, %s %s (%s .. %s, %s)\n", c->name, kpi_name(c->kpi),
		period_name(c->period), s->label, a, b, col->cfg->report.timezone);
	fprintf(out, "Machines:  %zu matched (", s->n_matched);
	for (size_t i = 0; i < c->n_machines; i++)
		fprintf(out, "%s%s", i ? ", " : "", c->machines[i]);
	fprintf(out, ")\n");
	if (!s->r) {
		fprintf(out, "Status:    no records for this period in the recordings\n");
		return;
	}
	fmt_value(c->kpi, s->r->has_value, s->r->value, v, sizeof(v));
	fmt_value(c->kpi, true, c->target, a, sizeof(a));
	fmt_value(c->kpi, true, c->minimum, b, sizeof(b));
	fprintf(out, "Value:     %s (target %s, minimum %s, %s is better)\n", v, a, b,
		c->higher_is_better ? "higher" : "lower");
	fprintf(out, "Status:    %s (%s)\n", contract_status_name(s->r->status),
		s->r->final ? "final: the period is closed" : "provisional: the period is open");
	fmt_value(c->kpi, !isnan(s->r->best_case), s->r->best_case, a, sizeof(a));
	fmt_value(c->kpi, !isnan(s->r->worst_case), s->r->worst_case, b, sizeof(b));
	fprintf(out, "Bounds:    best case %s, worst case %s\n", a, b);
	fprintf(out, "Coverage:  %.4f %%\n", s->r->coverage * 100.0);
	fprintf(out, "Unknown:   %s\n",
		c->unknown == UNKNOWN_AS_DOWN ? "counted as down" : "excluded");
	fprintf(out, "Failures:  %zu", s->failures);
	if (s->planned_failures)
		fprintf(out, " (+%zu with planned reasons, not counted)", s->planned_failures);
	fprintf(out, "\n");
	struct reason_time *rt = malloc((col->n_rt ? col->n_rt : 1) * sizeof(*rt));
	if (rt) {
		memcpy(rt, col->rt, col->n_rt * sizeof(*rt));
		qsort(rt, col->n_rt, sizeof(*rt), cmp_reason);
		fprintf(out, "Top downtime reasons:\n");
		for (size_t i = 0; i < col->n_rt && i < 5; i++)
			fprintf(out, "  %-20s %10.2f h %6.1f %%\n",
				rt[i].reason[0] ? rt[i].reason : "-", (double)rt[i].ms / 3.6e6,
				s->down_ms ? 100.0 * (double)rt[i].ms / (double)s->down_ms : 0.0);
		free(rt);
	}
	fprintf(out, "Per machine (hours):\n  %-20s %9s %9s %9s %9s %9s %9s %8s\n", "machine",
		"run", "idle", "down", "planned", "unknown", "avail", "failures");
	for (size_t i = 0; i < col->n_m; i++) {
		const struct rmachine *rm = &col->m[i];
		if (!rm->matched || !rm->has_kpi)
			continue;
		fprintf(out, "  %-20s %9.2f %9.2f %9.2f %9.2f %9.2f %8.2f%% %8.0f\n", rm->id,
			kv_get(&rm->kv, KF_RUN_S) / 3600, kv_get(&rm->kv, KF_IDLE_S) / 3600,
			kv_get(&rm->kv, KF_DOWN_S) / 3600, kv_get(&rm->kv, KF_PLANNED_S) / 3600,
			kv_get(&rm->kv, KF_UNKNOWN_S) / 3600,
			kv_get(&rm->kv, KF_AVAILABILITY) * 100, kv_get(&rm->kv, KF_FAILURES));
	}
	fprintf(out, "SHA-256:\n");
	for (size_t i = 0; i < n_cs; i++)
		fprintf(out, "  %s  %s\n", cs[i].hex, cs[i].path);
}

/* ---- HTML ---- */

static void esc(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			strbuf_puts(sb, "&lt;");
			break;
		case '>':
			strbuf_puts(sb, "&gt;");
			break;
		case '&':
			strbuf_puts(sb, "&amp;");
			break;
		case '"':
			strbuf_puts(sb, "&quot;");
			break;
		default:
			strbuf_putc(sb, *s);
		}
	}
}

static const char *status_color(enum contract_status status)
{
	switch (status) {
	case CS_MET:
	case CS_ON_TRACK:
		return "#2e7d32";
	case CS_AT_RISK:
		return "#ef8f00";
	case CS_BELOW_MINIMUM:
	case CS_BREACHED:
		return "#c62828";
	default:
		return "#888";
	}
}

static const char CSS[] =
    "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;color:#222;margin:24px auto;"
    "max-width:1040px;padding:0 16px;font-size:14px}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;border-bottom:1px solid #ccc;"
    "padding-bottom:3px;margin-top:28px}"
    ".sub{color:#555}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}"
    ".card{border:1px solid #ccc;border-radius:6px;padding:10px 14px;min-width:150px}"
    ".card b{display:block;font-size:22px}.card span{color:#555;font-size:12px}"
    ".status{color:#fff;border-radius:4px;padding:2px 8px;font-weight:bold}"
    "table{border-collapse:collapse;width:100%;margin:8px 0;font-size:13px}"
    "th,td{border-bottom:1px solid #ddd;padding:3px 6px;text-align:right}"
    "th:first-child,td:first-child{text-align:left}th{background:#f2f2f2}"
    "td.l,th.l{text-align:left}.mono{font-family:'DejaVu Sans Mono',monospace;font-size:12px}"
    "svg{display:block;max-width:100%;height:auto}svg text{font-size:11px;fill:#333}"
    ".note{color:#555;font-size:12px}"
    "@media print{body{margin:0;max-width:none;font-size:11px}h2{break-after:avoid}"
    "svg,.cards,tr{break-inside:avoid}.card{border-color:#999}"
    ".status{-webkit-print-color-adjust:exact;print-color-adjust:exact}"
    "svg{-webkit-print-color-adjust:exact;print-color-adjust:exact}}";

/* The band a value falls in, for the colour of a series bar. */
static enum contract_status level_of(const struct oeed_contract *c, double v)
{
	bool t = c->higher_is_better ? v >= c->target : v <= c->target;
	bool m = c->higher_is_better ? v >= c->minimum : v <= c->minimum;
	return t ? CS_ON_TRACK : m ? CS_AT_RISK : CS_BELOW_MINIMUM;
}

/* y-axis range holding the values, the target and the minimum, padded. */
static void value_range(const struct collect *col, double *lo, double *hi)
{
	const struct oeed_contract *c = col->c;
	double a = fmin(c->target, c->minimum), b = fmax(c->target, c->minimum);
	for (size_t i = 0; i < col->n_pts; i++) {
		if (col->pts[i].has_value) {
			a = fmin(a, col->pts[i].value);
			b = fmax(b, col->pts[i].value);
		}
		if (col->pts[i].has_cum) {
			a = fmin(a, col->pts[i].cum);
			b = fmax(b, col->pts[i].cum);
		}
	}
	double pad = (b - a) * 0.1;
	if (pad <= 0)
		pad = fabs(b) * 0.05 + 0.01;
	a -= pad;
	b += pad;
	if (kpi_is_share(c->kpi) || a < 0) {
		if (a < 0)
			a = 0;
	}
	*lo = a;
	*hi = b;
}

static void svg_series(struct strbuf *sb, const struct collect *col, const struct summary *s)
{
	const struct oeed_contract *c = col->c;
	const double W = 1000, H = 300, L = 70, R = 20, T = 20, B = 50;
	double lo, hi;
	value_range(col, &lo, &hi);
	size_t n = col->n_pts;
	double pw = n ? (W - L - R) / (double)n : 0;
#define YV(v) (T + (H - T - B) * (1 - ((v)-lo) / (hi - lo)))
	strbuf_printf(sb,
		      "<svg viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
		      "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"%s per %s\">",
		      W, H, W, H, kpi_name(c->kpi), s->sub_name);
	for (int g = 0; g <= 5; g++) {
		double v = lo + (hi - lo) * g / 5.0;
		char lab[32];
		if (kpi_is_share(c->kpi))
			snprintf(lab, sizeof(lab), "%.1f %%", v * 100.0);
		else
			snprintf(lab, sizeof(lab), "%.4g", v);
		strbuf_printf(
		    sb,
		    "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
		    "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
		    L, W - R, YV(v), YV(v), L - 4, YV(v) + 4, lab);
	}
	size_t every = n > 16 ? (n + 15) / 16 : 1;
	for (size_t i = 0; i < n; i++) {
		const struct point *p = &col->pts[i];
		double x = L + pw * (double)i;
		if (p->has_value) {
			double y = YV(p->value), y0 = YV(lo);
			strbuf_printf(sb,
				      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
				      "fill=\"%s\" fill-opacity=\"0.75\"><title>",
				      x + pw * 0.15, y, pw * 0.7, y0 - y > 0 ? y0 - y : 0,
				      status_color(level_of(c, p->value)));
			char lab[64], v[32];
			fmt_local(col->cal, p->start, false, lab, sizeof(lab));
			fmt_value(c->kpi, true, p->value, v, sizeof(v));
			strbuf_printf(sb, "%s: %s</title></rect>", lab, v);
		}
		if (i % every == 0) {
			char lab[64];
			if (col->sub && calendar_label(col->cal, col->sub_period, p->start, lab,
						       sizeof(lab)) == 0) {
				/* drop the year: "10-25", "10-25 night" */
				const char *d = strchr(lab, '-');
				strbuf_printf(sb,
					      "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">",
					      x + pw / 2, H - B + 16);
				esc(sb, d ? d + 1 : lab);
				strbuf_puts(sb, "</text>");
			} else {
				fmt_local(col->cal, p->start, false, lab, sizeof(lab));
				lab[16] = '\0';
				strbuf_printf(sb,
					      "<text x=\"%.1f\" y=\"%.0f\" "
					      "text-anchor=\"middle\">%s</text>",
					      x + pw / 2, H - B + 16, lab + 11);
			}
		}
	}
	/* the value so far: the contract's own figure at the end of each point */
	strbuf_puts(sb, "<polyline fill=\"none\" stroke=\"#1f4e9c\" stroke-width=\"2\" points=\"");
	for (size_t i = 0; i < n; i++)
		if (col->pts[i].has_cum)
			strbuf_printf(sb, "%.1f,%.1f ", L + pw * ((double)i + 1),
				      YV(col->pts[i].cum));
	strbuf_puts(sb, "\"/>");
	strbuf_printf(sb,
		      "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#2e7d32\" "
		      "stroke-width=\"2\" stroke-dasharray=\"8 4\"/>"
		      "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#c62828\" "
		      "stroke-width=\"2\" stroke-dasharray=\"3 3\"/>",
		      L, W - R, YV(c->target), YV(c->target), L, W - R, YV(c->minimum),
		      YV(c->minimum));
	strbuf_printf(sb,
		      "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#333\"/>"
		      "<g transform=\"translate(%.0f,%.0f)\">"
		      "<rect width=\"4\" height=\"10\" fill=\"#2e7d32\"/><rect x=\"4\" width=\"4\" "
		      "height=\"10\" fill=\"#ef8f00\"/><rect x=\"8\" width=\"4\" height=\"10\" "
		      "fill=\"#c62828\"/><text x=\"16\" y=\"9\">per %s</text>"
		      "<line x1=\"90\" x2=\"110\" y1=\"5\" y2=\"5\" stroke=\"#1f4e9c\" "
		      "stroke-width=\"2\"/><text x=\"114\" y=\"9\">period so far</text>"
		      "<line x1=\"210\" x2=\"230\" y1=\"5\" y2=\"5\" stroke=\"#2e7d32\" "
		      "stroke-width=\"2\" stroke-dasharray=\"8 4\"/><text x=\"234\" "
		      "y=\"9\">target</text>"
		      "<line x1=\"290\" x2=\"310\" y1=\"5\" y2=\"5\" stroke=\"#c62828\" "
		      "stroke-width=\"2\" stroke-dasharray=\"3 3\"/><text x=\"314\" "
		      "y=\"9\">minimum</text></g></svg>",
		      L, W - R, YV(lo), YV(lo), L, H - 18, s->sub_name);
#undef YV
}

static void svg_pareto(struct strbuf *sb, const struct reason_time *rt, size_t n, oeed_ms total)
{
	const double W = 1000, H = 280, L = 70, R = 60, T = 20, B = 60;
	if (!n || total <= 0) {
		strbuf_puts(sb, "<p class=\"note\">No downtime in the period.</p>");
		return;
	}
	double max_h = (double)rt[0].ms / 3.6e6, pw = (W - L - R) / (double)n;
	if (max_h <= 0)
		max_h = 1;
	strbuf_printf(sb,
		      "<svg viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
		      "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" "
		      "aria-label=\"downtime by reason\">",
		      W, H, W, H);
	for (int g = 0; g <= 4; g++) {
		double y = T + (H - T - B) * (1 - g / 4.0);
		strbuf_printf(
		    sb,
		    "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
		    "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.1f h</text>"
		    "<text x=\"%.0f\" y=\"%.1f\">%d %%</text>",
		    L, W - R, y, y, L - 4, y + 4, max_h * g / 4.0, W - R + 4, y + 4, g * 25);
	}
	strbuf_puts(sb, "<polyline fill=\"none\" stroke=\"#c62828\" stroke-width=\"2\" points=\"");
	double cum = 0;
	for (size_t i = 0; i < n; i++) {
		cum += (double)rt[i].ms;
		strbuf_printf(sb, "%.1f,%.1f ", L + pw * ((double)i + 0.5),
			      T + (H - T - B) * (1 - cum / (double)total));
	}
	strbuf_puts(sb, "\"/>");
	for (size_t i = 0; i < n; i++) {
		double h = (double)rt[i].ms / 3.6e6, y = T + (H - T - B) * (1 - h / max_h);
		strbuf_printf(sb,
			      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			      "fill=\"#5b7db8\"><title>%.2f h</title></rect>"
			      "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">",
			      L + pw * ((double)i + 0.2), y, pw * 0.6, H - B - y, h,
			      L + pw * ((double)i + 0.5), H - B + 16);
		esc(sb, rt[i].reason[0] ? rt[i].reason : "(none)");
		strbuf_puts(sb, "</text>");
	}
	strbuf_printf(sb,
		      "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#333\"/>"
		      "<g transform=\"translate(%.0f,%.0f)\"><rect width=\"12\" height=\"10\" "
		      "fill=\"#5b7db8\"/><text x=\"16\" y=\"9\">down time (h)</text>"
		      "<line x1=\"120\" x2=\"140\" y1=\"5\" y2=\"5\" stroke=\"#c62828\" "
		      "stroke-width=\"2\"/><text x=\"144\" y=\"9\">cumulative %%</text></g></svg>",
		      L, W - R, H - B, H - B, L, H - 22);
}

static const char *const CAT_COLOR[CAT__COUNT] = {"#2e7d32", "#f2b134", "#c62828", "#5b7db8",
						  "#b0b0b0"};

static void svg_machines(struct strbuf *sb, const struct collect *col)
{
	size_t n = 0;
	for (size_t i = 0; i < col->n_m; i++)
		n += col->m[i].matched && col->m[i].has_kpi;
	if (!n)
		return;
	const double W = 1000, L = 160, R = 20, row = 22;
	double H = 40 + row * (double)n;
	strbuf_printf(sb,
		      "<svg viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
		      "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"time per "
		      "machine\">",
		      W, H, W, H);
	size_t k = 0;
	for (size_t i = 0; i < col->n_m; i++) {
		const struct rmachine *rm = &col->m[i];
		if (!rm->matched || !rm->has_kpi)
			continue;
		double span = 0, x = L, y = 10 + row * (double)k++;
		for (int c = 0; c < CAT__COUNT; c++)
			span += kv_get(&rm->kv, (enum kpi_field)(KF_RUN_S + c));
		strbuf_printf(sb, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", L - 6,
			      y + 14);
		esc(sb, rm->id);
		strbuf_puts(sb, "</text>");
		for (int c = 0; c < CAT__COUNT && span > 0; c++) {
			double w =
			    (W - L - R) * kv_get(&rm->kv, (enum kpi_field)(KF_RUN_S + c)) / span;
			strbuf_printf(sb,
				      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"16\" "
				      "fill=\"%s\"/>",
				      x, y + 2, w, CAT_COLOR[c]);
			x += w;
		}
	}
	double y = 14 + row * (double)n;
	for (int c = 0; c < CAT__COUNT; c++)
		strbuf_printf(sb,
			      "<rect x=\"%.0f\" y=\"%.1f\" width=\"12\" height=\"10\" fill=\"%s\"/>"
			      "<text x=\"%.0f\" y=\"%.1f\">%s</text>",
			      L + 110.0 * c, y, CAT_COLOR[c], L + 110.0 * c + 16, y + 9,
			      category_name((enum oeed_category)c));
	strbuf_puts(sb, "</svg>");
}

static void write_html(const struct collect *col, const struct summary *s,
		       const struct checksum *cs, size_t n_cs, struct strbuf *sb)
{
	const struct oeed_contract *c = col->c;
	const struct contract_result *r = s->r;
	char a[64], b[64], v[64];
	fmt_local(col->cal, col->pstart, false, a, sizeof(a));
	fmt_local(col->cal, col->pend, false, b, sizeof(b));
	strbuf_puts(sb, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			"<title>Contract ");
	esc(sb, c->name);
	strbuf_printf(sb, " %s</title><style>%s</style></head><body>\n<h1>Contract ", s->label,
		      CSS);
	esc(sb, c->name);
	strbuf_printf(sb, ": %s, %s ", kpi_name(c->kpi), period_name(c->period));
	esc(sb, s->label);
	strbuf_printf(sb, "</h1><div class=\"sub\">%s &ndash; %s (", a, b);
	esc(sb, col->cfg->report.timezone);
	strbuf_printf(sb, "); %zu machines matching ", s->n_matched);
	for (size_t i = 0; i < c->n_machines; i++) {
		strbuf_puts(sb, i ? ", <code>" : "<code>");
		esc(sb, c->machines[i]);
		strbuf_puts(sb, "</code>");
	}
	if (col->cfg->site) {
		strbuf_puts(sb, "; site ");
		esc(sb, col->cfg->site);
	}
	strbuf_puts(sb, "</div>\n");
	if (!r) {
		strbuf_puts(sb, "<p>The recordings hold no record of this contract for this "
				"period.</p>");
	} else {
		fmt_value(c->kpi, r->has_value, r->value, v, sizeof(v));
		strbuf_printf(sb,
			      "<div class=\"cards\"><div class=\"card\"><span>%s</span><b>%s</b>"
			      "<span class=\"status\" style=\"background:%s\">%s</span> <span>%s"
			      "</span></div>",
			      kpi_name(c->kpi), v, status_color(r->status),
			      contract_status_name(r->status),
			      r->final ? "final" : "provisional: period open");
		fmt_value(c->kpi, true, c->target, a, sizeof(a));
		fmt_value(c->kpi, true, c->minimum, b, sizeof(b));
		strbuf_printf(sb,
			      "<div class=\"card\"><span>target / minimum (%s is better)</span>"
			      "<b>%s</b><span>minimum %s</span></div>",
			      c->higher_is_better ? "higher" : "lower", a, b);
		strbuf_printf(sb,
			      "<div class=\"card\"><span>coverage (evidence)</span><b>%.3f %%</b>"
			      "<span>unknown time %s</span></div>",
			      r->coverage * 100.0,
			      c->unknown == UNKNOWN_AS_DOWN ? "counted as down" : "excluded");
		strbuf_printf(sb,
			      "<div class=\"card\"><span>failures</span><b>%zu</b><span>%zu with "
			      "planned reasons not counted</span></div>",
			      s->failures, s->planned_failures);
		fmt_value(c->kpi, !isnan(r->best_case), r->best_case, a, sizeof(a));
		fmt_value(c->kpi, !isnan(r->worst_case), r->worst_case, b, sizeof(b));
		strbuf_printf(sb,
			      "<div class=\"card\"><span>bounds for the period end</span><b>%s</b>"
			      "<span>worst case %s</span></div></div>\n",
			      a, b);
	}
	strbuf_printf(sb, "<h2>%s per %s</h2>\n", kpi_name(c->kpi), s->sub_name);
	svg_series(sb, col, s);
	strbuf_printf(sb,
		      "<p class=\"note\">Bars: the contract judged on each %s alone (pooled over "
		      "its machines, with its planned reasons and unknown policy). Line: the "
		      "period's value so far at the end of each %s.</p>\n",
		      s->sub_name, s->sub_name);

	/* downtime Pareto */
	struct reason_time *rt = malloc((col->n_rt ? col->n_rt : 1) * sizeof(*rt));
	size_t n_rt = 0;
	if (rt) {
		memcpy(rt, col->rt, col->n_rt * sizeof(*rt));
		qsort(rt, col->n_rt, sizeof(*rt), cmp_reason);
		n_rt = col->n_rt;
		if (n_rt > PARETO_MAX) {
			strlcpy_oeed(rt[PARETO_MAX - 1].reason, "other", REASON_LEN);
			for (size_t i = PARETO_MAX; i < n_rt; i++)
				rt[PARETO_MAX - 1].ms += rt[i].ms;
			n_rt = PARETO_MAX;
		}
	}
	strbuf_puts(sb, "<h2>Downtime by reason</h2>\n");
	svg_pareto(sb, rt, n_rt, s->down_ms);
	strbuf_puts(sb, "<table><thead><tr><th>reason</th><th>down time</th><th>share</th>"
			"<th>cumulative</th></tr></thead><tbody>");
	double cum = 0;
	for (size_t i = 0; i < n_rt; i++) {
		cum += (double)rt[i].ms;
		fmt_duration((double)rt[i].ms / 1000.0, a, sizeof(a));
		strbuf_puts(sb, "<tr><td>");
		esc(sb, rt[i].reason[0] ? rt[i].reason : "(none)");
		strbuf_printf(sb, "</td><td>%s</td><td>%.1f %%</td><td>%.1f %%</td></tr>", a,
			      100.0 * (double)rt[i].ms / (double)s->down_ms,
			      100.0 * cum / (double)s->down_ms);
	}
	strbuf_puts(sb, "</tbody></table>");
	free(rt);
	if (col->planned_down_ms) {
		fmt_duration((double)col->planned_down_ms / 1000.0, a, sizeof(a));
		strbuf_printf(
		    sb,
		    "<p class=\"note\">Not shown: %s of down time with a planned reason of "
		    "the contract (counted as planned).</p>",
		    a);
	}

	/* machines */
	strbuf_puts(sb, "<h2>Machines</h2>\n");
	svg_machines(sb, col);
	strbuf_puts(sb,
		    "<table><thead><tr><th>machine</th><th>run h</th><th>idle h</th>"
		    "<th>down h</th><th>planned h</th><th>unknown h</th><th>coverage</th>"
		    "<th>availability</th><th>failures</th><th>record</th></tr></thead><tbody>");
	for (size_t i = 0; i < col->n_m; i++) {
		const struct rmachine *rm = &col->m[i];
		if (!rm->matched || !rm->has_kpi)
			continue;
		strbuf_puts(sb, "<tr><td>");
		esc(sb, rm->id);
		strbuf_printf(
		    sb,
		    "</td><td>%.2f</td><td>%.2f</td><td>%.2f</td><td>%.2f</td><td>%.2f"
		    "</td><td>%.3f %%</td><td>%.3f %%</td><td>%.0f</td><td>%s</td></tr>",
		    kv_get(&rm->kv, KF_RUN_S) / 3600, kv_get(&rm->kv, KF_IDLE_S) / 3600,
		    kv_get(&rm->kv, KF_DOWN_S) / 3600, kv_get(&rm->kv, KF_PLANNED_S) / 3600,
		    kv_get(&rm->kv, KF_UNKNOWN_S) / 3600, kv_get(&rm->kv, KF_COVERAGE) * 100,
		    kv_get(&rm->kv, KF_AVAILABILITY) * 100, kv_get(&rm->kv, KF_FAILURES),
		    rm->kpi_final ? "final" : "so far");
	}
	strbuf_puts(sb, "</tbody></table><p class=\"note\">Each machine's own times in the "
			"period as the engine reports them (machine_kpi); the contract moves its "
			"planned reasons to planned and, with <code>unknown: down</code>, unknown "
			"time to down before pooling.</p>\n");

	/* failures */
	strbuf_printf(sb, "<h2>Failures (%zu)</h2>\n", s->failures + s->planned_failures);
	strbuf_puts(sb,
		    "<table><thead><tr><th>machine</th><th class=\"l\">start</th><th>duration</th>"
		    "<th class=\"l\">reason</th><th>counted</th></tr></thead><tbody>");
	for (size_t i = 0; i < col->n_f; i++) {
		const struct failure *f = &col->f[i];
		if (f->microstop)
			continue;
		fmt_local(col->cal, f->start, true, a, sizeof(a));
		if (f->end != OEED_MS_NONE)
			fmt_duration((double)(f->end - f->start) / 1000.0, b, sizeof(b));
		else
			snprintf(b, sizeof(b), "still down");
		strbuf_puts(sb, "<tr><td>");
		esc(sb, col->m[f->machine].id);
		strbuf_printf(sb, "</td><td class=\"l\">%s</td><td>%s</td><td class=\"l\">", a, b);
		esc(sb, f->reason[0] ? f->reason : "(none)");
		strbuf_printf(sb, "</td><td>%s</td></tr>", f->planned ? "no (planned)" : "yes");
	}
	strbuf_puts(sb, "</tbody></table>\n");

	/* inputs */
	strbuf_puts(sb, "<h2>Inputs (SHA-256)</h2><p class=\"note\">Recompute with "
			"<code>sha256sum</code> and <code>oeed report</code> to check these "
			"figures.</p><table><thead><tr><th>file</th><th>bytes</th><th>SHA-256</th>"
			"</tr></thead><tbody>");
	for (size_t i = 0; i < n_cs; i++) {
		strbuf_puts(sb, "<tr><td class=\"mono\">");
		esc(sb, cs[i].path);
		strbuf_printf(sb, "</td><td>%llu</td><td class=\"mono\">%s</td></tr>",
			      (unsigned long long)cs[i].size, cs[i].hex);
	}
	strbuf_printf(sb, "</tbody></table><p class=\"note\">oeed %s</p></body></html>\n",
		      OEED_VERSION);
}

/* ---- the command ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: oeed report -c CFG --contract NAME --period LABEL [--html FILE] "
		"REC...\n"
		"       oeed report -c CFG --contract NAME --period LABEL --from URL [--db NAME]\n"
		"  --from: the final records several gateways wrote to InfluxDB (--db) or\n"
		"          VictoriaMetrics (fleet.md)\n"
		"  LABEL: a period of the contract's kind: 2026-10 (month), 2026-W43 (week),\n"
		"         2026-10-25 (day), \"2026-10-25 night\" (shift)\n");
}

/* The sub-period a contract's series is shown in, or false for none (a shift). */
static bool sub_period_of(const struct oeed_config *cfg, enum oeed_period p, enum oeed_period *ret)
{
	if (p == PERIOD_MONTH || p == PERIOD_WEEK) {
		*ret = PERIOD_DAY;
		return true;
	}
	if (p == PERIOD_DAY && cfg->report.n_shifts) {
		*ret = PERIOD_SHIFT;
		return true;
	}
	return false;
}

struct report_args {
	const char *cfg_path, *contract, *period, *html, *from, *db;
	char **recs;
	int n_recs;
};

static int parse_args(int argc, char **argv, struct report_args *a)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"contract", required_argument, NULL, 'C'},
	    {"period", required_argument, NULL, 'p'}, {"html", required_argument, NULL, 'H'},
	    {"from", required_argument, NULL, 'F'},   {"db", required_argument, NULL, 'D'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0}};
	memset(a, 0, sizeof(*a));
	optind = 1;
	int o;
	while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			a->cfg_path = optarg;
			break;
		case 'C':
			a->contract = optarg;
			break;
		case 'p':
			a->period = optarg;
			break;
		case 'H':
			a->html = optarg;
			break;
		case 'F':
			a->from = optarg;
			break;
		case 'D':
			a->db = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (a->from && (optind < argc || a->html)) {
		fprintf(stderr, "oeed report: --from reads the store: no recordings, no --html\n");
		usage(stderr);
		return -EINVAL;
	}
	if (a->db && !a->from) {
		fprintf(stderr, "oeed report: --db needs --from\n");
		usage(stderr);
		return -EINVAL;
	}
	if (!a->cfg_path || !a->contract || !a->period || (optind >= argc && !a->from)) {
		fprintf(stderr, "oeed report: -c, --contract, --period and at least one recording "
				"are required\n");
		usage(stderr);
		return -EINVAL;
	}
	a->recs = argv + optind;
	a->n_recs = argc - optind;
	return 0;
}

int report_main(int argc, char **argv)
{
	struct report_args args;
	struct oeed_config *cfg = NULL;
	struct oeed_contract *contracts = NULL;
	struct calendar *cal = NULL;
	struct oeed_error err = {{0}};
	struct collect col;
	struct checksum *cs = NULL;
	char **paths = NULL;
	size_t n_paths = 0;
	struct strbuf html;
	int rc = EXIT_OK;
	memset(&col, 0, sizeof(col));
	strbuf_init(&html);
	log_init();
	int r = parse_args(argc, argv, &args);
	if (r != 0)
		return r > 0 ? EXIT_OK : EXIT_CONFIG;
	if (config_load(args.cfg_path, &cfg, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return EXIT_CONFIG;
	}
	const struct oeed_contract *orig = NULL;
	for (size_t i = 0; i < cfg->n_contracts; i++)
		if (strcmp(cfg->contracts[i].name, args.contract) == 0)
			orig = &cfg->contracts[i];
	if (!orig || orig->rolling) {
		fprintf(stderr, "oeed report: %s: %s\n", args.contract,
			orig ? "a rolling contract has no calendar period to report"
			     : "no such contract in the config");
		rc = EXIT_CONFIG;
		goto out;
	}
	if (calendar_new(cfg->report.timezone, cfg->report.shifts, cfg->report.n_shifts, &cal,
			 &err) < 0) {
		fprintf(stderr, "%s: %s\n", args.cfg_path, err.msg);
		rc = EXIT_CONFIG;
		goto out;
	}
	if (calendar_parse_label(cal, orig->period, args.period, &col.pstart, &col.pend) < 0) {
		fprintf(stderr, "oeed report: --period '%s' is not a %s label (e.g. %s)\n",
			args.period, period_name(orig->period),
			orig->period == PERIOD_MONTH  ? "2026-10"
			: orig->period == PERIOD_WEEK ? "2026-W43"
			: orig->period == PERIOD_DAY  ? "2026-10-25"
						      : "\"2026-10-25 early\"");
		rc = EXIT_CONFIG;
		goto out;
	}
	if (args.from) {
		struct fleet_query q = {.url = args.from,
					.db = args.db,
					.label = args.period,
					.pstart = col.pstart,
					.pend = col.pend};
		rc = fleet_report(orig, &q, stdout);
		goto out;
	}

	/* The engine runs on a copy of the config: the contract's period reported per machine,
	 * no rolling windows, and a clone of the contract judged per sub-period. */
	struct oeed_config run = *cfg;
	contracts = calloc(cfg->n_contracts + 1, sizeof(*contracts));
	if (!contracts) {
		rc = EXIT_RUNTIME;
		goto out;
	}
	memcpy(contracts, cfg->contracts, cfg->n_contracts * sizeof(*contracts));
	run.contracts = contracts;
	run.n_contracts = cfg->n_contracts;
	run.report.n_windows = 0;
	for (int p = 0; p < PERIOD__COUNT; p++)
		run.report.periods[p] = p == (int)orig->period;
	col.cfg = &run;
	col.c = &contracts[orig - cfg->contracts];
	col.cal = cal;
	if (sub_period_of(cfg, orig->period, &col.sub_period)) {
		struct oeed_contract *sub = &contracts[run.n_contracts++];
		*sub = *orig;
		sub->period = col.sub_period;
		col.sub = sub;
	}

	if (replay_expand(args.recs, (size_t)args.n_recs, &paths, &n_paths, &err) < 0) {
		fprintf(stderr, "oeed report: %s\n", err.msg);
		rc = EXIT_RUNTIME;
		goto out;
	}
	cs = calloc(n_paths + 1, sizeof(*cs));
	if (!cs) {
		rc = EXIT_RUNTIME;
		goto out;
	}
	if (sha256_file(args.cfg_path, &cs[0], &err) < 0) {
		fprintf(stderr, "oeed report: %s\n", err.msg);
		rc = EXIT_RUNTIME;
		goto out;
	}
	for (size_t i = 0; i < n_paths; i++) {
		if (sha256_file(paths[i], &cs[i + 1], &err) < 0) {
			fprintf(stderr, "oeed report: %s\n", err.msg);
			rc = EXIT_RUNTIME;
			goto out;
		}
	}

	struct engine_sink sink = {
	    .ctx = &col, .state = on_state, .kpi = on_kpi, .contract = on_contract};
	struct replay_stats st;
	r = replay_recordings(&run, &sink, paths, n_paths, &st, &err);
	if (r < 0) {
		fprintf(stderr, "oeed report: %s\n", err.msg);
		rc = r == -EINVAL ? EXIT_CONFIG : EXIT_RUNTIME;
		goto out;
	}
	collect_finish(&col);
	if (col.error < 0) {
		fprintf(stderr, "oeed report: out of memory collecting the evidence\n");
		rc = EXIT_RUNTIME;
		goto out;
	}
	log_info("report: %llu messages, %llu bad recording lines, %llu rejected",
		 (unsigned long long)st.messages, (unsigned long long)st.bad_lines,
		 (unsigned long long)st.rejected);

	struct summary sum;
	summarize(&col, args.period, &sum);
	write_text(&col, &sum, cs, n_paths + 1, stdout);
	if (fflush(stdout) != 0) {
		rc = EXIT_RUNTIME;
		goto out;
	}
	if (args.html) {
		write_html(&col, &sum, cs, n_paths + 1, &html);
		FILE *f = html.failed ? NULL : fopen(args.html, "w");
		if (!f || fwrite(html.buf, 1, html.len, f) != html.len) {
			fprintf(stderr, "oeed report: %s: %s\n", args.html,
				html.failed ? "out of memory" : strerror(errno));
			rc = EXIT_RUNTIME;
		}
		if (f && fclose(f) != 0) {
			fprintf(stderr, "oeed report: %s: %s\n", args.html, strerror(errno));
			rc = EXIT_RUNTIME;
		}
	}
out:
	strbuf_free(&html);
	for (size_t i = 0; i < n_paths; i++)
		free(paths[i]);
	free(paths);
	free(cs);
	collect_free(&col);
	free(contracts);
	calendar_free(cal);
	config_free(cfg);
	return rc;
}
