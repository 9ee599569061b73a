/* Unit tests for checkpoint.c: write -> read round trip (receive time, write time, the blob's
 * bytes), the file's exact layout, -ENOENT for no file, and -EINVAL with its message for each
 * kind of bad file (cut short, a flipped byte, another magic, another version, a bad length),
 * each made by editing the bytes of a good file. Files live in a mkdtemp directory that is
 * removed at the end: its rmdir succeeding shows no temp file was left behind. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "testutil.h"

#define HEADER_LEN 24 /* "OEEDCKPT" | u32 version | u32 crc | u64 body length */
#define BODY_HEAD  16 /* i64 last_rx_ns | i64 written_at_ms */

static const char blob[] = "engine\0state\xff\x01\x80 blob"; /* NUL and high bytes inside */
#define BLOB_LEN (sizeof(blob) - 1)

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* The whole file into buf (at most size bytes); returns its length or -1. */
static long slurp(const char *path, unsigned char *buf, size_t size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, size, f);
	fclose(f);
	return (long)n;
}

static int spill(const char *path, const unsigned char *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t n = fwrite(buf, 1, len, f);
	return fclose(f) == 0 && n == len ? 0 : -1;
}

static void test_round_trip(const char *dir)
{
	char path[512], tmp[600];
	struct oeed_error err = {{0}};
	struct checkpoint c;
	snprintf(path, sizeof(path), "%s/state.ckpt", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);

	CHECK_INT(
	    checkpoint_write(path, 1793599200123456789LL, 1793599260000LL, blob, BLOB_LEN, &err),
	    0);
	CHECK_INT(access(tmp, F_OK), -1); /* renamed into place */
	CHECK_INT(file_size(path), HEADER_LEN + BODY_HEAD + BLOB_LEN);

	/* the layout of checkpoint.h, byte for byte */
	unsigned char buf[256];
	long n = slurp(path, buf, sizeof(buf));
	CHECK_INT(n, HEADER_LEN + BODY_HEAD + BLOB_LEN);
	CHECK(memcmp(buf, "OEEDCKPT", 8) == 0);
	uint32_t version;
	uint64_t body_len;
	int64_t head[2];
	memcpy(&version, buf + 8, 4);
	memcpy(&body_len, buf + 16, 8);
	memcpy(head, buf + HEADER_LEN, sizeof(head));
	CHECK_INT(version, 1);
	CHECK_INT(body_len, BODY_HEAD + BLOB_LEN);
	CHECK_INT(head[0], 1793599200123456789LL);
	CHECK_INT(head[1], 1793599260000LL);
	CHECK(memcmp(buf + HEADER_LEN + BODY_HEAD, blob, BLOB_LEN) == 0);

	memset(&c, 0xa5, sizeof(c));
	CHECK_INT(checkpoint_read(path, &c, &err), 0);
	CHECK_INT(c.last_rx_ns, 1793599200123456789LL);
	CHECK_INT(c.written_at, 1793599260000LL);
	CHECK_INT(c.blob_len, BLOB_LEN);
	CHECK(c.blob != NULL && memcmp(c.blob, blob, BLOB_LEN) == 0);
	checkpoint_clear(&c);
	CHECK(c.blob == NULL);
	CHECK_INT(c.blob_len, 0);

	/* a second write replaces the first; an empty blob and a negative time survive */
	CHECK_INT(checkpoint_write(path, -7, 42, "", 0, &err), 0);
	CHECK_INT(access(tmp, F_OK), -1);
	CHECK_INT(file_size(path), HEADER_LEN + BODY_HEAD);
	CHECK_INT(checkpoint_read(path, &c, &err), 0);
	CHECK_INT(c.last_rx_ns, -7);
	CHECK_INT(c.written_at, 42);
	CHECK_INT(c.blob_len, 0);
	CHECK(c.blob != NULL); /* an empty blob is still a buffer */
	checkpoint_clear(&c);
	CHECK_INT(unlink(path), 0);
}

static void test_missing(const char *dir)
{
	char path[512];
	struct oeed_error err = {{0}};
	struct checkpoint c = {0};
	snprintf(path, sizeof(path), "%s/none.ckpt", dir);
	CHECK_INT(checkpoint_read(path, &c, &err), -ENOENT);
	CHECK(c.blob == NULL);

	/* a write into a directory that does not exist fails and names the file */
	char bad[600], exp[700];
	snprintf(bad, sizeof(bad), "%s/no/such/dir/state.ckpt", dir);
	CHECK_INT(checkpoint_write(bad, 1, 2, blob, BLOB_LEN, &err), -ENOENT);
	snprintf(exp, sizeof(exp), "checkpoint %s: No such file or directory", bad);
	CHECK_STR(err.msg, exp);
}

/* Writes buf[0..len) as a checkpoint file and expects checkpoint_read to refuse it. */
static void expect_bad(const char *path, const unsigned char *buf, size_t len, const char *what,
		       int line)
{
	struct oeed_error err = {{0}};
	struct checkpoint c = {0};
	char exp[700];
	int failed = test_failed_checks;
	CHECK_INT(spill(path, buf, len), 0);
	CHECK_INT(checkpoint_read(path, &c, &err), -EINVAL);
	CHECK(c.blob == NULL);
	snprintf(exp, sizeof(exp), "checkpoint %s: %s", path, what);
	CHECK_STR(err.msg, exp);
	if (test_failed_checks != failed)
		fprintf(stderr, "  (the bad file of line %d)\n", line);
	checkpoint_clear(&c);
}

#define EXPECT_BAD(buf, len, what) expect_bad(path, (buf), (len), (what), __LINE__)

static void test_corrupt(const char *dir)
{
	char path[512];
	struct oeed_error err = {{0}};
	struct checkpoint c = {0};
	unsigned char good[256], b[256];
	snprintf(path, sizeof(path), "%s/state.ckpt", dir);
	CHECK_INT(
	    checkpoint_write(path, 1793599200123456789LL, 1793599260000LL, blob, BLOB_LEN, &err),
	    0);
	long n = slurp(path, good, sizeof(good));
	CHECK_INT(n, HEADER_LEN + BODY_HEAD + BLOB_LEN);
	if (n != HEADER_LEN + BODY_HEAD + BLOB_LEN)
		return;
	size_t len = (size_t)n;

	/* cut short: in the blob, in the body's head, right after the header, in the header */
	EXPECT_BAD(good, len - 1, "truncated");
	EXPECT_BAD(good, HEADER_LEN + BODY_HEAD + 3, "truncated");
	EXPECT_BAD(good, HEADER_LEN + 5, "truncated");
	EXPECT_BAD(good, HEADER_LEN, "truncated");
	EXPECT_BAD(good, HEADER_LEN - 1, "not a checkpoint file");
	EXPECT_BAD(good, 0, "not a checkpoint file");

	/* a flipped byte anywhere in the body: the CRC */
	static const size_t flips[] = {HEADER_LEN,
				       HEADER_LEN + 7,
				       HEADER_LEN + 8,
				       HEADER_LEN + BODY_HEAD,
				       HEADER_LEN + BODY_HEAD + 6,
				       HEADER_LEN + BODY_HEAD + BLOB_LEN - 1};
	for (size_t i = 0; i < OEED_ARRAY_SIZE(flips); i++) {
		memcpy(b, good, len);
		b[flips[i]] ^= 0x01;
		EXPECT_BAD(b, len, "checksum mismatch (corrupt)");
	}
	/* ... and in the stored CRC itself */
	memcpy(b, good, len);
	b[12] ^= 0x80;
	EXPECT_BAD(b, len, "checksum mismatch (corrupt)");

	/* another magic */
	memcpy(b, good, len);
	b[0] = 'X';
	EXPECT_BAD(b, len, "not a checkpoint file");
	memcpy(b, good, len);
	b[7] = 't'; /* "OEEDCKPt" */
	EXPECT_BAD(b, len, "not a checkpoint file");

	/* another version */
	uint32_t v = 2;
	memcpy(b, good, len);
	memcpy(b + 8, &v, 4);
	EXPECT_BAD(b, len, "version 2, this oeed reads version 1");
	v = 0;
	memcpy(b + 8, &v, 4);
	EXPECT_BAD(b, len, "version 0, this oeed reads version 1");

	/* a body length the reader must not trust */
	uint64_t bl = 15; /* shorter than the two times */
	memcpy(b, good, len);
	memcpy(b + 16, &bl, 8);
	EXPECT_BAD(b, len, "bad length 15");
	bl = (1ull << 32) + 1;
	memcpy(b + 16, &bl, 8);
	EXPECT_BAD(b, len, "bad length 4294967297");
	bl = BODY_HEAD + BLOB_LEN + 1; /* one more than the file holds */
	memcpy(b + 16, &bl, 8);
	EXPECT_BAD(b, len, "truncated");
	bl = BODY_HEAD + BLOB_LEN - 1; /* one less: the CRC no longer covers the same bytes */
	memcpy(b + 16, &bl, 8);
	EXPECT_BAD(b, len, "checksum mismatch (corrupt)");

	/* the good bytes still read */
	CHECK_INT(spill(path, good, len), 0);
	CHECK_INT(checkpoint_read(path, &c, &err), 0);
	CHECK_INT(c.last_rx_ns, 1793599200123456789LL);
	CHECK_INT(c.blob_len, BLOB_LEN);
	checkpoint_clear(&c);
	CHECK_INT(unlink(path), 0);
}

int main(void)
{
	char base[] = "/tmp/oeed-test-checkpoint-XXXXXX";
	if (!mkdtemp(base)) {
		perror("mkdtemp");
		return 1;
	}
	test_round_trip(base);
	test_missing(base);
	test_corrupt(base);
	CHECK_INT(rmdir(base), 0); /* empty: no temp file was left behind */
	TEST_END();
}
