/* topic.c - topic templates: parsing "factory/{line}/{machine}/state" into levels and an MQTT
 * subscription, and matching received topics against them without allocating. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "topic.h"

#define SPARKPLUG_PREFIX "spBv1.0/"

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool var_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static void free_levels(struct topic_template *t)
{
	for (size_t i = 0; i < t->n_levels; i++) {
		free(t->level[i].literal);
		free(t->level[i].var);
	}
	free(t->subscription);
}

/* Parses one level tmpl[start, end) into t->level[t->n_levels]; columns are 1-based. */
static int parse_level(const char *tmpl, size_t start, size_t end, bool last,
		       struct topic_template *t, char *err, size_t errlen)
{
	size_t n = end - start, i = t->n_levels;
	const char *s = tmpl + start;

	for (size_t k = 0; k < n; k++) {
		size_t col = start + k + 1;

		switch (s[k]) {
		case '{':
			if (k != 0)
				return fail(err, errlen,
					    "variable must be a whole level at column %zu", col);
			break;
		case '}':
			if (s[0] != '{')
				return fail(err, errlen, "unbalanced '}' at column %zu", col);
			if (k != n - 1)
				return fail(err, errlen,
					    "variable must be a whole level at column %zu",
					    col + 1);
			break;
		case '+':
			if (n != 1)
				return fail(err, errlen, "'+' must be a whole level (column %zu)",
					    col);
			break;
		case '#':
			if (n != 1)
				return fail(err, errlen, "'#' must be a whole level (column %zu)",
					    col);
			if (!last)
				return fail(err, errlen, "'#' must be the last level (column %zu)",
					    col);
			break;
		default:
			if (s[0] == '{' && !var_char_ok(s[k]))
				return fail(err, errlen,
					    "bad character '%c' in variable name at column %zu",
					    s[k], col);
			break;
		}
	}

	if (n > 0 && s[0] == '{') {
		if (s[n - 1] != '}' || n == 1)
			return fail(err, errlen, "unbalanced '{' at column %zu", start + 1);
		if (n == 2)
			return fail(err, errlen, "empty variable name at column %zu", start + 1);
		for (size_t j = 0; j < i; j++)
			if (t->level[j].var && strlen(t->level[j].var) == n - 2 &&
			    memcmp(t->level[j].var, s + 1, n - 2) == 0)
				return fail(err, errlen, "duplicate variable {%.*s} at column %zu",
					    (int)(n - 2), s + 1, start + 1);
		bool machine = n - 2 == strlen("machine") && memcmp(s + 1, "machine", n - 2) == 0;
		if (!machine && t->n_vars == OEED_MAX_TEMPLATE_VARS)
			return fail(err, errlen,
				    "more than %d variables besides {machine} at column %zu",
				    OEED_MAX_TEMPLATE_VARS, start + 1);
		t->level[i].var = strndup(s + 1, n - 2);
		if (!t->level[i].var)
			return -ENOMEM;
		if (machine)
			t->machine_level = (int)i;
		else
			t->n_vars++;
	} else if (n == 1 && s[0] == '+') {
		t->level[i].plus = true;
	} else if (n == 1 && s[0] == '#') {
		t->level[i].hash = true;
	} else {
		t->level[i].literal = strndup(s, n);
		if (!t->level[i].literal)
			return -ENOMEM;
	}
	t->n_levels++;
	return 0;
}

static int build_subscription(struct topic_template *t)
{
	size_t len = 0;
	char *p;

	for (size_t i = 0; i < t->n_levels; i++)
		len += (t->level[i].literal ? strlen(t->level[i].literal) : 1) + 1;
	t->subscription = malloc(len);
	if (!t->subscription)
		return -ENOMEM;
	p = t->subscription;
	for (size_t i = 0; i < t->n_levels; i++) {
		if (i > 0)
			*p++ = '/';
		if (t->level[i].literal) {
			size_t n = strlen(t->level[i].literal);
			memcpy(p, t->level[i].literal, n);
			p += n;
		} else {
			*p++ = t->level[i].hash ? '#' : '+';
		}
	}
	*p = '\0';
	return 0;
}

int topic_template_parse(const char *tmpl, struct topic_template *ret, char *err, size_t errlen)
{
	struct topic_template t;
	size_t len = strlen(tmpl), start = 0;
	int r;

	memset(&t, 0, sizeof(t));
	t.machine_level = -1;
	if (len == 0)
		return fail(err, errlen, "empty topic template");

	for (;;) {
		const char *slash = memchr(tmpl + start, '/', len - start);
		size_t end = slash ? (size_t)(slash - tmpl) : len;

		if (t.n_levels == TOPIC_MAX_LEVELS) {
			r = fail(err, errlen, "more than %d levels (column %zu)", TOPIC_MAX_LEVELS,
				 start + 1);
			goto out_free;
		}
		r = parse_level(tmpl, start, end, !slash, &t, err, errlen);
		if (r < 0)
			goto out_free;
		if (!slash)
			break;
		start = end + 1;
	}

	/* Sparkplug topics carry the node and device names; the decoder names the machine. */
	if (t.machine_level < 0 && strncmp(tmpl, SPARKPLUG_PREFIX, strlen(SPARKPLUG_PREFIX)) != 0) {
		r = fail(err, errlen, "no {machine} variable in '%s'", tmpl);
		goto out_free;
	}
	r = build_subscription(&t);
	if (r < 0)
		goto out_free;
	*ret = t;
	return 0;

out_free:
	if (r == -ENOMEM)
		fail(err, errlen, "out of memory");
	free_levels(&t);
	return r;
}

void topic_template_free(struct topic_template *t)
{
	if (!t)
		return;
	free_levels(t);
	memset(t, 0, sizeof(*t));
	t->machine_level = -1;
}

/* Compares a NUL-terminated literal with n topic bytes (which may contain anything). */
static bool literal_eq(const char *lit, const char *s, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (lit[k] == '\0' || lit[k] != s[k])
			return false;
	return lit[n] == '\0';
}

bool topic_template_match(const struct topic_template *t, const char *topic, size_t len,
			  struct topic_match *m)
{
	struct topic_match r;
	size_t pos = 0;
	bool more = true; /* a level starts at pos (an empty topic is one empty level) */

	r.machine = NULL;
	r.machine_len = 0;
	r.n_tags = 0;
	/* MQTT: wildcards in the first level do not match topics starting with '$' ($SYS). */
	if (len > 0 && topic[0] == '$' && t->n_levels > 0 && !t->level[0].literal)
		return false;

	for (size_t i = 0; i < t->n_levels; i++) {
		const char *s, *slash;
		size_t n;

		if (t->level[i].hash) {
			more = false; /* '#' takes the rest, also none: "a/#" matches "a" */
			break;
		}
		if (!more)
			return false;
		s = topic + pos;
		slash = memchr(s, '/', len - pos);
		n = slash ? (size_t)(slash - s) : len - pos;
		if (t->level[i].literal) {
			if (!literal_eq(t->level[i].literal, s, n))
				return false;
		} else if ((int)i == t->machine_level) {
			if (n == 0)
				return false;
			r.machine = s;
			r.machine_len = n;
		} else if (t->level[i].var) {
			r.tag[r.n_tags].key = t->level[i].var;
			r.tag[r.n_tags].value = s;
			r.tag[r.n_tags].value_len = n;
			r.n_tags++;
		}
		if (slash) {
			pos += n + 1;
		} else {
			pos = len;
			more = false;
		}
	}
	if (more)
		return false;
	*m = r;
	return true;
}
