/* recording.c - the recording format (percent-encoded topic, base64 payload), the rotating
 * writer and the strict reader.
 *
 * Decisions beyond recording.h:
 * - An empty payload is an empty base64 field: "123 topic \n" (the space stays). An empty
 *   topic is an empty field too ("123  QQ==\n"); the reader accepts both.
 * - The writer writes every line with one write(2), so a last line without '\n' can only be a
 *   write cut short (power loss, full disk): the reader reports it as malformed even when its
 *   prefix would parse, because a base64 field cut at a multiple of 4 would otherwise pass
 *   as a shorter payload.
 * - A new file is started on the first message after open and when the next line would push
 *   the current file past file_max. Its name carries that message's receive time (negative
 *   times count as 0) zero-padded to 20 digits, so name order is time order.
 * - total_max is enforced when a file is started: the oldest other files are deleted until
 *   they plus file_max (the room the new file may grow into) fit; with file_max 0 there is no
 *   rotation, so the cap only applies when the writer opens.
 * - Percent decoding accepts %XX in either case and rejects raw bytes the encoder would have
 *   encoded; a bad escape is reported at its '%'. Base64 decoding accepts only the canonical
 *   form ('=' padding only at the end, unused bits zero); a field whose length is not a
 *   multiple of 4 is reported at the start of its incomplete last group. */
#include "recording.h"

#include <fcntl.h>
#include <pthread.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REC_LINE_MAX (16u * 1024 * 1024)
#define REC_PREFIX   "recording-"
#define REC_SUFFIX   ".log"

static void set_err(struct oeed_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_err(struct oeed_error *err, const char *fmt, ...)
{
	if (!err)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* ---- encodings ------------------------------------------------------------------------ */

static bool topic_byte_plain(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       strchr("/_.~+#{}-", c) != NULL;
}

static const char hex_digits[] = "0123456789ABCDEF";

void rec_percent_encode(struct strbuf *sb, const char *s, size_t len)
{
	if (strbuf_reserve(sb, 3 * len) < 0)
		return;
	char *o = sb->buf + sb->len;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		/* c != 0: strchr would match the terminator */
		if (c && topic_byte_plain(c)) {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex_digits[c >> 4];
			*o++ = hex_digits[c & 15];
		}
	}
	sb->len = (size_t)(o - sb->buf);
	sb->buf[sb->len] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int rec_percent_decode(struct strbuf *sb, const char *s, size_t len, size_t *ret_bad_at)
{
	if (strbuf_reserve(sb, len) < 0)
		return -ENOMEM;
	char *o = sb->buf + sb->len;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			int hi = i + 1 < len ? hex_value(s[i + 1]) : -1;
			int lo = i + 2 < len ? hex_value(s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				*ret_bad_at = i;
				return -EINVAL;
			}
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else if (c && topic_byte_plain(c)) {
			*o++ = (char)c;
		} else {
			*ret_bad_at = i;
			return -EINVAL;
		}
	}
	sb->len = (size_t)(o - sb->buf);
	sb->buf[sb->len] = '\0';
	return 0;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void rec_base64_encode(struct strbuf *sb, const uint8_t *p, size_t len)
{
	if (strbuf_reserve(sb, (len + 2) / 3 * 4) < 0)
		return;
	char *o = sb->buf + sb->len;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = b64_alphabet[(v >> 6) & 63];
		*o++ = b64_alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = b64_alphabet[(v >> 6) & 63];
		*o++ = '=';
	}
	sb->len = (size_t)(o - sb->buf);
	sb->buf[sb->len] = '\0';
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int rec_base64_decode(struct strbuf *sb, const char *s, size_t len, size_t *ret_bad_at)
{
	size_t full = len - len % 4;
	if (strbuf_reserve(sb, full / 4 * 3) < 0)
		return -ENOMEM;
	char *o = sb->buf + sb->len;
	for (size_t i = 0; i < full; i += 4) {
		bool last = i + 4 == len;
		/* '=' only in the last group, as its last one or two characters */
		size_t pad = 0;
		if (last && s[i + 3] == '=')
			pad = s[i + 2] == '=' ? 2 : 1;
		uint32_t v = 0;
		for (size_t k = 0; k < 4 - pad; k++) {
			int d = b64_value(s[i + k]);
			if (d < 0) {
				*ret_bad_at = i + k;
				return -EINVAL;
			}
			v = v << 6 | (uint32_t)d;
		}
		/* The unused low bits must be zero: only the canonical encoding is accepted. */
		if ((pad == 1 && (v & 3)) || (pad == 2 && (v & 15))) {
			*ret_bad_at = i + 3 - pad;
			return -EINVAL;
		}
		v <<= 6 * pad;
		*o++ = (char)(v >> 16);
		if (pad < 2)
			*o++ = (char)(v >> 8);
		if (pad < 1)
			*o++ = (char)v;
	}
	if (full < len) {
		/* An incomplete last group: a bad character in it, or else the group itself. */
		for (size_t k = full; k < len; k++) {
			if (b64_value(s[k]) < 0) {
				*ret_bad_at = k;
				return -EINVAL;
			}
		}
		*ret_bad_at = full;
		return -EINVAL;
	}
	sb->len = (size_t)(o - sb->buf);
	sb->buf[sb->len] = '\0';
	return 0;
}

/* ---- directory listing ---------------------------------------------------------------- */

static bool is_recording_name(const char *name)
{
	size_t n = strlen(name), p = strlen(REC_PREFIX), s = strlen(REC_SUFFIX);
	return n > p + s && strncmp(name, REC_PREFIX, p) == 0 &&
	       strcmp(name + n - s, REC_SUFFIX) == 0;
}

static int cmp_paths(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_paths(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

int recording_list_dir(const char *dir, char ***ret_paths, size_t *ret_n)
{
	char **paths = NULL;
	size_t n = 0, cap = 0;
	int r = 0;
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			r = -errno;
			break;
		}
		if (!is_recording_name(de->d_name))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **np = realloc(paths, ncap * sizeof(*np));
			if (!np) {
				r = -ENOMEM;
				break;
			}
			paths = np;
			cap = ncap;
		}
		if (asprintf(&paths[n], "%s/%s", dir, de->d_name) < 0) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (r < 0) {
		free_paths(paths, n);
		return r;
	}
	/* Same directory prefix everywhere, so path order is name order is time order. */
	if (n)
		qsort(paths, n, sizeof(*paths), cmp_paths);
	*ret_paths = paths;
	*ret_n = n;
	return 0;
}

/* ---- writer --------------------------------------------------------------------------- */

struct recording_writer {
	char *dir;
	uint64_t file_max, total_max;
	int fd; /* -1 before the first message */
	char *cur_path;
	uint64_t offset;    /* bytes in the current file */
	struct strbuf line; /* reused for every message */
	/* Writes come from paho's thread, syncs from the main thread. */
	pthread_mutex_t lock;
};

static int mkdir_p(const char *path)
{
	char *p = strdup(path);
	int r = 0;
	if (!p)
		return -ENOMEM;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0750) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return r;
}

/* Deletes the oldest recordings (never `keep`) until the others plus `reserve` fit. */
static int enforce_total(struct recording_writer *w, const char *keep, uint64_t reserve)
{
	char **paths;
	size_t n;
	uint64_t total = 0;
	if (!w->total_max)
		return 0;
	int r = recording_list_dir(w->dir, &paths, &n);
	if (r < 0)
		return r;
	uint64_t *sizes = calloc(n ? n : 1, sizeof(*sizes));
	if (!sizes) {
		r = -ENOMEM;
		goto out_free_paths;
	}
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (keep && strcmp(paths[i], keep) == 0)
			continue;
		if (stat(paths[i], &st) == 0)
			sizes[i] = (uint64_t)st.st_size;
		total += sizes[i];
	}
	for (size_t i = 0; i < n && total + reserve > w->total_max; i++) {
		if (keep && strcmp(paths[i], keep) == 0)
			continue;
		if (unlink(paths[i]) < 0 && errno != ENOENT) {
			r = -errno;
			break;
		}
		total -= sizes[i];
	}
	free(sizes);
out_free_paths:
	free_paths(paths, n);
	return r;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

static int start_file(struct recording_writer *w, int64_t rx_ns)
{
	char *path;
	int r;
	if (w->fd >= 0) {
		/* The finished file is complete on disk before the next one starts. */
		r = fsync(w->fd) < 0 ? -errno : 0;
		close(w->fd);
		w->fd = -1;
		pthread_mutex_init(&w->lock, NULL);
		free(w->cur_path);
		w->cur_path = NULL;
		if (r < 0)
			return r;
	}
	if (asprintf(&path, "%s/" REC_PREFIX "%020" PRIu64 REC_SUFFIX, w->dir,
		     rx_ns < 0 ? (uint64_t)0 : (uint64_t)rx_ns) < 0)
		return -ENOMEM;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		r = -errno;
		free(path);
		return r;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		free(path);
		return r;
	}
	w->fd = fd;
	w->cur_path = path;
	w->offset = (uint64_t)st.st_size;
	(void)sync_dir(w->dir); /* best effort: the data itself is synced with the file */
	return enforce_total(w, path, w->file_max);
}

int recording_writer_open(const char *dir, uint64_t file_max, uint64_t total_max,
			  struct recording_writer **ret, struct oeed_error *err)
{
	int r = mkdir_p(dir);
	if (r < 0) {
		set_err(err, "%s: cannot create directory: %s", dir, strerror(-r));
		return r;
	}
	struct recording_writer *w = calloc(1, sizeof(*w));
	if (!w || !(w->dir = strdup(dir))) {
		free(w);
		set_err(err, "%s: out of memory", dir);
		return -ENOMEM;
	}
	w->file_max = file_max;
	w->total_max = total_max;
	w->fd = -1;
	strbuf_init(&w->line);
	r = enforce_total(w, NULL, file_max);
	if (r < 0) {
		set_err(err, "%s: cannot enforce the size limit: %s", dir, strerror(-r));
		recording_writer_close(w);
		return r;
	}
	*ret = w;
	return 0;
}

static void put_i64(struct strbuf *sb, int64_t v)
{
	char tmp[24];
	char *p = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	strbuf_append(sb, p, (size_t)(tmp + sizeof(tmp) - p));
}

static int recording_write_locked(struct recording_writer *w, int64_t rx_ns, const char *topic,
				  size_t topic_len, const uint8_t *payload, size_t len);

int recording_write(struct recording_writer *w, int64_t rx_ns, const char *topic, size_t topic_len,
		    const uint8_t *payload, size_t len)
{
	pthread_mutex_lock(&w->lock);
	int r = recording_write_locked(w, rx_ns, topic, topic_len, payload, len);
	pthread_mutex_unlock(&w->lock);
	return r;
}

static int recording_write_locked(struct recording_writer *w, int64_t rx_ns, const char *topic,
				  size_t topic_len, const uint8_t *payload, size_t len)
{
	struct strbuf *sb = &w->line;
	int r;
	strbuf_reset(sb);
	put_i64(sb, rx_ns);
	strbuf_putc(sb, ' ');
	rec_percent_encode(sb, topic, topic_len);
	strbuf_putc(sb, ' ');
	rec_base64_encode(sb, payload, len);
	strbuf_putc(sb, '\n');
	if (sb->failed)
		return -ENOMEM;
	if (w->fd < 0 || (w->file_max && w->offset > 0 && w->offset + sb->len > w->file_max)) {
		r = start_file(w, rx_ns);
		if (r < 0 && w->fd < 0)
			return r;
		/* A failed cleanup of old files must not lose this message. */
	}
	size_t done = 0;
	while (done < sb->len) {
		ssize_t n = write(w->fd, sb->buf + done, sb->len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			/* Take a partial line back out so the file stays parseable. */
			if (done && ftruncate(w->fd, (off_t)w->offset) < 0)
				r = -errno;
			return r;
		}
		done += (size_t)n;
	}
	w->offset += sb->len;
	return 0;
}

int recording_writer_sync(struct recording_writer *w)
{
	/* fsync a duplicate outside the lock: the writer never waits for the disk, and a
	 * rotation meanwhile cannot close the descriptor under us */
	pthread_mutex_lock(&w->lock);
	int fd = w->fd >= 0 ? fcntl(w->fd, F_DUPFD_CLOEXEC, 0) : -1;
	pthread_mutex_unlock(&w->lock);
	if (fd < 0)
		return 0;
	int r = fdatasync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

const char *recording_writer_current(const struct recording_writer *w)
{
	return w->cur_path;
}

uint64_t recording_writer_offset(const struct recording_writer *w)
{
	return w->offset;
}

void recording_writer_close(struct recording_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0) {
		(void)fsync(w->fd);
		close(w->fd);
	}
	free(w->cur_path);
	free(w->dir);
	strbuf_free(&w->line);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

/* ---- reader --------------------------------------------------------------------------- */

struct recording_reader {
	FILE *f;
	char *path;
	char *line;
	size_t line_cap;
	uint64_t lineno;
	struct strbuf topic, payload;
};

int recording_reader_open(const char *path, struct recording_reader **ret, struct oeed_error *err)
{
	struct recording_reader *r = calloc(1, sizeof(*r));
	if (!r || !(r->path = strdup(path))) {
		free(r);
		set_err(err, "%s: out of memory", path);
		return -ENOMEM;
	}
	r->f = fopen(path, "re");
	if (!r->f) {
		int e = -errno;
		set_err(err, "%s: %s", path, strerror(-e));
		free(r->path);
		free(r);
		return e;
	}
	strbuf_init(&r->topic);
	strbuf_init(&r->payload);
	*ret = r;
	return 0;
}

static int bad_line(struct recording_reader *r, struct oeed_error *err, size_t col0,
		    const char *what)
{
	set_err(err, "%s:%" PRIu64 ":%zu: %s", r->path, r->lineno, col0 + 1, what);
	return -EBADMSG;
}

int recording_next(struct recording_reader *r, struct recording_msg *msg, struct oeed_error *err)
{
	errno = 0;
	ssize_t n = getline(&r->line, &r->line_cap, r->f);
	if (n < 0) {
		if (ferror(r->f)) {
			int e = errno ? -errno : -EIO;
			set_err(err, "%s: %s", r->path, strerror(-e));
			return e;
		}
		return 0;
	}
	r->lineno++;
	const char *s = r->line;
	size_t len = (size_t)n;
	if (len > REC_LINE_MAX)
		return bad_line(r, err, REC_LINE_MAX, "line longer than 16 MiB");
	if (s[len - 1] != '\n')
		return bad_line(r, err, len, "last line has no newline (cut short)");
	len--;

	/* receive time */
	size_t i = 0;
	bool neg = false;
	uint64_t v = 0;
	if (i < len && s[i] == '-') {
		neg = true;
		i++;
	}
	size_t digits = i;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_C(9223372036854775808) - d) / 10)
			return bad_line(r, err, i, "receive time out of range");
		v = v * 10 + d;
	}
	if (i == len && i == digits)
		return bad_line(r, err, i, "missing receive time");
	if (i == digits || (i < len && s[i] != ' '))
		return bad_line(r, err, i, "bad receive time: expected a decimal integer");
	if (!neg && v > (uint64_t)INT64_MAX)
		return bad_line(r, err, digits, "receive time out of range");
	if (i == len)
		return bad_line(r, err, i, "missing topic field");
	i++;

	/* topic */
	const char *sp = memchr(s + i, ' ', len - i);
	if (!sp)
		return bad_line(r, err, len, "missing payload field");
	size_t topic_start = i, topic_len = (size_t)(sp - (s + i)), bad;
	strbuf_reset(&r->topic);
	int e = rec_percent_decode(&r->topic, s + topic_start, topic_len, &bad);
	if (e == -ENOMEM)
		return bad_line(r, err, topic_start, "out of memory");
	if (e < 0)
		return bad_line(r, err, topic_start + bad,
				s[topic_start + bad] == '%' ? "bad percent escape in topic"
							    : "byte not allowed in topic");

	/* payload: everything after the second space */
	size_t pl_start = topic_start + topic_len + 1;
	strbuf_reset(&r->payload);
	e = rec_base64_decode(&r->payload, s + pl_start, len - pl_start, &bad);
	if (e == -ENOMEM)
		return bad_line(r, err, pl_start, "out of memory");
	if (e < 0) {
		size_t pl_len = len - pl_start;
		const char *what = "non-canonical base64 in payload (padding bits set)";
		if (b64_value(s[pl_start + bad]) < 0)
			what = "bad base64 character in payload";
		else if (pl_len % 4 && bad == pl_len - pl_len % 4)
			what = "truncated base64 in payload (length not a multiple of 4)";
		return bad_line(r, err, pl_start + bad, what);
	}

	msg->rx_ns = neg ? (int64_t)((uint64_t)0 - v) : (int64_t)v;
	msg->topic = r->topic.buf ? r->topic.buf : "";
	msg->topic_len = r->topic.len;
	msg->payload = (const uint8_t *)(r->payload.buf ? r->payload.buf : "");
	msg->len = r->payload.len;
	return 1;
}

void recording_reader_close(struct recording_reader *r)
{
	if (!r)
		return;
	if (r->f)
		fclose(r->f);
	free(r->line);
	free(r->path);
	strbuf_free(&r->topic);
	strbuf_free(&r->payload);
	free(r);
}
