/* lineproto.h - InfluxDB line protocol encoder with the escaping of the 1.x parser:
 * measurement: comma and space escaped; tag keys, tag values, field keys: comma, space,
 * equals; string field values: double quote and backslash. CR and LF are replaced by a space
 * everywhere (they cannot be carried in names and VictoriaMetrics splits strings on LF).
 * A trailing backslash in a name is dropped so it cannot escape the separator (more exactly:
 * a run of backslashes in a name is written as one, and dropped before ',' ' ' '=' or at the
 * end, so InfluxDB 1.x and VictoriaMetrics read the same name; see lineproto.c). Integers
 * carry the `i` suffix; NaN and infinities are never written (the field is skipped).
 * Timestamps are milliseconds (write with precision=ms). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "util.h"

struct lp_line {
	struct strbuf *sb;
	size_t start; /* where this line starts in sb */
	unsigned n_fields;
	bool in_fields;
};

/* Starts a line: writes the escaped measurement. */
void lp_begin(struct lp_line *l, struct strbuf *sb, const char *measurement);
/* Tags must all come before the first field. Empty keys or values are skipped (InfluxDB
 * rejects empty tag values). */
void lp_tag(struct lp_line *l, const char *key, const char *value);
void lp_tag_n(struct lp_line *l, const char *key, const char *value, size_t value_len);
void lp_field_float(struct lp_line *l, const char *key, double v); /* skipped if !finite */
/* A float rounded to 9 decimals ("0.755430439", "20390.904"), written without printf: for KPI
 * values, whose inputs are whole milliseconds. Skipped if !finite. */
void lp_field_decimal(struct lp_line *l, const char *key, double v);
void lp_format_decimal9(struct strbuf *sb, double v);
void lp_field_int(struct lp_line *l, const char *key, int64_t v);
void lp_field_bool(struct lp_line *l, const char *key, bool v);
void lp_field_str(struct lp_line *l, const char *key, const char *v);
void lp_field_str_n(struct lp_line *l, const char *key, const char *v, size_t len);
/* Ends the line with the timestamp (ms) and '\n'. A line without any field is removed from
 * the buffer (InfluxDB rejects it) and false is returned; so is a line when sb->failed is set.
 * ts_ms == OEED_MS_NONE writes no timestamp (the server's time). */
bool lp_end(struct lp_line *l, oeed_ms ts_ms);

/* Escaping primitives (exposed for tests and fuzzing). */
void lp_escape_measurement(struct strbuf *sb, const char *s, size_t len);
void lp_escape_key(struct strbuf *sb, const char *s, size_t len);    /* tag key/value, field key */
void lp_escape_string(struct strbuf *sb, const char *s, size_t len); /* field string body */
/* Floats are written with the shortest "%.17g"-exact form that round-trips ("0.975"). */
void lp_format_double(struct strbuf *sb, double v);
