/* Unit tests for calendar.c: DST-aware day/week/month/shift periods, labels, label parsing,
 * time zone loading. Expected instants are written as UTC wall times and turned into epoch ms
 * by ts() below, a deliberately naive day count independent of the code under test. */
#include <errno.h>
#include <stdint.h>

#include "calendar.h"
#include "testutil.h"

#define H 3600000LL

static int64_t ts(int y, int mo, int d, int h, int mi, int s)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int64_t days = 0;
	for (int yy = 1970; yy < y; yy++)
		days += (yy % 4 == 0 && (yy % 100 != 0 || yy % 400 == 0)) ? 366 : 365;
	for (int yy = y; yy < 1970; yy++)
		days -= (yy % 4 == 0 && (yy % 100 != 0 || yy % 400 == 0)) ? 366 : 365;
	for (int m = 1; m < mo; m++)
		days += dim[m - 1] + (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
	days += d - 1;
	return ((days * 24 + h) * 60 + mi) * 60000LL + s * 1000LL;
}

static struct calendar *zone(const char *name, const struct oeed_shift *sh, size_t n)
{
	struct calendar *c = NULL;
	struct oeed_error err = {{0}};
	int r = calendar_new(name, sh, n, &c, &err);
	CHECK_INT(r, 0);
	if (r < 0)
		fprintf(stderr, "calendar_new(%s): %s\n", name, err.msg);
	return c;
}

/* Checks the period of kind p holding t against [start, end) and its label. */
static void expect(const struct calendar *c, enum oeed_period p, int64_t t, int64_t start,
		   int64_t end, const char *label, int line)
{
	oeed_ms s = 0, e = 0;
	char buf[64] = "";
	int r = calendar_period(c, p, t, &s, &e, NULL);
	CHECK_INT(r, 0);
	CHECK_INT(s, start);
	CHECK_INT(e, end);
	CHECK_INT(calendar_label(c, p, t, buf, sizeof(buf)), 0);
	CHECK_STR(buf, label);
	if (r != 0 || s != start || e != end || strcmp(buf, label) != 0)
		fprintf(stderr, "  (expectation at line %d)\n", line);
}
#define EXPECT(c, p, t, s, e, l) expect(c, p, t, s, e, l, __LINE__)

static void test_berlin(void)
{
	struct calendar *c = zone("Europe/Berlin", NULL, 0);
	oeed_ms s, e;
	int shift = 7;
	if (!c)
		return;
	/* Offsets around the spring change: 2026-03-29 01:00Z clocks go 02:00 CET -> 03:00 CEST. */
	CHECK_INT(calendar_utc_offset(c, ts(2026, 3, 29, 0, 59, 59)), 3600);
	CHECK_INT(calendar_utc_offset(c, ts(2026, 3, 29, 1, 0, 0)), 7200);
	CHECK_INT(calendar_utc_offset(c, ts(2026, 10, 25, 0, 59, 59)), 7200);
	CHECK_INT(calendar_utc_offset(c, ts(2026, 10, 25, 1, 0, 0)), 3600);
	CHECK_INT(calendar_utc_offset(c, ts(2026, 1, 1, 0, 0, 0) - 1), 3600);

	/* Spring forward day: 00:00 CET = 23:00Z the day before, next midnight 00:00 CEST = 22:00Z:
	 * 23 hours. Any instant of the day gives the same period, both edges included/excluded. */
	EXPECT(c, PERIOD_DAY, ts(2026, 3, 29, 12, 0, 0), ts(2026, 3, 28, 23, 0, 0),
	       ts(2026, 3, 29, 22, 0, 0), "2026-03-29");
	EXPECT(c, PERIOD_DAY, ts(2026, 3, 28, 23, 0, 0), ts(2026, 3, 28, 23, 0, 0),
	       ts(2026, 3, 29, 22, 0, 0), "2026-03-29");
	EXPECT(c, PERIOD_DAY, ts(2026, 3, 28, 22, 59, 59), ts(2026, 3, 27, 23, 0, 0),
	       ts(2026, 3, 28, 23, 0, 0), "2026-03-28");
	CHECK_INT(calendar_period(c, PERIOD_DAY, ts(2026, 3, 29, 5, 0, 0), &s, &e, &shift), 0);
	CHECK_INT(e - s, 23 * H);
	CHECK_INT(shift, -1);

	/* Fall back day: 00:00 CEST = 22:00Z before, next midnight 00:00 CET = 23:00Z: 25 hours,
	 * including the repeated hour 02:00-03:00 both times. */
	EXPECT(c, PERIOD_DAY, ts(2026, 10, 25, 0, 30, 0), ts(2026, 10, 24, 22, 0, 0),
	       ts(2026, 10, 25, 23, 0, 0), "2026-10-25");
	EXPECT(c, PERIOD_DAY, ts(2026, 10, 25, 1, 30, 0), ts(2026, 10, 24, 22, 0, 0),
	       ts(2026, 10, 25, 23, 0, 0), "2026-10-25");

	/* October 2026: 1st 00:00 CEST = Sep 30 22:00Z .. Nov 1st 00:00 CET = Oct 31 23:00Z:
	 * 31 days * 24 h + 1 repeated hour = 745 h. */
	EXPECT(c, PERIOD_MONTH, ts(2026, 10, 15, 8, 0, 0), ts(2026, 9, 30, 22, 0, 0),
	       ts(2026, 10, 31, 23, 0, 0), "2026-10");
	CHECK_INT(calendar_period(c, PERIOD_MONTH, ts(2026, 10, 31, 22, 59, 59), &s, &e, NULL), 0);
	CHECK_INT(e - s, 745 * H);
	/* March 2026 lost an hour: 31 * 24 - 1 = 743 h. */
	CHECK_INT(calendar_period(c, PERIOD_MONTH, ts(2026, 3, 10, 0, 0, 0), &s, &e, NULL), 0);
	CHECK_INT(e - s, 743 * H);
	/* December, across the year end: Nov 30 23:00Z .. Dec 31 23:00Z. */
	EXPECT(c, PERIOD_MONTH, ts(2026, 12, 31, 22, 59, 0), ts(2026, 11, 30, 23, 0, 0),
	       ts(2026, 12, 31, 23, 0, 0), "2026-12");
	EXPECT(c, PERIOD_MONTH, ts(2026, 12, 31, 23, 0, 0), ts(2026, 12, 31, 23, 0, 0),
	       ts(2027, 1, 31, 23, 0, 0), "2027-01");

	/* ISO weeks. Week 43 of 2026 is Mon Oct 19 .. Sun Oct 25 (which has 25 h): 169 h. */
	EXPECT(c, PERIOD_WEEK, ts(2026, 10, 22, 12, 0, 0), ts(2026, 10, 18, 22, 0, 0),
	       ts(2026, 10, 25, 23, 0, 0), "2026-W43");
	/* 2026 starts on a Thursday, so it has 53 weeks: Thu 2026-12-31 and Sun 2027-01-03 are in
	 * 2026-W53 (Mon Dec 28 .. Sun Jan 3), Mon 2027-01-04 starts 2027-W01. */
	EXPECT(c, PERIOD_WEEK, ts(2026, 12, 31, 12, 0, 0), ts(2026, 12, 27, 23, 0, 0),
	       ts(2027, 1, 3, 23, 0, 0), "2026-W53");
	EXPECT(c, PERIOD_WEEK, ts(2027, 1, 3, 22, 59, 59), ts(2026, 12, 27, 23, 0, 0),
	       ts(2027, 1, 3, 23, 0, 0), "2026-W53");
	EXPECT(c, PERIOD_WEEK, ts(2027, 1, 3, 23, 0, 0), ts(2027, 1, 3, 23, 0, 0),
	       ts(2027, 1, 10, 23, 0, 0), "2027-W01");
	/* Mon 2024-12-30 belongs to 2025-W01 (the week holding Thursday Jan 2nd). */
	EXPECT(c, PERIOD_WEEK, ts(2024, 12, 30, 10, 0, 0), ts(2024, 12, 29, 23, 0, 0),
	       ts(2025, 1, 5, 23, 0, 0), "2025-W01");

	/* Far future, past the file's last stored transition (2037): the footer rule
	 * CET-1CEST,M3.5.0,M10.5.0/3 applies. 2040: last Sunday of March is the 25th, of October
	 * the 28th. */
	CHECK_INT(calendar_utc_offset(c, ts(2040, 3, 25, 0, 59, 59)), 3600);
	CHECK_INT(calendar_utc_offset(c, ts(2040, 3, 25, 1, 0, 0)), 7200);
	CHECK_INT(calendar_utc_offset(c, ts(2040, 10, 28, 0, 59, 59)), 7200);
	CHECK_INT(calendar_utc_offset(c, ts(2040, 10, 28, 1, 0, 0)), 3600);
	CHECK_INT(calendar_utc_offset(c, ts(2040, 1, 1, 0, 0, 0)), 3600);
	EXPECT(c, PERIOD_DAY, ts(2040, 3, 25, 10, 0, 0), ts(2040, 3, 24, 23, 0, 0),
	       ts(2040, 3, 25, 22, 0, 0), "2040-03-25");
	EXPECT(c, PERIOD_DAY, ts(2040, 10, 28, 10, 0, 0), ts(2040, 10, 27, 22, 0, 0),
	       ts(2040, 10, 28, 23, 0, 0), "2040-10-28");
	EXPECT(c, PERIOD_MONTH, ts(2040, 10, 1, 0, 0, 0), ts(2040, 9, 30, 22, 0, 0),
	       ts(2040, 10, 31, 23, 0, 0), "2040-10");
	/* And far before the table starts (1850: local mean time 0:53:28 before 1893). */
	CHECK_INT(calendar_utc_offset(c, ts(1850, 6, 1, 0, 0, 0)), 3208);

	/* Labels parse back into the same periods. */
	CHECK_INT(calendar_parse_label(c, PERIOD_DAY, "2026-10-25", &s, &e), 0);
	CHECK_INT(s, ts(2026, 10, 24, 22, 0, 0));
	CHECK_INT(e, ts(2026, 10, 25, 23, 0, 0));
	CHECK_INT(calendar_parse_label(c, PERIOD_DAY, "2026-03-29", &s, &e), 0);
	CHECK_INT(e - s, 23 * H);
	CHECK_INT(calendar_parse_label(c, PERIOD_MONTH, "2026-10", &s, &e), 0);
	CHECK_INT(s, ts(2026, 9, 30, 22, 0, 0));
	CHECK_INT(e, ts(2026, 10, 31, 23, 0, 0));
	CHECK_INT(calendar_parse_label(c, PERIOD_WEEK, "2026-W53", &s, &e), 0);
	CHECK_INT(s, ts(2026, 12, 27, 23, 0, 0));
	CHECK_INT(e, ts(2027, 1, 3, 23, 0, 0));
	CHECK_INT(calendar_parse_label(c, PERIOD_WEEK, "2025-W01", &s, &e), 0);
	CHECK_INT(s, ts(2024, 12, 29, 23, 0, 0));
	CHECK_INT(calendar_parse_label(c, PERIOD_WEEK, "2025-W53", &s, &e), -EINVAL); /* 52 weeks */
	CHECK_INT(calendar_parse_label(c, PERIOD_WEEK, "2026-W00", &s, &e), -EINVAL);
	CHECK_INT(calendar_parse_label(c, PERIOD_MONTH, "2026-13", &s, &e), -EINVAL);
	CHECK_INT(calendar_parse_label(c, PERIOD_DAY, "2026-02-29", &s, &e), -EINVAL);
	CHECK_INT(calendar_parse_label(c, PERIOD_DAY, "2028-02-29", &s, &e), 0); /* leap year */
	CHECK_INT(calendar_parse_label(c, PERIOD_DAY, "2026-10", &s, &e), -EINVAL);
	CHECK_INT(calendar_parse_label(c, PERIOD_MONTH, "2026-10-25", &s, &e), -EINVAL);
	CHECK_INT(calendar_parse_label(c, PERIOD_DAY, "2026-10-25x", &s, &e), -EINVAL);
	CHECK_INT(calendar_parse_label(c, PERIOD_DAY, "26-10-25", &s, &e), -EINVAL);
	/* No shifts configured. */
	CHECK_INT(calendar_period(c, PERIOD_SHIFT, ts(2026, 10, 25, 0, 0, 0), &s, &e, NULL),
		  -ENOENT);
	CHECK_INT(calendar_parse_label(c, PERIOD_SHIFT, "2026-10-25 night", &s, &e), -ENOENT);
	/* Label buffer too small. */
	char small[8];
	CHECK_INT(calendar_label(c, PERIOD_DAY, ts(2026, 10, 25, 0, 0, 0), small, sizeof(small)),
		  -ENOSPC);
	calendar_free(c);
}

static void test_shifts(void)
{
	/* early 06:00, late 14:00, night 22:00 (runs to 06:00 the next day). */
	struct oeed_shift sh[] = {{"early", 360}, {"late", 840}, {"night", 1320}};
	struct calendar *c = zone("Europe/Berlin", sh, 3);
	oeed_ms s, e;
	int idx = -1;
	if (!c)
		return;
	/* 2026-10-20 03:00 CEST (01:00Z) belongs to the night shift that started on the 19th at
	 * 22:00 CEST (20:00Z) and ends at 06:00 CEST (04:00Z). */
	CHECK_INT(calendar_period(c, PERIOD_SHIFT, ts(2026, 10, 20, 1, 0, 0), &s, &e, &idx), 0);
	CHECK_INT(s, ts(2026, 10, 19, 20, 0, 0));
	CHECK_INT(e, ts(2026, 10, 20, 4, 0, 0));
	CHECK_INT(idx, 2);
	EXPECT(c, PERIOD_SHIFT, ts(2026, 10, 20, 1, 0, 0), ts(2026, 10, 19, 20, 0, 0),
	       ts(2026, 10, 20, 4, 0, 0), "2026-10-19 night");
	/* 22:30 CEST the same evening: the night shift of the 20th. */
	EXPECT(c, PERIOD_SHIFT, ts(2026, 10, 20, 20, 30, 0), ts(2026, 10, 20, 20, 0, 0),
	       ts(2026, 10, 21, 4, 0, 0), "2026-10-20 night");
	/* Edges: 06:00 CEST sharp is early, a millisecond before is night. */
	CHECK_INT(calendar_period(c, PERIOD_SHIFT, ts(2026, 10, 20, 4, 0, 0), &s, &e, &idx), 0);
	CHECK_INT(idx, 0);
	CHECK_INT(s, ts(2026, 10, 20, 4, 0, 0));
	CHECK_INT(e, ts(2026, 10, 20, 12, 0, 0));
	CHECK_INT(calendar_period(c, PERIOD_SHIFT, ts(2026, 10, 20, 4, 0, 0) - 1, &s, &e, &idx), 0);
	CHECK_INT(idx, 2);
	EXPECT(c, PERIOD_SHIFT, ts(2026, 10, 20, 13, 0, 0), ts(2026, 10, 20, 12, 0, 0),
	       ts(2026, 10, 20, 20, 0, 0), "2026-10-20 late");
	/* The night shift across the autumn change: 22:00 CEST (20:00Z) .. 06:00 CET (05:00Z) is
	 * 9 hours. */
	EXPECT(c, PERIOD_SHIFT, ts(2026, 10, 25, 1, 30, 0), ts(2026, 10, 24, 20, 0, 0),
	       ts(2026, 10, 25, 5, 0, 0), "2026-10-24 night");
	/* ... and across the spring change: 22:00 CET (21:00Z) .. 06:00 CEST (04:00Z), 7 hours. */
	EXPECT(c, PERIOD_SHIFT, ts(2026, 3, 29, 0, 30, 0), ts(2026, 3, 28, 21, 0, 0),
	       ts(2026, 3, 29, 4, 0, 0), "2026-03-28 night");
	CHECK_INT(calendar_parse_label(c, PERIOD_SHIFT, "2026-10-19 night", &s, &e), 0);
	CHECK_INT(s, ts(2026, 10, 19, 20, 0, 0));
	CHECK_INT(e, ts(2026, 10, 20, 4, 0, 0));
	CHECK_INT(calendar_parse_label(c, PERIOD_SHIFT, "2026-10-19 noon", &s, &e), -EINVAL);
	calendar_free(c);

	/* A shift starting 02:30, which does not exist on 2026-03-29 (02:00 CET -> 03:00 CEST):
	 * it starts at the first instant after the gap, 03:00 CEST = 01:00Z. */
	struct oeed_shift gap[] = {{"a", 150}, {"b", 870}};
	c = zone("Europe/Berlin", gap, 2);
	if (!c)
		return;
	EXPECT(c, PERIOD_SHIFT, ts(2026, 3, 29, 1, 30, 0), ts(2026, 3, 29, 1, 0, 0),
	       ts(2026, 3, 29, 12, 30, 0), "2026-03-29 a");
	EXPECT(c, PERIOD_SHIFT, ts(2026, 3, 29, 1, 0, 0), ts(2026, 3, 29, 1, 0, 0),
	       ts(2026, 3, 29, 12, 30, 0), "2026-03-29 a");
	/* 01:59:59 CET is still the previous day's b shift (14:30 CET = 13:30Z), which ends there.
	 */
	EXPECT(c, PERIOD_SHIFT, ts(2026, 3, 29, 0, 59, 59), ts(2026, 3, 28, 13, 30, 0),
	       ts(2026, 3, 29, 1, 0, 0), "2026-03-28 b");
	/* 02:30 on 2026-10-25 exists twice; the shift starts at the first, 02:30 CEST = 00:30Z.
	 * 02:10 CET (01:10Z, the second pass) is therefore already inside shift a, although its
	 * wall time is before 02:30; b before it ends at 00:30Z. */
	EXPECT(c, PERIOD_SHIFT, ts(2026, 10, 25, 1, 10, 0), ts(2026, 10, 25, 0, 30, 0),
	       ts(2026, 10, 25, 13, 30, 0), "2026-10-25 a");
	EXPECT(c, PERIOD_SHIFT, ts(2026, 10, 25, 0, 10, 0), ts(2026, 10, 24, 12, 30, 0),
	       ts(2026, 10, 25, 0, 30, 0), "2026-10-24 b");
	calendar_free(c);
}

static void test_other_zones(void)
{
	oeed_ms s, e;
	struct calendar *c = zone("UTC", NULL, 0);
	if (c) {
		CHECK_INT(calendar_utc_offset(c, ts(2026, 7, 1, 0, 0, 0)), 0);
		EXPECT(c, PERIOD_DAY, ts(2026, 10, 25, 12, 0, 0), ts(2026, 10, 25, 0, 0, 0),
		       ts(2026, 10, 26, 0, 0, 0), "2026-10-25");
		EXPECT(c, PERIOD_MONTH, ts(2026, 2, 14, 0, 0, 0), ts(2026, 2, 1, 0, 0, 0),
		       ts(2026, 3, 1, 0, 0, 0), "2026-02");
		EXPECT(c, PERIOD_DAY, ts(2040, 3, 25, 12, 0, 0), ts(2040, 3, 25, 0, 0, 0),
		       ts(2040, 3, 26, 0, 0, 0), "2040-03-25");
		/* Before the epoch. */
		EXPECT(c, PERIOD_DAY, -1, ts(1969, 12, 31, 0, 0, 0), 0, "1969-12-31");
		calendar_free(c);
	}

	/* New York 2026: EDT from Sun Mar 8 02:00 EST (07:00Z) to Sun Nov 1 02:00 EDT (06:00Z). */
	c = zone("America/New_York", NULL, 0);
	if (c) {
		CHECK_INT(calendar_utc_offset(c, ts(2026, 1, 15, 0, 0, 0)), -5 * 3600);
		CHECK_INT(calendar_utc_offset(c, ts(2026, 7, 1, 0, 0, 0)), -4 * 3600);
		CHECK_INT(calendar_utc_offset(c, ts(2026, 3, 8, 7, 0, 0)), -4 * 3600);
		CHECK_INT(calendar_utc_offset(c, ts(2026, 3, 8, 7, 0, 0) - 1), -5 * 3600);
		EXPECT(c, PERIOD_DAY, ts(2026, 3, 8, 12, 0, 0), ts(2026, 3, 8, 5, 0, 0),
		       ts(2026, 3, 9, 4, 0, 0), "2026-03-08");
		EXPECT(c, PERIOD_DAY, ts(2026, 11, 1, 12, 0, 0), ts(2026, 11, 1, 4, 0, 0),
		       ts(2026, 11, 2, 5, 0, 0), "2026-11-01");
		/* Footer EST5EDT,M3.2.0,M11.1.0 in 2040: Mar 11 and Nov 4. */
		CHECK_INT(calendar_utc_offset(c, ts(2040, 3, 11, 7, 0, 0) - 1), -5 * 3600);
		CHECK_INT(calendar_utc_offset(c, ts(2040, 3, 11, 7, 0, 0)), -4 * 3600);
		CHECK_INT(calendar_utc_offset(c, ts(2040, 11, 4, 6, 0, 0) - 1), -4 * 3600);
		CHECK_INT(calendar_utc_offset(c, ts(2040, 11, 4, 6, 0, 0)), -5 * 3600);
		calendar_free(c);
	}

	/* Southern hemisphere, footer AEST-10AEDT,M10.1.0,M4.1.0/3: DST spans the year end. 2040:
	 * ends Sun Apr 1 03:00 AEDT (Mar 31 16:00Z), starts Sun Oct 7 02:00 AEST (Oct 6 16:00Z). */
	c = zone("Australia/Sydney", NULL, 0);
	if (c) {
		CHECK_INT(calendar_utc_offset(c, ts(2040, 1, 15, 0, 0, 0)), 11 * 3600);
		CHECK_INT(calendar_utc_offset(c, ts(2040, 3, 31, 16, 0, 0) - 1), 11 * 3600);
		CHECK_INT(calendar_utc_offset(c, ts(2040, 3, 31, 16, 0, 0)), 10 * 3600);
		CHECK_INT(calendar_utc_offset(c, ts(2040, 10, 6, 16, 0, 0) - 1), 10 * 3600);
		CHECK_INT(calendar_utc_offset(c, ts(2040, 10, 6, 16, 0, 0)), 11 * 3600);
		/* 2040-04-01 is 25 h: Mar 31 13:00Z .. Apr 1 14:00Z. */
		CHECK_INT(calendar_period(c, PERIOD_DAY, ts(2040, 4, 1, 0, 0, 0), &s, &e, NULL), 0);
		CHECK_INT(s, ts(2040, 3, 31, 13, 0, 0));
		CHECK_INT(e, ts(2040, 4, 1, 14, 0, 0));
		calendar_free(c);
	}
}

/* Every period holds the instant asked for and the next one starts where it ends, hour by hour
 * (plus a minute, to hit the quarters too) through 2025..2042: table and footer years. */
static void test_adjacent(void)
{
	struct oeed_shift sh[] = {{"a", 150}, {"early", 360}, {"late", 840}, {"night", 1320}};
	struct calendar *c = zone("Europe/Berlin", sh, 4);
	int bad = 0;
	if (!c)
		return;
	for (int64_t t = ts(2025, 1, 1, 0, 0, 0); t < ts(2042, 1, 1, 0, 0, 0); t += H + 60000) {
		for (int p = 0; p < PERIOD__COUNT; p++) {
			oeed_ms s, e, s2, e2;
			if (calendar_period(c, (enum oeed_period)p, t, &s, &e, NULL) != 0 ||
			    !(s <= t && t < e) ||
			    calendar_period(c, (enum oeed_period)p, e, &s2, &e2, NULL) != 0 ||
			    s2 != e) {
				if (bad++ < 5)
					fprintf(stderr, "period %d at %lld: [%lld, %lld)\n", p,
						(long long)t, (long long)s, (long long)e);
			}
		}
	}
	CHECK_INT(bad, 0);
	calendar_free(c);
}

static void test_errors(void)
{
	struct calendar *c = NULL;
	struct oeed_error err = {{0}};
	CHECK_INT(calendar_new("Europe/Berln", NULL, 0, &c, &err), -EINVAL);
	CHECK_STR(err.msg, "unknown time zone 'Europe/Berln'");
	CHECK(c == NULL);
	CHECK_INT(calendar_new("../../../etc/passwd", NULL, 0, &c, &err), -EINVAL);
	CHECK_STR(err.msg, "unknown time zone '../../../etc/passwd'");
	CHECK_INT(calendar_new("/usr/share/zoneinfo/UTC", NULL, 0, &c, &err), -EINVAL);
	CHECK_STR(err.msg, "unknown time zone '/usr/share/zoneinfo/UTC'");
	CHECK_INT(calendar_new("Europe", NULL, 0, &c, &err), -EINVAL); /* a directory */
	CHECK_STR(err.msg, "unknown time zone 'Europe'");
	CHECK_INT(calendar_new("zone.tab", NULL, 0, &c, &err), -EINVAL); /* not TZif */
	CHECK_STR(err.msg, "unknown time zone 'zone.tab'");
	CHECK_INT(calendar_new("", NULL, 0, &c, &err), -EINVAL);
	CHECK_STR(err.msg, "unknown time zone ''");
	CHECK_INT(calendar_new("right/UTC", NULL, 0, &c, &err), -EINVAL);
	CHECK_STR(err.msg, "time zone 'right/UTC': invalid TZif file (leap-second (\"right/\") "
			   "zones are not supported)");
	CHECK(c == NULL);
	/* Shifts must ascend. */
	struct oeed_shift bad[] = {{"late", 840}, {"early", 360}};
	CHECK_INT(calendar_new("UTC", bad, 2, &c, &err), -EINVAL);
	CHECK(c == NULL);
	calendar_free(NULL);
}

int main(void)
{
	test_berlin();
	test_shifts();
	test_other_zones();
	test_adjacent();
	test_errors();
	TEST_END();
}
