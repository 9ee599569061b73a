/* ingest.c - see ingest.h */
#include "ingest.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "topic.h"

struct source_rt {
	const struct oeed_source *src;
	struct topic_template tmpl;
	const struct oeed_decoder *dec;
	void *dec_state;
	int default_map; /* index of the `default` map entry, -1 */
};

struct ingest {
	const struct oeed_config *cfg;
	struct engine *engine;
	struct source_rt *sources;
	size_t n_sources;
	struct ingest_stats stats;
};

/* Per-message context for the decoder's emit callback. */
struct emit_ctx {
	struct ingest *in;
	struct source_rt *s;
	const struct topic_match *match;
	int topic_machine; /* engine index of the topic's machine, -1 none/unresolved */
	oeed_ms now;
	enum ingest_outcome rc;
	struct ingest_error *err;
	const char *topic;
	size_t topic_len;
};

int ingest_new(const struct oeed_config *cfg, struct engine *e,
	       const struct oeed_decoder_host *host, struct ingest **ret, struct oeed_error *err)
{
	struct ingest *in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->cfg = cfg;
	in->engine = e;
	in->sources = calloc(cfg->n_sources ? cfg->n_sources : 1, sizeof(struct source_rt));
	if (!in->sources) {
		free(in);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->n_sources; i++) {
		struct source_rt *s = &in->sources[i];
		char msg[200];
		s->src = &cfg->sources[i];
		s->default_map = -1;
		for (size_t k = 0; k < s->src->n_map; k++)
			if (strcmp(s->src->map[k].raw, "default") == 0)
				s->default_map = (int)k;
		if (topic_template_parse(s->src->topic, &s->tmpl, msg, sizeof(msg)) < 0) {
			snprintf(err->msg, sizeof(err->msg), "sources[%zu].topic: %s", i, msg);
			in->n_sources = i;
			ingest_free(in);
			return -EINVAL;
		}
		s->dec = plugin_find(s->src->decoder);
		struct oeed_decode_error derr = {0};
		int r = s->dec ? s->dec->create(s->src, host, &s->dec_state, &derr) : -ENOENT;
		if (r < 0) {
			snprintf(err->msg, sizeof(err->msg), "sources[%zu].decoder %s: %s", i,
				 s->src->decoder, s->dec ? derr.msg : "unknown decoder");
			topic_template_free(&s->tmpl);
			in->n_sources = i;
			ingest_free(in);
			return -EINVAL;
		}
		in->n_sources = i + 1;
	}
	*ret = in;
	return 0;
}

void ingest_free(struct ingest *in)
{
	if (!in)
		return;
	for (size_t i = 0; i < in->n_sources; i++) {
		if (in->sources[i].dec && in->sources[i].dec_state)
			in->sources[i].dec->destroy(in->sources[i].dec_state);
		topic_template_free(&in->sources[i].tmpl);
	}
	free(in->sources);
	free(in);
}

static const char *const outcome_names[INGEST__COUNT] = {
    "ok", "unmatched", "bad_topic", "decode_error", "bad_value", "unmapped", "machine_dropped"};

const char *ingest_outcome_name(enum ingest_outcome o)
{
	return (unsigned)o < INGEST__COUNT ? outcome_names[o] : "?";
}

/* The engine's view of the topic's tags (kept by a machine the first time it is seen). */
static size_t tag_slices(const struct topic_match *m, struct engine_tag_slice *ret)
{
	for (size_t i = 0; i < m->n_tags; i++) {
		ret[i].key = m->tag[i].key;
		ret[i].value = m->tag[i].value;
		ret[i].value_len = m->tag[i].value_len;
	}
	return m->n_tags;
}

static void set_error(struct emit_ctx *c, enum ingest_outcome rc, const char *fmt,
		      const char *detail, size_t detail_len)
{
	c->rc = rc;
	if (!c->err)
		return;
	char d[96];
	size_t n = detail_len < sizeof(d) - 1 ? detail_len : sizeof(d) - 1;
	memcpy(d, detail, n);
	d[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)d[i] < 0x20)
			d[i] = '?';
	snprintf(c->err->msg, sizeof(c->err->msg), "topic '%.*s': %s '%s'",
		 (int)(c->topic_len > 120 ? 120 : c->topic_len), c->topic, fmt, d);
}

static int resolve_machine(struct emit_ctx *c, const struct oeed_value *v)
{
	if (v->machine) {
		struct engine_tag_slice tags[OEED_MAX_TEMPLATE_VARS + 2];
		size_t n = tag_slices(c->match, tags);
		/* The decoder's tags (Sparkplug group, node) replace topic tags of the same key. */
		for (size_t i = 0; i < v->n_tags && i < 2; i++) {
			size_t k = 0;
			while (k < n && strcmp(tags[k].key, v->tags[i].key) != 0)
				k++;
			tags[k].key = v->tags[i].key;
			tags[k].value = v->tags[i].value;
			tags[k].value_len = v->tags[i].value_len;
			if (k == n)
				n++;
		}
		int m = engine_machine(c->in->engine, v->machine, v->machine_len, tags, n);
		if (m >= 0)
			engine_seen(c->in->engine, m, c->now);
		return m;
	}
	return c->topic_machine;
}

static void on_value(void *ctx, const struct oeed_value *v)
{
	struct emit_ctx *c = ctx;
	struct engine *e = c->in->engine;
	int m = resolve_machine(c, v);
	engine_source_lateness(e, c->s->src->max_lateness_ms);
	if (m < 0) {
		if (m == -ENOSPC) {
			c->in->stats.dropped++;
			set_error(c, INGEST_MACHINE_DROPPED,
				  "machines.max reached, dropped machine", v->machine,
				  v->machine_len);
		} else if (m == -EINVAL && v->machine) {
			/* an id the engine cannot hold (empty, or longer than ENGINE_ID_MAX) */
			c->in->stats.bad_values++;
			set_error(c, INGEST_BAD_VALUE,
				  "machine id empty or longer than 128 bytes, value dropped:",
				  v->machine, v->machine_len);
		}
		return;
	}
	switch (v->signal) {
	case SIG_STATE: {
		char num[32];
		const char *raw = v->str;
		size_t len = v->len;
		if (v->kind == VAL_NUM) {
			len = (size_t)snprintf(num, sizeof(num), "%.15g", v->num);
			raw = num;
		} else if (v->kind == VAL_BOOL) {
			raw = v->num != 0 ? "true" : "false";
			len = strlen(raw);
		} else if (v->kind != VAL_STR) {
			c->in->stats.bad_values++;
			set_error(c, INGEST_BAD_VALUE, "state is not a string, number or boolean",
				  "", 0);
			return;
		}
		const struct oeed_source *src = c->s->src;
		const struct oeed_map_entry *me = NULL;
		for (size_t i = 0; i < src->n_map; i++)
			if (strlen(src->map[i].raw) == len &&
			    memcmp(src->map[i].raw, raw, len) == 0) {
				me = &src->map[i];
				break;
			}
		if (!me && src->n_map == 0) {
			/* no map: the raw state must be a category name itself */
			enum oeed_category cat;
			if (category_parse(raw, len, &cat) == 0) {
				engine_state(e, m, v->ts_ms, c->now, cat, raw, len, "");
				return;
			}
		}
		if (!me && c->s->default_map >= 0)
			me = &src->map[c->s->default_map];
		if (!me) {
			c->in->stats.unmapped++;
			set_error(c, INGEST_UNMAPPED, "state not in the source's map:", raw, len);
			return;
		}
		engine_state(e, m, v->ts_ms, c->now, me->category, raw, len, me->reason);
		return;
	}
	case SIG_TOTAL:
	case SIG_GOOD:
	case SIG_REJECT:
		if (v->kind != VAL_NUM || !isfinite(v->num) || v->num < 0) {
			c->in->stats.bad_values++;
			set_error(c, INGEST_BAD_VALUE,
				  "count is not a non-negative number:", v->str ? v->str : "",
				  v->str ? v->len : 0);
			return;
		}
		engine_count(e, m, v->ts_ms, c->now,
			     v->signal == SIG_TOTAL  ? CNT_TOTAL
			     : v->signal == SIG_GOOD ? CNT_GOOD
						     : CNT_REJECT,
			     v->num, c->s->src->counts);
		return;
	case SIG_CYCLE:
		if (v->kind == VAL_NUM && (!isfinite(v->num) || v->num < 0)) {
			c->in->stats.bad_values++;
			set_error(c, INGEST_BAD_VALUE, "cycle time is negative or not finite", "",
				  0);
			return;
		}
		engine_cycle(e, m, v->ts_ms, c->now, v->kind == VAL_NUM ? v->num : NAN,
			     c->s->src->cycle_counts);
		return;
	case SIG_DEATH:
		engine_death(e, m, v->ts_ms, c->now);
		return;
	default:
		return;
	}
}

enum ingest_outcome ingest_message(struct ingest *in, const char *topic, size_t topic_len,
				   const uint8_t *payload, size_t len, oeed_ms now,
				   struct ingest_error *err)
{
	in->stats.messages++;
	/* MQTT topics are UTF-8 without U+0000 (MQTT 3.1.1 section 4.7.3); only a corrupt
	 * recording breaks that, and its bytes would reach line protocol as machine id or tag. */
	size_t valid = plugin_utf8_valid((const uint8_t *)topic, topic_len);
	const char *nul = memchr(topic, '\0', valid);
	if (nul)
		valid = (size_t)(nul - topic);
	if (valid != topic_len) {
		in->stats.decode_errors++;
		if (err)
			snprintf(err->msg, sizeof(err->msg),
				 "topic '%.*s...': byte %zu is not valid UTF-8 or is NUL",
				 (int)(valid > 120 ? 120 : valid), topic, valid);
		return INGEST_BAD_TOPIC;
	}
	bool matched = false;
	enum ingest_outcome rc = INGEST_OK;
	for (size_t i = 0; i < in->n_sources; i++) {
		struct source_rt *s = &in->sources[i];
		struct topic_match match;
		if (!topic_template_match(&s->tmpl, topic, topic_len, &match))
			continue;
		matched = true;
		struct emit_ctx c = {.in = in,
				     .s = s,
				     .match = &match,
				     .topic_machine = -1,
				     .now = now,
				     .err = err,
				     .topic = topic,
				     .topic_len = topic_len};
		if (match.machine && match.machine_len) {
			struct engine_tag_slice tags[OEED_MAX_TEMPLATE_VARS];
			size_t n_tags = tag_slices(&match, tags);
			c.topic_machine = engine_machine(in->engine, match.machine,
							 match.machine_len, tags, n_tags);
			if (c.topic_machine == -EINVAL) {
				in->stats.bad_values++;
				rc = INGEST_BAD_VALUE;
				if (err)
					snprintf(err->msg, sizeof(err->msg),
						 "topic '%.*s': machine id longer than 128 bytes, "
						 "message dropped",
						 (int)(topic_len > 120 ? 120 : topic_len), topic);
				continue;
			}
			if (c.topic_machine == -ENOSPC) {
				in->stats.dropped++;
				rc = INGEST_MACHINE_DROPPED;
				if (err)
					snprintf(
					    err->msg, sizeof(err->msg),
					    "topic '%.*s': machine '%.*s' dropped: machines.max "
					    "(%zu) reached",
					    (int)(topic_len > 120 ? 120 : topic_len), topic,
					    (int)(match.machine_len > 64 ? 64 : match.machine_len),
					    match.machine, in->cfg->machines.max);
				continue;
			}
			if (c.topic_machine >= 0)
				engine_seen(in->engine, c.topic_machine, now); /* a sign of life */
		}
		struct oeed_msg msg = {.topic = topic,
				       .topic_len = topic_len,
				       .payload = payload,
				       .len = len,
				       .rx_ms = now};
		struct oeed_decode_error derr;
		derr.offset = 0;
		derr.msg[0] = '\0';
		int r = s->dec->decode(s->dec_state, &msg, on_value, &c, &derr);
		if (r < 0) {
			in->stats.decode_errors++;
			rc = INGEST_DECODE_ERROR;
			if (err)
				snprintf(err->msg, sizeof(err->msg),
					 "topic '%.*s': %s decoder: byte %zu: %s",
					 (int)(topic_len > 120 ? 120 : topic_len), topic,
					 s->dec->name, derr.offset, derr.msg);
		} else if (c.rc != INGEST_OK) {
			rc = c.rc;
		}
	}
	if (!matched) {
		in->stats.unmatched++;
		if (err)
			snprintf(err->msg, sizeof(err->msg), "topic '%.*s' matches no source",
				 (int)(topic_len > 120 ? 120 : topic_len), topic);
		return INGEST_UNMATCHED;
	}
	return rc;
}

size_t ingest_subscriptions(const struct ingest *in, const char **ret_filters, int *ret_qos,
			    size_t max)
{
	size_t n = 0;
	/* every source is looked at, so a later duplicate still raises a kept filter's QoS */
	for (size_t i = 0; i < in->n_sources; i++) {
		const char *f = in->sources[i].tmpl.subscription;
		int qos = in->sources[i].src->qos; /* resolved from mqtt.qos at load */
		bool dup = false;
		for (size_t j = 0; j < n; j++)
			if (strcmp(ret_filters[j], f) == 0) {
				dup = true;
				if (qos > ret_qos[j])
					ret_qos[j] = qos;
			}
		if (dup || n >= max)
			continue;
		ret_filters[n] = f;
		ret_qos[n] = qos;
		n++;
	}
	return n;
}

void ingest_get_stats(const struct ingest *in, struct ingest_stats *ret)
{
	*ret = in->stats;
}

void ingest_set_stats(struct ingest *in, const struct ingest_stats *s)
{
	in->stats = *s;
}
