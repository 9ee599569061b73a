/* decoder_check.h - shared by the decoder fuzzers: checks every value a decoder emits against
 * the plugin.h contract (known signal and kind, readable UTF-8 strings of bounded length,
 * finite numbers, sane timestamps, machine overrides inside the topic) and aborts on the first
 * violation so libFuzzer records the input. */
#pragma once
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "plugin.h"

struct check_ctx {
	const struct oeed_msg *msg;
	unsigned signals_allowed; /* bit per enum oeed_signal the source can emit */
	unsigned signals_seen;
	bool once_per_signal;	 /* json: at most one value per signal, in signal order */
	bool machine_from_topic; /* sparkplug: overrides point into the topic */
	bool allow_nonfinite;	 /* sparkplug carries IEEE floats from the wire as they are */
	size_t str_max;		 /* longest string that is not a copy of payload bytes */
	int last_signal;
	size_t n_values;
	unsigned sink; /* every string byte is read into this, so ASan sees each access */
};

static inline void check_fail(const struct check_ctx *c, const struct oeed_value *v,
			      const char *what)
{
	fprintf(stderr, "bad value #%zu (signal %d kind %d len %zu): %s\n", c->n_values,
		(int)v->signal, (int)v->kind, v->len, what);
	abort();
}

static inline bool points_into(const void *p, size_t len, const void *base, size_t base_len)
{
	const char *a = p, *b = base;
	return a >= b && len <= base_len && (size_t)(a - b) <= base_len - len;
}

static inline void check_value(void *ctx, const struct oeed_value *v)
{
	struct check_ctx *c = ctx;

	if (v->signal <= SIG_NONE || v->signal >= SIG__COUNT || v->signal == SIG_TIMESTAMP)
		check_fail(c, v, "signal out of range");
	if (!(c->signals_allowed & (1u << v->signal)))
		check_fail(c, v, "signal the source does not configure");
	if (c->once_per_signal) {
		if ((int)v->signal <= c->last_signal)
			check_fail(c, v, "signal repeated or out of signal order");
		c->last_signal = (int)v->signal;
	}
	c->signals_seen |= 1u << v->signal;
	switch (v->kind) {
	case VAL_NONE:
		if (v->signal != SIG_CYCLE && v->signal != SIG_DEATH)
			check_fail(c, v, "VAL_NONE for a signal that needs a value");
		break;
	case VAL_NUM:
		if (!c->allow_nonfinite && !isfinite(v->num))
			check_fail(c, v, "number not finite");
		break;
	case VAL_BOOL:
		if (v->num != 0 && v->num != 1)
			check_fail(c, v, "boolean not 0 or 1");
		break;
	case VAL_STR:
		if (!v->str)
			check_fail(c, v, "NULL string");
		if (!points_into(v->str, v->len, c->msg->payload, c->msg->len) &&
		    v->len > OEED_MAX(c->str_max, c->msg->len))
			check_fail(c, v, "string longer than the payload");
		for (size_t i = 0; i < v->len; i++)
			c->sink += (unsigned char)v->str[i];
		if (plugin_utf8_valid((const uint8_t *)v->str, v->len) != v->len)
			check_fail(c, v, "string is not valid UTF-8");
		break;
	default:
		check_fail(c, v, "kind out of range");
	}
	if (v->ts_ms != OEED_MS_NONE && v->ts_ms < 0)
		check_fail(c, v, "negative event time");
	if (v->machine) {
		if (!c->machine_from_topic)
			check_fail(c, v, "machine override from a decoder without one");
		if (v->machine_len == 0)
			check_fail(c, v, "empty machine override");
		/* From the topic, or a device id the decoder kept (at most 63 bytes). */
		if (!points_into(v->machine, v->machine_len, c->msg->topic, c->msg->topic_len) &&
		    v->machine_len > 63)
			check_fail(c, v, "machine override neither from the topic nor an id");
		for (size_t i = 0; i < v->machine_len; i++)
			c->sink += (unsigned char)v->machine[i];
	}
	c->n_values++;
}

/* After decode(): the error offset lies within the payload (or just past it). */
static inline void check_result(const struct oeed_msg *msg, int r,
				const struct oeed_decode_error *err)
{
	if (r == 0)
		return;
	if (r != -EBADMSG && r != -EINVAL) {
		fprintf(stderr, "decode returned %d\n", r);
		abort();
	}
	if (err->offset > msg->len) {
		fprintf(stderr, "error offset %zu beyond payload length %zu: %s\n", err->offset,
			msg->len, err->msg);
		abort();
	}
	if (!memchr(err->msg, '\0', sizeof(err->msg)) || err->msg[0] == '\0') {
		fprintf(stderr, "error without a message\n");
		abort();
	}
}
