/* main.c - the command line (docs/oeed.8): options, then one of the commands.
 *
 *   oeed [-c FILE]                 run the daemon (daemon.c)
 *   oeed -c FILE --check-config    validate, pre-flight (preflight.c), print the effective
 *                                  config and memory budget
 *   oeed replay -c FILE REC...     recompute everything from recordings to stdout (replay.c)
 *   oeed report ...                a contract's evidence for one period (report.c)
 *   oeed status [--json]           the running daemon's live view (status.c) */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "app.h"
#include "config.h"
#include "engine.h"
#include "log.h"
#include "pipeline.h"
#include "preflight.h"
#include "report.h"
#include "status.h"
#include "rxqueue.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage:\n"
		"  oeed [-c FILE]                  run the daemon (default " DEFAULT_CONFIG ")\n"
		"  oeed -c FILE --check-config     validate and pre-flight (files, state_dir, "
		"URLs);\n"
		"                                  print the effective config and its memory "
		"budget\n"
		"        --as-service[=GROUP,...]  as root: check the files as the unit's user "
		"would\n"
		"                                  (uid/gid 65534, only the groups given)\n"
		"  oeed replay -c FILE REC...      recompute everything from recordings (files or "
		"directories),\n"
		"                                  line protocol to stdout (--no-output: compute\n"
		"                                  everything, write nothing: for benchmarks)\n"
		"                                  --by-event-time: every event at its own time\n"
		"                                  (however late it came) and the open periods\n"
		"                                  final at the end\n"
		"  oeed report -c FILE --contract NAME --period LABEL [--html FILE] REC...\n"
		"                                  a contract's evidence for one period (LABEL:\n"
		"                                  2026-10, 2026-W43, 2026-10-25, \"2026-10-25 "
		"night\")\n"
		"  oeed status [--json] [--socket PATH] [-c FILE]\n"
		"                                  the running daemon's machines (state, since "
		"when),\n"
		"                                  KPIs, contracts and outputs\n"
		"  oeed report -c FILE --contract NAME --period LABEL --from URL [--db NAME]\n"
		"                                  the same from the final records of several\n"
		"                                  gateways in InfluxDB (--db) or VictoriaMetrics\n"
		"  oeed --version | --help\n"
		"Signals: SIGHUP reloads the config, SIGTERM/SIGINT flush and stop.\n"
		"Exit codes: 0 ok, 1 bad config or usage, 2 runtime failure.\n");
}

/* Builds everything the daemon would from the config (not the network) and runs the
 * pre-flight checks: what fails here would fail at start. */
static int check_config(const char *path, const struct preflight_opts *opts)
{
	struct oeed_config *cfg;
	struct pipeline *p;
	struct oeed_error err = {{0}};
	struct preflight_counts n = {0};
	if (config_load(path, &cfg, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return EXIT_CONFIG;
	}
	if (pipeline_new(cfg, NULL, NULL, &p, &err) < 0) {
		fprintf(stderr, "%s: %s\n", path, err.msg);
		config_free(cfg);
		return EXIT_CONFIG;
	}
	pipeline_free(p);
	if (preflight_run(cfg, opts, stderr, &n, &err) < 0) {
		fprintf(stderr, "oeed: %s\n", err.msg);
		config_free(cfg);
		return EXIT_RUNTIME;
	}
	if (n.errors) {
		fprintf(stderr, "oeed: %s: %u error%s, %u warning%s: oeed would not start\n", path,
			n.errors, n.errors == 1 ? "" : "s", n.warnings, n.warnings == 1 ? "" : "s");
		config_free(cfg);
		return EXIT_CONFIG;
	}
	config_print(cfg, stdout);
	size_t per = engine_bytes_per_machine(cfg), total = engine_bytes_total(cfg);
	printf("# memory budget: %zu bytes per machine, %zu machines max, %.1f MiB engine "
	       "state in total\n",
	       per, cfg->machines.max, (double)total / 1048576.0);
	unsigned late_events;
	size_t late = engine_lateness_bytes(cfg, &late_events);
	printf("# of which late events: %zu bytes per machine (%u state events, %d samples per "
	       "counter)\n",
	       late, late_events, late_events ? 8 : 0);
	/* The receive queue's index and byte ring (rxqueue.h): an upper bound, touched only as
	 * deep as a backlog reaches. */
	double queue =
	    (double)cfg->mqtt.queue_len * RXQUEUE_ENTRY_BYTES + (double)cfg->mqtt.queue_bytes;
	printf("# memory budget: receive queue up to %.1f MiB (mqtt.queue_len %zu, "
	       "mqtt.queue_bytes %.1f MiB)\n",
	       queue / 1048576.0, cfg->mqtt.queue_len, (double)cfg->mqtt.queue_bytes / 1048576.0);
	if (n.warnings)
		printf("# config OK, %u warning%s (on stderr)\n", n.warnings,
		       n.warnings == 1 ? "" : "s");
	else
		printf("# config OK\n");
	config_free(cfg);
	return EXIT_OK;
}

/* "--as-service=oeed-secrets,ssl-cert": the emulated service user's supplementary groups
 * (what the unit gives with SupplementaryGroups=). */
static int parse_groups(const char *list, struct preflight_opts *opts)
{
	char buf[512];
	char *save = NULL;
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *g = strtok_r(buf, ",", &save); g; g = strtok_r(NULL, ",", &save)) {
		struct group *gr = getgrnam(g);
		char *end;
		unsigned long id = strtoul(g, &end, 10);
		if (!gr && (*end || end == g)) {
			fprintf(stderr, "oeed: --as-service: unknown group '%s'\n", g);
			return -EINVAL;
		}
		if (opts->n_groups == PREFLIGHT_MAX_GROUPS) {
			fprintf(stderr, "oeed: --as-service: more than %d groups\n",
				PREFLIGHT_MAX_GROUPS);
			return -EINVAL;
		}
		opts->groups[opts->n_groups++] = gr ? gr->gr_gid : (gid_t)id;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *cfg_path = DEFAULT_CONFIG;
	bool check = false, replay = false, no_output = false, event_time = false;
	struct preflight_opts pf = {0};
	int argi = 1;
	log_init();
	if (argc > 1 && strcmp(argv[1], "report") == 0)
		return report_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "status") == 0)
		return status_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "replay") == 0) {
		replay = true;
		argi = 2;
	}
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},  {"check-config", no_argument, NULL, 'k'},
	    {"version", no_argument, NULL, 'V'},       {"no-output", no_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},	       {"as-service", optional_argument, NULL, 's'},
	    {"by-event-time", no_argument, NULL, 'e'}, {NULL, 0, NULL, 0}};
	optind = argi;
	int o;
	while ((o = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			cfg_path = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 'n':
			no_output = true;
			break;
		case 's':
			pf.as_service = true;
			if (optarg && parse_groups(optarg, &pf) < 0)
				return EXIT_CONFIG;
			break;
		case 'e':
			event_time = true;
			break;
		case 'V':
			printf("oeed %s\n", OEED_VERSION);
			return EXIT_OK;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_CONFIG;
		}
	}
	if (pf.as_service && !check) {
		fprintf(stderr, "oeed: --as-service goes with --check-config\n");
		usage(stderr);
		return EXIT_CONFIG;
	}
	if (check)
		return check_config(cfg_path, &pf);
	if (replay) {
		if (optind >= argc) {
			fprintf(stderr, "oeed replay: no recordings given\n");
			usage(stderr);
			return EXIT_CONFIG;
		}
		return replay_main(cfg_path, argv + optind, argc - optind, no_output, event_time);
	}
	if (optind < argc) {
		fprintf(stderr, "oeed: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_CONFIG;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "oeed: curl_global_init failed\n");
		return EXIT_RUNTIME;
	}
	int rc = daemon_main(cfg_path);
	curl_global_cleanup();
	return rc;
}
