/* Unit tests for util.c: durations, sizes, strbuf. */
#include "testutil.h"
#include "util.h"

int main(void)
{
	oeed_ms ms;
	uint64_t b;
	char buf[32];

	CHECK_INT(parse_duration_ms("500ms", &ms), 0);
	CHECK_INT(ms, 500);
	CHECK_INT(parse_duration_ms("10s", &ms), 0);
	CHECK_INT(ms, 10000);
	CHECK_INT(parse_duration_ms("1.5s", &ms), 0);
	CHECK_INT(ms, 1500);
	CHECK_INT(parse_duration_ms("5m", &ms), 0);
	CHECK_INT(ms, 300000);
	CHECK_INT(parse_duration_ms("7d", &ms), 0);
	CHECK_INT(ms, 604800000);
	CHECK_INT(parse_duration_ms("0", &ms), 0);
	CHECK_INT(ms, 0);
	CHECK_INT(parse_duration_ms("10", &ms), -22);
	CHECK_INT(parse_duration_ms("-1s", &ms), -22);
	CHECK_INT(parse_duration_ms("1x", &ms), -22);
	CHECK_INT(parse_duration_ms("0.5ms", &ms), -22);
	CHECK_INT(parse_duration_ms("", &ms), -22);
	CHECK_INT(parse_size_bytes("256MiB", &b), 0);
	CHECK_INT(b, 268435456);
	CHECK_INT(parse_size_bytes("64KiB", &b), 0);
	CHECK_INT(b, 65536);
	CHECK_INT(parse_size_bytes("10MB", &b), 0);
	CHECK_INT(b, 10000000);
	CHECK_INT(parse_size_bytes("12 MiB", &b), -22);
	format_duration(900000, buf, sizeof(buf));
	CHECK_STR(buf, "15m");
	format_duration(2500, buf, sizeof(buf));
	CHECK_STR(buf, "2500ms");
	format_duration(86400000, buf, sizeof(buf));
	CHECK_STR(buf, "1d");
	format_size(268435456, buf, sizeof(buf));
	CHECK_STR(buf, "256MiB");

	struct strbuf sb;
	strbuf_init(&sb);
	for (int i = 0; i < 1000; i++)
		strbuf_printf(&sb, "%d,", i % 10);
	CHECK_INT(sb.len, 2000);
	CHECK(!sb.failed);
	strbuf_reset(&sb);
	strbuf_puts(&sb, "ab");
	strbuf_putc(&sb, 'c');
	CHECK_STR(sb.buf, "abc");
	strbuf_free(&sb);
	TEST_END();
}
