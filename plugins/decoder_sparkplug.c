/* decoder_sparkplug.c - the "sparkplug_b" decoder: Sparkplug B 3.0 payloads (protobuf-c code
 * generated from sparkplug_b.proto) on spBv1.0/{group}/{TYPE}/{node}[/{device}].
 *
 * The machine is the device for D* messages and the edge node for N* messages (emitted as the
 * machine override). The source's `fields:` name the metric of each signal
 * (state: "Machine/State", total: "Counts/Total", ...). Per node the decoder keeps what
 * Sparkplug makes stateful: the bdSeq of the last NBIRTH, the last seq, and for the node and
 * each device the aliases its BIRTH gave the mapped metrics.
 *
 *   NBIRTH/DBIRTH: record aliases (replacing the old ones) and emit the mapped metrics.
 *                  An NBIRTH leaves the node's devices as they are until their own DBIRTH.
 *   NDATA/DDATA:   metrics by name, or by alias resolved through the BIRTH. An alias of a node
 *                  or device whose BIRTH was not seen is counted "unknown_alias" and a rebirth
 *                  is requested; an alias the BIRTH gave an unmapped metric is skipped.
 *   NDEATH:        only when its bdSeq equals the NBIRTH's: SIG_DEATH for the node and every
 *                  device known under it, at OEED_MS_NONE (the host uses the receive time).
 *                  Otherwise counted "stale_ndeath".
 *   DDEATH:        SIG_DEATH for the device at the payload timestamp.
 *   NCMD/DCMD/STATE: ignored (zero values).
 * seq: one counter per node (0..255, wraps), NBIRTH resets it; a gap is counted "seq_gap" and
 * asks for a rebirth. A rebirth request is an NCMD with "Node Control/Rebirth" = true through
 * host->publish (the host rate-limits, and leaves publish NULL when rebirths are off); at most
 * one per decode call.
 *
 * Values: Int8..Int64, UInt8..UInt64, DateTime, Float, Double: VAL_NUM (signed types are
 * reinterpreted from Sparkplug's unsigned wire fields); Boolean: VAL_BOOL, but "true"/"false"
 * as VAL_STR for the state signal, and for the cycle signal only true counts (one cycle);
 * String/Text: VAL_STR (invalid UTF-8 is counted "invalid_utf8" and skipped). Other types are
 * counted "unsupported_type", null values skipped.
 * Event time: the metric's timestamp, else the payload's, else none; historical metrics thus
 * land at their own timestamps.
 *
 * Limits (fixed tables allocated in create(), 737 KiB per source): SPB_MAX_NODES edge
 * nodes, SPB_MAX_DEVICES devices per node, ids up to SPB_ID_MAX bytes. A node or device beyond
 * these is decoded without state (names work, aliases cannot be resolved, deaths are not
 * tracked) and counted "table_full". */
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
	bool born; /* a BIRTH was seen since the last DEATH */
	bool has_alias[SIG__COUNT];
	uint64_t alias[SIG__COUNT];
	uint32_t datatype[SIG__COUNT]; /* 0: unknown */
};

struct spb_node {
	char group[SPB_ID_MAX + 1];
	struct spb_entity self;
	bool has_bdseq;
	uint64_t bdseq;
	int last_seq; /* -1: none since NBIRTH */
	struct spb_entity devices[SPB_MAX_DEVICES];
};

struct spb_state {
	const struct oeed_decoder_host *host;
	char *metric[SIG__COUNT]; /* metric name per signal, NULL when unused */
	struct spb_node *nodes;	  /* SPB_MAX_NODES */
};

struct spb_topic {
	const char *group, *node, *device;
	size_t group_len, node_len, device_len;
	enum spb_type type;
};

static void count(const struct spb_state *st, const char *what)
{
	if (st->host && st->host->count)
		st->host->count(st->host->ctx, what);
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

static int spb_create(const struct oeed_source *src, const struct oeed_decoder_host *host,
		      void **ret_state, struct oeed_decode_error *err)
{
	int r = 0, n = 0;
	struct spb_state *st = calloc(1, sizeof(*st));
	if (!st)
		return plugin_error(err, 0, -ENOMEM, "out of memory");
	st->host = host;
	if (src->fields[SIG_TIMESTAMP]) {
		r = plugin_error(
		    err, 0, -EINVAL,
		    "fields.timestamp: sparkplug_b uses the metric and payload timestamps");
		goto fail;
	}
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
		count(st, "table_full");
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
		count(st, "table_full");
		return NULL;
	}
	memset(free_slot, 0, sizeof(*free_slot));
	memcpy(free_slot->group, t->group, t->group_len);
	memcpy(free_slot->self.id, t->node, t->node_len);
	free_slot->self.used = true;
	free_slot->last_seq = -1;
	return free_slot;
}

static struct spb_entity *find_device(struct spb_state *st, struct spb_node *n,
				      const struct spb_topic *t, bool create)
{
	struct spb_entity *free_slot = NULL;
	if (!n)
		return NULL;
	if (t->device_len > SPB_ID_MAX) {
		count(st, "table_full");
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
		count(st, "table_full");
		return NULL;
	}
	memset(free_slot, 0, sizeof(*free_slot));
	memcpy(free_slot->id, t->device, t->device_len);
	free_slot->used = true;
	return free_slot;
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
static bool metric_value(const struct spb_state *st, const Spb__Payload__Metric *m,
			 enum oeed_signal sig, uint32_t dt, struct oeed_value *v)
{
	if (m->has_is_null && m->is_null)
		return false;
	if (m->has_datatype)
		dt = m->datatype;
	v->kind = VAL_NUM;
	switch (m->value_case) {
	case SPB__PAYLOAD__METRIC__VALUE_INT_VALUE:
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
			count(st, "invalid_utf8");
			return false;
		}
		return true;
	default:
		count(st, "unsupported_type");
		return false;
	}
}

static void emit_death(const char *machine, size_t len, oeed_ms ts, oeed_emit_fn emit, void *ctx)
{
	struct oeed_value v = {
	    .signal = SIG_DEATH,
	    .kind = VAL_NONE,
	    .ts_ms = ts,
	    .machine = machine,
	    .machine_len = len,
	};
	emit(ctx, &v);
}

static void request_rebirth(struct spb_state *st, const struct spb_topic *t, oeed_ms now,
			    bool *sent)
{
	if (*sent || !st->host || !st->host->publish)
		return;
	*sent = true;
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

static void emit_metrics(struct spb_state *st, const struct spb_topic *t, struct spb_entity *e,
			 const Spb__Payload *p, const struct oeed_msg *msg, bool *rebirth_sent,
			 oeed_emit_fn emit, void *emit_ctx)
{
	const char *machine = t->device ? t->device : t->node;
	size_t machine_len = t->device ? t->device_len : t->node_len;
	oeed_ms payload_ts = p->has_timestamp ? ms_of(p->timestamp) : OEED_MS_NONE;
	bool unknown_counted = false;

	for (size_t i = 0; i < p->n_metrics; i++) {
		const Spb__Payload__Metric *m = p->metrics[i];
		enum oeed_signal sig = SIG_NONE;
		if (m->name) {
			sig = signal_of_name(st, m->name);
		} else if (m->has_alias) {
			if (!e || !e->born) {
				/* Without the BIRTH the alias means nothing: ask for one. */
				if (!unknown_counted)
					count(st, "unknown_alias");
				unknown_counted = true;
				request_rebirth(st, t, msg->rx_ms, rebirth_sent);
				continue;
			}
			sig = signal_of_alias(e, m->alias);
		}
		if (sig == SIG_NONE)
			continue;
		struct oeed_value v = {
		    .signal = sig,
		    .ts_ms = m->has_timestamp ? ms_of(m->timestamp) : payload_ts,
		    .machine = machine,
		    .machine_len = machine_len,
		};
		if (metric_value(st, m, sig, e ? e->datatype[sig] : 0, &v))
			emit(emit_ctx, &v);
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

	bool birth = t.type == T_NBIRTH || t.type == T_DBIRTH;
	struct spb_node *node = find_node(st, &t, birth || t.type == T_NDATA || t.type == T_DDATA);
	struct spb_entity *dev = NULL;
	if (t.device)
		dev = find_device(st, node, &t, t.type != T_DDEATH);

	/* seq: one counter per node for node and device messages; NDEATH (the will) has none. */
	if (node && p->has_seq && t.type != T_NDEATH) {
		int seq = (int)(p->seq & 0xff);
		if (t.type == T_NBIRTH) {
			node->last_seq = seq;
		} else {
			if (node->last_seq >= 0 && seq != ((node->last_seq + 1) & 0xff)) {
				count(st, "seq_gap");
				request_rebirth(st, &t, msg->rx_ms, &rebirth_sent);
			}
			node->last_seq = seq;
		}
	}

	switch (t.type) {
	case T_NBIRTH:
		if (node) {
			node->has_bdseq = bdseq_of(p, &node->bdseq);
			learn_birth(st, &node->self, p);
		}
		emit_metrics(st, &t, node ? &node->self : NULL, p, msg, &rebirth_sent, emit,
			     emit_ctx);
		break;
	case T_DBIRTH:
		learn_birth(st, dev, p);
		emit_metrics(st, &t, dev, p, msg, &rebirth_sent, emit, emit_ctx);
		break;
	case T_NDATA:
		emit_metrics(st, &t, node ? &node->self : NULL, p, msg, &rebirth_sent, emit,
			     emit_ctx);
		break;
	case T_DDATA:
		emit_metrics(st, &t, dev, p, msg, &rebirth_sent, emit, emit_ctx);
		break;
	case T_NDEATH: {
		uint64_t bdseq;
		/* A will delivered after the node came back carries the previous bdSeq. */
		if (!node || !node->has_bdseq || !bdseq_of(p, &bdseq) || bdseq != node->bdseq) {
			count(st, "stale_ndeath");
			break;
		}
		node->self.born = false;
		node->last_seq = -1;
		emit_death(t.node, t.node_len, OEED_MS_NONE, emit, emit_ctx);
		for (size_t i = 0; i < SPB_MAX_DEVICES; i++) {
			struct spb_entity *d = &node->devices[i];
			if (!d->used)
				continue;
			d->born = false;
			emit_death(d->id, strlen(d->id), OEED_MS_NONE, emit, emit_ctx);
		}
		break;
	}
	case T_DDEATH:
		if (dev)
			dev->born = false;
		emit_death(t.device, t.device_len,
			   p->has_timestamp ? ms_of(p->timestamp) : OEED_MS_NONE, emit, emit_ctx);
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
