/* spool.c - the on-disk record FIFO of spool.h: segment files, record headers with crc32
 * (zlib), consume-in-place, drop-oldest at max_bytes, and the scan that recovers a spool
 * after a restart. Header fields are in host byte order: a spool is local to its machine.
 *
 * Memory: one struct seg (40 bytes) per segment file; segments are max_bytes/16 (4 KiB ..
 * 16 MiB) so a full spool has about 16-20 of them, plus one per prepended record. */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define MAGIC_LIVE 0x4f455331u	       /* "OES1" */
#define MAGIC_DONE 0x4f455330u	       /* "OES0": consumed */
#define RECORD_MAX (1u << 30)	       /* larger lengths can only be corruption */
#define SEQ_BASE   (UINT64_C(1) << 40) /* first segment; prepends count down from here */

struct seg {
	uint64_t seq;
	uint64_t size;
	uint64_t read_off; /* first record not known to be consumed */
	uint64_t live_records;
	uint64_t live_lines;
};

struct spool {
	int dirfd;
	uint64_t max;
	uint64_t seg_max;
	struct seg *segs; /* ascending seq */
	size_t n, cap;
	int tail_fd; /* >= 0: segs[n-1] is open for appending */
	bool dirty;  /* written since the last fsync of tail_fd */
	uint64_t next_seq;
	uint64_t bytes;
	uint64_t corrupt;
	char last_corrupt[160];
	struct strbuf scratch;
};

struct rec_header {
	uint32_t magic;
	uint32_t lines;
	uint32_t len;
	uint32_t crc;
};

static uint32_t record_crc(uint32_t lines, uint32_t len, const char *data)
{
	uint32_t meta[2] = {lines, len};
	uLong crc = crc32(0L, Z_NULL, 0);
	crc = crc32(crc, (const Bytef *)meta, sizeof(meta));
	crc = crc32(crc, (const Bytef *)data, len);
	return (uint32_t)crc;
}

static void seg_name(uint64_t seq, char *buf, size_t len)
{
	snprintf(buf, len, "%016" PRIx64 ".seg", seq);
}

static int mkdir_p(const char *path)
{
	char *p = strdup(path);
	int r = 0;
	if (!p)
		return -ENOMEM;
	for (char *c = p + 1;; c++) {
		if (*c != '/' && *c != '\0')
			continue;
		char saved = *c;
		*c = '\0';
		if (mkdir(p, 0750) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		*c = saved;
		if (saved == '\0')
			break;
	}
	free(p);
	return r;
}

static void note_corrupt(struct spool *s, const struct seg *g, uint64_t off, const char *what)
{
	s->corrupt++;
	snprintf(s->last_corrupt, sizeof(s->last_corrupt),
		 "segment %016" PRIx64 ".seg offset %" PRIu64 ": %s", g->seq, off, what);
}

static int seg_insert(struct spool *s, size_t at, const struct seg *g)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct seg *n = realloc(s->segs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->segs = n;
		s->cap = cap;
	}
	memmove(&s->segs[at + 1], &s->segs[at], (s->n - at) * sizeof(*g));
	s->segs[at] = *g;
	s->n++;
	return 0;
}

static void close_tail(struct spool *s)
{
	if (s->tail_fd < 0)
		return;
	/* A closed segment is complete on disk before anyone relies on it. */
	fsync(s->tail_fd);
	close(s->tail_fd);
	s->tail_fd = -1;
	s->dirty = false;
}

static void seg_remove(struct spool *s, size_t i)
{
	char name[32];
	if (s->tail_fd >= 0 && i == s->n - 1)
		close_tail(s);
	seg_name(s->segs[i].seq, name, sizeof(name));
	unlinkat(s->dirfd, name, 0);
	s->bytes -= s->segs[i].size;
	memmove(&s->segs[i], &s->segs[i + 1], (s->n - i - 1) * sizeof(s->segs[0]));
	s->n--;
}

static int read_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ENODATA;
		done += (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = write(fd, (const char *)buf + done, len - done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)r;
	}
	return 0;
}

/* Reads the record at `off` of segment g (fd open). Returns 1 live (payload in scratch),
 * 2 consumed, 0 corrupt-to-end-of-segment, 3 corrupt record that can be stepped over,
 * or -errno. *ret_h is filled whenever the header could be read. */
static int read_record(struct spool *s, int fd, struct seg *g, uint64_t off,
		       struct rec_header *ret_h, bool verify)
{
	struct rec_header h;
	int r;
	if (g->size - off < SPOOL_HEADER_SIZE) {
		note_corrupt(s, g, off, "truncated header");
		return 0;
	}
	r = read_full(fd, &h, sizeof(h), off);
	if (r < 0)
		return r == -ENODATA ? 0 : r;
	*ret_h = h;
	if ((h.magic != MAGIC_LIVE && h.magic != MAGIC_DONE) || h.len > RECORD_MAX) {
		note_corrupt(s, g, off, "bad record header");
		return 0;
	}
	if (g->size - off - SPOOL_HEADER_SIZE < h.len) {
		note_corrupt(s, g, off, "truncated record");
		return 0;
	}
	if (h.magic == MAGIC_DONE)
		return 2;
	if (!verify)
		return 1;
	strbuf_reset(&s->scratch);
	r = strbuf_reserve(&s->scratch, (size_t)h.len + 1);
	if (r < 0)
		return r;
	r = read_full(fd, s->scratch.buf, h.len, off + SPOOL_HEADER_SIZE);
	if (r < 0)
		return r == -ENODATA ? 0 : r;
	s->scratch.len = h.len;
	if (record_crc(h.lines, h.len, s->scratch.buf) != h.crc) {
		note_corrupt(s, g, off, "crc mismatch");
		return 3;
	}
	return 1;
}

static int open_seg(struct spool *s, uint64_t seq, int flags)
{
	char name[32];
	seg_name(seq, name, sizeof(name));
	int fd = openat(s->dirfd, name, flags | O_CLOEXEC, 0640);
	return fd < 0 ? -errno : fd;
}

/* Counts the live records of a segment found on disk and finds the first one. */
static int scan_seg(struct spool *s, struct seg *g)
{
	int fd = open_seg(s, g->seq, O_RDWR);
	uint64_t off = 0;
	bool first = true;
	if (fd < 0)
		return fd;
	g->read_off = g->size;
	while (off < g->size) {
		struct rec_header h;
		int r = read_record(s, fd, g, off, &h, true);
		if (r < 0) {
			close(fd);
			return r;
		}
		if (r == 0)
			break;
		if (r == 3) {
			/* Marked consumed so that it is skipped (and counted) only once. */
			uint32_t done = MAGIC_DONE;
			if (pwrite(fd, &done, sizeof(done), (off_t)off) != sizeof(done)) {
				r = -errno;
				close(fd);
				return r;
			}
		}
		if (r == 1) {
			if (first)
				g->read_off = off;
			first = false;
			g->live_records++;
			g->live_lines += h.lines;
		}
		off += SPOOL_HEADER_SIZE + h.len;
	}
	close(fd);
	return 0;
}

static int cmp_seg(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int scan_dir(struct spool *s)
{
	int fd = dup(s->dirfd);
	DIR *d;
	struct dirent *de;
	int r = 0;
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while ((de = readdir(d))) {
		char *end;
		struct stat st;
		struct seg g = {0};
		if (strlen(de->d_name) != 20 || strcmp(de->d_name + 16, ".seg") != 0)
			continue;
		errno = 0;
		g.seq = strtoull(de->d_name, &end, 16);
		if (errno || end != de->d_name + 16)
			continue;
		if (fstatat(s->dirfd, de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		g.size = (uint64_t)st.st_size;
		r = seg_insert(s, s->n, &g);
		if (r < 0)
			break;
		s->bytes += g.size;
	}
	closedir(d);
	if (r < 0)
		return r;
	if (s->n > 1)
		qsort(s->segs, s->n, sizeof(s->segs[0]), cmp_seg);
	for (size_t i = 0; i < s->n;) {
		r = scan_seg(s, &s->segs[i]);
		if (r < 0)
			return r;
		if (s->segs[i].live_records == 0)
			seg_remove(s, i);
		else
			i++;
	}
	s->next_seq = s->n ? s->segs[s->n - 1].seq + 1 : SEQ_BASE;
	return 0;
}

int spool_open(const char *dir, uint64_t max_bytes, struct spool **ret)
{
	struct spool *s;
	int r = mkdir_p(dir);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->tail_fd = -1;
	s->max = max_bytes;
	s->seg_max = max_bytes / 16;
	s->seg_max = OEED_MAX(s->seg_max, (uint64_t)4096);
	s->seg_max = OEED_MIN(s->seg_max, (uint64_t)16 << 20);
	strbuf_init(&s->scratch);
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		r = -errno;
		goto out_free;
	}
	r = scan_dir(s);
	if (r < 0)
		goto out_close;
	*ret = s;
	return 0;
out_close:
	close(s->dirfd);
out_free:
	strbuf_free(&s->scratch);
	free(s->segs);
	free(s);
	return r;
}

void spool_close(struct spool *s)
{
	if (!s)
		return;
	close_tail(s);
	/* Segments emptied by consumption are removed now rather than at the next start. */
	for (size_t i = 0; i < s->n;) {
		if (s->segs[i].live_records == 0)
			seg_remove(s, i);
		else
			i++;
	}
	fsync(s->dirfd);
	close(s->dirfd);
	strbuf_free(&s->scratch);
	free(s->segs);
	free(s);
}

/* Writes header + payload at the end of fd; on a short write the file is cut back so that no
 * half record is left behind. */
static int write_record(int fd, uint64_t at, const char *data, size_t len, uint32_t lines)
{
	struct rec_header h = {MAGIC_LIVE, lines, (uint32_t)len, 0};
	int r;
	h.crc = record_crc(lines, (uint32_t)len, data);
	r = write_full(fd, &h, sizeof(h));
	if (r == 0)
		r = write_full(fd, data, len);
	if (r < 0 && ftruncate(fd, (off_t)at) < 0)
		return r;
	return r;
}

static int new_seg_file(struct spool *s, uint64_t seq)
{
	int fd = open_seg(s, seq, O_WRONLY | O_CREAT | O_EXCL | O_APPEND);
	if (fd >= 0)
		fsync(s->dirfd); /* the new name survives a power loss */
	return fd;
}

int spool_append(struct spool *s, const char *data, size_t len, uint32_t lines,
		 uint64_t *ret_dropped_lines)
{
	uint64_t need = SPOOL_HEADER_SIZE + (uint64_t)len;
	struct seg *t;
	int r;
	*ret_dropped_lines = 0;
	if (len > RECORD_MAX || need > s->max) {
		*ret_dropped_lines = lines;
		return -EFBIG;
	}
	while (s->bytes + need > s->max && s->n > 0) {
		*ret_dropped_lines += s->segs[0].live_lines;
		seg_remove(s, 0);
	}
	if (s->tail_fd >= 0 && s->segs[s->n - 1].size + need > s->seg_max &&
	    s->segs[s->n - 1].size > 0)
		close_tail(s);
	if (s->tail_fd < 0) {
		struct seg g = {.seq = s->next_seq};
		int fd = new_seg_file(s, g.seq);
		if (fd < 0)
			return fd;
		r = seg_insert(s, s->n, &g);
		if (r < 0) {
			char name[32];
			close(fd);
			seg_name(g.seq, name, sizeof(name));
			unlinkat(s->dirfd, name, 0);
			return r;
		}
		s->next_seq++;
		s->tail_fd = fd;
	}
	t = &s->segs[s->n - 1];
	r = write_record(s->tail_fd, t->size, data, len, lines);
	if (r < 0)
		return r;
	if (t->live_records == 0)
		t->read_off = t->size;
	t->size += need;
	t->live_records++;
	t->live_lines += lines;
	s->bytes += need;
	s->dirty = true;
	return 0;
}

int spool_prepend(struct spool *s, const char *data, size_t len, uint32_t lines,
		  struct spool_rec_id *ret_id)
{
	uint64_t need = SPOOL_HEADER_SIZE + (uint64_t)len;
	struct seg g = {0};
	int fd, r;
	if (len > RECORD_MAX)
		return -EFBIG;
	g.seq = (s->n ? s->segs[0].seq : s->next_seq) - 1;
	fd = new_seg_file(s, g.seq);
	if (fd < 0)
		return fd;
	r = write_record(fd, 0, data, len, lines);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0) {
		g.size = need;
		g.live_records = 1;
		g.live_lines = lines;
		r = seg_insert(s, 0, &g);
	}
	if (r < 0) {
		char name[32];
		seg_name(g.seq, name, sizeof(name));
		unlinkat(s->dirfd, name, 0);
		return r;
	}
	s->bytes += need;
	ret_id->seq = g.seq;
	ret_id->off = 0;
	return 0;
}

int spool_peek(struct spool *s, struct strbuf *out, uint32_t *ret_lines,
	       struct spool_rec_id *ret_id)
{
	while (s->n > 0) {
		struct seg *g = &s->segs[0];
		bool is_tail = s->tail_fd >= 0 && s->n == 1;
		int fd, r = 0;
		if (g->live_records == 0 || g->read_off >= g->size) {
			if (is_tail)
				return 0;
			seg_remove(s, 0);
			continue;
		}
		struct rec_header h = {0};
		fd = open_seg(s, g->seq, O_RDONLY);
		if (fd < 0)
			return fd;
		while (g->read_off < g->size) {
			r = read_record(s, fd, g, g->read_off, &h, true);
			if (r < 0 || r == 1)
				break;
			if (r == 0) {
				/* Nothing after a broken header can be trusted. */
				g->read_off = g->size;
				g->live_records = 0;
				g->live_lines = 0;
				break;
			}
			if (r == 3 && g->live_records > 0) {
				g->live_records--;
				g->live_lines -= OEED_MIN(g->live_lines, (uint64_t)h.lines);
			}
			g->read_off += SPOOL_HEADER_SIZE + h.len;
			r = 0;
		}
		close(fd);
		if (r < 0)
			return r;
		if (r == 1) {
			strbuf_reset(out);
			strbuf_append(out, s->scratch.buf, s->scratch.len);
			if (out->failed)
				return -ENOMEM;
			*ret_lines = h.lines;
			ret_id->seq = g->seq;
			ret_id->off = g->read_off;
			return 1;
		}
		g->live_records = 0; /* everything to the end was consumed or corrupt */
	}
	return 0;
}

int spool_consume(struct spool *s, const struct spool_rec_id *id)
{
	size_t i;
	struct rec_header h;
	uint32_t done = MAGIC_DONE;
	int fd, r;
	for (i = 0; i < s->n && s->segs[i].seq != id->seq; i++)
		;
	if (i == s->n)
		return -ENOENT;
	struct seg *g = &s->segs[i];
	if (id->off + SPOOL_HEADER_SIZE > g->size)
		return -ENOENT;
	fd = open_seg(s, g->seq, O_RDWR);
	if (fd < 0)
		return fd;
	r = read_full(fd, &h, sizeof(h), id->off);
	if (r == 0 && h.magic != MAGIC_LIVE)
		r = -ENOENT;
	if (r == 0 && pwrite(fd, &done, sizeof(done), (off_t)id->off) != sizeof(done))
		r = -errno;
	close(fd);
	if (r < 0)
		return r;
	g->live_records -= OEED_MIN(g->live_records, (uint64_t)1);
	g->live_lines -= OEED_MIN(g->live_lines, (uint64_t)h.lines);
	if (g->read_off == id->off)
		g->read_off += SPOOL_HEADER_SIZE + h.len;
	if (g->live_records == 0 && !(s->tail_fd >= 0 && i == s->n - 1))
		seg_remove(s, i);
	return 0;
}

int spool_sync(struct spool *s)
{
	if (s->tail_fd < 0 || !s->dirty)
		return 0;
	if (fsync(s->tail_fd) < 0)
		return -errno;
	s->dirty = false;
	return 0;
}

bool spool_empty(const struct spool *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->segs[i].live_records > 0)
			return false;
	return true;
}

void spool_get_stats(const struct spool *s, struct spool_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->bytes = s->bytes;
	for (size_t i = 0; i < s->n; i++) {
		ret->records += s->segs[i].live_records;
		ret->lines += s->segs[i].live_lines;
	}
	ret->corrupt = s->corrupt;
	strlcpy_oeed(ret->last_corrupt, s->last_corrupt, sizeof(ret->last_corrupt));
}
