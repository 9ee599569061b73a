/* checkpoint.c - see checkpoint.h */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define CKPT_MAGIC   "OEEDCKPT"
#define CKPT_VERSION 1u
#define CKPT_MAX     (1ull << 32) /* refuse absurd sizes from a corrupt header */

struct ckpt_header {
	char magic[8];
	uint32_t version;
	uint32_t crc;
	uint64_t body_len;
};

static int write_all(int fd, const void *p, size_t n)
{
	const char *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int checkpoint_write(const char *path, int64_t last_rx_ns, oeed_ms now, const char *blob,
		     size_t blob_len, struct oeed_error *err)
{
	char tmp[4096];
	int fd = -1, r;
	int64_t head[2] = {last_rx_ns, now};
	struct ckpt_header h;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, CKPT_MAGIC, 8);
	h.version = CKPT_VERSION;
	h.body_len = sizeof(head) + blob_len;
	uLong crc = crc32(0L, Z_NULL, 0);
	crc = crc32(crc, (const Bytef *)head, sizeof(head));
	crc = crc32_z(crc, (const Bytef *)blob, blob_len);
	h.crc = (uint32_t)crc;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = write_all(fd, &h, sizeof(h))) < 0 || (r = write_all(fd, head, sizeof(head))) < 0 ||
	    (r = write_all(fd, blob, blob_len)) < 0)
		goto fail;
	if (fsync(fd) < 0) {
		r = -errno;
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = -errno;
		goto fail;
	}
	/* make the rename itself durable */
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	snprintf(err->msg, sizeof(err->msg), "checkpoint %s: %s", path, strerror(-r));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}

int checkpoint_read(const char *path, struct checkpoint *ret, struct oeed_error *err)
{
	int r;
	char *body = NULL;
	FILE *f = fopen(path, "re");
	if (!f) {
		r = -errno;
		if (r != -ENOENT)
			snprintf(err->msg, sizeof(err->msg), "checkpoint %s: %s", path,
				 strerror(-r));
		return r;
	}
	struct ckpt_header h;
	if (fread(&h, sizeof(h), 1, f) != 1 || memcmp(h.magic, CKPT_MAGIC, 8) != 0) {
		snprintf(err->msg, sizeof(err->msg), "checkpoint %s: not a checkpoint file", path);
		r = -EINVAL;
		goto out;
	}
	if (h.version != CKPT_VERSION) {
		snprintf(err->msg, sizeof(err->msg),
			 "checkpoint %s: version %u, this oeed reads version %u", path, h.version,
			 CKPT_VERSION);
		r = -EINVAL;
		goto out;
	}
	if (h.body_len < 16 || h.body_len > CKPT_MAX || !(body = malloc(h.body_len))) {
		snprintf(err->msg, sizeof(err->msg), "checkpoint %s: bad length %llu", path,
			 (unsigned long long)h.body_len);
		r = -EINVAL;
		goto out;
	}
	if (fread(body, 1, h.body_len, f) != h.body_len) {
		snprintf(err->msg, sizeof(err->msg), "checkpoint %s: truncated", path);
		r = -EINVAL;
		goto out;
	}
	if ((uint32_t)crc32_z(crc32(0L, Z_NULL, 0), (const Bytef *)body, h.body_len) != h.crc) {
		snprintf(err->msg, sizeof(err->msg), "checkpoint %s: checksum mismatch (corrupt)",
			 path);
		r = -EINVAL;
		goto out;
	}
	int64_t head[2];
	memcpy(head, body, sizeof(head));
	ret->last_rx_ns = head[0];
	ret->written_at = head[1];
	ret->blob_len = h.body_len - sizeof(head);
	ret->blob = malloc(ret->blob_len ? ret->blob_len : 1);
	if (!ret->blob) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(ret->blob, body + sizeof(head), ret->blob_len);
	r = 0;
out:
	free(body);
	fclose(f);
	return r;
}

void checkpoint_clear(struct checkpoint *c)
{
	free(c->blob);
	memset(c, 0, sizeof(*c));
}
