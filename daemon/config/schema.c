/* schema.c - the generic config walker of schema.h: reading (types, bounds, defaults, unknown,
 * misplaced, missing and twice-set keys), printing, comparing, freeing and documenting a
 * section by its rows. Plus the loader's error reporting and scalar readers. */
#include "schema.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- loader: key path and errors ---- */

yaml_node_t *node_at(const struct loader *ld, int index)
{
	return yaml_document_get_node(ld->doc, index);
}

const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static size_t path_set(struct loader *ld, size_t old, int n)
{
	if (n < 0 || old + (size_t)n >= sizeof(ld->path))
		ld->plen = sizeof(ld->path) - 1; /* truncated: still names the place */
	else
		ld->plen = old + (size_t)n;
	return old;
}

size_t path_key(struct loader *ld, const char *key)
{
	size_t old = ld->plen;
	int n = snprintf(ld->path + old, sizeof(ld->path) - old, "%s%s", old ? "." : "", key);
	return path_set(ld, old, n);
}

size_t path_index(struct loader *ld, size_t i)
{
	size_t old = ld->plen;
	int n = snprintf(ld->path + old, sizeof(ld->path) - old, "[%zu]", i);
	return path_set(ld, old, n);
}

void path_pop(struct loader *ld, size_t old)
{
	ld->plen = old;
	ld->path[old] = '\0';
}

int vfail(struct loader *ld, const yaml_node_t *n, const char *fmt, va_list ap)
{
	char *msg = ld->err->msg;
	size_t size = sizeof(ld->err->msg);
	size_t line = n ? n->start_mark.line + 1 : 1;
	size_t col = n ? n->start_mark.column + 1 : 1;
	int off;

	if (ld->plen)
		off = snprintf(msg, size, "%s:%zu:%zu: %s: ", ld->name, line, col, ld->path);
	else
		off = snprintf(msg, size, "%s:%zu:%zu: ", ld->name, line, col);
	if (off >= 0 && (size_t)off < size)
		vsnprintf(msg + off, size - (size_t)off, fmt, ap);
	return -EINVAL;
}

int fail(struct loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vfail(ld, n, fmt, ap);
	va_end(ap);
	return r;
}

int fail_key(struct loader *ld, const yaml_node_t *m, const char *key, const char *fmt, ...)
{
	yaml_node_t *v = find_key(ld, m, key);
	size_t old = path_key(ld, key);
	va_list ap;
	va_start(ap, fmt);
	int r = vfail(ld, v ? v : m, fmt, ap);
	va_end(ap);
	path_pop(ld, old);
	return r;
}

int oom(struct loader *ld)
{
	snprintf(ld->err->msg, sizeof(ld->err->msg), "%s: out of memory", ld->name);
	return -ENOMEM;
}

/* How a node looks, for "expected X, got Y". */
static const char *describe(const yaml_node_t *n, char *buf, size_t len)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_SCALAR_NODE:
		snprintf(buf, len, "'%.60s'", sval(n));
		return buf;
	default:
		return "nothing";
	}
}

int fail_type(struct loader *ld, const yaml_node_t *n, const char *want)
{
	char buf[80];
	return fail(ld, n, "expected %s, got %s", want, describe(n, buf, sizeof(buf)));
}

/* YAML's null: an empty value, "~" or "null". A key with a null value counts as not given. */
bool is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *s = sval(n);
	return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
	       strcmp(s, "NULL") == 0;
}

static bool is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

void join_names(const char *const *names, size_t n, char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && off < len; i++) {
		int w = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", names[i]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

/* A mapping whose keys are strings without NUL and unique; first problem in document order. */
int check_mapping(struct loader *ld, const yaml_node_t *m)
{
	if (m->type != YAML_MAPPING_NODE)
		return fail_type(ld, m, "a mapping");
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_at(ld, p->key);
		if (k->type != YAML_SCALAR_NODE)
			return fail_type(ld, k, "a string key");
		if (strlen(sval(k)) != k->data.scalar.length)
			return fail(ld, k, "key contains a NUL byte");
		for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *kq = node_at(ld, q->key);
			if (kq->data.scalar.length == k->data.scalar.length &&
			    strcmp(sval(kq), sval(k)) == 0)
				return fail(ld, k, "duplicate key '%s'", sval(k));
		}
	}
	return 0;
}

yaml_node_t *find_key(const struct loader *ld, const yaml_node_t *m, const char *key)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_at(ld, p->key);
		if (k->type == YAML_SCALAR_NODE && strcmp(sval(k), key) == 0) {
			yaml_node_t *v = node_at(ld, p->value);
			return is_null(v) ? NULL : v;
		}
	}
	return NULL;
}

int expect_list(struct loader *ld, const yaml_node_t *n)
{
	return n->type == YAML_SEQUENCE_NODE ? 0 : fail_type(ld, n, "a list");
}

size_t list_len(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

yaml_node_t *list_item(const struct loader *ld, const yaml_node_t *n, size_t i)
{
	return node_at(ld, n->data.sequence.items.start[i]);
}

/* Records where the key now on the path was written (out of memory: not recorded, and the
 * checks after loading then name the file only). */
void record_pos(struct loader *ld, const yaml_node_t *v)
{
	struct oeed_config *cfg = ld->cfg;
	if (!cfg || !ld->doc || ld->name[0] == '(') /* defaults are not positions */
		return;
	if (cfg->n_pos == cfg->cap_pos) {
		size_t cap = cfg->cap_pos ? cfg->cap_pos * 2 : 32;
		struct oeed_config_pos *p = realloc(cfg->pos, cap * sizeof(*p));
		if (!p)
			return;
		cfg->pos = p;
		cfg->cap_pos = cap;
	}
	char *key = strdup(ld->path);
	if (!key)
		return;
	cfg->pos[cfg->n_pos++] = (struct oeed_config_pos){
	    .key = key,
	    .file = ld->name,
	    .line = (int)v->start_mark.line + 1,
	    .column = (int)v->start_mark.column + 1,
	};
}

/* ---- scalar readers: each checks the node and reports at it ---- */

int get_str(struct loader *ld, const yaml_node_t *n, char **dst)
{
	if (n->type != YAML_SCALAR_NODE)
		return fail_type(ld, n, "a string");
	if (strlen(sval(n)) != n->data.scalar.length)
		return fail(ld, n, "contains a NUL byte");
	if (!*sval(n))
		return fail(ld, n, "must not be empty");
	char *s = strdup(sval(n));
	if (!s)
		return oom(ld);
	free(*dst);
	*dst = s;
	return 0;
}

static int get_bool(struct loader *ld, const yaml_node_t *n, bool *dst)
{
	if (is_plain(n)) {
		const char *s = sval(n);
		if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
			*dst = true;
			return 0;
		}
		if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
			*dst = false;
			return 0;
		}
	}
	return fail_type(ld, n, "a boolean");
}

static int get_num(struct loader *ld, const yaml_node_t *n, double *dst)
{
	if (is_plain(n)) {
		const char *s = sval(n);
		/* decimal only: no hex floats, inf or nan */
		bool ok = *s && strspn(s, "0123456789+-.eE") == strlen(s);
		char *end;
		errno = 0;
		double v = ok ? strtod(s, &end) : 0;
		if (ok && !errno && *end == '\0' && isfinite(v)) {
			*dst = v;
			return 0;
		}
	}
	return fail_type(ld, n, "a number");
}

static int get_int(struct loader *ld, const yaml_node_t *n, long long min, long long max,
		   long long *dst)
{
	if (is_plain(n)) {
		const char *s = sval(n);
		bool ok = *s && strspn(s, "0123456789+-") == strlen(s);
		char *end;
		errno = 0;
		long long v = ok ? strtoll(s, &end, 10) : 0;
		if (ok && !errno && *end == '\0') {
			if (v < min || v > max)
				return fail(ld, n, "%lld out of range (%lld..%lld)", v, min, max);
			*dst = v;
			return 0;
		}
	}
	return fail_type(ld, n, "an integer");
}

int get_dur(struct loader *ld, const yaml_node_t *n, oeed_ms min, oeed_ms max, oeed_ms *dst)
{
	oeed_ms v;
	char a[32], b[32], c[32];
	if (n->type != YAML_SCALAR_NODE)
		return fail_type(ld, n, "a duration");
	if (parse_duration_ms(sval(n), &v) < 0)
		return fail(ld, n, "bad duration '%.60s' (use 500ms, 10s, 5m, 1h, 7d)", sval(n));
	if (v < min || v > max) {
		format_duration(v, a, sizeof(a));
		format_duration(min, b, sizeof(b));
		format_duration(max, c, sizeof(c));
		return fail(ld, n, "%s out of range (%s..%s)", a, b, c);
	}
	*dst = v;
	return 0;
}

static int get_size(struct loader *ld, const yaml_node_t *n, uint64_t min, uint64_t max,
		    uint64_t *dst)
{
	uint64_t v;
	char a[32], b[32], c[32];
	if (n->type != YAML_SCALAR_NODE)
		return fail_type(ld, n, "a size");
	if (parse_size_bytes(sval(n), &v) < 0)
		return fail(ld, n, "bad size '%.60s' (use 64KiB, 256MiB, 1GiB)", sval(n));
	if (v < min || v > max) {
		format_size(v, a, sizeof(a));
		format_size(min, b, sizeof(b));
		format_size(max, c, sizeof(c));
		return fail(ld, n, "%s out of range (%s..%s)", a, b, c);
	}
	*dst = v;
	return 0;
}

int get_choice_name(struct loader *ld, const yaml_node_t *n, const char *const *names,
		    size_t n_names, int *dst)
{
	char list[200];
	if (n->type != YAML_SCALAR_NODE)
		return fail_type(ld, n, "a string");
	for (size_t i = 0; i < n_names; i++)
		if (strcmp(sval(n), names[i]) == 0) {
			*dst = (int)i;
			return 0;
		}
	join_names(names, n_names, list, sizeof(list));
	return fail(ld, n, "bad value '%.60s' (use %s)", sval(n), list);
}

static size_t choice_names(const struct schema_choice *c, const char **names, size_t max)
{
	size_t n = 0;
	for (; c[n].name && n < max; n++)
		names[n] = c[n].name;
	return n;
}

static int get_choice(struct loader *ld, const yaml_node_t *n, const struct schema_choice *c,
		      int *dst)
{
	const char *names[32];
	size_t count = choice_names(c, names, 32);
	int i;
	int r = get_choice_name(ld, n, names, count, &i);
	if (r == 0)
		*dst = c[i].value;
	return r;
}

static const char *choice_name(const struct schema_choice *c, int value)
{
	for (; c->name; c++)
		if (c->value == value)
			return c->name;
	return "?";
}

/* ---- reading ---- */

#define FIELD(obj, k)  ((void *)((char *)(obj) + (k)->off))
#define CFIELD(obj, k) ((const void *)((const char *)(obj) + (k)->off))

static unsigned variant_of(const struct schema_section *sec, const void *obj)
{
	return sec->variant ? sec->variant(obj) : 1;
}

static bool applies(const struct schema_key *k, unsigned variant)
{
	return !k->variants || (k->variants & variant);
}

static const struct schema_key *row(const struct schema_section *sec, const char *key)
{
	for (size_t i = 0; i < sec->n_keys; i++)
		if (strcmp(sec->keys[i].key, key) == 0)
			return &sec->keys[i];
	return NULL;
}

static int read_scalar(struct loader *ld, const struct schema_key *k, const yaml_node_t *n,
		       void *obj)
{
	void *f = FIELD(obj, k);
	long long v = 0;
	int r;
	switch (k->type) {
	case ST_STR:
	case ST_PATH:
	case ST_SECRET:
		return get_str(ld, n, (char **)f);
	case ST_BOOL:
		return get_bool(ld, n, (bool *)f);
	case ST_INT:
	case ST_COUNT:
		r = get_int(ld, n, (long long)k->min, (long long)k->max, &v);
		if (r == 0 && k->type == ST_INT)
			*(int *)f = (int)v;
		else if (r == 0)
			*(size_t *)f = (size_t)v;
		return r;
	case ST_NUM: {
		double d = 0;
		r = get_num(ld, n, &d);
		if (r == 0 && k->min < k->max && (d < k->min || d > k->max))
			return fail(ld, n, "%g out of range (%g..%g)", d, k->min, k->max);
		if (r == 0)
			*(double *)f = d;
		return r;
	}
	case ST_DUR:
		return get_dur(ld, n, (oeed_ms)k->min, (oeed_ms)k->max, (oeed_ms *)f);
	case ST_SIZE:
		return get_size(ld, n, (uint64_t)k->min, (uint64_t)k->max, (uint64_t *)f);
	case ST_CHOICE:
		return get_choice(ld, n, k->choices, (int *)f);
	case ST_CUSTOM:
		return k->custom->read(ld, k, n, f, obj);
	case ST_MAP:
	case ST_LIST:
		break;
	}
	return -EINVAL;
}

/* Reads a default written as YAML text with the same code as the file. */
static int read_default(struct loader *ld, const struct schema_key *k, void *obj)
{
	yaml_parser_t p;
	yaml_document_t doc;
	int r = -EINVAL;
	if (!yaml_parser_initialize(&p))
		return oom(ld);
	yaml_parser_set_input_string(&p, (const unsigned char *)k->def, strlen(k->def));
	if (yaml_parser_load(&p, &doc)) {
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		const char *name = ld->name;
		yaml_document_t *saved = ld->doc;
		ld->name = "(default)";
		ld->doc = &doc;
		size_t old = path_key(ld, k->key);
		r = root ? read_scalar(ld, k, root, obj) : -EINVAL;
		path_pop(ld, old);
		ld->doc = saved;
		ld->name = name;
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&p);
	return r;
}

int schema_defaults(struct loader *ld, const struct schema_section *sec, void *obj,
		    const void *parent)
{
	(void)parent;
	for (size_t i = 0; i < sec->n_keys; i++) {
		const struct schema_key *k = &sec->keys[i];
		int r;
		if (k->def && k->type != ST_MAP && k->type != ST_LIST &&
		    (r = read_default(ld, k, obj)) < 0)
			return r;
	}
	return 0;
}

static void use_src(struct loader *ld, const struct schema_src *s)
{
	ld->doc = s->doc;
	ld->name = s->file;
}

/* "already set at FILE:L:C" for a key given in two files of a conf.d merge. */
static int fail_twice(struct loader *ld, const struct schema_src *first,
		      const struct schema_src *second, const char *key)
{
	use_src(ld, first);
	yaml_node_t *a = find_key(ld, first->node, key);
	size_t al = a->start_mark.line + 1, ac = a->start_mark.column + 1;
	use_src(ld, second);
	return fail_key(ld, second->node, key, "set twice: here and at %s:%zu:%zu", first->file, al,
			ac);
}

static int read_list(struct loader *ld, const struct schema_key *k, const struct schema_src *srcs,
		     size_t n_srcs, void *obj)
{
	void **items = (void **)FIELD(obj, k);
	size_t *count = (size_t *)((char *)obj + k->count_off);
	size_t total = *count;
	int r;
	for (size_t s = 0; s < n_srcs; s++) {
		use_src(ld, &srcs[s]);
		yaml_node_t *n = find_key(ld, srcs[s].node, k->key);
		if (!n)
			continue;
		size_t old = path_key(ld, k->key);
		if (total == *count)
			record_pos(ld, n); /* where the list starts (its first file) */
		r = expect_list(ld, n);
		if (r == 0 && k->max_items && total + list_len(n) > k->max_items)
			r = fail(ld, n, "more than %zu %s", k->max_items, k->key);
		path_pop(ld, old);
		if (r < 0)
			return r;
		total += list_len(n);
	}
	char *arr = realloc(*items, (total ? total : 1) * k->elem_size);
	if (!arr)
		return oom(ld);
	if (total > *count)
		memset(arr + *count * k->elem_size, 0, (total - *count) * k->elem_size);
	*items = arr;
	for (size_t s = 0; s < n_srcs; s++) {
		use_src(ld, &srcs[s]);
		yaml_node_t *n = find_key(ld, srcs[s].node, k->key);
		if (!n)
			continue;
		size_t old = path_key(ld, k->key);
		for (size_t i = 0; i < list_len(n); i++) {
			use_src(ld, &srcs[s]);
			struct schema_src item = {srcs[s].doc, srcs[s].file, list_item(ld, n, i)};
			size_t old_i = path_index(ld, *count);
			(*count)++; /* owned from here: freed with the config on failure */
			r = schema_read(ld, k->sub, &item, 1, arr + (*count - 1) * k->elem_size,
					obj);
			path_pop(ld, old_i);
			if (r < 0) {
				path_pop(ld, old);
				return r;
			}
		}
		path_pop(ld, old);
	}
	if (k->sub->check_list) {
		size_t old = path_key(ld, k->key);
		r = k->sub->check_list(ld, arr, *count, obj);
		path_pop(ld, old);
		if (r < 0)
			return r;
	}
	return 0;
}

static int read_key(struct loader *ld, const struct schema_section *sec, const struct schema_key *k,
		    const struct schema_src *srcs, size_t n_srcs, void *obj, unsigned variant)
{
	const struct schema_src *given = NULL;
	int r;

	if (k->type == ST_LIST)
		return read_list(ld, k, srcs, n_srcs, obj);
	if (k->type == ST_MAP) {
		struct schema_src sub[16];
		size_t n = 0;
		for (size_t s = 0; s < n_srcs; s++) {
			use_src(ld, &srcs[s]);
			yaml_node_t *v = find_key(ld, srcs[s].node, k->key);
			if (!v)
				continue;
			if (n && !(k->flags & SF_APPEND))
				return fail_twice(ld, given, &srcs[s], k->key);
			if (n == OEED_ARRAY_SIZE(sub))
				return fail(ld, v, "set in more than %zu files", n);
			sub[n++] = (struct schema_src){srcs[s].doc, srcs[s].file, v};
			if (n == 1)
				given = &srcs[s];
		}
		size_t old = path_key(ld, k->key);
		if (n) {
			use_src(ld, &sub[0]);
			record_pos(ld, sub[0].node);
		}
		r = schema_read(ld, k->sub, sub, n, FIELD(obj, k), obj);
		path_pop(ld, old);
		return r;
	}
	for (size_t s = 0; s < n_srcs; s++) {
		use_src(ld, &srcs[s]);
		if (!find_key(ld, srcs[s].node, k->key))
			continue;
		if (given)
			return fail_twice(ld, given, &srcs[s], k->key);
		given = &srcs[s];
	}
	if (!given) {
		if (k->required & variant) {
			use_src(ld, &srcs[0]);
			if ((k->flags & SF_SAY_VARIANT) && sec->variant_label)
				return fail(ld, srcs[0].node, "missing key '%s' (needed by %s)",
					    k->key, sec->variant_label(obj, k->required));
			return fail(ld, srcs[0].node, "missing key '%s'", k->key);
		}
		return 0;
	}
	use_src(ld, given);
	yaml_node_t *v = find_key(ld, given->node, k->key);
	size_t old = path_key(ld, k->key);
	record_pos(ld, v);
	r = read_scalar(ld, k, v, obj);
	path_pop(ld, old);
	return r;
}

int schema_read(struct loader *ld, const struct schema_section *sec, const struct schema_src *srcs,
		size_t n_srcs, void *obj, const void *parent)
{
	struct schema_src none = {ld->doc, ld->name, NULL};
	int r;

	if (sec->init)
		sec->init(obj, parent);
	if (!sec->skip_defaults && (r = schema_defaults(ld, sec, obj, parent)) < 0)
		return r;
	if (n_srcs == 0) {
		srcs = &none;
		n_srcs = 1;
	}
	/* a scalar form (record: true) */
	if (n_srcs == 1 && srcs[0].node && srcs[0].node->type != YAML_MAPPING_NODE && sec->scalar) {
		use_src(ld, &srcs[0]);
		if ((r = sec->scalar(ld, srcs[0].node, obj)) < 0)
			return r;
		return sec->check ? sec->check(ld, NULL, obj, parent) : 0;
	}
	/* every key known, in document order */
	for (size_t s = 0; s < n_srcs; s++) {
		const yaml_node_t *m = srcs[s].node;
		if (!m)
			continue;
		use_src(ld, &srcs[s]);
		if ((r = check_mapping(ld, m)) < 0)
			return r;
		for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
		     p < m->data.mapping.pairs.top; p++) {
			yaml_node_t *key = node_at(ld, p->key);
			if (!row(sec, sval(key)))
				return fail(ld, key, "unknown key '%s'", sval(key));
		}
	}
	for (size_t i = 0; i < sec->n_keys; i++)
		if ((sec->keys[i].flags & SF_DISCRIMINATOR) &&
		    (r = read_key(ld, sec, &sec->keys[i], srcs, n_srcs, obj, ~0u)) < 0)
			return r;
	unsigned variant = variant_of(sec, obj);
	/* keys of another variant are mistakes, not options to ignore */
	for (size_t s = 0; s < n_srcs; s++) {
		const yaml_node_t *m = srcs[s].node;
		if (!m)
			continue;
		use_src(ld, &srcs[s]);
		for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
		     p < m->data.mapping.pairs.top; p++) {
			yaml_node_t *key = node_at(ld, p->key);
			const struct schema_key *k = row(sec, sval(key));
			if (!applies(k, variant))
				return fail(ld, key, "key '%s' does not apply to %s", sval(key),
					    sec->variant_label
						? sec->variant_label(obj, k->variants)
						: "?");
		}
	}
	for (size_t i = 0; i < sec->n_keys; i++) {
		const struct schema_key *k = &sec->keys[i];
		if (k->type == ST_MAP && !applies(k, variant)) {
			/* not this variant's: its defaults still hold (and compare equal) */
			if ((r = schema_read(ld, k->sub, NULL, 0, FIELD(obj, k), obj)) < 0)
				return r;
			continue;
		}
		if ((k->flags & SF_DISCRIMINATOR) || !applies(k, variant))
			continue;
		if ((r = read_key(ld, sec, k, srcs, n_srcs, obj, variant)) < 0)
			return r;
	}
	if (sec->check) {
		use_src(ld, &srcs[0]);
		return sec->check(ld, srcs[0].node, obj, parent);
	}
	return 0;
}

/* ---- printing ---- */

static void put_num(FILE *out, double v)
{
	char buf[40];
	if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(buf, sizeof(buf), "%.0f", v);
	} else {
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(buf, sizeof(buf), "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
	}
	fputs(buf, out);
}

void schema_put_num(FILE *out, double v)
{
	put_num(out, v);
}

static bool plain_ok(const char *s, bool flow)
{
	static const char *const words[] = {"null", "true", "false", "yes", "no",
					    "on",   "off",  "y",     "n"};
	if (!*s || *s == '-' || *s == ':')
		return false;
	for (const char *p = s; *p; p++) {
		bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || strchr("_./-$+", *p) ||
			  (*p == ':' && !flow && p[1] && p[1] != ' ' && !(*s >= '0' && *s <= '9'));
		if (!ok)
			return false;
	}
	for (size_t i = 0; i < OEED_ARRAY_SIZE(words); i++)
		if (strcasecmp(s, words[i]) == 0)
			return false;
	return true;
}

void schema_put_str(FILE *out, const char *s, bool flow)
{
	if (plain_ok(s, flow)) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			fprintf(out, "\\%c", *p);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(out, "\\x%02x", *p);
		} else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			/* YAML reads U+0080..U+009F as control characters (U+0085 as a line
			 * break), U+2028/U+2029 as line breaks and U+FEFF as a BOM: escaped, they
			 * read back as they were. */
			fprintf(out, "\\x%02x", p[1]);
			p++;
		} else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
			fputs(p[2] == 0xa8 ? "\\u2028" : "\\u2029", out);
			p += 2;
		} else if (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
			fputs("\\ufeff", out);
			p += 2;
		} else {
			fputc(*p, out);
		}
	}
	fputc('"', out);
}

/* Unset optional values are left out of the printout. */
static bool scalar_is_set(const struct schema_key *k, const void *obj)
{
	const void *f = CFIELD(obj, k);
	switch (k->type) {
	case ST_STR:
	case ST_PATH:
	case ST_SECRET:
		return *(char *const *)f != NULL;
	case ST_INT:
	case ST_CHOICE:
		return !(k->flags & SF_OMIT_UNSET) || *(const int *)f != (int)k->unset;
	case ST_DUR:
		return !(k->flags & SF_OMIT_UNSET) || *(const oeed_ms *)f != (oeed_ms)k->unset;
	default:
		return true;
	}
}

/* Prints the value of a scalar row; false when unset (nothing printed). */
static bool print_scalar(FILE *out, const struct schema_key *k, const void *obj)
{
	const void *f = CFIELD(obj, k);
	char buf[40];
	switch (k->type) {
	case ST_STR:
	case ST_PATH:
	case ST_SECRET:
		if (!*(char *const *)f)
			return false;
		schema_put_str(out, *(char *const *)f, false);
		return true;
	case ST_BOOL:
		fputs(*(const bool *)f ? "true" : "false", out);
		return true;
	case ST_INT:
		if ((k->flags & SF_OMIT_UNSET) && *(const int *)f == (int)k->unset)
			return false;
		fprintf(out, "%d", *(const int *)f);
		return true;
	case ST_COUNT:
		fprintf(out, "%zu", *(const size_t *)f);
		return true;
	case ST_NUM:
		put_num(out, *(const double *)f);
		return true;
	case ST_DUR:
		if ((k->flags & SF_OMIT_UNSET) && *(const oeed_ms *)f == (oeed_ms)k->unset)
			return false;
		format_duration(*(const oeed_ms *)f, buf, sizeof(buf));
		fputs(buf, out);
		return true;
	case ST_SIZE:
		format_size(*(const uint64_t *)f, buf, sizeof(buf));
		fputs(buf, out);
		return true;
	case ST_CHOICE:
		if ((k->flags & SF_OMIT_UNSET) && *(const int *)f == (int)k->unset)
			return false;
		fputs(choice_name(k->choices, *(const int *)f), out);
		return true;
	default:
		return false;
	}
}

/* Prints obj's keys; the first line starts with `first` (a list item's "- "), the others with
 * `indent`. Returns whether anything was printed. */
static bool print_keys(FILE *out, const struct schema_section *sec, const void *obj,
		       const char *first, const char *indent)
{
	unsigned variant = variant_of(sec, obj);
	const char *pre = first;
	char deeper[64];
	snprintf(deeper, sizeof(deeper), "%s  ", indent);
	for (size_t i = 0; i < sec->n_keys; i++) {
		const struct schema_key *k = &sec->keys[i];
		if (!applies(k, variant) || (k->flags & SF_NO_PRINT))
			continue;
		if (k->type == ST_MAP) {
			fprintf(out, "%s%s:\n", pre, k->key);
			pre = indent;
			print_keys(out, k->sub, CFIELD(obj, k), deeper, deeper);
		} else if (k->type == ST_LIST) {
			const char *items = *(char *const *)CFIELD(obj, k);
			size_t n = *(const size_t *)((const char *)obj + k->count_off);
			char item_first[72];
			char item_indent[72];
			fprintf(out, "%s%s:%s\n", pre, k->key, n ? "" : " []");
			pre = indent;
			snprintf(item_first, sizeof(item_first), "%s  - ", indent);
			snprintf(item_indent, sizeof(item_indent), "%s    ", indent);
			for (size_t j = 0; j < n; j++)
				print_keys(out, k->sub, items + j * k->elem_size, item_first,
					   item_indent);
		} else if (k->type == ST_CUSTOM) {
			if (k->custom->print(out, k, CFIELD(obj, k), obj, pre, indent))
				pre = indent;
		} else if (scalar_is_set(k, obj)) {
			fprintf(out, "%s%s: ", pre, k->key);
			print_scalar(out, k, obj);
			fputc('\n', out);
			pre = indent;
		}
	}
	return pre != first;
}

void schema_print(FILE *out, const struct schema_section *sec, const void *obj, const char *indent)
{
	print_keys(out, sec, obj, indent, indent);
}

/* ---- comparing and freeing ---- */

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool equal_in(const struct schema_section *sec, const void *a, const void *b, unsigned want,
		     unsigned inherited)
{
	for (size_t i = 0; i < sec->n_keys; i++) {
		const struct schema_key *k = &sec->keys[i];
		unsigned scope = k->scope ? k->scope : inherited;
		const void *fa = CFIELD(a, k), *fb = CFIELD(b, k);
		bool eq = true;
		if (k->type == ST_MAP) {
			eq = equal_in(k->sub, fa, fb, want, scope);
		} else if (!(scope & want)) {
			continue;
		} else if (k->type == ST_LIST) {
			size_t na = *(const size_t *)((const char *)a + k->count_off);
			size_t nb = *(const size_t *)((const char *)b + k->count_off);
			eq = na == nb;
			for (size_t j = 0; eq && j < na; j++)
				eq = equal_in(k->sub, *(char *const *)fa + j * k->elem_size,
					      *(char *const *)fb + j * k->elem_size, want, scope);
		} else {
			switch (k->type) {
			case ST_STR:
			case ST_PATH:
			case ST_SECRET:
				eq = str_eq(*(char *const *)fa, *(char *const *)fb);
				break;
			case ST_BOOL:
				eq = *(const bool *)fa == *(const bool *)fb;
				break;
			case ST_INT:
			case ST_CHOICE:
				eq = *(const int *)fa == *(const int *)fb;
				break;
			case ST_COUNT:
				eq = *(const size_t *)fa == *(const size_t *)fb;
				break;
			case ST_NUM:
				eq = *(const double *)fa == *(const double *)fb;
				break;
			case ST_DUR:
				eq = *(const oeed_ms *)fa == *(const oeed_ms *)fb;
				break;
			case ST_SIZE:
				eq = *(const uint64_t *)fa == *(const uint64_t *)fb;
				break;
			case ST_CUSTOM:
				eq = k->custom->equal(fa, fb);
				break;
			default:
				break;
			}
		}
		if (!eq)
			return false;
	}
	return true;
}

bool schema_equal(const struct schema_section *sec, const void *a, const void *b, unsigned scope)
{
	return equal_in(sec, a, b, scope, SCOPE_NONE);
}

void schema_free(const struct schema_section *sec, void *obj)
{
	for (size_t i = 0; i < sec->n_keys; i++) {
		const struct schema_key *k = &sec->keys[i];
		void *f = FIELD(obj, k);
		switch (k->type) {
		case ST_STR:
		case ST_PATH:
		case ST_SECRET:
			free(*(char **)f);
			*(char **)f = NULL;
			break;
		case ST_MAP:
			schema_free(k->sub, f);
			break;
		case ST_LIST: {
			char *items = *(char **)f;
			size_t *n = (size_t *)((char *)obj + k->count_off);
			for (size_t j = 0; items && j < *n; j++)
				schema_free(k->sub, items + j * k->elem_size);
			free(items);
			*(char **)f = NULL;
			*n = 0;
			break;
		}
		case ST_CUSTOM:
			if (k->custom->free)
				k->custom->free(f);
			break;
		default:
			break;
		}
	}
}

void schema_files(const struct schema_section *sec, const void *obj, const char *prefix,
		  void (*fn)(void *ctx, const char *key, const char *path, bool secret), void *ctx)
{
	unsigned variant = variant_of(sec, obj);
	char key[256];
	for (size_t i = 0; i < sec->n_keys; i++) {
		const struct schema_key *k = &sec->keys[i];
		if (!applies(k, variant))
			continue;
		snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "", k->key);
		if (k->type == ST_MAP) {
			schema_files(k->sub, CFIELD(obj, k), key, fn, ctx);
		} else if (k->type == ST_LIST) {
			const char *items = *(char *const *)CFIELD(obj, k);
			size_t n = *(const size_t *)((const char *)obj + k->count_off);
			for (size_t j = 0; j < n; j++) {
				char item[300];
				snprintf(item, sizeof(item), "%s[%zu]", key, j);
				schema_files(k->sub, items + j * k->elem_size, item, fn, ctx);
			}
		} else if ((k->type == ST_PATH || k->type == ST_SECRET) &&
			   *(char *const *)CFIELD(obj, k)) {
			fn(ctx, key, *(char *const *)CFIELD(obj, k), k->type == ST_SECRET);
		}
	}
}

/* ---- docs ---- */

static void doc_type(FILE *out, const struct schema_key *k)
{
	char a[32], b[32];
	if (k->doc_type) {
		fputs(k->doc_type, out);
		return;
	}
	switch (k->type) {
	case ST_STR:
		fputs("string", out);
		break;
	case ST_PATH:
		fputs("path or `credential:NAME`", out);
		break;
	case ST_SECRET:
		fputs("secret file: path or `credential:NAME`", out);
		break;
	case ST_BOOL:
		fputs("boolean", out);
		break;
	case ST_INT:
	case ST_COUNT:
		fprintf(out, "integer %.0f..%.0f", k->min, k->max);
		break;
	case ST_NUM:
		if (k->min < k->max)
			fprintf(out, "number %g..%g", k->min, k->max);
		else
			fputs("number", out);
		break;
	case ST_DUR:
		format_duration((oeed_ms)k->min, a, sizeof(a));
		format_duration((oeed_ms)k->max, b, sizeof(b));
		fprintf(out, "duration, %s..%s", a, b);
		break;
	case ST_SIZE:
		format_size((uint64_t)k->min, a, sizeof(a));
		format_size((uint64_t)k->max, b, sizeof(b));
		fprintf(out, "size, %s..%s", a, b);
		break;
	case ST_CHOICE:
		for (const struct schema_choice *c = k->choices; c->name; c++)
			fprintf(out, "%s`%s`", c == k->choices ? "" : " \\| ", c->name);
		break;
	case ST_MAP:
		fputs("mapping", out);
		break;
	case ST_LIST:
		fputs("list", out);
		break;
	case ST_CUSTOM:
		fputs("?", out);
		break;
	}
}

static void doc_variants(FILE *out, const struct schema_section *sec, unsigned mask)
{
	bool first = true;
	if (!mask || !sec->variant_names) {
		fputs("all", out);
		return;
	}
	for (unsigned b = 0; b < 32; b++)
		if ((mask & (1u << b)) && sec->variant_names[b]) {
			fprintf(out, "%s%s", first ? "" : ", ", sec->variant_names[b]);
			first = false;
		}
}

static void doc_default(FILE *out, const struct schema_section *sec, const struct schema_key *k)
{
	if (k->required) {
		fputs("**required**", out);
		if (k->flags & SF_SAY_VARIANT) {
			fputs(" for ", out);
			doc_variants(out, sec, k->required);
		}
	} else if (k->def) {
		fprintf(out, "`%s`", k->def);
	} else if (k->doc_def) {
		fputs(k->doc_def, out);
	} else {
		fputs("none", out);
	}
}

/* Markdown inline code and emphasis to man(7): `x` -> \fBx\fR, **x** -> \fBx\fR, \| -> |,
 * and a backslash or a leading dot escaped. */
static void man_text(FILE *out, const char *s)
{
	bool code = false;
	if (*s == '.' || *s == '\'')
		fputs("\\&", out); /* a control character at the start of a line */
	for (const char *p = s; *p; p++) {
		if (*p == '`' || (p[0] == '*' && p[1] == '*')) {
			fputs(code ? "\\fR" : "\\fB", out);
			code = !code;
			if (*p == '*')
				p++;
		} else if (p[0] == '\\' && p[1] == '|') {
			fputc('|', out);
			p++;
		} else if (*p == '\\') {
			fputs("\\e", out);
		} else if (*p == '-') {
			fputs("\\-", out);
		} else {
			fputc(*p, out);
		}
	}
}

static void capture(void (*fn)(FILE *, const struct schema_section *, const struct schema_key *),
		    const struct schema_section *sec, const struct schema_key *k, char *buf,
		    size_t len)
{
	FILE *m = fmemopen(buf, len, "w");
	buf[0] = '\0';
	if (!m)
		return;
	fn(m, sec, k);
	fclose(m);
}

static void doc_type_fn(FILE *out, const struct schema_section *sec, const struct schema_key *k)
{
	(void)sec;
	doc_type(out, k);
}

void schema_doc(FILE *out, const struct schema_section *sec, const char *prefix, bool man)
{
	bool variants = sec->variant_names != NULL;
	const char *name = prefix[0] ? prefix : "top";
	char type[512], def[512];
	if (man) {
		fprintf(out, ".\\\" keys: %s\n", name);
	} else {
		fprintf(out,
			"<!-- keys: %s (generated from the schema: scripts/config-docs.py) -->\n",
			name);
		fprintf(out, "| key | type | default |%s |\n", variants ? " applies to |" : "");
		fprintf(out, "|---|---|---|%s---|\n", variants ? "---|" : "");
	}
	for (size_t i = 0; i < sec->n_keys; i++) {
		const struct schema_key *k = &sec->keys[i];
		capture(doc_type_fn, sec, k, type, sizeof(type));
		capture(doc_default, sec, k, def, sizeof(def));
		if (man) {
			fprintf(out, ".TP\n.B %s\n", k->key);
			man_text(out, type);
			fputs("; default ", out);
			man_text(out, def);
			if (variants && k->variants) {
				FILE *m = fmemopen(type, sizeof(type), "w");
				if (m) {
					doc_variants(m, sec, k->variants);
					fclose(m);
					fputs("; for ", out);
					man_text(out, type);
				}
			}
			fputs(".\n", out);
			if (k->doc && k->doc[0]) {
				man_text(out, k->doc);
				fputc('\n', out);
			}
			continue;
		}
		fprintf(out, "| `%s` | %s | %s", k->key, type, def);
		if (variants) {
			fputs(" | ", out);
			doc_variants(out, sec, k->variants);
		}
		fprintf(out, " | %s |\n", k->doc ? k->doc : "");
	}
	fputs(man ? ".\\\" /keys\n" : "<!-- /keys -->\n", out);
	for (size_t i = 0; i < sec->n_keys; i++) {
		const struct schema_key *k = &sec->keys[i];
		char sub[128];
		if (k->type != ST_MAP && k->type != ST_LIST)
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s%s", prefix, prefix[0] ? "." : "", k->key,
			 k->type == ST_LIST ? "[]" : "");
		fputc('\n', out);
		schema_doc(out, k->sub, sub, man);
	}
}
