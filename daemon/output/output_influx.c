/* output_influx.c - the influxdb output: batching on the main thread, one sender thread per
 * output that owns a libcurl handle (one kept-alive connection), every HTTP answer sorted
 * into OK / RETRY / DROP-with-reason, and a disk spool (spool.c) for what cannot be sent.
 * output.c reaches it only through influx_output_ops (output_ops.h).
 *
 * Data flow and ordering. The data of one output is a single FIFO made of three parts, oldest
 * first: the batch the sender holds ("inflight"), the spool records, the in-memory queue.
 * - influx_write (main thread) appends to `cur`; a full batch (batch_lines) or one
 *   older than flush_interval (seen by influx_tick) is pushed on the queue (at most
 *   QUEUE_MAX batches). It never waits for the network. When the queue is full, the writer
 *   moves the OLDEST queued batch into the spool itself (under spool_lock) before pushing:
 *   the spool stays older than the queue, and this is the only case where the main thread
 *   touches the disk.
 * - The sender takes the spool head when the spool is not empty, else the queue head, and
 *   keeps it as `inflight` until it is resolved (delivered or dropped). A spool record is
 *   only peeked, and marked consumed after delivery (at least once: a crash in between
 *   re-sends it; identical timestamps make the re-send overwrite itself).
 * - On a RETRY answer the unresolved rest of `inflight` is put at the FRONT of the spool
 *   (spool_prepend, fsynced): it is older than anything the writer may have spooled
 *   meanwhile. During the backoff the sender moves queued batches to the spool so that an
 *   outage costs disk, not memory, and survives a restart.
 * Locks: `lock` (queue, flags) before `spool_lock` (spool); `stats_lock` is a leaf.
 * Time (clock.h): the sender's timers, backoff and latency run on clock_mono_ms() (its condvars
 * wait on CLOCK_MONOTONIC); the main thread's flush timer runs on the wall `now` given to
 * tick, and its log rate limit on clock_wall_ms().
 *
 * Credentials are read once at open with secret_read() (secret.h): password_file for v1 basic
 * auth, token_file for the v2 "Authorization: Token" header; one line, one trailing newline.
 *
 * Memory: QUEUE_MAX (4) batches of batch_lines lines plus `cur`, `inflight` and its gzip
 * copy: about 7 batches, e.g. 7 x 5000 lines x ~150 bytes = 5 MiB at the defaults. The disk
 * spool, not memory, is what absorbs a slow or absent server. */
#include "output_influx.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "clock.h"
#include "log.h"
#include "secret.h"
#include "spool.h"

#define QUEUE_MAX	   4
#define RESP_MAX	   65536
#define BACKOFF_MIN_MS	   500
#define BACKOFF_MAX_MS	   30000
#define RETRY_AFTER_MAX_MS 3600000
#define SYNC_INTERVAL_MS   1000

struct batch {
	struct strbuf sb;
	uint32_t lines;
};

enum verdict { V_DONE = 0, V_RETRY };

struct influx_output {
	/* Set up by influx_open, read-only afterwards. */
	char *name;
	int api;
	bool gzip, create_db;
	size_t batch_lines;
	oeed_ms flush_ms;
	char *query_url; /* v1 /query, for create_database */
	char *database;
	char *username, *password;
	char *ca_file; /* for the create_database request */
	bool verify;
	struct curl_slist *headers, *headers_gz;
	CURL *curl;

	/* Main thread only. */
	struct strbuf cur;
	uint32_t cur_lines;
	oeed_ms cur_seen; /* wall time of the first tick that saw `cur` non-empty, 0: none */
	size_t cur_hint;  /* size of the last batch, reserved up front */
	struct log_ratelimit rl_main;

	/* Under `lock`. */
	pthread_mutex_t lock;
	pthread_cond_t wake; /* the sender: work, stop or abort */
	pthread_cond_t done; /* close(): the sender has exited */
	struct batch q[QUEUE_MAX];
	size_t q_head, q_len;
	bool stop;   /* close() asked: leave when everything is delivered */
	bool exited; /* the sender has left its loop */
	bool thread_started;
	atomic_bool abort; /* close() timed out: give up the network now */

	/* Under `spool_lock`. */
	pthread_mutex_t spool_lock;
	struct spool *spool;
	uint64_t corrupt_logged;

	/* Leaf lock. */
	pthread_mutex_t stats_lock;
	struct output_stats stats;

	/* Sender thread only. */
	pthread_t thread;
	struct strbuf inflight;
	uint32_t inflight_lines;
	bool have_inflight, inflight_spooled;
	struct spool_rec_id inflight_id;
	size_t done_bytes; /* prefix of inflight resolved by the current attempt */
	struct strbuf gz, resp;
	z_stream zs;
	bool zs_ready;
	oeed_ms retry_after_ms; /* from the last answer, -1: none */
	unsigned failures;	/* consecutive RETRY results */
	unsigned seed;
	struct log_ratelimit rl_send, rl_auth, rl_drop;
};

/* The condvars wait on CLOCK_MONOTONIC: the deadline for clock_mono_ms() time `at`. */
static struct timespec mono_deadline(oeed_ms at)
{
	return clock_deadline(CLOCK_MONOTONIC, OEED_MAX(at - clock_mono_ms(), (oeed_ms)0));
}

static uint32_t count_lines(const char *p, size_t len)
{
	uint32_t n = 0;
	const char *end = p + len;
	while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
		n++;
		p++;
	}
	return n;
}

/* Offset just after the n-th newline (or len). */
static size_t after_lines(const char *p, size_t len, uint32_t n)
{
	size_t off = 0;
	while (n-- > 0 && off < len) {
		const char *nl = memchr(p + off, '\n', len - off);
		if (!nl)
			return len;
		off = (size_t)(nl - p) + 1;
	}
	return off;
}

static void stats_error(struct influx_output *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void stats_error(struct influx_output *o, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&o->stats_lock);
	va_start(ap, fmt);
	vsnprintf(o->stats.last_error, sizeof(o->stats.last_error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&o->stats_lock);
}

#define STATS_ADD(o, field, n)                                                                     \
	do {                                                                                       \
		pthread_mutex_lock(&(o)->stats_lock);                                              \
		(o)->stats.field += (n);                                                           \
		pthread_mutex_unlock(&(o)->stats_lock);                                            \
	} while (0)

/* Lines leave the pending count when written or dropped. */
static void resolved(struct influx_output *o, uint64_t written, uint64_t dropped)
{
	pthread_mutex_lock(&o->stats_lock);
	o->stats.lines_written += written;
	o->stats.lines_dropped += dropped;
	o->stats.lines_pending -= OEED_MIN(o->stats.lines_pending, written + dropped);
	pthread_mutex_unlock(&o->stats_lock);
}

/* Call with spool_lock held: publishes the spool size and logs new corruption. */
static void spool_changed(struct influx_output *o)
{
	struct spool_stats ss;
	spool_get_stats(o->spool, &ss);
	pthread_mutex_lock(&o->stats_lock);
	o->stats.spool_bytes = ss.bytes;
	pthread_mutex_unlock(&o->stats_lock);
	if (ss.corrupt > o->corrupt_logged) {
		log_error("output %s: skipped %llu corrupt spool record(s), last: %s", o->name,
			  (unsigned long long)(ss.corrupt - o->corrupt_logged), ss.last_corrupt);
		o->corrupt_logged = ss.corrupt;
	}
}

/* Call with spool_lock held. Appends one batch; counts what was spooled and dropped. */
static int spool_batch(struct influx_output *o, const char *data, size_t len, uint32_t lines,
		       struct log_ratelimit *rl, oeed_ms now)
{
	uint64_t dropped = 0;
	int r = spool_append(o->spool, data, len, lines, &dropped);
	if (r == 0)
		STATS_ADD(o, lines_spooled, lines);
	if (dropped) {
		resolved(o, 0, dropped);
		log_limited(rl, now, LOG_LVL_WARN,
			    "output %s: spool over spool_max, dropped the %llu oldest lines",
			    o->name, (unsigned long long)dropped);
	}
	if (r < 0 && r != -EFBIG) {
		resolved(o, 0, lines);
		STATS_ADD(o, write_errors, 1);
		log_limited(rl, now, LOG_LVL_ERROR, "output %s: cannot spool %u lines, dropped: %s",
			    o->name, lines, strerror(-r));
	}
	spool_changed(o);
	return r;
}

/* ---- main thread ---- */

static int enqueue_cur(struct influx_output *o)
{
	struct batch b = {.sb = o->cur, .lines = o->cur_lines};
	int r = 0;
	if (o->cur_lines == 0)
		return 0;
	o->cur_hint = o->cur.len;
	strbuf_init(&o->cur);
	o->cur_lines = 0;
	o->cur_seen = 0;
	pthread_mutex_lock(&o->lock);
	if (o->q_len == QUEUE_MAX) {
		struct batch *old = &o->q[o->q_head];
		pthread_mutex_lock(&o->spool_lock);
		r = spool_batch(o, old->sb.buf, old->sb.len, old->lines, &o->rl_main,
				clock_wall_ms());
		pthread_mutex_unlock(&o->spool_lock);
		strbuf_free(&old->sb);
		o->q_head = (o->q_head + 1) % QUEUE_MAX;
		o->q_len--;
	}
	o->q[(o->q_head + o->q_len) % QUEUE_MAX] = b;
	o->q_len++;
	STATS_ADD(o, lines_pending, b.lines);
	pthread_cond_signal(&o->wake);
	pthread_mutex_unlock(&o->lock);
	return r == -EFBIG ? 0 : r;
}

static int influx_write(void *impl, const char *lines, size_t len)
{
	struct influx_output *o = impl;
	int r = 0;
	while (len > 0) {
		uint32_t want = (uint32_t)(o->batch_lines - o->cur_lines);
		size_t n = after_lines(lines, len, want);
		uint32_t got = count_lines(lines, n);
		if (o->cur.len == 0 && o->cur_hint)
			strbuf_reserve(&o->cur, o->cur_hint);
		strbuf_append(&o->cur, lines, n);
		if (o->cur.failed) {
			STATS_ADD(o, lines_dropped, got + o->cur_lines);
			strbuf_reset(&o->cur);
			o->cur_lines = 0;
			return -ENOMEM;
		}
		o->cur_lines += got;
		lines += n;
		len -= n;
		if (o->cur_lines >= o->batch_lines) {
			int q = enqueue_cur(o);
			if (q < 0)
				r = q;
		}
	}
	return r;
}

static void influx_tick(void *impl, oeed_ms now)
{
	struct influx_output *o = impl;
	if (o->cur_lines == 0)
		return;
	if (o->cur_seen == 0 || now < o->cur_seen)
		o->cur_seen = now;
	if (now - o->cur_seen >= o->flush_ms)
		enqueue_cur(o);
}

static void influx_get_stats(void *impl, struct output_stats *ret)
{
	struct influx_output *o = impl;
	pthread_mutex_lock(&o->stats_lock);
	*ret = o->stats;
	pthread_mutex_unlock(&o->stats_lock);
}

/* ---- sender thread: HTTP ---- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct influx_output *o = userdata;
	size_t n = size * nmemb;
	if (o->resp.len < RESP_MAX)
		strbuf_append(&o->resp, ptr, OEED_MIN(n, RESP_MAX - o->resp.len));
	return n;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct influx_output *o = userdata;
	size_t n = size * nitems;
	static const char name[] = "retry-after:";
	if (n > sizeof(name) - 1 && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
		char val[32];
		size_t vl = OEED_MIN(n - (sizeof(name) - 1), sizeof(val) - 1);
		char *end;
		memcpy(val, buf + sizeof(name) - 1, vl);
		val[vl] = '\0';
		errno = 0;
		long long s = strtoll(val, &end, 10);
		/* Only delta-seconds; an HTTP-date falls back to the normal backoff. */
		if (!errno && end != val && s >= 0)
			o->retry_after_ms = OEED_MIN(s * 1000, (long long)RETRY_AFTER_MAX_MS);
	}
	return n;
}

static int on_progress(void *userdata, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct influx_output *o = userdata;
	return atomic_load(&o->abort) ? 1 : 0;
}

static int gzip_body(struct influx_output *o, const char *p, size_t len)
{
	int r;
	if (!o->zs_ready) {
		/* Level 1: line protocol compresses ~10x even so, and the CPU is the engine's. */
		if (deflateInit2(&o->zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			return -ENOMEM;
		o->zs_ready = true;
	} else if (deflateReset(&o->zs) != Z_OK) {
		return -EINVAL;
	}
	strbuf_reset(&o->gz);
	r = strbuf_reserve(&o->gz, deflateBound(&o->zs, len));
	if (r < 0)
		return r;
	o->zs.next_in = (Bytef *)(uintptr_t)p;
	o->zs.avail_in = (uInt)len;
	o->zs.next_out = (Bytef *)o->gz.buf;
	o->zs.avail_out = (uInt)(o->gz.cap - 1);
	if (deflate(&o->zs, Z_FINISH) != Z_STREAM_END)
		return -EIO;
	o->gz.len = o->gz.cap - 1 - o->zs.avail_out;
	return 0;
}

/* One POST. Returns the HTTP status, or 0 for a transport error (text in errbuf). */
static long post(struct influx_output *o, const char *p, size_t len, char *errbuf)
{
	long status = 0;
	CURLcode rc;
	oeed_ms t0;
	if (o->gzip) {
		int r = gzip_body(o, p, len);
		if (r < 0) {
			snprintf(errbuf, CURL_ERROR_SIZE, "gzip: %s", strerror(-r));
			return 0;
		}
		p = o->gz.buf;
		len = o->gz.len;
	}
	strbuf_reset(&o->resp);
	o->retry_after_ms = -1;
	errbuf[0] = '\0';
	curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, p);
	curl_easy_setopt(o->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	t0 = clock_mono_ms();
	rc = curl_easy_perform(o->curl);
	pthread_mutex_lock(&o->stats_lock);
	o->stats.last_latency_ms = clock_mono_ms() - t0;
	pthread_mutex_unlock(&o->stats_lock);
	if (rc != CURLE_OK) {
		if (!errbuf[0])
			snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_easy_strerror(rc));
		return 0;
	}
	curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* The answer to CREATE DATABASE is not needed: without this, libcurl writes it to stdout,
 * which may be a file output's destination. */
static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	(void)ptr;
	(void)userdata;
	return size * nmemb;
}

static void create_database(struct influx_output *o)
{
	CURL *c = curl_easy_init();
	struct strbuf q;
	char *esc = NULL;
	long status = 0;
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	strbuf_init(&q);
	if (!c)
		goto out;
	strbuf_puts(&q, "CREATE DATABASE \"");
	for (const char *s = o->database; *s; s++) {
		if (*s == '"' || *s == '\\')
			strbuf_putc(&q, '\\');
		strbuf_putc(&q, *s);
	}
	strbuf_putc(&q, '"');
	esc = q.failed ? NULL : curl_easy_escape(c, q.buf, (int)q.len);
	if (!esc)
		goto out;
	strbuf_reset(&q);
	strbuf_printf(&q, "q=%s", esc);
	if (q.failed)
		goto out;
	curl_easy_setopt(c, CURLOPT_URL, o->query_url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, q.buf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
	if (o->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, o->verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, o->verify ? 2L : 0L);
	if (o->username) {
		curl_easy_setopt(c, CURLOPT_USERNAME, o->username);
		curl_easy_setopt(c, CURLOPT_PASSWORD, o->password ? o->password : "");
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
out:
	if (status == 200)
		log_info("output %s: created database \"%s\"", o->name, o->database);
	else
		log_warn("output %s: CREATE DATABASE \"%s\" failed: %s (HTTP %ld)", o->name,
			 o->database, curl_easy_strerror(rc), status);
	curl_free(esc);
	strbuf_free(&q);
	curl_easy_cleanup(c);
}

/* Lines an InfluxDB 1.x partial write dropped: dropped=N counts points the storage refused;
 * lines that did not parse are listed as "unable to parse" and not in N (checked: 1.6). */
static uint64_t partial_dropped(const char *body)
{
	const char *d = strstr(body, "dropped=");
	uint64_t n = d ? strtoull(d + 8, NULL, 10) : 0;
	for (const char *p = body; (p = strstr(p, "unable to parse")); p++)
		n++;
	return n;
}

static const char *resp_text(struct influx_output *o)
{
	if (o->resp.failed || !o->resp.buf)
		return "";
	o->resp.buf[o->resp.len] = '\0';
	/* One log line: no raw newlines from the server. */
	for (size_t i = 0; i < o->resp.len; i++)
		if (o->resp.buf[i] == '\n' || o->resp.buf[i] == '\r')
			o->resp.buf[i] = ' ';
	return o->resp.buf;
}

static void drop_piece(struct influx_output *o, const char *p, size_t len, uint32_t lines,
		       long status, const char *why)
{
	oeed_ms now = clock_mono_ms();
	resolved(o, 0, lines);
	o->done_bytes += len;
	log_limited(&o->rl_drop, now, LOG_LVL_WARN,
		    "output %s: HTTP %ld, dropped %u line(s) (%s): %.*s%s", o->name, status, lines,
		    why, (int)OEED_MIN(len, (size_t)200), p, len > 200 ? "..." : "");
}

/* Sends one piece of inflight; resolves it (delivered, dropped or split further) or says
 * RETRY. Pieces are handled left to right, so what is resolved is always a prefix. */
static enum verdict deliver(struct influx_output *o, const char *p, size_t len, uint32_t lines)
{
	char errbuf[CURL_ERROR_SIZE];
	long status;
	oeed_ms now;
	const char *text;

	if (len == 0)
		return V_DONE;
	curl_easy_setopt(o->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(o->curl, CURLOPT_HTTPHEADER, o->gzip ? o->headers_gz : o->headers);
	status = post(o, p, len, errbuf);
	curl_easy_setopt(o->curl, CURLOPT_ERRORBUFFER, NULL);
	now = clock_mono_ms();
	text = resp_text(o);

	if (status >= 200 && status < 300) {
		resolved(o, lines, 0);
		pthread_mutex_lock(&o->stats_lock);
		o->stats.healthy = 1;
		pthread_mutex_unlock(&o->stats_lock);
		o->done_bytes += len;
		return V_DONE;
	}
	STATS_ADD(o, write_errors, 1);
	pthread_mutex_lock(&o->stats_lock);
	o->stats.healthy = 0;
	pthread_mutex_unlock(&o->stats_lock);
	if (status == 0)
		stats_error(o, "%s", errbuf);
	else
		stats_error(o, "HTTP %ld: %.120s", status, text);

	if (status == 400 && o->api == 1 && strstr(text, "partial write")) {
		uint64_t dropped = OEED_MIN(partial_dropped(text), (uint64_t)lines);
		resolved(o, lines - dropped, dropped);
		pthread_mutex_lock(&o->stats_lock);
		o->stats.healthy = 1;
		pthread_mutex_unlock(&o->stats_lock);
		o->done_bytes += len;
		log_limited(&o->rl_drop, now, LOG_LVL_WARN,
			    "output %s: partial write, %llu of %u lines dropped by the server: %s",
			    o->name, (unsigned long long)dropped, lines, text);
		return V_DONE;
	}
	if (status == 400 || status == 413) {
		/* The batch holds bad lines (400) or is too big (413): halve it; a single line
		 * that still fails is dropped. */
		if (lines <= 1) {
			drop_piece(o, p, len, lines, status, text);
			return V_DONE;
		}
		size_t half = after_lines(p, len, lines / 2);
		uint32_t first = lines / 2;
		if (deliver(o, p, half, first) == V_RETRY)
			return V_RETRY;
		return deliver(o, p + half, len - half, lines - first);
	}
	if (status == 422) {
		uint64_t dropped = strstr(text, "dropped=") ? partial_dropped(text) : lines;
		dropped = OEED_MIN(dropped, (uint64_t)lines);
		resolved(o, lines - dropped, dropped);
		o->done_bytes += len;
		log_limited(&o->rl_drop, now, LOG_LVL_WARN,
			    "output %s: HTTP 422, %llu lines dropped: %s", o->name,
			    (unsigned long long)dropped, text);
		return V_DONE;
	}
	STATS_ADD(o, lines_retried, lines);
	if (status == 401 || status == 403) {
		log_limited(&o->rl_auth, now, LOG_LVL_ERROR,
			    "output %s: HTTP %ld, the server refuses our credentials (check "
			    "username/password_file or token_file); retrying: %s",
			    o->name, status, text);
	} else if (status == 404 && o->create_db && o->api == 1) {
		/* expected on a fresh server: not an error, since we were asked to create it */
		log_limited(&o->rl_auth, now, LOG_LVL_INFO,
			    "output %s: HTTP 404, database not found; creating it "
			    "(create_database: true)",
			    o->name);
		create_database(o);
	} else if (status == 404) {
		log_limited(&o->rl_auth, now, LOG_LVL_ERROR,
			    "output %s: HTTP 404, %s not found; retrying: %s", o->name,
			    o->api == 1 ? "database" : "bucket or org", text);
	} else if (status == 0) {
		log_limited(&o->rl_send, now, LOG_LVL_WARN, "output %s: %s; retrying", o->name,
			    errbuf);
	} else {
		log_limited(&o->rl_send, now, LOG_LVL_WARN, "output %s: HTTP %ld; retrying: %s",
			    o->name, status, text);
	}
	if (status != 429 && status != 503)
		o->retry_after_ms = -1;
	return V_RETRY;
}

/* ---- sender thread: scheduling ---- */

/* Takes the next batch: the spool head, else the queue head. 1: got one, 0: none. */
static int take_next(struct influx_output *o)
{
	int r = 0;
	pthread_mutex_lock(&o->spool_lock);
	if (!spool_empty(o->spool)) {
		r = spool_peek(o->spool, &o->inflight, &o->inflight_lines, &o->inflight_id);
		spool_changed(o);
		pthread_mutex_unlock(&o->spool_lock);
		if (r < 0) {
			log_limited(&o->rl_send, clock_mono_ms(), LOG_LVL_ERROR,
				    "output %s: cannot read the spool: %s", o->name, strerror(-r));
			return r;
		}
		if (r == 1) {
			o->have_inflight = o->inflight_spooled = true;
			return 1;
		}
	} else {
		pthread_mutex_unlock(&o->spool_lock);
	}
	pthread_mutex_lock(&o->lock);
	pthread_mutex_lock(&o->spool_lock);
	/* The writer may have spooled a batch since the check above. */
	if (o->q_len > 0 && spool_empty(o->spool)) {
		struct batch *b = &o->q[o->q_head];
		strbuf_free(&o->inflight);
		o->inflight = b->sb;
		o->inflight_lines = b->lines;
		o->have_inflight = true;
		o->inflight_spooled = false;
		o->q_head = (o->q_head + 1) % QUEUE_MAX;
		o->q_len--;
		r = 1;
	} else {
		r = o->q_len > 0 ? -EAGAIN : 0;
	}
	pthread_mutex_unlock(&o->spool_lock);
	pthread_mutex_unlock(&o->lock);
	return r == -EAGAIN ? take_next(o) : r;
}

/* Moves all queued batches to the spool, in order (during an outage and at exit). */
static void queue_to_spool(struct influx_output *o)
{
	struct batch moved[QUEUE_MAX];
	size_t n = 0;
	pthread_mutex_lock(&o->lock);
	while (o->q_len > 0) {
		moved[n++] = o->q[o->q_head];
		o->q_head = (o->q_head + 1) % QUEUE_MAX;
		o->q_len--;
	}
	/* Hand over hand: the writer cannot spool a newer batch before these. */
	pthread_mutex_lock(&o->spool_lock);
	pthread_mutex_unlock(&o->lock);
	for (size_t i = 0; i < n; i++) {
		spool_batch(o, moved[i].sb.buf, moved[i].sb.len, moved[i].lines, &o->rl_send,
			    clock_mono_ms());
		strbuf_free(&moved[i].sb);
	}
	pthread_mutex_unlock(&o->spool_lock);
}

/* After a RETRY: the unresolved rest of inflight goes to the front of the spool. */
static void keep_inflight(struct influx_output *o)
{
	size_t done = o->done_bytes;
	uint32_t rest_lines;
	struct spool_rec_id id;
	int r;
	if (done > 0) {
		memmove(o->inflight.buf, o->inflight.buf + done, o->inflight.len - done);
		o->inflight.len -= done;
		o->done_bytes = 0;
	}
	rest_lines = count_lines(o->inflight.buf, o->inflight.len);
	if (o->inflight_spooled && done == 0)
		return;
	pthread_mutex_lock(&o->spool_lock);
	r = spool_prepend(o->spool, o->inflight.buf, o->inflight.len, rest_lines, &id);
	if (r == 0) {
		if (o->inflight_spooled)
			spool_consume(o->spool, &o->inflight_id);
		else
			STATS_ADD(o, lines_spooled, rest_lines);
		o->inflight_id = id;
		o->inflight_spooled = true;
	} else {
		log_limited(&o->rl_send, clock_mono_ms(), LOG_LVL_ERROR,
			    "output %s: cannot spool a failed batch (kept in memory): %s", o->name,
			    strerror(-r));
	}
	spool_changed(o);
	pthread_mutex_unlock(&o->spool_lock);
	o->inflight_lines = rest_lines;
}

static void finish_inflight(struct influx_output *o)
{
	if (o->inflight_spooled) {
		pthread_mutex_lock(&o->spool_lock);
		spool_consume(o->spool, &o->inflight_id);
		spool_changed(o);
		pthread_mutex_unlock(&o->spool_lock);
	}
	o->have_inflight = o->inflight_spooled = false;
	o->done_bytes = 0;
	/* Keep the buffer of a small batch for the next one; a spool peek reuses it too. */
	strbuf_reset(&o->inflight);
}

static oeed_ms backoff_ms(struct influx_output *o)
{
	oeed_ms d;
	if (o->retry_after_ms >= 0)
		return o->retry_after_ms;
	d = BACKOFF_MIN_MS;
	for (unsigned i = 1; i < o->failures && d < BACKOFF_MAX_MS; i++)
		d *= 2;
	/* +-20 % so that several oeed instances do not hammer a recovering server together. */
	d = d * (80 + rand_r(&o->seed) % 41) / 100;
	return OEED_MIN(d, (oeed_ms)BACKOFF_MAX_MS);
}

static void sync_spool(struct influx_output *o)
{
	pthread_mutex_lock(&o->spool_lock);
	int r = spool_sync(o->spool);
	pthread_mutex_unlock(&o->spool_lock);
	if (r < 0)
		log_limited(&o->rl_send, clock_mono_ms(), LOG_LVL_ERROR,
			    "output %s: spool fsync: %s", o->name, strerror(-r));
}

static void *sender_main(void *arg)
{
	struct influx_output *o = arg;
	oeed_ms retry_at = 0, last_sync = clock_mono_ms();

	for (;;) {
		oeed_ms now = clock_mono_ms();
		if (now - last_sync >= SYNC_INTERVAL_MS) {
			sync_spool(o);
			last_sync = now;
		}
		if (atomic_load(&o->abort))
			break;
		if (now < retry_at) {
			struct timespec ts =
			    mono_deadline(OEED_MIN(retry_at, last_sync + SYNC_INTERVAL_MS));
			queue_to_spool(o);
			pthread_mutex_lock(&o->lock);
			if (!atomic_load(&o->abort))
				pthread_cond_timedwait(&o->wake, &o->lock, &ts);
			pthread_mutex_unlock(&o->lock);
			continue;
		}
		if (!o->have_inflight) {
			int r = take_next(o);
			if (r < 0) {
				o->failures++;
				retry_at = clock_mono_ms() + backoff_ms(o);
				continue;
			}
			if (r == 0) {
				struct timespec ts = mono_deadline(last_sync + SYNC_INTERVAL_MS);
				pthread_mutex_lock(&o->lock);
				if (o->stop && o->q_len == 0) {
					pthread_mutex_unlock(&o->lock);
					break;
				}
				if (o->q_len == 0 && !atomic_load(&o->abort))
					pthread_cond_timedwait(&o->wake, &o->lock, &ts);
				pthread_mutex_unlock(&o->lock);
				continue;
			}
		}
		o->done_bytes = 0;
		if (deliver(o, o->inflight.buf, o->inflight.len, o->inflight_lines) == V_DONE) {
			o->failures = 0;
			finish_inflight(o);
		} else {
			o->failures++;
			keep_inflight(o);
			retry_at = clock_mono_ms() + backoff_ms(o);
		}
	}

	/* Leaving (delivered all, or close() gave up): nothing may stay in memory only. */
	if (o->have_inflight && !o->inflight_spooled) {
		o->done_bytes = 0;
		keep_inflight(o);
		if (!o->inflight_spooled) {
			resolved(o, 0, o->inflight_lines);
			log_error("output %s: %u lines lost at exit (spool failed)", o->name,
				  o->inflight_lines);
		}
	}
	queue_to_spool(o);
	sync_spool(o);
	pthread_mutex_lock(&o->lock);
	o->exited = true;
	pthread_cond_broadcast(&o->done);
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

/* ---- setup ---- */

static int append_param(CURL *c, struct strbuf *url, const char *key, const char *val)
{
	char *esc;
	if (!val)
		return 0;
	esc = curl_easy_escape(c, val, 0);
	if (!esc)
		return -ENOMEM;
	strbuf_printf(url, "%c%s=%s", strchr(url->buf, '?') ? '&' : '?', key, esc);
	curl_free(esc);
	return url->failed ? -ENOMEM : 0;
}

static void free_output(struct influx_output *o)
{
	for (size_t i = 0; i < o->q_len; i++)
		strbuf_free(&o->q[(o->q_head + i) % QUEUE_MAX].sb);
	if (o->curl)
		curl_easy_cleanup(o->curl);
	curl_slist_free_all(o->headers);
	curl_slist_free_all(o->headers_gz);
	spool_close(o->spool);
	if (o->zs_ready)
		deflateEnd(&o->zs);
	strbuf_free(&o->cur);
	strbuf_free(&o->inflight);
	strbuf_free(&o->gz);
	strbuf_free(&o->resp);
	secret_free(o->password);
	free(o->username);
	free(o->ca_file);
	free(o->database);
	free(o->query_url);
	free(o->name);
	pthread_mutex_destroy(&o->lock);
	pthread_mutex_destroy(&o->spool_lock);
	pthread_mutex_destroy(&o->stats_lock);
	pthread_cond_destroy(&o->wake);
	pthread_cond_destroy(&o->done);
	free(o);
}

static int setup_curl(struct influx_output *o, const struct oeed_output_conf *conf,
		      struct oeed_error *err)
{
	struct strbuf url, hdr;
	char *token = NULL;
	char what[128];
	const char *base = conf->url;
	size_t base_len;
	int r = -ENOMEM;
	strbuf_init(&url);
	strbuf_init(&hdr);

	if (!base || (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)) {
		snprintf(err->msg, sizeof(err->msg), "output %s: url must be http:// or https://",
			 o->name);
		r = -EINVAL;
		goto out;
	}
	base_len = strlen(base);
	while (base_len > 0 && base[base_len - 1] == '/')
		base_len--;
	o->curl = curl_easy_init();
	if (!o->curl)
		goto out;

	strbuf_append(&url, base, base_len);
	if (o->api == 1) {
		strbuf_puts(&url, "/write");
		if ((r = append_param(o->curl, &url, "db", conf->database)) < 0 ||
		    (r = append_param(o->curl, &url, "rp", conf->retention_policy)) < 0)
			goto out;
		strbuf_append(&hdr, base, base_len);
		strbuf_puts(&hdr, "/query");
		if (hdr.failed)
			goto out;
		o->query_url = strdup(hdr.buf);
		strbuf_reset(&hdr);
		if (!o->query_url)
			goto out;
	} else {
		strbuf_puts(&url, "/api/v2/write");
		if ((r = append_param(o->curl, &url, "org", conf->org)) < 0 ||
		    (r = append_param(o->curl, &url, "bucket", conf->bucket)) < 0)
			goto out;
	}
	r = append_param(o->curl, &url, "precision", conf->precision);
	if (r < 0)
		goto out;
	r = -ENOMEM;

	o->headers = curl_slist_append(NULL, "Content-Type: text/plain; charset=utf-8");
	if (o->headers)
		o->headers = curl_slist_append(o->headers, "Expect:");
	if (o->api == 1 && conf->username) {
		o->username = strdup(conf->username);
		if (!o->username)
			goto out;
		if (conf->password_file) {
			snprintf(what, sizeof(what), "output %s: password_file", o->name);
			r = secret_read(conf->password_file, what, &o->password, err);
			if (r < 0)
				goto out;
			r = -ENOMEM;
		}
		curl_easy_setopt(o->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(o->curl, CURLOPT_USERNAME, o->username);
		curl_easy_setopt(o->curl, CURLOPT_PASSWORD, o->password ? o->password : "");
	}
	if (o->api == 2 && conf->token_file) {
		snprintf(what, sizeof(what), "output %s: token_file", o->name);
		r = secret_read(conf->token_file, what, &token, err);
		if (r < 0)
			goto out;
		r = -ENOMEM;
		strbuf_printf(&hdr, "Authorization: Token %s", token);
		if (hdr.failed || !o->headers)
			goto out;
		o->headers = curl_slist_append(o->headers, hdr.buf);
	}
	if (!o->headers)
		goto out;
	for (struct curl_slist *h = o->headers; h; h = h->next) {
		struct curl_slist *n = curl_slist_append(o->headers_gz, h->data);
		if (!n)
			goto out;
		o->headers_gz = n;
	}
	o->headers_gz = curl_slist_append(o->headers_gz, "Content-Encoding: gzip");
	if (!o->headers_gz || url.failed)
		goto out;

	curl_easy_setopt(o->curl, CURLOPT_URL, url.buf);
	curl_easy_setopt(o->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(o->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(o->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(o->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)conf->connect_timeout_ms);
	curl_easy_setopt(o->curl, CURLOPT_TIMEOUT_MS, (long)conf->timeout_ms);
	curl_easy_setopt(o->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(o->curl, CURLOPT_WRITEDATA, o);
	curl_easy_setopt(o->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(o->curl, CURLOPT_HEADERDATA, o);
	curl_easy_setopt(o->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(o->curl, CURLOPT_XFERINFODATA, o);
	curl_easy_setopt(o->curl, CURLOPT_NOPROGRESS, 0L);
	if (o->ca_file)
		curl_easy_setopt(o->curl, CURLOPT_CAINFO, o->ca_file);
	curl_easy_setopt(o->curl, CURLOPT_SSL_VERIFYPEER, conf->verify ? 1L : 0L);
	curl_easy_setopt(o->curl, CURLOPT_SSL_VERIFYHOST, conf->verify ? 2L : 0L);
	r = 0;
out:
	if (r == -ENOMEM && !err->msg[0])
		snprintf(err->msg, sizeof(err->msg), "output %s: out of memory", o->name);
	secret_free(token);
	if (hdr.buf)
		explicit_bzero(hdr.buf, hdr.cap);
	strbuf_free(&hdr);
	strbuf_free(&url);
	return r;
}

static int influx_open(const struct oeed_output_conf *conf, const char *state_dir, void **ret,
		       struct oeed_error *err)
{
	struct influx_output *o = calloc(1, sizeof(*o));
	pthread_condattr_t ca;
	char *dir = NULL;
	int r = -ENOMEM;
	err->msg[0] = '\0';
	if (!o) {
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&o->lock, NULL);
	pthread_mutex_init(&o->spool_lock, NULL);
	pthread_mutex_init(&o->stats_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&o->wake, &ca);
	pthread_cond_init(&o->done, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&o->abort, false);
	o->rl_main = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 3);
	o->rl_send = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 3);
	o->rl_auth = (struct log_ratelimit)LOG_RATELIMIT_INIT(60000, 2);
	o->rl_drop = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 5);
	o->stats.healthy = 1;
	o->stats.last_latency_ms = -1;
	o->seed = (unsigned)clock_mono_ms() ^ (unsigned)(uintptr_t)o;

	o->name = strdup(conf->name);
	o->database = xstrdup(conf->database);
	o->verify = conf->verify;
	if (!o->name || (conf->database && !o->database))
		goto out;
	if (conf->ca_file) {
		/* checked now: curl would fail every request, and the spool fill, without a word
		 * about the file at start */
		char what[128], path[4096];
		snprintf(what, sizeof(what), "output %s: ca_file", o->name);
		if ((r = secret_path(conf->ca_file, what, path, sizeof(path), err)) < 0 ||
		    (r = secret_check_file(path, what, err)) < 0)
			goto out;
		r = -ENOMEM;
		if (!(o->ca_file = strdup(path)))
			goto out;
	}
	/* every value is the loaded config's, defaults and bounds included (config.c) */
	o->api = conf->api;
	o->gzip = conf->gzip;
	o->create_db = conf->create_database;
	o->batch_lines = conf->batch_lines;
	o->flush_ms = conf->flush_interval_ms;
	r = setup_curl(o, conf, err);
	if (r < 0)
		goto out;

	if (asprintf(&dir, "%s/spool/%s", state_dir, o->name) < 0) {
		dir = NULL;
		r = -ENOMEM;
		goto out;
	}
	r = spool_open(dir, conf->spool_max, &o->spool);
	if (r < 0) {
		snprintf(err->msg, sizeof(err->msg), "output %s: cannot open spool %s: %s", o->name,
			 dir, strerror(-r));
		goto out;
	}
	{
		struct spool_stats ss;
		spool_get_stats(o->spool, &ss);
		o->stats.spool_bytes = ss.bytes;
		o->stats.lines_pending = ss.lines;
		o->corrupt_logged = ss.corrupt;
		if (ss.corrupt)
			log_error("output %s: skipped %llu corrupt spool record(s), last: %s",
				  o->name, (unsigned long long)ss.corrupt, ss.last_corrupt);
		if (ss.records)
			log_info("output %s: %llu spooled lines from before are sent first",
				 o->name, (unsigned long long)ss.lines);
	}
	{
		/* The sender takes no process signals: the daemon reads SIGTERM & co. from a
		 * signalfd, which only works when no thread leaves them unblocked. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		r = -pthread_create(&o->thread, NULL, sender_main, o);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (r < 0) {
		snprintf(err->msg, sizeof(err->msg), "output %s: cannot start sender: %s", o->name,
			 strerror(-r));
		goto out;
	}
	o->thread_started = true;
	free(dir);
	*ret = o;
	return 0;
out:
	if (r == -ENOMEM && !err->msg[0])
		snprintf(err->msg, sizeof(err->msg), "output %s: out of memory",
			 o->name ? o->name : "influxdb");
	free(dir);
	free_output(o);
	return r;
}

static void influx_close(void *impl, oeed_ms timeout_ms)
{
	struct influx_output *o = impl;
	struct timespec ts;
	enqueue_cur(o);
	ts = clock_deadline(CLOCK_MONOTONIC, OEED_MAX(timeout_ms, (oeed_ms)0));
	pthread_mutex_lock(&o->lock);
	o->stop = true;
	pthread_cond_signal(&o->wake);
	while (!o->exited) {
		if (pthread_cond_timedwait(&o->done, &o->lock, &ts) == ETIMEDOUT)
			break;
	}
	/* Time is up: the sender aborts its request, spools the rest and leaves. */
	atomic_store(&o->abort, true);
	pthread_cond_signal(&o->wake);
	pthread_mutex_unlock(&o->lock);
	pthread_join(o->thread, NULL);
	free_output(o);
}

const struct output_ops influx_output_ops = {
    .type = "influxdb",
    .open = influx_open,
    .write = influx_write,
    .tick = influx_tick,
    .get_stats = influx_get_stats,
    .close = influx_close,
};
