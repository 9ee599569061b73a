/* decoder_text.c - the "text" decoder: the whole payload, trimmed of surrounding whitespace,
 * is the value of the source's one `signal:`.
 *   state: VAL_STR, the text as received (numbers too, "0", "1": the map keys them); it must
 *          be valid UTF-8 (it ends up in line protocol), 1..256 bytes.
 *   total, good, reject: VAL_NUM, a finite decimal number and nothing else.
 *   cycle: VAL_NUM (duration in seconds), or VAL_NONE for an empty payload (one cycle, no
 *          duration).
 * Trailing NUL bytes (C strings sent with their terminator) count as whitespace.
 * Payloads carry no time: ts_ms is OEED_MS_NONE. Errors give the byte offset in the payload. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "decoders.h"
#include "plugin.h"

#define TEXT_STATE_MAX	256
#define TEXT_NUMBER_MAX 63

struct text_state {
	enum oeed_signal signal;
};

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static int text_create(const struct oeed_source *src, const struct oeed_decoder_host *host,
		       void **ret_state, struct oeed_decode_error *err)
{
	struct text_state *st;

	if (src->machine)
		return plugin_error(
		    err, 0, -EINVAL,
		    "machine: only for sparkplug_b (the topic's {machine} names the "
		    "machine)");
	if (src->timestamp_zone)
		return plugin_error(err, 0, -EINVAL, "timestamp_zone: text payloads carry no time");
	switch (src->signal) {
	case SIG_STATE:
	case SIG_TOTAL:
	case SIG_GOOD:
	case SIG_REJECT:
	case SIG_CYCLE:
		break;
	default:
		return plugin_error(
		    err, 0, -EINVAL,
		    "decoder text needs signal: state, total, good, reject or cycle");
	}
	for (size_t i = 0; i < SIG__COUNT; i++)
		if (src->fields[i])
			return plugin_error(
			    err, 0, -EINVAL,
			    "decoder text takes no fields: (the payload is one value)");
	st = malloc(sizeof(*st));
	if (!st)
		return plugin_error(err, 0, -ENOMEM, "out of memory");
	st->signal = src->signal;
	*ret_state = st;
	return 0;
}

static void text_destroy(void *state)
{
	free(state);
}

static int text_decode(void *state, const struct oeed_msg *msg, oeed_emit_fn emit, void *emit_ctx,
		       struct oeed_decode_error *err)
{
	const struct text_state *st = state;
	const uint8_t *p = msg->payload;
	size_t start = 0, end = msg->len, n, valid;
	struct oeed_value v = {
	    .signal = st->signal,
	    .kind = VAL_NONE,
	    .ts_ms = OEED_MS_NONE,
	};
	char buf[TEXT_NUMBER_MAX + 1], *num_end;

	while (start < end && is_space(p[start]))
		start++;
	while (end > start && (is_space(p[end - 1]) || p[end - 1] == '\0'))
		end--;
	n = end - start;

	if (st->signal == SIG_STATE) {
		if (n == 0)
			return plugin_error(err, 0, -EBADMSG, "empty state");
		if (n > TEXT_STATE_MAX)
			return plugin_error(err, start + TEXT_STATE_MAX, -EBADMSG,
					    "state longer than %d bytes", TEXT_STATE_MAX);
		valid = plugin_utf8_valid(p + start, n);
		if (valid != n)
			return plugin_error(err, start + valid, -EBADMSG,
					    "invalid UTF-8 at byte %zu", start + valid);
		v.kind = VAL_STR;
		v.str = (const char *)p + start;
		v.len = n;
		emit(emit_ctx, &v);
		return 0;
	}

	if (n == 0) {
		if (st->signal != SIG_CYCLE)
			return plugin_error(err, 0, -EBADMSG, "empty payload, expected a number");
		emit(emit_ctx, &v); /* a cycle without a duration */
		return 0;
	}
	/* Only decimal notation: strtod alone would also take "inf", "nan" and hex. */
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[start + i];

		if ((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' ||
		    c == '-')
			continue;
		if (i == 0)
			return plugin_error(err, start, -EBADMSG, "expected a number at byte %zu",
					    start);
		return plugin_error(err, start + i, -EBADMSG, "junk after the number at byte %zu",
				    start + i);
	}
	if (n > TEXT_NUMBER_MAX)
		return plugin_error(err, start, -EBADMSG, "number longer than %d bytes",
				    TEXT_NUMBER_MAX);
	memcpy(buf, p + start, n);
	buf[n] = '\0';
	v.num = strtod(buf, &num_end);
	if (num_end == buf)
		return plugin_error(err, start, -EBADMSG, "expected a number at byte %zu", start);
	if ((size_t)(num_end - buf) != n)
		return plugin_error(err, start + (size_t)(num_end - buf), -EBADMSG,
				    "junk after the number at byte %zu",
				    start + (size_t)(num_end - buf));
	if (!isfinite(v.num))
		return plugin_error(err, start, -EBADMSG, "number out of range");
	v.kind = VAL_NUM;
	emit(emit_ctx, &v);
	return 0;
}

static const struct oeed_decoder text_decoder = {
    .abi_version = OEED_DECODER_ABI,
    .name = "text",
    .create = text_create,
    .destroy = text_destroy,
    .decode = text_decode,
};

const struct oeed_decoder *decoder_text_entry(void)
{
	return &text_decoder;
}
