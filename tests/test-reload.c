/* Unit tests for the reload plan (daemon/app/reload.h): which subsystems a changed config
 * rebuilds, section by section, with configs as an operator writes them (no client_id, so the
 * default from the hostname applies on both sides). */
#include <stdlib.h>

#include "config.h"
#include "reload.h"
#include "testutil.h"

#define BASE                                                                                       \
	"state_dir: /tmp/oeed-test\n"                                                              \
	"log_level: info\n"                                                                        \
	"mqtt:\n"                                                                                  \
	"  url: tcp://127.0.0.1:1883\n"                                                            \
	"  keepalive: 30s\n"                                                                       \
	"sources:\n"                                                                               \
	"  - topic: factory/{machine}/state\n"                                                     \
	"    decoder: text\n"                                                                      \
	"    signal: state\n"                                                                      \
	"outputs:\n"                                                                               \
	"  - type: file\n"                                                                         \
	"    path: /tmp/oeed-test/out.lp\n"                                                        \
	"contracts:\n"                                                                             \
	"  - name: avail\n"                                                                        \
	"    machines: [\"*\"]\n"                                                                  \
	"    kpi: availability\n"                                                                  \
	"    period: month\n"                                                                      \
	"    target: 0.975\n"                                                                      \
	"    minimum: 0.95\n"

static struct oeed_config *load(const char *yaml, int line)
{
	struct oeed_config *cfg = NULL;
	struct oeed_error err;
	if (config_load_string("t.yaml", yaml, strlen(yaml), &cfg, &err) < 0) {
		fprintf(stderr, "config at line %d: %s\n", line, err.msg);
		exit(1);
	}
	return cfg;
}

/* BASE with one line replaced (`from` must occur in it). */
static struct oeed_config *variant(const char *from, const char *to, int line)
{
	char buf[4096];
	const char *base = BASE, *at = strstr(base, from);
	if (!at) {
		fprintf(stderr, "line %d: '%s' is not in BASE\n", line, from);
		exit(1);
	}
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - base), base, to, at + strlen(from));
	return load(buf, line);
}

static void expect(const char *from, const char *to, bool pipeline, bool mqtt, bool outputs,
		   int line)
{
	struct oeed_config *a = load(BASE, line), *b = variant(from, to, line);
	struct reload_plan p;
	int failed = test_failed_checks;
	reload_plan(a, a, a, b, &p);
	CHECK_INT(p.pipeline, pipeline);
	CHECK_INT(p.mqtt, mqtt);
	CHECK_INT(p.outputs, outputs);
	if (test_failed_checks != failed)
		fprintf(stderr, "  (replacing '%s' by '%s', line %d)\n", from, to, line);
	config_free(a);
	config_free(b);
}

#define EXPECT(from, to, pipe, mq, out) expect((from), (to), (pipe), (mq), (out), __LINE__)

int main(void)
{
	/* The same file: nothing restarts, also without a client_id (the default is resolved at
	 * load, identically both times). */
	struct oeed_config *a = load(BASE, __LINE__), *b = load(BASE, __LINE__);
	struct reload_plan p;
	CHECK(a->mqtt.client_id != NULL && strncmp(a->mqtt.client_id, "oeed-", 5) == 0);
	CHECK(a->instance != NULL && a->instance[0] != '\0');
	reload_plan(a, a, a, b, &p);
	CHECK(!p.pipeline && !p.mqtt && !p.outputs);

	/* A subsystem that is not running is rebuilt whatever changed. */
	reload_plan(NULL, a, a, b, &p);
	CHECK(p.pipeline && !p.mqtt && !p.outputs);
	reload_plan(a, NULL, a, b, &p);
	CHECK(!p.pipeline && p.mqtt && !p.outputs);
	reload_plan(a, a, NULL, b, &p);
	CHECK(!p.pipeline && !p.mqtt && p.outputs);

	/* Each subsystem is compared with the config it runs on, not with the newest one: the
	 * outputs of an older config (a failed reopen) are reopened although the newest config
	 * the daemon accepted has the same outputs as `b`. */
	struct oeed_config *old_out = variant("/tmp/oeed-test/out.lp", "/tmp/oeed-test/o.lp", 0);
	reload_plan(a, a, old_out, b, &p);
	CHECK(!p.pipeline && !p.mqtt && p.outputs);
	config_free(old_out);

	/* Counted references: the config lives while a subsystem holds it. */
	CHECK_INT(a->refs, 1);
	struct oeed_config *held = config_ref(a);
	CHECK(held == a);
	CHECK_INT(a->refs, 2);
	config_free(a);
	CHECK_INT(held->refs, 1);
	CHECK_STR(held->state_dir, "/tmp/oeed-test");
	config_free(held);
	config_free(b);

	/* in place: nothing restarts */
	EXPECT("log_level: info", "log_level: debug", false, false, false);
	/* outputs */
	EXPECT("/tmp/oeed-test/out.lp", "/tmp/oeed-test/other.lp", false, false, true);
	EXPECT("  - type: file\n", "  - type: file\n    name: local\n", false, false, true);
	/* mqtt */
	EXPECT("keepalive: 30s", "keepalive: 10s", false, true, false);
	EXPECT("url: tcp://127.0.0.1:1883", "url: tcp://127.0.0.1:1884", false, true, false);
	EXPECT("mqtt:\n", "mqtt:\n  client_id: gw-7\n", false, true, false);
	EXPECT("mqtt:\n", "mqtt:\n  password_file: /etc/oeed/mqtt.secret\n", false, true, false);
	EXPECT("log_level: info\n", "log_level: info\nrecord:\n  enabled: true\n", false, true,
	       false);
	/* state_dir: the recording (with the client) and the spools (with the outputs) */
	EXPECT("state_dir: /tmp/oeed-test", "state_dir: /tmp/oeed-other", false, true, true);
	/* the pipeline: sources, subscriptions' QoS, machines, report, contracts, site */
	EXPECT("factory/{machine}/state", "plant/{machine}/state", true, false, false);
	EXPECT("mqtt:\n", "mqtt:\n  qos: 0\n", true, false, false);
	EXPECT("log_level: info\n", "log_level: info\nsite: plant-1\n", true, false, false);
	EXPECT("target: 0.975", "target: 0.98", true, false, false);
	EXPECT("machines: [\"*\"]", "machines: [\"press-*\"]", true, false, false);
	EXPECT("log_level: info\n", "log_level: info\nreport:\n  interval: 5s\n", true, false,
	       false);
	EXPECT("log_level: info\n", "log_level: info\nmachines:\n  max: 50\n", true, false, false);
	EXPECT("    signal: state\n", "    signal: state\n    map:\n      RUN: running\n", true,
	       false, false);
	/* both */
	EXPECT("keepalive: 30s\n", "keepalive: 10s\n  qos: 0\n", true, true, false);
	TEST_END();
}
