/* fuzz-lineproto.c - libFuzzer target for the line-protocol encoder (daemon/lineproto.c): a
 * line built from fuzzed measurement, tag key/value, float field key and string field value
 * must parse back (lp_parse.h, the InfluxDB 1.x rules, agreeing with VictoriaMetrics) to what
 * was given after the documented normalisations, with the same float and timestamp.
 * Input: 8 bytes float, 8 bytes timestamp, then five strings separated by NUL bytes. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lineproto.h"
#include "lp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STR_MAX 100 /* escaped at most twice its length: within lp_parse.h's 512 bytes */

static void fail(const char *what, const char *line)
{
	fprintf(stderr, "%s in line: %s", what, line);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char str[5][STR_MAX + 1], exp[512];
	double num;
	int64_t ts;
	size_t pos = 16;
	struct strbuf sb;
	struct lp_line l;
	struct parsed p;

	if (size < 16)
		return 0;
	memcpy(&num, data, sizeof(num));
	memcpy(&ts, data + 8, sizeof(ts));
	for (int k = 0; k < 5; k++) {
		size_t n = 0;
		if (pos < size) {
			const uint8_t *nul = memchr(data + pos, '\0', size - pos);
			n = nul ? (size_t)(nul - data) - pos : size - pos;
		}
		if (n > STR_MAX)
			return 0;
		if (n)
			memcpy(str[k], data + pos, n);
		str[k][n] = '\0';
		pos += n + 1;
	}
	const char *m = str[0], *tk = str[1], *tv = str[2], *fk = str[3], *fs = str[4];

	strbuf_init(&sb);
	lp_begin(&l, &sb, m);
	lp_tag(&l, tk, tv);
	lp_field_float(&l, fk, num);
	lp_field_str(&l, "s", fs);
	if (!lp_end(&l, ts))
		fail("line dropped although it has a string field", sb.buf ? sb.buf : "");
	if (sb.failed || strlen(sb.buf) != sb.len)
		fail("buffer failed or holds a NUL", sb.buf);

	int r = parse_line(sb.buf, &p);
	if (r == -2)
		fail("InfluxDB 1.x and VictoriaMetrics read a name differently", sb.buf);
	if (r != 0)
		fail("line does not parse", sb.buf);

	expect_name(exp, m, true);
	if (strcmp(p.meas, exp) != 0)
		fail("measurement differs", sb.buf);
	bool tag_skipped = strspn(tk, "\\") == strlen(tk) || strspn(tv, "\\") == strlen(tv);
	if (p.n_tags != (tag_skipped ? 0 : 1))
		fail("tag count", sb.buf);
	if (!tag_skipped) {
		expect_name(exp, tk, false);
		if (strcmp(p.tag_k, exp) != 0)
			fail("tag key differs", sb.buf);
		expect_name(exp, tv, false);
		if (strcmp(p.tag_v, exp) != 0)
			fail("tag value differs", sb.buf);
	}
	bool field_skipped = strspn(fk, "\\") == strlen(fk) || !isfinite(num);
	if (p.n_fields != (field_skipped ? 1 : 2))
		fail("field count", sb.buf);
	if (!field_skipped) {
		if (p.fnum != num)
			fail("float does not read back", sb.buf);
		expect_name(exp, fk, false);
		if (strcmp(p.numkey, exp) != 0)
			fail("field key differs", sb.buf);
	}
	/* String values: CR and LF become spaces, everything else is kept. */
	strcpy(exp, fs);
	for (char *c = exp; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	if (strcmp(p.fstr, exp) != 0)
		fail("string field differs", sb.buf);
	if (p.ts != ts)
		fail("timestamp differs", sb.buf);
	strbuf_free(&sb);
	return 0;
}
