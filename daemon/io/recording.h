/* recording.h - the audit trail: every received message as one text line
 *   "<receive time, ns since epoch> <topic, percent-encoded> <payload, base64>\n"
 * (interface.md). An empty payload is an empty field: the line ends in a space ("123 a/b \n");
 * the reader rejects a last line without '\n' (a write cut short). The writer appends to
 * rotating files recording-<first ns, 20 digits>.log under a directory, capped in size per
 * file and in total (oldest files deleted). write(2) happens before the MQTT callback
 * returns, so a process crash loses nothing that was written; the writer fsyncs on rotation
 * and when recording_writer_sync() is called (power-loss window = the sync interval chosen by
 * the daemon). The reader parses files back, reporting bad lines with file:line:column. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "config.h"
#include "util.h"

/* Percent-encoding of a topic: bytes outside [A-Za-z0-9/_.~+#{}-] become %XX (so spaces,
 * '%' and non-ASCII are always encoded). */
void rec_percent_encode(struct strbuf *sb, const char *s, size_t len);
/* Decodes in place-free fashion into sb; returns 0 or -EINVAL (bad %XX) with *ret_bad_at. */
int rec_percent_decode(struct strbuf *sb, const char *s, size_t len, size_t *ret_bad_at);
void rec_base64_encode(struct strbuf *sb, const uint8_t *p, size_t len);
int rec_base64_decode(struct strbuf *sb, const char *s, size_t len, size_t *ret_bad_at);

struct recording_writer;
/* Creates `dir` if missing. file_max/total_max: bytes (0 = unlimited). */
int recording_writer_open(const char *dir, uint64_t file_max, uint64_t total_max,
			  struct recording_writer **ret, struct oeed_error *err);
/* Appends one message (one write(2) call). Returns 0 or -errno. */
int recording_write(struct recording_writer *w, int64_t rx_ns, const char *topic, size_t topic_len,
		    const uint8_t *payload, size_t len);
/* Makes what was written durable (fdatasync). Safe to call from another thread than the one
 * writing: recording_write() never waits for it. */
int recording_writer_sync(struct recording_writer *w);
/* Path of the file currently written (for the checkpoint: where the tail starts); NULL
 * until the first message starts a file. */
const char *recording_writer_current(const struct recording_writer *w);
uint64_t recording_writer_offset(const struct recording_writer *w);
void recording_writer_close(struct recording_writer *w);

struct recording_msg {
	int64_t rx_ns;
	const char *topic; /* NUL-terminated, valid until the next call */
	size_t topic_len;
	const uint8_t *payload; /* valid until the next call */
	size_t len;
};

struct recording_reader;
int recording_reader_open(const char *path, struct recording_reader **ret, struct oeed_error *err);
/* Returns 1 with *msg, 0 at end of file, or -EBADMSG for a malformed line, with err naming
 * "path:line:column: what" (the caller decides whether to skip it: replay counts and skips).
 * Lines are read with getline(); a line longer than 16 MiB is malformed. */
int recording_next(struct recording_reader *r, struct recording_msg *msg, struct oeed_error *err);
void recording_reader_close(struct recording_reader *r);
/* Lists recording files in `dir` in time order (for replaying a directory). Caller frees
 * each string and the array. */
int recording_list_dir(const char *dir, char ***ret_paths, size_t *ret_n);
