/* Unit tests for the decoder registry (plugin.c), the text and json decoders and the shared
 * time parsers: exact emitted values, every error with its message and offset. */
#include <errno.h>
#include <stdlib.h>
#include "decoders.h"
#include "plugin.h"
#include "testutil.h"

struct rec {
	enum oeed_signal signal;
	enum oeed_value_kind kind;
	double num;
	char str[320];
	oeed_ms ts;
	bool machine_null;
};

struct cap {
	struct rec r[8];
	size_t n;
};

static void capture(void *ctx, const struct oeed_value *v)
{
	struct cap *c = ctx;
	struct rec *r;

	if (c->n == OEED_ARRAY_SIZE(c->r))
		return;
	r = &c->r[c->n++];
	r->signal = v->signal;
	r->kind = v->kind;
	r->num = v->num;
	r->str[0] = '\0';
	if (v->kind == VAL_STR && v->len < sizeof(r->str)) {
		memcpy(r->str, v->str, v->len);
		r->str[v->len] = '\0';
	}
	r->ts = v->ts_ms;
	r->machine_null = v->machine == NULL;
}

struct dec {
	const struct oeed_decoder *d;
	void *state;
	struct cap cap;
	struct oeed_decode_error err;
};

static int dec_open(struct dec *x, const char *name, const struct oeed_source *src)
{
	memset(x, 0, sizeof(*x));
	x->d = plugin_find(name);
	if (!x->d)
		return -ENOENT;
	return x->d->create(src, NULL, &x->state, &x->err);
}

/* Decodes len bytes of payload; the capture and error are reset first. */
static int run_len(struct dec *x, const char *payload, size_t len)
{
	struct oeed_msg msg = {
	    .topic = "t",
	    .topic_len = 1,
	    .payload = (const uint8_t *)payload,
	    .len = len,
	    .rx_ms = 5000,
	};

	x->cap.n = 0;
	x->err.offset = 999999;
	x->err.msg[0] = '\0';
	return x->d->decode(x->state, &msg, capture, &x->cap, &x->err);
}

static int run(struct dec *x, const char *payload)
{
	return run_len(x, payload, strlen(payload));
}

static void test_registry(void)
{
	const char *const *names = plugin_names();
	const struct oeed_decoder *d;

	CHECK_STR(names[0], "text");
	CHECK_STR(names[1], "json");
	size_t n = 0;
	while (names[n])
		n++;
	CHECK(n >= 2);
	d = plugin_find("text");
	CHECK(d != NULL && d->abi_version == OEED_DECODER_ABI);
	CHECK_STR(d ? d->name : NULL, "text");
	d = plugin_find("json");
	CHECK_STR(d ? d->name : NULL, "json");
	CHECK(plugin_find("xml") == NULL);
	CHECK(plugin_find("") == NULL);

	CHECK_INT(plugin_check_entry(decoder_json_entry, "json", &d), 0);
	CHECK(d == decoder_json_entry());
	CHECK_INT(plugin_check_entry(decoder_json_entry, NULL, &d), 0);
	CHECK_INT(plugin_check_entry(decoder_json_entry, "text", &d), -EINVAL);
	CHECK_INT(plugin_check_entry(NULL, "text", &d), -EINVAL);
}

/* Entries the registry must refuse. */
static const struct oeed_decoder future_abi = {.abi_version = OEED_DECODER_ABI + 1,
					       .name = "future"};
static const struct oeed_decoder *future_entry(void)
{
	return &future_abi;
}
static const struct oeed_decoder no_decode = {.abi_version = OEED_DECODER_ABI, .name = "half"};
static const struct oeed_decoder *half_entry(void)
{
	return &no_decode;
}
static const struct oeed_decoder *null_entry(void)
{
	return NULL;
}

static void test_registry_refuses(void)
{
	const struct oeed_decoder *d = NULL;

	CHECK_INT(plugin_check_entry(future_entry, "future", &d), -ENOTSUP);
	CHECK(d == NULL);
	CHECK_INT(plugin_check_entry(half_entry, "half", &d), -EINVAL);
	CHECK_INT(plugin_check_entry(null_entry, NULL, &d), -EINVAL);
	CHECK(d == NULL);
}

static void test_time_num(void)
{
	oeed_ms ms = 0;

	CHECK_INT(plugin_parse_time_num(1700000000, &ms), 0);
	CHECK_INT(ms, 1700000000000LL);
	CHECK_INT(plugin_parse_time_num(1700000000.123, &ms), 0);
	CHECK_INT(ms, 1700000000123LL);
	CHECK_INT(plugin_parse_time_num(1700000000.9999, &ms), 0);
	CHECK_INT(ms, 1700000000999LL);
	CHECK_INT(plugin_parse_time_num(0, &ms), 0);
	CHECK_INT(ms, 0);
	CHECK_INT(plugin_parse_time_num(99999999999.0, &ms), 0); /* just below 1e11: seconds */
	CHECK_INT(ms, 99999999999000LL);
	CHECK_INT(plugin_parse_time_num(1e11, &ms), 0); /* ms from here */
	CHECK_INT(ms, 100000000000LL);
	CHECK_INT(plugin_parse_time_num(1700000000123.0, &ms), 0);
	CHECK_INT(ms, 1700000000123LL);
	CHECK_INT(plugin_parse_time_num(1700000000123.7, &ms), 0);
	CHECK_INT(ms, 1700000000123LL);
	CHECK_INT(plugin_parse_time_num(1e14, &ms), 0); /* us from here */
	CHECK_INT(ms, 100000000000LL);
	CHECK_INT(plugin_parse_time_num(1700000000123456.0, &ms), 0);
	CHECK_INT(ms, 1700000000123LL);
	CHECK_INT(plugin_parse_time_num(1e17, &ms), 0); /* ns from here */
	CHECK_INT(ms, 100000000000LL);
	CHECK_INT(plugin_parse_time_num(1700000000123456789.0, &ms), 0);
	CHECK_INT(ms, 1700000000123LL);

	ms = 42;
	CHECK_INT(plugin_parse_time_num(-1, &ms), -EINVAL);
	CHECK_INT(plugin_parse_time_num(-0.5, &ms), -EINVAL);
	CHECK_INT(plugin_parse_time_num(NAN, &ms), -EINVAL);
	CHECK_INT(plugin_parse_time_num(INFINITY, &ms), -EINVAL);
	CHECK_INT(plugin_parse_time_num(1e19, &ms), -EINVAL); /* beyond int64 ns */
	CHECK_INT(ms, 42);				      /* untouched on failure */
}

static int tstr(const char *s, oeed_ms *ms)
{
	return plugin_parse_time_str(s, strlen(s), ms);
}

static void test_time_str(void)
{
	oeed_ms ms = 0;

	/* expected values from Python's datetime.fromisoformat(...).timestamp() */
	CHECK_INT(tstr("2026-11-22T10:00:00Z", &ms), 0);
	CHECK_INT(ms, 1795341600000LL);
	CHECK_INT(tstr("2026-11-22 10:00:00.250Z", &ms), 0);
	CHECK_INT(ms, 1795341600250LL);
	CHECK_INT(tstr("2026-11-22t10:00:00.25z", &ms), 0);
	CHECK_INT(ms, 1795341600250LL);
	CHECK_INT(tstr("2026-11-22T10:00:00.250+01:00", &ms), 0);
	CHECK_INT(ms, 1795338000250LL);
	CHECK_INT(tstr("2026-11-22T10:00:00-05:30", &ms), 0);
	CHECK_INT(ms, 1795361400000LL);
	CHECK_INT(tstr("2026-11-22T10:00:00.2509999Z", &ms), 0); /* beyond ms: cut */
	CHECK_INT(ms, 1795341600250LL);
	CHECK_INT(tstr("2026-11-22T10:00:00.5Z", &ms), 0);
	CHECK_INT(ms, 1795341600500LL);
	CHECK_INT(tstr("2024-02-29T00:00:00Z", &ms), 0);
	CHECK_INT(ms, 1709164800000LL);
	CHECK_INT(tstr("2000-03-01T12:34:56.789Z", &ms), 0);
	CHECK_INT(ms, 951914096789LL);
	CHECK_INT(tstr("1970-01-01T00:00:00Z", &ms), 0);
	CHECK_INT(ms, 0);
	CHECK_INT(tstr("2026-12-31T23:59:60Z", &ms), 0); /* leap second: next minute */
	CHECK_INT(ms, 1798761600000LL);
	CHECK_INT(tstr("1700000000", &ms), 0);
	CHECK_INT(ms, 1700000000000LL);
	CHECK_INT(tstr("1700000000.5", &ms), 0);
	CHECK_INT(ms, 1700000000500LL);
	CHECK_INT(tstr("1700000000123", &ms), 0);
	CHECK_INT(ms, 1700000000123LL);
	/* the length bounds the string */
	CHECK_INT(plugin_parse_time_str("2026-11-22T10:00:00Zgarbage", 20, &ms), 0);
	CHECK_INT(ms, 1795341600000LL);

	ms = 42;
	static const char *const bad[] = {
	    "",
	    "abc",
	    "-5",
	    " 1700000000",
	    "1700000000 ",
	    "0x10",
	    "1e999",
	    "inf",
	    "2026-13-01T00:00:00Z",
	    "2026-00-01T00:00:00Z",
	    "2026-02-29T00:00:00Z",
	    "2026-04-31T00:00:00Z",
	    "2026-11-22T24:00:00Z",
	    "2026-11-22T10:60:00Z",
	    "2026-11-22T10:00:61Z",
	    "2026-11-22T10:00:00.Z",
	    "2026-11-22T10:00:00,Z",
	    "2026-11-22T10:00:00+1",
	    "2026-11-22T10:00:00+010",
	    "2026-11-22T10:00:00+01:0",
	    "2026-11-22T10:00.5Z", /* a fraction needs seconds */
	    "2026-11-22T10Z",
	    "2026-11-22T10:00:00+24:00",
	    "2026-11-22T10:00:00Zx",
	    "2026-11-22X10:00:00Z",
	    "2026-11-22",
	    "2026-1-22T10:00:00Z",
	    "1969-12-31T23:59:59Z",
	    "1970-01-01T00:30:00+01:00",
	};
	for (size_t i = 0; i < OEED_ARRAY_SIZE(bad); i++) {
		int r = tstr(bad[i], &ms);
		CHECK_INT(r, -EINVAL);
		if (r != -EINVAL)
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
	}
	CHECK_INT(ms, 42);
	/* no offset and no zone: its own error, so the message can say what to do */
	CHECK_INT(tstr("2026-11-22T10:00:00", &ms), -EDOM);
	CHECK_INT(tstr("2026-11-22T10:00", &ms), -EDOM);
	CHECK_INT(ms, 42);
}

/* The ISO 8601 forms devices send (issue: +0100 rejected the whole message). */
static void test_time_iso_forms(void)
{
	oeed_ms ms = 0;
	const oeed_ms t = 1795341600000LL; /* 2026-11-22T10:00:00Z */
	CHECK_INT(tstr("2026-11-22T11:00:00+01:00", &ms), 0);
	CHECK_INT(ms, t);
	CHECK_INT(tstr("2026-11-22T11:00:00+0100", &ms), 0);
	CHECK_INT(ms, t);
	CHECK_INT(tstr("2026-11-22T11:00:00+01", &ms), 0);
	CHECK_INT(ms, t);
	CHECK_INT(tstr("2026-11-22T05:30:00-0430", &ms), 0);
	CHECK_INT(ms, t);
	CHECK_INT(tstr("2026-11-22T10:00:00,250Z", &ms), 0); /* a comma fraction */
	CHECK_INT(ms, t + 250);
	CHECK_INT(tstr("2026-11-22T11:00:00,5+01", &ms), 0);
	CHECK_INT(ms, t + 500);
	CHECK_INT(tstr("2026-11-22T10:00Z", &ms), 0); /* minutes only */
	CHECK_INT(ms, t);
	CHECK_INT(tstr("2026-11-22 11:00+01:00", &ms), 0);
	CHECK_INT(ms, t);

	/* no offset: read in the source's zone */
	struct plugin_zone *z = NULL;
	struct oeed_decode_error err = {0};
	CHECK_INT(plugin_zone_new("Europe/Berlin", &z, &err), 0);
	CHECK_INT(plugin_parse_time_zone("2026-11-22T11:00:00", 19, z, &ms), 0); /* CET */
	CHECK_INT(ms, t);
	CHECK_INT(plugin_parse_time_zone("2026-07-01T12:00:00.125", 23, z, &ms), 0); /* CEST */
	CHECK_INT(ms, 1782900000125LL);
	/* the repeated hour (2026-10-25 03:00 CEST -> 02:00 CET): its first occurrence */
	CHECK_INT(plugin_parse_time_zone("2026-10-25T02:30:00", 19, z, &ms), 0);
	CHECK_INT(ms, 1792888200000LL); /* 00:30Z, still CEST */
	/* the gap (2026-03-29 02:00 CET -> 03:00 CEST): read with the offset before it */
	CHECK_INT(plugin_parse_time_zone("2026-03-29T02:30:00", 19, z, &ms), 0);
	CHECK_INT(ms, 1774747800000LL); /* 01:30Z */
	/* an explicit offset wins over the zone */
	CHECK_INT(plugin_parse_time_zone("2026-07-01T12:00:00Z", 20, z, &ms), 0);
	CHECK_INT(ms, 1782907200000LL);
	plugin_zone_free(z);
	CHECK_INT(plugin_zone_new("Mars/Olympus", &z, &err), -EINVAL);
	CHECK(strstr(err.msg, "timestamp_zone") != NULL);
}

/* Gateways (Kepware, Ignition) send arrays of tag objects, in any order. */
static void test_json_filter(void)
{
	struct oeed_source src = {.signal = SIG_NONE};
	struct dec x;
	src.fields[SIG_STATE] = "$.values[?(@.id==\"Channel1.CNC1.State\")].v";
	src.fields[SIG_TOTAL] = "$.values[?(@.id=='Channel1.CNC1.Parts')].v";
	src.fields[SIG_TIMESTAMP] = "$.values[?(@.id==\"Channel1.CNC1.State\")].t";
	CHECK_INT(dec_open(&x, "json", &src), 0);
	const char *a = "{\"values\":[{\"id\":\"Channel1.CNC1.State\",\"v\":1,\"t\":1795341600000},"
			"{\"id\":\"Channel1.CNC1.Parts\",\"v\":120,\"t\":1795341600001}]}";
	const char *b =
	    "{\"values\":[{\"id\":\"Channel1.CNC1.Parts\",\"v\":120,\"t\":1795341600001},"
	    "{\"id\":\"Channel1.CNC1.State\",\"v\":1,\"t\":1795341600000}]}";
	for (int k = 0; k < 2; k++) { /* the order in the array does not matter */
		CHECK_INT(run(&x, k ? b : a), 0);
		CHECK_INT(x.cap.n, 2);
		CHECK_INT(x.cap.r[0].signal, SIG_STATE);
		CHECK_STR(x.cap.r[0].str, "1");
		CHECK_INT(x.cap.r[0].ts, 1795341600000LL);
		CHECK_INT(x.cap.r[1].signal, SIG_TOTAL);
		CHECK_NEAR(x.cap.r[1].num, 120, 0);
	}
	/* a tag not in the list is absent, not an error */
	CHECK_INT(run(&x, "{\"values\":[{\"id\":\"other\",\"v\":3}]}"), 0);
	CHECK_INT(x.cap.n, 0);
	CHECK_INT(run(&x, "{\"values\":{\"id\":1}}"), -EBADMSG);
	CHECK_STR(x.err.msg, "$.values[?(@.id==\"Channel1.CNC1.State\")].v: $.values is an object, "
			     "not an array");
	x.d->destroy(x.state);

	/* numbers match too */
	struct oeed_source num = {.signal = SIG_NONE};
	num.fields[SIG_TOTAL] = "$.tags[?(@.n==7)].value";
	CHECK_INT(dec_open(&x, "json", &num), 0);
	CHECK_INT(run(&x, "{\"tags\":[{\"n\":6,\"value\":1},{\"n\":7,\"value\":2}]}"), 0);
	CHECK_INT(x.cap.n, 1);
	CHECK_NEAR(x.cap.n ? x.cap.r[0].num : 0, 2, 0);
	x.d->destroy(x.state);

	/* bad filters are config errors naming the column */
	static const char *const bad[] = {"$.v[?(@.id=\"x\")].v", "$.v[?(@id==\"x\")]",
					  "$.v[?(@.id==\"x)]", "$.v[?(@.a.b==1)]",
					  "$.v[?(@.id==)]"};
	for (size_t i = 0; i < OEED_ARRAY_SIZE(bad); i++) {
		struct oeed_source b2 = {.signal = SIG_NONE};
		b2.fields[SIG_TOTAL] = (char *)bad[i];
		CHECK_INT(dec_open(&x, "json", &b2), -EINVAL);
		CHECK(strstr(x.err.msg, "bad filter in path") != NULL);
		if (!strstr(x.err.msg, "bad filter"))
			fprintf(stderr, "  %s: %s\n", bad[i], x.err.msg);
	}
}

/* A source's timestamp_zone: times without an offset are read in it. */
static void test_json_zone(void)
{
	struct oeed_source src = {.signal = SIG_NONE, .timestamp_zone = "Europe/Berlin"};
	struct dec x;
	src.fields[SIG_STATE] = "$.s";
	src.fields[SIG_TIMESTAMP] = "$.ts";
	CHECK_INT(dec_open(&x, "json", &src), 0);
	CHECK_INT(run(&x, "{\"s\":\"RUN\",\"ts\":\"2026-11-22T11:00:00\"}"), 0);
	CHECK_INT(x.cap.n, 1);
	CHECK_INT(x.cap.r[0].ts, 1795341600000LL);
	x.d->destroy(x.state);
	/* without a zone such a time is an error of that field: the state still counts, at
	 * the receive time */
	src.timestamp_zone = NULL;
	CHECK_INT(dec_open(&x, "json", &src), 0);
	CHECK_INT(run(&x, "{\"s\":\"RUN\",\"ts\":\"2026-11-22T11:00:00\"}"), -EBADMSG);
	CHECK_STR(x.err.msg, "$.ts: '2026-11-22T11:00:00' has no UTC offset (add Z or +01:00, or "
			     "set the source's timestamp_zone)");
	CHECK_INT(x.cap.n, 1);
	CHECK_INT(x.cap.r[0].ts, OEED_MS_NONE);
	x.d->destroy(x.state);
	/* a zone without a timestamp path, or an unknown zone, is a config error */
	struct oeed_source nz = {.signal = SIG_STATE, .timestamp_zone = "UTC"};
	CHECK_INT(dec_open(&x, "json", &nz), -EINVAL);
	CHECK_STR(x.err.msg, "timestamp_zone: needs a fields.timestamp path");
	src.timestamp_zone = "Nowhere/City";
	CHECK_INT(dec_open(&x, "json", &src), -EINVAL);
	CHECK(strstr(x.err.msg, "Nowhere/City") != NULL);
}

static void test_text_state(void)
{
	struct oeed_source src = {.signal = SIG_STATE};
	struct dec x;
	char big[300];

	CHECK_INT(dec_open(&x, "text", &src), 0);
	CHECK_INT(run(&x, "RUNNING"), 0);
	CHECK_INT(x.cap.n, 1);
	CHECK_INT(x.cap.r[0].signal, SIG_STATE);
	CHECK_INT(x.cap.r[0].kind, VAL_STR);
	CHECK_STR(x.cap.r[0].str, "RUNNING");
	CHECK_INT(x.cap.r[0].ts, OEED_MS_NONE);
	CHECK(x.cap.r[0].machine_null);

	CHECK_INT(run(&x, "  IDLE\r\n"), 0);
	CHECK_INT(x.cap.n, 1);
	CHECK_STR(x.cap.r[0].str, "IDLE");
	CHECK_INT(run(&x, "0"), 0); /* numbers stay text */
	CHECK_INT(x.cap.r[0].kind, VAL_STR);
	CHECK_STR(x.cap.r[0].str, "0");
	CHECK_INT(run(&x, "Fault 12"), 0);
	CHECK_STR(x.cap.r[0].str, "Fault 12");
	CHECK_INT(run(&x, "St\xc3\xb6rung"), 0);
	CHECK_STR(x.cap.r[0].str, "St\xc3\xb6rung");
	CHECK_INT(run_len(&x, "DOWN\0", 5), 0); /* C string with its terminator */
	CHECK_STR(x.cap.r[0].str, "DOWN");

	CHECK_INT(run(&x, ""), -EBADMSG);
	CHECK_STR(x.err.msg, "empty state");
	CHECK_INT(x.err.offset, 0);
	CHECK_INT(x.cap.n, 0);
	CHECK_INT(run(&x, " \t\n"), -EBADMSG);
	CHECK_STR(x.err.msg, "empty state");

	CHECK_INT(run(&x, "ab\xff"), -EBADMSG);
	CHECK_STR(x.err.msg, "invalid UTF-8 at byte 2");
	CHECK_INT(x.err.offset, 2);
	CHECK_INT(x.cap.n, 0);
	CHECK_INT(run(&x, " \xc3\x28"), -EBADMSG); /* bad continuation byte */
	CHECK_INT(x.err.offset, 1);
	CHECK_INT(run(&x, "x\xc0\xaf"), -EBADMSG); /* overlong '/' */
	CHECK_INT(x.err.offset, 1);
	CHECK_INT(run(&x, "\xed\xa0\x80"), -EBADMSG); /* a UTF-16 surrogate */
	CHECK_INT(x.err.offset, 0);
	CHECK_INT(run(&x, "ab\xe2\x82"), -EBADMSG); /* cut short */
	CHECK_STR(x.err.msg, "invalid UTF-8 at byte 2");
	CHECK_INT(run(&x, "\xf4\x90\x80\x80"), -EBADMSG); /* above U+10FFFF */
	CHECK_INT(x.err.offset, 0);
	CHECK_INT(run(&x, "\xf0\x9f\x98\x80 ok"), 0); /* 4-byte emoji */
	CHECK_STR(x.cap.r[0].str, "\xf0\x9f\x98\x80 ok");

	memset(big, 'a', 256);
	big[256] = '\0';
	CHECK_INT(run(&x, big), 0);
	CHECK_INT(strlen(x.cap.r[0].str), 256);
	big[0] = ' ';
	memset(big + 1, 'a', 257);
	big[258] = '\0';
	CHECK_INT(run(&x, big), -EBADMSG);
	CHECK_STR(x.err.msg, "state longer than 256 bytes");
	CHECK_INT(x.err.offset, 257);
	x.d->destroy(x.state);
}

static void test_text_numbers(void)
{
	struct oeed_source src = {.signal = SIG_TOTAL};
	struct dec x;
	char longnum[80];

	CHECK_INT(dec_open(&x, "text", &src), 0);
	CHECK_INT(run(&x, "42"), 0);
	CHECK_INT(x.cap.n, 1);
	CHECK_INT(x.cap.r[0].signal, SIG_TOTAL);
	CHECK_INT(x.cap.r[0].kind, VAL_NUM);
	CHECK_NEAR(x.cap.r[0].num, 42, 0);
	CHECK_INT(x.cap.r[0].ts, OEED_MS_NONE);
	CHECK_INT(run(&x, " 1.5e3\n"), 0);
	CHECK_NEAR(x.cap.r[0].num, 1500, 0);
	CHECK_INT(run(&x, "-3"), 0);
	CHECK_NEAR(x.cap.r[0].num, -3, 0);
	CHECK_INT(run(&x, ".5"), 0);
	CHECK_NEAR(x.cap.r[0].num, 0.5, 0);

	CHECK_INT(run(&x, ""), -EBADMSG);
	CHECK_STR(x.err.msg, "empty payload, expected a number");
	CHECK_INT(x.err.offset, 0);
	CHECK_INT(run(&x, "abc"), -EBADMSG);
	CHECK_STR(x.err.msg, "expected a number at byte 0");
	CHECK_INT(x.err.offset, 0);
	CHECK_INT(run(&x, "  x1"), -EBADMSG);
	CHECK_STR(x.err.msg, "expected a number at byte 2");
	CHECK_INT(x.err.offset, 2);
	CHECK_INT(run(&x, "12abc"), -EBADMSG);
	CHECK_STR(x.err.msg, "junk after the number at byte 2");
	CHECK_INT(x.err.offset, 2);
	CHECK_INT(run(&x, "12 3"), -EBADMSG);
	CHECK_STR(x.err.msg, "junk after the number at byte 2");
	CHECK_INT(run(&x, " 1.2.3"), -EBADMSG);
	CHECK_STR(x.err.msg, "junk after the number at byte 4");
	CHECK_INT(x.err.offset, 4);
	CHECK_INT(run(&x, "nan"), -EBADMSG);
	CHECK_STR(x.err.msg, "expected a number at byte 0");
	CHECK_INT(run(&x, "inf"), -EBADMSG);
	CHECK_STR(x.err.msg, "expected a number at byte 0");
	CHECK_INT(run(&x, "0x10"), -EBADMSG);
	CHECK_STR(x.err.msg, "junk after the number at byte 1");
	CHECK_INT(run(&x, "-"), -EBADMSG);
	CHECK_STR(x.err.msg, "expected a number at byte 0");
	CHECK_INT(run(&x, "1e999"), -EBADMSG);
	CHECK_STR(x.err.msg, "number out of range");
	CHECK_INT(run(&x, "5\xff"), -EBADMSG);
	CHECK_STR(x.err.msg, "junk after the number at byte 1");
	memset(longnum, '1', 70);
	longnum[70] = '\0';
	CHECK_INT(run(&x, longnum), -EBADMSG);
	CHECK_STR(x.err.msg, "number longer than 63 bytes");
	CHECK_INT(x.cap.n, 0);
	x.d->destroy(x.state);

	src.signal = SIG_CYCLE;
	CHECK_INT(dec_open(&x, "text", &src), 0);
	CHECK_INT(run(&x, ""), 0); /* one cycle, no duration */
	CHECK_INT(x.cap.n, 1);
	CHECK_INT(x.cap.r[0].signal, SIG_CYCLE);
	CHECK_INT(x.cap.r[0].kind, VAL_NONE);
	CHECK_INT(run(&x, " \n"), 0);
	CHECK_INT(x.cap.r[0].kind, VAL_NONE);
	CHECK_INT(run(&x, "2.5"), 0);
	CHECK_INT(x.cap.r[0].kind, VAL_NUM);
	CHECK_NEAR(x.cap.r[0].num, 2.5, 0);
	CHECK_INT(run(&x, "2.5s"), -EBADMSG);
	CHECK_STR(x.err.msg, "junk after the number at byte 3");
	x.d->destroy(x.state);

	src.signal = SIG_REJECT;
	CHECK_INT(dec_open(&x, "text", &src), 0);
	CHECK_INT(run(&x, "7"), 0);
	CHECK_INT(x.cap.r[0].signal, SIG_REJECT);
	CHECK_NEAR(x.cap.r[0].num, 7, 0);
	x.d->destroy(x.state);

	src.signal = SIG_NONE;
	CHECK_INT(dec_open(&x, "text", &src), -EINVAL);
	CHECK_STR(x.err.msg, "decoder text needs signal: state, total, good, reject or cycle");
	src.signal = SIG_STATE;
	src.fields[SIG_STATE] = "$.s";
	CHECK_INT(dec_open(&x, "text", &src), -EINVAL);
	CHECK_STR(x.err.msg, "decoder text takes no fields: (the payload is one value)");
}

static void test_json_fields(void)
{
	struct oeed_source src = {.signal = SIG_NONE};
	struct dec x;

	src.fields[SIG_STATE] = "$.state";
	src.fields[SIG_TOTAL] = "$.parts";
	src.fields[SIG_REJECT] = "$.scrap";
	src.fields[SIG_TIMESTAMP] = "$.ts";
	CHECK_INT(dec_open(&x, "json", &src), 0);

	/* emitted in signal order, not payload order; every value gets the timestamp */
	CHECK_INT(
	    run(&x, "{\"scrap\":\"3\",\"parts\":42,\"ts\":1700000000123,\"state\":\"RUNNING\"}"),
	    0);
	CHECK_INT(x.cap.n, 3);
	CHECK_INT(x.cap.r[0].signal, SIG_STATE);
	CHECK_INT(x.cap.r[0].kind, VAL_STR);
	CHECK_STR(x.cap.r[0].str, "RUNNING");
	CHECK_INT(x.cap.r[0].ts, 1700000000123LL);
	CHECK(x.cap.r[0].machine_null);
	CHECK_INT(x.cap.r[1].signal, SIG_TOTAL);
	CHECK_INT(x.cap.r[1].kind, VAL_NUM);
	CHECK_NEAR(x.cap.r[1].num, 42, 0);
	CHECK_INT(x.cap.r[1].ts, 1700000000123LL);
	CHECK_INT(x.cap.r[2].signal, SIG_REJECT);
	CHECK_NEAR(x.cap.r[2].num, 3, 0); /* numeric string accepted for counts */
	CHECK_INT(x.cap.r[2].ts, 1700000000123LL);

	CHECK_INT(run(&x, "{\"ts\":\"2026-11-22T10:00:00.250+01:00\",\"parts\":1}"), 0);
	CHECK_INT(x.cap.n, 1);
	CHECK_INT(x.cap.r[0].ts, 1795338000250LL);
	CHECK_INT(run(&x, "{\"ts\":\"1700000000\",\"parts\":1}"), 0);
	CHECK_INT(x.cap.r[0].ts, 1700000000000LL);
	CHECK_INT(run(&x, "{\"ts\":1700000000.5,\"parts\":1}"), 0);
	CHECK_INT(x.cap.r[0].ts, 1700000000500LL);

	/* state from numbers and booleans is text */
	CHECK_INT(run(&x, "{\"state\":1}"), 0);
	CHECK_INT(x.cap.n, 1);
	CHECK_INT(x.cap.r[0].kind, VAL_STR);
	CHECK_STR(x.cap.r[0].str, "1");
	CHECK_INT(x.cap.r[0].ts, OEED_MS_NONE);
	CHECK_INT(run(&x, "{\"state\":2.5}"), 0);
	CHECK_STR(x.cap.r[0].str, "2.5");
	CHECK_INT(run(&x, "{\"state\":0.1}"), 0);
	CHECK_STR(x.cap.r[0].str, "0.1");
	CHECK_INT(run(&x, "{\"state\":-7}"), 0);
	CHECK_STR(x.cap.r[0].str, "-7");
	CHECK_INT(run(&x, "{\"state\":true}"), 0);
	CHECK_STR(x.cap.r[0].str, "true");
	CHECK_INT(run(&x, "{\"state\":false}"), 0);
	CHECK_STR(x.cap.r[0].str, "false");
	CHECK_INT(run(&x, "{\"state\":\"caf\\u00e9\"}"), 0); /* escapes decoded */
	CHECK_STR(x.cap.r[0].str, "caf\xc3\xa9");

	/* null and missing are skipped; the rest stands */
	CHECK_INT(run(&x, "{\"state\":null,\"parts\":5,\"ts\":null}"), 0);
	CHECK_INT(x.cap.n, 1);
	CHECK_INT(x.cap.r[0].signal, SIG_TOTAL);
	CHECK_NEAR(x.cap.r[0].num, 5, 0);
	CHECK_INT(x.cap.r[0].ts, OEED_MS_NONE);
	CHECK_INT(run(&x, "{\"other\":1}"), 0);
	CHECK_INT(x.cap.n, 0);
	CHECK_INT(run(&x, "[1,2]"), -EBADMSG); /* a key path into an array */
	CHECK_STR(x.err.msg, "$.state: $ is an array, not an object");
	CHECK_INT(run_len(&x, "{\"parts\":9}\0", 12), 0); /* trailing NUL tolerated */
	CHECK_NEAR(x.cap.r[0].num, 9, 0);
	CHECK_INT(run(&x, " \n{\"parts\":9}\r\n "), 0);
	CHECK_NEAR(x.cap.r[0].num, 9, 0);

	/* type errors name the path; nothing is emitted, not even the good state before it */
	CHECK_INT(run(&x, "{\"state\":\"RUNNING\",\"parts\":\"abc\"}"), -EBADMSG);
	CHECK_STR(x.err.msg, "$.parts: expected a number, got string");
	CHECK_INT(x.err.offset, 0);
	CHECK_INT(x.cap.n, 0);
	CHECK_INT(run(&x, "{\"parts\":true}"), -EBADMSG);
	CHECK_STR(x.err.msg, "$.parts: expected a number, got boolean");
	CHECK_INT(run(&x, "{\"parts\":\"\"}"), -EBADMSG);
	CHECK_STR(x.err.msg, "$.parts: expected a number, got string");
	CHECK_INT(run(&x, "{\"parts\":\"12x\"}"), -EBADMSG);
	CHECK_STR(x.err.msg, "$.parts: expected a number, got string");
	CHECK_INT(run(&x, "{\"scrap\":[1]}"), -EBADMSG);
	CHECK_STR(x.err.msg, "$.scrap: expected a number, got array");
	CHECK_INT(run(&x, "{\"state\":{\"a\":1}}"), -EBADMSG);
	CHECK_STR(x.err.msg, "$.state: expected a string, number or boolean, got object");
	/* found by fuzz/fuzz-decoder-json: cJSON reads 1e400 as infinity */
	CHECK_INT(run(&x, "{\"parts\":1e400}"), -EBADMSG);
	CHECK_STR(x.err.msg, "$.parts: number out of range");
	CHECK_INT(x.cap.n, 0);
	CHECK_INT(run(&x, "{\"state\":-1e999}"), -EBADMSG);
	CHECK_STR(x.err.msg, "$.state: number out of range");

	/* a bad timestamp fails that field only: the values count at the receive time, and the
	 * error is reported (counted, logged) */
	CHECK_INT(run(&x, "{\"ts\":\"yesterday\",\"state\":\"RUNNING\"}"), -EBADMSG);
	CHECK_STR(x.err.msg, "$.ts: 'yesterday' is not an ISO 8601 time or epoch number");
	CHECK_INT(x.cap.n, 1);
	CHECK_INT(x.cap.r[0].ts, OEED_MS_NONE);
	CHECK_INT(run(&x, "{\"ts\":-5,\"parts\":1}"), -EBADMSG);
	CHECK_STR(x.err.msg, "$.ts: not a valid epoch time");
	CHECK_INT(x.cap.n, 1);
	CHECK_INT(run(&x, "{\"ts\":[1],\"parts\":1}"), -EBADMSG);
	CHECK_STR(x.err.msg, "$.ts: expected a number or string, got array");
	CHECK_INT(run(&x, "{\"ts\":true,\"parts\":1}"), -EBADMSG);
	CHECK_STR(x.err.msg, "$.ts: expected a number or string, got boolean");

	/* syntax errors carry cJSON's byte offset */
	CHECK_INT(run(&x, ""), -EBADMSG);
	CHECK_STR(x.err.msg, "empty payload");
	CHECK_INT(x.err.offset, 0);
	CHECK_INT(run(&x, "{\"parts\":"), -EBADMSG); /* truncated: cJSON points at the last byte */
	CHECK_STR(x.err.msg, "invalid JSON at byte 8");
	CHECK_INT(x.err.offset, 8);
	CHECK_INT(run(&x, "{\"parts\":12,}"), -EBADMSG);
	CHECK_STR(x.err.msg, "invalid JSON at byte 12");
	CHECK_INT(run(&x, "{\"parts\":1} x"), -EBADMSG);
	CHECK_STR(x.err.msg, "junk after the JSON value at byte 12");
	CHECK_INT(x.err.offset, 12);
	CHECK_INT(run(&x, "{\"parts\":1}{}"), -EBADMSG);
	CHECK_INT(x.err.offset, 11);
	/* cJSON reads numbers with strtod: it accepts "01" and "1." */
	CHECK_INT(run(&x, "{\"parts\":01}"), 0);
	CHECK_NEAR(x.cap.r[0].num, 1, 0);
	CHECK_INT(run(&x, "{\"parts\":tru}"), -EBADMSG);
	CHECK_STR(x.err.msg, "invalid JSON at byte 9");
	CHECK_INT(run(&x, "{\"state\":\"RUN\nNING\"}"), 0); /* cJSON lets raw control bytes pass */
	CHECK_STR(x.cap.r[0].str, "RUN\nNING");

	/* invalid UTF-8 anywhere in the payload, with its offset */
	CHECK_INT(run(&x, "{\"state\":\"RUN\xffNING\"}"), -EBADMSG);
	CHECK_STR(x.err.msg, "invalid UTF-8 at byte 13");
	CHECK_INT(x.err.offset, 13);
	CHECK_INT(x.cap.n, 0);
	CHECK_INT(run(&x, "{\"x\":\"\xc3\"}"), -EBADMSG);
	CHECK_INT(x.err.offset, 6);
	x.d->destroy(x.state);
}

static void test_json_paths(void)
{
	struct oeed_source src = {.signal = SIG_NONE};
	struct dec x;

	src.fields[SIG_TOTAL] = "$.a.b[2]";
	src.fields[SIG_STATE] = "$['key with space']";
	src.fields[SIG_GOOD] = "$[\"arr\"][0][1]";
	src.fields[SIG_CYCLE] = "$.m.cycle_s";
	CHECK_INT(dec_open(&x, "json", &src), 0);
	CHECK_INT(run(&x, "{\"a\":{\"b\":[10,20,30]},\"key with space\":\"IDLE\","
			  "\"arr\":[[1,2]],\"m\":{\"cycle_s\":1.25}}"),
		  0);
	CHECK_INT(x.cap.n, 4);
	CHECK_INT(x.cap.r[0].signal, SIG_STATE);
	CHECK_STR(x.cap.r[0].str, "IDLE");
	CHECK_INT(x.cap.r[1].signal, SIG_TOTAL);
	CHECK_NEAR(x.cap.r[1].num, 30, 0);
	CHECK_INT(x.cap.r[2].signal, SIG_GOOD);
	CHECK_NEAR(x.cap.r[2].num, 2, 0);
	CHECK_INT(x.cap.r[3].signal, SIG_CYCLE);
	CHECK_INT(x.cap.r[3].kind, VAL_NUM);
	CHECK_NEAR(x.cap.r[3].num, 1.25, 0);

	/* out of range index, null on the way: absent */
	CHECK_INT(run(&x, "{\"a\":{\"b\":[10]},\"m\":null}"), 0);
	CHECK_INT(x.cap.n, 0);
	/* cycle booleans: true is one cycle without a duration, false none */
	CHECK_INT(run(&x, "{\"m\":{\"cycle_s\":true}}"), 0);
	CHECK_INT(x.cap.n, 1);
	CHECK_INT(x.cap.r[0].signal, SIG_CYCLE);
	CHECK_INT(x.cap.r[0].kind, VAL_NONE);
	CHECK_INT(run(&x, "{\"m\":{\"cycle_s\":false}}"), 0);
	CHECK_INT(x.cap.n, 0);
	CHECK_INT(run(&x, "{\"m\":{\"cycle_s\":\"x\"}}"), -EBADMSG);
	CHECK_STR(x.err.msg, "$.m.cycle_s: expected a number or boolean, got string");
	/* a container of the wrong type on the way */
	CHECK_INT(run(&x, "{\"a\":5}"), -EBADMSG);
	CHECK_STR(x.err.msg, "$.a.b[2]: $.a is a number, not an object");
	CHECK_INT(run(&x, "{\"a\":{\"b\":{\"2\":1}}}"), -EBADMSG);
	CHECK_STR(x.err.msg, "$.a.b[2]: $.a.b is an object, not an array");
	CHECK_INT(run(&x, "{\"arr\":[\"s\"]}"), -EBADMSG);
	CHECK_STR(x.err.msg, "$[\"arr\"][0][1]: $[\"arr\"][0] is a string, not an array");
	x.d->destroy(x.state);
}

static void test_json_single(void)
{
	struct oeed_source src = {.signal = SIG_STATE};
	struct dec x;

	CHECK_INT(dec_open(&x, "json", &src), 0);
	CHECK_INT(run(&x, "\"RUNNING\""), 0);
	CHECK_INT(x.cap.n, 1);
	CHECK_INT(x.cap.r[0].signal, SIG_STATE);
	CHECK_STR(x.cap.r[0].str, "RUNNING");
	CHECK_INT(run(&x, "3"), 0);
	CHECK_STR(x.cap.r[0].str, "3");
	CHECK_INT(run(&x, "RUNNING"), -EBADMSG);
	CHECK_STR(x.err.msg, "invalid JSON at byte 0");
	CHECK_INT(run(&x, "{\"state\":\"RUNNING\"}"), -EBADMSG);
	CHECK_STR(x.err.msg, "$: expected a string, number or boolean, got object");
	x.d->destroy(x.state);

	src.signal = SIG_TOTAL;
	CHECK_INT(dec_open(&x, "json", &src), 0);
	CHECK_INT(run(&x, " 42 "), 0);
	CHECK_INT(x.cap.n, 1);
	CHECK_INT(x.cap.r[0].signal, SIG_TOTAL);
	CHECK_NEAR(x.cap.r[0].num, 42, 0);
	CHECK_INT(run(&x, "\"17\""), 0);
	CHECK_NEAR(x.cap.r[0].num, 17, 0);
	CHECK_INT(run(&x, "null"), 0);
	CHECK_INT(x.cap.n, 0);
	x.d->destroy(x.state);

	/* signal: plus a path for it: the path wins; a timestamp path alongside */
	src.signal = SIG_TOTAL;
	src.fields[SIG_TOTAL] = "$.n";
	src.fields[SIG_TIMESTAMP] = "$.t";
	CHECK_INT(dec_open(&x, "json", &src), 0);
	CHECK_INT(run(&x, "{\"n\":4,\"t\":\"2026-11-22T10:00:00Z\"}"), 0);
	CHECK_INT(x.cap.n, 1);
	CHECK_NEAR(x.cap.r[0].num, 4, 0);
	CHECK_INT(x.cap.r[0].ts, 1795341600000LL);
	x.d->destroy(x.state);
}

static void test_json_create_errors(void)
{
	static const struct {
		enum oeed_signal sig;
		char *path;
		const char *msg;
	} bad[] = {
	    {SIG_TOTAL, "a.b", "fields.total: path 'a.b' must start with '$'"},
	    {SIG_TOTAL, "$.", "fields.total: empty key in path '$.' at column 3"},
	    {SIG_TOTAL, "$.a..b", "fields.total: empty key in path '$.a..b' at column 5"},
	    {SIG_GOOD, "$.a[", "fields.good: bad index in path '$.a[' at column 4"},
	    {SIG_GOOD, "$.a[x]", "fields.good: bad index in path '$.a[x]' at column 4"},
	    {SIG_GOOD, "$.a[-1]", "fields.good: bad index in path '$.a[-1]' at column 4"},
	    {SIG_GOOD, "$[1234567890]",
	     "fields.good: bad index in path '$[1234567890]' at column 2"},
	    {SIG_STATE, "$['abc", "fields.state: unterminated [' in path '$['abc' at column 2"},
	    {SIG_STATE, "$['a'x", "fields.state: unterminated [' in path '$['a'x' at column 2"},
	    {SIG_STATE, "$a", "fields.state: unexpected 'a' in path '$a' at column 2"},
	    {SIG_DEATH, "$.d", "fields.death: not a signal decoder json reads"},
	};
	struct dec x;

	for (size_t i = 0; i < OEED_ARRAY_SIZE(bad); i++) {
		struct oeed_source src = {.signal = SIG_NONE};

		src.fields[bad[i].sig] = bad[i].path;
		CHECK_INT(dec_open(&x, "json", &src), -EINVAL);
		CHECK_STR(x.err.msg, bad[i].msg);
	}

	struct oeed_source none = {.signal = SIG_NONE};
	CHECK_INT(dec_open(&x, "json", &none), -EINVAL);
	CHECK_STR(x.err.msg, "decoder json needs `fields:` with a signal path, or `signal:`");
	none.fields[SIG_TIMESTAMP] = "$.ts";
	CHECK_INT(dec_open(&x, "json", &none), -EINVAL);
	CHECK_STR(x.err.msg, "decoder json needs `fields:` with a signal path, or `signal:`");

	/* 32 steps is the limit */
	char path[128] = "$";
	for (int i = 0; i < 32; i++)
		strcat(path, "[0]");
	struct oeed_source deep = {.signal = SIG_NONE};
	deep.fields[SIG_TOTAL] = path;
	CHECK_INT(dec_open(&x, "json", &deep), 0);
	x.d->destroy(x.state);
	strcat(path, "[0]");
	CHECK_INT(dec_open(&x, "json", &deep), -EINVAL);
	CHECK(strstr(x.err.msg, "has more than 32 steps") != NULL);
}

static void test_json_big_and_deep(void)
{
	struct oeed_source src = {.signal = SIG_NONE};
	struct dec x;
	size_t big = 1 << 20, n = 0;
	char *buf = malloc(big + 64);

	src.fields[SIG_TOTAL] = "$.parts";
	CHECK_INT(dec_open(&x, "json", &src), 0);
	CHECK(buf != NULL);
	if (!buf)
		return;

	/* 1 MiB: a long string beside the field */
	n += (size_t)sprintf(buf, "{\"pad\":\"");
	memset(buf + n, 'x', big - 32);
	n += big - 32;
	n += (size_t)sprintf(buf + n, "\",\"parts\":77}");
	CHECK_INT(run_len(&x, buf, n), 0);
	CHECK_INT(x.cap.n, 1);
	CHECK_NEAR(x.cap.r[0].num, 77, 0);

	/* 1 MiB truncated in the middle of the string */
	CHECK_INT(run_len(&x, buf, n / 2), -EBADMSG);
	CHECK_INT(x.err.offset, 8); /* cJSON points at the string's first byte */

	/* nested deeper than cJSON's limit (1000): an error, not a crash */
	n = 0;
	n += (size_t)sprintf(buf, "{\"parts\":1,\"d\":");
	for (int i = 0; i < 5000; i++)
		buf[n++] = '[';
	for (int i = 0; i < 5000; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	CHECK_INT(run_len(&x, buf, n), -EBADMSG);
	CHECK(strncmp(x.err.msg, "invalid JSON at byte ", 21) == 0);
	CHECK(x.err.offset > 15 && x.err.offset < n);
	CHECK_INT(x.cap.n, 0);

	/* 998 levels inside the object (999 in all) are fine */
	n = 0;
	n += (size_t)sprintf(buf, "{\"parts\":1,\"d\":");
	for (int i = 0; i < 998; i++)
		buf[n++] = '[';
	for (int i = 0; i < 998; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	CHECK_INT(run_len(&x, buf, n), 0);
	CHECK_INT(x.cap.n, 1);
	free(buf);
	x.d->destroy(x.state);
}

int main(void)
{
	test_registry();
	test_registry_refuses();
	test_time_num();
	test_time_str();
	test_time_iso_forms();
	test_text_state();
	test_text_numbers();
	test_json_fields();
	test_json_paths();
	test_json_filter();
	test_json_zone();
	test_json_single();
	test_json_create_errors();
	test_json_big_and_deep();
	TEST_END();
}
