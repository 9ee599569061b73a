/* plugin.h - the decoder plugin ABI. A decoder turns one MQTT payload into values
 * (signal + number or string, optional event time, optional machine override). Decoders are
 * pure: no I/O, no clock, no logging; errors come back with a byte offset.
 *
 * Each plugin exports one symbol, `oeed_decoder_entry`, returning a struct that starts with
 * abi_version. The host refuses a plugin whose abi_version it does not know. Built-in
 * decoders are linked statically and found by name through plugin_find(); the same struct is
 * what a dlopen()ed plugin would export. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "config.h"

/* 2: oeed_value carries tags; the host's count() takes a detail (who, what). */
#define OEED_DECODER_ABI 2

enum oeed_value_kind { VAL_NONE = 0, VAL_NUM, VAL_STR, VAL_BOOL };

/* A tag a decoder adds to the machine (Sparkplug: group, node). Valid during the emit call. */
struct oeed_tag {
	const char *key; /* terminated */
	const char *value;
	size_t value_len;
};

struct oeed_value {
	enum oeed_signal signal;
	enum oeed_value_kind kind;
	double num;	 /* VAL_NUM, VAL_BOOL (0/1) */
	const char *str; /* VAL_STR: not NUL-terminated, valid during the emit call only */
	size_t len;
	oeed_ms ts_ms;	     /* event time from the payload, OEED_MS_NONE when it has none */
	const char *machine; /* NULL: the machine named by the topic; else an override (valid
				during the emit call only), e.g. a Sparkplug device */
	size_t machine_len;
	const struct oeed_tag *tags; /* with a machine override: tags besides the topic's */
	size_t n_tags;
};

/* Called once per decoded value, in payload order. */
typedef void (*oeed_emit_fn)(void *ctx, const struct oeed_value *v);

struct oeed_decode_error {
	size_t offset; /* byte offset into the payload where it went wrong */
	char msg[160];
};

/* What the host tells the decoder about the message. */
struct oeed_msg {
	const char *topic;
	size_t topic_len;
	const uint8_t *payload;
	size_t len;
	oeed_ms rx_ms; /* receive time */
};

/* Host services a decoder may use (Sparkplug asks for a rebirth). May be NULL members. */
struct oeed_decoder_host {
	void *ctx;
	/* Ask the host to publish `payload` to `topic` (QoS 0). Rate-limited by the host. */
	int (*publish)(void *ctx, const char *topic, const void *payload, size_t len);
	/* Count a protocol irregularity by name ("seq_gap", "unknown_alias", ...); detail
	 * (may be NULL) says where, e.g. "group G node N1 device D1: seq 5, expected 3". The
	 * host counts it (self-metric protocol_notices) and logs it, rate-limited. */
	void (*count)(void *ctx, const char *what, const char *detail);
};

struct oeed_decoder {
	uint32_t abi_version; /* OEED_DECODER_ABI */
	const char *name;
	/* Validates the source's decoder-specific settings (fields paths, ...) and builds the
	 * decoder state. Returns 0 or -EINVAL with err->msg naming the problem. */
	int (*create)(const struct oeed_source *src, const struct oeed_decoder_host *host,
		      void **ret_state, struct oeed_decode_error *err);
	void (*destroy)(void *state);
	/* Returns 0 (values emitted; zero values is fine), or -EBADMSG/-EINVAL with err set.
	 * Values emitted before an error stand. */
	int (*decode)(void *state, const struct oeed_msg *msg, oeed_emit_fn emit, void *emit_ctx,
		      struct oeed_decode_error *err);
};

typedef const struct oeed_decoder *(*oeed_decoder_entry_fn)(void);

/* The built-in decoder called `name`, or NULL. */
const struct oeed_decoder *plugin_find(const char *name);
/* Names of all built-in decoders, NULL-terminated. */
const char *const *plugin_names(void);
/* Calls `entry` and checks what it returns: 0 and *ret, -ENOTSUP for an abi_version other than
 * OEED_DECODER_ABI, -EINVAL for a NULL decoder, a missing function or a name other than
 * `name` (NULL: any name). plugin_find() uses it; so would a dlopen() loader. */
int plugin_check_entry(oeed_decoder_entry_fn entry, const char *name,
		       const struct oeed_decoder **ret);

/* Shared by decoders: fills err (offset and message) and returns r. */
int plugin_error(struct oeed_decode_error *err, size_t offset, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Shared by decoders: parse an event time. Numbers are epoch seconds, ms, us or ns, chosen
 * by magnitude; strings are ISO 8601 / RFC 3339 ("2026-11-22T10:00:00.250Z", "+01:00", "+0100",
 * "+01" offsets, "," fractions, no seconds); a string without an offset is -EDOM. Returns 0 and
 * *ret_ms, or -EINVAL. */
int plugin_parse_time_num(double v, oeed_ms *ret_ms);
int plugin_parse_time_str(const char *s, size_t len, oeed_ms *ret_ms);
/* A time zone for timestamps without an offset (the source's timestamp_zone); reads the zone
 * file once (create time). */
struct plugin_zone;
int plugin_zone_new(const char *name, struct plugin_zone **ret, struct oeed_decode_error *err);
void plugin_zone_free(struct plugin_zone *z);
/* As plugin_parse_time_str, with ISO 8601's forms (+01, +0100, +01:00, ',' fractions, no
 * seconds); a time without an offset is read in `zone`, or is -EDOM when zone is NULL. */
int plugin_parse_time_zone(const char *s, size_t len, const struct plugin_zone *zone,
			   oeed_ms *ret_ms);
/* Length of the longest valid UTF-8 (RFC 3629) prefix of s: n when all of it is valid, else
 * the offset of the first bad byte. Strings that reach line protocol must pass. */
size_t plugin_utf8_valid(const uint8_t *s, size_t n);
