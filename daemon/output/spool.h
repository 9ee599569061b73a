/* spool.h - an on-disk FIFO of records (batches of line protocol) for one output, kept in
 * segment files DIR/<16 hex digits>.seg. Each record is a 16-byte header (magic, lines,
 * length, crc32 of lines+length+payload) followed by the payload. A delivered record is
 * marked consumed in place (its magic rewritten); a segment with no live record left is
 * deleted. The total size of the segment files is bounded by max_bytes: appending beyond it
 * deletes the oldest segments (their live lines are reported as dropped). A corrupt record
 * (bad magic, bad crc, truncated) is skipped and counted.
 *
 * Not thread-safe: the caller serialises all calls (the influxdb output holds a mutex).
 * Library-like: never logs; corruption is reported through spool_get_stats(). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util.h"

struct spool;

/* Where a record lives; valid until the record is consumed or dropped. */
struct spool_rec_id {
	uint64_t seq; /* segment number */
	uint64_t off; /* byte offset of the record header in the segment */
};

struct spool_stats {
	uint64_t bytes;		/* size of all segment files */
	uint64_t records;	/* live records */
	uint64_t lines;		/* live lines */
	uint64_t corrupt;	/* corrupt records skipped since open */
	char last_corrupt[160]; /* what the last one was, for the log */
};

#define SPOOL_HEADER_SIZE 16

/* Creates DIR (and missing parents) when needed, scans existing segments (verifying every
 * record's crc) so that their records are read first. */
int spool_open(const char *dir, uint64_t max_bytes, struct spool **ret);
/* Fsyncs and frees. NULL is fine. */
void spool_close(struct spool *s);
/* Adds a record at the end. *ret_dropped_lines (always set) counts the lines of the oldest
 * segments deleted to make room, plus `lines` itself when the record alone is larger than
 * max_bytes (then -EFBIG). Returns 0 or -errno. */
int spool_append(struct spool *s, const char *data, size_t len, uint32_t lines,
		 uint64_t *ret_dropped_lines);
/* Adds a record before all others (a batch that was taken out for sending and must be
 * retried first), in a new segment; fsyncs it. */
int spool_prepend(struct spool *s, const char *data, size_t len, uint32_t lines,
		  struct spool_rec_id *ret_id);
/* Copies the oldest live record into `out` (reset first). Returns 1 with the record, 0 when
 * the spool is empty, or -errno. Corrupt records on the way are skipped and counted. */
int spool_peek(struct spool *s, struct strbuf *out, uint32_t *ret_lines,
	       struct spool_rec_id *ret_id);
/* Marks the record consumed. -ENOENT when it is no longer there (dropped meanwhile). */
int spool_consume(struct spool *s, const struct spool_rec_id *id);
/* Fsyncs the segment being appended to, when anything was written since the last sync. */
int spool_sync(struct spool *s);
bool spool_empty(const struct spool *s);
void spool_get_stats(const struct spool *s, struct spool_stats *ret);
