/* restore.c - the daemon's checkpoint (daemon.h): written every checkpoint_interval and at
 * stop, restored at start together with the recording's tail, so a crash loses nothing that
 * was acknowledged to the broker (with recording on). The file format is io/checkpoint.h's. */
#include "daemon.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "replay.h"

static char *checkpoint_path(const struct daemon *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s/checkpoint", d->cfg->state_dir);
	return buf;
}

void daemon_checkpoint(struct daemon *d, oeed_ms now)
{
	struct strbuf sb;
	struct oeed_error err = {{0}};
	struct pipeline_stats st;
	char path[4096];
	strbuf_init(&sb);
	pipeline_get_stats(d->pipe.p, &st);
	if (pipeline_save(d->pipe.p, &sb) < 0) {
		log_error("checkpoint: out of memory");
	} else if (checkpoint_write(checkpoint_path(d, path, sizeof(path)), st.last_rx_ns, now,
				    sb.buf, sb.len, &err) < 0) {
		log_error("%s", err.msg);
	} else {
		log_debug("checkpoint written: %zu bytes", sb.len);
	}
	strbuf_free(&sb);
}

static void write_outputs(void *ctx, const char *lines, size_t len)
{
	daemon_write(ctx, lines, len);
}

/* The recorded messages received after the checkpoint: acknowledged, maybe never processed. */
static void replay_tail(struct daemon *d, int64_t after_ns)
{
	char dir[4096];
	char *recs[1] = {dir}, **paths = NULL;
	size_t n_paths = 0;
	struct stat st;
	struct oeed_error err = {{0}};
	struct replay_out out = {.write = write_outputs, .ctx = d};
	uint64_t bad = 0;
	snprintf(dir, sizeof(dir), "%s/recordings", d->cfg->state_dir);
	if (stat(dir, &st) < 0)
		return;
	if (replay_expand(recs, 1, &paths, &n_paths, &err) < 0) {
		log_error("recording tail: %s", err.msg);
		return;
	}
	long fed = replay_files(d->pipe.p, paths, n_paths, after_ns, &out, &bad, &err);
	if (fed < 0)
		log_error("recording tail: %s", err.msg);
	else
		log_info("recording tail: %ld messages after the checkpoint replayed", fed);
	replay_free_paths(paths, n_paths);
}

void daemon_restore(struct daemon *d)
{
	char path[4096];
	struct checkpoint ck;
	struct oeed_error err = {{0}};
	int64_t last_rx_ns = 0;
	memset(&ck, 0, sizeof(ck));
	int r = checkpoint_read(checkpoint_path(d, path, sizeof(path)), &ck, &err);
	if (r == -ENOENT) {
		log_info("no checkpoint in %s: starting afresh", d->cfg->state_dir);
	} else if (r < 0) {
		log_error("%s: skipped, starting afresh", err.msg);
	} else {
		bool full = false;
		int n = pipeline_load(d->pipe.p, ck.blob, ck.blob_len, ck.last_rx_ns, &full, &err);
		if (n < 0) {
			log_error("checkpoint %s: %s: skipped, starting afresh", path, err.msg);
		} else {
			last_rx_ns = ck.last_rx_ns;
			log_info("checkpoint restored: %d machines%s", n,
				 full ? "" : " (windows and periods changed shape: they restart)");
		}
	}
	checkpoint_clear(&ck);
	if (d->cfg->record.enabled && last_rx_ns > 0)
		replay_tail(d, last_rx_ns);
	pipeline_gap(d->pipe.p, "restart");
	daemon_flush(d);
}
