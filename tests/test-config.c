/* Unit tests for config.c: the exact error message (file:line:column: key.path: what) of each
 * kind of bad config, the effective values of good ones (defaults, durations, map entries,
 * sorted shifts, contract directions), config/oeed.yaml, and the print -> load round trip. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "testutil.h"

static struct oeed_config *load(const char *yaml, int line)
{
	struct oeed_config *cfg = NULL;
	struct oeed_error err;
	int r = config_load_string("t.yaml", yaml, strlen(yaml), &cfg, &err);
	CHECK_INT(r, 0);
	if (r < 0)
		fprintf(stderr, "  config at line %d: %s\n", line, err.msg);
	return cfg;
}

static void bad(const char *yaml, const char *expect, int line)
{
	struct oeed_config *cfg = NULL;
	struct oeed_error err;
	int failed = test_failed_checks;
	int r = config_load_string("t.yaml", yaml, strlen(yaml), &cfg, &err);
	CHECK_INT(r, -EINVAL);
	CHECK(cfg == NULL);
	CHECK_STR(err.msg, expect);
	if (test_failed_checks != failed)
		fprintf(stderr, "  (the bad config at line %d)\n", line);
	config_free(cfg);
}

#define LOAD(y)	    load((y), __LINE__)
#define BAD(y, msg) bad((y), (msg), __LINE__)

static char *print_to_string(const struct oeed_config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	config_print(cfg, f);
	fclose(f);
	return buf;
}

/* print, load what was printed, print again: the same text and the same values */
static void round_trip(const struct oeed_config *cfg, int line)
{
	char *a = print_to_string(cfg);
	CHECK(a != NULL);
	if (!a)
		return;
	struct oeed_config *again = NULL;
	struct oeed_error err;
	int r = config_load_string(cfg->path, a, strlen(a), &again, &err);
	CHECK_INT(r, 0);
	if (r < 0) {
		fprintf(stderr, "  round trip of line %d: %s\n%s", line, err.msg, a);
	} else {
		char *b = print_to_string(again);
		CHECK_STR(b, a);
		CHECK_INT(again->n_sources, cfg->n_sources);
		CHECK_INT(again->n_contracts, cfg->n_contracts);
		CHECK_INT(again->n_outputs, cfg->n_outputs);
		CHECK_INT(again->machines.n_list, cfg->machines.n_list);
		free(b);
	}
	config_free(again);
	free(a);
}

static void test_enums(void)
{
	enum oeed_category c;
	enum oeed_signal s;
	enum oeed_period p;
	enum oeed_kpi k;

	CHECK_INT(category_parse("down/fault", 4, &c), 0);
	CHECK_INT(c, CAT_DOWN);
	CHECK_INT(category_parse("planned", 7, &c), 0);
	CHECK_INT(c, CAT_PLANNED);
	CHECK_INT(category_parse("runningx", 8, &c), -EINVAL);
	CHECK_INT(category_parse("run", 3, &c), -EINVAL);
	CHECK_STR(category_name(CAT_UNKNOWN), "unknown");
	CHECK_STR(category_name(CAT_IDLE), "idle");

	CHECK_INT(signal_parse("reject", &s), 0);
	CHECK_INT(s, SIG_REJECT);
	CHECK_INT(signal_parse("timestamp", &s), 0);
	CHECK_INT(s, SIG_TIMESTAMP);
	CHECK_INT(signal_parse("none", &s), -EINVAL);
	CHECK_STR(signal_name(SIG_CYCLE), "cycle");

	CHECK_INT(period_parse("week", &p), 0);
	CHECK_INT(p, PERIOD_WEEK);
	CHECK_INT(period_parse("year", &p), -EINVAL);
	CHECK_STR(period_name(PERIOD_SHIFT), "shift");

	CHECK_INT(kpi_parse("mtbf_s", &k), 0);
	CHECK_INT(k, KPI_MTBF);
	CHECK_INT(kpi_parse("cycle_p95_s", &k), 0);
	CHECK_INT(k, KPI_CYCLE_P95);
	CHECK_INT(kpi_parse("mtbf", &k), -EINVAL);
	CHECK_STR(kpi_name(KPI_DOWN_RUN_RATIO), "down_run_ratio");
	CHECK_STR(kpi_name(KPI_RATE_PER_H), "rate_per_h");
	CHECK(kpi_higher_is_better(KPI_AVAILABILITY));
	CHECK(kpi_higher_is_better(KPI_PERFORMANCE));
	CHECK(kpi_higher_is_better(KPI_MTBF));
	CHECK(kpi_higher_is_better(KPI_RATE_PER_H));
	CHECK(!kpi_higher_is_better(KPI_DOWN_RUN_RATIO));
	CHECK(!kpi_higher_is_better(KPI_MTTR));
	CHECK(!kpi_higher_is_better(KPI_CYCLE_AVG));
	CHECK(!kpi_higher_is_better(KPI_CYCLE_P50));
	CHECK(!kpi_higher_is_better(KPI_CYCLE_P95));
}

static void test_bad_file_level(void)
{
	BAD("", "t.yaml:1:1: empty file");
	/* bad encoding: libyaml gives a byte offset, the loader turns it into line and column */
	BAD("site: a\nstate_dir: \"/x\xff\"\n",
	    "t.yaml:2:15: byte 22: invalid leading UTF-8 octet");
	BAD("# only a comment\n", "t.yaml:1:1: empty file");
	BAD("- a\n- b\n", "t.yaml:1:1: expected a mapping at the top level, got a list");
	BAD("site: a\n---\nsite: b\n", "t.yaml:3:1: more than one document");
	BAD("site: [a, b\n",
	    "t.yaml:2:1: did not find expected ',' or ']' while parsing a flow sequence at line 1");
	BAD("site: a\n  b: c\n", "t.yaml:2:4: mapping values are not allowed in this context");
	BAD("xyz: 1\n", "t.yaml:1:1: unknown key 'xyz'");
	BAD("site: a\nsite: b\n", "t.yaml:2:1: duplicate key 'site'");
	BAD("log_level: verbose\n",
	    "t.yaml:1:12: log_level: bad value 'verbose' (use error, warn, info, debug)");
	BAD("state_dir: var/lib/oeed\n", "t.yaml:1:12: state_dir: must be an absolute path");
	BAD("site: [a]\n", "t.yaml:1:7: site: expected a string, got a list");
	BAD("site: \"\"\n", "t.yaml:1:7: site: must not be empty");
	BAD("max_clock_skew: 10x\n",
	    "t.yaml:1:17: max_clock_skew: bad duration '10x' (use 500ms, 10s, 5m, 1h, 7d)");
	BAD("checkpoint_interval: 10\n",
	    "t.yaml:1:22: checkpoint_interval: bad duration '10' (use 500ms, 10s, 5m, 1h, 7d)");
	BAD("record: sometimes\n",
	    "t.yaml:1:9: record: expected a boolean or a mapping, got 'sometimes'");
	BAD("record: [1]\n", "t.yaml:1:9: record: expected a boolean or a mapping, got a list");
	BAD("record:\n  file_max: 12 MiB\n",
	    "t.yaml:2:13: record.file_max: bad size '12 MiB' (use 64KiB, 256MiB, 1GiB)");
	BAD("record:\n  file_max: 1GiB\n  total_max: 512MiB\n",
	    "t.yaml:3:14: record.total_max: 512MiB is below file_max 1GiB");
}

static void test_bad_mqtt(void)
{
	BAD("mqtt: 5\n", "t.yaml:1:7: mqtt: expected a mapping, got '5'");
	BAD("mqtt:\n  qos: 1\n  qos: 2\n", "t.yaml:3:3: mqtt: duplicate key 'qos'");
	BAD("mqtt:\n  qos: 3\n", "t.yaml:2:8: mqtt.qos: 3 out of range (0..2)");
	BAD("mqtt:\n  qos: high\n", "t.yaml:2:8: mqtt.qos: expected an integer, got 'high'");
	BAD("mqtt:\n  url: http://x:1883\n", "t.yaml:2:8: mqtt.url: bad url 'http://x:1883' (use "
					     "tcp://HOST:PORT or ssl://HOST:PORT)");
	BAD("mqtt:\n  url: tcp://:1883\n",
	    "t.yaml:2:8: mqtt.url: bad url 'tcp://:1883' (use tcp://HOST:PORT or ssl://HOST:PORT)");
	BAD("mqtt:\n  url: tcp://h:99999\n", "t.yaml:2:8: mqtt.url: bad url 'tcp://h:99999' (use "
					     "tcp://HOST:PORT or ssl://HOST:PORT)");
	BAD("mqtt:\n  keepalive: 10x\n",
	    "t.yaml:2:14: mqtt.keepalive: bad duration '10x' (use 500ms, 10s, 5m, 1h, 7d)");
	BAD("mqtt:\n  clean_session: maybe\n",
	    "t.yaml:2:18: mqtt.clean_session: expected a boolean, got 'maybe'");
	BAD("mqtt:\n  clean_session: \"true\"\n",
	    "t.yaml:2:18: mqtt.clean_session: expected a boolean, got 'true'");
	BAD("mqtt:\n  protocol: 6\n",
	    "t.yaml:2:13: mqtt.protocol: bad value '6' (use 4, 3.1.1, 5, 5.0)");
	BAD("mqtt:\n  url: tcp://h:1883\n  tls: {verify: false}\n",
	    "t.yaml:3:3: mqtt: key 'tls' does not apply to a tcp:// url (use ssl://)");
	BAD("mqtt:\n  url: ssl://h:8883\n  tls: {verify: false, ca: x}\n",
	    "t.yaml:3:24: mqtt.tls: unknown key 'ca'");
	BAD("mqtt:\n  reconnect_min: 1m\n",
	    "t.yaml:2:18: mqtt.reconnect_min: 1m is above reconnect_max 30s");
	BAD("mqtt:\n  status_topic: oeed/+/status\n",
	    "t.yaml:2:17: mqtt.status_topic: a topic to publish to cannot hold '+' or '#'");
	BAD("mqtt:\n  queue_len: 0\n", "t.yaml:2:14: mqtt.queue_len: 0 out of range (1..16777216)");
	/* Sparkplug 3.0: a primary host connects with a clean session */
	BAD("mqtt:\n  sparkplug_host_id: scada1\n",
	    "t.yaml:2:22: mqtt.sparkplug_host_id: a Sparkplug primary host must connect with "
	    "clean_session: true (Sparkplug 3.0; see docs/mqtt.md, \"Primary host\")");
	BAD("mqtt:\n  clean_session: true\n  status_topic: st/x\n  sparkplug_host_id: h\n",
	    "t.yaml:4:22: mqtt.sparkplug_host_id: give status_topic or sparkplug_host_id, not "
	    "both: a connection has one last will, and a primary host's is its STATE death");
	BAD("mqtt:\n  clean_session: true\n  sparkplug_host_id: a/b\n",
	    "t.yaml:3:22: mqtt.sparkplug_host_id: a Sparkplug host id is one topic level: not "
	    "empty, no '/', '+', '#', at most 200 bytes");
	struct oeed_config *cfg = LOAD("mqtt:\n  clean_session: true\n  sparkplug_host_id: oeed1\n"
				       "  sparkplug_rebirth: false\n");
	if (cfg) {
		CHECK_STR(cfg->mqtt.sparkplug_host_id, "oeed1");
		CHECK(!cfg->mqtt.sparkplug_rebirth);
		round_trip(cfg, __LINE__);
	}
	config_free(cfg);
}

static void test_bad_sources(void)
{
	BAD("sources: {a: 1}\n", "t.yaml:1:10: sources: expected a list, got a mapping");
	BAD("sources:\n  - topic: a/{line}/state\n    decoder: text\n    signal: state\n",
	    "t.yaml:2:12: sources[0].topic: bad topic template: no {machine} variable in "
	    "'a/{line}/state'");
	BAD("sources:\n  - decoder: text\n    signal: state\n",
	    "t.yaml:2:5: sources[0]: missing key 'topic'");
	BAD("sources:\n  - topic: a/{machine}\n    signal: state\n",
	    "t.yaml:2:5: sources[0]: missing key 'decoder'");
	BAD("sources:\n  - topic: a/{machine}\n    decoder: xml\n    signal: state\n",
	    "t.yaml:3:14: sources[0].decoder: unknown decoder 'xml'");
	BAD("sources:\n  - topic: a/{machine}\n    decoder: text\n    signal: power\n",
	    "t.yaml:4:13: sources[0].signal: bad value 'power' (use state, total, good, "
	    "reject, cycle)");
	BAD("sources:\n  - topic: a/{machine}\n    decoder: json\n    signal: state\n"
	    "    fields: {total: $.n}\n",
	    "t.yaml:2:5: sources[0]: give either signal or fields, not both");
	BAD("sources:\n  - topic: a/{machine}\n    decoder: text\n",
	    "t.yaml:2:5: sources[0]: missing key 'signal' or 'fields'");
	BAD("sources:\n  - topic: a/{machine}\n    decoder: json\n    fields: {power: $.p}\n",
	    "t.yaml:4:14: sources[0].fields: unknown signal 'power' (use state, total, good, "
	    "reject, cycle, timestamp)");
	BAD("sources:\n  - topic: a/{machine}\n    decoder: json\n    fields: {timestamp: $.t}\n",
	    "t.yaml:4:13: sources[0].fields: no signal given (use state, total, good, reject, "
	    "cycle, timestamp)");
	BAD("sources:\n"
	    "  - topic: a/{machine}/s\n"
	    "    decoder: text\n"
	    "    signal: state\n"
	    "  - topic: b/{machine}/s\n"
	    "    decoder: text\n"
	    "    signal: state\n"
	    "    map: {RUN: running, FAULT: broken}\n",
	    "t.yaml:8:32: sources[1].map.FAULT: unknown category 'broken' (use running, idle, "
	    "down, planned, unknown)");
	BAD("sources:\n  - topic: a/{machine}\n    decoder: text\n    signal: state\n"
	    "    map:\n      0: down/\n",
	    "t.yaml:6:10: sources[0].map.0: empty reason in 'down/' (use category or "
	    "category/reason)");
	BAD("sources:\n  - topic: a/{machine}\n    decoder: text\n    signal: state\n"
	    "    map:\n      1: running\n      \"1\": idle\n",
	    "t.yaml:7:7: sources[0].map: duplicate key '1'");
	BAD("sources:\n  - topic: a/{machine}\n    decoder: text\n    signal: total\n"
	    "    map: {RUN: running}\n",
	    "t.yaml:5:10: sources[0].map: map needs the state signal");
	BAD("sources:\n  - topic: a/{machine}\n    decoder: text\n    signal: state\n    qos: 5\n",
	    "t.yaml:5:10: sources[0].qos: 5 out of range (0..2)");
	BAD("sources:\n  - topic: a/{machine}\n    decoder: text\n    signal: total\n"
	    "    counts: total\n",
	    "t.yaml:5:13: sources[0].counts: bad value 'total' (use cumulative, increments)");
	BAD("sources:\n  - topic: a/{machine}\n    decoder: text\n    signal: total\n"
	    "    cycle_counts: true\n",
	    "t.yaml:5:19: sources[0].cycle_counts: cycle_counts needs the cycle signal");

	/* a share group gives each message to one member: refused, with the reason */
	BAD("sources:\n  - decoder: sparkplug_b\n    topic: $share/oeed/spBv1.0/plant1/#\n"
	    "    fields: {state: Machine/State}\n",
	    "t.yaml:3:12: sources[0].topic: shared subscriptions ('$share/') are not supported: "
	    "the broker gives each message to one member of the group, so oeed would see only "
	    "part of a machine's events; subscribe to the plain topic");
	BAD("sources:\n  - topic: \"$queue/a/{machine}\"\n    decoder: text\n    signal: state\n",
	    "t.yaml:2:12: sources[0].topic: shared subscriptions ('$queue/') are not supported: "
	    "the broker gives each message to one member of the group, so oeed would see only "
	    "part of a machine's events; subscribe to the plain topic");
	/* decoder-specific keys are judged by the decoder */
	BAD("sources:\n  - topic: spBv1.0/p/#\n    decoder: sparkplug_b\n"
	    "    fields: {state: S}\n    machine: \"{node}/{device}\"\n",
	    "t.yaml:2:5: sources[0]: machine: column 7: '/' cannot be in a machine id");
	BAD("sources:\n  - topic: spBv1.0/p/#\n    decoder: sparkplug_b\n"
	    "    fields: {state: S}\n    timestamp_zone: Europe/Berlin\n",
	    "t.yaml:2:5: sources[0]: timestamp_zone: Sparkplug timestamps are UTC milliseconds");
	BAD("sources:\n  - topic: a/{machine}\n    decoder: text\n    signal: state\n"
	    "    machine: \"{node}.{device}\"\n",
	    "t.yaml:2:5: sources[0]: machine: only for sparkplug_b (the topic's {machine} names "
	    "the machine)");

	/* the decoder judges its own settings; its message follows the source's place */
	struct oeed_config *cfg = NULL;
	struct oeed_error err;
	const char *y = "sources:\n  - topic: a/{machine}\n    decoder: text\n"
			"    fields: {state: x}\n";
	CHECK_INT(config_load_string("t.yaml", y, strlen(y), &cfg, &err), -EINVAL);
	CHECK(strncmp(err.msg, "t.yaml:2:5: sources[0]: decoder text ", 37) == 0);
	CHECK(cfg == NULL);
}

static void test_bad_machines_report(void)
{
	BAD("machines:\n  list:\n    - id: p1\n    - id: p2\n    - id: p1\n",
	    "t.yaml:5:11: machines.list[2].id: duplicate machine id 'p1'");
	BAD("machines:\n  list:\n    - id: a/b\n",
	    "t.yaml:3:11: machines.list[0].id: bad machine id 'a/b' (no '/', '+', '#')");
	BAD("machines:\n  list:\n    - ideal_cycle_time: 1s\n",
	    "t.yaml:3:7: machines.list[0]: missing key 'id'");
	BAD("machines:\n  defaults: {id: x}\n",
	    "t.yaml:2:14: machines.defaults: key 'id' does not apply to machines.defaults");
	BAD("machines:\n  max: 1\n  list:\n    - id: a\n    - id: b\n",
	    "t.yaml:2:8: machines.max: 1 is below the 2 listed machines");
	BAD("machines:\n  max: 0\n", "t.yaml:2:8: machines.max: 0 out of range (1..1000000)");
	BAD("machines:\n  max: 1000001\n",
	    "t.yaml:2:8: machines.max: 1000001 out of range (1..1000000)");
	BAD("machines:\n  defaults:\n    stale_after: 1 minute\n",
	    "t.yaml:3:18: machines.defaults.stale_after: bad duration '1 minute' (use 500ms, 10s, "
	    "5m, 1h, 7d)");

	BAD("report:\n  timezone: Mars/Olympus\n",
	    "t.yaml:2:13: report.timezone: unknown time zone 'Mars/Olympus'");
	BAD("report:\n  timezone: ../../../etc/passwd\n",
	    "t.yaml:2:13: report.timezone: unknown time zone '../../../etc/passwd'");
	BAD("report:\n  timezone: Europe\n",
	    "t.yaml:2:13: report.timezone: unknown time zone 'Europe'");
	BAD("report:\n"
	    "  shifts:\n"
	    "    - {name: a, start: \"06:00\"}\n"
	    "    - {name: b, start: \"14:00\"}\n"
	    "    - {name: c, start: \"25:00\"}\n",
	    "t.yaml:5:24: report.shifts[2].start: bad time '25:00' (use HH:MM, 00:00 to 23:59)");
	BAD("report:\n  shifts:\n    - {name: a, start: 6h}\n",
	    "t.yaml:3:24: report.shifts[0].start: bad time '6h' (use HH:MM, 00:00 to 23:59)");
	BAD("report:\n  shifts:\n    - {name: a, start: \"06:00\"}\n    - {name: b, start: "
	    "06:00}\n",
	    "t.yaml:4:24: report.shifts[1].start: two shifts start at 06:00");
	BAD("report:\n  shifts:\n    - {name: a, start: \"06:00\"}\n    - {name: a, start: "
	    "18:00}\n",
	    "t.yaml:4:14: report.shifts[1].name: duplicate shift name 'a'");
	BAD("report:\n  shifts:\n    - {name: a}\n",
	    "t.yaml:3:7: report.shifts[0]: missing key 'start'");
	BAD("report:\n  periods: [day, shift]\n",
	    "t.yaml:2:18: report.periods[1]: shift needs report.shifts");
	BAD("report:\n  periods: [day, year]\n",
	    "t.yaml:2:18: report.periods[1]: bad value 'year' (use shift, day, week, month)");
	BAD("report:\n  periods: [day, day]\n",
	    "t.yaml:2:18: report.periods[1]: duplicate period 'day'");
	BAD("report:\n  windows: [15m, 0]\n",
	    "t.yaml:2:18: report.windows[1]: 0s out of range (1ms..31d)");
	BAD("report:\n  windows: [15m, 32d]\n",
	    "t.yaml:2:18: report.windows[1]: 32d out of range (1ms..31d)");
	BAD("report:\n  windows: [1h, 60m]\n",
	    "t.yaml:2:17: report.windows[1]: duplicate window '60m'");
	BAD("report:\n  windows: [1m, 2m, 3m, 4m, 5m, 6m, 7m, 8m, 9m]\n",
	    "t.yaml:2:12: report.windows: more than 8 windows");
	BAD("report:\n  interval: 0\n", "t.yaml:2:13: report.interval: 0s out of range (10ms..1d)");
	BAD("report:\n  window_buckets: 0\n",
	    "t.yaml:2:19: report.window_buckets: 0 out of range (1..3600)");
}

static void test_bad_contracts_outputs(void)
{
	BAD("contracts:\n"
	    "  - {name: c1, kpi: availability, period: month, target: 0.9, minimum: 0.8}\n"
	    "  - {name: c1, kpi: uptime, period: day, target: 0.9, minimum: 0.8}\n",
	    "t.yaml:3:12: contracts[1].name: duplicate contract name 'c1'");
	BAD("contracts:\n  - {name: c, kpi: speed, period: day, target: 1, minimum: 0}\n",
	    "t.yaml:2:20: contracts[0].kpi: bad value 'speed' (use availability, uptime, "
	    "performance, quality, oee, down_run_ratio, mtbf_s, mttr_s, rate_per_h, cycle_avg_s, "
	    "cycle_p50_s, cycle_p95_s)");
	BAD("contracts:\n"
	    "  - {name: c, kpi: availability, period: month, target: 0.9, minimum: 0.95}\n",
	    "t.yaml:2:57: contracts[0].target: target 0.9 is below minimum 0.95 (higher is "
	    "better)");
	BAD("contracts:\n  - name: c\n    kpi: mttr_s\n    period: 30d\n    target: 600\n"
	    "    minimum: 300\n",
	    "t.yaml:5:13: contracts[0].target: target 600 is above minimum 300 (lower is better)");
	BAD("contracts:\n  - name: c\n    kpi: availability\n    period: month\n    target: 97.5\n"
	    "    minimum: 95\n",
	    "t.yaml:5:13: contracts[0].target: 97.5 is outside 0..1 for availability");
	BAD("contracts:\n  - name: c\n    kpi: oee\n    period: month\n    target: 0.8\n"
	    "    minimum: -0.1\n",
	    "t.yaml:6:14: contracts[0].minimum: -0.1 is outside 0..1 for oee");
	BAD("contracts:\n  - name: c\n    kpi: mtbf_s\n    period: day\n    target: 3600\n",
	    "t.yaml:2:5: contracts[0]: missing key 'minimum'");
	BAD("contracts:\n  - name: c\n    kpi: oee\n    target: 0.8\n    minimum: 0.6\n",
	    "t.yaml:2:5: contracts[0]: missing key 'period'");
	BAD("contracts:\n  - kpi: oee\n    period: day\n    target: 0.8\n    minimum: 0.6\n",
	    "t.yaml:2:5: contracts[0]: missing key 'name'");
	BAD("contracts:\n  - name: c\n    kpi: oee\n    period: fortnight\n    target: 0.8\n"
	    "    minimum: 0.6\n",
	    "t.yaml:4:13: contracts[0].period: bad period 'fortnight' (use shift, day, week, month "
	    "or a duration like 30d)");
	BAD("contracts:\n  - name: c\n    kpi: oee\n    period: shift\n    target: 0.8\n"
	    "    minimum: 0.6\n",
	    "t.yaml:4:13: contracts[0].period: shift needs report.shifts");
	BAD("contracts:\n  - name: c\n    kpi: oee\n    period: day\n    target: high\n"
	    "    minimum: 0.6\n",
	    "t.yaml:5:13: contracts[0].target: expected a number, got 'high'");
	BAD("contracts:\n  - name: c\n    kpi: oee\n    period: day\n    target: 0.8\n"
	    "    minimum: 0.6\n    direction: up\n",
	    "t.yaml:7:16: contracts[0].direction: bad value 'up' (use lower, higher)");
	BAD("contracts:\n  - name: c\n    kpi: oee\n    period: day\n    target: 0.8\n"
	    "    minimum: 0.6\n    unknown: ignore\n",
	    "t.yaml:7:14: contracts[0].unknown: bad value 'ignore' (use exclude, down)");
	BAD("contracts:\n  - name: c\n    machines: []\n    kpi: oee\n    period: day\n"
	    "    target: 0.8\n    minimum: 0.6\n",
	    "t.yaml:3:15: contracts[0].machines: expected at least one machine id or pattern");

	BAD("outputs:\n  - path: x\n", "t.yaml:2:5: outputs[0]: missing key 'type'");
	BAD("outputs:\n  - type: kafka\n",
	    "t.yaml:2:11: outputs[0].type: bad value 'kafka' (use influxdb, file, mqtt)");
	/* the mqtt output: one message per machine, never where oeed listens */
	BAD("outputs:\n  - type: mqtt\n", "t.yaml:2:5: outputs[0]: missing key 'topic'");
	BAD("outputs:\n  - type: mqtt\n    topic: oeed/all\n",
	    "t.yaml:3:12: outputs[0].topic: topic 'oeed/all' needs {machine} exactly once (one "
	    "message per machine)");
	BAD("outputs:\n  - type: mqtt\n    topic: oeed/{machine}/#\n",
	    "t.yaml:3:12: outputs[0].topic: topic 'oeed/{machine}/#': no wildcards ('+', '#') in "
	    "a topic to publish on");
	BAD("outputs:\n  - type: mqtt\n    topic: oeed/{line}/{machine}\n",
	    "t.yaml:3:12: outputs[0].topic: topic 'oeed/{line}/{machine}': {machine} is the only "
	    "variable");
	BAD("outputs:\n  - type: file\n    path: x\n    qos: 1\n",
	    "t.yaml:4:5: outputs[0]: key 'qos' does not apply to type file");
	BAD("sources:\n  - topic: \"f/{line}/{machine}/state\"\n    decoder: text\n"
	    "    signal: state\noutputs:\n  - type: mqtt\n    topic: \"f/kpi/{machine}\"\n",
	    "t.yaml:7:12: outputs[0].topic: output mqtt-1 publishes on 'f/kpi/{machine}', which "
	    "oeed subscribes to (sources[0] topic 'f/{line}/{machine}/state'): its messages would "
	    "come back as input");
	BAD("sources:\n  - topic: \"spBv1.0/plant/#\"\n    decoder: sparkplug_b\n"
	    "    fields: { state: s }\noutputs:\n  - type: mqtt\n    topic: \"oeed/{machine}\"\n"
	    "  - type: mqtt\n    topic: \"spBv1.0/plant/{machine}\"\n",
	    "t.yaml:9:12: outputs[1].topic: topic 'spBv1.0/plant/{machine}' is reserved "
	    "(Sparkplug, $SYS)");
	BAD("mqtt:\n  status_topic: oeed/gw1\noutputs:\n  - type: mqtt\n    topic: "
	    "oeed/{machine}\n",
	    "t.yaml:5:12: outputs[0].topic: output mqtt-1 may publish on mqtt.status_topic "
	    "'oeed/gw1'");
	BAD("status:\n  socket: run/x.sock\n",
	    "t.yaml:2:11: status.socket: must be an absolute path");
	{
		struct oeed_config *c = LOAD("sources:\n  - topic: \"f/{line}/{machine}/state\"\n"
					     "    decoder: text\n    signal: state\noutputs:\n"
					     "  - type: mqtt\n    topic: \"oeed/{machine}\"\n"
					     "status:\n  socket: /run/x.sock\n");
		if (c) {
			CHECK_STR(c->outputs[0].name, "mqtt-1");
			CHECK_INT(c->outputs[0].retain, 1);
			CHECK_INT(c->outputs[0].qos, 1);
			CHECK_INT((int)c->outputs[0].queue_len, 4096);
			CHECK_INT((int)c->outputs[0].max_inflight, 64);
			CHECK_STR(c->status.socket, "/run/x.sock");
			CHECK_INT((int)c->status.clients, 4);
			CHECK_INT(c->status.enabled, 1);
			round_trip(c, __LINE__);
			config_free(c);
		}
	}
	BAD("outputs:\n  - type: influxdb\n    url: ftp://db:8086\n    database: oeed\n",
	    "t.yaml:3:10: outputs[0].url: bad url 'ftp://db:8086' (use http://HOST:PORT or "
	    "https://HOST:PORT)");
	BAD("outputs:\n  - type: influxdb\n    database: oeed\n",
	    "t.yaml:2:5: outputs[0]: missing key 'url'");
	BAD("outputs:\n  - type: influxdb\n    url: http://db:8086\n",
	    "t.yaml:2:5: outputs[0]: missing key 'database' (needed by api v1)");
	BAD("outputs:\n  - type: influxdb\n    url: http://db:8086\n    api: 2\n    org: acme\n",
	    "t.yaml:2:5: outputs[0]: missing key 'bucket' (needed by api v2)");
	BAD("outputs:\n  - type: influxdb\n    url: http://db:8086\n    api: v3\n",
	    "t.yaml:4:10: outputs[0].api: bad value 'v3' (use v1, 1, v2, 2)");
	BAD("outputs:\n  - type: influxdb\n    url: http://db:8086\n    database: d\n"
	    "    precision: s\n",
	    "t.yaml:5:16: outputs[0].precision: precision 's' is not supported (points carry ms "
	    "timestamps: use ms)");
	BAD("outputs:\n  - type: influxdb\n    url: http://db:8086\n    database: d\n"
	    "    spool_max: lots\n",
	    "t.yaml:5:16: outputs[0].spool_max: bad size 'lots' (use 64KiB, 256MiB, 1GiB)");
	BAD("outputs:\n  - type: file\n", "t.yaml:2:5: outputs[0]: missing key 'path'");
	BAD("outputs:\n  - type: file\n    path: x\n    url: http://a\n",
	    "t.yaml:4:5: outputs[0]: key 'url' does not apply to type file");
	BAD("outputs:\n  - {type: file, path: a.lp}\n  - {type: file, path: b.lp, name: file-1}\n",
	    "t.yaml:3:36: outputs[1].name: duplicate output name 'file-1'");
	BAD("outputs:\n  - {type: file, path: a.lp, name: file-2}\n  - {type: file, path: b.lp}\n",
	    "t.yaml:3:5: outputs[1].name: duplicate output name 'file-2'");
	BAD("outputs:\n  - {type: file, path: a.lp, name: ../x}\n",
	    "t.yaml:2:36: outputs[0].name: bad output name '../x' (use letters, digits, '.', '_', "
	    "'-')");
}

static void test_defaults(void)
{
	struct oeed_config *cfg = LOAD("site: plant-1\n");
	if (!cfg)
		return;
	CHECK_STR(cfg->path, "t.yaml");
	CHECK_STR(cfg->site, "plant-1");
	char host[65] = "";
	CHECK_INT(gethostname(host, sizeof(host) - 1), 0);
	char id[80];
	snprintf(id, sizeof(id), "oeed-%s", host);
	CHECK_STR(cfg->instance, host); /* resolved at load: the config is complete */
	CHECK_STR(cfg->state_dir, "/var/lib/oeed");
	CHECK_INT(cfg->log_level, LOG_LVL_INFO);
	CHECK_INT(cfg->max_clock_skew_ms, 5 * 60 * 1000);
	CHECK_INT(cfg->checkpoint_interval_ms, 60 * 1000);
	CHECK(!cfg->record.enabled);
	CHECK_INT(cfg->record.file_max, 64 * 1024 * 1024);
	CHECK_INT(cfg->record.total_max, 1024 * 1024 * 1024);
	CHECK_STR(cfg->mqtt.url, "tcp://127.0.0.1:1883");
	CHECK_STR(cfg->mqtt.client_id, id);
	CHECK_INT(cfg->mqtt.qos, 1);
	CHECK(!cfg->mqtt.clean_session);
	CHECK_INT(cfg->mqtt.protocol, 4);
	CHECK_INT(cfg->mqtt.session_expiry_ms, 7 * 86400 * 1000LL);
	CHECK_INT(cfg->mqtt.keepalive_ms, 30000);
	CHECK_INT(cfg->mqtt.reconnect_min_ms, 1000);
	CHECK_INT(cfg->mqtt.reconnect_max_ms, 30000);
	CHECK(!cfg->mqtt.has_tls);
	CHECK(cfg->mqtt.tls.verify);
	CHECK_INT(cfg->mqtt.queue_len, 65536);
	CHECK(cfg->mqtt.sparkplug_rebirth);
	CHECK(cfg->mqtt.sparkplug_host_id == NULL);
	CHECK_INT(cfg->n_sources, 0);
	CHECK_INT(cfg->machines.max, 100);
	CHECK_INT(cfg->machines.n_list, 0);
	CHECK_INT(cfg->machines.defaults.ideal_cycle_ms, 0);
	CHECK_INT(cfg->machines.defaults.stale_after_ms, 60000);
	CHECK_INT(cfg->machines.defaults.microstop_below_ms, 0);
	CHECK_INT(cfg->report.interval_ms, 10000);
	CHECK_INT(cfg->report.n_windows, 3);
	CHECK_INT(cfg->report.windows_ms[0], 15 * 60 * 1000);
	CHECK_INT(cfg->report.windows_ms[1], 3600 * 1000);
	CHECK_INT(cfg->report.windows_ms[2], 24 * 3600 * 1000);
	CHECK(!cfg->report.periods[PERIOD_SHIFT]); /* no shifts configured */
	CHECK(cfg->report.periods[PERIOD_DAY]);
	CHECK(!cfg->report.periods[PERIOD_WEEK]);
	CHECK(cfg->report.periods[PERIOD_MONTH]);
	CHECK_STR(cfg->report.timezone, "UTC");
	CHECK_INT(cfg->report.n_shifts, 0);
	CHECK_INT(cfg->report.window_buckets, 60);
	CHECK_INT(cfg->n_contracts, 0);
	CHECK_INT(cfg->n_outputs, 0);
	CHECK(config_machine(cfg, "press-01") == NULL);
	round_trip(cfg, __LINE__);
	config_free(cfg);

	/* null values mean "not given"; empty lists are kept empty */
	cfg = LOAD("site:\nmqtt: ~\nreport:\n  windows: []\n  periods: []\n");
	if (!cfg)
		return;
	CHECK(cfg->site == NULL);
	CHECK_INT(cfg->mqtt.qos, 1);
	CHECK_INT(cfg->report.n_windows, 0);
	CHECK(!cfg->report.periods[PERIOD_DAY]);
	CHECK(!cfg->report.periods[PERIOD_MONTH]);
	round_trip(cfg, __LINE__);
	config_free(cfg);

	/* Found by fuzz/fuzz-config: characters YAML reads as line breaks (U+0085 NEL, U+2028,
	 * U+2029), C1 controls and the BOM are printed escaped, so the print reads back. */
	cfg = LOAD("site: \"a\\Nb\\x9fc\\Ld\\Pe\\ufefff\\x85\"\n");
	if (!cfg)
		return;
	CHECK_STR(cfg->site, "a\xc2\x85"
			     "b\xc2\x9f"
			     "c\xe2\x80\xa8"
			     "d\xe2\x80\xa9"
			     "e\xef\xbb\xbf"
			     "f\xc2\x85");
	char *printed = print_to_string(cfg);
	CHECK(printed && strstr(printed, "site: \"a\\x85b\\x9fc\\u2028d\\u2029e\\ufefff\\x85\"\n"));
	free(printed);
	round_trip(cfg, __LINE__);
	config_free(cfg);
}

static const char full_yaml[] =
    "site: plant-1\n"
    "instance: gw1\n"
    "state_dir: /tmp/oeed-state\n"
    "log_level: debug\n"
    "max_clock_skew: 90s\n"
    "record: {file_max: 1MiB, total_max: 10MiB}\n"
    "mqtt:\n"
    "  url: ssl://broker.example:8883\n"
    "  client_id: oeed-gw1\n"
    "  username: oeed\n"
    "  password_file: /etc/oeed/mqtt.secret\n"
    "  qos: 2\n"
    "  clean_session: true\n"
    "  protocol: \"3.1.1\"\n"
    "  keepalive: 1m\n"
    "  reconnect_max: 2m\n"
    "  tls: {ca_file: /etc/ssl/ca.pem, verify: false}\n"
    "  status_topic: oeed/gw1/status\n"
    "  queue_len: 1000\n"
    "sources:\n"
    "  - topic: \"factory/{line}/{machine}/state\"\n"
    "    decoder: text\n"
    "    signal: state\n"
    "    qos: 0\n"
    "    map:\n"
    "      RUNNING: running\n"
    "      0: down/fault\n"
    "      1.50: idle/starved\n"
    "      \"BREAK time\": planned/break\n"
    "      default: unknown\n"
    "  - topic: \"factory/{line}/{machine}/data\"\n"
    "    decoder: json\n"
    "    counts: increments\n"
    "    cycle_counts: true\n"
    "    fields: {total: $.parts, reject: $.scrap, cycle: $.ct, timestamp: $.ts}\n"
    "machines:\n"
    "  list:\n"
    "    - {id: press-01, ideal_cycle_time: 2.5s}\n"
    "    - id: \"42\"\n"
    "      stale_after: 0\n"
    "  defaults: {ideal_cycle_time: 1s, stale_after: 2m, microstop_below: 30s}\n"
    "report:\n"
    "  interval: 5s\n"
    "  windows: [1h, 15m]\n"
    "  timezone: Europe/Berlin\n"
    "  window_buckets: 30\n"
    "  shifts:\n"
    "    - {name: late, start: \"14:00\"}\n"
    "    - {name: night, start: \"22:00\"}\n"
    "    - {name: early, start: \"06:00\"}\n"
    "contracts:\n"
    "  - {name: line2-availability, machines: [\"press-*\"], kpi: availability,\n"
    "     period: month, target: 0.975, minimum: 0.95, unknown: exclude,\n"
    "     planned_reasons: [no_material]}\n"
    "  - name: repair\n"
    "    machines: press-01\n"
    "    kpi: mttr_s\n"
    "    period: 30d\n"
    "    target: 600\n"
    "    minimum: 1800\n"
    "    unknown: down\n"
    "  - name: lenient-cycle\n"
    "    kpi: cycle_p95_s\n"
    "    period: shift\n"
    "    direction: higher\n"
    "    target: 3\n"
    "    minimum: 2.5\n"
    "outputs:\n"
    "  - type: influxdb\n"
    "    url: http://127.0.0.1:8086\n"
    "    database: oeed\n"
    "    retention_policy: autogen\n"
    "    spool_max: 1GiB\n"
    "    gzip: false\n"
    "    create_database: true\n"
    "  - type: file\n"
    "    path: \"-\"\n"
    "  - type: influxdb\n"
    "    url: https://influx.example\n"
    "    api: 2\n"
    "    org: acme\n"
    "    bucket: oee\n"
    "    token_file: /etc/oeed/token\n"
    "    batch_lines: 100\n"
    "    flush_interval: 250ms\n"
    "    timeout: 30s\n"
    "    connect_timeout: 2s\n";

static void test_full(void)
{
	struct oeed_config *cfg = LOAD(full_yaml);
	if (!cfg)
		return;
	CHECK_STR(cfg->instance, "gw1");
	CHECK_STR(cfg->state_dir, "/tmp/oeed-state");
	CHECK_INT(cfg->log_level, LOG_LVL_DEBUG);
	CHECK_INT(cfg->max_clock_skew_ms, 90000);
	CHECK(cfg->record.enabled); /* a record mapping turns recording on */
	CHECK_INT(cfg->record.file_max, 1048576);
	CHECK_INT(cfg->record.total_max, 10485760);

	CHECK_STR(cfg->mqtt.url, "ssl://broker.example:8883");
	CHECK_STR(cfg->mqtt.client_id, "oeed-gw1");
	CHECK_STR(cfg->mqtt.username, "oeed");
	CHECK_STR(cfg->mqtt.password_file, "/etc/oeed/mqtt.secret");
	CHECK_INT(cfg->mqtt.qos, 2);
	CHECK(cfg->mqtt.clean_session);
	CHECK_INT(cfg->mqtt.protocol, 4);
	CHECK_INT(cfg->mqtt.keepalive_ms, 60000);
	CHECK_INT(cfg->mqtt.reconnect_min_ms, 1000);
	CHECK_INT(cfg->mqtt.reconnect_max_ms, 120000);
	CHECK(cfg->mqtt.has_tls);
	CHECK_STR(cfg->mqtt.tls.ca_file, "/etc/ssl/ca.pem");
	CHECK(cfg->mqtt.tls.cert_file == NULL);
	CHECK(!cfg->mqtt.tls.verify);
	CHECK_STR(cfg->mqtt.status_topic, "oeed/gw1/status");
	CHECK_INT(cfg->mqtt.queue_len, 1000);

	CHECK_INT(cfg->n_sources, 2);
	if (cfg->n_sources == 2) {
		const struct oeed_source *s = &cfg->sources[0];
		CHECK_STR(s->topic, "factory/{line}/{machine}/state");
		CHECK_STR(s->decoder, "text");
		CHECK_INT(s->signal, SIG_STATE);
		CHECK_INT(s->qos, 0);
		CHECK(!s->map_numbers);
		CHECK_INT(s->counts, COUNTS_CUMULATIVE);
		CHECK_INT(s->line, 21);
		CHECK_INT(s->column, 5);
		CHECK_INT(s->n_map, 5);
		if (s->n_map == 5) {
			CHECK_STR(s->map[0].raw, "RUNNING");
			CHECK_INT(s->map[0].category, CAT_RUNNING);
			CHECK_STR(s->map[0].reason, "");
			CHECK_STR(s->map[1].raw, "0");
			CHECK_INT(s->map[1].category, CAT_DOWN);
			CHECK_STR(s->map[1].reason, "fault");
			CHECK_STR(s->map[2].raw, "1.50"); /* numbers keep their text */
			CHECK_INT(s->map[2].category, CAT_IDLE);
			CHECK_STR(s->map[2].reason, "starved");
			CHECK_STR(s->map[3].raw, "BREAK time");
			CHECK_INT(s->map[3].category, CAT_PLANNED);
			CHECK_STR(s->map[3].reason, "break");
			CHECK_STR(s->map[4].raw, "default");
			CHECK_INT(s->map[4].category, CAT_UNKNOWN);
		}
		s = &cfg->sources[1];
		CHECK_STR(s->decoder, "json");
		CHECK_INT(s->signal, SIG_NONE);
		CHECK_INT(s->qos, 2); /* resolved from mqtt.qos */
		CHECK_INT(s->counts, COUNTS_INCREMENTS);
		CHECK(s->cycle_counts);
		CHECK_INT(s->n_map, 0);
		CHECK_STR(s->fields[SIG_TOTAL], "$.parts");
		CHECK_STR(s->fields[SIG_REJECT], "$.scrap");
		CHECK_STR(s->fields[SIG_CYCLE], "$.ct");
		CHECK_STR(s->fields[SIG_TIMESTAMP], "$.ts");
		CHECK(s->fields[SIG_STATE] == NULL);
		CHECK(s->fields[SIG_GOOD] == NULL);
	}

	/* listed machines start from the defaults, even when defaults come after the list */
	CHECK_INT(cfg->machines.n_list, 2);
	CHECK_INT(cfg->machines.max, 102);
	CHECK_INT(cfg->machines.defaults.ideal_cycle_ms, 1000);
	CHECK_INT(cfg->machines.defaults.stale_after_ms, 120000);
	CHECK_INT(cfg->machines.defaults.microstop_below_ms, 30000);
	const struct oeed_machine_conf *mc = config_machine(cfg, "press-01");
	CHECK(mc != NULL);
	if (mc) {
		CHECK_INT(mc->ideal_cycle_ms, 2500);
		CHECK_INT(mc->stale_after_ms, 120000);
		CHECK_INT(mc->microstop_below_ms, 30000);
		CHECK_INT(mc->line, 38);
	}
	mc = config_machine(cfg, "42");
	CHECK(mc != NULL);
	if (mc) {
		CHECK_INT(mc->ideal_cycle_ms, 1000);
		CHECK_INT(mc->stale_after_ms, 0);
	}
	CHECK(config_machine(cfg, "press-02") == NULL);

	CHECK_INT(cfg->report.interval_ms, 5000);
	CHECK_INT(cfg->report.n_windows, 2);
	CHECK_INT(cfg->report.windows_ms[0], 3600000);
	CHECK_INT(cfg->report.windows_ms[1], 900000);
	CHECK_STR(cfg->report.timezone, "Europe/Berlin");
	CHECK_INT(cfg->report.window_buckets, 30);
	CHECK(cfg->report.periods[PERIOD_SHIFT]); /* default periods include shift now */
	CHECK(cfg->report.periods[PERIOD_DAY]);
	CHECK(!cfg->report.periods[PERIOD_WEEK]);
	CHECK(cfg->report.periods[PERIOD_MONTH]);
	CHECK_INT(cfg->report.n_shifts, 3);
	if (cfg->report.n_shifts == 3) { /* sorted by start */
		CHECK_STR(cfg->report.shifts[0].name, "early");
		CHECK_INT(cfg->report.shifts[0].start_min, 360);
		CHECK_STR(cfg->report.shifts[1].name, "late");
		CHECK_INT(cfg->report.shifts[1].start_min, 840);
		CHECK_STR(cfg->report.shifts[2].name, "night");
		CHECK_INT(cfg->report.shifts[2].start_min, 1320);
	}

	CHECK_INT(cfg->n_contracts, 3);
	if (cfg->n_contracts == 3) {
		const struct oeed_contract *c = &cfg->contracts[0];
		CHECK_STR(c->name, "line2-availability");
		CHECK_INT(c->n_machines, 1);
		CHECK_STR(c->machines[0], "press-*");
		CHECK_INT(c->kpi, KPI_AVAILABILITY);
		CHECK(!c->rolling);
		CHECK_INT(c->period, PERIOD_MONTH);
		CHECK_NEAR(c->target, 0.975, 1e-12);
		CHECK_NEAR(c->minimum, 0.95, 1e-12);
		CHECK(c->higher_is_better);
		CHECK_INT(c->unknown, UNKNOWN_EXCLUDE);
		CHECK_INT(c->n_planned_reasons, 1);
		CHECK_STR(c->planned_reasons[0], "no_material");
		c = &cfg->contracts[1];
		CHECK_STR(c->machines[0], "press-01"); /* a string stands for a list of one */
		CHECK_INT(c->kpi, KPI_MTTR);
		CHECK(c->rolling);
		CHECK_INT(c->rolling_ms, 30LL * 86400 * 1000);
		CHECK(!c->higher_is_better); /* from the KPI */
		CHECK_INT(c->unknown, UNKNOWN_AS_DOWN);
		CHECK_NEAR(c->target, 600, 0);
		CHECK_NEAR(c->minimum, 1800, 0);
		c = &cfg->contracts[2];
		CHECK_INT(c->n_machines, 1);
		CHECK_STR(c->machines[0], "*"); /* no machines: all of them */
		CHECK_INT(c->period, PERIOD_SHIFT);
		CHECK(c->higher_is_better); /* explicit direction beats the KPI's */
		CHECK_INT(c->n_planned_reasons, 0);
	}

	CHECK_INT(cfg->n_outputs, 3);
	if (cfg->n_outputs == 3) {
		const struct oeed_output_conf *o = &cfg->outputs[0];
		CHECK_INT(o->type, OUTPUT_INFLUXDB);
		CHECK_STR(o->name, "influxdb-1");
		CHECK_INT(o->api, 1);
		CHECK_STR(o->database, "oeed");
		CHECK_STR(o->retention_policy, "autogen");
		CHECK_STR(o->precision, "ms");
		CHECK_INT(o->batch_lines, 5000);
		CHECK_INT(o->flush_interval_ms, 1000);
		CHECK_INT(o->spool_max, 1073741824);
		CHECK(!o->gzip);
		CHECK(o->create_database);
		CHECK_INT(o->timeout_ms, 10000);
		CHECK_INT(o->connect_timeout_ms, 5000);
		CHECK(o->verify);
		o = &cfg->outputs[1];
		CHECK_INT(o->type, OUTPUT_FILE);
		CHECK_STR(o->name, "file-1");
		CHECK_STR(o->path, "-");
		o = &cfg->outputs[2];
		CHECK_STR(o->name, "influxdb-2");
		CHECK_INT(o->api, 2);
		CHECK_STR(o->org, "acme");
		CHECK_STR(o->bucket, "oee");
		CHECK_STR(o->token_file, "/etc/oeed/token");
		CHECK_INT(o->batch_lines, 100);
		CHECK_INT(o->flush_interval_ms, 250);
		CHECK_INT(o->timeout_ms, 30000);
		CHECK_INT(o->connect_timeout_ms, 2000);
		CHECK_INT(o->spool_max, 256 * 1024 * 1024);
	}

	char *text = print_to_string(cfg);
	CHECK(text != NULL);
	if (text) {
		/* secrets are files; the printed config names them and nothing else */
		CHECK(strstr(text, "password_file: /etc/oeed/mqtt.secret\n") != NULL);
		CHECK(strstr(text, "      \"BREAK time\": planned/break\n") != NULL);
		CHECK(strstr(text, "      \"0\": down/fault\n") == NULL);
		CHECK(strstr(text, "      0: down/fault\n") != NULL);
		CHECK(strstr(text, "    machines: [\"press-*\"]\n") != NULL);
		CHECK(strstr(text, "    period: 30d\n") != NULL);
		CHECK(strstr(text, "    target: 0.975\n") != NULL);
		CHECK(strstr(text, "  windows: [1h, 15m]\n") != NULL);
		CHECK(strstr(text, "  periods: [shift, day, month]\n") != NULL);
		CHECK(strstr(text, "      start: \"06:00\"\n") != NULL);
		CHECK(strstr(text, "    path: \"-\"\n") != NULL);
		CHECK(strstr(text, "  protocol: 4\n") != NULL);
		free(text);
	}
	round_trip(cfg, __LINE__);
	config_free(cfg);

	/* MQTT 5 spelled as a number, protocol and api variants */
	cfg = LOAD("mqtt: {protocol: 5, session_expiry: 1h}\n"
		   "record: true\n"
		   "outputs:\n  - {type: influxdb, url: \"http://[::1]:8086\", api: v2, org: o, "
		   "bucket: b}\n");
	if (cfg) {
		CHECK_INT(cfg->mqtt.protocol, 5);
		CHECK_INT(cfg->mqtt.session_expiry_ms, 3600000);
		CHECK(cfg->record.enabled);
		CHECK_INT(cfg->outputs[0].api, 2);
		CHECK(cfg->outputs[0].token_file == NULL);
		round_trip(cfg, __LINE__);
		config_free(cfg);
	}
	cfg = LOAD("record: {enabled: false, file_max: 64KiB}\n");
	if (cfg) {
		CHECK(!cfg->record.enabled);
		CHECK_INT(cfg->record.file_max, 65536);
		config_free(cfg);
	}
	/* anchors and aliases are plain YAML and work */
	cfg = LOAD("machines:\n  defaults: &d {ideal_cycle_time: 3s}\n  list:\n"
		   "    - {id: a, ideal_cycle_time: 4s}\n");
	if (cfg) {
		CHECK_INT(cfg->machines.list[0].ideal_cycle_ms, 4000);
		config_free(cfg);
	}
}

static void test_files(void)
{
	/* meson runs unit tests in tests/; from the source root the file is one level down */
	const char *example =
	    access("config/oeed.yaml", R_OK) == 0 ? "config/oeed.yaml" : "../config/oeed.yaml";
	struct oeed_config *cfg = NULL;
	struct oeed_error err;
	int r = config_load(example, &cfg, &err);
	CHECK_INT(r, 0);
	if (r < 0) {
		fprintf(stderr, "  %s\n", err.msg);
	} else {
		CHECK_STR(cfg->path, example);
		CHECK_STR(cfg->state_dir, "/var/lib/oeed");
		CHECK_STR(cfg->mqtt.url, "tcp://127.0.0.1:1883");
		CHECK(cfg->n_sources >= 1);
		CHECK(cfg->n_outputs >= 1);
		round_trip(cfg, __LINE__);
	}
	config_free(cfg);

	cfg = NULL;
	r = config_load("tests/configs/does-not-exist.yaml", &cfg, &err);
	CHECK_INT(r, -ENOENT);
	CHECK(cfg == NULL);
	CHECK_STR(err.msg, "tests/configs/does-not-exist.yaml: cannot read: No such file or "
			   "directory");
	r = config_load(".", &cfg, &err);
	CHECK_INT(r, -EISDIR);
	CHECK_STR(err.msg, ".: cannot read: Is a directory");
	config_free(NULL);
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* Loads DIR/oeed.yaml; expect NULL: must load, else the error with DIR replaced by "D". */
static struct oeed_config *load_dir(const char *dir, const char *expect, int line)
{
	char path[512], msg[OEED_ERR_MAX + 64];
	struct oeed_config *cfg = NULL;
	struct oeed_error err;
	int failed = test_failed_checks;
	snprintf(path, sizeof(path), "%s/oeed.yaml", dir);
	int r = config_load(path, &cfg, &err);
	if (!expect) {
		CHECK_INT(r, 0);
		if (r < 0)
			fprintf(stderr, "  %s\n", err.msg);
	} else {
		CHECK_INT(r, -EINVAL);
		/* the temporary directory stands as "D" */
		size_t dl = strlen(dir), o = 0;
		for (const char *p = err.msg; *p && o + 2 < sizeof(msg);) {
			if (strncmp(p, dir, dl) == 0) {
				msg[o++] = 'D';
				p += dl;
			} else {
				msg[o++] = *p++;
			}
		}
		msg[o] = '\0';
		CHECK_STR(msg, expect);
	}
	if (test_failed_checks != failed)
		fprintf(stderr, "  (the conf.d case at line %d)\n", line);
	return cfg;
}

/* conf.d: sources, machines.list, contracts and outputs append in name order; everything
 * else set twice names both places; errors name the included file. */
static void test_conf_d(void)
{
	char dir[] = "/tmp/oeed-test-confd-XXXXXX";
	char sub[600];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(sub, sizeof(sub), "%s/conf.d", dir);
	CHECK(mkdir(sub, 0700) == 0);
	put(dir, "oeed.yaml",
	    "include: conf.d/*.yaml\n"
	    "sources:\n  - {topic: \"a/{machine}/s\", decoder: text, signal: state}\n"
	    "machines:\n  list: [{id: m1}]\n  defaults: {stale_after: 5m}\n");
	put(sub, "20-line2.yaml",
	    "sources:\n  - {topic: \"c/{machine}/s\", decoder: text, signal: state}\n"
	    "contracts:\n  - {name: c2, kpi: availability, period: day, target: 0.9, "
	    "minimum: 0.8}\n");
	put(sub, "10-line1.yaml",
	    "sources:\n  - {topic: \"b/{machine}/s\", decoder: text, signal: state}\n"
	    "machines:\n  list: [{id: m2, ideal_cycle_time: 2s}]\n"
	    "outputs:\n  - {type: file, path: x.lp}\n");
	put(sub, "README", "not yaml: [\n"); /* not *.yaml: not read */
	struct oeed_config *cfg = load_dir(dir, NULL, __LINE__);
	if (cfg) {
		CHECK_INT(cfg->n_sources, 3);
		if (cfg->n_sources == 3) {
			CHECK_STR(cfg->sources[0].topic, "a/{machine}/s");
			CHECK_STR(cfg->sources[1].topic, "b/{machine}/s"); /* 10- before 20- */
			CHECK_STR(cfg->sources[2].topic, "c/{machine}/s");
		}
		CHECK_INT(cfg->machines.n_list, 2);
		if (cfg->machines.n_list == 2) {
			CHECK_STR(cfg->machines.list[1].id, "m2");
			/* defaults apply to listed machines of every file */
			CHECK_INT(cfg->machines.list[1].stale_after_ms, 5 * 60000);
			CHECK_INT(cfg->machines.list[1].ideal_cycle_ms, 2000);
		}
		CHECK_INT(cfg->machines.max, 102);
		CHECK_INT(cfg->n_contracts, 1);
		CHECK_INT(cfg->n_outputs, 1);
		CHECK_INT(cfg->n_files, 3);
		const struct oeed_config_pos *pos = config_where(cfg, "contracts[0].target");
		CHECK(pos != NULL);
		if (pos) {
			CHECK(strstr(pos->file, "conf.d/20-line2.yaml") != NULL);
			CHECK_INT(pos->line, 4);
		}
		pos = config_where(cfg, "sources[1].topic");
		CHECK(pos && strstr(pos->file, "conf.d/10-line1.yaml") && pos->line == 2);
		char *text = print_to_string(cfg);
		CHECK(text && strstr(text, "# included: ") && strstr(text, "10-line1.yaml"));
		free(text);
		config_free(cfg);
	}

	/* a key other than the lists, set in two files */
	put(sub, "30-report.yaml", "report:\n  interval: 1s\n");
	put(dir, "oeed.yaml", "include: conf.d/*.yaml\nreport: {interval: 5s}\n");
	load_dir(dir, "D/conf.d/30-report.yaml:2:3: report: set twice: here and at D/oeed.yaml:2:9",
		 __LINE__);
	put(dir, "oeed.yaml", "include: conf.d/*.yaml\nmachines: {max: 10}\n");
	put(sub, "30-report.yaml", "machines: {max: 20}\n");
	load_dir(dir,
		 "D/conf.d/30-report.yaml:1:17: machines.max: set twice: here and at "
		 "D/oeed.yaml:2:17",
		 __LINE__);
	/* an error in an included file names that file */
	put(sub, "30-report.yaml", "outputs:\n  - {type: file}\n");
	load_dir(dir, "D/conf.d/30-report.yaml:2:5: outputs[1]: missing key 'path'", __LINE__);
	put(sub, "30-report.yaml", "include: more/*.yaml\n");
	load_dir(dir,
		 "D/conf.d/30-report.yaml:1:10: include: only the main file may include others "
		 "(D/conf.d/30-report.yaml does)",
		 __LINE__);
	BAD("include: conf.d/*.yaml\n",
	    "t.yaml:1:10: include: include needs a config file (its directory)");

	/* an include that matches nothing is an empty conf.d */
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -f %s/*.yaml", sub);
	CHECK(system(cmd) == 0);
	put(dir, "oeed.yaml", "include: conf.d/*.yaml\n");
	cfg = load_dir(dir, NULL, __LINE__);
	CHECK(cfg && cfg->n_files == 1);
	config_free(cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	test_enums();
	test_bad_file_level();
	test_bad_mqtt();
	test_bad_sources();
	test_bad_machines_report();
	test_bad_contracts_outputs();
	test_defaults();
	test_full();
	test_files();
	test_conf_d();
	TEST_END();
}
