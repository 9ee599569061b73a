/* preflight.h - the checks `oeed --check-config` makes after the loader, so that what would
 * fail at start fails here, with the place of the key:
 *
 *   errors:   every file the config names is opened and read (secrets through secret.h, TLS
 *             files, the time zone), state_dir can be written, the URLs parse (libcurl's URL
 *             API). "FILE:LINE:COLUMN: key.path: what was wrong (what is allowed)", or
 *             "FILE: key.path (default VALUE): ..." for a key the file does not give.
 *   warnings: a config that loads but will not do what was meant: no outputs, a contract
 *             machine pattern that matches no listed machine, two sources whose topics can
 *             match the same message. "FILE:LINE:COLUMN: warning: key.path: ...".
 *
 * "As the service": the unit runs oeed with DynamicUser=yes, an unprivileged user that owns
 * no file and is in no group. Run by the unit's ExecStartPre= the checks already run as that
 * user. Run as root with as_service, the file checks run in a child that dropped to uid and
 * gid 65534 (nobody) without supplementary groups (plus `groups`, for files made readable
 * through the unit's SupplementaryGroups=). Credentials (credential:NAME) are read by systemd
 * as root before the service starts, so those are read as the caller, as is state_dir when it
 * is the unit's StateDirectory (/var/lib/oeed), which systemd hands to the service user.
 * Findings are written to `out`, one line each. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "config.h"
#include "util.h"

/* The uid and gid the as-service emulation drops to. */
#define PREFLIGHT_SERVICE_ID 65534
/* The unit's StateDirectory=oeed. */
#define PREFLIGHT_UNIT_STATE_DIR "/var/lib/oeed"
#define PREFLIGHT_MAX_GROUPS	 16

struct preflight_opts {
	bool as_service;
	gid_t groups[PREFLIGHT_MAX_GROUPS]; /* supplementary groups of the emulated service user */
	size_t n_groups;
};

struct preflight_counts {
	unsigned errors, warnings;
};

/* Runs every check. Returns 0 with *ret (the findings are on `out`), or -errno when the
 * as-service child could not be started or could not drop its privileges (err says why). */
int preflight_run(const struct oeed_config *cfg, const struct preflight_opts *opts, FILE *out,
		  struct preflight_counts *ret, struct oeed_error *err);

/* True when some topic matches both MQTT filters ("a/+/#" and "a/b"); then `example` holds
 * one such topic (wildcard levels filled with "x"). */
bool preflight_filters_overlap(const char *a, const char *b, char *example, size_t len);
