/* decoder_json.c - the "json" decoder (cJSON). create() compiles the source's `fields:` paths
 * ("$.a.b[2]", "$.parts", "$['key with space']", "$" = the whole payload) into step lists once;
 * a source with `signal:` and no path for it reads the whole payload ("RUNNING", 42).
 *
 * Per message, values are emitted in signal order (state, total, good, reject, cycle):
 *   state:  a string as is; a number as its shortest text ("1", "2.5"); a boolean as "true" or
 *           "false". Always VAL_STR, so the map can key it.
 *   total, good, reject: VAL_NUM from a number or a numeric string ("42").
 *   cycle:  VAL_NUM (duration in seconds) from a number or numeric string; `true` is one cycle
 *           without a duration (VAL_NONE, as the text decoder's empty payload); `false` none.
 *   null, a missing key or index, or a null on the way: nothing for that signal.
 * The `timestamp` path (epoch number or ISO 8601 string; without an offset in the source's
 * timestamp_zone) sets ts_ms of every value. A path step [?(@.id=="X")] picks the object of
 * an array whose `id` is X, wherever it stands.
 *
 * Values are collected first and emitted only when every value is good, so a wrong type
 * anywhere emits nothing. A timestamp that cannot be read is the exception: the values are
 * emitted at the receive time and the timestamp's error is returned after them.
 * The payload must be valid UTF-8 as a whole (RFC 8259 section 8.1; strings reach line
 * protocol), checked before parsing with the exact offset. Syntax errors carry cJSON's byte
 * offset; type errors name the path and carry offset 0 (cJSON keeps no positions). cJSON
 * refuses nesting deeper than CJSON_NESTING_LIMIT (1000) with a syntax error. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "decoders.h"
#include "plugin.h"

#define JSON_PATH_MAX_STEPS 32

struct json_step {
	const char *key; /* NULL: an array index or a filter */
	int index;
	/* [?(@.KEY==VALUE)]: the first object of an array whose KEY is the string (or number)
	 * VALUE, wherever it stands in the array (gateways reorder their tag lists) */
	const char *filter_key, *filter_str;
	double filter_num;
	bool filter;
	size_t text_end; /* where this step ends in the path text, for messages */
};

struct json_path {
	char *text; /* as written, NULL when the signal has no path */
	char *keys; /* a copy of text with each key NUL-terminated in place */
	struct json_step step[JSON_PATH_MAX_STEPS];
	size_t n_steps;
};

struct json_state {
	struct json_path path[SIG__COUNT];
	struct plugin_zone *zone; /* timestamp_zone, NULL: a time without an offset is an error */
};

/* The config's names for `fields:` keys, for create() errors. */
static const char *const field_names[SIG__COUNT] = {
    [SIG_NONE] = "none",	   [SIG_STATE] = "state",   [SIG_TOTAL] = "total",
    [SIG_GOOD] = "good",	   [SIG_REJECT] = "reject", [SIG_CYCLE] = "cycle",
    [SIG_TIMESTAMP] = "timestamp", [SIG_DEATH] = "death",
};

/* Compiles `text` into p; returns 0 or -EINVAL/-ENOMEM with err set. Columns are 1-based. */
static int compile_path(const char *field, const char *text, struct json_path *p,
			struct oeed_decode_error *err)
{
	size_t i = 1, len = strlen(text);

	if (text[0] != '$')
		return plugin_error(err, 0, -EINVAL, "fields.%s: path '%s' must start with '$'",
				    field, text);
	p->text = strdup(text);
	p->keys = strdup(text);
	if (!p->text || !p->keys)
		return plugin_error(err, 0, -ENOMEM, "out of memory");

	while (i < len) {
		struct json_step *s = &p->step[p->n_steps];
		size_t start = i;

		if (p->n_steps == JSON_PATH_MAX_STEPS)
			return plugin_error(err, 0, -EINVAL,
					    "fields.%s: path '%s' has more than %d steps", field,
					    text, JSON_PATH_MAX_STEPS);
		if (text[i] == '.') {
			i++;
			while (i < len && text[i] != '.' && text[i] != '[')
				i++;
			if (i == start + 1)
				return plugin_error(
				    err, 0, -EINVAL,
				    "fields.%s: empty key in path '%s' at column %zu", field, text,
				    start + 2);
			s->key = p->keys + start + 1;
			p->keys[i] = '\0'; /* the next step's '.' or '[' stays readable in text */
		} else if (text[i] == '[' && text[i + 1] == '?') {
			/* [?(@.KEY==VALUE)] with VALUE a quoted string or a number */
			size_t k = i + 2, ks, ke;
			char *v;
			if (text[k] != '(' || text[k + 1] != '@' || text[k + 2] != '.')
				goto bad_filter;
			ks = k + 3;
			for (ke = ks; ke < len && text[ke] != '=' && text[ke] != ')'; ke++)
				if (text[ke] == '.' || text[ke] == '[')
					goto bad_filter;
			if (ke == ks || ke + 1 >= len || text[ke] != '=' || text[ke + 1] != '=')
				goto bad_filter;
			k = ke + 2;
			if (text[k] == '"' || text[k] == '\'') {
				const char *q = strchr(text + k + 1, text[k]);
				if (!q)
					goto bad_filter;
				s->filter_str = p->keys + k + 1;
				p->keys[q - text] = '\0';
				k = (size_t)(q - text) + 1;
			} else {
				double num = strtod(text + k, &v);
				if (v == text + k || !isfinite(num))
					goto bad_filter;
				s->filter_num = num;
				k = (size_t)(v - text);
			}
			if (text[k] != ')' || text[k + 1] != ']')
				goto bad_filter;
			s->filter_key = p->keys + ks;
			p->keys[ke] = '\0';
			s->filter = true;
			s->key = NULL;
			i = k + 2;
		} else if (text[i] == '[' && (text[i + 1] == '\'' || text[i + 1] == '"')) {
			const char *q = strchr(text + i + 2, text[i + 1]);

			if (!q || q[1] != ']')
				return plugin_error(
				    err, 0, -EINVAL,
				    "fields.%s: unterminated [%c in path '%s' at column "
				    "%zu",
				    field, text[i + 1], text, i + 1);
			s->key = p->keys + i + 2;
			p->keys[q - text] = '\0';
			i = (size_t)(q - text) + 2;
		} else if (text[i] == '[') {
			int v = 0;

			i++;
			while (i < len && text[i] >= '0' && text[i] <= '9' && i - start <= 9)
				v = v * 10 + (text[i++] - '0');
			if (i == start + 1 || i >= len || text[i] != ']')
				return plugin_error(
				    err, 0, -EINVAL,
				    "fields.%s: bad index in path '%s' at column %zu", field, text,
				    start + 1);
			i++;
			s->key = NULL;
			s->index = v;
		} else {
			return plugin_error(err, 0, -EINVAL,
					    "fields.%s: unexpected '%c' in path '%s' at column %zu",
					    field, text[i], text, i + 1);
		}
		s->text_end = i;
		p->n_steps++;
		continue;
	bad_filter:
		return plugin_error(err, 0, -EINVAL,
				    "fields.%s: bad filter in path '%s' at column %zu (use "
				    "[?(@.id==\"NAME\")] or [?(@.id==42)])",
				    field, text, start + 1);
	}
	return 0;
}

static void json_destroy(void *state)
{
	struct json_state *st = state;

	if (!st)
		return;
	for (size_t i = 0; i < SIG__COUNT; i++) {
		free(st->path[i].text);
		free(st->path[i].keys);
	}
	plugin_zone_free(st->zone);
	free(st);
}

static int json_create(const struct oeed_source *src, const struct oeed_decoder_host *host,
		       void **ret_state, struct oeed_decode_error *err)
{
	struct json_state *st = calloc(1, sizeof(*st));
	bool any = false;
	int r = 0;

	if (!st)
		return plugin_error(err, 0, -ENOMEM, "out of memory");
	if (src->machine) {
		r = plugin_error(err, 0, -EINVAL,
				 "machine: only for sparkplug_b (the topic's {machine} names the "
				 "machine)");
		goto out_free;
	}
	for (int s = 0; s < SIG__COUNT; s++) {
		const char *text = src->fields[s];

		if (!text && s == (int)src->signal && s != SIG_NONE)
			text = "$";
		if (!text)
			continue;
		if (s == SIG_NONE || s == SIG_DEATH) {
			r = plugin_error(err, 0, -EINVAL,
					 "fields.%s: not a signal decoder json reads",
					 field_names[s]);
			goto out_free;
		}
		r = compile_path(field_names[s], text, &st->path[s], err);
		if (r < 0)
			goto out_free;
		if (s != SIG_TIMESTAMP)
			any = true;
	}
	if (!any) {
		r = plugin_error(err, 0, -EINVAL,
				 "decoder json needs `fields:` with a signal path, or `signal:`");
		goto out_free;
	}
	if (src->timestamp_zone) {
		if (!src->fields[SIG_TIMESTAMP]) {
			r = plugin_error(err, 0, -EINVAL,
					 "timestamp_zone: needs a fields.timestamp path");
			goto out_free;
		}
		if ((r = plugin_zone_new(src->timestamp_zone, &st->zone, err)) < 0)
			goto out_free;
	}
	*ret_state = st;
	return 0;

out_free:
	json_destroy(st);
	return r;
}

static const char *type_name(const cJSON *n)
{
	if (cJSON_IsString(n))
		return "string";
	if (cJSON_IsNumber(n))
		return "number";
	if (cJSON_IsBool(n))
		return "boolean";
	if (cJSON_IsNull(n))
		return "null";
	if (cJSON_IsArray(n))
		return "array";
	return "object";
}

/* Follows p from root: 0 and *ret, 1 when a key or index is absent, -EBADMSG when a step meets
 * the wrong container type (err set). */
static int walk(const struct json_path *p, const cJSON *root, const cJSON **ret,
		struct oeed_decode_error *err)
{
	const cJSON *n = root;

	for (size_t i = 0; i < p->n_steps; i++) {
		const struct json_step *s = &p->step[i];
		size_t prefix = i ? p->step[i - 1].text_end : 1;

		if (cJSON_IsNull(n))
			return 1; /* {"a": null} has no $.a.b either */

		if (s->filter) {
			if (!cJSON_IsArray(n))
				return plugin_error(err, 0, -EBADMSG,
						    "%s: %.*s is %s %s, not an array", p->text,
						    (int)prefix, p->text,
						    cJSON_IsObject(n) ? "an" : "a", type_name(n));
			const cJSON *hit = NULL, *el;
			cJSON_ArrayForEach(el, n)
			{
				const cJSON *v =
				    cJSON_IsObject(el)
					? cJSON_GetObjectItemCaseSensitive(el, s->filter_key)
					: NULL;
				if (v &&
				    (s->filter_str
					 ? cJSON_IsString(v) &&
					       strcmp(v->valuestring, s->filter_str) == 0
					 : cJSON_IsNumber(v) && v->valuedouble == s->filter_num)) {
					hit = el;
					break;
				}
			}
			n = hit;
		} else if (s->key) {
			if (!cJSON_IsObject(n))
				return plugin_error(
				    err, 0, -EBADMSG, "%s: %.*s is %s %s, not an object", p->text,
				    (int)prefix, p->text,
				    cJSON_IsArray(n) || cJSON_IsObject(n) ? "an" : "a",
				    type_name(n));
			n = cJSON_GetObjectItemCaseSensitive(n, s->key);
		} else {
			if (!cJSON_IsArray(n))
				return plugin_error(
				    err, 0, -EBADMSG, "%s: %.*s is %s %s, not an array", p->text,
				    (int)prefix, p->text,
				    cJSON_IsArray(n) || cJSON_IsObject(n) ? "an" : "a",
				    type_name(n));
			n = cJSON_GetArrayItem(n, s->index);
		}
		if (!n)
			return 1;
	}
	*ret = n;
	return 0;
}

/* A numeric string: decimal notation only, all of it, finite. */
static bool numeric_string(const char *s, double *ret)
{
	char *end;
	double v;

	if (!((s[0] >= '0' && s[0] <= '9') || s[0] == '-' || s[0] == '+' || s[0] == '.'))
		return false;
	for (const char *c = s; *c; c++)
		if (!strchr("0123456789.eE+-", *c))
			return false;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || !isfinite(v))
		return false;
	*ret = v;
	return true;
}

/* The shortest text that reads back as v ("1", "2.5", "0.1"). */
static size_t number_text(double v, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%.15g", v);

	if (strtod(buf, NULL) != v)
		n = snprintf(buf, size, "%.17g", v);
	return (size_t)n;
}

/* Resolves the value of signal `sig` at node n into *v; returns 1 when there is none. */
static int value_of(enum oeed_signal sig, const struct json_path *p, const cJSON *n,
		    struct oeed_value *v, char *numbuf, size_t numbuf_size,
		    struct oeed_decode_error *err)
{
	if (cJSON_IsNull(n))
		return 1;
	/* cJSON reads 1e400 as infinity; numeric strings are held to the same rule. */
	if (cJSON_IsNumber(n) && !isfinite(n->valuedouble))
		return plugin_error(err, 0, -EBADMSG, "%s: number out of range", p->text);
	v->signal = sig;
	if (sig == SIG_STATE) {
		v->kind = VAL_STR;
		if (cJSON_IsString(n)) {
			v->str = n->valuestring;
			v->len = strlen(n->valuestring);
		} else if (cJSON_IsNumber(n)) {
			v->str = numbuf;
			v->len = number_text(n->valuedouble, numbuf, numbuf_size);
		} else if (cJSON_IsBool(n)) {
			v->str = cJSON_IsTrue(n) ? "true" : "false";
			v->len = strlen(v->str);
		} else {
			return plugin_error(err, 0, -EBADMSG,
					    "%s: expected a string, number or boolean, got %s",
					    p->text, type_name(n));
		}
		return 0;
	}
	if (sig == SIG_CYCLE && cJSON_IsBool(n)) {
		if (cJSON_IsFalse(n))
			return 1;
		v->kind = VAL_NONE;
		return 0;
	}
	v->kind = VAL_NUM;
	if (cJSON_IsNumber(n)) {
		v->num = n->valuedouble;
		return 0;
	}
	if (cJSON_IsString(n) && numeric_string(n->valuestring, &v->num))
		return 0;
	return plugin_error(err, 0, -EBADMSG, "%s: expected a number%s, got %s", p->text,
			    sig == SIG_CYCLE ? " or boolean" : "", type_name(n));
}

static int timestamp_of(const struct json_path *p, const struct plugin_zone *zone, const cJSON *n,
			oeed_ms *ret, struct oeed_decode_error *err)
{
	if (cJSON_IsNull(n))
		return 0;
	if (cJSON_IsNumber(n)) {
		if (plugin_parse_time_num(n->valuedouble, ret) < 0)
			return plugin_error(err, 0, -EBADMSG, "%s: not a valid epoch time",
					    p->text);
		return 0;
	}
	if (cJSON_IsString(n)) {
		int r = plugin_parse_time_zone(n->valuestring, strlen(n->valuestring), zone, ret);
		if (r == -EDOM)
			return plugin_error(
			    err, 0, -EBADMSG,
			    "%s: '%.40s' has no UTC offset (add Z or +01:00, or set "
			    "the source's timestamp_zone)",
			    p->text, n->valuestring);
		if (r < 0)
			return plugin_error(err, 0, -EBADMSG,
					    "%s: '%.40s' is not an ISO 8601 time or epoch number",
					    p->text, n->valuestring);
		return 0;
	}
	return plugin_error(err, 0, -EBADMSG, "%s: expected a number or string, got %s", p->text,
			    type_name(n));
}

static bool json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int json_decode(void *state, const struct oeed_msg *msg, oeed_emit_fn emit, void *emit_ctx,
		       struct oeed_decode_error *err)
{
	const struct json_state *st = state;
	const char *payload = (const char *)msg->payload, *end = NULL;
	size_t len = msg->len, valid, off;
	struct oeed_value vals[SIG__COUNT];
	size_t n_vals = 0;
	oeed_ms ts = OEED_MS_NONE;
	char numbuf[32];
	const cJSON *node;
	cJSON *root;
	int r = 0;

	/* Tolerate C strings sent with their terminator. */
	while (len > 0 && payload[len - 1] == '\0')
		len--;
	if (len == 0)
		return plugin_error(err, 0, -EBADMSG, "empty payload");
	valid = plugin_utf8_valid(msg->payload, len);
	if (valid != len)
		return plugin_error(err, valid, -EBADMSG, "invalid UTF-8 at byte %zu", valid);
	root = cJSON_ParseWithLengthOpts(payload, len, &end, false);
	if (!root) {
		off = end && end >= payload && end <= payload + len ? (size_t)(end - payload) : 0;
		return plugin_error(err, off, -EBADMSG, "invalid JSON at byte %zu", off);
	}
	for (off = (size_t)(end - payload); off < len && json_space(payload[off]); off++)
		;
	if (off != len) {
		r = plugin_error(err, off, -EBADMSG, "junk after the JSON value at byte %zu", off);
		goto out;
	}

	/* A timestamp that cannot be read fails that field only: the values still count, at
	 * the receive time, and the error is returned after them (counted and logged). */
	struct oeed_decode_error ts_err = {0};
	int ts_r = 0;
	if (st->path[SIG_TIMESTAMP].text) {
		ts_r = walk(&st->path[SIG_TIMESTAMP], root, &node, &ts_err);
		if (ts_r == 0)
			ts_r = timestamp_of(&st->path[SIG_TIMESTAMP], st->zone, node, &ts, &ts_err);
		if (ts_r < 0)
			ts = OEED_MS_NONE;
	}
	for (int s = SIG_STATE; s <= SIG_CYCLE; s++) {
		const struct json_path *p = &st->path[s];

		if (!p->text)
			continue;
		r = walk(p, root, &node, err);
		if (r == 0) {
			memset(&vals[n_vals], 0, sizeof(vals[n_vals]));
			r = value_of((enum oeed_signal)s, p, node, &vals[n_vals], numbuf,
				     sizeof(numbuf), err);
			if (r == 0)
				n_vals++;
		}
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < n_vals; i++) {
		vals[i].ts_ms = ts;
		emit(emit_ctx, &vals[i]);
	}
	r = 0;
	if (ts_r < 0) {
		*err = ts_err;
		r = ts_r;
	}
out:
	cJSON_Delete(root);
	return r;
}

static const struct oeed_decoder json_decoder = {
    .abi_version = OEED_DECODER_ABI,
    .name = "json",
    .create = json_create,
    .destroy = json_destroy,
    .decode = json_decode,
};

const struct oeed_decoder *decoder_json_entry(void)
{
	return &json_decoder;
}
