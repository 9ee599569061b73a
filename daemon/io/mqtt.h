/* mqtt.h - the MQTT edge: a paho MQTTAsync client (3.1.1 or 5, tcp or ssl, persistent
 * session, automatic reconnect with resubscription from the connected callback) whose
 * callback thread does only three things per message: append it to the recording (when one is
 * given, so the recording is a write-ahead log), copy it into a bounded fixed-size queue, and
 * signal an eventfd. The main thread drains the queue; nothing else is shared.
 *
 * paho acknowledges a QoS 1 message once messageArrived returns, so what a crash can lose is
 * what sits in the queue (and is in the recording, when recording is on). When the queue is
 * full, paho's thread waits up to 1 s for room (backpressure: TCP then holds the broker back);
 * only after that is the message counted as dropped and logged (rxqueue.h). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "recording.h"
#include "util.h"

struct mqtt_client;

struct mqtt_msg {
	int64_t rx_ns;	   /* receive time, ns since epoch (CLOCK_REALTIME at the callback) */
	const char *topic; /* NUL-terminated */
	size_t topic_len;
	const uint8_t *payload;
	size_t len;
};

struct mqtt_subscription {
	const char *filter; /* MQTT topic filter */
	int qos;
};

struct mqtt_stats {
	uint64_t received;
	uint64_t queue_dropped; /* queue still full after waiting MQTT_FULL_WAIT_MS */
	uint64_t queue_waits;	/* times the receive thread waited for room (backpressure) */
	uint64_t too_large;	/* payload over the queue's per-message limit */
	uint64_t connects, disconnects;
	uint64_t record_errors;
	size_t queue_depth, queue_high_water;
	uint64_t published;	 /* mqtt_publish_msg messages the broker acknowledged */
	uint64_t publish_failed; /* ... that paho reported as failed */
	size_t inflight;	 /* ... handed to paho, not yet acknowledged */
	int connected;
	char last_error[160];
};

/* Creates the client (does not connect yet). rec may be NULL. The subscription strings are
 * copied. */
int mqtt_new(const struct oeed_mqtt_conf *conf, const struct mqtt_subscription *subs, size_t n_subs,
	     struct recording_writer *rec, struct mqtt_client **ret, struct oeed_error *err);
/* Starts connecting (asynchronous; reconnects by itself). */
int mqtt_start(struct mqtt_client *c);
/* An eventfd that is readable when messages are queued. */
int mqtt_fd(const struct mqtt_client *c);
/* Calls fn for up to max queued messages, in arrival order; the message is valid during the
 * call only. Returns how many were handled. Clears the eventfd when the queue is empty. */
size_t mqtt_drain(struct mqtt_client *c, void (*fn)(void *ctx, const struct mqtt_msg *m), void *ctx,
		  size_t max);
/* Replaces the subscription set (reload): unsubscribes what is no longer wanted. */
int mqtt_set_subscriptions(struct mqtt_client *c, const struct mqtt_subscription *subs, size_t n);
/* QoS 0 publish (Sparkplug rebirth requests); non-blocking. */
int mqtt_publish(struct mqtt_client *c, const char *topic, const void *payload, size_t len);
/* A message of the mqtt output (output_mqtt.h), non-blocking: -EAGAIN while max_inflight
 * messages are handed to paho and not yet acknowledged (the broker is slow: the caller keeps
 * it queued), -ENOTCONN while not connected, -EIO when paho refuses it. */
int mqtt_publish_msg(struct mqtt_client *c, const char *topic, const void *payload, size_t len,
		     int qos, bool retain, size_t max_inflight);
void mqtt_get_stats(struct mqtt_client *c, struct mqtt_stats *ret);
/* Every message received before the returned time (ns, the rx_ns clock) has been queued or
 * handed out by mqtt_drain(), and every later one will be stamped at or after it: report
 * ticks up to it are final. The oldest queued receive time while the queue is not empty. */
int64_t mqtt_watermark_ns(struct mqtt_client *c);
/* Disconnects (publishing the offline status when configured) and stops paho's threads. What
 * arrived until then stays queued for mqtt_drain(): paho acknowledged it, so the daemon must
 * still process it. */
void mqtt_stop(struct mqtt_client *c);
/* mqtt_stop() if not done yet, then frees (queued messages are discarded). NULL is fine. */
void mqtt_free(struct mqtt_client *c);
