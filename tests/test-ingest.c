/* Unit tests for ingest.c: a config from YAML, an engine whose sink records what arrives, and
 * the typed outcome of each kind of message (ok, unmatched, bad topic, decode error, unmapped,
 * bad value, machine dropped) with its error text and its counter; the subscriptions (merged
 * duplicates, highest QoS); counters carried by ingest_set_stats; and the topic's tags reaching
 * the sink. Times are ms after T0 = 2026-11-02 06:00:00 UTC. */
#include <errno.h>
#include <stdlib.h>

#include "calendar.h"
#include "config.h"
#include "engine.h"
#include "ingest.h"
#include "testutil.h"

#define T0   1793599200000LL /* 2026-11-02T06:00:00Z */
#define S(x) (T0 + (oeed_ms)((x)*1000))

struct state_rec {
	char machine[32];
	size_t n_tags;
	char tag_key[OEED_MAX_TEMPLATE_VARS][16], tag_value[OEED_MAX_TEMPLATE_VARS][16];
	oeed_ms ts;
	enum oeed_category cat;
	char raw[32], reason[32];
};

struct kpi_rec {
	char machine[32];
	char label[16];
	size_t n_tags;
	struct kpi_values kv;
};

struct capture {
	struct state_rec st[64];
	size_t n_st;
	struct kpi_rec kpi[64];
	size_t n_kpi;
};

static void cap_state(void *ctx, const struct engine_machine_info *m, oeed_ms ts,
		      enum oeed_category cat, const char *raw, const char *reason, double prev)
{
	(void)prev;
	struct capture *c = ctx;
	if (c->n_st >= OEED_ARRAY_SIZE(c->st))
		return;
	struct state_rec *s = &c->st[c->n_st++];
	snprintf(s->machine, sizeof(s->machine), "%s", m->id);
	s->n_tags = m->n_tags;
	for (size_t i = 0; i < m->n_tags && i < OEED_MAX_TEMPLATE_VARS; i++) {
		snprintf(s->tag_key[i], sizeof(s->tag_key[i]), "%s", m->tag[i].key);
		snprintf(s->tag_value[i], sizeof(s->tag_value[i]), "%s", m->tag[i].value);
	}
	s->ts = ts;
	s->cat = cat;
	snprintf(s->raw, sizeof(s->raw), "%s", raw);
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
}

static void cap_kpi(void *ctx, const struct engine_machine_info *m, const char *label,
		    oeed_ms start, oeed_ms end, const struct kpi_values *kv, bool final)
{
	(void)start;
	(void)end;
	(void) final;
	struct capture *c = ctx;
	if (c->n_kpi >= OEED_ARRAY_SIZE(c->kpi))
		return;
	struct kpi_rec *r = &c->kpi[c->n_kpi++];
	snprintf(r->machine, sizeof(r->machine), "%s", m->id);
	snprintf(r->label, sizeof(r->label), "%s", label);
	r->n_tags = m->n_tags;
	r->kv = *kv;
}

static const struct kpi_rec *find_kpi(const struct capture *c, const char *machine)
{
	for (size_t i = c->n_kpi; i-- > 0;)
		if (strcmp(c->kpi[i].machine, machine) == 0)
			return &c->kpi[i];
	return NULL;
}

static double kval(const struct kpi_rec *r, enum kpi_field f)
{
	return r && kpi_has(&r->kv, f) ? r->kv.v[f] : NAN;
}

static const char yaml[] = "machines:\n"
			   "  max: 3\n"
			   "  defaults: {stale_after: 0}\n"
			   "report:\n"
			   "  interval: 10s\n"
			   "  windows: [1h]\n"
			   "  periods: []\n"
			   "sources:\n"
			   "  - topic: \"factory/{line}/{machine}/state\"\n"
			   "    decoder: text\n"
			   "    signal: state\n"
			   "    map:\n"
			   "      RUNNING: running\n"
			   "      FAULT: down/fault\n"
			   "      0: idle/starved\n"
			   "  - topic: \"factory/{line}/{machine}/count\"\n"
			   "    decoder: text\n"
			   "    signal: total\n"
			   "    counts: increments\n"
			   "  - topic: \"factory/{line}/{machine}/data\"\n"
			   "    decoder: json\n"
			   "    fields: {state: $.state, good: $.good, timestamp: $.ts}\n"
			   "    map: {RUNNING: running, default: unknown/other}\n"
			   "  - topic: \"raw/{machine}\"\n"
			   "    decoder: text\n"
			   "    signal: state\n"
			   "  - topic: \"hall/{hall}/{cell}/{machine}\"\n"
			   "    decoder: text\n"
			   "    signal: state\n";

struct fixture {
	struct oeed_config *cfg;
	struct calendar *cal;
	struct engine *e;
	struct ingest *in;
	struct capture cap;
};

static int setup(struct fixture *f, const char *y)
{
	struct oeed_error err = {{0}};
	memset(f, 0, sizeof(*f));
	int r = config_load_string("t.yaml", y, strlen(y), &f->cfg, &err);
	CHECK_INT(r, 0);
	if (r < 0) {
		fprintf(stderr, "  %s\n", err.msg);
		return -1;
	}
	CHECK_INT(calendar_new(f->cfg->report.timezone, f->cfg->report.shifts,
			       f->cfg->report.n_shifts, &f->cal, &err),
		  0);
	struct engine_sink sink = {.ctx = &f->cap, .state = cap_state, .kpi = cap_kpi};
	CHECK_INT(engine_new(f->cfg, f->cal, &sink, &f->e, &err), 0);
	r = ingest_new(f->cfg, f->e, NULL, &f->in, &err);
	CHECK_INT(r, 0);
	if (r < 0) {
		fprintf(stderr, "  %s\n", err.msg);
		return -1;
	}
	return 0;
}

static void teardown(struct fixture *f)
{
	ingest_free(f->in);
	engine_free(f->e);
	calendar_free(f->cal);
	config_free(f->cfg);
}

static enum ingest_outcome msg(struct fixture *f, const char *topic, const char *payload,
			       oeed_ms now, struct ingest_error *err)
{
	memset(err, 0, sizeof(*err));
	return ingest_message(f->in, topic, strlen(topic), (const uint8_t *)payload,
			      strlen(payload), now, err);
}

static void check_stats(const struct ingest *in, uint64_t messages, uint64_t decode_errors,
			uint64_t unmatched, uint64_t unmapped, uint64_t bad_values,
			uint64_t dropped, int line)
{
	struct ingest_stats s;
	int failed = test_failed_checks;
	ingest_get_stats(in, &s);
	CHECK_INT(s.messages, messages);
	CHECK_INT(s.decode_errors, decode_errors);
	CHECK_INT(s.unmatched, unmatched);
	CHECK_INT(s.unmapped, unmapped);
	CHECK_INT(s.bad_values, bad_values);
	CHECK_INT(s.dropped, dropped);
	if (test_failed_checks != failed)
		fprintf(stderr, "  (the stats of line %d)\n", line);
}

#define STATS(m, de, um, un, bv, dr) check_stats(f->in, (m), (de), (um), (un), (bv), (dr), __LINE__)

static void test_outcome_names(void)
{
	CHECK_STR(ingest_outcome_name(INGEST_OK), "ok");
	CHECK_STR(ingest_outcome_name(INGEST_UNMATCHED), "unmatched");
	CHECK_STR(ingest_outcome_name(INGEST_BAD_TOPIC), "bad_topic");
	CHECK_STR(ingest_outcome_name(INGEST_DECODE_ERROR), "decode_error");
	CHECK_STR(ingest_outcome_name(INGEST_BAD_VALUE), "bad_value");
	CHECK_STR(ingest_outcome_name(INGEST_UNMAPPED), "unmapped");
	CHECK_STR(ingest_outcome_name(INGEST_MACHINE_DROPPED), "machine_dropped");
	CHECK_STR(ingest_outcome_name(INGEST__COUNT), "?");
}

static void test_outcomes(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ingest_error err;
	if (setup(f, yaml) < 0)
		goto out;
	STATS(0, 0, 0, 0, 0, 0);

	/* ok: a mapped state reaches the engine with category, reason and the topic's tag */
	CHECK_INT(msg(f, "factory/L1/press-01/state", "FAULT", S(0), &err), INGEST_OK);
	CHECK_INT(f->cap.n_st, 1);
	struct state_rec *s = &f->cap.st[0];
	CHECK_STR(s->machine, "press-01");
	CHECK_INT(s->ts, S(0)); /* the text decoder carries no time: the receive time */
	CHECK_INT(s->cat, CAT_DOWN);
	CHECK_STR(s->raw, "FAULT");
	CHECK_STR(s->reason, "fault");
	CHECK_INT(s->n_tags, 1);
	CHECK_STR(s->tag_key[0], "line");
	CHECK_STR(s->tag_value[0], "L1");
	CHECK_INT(msg(f, "factory/L1/press-01/state", " RUNNING\n", S(1), &err), INGEST_OK);
	CHECK_INT(f->cap.n_st, 2);
	CHECK_INT(f->cap.st[1].cat, CAT_RUNNING);
	CHECK_STR(f->cap.st[1].raw, "RUNNING");
	CHECK_STR(f->cap.st[1].reason, "");
	CHECK_INT(f->cap.st[1].ts, S(1));
	/* a number as map key: the payload's text */
	CHECK_INT(msg(f, "factory/L2/press-02/state", "0", S(2), &err), INGEST_OK);
	CHECK_INT(f->cap.n_st, 3);
	CHECK_STR(f->cap.st[2].machine, "press-02");
	CHECK_INT(f->cap.st[2].cat, CAT_IDLE);
	CHECK_STR(f->cap.st[2].reason, "starved");
	CHECK_STR(f->cap.st[2].tag_value[0], "L2");
	/* a source without a map takes category names; the machine keeps the tags of the topic
	 * it was first seen on */
	CHECK_INT(msg(f, "raw/press-01", "idle", S(3), &err), INGEST_OK);
	CHECK_INT(f->cap.n_st, 4);
	CHECK_STR(f->cap.st[3].machine, "press-01");
	CHECK_INT(f->cap.st[3].cat, CAT_IDLE);
	CHECK_STR(f->cap.st[3].raw, "idle");
	CHECK_INT(f->cap.st[3].n_tags, 1);
	CHECK_STR(f->cap.st[3].tag_value[0], "L1");
	CHECK_INT(msg(f, "raw/press-01", "running", S(4), &err), INGEST_OK);
	CHECK_INT(f->cap.st[4].cat, CAT_RUNNING);
	/* json: the map's default, the payload's timestamp, and a cumulative count (the first
	 * value is a baseline) */
	CHECK_INT(msg(f, "factory/L1/press-01/data",
		      "{\"state\": \"SETUP\", \"good\": 3, \"ts\": \"2026-11-02T06:00:05.5Z\"}",
		      S(5), &err),
		  INGEST_OK);
	CHECK_INT(f->cap.n_st, 6);
	CHECK_INT(f->cap.st[5].cat, CAT_UNKNOWN);
	CHECK_STR(f->cap.st[5].raw, "SETUP");
	CHECK_STR(f->cap.st[5].reason, "other");
	CHECK_INT(f->cap.st[5].ts, S(5.5)); /* ahead of the receive time, within the skew */
	CHECK_INT(msg(f, "factory/L1/press-01/data", "{\"state\": \"RUNNING\", \"good\": 10}", S(6),
		      &err),
		  INGEST_OK);
	CHECK_INT(f->cap.st[6].cat, CAT_RUNNING);
	/* counts: increments of the total */
	CHECK_INT(msg(f, "factory/L1/press-01/count", "5", S(7), &err), INGEST_OK);
	CHECK_INT(msg(f, "factory/L1/press-01/count", " 7\n", S(8), &err), INGEST_OK);
	CHECK_INT(f->cap.n_st, 7); /* counts are no state changes */
	STATS(9, 0, 0, 0, 0, 0);
	struct engine_stats es;
	engine_get_stats(f->e, &es);
	CHECK_INT(es.machines, 2);

	/* unmatched: no source; an empty {machine} level does not match either */
	CHECK_INT(msg(f, "other/press-01", "RUNNING", S(9), &err), INGEST_UNMATCHED);
	CHECK_STR(err.msg, "topic 'other/press-01' matches no source");
	CHECK_INT(msg(f, "factory/L1//state", "RUNNING", S(9), &err), INGEST_UNMATCHED);
	CHECK_STR(err.msg, "topic 'factory/L1//state' matches no source");
	CHECK_INT(msg(f, "factory/L1/press-01/state/x", "RUNNING", S(9), &err), INGEST_UNMATCHED);
	STATS(12, 0, 3, 0, 0, 0);

	/* bad topic: invalid UTF-8 or a NUL, at its byte offset */
	static const char bad_utf8[] = "factory/L1/p\xff/state";
	CHECK_INT(ingest_message(f->in, bad_utf8, strlen(bad_utf8), (const uint8_t *)"RUNNING", 7,
				 S(10), &err),
		  INGEST_BAD_TOPIC);
	CHECK_STR(err.msg, "topic 'factory/L1/p...': byte 12 is not valid UTF-8 or is NUL");
	static const char with_nul[] = "factory/L1/ab\0c/state";
	CHECK_INT(ingest_message(f->in, with_nul, sizeof(with_nul) - 1, (const uint8_t *)"RUNNING",
				 7, S(10), &err),
		  INGEST_BAD_TOPIC);
	CHECK_STR(err.msg, "topic 'factory/L1/ab...': byte 13 is not valid UTF-8 or is NUL");
	static const char overlong[] = "raw/\xc0\xafx"; /* an overlong '/' */
	CHECK_INT(ingest_message(f->in, overlong, strlen(overlong), (const uint8_t *)"idle", 4,
				 S(10), &err),
		  INGEST_BAD_TOPIC);
	CHECK_STR(err.msg, "topic 'raw/...': byte 4 is not valid UTF-8 or is NUL");
	STATS(15, 3, 3, 0, 0, 0);
	CHECK_INT(f->cap.n_st, 7);

	/* decode errors: the decoder, the byte offset and its reason */
	CHECK_INT(msg(f, "factory/L1/press-01/data", "{\"state\" \"RUNNING\"}", S(11), &err),
		  INGEST_DECODE_ERROR);
	CHECK_STR(err.msg, "topic 'factory/L1/press-01/data': json decoder: byte 9: invalid JSON "
			   "at byte 9");
	CHECK_INT(msg(f, "factory/L1/press-01/data", "{\"state\": \"RUNNING\"} x", S(11), &err),
		  INGEST_DECODE_ERROR);
	CHECK_STR(err.msg, "topic 'factory/L1/press-01/data': json decoder: byte 21: junk after "
			   "the JSON value at byte 21");
	CHECK_INT(msg(f, "factory/L1/press-01/count", "12x", S(11), &err), INGEST_DECODE_ERROR);
	CHECK_STR(err.msg, "topic 'factory/L1/press-01/count': text decoder: byte 2: junk after "
			   "the number at byte 2");
	CHECK_INT(msg(f, "factory/L1/press-01/state", "  ", S(11), &err), INGEST_DECODE_ERROR);
	CHECK_STR(err.msg, "topic 'factory/L1/press-01/state': text decoder: byte 0: empty state");
	STATS(19, 7, 3, 0, 0, 0);
	CHECK_INT(f->cap.n_st, 7);

	/* unmapped: a raw state the map does not name, and no `default` */
	CHECK_INT(msg(f, "factory/L1/press-01/state", "BOGUS", S(12), &err), INGEST_UNMAPPED);
	CHECK_STR(err.msg, "topic 'factory/L1/press-01/state': state not in the source's map: "
			   "'BOGUS'");
	/* without a map: not a category name */
	CHECK_INT(msg(f, "raw/press-01", "runs", S(12), &err), INGEST_UNMAPPED);
	CHECK_STR(err.msg, "topic 'raw/press-01': state not in the source's map: 'runs'");
	STATS(21, 7, 3, 2, 0, 0);
	CHECK_INT(f->cap.n_st, 7);

	/* bad values: a negative count (text and json) */
	CHECK_INT(msg(f, "factory/L1/press-01/count", "-3", S(13), &err), INGEST_BAD_VALUE);
	const char *neg = "topic 'factory/L1/press-01/count': count is not a non-negative number";
	CHECK(strncmp(err.msg, neg, strlen(neg)) == 0);
	CHECK_INT(msg(f, "factory/L1/press-01/data", "{\"good\": -1}", S(13), &err),
		  INGEST_BAD_VALUE);
	neg = "topic 'factory/L1/press-01/data': count is not a non-negative number";
	CHECK(strncmp(err.msg, neg, strlen(neg)) == 0);
	STATS(23, 7, 3, 2, 2, 0);

	/* machines.max (3): press-03 fits, press-04 is dropped and never reaches the sink */
	CHECK_INT(msg(f, "hall/H1/C7/press-03", "down", S(14), &err), INGEST_OK);
	CHECK_INT(f->cap.n_st, 8);
	s = &f->cap.st[7];
	CHECK_STR(s->machine, "press-03");
	CHECK_INT(s->cat, CAT_DOWN);
	CHECK_INT(s->n_tags, 2); /* both of the template's variables, in template order */
	CHECK_STR(s->tag_key[0], "hall");
	CHECK_STR(s->tag_value[0], "H1");
	CHECK_STR(s->tag_key[1], "cell");
	CHECK_STR(s->tag_value[1], "C7");
	CHECK_INT(msg(f, "factory/L1/press-04/state", "RUNNING", S(15), &err),
		  INGEST_MACHINE_DROPPED);
	CHECK_STR(err.msg, "topic 'factory/L1/press-04/state': machine 'press-04' dropped: "
			   "machines.max (3) reached");
	CHECK_INT(msg(f, "factory/L1/press-04/count", "1", S(15), &err), INGEST_MACHINE_DROPPED);
	CHECK_INT(f->cap.n_st, 8);
	STATS(26, 7, 3, 2, 2, 2);
	engine_get_stats(f->e, &es);
	CHECK_INT(es.machines, 3);
	CHECK_INT(es.machines_dropped, 2);
	/* known machines still pass */
	CHECK_INT(msg(f, "factory/L2/press-02/state", "RUNNING", S(16), &err), INGEST_OK);
	CHECK_INT(f->cap.n_st, 9);
	STATS(27, 7, 3, 2, 2, 2);

	/* the engine got the right counts: 5 + 7 total (increments), 10 - 3 good (cumulative),
	 * none of the rejected ones */
	engine_report(f->e, S(20));
	const struct kpi_rec *k = find_kpi(&f->cap, "press-01");
	CHECK(k != NULL);
	CHECK_STR(k ? k->label : NULL, "1h");
	CHECK_INT(k ? k->n_tags : 0, 1);
	CHECK_NEAR(kval(k, KF_TOTAL_COUNT), 12, 0);
	CHECK_NEAR(kval(k, KF_GOOD_COUNT), 7, 0);
	k = find_kpi(&f->cap, "press-02");
	CHECK(k != NULL);
	CHECK(isnan(kval(k, KF_TOTAL_COUNT))); /* no count signal */
	CHECK(find_kpi(&f->cap, "press-04") == NULL);

	/* err may be NULL */
	CHECK_INT(ingest_message(f->in, "nowhere", 7, (const uint8_t *)"x", 1, S(21), NULL),
		  INGEST_UNMATCHED);
	STATS(28, 7, 4, 2, 2, 2);
	/* a machine id the engine cannot hold is counted and named, never dropped silently */
	char longtopic[300];
	snprintf(longtopic, sizeof(longtopic), "factory/L1/%0129d/state", 7);
	size_t n_st = f->cap.n_st;
	CHECK_INT(msg(f, longtopic, "RUNNING", S(22), &err), INGEST_BAD_VALUE);
	CHECK(strstr(err.msg, "machine id longer than 128 bytes, message dropped") != NULL);
	STATS(29, 7, 4, 2, 3, 2);
	CHECK_INT(f->cap.n_st, n_st);
out:
	teardown(f);
	free(f);
}

static void test_set_stats(void)
{
	struct fixture *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct ingest_error err;
	if (setup(a, yaml) < 0 || setup(b, yaml) < 0)
		goto out;
	struct fixture *f = a;
	CHECK_INT(msg(a, "factory/L1/m1/state", "RUNNING", S(0), &err), INGEST_OK);
	CHECK_INT(msg(a, "nowhere", "x", S(1), &err), INGEST_UNMATCHED);
	CHECK_INT(msg(a, "factory/L1/m1/count", "x", S(2), &err), INGEST_DECODE_ERROR);
	CHECK_INT(msg(a, "factory/L1/m1/state", "?", S(3), &err), INGEST_UNMAPPED);
	CHECK_INT(msg(a, "factory/L1/m1/count", "-1", S(4), &err), INGEST_BAD_VALUE);
	STATS(5, 1, 1, 1, 1, 0);
	struct ingest_stats sa, sb;
	ingest_get_stats(a->in, &sa);
	sa.dropped = 42; /* set values of its own, too */
	ingest_set_stats(b->in, &sa);
	ingest_get_stats(b->in, &sb);
	CHECK(memcmp(&sa, &sb, sizeof(sa)) == 0);
	/* b counts on from there; a is not touched */
	f = b;
	CHECK_INT(msg(b, "nowhere", "x", S(5), &err), INGEST_UNMATCHED);
	STATS(6, 1, 2, 1, 1, 42);
	f = a;
	STATS(5, 1, 1, 1, 1, 0);
out:
	teardown(a);
	teardown(b);
	free(a);
	free(b);
}

static void test_subscriptions(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (setup(f, yaml) < 0)
		goto out;
	const char *filters[8];
	int qos[8];
	/* the three factory/ templates share no filter; mqtt.qos (1) for all */
	size_t n = ingest_subscriptions(f->in, filters, qos, 8);
	CHECK_INT(n, 5);
	if (n == 5) {
		CHECK_STR(filters[0], "factory/+/+/state");
		CHECK_STR(filters[1], "factory/+/+/count");
		CHECK_STR(filters[2], "factory/+/+/data");
		CHECK_STR(filters[3], "raw/+");
		CHECK_STR(filters[4], "hall/+/+/+");
		for (size_t i = 0; i < n; i++)
			CHECK_INT(qos[i], 1);
	}
	teardown(f);

	/* duplicates merged, in first-seen order, with the highest QoS of each */
	static const char dup_yaml[] =
	    "mqtt: {qos: 1}\n"
	    "sources:\n"
	    "  - {topic: \"a/{machine}/s\", decoder: text, signal: state, "
	    "qos: 0}\n"
	    "  - {topic: \"b/{machine}\", decoder: text, signal: total, "
	    "qos: 0}\n"
	    "  - {topic: \"a/{machine}/s\", decoder: text, signal: state, "
	    "qos: 2}\n"
	    "  - {topic: \"a/{m}/{machine}\", decoder: text, signal: "
	    "state, qos: 2}\n"
	    "  - {topic: \"a/{machine}/s\", decoder: text, signal: state, "
	    "qos: 0}\n"
	    "  - {topic: \"b/{machine}\", decoder: text, signal: total}\n"
	    "  - {topic: \"c/{machine}/#\", decoder: json, signal: total, "
	    "qos: 0}\n";
	if (setup(f, dup_yaml) < 0)
		goto out;
	n = ingest_subscriptions(f->in, filters, qos, 8);
	CHECK_INT(n, 4);
	if (n == 4) {
		CHECK_STR(filters[0], "a/+/s");
		CHECK_INT(qos[0], 2); /* 0, then 2, then 0: the highest stays */
		CHECK_STR(filters[1], "b/+");
		CHECK_INT(qos[1], 1); /* 0 and the default 1 */
		CHECK_STR(filters[2], "a/+/+");
		CHECK_INT(qos[2], 2);
		CHECK_STR(filters[3], "c/+/#");
		CHECK_INT(qos[3], 0);
	}
	/* room for fewer: the first ones */
	n = ingest_subscriptions(f->in, filters, qos, 1);
	CHECK_INT(n, 1);
	CHECK_STR(filters[0], "a/+/s");
	n = ingest_subscriptions(f->in, filters, qos, 0);
	CHECK_INT(n, 0);
	teardown(f);

	/* exactly room for the distinct filters: a later duplicate's higher QoS still counts */
	static const char exact_yaml[] = "sources:\n"
					 "  - {topic: \"a/{machine}\", decoder: text, signal: "
					 "state, qos: 0}\n"
					 "  - {topic: \"b/{machine}\", decoder: text, signal: "
					 "total, qos: 0}\n"
					 "  - {topic: \"a/{machine}\", decoder: text, signal: "
					 "state, qos: 2}\n";
	if (setup(f, exact_yaml) < 0)
		goto out;
	n = ingest_subscriptions(f->in, filters, qos, 8);
	CHECK_INT(n, 2);
	CHECK_INT(qos[0], 2);
	n = ingest_subscriptions(f->in, filters, qos, 2);
	CHECK_INT(n, 2);
	CHECK_STR(filters[0], "a/+");
	CHECK_INT(qos[0], 2);
	CHECK_STR(filters[1], "b/+");
	CHECK_INT(qos[1], 0);
out:
	teardown(f);
	free(f);
}

int main(void)
{
	test_outcome_names();
	test_outcomes();
	test_set_stats();
	test_subscriptions();
	TEST_END();
}
