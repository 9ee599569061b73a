/* lineproto.c - InfluxDB line protocol encoder: escaping of names and strings, number
 * formatting, and building one line at a time into a caller's strbuf (hot path: no printf
 * except for floats, no allocation once the strbuf has grown).
 *
 * Backslashes in names (measurement, tag keys, tag values, field keys): InfluxDB 1.x keeps a
 * backslash that does not precede a special character literally and reads "x\\," as "x\"
 * plus an escaped comma, while VictoriaMetrics reads "\\" as one backslash and the comma as
 * a separator. To give both servers the same series, a run of backslashes is written as a
 * single backslash, and dropped entirely when it comes right before ',' ' ' '=' (after CR/LF
 * became spaces) or at the end of the name. So "a\\b" -> "a\b", "a\ b" -> "a\ b" (escaped
 * space, the backslash is gone) and "a\" -> "a".
 *
 * Measurement: empty (or only backslashes) is written as "_", and one starting with '#' or a
 * tab gets a "_" prefix, because InfluxDB 1.x skips lines starting with '#' as comments and
 * strips leading tabs. */
#include "lineproto.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum name_kind { NAME_MEASUREMENT, NAME_KEY };

static bool is_name_sep(char c)
{
	return c == ',' || c == ' ' || c == '=';
}

static bool needs_escape(enum name_kind kind, char c)
{
	return c == ',' || c == ' ' || (kind == NAME_KEY && c == '=');
}

static char map_crlf(char c)
{
	return (c == '\r' || c == '\n') ? ' ' : c;
}

/* True when escaping writes nothing (the name is empty or only backslashes). */
static bool name_is_empty(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != '\\')
			return false;
	return true;
}

static void escape_name(struct strbuf *sb, const char *s, size_t len, enum name_kind kind)
{
	/* Worst case every byte is escaped. */
	if (strbuf_reserve(sb, 2 * len) < 0)
		return;
	char *o = sb->buf + sb->len;
	size_t i = 0;
	while (i < len) {
		char c = map_crlf(s[i]);
		if (c == '\\') {
			size_t j = i;
			while (j < len && s[j] == '\\')
				j++;
			if (j < len && !is_name_sep(map_crlf(s[j])))
				*o++ = '\\';
			i = j;
			continue;
		}
		if (needs_escape(kind, c))
			*o++ = '\\';
		*o++ = c;
		i++;
	}
	sb->len = (size_t)(o - sb->buf);
	sb->buf[sb->len] = '\0';
}

void lp_escape_measurement(struct strbuf *sb, const char *s, size_t len)
{
	if (name_is_empty(s, len)) {
		strbuf_putc(sb, '_');
		return;
	}
	if (s[0] == '#' || s[0] == '\t')
		strbuf_putc(sb, '_');
	escape_name(sb, s, len, NAME_MEASUREMENT);
}

void lp_escape_key(struct strbuf *sb, const char *s, size_t len)
{
	escape_name(sb, s, len, NAME_KEY);
}

void lp_escape_string(struct strbuf *sb, const char *s, size_t len)
{
	if (strbuf_reserve(sb, 2 * len) < 0)
		return;
	char *o = sb->buf + sb->len;
	for (size_t i = 0; i < len; i++) {
		char c = map_crlf(s[i]);
		if (c == '"' || c == '\\')
			*o++ = '\\';
		*o++ = c;
	}
	sb->len = (size_t)(o - sb->buf);
	sb->buf[sb->len] = '\0';
}

static void put_int(struct strbuf *sb, int64_t v)
{
	char tmp[24];
	char *p = tmp + sizeof(tmp);
	/* Through uint64_t so INT64_MIN negates without overflow. */
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	strbuf_append(sb, p, (size_t)(tmp + sizeof(tmp) - p));
}

void lp_format_double(struct strbuf *sb, double v)
{
	char buf[40];
	if (v == 0) {
		/* Also for -0.0: the sign of a zero KPI carries no meaning. */
		strbuf_putc(sb, '0');
		return;
	}
	if (v == floor(v) && fabs(v) < 1e15) {
		put_int(sb, (int64_t)v); /* exact; no 'i', so InfluxDB still reads a float */
		return;
	}
	static const char *const fmts[] = {"%.15g", "%.16g", "%.17g"};
	int n = 0;
	for (size_t k = 0; k < OEED_ARRAY_SIZE(fmts); k++) {
		n = snprintf(buf, sizeof(buf), fmts[k], v);
		if (strtod(buf, NULL) == v)
			break; /* %.17g always round-trips, so the loop ends with a valid form */
	}
	if (n > 0)
		strbuf_append(sb, buf, (size_t)n);
}

void lp_begin(struct lp_line *l, struct strbuf *sb, const char *measurement)
{
	l->sb = sb;
	l->start = sb->len;
	l->n_fields = 0;
	l->in_fields = false;
	lp_escape_measurement(sb, measurement, strlen(measurement));
}

void lp_tag_n(struct lp_line *l, const char *key, const char *value, size_t value_len)
{
	size_t klen = strlen(key);
	/* A tag after a field would be parsed as a broken field: dropped (caller bug). */
	if (l->in_fields || name_is_empty(key, klen) || name_is_empty(value, value_len))
		return;
	strbuf_putc(l->sb, ',');
	lp_escape_key(l->sb, key, klen);
	strbuf_putc(l->sb, '=');
	lp_escape_key(l->sb, value, value_len);
}

void lp_tag(struct lp_line *l, const char *key, const char *value)
{
	lp_tag_n(l, key, value, strlen(value));
}

/* Writes the separator and "key="; false when the key is empty (field skipped). */
static bool field_key(struct lp_line *l, const char *key)
{
	size_t klen = strlen(key);
	if (name_is_empty(key, klen))
		return false;
	strbuf_putc(l->sb, l->n_fields ? ',' : ' ');
	lp_escape_key(l->sb, key, klen);
	strbuf_putc(l->sb, '=');
	l->n_fields++;
	l->in_fields = true;
	return true;
}

void lp_field_float(struct lp_line *l, const char *key, double v)
{
	if (!isfinite(v))
		return;
	if (field_key(l, key))
		lp_format_double(l->sb, v);
}

/* Nine decimals through integer arithmetic: no printf on the hot path. Exact for values that
 * are whole milliseconds or micro-units; outside +-9e9 the shortest round-trip form is used. */
void lp_format_decimal9(struct strbuf *sb, double v)
{
	if (!(fabs(v) < 9e9)) {
		lp_format_double(sb, v);
		return;
	}
	int64_t scaled = llround(v * 1e9);
	if (scaled == 0) {
		strbuf_putc(sb, '0');
		return;
	}
	uint64_t u = scaled < 0 ? (uint64_t)0 - (uint64_t)scaled : (uint64_t)scaled;
	if (scaled < 0)
		strbuf_putc(sb, '-');
	put_int(sb, (int64_t)(u / 1000000000u));
	uint64_t frac = u % 1000000000u;
	if (!frac)
		return;
	char digits[10];
	int n = 9;
	while (frac % 10 == 0) {
		frac /= 10;
		n--;
	}
	digits[n] = '\0';
	for (int i = n - 1; i >= 0; i--) {
		digits[i] = (char)('0' + frac % 10);
		frac /= 10;
	}
	strbuf_putc(sb, '.');
	strbuf_append(sb, digits, (size_t)n);
}

void lp_field_decimal(struct lp_line *l, const char *key, double v)
{
	if (!isfinite(v))
		return;
	if (field_key(l, key))
		lp_format_decimal9(l->sb, v);
}

void lp_field_int(struct lp_line *l, const char *key, int64_t v)
{
	if (!field_key(l, key))
		return;
	put_int(l->sb, v);
	strbuf_putc(l->sb, 'i');
}

void lp_field_bool(struct lp_line *l, const char *key, bool v)
{
	if (field_key(l, key))
		strbuf_puts(l->sb, v ? "true" : "false");
}

void lp_field_str_n(struct lp_line *l, const char *key, const char *v, size_t len)
{
	if (!field_key(l, key))
		return;
	strbuf_putc(l->sb, '"');
	lp_escape_string(l->sb, v, len);
	strbuf_putc(l->sb, '"');
}

void lp_field_str(struct lp_line *l, const char *key, const char *v)
{
	lp_field_str_n(l, key, v, strlen(v));
}

bool lp_end(struct lp_line *l, oeed_ms ts_ms)
{
	struct strbuf *sb = l->sb;
	/* A line without fields is rejected by InfluxDB; a line cut short by an allocation
	 * failure would be garbage: both are taken back out of the buffer. */
	if (l->n_fields == 0 || sb->failed) {
		sb->len = l->start;
		if (sb->buf)
			sb->buf[sb->len] = '\0';
		return false;
	}
	if (ts_ms != OEED_MS_NONE) {
		strbuf_putc(sb, ' ');
		put_int(sb, ts_ms);
	}
	strbuf_putc(sb, '\n');
	if (sb->failed) {
		sb->len = l->start;
		sb->buf[sb->len] = '\0';
		return false;
	}
	return true;
}
