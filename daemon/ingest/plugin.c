/* plugin.c - the registry of built-in decoders (listed in plugins/decoders.h), the ABI check
 * every decoder passes before use, and the event-time parsers decoders share. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "decoders.h"
#include "plugin.h"
#include "calendar.h"

#include <stdarg.h>
#include <stdio.h>

#define NAME_OF(name, fn)  name,
#define ENTRY_OF(name, fn) fn,

static const char *const builtin_names[] = {OEED_BUILTIN_DECODERS(NAME_OF) NULL};
static const oeed_decoder_entry_fn builtin_entries[] = {OEED_BUILTIN_DECODERS(ENTRY_OF)};

int plugin_check_entry(oeed_decoder_entry_fn entry, const char *name,
		       const struct oeed_decoder **ret)
{
	const struct oeed_decoder *d = entry ? entry() : NULL;

	if (!d)
		return -EINVAL;
	/* Only abi_version is read before the version is known to be ours. */
	if (d->abi_version != OEED_DECODER_ABI)
		return -ENOTSUP;
	if (!d->name || !d->create || !d->destroy || !d->decode)
		return -EINVAL;
	if (name && strcmp(d->name, name) != 0)
		return -EINVAL;
	*ret = d;
	return 0;
}

const struct oeed_decoder *plugin_find(const char *name)
{
	const struct oeed_decoder *d;

	for (size_t i = 0; i < OEED_ARRAY_SIZE(builtin_entries); i++) {
		if (strcmp(builtin_names[i], name) != 0)
			continue;
		return plugin_check_entry(builtin_entries[i], name, &d) == 0 ? d : NULL;
	}
	return NULL;
}

const char *const *plugin_names(void)
{
	return builtin_names;
}

/* Epoch seconds below 1e11 (year 5138), ms below 1e14, us below 1e17, else ns. Sub-ms parts
 * are cut (truncated); seconds are first rounded to the microsecond so that 0.123 s, which a
 * double holds as 0.12299999..., gives 123 ms. */
int plugin_parse_time_num(double v, oeed_ms *ret_ms)
{
	int64_t ms;

	if (!isfinite(v) || v < 0)
		return -EINVAL;
	if (v < 1e11)
		ms = llround(v * 1e6) / 1000;
	else if (v < 1e14)
		ms = (int64_t)v;
	else if (v < 1e17)
		ms = (int64_t)v / 1000;
	else if (v < 0x1p63)
		ms = (int64_t)v / 1000000;
	else
		return -EINVAL;
	*ret_ms = ms;
	return 0;
}

/* Reads exactly n decimal digits. */
static bool read_digits(const char *s, size_t n, int *ret)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return true;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int era = (y >= 0 ? y : y - 399) / 400;
	int yoe = y - era * 400;
	int doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int64_t)era * 146097 + doe - 719468;
}

struct plugin_zone {
	struct calendar *cal;
};

int plugin_zone_new(const char *name, struct plugin_zone **ret, struct oeed_decode_error *err)
{
	struct oeed_error e = {{0}};
	struct plugin_zone *z = calloc(1, sizeof(*z));
	if (!z)
		return plugin_error(err, 0, -ENOMEM, "out of memory");
	if (calendar_new(name, NULL, 0, &z->cal, &e) < 0) {
		free(z);
		return plugin_error(err, 0, -EINVAL, "timestamp_zone: %s", e.msg);
	}
	*ret = z;
	return 0;
}

void plugin_zone_free(struct plugin_zone *z)
{
	if (!z)
		return;
	calendar_free(z->cal);
	free(z);
}

/* Local civil time (as if UTC) -> UTC in zone z. In a gap (clocks forward) the offset before
 * it applies (02:30 in a 02:00 -> 03:00 gap is 03:30 after it); a repeated hour (clocks back)
 * is read as its first occurrence. */
static int64_t local_to_utc(const struct plugin_zone *z, int64_t local_ms)
{
	int64_t guess = local_ms - (int64_t)calendar_utc_offset(z->cal, local_ms) * 1000;
	int64_t first = local_ms - (int64_t)calendar_utc_offset(z->cal, guess) * 1000;
	/* the earlier of the two readings when both are consistent (the repeated hour) */
	int64_t earlier = local_ms - (int64_t)calendar_utc_offset(z->cal, first - 3600000) * 1000;
	if (earlier < first &&
	    local_ms - (int64_t)calendar_utc_offset(z->cal, earlier) * 1000 == earlier)
		return earlier;
	return first; /* in a gap, first was read with the offset before it */
}

/* ISO 8601 as devices send it: YYYY-MM-DD, then T, t or a space, then HH:MM[:SS], a fraction
 * after the seconds with '.' or ',' (digits beyond ms are cut), then Z, z, +HH, +HHMM or
 * +HH:MM (or '-'), or nothing: then the source's timestamp_zone applies (-EDOM without one).
 * A leap second (:60) is accepted and lands on the next minute's :00. */
static int parse_iso8601(const char *s, size_t len, const struct plugin_zone *zone, oeed_ms *ret_ms)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, sec = 0, frac_ms = 0, off_h = 0, off_m = 0, sign = 0;
	size_t i = 16;
	int64_t ms;

	if (len < 16 || s[4] != '-' || s[7] != '-' || s[13] != ':' ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
		return -EINVAL;
	if (!read_digits(s, 4, &y) || !read_digits(s + 5, 2, &mo) || !read_digits(s + 8, 2, &d) ||
	    !read_digits(s + 11, 2, &h) || !read_digits(s + 14, 2, &mi))
		return -EINVAL;
	if (i < len && s[i] == ':') {
		if (len < 19 || !read_digits(s + 17, 2, &sec))
			return -EINVAL;
		i = 19;
		if (i < len && (s[i] == '.' || s[i] == ',')) {
			size_t start = ++i;
			int scale = 100;

			for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10)
				frac_ms += (s[i] - '0') * scale;
			if (i == start)
				return -EINVAL;
		}
	}
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && is_leap(y)) || h > 23 ||
	    mi > 59 || sec > 60)
		return -EINVAL;
	if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
		sign = 2; /* UTC */
		i++;
	} else if (i < len && (s[i] == '+' || s[i] == '-')) {
		sign = s[i] == '+' ? 1 : -1;
		size_t n = len - i - 1;
		const char *o = s + i + 1;
		if (n == 2 && read_digits(o, 2, &off_h))
			i += 3;
		else if (n == 4 && read_digits(o, 2, &off_h) && read_digits(o + 2, 2, &off_m))
			i += 5;
		else if (n == 5 && o[2] == ':' && read_digits(o, 2, &off_h) &&
			 read_digits(o + 3, 2, &off_m))
			i += 6;
		else
			return -EINVAL;
		if (off_h > 23 || off_m > 59)
			return -EINVAL;
	}
	if (i != len)
		return -EINVAL;

	ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 + sec;
	ms = ms * 1000 + frac_ms;
	if (sign == 0) {
		if (!zone)
			return -EDOM;
		ms = local_to_utc(zone, ms);
	} else if (sign != 2) {
		ms -= (int64_t)sign * (off_h * 60 + off_m) * 60000;
	}
	if (ms < 0)
		return -EINVAL;
	*ret_ms = ms;
	return 0;
}

int plugin_parse_time_str(const char *s, size_t len, oeed_ms *ret_ms)
{
	return plugin_parse_time_zone(s, len, NULL, ret_ms);
}

int plugin_parse_time_zone(const char *s, size_t len, const struct plugin_zone *zone,
			   oeed_ms *ret_ms)
{
	char buf[64];
	char *end;
	double v;

	if (len >= 5 && s[4] == '-')
		return parse_iso8601(s, len, zone, ret_ms);
	/* A plain decimal number: epoch s/ms/us/ns. strtod alone would also take "inf", hex
	 * and leading blanks. */
	if (len == 0 || len >= sizeof(buf) || s[0] < '0' || s[0] > '9')
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!strchr("0123456789.eE+-", s[i]) || s[i] == '\0')
			return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	v = strtod(buf, &end);
	if (end != buf + len)
		return -EINVAL;
	return plugin_parse_time_num(v, ret_ms);
}

/* No overlongs, no surrogates, nothing above U+10FFFF. */
size_t plugin_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i], lo = 0x80, hi = 0xbf;
		size_t k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			if (c == 0xe0)
				lo = 0xa0; /* overlong */
			else if (c == 0xed)
				hi = 0x9f; /* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			if (c == 0xf0)
				lo = 0x90; /* overlong */
			else if (c == 0xf4)
				hi = 0x8f; /* above U+10FFFF */
		} else {
			return i;
		}
		if (n - i <= k || s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (size_t j = 2; j <= k; j++)
			if (s[i + j] < 0x80 || s[i + j] > 0xbf)
				return i;
		i += k + 1;
	}
	return i;
}

int plugin_error(struct oeed_decode_error *err, size_t offset, int r, const char *fmt, ...)
{
	va_list ap;
	err->offset = offset;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return r;
}
