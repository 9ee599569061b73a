/* oeed-sim.c - a deterministic machine simulator for tests, benchmarks and the demo.
 * N machines run cycles (one part each, some rejects), idle, fail and take planned breaks;
 * they publish MQTT messages in the text and JSON styles config/demo.yaml reads. Modes:
 * record (a recording file in the format of recording.h, plus the ground truth computed from
 * the simulator's own timeline, independently of oeed's engine), live (paho, paced to the
 * wall clock), flood (paho, as fast as possible) and blast (a raw-socket MQTT 3.1.1 publisher
 * that writes PUBLISH packets in large batches over one TCP connection: faster than the broker,
 * with JSON timestamps taken at publish time as a plant would send them). The same seed gives
 * the same messages (blast: the same but for the timestamps). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <MQTTAsync.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include "config.h"
#include "recording.h"
#include "util.h"

#define MS_PER_MIN 60000LL
#define MS_PER_DAY 86400000LL
#define SIM_NEVER  INT64_MAX
#define MAX_BREAKS 8
#define QMAX	   4 /* messages one event can produce: text start = state + 2 counters */

/* ---- pseudo-random numbers: xoshiro256** seeded by splitmix64, one stream per machine so
 * that a machine's behaviour does not depend on how many machines run beside it. */
struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL);

	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

/* Uniform in [0, 1). */
static double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [lo, hi]. */
static oeed_ms rng_range(struct rng *r, oeed_ms lo, oeed_ms hi)
{
	if (hi <= lo)
		return lo;
	return lo + (oeed_ms)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* Exponentially distributed duration with the given mean, at least 1 ms. */
static oeed_ms rng_exp(struct rng *r, double mean_ms)
{
	double v = -mean_ms * log1p(-rng_unit(r));

	return v < 1.0 ? 1 : (oeed_ms)llround(v);
}

/* ---- the model */

/* Raw states as the machines report them; config/demo.yaml maps each to a category. */
enum raw_state {
	RS_RUNNING = 0,
	RS_IDLE,       /* idle/starved */
	RS_BLOCKED,    /* idle/blocked */
	RS_STOP,       /* idle/short_stop: the micro-stops */
	RS_FAULT,      /* down/fault */
	RS_JAM,	       /* down/jam */
	RS_TOOLCHANGE, /* down/tool_change */
	RS_BREAK,      /* planned/break */
	RS__COUNT
};

static const struct {
	const char *raw;
	enum oeed_category cat;
	oeed_ms min_ms, max_ms; /* duration range of a stop of this kind */
} raw_states[RS__COUNT] = {
    [RS_RUNNING] = {"RUNNING", CAT_RUNNING, 0, 0},
    [RS_IDLE] = {"IDLE", CAT_IDLE, 30000, 8 * MS_PER_MIN},
    [RS_BLOCKED] = {"BLOCKED", CAT_IDLE, 20000, 5 * MS_PER_MIN},
    [RS_STOP] = {"STOP", CAT_IDLE, 2000, 25000},
    [RS_FAULT] = {"FAULT", CAT_DOWN, 2 * MS_PER_MIN, 15 * MS_PER_MIN},
    [RS_JAM] = {"JAM", CAT_DOWN, 1 * MS_PER_MIN, 5 * MS_PER_MIN},
    [RS_TOOLCHANGE] = {"TOOLCHANGE", CAT_DOWN, 5 * MS_PER_MIN, 10 * MS_PER_MIN},
    [RS_BREAK] = {"BREAK", CAT_PLANNED, 0, 0},
};

static const char *const cat_names[CAT__COUNT] = {"run_s", "idle_s", "down_s", "planned_s",
						  "unknown_s"};

enum style { STYLE_TEXT = 0, STYLE_JSON, STYLE_MIXED };

struct sim_break {
	int start_min; /* minutes after midnight UTC */
	oeed_ms len_ms;
};

struct sim_params {
	uint64_t seed;
	unsigned machines;
	unsigned per_line; /* machines per production line (the {line} of the topic) */
	enum style style;
	oeed_ms start;
	oeed_ms duration; /* the span the truth covers; 0: open-ended (needs max_messages) */
	oeed_ms tail;	  /* messages keep coming this long after the span (closes periods) */
	uint64_t max_messages;
	oeed_ms ideal_ms;
	bool ideal_spread; /* machine i: ideal x (1 + 0.5 x (i mod 4)) */
	double jitter;	   /* actual cycle = ideal x (1 + U[0, jitter]) */
	double reject_p;
	oeed_ms count_interval;
	oeed_ms stagger; /* first message of each machine in [start, start + stagger] */
	double fault_every_ms, idle_every_ms, stop_every_ms; /* mean running time between */
	struct sim_break breaks[MAX_BREAKS];
	size_t n_breaks;
	bool no_ts;
};

struct sim_msg {
	oeed_ms t;
	size_t topic_len, len;
	char topic[96];
	char payload[192];
};

struct truth {
	oeed_ms cat_ms[CAT__COUNT];
	uint64_t failures;
	int64_t total, reject, cycles;
};

struct machine {
	char id[24], line[24];
	bool json;
	struct rng rng;
	oeed_ms ideal_ms;
	bool started;
	oeed_ms first_ms;
	enum raw_state state;
	oeed_ms since;
	oeed_ms state_end; /* running: end of the run (stops after that cycle); else: end of stop */
	oeed_ms cycle_end; /* running only */
	oeed_ms next_break; /* next break start when not in a break */
	oeed_ms next_count;
	int64_t total, reject; /* the counters the device shows (cumulative) */
	bool reported;	       /* a counter value was published: the baseline is known */
	int64_t rep_total, rep_reject;
	struct sim_msg q[QMAX];
	unsigned qhead, qn;
	struct truth tr;
};

struct sim {
	const struct sim_params *p;
	oeed_ms span_end; /* SIM_NEVER when open-ended */
	struct machine *m;
	unsigned *heap; /* machine indices, min-heap on (next message time, index) */
	unsigned n_heap;
};

static bool in_span(const struct sim *s, oeed_ms t)
{
	return t >= s->p->start && t < s->span_end;
}

/* Whether t lies in a break (then *ret_end is its end); else *ret_next is the next start. */
static bool break_at(const struct sim_params *p, oeed_ms t, oeed_ms *ret_end, oeed_ms *ret_next)
{
	oeed_ms day = t >= 0 ? t / MS_PER_DAY : (t - MS_PER_DAY + 1) / MS_PER_DAY;
	oeed_ms next = SIM_NEVER;

	for (oeed_ms d = day - 1; d <= day + 1; d++) {
		for (size_t i = 0; i < p->n_breaks; i++) {
			oeed_ms bs = d * MS_PER_DAY + p->breaks[i].start_min * MS_PER_MIN;
			oeed_ms be = bs + p->breaks[i].len_ms;

			if (bs <= t && t < be) {
				*ret_end = be;
				return true;
			}
			if (bs > t && bs < next)
				next = bs;
		}
	}
	*ret_next = next;
	return false;
}

/* Adds [a, b) clipped to the span to category c of the machine's truth. */
static void account(const struct sim *s, struct machine *m, oeed_ms a, oeed_ms b,
		    enum oeed_category c)
{
	oeed_ms lo = OEED_MAX(a, s->p->start), hi = OEED_MIN(b, s->span_end);

	if (hi > lo)
		m->tr.cat_ms[c] += hi - lo;
}

static oeed_ms cycle_ms(const struct sim_params *p, struct machine *m)
{
	double f = 1.0 + p->jitter * rng_unit(&m->rng);
	oeed_ms c = (oeed_ms)llround((double)m->ideal_ms * f);

	return c < 1 ? 1 : c;
}

static struct sim_msg *queue_add(struct machine *m, oeed_ms t)
{
	struct sim_msg *q = &m->q[(m->qhead + m->qn) % QMAX];

	m->qn++;
	q->t = t;
	return q;
}

/* The length snprintf wrote into a buffer of cap bytes (the buffers are sized for the longest
 * topic and payload the simulator makes, so nothing is cut in practice). */
static size_t fit_len(size_t cap, int n)
{
	return n < 0 ? 0 : OEED_MIN((size_t)n, cap - 1);
}

/* Counter values carried by a message at time t: the first is the baseline, each later one
 * adds its increase to the truth when t lies in the span (a count belongs to the window
 * that contains its timestamp). */
static void report_counts(const struct sim *s, struct machine *m, oeed_ms t)
{
	if (m->reported && in_span(s, t)) {
		m->tr.total += m->total - m->rep_total;
		m->tr.reject += m->reject - m->rep_reject;
	}
	m->reported = true;
	m->rep_total = m->total;
	m->rep_reject = m->reject;
}

/* Formatted into a local buffer first: the queue lives inside the machine, so the compiler
 * cannot tell that the id and line do not overlap the destination. */
static void set_topic(struct sim_msg *q, const struct machine *m, const char *what)
{
	char buf[sizeof(q->topic)];

	q->topic_len = fit_len(
	    sizeof(buf), snprintf(buf, sizeof(buf), "factory/%s/%s/%s", m->line, m->id, what));
	memcpy(q->topic, buf, q->topic_len + 1);
}

static void emit_json(const struct sim *s, struct machine *m, oeed_ms t)
{
	struct sim_msg *q = queue_add(m, t);
	int n;

	set_topic(q, m, "data");
	if (s->p->no_ts)
		n = snprintf(q->payload, sizeof(q->payload),
			     "{\"state\":\"%s\",\"parts\":%" PRId64 ",\"scrap\":%" PRId64 "}",
			     raw_states[m->state].raw, m->total, m->reject);
	else
		n = snprintf(q->payload, sizeof(q->payload),
			     "{\"state\":\"%s\",\"parts\":%" PRId64 ",\"scrap\":%" PRId64
			     ",\"ts\":%" PRId64 "}",
			     raw_states[m->state].raw, m->total, m->reject, t);
	q->len = fit_len(sizeof(q->payload), n);
	report_counts(s, m, t);
}

static void emit_text(struct machine *m, oeed_ms t, const char *what, const char *value)
{
	struct sim_msg *q = queue_add(m, t);

	set_topic(q, m, what);
	q->len = fit_len(sizeof(q->payload), snprintf(q->payload, sizeof(q->payload), "%s", value));
}

static void emit_counts(const struct sim *s, struct machine *m, oeed_ms t)
{
	char v[32];

	if (m->json) {
		emit_json(s, m, t);
		return;
	}
	snprintf(v, sizeof(v), "%" PRId64, m->total);
	emit_text(m, t, "count", v);
	snprintf(v, sizeof(v), "%" PRId64, m->reject);
	emit_text(m, t, "reject", v);
	report_counts(s, m, t);
}

/* The machine changes to state st at time t and says so. */
static void enter(struct sim *s, struct machine *m, oeed_ms t, enum raw_state st)
{
	const struct sim_params *p = s->p;
	enum oeed_category c = raw_states[st].cat;

	if (m->started) {
		account(s, m, m->since, t, raw_states[m->state].cat);
		if (c == CAT_DOWN && raw_states[m->state].cat != CAT_DOWN && in_span(s, t))
			m->tr.failures++;
	}
	m->state = st;
	m->since = t;
	if (st == RS_BREAK) {
		oeed_ms unused;

		break_at(p, t, &m->state_end, &unused);
		m->next_break = SIM_NEVER;
	} else {
		oeed_ms unused;

		break_at(p, t, &unused, &m->next_break);
		if (st == RS_RUNNING) {
			double rate = 1.0 / p->fault_every_ms + 1.0 / p->idle_every_ms +
				      1.0 / p->stop_every_ms;

			m->state_end = t + rng_exp(&m->rng, 1.0 / rate);
			m->cycle_end = t + cycle_ms(p, m);
		} else {
			m->state_end =
			    t + rng_range(&m->rng, raw_states[st].min_ms, raw_states[st].max_ms);
		}
	}
	if (!m->started)
		return; /* the first state goes out with the baseline counters */
	if (m->json)
		emit_json(s, m, t);
	else
		emit_text(m, t, "state", raw_states[st].raw);
}

/* Which stop ends a run: chosen with the weights of the configured rates. */
static enum raw_state pick_stop(const struct sim_params *p, struct machine *m)
{
	double wf = 1.0 / p->fault_every_ms, wi = 1.0 / p->idle_every_ms,
	       ws = 1.0 / p->stop_every_ms;
	double u = rng_unit(&m->rng) * (wf + wi + ws);

	if (u < ws)
		return RS_STOP;
	if (u < ws + wi)
		return rng_unit(&m->rng) < 0.6 ? RS_IDLE : RS_BLOCKED;
	u = rng_unit(&m->rng);
	return u < 0.6 ? RS_FAULT : u < 0.85 ? RS_JAM : RS_TOOLCHANGE;
}

static void machine_start(struct sim *s, struct machine *m, oeed_ms t)
{
	oeed_ms end, next;
	bool brk = break_at(s->p, t, &end, &next);

	enter(s, m, t, brk ? RS_BREAK : RS_RUNNING);
	m->started = true;
	m->first_ms = t;
	if (!m->json)
		emit_text(m, t, "state", raw_states[m->state].raw);
	emit_counts(s, m, t);
	m->next_count = t + s->p->count_interval;
}

/* Runs the machine's timeline until it has a message to publish. Ties are ordered: a cycle
 * completes, then a break starts, then a stop ends, then the counters are published. */
static void machine_fill(struct sim *s, struct machine *m)
{
	const struct sim_params *p = s->p;

	while (m->qn == 0) {
		oeed_ms t_cycle, t_break, t_end, t;

		if (!m->started) {
			machine_start(s, m, m->first_ms);
			continue;
		}
		t_cycle = m->state == RS_RUNNING ? m->cycle_end : SIM_NEVER;
		t_break = m->next_break;
		t_end = m->state == RS_RUNNING ? SIM_NEVER : m->state_end;
		t = OEED_MIN(OEED_MIN(t_cycle, t_break), OEED_MIN(t_end, m->next_count));

		if (t == t_cycle) {
			m->total++;
			if (rng_unit(&m->rng) < p->reject_p)
				m->reject++;
			if (in_span(s, t))
				m->tr.cycles++;
			if (t >= m->state_end)
				enter(s, m, t, pick_stop(p, m));
			else
				m->cycle_end = t + cycle_ms(p, m);
		} else if (t == t_break) {
			enter(s, m, t, RS_BREAK);
		} else if (t == t_end) {
			enter(s, m, t, RS_RUNNING);
		} else {
			emit_counts(s, m, t);
			m->next_count = t + p->count_interval;
		}
	}
}

static bool heap_less(const struct sim *s, unsigned a, unsigned b)
{
	oeed_ms ta = s->m[a].q[s->m[a].qhead].t, tb = s->m[b].q[s->m[b].qhead].t;

	return ta < tb || (ta == tb && a < b);
}

static void heap_down(struct sim *s, unsigned i)
{
	for (;;) {
		unsigned l = 2 * i + 1, r = l + 1, min = i, tmp;

		if (l < s->n_heap && heap_less(s, s->heap[l], s->heap[min]))
			min = l;
		if (r < s->n_heap && heap_less(s, s->heap[r], s->heap[min]))
			min = r;
		if (min == i)
			return;
		tmp = s->heap[i];
		s->heap[i] = s->heap[min];
		s->heap[min] = tmp;
		i = min;
	}
}

static void sim_free(struct sim *s)
{
	free(s->m);
	free(s->heap);
}

static int sim_init(struct sim *s, const struct sim_params *p)
{
	*s = (struct sim){.p = p, .span_end = p->duration ? p->start + p->duration : SIM_NEVER};
	s->m = calloc(p->machines, sizeof(*s->m));
	s->heap = calloc(p->machines, sizeof(*s->heap));
	if (!s->m || !s->heap) {
		sim_free(s);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < p->machines; i++) {
		struct machine *m = &s->m[i];

		snprintf(m->id, sizeof(m->id), "m%04u", i);
		snprintf(m->line, sizeof(m->line), "line%u", i / p->per_line + 1);
		m->json = p->style == STYLE_JSON || (p->style == STYLE_MIXED && i % 2 == 1);
		rng_seed(&m->rng, p->seed, i + 1);
		m->ideal_ms = p->ideal_ms;
		if (p->ideal_spread)
			m->ideal_ms = p->ideal_ms + p->ideal_ms * (i % 4) / 2;
		m->first_ms = p->start + rng_range(&m->rng, 0, p->stagger);
		/* Each device's counters start somewhere: the first value is only a baseline. */
		m->total = rng_range(&m->rng, 0, 100000);
		m->reject = m->total / 50;
		machine_fill(s, m);
		s->heap[i] = i;
	}
	s->n_heap = p->machines;
	for (unsigned i = s->n_heap / 2; i-- > 0;)
		heap_down(s, i);
	return 0;
}

/* The next message in time order over all machines (ties: lower machine index first). */
static void sim_next(struct sim *s, struct sim_msg *ret)
{
	struct machine *m = &s->m[s->heap[0]];

	*ret = m->q[m->qhead];
	m->qhead = (m->qhead + 1) % QMAX;
	m->qn--;
	machine_fill(s, m);
	heap_down(s, 0);
}

static oeed_ms sim_peek(const struct sim *s)
{
	const struct machine *m = &s->m[s->heap[0]];

	return m->q[m->qhead].t;
}

/* ---- ground truth */

static void fmt_s(char *buf, size_t len, oeed_ms ms)
{
	snprintf(buf, len, "%" PRId64 ".%03" PRId64, ms / 1000, ms % 1000);
}

static void truth_print_one(FILE *f, const struct truth *t, oeed_ms ideal_ms)
{
	char b[32];

	for (int c = 0; c < CAT__COUNT; c++) {
		fmt_s(b, sizeof(b), t->cat_ms[c]);
		fprintf(f, "\"%s\": %s, ", cat_names[c], b);
	}
	if (ideal_ms > 0) {
		fmt_s(b, sizeof(b), ideal_ms);
		fprintf(f, "\"ideal_cycle_s\": %s, ", b);
	}
	fprintf(f,
		"\"failures\": %" PRIu64 ", \"total_count\": %" PRId64 ", \"good_count\": %" PRId64
		", \"reject_count\": %" PRId64 ", \"cycles\": %" PRId64,
		t->failures, t->total, t->total - t->reject, t->reject, t->cycles);
}

/* Closes every machine's open state at the end of the span and writes the truth as JSON. */
static int truth_write(struct sim *s, const char *path)
{
	struct truth sum = {0};
	FILE *f = fopen(path, "w");
	int r = 0;

	if (!f)
		return -errno;
	fprintf(f,
		"{\"start_ms\": %" PRId64 ", \"end_ms\": %" PRId64 ", \"seed\": %" PRIu64
		",\n \"machines\": [\n",
		s->p->start, s->span_end, s->p->seed);
	for (unsigned i = 0; i < s->p->machines; i++) {
		struct machine *m = &s->m[i];

		if (m->started) {
			account(s, m, m->since, SIM_NEVER, raw_states[m->state].cat);
			account(s, m, s->p->start, m->first_ms, CAT_UNKNOWN);
		} else {
			account(s, m, s->p->start, SIM_NEVER, CAT_UNKNOWN);
		}
		fprintf(f, "  {\"machine\": \"%s\", \"line\": \"%s\", \"style\": \"%s\", ", m->id,
			m->line, m->json ? "json" : "text");
		fprintf(f, "\"first_ms\": %" PRId64 ", ", m->first_ms);
		truth_print_one(f, &m->tr, m->ideal_ms);
		fprintf(f, "}%s\n", i + 1 < s->p->machines ? "," : "");
		for (int c = 0; c < CAT__COUNT; c++)
			sum.cat_ms[c] += m->tr.cat_ms[c];
		sum.failures += m->tr.failures;
		sum.total += m->tr.total;
		sum.reject += m->tr.reject;
		sum.cycles += m->tr.cycles;
	}
	fprintf(f, " ],\n \"total\": {");
	truth_print_one(f, &sum, 0);
	fprintf(f, "}}\n");
	if (ferror(f))
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

/* ---- record mode */

static int run_record(const struct sim_params *p, const char *out, const char *truth_path)
{
	struct strbuf sb;
	struct sim s;
	FILE *f;
	oeed_ms end_all = p->duration ? p->start + p->duration + p->tail : SIM_NEVER;
	uint64_t n = 0;
	int r;

	r = sim_init(&s, p);
	if (r < 0)
		return r;
	strbuf_init(&sb);
	f = strcmp(out, "-") == 0 ? stdout : fopen(out, "w");
	if (!f) {
		r = -errno;
		goto out_sim;
	}
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	while ((!p->max_messages || n < p->max_messages) && sim_peek(&s) < end_all) {
		struct sim_msg msg;

		sim_next(&s, &msg);
		strbuf_reset(&sb);
		strbuf_printf(&sb, "%" PRId64 " ", msg.t * 1000000);
		rec_percent_encode(&sb, msg.topic, msg.topic_len);
		strbuf_putc(&sb, ' ');
		rec_base64_encode(&sb, (const uint8_t *)msg.payload, msg.len);
		strbuf_putc(&sb, '\n');
		if (sb.failed) {
			r = -ENOMEM;
			goto out_file;
		}
		if (fwrite(sb.buf, 1, sb.len, f) != sb.len) {
			r = -errno;
			goto out_file;
		}
		n++;
	}
	if (truth_path)
		r = truth_write(&s, truth_path);
	fprintf(stderr, "oeed-sim: wrote %" PRIu64 " messages\n", n);
out_file:
	if (f != stdout) {
		if (fclose(f) != 0 && r == 0)
			r = -errno;
	} else if (fflush(f) != 0 && r == 0) {
		r = -errno;
	}
out_sim:
	strbuf_free(&sb);
	sim_free(&s);
	return r;
}

/* ---- live and flood modes (paho MQTTAsync) */

struct pub {
	MQTTAsync client;
	atomic_long outstanding; /* sent, not yet confirmed written (qos 0) or acknowledged */
	atomic_long failed;
	atomic_int connect_state; /* 0 pending, 1 connected, -1 failed */
	long max_outstanding;
	int qos;
};

static void pub_on_connect(void *ctx, MQTTAsync_successData *d)
{
	struct pub *pb = ctx;

	atomic_store(&pb->connect_state, 1);
}

static void pub_on_connect_fail(void *ctx, MQTTAsync_failureData *d)
{
	struct pub *pb = ctx;

	atomic_store(&pb->connect_state, -1);
}

static void pub_on_sent(void *ctx, MQTTAsync_successData *d)
{
	struct pub *pb = ctx;

	atomic_fetch_sub(&pb->outstanding, 1);
}

static void pub_on_send_fail(void *ctx, MQTTAsync_failureData *d)
{
	struct pub *pb = ctx;

	atomic_fetch_sub(&pb->outstanding, 1);
	atomic_fetch_add(&pb->failed, 1);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int pub_open(struct pub *pb, const char *url, const char *client_id, int qos)
{
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
	int rc;

	pb->qos = qos;
	/* Bounded, and short: longer queues measured slower with paho (docs/simulator.md). */
	pb->max_outstanding = 100;
	atomic_init(&pb->outstanding, 0);
	atomic_init(&pb->failed, 0);
	atomic_init(&pb->connect_state, 0);
	rc = MQTTAsync_create(&pb->client, url, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
	if (rc != MQTTASYNC_SUCCESS) {
		fprintf(stderr, "oeed-sim: cannot create MQTT client for %s (%d)\n", url, rc);
		return -EINVAL;
	}
	co.keepAliveInterval = 30;
	co.cleansession = 1;
	co.maxInflight = 1000;
	co.onSuccess = pub_on_connect;
	co.onFailure = pub_on_connect_fail;
	co.context = pb;
	rc = MQTTAsync_connect(pb->client, &co);
	if (rc != MQTTASYNC_SUCCESS)
		goto out_fail;
	for (int i = 0; i < 1000 && atomic_load(&pb->connect_state) == 0; i++)
		sleep_ms(10);
	if (atomic_load(&pb->connect_state) == 1)
		return 0;
out_fail:
	fprintf(stderr, "oeed-sim: cannot connect to %s\n", url);
	MQTTAsync_destroy(&pb->client);
	return -ECONNREFUSED;
}

static int pub_send(struct pub *pb, const struct sim_msg *msg)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	char topic[sizeof(msg->topic)];
	int rc;

	/* Bounded: wait for the library to write what it holds before handing it more. */
	while (atomic_load(&pb->outstanding) >= pb->max_outstanding)
		sleep_ms(1);
	memcpy(topic, msg->topic, msg->topic_len);
	topic[msg->topic_len] = '\0';
	ro.onSuccess = pub_on_sent;
	ro.onFailure = pub_on_send_fail;
	ro.context = pb;
	atomic_fetch_add(&pb->outstanding, 1);
	for (int tries = 0;; tries++) {
		rc =
		    MQTTAsync_send(pb->client, topic, (int)msg->len, msg->payload, pb->qos, 0, &ro);
		if (rc == MQTTASYNC_SUCCESS)
			return 0;
		if (rc != MQTTASYNC_MAX_BUFFERED_MESSAGES && rc != MQTTASYNC_NO_MORE_MSGIDS &&
		    rc != MQTTASYNC_MAX_MESSAGES_INFLIGHT)
			break;
		if (tries > 10000)
			break;
		sleep_ms(1);
	}
	atomic_fetch_sub(&pb->outstanding, 1);
	fprintf(stderr, "oeed-sim: publish failed (%d)\n", rc);
	return -EIO;
}

static void pub_close(struct pub *pb)
{
	MQTTAsync_disconnectOptions dop = MQTTAsync_disconnectOptions_initializer;

	/* Let the library write everything handed to it (at most 30 s). */
	for (int i = 0; i < 30000 && atomic_load(&pb->outstanding) > 0; i++)
		sleep_ms(1);
	dop.timeout = 5000;
	MQTTAsync_disconnect(pb->client, &dop);
	sleep_ms(100);
	MQTTAsync_destroy(&pb->client);
}

/* live: the model paced to the wall clock (compressed by speed); flood: as fast as possible. */
static int run_publish(const struct sim_params *p, const char *url, const char *client_id, int qos,
		       double speed, bool flood, oeed_ms wall_duration)
{
	struct pub pb;
	struct sim s;
	oeed_ms end_all = SIM_NEVER;
	int64_t t0 = mono_ns(), dt;
	uint64_t n = 0;
	int r;

	if (!flood && wall_duration > 0)
		end_all = p->start + (oeed_ms)((double)wall_duration * speed);
	r = sim_init(&s, p);
	if (r < 0)
		return r;
	r = pub_open(&pb, url, client_id, qos);
	if (r < 0)
		goto out_sim;
	while ((!p->max_messages || n < p->max_messages) && sim_peek(&s) < end_all) {
		struct sim_msg msg;

		sim_next(&s, &msg);
		if (!flood) {
			int64_t due = t0 + (int64_t)((double)(msg.t - p->start) * 1e6 / speed);
			int64_t wait = due - mono_ns();

			if (wait > 0) {
				struct timespec ts = {.tv_sec = wait / 1000000000,
						      .tv_nsec = wait % 1000000000};
				nanosleep(&ts, NULL);
			}
		}
		r = pub_send(&pb, &msg);
		if (r < 0)
			break;
		n++;
	}
	pub_close(&pb);
	dt = mono_ns() - t0;
	fprintf(stderr,
		"oeed-sim: published %" PRIu64 " messages in %.3f s (%.0f msg/s), %ld failed\n", n,
		(double)dt / 1e9, dt > 0 ? (double)n * 1e9 / (double)dt : 0.0,
		atomic_load(&pb.failed));
	if (r == 0 && atomic_load(&pb.failed) > 0)
		r = -EIO;
out_sim:
	sim_free(&s);
	return r;
}

/* ---- blast mode: a raw-socket MQTT 3.1.1 publisher (QoS 0 and 1), so that benchmarks
 * measure the subscriber and the broker, not a client library. PUBLISH packets are encoded
 * into one large buffer and written with one write(2) per BLAST_BUF bytes; at QoS 1 the
 * PUBACKs are read as they come and at most BLAST_INFLIGHT messages are unacknowledged (the
 * broker acknowledges in order, so packet ids are reused safely). */

#define BLAST_BUF      (256 * 1024)
#define BLAST_INFLIGHT 32768

struct blast {
	int fd, qos;
	uint8_t *out;
	size_t out_len;
	uint16_t next_id;
	uint64_t sent, acked;
	uint8_t in[8192];
	size_t in_len;
	bool eof;
};

static int64_t wall_ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t put_varlen(uint8_t *p, size_t v)
{
	size_t n = 0;

	do {
		uint8_t b = v % 128;

		v /= 128;
		p[n++] = (uint8_t)(b | (v ? 0x80 : 0));
	} while (v);
	return n;
}

/* Reads what the broker sent: counts PUBACKs, notes end of stream. Returns 0 or -errno. */
static int blast_read(struct blast *b)
{
	for (;;) {
		ssize_t n = read(b->fd, b->in + b->in_len, sizeof(b->in) - b->in_len);

		if (n == 0) {
			b->eof = true;
			return 0;
		}
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		b->in_len += (size_t)n;
		size_t pos = 0;

		/* Every packet a publisher gets here is short: PUBACK (4 bytes), PINGRESP (2). */
		while (b->in_len - pos >= 2 && b->in_len - pos >= 2 + (size_t)b->in[pos + 1]) {
			if ((b->in[pos] & 0xF0) == 0x40)
				b->acked++;
			pos += 2 + b->in[pos + 1];
		}
		memmove(b->in, b->in + pos, b->in_len - pos);
		b->in_len -= pos;
	}
}

/* Writes the buffer out, reading acknowledgements meanwhile. */
static int blast_flush(struct blast *b)
{
	size_t done = 0;

	while (done < b->out_len) {
		struct pollfd pfd = {.fd = b->fd, .events = POLLOUT | POLLIN};

		if (poll(&pfd, 1, 10000) <= 0)
			return -ETIMEDOUT;
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			int r = blast_read(b);

			if (r < 0)
				return r;
			if (b->eof)
				return -ECONNRESET;
		}
		if (pfd.revents & POLLOUT) {
			ssize_t n = write(b->fd, b->out + done, b->out_len - done);

			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return -errno;
			if (n > 0)
				done += (size_t)n;
		}
	}
	b->out_len = 0;
	return 0;
}

/* Waits until fewer than `limit` messages are unacknowledged (QoS 1), or for EOF. */
static int blast_wait_acks(struct blast *b, uint64_t limit, int timeout_ms)
{
	while (b->sent - b->acked > limit && !b->eof) {
		struct pollfd pfd = {.fd = b->fd, .events = POLLIN};

		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		int r = blast_read(b);

		if (r < 0)
			return r;
	}
	return 0;
}

static int blast_connect(struct blast *b, const char *url, const char *client_id)
{
	char host[256];
	const char *hp = url + 6, *colon;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
	int r;

	if (strncmp(url, "tcp://", 6) != 0 || !(colon = strrchr(hp, ':')) ||
	    (size_t)(colon - hp) >= sizeof(host)) {
		fprintf(stderr, "oeed-sim: blast needs a tcp://HOST:PORT url\n");
		return -EINVAL;
	}
	memcpy(host, hp, (size_t)(colon - hp));
	host[colon - hp] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai) {
		fprintf(stderr, "oeed-sim: cannot resolve %s\n", url);
		return -EINVAL;
	}
	b->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	r = b->fd < 0 || connect(b->fd, ai->ai_addr, ai->ai_addrlen) < 0 ? -errno : 0;
	freeaddrinfo(ai);
	if (r < 0) {
		fprintf(stderr, "oeed-sim: cannot connect to %s: %s\n", url, strerror(-r));
		return r;
	}
	/* CONNECT: MQTT 3.1.1, clean session, keep-alive 60 s. */
	size_t idlen = strlen(client_id);
	uint8_t pkt[512];
	size_t rl = 10 + 2 + idlen, n = 0;

	if (idlen > 256)
		return -EINVAL;
	pkt[n++] = 0x10;
	n += put_varlen(pkt + n, rl);
	memcpy(pkt + n, "\0\4MQTT\4\2\0\74", 10);
	n += 10;
	pkt[n++] = (uint8_t)(idlen >> 8);
	pkt[n++] = (uint8_t)idlen;
	memcpy(pkt + n, client_id, idlen);
	n += idlen;
	if (write(b->fd, pkt, n) != (ssize_t)n)
		return -EIO;
	uint8_t ack[4];
	size_t got = 0;

	while (got < 4) {
		ssize_t k = read(b->fd, ack + got, 4 - got);

		if (k <= 0)
			return -ECONNRESET;
		got += (size_t)k;
	}
	if (ack[0] != 0x20 || ack[3] != 0) {
		fprintf(stderr, "oeed-sim: %s refused the connection (CONNACK %u)\n", url, ack[3]);
		return -ECONNREFUSED;
	}
	/* From here on non-blocking: acknowledgements are read between writes. */
	int fl = fcntl(b->fd, F_GETFL);

	return fl < 0 || fcntl(b->fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

/* Appends one PUBLISH. A JSON payload's "ts" is replaced by the wall clock now. */
static int blast_add(struct blast *b, const struct sim_msg *m, bool stamp)
{
	char payload[sizeof(m->payload) + 32];
	size_t len = m->len;
	const char *pl = m->payload;

	if (stamp) {
		const char *ts = memmem(m->payload, m->len, ",\"ts\":", 6);

		if (ts) {
			size_t pre = (size_t)(ts - m->payload) + 6;

			memcpy(payload, m->payload, pre);
			len = pre + (size_t)snprintf(payload + pre, sizeof(payload) - pre,
						     "%" PRId64 "}", wall_ms_now());
			pl = payload;
		}
	}
	size_t rl = 2 + m->topic_len + (b->qos ? 2 : 0) + len;

	if (b->out_len + rl + 5 > BLAST_BUF) {
		int r = blast_flush(b);

		if (r < 0)
			return r;
	}
	if (b->qos) {
		int r = blast_wait_acks(b, BLAST_INFLIGHT - 1, 10000);

		if (r < 0)
			return r;
		if (++b->next_id == 0)
			b->next_id = 1;
	}
	uint8_t *p = b->out + b->out_len;
	size_t n = 0;

	p[n++] = (uint8_t)(0x30 | (b->qos << 1));
	n += put_varlen(p + n, rl);
	p[n++] = (uint8_t)(m->topic_len >> 8);
	p[n++] = (uint8_t)m->topic_len;
	memcpy(p + n, m->topic, m->topic_len);
	n += m->topic_len;
	if (b->qos) {
		p[n++] = (uint8_t)(b->next_id >> 8);
		p[n++] = (uint8_t)b->next_id;
	}
	memcpy(p + n, pl, len);
	b->out_len += n + len;
	b->sent++;
	return 0;
}

static int run_blast(const struct sim_params *p, const char *url, const char *client_id, int qos)
{
	struct blast b = {.fd = -1, .qos = qos};
	struct sim s;
	int64_t t0, dt;
	int r;

	r = sim_init(&s, p);
	if (r < 0)
		return r;
	b.out = malloc(BLAST_BUF);
	if (!b.out) {
		r = -ENOMEM;
		goto out;
	}
	r = blast_connect(&b, url, client_id);
	if (r < 0)
		goto out;
	t0 = mono_ns();
	while (r == 0 && b.sent < p->max_messages) {
		struct sim_msg msg;

		sim_next(&s, &msg);
		r = blast_add(&b, &msg, !p->no_ts);
	}
	if (r == 0)
		r = blast_flush(&b);
	if (r == 0 && qos)
		r = blast_wait_acks(&b, 0, 30000);
	if (r == 0) {
		/* DISCONNECT, then wait for the broker to close: it has read everything. */
		b.out[0] = 0xE0;
		b.out[1] = 0;
		b.out_len = 2;
		r = blast_flush(&b);
		while (r == 0 && !b.eof) {
			struct pollfd pfd = {.fd = b.fd, .events = POLLIN};

			if (poll(&pfd, 1, 30000) <= 0)
				break;
			r = blast_read(&b);
		}
	}
	dt = mono_ns() - t0;
	fprintf(stderr,
		"oeed-sim: published %" PRIu64 " messages in %.3f s (%.0f msg/s), %" PRIu64
		" acknowledged\n",
		b.sent, (double)dt / 1e9, dt > 0 ? (double)b.sent * 1e9 / (double)dt : 0.0,
		qos ? b.acked : 0);
out:
	if (b.fd >= 0)
		close(b.fd);
	free(b.out);
	sim_free(&s);
	return r;
}

/* ---- command line */

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: oeed-sim record --out FILE [--truth FILE.json] [--messages M] [MODEL]\n"
	    "       oeed-sim live --url tcp://127.0.0.1:PORT [--rate MSGS_PER_S] [--qos 0|1]\n"
	    "                     [--speed X] [--no-ts] [--duration WALL] [MODEL]\n"
	    "       oeed-sim flood --url tcp://127.0.0.1:PORT --messages M [--qos 0|1] [MODEL]\n"
	    "       oeed-sim blast --url tcp://127.0.0.1:PORT --messages M [--qos 0|1] [--no-ts]\n"
	    "                      [MODEL]   (raw socket; JSON ts = wall clock at publish)\n"
	    "MODEL: --machines N (10) --seed S (1) --start ISO (record: 2024-01-15T06:00:00Z,\n"
	    "       live: now) --duration D (8h) --tail D (0) --style text|json|mixed (mixed)\n"
	    "       --ideal D (1s) --ideal-spread --jitter F (0.1) --reject P (0.02)\n"
	    "       --count-interval D (10s, at most 30s) --stagger D (60s) --per-line N (10)\n"
	    "       --fault-every D (40m) --idle-every D (30m) --stop-every D (5m)\n"
	    "       --break HH:MM-HH:MM (repeatable, UTC; default 10:00-10:30) --no-breaks\n");
}

/* "2024-01-15T06:00:00Z" or "2024-01-15T06:00:00.250Z" (UTC only). */
static int parse_iso(const char *s, oeed_ms *ret)
{
	struct tm tm = {0};
	int ms = 0, n = 0, len = (int)strlen(s);
	time_t t;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -EINVAL;
	if (s[n] == '.') {
		int k = 0;

		for (n++; s[n] >= '0' && s[n] <= '9'; n++, k++)
			if (k < 3)
				ms = ms * 10 + (s[n] - '0');
		for (; k < 3; k++)
			ms *= 10;
	}
	if (n != len - 1 || s[n] != 'Z')
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ret = (oeed_ms)t * 1000 + ms;
	return 0;
}

static int parse_break(const char *s, struct sim_break *ret)
{
	int h1, m1, h2, m2, n = 0, a, b;

	if (sscanf(s, "%2d:%2d-%2d:%2d%n", &h1, &m1, &h2, &m2, &n) != 4 || s[n] != '\0')
		return -EINVAL;
	if (h1 < 0 || h1 > 23 || m1 < 0 || m1 > 59 || h2 < 0 || h2 > 24 || m2 < 0 || m2 > 59)
		return -EINVAL;
	a = h1 * 60 + m1;
	b = h2 * 60 + m2;
	if (b <= a)
		b += 24 * 60;
	ret->start_min = a;
	ret->len_ms = (oeed_ms)(b - a) * MS_PER_MIN;
	return 0;
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;

	errno = 0;
	*ret = strtoull(s, &end, 10);
	return (errno || end == s || *end || *s == '-') ? -EINVAL : 0;
}

static int parse_double(const char *s, double lo, double hi, double *ret)
{
	char *end;

	errno = 0;
	*ret = strtod(s, &end);
	return (errno || end == s || *end || !(*ret >= lo && *ret <= hi)) ? -EINVAL : 0;
}

static int parse_pos_duration(const char *s, oeed_ms *ret)
{
	return parse_duration_ms(s, ret) == 0 && *ret >= 0 ? 0 : -EINVAL;
}

enum {
	OPT_MACHINES = 256,
	OPT_SEED,
	OPT_START,
	OPT_DURATION,
	OPT_TAIL,
	OPT_STYLE,
	OPT_IDEAL,
	OPT_IDEAL_SPREAD,
	OPT_JITTER,
	OPT_REJECT,
	OPT_COUNT_INTERVAL,
	OPT_STAGGER,
	OPT_PER_LINE,
	OPT_FAULT_EVERY,
	OPT_IDLE_EVERY,
	OPT_STOP_EVERY,
	OPT_BREAK,
	OPT_NO_BREAKS,
	OPT_OUT,
	OPT_TRUTH,
	OPT_MESSAGES,
	OPT_URL,
	OPT_RATE,
	OPT_QOS,
	OPT_SPEED,
	OPT_NO_TS,
	OPT_CLIENT_ID,
	OPT_HELP,
};

static const struct option long_opts[] = {
    {"machines", required_argument, NULL, OPT_MACHINES},
    {"seed", required_argument, NULL, OPT_SEED},
    {"start", required_argument, NULL, OPT_START},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"tail", required_argument, NULL, OPT_TAIL},
    {"style", required_argument, NULL, OPT_STYLE},
    {"ideal", required_argument, NULL, OPT_IDEAL},
    {"ideal-spread", no_argument, NULL, OPT_IDEAL_SPREAD},
    {"jitter", required_argument, NULL, OPT_JITTER},
    {"reject", required_argument, NULL, OPT_REJECT},
    {"count-interval", required_argument, NULL, OPT_COUNT_INTERVAL},
    {"stagger", required_argument, NULL, OPT_STAGGER},
    {"per-line", required_argument, NULL, OPT_PER_LINE},
    {"fault-every", required_argument, NULL, OPT_FAULT_EVERY},
    {"idle-every", required_argument, NULL, OPT_IDLE_EVERY},
    {"stop-every", required_argument, NULL, OPT_STOP_EVERY},
    {"break", required_argument, NULL, OPT_BREAK},
    {"no-breaks", no_argument, NULL, OPT_NO_BREAKS},
    {"out", required_argument, NULL, OPT_OUT},
    {"truth", required_argument, NULL, OPT_TRUTH},
    {"messages", required_argument, NULL, OPT_MESSAGES},
    {"url", required_argument, NULL, OPT_URL},
    {"rate", required_argument, NULL, OPT_RATE},
    {"qos", required_argument, NULL, OPT_QOS},
    {"speed", required_argument, NULL, OPT_SPEED},
    {"no-ts", no_argument, NULL, OPT_NO_TS},
    {"client-id", required_argument, NULL, OPT_CLIENT_ID},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

struct cli {
	const char *mode, *out, *truth, *url, *client_id;
	double rate, speed;
	int qos;
	bool has_start, has_duration, has_count_interval, has_stagger, user_breaks, no_breaks;
};

static int parse_opt(int c, const char *arg, struct sim_params *p, struct cli *cl)
{
	uint64_t u;
	oeed_ms d;

	switch (c) {
	case OPT_MACHINES:
		/* About 1.3 KB of model state per machine. */
		if (parse_u64(arg, &u) < 0 || u < 1 || u > 100000)
			return -EINVAL;
		p->machines = (unsigned)u;
		return 0;
	case OPT_SEED:
		return parse_u64(arg, &p->seed);
	case OPT_START:
		cl->has_start = true;
		return parse_iso(arg, &p->start);
	case OPT_DURATION:
		cl->has_duration = true;
		return parse_pos_duration(arg, &p->duration);
	case OPT_TAIL:
		return parse_pos_duration(arg, &p->tail);
	case OPT_STYLE:
		if (strcmp(arg, "text") == 0)
			p->style = STYLE_TEXT;
		else if (strcmp(arg, "json") == 0)
			p->style = STYLE_JSON;
		else if (strcmp(arg, "mixed") == 0)
			p->style = STYLE_MIXED;
		else
			return -EINVAL;
		return 0;
	case OPT_IDEAL:
		return parse_duration_ms(arg, &p->ideal_ms) == 0 && p->ideal_ms > 0 ? 0 : -EINVAL;
	case OPT_IDEAL_SPREAD:
		p->ideal_spread = true;
		return 0;
	case OPT_JITTER:
		return parse_double(arg, 0.0, 10.0, &p->jitter);
	case OPT_REJECT:
		return parse_double(arg, 0.0, 1.0, &p->reject_p);
	case OPT_COUNT_INTERVAL:
		cl->has_count_interval = true;
		return parse_duration_ms(arg, &p->count_interval) == 0 && p->count_interval > 0 &&
			       p->count_interval <= 30000
			   ? 0
			   : -EINVAL;
	case OPT_STAGGER:
		cl->has_stagger = true;
		return parse_pos_duration(arg, &p->stagger);
	case OPT_PER_LINE:
		if (parse_u64(arg, &u) < 0 || u < 1 || u > 1000000)
			return -EINVAL;
		p->per_line = (unsigned)u;
		return 0;
	case OPT_FAULT_EVERY:
	case OPT_IDLE_EVERY:
	case OPT_STOP_EVERY:
		if (parse_duration_ms(arg, &d) < 0 || d <= 0)
			return -EINVAL;
		*(c == OPT_FAULT_EVERY	? &p->fault_every_ms
		  : c == OPT_IDLE_EVERY ? &p->idle_every_ms
					: &p->stop_every_ms) = (double)d;
		return 0;
	case OPT_BREAK:
		if (!cl->user_breaks)
			p->n_breaks = 0;
		cl->user_breaks = true;
		if (p->n_breaks >= MAX_BREAKS)
			return -E2BIG;
		return parse_break(arg, &p->breaks[p->n_breaks++]);
	case OPT_NO_BREAKS:
		cl->no_breaks = true;
		return 0;
	case OPT_OUT:
		cl->out = arg;
		return 0;
	case OPT_TRUTH:
		cl->truth = arg;
		return 0;
	case OPT_MESSAGES:
		return parse_u64(arg, &p->max_messages);
	case OPT_URL:
		cl->url = arg;
		return 0;
	case OPT_RATE:
		return parse_double(arg, 0.001, 1e9, &cl->rate);
	case OPT_QOS:
		if (strcmp(arg, "0") != 0 && strcmp(arg, "1") != 0)
			return -EINVAL;
		cl->qos = arg[0] - '0';
		return 0;
	case OPT_SPEED:
		return parse_double(arg, 0.001, 1e9, &cl->speed);
	case OPT_NO_TS:
		p->no_ts = true;
		return 0;
	case OPT_CLIENT_ID:
		cl->client_id = arg;
		return 0;
	default:
		return -EINVAL;
	}
}

/* Breaks must not overlap: the model keeps one break at a time. */
static int check_breaks(const struct sim_params *p)
{
	for (size_t i = 0; i < p->n_breaks; i++) {
		for (size_t j = 0; j < p->n_breaks; j++) {
			oeed_ms a = p->breaks[i].start_min * MS_PER_MIN;
			oeed_ms b = p->breaks[j].start_min * MS_PER_MIN;

			if (i == j)
				continue;
			for (oeed_ms shift = -MS_PER_DAY; shift <= MS_PER_DAY; shift += MS_PER_DAY)
				if (a < b + shift + p->breaks[j].len_ms &&
				    b + shift < a + p->breaks[i].len_ms)
					return -EINVAL;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sim_params p = {
	    .seed = 1,
	    .machines = 10,
	    .per_line = 10,
	    .style = STYLE_MIXED,
	    .duration = 8 * 3600 * 1000LL,
	    .ideal_ms = 1000,
	    .jitter = 0.1,
	    .reject_p = 0.02,
	    .count_interval = 10000,
	    .stagger = 60000,
	    .fault_every_ms = 40.0 * MS_PER_MIN,
	    .idle_every_ms = 30.0 * MS_PER_MIN,
	    .stop_every_ms = 5.0 * MS_PER_MIN,
	    .breaks = {{10 * 60, 30 * MS_PER_MIN}},
	    .n_breaks = 1,
	};
	struct cli cl = {.speed = 1.0, .qos = 0, .client_id = "oeed-sim"};
	int c, r;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 1 : 0;
	}
	cl.mode = argv[1];
	if (parse_iso("2024-01-15T06:00:00Z", &p.start) < 0)
		return 2;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		if (c == OPT_HELP) {
			usage(stdout);
			return 0;
		}
		if (parse_opt(c, optarg, &p, &cl) < 0) {
			if (c >= OPT_MACHINES && c < OPT_HELP)
				fprintf(stderr, "oeed-sim: bad value for --%s: %s\n",
					long_opts[c - OPT_MACHINES].name, optarg ? optarg : "");
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "oeed-sim: unexpected argument: %s\n", argv[optind]);
		return 1;
	}
	if (cl.no_breaks)
		p.n_breaks = 0;
	if (check_breaks(&p) < 0) {
		fprintf(stderr, "oeed-sim: breaks overlap\n");
		return 1;
	}

	if (strcmp(cl.mode, "record") == 0) {
		if (!cl.out) {
			fprintf(stderr, "oeed-sim: record needs --out FILE\n");
			return 1;
		}
		if (p.max_messages && !cl.has_duration)
			p.duration = 0;
		if (cl.truth && p.duration == 0) {
			fprintf(stderr, "oeed-sim: --truth needs a --duration\n");
			return 1;
		}
		r = run_record(&p, cl.out, cl.truth);
	} else if (strcmp(cl.mode, "live") == 0 || strcmp(cl.mode, "flood") == 0 ||
		   strcmp(cl.mode, "blast") == 0) {
		bool flood = cl.mode[0] != 'l';
		oeed_ms wall = cl.has_duration ? p.duration : 0;

		if (!cl.url) {
			fprintf(stderr, "oeed-sim: %s needs --url\n", cl.mode);
			return 1;
		}
		if (flood && !p.max_messages) {
			fprintf(stderr, "oeed-sim: flood needs --messages M\n");
			return 1;
		}
		if (!cl.has_start) {
			struct timespec now;

			clock_gettime(CLOCK_REALTIME, &now);
			p.start = (oeed_ms)now.tv_sec * 1000 + now.tv_nsec / 1000000;
		}
		/* The model runs open-ended here; --duration is wall-clock time in live mode. */
		p.duration = 0;
		p.tail = 0;
		if (cl.rate > 0 && !cl.has_count_interval) {
			/* Counter messages per machine per interval: 2 text, 1 json. */
			double per = p.style == STYLE_TEXT   ? 2.0
				     : p.style == STYLE_JSON ? 1.0
							     : 1.5;
			double k = (double)p.machines * per * cl.speed * 1000.0 / cl.rate;

			p.count_interval = (oeed_ms)OEED_MAX(10.0, OEED_MIN(30000.0, k));
		}
		/* Live machines all come up within one counter interval. */
		if (!cl.has_stagger)
			p.stagger = p.count_interval;
		if (cl.mode[0] == 'b')
			r = run_blast(&p, cl.url, cl.client_id, cl.qos);
		else
			r = run_publish(&p, cl.url, cl.client_id, cl.qos, flood ? 1.0 : cl.speed,
					flood, wall);
	} else {
		fprintf(stderr, "oeed-sim: unknown mode %s\n", cl.mode);
		usage(stderr);
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "oeed-sim: %s failed: %s\n", cl.mode, strerror(-r));
		return 2;
	}
	return 0;
}
