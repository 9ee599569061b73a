/* replay.c - see replay.h */
#include "replay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app.h"
#include "clock.h"
#include "log.h"
#include "recording.h"

#define OUT_FLUSH_BYTES (1u << 20)

static void flush_out(struct pipeline *p, const struct replay_out *out, size_t at_least)
{
	size_t len;
	if (!out || !out->write || pipeline_pending_bytes(p) < at_least)
		return;
	const char *lines = pipeline_take_lines(p, &len);
	if (lines)
		out->write(out->ctx, lines, len);
}

long replay_files(struct pipeline *p, char *const *paths, size_t n_paths, int64_t after_ns,
		  const struct replay_out *out, uint64_t *bad_lines, struct oeed_error *err)
{
	long fed = 0;
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(10000, 5);
	for (size_t i = 0; i < n_paths; i++) {
		struct recording_reader *rd;
		int r = recording_reader_open(paths[i], &rd, err);
		if (r < 0)
			return r;
		struct recording_msg m;
		struct oeed_error lerr = {{0}};
		while ((r = recording_next(rd, &m, &lerr)) != 0) {
			if (r < 0) {
				(*bad_lines)++;
				/* a bad line has no time of its own: the limiter runs on ours */
				log_limited(&rl, clock_mono_ms(), LOG_LVL_WARN, "%s (line skipped)",
					    lerr.msg);
				continue;
			}
			if (m.rx_ns <= after_ns)
				continue;
			pipeline_message(p, m.rx_ns, m.topic, m.topic_len, m.payload, m.len);
			flush_out(p, out, OUT_FLUSH_BYTES);
			fed++;
		}
		recording_reader_close(rd);
	}
	return fed;
}

void replay_free_paths(char **paths, size_t n)
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

int replay_expand(char *const *args, size_t n_args, char ***ret_paths, size_t *ret_n,
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
		replay_free_paths(dir, nd);
	}
	if (r == -ENOMEM)
		snprintf(err->msg, sizeof(err->msg), "out of memory");
	if (r < 0) {
		replay_free_paths(paths, n);
		return r;
	}
	*ret_paths = paths;
	*ret_n = n;
	return 0;
}

int replay_recordings(const struct oeed_config *cfg, const struct engine_sink *sink,
		      char *const *paths, size_t n_paths, struct replay_stats *ret,
		      struct oeed_error *err)
{
	struct pipeline *p;
	struct pipeline_opts opts = {.sink = sink};
	uint64_t bad = 0;
	int r = pipeline_new(cfg, NULL, &opts, &p, err);
	if (r < 0)
		return r;
	long fed = replay_files(p, paths, n_paths, INT64_MIN, NULL, &bad, err);
	if (fed < 0) {
		r = (int)fed;
		goto out;
	}
	pipeline_final_tick(p);
	pipeline_flush(p); /* the recording has ended: no late event can come any more */
	struct pipeline_stats st;
	pipeline_get_stats(p, &st);
	err->msg[0] = '\0';
	ret->messages = st.messages;
	ret->bad_lines = bad;
	ret->rejected = st.rejected;
out:
	pipeline_free(p);
	return r;
}

static void write_stdout(void *ctx, const char *lines, size_t len)
{
	fwrite(lines, 1, len, stdout);
}

/* --by-event-time: every event within the longest lateness the config allows lands at its own
 * time, and the periods still open at the end are final. */
static void by_event_time(struct oeed_config *cfg)
{
	const oeed_ms week = 7 * 86400000LL;
	cfg->machines.defaults.max_lateness_ms = week;
	for (size_t i = 0; i < cfg->machines.n_list; i++)
		cfg->machines.list[i].max_lateness_ms = week;
	for (size_t i = 0; i < cfg->n_sources; i++)
		cfg->sources[i].max_lateness_ms = -1;
}

int replay_main(const char *cfg_path, char *const *recs, int n_recs, bool discard, bool event_time)
{
	struct oeed_config *cfg = NULL;
	struct pipeline *p = NULL;
	struct oeed_error err = {{0}};
	struct pipeline_opts opts = {.discard = discard};
	struct replay_out out = {.write = write_stdout};
	char **paths = NULL;
	size_t n_paths = 0;
	uint64_t bad = 0;
	int rc = EXIT_OK;
	if (config_load(cfg_path, &cfg, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return EXIT_CONFIG;
	}
	if (event_time)
		by_event_time(cfg);
	if (pipeline_new(cfg, NULL, &opts, &p, &err) < 0) {
		fprintf(stderr, "%s: %s\n", cfg->path, err.msg);
		rc = EXIT_CONFIG;
		goto out;
	}
	if (replay_expand(recs, (size_t)n_recs, &paths, &n_paths, &err) < 0 ||
	    replay_files(p, paths, n_paths, INT64_MIN, &out, &bad, &err) < 0) {
		fprintf(stderr, "oeed replay: %s\n", err.msg);
		rc = EXIT_RUNTIME;
	}
	pipeline_final_tick(p);
	/* the recording has ended: the finals still waiting for late events are written (the
	 * live daemon keeps them in its checkpoint and writes them after a restart) */
	pipeline_flush(p);
	flush_out(p, &out, 0);
	fflush(stdout);
	struct pipeline_stats st;
	pipeline_get_stats(p, &st);
	log_info("replay: %llu messages, %llu bad recording lines, %llu decode errors, %llu "
		 "unmatched, %llu unmapped, %llu late, %llu reordered, %llu skewed, %zu machines",
		 (unsigned long long)st.ingest.messages, (unsigned long long)bad,
		 (unsigned long long)st.ingest.decode_errors,
		 (unsigned long long)st.ingest.unmatched, (unsigned long long)st.ingest.unmapped,
		 (unsigned long long)st.engine.late, (unsigned long long)st.engine.reordered,
		 (unsigned long long)st.engine.skewed, st.engine.machines);
out:
	replay_free_paths(paths, n_paths);
	pipeline_free(p);
	config_free(cfg);
	return rc;
}
