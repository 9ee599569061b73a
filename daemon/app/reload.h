/* reload.h - SIGHUP as a typed plan. A new config is loaded and validated whole; then each
 * subsystem's config (the one it was built from, held by its slot in the daemon) is compared
 * with the new one, section by section (config_*_equal), and only what differs is rebuilt:
 *
 *   pipeline  sources, machines, report, contracts, site, instance, instance_tag,
 *             max_clock_skew, mqtt.qos,
 *             mqtt.sparkplug_rebirth: a new pipeline takes over every machine's state
 *   mqtt      mqtt (but qos), record, state_dir: the client restarts; everything the old one
 *             acknowledged is processed first, exactly as at stop
 *   outputs   outputs, state_dir: reopened after the old ones were handed their lines
 *   in place  log_level, checkpoint_interval
 *
 * A subsystem that cannot be rebuilt (a password file that cannot be read, an output path
 * that cannot be opened) is logged and the running one goes on with its own config, so the
 * next SIGHUP can still fix it. A subsystem that is not running at all (NULL config) is always
 * rebuilt. A reload that changes nothing restarts nothing. */
#pragma once
#include <stdbool.h>
#include "config.h"

struct reload_plan {
	bool pipeline;
	bool mqtt;
	bool outputs;
};

/* What moving from the running configs (NULL: the subsystem is not running) to `next`
 * rebuilds. Pure. */
void reload_plan(const struct oeed_config *pipeline_cfg, const struct oeed_config *mqtt_cfg,
		 const struct oeed_config *outputs_cfg, const struct oeed_config *next,
		 struct reload_plan *ret);
