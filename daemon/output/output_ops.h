/* output_ops.h - what an output type implements: one const table of operations per type
 * (output_file.h, output_influx.h), chosen once by output_new() from conf->type. output.c
 * owns the dispatch and the name; an implementation owns everything behind its `impl`. */
#pragma once
#include "output.h"

struct output_ops {
	const char *type; /* as in the config: "file", "influxdb", "mqtt" */
	/* Returns 0 with *ret, or -errno with err set and nothing left to free. */
	int (*open)(const struct oeed_output_conf *conf, const char *state_dir, void **ret,
		    struct oeed_error *err);
	/* The contracts of output_write, output_tick, output_get_stats, output_close (output.h);
	 * close is never called with NULL. */
	int (*write)(void *impl, const char *lines, size_t len);
	void (*tick)(void *impl, oeed_ms now);
	void (*get_stats)(void *impl, struct output_stats *ret);
	void (*close)(void *impl, oeed_ms timeout_ms);
	/* Outputs that take a document per machine (mqtt); NULL for the others. */
	void (*set_publisher)(void *impl, const struct output_publisher *pub);
	int (*machine)(void *impl, const char *id, const char *doc, size_t len);
};
