/* Unit tests for topic.c: template parsing (subscription, levels, errors with columns) and
 * matching (machine, tags, wildcards, '$' topics). */
#include <errno.h>
#include "testutil.h"
#include "topic.h"

static bool match(const struct topic_template *t, const char *topic, struct topic_match *m)
{
	return topic_template_match(t, topic, strlen(topic), m);
}

/* Copies a non-terminated (pointer, length) pair so CHECK_STR can compare it. */
static const char *cut(const char *s, size_t n, char *buf)
{
	memcpy(buf, s, n);
	buf[n] = '\0';
	return buf;
}

static void check_error(const char *tmpl, const char *want)
{
	struct topic_template t;
	char err[160] = "";

	CHECK_INT(topic_template_parse(tmpl, &t, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, want);
}

static void test_parse(void)
{
	struct topic_template t;
	char err[160] = "";

	CHECK_INT(topic_template_parse("factory/{line}/{machine}/state", &t, err, sizeof(err)), 0);
	CHECK_STR(t.subscription, "factory/+/+/state");
	CHECK_INT(t.n_levels, 4);
	CHECK_STR(t.level[0].literal, "factory");
	CHECK(t.level[0].var == NULL);
	CHECK(t.level[1].literal == NULL);
	CHECK_STR(t.level[1].var, "line");
	CHECK_STR(t.level[2].var, "machine");
	CHECK_STR(t.level[3].literal, "state");
	CHECK_INT(t.machine_level, 2);
	CHECK_INT(t.n_vars, 1);
	topic_template_free(&t);

	CHECK_INT(topic_template_parse("plant/+/{machine}/#", &t, err, sizeof(err)), 0);
	CHECK_STR(t.subscription, "plant/+/+/#");
	CHECK_INT(t.n_levels, 4);
	CHECK(t.level[1].plus);
	CHECK(!t.level[1].hash);
	CHECK(t.level[3].hash);
	CHECK_INT(t.machine_level, 2);
	CHECK_INT(t.n_vars, 0);
	topic_template_free(&t);

	/* Sparkplug needs no {machine}. */
	CHECK_INT(topic_template_parse("spBv1.0/{group}/+/#", &t, err, sizeof(err)), 0);
	CHECK_STR(t.subscription, "spBv1.0/+/+/#");
	CHECK_INT(t.machine_level, -1);
	CHECK_INT(t.n_vars, 1);
	topic_template_free(&t);

	/* Empty levels are legal MQTT. */
	CHECK_INT(topic_template_parse("/{machine}//x", &t, err, sizeof(err)), 0);
	CHECK_STR(t.subscription, "/+//x");
	CHECK_INT(t.n_levels, 4);
	CHECK_STR(t.level[0].literal, "");
	CHECK_INT(t.machine_level, 1);
	topic_template_free(&t);

	/* 8 variables besides machine is the limit; 32 levels too. */
	CHECK_INT(
	    topic_template_parse("{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{machine}", &t, err, sizeof(err)),
	    0);
	CHECK_INT(t.n_vars, 8);
	CHECK_STR(t.subscription, "+/+/+/+/+/+/+/+/+");
	topic_template_free(&t);
	char many[128] = "{machine}";
	for (int i = 1; i < TOPIC_MAX_LEVELS; i++)
		strcat(many, "/x");
	CHECK_INT(topic_template_parse(many, &t, err, sizeof(err)), 0);
	CHECK_INT(t.n_levels, 32);
	topic_template_free(&t);
	strcat(many, "/y");
	check_error(many, "more than 32 levels (column 73)");

	check_error("a/b", "no {machine} variable in 'a/b'");
	check_error("", "empty topic template");
	check_error("factory/{line/{machine}", "unbalanced '{' at column 9");
	check_error("{machine}/a}", "unbalanced '}' at column 12");
	check_error("a{x}b/{machine}", "variable must be a whole level at column 2");
	check_error("{machine}/{x}b", "variable must be a whole level at column 14");
	check_error("a/b/#/c/{machine}", "'#' must be the last level (column 5)");
	check_error("{machine}/a#", "'#' must be a whole level (column 12)");
	check_error("{machine}/+a", "'+' must be a whole level (column 11)");
	check_error("{machine}/{}", "empty variable name at column 11");
	check_error("{machine}/{a b}", "bad character ' ' in variable name at column 13");
	check_error("{line}/{machine}/{line}", "duplicate variable {line} at column 18");
	check_error("{machine}/{machine}", "duplicate variable {machine} at column 11");
	check_error("{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}/{machine}",
		    "more than 8 variables besides {machine} at column 33");
	check_error("spBv1.1/{group}", "no {machine} variable in 'spBv1.1/{group}'");

	/* A failed parse leaves *ret untouched. */
	t.n_levels = 77;
	CHECK_INT(topic_template_parse("x/{y", &t, err, sizeof(err)), -EINVAL);
	CHECK_INT(t.n_levels, 77);
	/* free of a zeroed template and of NULL is fine */
	topic_template_free(NULL);
}

static void test_match(void)
{
	struct topic_template t;
	struct topic_match m;
	char err[160], buf[64];

	CHECK_INT(topic_template_parse("factory/{line}/{machine}/state", &t, err, sizeof(err)), 0);
	CHECK(match(&t, "factory/l2/press-01/state", &m));
	CHECK_STR(cut(m.machine, m.machine_len, buf), "press-01");
	CHECK_INT(m.n_tags, 1);
	CHECK_STR(m.tag[0].key, "line");
	CHECK_STR(cut(m.tag[0].value, m.tag[0].value_len, buf), "l2");
	/* values point into the topic */
	const char *topic = "factory/A/M/state";
	CHECK(topic_template_match(&t, topic, strlen(topic), &m));
	CHECK(m.machine == topic + 10);
	CHECK_INT(m.machine_len, 1);
	CHECK(m.tag[0].value == topic + 8);
	/* the length bounds the topic, not a NUL */
	CHECK(topic_template_match(&t, "factory/l/m/statexyz", 17, &m));
	CHECK_STR(cut(m.machine, m.machine_len, buf), "m");

	CHECK(!match(&t, "factory/l2/press-01/stat", &m));
	CHECK(!match(&t, "factory/l2/press-01/states", &m));
	CHECK(!match(&t, "factory/l2/press-01/state/x", &m));
	CHECK(!match(&t, "factory/l2/press-01", &m));
	CHECK(!match(&t, "factorx/l2/press-01/state", &m));
	CHECK(!match(&t, "", &m));
	/* an empty tag value matches, an empty machine does not */
	CHECK(match(&t, "factory//m1/state", &m));
	CHECK_INT(m.tag[0].value_len, 0);
	CHECK(!match(&t, "factory/l1//state", &m));
	/* a failed match leaves *m untouched */
	m.n_tags = 5;
	CHECK(!match(&t, "other", &m));
	CHECK_INT(m.n_tags, 5);
	topic_template_free(&t);

	CHECK_INT(topic_template_parse("plant/+/{machine}/#", &t, err, sizeof(err)), 0);
	CHECK(match(&t, "plant/x/m7/a/b/c", &m));
	CHECK_STR(cut(m.machine, m.machine_len, buf), "m7");
	CHECK_INT(m.n_tags, 0);
	CHECK(match(&t, "plant/x/m7", &m)); /* '#' also matches the parent level */
	CHECK(match(&t, "plant/x/m7/", &m));
	CHECK(!match(&t, "plant/x", &m));
	CHECK(!match(&t, "plantx/x/m7/a", &m));
	topic_template_free(&t);

	/* wildcards in the first level never match '$' topics; literals do */
	CHECK_INT(topic_template_parse("{machine}/#", &t, err, sizeof(err)), 0);
	CHECK(!match(&t, "$SYS/broker", &m));
	CHECK(match(&t, "SYS/broker", &m));
	topic_template_free(&t);
	CHECK_INT(topic_template_parse("$SYS/{machine}", &t, err, sizeof(err)), 0);
	CHECK(match(&t, "$SYS/b", &m));
	CHECK_STR(cut(m.machine, m.machine_len, buf), "b");
	topic_template_free(&t);

	/* several tags in template order */
	CHECK_INT(topic_template_parse("{site}/{area}/{machine}/{kind}", &t, err, sizeof(err)), 0);
	CHECK(match(&t, "s1/a2/m3/k4", &m));
	CHECK_INT(m.n_tags, 3);
	CHECK_STR(m.tag[0].key, "site");
	CHECK_STR(cut(m.tag[0].value, m.tag[0].value_len, buf), "s1");
	CHECK_STR(m.tag[1].key, "area");
	CHECK_STR(cut(m.tag[1].value, m.tag[1].value_len, buf), "a2");
	CHECK_STR(m.tag[2].key, "kind");
	CHECK_STR(cut(m.tag[2].value, m.tag[2].value_len, buf), "k4");
	CHECK_STR(cut(m.machine, m.machine_len, buf), "m3");
	topic_template_free(&t);

	/* Sparkplug: no machine from the topic */
	CHECK_INT(topic_template_parse("spBv1.0/{group}/#", &t, err, sizeof(err)), 0);
	CHECK(match(&t, "spBv1.0/G1/DDATA/node/dev", &m));
	CHECK(m.machine == NULL);
	CHECK_INT(m.machine_len, 0);
	CHECK_INT(m.n_tags, 1);
	CHECK_STR(cut(m.tag[0].value, m.tag[0].value_len, buf), "G1");
	topic_template_free(&t);

	/* a literal is compared over its whole length, even with a NUL inside the topic */
	CHECK_INT(topic_template_parse("ab/{machine}", &t, err, sizeof(err)), 0);
	CHECK(!topic_template_match(&t, "ab\0x/m", 6, &m));
	CHECK(!topic_template_match(&t, "a/m", 3, &m));
	CHECK(topic_template_match(&t, "ab/m", 4, &m));
	topic_template_free(&t);
}

int main(void)
{
	test_parse();
	test_match();
	TEST_END();
}
