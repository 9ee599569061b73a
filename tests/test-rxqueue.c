/* Unit tests for rxqueue.c: order (also across the byte ring's wrap), the backpressure wait
 * and its exceptions, drops, too large messages, the eventfd, the receive-time watermark and
 * the counters. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "rxqueue.h"
#include "testutil.h"

#define MAX_GOT 64

/* The receive clock for tests that check receive times exactly. */
static _Atomic int64_t fake_now;

static int64_t fake_wall_ns(void)
{
	return atomic_load(&fake_now);
}

static struct rxqueue *new_queue(size_t queue_len, size_t max_payload, oeed_ms wait_ms,
				 bool fake_clock)
{
	struct rxqueue *q = NULL;
	struct rxqueue_conf conf = {
	    .queue_len = queue_len,
	    .max_payload = max_payload,
	    .full_wait_ms = wait_ms,
	    .wall_ns = fake_clock ? fake_wall_ns : NULL,
	};
	int r = rxqueue_new(&conf, &q);
	CHECK_INT(r, 0);
	if (r < 0) {
		fprintf(stderr, "rxqueue_new: %s\n", strerror(-r));
		exit(1);
	}
	return q;
}

static int push(struct rxqueue *q, const char *topic, const char *payload,
		struct rxqueue_push_info *info)
{
	return rxqueue_push(q, topic, strlen(topic), payload, strlen(payload), NULL, NULL, info);
}

struct got {
	size_t n;
	char topic[MAX_GOT][32];
	char payload[MAX_GOT][32];
	size_t topic_len[MAX_GOT], len[MAX_GOT];
	int64_t rx_ns[MAX_GOT];
	bool nul_terminated[MAX_GOT];
};

/* Copies what it is handed: the message is only valid during the call. */
static void collect(void *ctx, const struct rxqueue_msg *m)
{
	struct got *g = ctx;
	if (g->n >= MAX_GOT)
		return;
	snprintf(g->topic[g->n], sizeof(g->topic[0]), "%.*s", (int)m->topic_len, m->topic);
	snprintf(g->payload[g->n], sizeof(g->payload[0]), "%.*s", (int)m->len,
		 (const char *)m->payload);
	g->topic_len[g->n] = m->topic_len;
	g->len[g->n] = m->len;
	g->rx_ns[g->n] = m->rx_ns;
	g->nul_terminated[g->n] = m->topic[m->topic_len] == '\0';
	g->n++;
}

static bool readable(struct rxqueue *q)
{
	struct pollfd p = {.fd = rxqueue_fd(q), .events = POLLIN};
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Waits (bounded) until a producer thread is inside its wait for room. */
static bool wait_for_waits(struct rxqueue *q, uint64_t waits)
{
	struct rxqueue_stats st;
	for (int i = 0; i < 2000; i++) {
		rxqueue_get_stats(q, &st);
		if (st.waits >= waits)
			return true;
		sleep_ms(1);
	}
	return false;
}

static void test_new_rejects_bad_len(void)
{
	struct rxqueue *q = NULL;
	struct rxqueue_conf conf = {.queue_len = 0, .max_payload = 16, .full_wait_ms = 1};
	CHECK_INT(rxqueue_new(&conf, &q), -EINVAL);
	conf.queue_len = RXQUEUE_MAX_LEN + 1;
	CHECK_INT(rxqueue_new(&conf, &q), -EINVAL);
	CHECK(q == NULL);
	rxqueue_free(NULL);
}

static void test_order(void)
{
	struct rxqueue *q = new_queue(8, 64, 50, true);
	struct rxqueue_push_info info;
	struct got g = {0};
	char topic[32], payload[32];

	for (int i = 0; i < 5; i++) {
		atomic_store(&fake_now, 1000 * (i + 1));
		snprintf(topic, sizeof(topic), "m/%d", i);
		snprintf(payload, sizeof(payload), "payload %d", i * 11);
		CHECK_INT(push(q, topic, payload, &info), 0);
		CHECK_INT(info.rx_ns, 1000 * (i + 1));
		CHECK_INT(info.depth, i + 1);
	}
	CHECK_INT(push(q, "m/empty", "", NULL), 0); /* an empty payload is a message too */

	CHECK_INT(rxqueue_drain(q, collect, &g, 2), 2);
	CHECK_INT(rxqueue_drain(q, collect, &g, 100), 4);
	CHECK_INT(rxqueue_drain(q, collect, &g, 100), 0);
	CHECK_INT(g.n, 6);
	for (int i = 0; i < 5; i++) {
		snprintf(topic, sizeof(topic), "m/%d", i);
		snprintf(payload, sizeof(payload), "payload %d", i * 11);
		CHECK_STR(g.topic[i], topic);
		CHECK_STR(g.payload[i], payload);
		CHECK_INT(g.topic_len[i], strlen(topic));
		CHECK_INT(g.len[i], strlen(payload));
		CHECK_INT(g.rx_ns[i], 1000 * (i + 1));
		CHECK(g.nul_terminated[i]);
	}
	CHECK_STR(g.topic[5], "m/empty");
	CHECK_INT(g.len[5], 0);
	rxqueue_free(q);
}

/* Enough traffic to wrap the byte ring many times, with records of different sizes so that
 * some do not fit at the end: every message comes out whole and in order. */
static int wrap_next, wrap_bad;

static void check_wrap(void *ctx, const struct rxqueue_msg *m)
{
	char topic[32];
	int n = snprintf(topic, sizeof(topic), "w/%d", wrap_next);
	size_t want_len = (size_t)(wrap_next * 37) % 3000;
	bool ok = m->topic_len == (size_t)n && memcmp(m->topic, topic, (size_t)n) == 0 &&
		  m->topic[n] == '\0' && m->len == want_len;
	for (size_t i = 0; ok && i < m->len; i++)
		ok = m->payload[i] == (uint8_t)(wrap_next + i);
	if (!ok)
		wrap_bad++;
	wrap_next++;
}

static void test_ring_wrap(void)
{
	/* ring = 2 * (16 KiB + 64 KiB): 20000 records of up to 3 KiB wrap it hundreds of times */
	struct rxqueue *q = new_queue(4, 16384, 50, false);
	uint8_t payload[3000];
	char topic[32];
	int pushed = 0, failed = 0;

	wrap_next = wrap_bad = 0;
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(i * 37) % 3000;
		for (size_t j = 0; j < len; j++)
			payload[j] = (uint8_t)(i + j);
		int n = snprintf(topic, sizeof(topic), "w/%d", i);
		if (rxqueue_push(q, topic, (size_t)n, payload, len, NULL, NULL, NULL) != 0)
			failed++;
		pushed++;
		if (i > 0) /* keep one in the queue while pushing the next */
			rxqueue_drain(q, check_wrap, NULL, 1);
	}
	rxqueue_drain(q, check_wrap, NULL, SIZE_MAX);
	CHECK_INT(failed, 0);
	CHECK_INT(wrap_next, pushed);
	CHECK_INT(wrap_bad, 0);
	rxqueue_free(q);
}

struct rec_log {
	int calls;
	int64_t rx_ns;
	int64_t watermark_during; /* rxqueue_watermark_ns while the hook runs */
	struct rxqueue *q;
	int rc;
};

static int stamped(void *ctx, int64_t rx_ns, const char *topic, size_t topic_len,
		   const uint8_t *payload, size_t len)
{
	struct rec_log *l = ctx;
	l->calls++;
	l->rx_ns = rx_ns;
	if (l->q)
		l->watermark_during = rxqueue_watermark_ns(l->q);
	return l->rc;
}

static void test_full_waits_then_drops(void)
{
	struct rxqueue *q = new_queue(2, 64, 200, false);
	struct rxqueue_push_info info;
	struct rxqueue_stats st;
	struct rec_log rl = {0};
	struct got g = {0};

	CHECK_INT(push(q, "a", "1", NULL), 0);
	CHECK_INT(push(q, "b", "2", NULL), 0);
	oeed_ms t0 = clock_mono_ms();
	CHECK_INT(rxqueue_push(q, "c", 1, "3", 1, stamped, &rl, &info), -ENOBUFS);
	oeed_ms waited = clock_mono_ms() - t0;
	CHECK(waited >= 195); /* it waited for room, the whole full_wait_ms */
	CHECK(waited < 2000);
	CHECK_INT(info.depth, 2);
	CHECK_INT(rl.calls, 1); /* a dropped message is still recorded */
	CHECK_INT(rl.rx_ns, info.rx_ns);
	rxqueue_get_stats(q, &st);
	CHECK_INT(st.pushed, 3);
	CHECK_INT(st.dropped, 1);
	CHECK_INT(st.waits, 1);
	CHECK_INT(st.depth, 2);
	CHECK_INT(st.high_water, 2);

	CHECK_INT(rxqueue_drain(q, collect, &g, 100), 2);
	CHECK_STR(g.topic[0], "a");
	CHECK_STR(g.topic[1], "b");
	rxqueue_free(q);
}

/* The byte ring fills before the index does with large payloads: the same wait and drop, and
 * the record that does not fit at the end goes to the start once the oldest are drained. */
static void test_ring_full(void)
{
	/* ring = 2 * (16384 + 65535 + 1) = 163840 bytes; a record here is 16386 bytes */
	struct rxqueue *q = new_queue(64, 16384, 20, false);
	static uint8_t payload[16384];
	struct rxqueue_stats st;
	struct got g = {0};
	int queued = 0;

	for (int i = 0; i < 12; i++) {
		memset(payload, 'a' + i, sizeof(payload));
		if (rxqueue_push(q, "r", 1, payload, sizeof(payload), NULL, NULL, NULL) == 0)
			queued++;
	}
	CHECK_INT(queued, 9); /* 9 * 16386 fit, a 10th would reach the end */
	rxqueue_get_stats(q, &st);
	CHECK_INT(st.dropped, 3);
	CHECK_INT(st.waits, 3);
	CHECK_INT(rxqueue_drain(q, collect, &g, 2), 2);
	memset(payload, 'z', sizeof(payload));
	CHECK_INT(rxqueue_push(q, "r", 1, payload, sizeof(payload), NULL, NULL, NULL), 0);
	g.n = 0;
	CHECK_INT(rxqueue_drain(q, collect, &g, 100), 8);
	CHECK(g.payload[0][0] == 'c');
	CHECK(g.payload[6][0] == 'i');
	CHECK(g.payload[7][0] == 'z'); /* wrapped to offset 0, read back whole */
	CHECK_INT(g.len[7], sizeof(payload));
	rxqueue_free(q);
}

/* While the consumer is in a paho call, and after stop, a full queue drops at once. */
static void test_no_wait_in_paho_or_after_stop(void)
{
	struct rxqueue *q = new_queue(1, 64, 5000, false);
	struct rxqueue_stats st;

	CHECK_INT(push(q, "a", "1", NULL), 0);
	rxqueue_nowait_begin(q);
	rxqueue_nowait_begin(q); /* nests */
	oeed_ms t0 = clock_mono_ms();
	CHECK_INT(push(q, "b", "2", NULL), -ENOBUFS);
	rxqueue_nowait_end(q);
	CHECK_INT(push(q, "c", "3", NULL), -ENOBUFS);
	CHECK(clock_mono_ms() - t0 < 1000);
	rxqueue_nowait_end(q);
	rxqueue_get_stats(q, &st);
	CHECK_INT(st.waits, 0);
	CHECK_INT(st.dropped, 2);

	rxqueue_stop(q);
	t0 = clock_mono_ms();
	CHECK_INT(push(q, "d", "4", NULL), -ENOBUFS);
	CHECK(clock_mono_ms() - t0 < 1000);
	rxqueue_get_stats(q, &st);
	CHECK_INT(st.waits, 0);
	CHECK_INT(st.dropped, 3);
	rxqueue_free(q);
}

struct producer {
	struct rxqueue *q;
	const char *topic;
	int result;
	oeed_ms returned_at;
};

static void *produce_one(void *arg)
{
	struct producer *p = arg;
	p->result = push(p->q, p->topic, "x", NULL);
	p->returned_at = clock_mono_ms();
	return NULL;
}

/* A consumer making room lets the waiting producer through: nothing is dropped. */
static void test_consumer_makes_room(void)
{
	struct rxqueue *q = new_queue(2, 64, 5000, false);
	struct rxqueue_stats st;
	struct got g = {0};
	struct producer p = {.q = q, .topic = "third", .result = 99};
	pthread_t t;

	CHECK_INT(push(q, "first", "x", NULL), 0);
	CHECK_INT(push(q, "second", "x", NULL), 0);
	CHECK_INT(pthread_create(&t, NULL, produce_one, &p), 0);
	CHECK(wait_for_waits(q, 1));
	sleep_ms(20);
	oeed_ms drained_at = clock_mono_ms();
	CHECK_INT(rxqueue_drain(q, collect, &g, 1), 1);
	pthread_join(t, NULL);
	CHECK_INT(p.result, 0);
	CHECK(p.returned_at - drained_at < 2000); /* woken by the drain, not by the timeout */
	rxqueue_get_stats(q, &st);
	CHECK_INT(st.dropped, 0);
	CHECK_INT(st.waits, 1);
	CHECK_INT(st.depth, 2);
	CHECK_INT(rxqueue_drain(q, collect, &g, 100), 2);
	CHECK_INT(g.n, 3);
	CHECK_STR(g.topic[0], "first");
	CHECK_STR(g.topic[1], "second");
	CHECK_STR(g.topic[2], "third");
	rxqueue_free(q);
}

/* A producer already waiting gives up as soon as the consumer enters a paho call or stops:
 * paho's mutex, which the waiting callback holds, is what the consumer's call needs. */
static void test_waiting_producer_released(bool by_stop)
{
	struct rxqueue *q = new_queue(1, 64, 10000, false);
	struct rxqueue_stats st;
	struct producer p = {.q = q, .topic = "second", .result = 99};
	pthread_t t;

	CHECK_INT(push(q, "first", "x", NULL), 0);
	CHECK_INT(pthread_create(&t, NULL, produce_one, &p), 0);
	CHECK(wait_for_waits(q, 1));
	oeed_ms released_at = clock_mono_ms();
	if (by_stop)
		rxqueue_stop(q);
	else
		rxqueue_nowait_begin(q);
	pthread_join(t, NULL);
	if (!by_stop)
		rxqueue_nowait_end(q);
	CHECK_INT(p.result, -ENOBUFS);
	CHECK(p.returned_at - released_at < 2000);
	rxqueue_get_stats(q, &st);
	CHECK_INT(st.waits, 1);
	CHECK_INT(st.dropped, 1);
	rxqueue_free(q);
}

/* A producer far faster than a small queue: backpressure, no drop, order kept. */
#define FLOOD_N 20000
static atomic_int flood_done;

static void *flood(void *arg)
{
	struct rxqueue *q = arg;
	char topic[32];
	for (int i = 0; i < FLOOD_N; i++) {
		int n = snprintf(topic, sizeof(topic), "f/%d", i);
		rxqueue_push(q, topic, (size_t)n, "p", 1, NULL, NULL, NULL);
	}
	atomic_store(&flood_done, 1);
	return NULL;
}

static int flood_next, flood_bad;
static int64_t flood_last_rx;

static void check_flood(void *ctx, const struct rxqueue_msg *m)
{
	char topic[32];
	int n = snprintf(topic, sizeof(topic), "f/%d", flood_next);
	if (m->topic_len != (size_t)n || memcmp(m->topic, topic, (size_t)n) != 0 ||
	    m->rx_ns <= flood_last_rx)
		flood_bad++;
	flood_last_rx = m->rx_ns;
	flood_next++;
}

static void test_flood(void)
{
	struct rxqueue *q = new_queue(16, 64, 5000, false);
	struct rxqueue_stats st;
	pthread_t t;

	flood_next = flood_bad = 0;
	flood_last_rx = 0;
	atomic_store(&flood_done, 0);
	CHECK_INT(pthread_create(&t, NULL, flood, q), 0);
	CHECK(wait_for_waits(q, 1)); /* the queue is full and the producer held back */
	while (!atomic_load(&flood_done) || rxqueue_drain(q, check_flood, NULL, SIZE_MAX) > 0) {
		struct pollfd pf = {.fd = rxqueue_fd(q), .events = POLLIN};
		poll(&pf, 1, 10);
		rxqueue_drain(q, check_flood, NULL, 3);
	}
	pthread_join(t, NULL);
	rxqueue_drain(q, check_flood, NULL, SIZE_MAX);
	rxqueue_get_stats(q, &st);
	CHECK_INT(flood_next, FLOOD_N);
	CHECK_INT(flood_bad, 0);
	CHECK_INT(st.dropped, 0);
	CHECK_INT(st.pushed, FLOOD_N);
	CHECK_INT(st.drained, FLOOD_N);
	CHECK_INT(st.high_water, 16);
	CHECK(st.waits > 0); /* the producer was held back, not dropped */
	rxqueue_free(q);
}

static void test_too_large(void)
{
	struct rxqueue *q = new_queue(1, 16, 5000, false);
	struct rxqueue_push_info info;
	struct rxqueue_stats st;
	struct rec_log rl = {0};
	char big[17];
	char *long_topic = malloc(RXQUEUE_MAX_TOPIC + 2);

	memset(big, 'x', sizeof(big));
	memset(long_topic, 't', RXQUEUE_MAX_TOPIC + 1);
	long_topic[RXQUEUE_MAX_TOPIC + 1] = 0;
	CHECK_INT(rxqueue_push(q, "t", 1, big, 17, stamped, &rl, &info), -EMSGSIZE);
	CHECK_INT(rl.calls, 1); /* recorded although not queued */
	CHECK(!readable(q));
	CHECK_INT(rxqueue_push(q, "t", 1, big, 16, NULL, NULL, NULL), 0); /* the limit is fine */
	/* Over the limit, a full queue is no reason to wait: it would not fit anyway. */
	oeed_ms t0 = clock_mono_ms();
	CHECK_INT(rxqueue_push(q, long_topic, RXQUEUE_MAX_TOPIC + 1, "x", 1, NULL, NULL, NULL),
		  -EMSGSIZE);
	CHECK(clock_mono_ms() - t0 < 1000);
	rxqueue_get_stats(q, &st);
	CHECK_INT(st.too_large, 2);
	CHECK_INT(st.waits, 0);
	CHECK_INT(st.dropped, 0);
	CHECK_INT(st.depth, 1);
	free(long_topic);
	rxqueue_free(q);
}

static void test_eventfd(void)
{
	struct rxqueue *q = new_queue(8, 64, 50, false);
	struct got g = {0};

	CHECK(rxqueue_fd(q) >= 0);
	CHECK(!readable(q));
	CHECK_INT(push(q, "a", "1", NULL), 0);
	CHECK_INT(push(q, "b", "2", NULL), 0);
	CHECK(readable(q));
	CHECK_INT(rxqueue_drain(q, collect, &g, 1), 1);
	CHECK(readable(q)); /* one still queued */
	CHECK_INT(rxqueue_drain(q, collect, &g, 1), 1);
	CHECK(!readable(q)); /* cleared when drained */
	CHECK_INT(push(q, "c", "3", NULL), 0);
	CHECK(readable(q));
	CHECK_INT(rxqueue_drain(q, collect, &g, 100), 1);
	CHECK(!readable(q));
	rxqueue_free(q);
}

/* Sized by bytes: records stay within the first queue_bytes of the ring (a full byte budget
 * waits, then drops, like a full index), a record larger than queue_bytes is queued when it
 * is alone, and an emptied queue starts again at the ring's beginning. */
static void test_queue_bytes(void)
{
	struct rxqueue *q = NULL;
	struct rxqueue_conf conf = {
	    .queue_len = 1000, .queue_bytes = 4096, .max_payload = 16384, .full_wait_ms = 20};
	static uint8_t payload[16384];
	struct rxqueue_stats st;
	struct got g = {0};
	int queued = 0;

	CHECK_INT(rxqueue_new(&conf, &q), 0);
	memset(payload, 'p', sizeof(payload));
	/* records of 1 + 1 + 1000 bytes: 4 fit in 4096 */
	for (int i = 0; i < 6; i++)
		if (rxqueue_push(q, "r", 1, payload, 1000, NULL, NULL, NULL) == 0)
			queued++;
	CHECK_INT(queued, 4);
	rxqueue_get_stats(q, &st);
	CHECK_INT(st.dropped, 2);
	CHECK_INT(st.waits, 2);
	CHECK_INT((int)st.high_water_bytes, 4 * 1002);
	CHECK_INT(rxqueue_drain(q, collect, &g, 100), 4);
	/* alone, a record larger than queue_bytes is queued */
	CHECK_INT(rxqueue_push(q, "big", 3, payload, sizeof(payload), NULL, NULL, NULL), 0);
	CHECK_INT(rxqueue_push(q, "r", 1, payload, 10, NULL, NULL, NULL), -ENOBUFS);
	g.n = 0;
	CHECK_INT(rxqueue_drain(q, collect, &g, 100), 1);
	CHECK_INT(g.len[0], sizeof(payload));
	rxqueue_free(q);
}

/* The producer wakes the consumer once per burst: only the push into an empty queue writes
 * the eventfd (its counter stays 1 however many follow), and a drain that leaves messages
 * queued keeps it readable. */
static void test_eventfd_once_per_burst(void)
{
	struct rxqueue *q = new_queue(256, 64, 50, false);
	struct got g = {0};
	uint64_t v = 0;

	for (int i = 0; i < 100; i++)
		CHECK_INT(push(q, "t", "p", NULL), 0);
	CHECK_INT((int)read(rxqueue_fd(q), &v, sizeof(v)), (int)sizeof(v));
	CHECK_INT((int)v, 1);
	/* the value is consumed by the read above: readable again only through drain's rule */
	CHECK(!readable(q));
	CHECK_INT(rxqueue_drain(q, collect, &g, 10), 10);
	CHECK_INT(push(q, "t", "p", NULL), 0); /* not into an empty queue: no write */
	CHECK(!readable(q));
	CHECK_INT(rxqueue_drain(q, collect, &g, 1000), 91);
	CHECK(!readable(q));
	CHECK_INT(push(q, "t", "p", NULL), 0); /* into an empty queue again */
	CHECK(readable(q));
	rxqueue_free(q);
}

static void test_watermark(void)
{
	struct rxqueue *q = new_queue(8, 64, 50, true);
	struct rxqueue_push_info info;
	struct rec_log rl = {.q = q};
	struct got g = {0};

	/* Empty, never stamped: now. */
	atomic_store(&fake_now, 1000);
	CHECK_INT(rxqueue_watermark_ns(q), 1000);
	/* The clock steps back: the next stamp is still above the watermark handed out. */
	atomic_store(&fake_now, 500);
	CHECK_INT(push(q, "a", "1", &info), 0);
	CHECK_INT(info.rx_ns, 1001);
	/* Same clock reading twice: still strictly increasing. */
	CHECK_INT(push(q, "b", "2", &info), 0);
	CHECK_INT(info.rx_ns, 1002);
	atomic_store(&fake_now, 5000);
	CHECK_INT(push(q, "c", "3", &info), 0);
	CHECK_INT(info.rx_ns, 5000);

	/* Not empty: the oldest queued receive time, even though the clock is past it. */
	atomic_store(&fake_now, 9000);
	CHECK_INT(rxqueue_watermark_ns(q), 1001);
	CHECK_INT(rxqueue_drain(q, collect, &g, 1), 1);
	CHECK_INT(rxqueue_watermark_ns(q), 1002);
	CHECK_INT(rxqueue_drain(q, collect, &g, 1), 1);
	CHECK_INT(rxqueue_watermark_ns(q), 5000);
	CHECK_INT(rxqueue_drain(q, collect, &g, 1), 1);
	/* Empty: now, but never at or below the last stamp even when the clock is behind it. */
	CHECK_INT(rxqueue_watermark_ns(q), 9000);
	atomic_store(&fake_now, 100);
	CHECK_INT(rxqueue_watermark_ns(q), 5001);

	/* While a message is stamped but not queued yet (being recorded): its receive time, so
	 * that a report tick cannot pass it. */
	atomic_store(&fake_now, 20000);
	CHECK_INT(rxqueue_push(q, "d", 1, "4", 1, stamped, &rl, &info), 0);
	CHECK_INT(info.rx_ns, 20000);
	CHECK_INT(rl.watermark_during, 20000);
	/* ... and the oldest queued one while there is one. */
	atomic_store(&fake_now, 30000);
	CHECK_INT(rxqueue_push(q, "e", 1, "5", 1, stamped, &rl, &info), 0);
	CHECK_INT(info.rx_ns, 30000);
	CHECK_INT(rl.watermark_during, 20000);
	CHECK_INT(rxqueue_drain(q, collect, &g, 100), 2);
	/* Empty again with the clock at the last stamp: last stamp + 1. */
	CHECK_INT(rxqueue_watermark_ns(q), 30001);
	/* The floor: after handing out 30001, a message read at a clock behind it is stamped
	 * above it. */
	atomic_store(&fake_now, 40000);
	CHECK_INT(rxqueue_watermark_ns(q), 40000);
	atomic_store(&fake_now, 35000);
	CHECK_INT(push(q, "f", "6", &info), 0);
	CHECK_INT(info.rx_ns, 40001);
	rxqueue_free(q);
}

static void test_stamped_error_still_queues(void)
{
	struct rxqueue *q = new_queue(4, 64, 50, false);
	struct rxqueue_push_info info;
	struct rec_log rl = {.rc = -ENOSPC};
	struct got g = {0};

	CHECK_INT(rxqueue_push(q, "a", 1, "1", 1, stamped, &rl, &info), 0);
	CHECK_INT(info.stamped_rc, -ENOSPC);
	CHECK_INT(push(q, "b", "2", &info), 0);
	CHECK_INT(info.stamped_rc, 0);
	CHECK_INT(rxqueue_drain(q, collect, &g, 100), 2);
	rxqueue_free(q);
}

/* Every push ends up in exactly one counter. */
static void test_stats_add_up(void)
{
	struct rxqueue *q = new_queue(3, 8, 20, false);
	struct rxqueue_stats st;
	struct got g = {0};

	CHECK_INT(push(q, "a", "1", NULL), 0);
	CHECK_INT(push(q, "b", "123456789", NULL), -EMSGSIZE);
	CHECK_INT(push(q, "c", "3", NULL), 0);
	CHECK_INT(push(q, "d", "4", NULL), 0);
	CHECK_INT(push(q, "e", "5", NULL), -ENOBUFS);
	CHECK_INT(rxqueue_drain(q, collect, &g, 2), 2);
	CHECK_INT(push(q, "f", "6", NULL), 0);
	rxqueue_get_stats(q, &st);
	CHECK_INT(st.pushed, 6);
	CHECK_INT(st.drained, 2);
	CHECK_INT(st.depth, 2);
	CHECK_INT(st.dropped, 1);
	CHECK_INT(st.too_large, 1);
	CHECK_INT(st.waits, 1);
	CHECK_INT(st.high_water, 3);
	CHECK_INT(st.pushed, st.drained + st.depth + st.dropped + st.too_large);
	rxqueue_free(q);
}

int main(void)
{
	test_new_rejects_bad_len();
	test_order();
	test_ring_wrap();
	test_full_waits_then_drops();
	test_ring_full();
	test_no_wait_in_paho_or_after_stop();
	test_consumer_makes_room();
	test_waiting_producer_released(false);
	test_waiting_producer_released(true);
	test_too_large();
	test_eventfd();
	test_eventfd_once_per_burst();
	test_queue_bytes();
	test_watermark();
	test_stamped_error_still_queues();
	test_stats_add_up();
	test_flood(); /* last: slow, not failing, when a wakeup is lost */
	TEST_END();
}
