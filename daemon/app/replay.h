/* replay.h - recordings into a pipeline: `oeed replay`, the recording's tail after a crash
 * (restore.c) and `oeed report` all read recordings through here, so the messages reach the
 * engine exactly as they did live (pipeline.h has the rule). */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "engine.h"
#include "pipeline.h"

/* Expands recordings named on a command line (files, or directories of recording files in
 * time order) into a list of files. Free with replay_free_paths(). */
int replay_expand(char *const *args, size_t n_args, char ***ret_paths, size_t *ret_n,
		  struct oeed_error *err);
void replay_free_paths(char **paths, size_t n);

/* Where the pipeline's line protocol goes while files are fed; write may be NULL (the lines
 * are then left in the pipeline, e.g. for a sink of the caller's own). */
struct replay_out {
	void (*write)(void *ctx, const char *lines, size_t len);
	void *ctx;
};

/* Feeds the messages of the files received after after_ns (INT64_MIN: all) into p; malformed
 * recording lines are skipped, counted in *bad_lines and logged with a rate limit. Returns the
 * number fed, or a negative errno with err when a file cannot be read. */
long replay_files(struct pipeline *p, char *const *paths, size_t n_paths, int64_t after_ns,
		  const struct replay_out *out, uint64_t *bad_lines, struct oeed_error *err);

struct replay_stats {
	uint64_t messages;  /* recording lines handed to the pipeline */
	uint64_t bad_lines; /* malformed recording lines (skipped) */
	uint64_t rejected;  /* messages the pipeline rejected (decode errors, unmatched, ...) */
};

/* A whole replay with the results going to `sink`, exactly as `oeed replay` computes them:
 * `oeed report`. Returns 0, or a negative errno with err. */
int replay_recordings(const struct oeed_config *cfg, const struct engine_sink *sink,
		      char *const *paths, size_t n_paths, struct replay_stats *ret,
		      struct oeed_error *err);
