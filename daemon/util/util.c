/* util.c - see util.h */
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_number_unit(const char *s, double *ret_num, const char **ret_unit)
{
	char *end;
	if (!s || !*s)
		return -EINVAL;
	if (!(*s >= '0' && *s <= '9'))
		return -EINVAL; /* no sign, no leading dot, no spaces */
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -EINVAL;
	*ret_num = v;
	*ret_unit = end;
	return 0;
}

int parse_duration_ms(const char *s, oeed_ms *ret_ms)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = {{"ms", 1},	     {"s", 1000},	{"m", 60000},
		     {"h", 3600000}, {"d", 86400000.0}, {"w", 7 * 86400000.0}};
	double v;
	const char *unit;
	if (parse_number_unit(s, &v, &unit) < 0)
		return -EINVAL;
	if (*unit == '\0') {
		if (v != 0)
			return -EINVAL; /* a bare number is ambiguous; only "0" is allowed */
		*ret_ms = 0;
		return 0;
	}
	for (size_t i = 0; i < OEED_ARRAY_SIZE(units); i++) {
		if (strcmp(unit, units[i].unit) == 0) {
			double ms = v * units[i].ms;
			if (ms > 1e15 || ms != floor(ms))
				return -EINVAL; /* beyond ~31000 years, or finer than 1 ms */
			*ret_ms = (oeed_ms)ms;
			return 0;
		}
	}
	return -EINVAL;
}

int parse_size_bytes(const char *s, uint64_t *ret_bytes)
{
	static const struct {
		const char *unit;
		double mult;
	} units[] = {{"", 1},
		     {"B", 1},
		     {"KiB", 1024.0},
		     {"MiB", 1048576.0},
		     {"GiB", 1073741824.0},
		     {"TiB", 1099511627776.0},
		     {"kB", 1e3},
		     {"KB", 1e3},
		     {"MB", 1e6},
		     {"GB", 1e9},
		     {"TB", 1e12}};
	double v;
	const char *unit;
	if (parse_number_unit(s, &v, &unit) < 0)
		return -EINVAL;
	for (size_t i = 0; i < OEED_ARRAY_SIZE(units); i++) {
		if (strcmp(unit, units[i].unit) == 0) {
			double b = v * units[i].mult;
			if (b > 9.0e18 || b != floor(b))
				return -EINVAL;
			*ret_bytes = (uint64_t)b;
			return 0;
		}
	}
	return -EINVAL;
}

void format_duration(oeed_ms ms, char *buf, size_t len)
{
	if (ms == 0)
		snprintf(buf, len, "0s");
	else if (ms % 86400000 == 0)
		snprintf(buf, len, "%lldd", (long long)(ms / 86400000));
	else if (ms % 3600000 == 0)
		snprintf(buf, len, "%lldh", (long long)(ms / 3600000));
	else if (ms % 60000 == 0)
		snprintf(buf, len, "%lldm", (long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%llds", (long long)(ms / 1000));
	else
		snprintf(buf, len, "%lldms", (long long)ms);
}

void format_size(uint64_t b, char *buf, size_t len)
{
	if (b && b % 1073741824ull == 0)
		snprintf(buf, len, "%lluGiB", (unsigned long long)(b / 1073741824ull));
	else if (b && b % 1048576ull == 0)
		snprintf(buf, len, "%lluMiB", (unsigned long long)(b / 1048576ull));
	else if (b && b % 1024ull == 0)
		snprintf(buf, len, "%lluKiB", (unsigned long long)(b / 1024ull));
	else
		snprintf(buf, len, "%lluB", (unsigned long long)b);
}

void strbuf_init(struct strbuf *sb)
{
	memset(sb, 0, sizeof(*sb));
}

void strbuf_free(struct strbuf *sb)
{
	free(sb->buf);
	memset(sb, 0, sizeof(*sb));
}

void strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	sb->failed = false;
	if (sb->buf)
		sb->buf[0] = '\0';
}

int strbuf_reserve(struct strbuf *sb, size_t extra)
{
	if (sb->len + extra + 1 <= sb->cap)
		return 0;
	size_t cap = sb->cap ? sb->cap : 256;
	while (cap < sb->len + extra + 1) {
		if (cap > SIZE_MAX / 2) {
			sb->failed = true;
			return -ENOMEM;
		}
		cap *= 2;
	}
	char *p = realloc(sb->buf, cap);
	if (!p) {
		sb->failed = true;
		return -ENOMEM;
	}
	sb->buf = p;
	sb->cap = cap;
	return 0;
}

void strbuf_append(struct strbuf *sb, const char *s, size_t n)
{
	if (strbuf_reserve(sb, n) < 0)
		return;
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void strbuf_puts(struct strbuf *sb, const char *s)
{
	strbuf_append(sb, s, strlen(s));
}

void strbuf_putc(struct strbuf *sb, char c)
{
	if (strbuf_reserve(sb, 1) < 0)
		return;
	sb->buf[sb->len++] = c;
	sb->buf[sb->len] = '\0';
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || strbuf_reserve(sb, (size_t)n) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

size_t strlcpy_oeed(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);
	if (size) {
		size_t c = n < size - 1 ? n : size - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}
