/* main.c - the command line (docs/oeed.8): options, then one of the commands.
 *
 *   oeed [-c FILE]                 run the daemon (daemon.c)
 *   oeed -c FILE --check-config    validate, print the effective config and memory budget
 *   oeed replay -c FILE REC...     recompute everything from recordings to stdout (replay.c)
 *   oeed report ...                a contract's evidence for one period (report.c) */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "app.h"
#include "config.h"
#include "engine.h"
#include "log.h"
#include "pipeline.h"
#include "report.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage:\n"
		"  oeed [-c FILE]                  run the daemon (default " DEFAULT_CONFIG ")\n"
		"  oeed -c FILE --check-config     validate; print the effective config and its "
		"memory budget\n"
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
		"  oeed --version | --help\n"
		"Signals: SIGHUP reloads the config, SIGTERM/SIGINT flush and stop.\n"
		"Exit codes: 0 ok, 1 bad config or usage, 2 runtime failure.\n");
}

/* Builds everything the daemon would from the config (not the network): what fails here
 * would fail at start. */
static int check_config(const char *path)
{
	struct oeed_config *cfg;
	struct pipeline *p;
	struct oeed_error err = {{0}};
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
	printf("# config OK\n");
	config_free(cfg);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	const char *cfg_path = DEFAULT_CONFIG;
	bool check = false, replay = false, no_output = false, event_time = false;
	int argi = 1;
	log_init();
	if (argc > 1 && strcmp(argv[1], "report") == 0)
		return report_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "replay") == 0) {
		replay = true;
		argi = 2;
	}
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
					     {"check-config", no_argument, NULL, 'k'},
					     {"version", no_argument, NULL, 'V'},
					     {"no-output", no_argument, NULL, 'n'},
					     {"help", no_argument, NULL, 'h'},
					     {"by-event-time", no_argument, NULL, 'e'},
					     {NULL, 0, NULL, 0}};
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
	if (check)
		return check_config(cfg_path);
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
