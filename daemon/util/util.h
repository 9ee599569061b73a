/* util.h - small shared helpers: time units, duration and size parsing, a growable byte
 * buffer for building output, and string helpers. No I/O, no clock reads. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* All times inside oeed are milliseconds since the Unix epoch (or durations in ms). */
typedef int64_t oeed_ms;
#define OEED_MS_NONE INT64_MIN /* "no timestamp" */

#define OEED_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define OEED_MIN(a, b)	   ((a) < (b) ? (a) : (b))
#define OEED_MAX(a, b)	   ((a) > (b) ? (a) : (b))

/* An error for the caller to show: "FILE:LINE:COLUMN: key.path: what is wrong", "output
 * influxdb-1: cannot open ...". Filled by the callee on failure only. */
#define OEED_ERR_MAX 512
struct oeed_error {
	char msg[OEED_ERR_MAX];
};

/* "500ms", "10s", "5m", "1h", "7d", also "1.5s", "0". Returns 0 or -EINVAL. */
int parse_duration_ms(const char *s, oeed_ms *ret_ms);
/* "64KiB", "256MiB", "1GiB", "1000", "10kB", "5MB". Returns 0 or -EINVAL. */
int parse_size_bytes(const char *s, uint64_t *ret_bytes);
/* Formats a duration the way the config accepts it: "15m", "1h", "2500ms". */
void format_duration(oeed_ms ms, char *buf, size_t len);
/* Formats a size: "256MiB", "64KiB", "1000B". */
void format_size(uint64_t bytes, char *buf, size_t len);

/* A growable byte buffer. Grows only when output is built (never per message on the hot
 * path after warm-up: callers reset and reuse it). */
struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
	bool failed; /* an allocation failed; contents are truncated */
};
void strbuf_init(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);
void strbuf_reset(struct strbuf *sb);
int strbuf_reserve(struct strbuf *sb, size_t extra);
void strbuf_append(struct strbuf *sb, const char *s, size_t n);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_putc(struct strbuf *sb, char c);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* strdup that tolerates NULL. */
char *xstrdup(const char *s);
/* Bounded copy that always NUL-terminates; returns the source length. */
size_t strlcpy_oeed(char *dst, const char *src, size_t size);
