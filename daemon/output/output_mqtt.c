/* output_mqtt.c - the mqtt output (output_mqtt.h).
 *
 * A slot per machine, given on its first document and kept (queue_len slots, found by an
 * open-addressing table of the ids), holds the newest document; a FIFO of the slots that have
 * one waiting gives the order in which they go out. A newer document for a machine that still
 * waits replaces the older one in place (drop-oldest per machine, counted), so a slow broker
 * delays every machine alike and the broker always gets the newest state. Documents go out at
 * output_tick, on the main thread, until the publisher says it is busy or not connected. */
#include "output_mqtt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MQTT_OUT_DOC_MAX (256 * 1024) /* a larger document is refused (counted) */
#define MQTT_OUT_ID_MAX	 128

struct mqtt_slot {
	char id[MQTT_OUT_ID_MAX + 1];
	char *doc;
	size_t len, cap;
	bool waiting;
};

struct mqtt_output {
	char *name;
	char *topic_pre, *topic_post; /* around {machine} */
	int qos;
	bool retain;
	size_t max_inflight;
	struct output_publisher pub;
	bool has_pub;
	struct mqtt_slot *slots;
	size_t n_slots, max_slots;
	int32_t *index; /* slot + 1, 0 empty; index_size is a power of two */
	size_t index_size;
	size_t *fifo; /* waiting slots, a ring of max_slots */
	size_t head, n_waiting;
	char topic[1024];
	struct output_stats stats;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void mqtt_out_free(struct mqtt_output *q)
{
	for (size_t i = 0; q->slots && i < q->n_slots; i++)
		free(q->slots[i].doc);
	free(q->slots);
	free(q->index);
	free(q->fifo);
	free(q->topic_pre);
	free(q->topic_post);
	free(q->name);
	free(q);
}

static int mqtt_out_open(const struct oeed_output_conf *conf, const char *state_dir, void **ret,
			 struct oeed_error *err)
{
	(void)state_dir; /* nothing is kept: the broker retains the newest */
	struct mqtt_output *q = calloc(1, sizeof(*q));
	const char *v = conf->topic ? strstr(conf->topic, "{machine}") : NULL;
	if (!v) {
		snprintf(err->msg, sizeof(err->msg), "output %s: topic needs {machine}",
			 conf->name);
		free(q);
		return -EINVAL;
	}
	if (!q)
		goto oom;
	q->qos = conf->qos;
	q->retain = conf->retain;
	q->max_inflight = conf->max_inflight;
	q->max_slots = conf->queue_len;
	q->index_size = 1;
	while (q->index_size < q->max_slots * 2)
		q->index_size <<= 1;
	q->name = strdup(conf->name);
	q->topic_pre = strndup(conf->topic, (size_t)(v - conf->topic));
	q->topic_post = strdup(v + strlen("{machine}"));
	q->slots = calloc(q->max_slots, sizeof(*q->slots));
	q->index = calloc(q->index_size, sizeof(*q->index));
	q->fifo = calloc(q->max_slots, sizeof(*q->fifo));
	if (!q->name || !q->topic_pre || !q->topic_post || !q->slots || !q->index || !q->fifo)
		goto oom;
	q->stats.healthy = 1;
	*ret = q;
	return 0;
oom:
	snprintf(err->msg, sizeof(err->msg), "output %s: out of memory", conf->name);
	if (q)
		mqtt_out_free(q);
	return -ENOMEM;
}

/* The machine's slot, a new one on its first document; NULL when all are taken. */
static struct mqtt_slot *slot_for(struct mqtt_output *q, const char *id)
{
	size_t mask = q->index_size - 1;
	for (size_t h = hash_str(id) & mask;; h = (h + 1) & mask) {
		int32_t s = q->index[h];
		if (s == 0) {
			if (q->n_slots == q->max_slots)
				return NULL;
			struct mqtt_slot *sl = &q->slots[q->n_slots];
			snprintf(sl->id, sizeof(sl->id), "%s", id);
			q->index[h] = (int32_t)++q->n_slots;
			return sl;
		}
		if (strcmp(q->slots[s - 1].id, id) == 0)
			return &q->slots[s - 1];
	}
}

static int mqtt_out_machine(void *impl, const char *id, const char *doc, size_t len)
{
	struct mqtt_output *q = impl;
	struct mqtt_slot *sl = NULL;
	int r = 0;
	if (len > MQTT_OUT_DOC_MAX || strlen(id) > MQTT_OUT_ID_MAX) {
		r = -EMSGSIZE;
		snprintf(q->stats.last_error, sizeof(q->stats.last_error),
			 "machine %.60s: document of %zu bytes or id too long", id, len);
	} else if (!(sl = slot_for(q, id))) {
		r = -ENOSPC;
		snprintf(q->stats.last_error, sizeof(q->stats.last_error),
			 "machine %.60s: more machines than queue_len (%zu)", id, q->max_slots);
	} else if (sl->cap < len) {
		char *nd = realloc(sl->doc, len);
		if (!nd)
			r = -ENOMEM;
		else {
			sl->doc = nd;
			sl->cap = len;
		}
	}
	if (r < 0) {
		q->stats.messages_dropped++;
		return r;
	}
	memcpy(sl->doc, doc, len);
	sl->len = len;
	if (sl->waiting) {
		q->stats.messages_dropped++; /* the older one never went out */
		return 0;
	}
	sl->waiting = true;
	q->fifo[(q->head + q->n_waiting) % q->max_slots] = (size_t)(sl - q->slots);
	q->n_waiting++;
	return 0;
}

static void mqtt_out_send(struct mqtt_output *q)
{
	while (q->has_pub && q->n_waiting) {
		struct mqtt_slot *sl = &q->slots[q->fifo[q->head]];
		int n = snprintf(q->topic, sizeof(q->topic), "%s%s%s", q->topic_pre, sl->id,
				 q->topic_post);
		int r = n > 0 && (size_t)n < sizeof(q->topic)
			    ? q->pub.publish(q->pub.ctx, q->topic, sl->doc, sl->len, q->qos,
					     q->retain, q->max_inflight)
			    : -ENAMETOOLONG;
		if (r == -EAGAIN)
			return; /* the broker has not taken the earlier ones: wait */
		if (r == -ENOTCONN) {
			q->stats.healthy = 0;
			snprintf(q->stats.last_error, sizeof(q->stats.last_error),
				 "not connected to the broker");
			return;
		}
		if (r < 0) {
			q->stats.write_errors++;
			q->stats.messages_dropped++;
			snprintf(q->stats.last_error, sizeof(q->stats.last_error),
				 "publish on %.100s: %s", q->topic, strerror(-r));
		} else {
			q->stats.messages_published++;
			q->stats.healthy = 1;
		}
		sl->waiting = false;
		q->head = (q->head + 1) % q->max_slots;
		q->n_waiting--;
	}
}

static int mqtt_out_write(void *impl, const char *lines, size_t len)
{
	(void)impl; /* it publishes documents, not lines */
	(void)lines;
	(void)len;
	return 0;
}

static void mqtt_out_tick(void *impl, oeed_ms now)
{
	(void)now;
	mqtt_out_send(impl);
}

static void mqtt_out_get_stats(void *impl, struct output_stats *ret)
{
	struct mqtt_output *q = impl;
	*ret = q->stats;
	ret->messages_pending = q->n_waiting;
}

static void mqtt_out_set_publisher(void *impl, const struct output_publisher *pub)
{
	struct mqtt_output *q = impl;
	q->pub = *pub;
	q->has_pub = pub->publish != NULL;
}

static void mqtt_out_close(void *impl, oeed_ms timeout_ms)
{
	(void)timeout_ms; /* what the broker has not taken by now is superseded at the next start */
	mqtt_out_send(impl);
	mqtt_out_free(impl);
}

const struct output_ops mqtt_output_ops = {
    .type = "mqtt",
    .open = mqtt_out_open,
    .write = mqtt_out_write,
    .tick = mqtt_out_tick,
    .get_stats = mqtt_out_get_stats,
    .close = mqtt_out_close,
    .set_publisher = mqtt_out_set_publisher,
    .machine = mqtt_out_machine,
};
