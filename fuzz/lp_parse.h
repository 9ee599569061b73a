/* lp_parse.h - a small reference reader of InfluxDB line protocol, copied from
 * tests/test-lineproto.c (keep the two in step): it follows the InfluxDB 1.x scanner
 * (models/points.go) and cross-checks VictoriaMetrics' unescaping of names. Reads lines with
 * at most one tag, a float field and a string field "s"; buffers hold 512 bytes, so callers
 * keep each name under 250 bytes. One addition to the copy: a line without a timestamp
 * parses with ts = OEED_MS_NONE. expect_name() gives the name a reader sees by the documented
 * normalisations (CR/LF -> space, backslash runs, leading '#' or tab, empty measurement). */
#pragma once
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

struct parsed {
	char meas[512];
	char tag_k[512], tag_v[512];
	int n_tags;
	char fkey[512], fstr[512], numkey[512];
	double fnum;
	int n_fields;
	long long ts;
};

/* InfluxDB 1.x unescaping: only the listed characters lose their backslash. */
static void unescape_1x(char *dst, const char *s, size_t len, const char *escapable)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len && strchr(escapable, s[i + 1]))
			i++;
		dst[o++] = s[i];
	}
	dst[o] = '\0';
}

/* VictoriaMetrics unescaping of names: backslash before space, comma, equals or backslash
 * is dropped, elsewhere kept. */
static void unescape_vm(char *dst, const char *s, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len && strchr(" ,=\\", s[i + 1]))
			i++;
		dst[o++] = s[i];
	}
	dst[o] = '\0';
}

/* Scans to the first of `stops` not preceded by a backslash (1.x scanTagsValue rule). */
static size_t scan_unescaped(const char *s, size_t i, size_t len, const char *stops)
{
	for (; i < len; i++)
		if (strchr(stops, s[i]) && (i == 0 || s[i - 1] != '\\'))
			break;
	return i;
}

/* Parses one line with at most one tag and fields "f=<float>" then "s=<string>" in any
 * order. Returns 0 or -1, and counts a mismatch between the 1.x and VM readings as -2. */
static int parse_line(const char *line, struct parsed *p)
{
	size_t len = strlen(line);
	char vm[512];
	memset(p, 0, sizeof(*p));
	if (len == 0 || line[len - 1] != '\n' || line[0] == '#' || line[0] == ' ' ||
	    line[0] == '\t')
		return -1;
	len--;
	if (memchr(line, '\n', len) || memchr(line, '\r', len))
		return -1;
	size_t i = scan_unescaped(line, 1, len, ", ");
	unescape_1x(p->meas, line, i, ", ");
	unescape_vm(vm, line, i);
	if (strcmp(vm, p->meas) != 0)
		return -2;
	while (i < len && line[i] == ',') {
		size_t k = i + 1;
		size_t eq = scan_unescaped(line, k, len, "=, ");
		if (eq >= len || line[eq] != '=' || eq == k)
			return -1;
		size_t e = scan_unescaped(line, eq + 1, len, ", =");
		if (e == eq + 1 || (e < len && line[e] == '='))
			return -1;
		unescape_1x(p->tag_k, line + k, eq - k, ", =");
		unescape_1x(p->tag_v, line + eq + 1, e - eq - 1, ", =");
		unescape_vm(vm, line + eq + 1, e - eq - 1);
		if (strcmp(vm, p->tag_v) != 0)
			return -2;
		p->n_tags++;
		i = e;
	}
	if (i >= len || line[i] != ' ')
		return -1;
	i++;
	for (;;) {
		/* Field keys: the 1.x field scanner skips any backslash and the next byte. */
		size_t k = i;
		while (i < len && line[i] != '=') {
			if (line[i] == '\\')
				i++;
			else if (line[i] == ' ' || line[i] == ',')
				return -1;
			i++;
		}
		if (i >= len || i == k)
			return -1;
		unescape_1x(p->fkey, line + k, i - k, ", =");
		i++;
		if (line[i] == '"') {
			size_t v = ++i;
			while (i < len && line[i] != '"')
				i += line[i] == '\\' ? 2 : 1;
			if (i >= len)
				return -1;
			unescape_1x(p->fstr, line + v, i - v, "\"\\");
			i++;
		} else {
			char *end;
			p->fnum = strtod(line + i, &end);
			strcpy(p->numkey, p->fkey);
			if (end == line + i)
				return -1;
			i = (size_t)(end - line);
		}
		p->n_fields++;
		if (line[i] == ',') {
			i++;
			continue;
		}
		break;
	}
	if (i == len) {
		p->ts = OEED_MS_NONE;
		return 0;
	}
	if (line[i] != ' ')
		return -1;
	char *end;
	p->ts = strtoll(line + i + 1, &end, 10);
	return (size_t)(end - line) == len ? 0 : -1;
}

/* The name a reader sees, by the documented rules. */
static void expect_name(char *dst, const char *s, bool measurement)
{
	size_t o = 0, n = strlen(s);
	for (size_t i = 0; i < n;) {
		if (s[i] == '\\') {
			size_t j = i;
			while (j < n && s[j] == '\\')
				j++;
			char next = j < n ? s[j] : '\0';
			if (next == '\n' || next == '\r')
				next = ' ';
			if (next != '\0' && next != ',' && next != ' ' && next != '=')
				dst[o++] = '\\';
			i = j;
			continue;
		}
		dst[o++] = (s[i] == '\n' || s[i] == '\r') ? ' ' : s[i];
		i++;
	}
	dst[o] = '\0';
	if (measurement && o == 0) {
		strcpy(dst, "_");
	} else if (measurement && (s[0] == '#' || s[0] == '\t')) {
		memmove(dst + 1, dst, o + 1);
		dst[0] = '_';
	}
}
