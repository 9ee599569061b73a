/* ingest.h - from a received message to engine calls: topic -> source(s) by template, machine
 * id and tags from the topic, payload -> values by the source's decoder plugin, raw state ->
 * category/reason by the source's map. Shared by the live daemon and `oeed replay`, so both
 * compute the same figures from the same messages. Pure apart from the decoder host hooks. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "engine.h"
#include "plugin.h"

struct ingest;

struct ingest_stats {
	uint64_t messages;	/* all messages seen */
	uint64_t decode_errors; /* payloads a decoder rejected (the message is skipped) */
	uint64_t unmatched;	/* topics no source template matches */
	uint64_t unmapped;	/* raw states missing from the source's map */
	uint64_t bad_values;	/* values of the wrong kind for their signal */
	uint64_t dropped;	/* messages for machines beyond machines.max */
};

/* What became of a message. Anything but INGEST_OK means (part of) it was rejected and
 * counted in ingest_stats; the caller logs err with a rate limit of its own per outcome. */
enum ingest_outcome {
	INGEST_OK = 0,
	INGEST_UNMATCHED,	/* no source's topic template matches the topic */
	INGEST_BAD_TOPIC,	/* the topic is not UTF-8 or holds a NUL (a corrupt recording) */
	INGEST_DECODE_ERROR,	/* a decoder rejected the payload */
	INGEST_BAD_VALUE,	/* a value of the wrong kind for its signal */
	INGEST_UNMAPPED,	/* a raw state missing from the source's map */
	INGEST_MACHINE_DROPPED, /* a new machine beyond machines.max */
	INGEST__COUNT
};
const char *ingest_outcome_name(enum ingest_outcome o);

/* Details of the last rejected message, for the caller's rate-limited log line. */
struct ingest_error {
	char msg[320];
};

int ingest_new(const struct oeed_config *cfg, struct engine *e,
	       const struct oeed_decoder_host *host, struct ingest **ret, struct oeed_error *err);
void ingest_free(struct ingest *in);
/* Handles one message received at `now`. Returns INGEST_OK, or what went wrong last, with err
 * (may be NULL) naming the topic, the byte offset and the reason. */
enum ingest_outcome ingest_message(struct ingest *in, const char *topic, size_t topic_len,
				   const uint8_t *payload, size_t len, oeed_ms now,
				   struct ingest_error *err);
/* The MQTT subscriptions the sources need (one per source; duplicates removed). */
size_t ingest_subscriptions(const struct ingest *in, const char **ret_filters, int *ret_qos,
			    size_t max);
void ingest_get_stats(const struct ingest *in, struct ingest_stats *ret);
/* Carries counters over to a new ingest (reload), so self-metrics keep counting. */
void ingest_set_stats(struct ingest *in, const struct ingest_stats *s);
