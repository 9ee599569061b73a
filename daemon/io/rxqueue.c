/* rxqueue.c - the MQTT receive queue (see rxqueue.h): an index ring of queue_len entries plus
 * one byte ring holding "topic\0payload" records back to back. A record never wraps: when it
 * does not fit at the end it starts again at 0, so the consumer always sees it contiguous.
 *
 * Both rings start again at their beginning whenever the queue is empty, so a steady stream
 * that the consumer keeps up with touches only the first pages.
 *
 * `lock` guards everything but the records' bytes. The consumer reads the oldest record
 * without the lock while fn runs; that is safe because the producer never writes over the
 * oldest record (see ring_place). */
#include "rxqueue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

struct qentry {
	size_t off;
	uint32_t topic_len;
	uint32_t len;
	int64_t rx_ns;
};

_Static_assert(sizeof(struct qentry) == RXQUEUE_ENTRY_BYTES, "RXQUEUE_ENTRY_BYTES");

struct rxqueue {
	int efd;
	size_t max_payload;
	oeed_ms full_wait_ms;
	int64_t (*wall_ns)(void);

	pthread_mutex_t lock;
	struct qentry *entries;
	size_t n_entries, q_head, q_count;
	uint8_t *ring;
	size_t ring_size, ring_wpos;
	size_t ring_soft; /* records go below this (queue_bytes) unless one is alone */
	size_t ring_used; /* bytes of the queued records */
	struct rxqueue_stats stats;
	/* Backpressure: the producer waits on room_cond while the queue is full; drain, nowait
	 * and stop signal it. in_paho counts the consumer's nowait sections, stopped is for
	 * good. */
	pthread_cond_t room_cond;
	bool producer_waiting;
	int in_paho;
	bool stopped;
	/* The receive-time watermark: receive times are strictly increasing (last_rx_ns), so
	 * "messages received after the checkpoint" is exact even if the clock steps back;
	 * stamping is a message stamped but not queued yet (its stamped hook runs); and the
	 * highest watermark handed out, below which no later message may be stamped. */
	int64_t last_rx_ns;
	bool stamping;
	int64_t watermark_floor_ns;
};

int rxqueue_new(const struct rxqueue_conf *conf, struct rxqueue **ret)
{
	int r = 0;
	struct rxqueue *q = NULL;
	pthread_condattr_t ca;

	if (conf->queue_len == 0 || conf->queue_len > RXQUEUE_MAX_LEN ||
	    conf->max_payload > UINT32_MAX)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->efd = -1;
	q->max_payload = conf->max_payload;
	q->full_wait_ms = conf->full_wait_ms;
	q->wall_ns = conf->wall_ns ? conf->wall_ns : clock_wall_ns;
	pthread_mutex_init(&q->lock, NULL);
	/* The wait's deadline must not move with the wall clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->room_cond, &ca);
	pthread_condattr_destroy(&ca);

	q->n_entries = conf->queue_len;
	q->entries = calloc(q->n_entries, sizeof(*q->entries));
	/* queue_bytes bounds what is queued (and the pages touched); the allocation also
	 * holds one maximal record, which is queued only into an empty queue. Pages beyond
	 * what the backlog reached are never touched (the allocation is not written). */
	if (conf->queue_bytes) {
		q->ring_soft = conf->queue_bytes;
		q->ring_size = OEED_MAX(q->ring_soft, q->max_payload + RXQUEUE_MAX_TOPIC + 1);
	} else {
		/* By count: two maximal records, so one fits while the other is drained. */
		q->ring_size = OEED_MAX(q->n_entries * RXQUEUE_BYTES_PER_MSG,
					2 * (q->max_payload + RXQUEUE_MAX_TOPIC + 1));
		q->ring_soft = q->ring_size;
	}
	q->ring = malloc(q->ring_size);
	if (!q->entries || !q->ring) {
		r = -ENOMEM;
		goto fail;
	}
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0) {
		r = -errno;
		goto fail;
	}
	*ret = q;
	return 0;
fail:
	rxqueue_free(q);
	return r;
}

void rxqueue_free(struct rxqueue *q)
{
	if (!q)
		return;
	if (q->efd >= 0)
		close(q->efd);
	free(q->entries);
	free(q->ring);
	pthread_cond_destroy(&q->room_cond);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

/* Where a record of `need` bytes goes in the byte ring, or SIZE_MAX when it does not fit.
 * Called with lock held. Strict inequalities keep the write position from reaching the
 * oldest record, so "full" and "empty" never look alike. */
static size_t ring_place(const struct rxqueue *q, size_t need)
{
	/* An empty queue starts again at 0, so the pages touched stay as few as the deepest
	 * backlog needed; a record larger than ring_soft fits only alone. */
	if (q->q_count == 0)
		return need <= q->ring_size ? 0 : SIZE_MAX;
	if (q->q_count == q->n_entries)
		return SIZE_MAX;
	size_t rpos = q->entries[q->q_head].off;
	size_t wpos = q->ring_wpos;
	if (wpos > rpos) {
		if (wpos <= q->ring_soft && q->ring_soft - wpos >= need)
			return wpos;
		return need < rpos ? 0 : SIZE_MAX;
	}
	return need < rpos - wpos ? wpos : SIZE_MAX;
}

static bool may_wait(const struct rxqueue *q)
{
	return !q->in_paho && !q->stopped;
}

/* Called with lock held; returns with it held. Waits (bounded) until a record of `need` bytes
 * fits, unless the consumer is in a paho call or the queue is stopped. Waiting keeps paho
 * from reading the socket, so TCP pushes back to the broker, which keeps the rest. */
static void wait_for_room(struct rxqueue *q, size_t need)
{
	if (ring_place(q, need) != SIZE_MAX || !may_wait(q))
		return;
	struct timespec until = clock_deadline(CLOCK_MONOTONIC, q->full_wait_ms);
	q->stats.waits++;
	q->producer_waiting = true;
	while (ring_place(q, need) == SIZE_MAX && may_wait(q))
		if (pthread_cond_timedwait(&q->room_cond, &q->lock, &until) == ETIMEDOUT)
			break;
	q->producer_waiting = false;
}

/* Stamps a receive time: strictly increasing (also across clock steps) and above every
 * watermark handed out, so that a report tick never passes a message still on its way. Called
 * with lock held, after any wait. */
static int64_t stamp(struct rxqueue *q)
{
	int64_t rx_ns = q->wall_ns();
	if (rx_ns <= q->last_rx_ns)
		rx_ns = q->last_rx_ns + 1;
	if (rx_ns <= q->watermark_floor_ns)
		rx_ns = q->watermark_floor_ns + 1;
	q->last_rx_ns = rx_ns;
	return rx_ns;
}

/* Copies the record into the ring and the index. Called with lock held. Returns 0, or
 * -ENOBUFS when there is no room. */
static int enqueue(struct rxqueue *q, const char *topic, size_t topic_len, const void *payload,
		   size_t len, int64_t rx_ns)
{
	size_t need = topic_len + 1 + len;
	size_t off = ring_place(q, need);
	if (off == SIZE_MAX) {
		q->stats.dropped++;
		return -ENOBUFS;
	}
	memcpy(q->ring + off, topic, topic_len);
	q->ring[off + topic_len] = 0;
	if (len)
		memcpy(q->ring + off + topic_len + 1, payload, len);
	size_t slot = q->q_head + q->q_count;
	if (slot >= q->n_entries)
		slot -= q->n_entries;
	q->entries[slot] = (struct qentry){
	    .off = off,
	    .topic_len = (uint32_t)topic_len,
	    .len = (uint32_t)len,
	    .rx_ns = rx_ns,
	};
	q->ring_wpos = off + need;
	q->q_count++;
	q->ring_used += need;
	q->stats.depth = q->q_count;
	if (q->q_count > q->stats.high_water)
		q->stats.high_water = q->q_count;
	if (q->ring_used > q->stats.high_water_bytes)
		q->stats.high_water_bytes = q->ring_used;
	return 0;
}

int rxqueue_push(struct rxqueue *q, const char *topic, size_t topic_len, const void *payload,
		 size_t len, rxqueue_stamped_fn stamped, void *ctx, struct rxqueue_push_info *info)
{
	size_t need = topic_len + 1 + len;
	bool too_large = len > q->max_payload || topic_len > RXQUEUE_MAX_TOPIC;
	int stamped_rc = 0;
	int r = 0;

	pthread_mutex_lock(&q->lock);
	q->stats.pushed++;
	if (!too_large)
		wait_for_room(q, need);
	int64_t rx_ns = stamp(q);
	if (stamped) {
		/* The hook (the recording) runs without the lock; meanwhile the watermark holds
		 * at this message's receive time. */
		q->stamping = true;
		pthread_mutex_unlock(&q->lock);
		stamped_rc = stamped(ctx, rx_ns, topic, topic_len, payload, len);
		pthread_mutex_lock(&q->lock);
		q->stamping = false;
	}
	bool was_empty = q->q_count == 0;
	if (too_large) {
		q->stats.too_large++;
		r = -EMSGSIZE;
	} else {
		r = enqueue(q, topic, topic_len, payload, len, rx_ns);
	}
	size_t depth = q->q_count;
	pthread_mutex_unlock(&q->lock);

	/* The consumer is woken only when the queue turns non-empty: it drains until the queue
	 * is empty before it clears the eventfd (rxqueue_drain), so one write per burst is
	 * enough, not one per message. */
	if (r == 0 && was_empty) {
		uint64_t one = 1;
		/* EAGAIN only when the counter is saturated: it is readable then anyway. */
		if (write(q->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_error("mqtt: eventfd write failed: %s", strerror(errno));
	}
	if (info)
		*info = (struct rxqueue_push_info){
		    .rx_ns = rx_ns, .depth = depth, .stamped_rc = stamped_rc};
	return r;
}

/* Gives the ring space of the first n queued records back. Called with lock held. */
static void release(struct rxqueue *q, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct qentry *e = &q->entries[q->q_head];
		q->ring_used -= e->topic_len + 1 + e->len;
		if (++q->q_head == q->n_entries)
			q->q_head = 0;
	}
	q->q_count -= n;
	if (q->q_count == 0)
		q->q_head = 0; /* the index, too, is touched only as deep as the backlog */
	q->stats.depth = q->q_count;
	q->stats.drained += n;
	if (n && q->producer_waiting)
		pthread_cond_signal(&q->room_cond);
}

size_t rxqueue_drain(struct rxqueue *q, void (*fn)(void *ctx, const struct rxqueue_msg *m),
		     void *ctx, size_t max)
{
	size_t done = 0, handed = 0, avail, head;

	/* The lock is taken once per RXQUEUE_RELEASE_EVERY messages, not per message: the
	 * records handed out stay queued (the producer never writes over them) until they are
	 * released together. */
	pthread_mutex_lock(&q->lock);
	avail = q->q_count;
	head = q->q_head;
	pthread_mutex_unlock(&q->lock);
	while (done < max) {
		if (avail == 0 || handed == RXQUEUE_RELEASE_EVERY) {
			pthread_mutex_lock(&q->lock);
			release(q, handed);
			handed = 0;
			avail = q->q_count;
			head = q->q_head;
			pthread_mutex_unlock(&q->lock);
			if (avail == 0)
				break;
		}
		const struct qentry e = q->entries[head];
		if (++head == q->n_entries)
			head = 0;
		struct rxqueue_msg m = {
		    .rx_ns = e.rx_ns,
		    .topic = (const char *)q->ring + e.off,
		    .topic_len = e.topic_len,
		    .payload = q->ring + e.off + e.topic_len + 1,
		    .len = e.len,
		};
		fn(ctx, &m);
		done++;
		handed++;
		avail--;
	}
	/* Cleared under the lock and only when empty: a message queued after this read finds
	 * the queue empty and writes the eventfd again. */
	pthread_mutex_lock(&q->lock);
	release(q, handed);
	if (q->q_count == 0) {
		uint64_t v;
		if (read(q->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			log_error("mqtt: eventfd read failed: %s", strerror(errno));
	}
	pthread_mutex_unlock(&q->lock);
	return done;
}

int rxqueue_fd(const struct rxqueue *q)
{
	return q->efd;
}

void rxqueue_nowait_begin(struct rxqueue *q)
{
	pthread_mutex_lock(&q->lock);
	q->in_paho++;
	pthread_cond_signal(&q->room_cond);
	pthread_mutex_unlock(&q->lock);
}

void rxqueue_nowait_end(struct rxqueue *q)
{
	pthread_mutex_lock(&q->lock);
	q->in_paho--;
	pthread_mutex_unlock(&q->lock);
}

void rxqueue_stop(struct rxqueue *q)
{
	pthread_mutex_lock(&q->lock);
	q->stopped = true;
	pthread_cond_signal(&q->room_cond);
	pthread_mutex_unlock(&q->lock);
}

int64_t rxqueue_watermark_ns(struct rxqueue *q)
{
	pthread_mutex_lock(&q->lock);
	int64_t wm;
	if (q->q_count > 0)
		wm = q->entries[q->q_head].rx_ns;
	else if (q->stamping)
		wm = q->last_rx_ns;
	else
		wm = OEED_MAX(q->wall_ns(), q->last_rx_ns + 1);
	if (wm > q->watermark_floor_ns)
		q->watermark_floor_ns = wm;
	pthread_mutex_unlock(&q->lock);
	return wm;
}

void rxqueue_get_stats(struct rxqueue *q, struct rxqueue_stats *ret)
{
	pthread_mutex_lock(&q->lock);
	*ret = q->stats;
	pthread_mutex_unlock(&q->lock);
}
