/* report.h - `oeed report`: the evidence a service manager brings to the customer for one
 * contract and one calendar period, recomputed from the recordings by the same engine as the
 * daemon: the contract's value against target and minimum, its daily (or per-shift) series,
 * coverage, every failure, downtime by reason, each machine's times, and the SHA-256 of the
 * config and of every recording so the other party can check it used the same inputs.
 *
 *   oeed report -c CFG --contract NAME --period LABEL [--html FILE] REC...
 *
 * LABEL names a period of the contract's kind: "2026-10" (month), "2026-W43" (week),
 * "2026-10-25" (day), "2026-10-25 night" (shift). */
#pragma once
#include <stdint.h>
#include "config.h"
#include "engine.h"

/* `oeed report ...` with argv[0] == "report". Returns the exit code: 0, 1 (usage or config),
 * 2 (runtime failure). */
int report_main(int argc, char **argv);
