/* Unit tests for lineproto.c: hand-written expected lines for every escaping rule and number
 * form, and a round trip through a small reference parser that follows the InfluxDB 1.x
 * scanner (models/points.go) and cross-checks VictoriaMetrics' unescaping. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "lineproto.h"
#include "testutil.h"

static const char *fmt_double(struct strbuf *sb, double v)
{
	strbuf_reset(sb);
	lp_format_double(sb, v);
	return sb->buf;
}

static void test_lines(void)
{
	struct strbuf sb;
	struct lp_line l;
	strbuf_init(&sb);

	lp_begin(&l, &sb, "oee");
	lp_tag(&l, "machine", "press 01");
	lp_tag(&l, "reason", "a,b=c");
	lp_field_float(&l, "availability", 0.975);
	lp_field_int(&l, "count", 42);
	lp_field_bool(&l, "final", true);
	lp_field_bool(&l, "open", false);
	CHECK(lp_end(&l, 1700000000123));
	CHECK_STR(sb.buf, "oee,machine=press\\ 01,reason=a\\,b\\=c availability=0.975,count=42i,"
			  "final=true,open=false 1700000000123\n");

	/* Measurement escapes comma and space but not '='. */
	strbuf_reset(&sb);
	lp_begin(&l, &sb, "my meas,x=y");
	lp_field_int(&l, "v", -5);
	CHECK(lp_end(&l, 0));
	CHECK_STR(sb.buf, "my\\ meas\\,x=y v=-5i 0\n");

	/* String fields: quote and backslash escaped, comma/space/equals literal. */
	strbuf_reset(&sb);
	lp_begin(&l, &sb, "m");
	lp_field_str(&l, "note key", "say \"hi\", x=1 \\ there");
	CHECK(lp_end(&l, 5));
	CHECK_STR(sb.buf, "m note\\ key=\"say \\\"hi\\\", x=1 \\\\ there\" 5\n");

	/* Unicode passes through; CR and LF become spaces (escaped in names). */
	strbuf_reset(&sb);
	lp_begin(&l, &sb, "m\nx");
	lp_tag(&l, "line", "\xc3\xbc \xe6\x97\xa5\xe6\x9c\xac");
	lp_tag(&l, "k\r", "a\nb\rc");
	lp_field_str(&l, "s", "l1\nl2\r\n");
	CHECK(lp_end(&l, 7));
	CHECK_STR(sb.buf, "m\\ x,line=\xc3\xbc\\ \xe6\x97\xa5\xe6\x9c\xac,k\\ =a\\ b\\ c "
			  "s=\"l1 l2  \" 7\n");

	/* Backslashes in names: trailing dropped, runs collapsed, dropped before a separator;
	 * a value of only backslashes or empty is skipped; empty key skipped. */
	strbuf_reset(&sb);
	lp_begin(&l, &sb, "m");
	lp_tag(&l, "t1", "abc\\");
	lp_tag(&l, "t2", "a\\\\b");
	lp_tag(&l, "t3", "a\\ b");
	lp_tag(&l, "t4", "\\\\");
	lp_tag(&l, "t5", "");
	lp_tag(&l, "", "x");
	lp_tag(&l, "t6", "a\\\\\\,b\\");
	lp_tag(&l, "t7", "a\\\n");
	lp_field_float(&l, "f\\", 1.5);
	lp_field_float(&l, "\\", 2.5);
	lp_field_str(&l, "s", "end\\");
	CHECK(lp_end(&l, 1));
	CHECK_STR(sb.buf, "m,t1=abc,t2=a\\b,t3=a\\ b,t6=a\\,b,t7=a\\  f=1.5,s=\"end\\\\\" 1\n");

	/* lp_tag_n takes a length (value not NUL-terminated). */
	strbuf_reset(&sb);
	lp_begin(&l, &sb, "m");
	lp_tag_n(&l, "id", "press-01/extra", 8);
	lp_field_str_n(&l, "s", "abcdef", 3);
	CHECK(lp_end(&l, 2));
	CHECK_STR(sb.buf, "m,id=press-01 s=\"abc\" 2\n");

	/* NaN and infinities are skipped; a tag after a field is dropped. */
	strbuf_reset(&sb);
	lp_begin(&l, &sb, "m");
	lp_field_float(&l, "a", NAN);
	lp_field_float(&l, "b", 0.5);
	lp_field_float(&l, "c", INFINITY);
	lp_field_float(&l, "d", -INFINITY);
	lp_tag(&l, "late", "x");
	lp_field_int(&l, "e", INT64_MIN);
	lp_field_int(&l, "z", 0);
	CHECK(lp_end(&l, -1000));
	CHECK_STR(sb.buf, "m b=0.5,e=-9223372036854775808i,z=0i -1000\n");

	/* A line without fields is removed; what was in the buffer before stays. */
	size_t before = sb.len;
	lp_begin(&l, &sb, "m");
	lp_tag(&l, "machine", "x");
	lp_field_float(&l, "a", NAN);
	CHECK(!lp_end(&l, 3));
	CHECK_INT(sb.len, before);
	CHECK_STR(sb.buf, "m b=0.5,e=-9223372036854775808i,z=0i -1000\n");

	/* Empty measurement, comment-looking measurement, no timestamp. */
	strbuf_reset(&sb);
	lp_begin(&l, &sb, "");
	lp_field_int(&l, "v", 1);
	CHECK(lp_end(&l, OEED_MS_NONE));
	lp_begin(&l, &sb, "#c");
	lp_field_int(&l, "v", 2);
	CHECK(lp_end(&l, 9));
	lp_begin(&l, &sb, "\\");
	lp_field_int(&l, "v", 3);
	CHECK(lp_end(&l, 9));
	CHECK_STR(sb.buf, "_ v=1i\n_#c v=2i 9\n_ v=3i 9\n");

	/* Escape primitives on their own. */
	strbuf_reset(&sb);
	lp_escape_measurement(&sb, "a b,c=d\\", 8);
	CHECK_STR(sb.buf, "a\\ b\\,c=d");
	strbuf_reset(&sb);
	lp_escape_key(&sb, "a b,c=d\"", 8);
	CHECK_STR(sb.buf, "a\\ b\\,c\\=d\"");
	strbuf_reset(&sb);
	lp_escape_string(&sb, "a \"b\" \\c,=", 10);
	CHECK_STR(sb.buf, "a \\\"b\\\" \\\\c,=");

	/* Floats: shortest form that round-trips. */
	CHECK_STR(fmt_double(&sb, 0.975), "0.975");
	CHECK_STR(fmt_double(&sb, 1e-7), "1e-07");
	CHECK_STR(fmt_double(&sb, 123456789.125), "123456789.125");
	CHECK_STR(fmt_double(&sb, -0.0), "0");
	CHECK_STR(fmt_double(&sb, 0.0), "0");
	CHECK_STR(fmt_double(&sb, 3.0), "3");
	CHECK_STR(fmt_double(&sb, -2.5), "-2.5");
	CHECK_STR(fmt_double(&sb, 0.1 + 0.2), "0.30000000000000004");
	CHECK_STR(fmt_double(&sb, 1.0 / 3.0), "0.3333333333333333");
	CHECK_STR(fmt_double(&sb, 1e300), "1e+300");
	CHECK_STR(fmt_double(&sb, 1e15), "1e+15");
	CHECK_STR(fmt_double(&sb, 123456789012345.0), "123456789012345");
	CHECK_STR(fmt_double(&sb, -123456789012345.0), "-123456789012345");
	CHECK_STR(fmt_double(&sb, 5e-324), "4.94065645841247e-324");
	CHECK_STR(fmt_double(&sb, 1.7976931348623157e308), "1.7976931348623157e+308");

	strbuf_free(&sb);
}

/* ---- reference parser: shared with fuzz/fuzz-lineproto.c ---- */

#include "../fuzz/lp_parse.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)rng_state;
}

static void random_string(char *buf, size_t max)
{
	static const char *const atoms[] = {
	    "a",  "Z",	"0", " ",  ",", "=",	    "\"",	    "\\",
	    "\n", "\r", "#", "\t", "'", "\xc3\xbc", "\xe6\x97\xa5", "i"};
	size_t n = rnd() % max, o = 0;
	for (size_t i = 0; i < n; i++) {
		const char *a = atoms[rnd() % OEED_ARRAY_SIZE(atoms)];
		size_t al = strlen(a);
		memcpy(buf + o, a, al);
		o += al;
	}
	buf[o] = '\0';
}

static void test_round_trip(void)
{
	struct strbuf sb;
	struct lp_line l;
	struct parsed p;
	char m[64], tk[64], tv[64], fk[64], fs[64], exp[160];
	int failures = 0;
	strbuf_init(&sb);
	for (int n = 0; n < 500; n++) {
		random_string(m, 16);
		random_string(tk, 16);
		random_string(tv, 16);
		random_string(fk, 16);
		random_string(fs, 16);
		double num = (double)(int32_t)rnd() / (double)(rnd() | 1);
		strbuf_reset(&sb);
		lp_begin(&l, &sb, m);
		lp_tag(&l, tk, tv);
		lp_field_float(&l, fk, num);
		lp_field_str(&l, "s", fs);
		int64_t ts = (int64_t)rnd() * 1000;
		CHECK(lp_end(&l, ts));
		int r = parse_line(sb.buf, &p);
		if (r != 0) {
			fprintf(stderr, "parse %d: %s", r, sb.buf);
			failures++;
			continue;
		}
		expect_name(exp, m, true);
		failures += strcmp(p.meas, exp) != 0;
		bool tag_skipped = strspn(tk, "\\") == strlen(tk) || strspn(tv, "\\") == strlen(tv);
		failures += p.n_tags != (tag_skipped ? 0 : 1);
		if (!tag_skipped) {
			expect_name(exp, tk, false);
			failures += strcmp(p.tag_k, exp) != 0;
			expect_name(exp, tv, false);
			failures += strcmp(p.tag_v, exp) != 0;
		}
		bool field_skipped = strspn(fk, "\\") == strlen(fk);
		failures += p.n_fields != (field_skipped ? 1 : 2);
		if (!field_skipped) {
			failures += p.fnum != num;
			expect_name(exp, fk, false);
			failures += strcmp(p.numkey, exp) != 0;
		}
		for (char *c = fs; *c; c++)
			if (*c == '\n' || *c == '\r')
				*c = ' ';
		failures += strcmp(p.fstr, fs) != 0;
		failures += p.ts != ts;
	}
	CHECK_INT(failures, 0);
	strbuf_free(&sb);
}

int main(void)
{
	test_lines();
	test_round_trip();
	TEST_END();
}
