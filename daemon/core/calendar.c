/* calendar.c - calendar periods (shift, day, week, month) in an IANA time zone.
 * Owns reading the zone's TZif file (RFC 8536) once in calendar_new(), including the POSIX TZ
 * footer rule that governs instants after the last stored transition, and the pure integer
 * conversions UTC <-> local wall time the period boundaries rest on. It never touches the
 * process-global TZ (tzset/localtime), so several zones can coexist and every call after
 * calendar_new() is pure. Civil dates use Howard Hinnant's days_from_civil/civil_from_days. */
#include "calendar.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZONEINFO_DIR   "/usr/share/zoneinfo/"
#define TZIF_MAX_SIZE  (1 << 20) /* real zone files are < 4 KiB */
#define TZIF_MAX_TRANS 100000
/* Offsets beyond this are rejected: local_to_utc() walks a window of this size around the
 * wanted instant, so a bound is what makes that walk finite and exact. */
#define MAX_UTOFF   (26 * 3600)
#define SEC_PER_DAY 86400
#define MS_PER_DAY  86400000LL
/* Instants calendar_period accepts: about +-35,000 years, far from int64 overflow. */
#define T_LIMIT_MS ((oeed_ms)1 << 50)

enum rule_kind { RULE_JULIAN1, RULE_ZERO_BASED, RULE_MONTH };

/* One date rule of a POSIX TZ string: Jn (1..365, Feb 29 never counted), n (0..365) or
 * Mm.w.d (weekday d of week w of month m, w=5 the last); time is the local time of the change
 * in seconds after midnight (may be negative or exceed 24 h in TZif v3). */
struct tz_rule {
	enum rule_kind kind;
	int day, week, month;
	int32_t time;
};

struct tz_footer {
	bool present;
	bool has_dst;
	int32_t std_off, dst_off; /* UTC offsets in seconds, east of Greenwich positive */
	struct tz_rule start, end;
};

struct calendar {
	int64_t *trans;	    /* transition instants, seconds since the epoch, strictly ascending */
	int32_t *trans_off; /* UTC offset from each transition on */
	size_t n_trans;
	int32_t off_first; /* before the first transition: time type 0 (RFC 8536 3.2) */
	struct tz_footer footer;
	struct oeed_shift *shifts; /* copy of the config's table, names owned */
	size_t n_shifts;
};

/* ---- integer civil-date arithmetic ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12, d 1..31). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *ret_y, int *ret_m, int *ret_d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int d = (int)(doy - (153 * mp + 2) / 5 + 1);
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*ret_y = yoe + era * 400 + (m <= 2);
	*ret_m = m;
	*ret_d = d;
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* ISO weekday, Monday = 0 (1970-01-01 was a Thursday). */
static int weekday_mon0(int64_t days)
{
	return (int)(days - floor_div(days + 3, 7) * 7 + 3);
}

/* Monday of ISO week 1 of year y: the week holding January 4th. */
static int64_t iso_week1_monday(int64_t y)
{
	int64_t jan4 = days_from_civil(y, 1, 4);
	return jan4 - weekday_mon0(jan4);
}

/* ---- the POSIX TZ footer ---- */

static int64_t rule_day(const struct tz_rule *r, int64_t y)
{
	int64_t jan1 = days_from_civil(y, 1, 1);
	switch (r->kind) {
	case RULE_JULIAN1:
		return jan1 + r->day - 1 + (is_leap(y) && r->day >= 60);
	case RULE_ZERO_BASED:
		return jan1 + r->day;
	case RULE_MONTH:
	default: {
		int64_t first = days_from_civil(y, r->month, 1);
		int wd_first = (int)((first + 4) - floor_div(first + 4, 7) * 7); /* Sunday = 0 */
		int64_t d = first + (r->day - wd_first + 7) % 7 + (int64_t)(r->week - 1) * 7;
		while (d >= first + days_in_month(y, r->month))
			d -= 7; /* week 5 means the last such weekday */
		return d;
	}
	}
}

/* The instant (s) of rule r in year y; the rule's time is local time before the change. */
static int64_t rule_utc(const struct tz_rule *r, int64_t y, int32_t off_before)
{
	return rule_day(r, y) * SEC_PER_DAY + r->time - off_before;
}

/* The changes of years y-1..y+1 in time order per year: start (to DST), end (to standard). */
static void footer_changes(const struct tz_footer *f, int64_t t, int64_t at[6], int32_t off[6])
{
	int64_t y;
	int m, d;
	civil_from_days(floor_div(t, SEC_PER_DAY), &y, &m, &d);
	for (int i = 0; i < 3; i++) {
		at[2 * i] = rule_utc(&f->start, y - 1 + i, f->std_off);
		off[2 * i] = f->dst_off;
		at[2 * i + 1] = rule_utc(&f->end, y - 1 + i, f->dst_off);
		off[2 * i + 1] = f->std_off;
	}
}

static int32_t footer_offset(const struct tz_footer *f, int64_t t)
{
	int64_t at[6], best = INT64_MIN;
	int32_t off[6], ret = f->std_off;
	if (!f->has_dst)
		return f->std_off;
	footer_changes(f, t, at, off);
	for (int i = 0; i < 6; i++) {
		if (at[i] <= t && at[i] >= best) {
			best = at[i];
			ret = off[i];
		}
	}
	return ret;
}

static int64_t footer_next(const struct tz_footer *f, int64_t t)
{
	int64_t at[6], best = INT64_MAX;
	int32_t off[6];
	footer_changes(f, t, at, off);
	for (int i = 0; i < 6; i++)
		if (at[i] > t && at[i] < best)
			best = at[i];
	return best;
}

/* A zone abbreviation: 3+ letters, or <...> quoted (e.g. "<+03>"). */
static const char *parse_tz_abbr(const char *p)
{
	const char *s;
	if (*p == '<') {
		s = ++p;
		while (*p && *p != '>')
			p++;
		return (*p == '>' && p - s >= 3) ? p + 1 : NULL;
	}
	s = p;
	while (isalpha((unsigned char)*p))
		p++;
	return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] with hh <= max_h. */
static const char *parse_tz_hms(const char *p, int max_h, int32_t *ret)
{
	int sign = 1, part[3] = {0, 0, 0};
	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	for (int i = 0; i < 3; i++) {
		int v = 0, nd = 0;
		if (i > 0) {
			if (*p != ':')
				break;
			p++;
		}
		while (isdigit((unsigned char)*p) && nd < 3) {
			v = v * 10 + (*p++ - '0');
			nd++;
		}
		if (nd == 0 || (i > 0 && (nd != 2 || v > 59)) || (i == 0 && v > max_h))
			return NULL;
		part[i] = v;
	}
	*ret = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
	return p;
}

static const char *parse_tz_num(const char *p, int lo, int hi, int *ret)
{
	int v = 0, nd = 0;
	while (isdigit((unsigned char)*p) && nd < 4) {
		v = v * 10 + (*p++ - '0');
		nd++;
	}
	if (nd == 0 || v < lo || v > hi)
		return NULL;
	*ret = v;
	return p;
}

static const char *parse_tz_rule(const char *p, struct tz_rule *r)
{
	memset(r, 0, sizeof(*r));
	if (*p == 'J') {
		r->kind = RULE_JULIAN1;
		p = parse_tz_num(p + 1, 1, 365, &r->day);
	} else if (*p == 'M') {
		r->kind = RULE_MONTH;
		p = parse_tz_num(p + 1, 1, 12, &r->month);
		if (p && *p == '.')
			p = parse_tz_num(p + 1, 1, 5, &r->week);
		else
			p = NULL;
		if (p && *p == '.')
			p = parse_tz_num(p + 1, 0, 6, &r->day);
		else
			p = NULL;
	} else {
		r->kind = RULE_ZERO_BASED;
		p = parse_tz_num(p, 0, 365, &r->day);
	}
	if (!p)
		return NULL;
	r->time = 2 * 3600; /* POSIX default 02:00:00 */
	if (*p == '/')
		p = parse_tz_hms(p + 1, 167, &r->time); /* TZif v3 extension: -167..167 h */
	return p;
}

/* "CET-1CEST,M3.5.0,M10.5.0/3": POSIX offsets count west, so the sign flips. */
static int parse_footer(const char *s, struct tz_footer *f)
{
	int32_t v;
	const char *p = parse_tz_abbr(s);
	memset(f, 0, sizeof(*f));
	if (!p || !(p = parse_tz_hms(p, 24, &v)))
		return -EINVAL;
	f->std_off = -v;
	f->present = true;
	if (*p == '\0')
		return 0;
	if (!(p = parse_tz_abbr(p)))
		return -EINVAL;
	f->has_dst = true;
	f->dst_off = f->std_off + 3600;
	if (*p != ',' && *p != '\0') {
		if (!(p = parse_tz_hms(p, 24, &v)))
			return -EINVAL;
		f->dst_off = -v;
	}
	/* Without rules POSIX leaves the dates to the implementation; tzdata always writes them. */
	if (*p != ',' || !(p = parse_tz_rule(p + 1, &f->start)) || *p != ',' ||
	    !(p = parse_tz_rule(p + 1, &f->end)) || *p != '\0')
		return -EINVAL;
	if (f->dst_off > MAX_UTOFF || f->dst_off < -MAX_UTOFF)
		return -EINVAL;
	return 0;
}

/* ---- TZif (RFC 8536) ---- */

struct tzif_counts {
	uint32_t isut, isstd, leap, time, type, chars;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int tzif_header(const uint8_t *d, size_t len, size_t at, struct tzif_counts *n,
		       uint8_t *ret_version)
{
	if (len < at || len - at < 44 || memcmp(d + at, "TZif", 4) != 0)
		return -EINVAL;
	*ret_version = d[at + 4];
	n->isut = be32(d + at + 20);
	n->isstd = be32(d + at + 24);
	n->leap = be32(d + at + 28);
	n->time = be32(d + at + 32);
	n->type = be32(d + at + 36);
	n->chars = be32(d + at + 40);
	if (n->type == 0 || n->type > 256 || n->chars == 0 || n->time > TZIF_MAX_TRANS ||
	    (n->isut != 0 && n->isut != n->type) || (n->isstd != 0 && n->isstd != n->type) ||
	    n->leap > TZIF_MAX_TRANS)
		return -EINVAL;
	return 0;
}

static uint64_t tzif_block_len(const struct tzif_counts *n, unsigned tsize)
{
	return (uint64_t)n->time * tsize + n->time + (uint64_t)n->type * 6 + n->chars +
	       (uint64_t)n->leap * (tsize + 4) + n->isstd + n->isut;
}

/* Parses the data block at d+at with tsize-byte times into c. */
static int tzif_block(const uint8_t *d, size_t len, size_t at, const struct tzif_counts *n,
		      unsigned tsize, struct calendar *c, const char **ret_why)
{
	const uint8_t *times = d + at, *idx = times + (size_t)n->time * tsize;
	const uint8_t *types = idx + n->time;
	if (tzif_block_len(n, tsize) > len - at) {
		*ret_why = "truncated";
		return -EINVAL;
	}
	if (n->leap > 0) {
		*ret_why = "leap-second (\"right/\") zones are not supported";
		return -EINVAL;
	}
	for (uint32_t i = 0; i < n->type; i++) {
		int32_t off = (int32_t)be32(types + 6 * i);
		if (off > MAX_UTOFF || off < -MAX_UTOFF) {
			*ret_why = "UTC offset out of range";
			return -EINVAL;
		}
	}
	c->off_first = (int32_t)be32(types);
	if (n->time > 0) {
		c->trans = calloc(n->time, sizeof(*c->trans));
		c->trans_off = calloc(n->time, sizeof(*c->trans_off));
		if (!c->trans || !c->trans_off)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < n->time; i++) {
		int64_t t = tsize == 8 ? be64(times + 8 * (size_t)i)
				       : (int64_t)(int32_t)be32(times + 4 * (size_t)i);
		if (idx[i] >= n->type || (i > 0 && t <= c->trans[i - 1])) {
			*ret_why = "bad transition table";
			return -EINVAL;
		}
		c->trans[i] = t;
		c->trans_off[i] = (int32_t)be32(types + 6 * (size_t)idx[i]);
	}
	c->n_trans = n->time;
	return 0;
}

static int tzif_parse(const uint8_t *d, size_t len, struct calendar *c, const char **ret_why)
{
	struct tzif_counts n;
	uint8_t version;
	size_t at;
	int r;

	*ret_why = "bad header";
	if (tzif_header(d, len, 0, &n, &version) < 0)
		return -EINVAL;
	if (version == 0) /* version 1: 32-bit times only, no footer */
		return tzif_block(d, len, 44, &n, 4, c, ret_why);
	/* v2+: skip the 32-bit block; the 64-bit one and the footer are authoritative. */
	if (tzif_block_len(&n, 4) > len - 44)
		return -EINVAL;
	at = 44 + (size_t)tzif_block_len(&n, 4);
	if (tzif_header(d, len, at, &n, &version) < 0)
		return -EINVAL;
	at += 44;
	r = tzif_block(d, len, at, &n, 8, c, ret_why);
	if (r < 0)
		return r;
	at += (size_t)tzif_block_len(&n, 8);
	/* Footer: "\n" TZ-string "\n"; an empty string means no rule. */
	*ret_why = "bad footer";
	if (at >= len || d[at] != '\n')
		return -EINVAL;
	const uint8_t *nl = memchr(d + at + 1, '\n', len - at - 1);
	if (!nl)
		return -EINVAL;
	size_t flen = (size_t)(nl - (d + at + 1));
	if (flen == 0)
		return 0;
	char footer[128];
	if (flen >= sizeof(footer))
		return -EINVAL;
	memcpy(footer, d + at + 1, flen);
	footer[flen] = '\0';
	return parse_footer(footer, &c->footer);
}

static int read_file(const char *path, uint8_t **ret_buf, size_t *ret_len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	int r = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EISDIR;
		goto out_close;
	}
	if (st.st_size > TZIF_MAX_SIZE) {
		r = -EFBIG;
		goto out_close;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out_close;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out_free;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*ret_buf = buf;
	*ret_len = got;
	buf = NULL;
out_free:
	free(buf);
out_close:
	close(fd);
	return r;
}

/* ---- conversions ---- */

/* UTC offset (s) at instant t (s). */
static int32_t offset_at(const struct calendar *c, int64_t t)
{
	size_t lo = 0, hi = c->n_trans;
	if (c->n_trans == 0)
		return c->footer.present ? footer_offset(&c->footer, t) : c->off_first;
	if (t < c->trans[0])
		return c->off_first;
	if (t >= c->trans[c->n_trans - 1] && c->footer.present)
		return footer_offset(&c->footer, t);
	while (hi - lo > 1) { /* invariant: trans[lo] <= t < trans[hi] (hi = n: end) */
		size_t mid = lo + (hi - lo) / 2;
		if (c->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return c->trans_off[lo];
}

/* The first change instant (s) after t, INT64_MAX when there is none. */
static int64_t next_change(const struct calendar *c, int64_t t)
{
	if (c->n_trans > 0 && t < c->trans[c->n_trans - 1]) {
		size_t lo = 0, hi = c->n_trans - 1; /* smallest i with trans[i] > t */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (c->trans[mid] > t)
				hi = mid;
			else
				lo = mid + 1;
		}
		return c->trans[lo];
	}
	if (c->footer.present && c->footer.has_dst)
		return footer_next(&c->footer, t);
	return INT64_MAX;
}

/* The first instant (s) whose local wall time is >= local (s since the epoch, read as if the
 * zone were UTC). So an existing local time maps to its first occurrence and a skipped one to
 * the end of the gap; the map is monotone, which keeps consecutive periods adjacent. Walks the
 * offset intervals from MAX_UTOFF + 1 h before: no solution can lie earlier. */
static int64_t local_to_utc(const struct calendar *c, int64_t local)
{
	int64_t u = local - MAX_UTOFF - 3600;
	int32_t off = offset_at(c, u);
	for (;;) {
		int64_t next = next_change(c, u);
		if (u + off >= local)
			return u; /* the interval starts past `local`: it was skipped */
		if (local - off < next)
			return local - off;
		u = next;
		off = offset_at(c, u);
	}
}

static int64_t local_ms_of(const struct calendar *c, oeed_ms t)
{
	return t + (int64_t)offset_at(c, floor_div(t, 1000)) * 1000;
}

/* Periods are numbered by an index k; boundary_local() is the local wall time (s) where
 * period k starts, and period k ends where k+1 starts. Day: days since the epoch; week: ISO
 * weeks since the epoch's week; month: months since year 0; shift: day * n_shifts + i. */
static int64_t boundary_local(const struct calendar *c, enum oeed_period p, int64_t k)
{
	switch (p) {
	case PERIOD_DAY:
		return k * SEC_PER_DAY;
	case PERIOD_WEEK:
		return (k * 7 - 3) * SEC_PER_DAY; /* 1970-01-05 (day 4) was a Monday */
	case PERIOD_MONTH: {
		int64_t y = floor_div(k, 12);
		return days_from_civil(y, (int)(k - y * 12) + 1, 1) * SEC_PER_DAY;
	}
	case PERIOD_SHIFT:
	default: {
		int64_t n = (int64_t)c->n_shifts, day = floor_div(k, n);
		return day * SEC_PER_DAY + (int64_t)c->shifts[k - day * n].start_min * 60;
	}
	}
}

static int64_t index_of_local(const struct calendar *c, enum oeed_period p, int64_t local_ms)
{
	int64_t day = floor_div(local_ms, MS_PER_DAY), y;
	int m, d;
	switch (p) {
	case PERIOD_DAY:
		return day;
	case PERIOD_WEEK:
		return floor_div(day + 3, 7);
	case PERIOD_MONTH:
		civil_from_days(day, &y, &m, &d);
		return y * 12 + m - 1;
	case PERIOD_SHIFT:
	default: {
		int64_t tod = local_ms - day * MS_PER_DAY;
		int64_t n = (int64_t)c->n_shifts;
		for (int64_t i = n - 1; i >= 0; i--)
			if ((int64_t)c->shifts[i].start_min * 60000 <= tod)
				return day * n + i;
		return day * n - 1; /* before the first shift: the previous day's last one */
	}
	}
}

static int check_kind(const struct calendar *c, enum oeed_period p)
{
	if (!c || (unsigned)p >= PERIOD__COUNT)
		return -EINVAL;
	if (p == PERIOD_SHIFT && c->n_shifts == 0)
		return -ENOENT;
	return 0;
}

/* Finds period index of t and its UTC bounds (ms). */
static int find_period(const struct calendar *c, enum oeed_period p, oeed_ms t, int64_t *ret_k,
		       oeed_ms *ret_start, oeed_ms *ret_end)
{
	int r = check_kind(c, p);
	if (r < 0)
		return r;
	if (t > T_LIMIT_MS || t < -T_LIMIT_MS)
		return -ERANGE;
	int64_t k = index_of_local(c, p, local_ms_of(c, t));
	int64_t start = local_to_utc(c, boundary_local(c, p, k)) * 1000;
	int64_t end = local_to_utc(c, boundary_local(c, p, k + 1)) * 1000;
	/* t's local time is past period k's start, so start <= t; but in an ambiguous (repeated)
	 * hour the next boundary's first occurrence may already lie behind t. */
	for (int i = 0; i < 8 && end <= t; i++) {
		k++;
		start = end;
		end = local_to_utc(c, boundary_local(c, p, k + 1)) * 1000;
	}
	if (end <= t)
		return -ERANGE;
	*ret_k = k;
	*ret_start = start;
	*ret_end = end;
	return 0;
}

/* ---- public API ---- */

static void set_err(struct oeed_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_err(struct oeed_error *err, const char *fmt, ...)
{
	va_list ap;
	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

void calendar_free(struct calendar *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_shifts; i++)
		free(c->shifts[i].name);
	free(c->shifts);
	free(c->trans);
	free(c->trans_off);
	free(c);
}

int calendar_new(const char *tz_name, const struct oeed_shift *shifts, size_t n_shifts,
		 struct calendar **ret, struct oeed_error *err)
{
	struct calendar *c = NULL;
	uint8_t *data = NULL;
	size_t len = 0;
	char path[sizeof(ZONEINFO_DIR) + 256];
	const char *why = "";
	int r;

	/* Only names below the zoneinfo directory: no absolute paths, no way out of it. */
	if (!tz_name || !*tz_name || tz_name[0] == '/' || strstr(tz_name, "..") ||
	    strlen(tz_name) > 255) {
		set_err(err, "unknown time zone '%s'", tz_name ? tz_name : "");
		return -EINVAL;
	}
	for (size_t i = 0; i < n_shifts; i++) {
		if (!shifts[i].name || shifts[i].start_min < 0 || shifts[i].start_min > 1439 ||
		    (i > 0 && shifts[i].start_min <= shifts[i - 1].start_min)) {
			set_err(err, "shift '%s': start times must be 00:00..23:59 and ascending",
				shifts[i].name ? shifts[i].name : "");
			return -EINVAL;
		}
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		r = -ENOMEM;
		goto out;
	}
	if (n_shifts > 0) {
		c->shifts = calloc(n_shifts, sizeof(*c->shifts));
		if (!c->shifts) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < n_shifts; i++) {
			c->shifts[i].start_min = shifts[i].start_min;
			c->shifts[i].name = strdup(shifts[i].name);
			c->n_shifts = i + 1;
			if (!c->shifts[i].name) {
				r = -ENOMEM;
				goto out;
			}
		}
	}

	snprintf(path, sizeof(path), ZONEINFO_DIR "%s", tz_name);
	r = read_file(path, &data, &len);
	if (r == -ENOENT && strcmp(tz_name, "UTC") == 0) {
		r = 0; /* UTC works without tzdata: no transitions, offset 0 */
	} else if (r == -ENOENT || r == -ENOTDIR || r == -EISDIR ||
		   (r == 0 && (len < 4 || memcmp(data, "TZif", 4) != 0))) {
		set_err(err, "unknown time zone '%s'", tz_name);
		r = -EINVAL;
		goto out;
	} else if (r < 0) {
		set_err(err, "time zone '%s': cannot read its file: %s", tz_name, strerror(-r));
		goto out;
	} else {
		r = tzif_parse(data, len, c, &why);
		if (r == -EINVAL)
			set_err(err, "time zone '%s': invalid TZif file (%s)", tz_name, why);
		if (r < 0)
			goto out;
	}
	*ret = c;
	c = NULL;
out:
	free(data);
	calendar_free(c);
	return r;
}

int calendar_period(const struct calendar *c, enum oeed_period p, oeed_ms t, oeed_ms *ret_start,
		    oeed_ms *ret_end, int *ret_shift)
{
	int64_t k;
	oeed_ms start, end;
	int r = find_period(c, p, t, &k, &start, &end);
	if (r < 0)
		return r;
	if (ret_start)
		*ret_start = start;
	if (ret_end)
		*ret_end = end;
	if (ret_shift) {
		int64_t n = (int64_t)c->n_shifts;
		*ret_shift = p == PERIOD_SHIFT ? (int)(k - floor_div(k, n) * n) : -1;
	}
	return 0;
}

static int format_label(const struct calendar *c, enum oeed_period p, int64_t k, char *buf,
			size_t len)
{
	int64_t day = floor_div(boundary_local(c, p, k), SEC_PER_DAY), y;
	int m, d, n;
	civil_from_days(day, &y, &m, &d);
	switch (p) {
	case PERIOD_MONTH:
		n = snprintf(buf, len, "%04lld-%02d", (long long)y, m);
		break;
	case PERIOD_DAY:
		n = snprintf(buf, len, "%04lld-%02d-%02d", (long long)y, m, d);
		break;
	case PERIOD_WEEK: {
		/* The ISO week-year is the year of the week's Thursday. */
		int64_t thu = day + 3, wy;
		civil_from_days(thu, &wy, &m, &d);
		int week = (int)((thu - days_from_civil(wy, 1, 1)) / 7) + 1;
		n = snprintf(buf, len, "%04lld-W%02d", (long long)wy, week);
		break;
	}
	case PERIOD_SHIFT:
	default: {
		int64_t ns = (int64_t)c->n_shifts;
		n = snprintf(buf, len, "%04lld-%02d-%02d %s", (long long)y, m, d,
			     c->shifts[k - floor_div(k, ns) * ns].name);
		break;
	}
	}
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int calendar_label(const struct calendar *c, enum oeed_period p, oeed_ms t, char *buf, size_t len)
{
	int64_t k;
	oeed_ms start, end;
	int r = find_period(c, p, t, &k, &start, &end);
	if (r < 0)
		return r;
	return format_label(c, p, k, buf, len);
}

int calendar_utc_offset(const struct calendar *c, oeed_ms t)
{
	return offset_at(c, floor_div(t, 1000));
}

/* Exactly n digits. */
static const char *label_digits(const char *s, int n, int *ret)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return NULL;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return s + n;
}

/* "YYYY-MM" or "YYYY-MM-DD" (with_day); returns the rest of the string. */
static const char *label_date(const char *s, bool with_day, int *y, int *m, int *d)
{
	*d = 1;
	if (!(s = label_digits(s, 4, y)) || *s != '-' || !(s = label_digits(s + 1, 2, m)) ||
	    *m < 1 || *m > 12)
		return NULL;
	if (!with_day)
		return s;
	if (*s != '-' || !(s = label_digits(s + 1, 2, d)) || *d < 1 || *d > days_in_month(*y, *m))
		return NULL;
	return s;
}

int calendar_parse_label(const struct calendar *c, enum oeed_period p, const char *label,
			 oeed_ms *ret_start, oeed_ms *ret_end)
{
	int y, m, d, r = check_kind(c, p);
	const char *s = label;
	int64_t k;
	if (r < 0)
		return r;
	if (!label)
		return -EINVAL;
	switch (p) {
	case PERIOD_MONTH:
		if (!(s = label_date(s, false, &y, &m, &d)) || *s)
			return -EINVAL;
		k = (int64_t)y * 12 + m - 1;
		break;
	case PERIOD_DAY:
		if (!(s = label_date(s, true, &y, &m, &d)) || *s)
			return -EINVAL;
		k = days_from_civil(y, m, d);
		break;
	case PERIOD_WEEK: {
		int w;
		if (!(s = label_digits(s, 4, &y)) || s[0] != '-' || s[1] != 'W' ||
		    !(s = label_digits(s + 2, 2, &w)) || *s)
			return -EINVAL;
		int64_t mon1 = iso_week1_monday(y);
		if (w < 1 || w > (iso_week1_monday((int64_t)y + 1) - mon1) / 7)
			return -EINVAL;
		k = floor_div(mon1 + (int64_t)(w - 1) * 7 + 3, 7);
		break;
	}
	case PERIOD_SHIFT:
	default: {
		size_t i;
		if (!(s = label_date(s, true, &y, &m, &d)) || *s != ' ')
			return -EINVAL;
		for (i = 0; i < c->n_shifts; i++)
			if (strcmp(s + 1, c->shifts[i].name) == 0)
				break;
		if (i == c->n_shifts)
			return -EINVAL;
		k = days_from_civil(y, m, d) * (int64_t)c->n_shifts + (int64_t)i;
		break;
	}
	}
	if (ret_start)
		*ret_start = local_to_utc(c, boundary_local(c, p, k)) * 1000;
	if (ret_end)
		*ret_end = local_to_utc(c, boundary_local(c, p, k + 1)) * 1000;
	return 0;
}
