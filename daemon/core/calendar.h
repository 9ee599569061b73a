/* calendar.h - calendar periods (shift, day, week, month) in the configured IANA time zone,
 * DST aware. Period boundaries are local wall-clock times converted to UTC: a day is local
 * midnight to local midnight (23 or 25 hours on DST change days), a week starts Monday 00:00
 * (ISO 8601), a month on the 1st at 00:00. A shift starts at its local start time and ends at
 * the next shift's start (the last shift of the day runs into the next day, e.g. night
 * 22:00-06:00). A local start time that does not exist (skipped by a spring-forward change)
 * is moved forward to the first instant that exists; an ambiguous one (autumn) takes the first
 * occurrence.
 *
 * The time zone is read once in calendar_init() (the only I/O); every other call is pure. */
#pragma once
#include <stddef.h>
#include "config.h"
#include "util.h"

struct calendar; /* opaque: owns the zone data and the shift table */

/* Returns 0, or -EINVAL with err ("unknown time zone 'Europe/Berln'"). */
int calendar_new(const char *tz_name, const struct oeed_shift *shifts, size_t n_shifts,
		 struct calendar **ret, struct oeed_error *err);
void calendar_free(struct calendar *c);

/* The period of kind p that contains t: [*ret_start, *ret_end). For PERIOD_SHIFT also the
 * shift's index in the config's table (may be NULL); with no shifts configured PERIOD_SHIFT
 * returns -ENOENT. */
int calendar_period(const struct calendar *c, enum oeed_period p, oeed_ms t, oeed_ms *ret_start,
		    oeed_ms *ret_end, int *ret_shift);
/* A label of the period containing t for reports: "2026-10" (month), "2026-10-25" (day),
 * "2026-W43" (week), "2026-10-25 night" (shift: the local date its start lies on). */
int calendar_label(const struct calendar *c, enum oeed_period p, oeed_ms t, char *buf, size_t len);
/* Local UTC offset in seconds at t (for tests and reports). */
int calendar_utc_offset(const struct calendar *c, oeed_ms t);
/* Parses a period label like "2026-10" or "2026-10-25" into [start, end). */
int calendar_parse_label(const struct calendar *c, enum oeed_period p, const char *label,
			 oeed_ms *ret_start, oeed_ms *ret_end);
