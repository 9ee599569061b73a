/* fleet.h - `oeed report --from URL`: a contract over machines of any number of gateways,
 * from the final period records (machine_kpi, final=true) they wrote to one store. Reads
 * the records of one period from InfluxDB 1.x (/query, with a database) or VictoriaMetrics
 * (/api/v1/export), turns each back into the machine's accumulator and pools them with the
 * engine's own contract evaluation (core/pool.h), so the figure is the one a single daemon
 * seeing every machine computes. Prints the contract, and per instance (gateway) its machines,
 * coverage and the SHA-256 of the records it contributed. A machine with records from two
 * instances is claimed twice: it is named, left out of the pool, and the exit code says so.
 *
 *   oeed report -c CFG --contract NAME --period LABEL --from URL [--db NAME]
 */
#pragma once
#include <stdio.h>
#include "config.h"

/* The exit code when a machine is claimed by more than one instance. */
#define FLEET_EXIT_CLAIMED 3

struct fleet_query {
	const char *url;   /* http://host:port of InfluxDB or VictoriaMetrics (vmselect) */
	const char *db;	   /* InfluxDB database; NULL: the store is VictoriaMetrics */
	const char *label; /* the period's label as given, for the heading */
	oeed_ms pstart, pend;
};

/* Writes the report to out. Returns an exit code (app.h; FLEET_EXIT_CLAIMED). */
int fleet_report(const struct oeed_contract *c, const struct fleet_query *q, FILE *out);
