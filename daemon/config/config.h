/* config.h - the typed configuration (everything in oeed.yaml and the files it includes) and
 * its loader. The loader (config.c: one schema row per key, read by schema.c with libyaml)
 * validates every key and reports the first error as "FILE:LINE:COLUMN: KEY.PATH: message". All
 * strings are owned by the config and freed by config_free(). Durations are in milliseconds, sizes
 * in bytes. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "util.h"

/* The five categories of kpi.md; the order is the order of output fields. */
enum oeed_category { CAT_RUNNING = 0, CAT_IDLE, CAT_DOWN, CAT_PLANNED, CAT_UNKNOWN, CAT__COUNT };
const char *category_name(enum oeed_category c);
/* "running" -> CAT_RUNNING ...; returns -EINVAL for anything else. */
int category_parse(const char *s, size_t len, enum oeed_category *ret);

/* What a decoded value means. SIG_TIMESTAMP is a path in `fields:` only. SIG_DEATH is emitted
 * by decoders (Sparkplug NDEATH/DDEATH) and turns the machine unknown. */
enum oeed_signal {
	SIG_NONE = 0,
	SIG_STATE,
	SIG_TOTAL,
	SIG_GOOD,
	SIG_REJECT,
	SIG_CYCLE,
	SIG_TIMESTAMP,
	SIG_DEATH,
	SIG__COUNT
};
const char *signal_name(enum oeed_signal s);
int signal_parse(const char *s, enum oeed_signal *ret);

enum oeed_counts { COUNTS_CUMULATIVE = 0, COUNTS_INCREMENTS };

/* A raw state (string as received, numbers as their text) -> category and reason. */
struct oeed_map_entry {
	char *raw;
	enum oeed_category category;
	char *reason; /* "" when none given */
};

#define OEED_MAX_TEMPLATE_VARS 8

struct oeed_source {
	char *topic;		 /* template as written: "factory/{line}/{machine}/state" */
	char *decoder;		 /* plugin name: "text", "json", "sparkplug_b" */
	enum oeed_signal signal; /* the one signal of a single-valued payload, else SIG_NONE */
	struct oeed_map_entry *map;
	size_t n_map;
	bool map_numbers; /* unmapped raw states are an error unless a `default:` entry exists */
	enum oeed_counts counts;
	bool cycle_counts;	  /* each cycle event is also one part of total_count */
	char *fields[SIG__COUNT]; /* decoder path per signal (json "$.a.b[2]", sparkplug metric
				     name), NULL when unused */
	int qos;		  /* -1: use mqtt.qos */
	oeed_ms max_lateness_ms;  /* -1: the machine's max_lateness */
	char *machine;		  /* sparkplug_b: machine id template over {group} {node} {device},
				     NULL: the decoder's default "{device}" */
	oeed_ms reorder_timeout_ms; /* sparkplug_b: wait for a missing seq before a rebirth */
	char *timestamp_zone;	    /* json: zone of timestamps without an offset, NULL: none */
	int line, column;	    /* where this source starts in the file */
};

struct oeed_machine_conf {
	char *id;		    /* NULL for the defaults entry */
	oeed_ms ideal_cycle_ms;	    /* 0: unknown, performance and oee are omitted */
	oeed_ms stale_after_ms;	    /* 0 disables the silence timeout */
	oeed_ms microstop_below_ms; /* 0: off */
	oeed_ms max_lateness_ms;    /* events this far behind the machine's clock land at their
				       own time (kpi.md "Time"), default 10m */
	int line, column;
};

struct oeed_machines {
	struct oeed_machine_conf defaults;
	size_t max; /* machines the engine is sized for (listed + discovered) */
	struct oeed_machine_conf *list;
	size_t n_list;
};

enum oeed_period { PERIOD_SHIFT = 0, PERIOD_DAY, PERIOD_WEEK, PERIOD_MONTH, PERIOD__COUNT };
const char *period_name(enum oeed_period p);
int period_parse(const char *s, enum oeed_period *ret);

struct oeed_shift {
	char *name;
	int start_min; /* minutes after local midnight, 0..1439 */
};

#define OEED_MAX_WINDOWS 8
#define OEED_MAX_SHIFTS	 8

struct oeed_report {
	oeed_ms interval_ms; /* default 10s */
	oeed_ms windows_ms[OEED_MAX_WINDOWS];
	size_t n_windows;
	bool periods[PERIOD__COUNT]; /* which calendar periods are tracked */
	char *timezone;		     /* IANA name, default "UTC" */
	struct oeed_shift *shifts;   /* sorted by start_min, at most OEED_MAX_SHIFTS */
	size_t n_shifts;
	int window_buckets; /* buckets per rolling window, default 60 */
};

/* KPIs a contract can be judged on (the subset of kpi.md that is a single figure). */
enum oeed_kpi {
	KPI_AVAILABILITY = 0,
	KPI_UPTIME,
	KPI_PERFORMANCE,
	KPI_QUALITY,
	KPI_OEE,
	KPI_DOWN_RUN_RATIO,
	KPI_MTBF,
	KPI_MTTR,
	KPI_RATE_PER_H,
	KPI_CYCLE_AVG,
	KPI_CYCLE_P50,
	KPI_CYCLE_P95,
	KPI__COUNT
};
const char *kpi_name(enum oeed_kpi k); /* the output field name: "availability", "mtbf_s" */
int kpi_parse(const char *s, enum oeed_kpi *ret);
bool kpi_higher_is_better(enum oeed_kpi k);

enum oeed_unknown_policy { UNKNOWN_EXCLUDE = 0, UNKNOWN_AS_DOWN };

#define OEED_MAX_CONTRACT_REASONS 8

struct oeed_contract {
	char *name;
	char **machines; /* ids or fnmatch(3) patterns */
	size_t n_machines;
	enum oeed_kpi kpi;
	bool rolling;		 /* period is a rolling duration instead of a calendar period */
	enum oeed_period period; /* when !rolling */
	oeed_ms rolling_ms;	 /* when rolling */
	double target;
	double minimum;
	int higher_is_better; /* int: a schema choice (lower 0, higher 1) */
	enum oeed_unknown_policy unknown;
	char *planned_reasons[OEED_MAX_CONTRACT_REASONS];
	size_t n_planned_reasons;
	int line, column;
};

enum oeed_output_type { OUTPUT_INFLUXDB = 0, OUTPUT_FILE, OUTPUT_MQTT };

struct oeed_output_conf {
	enum oeed_output_type type;
	char *name; /* unique; default "influxdb-1", "file-1" ...; names the spool directory */
	/* influxdb */
	char *url;
	int api;						      /* 1 or 2 */
	char *database, *retention_policy, *username, *password_file; /* v1 */
	char *org, *bucket, *token_file;			      /* v2 */
	char *precision;	    /* "ms" (default); points are written with ms timestamps */
	size_t batch_lines;	    /* default 5000 */
	oeed_ms flush_interval_ms;  /* default 1s */
	uint64_t spool_max;	    /* default 256MiB */
	bool gzip;		    /* default true */
	bool create_database;	    /* v1 only, default false */
	oeed_ms timeout_ms;	    /* whole request, default 10s */
	oeed_ms connect_timeout_ms; /* default 5s */
	char *ca_file;
	bool verify; /* default true */
	/* file */
	char *path; /* "-" is stdout */
	/* mqtt: a retained JSON message per machine on the daemon's own connection */
	char *topic;	     /* template with {machine}: "oeed/{machine}" */
	bool retain;	     /* default true */
	int qos;	     /* default 1 */
	size_t queue_len;    /* machines whose newest message may wait, default 4096 */
	size_t max_inflight; /* published, not yet acknowledged, default 64 */
	int line, column;
};

struct oeed_tls_conf {
	char *ca_file, *cert_file, *key_file;
	bool verify; /* hostname verification, default true */
};

struct oeed_mqtt_conf {
	char *url;	 /* tcp://host:port or ssl://host:port, default tcp://127.0.0.1:1883 */
	char *client_id; /* default "oeed-<hostname>", stable so the broker keeps the session */
	char *username;
	char *password_file;
	int qos;		   /* default 1 */
	bool clean_session;	   /* default false */
	int protocol;		   /* 4 (3.1.1, default) or 5 */
	oeed_ms session_expiry_ms; /* MQTT 5, default 7d */
	oeed_ms keepalive_ms;	   /* default 30s */
	oeed_ms reconnect_min_ms;  /* default 1s */
	oeed_ms reconnect_max_ms;  /* default 30s */
	bool has_tls;
	struct oeed_tls_conf tls;
	char *status_topic;	 /* retained "online"/"offline" (LWT), NULL: none */
	size_t queue_len;	 /* messages the receive queue holds, default 65536 */
	uint64_t queue_bytes;	 /* topic and payload bytes it holds, default 1MiB */
	bool sparkplug_rebirth;	 /* request rebirths (no birth seen, unknown alias, seq gap) */
	char *sparkplug_host_id; /* primary host: publish spBv1.0/STATE/<id>; NULL: passive */
};

struct oeed_record_conf {
	bool enabled;
	uint64_t file_max;  /* rotate at this size, default 64MiB */
	uint64_t total_max; /* delete the oldest files beyond this, default 1GiB */
};

/* The status socket of `oeed status` (read-only). */
struct oeed_status_conf {
	bool enabled;		   /* default true */
	char *socket;		   /* resolved at load: $RUNTIME_DIRECTORY or state_dir */
	size_t clients;		   /* at a time, default 4 */
	uint64_t max_bytes;	   /* largest document, default 16MiB */
	oeed_ms client_timeout_ms; /* a client must have read it all by then, default 5s */
};

/* Where a key was written: "FILE:LINE:COLUMN" of its value. */
struct oeed_config_pos {
	char *key;	  /* key path: "mqtt.password_file", "outputs[1].ca_file" */
	const char *file; /* the config file (owned by the config) */
	int line, column;
};

/* Immutable once loaded: every default (also mqtt.client_id and instance, from the hostname)
 * is resolved by the loader, so what --check-config prints is what runs and no consumer
 * applies a default of its own. Shared by counted references (config_ref/config_free): each
 * subsystem built from a config holds one, so a reload can keep what did not change. */
struct oeed_config {
	unsigned refs;			/* references (main thread only) */
	char *path;			/* the file it was loaded from */
	char *site;			/* NULL: no site tag */
	char *instance;			/* the `instance` tag of self-metrics, default: hostname */
	bool instance_tag;		/* the `instance` tag on every point, default false */
	char *state_dir;		/* default /var/lib/oeed */
	int log_level;			/* enum log_level */
	oeed_ms max_clock_skew_ms;	/* default 5m */
	oeed_ms checkpoint_interval_ms; /* default 1m */
	struct oeed_mqtt_conf mqtt;
	struct oeed_source *sources;
	size_t n_sources;
	struct oeed_machines machines;
	struct oeed_report report;
	struct oeed_contract *contracts;
	size_t n_contracts;
	struct oeed_output_conf *outputs;
	size_t n_outputs;
	struct oeed_record_conf record;
	struct oeed_status_conf status;
	struct oeed_config_pos *pos; /* every key given in the files, in file order */
	size_t n_pos, cap_pos;
	char **files; /* the main file, then the included ones in the order read */
	size_t n_files;
};

/* Loads and validates `path`. On success returns 0 and *ret_config; on failure returns
 * -EINVAL (bad config) or -errno (cannot read), fills err->msg with
 * "PATH:LINE:COLUMN: key.path: what is wrong" and leaves *ret_config untouched. */
int config_load(const char *path, struct oeed_config **ret_config, struct oeed_error *err);
/* The same from a string (tests, fuzzing); `name` stands for the file name in errors. */
int config_load_string(const char *name, const char *yaml, size_t len,
		       struct oeed_config **ret_config, struct oeed_error *err);
/* Another reference to cfg (returned). */
struct oeed_config *config_ref(struct oeed_config *cfg);
/* Drops a reference; the last one frees. NULL is fine. */
void config_free(struct oeed_config *cfg);

/* Where `key` was written, or NULL when the file does not give it (a default applies). Lets
 * checks made after loading (pre-flight: files, permissions) name file:line:column. */
const struct oeed_config_pos *config_where(const struct oeed_config *cfg, const char *key);

/* Comparisons of the parts a subsystem is built from, for the reload plan: true when a
 * subsystem built from `a` would be built the same from `b`. Driven by each key's reload
 * scope in the schema (config.c), so a new key is compared where it belongs. */
bool config_mqtt_equal(const struct oeed_config *a, const struct oeed_config *b); /* + record */
bool config_outputs_equal(const struct oeed_config *a, const struct oeed_config *b);
/* sources, machines, report, contracts, site, max_clock_skew, mqtt.sparkplug_rebirth */
bool config_pipeline_equal(const struct oeed_config *a, const struct oeed_config *b);
/* Prints the effective config (all defaults filled in) as YAML that config_load accepts. */
void config_print(const struct oeed_config *cfg, FILE *out);
/* The key tables of docs/config.md (markdown) or oeed.yaml(5) (man), from the schema. */
void config_doc(FILE *out, bool man);
/* Calls fn for every file the config names (TLS files, CA files, secrets), with the key path
 * ("outputs[1].ca_file") and whether it holds a secret: what the pre-flight opens. */
void config_files(const struct oeed_config *cfg,
		  void (*fn)(void *ctx, const char *key, const char *path, bool secret), void *ctx);
/* The machine entry for `id`: the listed one, or NULL (then the defaults apply). */
const struct oeed_machine_conf *config_machine(const struct oeed_config *cfg, const char *id);
