/* gen-seeds.c - writes the seed inputs of the fuzzers whose input formats are binary framings
 * (sparkplug frames, lineproto, ingest) or encodings (recording lines), so the seeds follow
 * the same rules as the targets: `scripts/fuzz.sh --seeds` runs it into fuzz/corpus/. Seeds
 * are the constructions of the unit tests (tests/test-sparkplug.c, test-lineproto.c,
 * test-recording.c) and the demo config's topics. Files are named by an FNV-1a hash of their
 * content, so running it again rewrites the same files. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "recording.h"
#include "../tests/spb_build.h"
#include "spb_frames.h"
#include "util.h"

struct seed {
	uint8_t buf[8192];
	size_t len;
};

static const char *corpus_dir; /* set once by main() */

static void die(const char *what, const char *path)
{
	fprintf(stderr, "gen-seeds: %s: %s\n", what, path);
	exit(1);
}

static void put(struct seed *s, const void *p, size_t n)
{
	if (s->len + n > sizeof(s->buf))
		die("seed too large", "");
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void save(const char *fuzzer, const struct seed *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	char path[512];
	FILE *f;

	for (size_t i = 0; i < s->len; i++)
		h = (h ^ s->buf[i]) * 0x100000001b3ull;
	snprintf(path, sizeof(path), "%s/%s", corpus_dir, fuzzer);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die("cannot create", path);
	snprintf(path, sizeof(path), "%s/%s/gen-%016" PRIx64, corpus_dir, fuzzer, h);
	f = fopen(path, "wb");
	if (!f)
		die("cannot create", path);
	if (fwrite(s->buf, 1, s->len, f) != s->len || fclose(f) != 0)
		die("cannot write", path);
}

/* ---- sparkplug ----------------------------------------------------------------------- */

enum {
	DT_INT8 = 1,
	DT_INT32 = 3,
	DT_INT64 = 4,
	DT_UINT64 = 8,
	DT_FLOAT = 9,
	DT_DOUBLE = 10,
	DT_BOOLEAN = 11,
	DT_STRING = 12,
	DT_DATETIME = 13
};
enum { F_NBIRTH, F_NDEATH, F_NDATA, F_NCMD, F_DBIRTH, F_DDEATH, F_DDATA, F_DCMD };

/* Appends one frame: selector, length, packed payload. */
static void frame(struct seed *s, uint8_t sel, const struct pb *b)
{
	uint8_t buf[1024];
	size_t n = spb__payload__get_packed_size(&b->p);
	uint8_t hdr[3] = {sel, (uint8_t)(n & 0xff), (uint8_t)(n >> 8)};

	if (n > sizeof(buf))
		exit(1);
	spb__payload__pack(&b->p, buf);
	put(s, hdr, 3);
	put(s, buf, n);
}

static void nbirth(struct pb *b, uint8_t seq, uint64_t bdseq)
{
	pb_init(b, 1700000000000, seq);
	set_long(pb_metric(b, "bdSeq", -1, DT_INT64), bdseq);
	set_str(pb_metric(b, "Machine/State", 1, DT_STRING), "RUNNING");
	set_long(pb_metric(b, "Counts/Total", 2, DT_UINT64), 1000);
	set_int(pb_metric(b, "Counts/Good", 3, DT_INT32), 990);
	set_int(pb_metric(b, "Counts/Reject", 4, DT_INT8), 0xff); /* -1 as Int8 */
	set_double(pb_metric(b, "Machine/Cycle", 5, DT_DOUBLE), 1.25);
}

static void sparkplug_seeds(void)
{
	struct seed s;
	struct pb b;
	Spb__Payload__Metric *m;

	/* Node life: birth, data by alias and by name, death with the birth's bdSeq. */
	s.len = 0;
	nbirth(&b, 0, 3);
	frame(&s, F_NBIRTH, &b);
	pb_init(&b, 1700000001000, 1);
	set_str(pb_metric(&b, NULL, 1, 0), "FAULT");
	set_long(pb_metric(&b, NULL, 2, 0), 1001);
	frame(&s, F_NDATA, &b);
	pb_init(&b, 1700000002000, 2);
	set_int(pb_metric(&b, "Counts/Good", -1, DT_INT32), 991);
	m = pb_metric(&b, "Machine/Cycle", -1, DT_FLOAT);
	m->value_case = SPB__PAYLOAD__METRIC__VALUE_FLOAT_VALUE;
	m->float_value = 0.5f;
	frame(&s, F_NDATA, &b);
	pb_init(&b, -1, -1);
	set_long(pb_metric(&b, "bdSeq", -1, DT_INT64), 3);
	frame(&s, F_NDEATH, &b);
	save("fuzz-decoder-sparkplug", &s);

	/* Device life under a node: DBIRTH, DDATA by alias, DDEATH; then a stale NDEATH. */
	s.len = 0;
	nbirth(&b, 0, 4);
	frame(&s, F_NBIRTH, &b);
	pb_init(&b, 1700000000500, 1);
	set_str(pb_metric(&b, "Machine/State", 10, DT_STRING), "IDLE");
	set_int(pb_metric(&b, "Counts/Total", 11, DT_INT32), 5);
	set_bool(pb_metric(&b, "Machine/Cycle", 12, DT_BOOLEAN), 1);
	set_int(pb_metric(&b, "Unmapped", 13, 7), 1);
	frame(&s, F_DBIRTH, &b);
	pb_init(&b, 1700000003000, 2);
	set_int(pb_metric(&b, NULL, 11, 0), 6);
	set_bool(pb_metric(&b, NULL, 12, 0), 0);
	set_bool(pb_metric(&b, NULL, 10, 0), 1);
	frame(&s, F_DDATA, &b);
	pb_init(&b, 1700000004000, 3);
	frame(&s, F_DDEATH, &b);
	pb_init(&b, -1, -1);
	set_long(pb_metric(&b, "bdSeq", -1, DT_INT64), 99);
	frame(&s, F_NDEATH, &b);
	save("fuzz-decoder-sparkplug", &s);

	/* Aliases without a BIRTH (a rebirth request), then a seq gap on a second node. */
	s.len = 0;
	pb_init(&b, 1700000000000, 7);
	set_str(pb_metric(&b, NULL, 1, 0), "RUNNING");
	frame(&s, F_NDATA | 8, &b);
	pb_init(&b, 1700000000000, 9);
	set_long(pb_metric(&b, "Counts/Total", -1, DT_UINT64), 5);
	frame(&s, F_NDATA | 8, &b);
	frame(&s, F_NCMD | 8, &b);
	frame(&s, F_DCMD | 16, &b);
	save("fuzz-decoder-sparkplug", &s);

	/* Value kinds: Int8 negative, DateTime, NaN and infinite doubles, null, no value,
	 * historical metric timestamps, a timestamp beyond INT64_MAX. */
	s.len = 0;
	pb_init(&b, 1700000000000, -1);
	set_int(pb_metric(&b, "Counts/Reject", -1, DT_INT8), 0x80);
	set_long(pb_metric(&b, "Counts/Total", -1, DT_DATETIME), 1700000000000);
	set_double(pb_metric(&b, "Machine/Cycle", -1, DT_DOUBLE), NAN);
	set_double(pb_metric(&b, "Counts/Good", -1, DT_DOUBLE), INFINITY);
	m = pb_metric(&b, "Machine/State", -1, DT_STRING);
	m->has_is_null = 1;
	m->is_null = 1;
	m = pb_metric(&b, "Machine/State", -1, DT_STRING);
	m->has_timestamp = 1;
	m->timestamp = UINT64_MAX;
	set_str(m, "\xc3\xbc\xe6\x97\xa5");
	pb_metric(&b, "Counts/Total", -1, DT_UINT64); /* no value */
	frame(&s, F_DBIRTH | 32, &b);
	save("fuzz-decoder-sparkplug", &s);

	/* A single NBIRTH and a single DDATA on their own. */
	s.len = 0;
	nbirth(&b, 0, 0);
	frame(&s, F_NBIRTH, &b);
	save("fuzz-decoder-sparkplug", &s);
	s.len = 0;
	pb_init(&b, 1700000000000, 1);
	set_str(pb_metric(&b, "Machine/State", -1, DT_STRING), "JAM");
	frame(&s, F_DDATA | 16, &b);
	save("fuzz-decoder-sparkplug", &s);
}

/* ---- lineproto ----------------------------------------------------------------------- */

static void lp_seed(double num, int64_t ts, const char *const str[5])
{
	struct seed s = {.len = 0};

	put(&s, &num, sizeof(num));
	put(&s, &ts, sizeof(ts));
	for (int k = 0; k < 5; k++)
		put(&s, str[k], strlen(str[k]) + (k < 4));
	save("fuzz-lineproto", &s);
}

static void lineproto_seeds(void)
{
	static const char *const cases[][5] = {
	    {"oee", "machine", "press 01", "availability", "ok"},
	    {"my meas,x=y", "reason", "a,b=c", "v", "say \"hi\", x=1 \\ there"},
	    {"m\nx", "line", "\xc3\xbc \xe6\x97\xa5\xe6\x9c\xac", "k\r", "l1\nl2\r\n"},
	    {"m", "t1", "abc\\", "f\\", "end\\"},
	    {"m", "t2", "a\\\\b", "\\", ""},
	    {"m", "t6", "a\\\\\\,b\\", "a\\ b", "x"},
	    {"", "", "x", "v", "s"},
	    {"#c", "k", "\\\\", "f", "#"},
	    {"\\", "k\\", "v", "=", "="},
	    {"\tm", "a=b", "c d", "e,f", "\"\""},
	};
	static const double nums[] = {0.975,  -0.0, 1e-7,     123456789.125, 1e300,
				      5e-324, NAN,  INFINITY, -2.5,	     0.1 + 0.2};
	static const int64_t tss[] = {
	    1700000000123, 0, -1000, OEED_MS_NONE, INT64_MAX, 1, 5, 9, 2, 7};

	for (size_t i = 0; i < OEED_ARRAY_SIZE(cases); i++)
		lp_seed(nums[i], tss[i], cases[i]);
}

/* ---- recording ----------------------------------------------------------------------- */

static void rec_line(struct seed *s, int64_t ns, const char *topic, const void *payload, size_t len)
{
	struct strbuf sb;
	char num[32];

	strbuf_init(&sb);
	snprintf(num, sizeof(num), "%" PRId64 " ", ns);
	strbuf_puts(&sb, num);
	rec_percent_encode(&sb, topic, strlen(topic));
	strbuf_putc(&sb, ' ');
	rec_base64_encode(&sb, payload, len);
	strbuf_putc(&sb, '\n');
	if (sb.failed)
		exit(1);
	put(s, sb.buf, sb.len);
	strbuf_free(&sb);
}

static void recording_seeds(void)
{
	static const char *const raw[] = {
	    "1 a/b \n",
	    "123 a/b QUJD\n",
	    "-5 a%20b QQ==\n",
	    "9223372036854775807 x/y/z QUI=\n",
	    "9223372036854775808 x QQ==\n",
	    "12 a%2 QQ==\n",
	    "12 a%zz QQ==\n",
	    "12 a QR==\n",
	    "12 a QQ=\n",
	    "12 a Q!==\n",
	    "12 a b c\n",
	    "x a QQ==\n",
	    " a QQ==\n",
	    "12\n",
	    "12 a\n",
	    "12 a QQ==",
	    "\n",
	    "12 \xc3\xbc QQ==\n",
	};
	struct seed s;
	const uint8_t bin[] = {0, 1, 2, 0xff, 0xfe, '\n', ' ', '%'};

	for (size_t i = 0; i < OEED_ARRAY_SIZE(raw); i++) {
		s.len = 0;
		put(&s, raw[i], strlen(raw[i]));
		save("fuzz-recording", &s);
	}
	s.len = 0;
	rec_line(&s, 1700000000000000000, "factory/l1/press-01/state", "RUNNING", 7);
	rec_line(&s, 1700000000500000000, "factory/l1/press 01/data",
		 "{\"state\":\"IDLE\",\"parts\":3}", 26);
	rec_line(&s, 1700000001000000000, "spBv1.0/G/NDATA/N1", bin, sizeof(bin));
	rec_line(&s, 1700000002000000000, "t%/\xc3\xbc#+", "", 0);
	save("fuzz-recording", &s);
	for (size_t n = 1; n <= 6; n++) {
		s.len = 0;
		rec_line(&s, (int64_t)n, "a/b", "abcdef", n);
		put(&s, raw[n], strlen(raw[n]));
		save("fuzz-recording", &s);
	}
}

/* ---- ingest ------------------------------------------------------------------------ */

static void msg(struct seed *s, const char *topic, const char *payload, uint8_t step_s)
{
	uint8_t tl = (uint8_t)strlen(topic);
	size_t pl = strlen(payload);
	uint8_t lens[2] = {(uint8_t)(pl & 0xff), (uint8_t)(pl >> 8)};

	put(s, &tl, 1);
	put(s, topic, tl);
	put(s, lens, 2);
	put(s, payload, pl);
	put(s, &step_s, 1);
}

static void ingest_seeds(void)
{
	static const char *const states[] = {"RUNNING", "IDLE",	      "BLOCKED", "STOP",    "FAULT",
					     "JAM",	"TOOLCHANGE", "BREAK",	 "UNKNOWN?"};
	struct seed s;
	char topic[64], payload[128];

	/* A shift of one machine: states, cumulative counts, rejects. */
	s.len = 0;
	for (int i = 0; i < 40; i++) {
		snprintf(payload, sizeof(payload), "%s", states[i % 8]);
		msg(&s, "factory/l1/press-01/state", payload, (uint8_t)(7 + i % 30));
		snprintf(payload, sizeof(payload), "%d", 100 + i * 3);
		msg(&s, "factory/l1/press-01/count", payload, 3);
		if (i % 5 == 0) {
			snprintf(payload, sizeof(payload), "%d", i / 5);
			msg(&s, "factory/l1/press-01/reject", payload, 1);
		}
	}
	save("fuzz-ingest", &s);

	/* JSON payloads for five machines (one beyond the fuzzer's machines.max of 4). */
	s.len = 0;
	for (int i = 0; i < 30; i++) {
		snprintf(topic, sizeof(topic), "factory/l%d/m-%d/data", i % 2, i % 5);
		snprintf(payload, sizeof(payload),
			 "{\"state\":\"%s\",\"parts\":%d,\"scrap\":%d,\"ts\":%lld}", states[i % 9],
			 i * 10, i / 3, 1700000000000LL + i * 15000LL);
		msg(&s, topic, payload, 15);
	}
	save("fuzz-ingest", &s);

	/* Rejections: unmatched topic, bad number, counter reset, empty machine level. */
	s.len = 0;
	msg(&s, "factory/l1/press-01/count", "500", 10);
	msg(&s, "factory/l1/press-01/count", "20", 10);
	msg(&s, "factory/l1/press-01/count", "-3", 10);
	msg(&s, "factory/l1/press-01/count", "1e999", 10);
	msg(&s, "factory/l1//state", "RUNNING", 10);
	msg(&s, "other/topic", "x", 10);
	msg(&s, "factory/l1/press-01/data", "{\"state\":\"RUN\"", 200);
	msg(&s, "factory/l1/press-01/data", "{\"ts\":\"2026-11-22T10:00:00Z\",\"state\":\"JAM\"}",
	    255);
	msg(&s, "factory/l1/press-01/state", "", 0);
	save("fuzz-ingest", &s);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen-seeds CORPUS-DIR\n");
		return 2;
	}
	corpus_dir = argv[1];
	sparkplug_seeds();
	lineproto_seeds();
	recording_seeds();
	ingest_seeds();
	return 0;
}
