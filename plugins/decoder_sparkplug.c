/* decoder_sparkplug.c - the "sparkplug_b" decoder: a Sparkplug B 3.0 host's view of payloads
 * (protobuf-c code generated from sparkplug_b.proto) on spBv1.0/{group}/{TYPE}/{node}[/{device}].
 *
 * Machine identity: the source's `machine:` template over {group}, {node}, {device} (default
 * "{device}") names the machine of a device; for node messages {device} and the separator
 * before it are dropped (empty: the node id). Every value carries the tags group and node. A
 * machine id belongs to the first node/device that reports under it: another one whose id
 * expands to the same machine id is refused (counted "machine_conflict", named in the
 * detail), never merged. The source's `fields:` name the metric of each signal (state:
 * "Machine/State", total: "Counts/Total", ...). Per node the decoder keeps what Sparkplug makes
 * stateful: whether its NBIRTH was seen in this session, the bdSeq of that NBIRTH, the seq
 * window, and for the node and each device the aliases and datatypes its BIRTH gave the
 * mapped metrics.
 *
 *   NBIRTH/DBIRTH: record aliases and datatypes (replacing the old ones), emit the mapped
 *                  metrics. An NBIRTH leaves the node's devices as they are until their DBIRTH.
 *   NDATA/DDATA:   metrics by name, or by alias resolved through the BIRTH. An alias of a node
 *                  or device whose BIRTH was not seen is counted "unknown_alias".
 *   any of DBIRTH/NDATA/DDATA/DDEATH from a node whose NBIRTH was not seen in this session
 *                  (oeed restarted, or the node died): counted "no_nbirth", rebirth requested.
 *   NDEATH:        when its bdSeq equals the NBIRTH's (or no NBIRTH was seen: counted
 *                  "ndeath_unverified"): SIG_DEATH for the node and every device under it
 *                  that is a machine, at OEED_MS_NONE (the host uses the receive time).
 *                  Another bdSeq is a late will of an earlier session: "stale_ndeath".
 *   DDEATH:        SIG_DEATH for the device at the payload timestamp.
 *   NCMD/DCMD/STATE: ignored (zero values).
 * seq: one counter per node (0..255, wraps), NBIRTH resets it. A seq ahead of the expected one
 * opens a gap; the skipped seqs may still come (reordered) within the source's
 * `reorder_timeout`; a gap still open at a later message of the node after that time is a
 * "seq_gap" and a rebirth request. A seq behind (neither expected nor missing) is a "seq_gap"
 * at once. Timers run on the receive times of the node's own messages (decoders see no clock).
 * Rebirth: an NCMD "Node Control/Rebirth" = true through host->publish (NULL when rebirths
 * are off), at most one per node per SPB_REBIRTH_INTERVAL_MS of receive time.
 *
 * Values: Int8..Int64, UInt8..UInt64, DateTime, Float, Double: VAL_NUM (Int8/16/32 are
 * sign-extended by the datatype of the metric, else of its BIRTH); Boolean: VAL_BOOL, but
 * "true"/"false" as VAL_STR for the state signal, and for the cycle signal only true counts;
 * String/Text: VAL_STR (invalid UTF-8 is counted "invalid_utf8" and skipped). Other types are
 * counted "unsupported_type", null values skipped.
 * Event time: the metric's timestamp, else the payload's, else none; historical metrics thus
 * land at their own timestamps.
 *
 * Limits (fixed tables allocated in create(), 740 KiB per source): SPB_MAX_NODES edge
 * nodes, SPB_MAX_DEVICES devices per node, ids up to SPB_ID_MAX bytes. A node or device beyond
 * these is decoded without state (names work, aliases cannot be resolved, deaths are not
 * tracked, its machine id is checked against the known ones only) and counted "table_full". */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "decoders.h"
#include "plugin.h"
#include "sparkplug_b.pb-c.h"

#define SPB_MAX_NODES	128
#define SPB_MAX_DEVICES 32
#define SPB_ID_MAX	63
#define SPB_TOPIC_MAX	(16 + 3 * SPB_ID_MAX + 8)
#define SPB_TMPL_MAX	64
#define SPB_MACHINE_MAX (SPB_TMPL_MAX + 3 * SPB_ID_MAX)
/* One rebirth request per node per this much receive time: a node that cannot answer (it
 * ignores NCMD, or is not subscribed yet) is asked again, but never in a storm. */
#define SPB_REBIRTH_INTERVAL_MS 10000

enum spb_type { T_NBIRTH, T_NDEATH, T_NDATA, T_NCMD, T_DBIRTH, T_DDEATH, T_DDATA, T_DCMD };
static const char *const type_names[] = {"NBIRTH", "NDEATH", "NDATA", "NCMD",
					 "DBIRTH", "DDEATH", "DDATA", "DCMD"};

/* Sparkplug B DataType codes used here. */
enum {
	DT_INT8 = 1,
	DT_INT16,
	DT_INT32,
	DT_INT64,
	DT_UINT8,
	DT_UINT16,
	DT_UINT32,
	DT_UINT64,
	DT_FLOAT,
	DT_DOUBLE,
	DT_BOOLEAN,
	DT_STRING,
	DT_DATETIME,
	DT_TEXT,
};

/* What a BIRTH told about the mapped metrics of one node or device. */
struct spb_entity {
	char id[SPB_ID_MAX + 1];
	bool used;
	bool born;	 /* a BIRTH was seen since the last DEATH (in this session) */
	bool is_machine; /* values were emitted for it: its machine exists */
	bool refused;	 /* its machine id is another node's or device's: nothing is emitted */
	bool has_alias[SIG__COUNT];
	uint64_t alias[SIG__COUNT];
	uint32_t datatype[SIG__COUNT]; /* 0: unknown */
};

struct spb_node {
	char group[SPB_ID_MAX + 1];
	struct spb_entity self;
	bool has_bdseq;
	uint64_t bdseq;
	int next_seq;	     /* -1: none since NBIRTH */
	uint64_t missing[4]; /* bit per seq skipped and not yet arrived */
	oeed_ms gap_since;   /* receive time the oldest open gap opened, OEED_MS_NONE: none */
	oeed_ms last_rebirth;
	struct spb_entity devices[SPB_MAX_DEVICES];
};

struct spb_state {
	const struct oeed_decoder_host *host;
	char *metric[SIG__COUNT]; /* metric name per signal, NULL when unused */
	char tmpl[SPB_TMPL_MAX + 1];
	oeed_ms reorder_timeout;
	struct spb_node *nodes; /* SPB_MAX_NODES */
};

struct spb_topic {
	const char *group, *node, *device;
	size_t group_len, node_len, device_len;
	enum spb_type type;
};

/* Where a notice happened, for the host's log line. */
static void where(const struct spb_topic *t, char *buf, size_t len)
{
	if (t->device)
		snprintf(buf, len, "group %.*s node %.*s device %.*s",
			 (int)OEED_MIN(t->group_len, 64), t->group, (int)OEED_MIN(t->node_len, 64),
			 t->node, (int)OEED_MIN(t->device_len, 64), t->device);
	else
		snprintf(buf, len, "group %.*s node %.*s", (int)OEED_MIN(t->group_len, 64),
			 t->group, (int)OEED_MIN(t->node_len, 64), t->node);
}

static void notice(const struct spb_state *st, const struct spb_topic *t, const char *what,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void notice(const struct spb_state *st, const struct spb_topic *t, const char *what,
		   const char *fmt, ...)
{
	char detail[400];
	if (!st->host || !st->host->count)
		return;
	where(t, detail, sizeof(detail));
	size_t n = strlen(detail);
	if (fmt && n < sizeof(detail) - 2) {
		va_list ap;
		memcpy(detail + n, ": ", 3);
		va_start(ap, fmt);
		vsnprintf(detail + n + 2, sizeof(detail) - n - 2, fmt, ap);
		va_end(ap);
	}
	st->host->count(st->host->ctx, what, detail);
}

static void spb_destroy(void *state)
{
	struct spb_state *st = state;
	if (!st)
		return;
	for (int s = 0; s < SIG__COUNT; s++)
		free(st->metric[s]);
	free(st->nodes);
	free(st);
}

/* The template may use {group}, {node}, {device} (which it must) and literal characters that
 * a machine id may hold (no '/', '+', '#', no control characters, no braces). */
static int check_template(const char *tmpl, struct oeed_decode_error *err)
{
	bool device = false;
	if (strlen(tmpl) > SPB_TMPL_MAX)
		return plugin_error(err, 0, -EINVAL, "machine: template longer than %d bytes",
				    SPB_TMPL_MAX);
	for (const char *p = tmpl; *p;) {
		if (*p == '{') {
			const char *e = strchr(p, '}');
			size_t n = e ? (size_t)(e - p - 1) : 0;
			if (!e || !((n == 5 && memcmp(p + 1, "group", 5) == 0) ||
				    (n == 4 && memcmp(p + 1, "node", 4) == 0) ||
				    (n == 6 && memcmp(p + 1, "device", 6) == 0)))
				return plugin_error(err, 0, -EINVAL,
						    "machine: column %d: only {group}, {node} and "
						    "{device} may be used",
						    (int)(p - tmpl) + 1);
			device |= n == 6;
			p = e + 1;
			continue;
		}
		if (*p == '}' || *p == '/' || *p == '+' || *p == '#' || (unsigned char)*p < 0x20)
			return plugin_error(err, 0, -EINVAL,
					    "machine: column %d: '%c' cannot be in a machine id",
					    (int)(p - tmpl) + 1, *p >= 0x20 ? *p : '?');
		p++;
	}
	if (!device)
		return plugin_error(err, 0, -EINVAL,
				    "machine: the template needs {device} (else all devices of a "
				    "node would be one machine)");
	return 0;
}

static int spb_create(const struct oeed_source *src, const struct oeed_decoder_host *host,
		      void **ret_state, struct oeed_decode_error *err)
{
	int r = 0, n = 0;
	struct spb_state *st = calloc(1, sizeof(*st));
	if (!st)
		return plugin_error(err, 0, -ENOMEM, "out of memory");
	st->host = host;
	st->reorder_timeout = src->reorder_timeout_ms;
	if (src->fields[SIG_TIMESTAMP]) {
		r = plugin_error(
		    err, 0, -EINVAL,
		    "fields.timestamp: sparkplug_b uses the metric and payload timestamps");
		goto fail;
	}
	if (src->timestamp_zone) {
		r = plugin_error(err, 0, -EINVAL,
				 "timestamp_zone: Sparkplug timestamps are UTC milliseconds");
		goto fail;
	}
	const char *tmpl = src->machine ? src->machine : "{device}";
	if ((r = check_template(tmpl, err)) < 0)
		goto fail;
	memcpy(st->tmpl, tmpl, strlen(tmpl) + 1);
	for (int s = SIG_NONE + 1; s < SIG__COUNT; s++) {
		if (s == SIG_TIMESTAMP || s == SIG_DEATH || !src->fields[s])
			continue;
		if (!*src->fields[s]) {
			r = plugin_error(err, 0, -EINVAL, "fields.%s: empty metric name",
					 signal_name((enum oeed_signal)s));
			goto fail;
		}
		st->metric[s] = strdup(src->fields[s]);
		if (!st->metric[s]) {
			r = plugin_error(err, 0, -ENOMEM, "out of memory");
			goto fail;
		}
		n++;
	}
	if (n == 0) {
		r = plugin_error(
		    err, 0, -EINVAL,
		    "sparkplug_b needs `fields:` naming the metric of each signal, e.g. "
		    "state: \"Machine/State\"");
		goto fail;
	}
	st->nodes = calloc(SPB_MAX_NODES, sizeof(*st->nodes));
	if (!st->nodes) {
		r = plugin_error(err, 0, -ENOMEM, "out of memory");
		goto fail;
	}
	*ret_state = st;
	return 0;
fail:
	spb_destroy(st);
	return r;
}

/* spBv1.0/{group}/{TYPE}/{node}[/{device}]; STATE and unknown types give 1 (ignore). */
static int parse_topic(const char *t, size_t len, struct spb_topic *ret)
{
	const char *part[6];
	size_t plen[6], n = 0, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && t[i] != '/')
			continue;
		if (n == 6)
			return -EINVAL;
		part[n] = t + start;
		plen[n++] = i - start;
		start = i + 1;
	}
	if (n < 2 || plen[0] != 7 || memcmp(part[0], "spBv1.0", 7) != 0)
		return -EINVAL;
	if (n == 3 && plen[1] == 5 && memcmp(part[1], "STATE", 5) == 0)
		return 1;
	if (n < 4)
		return -EINVAL;
	for (size_t i = 0; i < OEED_ARRAY_SIZE(type_names); i++) {
		if (strlen(type_names[i]) != plen[2] ||
		    memcmp(type_names[i], part[2], plen[2]) != 0)
			continue;
		ret->type = (enum spb_type)i;
		bool device = ret->type >= T_DBIRTH;
		if (n != (device ? 5u : 4u) || plen[1] == 0 || plen[3] == 0 ||
		    (device && plen[4] == 0))
			return -EINVAL;
		ret->group = part[1];
		ret->group_len = plen[1];
		ret->node = part[3];
		ret->node_len = plen[3];
		ret->device = device ? part[4] : NULL;
		ret->device_len = device ? plen[4] : 0;
		return 0;
	}
	return -EINVAL;
}

static bool id_eq(const char *id, const char *s, size_t len)
{
	return strlen(id) == len && memcmp(id, s, len) == 0;
}

/* The node's slot, created when `create`; NULL when unknown or the table is full. */
static struct spb_node *find_node(struct spb_state *st, const struct spb_topic *t, bool create)
{
	struct spb_node *free_slot = NULL;
	if (t->group_len > SPB_ID_MAX || t->node_len > SPB_ID_MAX) {
		notice(st, t, "table_full", "id longer than %d bytes", SPB_ID_MAX);
		return NULL;
	}
	for (size_t i = 0; i < SPB_MAX_NODES; i++) {
		struct spb_node *n = &st->nodes[i];
		if (!n->self.used) {
			if (!free_slot)
				free_slot = n;
			continue;
		}
		if (id_eq(n->group, t->group, t->group_len) &&
		    id_eq(n->self.id, t->node, t->node_len))
			return n;
	}
	if (!create)
		return NULL;
	if (!free_slot) {
		notice(st, t, "table_full", "more than %d edge nodes", SPB_MAX_NODES);
		return NULL;
	}
	memset(free_slot, 0, sizeof(*free_slot));
	memcpy(free_slot->group, t->group, t->group_len);
	memcpy(free_slot->self.id, t->node, t->node_len);
	free_slot->self.used = true;
	free_slot->next_seq = -1;
	free_slot->gap_since = OEED_MS_NONE;
	free_slot->last_rebirth = OEED_MS_NONE;
	return free_slot;
}

static struct spb_entity *find_device(struct spb_state *st, struct spb_node *n,
				      const struct spb_topic *t, bool create)
{
	struct spb_entity *free_slot = NULL;
	if (!n)
		return NULL;
	if (t->device_len > SPB_ID_MAX) {
		notice(st, t, "table_full", "id longer than %d bytes", SPB_ID_MAX);
		return NULL;
	}
	for (size_t i = 0; i < SPB_MAX_DEVICES; i++) {
		struct spb_entity *d = &n->devices[i];
		if (!d->used) {
			if (!free_slot)
				free_slot = d;
			continue;
		}
		if (id_eq(d->id, t->device, t->device_len))
			return d;
	}
	if (!create)
		return NULL;
	if (!free_slot) {
		notice(st, t, "table_full", "more than %d devices on the node", SPB_MAX_DEVICES);
		return NULL;
	}
	memset(free_slot, 0, sizeof(*free_slot));
	memcpy(free_slot->id, t->device, t->device_len);
	free_slot->used = true;
	return free_slot;
}

/* The machine id of a node (device NULL) or device from the template; returns its length. A
 * node drops {device} with the one separator before it; an empty result is the node id. */
static size_t machine_of(const struct spb_state *st, const char *group, size_t group_len,
			 const char *node, size_t node_len, const char *device, size_t device_len,
			 char out[SPB_MACHINE_MAX + 1])
{
	size_t n = 0;
	for (const char *p = st->tmpl; *p;) {
		const char *v = NULL;
		size_t vl = 0, skip = 1;
		if (*p == '{') {
			if (strncmp(p, "{group}", 7) == 0) {
				v = group, vl = group_len, skip = 7;
			} else if (strncmp(p, "{node}", 6) == 0) {
				v = node, vl = node_len, skip = 6;
			} else { /* {device}: check_template allows nothing else */
				skip = 8;
				if (device)
					v = device, vl = device_len;
				else if (n > 0 && p[-1] != '}')
					n--; /* the separator before it */
				else if (n == 0 && p[8] && p[8] != '{')
					skip = 9; /* at the start: the separator after it */
			}
		} else {
			v = p, vl = 1;
		}
		if (v) {
			vl = OEED_MIN(vl, SPB_MACHINE_MAX - n);
			memcpy(out + n, v, vl);
			n += vl;
		}
		p += skip;
	}
	if (n == 0) {
		n = OEED_MIN(node_len, SPB_MACHINE_MAX);
		memcpy(out, node, n);
	}
	out[n] = '\0';
	return n;
}

/* Whose machine id `id` already is, among the machines this source made; NULL: nobody's. */
static const struct spb_entity *owner_of(const struct spb_state *st, const char *id, size_t len,
					 const struct spb_entity *self,
					 const struct spb_node **ret_n)
{
	char other[SPB_MACHINE_MAX + 1];
	for (size_t i = 0; i < SPB_MAX_NODES; i++) {
		const struct spb_node *n = &st->nodes[i];
		if (!n->self.used)
			continue;
		for (size_t k = 0; k <= SPB_MAX_DEVICES; k++) {
			const struct spb_entity *e = k == 0 ? &n->self : &n->devices[k - 1];
			if (!e->used || !e->is_machine || e == self)
				continue;
			size_t ol = machine_of(st, n->group, strlen(n->group), n->self.id,
					       strlen(n->self.id), k == 0 ? NULL : e->id,
					       k == 0 ? 0 : strlen(e->id), other);
			if (ol == len && memcmp(other, id, len) == 0) {
				*ret_n = n;
				return e;
			}
		}
	}
	return NULL;
}

/* May `e` (NULL: stateless) emit under machine id `id`? The first node or device to emit
 * under a machine id keeps it; a later one with the same id is refused, once counted. */
static bool claim(struct spb_state *st, const struct spb_topic *t, struct spb_entity *e,
		  const char *id, size_t len)
{
	if (e && e->is_machine)
		return true;
	if (e && e->refused)
		return false;
	const struct spb_node *on = NULL;
	const struct spb_entity *owner = owner_of(st, id, len, e, &on);
	if (!owner) {
		if (e)
			e->is_machine = true;
		return true;
	}
	if (e)
		e->refused = true;
	char whose[2 * SPB_ID_MAX + 40];
	if (owner == &on->self)
		snprintf(whose, sizeof(whose), "node %s itself", on->self.id);
	else
		snprintf(whose, sizeof(whose), "device %s of node %s", owner->id, on->self.id);
	notice(st, t, "machine_conflict",
	       "machine id '%s' is already %s (group %s): refused, not merged; give the source "
	       "a machine template that tells them apart, e.g. machine: \"{node}.{device}\"",
	       id, whose, on->group);
	return false;
}

static enum oeed_signal signal_of_name(const struct spb_state *st, const char *name)
{
	for (int s = SIG_NONE + 1; s < SIG__COUNT; s++)
		if (st->metric[s] && strcmp(st->metric[s], name) == 0)
			return (enum oeed_signal)s;
	return SIG_NONE;
}

static enum oeed_signal signal_of_alias(const struct spb_entity *e, uint64_t alias)
{
	for (int s = SIG_NONE + 1; s < SIG__COUNT; s++)
		if (e->has_alias[s] && e->alias[s] == alias)
			return (enum oeed_signal)s;
	return SIG_NONE;
}

static oeed_ms ms_of(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? OEED_MS_NONE : (oeed_ms)v;
}

/* Fills v from m; returns false when the metric has no usable value. */
static bool metric_value(const struct spb_state *st, const struct spb_topic *t,
			 const Spb__Payload__Metric *m, enum oeed_signal sig, uint32_t dt,
			 struct oeed_value *v)
{
	if (m->has_is_null && m->is_null)
		return false;
	if (m->has_datatype)
		dt = m->datatype;
	v->kind = VAL_NUM;
	switch (m->value_case) {
	case SPB__PAYLOAD__METRIC__VALUE_INT_VALUE:
		/* Int8/16/32 travel in the unsigned 32-bit field: sign-extend by the datatype. */
		switch (dt) {
		case DT_INT8:
			v->num = (int8_t)m->int_value;
			break;
		case DT_INT16:
			v->num = (int16_t)m->int_value;
			break;
		case DT_INT32:
			v->num = (int32_t)m->int_value;
			break;
		default:
			v->num = m->int_value;
		}
		return true;
	case SPB__PAYLOAD__METRIC__VALUE_LONG_VALUE:
		v->num = dt == DT_INT64 ? (double)(int64_t)m->long_value : (double)m->long_value;
		return true;
	case SPB__PAYLOAD__METRIC__VALUE_FLOAT_VALUE:
		v->num = m->float_value;
		return true;
	case SPB__PAYLOAD__METRIC__VALUE_DOUBLE_VALUE:
		v->num = m->double_value;
		return true;
	case SPB__PAYLOAD__METRIC__VALUE_BOOLEAN_VALUE:
		if (sig == SIG_STATE) {
			v->kind = VAL_STR;
			v->str = m->boolean_value ? "true" : "false";
			v->len = strlen(v->str);
			return true;
		}
		/* A cycle is an event: false is no cycle. */
		if (sig == SIG_CYCLE && !m->boolean_value)
			return false;
		v->kind = VAL_BOOL;
		v->num = m->boolean_value ? 1 : 0;
		return true;
	case SPB__PAYLOAD__METRIC__VALUE_STRING_VALUE:
		v->kind = VAL_STR;
		v->str = m->string_value;
		v->len = strlen(m->string_value);
		/* protobuf-c does not check UTF-8; such a string would spoil the line protocol. */
		if (plugin_utf8_valid((const uint8_t *)v->str, v->len) != v->len) {
			notice(st, t, "invalid_utf8", "metric %s: a string that is not UTF-8",
			       m->name ? m->name : "(by alias)");
			return false;
		}
		return true;
	default:
		notice(st, t, "unsupported_type", "metric %s: value type %d is not used",
		       m->name ? m->name : "(by alias)", (int)m->value_case);
		return false;
	}
}

/* The machine a message's values go to, with the group and node tags. */
struct spb_target {
	char machine[SPB_MACHINE_MAX + 1];
	size_t machine_len;
	struct oeed_tag tags[2];
};

static void target_of(const struct spb_state *st, const struct spb_topic *t, bool node_itself,
		      struct spb_target *ret)
{
	ret->machine_len = machine_of(st, t->group, t->group_len, t->node, t->node_len,
				      node_itself ? NULL : t->device,
				      node_itself ? 0 : t->device_len, ret->machine);
	ret->tags[0] = (struct oeed_tag){"group", t->group, t->group_len};
	ret->tags[1] = (struct oeed_tag){"node", t->node, t->node_len};
}

static void emit_death(const struct spb_target *to, oeed_ms ts, oeed_emit_fn emit, void *ctx)
{
	struct oeed_value v = {
	    .signal = SIG_DEATH,
	    .kind = VAL_NONE,
	    .ts_ms = ts,
	    .machine = to->machine,
	    .machine_len = to->machine_len,
	    .tags = to->tags,
	    .n_tags = 2,
	};
	emit(ctx, &v);
}

/* Asks the node for a rebirth, at most once per decode call and once per
 * SPB_REBIRTH_INTERVAL_MS per node (node NULL: stateless, once per call only). */
static void request_rebirth(struct spb_state *st, struct spb_node *node, const struct spb_topic *t,
			    oeed_ms now, bool *sent)
{
	if (*sent || !st->host || !st->host->publish)
		return;
	if (node && node->last_rebirth != OEED_MS_NONE && now != OEED_MS_NONE &&
	    now - node->last_rebirth < SPB_REBIRTH_INTERVAL_MS && now >= node->last_rebirth)
		return;
	*sent = true;
	if (node)
		node->last_rebirth = now;
	char topic[SPB_TOPIC_MAX + 1];
	if (t->group_len > SPB_ID_MAX || t->node_len > SPB_ID_MAX)
		return;
	snprintf(topic, sizeof(topic), "spBv1.0/%.*s/NCMD/%.*s", (int)t->group_len, t->group,
		 (int)t->node_len, t->node);
	Spb__Payload__Metric m = SPB__PAYLOAD__METRIC__INIT;
	Spb__Payload__Metric *mp = &m;
	Spb__Payload p = SPB__PAYLOAD__INIT;
	m.name = "Node Control/Rebirth";
	m.has_datatype = 1;
	m.datatype = DT_BOOLEAN;
	m.value_case = SPB__PAYLOAD__METRIC__VALUE_BOOLEAN_VALUE;
	m.boolean_value = 1;
	if (now != OEED_MS_NONE && now >= 0) {
		p.has_timestamp = 1;
		p.timestamp = (uint64_t)now;
		m.has_timestamp = 1;
		m.timestamp = (uint64_t)now;
	}
	p.n_metrics = 1;
	p.metrics = &mp;
	uint8_t buf[128];
	if (spb__payload__get_packed_size(&p) > sizeof(buf))
		return;
	size_t len = spb__payload__pack(&p, buf);
	st->host->publish(st->host->ctx, topic, buf, len);
}

static const Spb__Payload__Metric *find_metric(const Spb__Payload *p, const char *name)
{
	for (size_t i = 0; i < p->n_metrics; i++)
		if (p->metrics[i]->name && strcmp(p->metrics[i]->name, name) == 0)
			return p->metrics[i];
	return NULL;
}

static bool bdseq_of(const Spb__Payload *p, uint64_t *ret)
{
	const Spb__Payload__Metric *m = find_metric(p, "bdSeq");
	if (!m)
		return false;
	if (m->value_case == SPB__PAYLOAD__METRIC__VALUE_LONG_VALUE)
		*ret = m->long_value;
	else if (m->value_case == SPB__PAYLOAD__METRIC__VALUE_INT_VALUE)
		*ret = m->int_value;
	else
		return false;
	return true;
}

/* BIRTH: forget the old aliases, learn the new ones of mapped metrics. */
static void learn_birth(const struct spb_state *st, struct spb_entity *e, const Spb__Payload *p)
{
	if (!e)
		return;
	memset(e->has_alias, 0, sizeof(e->has_alias));
	memset(e->datatype, 0, sizeof(e->datatype));
	e->born = true;
	for (size_t i = 0; i < p->n_metrics; i++) {
		const Spb__Payload__Metric *m = p->metrics[i];
		enum oeed_signal sig = m->name ? signal_of_name(st, m->name) : SIG_NONE;
		if (sig == SIG_NONE)
			continue;
		e->has_alias[sig] = m->has_alias;
		e->alias[sig] = m->alias;
		e->datatype[sig] = m->has_datatype ? m->datatype : 0;
	}
}

static void emit_metrics(struct spb_state *st, const struct spb_topic *t, struct spb_node *node,
			 struct spb_entity *e, const Spb__Payload *p, const struct oeed_msg *msg,
			 bool *rebirth_sent, oeed_emit_fn emit, void *emit_ctx)
{
	struct spb_target to;
	target_of(st, t, !t->device, &to);
	oeed_ms payload_ts = p->has_timestamp ? ms_of(p->timestamp) : OEED_MS_NONE;
	bool unknown_counted = false, claimed = false;

	for (size_t i = 0; i < p->n_metrics; i++) {
		const Spb__Payload__Metric *m = p->metrics[i];
		enum oeed_signal sig = SIG_NONE;
		if (m->name) {
			sig = signal_of_name(st, m->name);
		} else if (m->has_alias) {
			if (!e || !e->born) {
				/* Without the BIRTH the alias means nothing: ask for one. */
				if (!unknown_counted)
					notice(st, t, "unknown_alias",
					       "alias %" PRIu64
					       " without a %s seen in this session",
					       m->alias, t->device ? "DBIRTH" : "NBIRTH");
				unknown_counted = true;
				request_rebirth(st, node, t, msg->rx_ms, rebirth_sent);
				continue;
			}
			sig = signal_of_alias(e, m->alias);
		}
		if (sig == SIG_NONE)
			continue;
		struct oeed_value v = {
		    .signal = sig,
		    .ts_ms = m->has_timestamp ? ms_of(m->timestamp) : payload_ts,
		    .machine = to.machine,
		    .machine_len = to.machine_len,
		    .tags = to.tags,
		    .n_tags = 2,
		};
		if (!metric_value(st, t, m, sig, e ? e->datatype[sig] : 0, &v))
			continue;
		if (!claimed && !claim(st, t, e, to.machine, to.machine_len))
			return;
		claimed = true;
		emit(emit_ctx, &v);
	}
}

static bool missing_has(const struct spb_node *n, int seq)
{
	return (n->missing[seq >> 6] >> (seq & 63)) & 1;
}

static bool missing_any(const struct spb_node *n)
{
	return (n->missing[0] | n->missing[1] | n->missing[2] | n->missing[3]) != 0;
}

static void missing_clear_all(struct spb_node *n)
{
	memset(n->missing, 0, sizeof(n->missing));
	n->gap_since = OEED_MS_NONE;
}

/* seq bookkeeping of one node message (not NDEATH, which has no seq). */
static void check_seq(struct spb_state *st, struct spb_node *node, const struct spb_topic *t,
		      const Spb__Payload *p, oeed_ms now, bool *rebirth_sent)
{
	if (!node || !p->has_seq || t->type == T_NDEATH)
		return;
	int seq = (int)(p->seq & 0xff);
	if (t->type == T_NBIRTH || node->next_seq < 0) {
		node->next_seq = (seq + 1) & 0xff;
		missing_clear_all(node);
		return;
	}
	if (seq == node->next_seq) {
		node->next_seq = (seq + 1) & 0xff;
	} else if (missing_has(node, seq)) {
		node->missing[seq >> 6] &= ~(UINT64_C(1) << (seq & 63)); /* came late: reordered */
	} else {
		int ahead = (seq - node->next_seq) & 0xff;
		if (ahead >= 128) {
			/* Behind, and not a hole: a duplicate, or a new counter without NBIRTH. */
			notice(st, t, "seq_gap", "seq %d, expected %d", seq, node->next_seq);
			missing_clear_all(node);
			node->next_seq = (seq + 1) & 0xff;
			request_rebirth(st, node, t, now, rebirth_sent);
			return;
		}
		for (int k = node->next_seq; k != seq; k = (k + 1) & 0xff)
			node->missing[k >> 6] |= UINT64_C(1) << (k & 63);
		if (node->gap_since == OEED_MS_NONE)
			node->gap_since = now;
		node->next_seq = (seq + 1) & 0xff;
	}
	if (!missing_any(node)) {
		node->gap_since = OEED_MS_NONE;
		return;
	}
	if (now == OEED_MS_NONE || node->gap_since == OEED_MS_NONE ||
	    now - node->gap_since < st->reorder_timeout)
		return;
	int first = 0;
	while (!missing_has(node, first))
		first++;
	notice(st, t, "seq_gap", "seq %d (and maybe more) missing for %" PRId64 " ms", first,
	       (int64_t)(now - node->gap_since));
	missing_clear_all(node);
	request_rebirth(st, node, t, now, rebirth_sent);
}

static void on_ndeath(struct spb_state *st, struct spb_node *node, const struct spb_topic *t,
		      const Spb__Payload *p, oeed_emit_fn emit, void *emit_ctx)
{
	uint64_t bdseq;
	bool has = bdseq_of(p, &bdseq);
	if (!node) {
		notice(st, t, "stale_ndeath", "a node not seen in this session");
		return;
	}
	if (node->self.born && node->has_bdseq) {
		/* A will delivered after the node came back carries the previous bdSeq. */
		if (!has || bdseq != node->bdseq) {
			char got[32] = "none";
			if (has)
				snprintf(got, sizeof(got), "%" PRIu64, bdseq);
			notice(st, t, "stale_ndeath", "bdSeq %s, the NBIRTH's is %" PRIu64, got,
			       node->bdseq);
			return;
		}
	} else if (!node->self.born) {
		/* No NBIRTH in this session (oeed restarted and the node never answered a rebirth
		 * request): nothing to check the bdSeq against. Its devices would otherwise run
		 * on until stale_after. */
		notice(st, t, "ndeath_unverified", "no NBIRTH seen in this session to check bdSeq");
	}
	node->self.born = false;
	node->next_seq = -1;
	missing_clear_all(node);
	struct spb_target to;
	struct spb_topic dt = *t;
	/* Only machines that exist die: an edge node that reported nothing itself is none. */
	if (node->self.is_machine && !node->self.refused) {
		target_of(st, t, true, &to);
		emit_death(&to, OEED_MS_NONE, emit, emit_ctx);
	}
	for (size_t i = 0; i < SPB_MAX_DEVICES; i++) {
		struct spb_entity *d = &node->devices[i];
		if (!d->used)
			continue;
		d->born = false;
		if (!d->is_machine || d->refused)
			continue;
		dt.device = d->id;
		dt.device_len = strlen(d->id);
		target_of(st, &dt, false, &to);
		emit_death(&to, OEED_MS_NONE, emit, emit_ctx);
	}
}

static int spb_decode(void *state, const struct oeed_msg *msg, oeed_emit_fn emit, void *emit_ctx,
		      struct oeed_decode_error *err)
{
	struct spb_state *st = state;
	struct spb_topic t;
	bool rebirth_sent = false;

	int r = parse_topic(msg->topic, msg->topic_len, &t);
	if (r == 1)
		return 0;
	if (r < 0)
		return plugin_error(err, 0, -EINVAL, "not a Sparkplug B topic: %.*s",
				    (int)OEED_MIN(msg->topic_len, 100), msg->topic);
	if (t.type == T_NCMD || t.type == T_DCMD)
		return 0;

	Spb__Payload *p = spb__payload__unpack(NULL, msg->len, msg->payload);
	if (!p)
		return plugin_error(err, 0, -EBADMSG, "not a Sparkplug B payload");

	struct spb_node *node = find_node(st, &t, t.type != T_NDEATH);
	struct spb_entity *dev = NULL;
	if (t.device)
		dev = find_device(st, node, &t, t.type != T_DDEATH);

	/* Anything but an NBIRTH or NDEATH from a node whose NBIRTH this session has not seen:
	 * its bdSeq, aliases and datatypes are unknown until it is born again. */
	if (node && !node->self.born && t.type != T_NBIRTH && t.type != T_NDEATH) {
		notice(st, &t, "no_nbirth", "%s without an NBIRTH seen in this session",
		       type_names[t.type]);
		request_rebirth(st, node, &t, msg->rx_ms, &rebirth_sent);
	}
	check_seq(st, node, &t, p, msg->rx_ms, &rebirth_sent);

	switch (t.type) {
	case T_NBIRTH:
		if (node) {
			node->has_bdseq = bdseq_of(p, &node->bdseq);
			learn_birth(st, &node->self, p);
		}
		emit_metrics(st, &t, node, node ? &node->self : NULL, p, msg, &rebirth_sent, emit,
			     emit_ctx);
		break;
	case T_DBIRTH:
		learn_birth(st, dev, p);
		emit_metrics(st, &t, node, dev, p, msg, &rebirth_sent, emit, emit_ctx);
		break;
	case T_NDATA:
		emit_metrics(st, &t, node, node ? &node->self : NULL, p, msg, &rebirth_sent, emit,
			     emit_ctx);
		break;
	case T_DDATA:
		emit_metrics(st, &t, node, dev, p, msg, &rebirth_sent, emit, emit_ctx);
		break;
	case T_NDEATH:
		on_ndeath(st, node, &t, p, emit, emit_ctx);
		break;
	case T_DDEATH:
		if (dev)
			dev->born = false;
		/* Only a device that is a machine dies: no phantom from a death alone. */
		if (dev && dev->is_machine && !dev->refused) {
			struct spb_target to;
			target_of(st, &t, false, &to);
			emit_death(&to, p->has_timestamp ? ms_of(p->timestamp) : OEED_MS_NONE, emit,
				   emit_ctx);
		}
		break;
	case T_NCMD:
	case T_DCMD:
		break;
	}
	spb__payload__free_unpacked(p, NULL);
	return 0;
}

static const struct oeed_decoder spb_decoder = {
    .abi_version = OEED_DECODER_ABI,
    .name = "sparkplug_b",
    .create = spb_create,
    .destroy = spb_destroy,
    .decode = spb_decode,
};

const struct oeed_decoder *decoder_sparkplug_entry(void)
{
	return &spb_decoder;
}
