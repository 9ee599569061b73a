/* fuzz-topic.c - libFuzzer target for topic templates (daemon/topic.c). The input is
 * "TEMPLATE|TOPIC" (split at the first '|'). A parsed template must give a well-formed MQTT
 * subscription with one level per template level; matching must agree with a reference MQTT
 * filter match of that subscription (plus: {machine} needs a non-empty level), and the machine
 * and tags must be the topic's own levels at the template's variable positions. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "topic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *tmpl)
{
	fprintf(stderr, "template '%s': %s\n", tmpl, what);
	abort();
}

/* Level `idx` of s[0, len) by '/': 0 and the level's start and length, or -1 when there is none. */
static int level_of(const char *s, size_t len, size_t idx, size_t *ret_start, size_t *ret_len)
{
	size_t start = 0;

	for (size_t i = 0; i < idx; i++) {
		const char *slash = memchr(s + start, '/', len - start);
		if (!slash)
			return -1;
		start = (size_t)(slash - s) + 1;
	}
	const char *slash = memchr(s + start, '/', len - start);
	*ret_start = start;
	*ret_len = slash ? (size_t)(slash - s) - start : len - start;
	return 0;
}

static size_t count_levels(const char *s, size_t len)
{
	size_t n = 1;
	for (size_t i = 0; i < len; i++)
		n += s[i] == '/';
	return n;
}

/* MQTT 3.1.1 section 4.7 filter matching, written from the spec rather than from topic.c. */
static bool mqtt_match(const char *filter, const char *topic, size_t len)
{
	size_t nf = count_levels(filter, strlen(filter)), nt = count_levels(topic, len);

	if (len > 0 && topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
		return false;
	for (size_t i = 0; i < nf; i++) {
		size_t fs, fl, ts, tl;
		level_of(filter, strlen(filter), i, &fs, &fl);
		if (fl == 1 && filter[fs] == '#')
			return true; /* the parent level too: "a/#" matches "a" */
		if (i >= nt)
			return false;
		level_of(topic, len, i, &ts, &tl);
		if (fl == 1 && filter[fs] == '+')
			continue;
		if (fl != tl || memcmp(filter + fs, topic + ts, fl) != 0)
			return false;
	}
	return nf == nt;
}

static void check_template(const struct topic_template *t, const char *tmpl)
{
	const char *sub = t->subscription;
	size_t n_vars = 0, machines = 0;

	if (!sub || t->n_levels == 0 || t->n_levels > TOPIC_MAX_LEVELS)
		fail("no subscription or bad level count", tmpl);
	if (count_levels(sub, strlen(sub)) != t->n_levels)
		fail("subscription level count differs from the template", tmpl);
	for (size_t i = 0; i < t->n_levels; i++) {
		size_t s, l;
		level_of(sub, strlen(sub), i, &s, &l);
		int kinds =
		    !!t->level[i].literal + !!t->level[i].var + t->level[i].plus + t->level[i].hash;
		if (kinds != 1)
			fail("a level is not exactly one of literal/var/+/#", tmpl);
		if (t->level[i].literal) {
			if (strlen(t->level[i].literal) != l ||
			    memcmp(t->level[i].literal, sub + s, l) != 0)
				fail("literal level differs in the subscription", tmpl);
			if (memchr(sub + s, '+', l) || memchr(sub + s, '#', l))
				fail("wildcard inside a literal level", tmpl);
		} else if (l != 1 || sub[s] != (t->level[i].hash ? '#' : '+')) {
			fail("variable or wildcard level is not a whole '+'/'#'", tmpl);
		}
		if (t->level[i].hash && i != t->n_levels - 1)
			fail("'#' not last", tmpl);
		if (t->level[i].var) {
			if (strcmp(t->level[i].var, "machine") == 0) {
				machines++;
				if ((int)i != t->machine_level)
					fail("machine_level is not the {machine} level", tmpl);
			} else {
				n_vars++;
			}
		}
	}
	if (machines > 1 || n_vars != t->n_vars || n_vars > OEED_MAX_TEMPLATE_VARS)
		fail("variable counts", tmpl);
	if (machines == 0 && (t->machine_level != -1 || strncmp(tmpl, "spBv1.0/", 8) != 0))
		fail("no {machine} outside Sparkplug", tmpl);
}

static void check_match(const struct topic_template *t, const char *tmpl, const char *topic,
			size_t len)
{
	struct topic_match m;
	bool got = topic_template_match(t, topic, len, &m);
	bool want = mqtt_match(t->subscription, topic, len);
	size_t s, l;

	if (want && t->machine_level >= 0 &&
	    (level_of(topic, len, (size_t)t->machine_level, &s, &l) < 0 || l == 0))
		want = false; /* a machine needs a name */
	if (got != want) {
		fprintf(stderr, "topic '%.*s' vs '%s': match %d, reference %d\n", (int)len, topic,
			t->subscription, got, want);
		fail("match disagrees with MQTT matching", tmpl);
	}
	if (!got)
		return;
	if (t->machine_level >= 0) {
		level_of(topic, len, (size_t)t->machine_level, &s, &l);
		if (m.machine != topic + s || m.machine_len != l)
			fail("machine is not the {machine} level of the topic", tmpl);
	} else if (m.machine) {
		fail("machine without a {machine} level", tmpl);
	}
	size_t k = 0;
	for (size_t i = 0; i < t->n_levels; i++) {
		if (!t->level[i].var || (int)i == t->machine_level)
			continue;
		level_of(topic, len, i, &s, &l);
		if (k >= m.n_tags || strcmp(m.tag[k].key, t->level[i].var) != 0 ||
		    m.tag[k].value != topic + s || m.tag[k].value_len != l)
			fail("tag is not the variable's level of the topic", tmpl);
		k++;
	}
	if (k != m.n_tags)
		fail("tag count", tmpl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *bar = memchr(data, '|', size);
	size_t tlen = bar ? (size_t)(bar - data) : size;
	struct topic_template t;
	char err[160];
	char *tmpl;

	/* Templates come from YAML strings: no NUL inside. */
	if (memchr(data, '\0', tlen))
		return 0;
	tmpl = strndup((const char *)data, tlen);
	if (!tmpl)
		abort();
	err[0] = '\0';
	if (topic_template_parse(tmpl, &t, err, sizeof(err)) < 0) {
		if (err[0] == '\0')
			fail("rejected without a message", tmpl);
		free(tmpl);
		return 0;
	}
	check_template(&t, tmpl);
	if (bar) {
		/* The topic is a separate allocation of exactly its length, so ASan sees any
		 * read past it. */
		size_t len = size - tlen - 1;
		char *topic = malloc(len ? len : 1);
		if (!topic)
			abort();
		memcpy(topic, bar + 1, len);
		check_match(&t, tmpl, topic, len);
		free(topic);
	}
	topic_template_free(&t);
	free(tmpl);
	return 0;
}
