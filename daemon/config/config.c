/* config.c - the config loader: reads oeed.yaml with libyaml's document API, checks every key
 * and value, fills in the defaults and reports the first problem as
 * "FILE:LINE:COLUMN: key.path: message". Also prints the effective config back as YAML and
 * owns the name tables of the config enums (categories, signals, periods, KPIs). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>
#include <unistd.h>

#include "log.h"
#include "plugin.h"
#include "topic.h"

#define MS_S 1000LL
#define MS_M (60 * MS_S)
#define MS_H (60 * MS_M)
#define MS_D (24 * MS_H)
#define KIB  1024ULL
#define MIB  (1024ULL * KIB)
#define GIB  (1024ULL * MIB)
#define TIB  (1024ULL * GIB)

/* A config file is small; the cap keeps a wrong path (a log, a device) from eating memory. */
#define CONFIG_FILE_MAX (4 * MIB)
#define MACHINES_MAX	1000000
#define ZONEINFO_DIR	"/usr/share/zoneinfo/"

/* ---- enum names ---- */

static const char *const category_names[CAT__COUNT] = {"running", "idle", "down", "planned",
						       "unknown"};
static const char *const signal_names[SIG__COUNT] = {"none",   "state", "total",     "good",
						     "reject", "cycle", "timestamp", "death"};
static const char *const period_names[PERIOD__COUNT] = {"shift", "day", "week", "month"};
static const char *const kpi_names[KPI__COUNT] = {
    "availability", "uptime", "performance", "quality",	    "oee",	   "down_run_ratio",
    "mtbf_s",	    "mttr_s", "rate_per_h",  "cycle_avg_s", "cycle_p50_s", "cycle_p95_s"};
static const char *const counts_names[] = {"cumulative", "increments"};
static const char *const direction_names[] = {"lower", "higher"}; /* index = higher_is_better */
static const char *const unknown_names[] = {"exclude", "down"};
static const char *const output_type_names[] = {"influxdb", "file"};
static const char *const log_level_names[] = {"error", "warn", "info", "debug"};

const char *category_name(enum oeed_category c)
{
	return (unsigned)c < CAT__COUNT ? category_names[c] : "?";
}

int category_parse(const char *s, size_t len, enum oeed_category *ret)
{
	for (size_t i = 0; i < CAT__COUNT; i++)
		if (strlen(category_names[i]) == len && memcmp(s, category_names[i], len) == 0) {
			*ret = (enum oeed_category)i;
			return 0;
		}
	return -EINVAL;
}

const char *signal_name(enum oeed_signal s)
{
	return (unsigned)s < SIG__COUNT ? signal_names[s] : "?";
}

int signal_parse(const char *s, enum oeed_signal *ret)
{
	/* "none" is not a signal anyone can name */
	for (size_t i = SIG_STATE; i < SIG__COUNT; i++)
		if (strcmp(s, signal_names[i]) == 0) {
			*ret = (enum oeed_signal)i;
			return 0;
		}
	return -EINVAL;
}

const char *period_name(enum oeed_period p)
{
	return (unsigned)p < PERIOD__COUNT ? period_names[p] : "?";
}

int period_parse(const char *s, enum oeed_period *ret)
{
	for (size_t i = 0; i < PERIOD__COUNT; i++)
		if (strcmp(s, period_names[i]) == 0) {
			*ret = (enum oeed_period)i;
			return 0;
		}
	return -EINVAL;
}

const char *kpi_name(enum oeed_kpi k)
{
	return (unsigned)k < KPI__COUNT ? kpi_names[k] : "?";
}

int kpi_parse(const char *s, enum oeed_kpi *ret)
{
	for (size_t i = 0; i < KPI__COUNT; i++)
		if (strcmp(s, kpi_names[i]) == 0) {
			*ret = (enum oeed_kpi)i;
			return 0;
		}
	return -EINVAL;
}

bool kpi_higher_is_better(enum oeed_kpi k)
{
	switch (k) {
	case KPI_DOWN_RUN_RATIO:
	case KPI_MTTR:
	case KPI_CYCLE_AVG:
	case KPI_CYCLE_P50:
	case KPI_CYCLE_P95:
		return false;
	default:
		return true;
	}
}

/* Ratios that cannot leave 0..1 (performance can: a wrong ideal cycle time shows as > 1). */
static bool kpi_is_unit_ratio(enum oeed_kpi k)
{
	return k == KPI_AVAILABILITY || k == KPI_UPTIME || k == KPI_QUALITY || k == KPI_OEE;
}

/* ---- loader context and error reporting ---- */

struct loader {
	const char *name;
	yaml_document_t *doc;
	struct oeed_error *err;
	char path[256]; /* key path of the node being read: "sources[1].map.FAULT" */
	size_t plen;
	size_t n_shifts; /* report.shifts, known before contracts are read */
};

static yaml_node_t *node_at(const struct loader *ld, int index)
{
	return yaml_document_get_node(ld->doc, index);
}

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static size_t path_set(struct loader *ld, size_t old, int n)
{
	if (n < 0 || old + (size_t)n >= sizeof(ld->path))
		ld->plen = sizeof(ld->path) - 1; /* truncated: still names the place */
	else
		ld->plen = old + (size_t)n;
	return old;
}

static size_t path_key(struct loader *ld, const char *key)
{
	size_t old = ld->plen;
	int n = snprintf(ld->path + old, sizeof(ld->path) - old, "%s%s", old ? "." : "", key);
	return path_set(ld, old, n);
}

static size_t path_index(struct loader *ld, size_t i)
{
	size_t old = ld->plen;
	int n = snprintf(ld->path + old, sizeof(ld->path) - old, "[%zu]", i);
	return path_set(ld, old, n);
}

static void path_pop(struct loader *ld, size_t old)
{
	ld->plen = old;
	ld->path[old] = '\0';
}

static int vfail(struct loader *ld, const yaml_node_t *n, const char *fmt, va_list ap)
{
	char *msg = ld->err->msg;
	size_t size = sizeof(ld->err->msg);
	size_t line = n ? n->start_mark.line + 1 : 1;
	size_t col = n ? n->start_mark.column + 1 : 1;
	int off;

	if (ld->plen)
		off = snprintf(msg, size, "%s:%zu:%zu: %s: ", ld->name, line, col, ld->path);
	else
		off = snprintf(msg, size, "%s:%zu:%zu: ", ld->name, line, col);
	if (off >= 0 && (size_t)off < size)
		vsnprintf(msg + off, size - (size_t)off, fmt, ap);
	return -EINVAL;
}

__attribute__((format(printf, 3, 4))) static int fail(struct loader *ld, const yaml_node_t *n,
						      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vfail(ld, n, fmt, ap);
	va_end(ap);
	return r;
}

static int oom(struct loader *ld)
{
	snprintf(ld->err->msg, sizeof(ld->err->msg), "%s: out of memory", ld->name);
	return -ENOMEM;
}

/* How a node looks, for "expected X, got Y". */
static const char *describe(const yaml_node_t *n, char *buf, size_t len)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_SCALAR_NODE:
		snprintf(buf, len, "'%.60s'", sval(n));
		return buf;
	default:
		return "nothing";
	}
}

static int fail_type(struct loader *ld, const yaml_node_t *n, const char *want)
{
	char buf[80];
	return fail(ld, n, "expected %s, got %s", want, describe(n, buf, sizeof(buf)));
}

/* YAML's null: an empty value, "~" or "null". A key with a null value counts as not given. */
static bool is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *s = sval(n);
	return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
	       strcmp(s, "NULL") == 0;
}

static bool is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool in_list(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return true;
	return false;
}

static void join_names(const char *const *names, size_t n, char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && off < len; i++) {
		int w = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", names[i]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

/* Checks that `m` is a mapping whose keys are strings, unique and (when `keys` is given)
 * known. Reports the first problem in document order at the offending key. */
static int check_keys(struct loader *ld, const yaml_node_t *m, const char *const *keys,
		      size_t n_keys)
{
	if (m->type != YAML_MAPPING_NODE)
		return fail_type(ld, m, "a mapping");
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_at(ld, p->key);
		if (k->type != YAML_SCALAR_NODE)
			return fail_type(ld, k, "a string key");
		if (strlen(sval(k)) != k->data.scalar.length)
			return fail(ld, k, "key contains a NUL byte");
		if (keys && !in_list(keys, n_keys, sval(k)))
			return fail(ld, k, "unknown key '%s'", sval(k));
		for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *kq = node_at(ld, q->key);
			if (kq->data.scalar.length == k->data.scalar.length &&
			    strcmp(sval(kq), sval(k)) == 0)
				return fail(ld, k, "duplicate key '%s'", sval(k));
		}
	}
	return 0;
}

/* The value of `key` in a checked mapping, NULL when absent or null. */
static yaml_node_t *find_key(const struct loader *ld, const yaml_node_t *m, const char *key)
{
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_at(ld, p->key);
		if (k->type == YAML_SCALAR_NODE && strcmp(sval(k), key) == 0) {
			yaml_node_t *v = node_at(ld, p->value);
			return is_null(v) ? NULL : v;
		}
	}
	return NULL;
}

/* Fails at the value of `key` (or at the mapping when the key is absent), naming the key. */
__attribute__((format(printf, 4, 5))) static int fail_key(struct loader *ld, const yaml_node_t *m,
							  const char *key, const char *fmt, ...)
{
	yaml_node_t *v = find_key(ld, m, key);
	size_t old = path_key(ld, key);
	va_list ap;
	va_start(ap, fmt);
	int r = vfail(ld, v ? v : m, fmt, ap);
	va_end(ap);
	path_pop(ld, old);
	return r;
}

static int missing(struct loader *ld, const yaml_node_t *m, const char *key)
{
	return fail(ld, m, "missing key '%s'", key);
}

/* ---- scalar readers: each checks the node and reports at it ---- */

static int get_str(struct loader *ld, const yaml_node_t *n, char **dst)
{
	if (n->type != YAML_SCALAR_NODE)
		return fail_type(ld, n, "a string");
	if (strlen(sval(n)) != n->data.scalar.length)
		return fail(ld, n, "contains a NUL byte");
	if (!*sval(n))
		return fail(ld, n, "must not be empty");
	char *s = strdup(sval(n));
	if (!s)
		return oom(ld);
	free(*dst);
	*dst = s;
	return 0;
}

static int get_bool(struct loader *ld, const yaml_node_t *n, bool *dst)
{
	if (is_plain(n)) {
		const char *s = sval(n);
		if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
			*dst = true;
			return 0;
		}
		if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
			*dst = false;
			return 0;
		}
	}
	return fail_type(ld, n, "a boolean");
}

static int get_num(struct loader *ld, const yaml_node_t *n, double *dst)
{
	if (is_plain(n)) {
		const char *s = sval(n);
		/* decimal only: no hex floats, inf or nan */
		bool ok = *s && strspn(s, "0123456789+-.eE") == strlen(s);
		char *end;
		errno = 0;
		double v = ok ? strtod(s, &end) : 0;
		if (ok && !errno && *end == '\0' && isfinite(v)) {
			*dst = v;
			return 0;
		}
	}
	return fail_type(ld, n, "a number");
}

static int get_int(struct loader *ld, const yaml_node_t *n, long long min, long long max,
		   long long *dst)
{
	if (is_plain(n)) {
		const char *s = sval(n);
		bool ok = *s && strspn(s, "0123456789+-") == strlen(s);
		char *end;
		errno = 0;
		long long v = ok ? strtoll(s, &end, 10) : 0;
		if (ok && !errno && *end == '\0') {
			if (v < min || v > max)
				return fail(ld, n, "%lld out of range (%lld..%lld)", v, min, max);
			*dst = v;
			return 0;
		}
	}
	return fail_type(ld, n, "an integer");
}

static int get_dur(struct loader *ld, const yaml_node_t *n, oeed_ms min, oeed_ms max, oeed_ms *dst)
{
	oeed_ms v;
	char a[32], b[32], c[32];
	if (n->type != YAML_SCALAR_NODE)
		return fail_type(ld, n, "a duration");
	if (parse_duration_ms(sval(n), &v) < 0)
		return fail(ld, n, "bad duration '%.60s' (use 500ms, 10s, 5m, 1h, 7d)", sval(n));
	if (v < min || v > max) {
		format_duration(v, a, sizeof(a));
		format_duration(min, b, sizeof(b));
		format_duration(max, c, sizeof(c));
		return fail(ld, n, "%s out of range (%s..%s)", a, b, c);
	}
	*dst = v;
	return 0;
}

static int get_size(struct loader *ld, const yaml_node_t *n, uint64_t min, uint64_t max,
		    uint64_t *dst)
{
	uint64_t v;
	char a[32], b[32], c[32];
	if (n->type != YAML_SCALAR_NODE)
		return fail_type(ld, n, "a size");
	if (parse_size_bytes(sval(n), &v) < 0)
		return fail(ld, n, "bad size '%.60s' (use 64KiB, 256MiB, 1GiB)", sval(n));
	if (v < min || v > max) {
		format_size(v, a, sizeof(a));
		format_size(min, b, sizeof(b));
		format_size(max, c, sizeof(c));
		return fail(ld, n, "%s out of range (%s..%s)", a, b, c);
	}
	*dst = v;
	return 0;
}

static int get_choice(struct loader *ld, const yaml_node_t *n, const char *const *names,
		      size_t n_names, int *dst)
{
	char list[160];
	if (n->type != YAML_SCALAR_NODE)
		return fail_type(ld, n, "a string");
	for (size_t i = 0; i < n_names; i++)
		if (strcmp(sval(n), names[i]) == 0) {
			*dst = (int)i;
			return 0;
		}
	join_names(names, n_names, list, sizeof(list));
	return fail(ld, n, "bad value '%.60s' (use %s)", sval(n), list);
}

/* Enters `key` of a checked mapping: its value (the path extended) or NULL when absent. */
static yaml_node_t *enter(struct loader *ld, const yaml_node_t *m, const char *key, size_t *old)
{
	yaml_node_t *v = find_key(ld, m, key);
	if (v)
		*old = path_key(ld, key);
	return v;
}

static int leave(struct loader *ld, size_t old, int r)
{
	path_pop(ld, old);
	return r < 0 ? r : 1;
}

/* key_*: read an optional key of a checked mapping. 1: read, 0: absent, <0: error. */
static int key_str(struct loader *ld, const yaml_node_t *m, const char *key, char **dst)
{
	size_t old;
	yaml_node_t *v = enter(ld, m, key, &old);
	return v ? leave(ld, old, get_str(ld, v, dst)) : 0;
}

static int key_bool(struct loader *ld, const yaml_node_t *m, const char *key, bool *dst)
{
	size_t old;
	yaml_node_t *v = enter(ld, m, key, &old);
	return v ? leave(ld, old, get_bool(ld, v, dst)) : 0;
}

static int key_num(struct loader *ld, const yaml_node_t *m, const char *key, double *dst)
{
	size_t old;
	yaml_node_t *v = enter(ld, m, key, &old);
	return v ? leave(ld, old, get_num(ld, v, dst)) : 0;
}

static int key_int(struct loader *ld, const yaml_node_t *m, const char *key, long long min,
		   long long max, long long *dst)
{
	size_t old;
	yaml_node_t *v = enter(ld, m, key, &old);
	return v ? leave(ld, old, get_int(ld, v, min, max, dst)) : 0;
}

static int key_dur(struct loader *ld, const yaml_node_t *m, const char *key, oeed_ms min,
		   oeed_ms max, oeed_ms *dst)
{
	size_t old;
	yaml_node_t *v = enter(ld, m, key, &old);
	return v ? leave(ld, old, get_dur(ld, v, min, max, dst)) : 0;
}

static int key_size(struct loader *ld, const yaml_node_t *m, const char *key, uint64_t min,
		    uint64_t max, uint64_t *dst)
{
	size_t old;
	yaml_node_t *v = enter(ld, m, key, &old);
	return v ? leave(ld, old, get_size(ld, v, min, max, dst)) : 0;
}

static int key_choice(struct loader *ld, const yaml_node_t *m, const char *key,
		      const char *const *names, size_t n_names, int *dst)
{
	size_t old;
	yaml_node_t *v = enter(ld, m, key, &old);
	return v ? leave(ld, old, get_choice(ld, v, names, n_names, dst)) : 0;
}

static int expect_list(struct loader *ld, const yaml_node_t *n)
{
	return n->type == YAML_SEQUENCE_NODE ? 0 : fail_type(ld, n, "a list");
}

static size_t list_len(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static yaml_node_t *list_item(const struct loader *ld, const yaml_node_t *n, size_t i)
{
	return node_at(ld, n->data.sequence.items.start[i]);
}

/* ---- sections ---- */

static int parse_record(struct loader *ld, const yaml_node_t *v, struct oeed_record_conf *rec)
{
	static const char *const keys[] = {"enabled", "file_max", "total_max"};
	int r;
	if (v->type == YAML_SCALAR_NODE)
		return get_bool(ld, v, &rec->enabled);
	if (v->type != YAML_MAPPING_NODE)
		return fail_type(ld, v, "a boolean or a mapping");
	if ((r = check_keys(ld, v, keys, OEED_ARRAY_SIZE(keys))) < 0)
		return r;
	rec->enabled = true; /* writing a record section means recording unless it says not */
	if ((r = key_bool(ld, v, "enabled", &rec->enabled)) < 0 ||
	    (r = key_size(ld, v, "file_max", 64 * KIB, TIB, &rec->file_max)) < 0 ||
	    (r = key_size(ld, v, "total_max", 64 * KIB, 64 * TIB, &rec->total_max)) < 0)
		return r;
	if (rec->total_max < rec->file_max) {
		char a[32], b[32];
		format_size(rec->total_max, a, sizeof(a));
		format_size(rec->file_max, b, sizeof(b));
		return fail_key(ld, v, "total_max", "%s is below file_max %s", a, b);
	}
	return 0;
}

/* "tcp://host:port": scheme from `schemes`, a non-empty host, an optional port 1..65535. */
static bool url_ok(const char *url, const char *const *schemes, size_t n_schemes)
{
	const char *rest = NULL;
	for (size_t i = 0; i < n_schemes && !rest; i++)
		if (strncmp(url, schemes[i], strlen(schemes[i])) == 0)
			rest = url + strlen(schemes[i]);
	if (!rest)
		return false;
	size_t host_len;
	if (*rest == '[') { /* IPv6 literal */
		const char *close = strchr(rest, ']');
		if (!close || close == rest + 1)
			return false;
		host_len = (size_t)(close - rest) + 1;
	} else {
		host_len = strcspn(rest, ":/?#");
	}
	if (host_len == 0 || strpbrk(rest, " \t\r\n"))
		return false;
	const char *p = rest + host_len;
	if (*p == ':') {
		char *end;
		errno = 0;
		if (!(p[1] >= '0' && p[1] <= '9'))
			return false;
		long port = strtol(p + 1, &end, 10);
		if (errno || port < 1 || port > 65535 || (*end && *end != '/'))
			return false;
	}
	return true;
}

static int parse_tls(struct loader *ld, const yaml_node_t *m, struct oeed_tls_conf *tls)
{
	static const char *const keys[] = {"ca_file", "cert_file", "key_file", "verify"};
	int r;
	if ((r = check_keys(ld, m, keys, OEED_ARRAY_SIZE(keys))) < 0 ||
	    (r = key_str(ld, m, "ca_file", &tls->ca_file)) < 0 ||
	    (r = key_str(ld, m, "cert_file", &tls->cert_file)) < 0 ||
	    (r = key_str(ld, m, "key_file", &tls->key_file)) < 0 ||
	    (r = key_bool(ld, m, "verify", &tls->verify)) < 0)
		return r;
	return 0;
}

static int parse_mqtt(struct loader *ld, const yaml_node_t *m, struct oeed_mqtt_conf *mq)
{
	static const char *const keys[] = {
	    "url",	    "client_id",     "username",      "password_file",
	    "qos",	    "clean_session", "protocol",      "session_expiry",
	    "keepalive",    "reconnect_min", "reconnect_max", "tls",
	    "status_topic", "queue_len",     "queue_bytes",   "sparkplug_rebirth"};
	static const char *const schemes[] = {"tcp://", "ssl://"};
	long long v;
	int r;
	yaml_node_t *n;

	if ((r = check_keys(ld, m, keys, OEED_ARRAY_SIZE(keys))) < 0 ||
	    (r = key_str(ld, m, "url", &mq->url)) < 0)
		return r;
	if (!url_ok(mq->url, schemes, OEED_ARRAY_SIZE(schemes)))
		return fail_key(ld, m, "url",
				"bad url '%.100s' (use tcp://HOST:PORT or ssl://HOST:PORT)",
				mq->url);
	mq->has_tls = strncmp(mq->url, "ssl://", 6) == 0;
	if ((r = key_str(ld, m, "client_id", &mq->client_id)) < 0 ||
	    (r = key_str(ld, m, "username", &mq->username)) < 0 ||
	    (r = key_str(ld, m, "password_file", &mq->password_file)) < 0)
		return r;
	if ((r = key_int(ld, m, "qos", 0, 2, &v)) < 0)
		return r;
	if (r)
		mq->qos = (int)v;
	if ((r = key_bool(ld, m, "clean_session", &mq->clean_session)) < 0)
		return r;
	if ((n = find_key(ld, m, "protocol"))) {
		const char *s = n->type == YAML_SCALAR_NODE ? sval(n) : "";
		if (!strcmp(s, "4") || !strcmp(s, "3.1.1"))
			mq->protocol = 4;
		else if (!strcmp(s, "5") || !strcmp(s, "5.0"))
			mq->protocol = 5;
		else if (n->type != YAML_SCALAR_NODE)
			return fail_key(ld, m, "protocol", "expected 4, 3.1.1 or 5, got %s",
					n->type == YAML_MAPPING_NODE ? "a mapping" : "a list");
		else
			return fail_key(ld, m, "protocol",
					"bad protocol '%.20s' (use 4 or 3.1.1, or 5)", s);
	}
	/* MQTT carries keepalive in 16 bits and the session expiry in 32 bits of seconds */
	if ((r = key_dur(ld, m, "session_expiry", 0, 4294967295LL * MS_S, &mq->session_expiry_ms)) <
		0 ||
	    (r = key_dur(ld, m, "keepalive", 0, 65535 * MS_S, &mq->keepalive_ms)) < 0 ||
	    (r = key_dur(ld, m, "reconnect_min", 10, MS_H, &mq->reconnect_min_ms)) < 0 ||
	    (r = key_dur(ld, m, "reconnect_max", 10, MS_H, &mq->reconnect_max_ms)) < 0)
		return r;
	if (mq->reconnect_min_ms > mq->reconnect_max_ms) {
		char a[32], b[32];
		format_duration(mq->reconnect_min_ms, a, sizeof(a));
		format_duration(mq->reconnect_max_ms, b, sizeof(b));
		return fail_key(ld, m, "reconnect_min", "%s is above reconnect_max %s", a, b);
	}
	if ((n = find_key(ld, m, "tls"))) {
		size_t old = path_key(ld, "tls");
		r = mq->has_tls ? parse_tls(ld, n, &mq->tls)
				: fail(ld, n, "tls needs an ssl:// url");
		path_pop(ld, old);
		if (r < 0)
			return r;
	}
	if ((r = key_str(ld, m, "status_topic", &mq->status_topic)) < 0)
		return r;
	if (mq->status_topic && strpbrk(mq->status_topic, "+#"))
		return fail_key(ld, m, "status_topic",
				"a topic to publish to cannot hold '+' or '#'");
	if ((r = key_int(ld, m, "queue_len", 1, 16777216, &v)) < 0)
		return r;
	if (r)
		mq->queue_len = (size_t)v;
	if ((r = key_size(ld, m, "queue_bytes", 64 * KIB, GIB, &mq->queue_bytes)) < 0)
		return r;
	if ((r = key_bool(ld, m, "sparkplug_rebirth", &mq->sparkplug_rebirth)) < 0)
		return r;
	return 0;
}

static int parse_map(struct loader *ld, const yaml_node_t *m, struct oeed_source *src)
{
	char cats[80];
	int r;
	if ((r = check_keys(ld, m, NULL, 0)) < 0)
		return r;
	size_t n = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
	src->map = calloc(n ? n : 1, sizeof(*src->map));
	if (!src->map)
		return oom(ld);
	join_names(category_names, CAT__COUNT, cats, sizeof(cats));
	for (size_t i = 0; i < n; i++) {
		yaml_node_pair_t *p = &m->data.mapping.pairs.start[i];
		yaml_node_t *k = node_at(ld, p->key), *v = node_at(ld, p->value);
		struct oeed_map_entry *e = &src->map[src->n_map];
		size_t old = path_key(ld, sval(k));

		if (v->type != YAML_SCALAR_NODE || is_null(v)) {
			r = fail_type(ld, v, "a category");
			goto next;
		}
		const char *s = sval(v);
		const char *slash = strchr(s, '/');
		size_t clen = slash ? (size_t)(slash - s) : strlen(s);
		if (category_parse(s, clen, &e->category) < 0) {
			r = fail(ld, v, "unknown category '%.*s' (use %s)", (int)OEED_MIN(clen, 60),
				 s, cats);
			goto next;
		}
		if (slash && !slash[1]) {
			r = fail(ld, v, "empty reason in '%.60s' (use category or category/reason)",
				 s);
			goto next;
		}
		if (strlen(s) != v->data.scalar.length) {
			r = fail(ld, v, "contains a NUL byte");
			goto next;
		}
		e->raw = strdup(sval(k));
		e->reason = strdup(slash ? slash + 1 : "");
		src->n_map++; /* owned from here, freed with the source */
		r = e->raw && e->reason ? 0 : oom(ld);
	next:
		path_pop(ld, old);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_fields(struct loader *ld, const yaml_node_t *m, struct oeed_source *src)
{
	static const char *const allowed = "state, total, good, reject, cycle, timestamp";
	bool any_signal = false;
	int r;
	if ((r = check_keys(ld, m, NULL, 0)) < 0)
		return r;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_at(ld, p->key), *v = node_at(ld, p->value);
		enum oeed_signal sig;
		if (signal_parse(sval(k), &sig) < 0 || sig == SIG_DEATH)
			return fail(ld, k, "unknown signal '%.60s' (use %s)", sval(k), allowed);
		size_t old = path_key(ld, sval(k));
		r = is_null(v) ? fail_type(ld, v, "a string") : get_str(ld, v, &src->fields[sig]);
		path_pop(ld, old);
		if (r < 0)
			return r;
		if (sig != SIG_TIMESTAMP)
			any_signal = true;
	}
	if (!any_signal)
		return fail(ld, m, "no signal given (use %s)", allowed);
	return 0;
}

static bool source_has(const struct oeed_source *src, enum oeed_signal sig)
{
	return src->signal == sig || src->fields[sig];
}

static int parse_source(struct loader *ld, const yaml_node_t *m, struct oeed_source *src)
{
	static const char *const keys[] = {"topic",  "decoder", "signal",
					   "map",    "counts",	"cycle_counts",
					   "fields", "qos",	"max_lateness"};
	char msg[OEED_ERR_MAX];
	char *sig_name = NULL;
	long long v;
	int counts = COUNTS_CUMULATIVE;
	yaml_node_t *n;
	int r;

	src->qos = -1;
	src->max_lateness_ms = -1;
	src->line = (int)m->start_mark.line + 1;
	src->column = (int)m->start_mark.column + 1;
	if ((r = check_keys(ld, m, keys, OEED_ARRAY_SIZE(keys))) < 0)
		return r;

	if ((r = key_str(ld, m, "topic", &src->topic)) <= 0)
		return r < 0 ? r : missing(ld, m, "topic");
	struct topic_template t;
	memset(&t, 0, sizeof(t));
	msg[0] = '\0';
	if (topic_template_parse(src->topic, &t, msg, sizeof(msg)) < 0)
		return fail_key(ld, m, "topic", "bad topic template: %s", msg);
	topic_template_free(&t);

	if ((r = key_str(ld, m, "decoder", &src->decoder)) <= 0)
		return r < 0 ? r : missing(ld, m, "decoder");
	const struct oeed_decoder *dec = plugin_find(src->decoder);
	if (!dec)
		return fail_key(ld, m, "decoder", "unknown decoder '%.60s'", src->decoder);

	if ((r = key_str(ld, m, "signal", &sig_name)) < 0)
		return r;
	if (r) {
		bool ok = signal_parse(sig_name, &src->signal) == 0 && src->signal >= SIG_STATE &&
			  src->signal <= SIG_CYCLE;
		free(sig_name);
		if (!ok) {
			src->signal = SIG_NONE;
			return fail_key(
			    ld, m, "signal",
			    "unknown signal '%.60s' (use state, total, good, reject, cycle)",
			    sval(find_key(ld, m, "signal")));
		}
	}
	if ((n = find_key(ld, m, "fields"))) {
		if (src->signal != SIG_NONE)
			return fail(ld, m, "give either signal or fields, not both");
		size_t old = path_key(ld, "fields");
		r = parse_fields(ld, n, src);
		path_pop(ld, old);
		if (r < 0)
			return r;
	} else if (src->signal == SIG_NONE) {
		return fail(ld, m, "missing key 'signal' or 'fields'");
	}

	if ((n = find_key(ld, m, "map"))) {
		size_t old = path_key(ld, "map");
		r = parse_map(ld, n, src);
		path_pop(ld, old);
		if (r < 0)
			return r;
		if (!source_has(src, SIG_STATE))
			return fail_key(ld, m, "map", "map needs the state signal");
	}
	if ((r = key_choice(ld, m, "counts", counts_names, OEED_ARRAY_SIZE(counts_names),
			    &counts)) < 0)
		return r;
	src->counts = (enum oeed_counts)counts;
	if ((r = key_bool(ld, m, "cycle_counts", &src->cycle_counts)) < 0)
		return r;
	if (src->cycle_counts && !source_has(src, SIG_CYCLE))
		return fail_key(ld, m, "cycle_counts", "cycle_counts needs the cycle signal");
	if ((r = key_int(ld, m, "qos", 0, 2, &v)) < 0)
		return r;
	if (r)
		src->qos = (int)v;
	if ((r = key_dur(ld, m, "max_lateness", 0, 7 * MS_D, &src->max_lateness_ms)) < 0)
		return r;

	/* Let the decoder judge its own settings (paths, metric names) now, not at start-up. */
	if (dec->abi_version != OEED_DECODER_ABI)
		return fail_key(ld, m, "decoder", "decoder '%s' has ABI %u, expected %u",
				src->decoder, (unsigned)dec->abi_version, OEED_DECODER_ABI);
	if (dec->create) {
		struct oeed_decoder_host host = {0};
		struct oeed_decode_error derr = {0};
		void *state = NULL;
		r = dec->create(src, &host, &state, &derr);
		if (r == -ENOMEM)
			return oom(ld);
		if (r < 0)
			return fail(ld, m, "%s",
				    derr.msg[0] ? derr.msg : "the decoder rejects these settings");
		if (dec->destroy)
			dec->destroy(state);
	}
	return 0;
}

static int parse_sources(struct loader *ld, const yaml_node_t *v, struct oeed_config *cfg)
{
	int r;
	if ((r = expect_list(ld, v)) < 0)
		return r;
	size_t n = list_len(v);
	cfg->sources = calloc(n ? n : 1, sizeof(*cfg->sources));
	if (!cfg->sources)
		return oom(ld);
	for (size_t i = 0; i < n; i++) {
		size_t old = path_index(ld, i);
		cfg->n_sources++;
		r = parse_source(ld, list_item(ld, v, i), &cfg->sources[i]);
		path_pop(ld, old);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Machine ids come from one topic level (or a Sparkplug device name): no '/', no wildcards. */
static bool machine_id_ok(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p == '/' || *p == '+' || *p == '#' || *p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static int parse_machine(struct loader *ld, const yaml_node_t *m, struct oeed_machine_conf *mc,
			 bool is_default)
{
	static const char *const keys[] = {"id", "ideal_cycle_time", "stale_after",
					   "microstop_below", "max_lateness"};
	int r;
	/* the defaults entry has no id */
	if ((r = check_keys(ld, m, is_default ? keys + 1 : keys,
			    OEED_ARRAY_SIZE(keys) - (is_default ? 1 : 0))) < 0)
		return r;
	mc->line = (int)m->start_mark.line + 1;
	mc->column = (int)m->start_mark.column + 1;
	if (!is_default) {
		if ((r = key_str(ld, m, "id", &mc->id)) <= 0)
			return r < 0 ? r : missing(ld, m, "id");
		if (!machine_id_ok(mc->id))
			return fail_key(ld, m, "id", "bad machine id '%.60s' (no '/', '+', '#')",
					mc->id);
	}
	if ((r = key_dur(ld, m, "ideal_cycle_time", 0, MS_D, &mc->ideal_cycle_ms)) < 0 ||
	    (r = key_dur(ld, m, "stale_after", 0, 31 * MS_D, &mc->stale_after_ms)) < 0 ||
	    (r = key_dur(ld, m, "microstop_below", 0, MS_D, &mc->microstop_below_ms)) < 0 ||
	    (r = key_dur(ld, m, "max_lateness", 0, 7 * MS_D, &mc->max_lateness_ms)) < 0)
		return r;
	return 0;
}

static int parse_machines(struct loader *ld, const yaml_node_t *m, struct oeed_config *cfg)
{
	static const char *const keys[] = {"defaults", "max", "list"};
	struct oeed_machines *ms = &cfg->machines;
	yaml_node_t *n;
	long long max = 0;
	int r, has_max;

	if ((r = check_keys(ld, m, keys, OEED_ARRAY_SIZE(keys))) < 0)
		return r;
	/* defaults first: listed machines start from them whatever the key order */
	if ((n = find_key(ld, m, "defaults"))) {
		size_t old = path_key(ld, "defaults");
		r = parse_machine(ld, n, &ms->defaults, true);
		path_pop(ld, old);
		if (r < 0)
			return r;
	}
	if ((n = find_key(ld, m, "list"))) {
		size_t old = path_key(ld, "list");
		r = expect_list(ld, n);
		size_t count = r < 0 ? 0 : list_len(n);
		if (r == 0 && count > MACHINES_MAX)
			r = fail(ld, n, "more than %d machines", MACHINES_MAX);
		if (r == 0) {
			ms->list = calloc(count ? count : 1, sizeof(*ms->list));
			if (!ms->list)
				r = oom(ld);
		}
		for (size_t i = 0; r == 0 && i < count; i++) {
			yaml_node_t *item = list_item(ld, n, i);
			struct oeed_machine_conf *mc = &ms->list[i];
			size_t old_i = path_index(ld, i);
			*mc = ms->defaults;
			mc->id = NULL;
			ms->n_list++;
			r = parse_machine(ld, item, mc, false);
			for (size_t j = 0; r == 0 && j < i; j++)
				if (strcmp(ms->list[j].id, mc->id) == 0)
					r = fail_key(ld, item, "id", "duplicate machine id '%.60s'",
						     mc->id);
			path_pop(ld, old_i);
		}
		path_pop(ld, old);
		if (r < 0)
			return r;
	}
	if ((has_max = key_int(ld, m, "max", 1, MACHINES_MAX, &max)) < 0)
		return has_max;
	if (has_max) {
		if ((size_t)max < ms->n_list)
			return fail_key(ld, m, "max", "%lld is below the %zu listed machines", max,
					ms->n_list);
		ms->max = (size_t)max;
	} else {
		ms->max = OEED_MIN(ms->n_list + 100, (size_t)MACHINES_MAX);
	}
	return 0;
}

/* "HH:MM" -> minutes after midnight */
static int parse_hhmm(const char *s, int *ret_min)
{
	if (strlen(s) != 5 || s[2] != ':')
		return -EINVAL;
	for (int i = 0; i < 5; i++)
		if (i != 2 && (s[i] < '0' || s[i] > '9'))
			return -EINVAL;
	int h = (s[0] - '0') * 10 + (s[1] - '0');
	int m = (s[3] - '0') * 10 + (s[4] - '0');
	if (h > 23 || m > 59)
		return -EINVAL;
	*ret_min = h * 60 + m;
	return 0;
}

static int parse_shifts(struct loader *ld, const yaml_node_t *n, struct oeed_report *rep)
{
	static const char *const keys[] = {"name", "start"};
	int r;
	if ((r = expect_list(ld, n)) < 0)
		return r;
	if (list_len(n) > OEED_MAX_SHIFTS)
		return fail(ld, n, "more than %d shifts", OEED_MAX_SHIFTS);
	for (size_t i = 0; i < list_len(n); i++) {
		yaml_node_t *m = list_item(ld, n, i);
		struct oeed_shift *sh = &rep->shifts[i];
		char *start = NULL;
		size_t old = path_index(ld, i);

		r = check_keys(ld, m, keys, OEED_ARRAY_SIZE(keys));
		if (r == 0) {
			rep->n_shifts++;
			r = key_str(ld, m, "name", &sh->name);
			if (r == 0)
				r = missing(ld, m, "name");
		}
		if (r > 0) {
			r = key_str(ld, m, "start", &start);
			if (r == 0)
				r = missing(ld, m, "start");
		}
		if (r > 0 && parse_hhmm(start, &sh->start_min) < 0)
			r = fail_key(ld, m, "start", "bad time '%.20s' (use HH:MM, 00:00 to 23:59)",
				     start);
		for (size_t j = 0; r > 0 && j < i; j++) {
			if (rep->shifts[j].start_min == sh->start_min)
				r = fail_key(ld, m, "start", "two shifts start at %s", start);
			else if (strcmp(rep->shifts[j].name, sh->name) == 0)
				r = fail_key(ld, m, "name", "duplicate shift name '%.60s'",
					     sh->name);
		}
		free(start);
		path_pop(ld, old);
		if (r < 0)
			return r;
	}
	/* sorted by start: the calendar walks them in order */
	for (size_t i = 1; i < rep->n_shifts; i++) {
		struct oeed_shift key = rep->shifts[i];
		size_t j = i;
		for (; j > 0 && rep->shifts[j - 1].start_min > key.start_min; j--)
			rep->shifts[j] = rep->shifts[j - 1];
		rep->shifts[j] = key;
	}
	return 0;
}

static bool zone_ok(const char *name)
{
	char path[512];
	struct stat st;
	if (name[0] == '/' || strstr(name, "..") ||
	    (size_t)snprintf(path, sizeof(path), ZONEINFO_DIR "%s", name) >= sizeof(path))
		return false;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int parse_report(struct loader *ld, const yaml_node_t *m, struct oeed_report *rep,
			bool *ret_windows, bool *ret_periods)
{
	static const char *const keys[] = {"interval", "windows", "periods",
					   "timezone", "shifts",  "window_buckets"};
	yaml_node_t *n;
	long long v;
	int r;

	if ((r = check_keys(ld, m, keys, OEED_ARRAY_SIZE(keys))) < 0)
		return r;
	if ((r = key_dur(ld, m, "interval", 10, MS_D, &rep->interval_ms)) < 0)
		return r;
	if ((n = find_key(ld, m, "windows"))) {
		size_t old = path_key(ld, "windows");
		*ret_windows = true;
		r = expect_list(ld, n);
		if (r == 0 && list_len(n) > OEED_MAX_WINDOWS)
			r = fail(ld, n, "more than %d windows", OEED_MAX_WINDOWS);
		for (size_t i = 0; r == 0 && i < list_len(n); i++) {
			yaml_node_t *item = list_item(ld, n, i);
			size_t old_i = path_index(ld, i);
			r = get_dur(ld, item, 1, 31 * MS_D, &rep->windows_ms[i]);
			for (size_t j = 0; r == 0 && j < i; j++)
				if (rep->windows_ms[j] == rep->windows_ms[i])
					r = fail(ld, item, "duplicate window '%.30s'", sval(item));
			if (r == 0)
				rep->n_windows++;
			path_pop(ld, old_i);
		}
		path_pop(ld, old);
		if (r < 0)
			return r;
	}
	if ((r = key_str(ld, m, "timezone", &rep->timezone)) < 0)
		return r;
	if (r && !zone_ok(rep->timezone))
		return fail_key(ld, m, "timezone", "unknown time zone '%.60s'", rep->timezone);
	if ((n = find_key(ld, m, "shifts"))) {
		size_t old = path_key(ld, "shifts");
		r = parse_shifts(ld, n, rep);
		path_pop(ld, old);
		if (r < 0)
			return r;
	}
	ld->n_shifts = rep->n_shifts;
	if ((n = find_key(ld, m, "periods"))) {
		size_t old = path_key(ld, "periods");
		*ret_periods = true;
		r = expect_list(ld, n);
		for (size_t i = 0; r == 0 && i < list_len(n); i++) {
			yaml_node_t *item = list_item(ld, n, i);
			int p = 0;
			size_t old_i = path_index(ld, i);
			r = get_choice(ld, item, period_names, PERIOD__COUNT, &p);
			if (r == 0 && rep->periods[p])
				r = fail(ld, item, "duplicate period '%s'", period_names[p]);
			if (r == 0 && p == PERIOD_SHIFT && rep->n_shifts == 0)
				r = fail(ld, item, "shift needs report.shifts");
			if (r == 0)
				rep->periods[p] = true;
			path_pop(ld, old_i);
		}
		path_pop(ld, old);
		if (r < 0)
			return r;
	}
	if ((r = key_int(ld, m, "window_buckets", 1, 3600, &v)) < 0)
		return r;
	if (r)
		rep->window_buckets = (unsigned)v;
	return 0;
}

static int parse_string_list(struct loader *ld, const yaml_node_t *n, char **dst, size_t max,
			     size_t *count, const char *what)
{
	int r;
	if (n->type == YAML_SCALAR_NODE) {
		if (max < 1)
			return fail(ld, n, "more than %zu %s", max, what);
		*count = 1;
		return get_str(ld, n, &dst[0]);
	}
	if ((r = expect_list(ld, n)) < 0)
		return r;
	if (list_len(n) > max)
		return fail(ld, n, "more than %zu %s", max, what);
	for (size_t i = 0; i < list_len(n); i++) {
		size_t old = path_index(ld, i);
		(*count)++;
		r = get_str(ld, list_item(ld, n, i), &dst[i]);
		path_pop(ld, old);
		if (r < 0)
			return r;
	}
	return 0;
}

static int check_kpi_value(struct loader *ld, const yaml_node_t *m, const char *key,
			   enum oeed_kpi kpi, double v)
{
	if (kpi_is_unit_ratio(kpi) && (v < 0 || v > 1))
		return fail_key(ld, m, key, "%g is outside 0..1 for %s", v, kpi_name(kpi));
	if (v < 0)
		return fail_key(ld, m, key, "%g is negative", v);
	return 0;
}

static int parse_contract(struct loader *ld, const yaml_node_t *m, struct oeed_contract *c)
{
	static const char *const keys[] = {"name",	"machines", "kpi",
					   "period",	"target",   "minimum",
					   "direction", "unknown",  "planned_reasons"};
	char kpis[256];
	char *s = NULL;
	yaml_node_t *n;
	int r, dir, unknown = UNKNOWN_EXCLUDE;

	c->line = (int)m->start_mark.line + 1;
	c->column = (int)m->start_mark.column + 1;
	if ((r = check_keys(ld, m, keys, OEED_ARRAY_SIZE(keys))) < 0)
		return r;
	if ((r = key_str(ld, m, "name", &c->name)) <= 0)
		return r < 0 ? r : missing(ld, m, "name");

	if ((n = find_key(ld, m, "machines"))) {
		size_t count = n->type == YAML_SEQUENCE_NODE ? list_len(n) : 1;
		size_t old = path_key(ld, "machines");
		c->machines = calloc(count ? count : 1, sizeof(*c->machines));
		r = c->machines
			? parse_string_list(ld, n, c->machines, count, &c->n_machines, "machines")
			: oom(ld);
		if (r == 0 && c->n_machines == 0)
			r = fail(ld, n, "expected at least one machine id or pattern");
		path_pop(ld, old);
		if (r < 0)
			return r;
	} else {
		/* no machines: the contract covers every machine */
		c->machines = calloc(1, sizeof(*c->machines));
		if (!c->machines || !(c->machines[0] = strdup("*")))
			return oom(ld);
		c->n_machines = 1;
	}

	if ((r = key_str(ld, m, "kpi", &s)) <= 0)
		return r < 0 ? r : missing(ld, m, "kpi");
	r = kpi_parse(s, &c->kpi);
	free(s);
	s = NULL;
	if (r < 0) {
		join_names(kpi_names, KPI__COUNT, kpis, sizeof(kpis));
		return fail_key(ld, m, "kpi", "unknown kpi '%.60s' (use %s)",
				sval(find_key(ld, m, "kpi")), kpis);
	}

	if (!(n = find_key(ld, m, "period")))
		return missing(ld, m, "period");
	{
		size_t old = path_key(ld, "period");
		enum oeed_period p;
		if (n->type != YAML_SCALAR_NODE) {
			r = fail_type(ld, n, "a period");
		} else if (period_parse(sval(n), &p) == 0) {
			c->period = p;
			r = p == PERIOD_SHIFT && ld->n_shifts == 0
				? fail(ld, n, "shift needs report.shifts")
				: 0;
		} else if (parse_duration_ms(sval(n), &c->rolling_ms) == 0) {
			c->rolling = true;
			r = get_dur(ld, n, 1, 366 * MS_D, &c->rolling_ms);
		} else {
			r = fail(
			    ld, n,
			    "bad period '%.60s' (use shift, day, week, month or a duration like "
			    "30d)",
			    sval(n));
		}
		path_pop(ld, old);
		if (r < 0)
			return r;
	}

	if ((r = key_num(ld, m, "target", &c->target)) <= 0)
		return r < 0 ? r : missing(ld, m, "target");
	if ((r = key_num(ld, m, "minimum", &c->minimum)) <= 0)
		return r < 0 ? r : missing(ld, m, "minimum");
	dir = kpi_higher_is_better(c->kpi);
	if ((r = key_choice(ld, m, "direction", direction_names, 2, &dir)) < 0)
		return r;
	c->higher_is_better = dir;
	if ((r = key_choice(ld, m, "unknown", unknown_names, 2, &unknown)) < 0)
		return r;
	c->unknown = (enum oeed_unknown_policy)unknown;
	if ((r = check_kpi_value(ld, m, "target", c->kpi, c->target)) < 0 ||
	    (r = check_kpi_value(ld, m, "minimum", c->kpi, c->minimum)) < 0)
		return r;
	if (c->higher_is_better && c->target < c->minimum)
		return fail_key(ld, m, "target", "target %g is below minimum %g (higher is better)",
				c->target, c->minimum);
	if (!c->higher_is_better && c->target > c->minimum)
		return fail_key(ld, m, "target", "target %g is above minimum %g (lower is better)",
				c->target, c->minimum);

	if ((n = find_key(ld, m, "planned_reasons"))) {
		size_t old = path_key(ld, "planned_reasons");
		r = parse_string_list(ld, n, c->planned_reasons, OEED_MAX_CONTRACT_REASONS,
				      &c->n_planned_reasons, "planned reasons");
		path_pop(ld, old);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_contracts(struct loader *ld, const yaml_node_t *v, struct oeed_config *cfg)
{
	int r;
	if ((r = expect_list(ld, v)) < 0)
		return r;
	size_t n = list_len(v);
	cfg->contracts = calloc(n ? n : 1, sizeof(*cfg->contracts));
	if (!cfg->contracts)
		return oom(ld);
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *m = list_item(ld, v, i);
		size_t old = path_index(ld, i);
		cfg->n_contracts++;
		r = parse_contract(ld, m, &cfg->contracts[i]);
		for (size_t j = 0; r == 0 && j < i; j++)
			if (strcmp(cfg->contracts[j].name, cfg->contracts[i].name) == 0)
				r = fail_key(ld, m, "name", "duplicate contract name '%.60s'",
					     cfg->contracts[i].name);
		path_pop(ld, old);
		if (r < 0)
			return r;
	}
	return 0;
}

static const char *const output_keys[] = {"type",
					  "name",
					  "url",
					  "api",
					  "database",
					  "retention_policy",
					  "username",
					  "password_file",
					  "org",
					  "bucket",
					  "token_file",
					  "precision",
					  "batch_lines",
					  "flush_interval",
					  "spool_max",
					  "gzip",
					  "create_database",
					  "timeout",
					  "connect_timeout",
					  "ca_file",
					  "verify",
					  "path"};
static const char *const file_output_keys[] = {"type", "name", "path", "batch_lines",
					       "flush_interval"};

/* Output names name spool directories: keep them to safe file name characters. */
static bool output_name_ok(const char *s)
{
	if (s[0] == '.' || strlen(s) > 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return false;
	return true;
}

static int parse_influxdb(struct loader *ld, const yaml_node_t *m, struct oeed_output_conf *o)
{
	static const char *const schemes[] = {"http://", "https://"};
	yaml_node_t *n;
	int r;

	if ((r = key_str(ld, m, "url", &o->url)) <= 0)
		return r < 0 ? r : missing(ld, m, "url");
	if (!url_ok(o->url, schemes, OEED_ARRAY_SIZE(schemes)))
		return fail_key(ld, m, "url",
				"bad url '%.100s' (use http://HOST:PORT or https://HOST:PORT)",
				o->url);
	if ((n = find_key(ld, m, "api"))) {
		const char *s = n->type == YAML_SCALAR_NODE ? sval(n) : "";
		if (!strcmp(s, "v1") || !strcmp(s, "1"))
			o->api = 1;
		else if (!strcmp(s, "v2") || !strcmp(s, "2"))
			o->api = 2;
		else if (n->type != YAML_SCALAR_NODE)
			return fail_key(ld, m, "api", "expected v1 or v2, got %s",
					n->type == YAML_MAPPING_NODE ? "a mapping" : "a list");
		else
			return fail_key(ld, m, "api", "bad api '%.20s' (use v1 or v2)", s);
	}
	if ((r = key_str(ld, m, "database", &o->database)) < 0 ||
	    (r = key_str(ld, m, "retention_policy", &o->retention_policy)) < 0 ||
	    (r = key_str(ld, m, "username", &o->username)) < 0 ||
	    (r = key_str(ld, m, "password_file", &o->password_file)) < 0 ||
	    (r = key_str(ld, m, "org", &o->org)) < 0 ||
	    (r = key_str(ld, m, "bucket", &o->bucket)) < 0 ||
	    (r = key_str(ld, m, "token_file", &o->token_file)) < 0)
		return r;
	if (o->api == 1 && !o->database)
		return fail(ld, m, "missing key 'database' (needed by api v1)");
	if (o->api == 2 && !o->org)
		return fail(ld, m, "missing key 'org' (needed by api v2)");
	if (o->api == 2 && !o->bucket)
		return fail(ld, m, "missing key 'bucket' (needed by api v2)");
	if ((r = key_str(ld, m, "precision", &o->precision)) < 0)
		return r;
	if (strcmp(o->precision, "ms") != 0)
		return fail_key(
		    ld, m, "precision",
		    "precision '%.20s' is not supported (points carry ms timestamps: use "
		    "ms)",
		    o->precision);
	if ((r = key_size(ld, m, "spool_max", 0, 64 * TIB, &o->spool_max)) < 0 ||
	    (r = key_bool(ld, m, "gzip", &o->gzip)) < 0 ||
	    (r = key_bool(ld, m, "create_database", &o->create_database)) < 0)
		return r;
	if (o->create_database && o->api != 1)
		return fail_key(ld, m, "create_database", "create_database needs api v1");
	if ((r = key_dur(ld, m, "timeout", 10, 10 * MS_M, &o->timeout_ms)) < 0 ||
	    (r = key_dur(ld, m, "connect_timeout", 10, 10 * MS_M, &o->connect_timeout_ms)) < 0 ||
	    (r = key_str(ld, m, "ca_file", &o->ca_file)) < 0 ||
	    (r = key_bool(ld, m, "verify", &o->verify)) < 0)
		return r;
	return 0;
}

static int parse_output(struct loader *ld, const yaml_node_t *m, struct oeed_output_conf *o)
{
	long long v;
	int r, type = 0;

	o->line = (int)m->start_mark.line + 1;
	o->column = (int)m->start_mark.column + 1;
	if ((r = check_keys(ld, m, output_keys, OEED_ARRAY_SIZE(output_keys))) < 0)
		return r;
	if ((r = key_choice(ld, m, "type", output_type_names, 2, &type)) <= 0)
		return r < 0 ? r : missing(ld, m, "type");
	o->type = (enum oeed_output_type)type;
	/* keys of the other type are mistakes, not options to ignore */
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_at(ld, p->key);
		bool for_file =
		    in_list(file_output_keys, OEED_ARRAY_SIZE(file_output_keys), sval(k));
		bool for_influx = strcmp(sval(k), "path") != 0;
		if (!(o->type == OUTPUT_FILE ? for_file : for_influx))
			return fail(ld, k, "key '%s' does not apply to type %s", sval(k),
				    output_type_names[o->type]);
	}
	if ((r = key_str(ld, m, "name", &o->name)) < 0)
		return r;
	if (r && !output_name_ok(o->name))
		return fail_key(ld, m, "name",
				"bad output name '%.60s' (use letters, digits, '.', '_', '-')",
				o->name);
	if ((r = key_int(ld, m, "batch_lines", 1, 1000000, &v)) < 0)
		return r;
	if (r)
		o->batch_lines = (size_t)v;
	if ((r = key_dur(ld, m, "flush_interval", 1, MS_H, &o->flush_interval_ms)) < 0)
		return r;
	if (o->type == OUTPUT_FILE) {
		if ((r = key_str(ld, m, "path", &o->path)) <= 0)
			return r < 0 ? r : missing(ld, m, "path");
		return 0;
	}
	o->precision = strdup("ms");
	if (!o->precision)
		return oom(ld);
	return parse_influxdb(ld, m, o);
}

static int parse_outputs(struct loader *ld, const yaml_node_t *v, struct oeed_config *cfg)
{
	unsigned per_type[2] = {0, 0};
	int r;
	if ((r = expect_list(ld, v)) < 0)
		return r;
	size_t n = list_len(v);
	cfg->outputs = calloc(n ? n : 1, sizeof(*cfg->outputs));
	if (!cfg->outputs)
		return oom(ld);
	for (size_t i = 0; i < n; i++) {
		struct oeed_output_conf *o = &cfg->outputs[i];
		size_t old = path_index(ld, i);
		o->api = 1;
		o->batch_lines = 5000;
		o->flush_interval_ms = MS_S;
		o->spool_max = 256 * MIB;
		o->gzip = true;
		o->timeout_ms = 10 * MS_S;
		o->connect_timeout_ms = 5 * MS_S;
		o->verify = true;
		cfg->n_outputs++;
		r = parse_output(ld, list_item(ld, v, i), o);
		path_pop(ld, old);
		if (r < 0)
			return r;
	}
	/* default names count per type: influxdb-1, influxdb-2, file-1 */
	for (size_t i = 0; i < n; i++) {
		struct oeed_output_conf *o = &cfg->outputs[i];
		char name[32];
		per_type[o->type]++;
		if (o->name)
			continue;
		snprintf(name, sizeof(name), "%s-%u", output_type_names[o->type],
			 per_type[o->type]);
		if (!(o->name = strdup(name)))
			return oom(ld);
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->outputs[i].name, cfg->outputs[j].name) == 0) {
				size_t old = path_index(ld, i);
				r = fail_key(ld, list_item(ld, v, i), "name",
					     "duplicate output name '%s'", cfg->outputs[i].name);
				path_pop(ld, old);
				return r;
			}
	return 0;
}

/* Runs `fn` on the value of a top-level key when present. */
static int section(struct loader *ld, const yaml_node_t *root, const char *key,
		   int (*fn)(struct loader *, const yaml_node_t *, struct oeed_config *),
		   struct oeed_config *cfg)
{
	yaml_node_t *n = find_key(ld, root, key);
	if (!n)
		return 0;
	size_t old = path_key(ld, key);
	int r = fn(ld, n, cfg);
	path_pop(ld, old);
	return r;
}

static int section_record(struct loader *ld, const yaml_node_t *n, struct oeed_config *cfg)
{
	return parse_record(ld, n, &cfg->record);
}

static int section_mqtt(struct loader *ld, const yaml_node_t *n, struct oeed_config *cfg)
{
	return parse_mqtt(ld, n, &cfg->mqtt);
}

static int parse_top(struct loader *ld, const yaml_node_t *root, struct oeed_config *cfg)
{
	static const char *const keys[] = {
	    "site",   "instance", "state_dir", "log_level", "max_clock_skew", "checkpoint_interval",
	    "record", "mqtt",	  "sources",   "machines",  "report",	      "contracts",
	    "outputs"};
	bool have_windows = false, have_periods = false;
	int r, lvl = LOG_LVL_INFO;
	yaml_node_t *n;

	if ((r = check_keys(ld, root, keys, OEED_ARRAY_SIZE(keys))) < 0 ||
	    (r = key_str(ld, root, "site", &cfg->site)) < 0 ||
	    (r = key_str(ld, root, "instance", &cfg->instance)) < 0 ||
	    (r = key_str(ld, root, "state_dir", &cfg->state_dir)) < 0)
		return r;
	if (cfg->state_dir[0] != '/')
		return fail_key(ld, root, "state_dir", "must be an absolute path");
	if ((r = key_choice(ld, root, "log_level", log_level_names, 4, &lvl)) < 0)
		return r;
	cfg->log_level = lvl;
	if ((r = key_dur(ld, root, "max_clock_skew", 0, 7 * MS_D, &cfg->max_clock_skew_ms)) < 0 ||
	    (r = key_dur(ld, root, "checkpoint_interval", MS_S, MS_D,
			 &cfg->checkpoint_interval_ms)) < 0 ||
	    (r = section(ld, root, "record", section_record, cfg)) < 0 ||
	    (r = section(ld, root, "mqtt", section_mqtt, cfg)) < 0 ||
	    (r = section(ld, root, "machines", parse_machines, cfg)) < 0 ||
	    (r = section(ld, root, "sources", parse_sources, cfg)) < 0)
		return r;
	if ((n = find_key(ld, root, "report"))) {
		size_t old = path_key(ld, "report");
		r = parse_report(ld, n, &cfg->report, &have_windows, &have_periods);
		path_pop(ld, old);
		if (r < 0)
			return r;
	}
	if (!have_windows) {
		static const oeed_ms def[] = {15 * MS_M, MS_H, 24 * MS_H};
		memcpy(cfg->report.windows_ms, def, sizeof(def));
		cfg->report.n_windows = OEED_ARRAY_SIZE(def);
	}
	if (!have_periods) {
		cfg->report.periods[PERIOD_SHIFT] = cfg->report.n_shifts > 0;
		cfg->report.periods[PERIOD_DAY] = true;
		cfg->report.periods[PERIOD_MONTH] = true;
	}
	if (!find_key(ld, root, "machines"))
		cfg->machines.max = 100;
	if ((r = section(ld, root, "contracts", parse_contracts, cfg)) < 0 ||
	    (r = section(ld, root, "outputs", parse_outputs, cfg)) < 0)
		return r;
	return 0;
}

static struct oeed_config *config_new(const char *name)
{
	struct oeed_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return NULL;
	cfg->refs = 1;
	cfg->path = strdup(name);
	cfg->state_dir = strdup("/var/lib/oeed");
	cfg->mqtt.url = strdup("tcp://127.0.0.1:1883");
	cfg->report.timezone = strdup("UTC");
	if (!cfg->path || !cfg->state_dir || !cfg->mqtt.url || !cfg->report.timezone) {
		config_free(cfg);
		return NULL;
	}
	cfg->log_level = LOG_LVL_INFO;
	cfg->max_clock_skew_ms = 5 * MS_M;
	cfg->checkpoint_interval_ms = MS_M;
	cfg->record.file_max = 64 * MIB;
	cfg->record.total_max = GIB;
	cfg->mqtt.qos = 1;
	cfg->mqtt.protocol = 4;
	cfg->mqtt.session_expiry_ms = 7 * MS_D;
	cfg->mqtt.keepalive_ms = 30 * MS_S;
	cfg->mqtt.reconnect_min_ms = MS_S;
	cfg->mqtt.reconnect_max_ms = 30 * MS_S;
	cfg->mqtt.tls.verify = true;
	cfg->mqtt.queue_len = 65536;
	cfg->mqtt.queue_bytes = MIB;
	cfg->machines.defaults.stale_after_ms = 60 * MS_S;
	cfg->machines.defaults.max_lateness_ms = 10 * MS_M;
	cfg->report.interval_ms = 10 * MS_S;
	cfg->report.window_buckets = 60;
	return cfg;
}

static int syntax_error(struct loader *ld, const yaml_parser_t *p, const char *yaml, size_t len)
{
	if (p->error == YAML_MEMORY_ERROR)
		return oom(ld);
	const char *problem = p->problem ? p->problem : "cannot parse";
	if (p->error == YAML_READER_ERROR) {
		/* bad encoding: libyaml knows the byte; count the lines up to it ourselves */
		size_t line = 1, col = 1, end = p->problem_offset < len ? p->problem_offset : len;
		for (size_t i = 0; i < end; i++) {
			if (yaml[i] == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		snprintf(ld->err->msg, sizeof(ld->err->msg), "%s:%zu:%zu: byte %zu: %s", ld->name,
			 line, col, p->problem_offset, problem);
	} else if (p->context)
		snprintf(ld->err->msg, sizeof(ld->err->msg), "%s:%zu:%zu: %s %s at line %zu",
			 ld->name, p->problem_mark.line + 1, p->problem_mark.column + 1, problem,
			 p->context, p->context_mark.line + 1);
	else
		snprintf(ld->err->msg, sizeof(ld->err->msg), "%s:%zu:%zu: %s", ld->name,
			 p->problem_mark.line + 1, p->problem_mark.column + 1, problem);
	return -EINVAL;
}

/* The defaults that depend on the machine, resolved once here so the config is complete. */
static int resolve_host_defaults(struct loader *ld, struct oeed_config *cfg)
{
	char host[65] = "";
	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		strcpy(host, "gateway");
	if (!cfg->mqtt.client_id) {
		/* stable across restarts, so the broker keeps the persistent session */
		char id[80];
		snprintf(id, sizeof(id), "oeed-%s", host);
		if (!(cfg->mqtt.client_id = strdup(id)))
			return oom(ld);
	}
	if (!cfg->instance && !(cfg->instance = strdup(host)))
		return oom(ld);
	return 0;
}

int config_load_string(const char *name, const char *yaml, size_t len,
		       struct oeed_config **ret_config, struct oeed_error *err)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	struct oeed_config *cfg = NULL;
	struct loader ld = {.name = name, .doc = &doc, .err = err};
	bool have_parser = false, have_doc = false;
	int r;

	err->msg[0] = '\0';
	if (!yaml_parser_initialize(&parser)) {
		r = oom(&ld);
		goto out;
	}
	have_parser = true;
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
	if (!yaml_parser_load(&parser, &doc)) {
		r = syntax_error(&ld, &parser, yaml, len);
		goto out;
	}
	have_doc = true;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root || is_null(root)) {
		snprintf(err->msg, sizeof(err->msg), "%s:1:1: empty file", name);
		r = -EINVAL;
		goto out;
	}
	if (root->type != YAML_MAPPING_NODE) {
		r = fail_type(&ld, root, "a mapping at the top level");
		goto out;
	}
	/* A second document would be silently ignored: a config is one mapping. */
	if (!yaml_parser_load(&parser, &extra)) {
		r = syntax_error(&ld, &parser, yaml, len);
		goto out;
	}
	yaml_node_t *extra_root = yaml_document_get_root_node(&extra);
	if (extra_root) {
		ld.doc = &extra;
		r = fail(&ld, extra_root, "more than one document");
		yaml_document_delete(&extra);
		goto out;
	}
	yaml_document_delete(&extra);

	cfg = config_new(name);
	if (!cfg) {
		r = oom(&ld);
		goto out;
	}
	r = parse_top(&ld, root, cfg);
	if (r == 0)
		r = resolve_host_defaults(&ld, cfg);
	if (r < 0)
		goto out;
	*ret_config = cfg;
	cfg = NULL;
out:
	config_free(cfg);
	if (have_doc)
		yaml_document_delete(&doc);
	if (have_parser)
		yaml_parser_delete(&parser);
	return r;
}

int config_load(const char *path, struct oeed_config **ret_config, struct oeed_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	int r;
	FILE *f = fopen(path, "re");

	if (!f) {
		r = -errno;
		goto fail_errno;
	}
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		r = -ENOMEM;
		goto fail_errno;
	}
	len = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f)) {
		r = errno ? -errno : -EIO;
		goto fail_errno;
	}
	if (len > CONFIG_FILE_MAX) {
		snprintf(err->msg, sizeof(err->msg), "%s: file too large (more than 4MiB)", path);
		r = -EFBIG;
		goto out;
	}
	r = config_load_string(path, buf, len, ret_config, err);
	goto out;

fail_errno : {
	char ebuf[128];
	snprintf(err->msg, sizeof(err->msg), "%s: cannot read: %s", path,
		 strerror_r(-r, ebuf, sizeof(ebuf)));
}
out:
	free(buf);
	if (f)
		fclose(f);
	return r;
}

struct oeed_config *config_ref(struct oeed_config *cfg)
{
	cfg->refs++;
	return cfg;
}

void config_free(struct oeed_config *cfg)
{
	if (!cfg || --cfg->refs > 0)
		return;
	free(cfg->path);
	free(cfg->site);
	free(cfg->instance);
	free(cfg->state_dir);
	free(cfg->mqtt.url);
	free(cfg->mqtt.client_id);
	free(cfg->mqtt.username);
	free(cfg->mqtt.password_file);
	free(cfg->mqtt.tls.ca_file);
	free(cfg->mqtt.tls.cert_file);
	free(cfg->mqtt.tls.key_file);
	free(cfg->mqtt.status_topic);
	for (size_t i = 0; i < cfg->n_sources; i++) {
		struct oeed_source *s = &cfg->sources[i];
		free(s->topic);
		free(s->decoder);
		for (size_t j = 0; j < s->n_map; j++) {
			free(s->map[j].raw);
			free(s->map[j].reason);
		}
		free(s->map);
		for (size_t j = 0; j < SIG__COUNT; j++)
			free(s->fields[j]);
	}
	free(cfg->sources);
	for (size_t i = 0; i < cfg->machines.n_list; i++)
		free(cfg->machines.list[i].id);
	free(cfg->machines.list);
	free(cfg->report.timezone);
	for (size_t i = 0; i < cfg->report.n_shifts; i++)
		free(cfg->report.shifts[i].name);
	for (size_t i = 0; i < cfg->n_contracts; i++) {
		struct oeed_contract *c = &cfg->contracts[i];
		free(c->name);
		for (size_t j = 0; j < c->n_machines; j++)
			free(c->machines[j]);
		free(c->machines);
		for (size_t j = 0; j < c->n_planned_reasons; j++)
			free(c->planned_reasons[j]);
	}
	free(cfg->contracts);
	for (size_t i = 0; i < cfg->n_outputs; i++) {
		struct oeed_output_conf *o = &cfg->outputs[i];
		free(o->name);
		free(o->url);
		free(o->database);
		free(o->retention_policy);
		free(o->username);
		free(o->password_file);
		free(o->org);
		free(o->bucket);
		free(o->token_file);
		free(o->precision);
		free(o->ca_file);
		free(o->path);
	}
	free(cfg->outputs);
	free(cfg);
}

const struct oeed_machine_conf *config_machine(const struct oeed_config *cfg, const char *id)
{
	for (size_t i = 0; i < cfg->machines.n_list; i++)
		if (strcmp(cfg->machines.list[i].id, id) == 0)
			return &cfg->machines.list[i];
	return NULL;
}

/* ---- printing ---- */

/* Plain when YAML reads it back as the same string; double-quoted otherwise. A ':' stays plain
 * only in block context and after a leading letter (URLs), so "06:00" is never read as a
 * YAML 1.1 sexagesimal number by other tools. */
static bool plain_ok(const char *s, bool flow)
{
	static const char *const words[] = {"null", "true", "false", "yes", "no",
					    "on",   "off",  "y",     "n"};
	if (!*s || *s == '-' || *s == ':')
		return false;
	for (const char *p = s; *p; p++) {
		bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || strchr("_./-$+", *p) ||
			  (*p == ':' && !flow && p[1] && p[1] != ' ' && !(*s >= '0' && *s <= '9'));
		if (!ok)
			return false;
	}
	for (size_t i = 0; i < OEED_ARRAY_SIZE(words); i++)
		if (strcasecmp(s, words[i]) == 0)
			return false;
	return true;
}

static void put_str(FILE *out, const char *s, bool flow)
{
	if (plain_ok(s, flow)) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			fprintf(out, "\\%c", *p);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(out, "\\x%02x", *p);
		} else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			/* YAML reads U+0080..U+009F as control characters (U+0085 as a line
			 * break), U+2028/U+2029 as line breaks and U+FEFF as a BOM: escaped, they
			 * read back as they were. */
			fprintf(out, "\\x%02x", p[1]);
			p++;
		} else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
			fputs(p[2] == 0xa8 ? "\\u2028" : "\\u2029", out);
			p += 2;
		} else if (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
			fputs("\\ufeff", out);
			p += 2;
		} else {
			fputc(*p, out);
		}
	}
	fputc('"', out);
}

static void kv_raw(FILE *out, const char *pre, const char *key, const char *text)
{
	fprintf(out, "%s%s: %s\n", pre, key, text);
}

static void kv_str(FILE *out, const char *pre, const char *key, const char *s)
{
	if (!s)
		return; /* unset optional strings are left out */
	fprintf(out, "%s%s: ", pre, key);
	put_str(out, s, false);
	fputc('\n', out);
}

static void kv_bool(FILE *out, const char *pre, const char *key, bool v)
{
	kv_raw(out, pre, key, v ? "true" : "false");
}

static void kv_int(FILE *out, const char *pre, const char *key, long long v)
{
	fprintf(out, "%s%s: %lld\n", pre, key, v);
}

static void kv_dur(FILE *out, const char *pre, const char *key, oeed_ms v)
{
	char buf[32];
	format_duration(v, buf, sizeof(buf));
	kv_raw(out, pre, key, buf);
}

static void kv_size(FILE *out, const char *pre, const char *key, uint64_t v)
{
	char buf[32];
	format_size(v, buf, sizeof(buf));
	kv_raw(out, pre, key, buf);
}

/* The shortest text that reads back as the same double; whole numbers without exponent. */
static void kv_num(FILE *out, const char *pre, const char *key, double v)
{
	char buf[40];
	if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(buf, sizeof(buf), "%.0f", v);
	} else {
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(buf, sizeof(buf), "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
	}
	kv_raw(out, pre, key, buf);
}

static void put_str_list(FILE *out, const char *pre, const char *key, char *const *items, size_t n)
{
	fprintf(out, "%s%s: [", pre, key);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputs(", ", out);
		put_str(out, items[i], true);
	}
	fputs("]\n", out);
}

static void print_machine(FILE *out, const char *pre, const char *pre2,
			  const struct oeed_machine_conf *mc)
{
	if (mc->id) {
		kv_str(out, pre, "id", mc->id);
		pre = pre2;
	}
	kv_dur(out, pre, "ideal_cycle_time", mc->ideal_cycle_ms);
	kv_dur(out, pre2, "stale_after", mc->stale_after_ms);
	kv_dur(out, pre2, "microstop_below", mc->microstop_below_ms);
	kv_dur(out, pre2, "max_lateness", mc->max_lateness_ms);
}

static void print_source(FILE *out, const struct oeed_source *s)
{
	const char *p = "    ";
	kv_str(out, "  - ", "topic", s->topic);
	kv_str(out, p, "decoder", s->decoder);
	if (s->signal != SIG_NONE)
		kv_raw(out, p, "signal", signal_name(s->signal));
	kv_raw(out, p, "counts", counts_names[s->counts]);
	kv_bool(out, p, "cycle_counts", s->cycle_counts);
	if (s->qos >= 0)
		kv_int(out, p, "qos", s->qos);
	if (s->max_lateness_ms >= 0)
		kv_dur(out, p, "max_lateness", s->max_lateness_ms);
	bool any_field = false;
	for (size_t i = 0; i < SIG__COUNT; i++)
		if (s->fields[i]) {
			if (!any_field)
				fprintf(out, "%sfields:\n", p);
			any_field = true;
			kv_str(out, "      ", signal_name((enum oeed_signal)i), s->fields[i]);
		}
	if (s->n_map)
		fprintf(out, "%smap:\n", p);
	for (size_t i = 0; i < s->n_map; i++) {
		const struct oeed_map_entry *e = &s->map[i];
		const char *cat = category_name(e->category);
		char *val = NULL;
		fputs("      ", out);
		put_str(out, e->raw, false);
		fputs(": ", out);
		if (e->reason[0] && asprintf(&val, "%s/%s", cat, e->reason) >= 0) {
			put_str(out, val, false);
			free(val);
		} else {
			fputs(cat, out);
		}
		fputc('\n', out);
	}
}

void config_print(const struct oeed_config *cfg, FILE *out)
{
	const char *p = "  ";

	fprintf(out, "# effective configuration of %s (defaults filled in)\n", cfg->path);
	kv_str(out, "", "site", cfg->site);
	kv_str(out, "", "instance", cfg->instance);
	kv_str(out, "", "state_dir", cfg->state_dir);
	kv_raw(out, "", "log_level", log_level_name((enum log_level)cfg->log_level));
	kv_dur(out, "", "max_clock_skew", cfg->max_clock_skew_ms);
	kv_dur(out, "", "checkpoint_interval", cfg->checkpoint_interval_ms);
	fprintf(out, "record:\n");
	kv_bool(out, p, "enabled", cfg->record.enabled);
	kv_size(out, p, "file_max", cfg->record.file_max);
	kv_size(out, p, "total_max", cfg->record.total_max);

	const struct oeed_mqtt_conf *mq = &cfg->mqtt;
	fprintf(out, "\nmqtt:\n");
	kv_str(out, p, "url", mq->url);
	kv_str(out, p, "client_id", mq->client_id);
	kv_str(out, p, "username", mq->username);
	kv_str(out, p, "password_file", mq->password_file);
	kv_int(out, p, "qos", mq->qos);
	kv_bool(out, p, "clean_session", mq->clean_session);
	kv_int(out, p, "protocol", mq->protocol);
	kv_dur(out, p, "session_expiry", mq->session_expiry_ms);
	kv_dur(out, p, "keepalive", mq->keepalive_ms);
	kv_dur(out, p, "reconnect_min", mq->reconnect_min_ms);
	kv_dur(out, p, "reconnect_max", mq->reconnect_max_ms);
	if (mq->has_tls) {
		fprintf(out, "  tls:\n");
		kv_str(out, "    ", "ca_file", mq->tls.ca_file);
		kv_str(out, "    ", "cert_file", mq->tls.cert_file);
		kv_str(out, "    ", "key_file", mq->tls.key_file);
		kv_bool(out, "    ", "verify", mq->tls.verify);
	}
	kv_str(out, p, "status_topic", mq->status_topic);
	kv_int(out, p, "queue_len", (long long)mq->queue_len);
	kv_size(out, p, "queue_bytes", mq->queue_bytes);
	kv_bool(out, p, "sparkplug_rebirth", mq->sparkplug_rebirth);

	fprintf(out, "\nsources:%s\n", cfg->n_sources ? "" : " []");
	for (size_t i = 0; i < cfg->n_sources; i++)
		print_source(out, &cfg->sources[i]);

	fprintf(out, "\nmachines:\n");
	kv_int(out, p, "max", (long long)cfg->machines.max);
	fprintf(out, "  defaults:\n");
	print_machine(out, "    ", "    ", &cfg->machines.defaults);
	fprintf(out, "  list:%s\n", cfg->machines.n_list ? "" : " []");
	for (size_t i = 0; i < cfg->machines.n_list; i++)
		print_machine(out, "    - ", "      ", &cfg->machines.list[i]);

	const struct oeed_report *rep = &cfg->report;
	fprintf(out, "\nreport:\n");
	kv_dur(out, p, "interval", rep->interval_ms);
	fprintf(out, "  windows: [");
	for (size_t i = 0; i < rep->n_windows; i++) {
		char buf[32];
		format_duration(rep->windows_ms[i], buf, sizeof(buf));
		fprintf(out, "%s%s", i ? ", " : "", buf);
	}
	fprintf(out, "]\n  periods: [");
	for (size_t i = 0, k = 0; i < PERIOD__COUNT; i++)
		if (rep->periods[i])
			fprintf(out, "%s%s", k++ ? ", " : "", period_names[i]);
	fprintf(out, "]\n");
	kv_str(out, p, "timezone", rep->timezone);
	kv_int(out, p, "window_buckets", rep->window_buckets);
	fprintf(out, "  shifts:%s\n", rep->n_shifts ? "" : " []");
	for (size_t i = 0; i < rep->n_shifts; i++) {
		char buf[32];
		snprintf(buf, sizeof(buf), "%02d:%02d", rep->shifts[i].start_min / 60,
			 rep->shifts[i].start_min % 60);
		kv_str(out, "    - ", "name", rep->shifts[i].name);
		kv_str(out, "      ", "start", buf);
	}

	fprintf(out, "\ncontracts:%s\n", cfg->n_contracts ? "" : " []");
	for (size_t i = 0; i < cfg->n_contracts; i++) {
		const struct oeed_contract *c = &cfg->contracts[i];
		const char *q = "    ";
		kv_str(out, "  - ", "name", c->name);
		put_str_list(out, q, "machines", c->machines, c->n_machines);
		kv_raw(out, q, "kpi", kpi_name(c->kpi));
		if (c->rolling)
			kv_dur(out, q, "period", c->rolling_ms);
		else
			kv_raw(out, q, "period", period_name(c->period));
		kv_num(out, q, "target", c->target);
		kv_num(out, q, "minimum", c->minimum);
		kv_raw(out, q, "direction", direction_names[c->higher_is_better]);
		kv_raw(out, q, "unknown", unknown_names[c->unknown]);
		if (c->n_planned_reasons)
			put_str_list(out, q, "planned_reasons", c->planned_reasons,
				     c->n_planned_reasons);
	}

	fprintf(out, "\noutputs:%s\n", cfg->n_outputs ? "" : " []");
	for (size_t i = 0; i < cfg->n_outputs; i++) {
		const struct oeed_output_conf *o = &cfg->outputs[i];
		const char *q = "    ";
		kv_raw(out, "  - ", "type", output_type_names[o->type]);
		kv_str(out, q, "name", o->name);
		if (o->type == OUTPUT_FILE) {
			kv_str(out, q, "path", o->path);
			kv_int(out, q, "batch_lines", (long long)o->batch_lines);
			kv_dur(out, q, "flush_interval", o->flush_interval_ms);
			continue;
		}
		kv_str(out, q, "url", o->url);
		kv_raw(out, q, "api", o->api == 2 ? "v2" : "v1");
		kv_str(out, q, "database", o->database);
		kv_str(out, q, "retention_policy", o->retention_policy);
		kv_str(out, q, "username", o->username);
		kv_str(out, q, "password_file", o->password_file);
		kv_str(out, q, "org", o->org);
		kv_str(out, q, "bucket", o->bucket);
		kv_str(out, q, "token_file", o->token_file);
		kv_str(out, q, "precision", o->precision);
		kv_int(out, q, "batch_lines", (long long)o->batch_lines);
		kv_dur(out, q, "flush_interval", o->flush_interval_ms);
		kv_size(out, q, "spool_max", o->spool_max);
		kv_bool(out, q, "gzip", o->gzip);
		kv_bool(out, q, "create_database", o->create_database);
		kv_dur(out, q, "timeout", o->timeout_ms);
		kv_dur(out, q, "connect_timeout", o->connect_timeout_ms);
		kv_str(out, q, "ca_file", o->ca_file);
		kv_bool(out, q, "verify", o->verify);
	}
}
