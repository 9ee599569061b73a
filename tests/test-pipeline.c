/* Unit tests for pipeline.c: the feed rule (a tick at every multiple of report.interval,
 * placed before the first message received at or after it), pipeline_ticks_until, the
 * catch-up cap after a long gap, the final tick, taking lines, the on_tick hook, carrying
 * everything into a pipeline built from a changed config, save/load, rejected messages and
 * their last error, and determinism (the same messages give the same bytes however the
 * lines are taken). Times are seconds after T0 = 2026-11-02 06:00:00 UTC. */
#include <errno.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"
#include "pipeline.h"
#include "testutil.h"

#define T0    1793599200000LL /* 2026-11-02T06:00:00Z, a multiple of the 10 s interval */
#define S(x)  (T0 + (oeed_ms)((x)*1000))
#define NS(x) (S(x) * 1000000LL)

#define BASE_YAML                                                                                  \
	"machines:\n"                                                                              \
	"  max: 4\n"                                                                               \
	"  defaults: {stale_after: 0}\n"                                                           \
	"report:\n"                                                                                \
	"  interval: 10s\n"                                                                        \
	"  windows: [1m]\n"                                                                        \
	"  periods: [day]\n"                                                                       \
	"sources:\n"                                                                               \
	"  - topic: \"f/{line}/{machine}/state\"\n"                                                \
	"    decoder: text\n"                                                                      \
	"    signal: state\n"                                                                      \
	"    map: {RUNNING: running, FAULT: down/fault, IDLE: idle/starved, BREAK: "               \
	"planned/break}\n"                                                                         \
	"  - topic: \"f/{line}/{machine}/count\"\n"                                                \
	"    decoder: text\n"                                                                      \
	"    signal: total\n"

static const char base_yaml[] = BASE_YAML;
/* the same plus a contract (its period is tracked already, it adds no planned reason) and a
 * listed machine with an ideal cycle time: the engine's shape stays, so figures carry over */
static const char changed_yaml[] = BASE_YAML "  - topic: \"g/{machine}\"\n"
					     "    decoder: text\n"
					     "    signal: state\n"
					     "contracts:\n"
					     "  - {name: avail, kpi: availability, period: day, "
					     "target: 0.9, minimum: 0.8}\n";
static const char changed_machine_yaml[] =
    "machines:\n"
    "  max: 4\n"
    "  defaults: {stale_after: 0}\n"
    "  list:\n"
    "    - {id: m1, ideal_cycle_time: 2s}\n"
    "report:\n"
    "  interval: 10s\n"
    "  windows: [1m]\n"
    "  periods: [day]\n"
    "sources:\n"
    "  - topic: \"f/{line}/{machine}/state\"\n"
    "    decoder: text\n"
    "    signal: state\n"
    "    map: {RUNNING: running, FAULT: down/fault, IDLE: idle/starved, BREAK: planned/break}\n"
    "  - topic: \"f/{line}/{machine}/count\"\n"
    "    decoder: text\n"
    "    signal: total\n"
    "contracts:\n"
    "  - {name: avail, kpi: availability, period: day, target: 0.9, minimum: 0.8}\n";

struct ticks {
	struct pipeline *p; /* the pipeline the hook must be called with */
	oeed_ms t[1024];
	uint64_t messages_at[1024]; /* messages handed in when the tick ran */
	size_t n;
	bool wrong_pipeline;
	bool emit_self; /* write a self-metrics line from the hook, as the daemon does */
};

static void on_tick(void *ctx, struct pipeline *p, oeed_ms tick)
{
	struct ticks *k = ctx;
	if (p != k->p)
		k->wrong_pipeline = true;
	if (k->n < OEED_ARRAY_SIZE(k->t)) {
		struct pipeline_stats ps;
		pipeline_get_stats(p, &ps);
		k->t[k->n] = tick;
		k->messages_at[k->n] = ps.messages;
	}
	k->n++;
	if (k->emit_self) {
		struct self_metrics s = {0};
		s.messages = k->n;
		emit_self(pipeline_emitter(p), "gw1", tick, &s);
	}
}

static struct oeed_config *load(const char *yaml)
{
	struct oeed_config *cfg = NULL;
	struct oeed_error err = {{0}};
	int r = config_load_string("t.yaml", yaml, strlen(yaml), &cfg, &err);
	CHECK_INT(r, 0);
	if (r < 0)
		fprintf(stderr, "  %s\n", err.msg);
	return cfg;
}

/* A pipeline writing line protocol, with the tick hook into *k (may be NULL). */
static struct pipeline *make(const struct oeed_config *cfg, struct ticks *k)
{
	struct pipeline *p = NULL;
	struct oeed_error err = {{0}};
	struct pipeline_opts opts = {.on_tick = k ? on_tick : NULL, .ctx = k};
	if (!cfg)
		return NULL;
	int r = pipeline_new(cfg, NULL, &opts, &p, &err);
	CHECK_INT(r, 0);
	if (r < 0)
		fprintf(stderr, "  %s\n", err.msg);
	if (k) {
		memset(k, 0, sizeof(*k));
		k->p = p;
	}
	return p;
}

static enum ingest_outcome feed(struct pipeline *p, double sec, const char *topic,
				const char *payload)
{
	return pipeline_message(p, NS(sec), topic, strlen(topic), (const uint8_t *)payload,
				strlen(payload));
}

/* The lines taken now, as a string ("" when none). */
static const char *take(struct pipeline *p)
{
	static char buf[1 << 16];
	size_t len = 0;
	const char *l = pipeline_take_lines(p, &len);
	if (!l || len >= sizeof(buf))
		len = 0;
	else
		memcpy(buf, l, len);
	buf[len] = '\0';
	return buf;
}

static size_t count_lines(const char *s, const char *measurement)
{
	size_t n = 0, ml = strlen(measurement);
	for (const char *l = s; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l))
		n += strncmp(l, measurement, ml) == 0 && (l[ml] == ',' || l[ml] == ' ');
	return n;
}

static bool starts_with(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The line at s (up to its newline) ends with " ts". */
static bool line_ends_with(const char *s, const char *ts)
{
	if (!s)
		return false;
	size_t n = strcspn(s, "\n"), k = strlen(ts);
	return n >= k && memcmp(s + n - k, ts, k) == 0 && s[n] == '\n';
}

static void test_feed_rule(void)
{
	struct oeed_config *cfg = load(base_yaml);
	struct ticks *k = calloc(1, sizeof(*k));
	struct pipeline *p = make(cfg, k);
	if (!p)
		goto out;
	const char *lines;

	/* the first message: no tick (the next one is due at 10 s) */
	CHECK_INT(feed(p, 3, "f/L1/m1/state", "RUNNING"), INGEST_OK);
	CHECK_INT(k->n, 0);
	CHECK_STR(take(p), "machine_state,machine=m1,line=L1,category=running "
			   "state=\"RUNNING\",reason=\"\" 1793599203000\n");
	CHECK_INT(feed(p, 9.999, "f/L1/m1/count", "100"), INGEST_OK);
	CHECK_INT(k->n, 0);
	CHECK_STR(take(p), ""); /* a baseline count writes nothing */

	/* received at 10 s exactly: the tick of 10 s comes first, its records before the state */
	CHECK_INT(feed(p, 10, "f/L1/m1/state", "FAULT"), INGEST_OK);
	CHECK_INT(k->n, 1);
	CHECK_INT(k->t[0], S(10));
	CHECK_INT(k->messages_at[0], 2); /* before the third message */
	lines = take(p);
	CHECK_INT(count_lines(lines, "machine_kpi"), 2); /* 1m and day */
	CHECK(starts_with(lines, "machine_kpi,machine=m1,line=L1,window=1m run_s=7,"));
	CHECK(strstr(lines, ",total_count=0i,") != NULL);
	const char *st = strstr(lines, "machine_state,");
	CHECK(st != NULL && strcmp(st, "machine_state,machine=m1,line=L1,category=down "
				       "state=\"FAULT\",reason=\"fault\",prev_duration_s=7 "
				       "1793599210000\n") == 0);
	CHECK(st && st > lines && st[-1] == '\n'); /* after the tick's records */

	/* a message at 35 s brings the ticks of 20 and 30 s, in order, before it */
	CHECK_INT(feed(p, 35, "f/L1/m1/count", "130"), INGEST_OK);
	CHECK_INT(k->n, 3);
	CHECK_INT(k->t[1], S(20));
	CHECK_INT(k->t[2], S(30));
	CHECK_INT(k->messages_at[1], 3);
	CHECK_INT(k->messages_at[2], 3);
	CHECK(!k->wrong_pipeline);
	lines = take(p);
	CHECK_INT(count_lines(lines, "machine_kpi"), 4);
	CHECK(strstr(lines, "window=1m run_s=7,idle_s=0,down_s=20,") != NULL); /* at 30 s */
	CHECK(strstr(lines, " 1793599220000\n") != NULL);
	CHECK(strstr(lines, " 1793599230000\n") != NULL);

	/* pipeline_ticks_until: the ticks up to and including `until`, once each */
	pipeline_ticks_until(p, S(39.999));
	CHECK_INT(k->n, 3);
	CHECK_STR(take(p), "");
	pipeline_ticks_until(p, S(40));
	CHECK_INT(k->n, 4);
	CHECK_INT(k->t[3], S(40));
	lines = take(p);
	/* 10 s to 40 s: 30 s down, 130 - 100 parts */
	CHECK(strstr(lines, "window=1m run_s=7,idle_s=0,down_s=30,") != NULL);
	CHECK(strstr(lines, ",total_count=30i,") != NULL);
	pipeline_ticks_until(p, S(40));
	pipeline_ticks_until(p, S(35)); /* the watermark going back does nothing */
	CHECK_INT(k->n, 4);
	pipeline_ticks_until(p, S(71));
	CHECK_INT(k->n, 7);
	CHECK_INT(k->t[4], S(50));
	CHECK_INT(k->t[6], S(70));
	/* the next message, at 75 s, brings none */
	CHECK_INT(feed(p, 75, "f/L1/m1/state", "RUNNING"), INGEST_OK);
	CHECK_INT(k->n, 7);
	/* pipeline_ticks_until before any message only finds the next tick */
	struct ticks *k2 = calloc(1, sizeof(*k2));
	struct pipeline *q = make(cfg, k2);
	if (q) {
		pipeline_ticks_until(q, S(100));
		CHECK_INT(k2->n, 0);
		pipeline_ticks_until(q, S(109.999));
		CHECK_INT(k2->n, 0);
		pipeline_ticks_until(q, S(110));
		CHECK_INT(k2->n, 1);
		CHECK_INT(k2->t[0], S(110));
		CHECK_STR(take(q), ""); /* no machine yet: nothing to report */
	}
	pipeline_free(q);
	free(k2);
out:
	pipeline_free(p);
	free(k);
	config_free(cfg);
}

static void test_catch_up(void)
{
	struct oeed_config *cfg = load(base_yaml);
	struct ticks *k = calloc(1, sizeof(*k));
	struct pipeline *p = make(cfg, k);
	if (!p)
		goto out;
	/* a gap the cap does not touch: 3 s to 3598 s brings the 359 ticks 10 s .. 3590 s */
	CHECK_INT(feed(p, 3, "f/L1/m1/state", "RUNNING"), INGEST_OK);
	CHECK_INT(feed(p, 3598, "f/L1/m1/state", "RUNNING"), INGEST_OK);
	CHECK_INT(k->n, 359);
	CHECK_INT(k->t[0], S(10));
	CHECK_INT(k->t[358], S(3590));

	/* 3598 s to 13603 s: ticks 3600 s .. 13600 s are due, 1001 of them; only the last
	 * FEED_MAX_CATCHUP_TICKS are reported, ending with the one of 13600 s */
	k->n = 0;
	CHECK_INT(feed(p, 13603, "f/L1/m1/state", "RUNNING"), INGEST_OK);
	CHECK_INT(k->n, FEED_MAX_CATCHUP_TICKS);
	CHECK_INT(k->t[0], S(13600) - (FEED_MAX_CATCHUP_TICKS - 1) * 10000LL);
	CHECK_INT(k->n ? k->t[k->n - 1] : 0, S(13600));
	for (size_t i = 1; i < k->n && i < OEED_ARRAY_SIZE(k->t); i++)
		if (k->t[i] != k->t[i - 1] + 10000) {
			CHECK_INT(k->t[i], k->t[i - 1] + 10000);
			break;
		}
	/* and on from there, one tick per interval */
	k->n = 0;
	CHECK_INT(feed(p, 13615, "f/L1/m1/state", "RUNNING"), INGEST_OK);
	CHECK_INT(k->n, 1);
	CHECK_INT(k->t[0], S(13610));

	/* the same cap for the live watermark */
	k->n = 0;
	pipeline_ticks_until(p, S(13615 + 86400));
	CHECK_INT(k->n, FEED_MAX_CATCHUP_TICKS);
	CHECK_INT(k->n ? k->t[k->n - 1] : 0, S(13610 + 86400));

	/* the edge: exactly FEED_MAX_CATCHUP_TICKS due are all reported, one more is capped */
	const double b = 13620 + 86400; /* the next tick */
	k->n = 0;
	CHECK_INT(feed(p, b + 3595, "f/L1/m1/state", "RUNNING"), INGEST_OK); /* b .. b+3590 */
	CHECK_INT(k->n, FEED_MAX_CATCHUP_TICKS);
	CHECK_INT(k->t[0], S(b));
	k->n = 0;
	CHECK_INT(feed(p, b + 7203, "f/L1/m1/state", "RUNNING"), INGEST_OK); /* b+3600 .. b+7200 */
	CHECK_INT(k->n, FEED_MAX_CATCHUP_TICKS);
	CHECK_INT(k->t[0], S(b + 3610));
	CHECK_INT(k->n ? k->t[k->n - 1] : 0, S(b + 7200));
	take(p);
out:
	pipeline_free(p);
	free(k);
	config_free(cfg);
}

static void test_final_tick(void)
{
	struct oeed_config *cfg = load(base_yaml);
	struct ticks *k = calloc(1, sizeof(*k));
	struct pipeline *p = make(cfg, k);
	if (!p)
		goto out;
	/* nothing received: no final tick, also not after the watermark moved */
	pipeline_final_tick(p);
	CHECK_INT(k->n, 0);
	pipeline_ticks_until(p, S(5));
	pipeline_final_tick(p);
	CHECK_INT(k->n, 0);
	CHECK_STR(take(p), "");
	pipeline_free(p);

	p = make(cfg, k);
	if (!p)
		goto out;
	CHECK_INT(feed(p, 3, "f/L1/m1/state", "RUNNING"), INGEST_OK);
	take(p);
	pipeline_final_tick(p);
	CHECK_INT(k->n, 1);
	CHECK_INT(k->t[0], S(10)); /* the tick a live daemon would have reported next */
	const char *lines = take(p);
	CHECK_INT(count_lines(lines, "machine_kpi"), 2);
	CHECK(strstr(lines, "window=1m run_s=7,") != NULL);
	CHECK(strstr(lines, " 1793599210000\n") != NULL);
	/* a message that was rejected counts as received too */
	pipeline_free(p);
	p = make(cfg, k);
	if (!p)
		goto out;
	CHECK_INT(feed(p, 3, "nowhere", "x"), INGEST_UNMATCHED);
	pipeline_final_tick(p);
	CHECK_INT(k->n, 1);
	CHECK_INT(k->t[0], S(10));
out:
	pipeline_free(p);
	free(k);
	config_free(cfg);
}

static void test_take_lines(void)
{
	struct oeed_config *cfg = load(base_yaml);
	struct pipeline *p = make(cfg, NULL);
	size_t len = 99;
	if (!p)
		goto out;
	CHECK(pipeline_take_lines(p, &len) == NULL);
	CHECK_INT(len, 0);
	CHECK_INT(pipeline_pending_bytes(p), 0);
	CHECK_INT(feed(p, 3, "f/L1/m1/state", "RUNNING"), INGEST_OK);
	CHECK_INT(feed(p, 4, "f/L1/m2/state", "IDLE"), INGEST_OK);
	static const char two[] = "machine_state,machine=m1,line=L1,category=running "
				  "state=\"RUNNING\",reason=\"\" 1793599203000\n"
				  "machine_state,machine=m2,line=L1,category=idle "
				  "state=\"IDLE\",reason=\"starved\" 1793599204000\n";
	CHECK_INT(pipeline_pending_bytes(p), strlen(two));
	const char *l = pipeline_take_lines(p, &len);
	CHECK_INT(len, strlen(two));
	CHECK(l != NULL && len == strlen(two) && memcmp(l, two, len) == 0);
	/* taken: nothing pending, a second take is empty */
	CHECK_INT(pipeline_pending_bytes(p), 0);
	len = 99;
	CHECK(pipeline_take_lines(p, &len) == NULL);
	CHECK_INT(len, 0);
	/* the next lines start a fresh buffer */
	CHECK_INT(feed(p, 5, "f/L1/m1/state", "BREAK"), INGEST_OK);
	CHECK_STR(take(p), "machine_state,machine=m1,line=L1,category=planned state=\"BREAK\","
			   "reason=\"break\",prev_duration_s=2 1793599205000\n");
	/* a message writing nothing leaves nothing to take */
	CHECK_INT(feed(p, 6, "f/L1/m1/state", "BREAK"), INGEST_OK); /* a repeat */
	CHECK_INT(pipeline_pending_bytes(p), 0);
	CHECK(pipeline_take_lines(p, &len) == NULL);
	/* lines of the caller's own through the emitter join the same buffer */
	struct self_metrics s = {0};
	emit_self(pipeline_emitter(p), "gw1", S(7), &s);
	CHECK(starts_with(take(p), "oeed,instance=gw1 messages=0i,"));
out:
	pipeline_free(p);
	config_free(cfg);
}

static void test_on_tick_self(void)
{
	struct oeed_config *cfg = load(base_yaml);
	struct ticks *k = calloc(1, sizeof(*k));
	struct pipeline *p = make(cfg, k);
	if (!p)
		goto out;
	k->emit_self = true;
	CHECK_INT(feed(p, 3, "f/L1/m1/state", "RUNNING"), INGEST_OK);
	take(p);
	pipeline_ticks_until(p, S(20));
	CHECK_INT(k->n, 2);
	CHECK(!k->wrong_pipeline);
	const char *lines = take(p);
	/* each tick: its records, then the hook's line stamped with the tick */
	CHECK_INT(count_lines(lines, "machine_kpi"), 4);
	CHECK_INT(count_lines(lines, "oeed"), 2);
	const char *o1 = strstr(lines, "oeed,instance=gw1 messages=1i,");
	const char *o2 = strstr(lines, "oeed,instance=gw1 messages=2i,");
	const char *k20 = strstr(lines, "machine_kpi,machine=m1,line=L1,window=1m run_s=17,");
	CHECK(o1 && o2 && k20 && o1 < k20 && k20 < o2);
	CHECK(line_ends_with(o1, " 1793599210000"));
	CHECK(line_ends_with(o2, " 1793599220000"));
	CHECK(o2 && o2[strcspn(o2, "\n") + 1] == '\0'); /* the last line */
out:
	pipeline_free(p);
	free(k);
	config_free(cfg);
}

static void test_rejected(void)
{
	struct oeed_config *cfg = load(base_yaml);
	struct pipeline *p = make(cfg, NULL);
	struct pipeline_stats ps;
	if (!p)
		goto out;
	CHECK_STR(pipeline_last_error(p), "");
	CHECK_INT(feed(p, 1, "f/L1/m1/state", "RUNNING"), INGEST_OK);
	CHECK_STR(pipeline_last_error(p), "");
	CHECK_INT(feed(p, 2, "x/y", "RUNNING"), INGEST_UNMATCHED);
	CHECK_STR(pipeline_last_error(p), "topic 'x/y' matches no source");
	pipeline_get_stats(p, &ps);
	CHECK_INT(ps.messages, 2);
	CHECK_INT(ps.rejected, 1);
	CHECK_INT(ps.ingest.unmatched, 1);
	/* a good message keeps the last error */
	CHECK_INT(feed(p, 3, "f/L1/m1/count", "5"), INGEST_OK);
	CHECK_STR(pipeline_last_error(p), "topic 'x/y' matches no source");
	CHECK_INT(feed(p, 4, "f/L1/m1/count", "five"), INGEST_DECODE_ERROR);
	CHECK_STR(pipeline_last_error(p), "topic 'f/L1/m1/count': text decoder: byte 0: expected "
					  "a number at byte 0");
	CHECK_INT(feed(p, 5, "f/L1/m1/state", "JAM"), INGEST_UNMAPPED);
	CHECK_STR(pipeline_last_error(p),
		  "topic 'f/L1/m1/state': state not in the source's map: 'JAM'");
	CHECK_INT(feed(p, 6, "f/L1/m1/count", "-1"), INGEST_BAD_VALUE);
	pipeline_get_stats(p, &ps);
	CHECK_INT(ps.messages, 6);
	CHECK_INT(ps.rejected, 4);
	CHECK_INT(ps.ingest.messages, 6);
	CHECK_INT(ps.ingest.decode_errors, 1);
	CHECK_INT(ps.ingest.unmapped, 1);
	CHECK_INT(ps.ingest.bad_values, 1);
	CHECK_INT(ps.last_rx_ns, NS(6)); /* rejected ones were received all the same */
	/* an older receive time does not move last_rx_ns back */
	CHECK_INT(feed(p, 5.5, "f/L1/m1/count", "6"), INGEST_OK);
	pipeline_get_stats(p, &ps);
	CHECK_INT(ps.last_rx_ns, NS(6));
out:
	pipeline_free(p);
	config_free(cfg);
}

static const char *kpi_line(const char *lines, const char *window)
{
	static char buf[2048];
	char key[32];
	snprintf(key, sizeof(key), ",window=%s ", window);
	const char *w = strstr(lines, key);
	if (!w)
		return "";
	const char *start = w;
	while (start > lines && start[-1] != '\n')
		start--;
	size_t n = strcspn(start, "\n");
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, start, n);
	buf[n] = '\0';
	return buf;
}

static void test_carry(void)
{
	struct oeed_config *cfg1 = load(base_yaml), *cfg2 = load(changed_machine_yaml),
			   *cfg3 = load(changed_yaml);
	struct ticks *k1 = calloc(1, sizeof(*k1)), *k2 = calloc(1, sizeof(*k2));
	struct pipeline *p1 = make(cfg1, k1), *p2 = make(cfg2, k2), *p3 = make(cfg3, NULL);
	struct oeed_error err = {{0}};
	struct pipeline_stats s1, s2;
	char l1[2048], l2[2048];
	bool full = false;
	if (!p1 || !p2 || !p3)
		goto out;
	CHECK_INT(feed(p1, 3, "f/L1/m1/state", "RUNNING"), INGEST_OK);
	CHECK_INT(feed(p1, 4, "f/L1/m1/count", "100"), INGEST_OK);
	CHECK_INT(feed(p1, 5, "f/L1/m1/count", "150"), INGEST_OK);
	CHECK_INT(feed(p1, 12, "f/L1/m1/state", "FAULT"), INGEST_OK);
	CHECK_INT(feed(p1, 13, "x/unmatched", "?"), INGEST_UNMATCHED);
	CHECK_INT(k1->n, 1); /* 10 s */
	take(p1);
	pipeline_get_stats(p1, &s1);

	/* into a pipeline with a contract more and a changed machine */
	CHECK_INT(pipeline_carry(p2, p1, &full, &err), 1);
	CHECK(full); /* windows and periods kept their shape */
	pipeline_get_stats(p2, &s2);
	CHECK_INT(s2.messages, 5);
	CHECK_INT(s2.rejected, 1);
	CHECK_INT(s2.last_rx_ns, NS(13));
	CHECK_INT(s2.ingest.messages, 5);
	CHECK_INT(s2.ingest.unmatched, 1);
	CHECK_INT(s2.engine.machines, 1);
	/* from is unchanged */
	pipeline_get_stats(p1, &s1);
	CHECK_INT(s1.messages, 5);
	CHECK_INT(s1.engine.machines, 1);

	/* both go on alike: 170 counts 20 more (the baseline carried, no new one), the next tick
	 * is the same (20 s, none before) */
	CHECK_INT(feed(p1, 15, "f/L1/m1/count", "170"), INGEST_OK);
	CHECK_INT(feed(p2, 15, "f/L1/m1/count", "170"), INGEST_OK);
	CHECK_INT(k2->n, 0);
	pipeline_ticks_until(p1, S(19.999));
	pipeline_ticks_until(p2, S(19.999));
	CHECK_INT(k2->n, 0);
	pipeline_ticks_until(p1, S(20));
	pipeline_ticks_until(p2, S(20));
	CHECK_INT(k1->n, 2);
	CHECK_INT(k2->n, 1);
	CHECK_INT(k2->t[0], S(20));
	const char *a = take(p1); /* take() reuses its buffer: a is used before the next one */
	snprintf(l1, sizeof(l1), "%s", kpi_line(a, "1m"));
	CHECK_INT(count_lines(a, "contract"), 0);
	const char *b = take(p2);
	CHECK_INT(count_lines(b, "contract"), 1); /* the new contract */
	snprintf(l2, sizeof(l2), "%s", kpi_line(b, "1m"));
	/* the 1m window is 60 buckets of 1 s: at 20 s it spans 59 s, from -39 s (as in
	 * test-engine, a 1h window of 60 s buckets at 07:00 starts at 06:01). The state (down since
	 * 12 s), the run before it and the counts survived; the changed machine (ideal cycle 2 s)
	 * now has a performance: 2 * 70 / 9 */
	CHECK_STR(
	    l1,
	    "machine_kpi,machine=m1,line=L1,window=1m run_s=9,idle_s=0,down_s=8,"
	    "planned_s=0,unknown_s=42,observed_s=17,coverage=0.288135593,ppt_s=17,"
	    "total_count=70i,availability=0.529411765,uptime=0.529411765,"
	    "down_run_ratio=0.888888889,failures=1i,mtbf_s=9,mttr_s=8,rate_per_h=14823.529411765,"
	    "cycle_count=0i,final=false,window_start=1793599161000i 1793599220000");
	CHECK_STR(
	    l2, "machine_kpi,machine=m1,line=L1,window=1m run_s=9,idle_s=0,down_s=8,"
		"planned_s=0,unknown_s=42,observed_s=17,coverage=0.288135593,ppt_s=17,"
		"total_count=70i,availability=0.529411765,uptime=0.529411765,"
		"performance=15.555555556,down_run_ratio=0.888888889,failures=1i,mtbf_s=9,mttr_s=8,"
		"rate_per_h=14823.529411765,cycle_count=0i,final=false,"
		"window_start=1793599161000i 1793599220000");

	/* the same from a config with one more source and the contract (machine unchanged):
	 * the machine's line is the same as p1's */
	CHECK_INT(pipeline_carry(p3, p1, &full, &err), 1);
	CHECK(full);
	pipeline_ticks_until(p3, S(30));
	pipeline_ticks_until(p1, S(30));
	a = take(p1);
	snprintf(l1, sizeof(l1), "%s", kpi_line(a, "day"));
	b = take(p3);
	CHECK(strstr(l1, "down_s=18,") != NULL);
	CHECK_STR(kpi_line(b, "day"), l1);
	/* and a new machine on the new source */
	CHECK_INT(feed(p3, 31, "g/m9", "running"), INGEST_OK);
	pipeline_get_stats(p3, &s2);
	CHECK_INT(s2.engine.machines, 2);
out:
	pipeline_free(p1);
	pipeline_free(p2);
	pipeline_free(p3);
	free(k1);
	free(k2);
	config_free(cfg1);
	config_free(cfg2);
	config_free(cfg3);
}

static void test_save_load(void)
{
	struct oeed_config *cfg = load(base_yaml);
	struct pipeline *p = make(cfg, NULL), *q = make(cfg, NULL);
	struct oeed_error err = {{0}};
	struct pipeline_stats ps, qs;
	struct strbuf sb;
	bool full = false;
	strbuf_init(&sb);
	if (!p || !q)
		goto out;
	CHECK_INT(feed(p, 3, "f/L1/m1/state", "RUNNING"), INGEST_OK);
	CHECK_INT(feed(p, 4, "f/L2/m2/count", "10"), INGEST_OK);
	CHECK_INT(feed(p, 5.25, "f/L2/m2/count", "15"), INGEST_OK);
	pipeline_get_stats(p, &ps);
	CHECK_INT(ps.last_rx_ns, NS(5.25));
	CHECK_INT(pipeline_save(p, &sb), 0);
	CHECK(sb.len > 0);

	/* a bad blob changes nothing */
	CHECK_INT(pipeline_load(q, "junk", 4, NS(99), &full, &err), -EINVAL);
	pipeline_get_stats(q, &qs);
	CHECK_INT(qs.last_rx_ns, 0);
	CHECK_INT(qs.engine.machines, 0);

	CHECK_INT(pipeline_load(q, sb.buf, sb.len, ps.last_rx_ns, &full, &err), 2);
	CHECK(full);
	pipeline_get_stats(q, &qs);
	CHECK_INT(qs.last_rx_ns, NS(5.25));
	CHECK_INT(qs.engine.machines, 2);
	/* the machines go on where they were: the counter's baseline too (20 - 15 = 5 more) */
	take(p);
	take(q);
	CHECK_INT(feed(p, 6, "f/L2/m2/count", "20"), INGEST_OK);
	CHECK_INT(feed(q, 6, "f/L2/m2/count", "20"), INGEST_OK);
	pipeline_ticks_until(p, S(10));
	pipeline_ticks_until(q, S(10));
	const char *a = take(p);
	char copy[8192];
	snprintf(copy, sizeof(copy), "%s", a);
	CHECK(strstr(copy, "machine=m2,line=L2,window=1m ") != NULL);
	CHECK(strstr(copy, ",total_count=10i,") != NULL);
	CHECK_STR(take(q), copy);
out:
	strbuf_free(&sb);
	pipeline_free(p);
	pipeline_free(q);
	config_free(cfg);
}

/* ---- determinism ---- */

static uint64_t rng_state;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)rng_state;
}

enum take_mode { TAKE_EACH, TAKE_AT_END, TAKE_RANDOM_WITH_WATERMARK };

/* 3000 messages from one seed into a pipeline; all its line protocol into out. */
static void run_stream(const struct oeed_config *cfg, enum take_mode mode, struct strbuf *out)
{
	static const char *const states[] = {"RUNNING", "RUNNING", "FAULT", "IDLE", "BREAK", "JAM"};
	struct pipeline *p = make(cfg, NULL);
	if (!p)
		return;
	rng_state = 0x9e3779b97f4a7c15ull;
	uint32_t rnd_take = 12345;
	int64_t rx = NS(0);
	uint32_t total[3] = {0};
	size_t len;
	const char *l;
	for (int i = 0; i < 3000; i++) {
		uint32_t r = rnd();
		rx += (int64_t)(r % 5000) * 1000000 + (r % 7);
		if (r % 500 == 0)
			rx += 1800LL * 1000000000; /* half an hour of silence */
		int m = (int)(rnd() % 3);
		char topic[64], payload[32];
		uint32_t kind = rnd() % 10;
		if (kind < 5) {
			snprintf(topic, sizeof(topic), "f/L%d/m%d/state", m % 2, m);
			snprintf(payload, sizeof(payload), "%s", states[rnd() % 6]);
		} else if (kind < 9) {
			total[m] += rnd() % 4;
			if (rnd() % 100 == 0)
				total[m] = 0; /* a counter reset */
			snprintf(topic, sizeof(topic), "f/L%d/m%d/count", m % 2, m);
			snprintf(payload, sizeof(payload), "%u", total[m]);
		} else {
			snprintf(topic, sizeof(topic), "f/L%d/m%d/other", m % 2, m);
			snprintf(payload, sizeof(payload), "x");
		}
		pipeline_message(p, rx, topic, strlen(topic), (const uint8_t *)payload,
				 strlen(payload));
		bool take_now = mode == TAKE_EACH;
		if (mode == TAKE_RANDOM_WITH_WATERMARK) {
			pipeline_ticks_until(p, rx / 1000000); /* the live loop's watermark */
			rnd_take = rnd_take * 1103515245u + 12345u;
			take_now = (rnd_take >> 16) % 7 == 0;
		}
		if (take_now && (l = pipeline_take_lines(p, &len)) != NULL)
			strbuf_append(out, l, len);
	}
	pipeline_final_tick(p);
	if ((l = pipeline_take_lines(p, &len)) != NULL)
		strbuf_append(out, l, len);
	pipeline_free(p);
}

static void test_determinism(void)
{
	struct oeed_config *cfg = load(base_yaml);
	struct strbuf a, b, c, d;
	strbuf_init(&a);
	strbuf_init(&b);
	strbuf_init(&c);
	strbuf_init(&d);
	if (!cfg)
		goto out;
	run_stream(cfg, TAKE_EACH, &a);
	run_stream(cfg, TAKE_EACH, &b);
	run_stream(cfg, TAKE_AT_END, &c);
	run_stream(cfg, TAKE_RANDOM_WITH_WATERMARK, &d);
	CHECK(a.len > 100000);
	CHECK_INT(b.len, a.len);
	CHECK_INT(c.len, a.len);
	CHECK_INT(d.len, a.len);
	CHECK(a.len && b.len == a.len && memcmp(a.buf, b.buf, a.len) == 0);
	CHECK(a.len && c.len == a.len && memcmp(a.buf, c.buf, a.len) == 0);
	CHECK(a.len && d.len == a.len && memcmp(a.buf, d.buf, a.len) == 0);
	/* the stream has every kind of line */
	CHECK(a.len && count_lines(a.buf, "machine_state") > 100);
	CHECK(a.len && count_lines(a.buf, "machine_kpi") > 1000);
out:
	strbuf_free(&a);
	strbuf_free(&b);
	strbuf_free(&c);
	strbuf_free(&d);
	config_free(cfg);
}

/* instance_tag: every machine and contract point says which gateway wrote it (fleet.md). */
static void test_instance_tag(void)
{
	static const char yaml[] = "instance: gw-a\ninstance_tag: true\nsite: s1\n" BASE_YAML;
	struct oeed_config *cfg = load(yaml);
	struct pipeline *p = make(cfg, NULL);
	if (!p)
		goto out;
	CHECK_INT(feed(p, 3, "f/L1/m1/state", "RUNNING"), INGEST_OK);
	CHECK_STR(take(p), "machine_state,machine=m1,site=s1,instance=gw-a,line=L1,"
			   "category=running state=\"RUNNING\",reason=\"\" 1793599203000\n");
	CHECK_INT(feed(p, 12, "f/L1/m1/state", "FAULT"), INGEST_OK);
	const char *lines = take(p);
	CHECK(
	    starts_with(lines, "machine_kpi,machine=m1,site=s1,instance=gw-a,line=L1,window=1m "));
out:
	pipeline_free(p);
	config_free(cfg);
}

int main(void)
{
	log_set_level(LOG_LVL_ERROR); /* the rejected messages' warnings */
	test_feed_rule();
	test_catch_up();
	test_final_tick();
	test_take_lines();
	test_on_tick_self();
	test_rejected();
	test_carry();
	test_save_load();
	test_determinism();
	test_instance_tag();
	TEST_END();
}
