/* fleet.c - see fleet.h */
#include "fleet.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "app.h"
#include "engine.h"
#include "kpi.h"
#include "pool.h"
#include "util.h"

#define NAME_MAX_LEN 128

/* One machine's final record of the period, as one instance wrote it. */
struct frec {
	char machine[ENGINE_ID_MAX + 1];
	char instance[NAME_MAX_LEN + 1]; /* "" when the gateway wrote no instance tag */
	double v[KF__COUNT];
	uint32_t has; /* bit per enum kpi_field */
	double final, window_start;
	bool has_final, has_window_start;
	bool claimed_twice;
};

struct frecs {
	struct frec *r;
	size_t n, cap;
};

/* ---- reading the store ---- */

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct strbuf *sb = ctx;
	strbuf_append(sb, data, size * n);
	return sb->failed ? 0 : size * n;
}

/* POSTs form data (or GETs when form is NULL) and keeps the body. */
static int http_fetch(const char *url, const char *form, struct strbuf *body, char *why,
		      size_t why_len)
{
	CURL *c = curl_easy_init();
	char errbuf[CURL_ERROR_SIZE] = "";
	int rc = 0;
	if (!c) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	if (form)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
	CURLcode cr = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (cr != CURLE_OK) {
		snprintf(why, why_len, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cr));
		rc = -EIO;
	} else if (status != 200) {
		snprintf(why, why_len, "HTTP %ld: %.200s", status, body->failed ? "" : body->buf);
		rc = -EIO;
	} else if (body->failed) {
		snprintf(why, why_len, "out of memory");
		rc = -ENOMEM;
	}
	curl_easy_cleanup(c);
	return rc;
}

static struct frec *frec_of(struct frecs *fr, const char *machine, const char *instance)
{
	for (size_t i = 0; i < fr->n; i++)
		if (strcmp(fr->r[i].machine, machine) == 0 &&
		    strcmp(fr->r[i].instance, instance) == 0)
			return &fr->r[i];
	if (strlen(machine) > ENGINE_ID_MAX || strlen(instance) > NAME_MAX_LEN)
		return NULL;
	if (fr->n == fr->cap) {
		size_t cap = fr->cap ? fr->cap * 2 : 64;
		struct frec *r = realloc(fr->r, cap * sizeof(*r));
		if (!r)
			return NULL;
		fr->r = r;
		fr->cap = cap;
	}
	struct frec *r = &fr->r[fr->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->machine, sizeof(r->machine), "%s", machine);
	snprintf(r->instance, sizeof(r->instance), "%s", instance);
	return r;
}

/* A field of machine_kpi by name into the record (others are ignored). */
static void frec_set(struct frec *r, const char *field, double v)
{
	if (strcmp(field, "final") == 0) {
		r->final = v;
		r->has_final = true;
		return;
	}
	if (strcmp(field, "window_start") == 0) {
		r->window_start = v;
		r->has_window_start = true;
		return;
	}
	for (int f = 0; f < KF__COUNT; f++)
		if (strcmp(field, kpi_field_name((enum kpi_field)f)) == 0) {
			r->v[f] = v;
			r->has |= 1u << f;
			return;
		}
}

static double json_number(const cJSON *v, bool *ok)
{
	*ok = true;
	if (cJSON_IsNumber(v))
		return v->valuedouble;
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v) ? 1 : 0;
	*ok = false;
	return 0;
}

/* InfluxDB 1.x: SELECT * of the period's end; tags come back as string columns. */
static int read_influx(const struct fleet_query *q, const char *window, struct frecs *fr, char *why,
		       size_t why_len)
{
	struct strbuf url, body;
	strbuf_init(&url);
	strbuf_init(&body);
	int rc = 0;
	cJSON *root = NULL;
	CURL *c = curl_easy_init();
	char qtext[256];
	snprintf(qtext, sizeof(qtext),
		 "SELECT * FROM machine_kpi WHERE \"window\" = '%s' AND time = %lldms", window,
		 (long long)q->pend);
	char *e_db = c ? curl_easy_escape(c, q->db, 0) : NULL;
	char *e_q = c ? curl_easy_escape(c, qtext, 0) : NULL;
	if (!e_db || !e_q) {
		rc = -ENOMEM;
		snprintf(why, why_len, "out of memory");
		goto out;
	}
	strbuf_printf(&url, "%s/query?epoch=ms&db=%s&q=%s", q->url, e_db, e_q);
	if (url.failed) {
		rc = -ENOMEM;
		snprintf(why, why_len, "out of memory");
		goto out;
	}
	rc = http_fetch(url.buf, NULL, &body, why, why_len);
	if (rc < 0)
		goto out;
	root = cJSON_ParseWithLength(body.buf, body.len);
	const cJSON *res = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "results"), 0);
	if (!res) {
		snprintf(why, why_len, "not an InfluxDB /query answer");
		rc = -EPROTO;
		goto out;
	}
	const cJSON *err = cJSON_GetObjectItem(res, "error");
	if (cJSON_IsString(err)) {
		snprintf(why, why_len, "InfluxDB: %s", err->valuestring);
		rc = -EPROTO;
		goto out;
	}
	const cJSON *series;
	cJSON_ArrayForEach(series, cJSON_GetObjectItem(res, "series"))
	{
		const cJSON *cols = cJSON_GetObjectItem(series, "columns"), *row;
		int i_machine = -1, i_instance = -1, n_cols = cJSON_GetArraySize(cols);
		for (int i = 0; i < n_cols; i++) {
			const char *name = cJSON_GetStringValue(cJSON_GetArrayItem(cols, i));
			if (name && strcmp(name, "machine") == 0)
				i_machine = i;
			if (name && strcmp(name, "instance") == 0)
				i_instance = i;
		}
		cJSON_ArrayForEach(row, cJSON_GetObjectItem(series, "values"))
		{
			const char *machine =
			    cJSON_GetStringValue(cJSON_GetArrayItem(row, i_machine));
			const char *instance =
			    cJSON_GetStringValue(cJSON_GetArrayItem(row, i_instance));
			if (!machine)
				continue;
			struct frec *r = frec_of(fr, machine, instance ? instance : "");
			if (!r) {
				rc = -ENOMEM;
				snprintf(why, why_len, "out of memory (or a machine id too long)");
				goto out;
			}
			for (int i = 0; i < n_cols; i++) {
				const char *name =
				    cJSON_GetStringValue(cJSON_GetArrayItem(cols, i));
				bool ok;
				double v = json_number(cJSON_GetArrayItem(row, i), &ok);
				if (name && ok && strcmp(name, "time") != 0)
					frec_set(r, name, v);
			}
		}
	}
out:
	cJSON_Delete(root);
	curl_free(e_db);
	curl_free(e_q);
	if (c)
		curl_easy_cleanup(c);
	strbuf_free(&url);
	strbuf_free(&body);
	return rc;
}

/* VictoriaMetrics: /api/v1/export of every machine_kpi_FIELD series of the window at the
 * period's end; one JSON object per line. */
static int read_victoria(const struct fleet_query *q, const char *window, struct frecs *fr,
			 char *why, size_t why_len)
{
	struct strbuf url, form, body;
	strbuf_init(&url);
	strbuf_init(&form);
	strbuf_init(&body);
	int rc = 0;
	CURL *c = curl_easy_init();
	char match[160];
	snprintf(match, sizeof(match), "{__name__=~\"machine_kpi_.+\",window=\"%s\"}", window);
	char *e_match = c ? curl_easy_escape(c, match, 0) : NULL;
	if (!e_match) {
		rc = -ENOMEM;
		snprintf(why, why_len, "out of memory");
		goto out;
	}
	long long s = q->pend / 1000, ms = q->pend % 1000;
	strbuf_printf(&url, "%s/api/v1/export", q->url);
	strbuf_printf(&form, "match[]=%s&start=%lld.%03lld&end=%lld.%03lld", e_match, s, ms, s, ms);
	if (url.failed || form.failed) {
		rc = -ENOMEM;
		snprintf(why, why_len, "out of memory");
		goto out;
	}
	rc = http_fetch(url.buf, form.buf, &body, why, why_len);
	if (rc < 0)
		goto out;
	for (char *line = body.buf; line && line < body.buf + body.len;) {
		char *nl = memchr(line, '\n', (size_t)(body.buf + body.len - line));
		size_t len = nl ? (size_t)(nl - line) : (size_t)(body.buf + body.len - line);
		cJSON *o = len ? cJSON_ParseWithLength(line, len) : NULL;
		line = nl ? nl + 1 : NULL;
		if (!o)
			continue;
		const cJSON *metric = cJSON_GetObjectItem(o, "metric");
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(metric, "__name__"));
		const char *machine = cJSON_GetStringValue(cJSON_GetObjectItem(metric, "machine"));
		const char *instance =
		    cJSON_GetStringValue(cJSON_GetObjectItem(metric, "instance"));
		const cJSON *vals = cJSON_GetObjectItem(o, "values");
		const cJSON *tss = cJSON_GetObjectItem(o, "timestamps");
		static const char prefix[] = "machine_kpi_";
		if (name && machine && strncmp(name, prefix, sizeof(prefix) - 1) == 0) {
			struct frec *r = frec_of(fr, machine, instance ? instance : "");
			if (!r) {
				cJSON_Delete(o);
				rc = -ENOMEM;
				snprintf(why, why_len, "out of memory (or a machine id too long)");
				goto out;
			}
			for (int i = 0; i < cJSON_GetArraySize(tss); i++) {
				bool ok1, ok2;
				double ts = json_number(cJSON_GetArrayItem(tss, i), &ok1);
				double v = json_number(cJSON_GetArrayItem(vals, i), &ok2);
				if (ok1 && ok2 && (oeed_ms)ts == q->pend)
					frec_set(r, name + sizeof(prefix) - 1, v);
			}
		}
		cJSON_Delete(o);
	}
out:
	curl_free(e_match);
	if (c)
		curl_easy_cleanup(c);
	strbuf_free(&url);
	strbuf_free(&form);
	strbuf_free(&body);
	return rc;
}

/* ---- back to accumulators ---- */

static int64_t ms_of(const struct frec *r, enum kpi_field f)
{
	return (r->has >> f) & 1u ? (int64_t)llround(r->v[f] * 1000.0) : 0;
}

/* The machine's accumulator of the period as its final record states it. Times, counts and
 * failures are exact (whole ms and integers in the record); the ideal-time sums behind
 * performance and oee come back from their nine-decimal values. */
static void record_part(const struct frec *r, oeed_ms span, struct contract_part *p)
{
	memset(p, 0, sizeof(*p));
	struct kpi_acc *a = &p->acc;
	kpi_acc_clear(a);
	a->cat_ms[CAT_RUNNING] = ms_of(r, KF_RUN_S);
	a->cat_ms[CAT_IDLE] = ms_of(r, KF_IDLE_S);
	a->cat_ms[CAT_DOWN] = ms_of(r, KF_DOWN_S);
	a->cat_ms[CAT_PLANNED] = ms_of(r, KF_PLANNED_S);
	static const enum kpi_field count_field[CNT__COUNT] = {[CNT_TOTAL] = KF_TOTAL_COUNT,
							       [CNT_GOOD] = KF_GOOD_COUNT,
							       [CNT_REJECT] = KF_REJECT_COUNT};
	for (int k = 0; k < CNT__COUNT; k++)
		if ((r->has >> count_field[k]) & 1u) {
			a->count[k] = (int64_t)llround(r->v[count_field[k]]);
			a->counted |= (uint8_t)(1u << k);
		}
	double run_s = (double)a->cat_ms[CAT_RUNNING] / 1000.0;
	double ppt_s =
	    (double)(a->cat_ms[CAT_RUNNING] + a->cat_ms[CAT_IDLE] + a->cat_ms[CAT_DOWN]) / 1000.0;
	bool has_perf = (r->has >> KF_PERFORMANCE) & 1u, has_oee = (r->has >> KF_OEE) & 1u;
	if (has_perf)
		a->ideal_total_s = r->v[KF_PERFORMANCE] * run_s;
	if (has_oee)
		a->ideal_good_s = r->v[KF_OEE] * ppt_s;
	if (has_perf && has_oee)
		a->ideal_reject_s = a->ideal_total_s - a->ideal_good_s;
	/* no performance although parts and run time were there: some part had no ideal time */
	if ((a->counted && run_s > 0 && !has_perf) ||
	    (((r->has >> KF_GOOD_COUNT) & 1u) && ppt_s > 0 && !has_oee))
		a->has_ideal = 0;
	a->failures = (uint32_t)llround(r->v[KF_FAILURES]);
	if ((r->has >> KF_CYCLE_COUNT) & 1u) {
		a->cycles = (uint32_t)llround(r->v[KF_CYCLE_COUNT]);
		a->cycle_sum_s = r->v[KF_CYCLE_AVG_S] * a->cycles;
		a->cycle_min_s = r->v[KF_CYCLE_MIN_S];
		a->cycle_max_s = r->v[KF_CYCLE_MAX_S];
	}
	p->span = span;
}

/* ---- the report ---- */

struct instance_sum {
	const char *name;
	struct contract_pool pool;
	EVP_MD_CTX *md;
	char hex[2 * 32 + 1];
	unsigned machines;
};

static int cmp_frec(const void *a, const void *b)
{
	const struct frec *x = a, *y = b;
	int c = strcmp(x->instance, y->instance);
	return c ? c : strcmp(x->machine, y->machine);
}

/* The record as canonical text: what the instance's checksum covers. */
static void canonical(const struct frec *r, struct strbuf *sb)
{
	strbuf_reset(sb);
	strbuf_printf(sb, "%s", r->machine);
	for (int f = 0; f < KF__COUNT; f++)
		if ((r->has >> f) & 1u)
			strbuf_printf(sb, " %s=%.9f", kpi_field_name((enum kpi_field)f), r->v[f]);
	strbuf_putc(sb, '\n');
}

static void fmt_value(const struct oeed_contract *c, bool has, double v, char *buf, size_t n)
{
	bool share = c->kpi == KPI_AVAILABILITY || c->kpi == KPI_UPTIME ||
		     c->kpi == KPI_PERFORMANCE || c->kpi == KPI_QUALITY || c->kpi == KPI_OEE;
	if (!has || !isfinite(v))
		snprintf(buf, n, "-");
	else if (share)
		snprintf(buf, n, "%.3f %%", v * 100.0);
	else
		snprintf(buf, n, "%.6g", v);
}

static void fmt_utc(oeed_ms t, char *buf, size_t n)
{
	time_t s = (time_t)(t / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(buf, n, "%Y-%m-%d %H:%M UTC", &tm);
}

int fleet_report(const struct oeed_contract *c, const struct fleet_query *q, FILE *out)
{
	struct frecs fr = {0};
	struct instance_sum *inst = NULL;
	size_t n_inst = 0;
	struct strbuf line;
	strbuf_init(&line);
	char why[512] = "";
	int rc = EXIT_OK;
	const char *window = period_name(c->period);

	if (c->n_planned_reasons) {
		fprintf(stderr,
			"oeed report: --from: contract %s has planned_reasons, whose time per "
			"reason the final machine_kpi records do not carry; report it from the "
			"recordings instead\n",
			c->name);
		return EXIT_CONFIG;
	}
	if (c->kpi == KPI_CYCLE_P50 || c->kpi == KPI_CYCLE_P95) {
		fprintf(stderr,
			"oeed report: --from: %s needs the cycle-time histograms, which the "
			"store does not hold; report it from the recordings instead\n",
			kpi_name(c->kpi));
		return EXIT_CONFIG;
	}
	int r = q->db ? read_influx(q, window, &fr, why, sizeof(why))
		      : read_victoria(q, window, &fr, why, sizeof(why));
	if (r < 0) {
		fprintf(stderr, "oeed report: --from %s: %s\n", q->url, why);
		rc = EXIT_RUNTIME;
		goto out;
	}
	/* keep the final records of this period of the contract's machines */
	size_t kept = 0;
	for (size_t i = 0; i < fr.n; i++) {
		struct frec *x = &fr.r[i];
		if (x->has_final && x->final != 0 && x->has_window_start &&
		    (oeed_ms)x->window_start == q->pstart && contract_pool_matches(c, x->machine))
			fr.r[kept++] = *x;
	}
	fr.n = kept;
	qsort(fr.r, fr.n, sizeof(*fr.r), cmp_frec);
	unsigned claimed = 0;
	for (size_t i = 0; i < fr.n; i++)
		for (size_t j = i + 1; j < fr.n; j++)
			if (strcmp(fr.r[i].machine, fr.r[j].machine) == 0) {
				claimed += !fr.r[i].claimed_twice;
				fr.r[i].claimed_twice = fr.r[j].claimed_twice = true;
			}

	inst = calloc(fr.n ? fr.n : 1, sizeof(*inst));
	if (!inst) {
		rc = EXIT_RUNTIME;
		goto out;
	}
	struct contract_pool all;
	contract_pool_init(&all);
	unsigned pooled = 0;
	for (size_t i = 0; i < fr.n; i++) {
		const struct frec *x = &fr.r[i];
		if (!n_inst || strcmp(inst[n_inst - 1].name, x->instance) != 0) {
			struct instance_sum *s = &inst[n_inst++];
			s->name = x->instance;
			contract_pool_init(&s->pool);
			s->md = EVP_MD_CTX_new();
			if (!s->md || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
				rc = EXIT_RUNTIME;
				goto out;
			}
		}
		struct instance_sum *s = &inst[n_inst - 1];
		canonical(x, &line);
		if (line.failed || EVP_DigestUpdate(s->md, line.buf, line.len) != 1) {
			rc = EXIT_RUNTIME;
			goto out;
		}
		s->machines++;
		struct contract_part part;
		record_part(x, q->pend - q->pstart, &part);
		contract_pool_add(&s->pool, c, &part);
		if (!x->claimed_twice) {
			contract_pool_add(&all, c, &part);
			pooled++;
		}
	}
	for (size_t i = 0; i < n_inst; i++) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned md_len = 0;
		if (EVP_DigestFinal_ex(inst[i].md, md, &md_len) != 1 || md_len != 32) {
			rc = EXIT_RUNTIME;
			goto out;
		}
		for (unsigned k = 0; k < 32; k++)
			snprintf(inst[i].hex + 2 * k, 3, "%02x", md[k]);
	}

	struct contract_result res;
	memset(&res, 0, sizeof(res));
	res.contract = c;
	res.final = true;
	contract_pool_eval(&all, c, &res);
	char a[40], b[40], v[32], t[32], m[32];
	fmt_utc(q->pstart, a, sizeof(a));
	fmt_utc(q->pend, b, sizeof(b));
	fmt_value(c, res.has_value, res.value, v, sizeof(v));
	fmt_value(c, true, c->target, t, sizeof(t));
	fmt_value(c, true, c->minimum, m, sizeof(m));
	fprintf(out, "Contract %s: %s, %s %s (%s .. %s), from %s\n", c->name, kpi_name(c->kpi),
		window, q->label, a, b, q->url);
	fprintf(out, "Machines:  %u pooled, from %zu instance%s\n", pooled, n_inst,
		n_inst == 1 ? "" : "s");
	fprintf(out, "Value:     %s (target %s, minimum %s, %s is better)\n", v, t, m,
		c->higher_is_better ? "higher" : "lower");
	if (res.has_value)
		fprintf(out, "Exact:     %.9f\n", res.value);
	fprintf(out, "Status:    %s\n", contract_status_name(res.status));
	fprintf(out, "Coverage:  %.4f %%\n", res.coverage * 100.0);
	fprintf(out, "Unknown:   %s\n",
		c->unknown == UNKNOWN_AS_DOWN ? "counted as down" : "excluded");
	fprintf(out, "Per instance:\n  %-20s %8s %10s %12s  %s\n", "instance", "machines",
		"coverage", "value", "SHA-256 of its records");
	for (size_t i = 0; i < n_inst; i++) {
		struct contract_result ir;
		memset(&ir, 0, sizeof(ir));
		contract_pool_eval(&inst[i].pool, c, &ir);
		fmt_value(c, ir.has_value, ir.value, v, sizeof(v));
		fprintf(out, "  %-20s %8u %9.4f%% %12s  %s\n",
			inst[i].name[0] ? inst[i].name : "(no instance tag)", inst[i].machines,
			ir.coverage * 100.0, v, inst[i].hex);
	}
	if (claimed) {
		fprintf(out, "Claimed by more than one instance (left out of the pool):\n");
		for (size_t i = 0; i < fr.n; i++)
			if (fr.r[i].claimed_twice)
				fprintf(out, "  %-20s %s\n", fr.r[i].machine,
					fr.r[i].instance[0] ? fr.r[i].instance
							    : "(no instance tag)");
		rc = FLEET_EXIT_CLAIMED;
	}
	if (!fr.n)
		fprintf(out, "No final record of this period in the store.\n");
	if (fflush(out) != 0)
		rc = EXIT_RUNTIME;
out:
	for (size_t i = 0; inst && i < n_inst; i++)
		EVP_MD_CTX_free(inst[i].md);
	free(inst);
	free(fr.r);
	strbuf_free(&line);
	return rc;
}
