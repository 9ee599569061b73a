/* output.c - the output dispatcher (output.h) and the file output. The influxdb output lives
 * in output_influx.c; this file only forwards to it.
 *
 * File output: path "-" is stdout, anything else is opened O_APPEND|O_CREAT with mode 0640.
 * Lines are collected in a 64 KiB buffer and written on output_tick() and output_close(), or
 * earlier when the buffer is full; a write larger than the buffer goes straight to the file.
 * lines_written counts the '\n' that reached the file. A failed write is counted in
 * write_errors with last_error, and the lines it could not write are dropped (counted in
 * lines_dropped): a local file has no retry worth the memory. */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output_influx.h"

#define FILE_BUF_SIZE (64 * 1024)

struct file_output {
	int fd;
	bool own_fd; /* false for stdout */
	char *path;
	char *buf; /* FILE_BUF_SIZE bytes */
	size_t len;
	struct output_stats stats;
};

struct output {
	enum oeed_output_type type;
	char *name;
	struct influx_output *influx;
	struct file_output file;
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

static int file_open(struct file_output *f, const struct oeed_output_conf *conf,
		     struct oeed_error *err)
{
	const char *path = conf->path ? conf->path : "-";
	f->fd = -1;
	f->path = strdup(path);
	f->buf = malloc(FILE_BUF_SIZE);
	if (!f->path || !f->buf) {
		snprintf(err->msg, sizeof(err->msg), "output %s: out of memory", conf->name);
		return -ENOMEM;
	}
	if (strcmp(path, "-") == 0) {
		f->fd = STDOUT_FILENO;
		f->own_fd = false;
	} else {
		f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (f->fd < 0) {
			int r = -errno;
			snprintf(err->msg, sizeof(err->msg), "output %s: cannot open %s: %s",
				 conf->name, path, strerror(-r));
			return r;
		}
		f->own_fd = true;
	}
	f->stats.healthy = 1;
	return 0;
}

static void file_close(struct file_output *f)
{
	if (f->fd >= 0) {
		(void)file_flush(f); /* failures are counted; nobody is left to read them */
		if (f->own_fd)
			close(f->fd);
	}
	free(f->buf);
	free(f->path);
}

int output_new(const struct oeed_output_conf *conf, const char *state_dir, struct output **ret,
	       struct oeed_error *err)
{
	const char *name = conf->name ? conf->name : "output";
	int r;
	struct output *o = calloc(1, sizeof(*o));
	if (!o || !(o->name = strdup(name))) {
		free(o);
		snprintf(err->msg, sizeof(err->msg), "output %s: out of memory", name);
		return -ENOMEM;
	}
	o->type = conf->type;
	o->file.fd = -1;
	switch (conf->type) {
	case OUTPUT_INFLUXDB:
		r = influx_output_new(conf, state_dir, &o->influx, err);
		break;
	case OUTPUT_FILE:
		r = file_open(&o->file, conf, err);
		break;
	default:
		snprintf(err->msg, sizeof(err->msg), "output %s: unknown type %d", name,
			 (int)conf->type);
		r = -EINVAL;
		break;
	}
	if (r < 0) {
		o->influx = NULL;
		output_close(o, 0);
		return r;
	}
	*ret = o;
	return 0;
}

int output_write(struct output *o, const char *lines, size_t len)
{
	if (o->type == OUTPUT_INFLUXDB)
		return influx_output_write(o->influx, lines, len);
	struct file_output *f = &o->file;
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

void output_tick(struct output *o, oeed_ms now)
{
	if (o->type == OUTPUT_INFLUXDB)
		influx_output_tick(o->influx, now);
	else
		(void)file_flush(&o->file); /* counted in the stats */
}

void output_get_stats(struct output *o, struct output_stats *ret)
{
	if (o->type == OUTPUT_INFLUXDB) {
		influx_output_get_stats(o->influx, ret);
	} else {
		*ret = o->file.stats;
		ret->lines_pending = count_lines(o->file.buf, o->file.len);
	}
}

const char *output_name(const struct output *o)
{
	return o->name;
}

void output_close(struct output *o, oeed_ms timeout_ms)
{
	if (!o)
		return;
	if (o->type == OUTPUT_INFLUXDB) {
		if (o->influx)
			influx_output_close(o->influx, timeout_ms);
	} else {
		file_close(&o->file);
	}
	free(o->name);
	free(o);
}
