/* config.c - the config schema: one table of rows per section of oeed.yaml (key, type, field,
 * default, bounds, variants, reload scope, doc), the few checks that span keys, and loading
 * (the main file plus `include:`d conf.d files). schema.c does the reading, printing,
 * comparing and documenting by these rows. Also owns the name tables of the config enums
 * (categories, signals, periods, KPIs). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>
#include <unistd.h>

#include "log.h"
#include "plugin.h"
#include "schema.h"
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

/* ---- value checks shared by several keys ---- */

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

static bool zone_ok(const char *name)
{
	char path[512];
	struct stat st;
	if (name[0] == '/' || strstr(name, "..") ||
	    (size_t)snprintf(path, sizeof(path), ZONEINFO_DIR "%s", name) >= sizeof(path))
		return false;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Machine ids come from one topic level (or a Sparkplug device name): no '/', no wildcards. */
static bool machine_id_ok(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p == '/' || *p == '+' || *p == '#' || *p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

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

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static void put_str_list(FILE *out, const char *pre, const char *key, char *const *items, size_t n)
{
	fprintf(out, "%s%s: [", pre, key);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputs(", ", out);
		schema_put_str(out, items[i], true);
	}
	fputs("]\n", out);
}

/* A string or a list of strings into dst[max], *count. */
static int read_string_list(struct loader *ld, const yaml_node_t *n, char **dst, size_t max,
			    size_t *count, const char *what)
{
	int r;
	for (size_t i = 0; i < *count; i++) {
		free(dst[i]);
		dst[i] = NULL;
	}
	*count = 0;
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

/* ---- top level: include (conf.d), read by config_load before the schema ---- */

static int include_read(struct loader *ld, const struct schema_key *k, const yaml_node_t *n,
			void *field, void *obj)
{
	(void)k;
	(void)field;
	(void)obj;
	if (n->type != YAML_SCALAR_NODE)
		return fail_type(ld, n, "a file pattern like conf.d/*.yaml");
	return 0;
}

static bool include_print(FILE *out, const struct schema_key *k, const void *field, const void *obj,
			  const char *pre, const char *indent)
{
	(void)out, (void)k, (void)field, (void)obj, (void)pre, (void)indent;
	return false;
}

static bool always_equal(const void *a, const void *b)
{
	(void)a, (void)b;
	return true;
}

static const struct schema_custom include_custom = {include_read, include_print, always_equal,
						    NULL};

/* ---- record ---- */

static int record_scalar(struct loader *ld, const yaml_node_t *n, void *obj)
{
	struct oeed_record_conf *rec = obj;
	bool on;
	if (n->type != YAML_SCALAR_NODE)
		return fail_type(ld, n, "a boolean or a mapping");
	if (strcmp(sval(n), "true") && strcmp(sval(n), "false") && strcmp(sval(n), "True") &&
	    strcmp(sval(n), "False") && strcmp(sval(n), "TRUE") && strcmp(sval(n), "FALSE"))
		return fail_type(ld, n, "a boolean or a mapping");
	on = strcasecmp(sval(n), "true") == 0;
	rec->enabled = on;
	return 0;
}

static int record_check(struct loader *ld, const yaml_node_t *m, void *obj, const void *parent)
{
	struct oeed_record_conf *rec = obj;
	(void)parent;
	/* writing a record mapping means recording unless it says not */
	if (m && !find_key(ld, m, "enabled"))
		rec->enabled = true;
	if (rec->total_max < rec->file_max) {
		char a[32], b[32];
		format_size(rec->total_max, a, sizeof(a));
		format_size(rec->file_max, b, sizeof(b));
		return fail_key(ld, m, "total_max", "%s is below file_max %s", a, b);
	}
	return 0;
}

static const struct schema_key record_keys[] = {
    {.key = "enabled",
     .type = ST_BOOL,
     .off = offsetof(struct oeed_record_conf, enabled),
     .def = "false",
     .doc_def = NULL,
     .doc = "`true` when the mapping is given without it"},
    {.key = "file_max",
     .type = ST_SIZE,
     .off = offsetof(struct oeed_record_conf, file_max),
     .def = "64MiB",
     .min = 64 * KIB,
     .max = TIB,
     .doc = "start a new file at this size"},
    {.key = "total_max",
     .type = ST_SIZE,
     .off = offsetof(struct oeed_record_conf, total_max),
     .def = "1GiB",
     .min = 64 * KIB,
     .max = 64 * TIB,
     .doc = "delete the oldest files beyond this; at least `file_max`"},
};

static const struct schema_section record_section = {
    .name = "record",
    .keys = record_keys,
    .n_keys = OEED_ARRAY_SIZE(record_keys),
    .scalar = record_scalar,
    .check = record_check,
};

/* ---- status ---- */

#define ST(f) offsetof(struct oeed_status_conf, f)
static const struct schema_key status_keys[] = {
    {.key = "enabled",
     .type = ST_BOOL,
     .off = ST(enabled),
     .def = "true",
     .doc = "answer `oeed status` on a unix socket"},
    {.key = "socket",
     .type = ST_STR,
     .off = ST(socket),
     .doc_type = "absolute path",
     .doc_def = "`$RUNTIME_DIRECTORY/status.sock` (systemd's `RuntimeDirectory=oeed`: "
		"`/run/oeed/status.sock`), else `state_dir/status.sock`",
     .doc = "mode 0660: the daemon's user and group only; read-only"},
    {.key = "clients",
     .type = ST_COUNT,
     .off = ST(clients),
     .def = "4",
     .min = 1,
     .max = 64,
     .doc = "connections served at a time; more are refused (counted)"},
    {.key = "max_bytes",
     .type = ST_SIZE,
     .off = ST(max_bytes),
     .def = "16MiB",
     .min = 64 * KIB,
     .max = GIB,
     .doc = "the largest status document; a larger one is answered with an error"},
    {.key = "client_timeout",
     .type = ST_DUR,
     .off = ST(client_timeout_ms),
     .def = "5s",
     .min = 100,
     .max = 10 * MS_M,
     .doc = "a client that has not read its whole answer by then is dropped (counted)"},
};
#undef ST

static const struct schema_section status_section = {
    .name = "status",
    .keys = status_keys,
    .n_keys = OEED_ARRAY_SIZE(status_keys),
};

/* ---- mqtt ---- */

enum { MQTT_TCP = 1, MQTT_SSL = 2 };
static const char *const mqtt_variant_names[] = {"tcp://", "ssl://"};

static unsigned mqtt_variant(const void *obj)
{
	const struct oeed_mqtt_conf *mq = obj;
	return mq->url && strncmp(mq->url, "ssl://", 6) == 0 ? MQTT_SSL : MQTT_TCP;
}

static const char *mqtt_variant_label(const void *obj, unsigned key_variants)
{
	(void)obj;
	(void)key_variants;
	return "a tcp:// url (use ssl://)";
}

static int mqtt_check(struct loader *ld, const yaml_node_t *m, void *obj, const void *parent)
{
	static const char *const schemes[] = {"tcp://", "ssl://"};
	struct oeed_mqtt_conf *mq = obj;
	(void)parent;
	if (!url_ok(mq->url, schemes, OEED_ARRAY_SIZE(schemes)))
		return fail_key(ld, m, "url",
				"bad url '%.100s' (use tcp://HOST:PORT or ssl://HOST:PORT)",
				mq->url);
	mq->has_tls = mqtt_variant(mq) == MQTT_SSL;
	if (mq->reconnect_min_ms > mq->reconnect_max_ms) {
		char a[32], b[32];
		format_duration(mq->reconnect_min_ms, a, sizeof(a));
		format_duration(mq->reconnect_max_ms, b, sizeof(b));
		return fail_key(ld, m, "reconnect_min", "%s is above reconnect_max %s", a, b);
	}
	if (mq->status_topic && strpbrk(mq->status_topic, "+#"))
		return fail_key(ld, m, "status_topic",
				"a topic to publish to cannot hold '+' or '#'");
	if (mq->sparkplug_host_id &&
	    (!*mq->sparkplug_host_id || strpbrk(mq->sparkplug_host_id, "/+#") ||
	     strlen(mq->sparkplug_host_id) > 200))
		return fail_key(ld, m, "sparkplug_host_id",
				"a Sparkplug host id is one topic level: not empty, no '/', '+', "
				"'#', at most 200 bytes");
	/* Sparkplug 3.0 (message-flow-phid-sparkplug-clean-session-311/-50): a primary host
	 * connects with a clean session, so that no stale session outlives its STATE. */
	if (mq->sparkplug_host_id && mq->status_topic)
		return fail_key(
		    ld, m, "sparkplug_host_id",
		    "give status_topic or sparkplug_host_id, not both: a connection has "
		    "one last will, and a primary host's is its STATE death");
	if (mq->sparkplug_host_id && !mq->clean_session)
		return fail_key(ld, m, "sparkplug_host_id",
				"a Sparkplug primary host must connect with clean_session: true "
				"(Sparkplug 3.0; see docs/mqtt.md, \"Primary host\")");
	return 0;
}

static const struct schema_key tls_keys[] = {
    {.key = "ca_file",
     .type = ST_PATH,
     .off = offsetof(struct oeed_tls_conf, ca_file),
     .doc_def = "the system's CAs",
     .doc = "CA certificates (PEM) the broker's certificate is checked against"},
    {.key = "cert_file",
     .type = ST_PATH,
     .off = offsetof(struct oeed_tls_conf, cert_file),
     .doc = "client certificate (PEM)"},
    {.key = "key_file",
     .type = ST_PATH,
     .off = offsetof(struct oeed_tls_conf, key_file),
     .doc = "the client certificate's private key (PEM)"},
    {.key = "verify",
     .type = ST_BOOL,
     .off = offsetof(struct oeed_tls_conf, verify),
     .def = "true",
     .doc = "check the broker's certificate and host name"},
};

static const struct schema_section tls_section = {
    .name = "mqtt.tls",
    .keys = tls_keys,
    .n_keys = OEED_ARRAY_SIZE(tls_keys),
};

static const struct schema_choice protocol_choices[] = {
    {"4", 4}, {"3.1.1", 4}, {"5", 5}, {"5.0", 5}, {NULL, 0}};

#define MQ(f) offsetof(struct oeed_mqtt_conf, f)
static const struct schema_key mqtt_keys[] = {
    {.key = "url",
     .type = ST_STR,
     .off = MQ(url),
     .def = "tcp://127.0.0.1:1883",
     .flags = SF_DISCRIMINATOR,
     .doc_type = "`tcp://HOST[:PORT]` or `ssl://HOST[:PORT]`",
     .doc = "IPv6 hosts in brackets: `tcp://[::1]:1883`; port 1..65535"},
    {.key = "client_id",
     .type = ST_STR,
     .off = MQ(client_id),
     .doc_def = "`oeed-<host name>`",
     .doc = "stable across restarts, so the broker keeps the persistent session"},
    {.key = "username", .type = ST_STR, .off = MQ(username)},
    {.key = "password_file",
     .type = ST_SECRET,
     .off = MQ(password_file),
     .doc = "the password is the file's content (one line), never in the config; "
	    "`credential:NAME` reads `$CREDENTIALS_DIRECTORY/NAME` (operations.md, Secrets)"},
    {.key = "qos",
     .type = ST_INT,
     .off = MQ(qos),
     .def = "1",
     .min = 0,
     .max = 2,
     .scope = SCOPE_PIPELINE,
     .doc = "for sources that do not set their own"},
    {.key = "clean_session",
     .type = ST_BOOL,
     .off = MQ(clean_session),
     .def = "false",
     .doc = "`false`: the broker keeps QoS 1/2 messages while oeed is away"},
    {.key = "protocol",
     .type = ST_CHOICE,
     .off = MQ(protocol),
     .def = "4",
     .choices = protocol_choices,
     .doc = "MQTT 3.1.1 (`4`) or 5"},
    {.key = "session_expiry",
     .type = ST_DUR,
     .off = MQ(session_expiry_ms),
     .def = "7d",
     .min = 0,
     .max = 4294967295.0 * MS_S,
     .doc = "MQTT 5 only (32 bits of seconds)"},
    {.key = "keepalive",
     .type = ST_DUR,
     .off = MQ(keepalive_ms),
     .def = "30s",
     .min = 0,
     .max = 65535 * MS_S},
    {.key = "reconnect_min",
     .type = ST_DUR,
     .off = MQ(reconnect_min_ms),
     .def = "1s",
     .min = 10,
     .max = MS_H,
     .doc = "reconnect back-off starts here ..."},
    {.key = "reconnect_max",
     .type = ST_DUR,
     .off = MQ(reconnect_max_ms),
     .def = "30s",
     .min = 10,
     .max = MS_H,
     .doc = "... and doubles up to this (at least `reconnect_min`)"},
    {.key = "tls",
     .type = ST_MAP,
     .off = MQ(tls),
     .sub = &tls_section,
     .variants = MQTT_SSL,
     .doc = "only with an `ssl://` url"},
    {.key = "status_topic",
     .type = ST_STR,
     .off = MQ(status_topic),
     .doc_type = "topic (no `+`, `#`)",
     .doc = "retained `online`/`offline` (last will)"},
    {.key = "queue_len",
     .type = ST_COUNT,
     .off = MQ(queue_len),
     .def = "65536",
     .min = 1,
     .max = 16777216,
     .doc = "received messages waiting for the engine"},
    {.key = "queue_bytes",
     .type = ST_SIZE,
     .off = MQ(queue_bytes),
     .def = "1MiB",
     .min = 64 * KIB,
     .max = GIB,
     .doc = "topic and payload bytes waiting for the engine (the queue's real bound: a full "
	    "queue holds paho back); a larger single message is still taken when the queue is "
	    "empty"},
    {.key = "sparkplug_rebirth",
     .type = ST_BOOL,
     .off = MQ(sparkplug_rebirth),
     .def = "true",
     .scope = SCOPE_PIPELINE,
     .doc = "ask a Sparkplug node for a rebirth (NCMD `Node Control/Rebirth`) when its data "
	    "comes without a BIRTH oeed has seen, by an unknown alias, or after a sequence gap; "
	    "at most once per 10 s per node"},
    {.key = "sparkplug_host_id",
     .type = ST_STR,
     .off = MQ(sparkplug_host_id),
     .doc_type = "Sparkplug host id (no `/`, `+`, `#`)",
     .doc_def = "none (a passive listener)",
     .doc = "be a Sparkplug 3.0 primary host: retained `spBv1.0/STATE/<id>` birth and will; "
	    "needs `clean_session: true` (the specification's rule)"},
};
#undef MQ

static const struct schema_section mqtt_section = {
    .name = "mqtt",
    .keys = mqtt_keys,
    .n_keys = OEED_ARRAY_SIZE(mqtt_keys),
    .variant_names = mqtt_variant_names,
    .variant = mqtt_variant,
    .variant_label = mqtt_variant_label,
    .check = mqtt_check,
};

/* ---- sources ---- */

static int map_read(struct loader *ld, const struct schema_key *k, const yaml_node_t *m,
		    void *field, void *obj)
{
	struct oeed_source *src = obj;
	char cats[80];
	int r;
	(void)k;
	(void)field;
	if ((r = check_mapping(ld, m)) < 0)
		return r;
	size_t n = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
	src->map = calloc(n ? n : 1, sizeof(*src->map));
	if (!src->map)
		return oom(ld);
	join_names(category_names, CAT__COUNT, cats, sizeof(cats));
	for (size_t i = 0; i < n; i++) {
		yaml_node_pair_t *p = &m->data.mapping.pairs.start[i];
		yaml_node_t *key = node_at(ld, p->key), *v = node_at(ld, p->value);
		struct oeed_map_entry *e = &src->map[src->n_map];
		size_t old = path_key(ld, sval(key));

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
		e->raw = strdup(sval(key));
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

static bool map_print(FILE *out, const struct schema_key *k, const void *field, const void *obj,
		      const char *pre, const char *indent)
{
	const struct oeed_source *s = obj;
	(void)field;
	if (!s->n_map)
		return false;
	fprintf(out, "%s%s:\n", pre, k->key);
	for (size_t i = 0; i < s->n_map; i++) {
		const struct oeed_map_entry *e = &s->map[i];
		const char *cat = category_name(e->category);
		char *val = NULL;
		fprintf(out, "%s  ", indent);
		schema_put_str(out, e->raw, false);
		fputs(": ", out);
		if (e->reason[0] && asprintf(&val, "%s/%s", cat, e->reason) >= 0) {
			schema_put_str(out, val, false);
			free(val);
		} else {
			fputs(cat, out);
		}
		fputc('\n', out);
	}
	return true;
}

/* The map is compared as a whole from the source (field is &src->map). */
static bool map_equal(const void *fa, const void *fb)
{
	const struct oeed_source *a =
	    (const void *)((const char *)fa - offsetof(struct oeed_source, map));
	const struct oeed_source *b =
	    (const void *)((const char *)fb - offsetof(struct oeed_source, map));
	if (a->n_map != b->n_map || a->map_numbers != b->map_numbers)
		return false;
	for (size_t i = 0; i < a->n_map; i++)
		if (!str_eq(a->map[i].raw, b->map[i].raw) ||
		    a->map[i].category != b->map[i].category ||
		    !str_eq(a->map[i].reason, b->map[i].reason))
			return false;
	return true;
}

static void map_free(void *field)
{
	struct oeed_source *s = (void *)((char *)field - offsetof(struct oeed_source, map));
	for (size_t i = 0; i < s->n_map; i++) {
		free(s->map[i].raw);
		free(s->map[i].reason);
	}
	free(s->map);
	s->map = NULL;
	s->n_map = 0;
}

static const struct schema_custom map_custom = {map_read, map_print, map_equal, map_free};

static int fields_read(struct loader *ld, const struct schema_key *k, const yaml_node_t *m,
		       void *field, void *obj)
{
	static const char *const allowed = "state, total, good, reject, cycle, timestamp";
	struct oeed_source *src = obj;
	bool any_signal = false;
	int r;
	(void)k;
	(void)field;
	if ((r = check_mapping(ld, m)) < 0)
		return r;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *key = node_at(ld, p->key), *v = node_at(ld, p->value);
		enum oeed_signal sig;
		if (signal_parse(sval(key), &sig) < 0 || sig == SIG_DEATH)
			return fail(ld, key, "unknown signal '%.60s' (use %s)", sval(key), allowed);
		size_t old = path_key(ld, sval(key));
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

static bool fields_print(FILE *out, const struct schema_key *k, const void *field, const void *obj,
			 const char *pre, const char *indent)
{
	const struct oeed_source *s = obj;
	bool any = false;
	(void)field;
	for (size_t i = 0; i < SIG__COUNT; i++) {
		if (!s->fields[i])
			continue;
		if (!any)
			fprintf(out, "%s%s:\n", pre, k->key);
		any = true;
		fprintf(out, "%s  %s: ", indent, signal_name((enum oeed_signal)i));
		schema_put_str(out, s->fields[i], false);
		fputc('\n', out);
	}
	return any;
}

static bool fields_equal(const void *fa, const void *fb)
{
	char *const *a = fa, *const *b = fb;
	for (size_t s = 0; s < SIG__COUNT; s++)
		if (!str_eq(a[s], b[s]))
			return false;
	return true;
}

static void fields_free(void *field)
{
	char **f = field;
	for (size_t s = 0; s < SIG__COUNT; s++) {
		free(f[s]);
		f[s] = NULL;
	}
}

static const struct schema_custom fields_custom = {fields_read, fields_print, fields_equal,
						   fields_free};

static bool source_has(const struct oeed_source *src, enum oeed_signal sig)
{
	return src->signal == sig || src->fields[sig];
}

static void source_init(void *obj, const void *parent)
{
	struct oeed_source *src = obj;
	(void)parent;
	src->max_lateness_ms = -1;
}

static int source_check(struct loader *ld, const yaml_node_t *m, void *obj, const void *parent)
{
	const struct oeed_config *cfg = parent;
	struct oeed_source *src = obj;
	char msg[OEED_ERR_MAX];
	int r;

	src->line = (int)m->start_mark.line + 1;
	src->column = (int)m->start_mark.column + 1;
	struct topic_template t;
	memset(&t, 0, sizeof(t));
	msg[0] = '\0';
	/* In a share group the broker hands each message to one member only: oeed would lose
	 * the messages the others get, and a machine's events would be split between hosts. */
	if (strncmp(src->topic, "$share/", 7) == 0 || strncmp(src->topic, "$queue/", 7) == 0)
		return fail_key(ld, m, "topic",
				"shared subscriptions ('%.7s') are not supported: the broker gives "
				"each message to one member of the group, so oeed would see only "
				"part of a machine's events; subscribe to the plain topic",
				src->topic);
	if (topic_template_parse(src->topic, &t, msg, sizeof(msg)) < 0)
		return fail_key(ld, m, "topic", "bad topic template: %s", msg);
	topic_template_free(&t);
	const struct oeed_decoder *dec = plugin_find(src->decoder);
	if (!dec)
		return fail_key(ld, m, "decoder", "unknown decoder '%.60s'", src->decoder);
	if (src->signal != SIG_NONE && find_key(ld, m, "fields"))
		return fail(ld, m, "give either signal or fields, not both");
	if (src->signal == SIG_NONE && !find_key(ld, m, "fields"))
		return fail(ld, m, "missing key 'signal' or 'fields'");
	if (src->n_map && !source_has(src, SIG_STATE))
		return fail_key(ld, m, "map", "map needs the state signal");
	if (src->cycle_counts && !source_has(src, SIG_CYCLE))
		return fail_key(ld, m, "cycle_counts", "cycle_counts needs the cycle signal");
	/* resolved here, so every consumer reads one value */
	if (!find_key(ld, m, "qos"))
		src->qos = cfg->mqtt.qos;

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

static const struct schema_choice signal_choices[] = {{"state", SIG_STATE}, {"total", SIG_TOTAL},
						      {"good", SIG_GOOD},   {"reject", SIG_REJECT},
						      {"cycle", SIG_CYCLE}, {NULL, 0}};
static const struct schema_choice counts_choices[] = {
    {"cumulative", COUNTS_CUMULATIVE}, {"increments", COUNTS_INCREMENTS}, {NULL, 0}};

#define SRC(f) offsetof(struct oeed_source, f)
static const struct schema_key source_keys[] = {
    {.key = "topic",
     .type = ST_STR,
     .off = SRC(topic),
     .required = ~0u,
     .doc_type = "topic template",
     .doc = "`{machine}` names the machine, any other `{x}` becomes a tag; `+` and a final "
	    "`#` may be written too. Sparkplug topics (`spBv1.0/...`) need no `{machine}`"},
    {.key = "decoder",
     .type = ST_STR,
     .off = SRC(decoder),
     .required = ~0u,
     .doc_type = "decoder name",
     .doc = "built in: `text`, `json`, `sparkplug_b`"},
    {.key = "signal",
     .type = ST_CHOICE,
     .off = SRC(signal),
     .choices = signal_choices,
     .flags = SF_OMIT_UNSET,
     .unset = SIG_NONE,
     .doc_def = "none (give `signal` or `fields`)",
     .doc = "the one signal of a single-valued payload"},
    {.key = "fields",
     .type = ST_CUSTOM,
     .off = SRC(fields),
     .custom = &fields_custom,
     .doc_type = "mapping signal -> path",
     .doc = "for structured payloads: keys `state`, `total`, `good`, `reject`, `cycle`, "
	    "`timestamp`; values are decoder paths (`json`: `$.a.b[2]`, "
	    "`$.values[?(@.id==\"X\")].v` for "
	    "arrays of tag objects in any order; `sparkplug_b`: "
	    "metric names). At least one key other than `timestamp`"},
    {.key = "map",
     .type = ST_CUSTOM,
     .off = SRC(map),
     .custom = &map_custom,
     .doc_type = "mapping raw state -> `category` or `category/reason`",
     .doc_def = "empty",
     .doc = "needs the `state` signal; the key `default` catches every raw state not "
	    "named; numbers match by their text (`1.50` is not `1.5`)"},
    {.key = "counts",
     .type = ST_CHOICE,
     .off = SRC(counts),
     .def = "cumulative",
     .choices = counts_choices,
     .doc = "cumulative counters (the first value is a baseline, a decrease a reset) or "
	    "increments"},
    {.key = "cycle_counts",
     .type = ST_BOOL,
     .off = SRC(cycle_counts),
     .def = "false",
     .doc = "each cycle event is also one part of `total_count`; needs the `cycle` signal"},
    {.key = "qos", .type = ST_INT, .off = SRC(qos), .min = 0, .max = 2, .doc_def = "`mqtt.qos`"},
    {.key = "max_lateness",
     .type = ST_DUR,
     .off = SRC(max_lateness_ms),
     .min = 0,
     .max = 7 * MS_D,
     .flags = SF_OMIT_UNSET,
     .unset = -1,
     .doc_def = "the machine's `max_lateness`",
     .doc = "how late this source's events may come and still land at their own time "
	    "(Sparkplug store and forward may need hours); the machine's finals then wait as long"},
    {.key = "machine",
     .type = ST_STR,
     .off = SRC(machine),
     .doc_type = "template over `{group}`, `{node}`, `{device}`",
     .doc_def = "`{device}`",
     .doc = "`sparkplug_b` only: the machine id of a device (node messages drop `{device}` "
	    "and the separator before it); a device id two nodes report under one machine id is "
	    "refused, never merged. E.g. `\"{node}.{device}\"`"},
    {.key = "reorder_timeout",
     .type = ST_DUR,
     .off = SRC(reorder_timeout_ms),
     .def = "2s",
     .min = 0,
     .max = 60 * 1000,
     .doc = "`sparkplug_b` only: how long a missing `seq` may still arrive out of order before "
	    "oeed counts a `seq_gap` and asks the node for a rebirth"},
    {.key = "timestamp_zone",
     .type = ST_STR,
     .off = SRC(timestamp_zone),
     .doc_type = "IANA zone or `UTC`",
     .doc_def = "none (a time without an offset is an error of that field)",
     .doc = "`json` only: the zone of timestamps that carry no offset "
	    "(`2026-11-22T10:00:00`)"},
};
#undef SRC

static const struct schema_section source_section = {
    .name = "sources[]",
    .keys = source_keys,
    .n_keys = OEED_ARRAY_SIZE(source_keys),
    .init = source_init,
    .check = source_check,
};

/* ---- machines ---- */

enum { MACHINE_DEFAULTS = 1, MACHINE_LISTED = 2 };
static const char *const machine_variant_names[] = {"defaults", "list"};

static unsigned machine_defaults_variant(const void *obj)
{
	(void)obj;
	return MACHINE_DEFAULTS;
}

static unsigned machine_listed_variant(const void *obj)
{
	(void)obj;
	return MACHINE_LISTED;
}

static const char *machine_variant_label(const void *obj, unsigned key_variants)
{
	(void)obj;
	(void)key_variants;
	return "machines.defaults";
}

static void machine_listed_init(void *obj, const void *parent)
{
	const struct oeed_machines *ms = parent;
	struct oeed_machine_conf *mc = obj;
	*mc = ms->defaults; /* listed machines start from the defaults */
	mc->id = NULL;
}

static int machine_check(struct loader *ld, const yaml_node_t *m, void *obj, const void *parent)
{
	struct oeed_machine_conf *mc = obj;
	if (m) {
		mc->line = (int)m->start_mark.line + 1;
		mc->column = (int)m->start_mark.column + 1;
	}
	if (!mc->id)
		return 0;
	if (!machine_id_ok(mc->id))
		return fail_key(ld, m, "id", "bad machine id '%.60s' (no '/', '+', '#')", mc->id);
	const struct oeed_machines *ms = parent;
	for (size_t j = 0; j < ms->n_list && &ms->list[j] != mc; j++)
		if (strcmp(ms->list[j].id, mc->id) == 0)
			return fail_key(ld, m, "id", "duplicate machine id '%.60s'", mc->id);
	return 0;
}

#define MC(f) offsetof(struct oeed_machine_conf, f)
static const struct schema_key machine_keys[] = {
    {.key = "id",
     .type = ST_STR,
     .off = MC(id),
     .variants = MACHINE_LISTED,
     .required = MACHINE_LISTED,
     .doc = "one topic level or Sparkplug device id: no `/`, `+`, `#`"},
    {.key = "ideal_cycle_time",
     .type = ST_DUR,
     .off = MC(ideal_cycle_ms),
     .def = "0",
     .min = 0,
     .max = MS_D,
     .doc = "0: unknown; `performance` and `oee` are then not reported"},
    {.key = "stale_after",
     .type = ST_DUR,
     .off = MC(stale_after_ms),
     .def = "60s",
     .min = 0,
     .max = 31 * MS_D,
     .doc = "silent longer than this: `unknown`; 0 disables the timeout"},
    {.key = "microstop_below",
     .type = ST_DUR,
     .off = MC(microstop_below_ms),
     .def = "0",
     .min = 0,
     .max = MS_D,
     .doc = "stops shorter than this count as running (0: off)"},
    {.key = "max_lateness",
     .type = ST_DUR,
     .off = MC(max_lateness_ms),
     .def = "10m",
     .min = 0,
     .max = 7 * MS_D,
     .doc = "events up to this far behind the machine's clock land at their own time; later "
	    "ones are counted late; period finals wait this long. Memory: 24 bytes per 30 s of "
	    "the largest value (16..4096 events) plus 384 bytes a machine: 3.2 KiB for 1h"},
};
#undef MC

static const struct schema_section machine_defaults_section = {
    .name = "machines.defaults",
    .keys = machine_keys,
    .n_keys = OEED_ARRAY_SIZE(machine_keys),
    .variant_names = machine_variant_names,
    .variant = machine_defaults_variant,
    .variant_label = machine_variant_label,
    .check = machine_check,
};

static const struct schema_section machine_listed_section = {
    .name = "machines.list[]",
    .keys = machine_keys,
    .n_keys = OEED_ARRAY_SIZE(machine_keys),
    .variant_names = machine_variant_names,
    .variant = machine_listed_variant,
    .variant_label = machine_variant_label,
    .init = machine_listed_init,
    .skip_defaults = true,
    .check = machine_check,
};

static int machines_check(struct loader *ld, const yaml_node_t *m, void *obj, const void *parent)
{
	struct oeed_machines *ms = obj;
	(void)parent;
	if (ms->n_list > MACHINES_MAX)
		return fail_key(ld, m, "list", "more than %d machines", MACHINES_MAX);
	if (!find_key(ld, m, "max")) {
		ms->max = OEED_MIN(ms->n_list + 100, (size_t)MACHINES_MAX);
	} else if (ms->max < ms->n_list) {
		return fail_key(ld, m, "max", "%zu is below the %zu listed machines", ms->max,
				ms->n_list);
	}
	return 0;
}

#define MS(f) offsetof(struct oeed_machines, f)
static const struct schema_key machines_keys[] = {
    {.key = "defaults",
     .type = ST_MAP,
     .off = MS(defaults),
     .sub = &machine_defaults_section,
     .doc = "applies to every machine, listed or found by topic"},
    {.key = "max",
     .type = ST_COUNT,
     .off = MS(max),
     .min = 1,
     .max = MACHINES_MAX,
     .doc_def = "number listed + 100",
     .doc = "machines the engine is sized for (memory is reserved at start), at least the "
	    "number listed. Machines that match a source but are not listed are added with "
	    "the defaults up to `max`; beyond it their messages are counted as dropped"},
    {.key = "list",
     .type = ST_LIST,
     .off = MS(list),
     .count_off = MS(n_list),
     .elem_size = sizeof(struct oeed_machine_conf),
     .sub = &machine_listed_section,
     .flags = SF_APPEND,
     .doc_def = "empty",
     .doc = "machines with their own settings; each starts from `defaults`"},
};
#undef MS

static const struct schema_section machines_section = {
    .name = "machines",
    .keys = machines_keys,
    .n_keys = OEED_ARRAY_SIZE(machines_keys),
    .check = machines_check,
};

/* ---- report ---- */

/* "HH:MM" -> minutes after midnight */
static int parse_hhmm(const char *s, int *ret_min)
{
	if (strlen(s) != 5 || s[2] != ':' || !isdigit((unsigned char)s[0]) ||
	    !isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[3]) ||
	    !isdigit((unsigned char)s[4]))
		return -EINVAL;
	int h = (s[0] - '0') * 10 + (s[1] - '0');
	int m = (s[3] - '0') * 10 + (s[4] - '0');
	if (h > 23 || m > 59)
		return -EINVAL;
	*ret_min = h * 60 + m;
	return 0;
}

static int hhmm_read(struct loader *ld, const struct schema_key *k, const yaml_node_t *n,
		     void *field, void *obj)
{
	(void)k;
	(void)obj;
	if (n->type != YAML_SCALAR_NODE || parse_hhmm(sval(n), field) < 0)
		return fail(ld, n, "bad time '%.20s' (use HH:MM, 00:00 to 23:59)",
			    n->type == YAML_SCALAR_NODE ? sval(n) : "");
	return 0;
}

static bool hhmm_print(FILE *out, const struct schema_key *k, const void *field, const void *obj,
		       const char *pre, const char *indent)
{
	int v = *(const int *)field;
	(void)obj;
	(void)indent;
	fprintf(out, "%s%s: \"%02d:%02d\"\n", pre, k->key, v / 60, v % 60);
	return true;
}

static bool int_equal(const void *a, const void *b)
{
	return *(const int *)a == *(const int *)b;
}

static const struct schema_custom hhmm_custom = {hhmm_read, hhmm_print, int_equal, NULL};

static const struct schema_key shift_keys[] = {
    {.key = "name",
     .type = ST_STR,
     .off = offsetof(struct oeed_shift, name),
     .required = ~0u,
     .doc = "the `shift` tag of shift records"},
    {.key = "start",
     .type = ST_CUSTOM,
     .off = offsetof(struct oeed_shift, start_min),
     .required = ~0u,
     .custom = &hhmm_custom,
     .doc_type = "`HH:MM` (local time)",
     .doc = "the shift runs until the next one starts"},
};

static int shift_check(struct loader *ld, const yaml_node_t *m, void *obj, const void *parent)
{
	const struct oeed_report *rep = parent;
	const struct oeed_shift *sh = obj;
	for (size_t j = 0; j < rep->n_shifts && &rep->shifts[j] != sh; j++) {
		if (rep->shifts[j].start_min == sh->start_min)
			return fail_key(ld, m, "start", "two shifts start at %02d:%02d",
					sh->start_min / 60, sh->start_min % 60);
		if (strcmp(rep->shifts[j].name, sh->name) == 0)
			return fail_key(ld, m, "name", "duplicate shift name '%.60s'", sh->name);
	}
	return 0;
}

static int shift_list_check(struct loader *ld, void *items, size_t n, const void *parent)
{
	struct oeed_shift *sh = items;
	(void)ld;
	(void)parent;
	/* sorted by start: the calendar walks them in order */
	for (size_t i = 1; i < n; i++) {
		struct oeed_shift key = sh[i];
		size_t j = i;
		for (; j > 0 && sh[j - 1].start_min > key.start_min; j--)
			sh[j] = sh[j - 1];
		sh[j] = key;
	}
	return 0;
}

static const struct schema_section shift_section = {
    .name = "report.shifts[]",
    .keys = shift_keys,
    .n_keys = OEED_ARRAY_SIZE(shift_keys),
    .check = shift_check,
    .check_list = shift_list_check,
};

static int windows_read(struct loader *ld, const struct schema_key *k, const yaml_node_t *n,
			void *field, void *obj)
{
	struct oeed_report *rep = obj;
	int r;
	(void)k;
	(void)field;
	rep->n_windows = 0;
	if ((r = expect_list(ld, n)) < 0)
		return r;
	if (list_len(n) > OEED_MAX_WINDOWS)
		return fail(ld, n, "more than %d windows", OEED_MAX_WINDOWS);
	for (size_t i = 0; i < list_len(n); i++) {
		yaml_node_t *item = list_item(ld, n, i);
		size_t old = path_index(ld, i);
		r = get_dur(ld, item, 1, 31 * MS_D, &rep->windows_ms[i]);
		for (size_t j = 0; r == 0 && j < i; j++)
			if (rep->windows_ms[j] == rep->windows_ms[i])
				r = fail(ld, item, "duplicate window '%.30s'", sval(item));
		path_pop(ld, old);
		if (r < 0)
			return r;
		rep->n_windows++;
	}
	return 0;
}

static bool windows_print(FILE *out, const struct schema_key *k, const void *field, const void *obj,
			  const char *pre, const char *indent)
{
	const struct oeed_report *rep = obj;
	(void)field;
	(void)indent;
	fprintf(out, "%s%s: [", pre, k->key);
	for (size_t i = 0; i < rep->n_windows; i++) {
		char buf[32];
		format_duration(rep->windows_ms[i], buf, sizeof(buf));
		fprintf(out, "%s%s", i ? ", " : "", buf);
	}
	fputs("]\n", out);
	return true;
}

static bool windows_equal(const void *fa, const void *fb)
{
	const struct oeed_report *a =
	    (const void *)((const char *)fa - offsetof(struct oeed_report, windows_ms));
	const struct oeed_report *b =
	    (const void *)((const char *)fb - offsetof(struct oeed_report, windows_ms));
	if (a->n_windows != b->n_windows)
		return false;
	for (size_t i = 0; i < a->n_windows; i++)
		if (a->windows_ms[i] != b->windows_ms[i])
			return false;
	return true;
}

static const struct schema_custom windows_custom = {windows_read, windows_print, windows_equal,
						    NULL};

static int periods_read(struct loader *ld, const struct schema_key *k, const yaml_node_t *n,
			void *field, void *obj)
{
	struct oeed_report *rep = obj;
	int r;
	(void)k;
	(void)field;
	memset(rep->periods, 0, sizeof(rep->periods));
	if ((r = expect_list(ld, n)) < 0)
		return r;
	for (size_t i = 0; i < list_len(n); i++) {
		yaml_node_t *item = list_item(ld, n, i);
		int p = 0;
		size_t old = path_index(ld, i);
		r = get_choice_name(ld, item, period_names, PERIOD__COUNT, &p);
		if (r == 0 && rep->periods[p])
			r = fail(ld, item, "duplicate period '%s'", period_names[p]);
		if (r == 0 && p == PERIOD_SHIFT && rep->n_shifts == 0)
			r = fail(ld, item, "shift needs report.shifts");
		path_pop(ld, old);
		if (r < 0)
			return r;
		rep->periods[p] = true;
	}
	return 0;
}

static bool periods_print(FILE *out, const struct schema_key *k, const void *field, const void *obj,
			  const char *pre, const char *indent)
{
	const bool *periods = field;
	(void)obj;
	(void)indent;
	fprintf(out, "%s%s: [", pre, k->key);
	for (size_t i = 0, n = 0; i < PERIOD__COUNT; i++)
		if (periods[i])
			fprintf(out, "%s%s", n++ ? ", " : "", period_names[i]);
	fputs("]\n", out);
	return true;
}

static bool periods_equal(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(bool) * PERIOD__COUNT) == 0;
}

static const struct schema_custom periods_custom = {periods_read, periods_print, periods_equal,
						    NULL};

static int report_check(struct loader *ld, const yaml_node_t *m, void *obj, const void *parent)
{
	struct oeed_report *rep = obj;
	(void)parent;
	if (!zone_ok(rep->timezone))
		return fail_key(ld, m, "timezone", "unknown time zone '%.60s'", rep->timezone);
	if (!find_key(ld, m, "periods")) {
		rep->periods[PERIOD_SHIFT] = rep->n_shifts > 0;
		rep->periods[PERIOD_DAY] = true;
		rep->periods[PERIOD_MONTH] = true;
	}
	return 0;
}

#define REP(f) offsetof(struct oeed_report, f)
static const struct schema_key report_keys[] = {
    {.key = "interval",
     .type = ST_DUR,
     .off = REP(interval_ms),
     .def = "10s",
     .min = 10,
     .max = MS_D,
     .doc = "how often `machine_kpi`, `contract` and `oeed` points are written"},
    /* shifts before windows and periods: `periods: [shift]` needs them */
    {.key = "shifts",
     .type = ST_LIST,
     .off = REP(shifts),
     .count_off = REP(n_shifts),
     .elem_size = sizeof(struct oeed_shift),
     .max_items = OEED_MAX_SHIFTS,
     .sub = &shift_section,
     .doc_def = "none",
     .doc = "at most 8; needed by the `shift` period"},
    {.key = "windows",
     .type = ST_CUSTOM,
     .off = REP(windows_ms),
     .def = "[15m, 1h, 24h]",
     .custom = &windows_custom,
     .doc_type = "list of durations, 1ms..31d, at most 8",
     .doc = "rolling windows, no duplicates; `[]` for none"},
    {.key = "periods",
     .type = ST_CUSTOM,
     .off = REP(periods),
     .custom = &periods_custom,
     .doc_type = "list of `shift` \\| `day` \\| `week` \\| `month`",
     .doc_def = "`[shift, day, month]` (`shift` only when shifts are given)",
     .doc = "calendar periods, in `timezone`; `[]` for none"},
    {.key = "timezone",
     .type = ST_STR,
     .off = REP(timezone),
     .def = "UTC",
     .doc_type = "IANA time zone name",
     .doc = "must exist under `/usr/share/zoneinfo` (tzdata); periods and shifts follow its "
	    "daylight saving time"},
    {.key = "window_buckets",
     .type = ST_INT,
     .off = REP(window_buckets),
     .def = "60",
     .min = 1,
     .max = 3600,
     .doc = "buckets per rolling window: a window's edge is accurate to window/buckets"},
};
#undef REP

static const struct schema_section report_section = {
    .name = "report",
    .keys = report_keys,
    .n_keys = OEED_ARRAY_SIZE(report_keys),
    .check = report_check,
};

/* ---- contracts ---- */

static int contract_machines_read(struct loader *ld, const struct schema_key *k,
				  const yaml_node_t *n, void *field, void *obj)
{
	struct oeed_contract *c = obj;
	size_t count = n->type == YAML_SEQUENCE_NODE ? list_len(n) : 1;
	int r;
	(void)k;
	(void)field;
	for (size_t i = 0; i < c->n_machines; i++)
		free(c->machines[i]);
	free(c->machines);
	c->n_machines = 0;
	c->machines = calloc(count ? count : 1, sizeof(*c->machines));
	if (!c->machines)
		return oom(ld);
	r = read_string_list(ld, n, c->machines, count, &c->n_machines, "machines");
	if (r == 0 && c->n_machines == 0)
		r = fail(ld, n, "expected at least one machine id or pattern");
	return r;
}

static bool contract_machines_print(FILE *out, const struct schema_key *k, const void *field,
				    const void *obj, const char *pre, const char *indent)
{
	const struct oeed_contract *c = obj;
	(void)field;
	(void)indent;
	put_str_list(out, pre, k->key, c->machines, c->n_machines);
	return true;
}

static bool contract_machines_equal(const void *fa, const void *fb)
{
	const struct oeed_contract *a =
	    (const void *)((const char *)fa - offsetof(struct oeed_contract, machines));
	const struct oeed_contract *b =
	    (const void *)((const char *)fb - offsetof(struct oeed_contract, machines));
	if (a->n_machines != b->n_machines)
		return false;
	for (size_t i = 0; i < a->n_machines; i++)
		if (!str_eq(a->machines[i], b->machines[i]))
			return false;
	return true;
}

static void contract_machines_free(void *field)
{
	struct oeed_contract *c =
	    (void *)((char *)field - offsetof(struct oeed_contract, machines));
	for (size_t i = 0; c->machines && i < c->n_machines; i++)
		free(c->machines[i]);
	free(c->machines);
	c->machines = NULL;
	c->n_machines = 0;
}

static const struct schema_custom contract_machines_custom = {
    contract_machines_read, contract_machines_print, contract_machines_equal,
    contract_machines_free};

static int reasons_read(struct loader *ld, const struct schema_key *k, const yaml_node_t *n,
			void *field, void *obj)
{
	struct oeed_contract *c = obj;
	(void)k;
	(void)field;
	return read_string_list(ld, n, c->planned_reasons, OEED_MAX_CONTRACT_REASONS,
				&c->n_planned_reasons, "planned reasons");
}

static bool reasons_print(FILE *out, const struct schema_key *k, const void *field, const void *obj,
			  const char *pre, const char *indent)
{
	const struct oeed_contract *c = obj;
	(void)field;
	(void)indent;
	if (!c->n_planned_reasons)
		return false;
	put_str_list(out, pre, k->key, c->planned_reasons, c->n_planned_reasons);
	return true;
}

static bool reasons_equal(const void *fa, const void *fb)
{
	const struct oeed_contract *a =
	    (const void *)((const char *)fa - offsetof(struct oeed_contract, planned_reasons));
	const struct oeed_contract *b =
	    (const void *)((const char *)fb - offsetof(struct oeed_contract, planned_reasons));
	if (a->n_planned_reasons != b->n_planned_reasons)
		return false;
	for (size_t i = 0; i < a->n_planned_reasons; i++)
		if (!str_eq(a->planned_reasons[i], b->planned_reasons[i]))
			return false;
	return true;
}

static void reasons_free(void *field)
{
	char **r = field;
	for (size_t i = 0; i < OEED_MAX_CONTRACT_REASONS; i++) {
		free(r[i]);
		r[i] = NULL;
	}
}

static const struct schema_custom reasons_custom = {reasons_read, reasons_print, reasons_equal,
						    reasons_free};

static int period_read(struct loader *ld, const struct schema_key *k, const yaml_node_t *n,
		       void *field, void *obj)
{
	struct oeed_contract *c = obj;
	const struct oeed_report *rep = ld->cfg ? &ld->cfg->report : NULL;
	enum oeed_period p;
	(void)k;
	(void)field;
	if (n->type != YAML_SCALAR_NODE)
		return fail_type(ld, n, "a period");
	if (period_parse(sval(n), &p) == 0) {
		c->period = p;
		c->rolling = false;
		if (p == PERIOD_SHIFT && (!rep || rep->n_shifts == 0))
			return fail(ld, n, "shift needs report.shifts");
		return 0;
	}
	if (parse_duration_ms(sval(n), &c->rolling_ms) == 0) {
		c->rolling = true;
		return get_dur(ld, n, 1, 366 * MS_D, &c->rolling_ms);
	}
	return fail(ld, n,
		    "bad period '%.60s' (use shift, day, week, month or a duration like 30d)",
		    sval(n));
}

static bool period_print(FILE *out, const struct schema_key *k, const void *field, const void *obj,
			 const char *pre, const char *indent)
{
	const struct oeed_contract *c = obj;
	char buf[32];
	(void)field;
	(void)indent;
	if (c->rolling)
		format_duration(c->rolling_ms, buf, sizeof(buf));
	fprintf(out, "%s%s: %s\n", pre, k->key, c->rolling ? buf : period_name(c->period));
	return true;
}

static bool period_equal(const void *fa, const void *fb)
{
	const struct oeed_contract *a =
	    (const void *)((const char *)fa - offsetof(struct oeed_contract, period));
	const struct oeed_contract *b =
	    (const void *)((const char *)fb - offsetof(struct oeed_contract, period));
	return a->rolling == b->rolling && a->period == b->period && a->rolling_ms == b->rolling_ms;
}

static const struct schema_custom period_custom = {period_read, period_print, period_equal, NULL};

static int check_kpi_value(struct loader *ld, const yaml_node_t *m, const char *key,
			   enum oeed_kpi kpi, double v)
{
	if (kpi_is_unit_ratio(kpi) && (v < 0 || v > 1))
		return fail_key(ld, m, key, "%g is outside 0..1 for %s", v, kpi_name(kpi));
	if (v < 0)
		return fail_key(ld, m, key, "%g is negative", v);
	return 0;
}

static int contract_check(struct loader *ld, const yaml_node_t *m, void *obj, const void *parent)
{
	const struct oeed_config *cfg = parent;
	struct oeed_contract *c = obj;
	int r;
	for (size_t j = 0; j < cfg->n_contracts && &cfg->contracts[j] != c; j++)
		if (strcmp(cfg->contracts[j].name, c->name) == 0)
			return fail_key(ld, m, "name", "duplicate contract name '%.60s'", c->name);
	c->line = (int)m->start_mark.line + 1;
	c->column = (int)m->start_mark.column + 1;
	if (!find_key(ld, m, "direction"))
		c->higher_is_better = kpi_higher_is_better(c->kpi);
	if ((r = check_kpi_value(ld, m, "target", c->kpi, c->target)) < 0 ||
	    (r = check_kpi_value(ld, m, "minimum", c->kpi, c->minimum)) < 0)
		return r;
	if (c->higher_is_better && c->target < c->minimum)
		return fail_key(ld, m, "target", "target %g is below minimum %g (higher is better)",
				c->target, c->minimum);
	if (!c->higher_is_better && c->target > c->minimum)
		return fail_key(ld, m, "target", "target %g is above minimum %g (lower is better)",
				c->target, c->minimum);
	return 0;
}

static const struct schema_choice kpi_choices[] = {{"availability", KPI_AVAILABILITY},
						   {"uptime", KPI_UPTIME},
						   {"performance", KPI_PERFORMANCE},
						   {"quality", KPI_QUALITY},
						   {"oee", KPI_OEE},
						   {"down_run_ratio", KPI_DOWN_RUN_RATIO},
						   {"mtbf_s", KPI_MTBF},
						   {"mttr_s", KPI_MTTR},
						   {"rate_per_h", KPI_RATE_PER_H},
						   {"cycle_avg_s", KPI_CYCLE_AVG},
						   {"cycle_p50_s", KPI_CYCLE_P50},
						   {"cycle_p95_s", KPI_CYCLE_P95},
						   {NULL, 0}};
static const struct schema_choice direction_choices[] = {{"lower", 0}, {"higher", 1}, {NULL, 0}};
static const struct schema_choice unknown_choices[] = {
    {"exclude", UNKNOWN_EXCLUDE}, {"down", UNKNOWN_AS_DOWN}, {NULL, 0}};

#define CON(f) offsetof(struct oeed_contract, f)
static const struct schema_key contract_keys[] = {
    {.key = "name",
     .type = ST_STR,
     .off = CON(name),
     .required = ~0u,
     .doc = "the `contract` tag; unique"},
    {.key = "machines",
     .type = ST_CUSTOM,
     .off = CON(machines),
     .def = "[\"*\"]",
     .custom = &contract_machines_custom,
     .doc_type = "list of ids or patterns (`press-*`)",
     .doc = "the machines pooled in the contract (fnmatch patterns)"},
    {.key = "kpi",
     .type = ST_CHOICE,
     .off = CON(kpi),
     .required = ~0u,
     .choices = kpi_choices,
     .doc = "the figure the contract is judged on"},
    {.key = "period",
     .type = ST_CUSTOM,
     .off = CON(period),
     .required = ~0u,
     .custom = &period_custom,
     .doc_type = "`shift` \\| `day` \\| `week` \\| `month` or a duration",
     .doc = "a calendar period, or a rolling one (`30d`, up to 366d)"},
    {.key = "target",
     .type = ST_NUM,
     .off = CON(target),
     .required = ~0u,
     .doc = "0..1 for ratios; at or better than `minimum`"},
    {.key = "minimum",
     .type = ST_NUM,
     .off = CON(minimum),
     .required = ~0u,
     .doc = "below it the contract is breached"},
    {.key = "direction",
     .type = ST_CHOICE,
     .off = CON(higher_is_better),
     .choices = direction_choices,
     .doc_def = "from the kpi (`lower` for times and ratios of loss)",
     .doc = "whether a higher value is better"},
    {.key = "unknown",
     .type = ST_CHOICE,
     .off = CON(unknown),
     .def = "exclude",
     .choices = unknown_choices,
     .doc = "how time without evidence counts"},
    {.key = "planned_reasons",
     .type = ST_CUSTOM,
     .off = CON(planned_reasons),
     .custom = &reasons_custom,
     .doc_type = "list of reasons, at most 8",
     .doc_def = "none",
     .doc = "reasons whose time counts as planned (e.g. customer-caused stops)"},
};
#undef CON

static const struct schema_section contract_section = {
    .name = "contracts[]",
    .keys = contract_keys,
    .n_keys = OEED_ARRAY_SIZE(contract_keys),
    .check = contract_check,
};

/* ---- outputs ---- */

enum { OUT_V1 = 1, OUT_V2 = 2, OUT_FILE = 4, OUT_MQTT = 8, OUT_INFLUX = OUT_V1 | OUT_V2 };
static const char *const output_variant_names[] = {"influxdb api v1", "influxdb api v2", "file",
						   "mqtt"};

static unsigned output_variant(const void *obj)
{
	const struct oeed_output_conf *o = obj;
	if (o->type == OUTPUT_FILE)
		return OUT_FILE;
	if (o->type == OUTPUT_MQTT)
		return OUT_MQTT;
	return o->api == 2 ? OUT_V2 : OUT_V1;
}

static const char *output_variant_label(const void *obj, unsigned key_variants)
{
	const struct oeed_output_conf *o = obj;
	if (o->type == OUTPUT_FILE)
		return "type file";
	if (o->type == OUTPUT_MQTT)
		return "type mqtt";
	if (key_variants & OUT_INFLUX) /* a key of the other api */
		return o->api == 2 ? "api v2" : "api v1";
	return "type influxdb";
}

/* An mqtt output's topic: {machine} exactly once (one retained message per machine), no
 * other variable, no wildcard. */
static int mqtt_output_check(struct loader *ld, const yaml_node_t *m, struct oeed_output_conf *o)
{
	const char *t = o->topic, *v = strstr(t, "{machine}");
	if (!*t || t[0] == '/' || strstr(t, "//"))
		return fail_key(ld, m, "topic", "bad topic '%.100s' (empty level)", t);
	if (strpbrk(t, "+#"))
		return fail_key(ld, m, "topic",
				"topic '%.100s': no wildcards ('+', '#') in a topic "
				"to publish on",
				t);
	if (!v || strstr(v + 1, "{machine}"))
		return fail_key(ld, m, "topic",
				"topic '%.100s' needs {machine} exactly once (one "
				"message per machine)",
				t);
	for (const char *p = strchr(t, '{'); p; p = strchr(p + 1, '{'))
		if (p != v)
			return fail_key(ld, m, "topic",
					"topic '%.100s': {machine} is the only "
					"variable",
					t);
	if (strncmp(t, "spBv1.0/", 8) == 0 || strncmp(t, "$", 1) == 0)
		return fail_key(ld, m, "topic", "topic '%.100s' is reserved (Sparkplug, $SYS)", t);
	return 0;
}

static int output_check(struct loader *ld, const yaml_node_t *m, void *obj, const void *parent)
{
	static const char *const schemes[] = {"http://", "https://"};
	const struct oeed_config *cfg = parent;
	struct oeed_output_conf *o = obj;
	for (size_t j = 0; o->name && j < cfg->n_outputs && &cfg->outputs[j] != o; j++)
		if (cfg->outputs[j].name && strcmp(cfg->outputs[j].name, o->name) == 0)
			return fail_key(ld, m, "name", "duplicate output name '%s'", o->name);
	o->line = (int)m->start_mark.line + 1;
	o->column = (int)m->start_mark.column + 1;
	if (o->name && !output_name_ok(o->name))
		return fail_key(ld, m, "name",
				"bad output name '%.60s' (use letters, digits, '.', '_', '-')",
				o->name);
	if (o->type == OUTPUT_FILE)
		return 0;
	if (o->type == OUTPUT_MQTT)
		return mqtt_output_check(ld, m, o);
	if (!url_ok(o->url, schemes, OEED_ARRAY_SIZE(schemes)))
		return fail_key(ld, m, "url",
				"bad url '%.100s' (use http://HOST:PORT or https://HOST:PORT)",
				o->url);
	if (strcmp(o->precision, "ms") != 0)
		return fail_key(
		    ld, m, "precision",
		    "precision '%.20s' is not supported (points carry ms timestamps: use ms)",
		    o->precision);
	return 0;
}

__attribute__((format(printf, 4, 5))) static int fail_at(struct loader *ld, int line, int column,
							 const char *fmt, ...)
{
	yaml_node_t n = {.start_mark = {.line = (size_t)line - 1, .column = (size_t)column - 1}};
	va_list ap;
	va_start(ap, fmt);
	int r = vfail(ld, &n, fmt, ap);
	va_end(ap);
	return r;
}

static int output_list_check(struct loader *ld, void *items, size_t n, const void *parent)
{
	struct oeed_output_conf *outs = items;
	static const char *const type_names[] = {"influxdb", "file", "mqtt"};
	unsigned per_type[3] = {0, 0, 0};
	(void)parent;
	/* default names count per type: influxdb-1, influxdb-2, file-1 */
	for (size_t i = 0; i < n; i++) {
		struct oeed_output_conf *o = &outs[i];
		char name[32];
		per_type[o->type]++;
		if (o->name)
			continue;
		snprintf(name, sizeof(name), "%s-%u", type_names[o->type], per_type[o->type]);
		if (!(o->name = strdup(name)))
			return oom(ld);
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(outs[i].name, outs[j].name) == 0) {
				size_t old = path_index(ld, i);
				path_key(ld, "name");
				/* at the name when it was written, else at the output */
				const struct oeed_config_pos *pos = config_where(ld->cfg, ld->path);
				int r = fail_at(ld, pos ? pos->line : outs[i].line,
						pos ? pos->column : outs[i].column,
						"duplicate output name '%s'", outs[i].name);
				path_pop(ld, old);
				return r;
			}
	return 0;
}

static const struct schema_choice output_type_choices[] = {
    {"influxdb", OUTPUT_INFLUXDB}, {"file", OUTPUT_FILE}, {"mqtt", OUTPUT_MQTT}, {NULL, 0}};
static const struct schema_choice api_choices[] = {
    {"v1", 1}, {"1", 1}, {"v2", 2}, {"2", 2}, {NULL, 0}};

#define OUT(f) offsetof(struct oeed_output_conf, f)
static const struct schema_key output_keys[] = {
    {.key = "type",
     .type = ST_CHOICE,
     .off = OUT(type),
     .required = ~0u,
     .choices = output_type_choices,
     .flags = SF_DISCRIMINATOR,
     .doc = "the output plugin"},
    {.key = "name",
     .type = ST_STR,
     .off = OUT(name),
     .doc_def = "`influxdb-1`, `file-1`, ...",
     .doc = "unique; names the spool directory `state_dir/spool/NAME`: letters, digits, "
	    "`.`, `_`, `-`, at most 64, not starting with `.`"},
    {.key = "api",
     .type = ST_CHOICE,
     .off = OUT(api),
     .def = "v1",
     .choices = api_choices,
     .variants = OUT_INFLUX,
     .flags = SF_DISCRIMINATOR,
     .doc = "v1: `/write?db=` (InfluxDB 1.x, VictoriaMetrics); v2: `/api/v2/write`"},
    {.key = "url",
     .type = ST_STR,
     .off = OUT(url),
     .variants = OUT_INFLUX,
     .required = OUT_INFLUX,
     .doc_type = "`http://HOST[:PORT]` or `https://HOST[:PORT]`",
     .doc = "the server's base URL"},
    {.key = "database",
     .flags = SF_SAY_VARIANT,
     .type = ST_STR,
     .off = OUT(database),
     .variants = OUT_V1,
     .required = OUT_V1},
    {.key = "retention_policy",
     .type = ST_STR,
     .off = OUT(retention_policy),
     .variants = OUT_V1,
     .doc_def = "the database's default"},
    {.key = "username",
     .type = ST_STR,
     .off = OUT(username),
     .variants = OUT_V1,
     .doc = "HTTP basic authentication"},
    {.key = "password_file",
     .type = ST_SECRET,
     .off = OUT(password_file),
     .variants = OUT_V1,
     .doc = "the password for `username`"},
    {.key = "org",
     .flags = SF_SAY_VARIANT,
     .type = ST_STR,
     .off = OUT(org),
     .variants = OUT_V2,
     .required = OUT_V2},
    {.key = "bucket",
     .flags = SF_SAY_VARIANT,
     .type = ST_STR,
     .off = OUT(bucket),
     .variants = OUT_V2,
     .required = OUT_V2},
    {.key = "token_file",
     .type = ST_SECRET,
     .off = OUT(token_file),
     .variants = OUT_V2,
     .doc = "the API token (`Authorization: Token ...`)"},
    {.key = "precision",
     .type = ST_STR,
     .off = OUT(precision),
     .def = "ms",
     .variants = OUT_INFLUX,
     .doc_type = "`ms`",
     .doc = "points carry ms timestamps"},
    {.key = "batch_lines",
     .type = ST_COUNT,
     .off = OUT(batch_lines),
     .def = "5000",
     .min = 1,
     .max = 1000000,
     .variants = OUT_INFLUX,
     .doc = "lines per request"},
    {.key = "flush_interval",
     .type = ST_DUR,
     .off = OUT(flush_interval_ms),
     .def = "1s",
     .min = 1,
     .max = MS_H,
     .variants = OUT_INFLUX,
     .doc = "a batch older than this is sent even when not full"},
    {.key = "spool_max",
     .type = ST_SIZE,
     .off = OUT(spool_max),
     .def = "256MiB",
     .min = 64 * KIB,
     .max = 64 * TIB,
     .variants = OUT_INFLUX,
     .doc = "disk for lines the server has not taken; beyond it the oldest are dropped "
	    "(counted)"},
    {.key = "gzip",
     .type = ST_BOOL,
     .off = OUT(gzip),
     .def = "true",
     .variants = OUT_INFLUX,
     .doc = "compress request bodies"},
    {.key = "create_database",
     .type = ST_BOOL,
     .off = OUT(create_database),
     .def = "false",
     .variants = OUT_V1,
     .doc = "`CREATE DATABASE` at start"},
    {.key = "timeout",
     .type = ST_DUR,
     .off = OUT(timeout_ms),
     .def = "10s",
     .min = 10,
     .max = 10 * MS_M,
     .variants = OUT_INFLUX,
     .doc = "a whole request"},
    {.key = "connect_timeout",
     .type = ST_DUR,
     .off = OUT(connect_timeout_ms),
     .def = "5s",
     .min = 10,
     .max = 10 * MS_M,
     .variants = OUT_INFLUX},
    {.key = "ca_file",
     .type = ST_PATH,
     .off = OUT(ca_file),
     .variants = OUT_INFLUX,
     .doc_def = "the system's CAs",
     .doc = "for `https://`"},
    {.key = "verify",
     .type = ST_BOOL,
     .off = OUT(verify),
     .def = "true",
     .variants = OUT_INFLUX,
     .doc = "check the server's certificate and host name"},
    {.key = "path",
     .type = ST_STR,
     .off = OUT(path),
     .variants = OUT_FILE,
     .required = OUT_FILE,
     .doc = "`-` is standard output; lines are appended"},
    {.key = "topic",
     .type = ST_STR,
     .off = OUT(topic),
     .variants = OUT_MQTT,
     .required = OUT_MQTT,
     .doc_type = "topic with `{machine}`",
     .doc = "where each machine's JSON goes (`oeed/{machine}`); never a topic oeed "
	    "subscribes to"},
    {.key = "retain",
     .type = ST_BOOL,
     .off = OUT(retain),
     .def = "true",
     .variants = OUT_MQTT,
     .doc = "retained messages: a new subscriber gets every machine at once"},
    {.key = "qos",
     .type = ST_INT,
     .off = OUT(qos),
     .def = "1",
     .min = 0,
     .max = 2,
     .variants = OUT_MQTT},
    {.key = "queue_len",
     .type = ST_COUNT,
     .off = OUT(queue_len),
     .def = "4096",
     .min = 1,
     .max = 1000000,
     .variants = OUT_MQTT,
     .doc = "machines whose message may wait for the broker; per machine only the newest "
	    "waits (an older one is dropped, counted)"},
    {.key = "max_inflight",
     .type = ST_COUNT,
     .off = OUT(max_inflight),
     .def = "64",
     .min = 1,
     .max = 65535,
     .variants = OUT_MQTT,
     .doc = "messages handed to the broker and not yet acknowledged; the rest wait in the "
	    "queue"},
};
#undef OUT

static const struct schema_section output_section = {
    .name = "outputs[]",
    .keys = output_keys,
    .n_keys = OEED_ARRAY_SIZE(output_keys),
    .variant_names = output_variant_names,
    .variant = output_variant,
    .variant_label = output_variant_label,
    .check = output_check,
    .check_list = output_list_check,
};

/* ---- top level ---- */

/* Levels of a topic or filter, split at '/' (in place). */
static size_t split_levels(char *t, char **lv, size_t max)
{
	size_t n = 0;
	for (char *save = NULL, *p = strtok_r(t, "/", &save); p && n < max;
	     p = strtok_r(NULL, "/", &save))
		lv[n++] = p;
	return n;
}

/* Could a topic the output publishes (levels with {machine} stand for one or more levels: a
 * Sparkplug machine id holds a '/') match the filter? */
static bool levels_overlap(char **o, size_t no, char **f, size_t nf)
{
	if (nf && strcmp(f[0], "#") == 0)
		return true;
	if (!no || !nf)
		return !no && !nf;
	if (strchr(o[0], '{'))
		return levels_overlap(o + 1, no - 1, f + 1, nf - 1) ||
		       levels_overlap(o, no, f + 1, nf - 1);
	if (strcmp(f[0], "+") != 0 && strcmp(f[0], o[0]) != 0)
		return false;
	return levels_overlap(o + 1, no - 1, f + 1, nf - 1);
}

static bool topic_overlaps(const char *out_topic, const char *filter)
{
	char a[512], b[512];
	char *lo[TOPIC_MAX_LEVELS * 4], *lf[TOPIC_MAX_LEVELS * 4];
	snprintf(a, sizeof(a), "%s", out_topic);
	snprintf(b, sizeof(b), "%s", filter);
	size_t no = split_levels(a, lo, OEED_ARRAY_SIZE(lo));
	size_t nf = split_levels(b, lf, OEED_ARRAY_SIZE(lf));
	return levels_overlap(lo, no, lf, nf);
}

/* An mqtt output never publishes where oeed listens: its messages would come back as
 * input. Checked against every source's subscription and the status topic. */
static int check_mqtt_outputs(struct loader *ld, const struct oeed_config *cfg)
{
	for (size_t i = 0; i < cfg->n_outputs; i++) {
		const struct oeed_output_conf *o = &cfg->outputs[i];
		if (o->type != OUTPUT_MQTT)
			continue;
		char key[64];
		snprintf(key, sizeof(key), "outputs[%zu].topic", i);
		const struct oeed_config_pos *pos = config_where(cfg, key);
		int line = pos ? pos->line : o->line, col = pos ? pos->column : o->column;
		const char *file = pos ? pos->file : NULL;
		for (size_t j = 0; j < cfg->n_sources; j++) {
			struct topic_template t;
			char msg[OEED_ERR_MAX];
			memset(&t, 0, sizeof(t));
			if (topic_template_parse(cfg->sources[j].topic, &t, msg, sizeof(msg)) < 0)
				continue; /* reported by the source's own check */
			bool clash = topic_overlaps(o->topic, t.subscription);
			topic_template_free(&t);
			if (clash) {
				if (file)
					ld->name = file;
				return fail_at(ld, line, col,
					       "%s: output %s publishes on '%.100s', which oeed "
					       "subscribes to (sources[%zu] topic '%.100s'): its "
					       "messages would come back as input",
					       key, o->name, o->topic, j, cfg->sources[j].topic);
			}
		}
		if (cfg->mqtt.status_topic && topic_overlaps(o->topic, cfg->mqtt.status_topic)) {
			if (file)
				ld->name = file;
			return fail_at(ld, line, col,
				       "%s: output %s may publish on mqtt.status_topic '%.100s'",
				       key, o->name, cfg->mqtt.status_topic);
		}
	}
	return 0;
}

static int top_check(struct loader *ld, const yaml_node_t *m, void *obj, const void *parent)
{
	struct oeed_config *cfg = obj;
	(void)parent;
	if (cfg->state_dir[0] != '/')
		return fail_key(ld, m, "state_dir", "must be an absolute path");
	if (cfg->status.socket && cfg->status.socket[0] != '/') {
		const struct oeed_config_pos *pos = config_where(cfg, "status.socket");
		if (pos) {
			ld->name = pos->file;
			return fail_at(ld, pos->line, pos->column,
				       "status.socket: must be an absolute path");
		}
	}
	return check_mqtt_outputs(ld, cfg);
}

static const struct schema_choice log_level_choices[] = {{"error", LOG_LVL_ERROR},
							 {"warn", LOG_LVL_WARN},
							 {"info", LOG_LVL_INFO},
							 {"debug", LOG_LVL_DEBUG},
							 {NULL, 0}};

#define TOP(f) offsetof(struct oeed_config, f)
static const struct schema_key top_keys[] = {
    {.key = "include",
     .type = ST_CUSTOM,
     .off = TOP(path),
     .custom = &include_custom,
     .flags = SF_NO_PRINT,
     .doc_type = "file pattern",
     .doc_def = "none",
     .doc = "more config files, relative to this one (`conf.d/*.yaml`), read in name order; "
	    "main file only"},
    {.key = "site",
     .type = ST_STR,
     .off = TOP(site),
     .scope = SCOPE_PIPELINE,
     .doc = "`site` tag on every point; no tag when absent"},
    {.key = "instance",
     .type = ST_STR,
     .off = TOP(instance),
     .scope = SCOPE_PIPELINE,
     .doc_def = "host name",
     .doc = "`instance` tag of the self-metrics, and of every point with `instance_tag`"},
    {.key = "instance_tag",
     .type = ST_BOOL,
     .off = TOP(instance_tag),
     .def = "false",
     .scope = SCOPE_PIPELINE,
     .doc = "tag every machine, KPI and contract point with `instance` (self-metrics always "
	    "are): on for several gateways into one store ([fleet.md](fleet.md)); off by "
	    "default so that an upgrade keeps every existing series"},
    {.key = "state_dir",
     .type = ST_STR,
     .off = TOP(state_dir),
     .def = "/var/lib/oeed",
     .scope = SCOPE_MQTT | SCOPE_OUTPUTS,
     .doc_type = "absolute path",
     .doc = "checkpoints, output spools (`state_dir/spool/NAME`), recordings"},
    {.key = "log_level",
     .type = ST_CHOICE,
     .off = TOP(log_level),
     .def = "info",
     .choices = log_level_choices},
    {.key = "max_clock_skew",
     .type = ST_DUR,
     .off = TOP(max_clock_skew_ms),
     .def = "5m",
     .min = 0,
     .max = 7 * MS_D,
     .scope = SCOPE_PIPELINE,
     .doc = "a payload timestamp further ahead of the wall clock is clamped to the receive "
	    "time and counted as `skewed`"},
    {.key = "checkpoint_interval",
     .type = ST_DUR,
     .off = TOP(checkpoint_interval_ms),
     .def = "1m",
     .min = MS_S,
     .max = MS_D,
     .doc = "how often machine state is saved so a restart loses nothing"},
    {.key = "record",
     .type = ST_MAP,
     .off = TOP(record),
     .sub = &record_section,
     .scope = SCOPE_MQTT,
     .doc_type = "boolean or mapping",
     .doc_def = "`false`",
     .doc = "keep every received message in `state_dir/recordings`"},
    {.key = "status",
     .type = ST_MAP,
     .off = TOP(status),
     .sub = &status_section,
     .doc = "the socket `oeed status` reads"},
    {.key = "mqtt", .type = ST_MAP, .off = TOP(mqtt), .sub = &mqtt_section, .scope = SCOPE_MQTT},
    {.key = "machines",
     .type = ST_MAP,
     .off = TOP(machines),
     .sub = &machines_section,
     .scope = SCOPE_PIPELINE,
     .flags = SF_APPEND},
    {.key = "sources",
     .type = ST_LIST,
     .off = TOP(sources),
     .count_off = TOP(n_sources),
     .elem_size = sizeof(struct oeed_source),
     .sub = &source_section,
     .scope = SCOPE_PIPELINE,
     .flags = SF_APPEND,
     .doc_def = "empty"},
    {.key = "report",
     .type = ST_MAP,
     .off = TOP(report),
     .sub = &report_section,
     .scope = SCOPE_PIPELINE},
    {.key = "contracts",
     .type = ST_LIST,
     .off = TOP(contracts),
     .count_off = TOP(n_contracts),
     .elem_size = sizeof(struct oeed_contract),
     .sub = &contract_section,
     .scope = SCOPE_PIPELINE,
     .flags = SF_APPEND,
     .doc_def = "empty"},
    {.key = "outputs",
     .type = ST_LIST,
     .off = TOP(outputs),
     .count_off = TOP(n_outputs),
     .elem_size = sizeof(struct oeed_output_conf),
     .sub = &output_section,
     .scope = SCOPE_OUTPUTS,
     .flags = SF_APPEND,
     .doc_def = "empty"},
};
#undef TOP

static const struct schema_section top_section = {
    .name = "",
    .keys = top_keys,
    .n_keys = OEED_ARRAY_SIZE(top_keys),
    .check = top_check,
};

/* ---- loading ---- */

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
	if (!cfg->status.socket) {
		/* systemd's RuntimeDirectory= (the first, when it names several) */
		const char *rt = getenv("RUNTIME_DIRECTORY");
		char path[4096];
		if (rt && rt[0] == '/')
			snprintf(path, sizeof(path), "%.*s/status.sock", (int)strcspn(rt, ":"), rt);
		else
			snprintf(path, sizeof(path), "%s/status.sock", cfg->state_dir);
		if (!(cfg->status.socket = strdup(path)))
			return oom(ld);
	}
	return 0;
}

/* One parsed file of a config: the main one or a conf.d file. */
struct config_doc {
	yaml_document_t doc;
	char *file;
	bool loaded;
};

#define CONFIG_FILES_MAX 64

/* Parses one YAML text into d (one document, a mapping at the top). */
static int parse_doc(struct loader *ld, const char *name, const char *yaml, size_t len,
		     struct config_doc *d)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	int r = 0;

	ld->name = name;
	ld->doc = NULL;
	if (!yaml_parser_initialize(&parser))
		return oom(ld);
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
	if (!yaml_parser_load(&parser, &d->doc)) {
		r = syntax_error(ld, &parser, yaml, len);
		goto out;
	}
	d->loaded = true;
	ld->doc = &d->doc;
	yaml_node_t *root = yaml_document_get_root_node(&d->doc);
	if (!root || is_null(root)) {
		snprintf(ld->err->msg, sizeof(ld->err->msg), "%s:1:1: empty file", name);
		r = -EINVAL;
		goto out;
	}
	if (root->type != YAML_MAPPING_NODE) {
		r = fail_type(ld, root, "a mapping at the top level");
		goto out;
	}
	/* A second document would be silently ignored: a config is one mapping. */
	if (!yaml_parser_load(&parser, &extra)) {
		r = syntax_error(ld, &parser, yaml, len);
		goto out;
	}
	yaml_node_t *extra_root = yaml_document_get_root_node(&extra);
	if (extra_root) {
		ld->doc = &extra;
		r = fail(ld, extra_root, "more than one document");
	}
	yaml_document_delete(&extra);
out:
	yaml_parser_delete(&parser);
	return r;
}

static int read_file(const char *path, char **ret_buf, size_t *ret_len, struct oeed_error *err)
{
	char ebuf[128];
	char *buf = NULL;
	size_t len = 0;
	int r = 0;
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
	*ret_buf = buf;
	*ret_len = len;
	buf = NULL;
	goto out;
fail_errno:
	snprintf(err->msg, sizeof(err->msg), "%s: cannot read: %s", path,
		 strerror_r(-r, ebuf, sizeof(ebuf)));
out:
	free(buf);
	if (f)
		fclose(f);
	return r;
}

static int glob_error(const char *epath, int eerrno)
{
	(void)epath;
	(void)eerrno;
	return 0; /* unreadable directories match nothing; the files found are read */
}

/* Reads the files `include:` names (relative to the main file) into docs[1..]. */
static int load_includes(struct loader *ld, const char *main_path, struct config_doc *docs,
			 size_t *n_docs)
{
	yaml_node_t *root = yaml_document_get_root_node(&docs[0].doc);
	yaml_node_t *inc;
	char pattern[PATH_MAX];
	glob_t g;
	int r = 0;

	ld->doc = &docs[0].doc;
	ld->name = docs[0].file;
	if (!(inc = find_key(ld, root, "include")))
		return 0;
	size_t old = path_key(ld, "include");
	if (inc->type != YAML_SCALAR_NODE) {
		r = fail_type(ld, inc, "a file pattern like conf.d/*.yaml");
		goto out;
	}
	record_pos(ld, inc);
	const char *slash = strrchr(main_path, '/');
	int dir_len = slash ? (int)(slash - main_path) : 1;
	const char *dir = slash ? main_path : ".";
	if (sval(inc)[0] == '/')
		snprintf(pattern, sizeof(pattern), "%s", sval(inc));
	else if ((size_t)snprintf(pattern, sizeof(pattern), "%.*s/%s", dir_len, dir, sval(inc)) >=
		 sizeof(pattern)) {
		r = fail(ld, inc, "path too long");
		goto out;
	}
	memset(&g, 0, sizeof(g));
	int gr = glob(pattern, 0, glob_error, &g); /* sorted by name */
	if (gr == GLOB_NOSPACE) {
		r = oom(ld);
		goto out_glob;
	}
	if (gr == GLOB_NOMATCH || gr != 0)
		goto out_glob; /* nothing to include is fine: an empty conf.d */
	for (size_t i = 0; i < g.gl_pathc; i++) {
		char *buf = NULL;
		size_t len = 0;
		struct stat st;
		if (stat(g.gl_pathv[i], &st) == 0 && !S_ISREG(st.st_mode))
			continue;
		if (*n_docs == CONFIG_FILES_MAX) {
			r = fail(ld, inc, "more than %d files", CONFIG_FILES_MAX - 1);
			goto out_glob;
		}
		struct config_doc *d = &docs[*n_docs];
		if (!(d->file = strdup(g.gl_pathv[i]))) {
			r = oom(ld);
			goto out_glob;
		}
		(*n_docs)++;
		if ((r = read_file(d->file, &buf, &len, ld->err)) < 0)
			goto out_glob;
		r = parse_doc(ld, d->file, buf, len, d);
		free(buf);
		if (r < 0)
			goto out_glob;
		yaml_node_t *sub = yaml_document_get_root_node(&d->doc);
		if (find_key(ld, sub, "include")) {
			path_pop(ld, old);
			r = fail_key(ld, sub, "include",
				     "only the main file may include others (%s does)", d->file);
			goto out_glob;
		}
	}
out_glob:
	globfree(&g);
out:
	path_pop(ld, old);
	return r;
}

static int load(const char *name, const char *yaml, size_t len, bool from_file,
		struct oeed_config **ret_config, struct oeed_error *err)
{
	struct config_doc docs[CONFIG_FILES_MAX];
	struct schema_src srcs[CONFIG_FILES_MAX];
	size_t n_docs = 1;
	struct oeed_config *cfg = NULL;
	struct loader ld = {.name = name, .err = err};
	int r;

	err->msg[0] = '\0';
	memset(docs, 0, sizeof(docs));
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg || !(cfg->path = strdup(name)) || !(docs[0].file = strdup(name))) {
		r = oom(&ld);
		goto out;
	}
	cfg->refs = 1;
	if ((r = parse_doc(&ld, docs[0].file, yaml, len, &docs[0])) < 0)
		goto out;
	ld.cfg = cfg;
	if (from_file)
		r = load_includes(&ld, name, docs, &n_docs);
	else if (find_key(&ld, yaml_document_get_root_node(&docs[0].doc), "include"))
		r = fail_key(&ld, yaml_document_get_root_node(&docs[0].doc), "include",
			     "include needs a config file (its directory)");
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n_docs; i++)
		srcs[i] = (struct schema_src){&docs[i].doc, docs[i].file,
					      yaml_document_get_root_node(&docs[i].doc)};
	r = schema_read(&ld, &top_section, srcs, n_docs, cfg, NULL);
	if (r == 0)
		r = resolve_host_defaults(&ld, cfg);
	if (r < 0)
		goto out;
	/* the positions name files that live as long as the config */
	cfg->files = calloc(n_docs, sizeof(*cfg->files));
	if (!cfg->files) {
		r = oom(&ld);
		goto out;
	}
	for (size_t i = 0; i < n_docs; i++) {
		cfg->files[i] = docs[i].file;
		docs[i].file = NULL;
	}
	cfg->n_files = n_docs;
	*ret_config = cfg;
	cfg = NULL;
out:
	config_free(cfg); /* its positions may name docs[].file: freed after, never read */
	for (size_t i = 0; i < n_docs; i++) {
		if (docs[i].loaded)
			yaml_document_delete(&docs[i].doc);
		free(docs[i].file);
	}
	return r;
}

int config_load_string(const char *name, const char *yaml, size_t len,
		       struct oeed_config **ret_config, struct oeed_error *err)
{
	return load(name, yaml, len, false, ret_config, err);
}

int config_load(const char *path, struct oeed_config **ret_config, struct oeed_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	int r = read_file(path, &buf, &len, err);
	if (r < 0)
		return r;
	r = load(path, buf, len, true, ret_config, err);
	free(buf);
	return r;
}

const struct oeed_config_pos *config_where(const struct oeed_config *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->n_pos; i++)
		if (strcmp(cfg->pos[i].key, key) == 0)
			return &cfg->pos[i];
	return NULL;
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
	for (size_t i = 0; i < cfg->n_pos; i++)
		free(cfg->pos[i].key);
	free(cfg->pos);
	for (size_t i = 0; i < cfg->n_files; i++)
		free(cfg->files[i]);
	free(cfg->files);
	schema_free(&top_section, cfg);
	free(cfg->path);
	free(cfg);
}

const struct oeed_machine_conf *config_machine(const struct oeed_config *cfg, const char *id)
{
	for (size_t i = 0; i < cfg->machines.n_list; i++)
		if (strcmp(cfg->machines.list[i].id, id) == 0)
			return &cfg->machines.list[i];
	return NULL;
}

void config_print(const struct oeed_config *cfg, FILE *out)
{
	fprintf(out, "# effective configuration of %s (defaults filled in)\n", cfg->path);
	for (size_t i = 1; i < cfg->n_files; i++)
		fprintf(out, "# included: %s\n", cfg->files[i]);
	schema_print(out, &top_section, cfg, "");
}

bool config_mqtt_equal(const struct oeed_config *a, const struct oeed_config *b)
{
	return schema_equal(&top_section, a, b, SCOPE_MQTT);
}

bool config_outputs_equal(const struct oeed_config *a, const struct oeed_config *b)
{
	return schema_equal(&top_section, a, b, SCOPE_OUTPUTS);
}

bool config_pipeline_equal(const struct oeed_config *a, const struct oeed_config *b)
{
	return schema_equal(&top_section, a, b, SCOPE_PIPELINE);
}

void config_doc(FILE *out, bool man)
{
	schema_doc(out, &top_section, "", man);
}

void config_files(const struct oeed_config *cfg,
		  void (*fn)(void *ctx, const char *key, const char *path, bool secret), void *ctx)
{
	schema_files(&top_section, cfg, "", fn, ctx);
}
