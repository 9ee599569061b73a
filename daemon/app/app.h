/* app.h - what the app layer's commands share: exit codes and the commands themselves.
 * The app layer (this folder) is thin: it parses the command line, builds the subsystems
 * from a config and wires them together; every computation is below it. */
#pragma once
#include <stdbool.h>

enum { EXIT_OK = 0, EXIT_CONFIG = 1, EXIT_RUNTIME = 2 };

#define DEFAULT_CONFIG "/etc/oeed/oeed.yaml"

/* oeed [-c FILE]: the live daemon (daemon.c). */
int daemon_main(const char *cfg_path);
/* oeed replay -c FILE REC...: everything recomputed from recordings to stdout (replay.c). */
int replay_main(const char *cfg_path, char *const *recs, int n_recs, bool discard,
		bool by_event_time);
