/* feed.c - see feed.h */
#include "feed.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "recording.h"

void feed_init(struct feed *f, struct ingest *in, oeed_ms interval, void (*tick)(void *, oeed_ms),
	       void (*after)(void *), void *ctx)
{
	memset(f, 0, sizeof(*f));
	f->ingest = in;
	f->interval = interval > 0 ? interval : 10000;
	f->next_tick = OEED_MS_NONE;
	f->tick = tick;
	f->after = after;
	f->ctx = ctx;
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(10000, 5);
	f->rl_decode = f->rl_unmatched = f->rl_dropped = f->rl_bad = rl;
}

void feed_ticks_until(struct feed *f, oeed_ms now)
{
	if (f->next_tick == OEED_MS_NONE)
		f->next_tick = (now / f->interval + 1) * f->interval;
	if (now - f->next_tick > FEED_MAX_CATCHUP_TICKS * f->interval)
		f->next_tick = (now / f->interval - FEED_MAX_CATCHUP_TICKS) * f->interval;
	while (now >= f->next_tick) {
		f->tick(f->ctx, f->next_tick);
		f->next_tick += f->interval;
		if (f->after)
			f->after(f->ctx);
	}
}

void feed_message(struct feed *f, int64_t rx_ns, const char *topic, size_t topic_len,
		  const uint8_t *payload, size_t len)
{
	oeed_ms rx = rx_ns / 1000000;
	if (f->next_tick == OEED_MS_NONE)
		f->next_tick = (rx / f->interval + 1) * f->interval;
	feed_ticks_until(f, rx);
	struct ingest_error err;
	f->stats.messages++;
	int r = ingest_message(f->ingest, topic, topic_len, payload, len, rx, &err);
	if (r < 0) {
		f->stats.rejected++;
		if (r == -ENOENT && strstr(err.msg, "matches no source"))
			log_limited(&f->rl_unmatched, rx, LOG_LVL_WARN, "%s", err.msg);
		else if (r == -ENOSPC)
			log_limited(&f->rl_dropped, rx, LOG_LVL_WARN, "%s", err.msg);
		else
			log_limited(&f->rl_decode, rx, LOG_LVL_WARN, "%s", err.msg);
	}
	if (rx_ns > f->last_rx_ns)
		f->last_rx_ns = rx_ns;
	if (f->after)
		f->after(f->ctx);
}

long feed_files(struct feed *f, char *const *paths, size_t n_paths, int64_t after_ns,
		struct oeed_error *err)
{
	long fed = 0;
	for (size_t p = 0; p < n_paths; p++) {
		struct recording_reader *rd;
		int r = recording_reader_open(paths[p], &rd, err);
		if (r < 0)
			return r;
		struct recording_msg m;
		struct oeed_error lerr = {{0}};
		while ((r = recording_next(rd, &m, &lerr)) != 0) {
			if (r < 0) {
				f->stats.bad_lines++;
				log_limited(&f->rl_bad, 0, LOG_LVL_WARN, "%s (line skipped)",
					    lerr.msg);
				continue;
			}
			if (m.rx_ns <= after_ns)
				continue;
			feed_message(f, m.rx_ns, m.topic, m.topic_len, m.payload, m.len);
			fed++;
		}
		recording_reader_close(rd);
	}
	return fed;
}

void feed_final_tick(struct feed *f)
{
	if (f->stats.messages == 0 || f->next_tick == OEED_MS_NONE)
		return;
	f->tick(f->ctx, f->next_tick);
	if (f->after)
		f->after(f->ctx);
}

void feed_free_paths(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

static int append_path(char ***paths, size_t *n, const char *p)
{
	char **np = realloc(*paths, (*n + 1) * sizeof(char *));
	if (!np)
		return -ENOMEM;
	*paths = np;
	if (!(np[*n] = strdup(p)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

int feed_expand(char *const *args, size_t n_args, char ***ret_paths, size_t *ret_n,
		struct oeed_error *err)
{
	char **paths = NULL;
	size_t n = 0;
	int r = 0;
	for (size_t i = 0; i < n_args && r == 0; i++) {
		struct stat st;
		if (stat(args[i], &st) < 0) {
			r = -errno;
			snprintf(err->msg, sizeof(err->msg), "%s: %s", args[i], strerror(errno));
			break;
		}
		if (!S_ISDIR(st.st_mode)) {
			r = append_path(&paths, &n, args[i]);
			continue;
		}
		char **dir = NULL;
		size_t nd = 0;
		r = recording_list_dir(args[i], &dir, &nd);
		if (r < 0)
			snprintf(err->msg, sizeof(err->msg), "%s: %s", args[i], strerror(-r));
		for (size_t j = 0; j < nd; j++)
			if (r == 0)
				r = append_path(&paths, &n, dir[j]);
		feed_free_paths(dir, nd);
	}
	if (r == -ENOMEM)
		snprintf(err->msg, sizeof(err->msg), "out of memory");
	if (r < 0) {
		feed_free_paths(paths, n);
		return r;
	}
	*ret_paths = paths;
	*ret_n = n;
	return 0;
}
