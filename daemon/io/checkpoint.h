/* checkpoint.h - the checkpoint file: the engine's state plus the receive time of the last
 * message it had processed, written atomically (temp file, fsync, rename, fsync of the
 * directory) and checked on read (magic, version, length, CRC-32). With recording on, the
 * daemon restores the checkpoint and replays the recordings' messages received after that
 * time, so a crash loses nothing that was acknowledged to the broker.
 *
 * File layout (little-endian, this machine's):
 *   "OEEDCKPT" | u32 version (1) | u32 crc32 of the body | u64 body length | body
 *   body: i64 last_rx_ns | i64 written_at_ms | engine_save() blob */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "util.h"

struct checkpoint {
	int64_t last_rx_ns; /* the last message the engine had processed, 0 when none */
	oeed_ms written_at;
	char *blob; /* engine_save() output */
	size_t blob_len;
};

int checkpoint_write(const char *path, int64_t last_rx_ns, oeed_ms now, const char *blob,
		     size_t blob_len, struct oeed_error *err);
/* Returns 0, -ENOENT when there is no checkpoint, -EINVAL when it is corrupt or of another
 * version (err says which), or -errno. */
int checkpoint_read(const char *path, struct checkpoint *ret, struct oeed_error *err);
void checkpoint_clear(struct checkpoint *c);
