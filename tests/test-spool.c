/* Unit tests for spool.c: order, consume, prepend, reopen, corruption, drop-oldest. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"
#include "testutil.h"

static char dir[256];

static void rm_dir(const char *d)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", d);
}

/* Peeks and consumes one record; returns its text in buf. */
static int pop(struct spool *s, struct strbuf *sb, char *buf, size_t len, uint32_t *lines)
{
	struct spool_rec_id id;
	int r = spool_peek(s, sb, lines, &id);
	if (r != 1)
		return r;
	snprintf(buf, len, "%.*s", (int)sb->len, sb->buf);
	return spool_consume(s, &id) == 0 ? 1 : -1;
}

static void test_order_and_reopen(void)
{
	struct spool *s = NULL;
	struct strbuf sb;
	struct spool_stats st;
	struct spool_rec_id id;
	uint64_t dropped = 99;
	uint32_t lines = 0;
	char buf[64];

	strbuf_init(&sb);
	CHECK_INT(spool_open(dir, 1 << 20, &s), 0);
	CHECK(spool_empty(s));
	CHECK_INT(spool_peek(s, &sb, &lines, &id), 0);
	CHECK_INT(spool_append(s, "a 1\n", 4, 1, &dropped), 0);
	CHECK_INT(dropped, 0);
	CHECK_INT(spool_append(s, "b 2\nc 3\n", 8, 2, &dropped), 0);
	CHECK_INT(spool_append(s, "d 4\n", 4, 1, &dropped), 0);
	spool_get_stats(s, &st);
	CHECK_INT(st.records, 3);
	CHECK_INT(st.lines, 4);
	CHECK_INT(st.bytes, 3 * SPOOL_HEADER_SIZE + 16);

	/* Peek twice returns the same record until it is consumed. */
	CHECK_INT(spool_peek(s, &sb, &lines, &id), 1);
	CHECK_INT(spool_peek(s, &sb, &lines, &id), 1);
	CHECK_INT(pop(s, &sb, buf, sizeof(buf), &lines), 1);
	CHECK_STR(buf, "a 1\n");
	CHECK_INT(lines, 1);

	/* A retried batch goes before everything else. */
	CHECK_INT(spool_prepend(s, "z 0\n", 4, 1, &id), 0);
	spool_close(s);
	s = NULL;

	/* Reopen: consumed records stay consumed, order survives. */
	CHECK_INT(spool_open(dir, 1 << 20, &s), 0);
	spool_get_stats(s, &st);
	CHECK_INT(st.records, 3);
	CHECK_INT(st.lines, 4);
	CHECK_INT(pop(s, &sb, buf, sizeof(buf), &lines), 1);
	CHECK_STR(buf, "z 0\n");
	CHECK_INT(pop(s, &sb, buf, sizeof(buf), &lines), 1);
	CHECK_STR(buf, "b 2\nc 3\n");
	CHECK_INT(lines, 2);
	CHECK_INT(spool_append(s, "e 5\n", 4, 1, &dropped), 0);
	CHECK_INT(pop(s, &sb, buf, sizeof(buf), &lines), 1);
	CHECK_STR(buf, "d 4\n");
	CHECK_INT(pop(s, &sb, buf, sizeof(buf), &lines), 1);
	CHECK_STR(buf, "e 5\n");
	CHECK_INT(spool_peek(s, &sb, &lines, &id), 0);
	CHECK(spool_empty(s));
	/* Consuming twice is refused. */
	CHECK_INT(spool_consume(s, &id), -ENOENT);
	spool_close(s);

	/* Fully consumed segments are deleted on close. */
	CHECK_INT(spool_open(dir, 1 << 20, &s), 0);
	spool_get_stats(s, &st);
	CHECK_INT(st.bytes, 0);
	CHECK_INT(st.records, 0);
	spool_close(s);
	strbuf_free(&sb);
}

static void test_corruption(void)
{
	struct spool *s = NULL;
	struct strbuf sb;
	struct spool_stats st;
	uint64_t dropped;
	uint32_t lines;
	char buf[64], path[512];
	int fd;

	strbuf_init(&sb);
	CHECK_INT(spool_open(dir, 1 << 20, &s), 0);
	CHECK_INT(spool_append(s, "one\n", 4, 1, &dropped), 0);
	CHECK_INT(spool_append(s, "two\n", 4, 1, &dropped), 0);
	CHECK_INT(spool_append(s, "three\n", 6, 1, &dropped), 0);
	spool_close(s);

	/* Flip a payload byte of the second record ("two" -> "twx") and cut the third short. */
	snprintf(path, sizeof(path), "%s/%016llx.seg", dir, 1ULL << 40);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK_INT(pwrite(fd, "x", 1, 2 * SPOOL_HEADER_SIZE + 4 + 2), 1);
	CHECK_INT(ftruncate(fd, 3 * SPOOL_HEADER_SIZE + 4 + 4 + 3), 0);
	close(fd);

	CHECK_INT(spool_open(dir, 1 << 20, &s), 0);
	spool_get_stats(s, &st);
	CHECK_INT(st.corrupt, 2);
	CHECK_INT(st.records, 1);
	CHECK_INT(pop(s, &sb, buf, sizeof(buf), &lines), 1);
	CHECK_STR(buf, "one\n");
	CHECK_INT(pop(s, &sb, buf, sizeof(buf), &lines), 0);
	/* New records after a truncated tail go to a fresh segment and are readable. */
	CHECK_INT(spool_append(s, "four\n", 5, 1, &dropped), 0);
	CHECK_INT(pop(s, &sb, buf, sizeof(buf), &lines), 1);
	CHECK_STR(buf, "four\n");
	spool_close(s);
	strbuf_free(&sb);
}

static void test_drop_oldest(void)
{
	struct spool *s = NULL;
	struct strbuf sb;
	struct spool_stats st;
	uint64_t dropped, total_dropped = 0;
	uint32_t lines;
	char rec[100], buf[128];

	strbuf_init(&sb);
	/* 64 KiB max -> 4 KiB segments; a record is 16 + 100 bytes, so 35 per segment
	 * (35 * 116 = 4060) and 564 records fill the spool (564 * 116 = 65424). */
	CHECK_INT(spool_open(dir, 65536, &s), 0);
	for (int i = 0; i < 600; i++) {
		snprintf(rec, sizeof(rec), "%099d", i);
		rec[99] = '\n';
		CHECK_INT(spool_append(s, rec, 100, 2, &dropped), 0);
		total_dropped += dropped;
	}
	spool_get_stats(s, &st);
	CHECK(st.bytes <= 65536);
	/* 600 records need 69600 bytes: 4176 too many, so two 4060-byte segments (70 records,
	 * 140 lines) were deleted. */
	CHECK_INT(total_dropped, 140);
	CHECK_INT(st.records, 530);
	CHECK_INT(st.lines, 1060);
	CHECK_INT(pop(s, &sb, buf, sizeof(buf), &lines), 1);
	buf[99] = '\0';
	CHECK_INT(atoi(buf), 70);
	/* A record bigger than the whole spool is refused and counted. */
	{
		static char big[70000];
		CHECK_INT(spool_append(s, big, sizeof(big), 7, &dropped), -EFBIG);
		CHECK_INT(dropped, 7);
	}
	spool_close(s);
	strbuf_free(&sb);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/oeed-test-spool-%d/spool/x", (int)getpid());
	test_order_and_reopen();
	rm_dir(dir);
	test_corruption();
	rm_dir(dir);
	test_drop_oldest();
	snprintf(dir, sizeof(dir), "/tmp/oeed-test-spool-%d", (int)getpid());
	rm_dir(dir);
	TEST_END();
}
