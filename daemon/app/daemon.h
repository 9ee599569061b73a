/* daemon.h - the live daemon's context, shared by the app layer's daemon.c (start, the loop,
 * outputs, MQTT, self-metrics, stop), restore.c (checkpoint and recording tail) and reload.c
 * (SIGHUP). All mutable state of the program lives here; nothing outside the app layer sees
 * it.
 *
 * Subsystems and their configs: each subsystem slot holds a counted reference to the config
 * it was built from (config_ref), so a reload compares the new config with exactly what each
 * one runs on (reload.h) and a subsystem that could not be rebuilt goes on with its own.
 *
 * Threads: this struct belongs to the main thread. paho's callback thread touches only the
 * MQTT client's receive queue and the recording writer (io/mqtt.h); each influxdb output's
 * sender thread only its output's queue (output/output.h). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "log.h"
#include "loop.h"
#include "mqtt.h"
#include "notify.h"
#include "liveview.h"
#include "output.h"
#include "pipeline.h"
#include "recording.h"
#include "statsock.h"

#define DAEMON_MAX_SUBS 256 /* distinct subscriptions; more are refused with a log line */

struct daemon_pipeline {
	struct oeed_config *cfg; /* sources, machines, report, contracts, site */
	struct pipeline *p;
	struct liveview *view; /* what `oeed status` and the mqtt outputs show of it */
};

struct daemon_mqtt {
	struct oeed_config *cfg; /* mqtt, record, state_dir; NULL while no client runs */
	struct mqtt_client *client;
	struct recording_writer *rec; /* written by paho's thread, so it goes with the client */
	struct loop_source src;	      /* the client's queue eventfd */
};

struct daemon_outputs {
	struct oeed_config *cfg; /* outputs, state_dir; NULL while none are open */
	struct output **o;
	size_t n;
	bool machines; /* some output takes a document per machine (mqtt) */
};

/* The status socket (status.c). */
struct daemon_status {
	struct oeed_config *cfg; /* status; NULL while no socket is open */
	struct statsock *sock;
	struct loop_source src;
};

struct daemon {
	const char *cfg_path;
	struct oeed_config *cfg; /* the newest accepted config: log level, instance, checkpoint */
	struct daemon_pipeline pipe;
	struct daemon_mqtt mqtt;
	struct daemon_outputs out;
	struct daemon_status status;
	struct output_publisher publisher; /* the mqtt outputs' way to the client */
	struct strbuf doc;		   /* a machine's document for the mqtt outputs */
	oeed_ms started;
	struct loop loop;
	struct loop_source sig, timer; /* signalfd, timerfd */
	struct notifier notify;
	oeed_ms next_checkpoint;
	oeed_ms next_sync; /* of the recording */
	uint64_t queue_dropped_seen;
	uint64_t protocol_notices; /* counted by decoders through the host (self-metrics) */
	struct log_ratelimit rl_dropped, rl_rebirth, rl_count, rl_notice;
	int rc; /* the exit code */
};

/* daemon.c: the pieces reload.c rebuilds. */
int daemon_pipeline_new(struct daemon *d, struct oeed_config *cfg, struct daemon_pipeline *ret,
			struct oeed_error *err);
void daemon_pipeline_free(struct daemon_pipeline *dp);
int daemon_outputs_open(struct daemon *d, struct oeed_config *cfg, struct daemon_outputs *ret);
void daemon_outputs_close(struct daemon_outputs *out);
/* Builds a client and its recording writer for cfg, not started. */
int daemon_mqtt_new(struct daemon *d, struct oeed_config *cfg, struct daemon_mqtt *ret);
/* Starts the client in the slot and adds its queue to the loop. */
int daemon_mqtt_start(struct daemon *d);
/* Stops the running client, hands everything paho acknowledged to the pipeline, then frees
 * the client and its recording (as at stop: nothing acknowledged is lost). */
void daemon_mqtt_stop(struct daemon *d);
/* Sets the client's subscriptions from the pipeline's sources. */
int daemon_subscribe(struct daemon *d);
/* Hands lines to every output. */
void daemon_write(struct daemon *d, const char *lines, size_t len);
/* Hands the pipeline's pending lines to the outputs. */
void daemon_flush(struct daemon *d);

/* status.c: the socket `oeed status` reads. Opens (or, after a reload that changed the
 * status section, reopens) it; a socket that cannot be opened is logged, and the daemon runs
 * on without it. */
void daemon_status_open(struct daemon *d, struct oeed_config *cfg);
void daemon_status_close(struct daemon *d);
/* Each turn: clients whose time is up are dropped. */
void daemon_status_expire(struct daemon *d, oeed_ms now);

/* restore.c */
void daemon_checkpoint(struct daemon *d, oeed_ms now);
/* The checkpoint and, with recording on, the recorded messages after it; then a gap. */
void daemon_restore(struct daemon *d);

/* reload.c: SIGHUP. */
void daemon_reload(struct daemon *d);
