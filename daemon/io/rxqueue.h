/* rxqueue.h - the MQTT receive queue: hands received messages from paho's callback thread
 * (the producer) to the main thread (the consumer) through fixed memory. It owns the
 * bounded queue, the eventfd that is readable while messages are queued, the backpressure
 * wait, the receive timestamps with their watermark, and the queue counters.
 *
 * Threads: rxqueue_push comes from the producer thread only, and one push at a time.
 * rxqueue_drain, rxqueue_nowait_begin/end, rxqueue_stop and rxqueue_watermark_ns come from
 * the consumer thread. rxqueue_fd and rxqueue_get_stats may be called from any thread;
 * rxqueue_new and rxqueue_free while no other thread uses the queue. No callback is called
 * with the queue's lock held.
 *
 * Memory, allocated once in rxqueue_new and never grown:
 *	queue_len * 24 B (the index: offset, lengths, receive time)
 *	+ max(queue_bytes, max_payload + RXQUEUE_MAX_TOPIC + 1)  (the byte ring)
 * Records are queued within the first queue_bytes of the ring; a record larger than that is
 * queued only into an empty queue. Both rings restart at their beginning whenever the queue
 * empties, so the pages touched are those the deepest backlog needed: with the defaults
 * (queue_len 65536, queue_bytes 1 MiB) at most 1.5 MiB + 1 MiB, plus the size of the largest
 * message received. A payload over max_payload (or a topic over RXQUEUE_MAX_TOPIC) is counted
 * as too_large and not queued. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util.h"

#define RXQUEUE_MAX_LEN	      (16u * 1024 * 1024) /* largest queue_len */
#define RXQUEUE_MAX_TOPIC     65535		  /* the MQTT limit on a topic name */
#define RXQUEUE_BYTES_PER_MSG 256		  /* byte ring budget per queue entry */
#define RXQUEUE_ENTRY_BYTES   24		  /* one index entry */
#define RXQUEUE_RELEASE_EVERY 64 /* drained records given back to the producer at once */

struct rxqueue;

struct rxqueue_conf {
	size_t queue_len; /* messages, 1..RXQUEUE_MAX_LEN */
	/* Topic + payload bytes queued at most (a larger record only alone); 0: the ring is
	 * max(queue_len * RXQUEUE_BYTES_PER_MSG, 2 maximal records) and all of it is used. */
	size_t queue_bytes;
	size_t max_payload;   /* larger payloads are counted as too_large */
	oeed_ms full_wait_ms; /* how long a push waits for room in a full queue */
	/* The receive clock, ns since epoch; NULL is clock_wall_ns (tests give a fake one). */
	int64_t (*wall_ns)(void);
};

struct rxqueue_msg {
	int64_t rx_ns;	   /* receive time, stamped by rxqueue_push */
	const char *topic; /* NUL-terminated */
	size_t topic_len;
	const uint8_t *payload;
	size_t len;
};

/* pushed == drained + depth + dropped + too_large whenever no push is in progress. */
struct rxqueue_stats {
	uint64_t pushed;    /* rxqueue_push calls */
	uint64_t drained;   /* messages handed out by rxqueue_drain */
	uint64_t dropped;   /* still no room after waiting full_wait_ms */
	uint64_t waits;	    /* pushes that waited for room (backpressure) */
	uint64_t too_large; /* over max_payload or RXQUEUE_MAX_TOPIC */
	size_t depth, high_water;
	size_t high_water_bytes; /* most bytes (topics and payloads) queued at once */
};

/* What rxqueue_push did besides its return value. */
struct rxqueue_push_info {
	int64_t rx_ns;	/* the receive time the message was given */
	size_t depth;	/* messages queued after the push */
	int stamped_rc; /* what the stamped hook returned; 0 without one */
};

/* Called by rxqueue_push once the message has its receive time and before it is queued,
 * without the lock (paho's thread writes the recording here, so that the recording is a
 * write-ahead log of the queue). Its result is only reported back. */
typedef int (*rxqueue_stamped_fn)(void *ctx, int64_t rx_ns, const char *topic, size_t topic_len,
				  const uint8_t *payload, size_t len);

/* Allocates all the queue's memory and its eventfd. Returns 0, -EINVAL (queue_len out of
 * range) or -errno. */
int rxqueue_new(const struct rxqueue_conf *conf, struct rxqueue **ret);
/* Queued messages are discarded. NULL is fine. */
void rxqueue_free(struct rxqueue *q);

/* Producer. Stamps the message (strictly increasing receive times, also across clock steps,
 * and above every watermark handed out), calls stamped (may be NULL), copies topic and
 * payload into the queue and makes the eventfd readable. When the queue is full it first
 * waits up to full_wait_ms for the consumer to make room, except while the consumer is
 * between rxqueue_nowait_begin/end or after rxqueue_stop. Returns 0 when queued, -ENOBUFS
 * when dropped for lack of room, -EMSGSIZE when too large (stamped is called for both).
 * info may be NULL. */
int rxqueue_push(struct rxqueue *q, const char *topic, size_t topic_len, const void *payload,
		 size_t len, rxqueue_stamped_fn stamped, void *ctx, struct rxqueue_push_info *info);

/* Consumer. Calls fn for up to max queued messages, in arrival order, without the lock (the
 * producer keeps pushing meanwhile); the message is valid during the call only, and fn must
 * not drain. Returns how many were handled. Clears the eventfd when the queue is empty. */
size_t rxqueue_drain(struct rxqueue *q, void (*fn)(void *ctx, const struct rxqueue_msg *m),
		     void *ctx, size_t max);
/* Readable while messages are queued (EFD_NONBLOCK; rxqueue_drain clears it). */
int rxqueue_fd(const struct rxqueue *q);
/* Consumer, around every call into paho: the producer must not wait for room meanwhile
 * (paho holds its own mutex during the callback, which is what the call needs); a producer
 * already waiting gives up at once. Nests. */
void rxqueue_nowait_begin(struct rxqueue *q);
void rxqueue_nowait_end(struct rxqueue *q);
/* Consumer: from now on pushes never wait (shutdown); a waiting producer gives up at once. */
void rxqueue_stop(struct rxqueue *q);
/* Consumer. Every message pushed before the returned time (ns, the rx_ns clock) has been
 * queued or handed out by rxqueue_drain(), and every later one will be stamped after it.
 * While the queue is not empty: the oldest queued receive time; while a push is between
 * stamping and queueing: that push's receive time; otherwise now (at least the last
 * stamp + 1). */
int64_t rxqueue_watermark_ns(struct rxqueue *q);
void rxqueue_get_stats(struct rxqueue *q, struct rxqueue_stats *ret);
