/* reload.c - see reload.h; daemon_reload() carries the plan out on the daemon (daemon.h). */
#include "reload.h"

#include <string.h>

#include "daemon.h"

void reload_plan(const struct oeed_config *pipeline_cfg, const struct oeed_config *mqtt_cfg,
		 const struct oeed_config *outputs_cfg, const struct oeed_config *next,
		 struct reload_plan *ret)
{
	ret->pipeline = !pipeline_cfg || !config_pipeline_equal(pipeline_cfg, next);
	ret->mqtt = !mqtt_cfg || !config_mqtt_equal(mqtt_cfg, next);
	ret->outputs = !outputs_cfg || !config_outputs_equal(outputs_cfg, next);
}

/* A new pipeline for nc that takes over the running one's machines; false when it cannot
 * (the running one is kept). */
static bool replace_pipeline(struct daemon *d, struct oeed_config *nc)
{
	struct daemon_pipeline np;
	struct oeed_error err = {{0}};
	bool full = false;
	if (daemon_pipeline_new(d, nc, &np, &err) < 0) {
		log_error("reload: %s: %s; the running sources, machines and contracts are kept",
			  nc->path, err.msg);
		return false;
	}
	daemon_flush(d); /* what the old pipeline produced goes out first */
	int n = pipeline_carry(np.p, d->pipe.p, &full, &err);
	if (n < 0) {
		log_error("reload: machine state could not be carried over (%s); the running "
			  "sources, machines and contracts are kept",
			  err.msg);
		daemon_pipeline_free(&np);
		return false;
	}
	daemon_pipeline_free(&d->pipe);
	d->pipe = np;
	log_info("reload: %d machines kept%s", n,
		 full ? " with all their figures" : " (windows or periods changed: they restart)");
	return true;
}

static void replace_outputs(struct daemon *d, struct oeed_config *nc)
{
	struct daemon_outputs no;
	if (daemon_outputs_open(d, nc, &no) < 0) {
		log_error("reload: outputs could not be opened (see above); the running outputs "
			  "are kept");
		return;
	}
	daemon_flush(d);
	daemon_outputs_close(&d->out);
	d->out = no;
	log_info("reload: outputs reopened");
}

void daemon_reload(struct daemon *d)
{
	struct oeed_config *nc = NULL;
	struct oeed_error err = {{0}};
	struct reload_plan plan;
	struct daemon_mqtt nm;
	bool new_client = false, new_pipeline = false;

	notify_send(&d->notify, "RELOADING=1");
	if (config_load(d->cfg_path, &nc, &err) < 0) {
		log_error("%s", err.msg);
		log_error("reload: %s rejected; the running config is kept", d->cfg_path);
		goto out;
	}
	reload_plan(d->pipe.cfg, d->mqtt.cfg, d->out.cfg, nc, &plan);

	/* The new client is built before the old one stops, so a client that cannot be built
	 * (an unreadable password file) leaves the running one alone. Its subscriptions are
	 * set again below, once it is known which pipeline runs. */
	if (plan.mqtt) {
		if (daemon_mqtt_new(d, nc, &nm) < 0)
			log_error("reload: the MQTT client could not be built (see above); the "
				  "running client is kept");
		else
			new_client = true;
	}
	if (new_client) {
		/* everything the old client acknowledged goes into the pipeline it came for */
		daemon_mqtt_stop(d);
		d->mqtt = nm;
	}
	if (plan.pipeline)
		new_pipeline = replace_pipeline(d, nc);
	if ((new_pipeline || new_client) && daemon_subscribe(d) < 0)
		log_error("reload: subscriptions could not be updated");
	if (new_client) {
		if (daemon_mqtt_start(d) < 0) {
			log_error("reload: the MQTT client could not be started; no client until "
				  "the next reload");
			daemon_mqtt_stop(d);
		} else {
			log_info("reload: MQTT client restarted");
		}
	}
	if (plan.outputs)
		replace_outputs(d, nc);
	daemon_status_open(d, nc); /* reopened only when its section changed */

	config_free(d->cfg);
	d->cfg = config_ref(nc);
	log_set_level((enum log_level)nc->log_level);
	if (!plan.pipeline && !plan.mqtt && !plan.outputs)
		log_info("reload: %s applied; nothing to restart", d->cfg_path);
	else
		log_info("reload: %s applied (pipeline %s, MQTT %s, outputs %s)", d->cfg_path,
			 !plan.pipeline ? "kept"
			 : new_pipeline ? "rebuilt"
					: "failed",
			 !plan.mqtt   ? "kept"
			 : new_client ? "restarted"
				      : "failed",
			 !plan.outputs	    ? "kept"
			 : d->out.cfg == nc ? "reopened"
					    : "failed");
out:
	config_free(nc);
	notify_send(&d->notify, "READY=1");
}
