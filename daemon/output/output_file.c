/* output_file.c - the file output (output_file.h).
 *
 * Path "-" is stdout, anything else is opened O_APPEND|O_CREAT with mode 0640. Lines are
 * collected in a 64 KiB buffer and written on tick and close, or earlier when the buffer is
 * full; a write larger than the buffer goes straight to the file. lines_written counts the
 * '\n' that reached the file. A failed write is counted in write_errors with last_error, and
 * the lines it could not write are dropped (counted in lines_dropped): a local file has no
 * retry worth the memory. */
#include "output_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILE_BUF_SIZE (64 * 1024)

struct file_output {
	int fd;
	bool own_fd; /* false for stdout */
	char *path;
	char *buf; /* FILE_BUF_SIZE bytes */
	size_t len;
	struct output_stats stats;
};

static uint64_t count_lines(const char *p, size_t n)
{
	uint64_t lines = 0;
	const char *end = p + n;
	while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
		lines++;
		p++;
	}
	return lines;
}

/* Writes p[0..n) completely; counts what reached the file and what was dropped. */
static int file_write_all(struct file_output *f, const char *p, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(f->fd, p + done, n - done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			f->stats.lines_written += count_lines(p, done);
			f->stats.lines_dropped += count_lines(p + done, n - done);
			f->stats.write_errors++;
			f->stats.healthy = 0;
			snprintf(f->stats.last_error, sizeof(f->stats.last_error), "%s: write: %s",
				 f->path, strerror(-r));
			return r;
		}
		done += (size_t)w;
	}
	f->stats.lines_written += count_lines(p, n);
	f->stats.healthy = 1;
	return 0;
}

static int file_flush(struct file_output *f)
{
	if (!f->len)
		return 0;
	int r = file_write_all(f, f->buf, f->len);
	f->len = 0; /* written or dropped (counted) either way */
	return r;
}

static void file_free(struct file_output *f)
{
	if (f->fd >= 0 && f->own_fd)
		close(f->fd);
	free(f->buf);
	free(f->path);
	free(f);
}

static int file_open(const struct oeed_output_conf *conf, const char *state_dir, void **ret,
		     struct oeed_error *err)
{
	const char *path = conf->path;
	struct file_output *f = calloc(1, sizeof(*f));
	int r = 0;
	(void)state_dir; /* nothing to keep */
	if (!f) {
		snprintf(err->msg, sizeof(err->msg), "output %s: out of memory", conf->name);
		return -ENOMEM;
	}
	f->fd = -1;
	f->path = strdup(path);
	f->buf = malloc(FILE_BUF_SIZE);
	if (!f->path || !f->buf) {
		snprintf(err->msg, sizeof(err->msg), "output %s: out of memory", conf->name);
		r = -ENOMEM;
		goto out;
	}
	if (strcmp(path, "-") == 0) {
		f->fd = STDOUT_FILENO;
		f->own_fd = false;
	} else {
		f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (f->fd < 0) {
			r = -errno;
			snprintf(err->msg, sizeof(err->msg), "output %s: cannot open %s: %s",
				 conf->name, path, strerror(-r));
			goto out;
		}
		f->own_fd = true;
	}
	f->stats.healthy = 1;
	*ret = f;
out:
	if (r < 0)
		file_free(f);
	return r;
}

static int file_write(void *impl, const char *lines, size_t len)
{
	struct file_output *f = impl;
	if (f->len + len > FILE_BUF_SIZE) {
		/* A failure drops and counts the buffered lines, not these. */
		(void)file_flush(f);
		if (len >= FILE_BUF_SIZE)
			return file_write_all(f, lines, len);
	}
	memcpy(f->buf + f->len, lines, len);
	f->len += len;
	return 0;
}

static void file_tick(void *impl, oeed_ms now)
{
	(void)now;
	(void)file_flush(impl); /* counted in the stats */
}

static void file_get_stats(void *impl, struct output_stats *ret)
{
	struct file_output *f = impl;
	*ret = f->stats;
	ret->lines_pending = count_lines(f->buf, f->len);
}

static void file_close(void *impl, oeed_ms timeout_ms)
{
	(void)timeout_ms;	/* a local write does not wait */
	(void)file_flush(impl); /* failures are counted; nobody is left to read them */
	file_free(impl);
}

const struct output_ops file_output_ops = {
    .type = "file",
    .open = file_open,
    .write = file_write,
    .tick = file_tick,
    .get_stats = file_get_stats,
    .close = file_close,
};
