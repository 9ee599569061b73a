/* Unit tests for recording.c: percent and base64 encodings against hand-computed strings,
 * writer rotation and the total cap, reader error messages with exact positions, and a
 * write -> read round trip of 10,000 random messages. Files live in a mkdtemp directory that
 * is removed at the end. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recording.h"
#include "testutil.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)rng_state;
}

static void remove_dir(const char *dir)
{
	char **paths;
	size_t n;
	if (recording_list_dir(dir, &paths, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			unlink(paths[i]);
			free(paths[i]);
		}
		free(paths);
	}
	char other[512];
	snprintf(other, sizeof(other), "%s/bad.log", dir);
	unlink(other);
	rmdir(dir);
}

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static const char *pct(struct strbuf *sb, const char *s)
{
	strbuf_reset(sb);
	rec_percent_encode(sb, s, strlen(s));
	return sb->buf;
}

static const char *b64(struct strbuf *sb, const char *s)
{
	strbuf_reset(sb);
	rec_base64_encode(sb, (const uint8_t *)s, strlen(s));
	return sb->buf ? sb->buf : "";
}

static int b64_dec(struct strbuf *sb, const char *s, size_t *bad)
{
	strbuf_reset(sb);
	*bad = 999;
	return rec_base64_decode(sb, s, strlen(s), bad);
}

static void test_encodings(void)
{
	struct strbuf sb, dec;
	size_t bad;
	strbuf_init(&sb);
	strbuf_init(&dec);

	CHECK_STR(pct(&sb, "factory/line 1/m%1/\xc3\xbc+#"), "factory/line%201/m%251/%C3%BC+#");
	CHECK_STR(pct(&sb, "a~b_c.d-e{f}"), "a~b_c.d-e{f}");
	CHECK_STR(pct(&sb, "a\nb\"c"), "a%0Ab%22c");

	strbuf_reset(&dec);
	CHECK_INT(rec_percent_decode(&dec, "line%201/%c3%BC", 15, &bad), 0);
	CHECK_STR(dec.buf, "line 1/\xc3\xbc");
	/* A NUL byte in a topic survives the round trip. */
	strbuf_reset(&sb);
	rec_percent_encode(&sb, "a\0b", 3);
	CHECK_STR(sb.buf, "a%00b");
	strbuf_reset(&dec);
	CHECK_INT(rec_percent_decode(&dec, sb.buf, sb.len, &bad), 0);
	CHECK_INT(dec.len, 3);
	CHECK(memcmp(dec.buf, "a\0b", 3) == 0);

	strbuf_reset(&dec);
	CHECK_INT(rec_percent_decode(&dec, "%zz", 3, &bad), -EINVAL);
	CHECK_INT(bad, 0);
	strbuf_reset(&dec);
	CHECK_INT(rec_percent_decode(&dec, "ab%4", 4, &bad), -EINVAL);
	CHECK_INT(bad, 2);
	strbuf_reset(&dec);
	CHECK_INT(rec_percent_decode(&dec, "a b", 3, &bad), -EINVAL);
	CHECK_INT(bad, 1);
	strbuf_reset(&dec);
	CHECK_INT(rec_percent_decode(&dec, "ok%", 3, &bad), -EINVAL);
	CHECK_INT(bad, 2);

	CHECK_STR(b64(&sb, ""), "");
	CHECK_STR(b64(&sb, "f"), "Zg==");
	CHECK_STR(b64(&sb, "fo"), "Zm8=");
	CHECK_STR(b64(&sb, "foo"), "Zm9v");
	CHECK_STR(b64(&sb, "foob"), "Zm9vYg==");
	CHECK_STR(b64(&sb, "fooba"), "Zm9vYmE=");
	CHECK_STR(b64(&sb, "foobar"), "Zm9vYmFy");
	CHECK_STR(b64(&sb, "\xff\xfe\xfd"), "//79");
	CHECK_STR(b64(&sb, "\xfb\xef"), "++8=");

	CHECK_INT(b64_dec(&dec, "Zm9vYmE=", &bad), 0);
	CHECK_STR(dec.buf, "fooba");
	CHECK_INT(b64_dec(&dec, "Zm9v!", &bad), -EINVAL);
	CHECK_INT(bad, 4);
	CHECK_INT(b64_dec(&dec, "Zm9vZm8", &bad), -EINVAL);
	CHECK_INT(bad, 4);
	CHECK_INT(b64_dec(&dec, "Zg=a", &bad), -EINVAL);
	CHECK_INT(bad, 2);
	CHECK_INT(b64_dec(&dec, "Zh==", &bad), -EINVAL); /* padding bits set */
	CHECK_INT(bad, 1);
	CHECK_INT(b64_dec(&dec, "Zm9=", &bad), -EINVAL);
	CHECK_INT(bad, 2);
	CHECK_INT(b64_dec(&dec, "Zg==Zg==", &bad), -EINVAL); /* '=' only at the end */
	CHECK_INT(bad, 2);
	CHECK_INT(b64_dec(&dec, "Zm 9", &bad), -EINVAL);
	CHECK_INT(bad, 2);
	CHECK_INT(b64_dec(&dec, "", &bad), 0);
	CHECK_INT(dec.len, 0);

	/* Every byte value, at every length modulo 3. */
	uint8_t all[258];
	for (int i = 0; i < 258; i++)
		all[i] = (uint8_t)i;
	for (size_t n = 255; n <= 258; n++) {
		strbuf_reset(&sb);
		rec_base64_encode(&sb, all, n);
		CHECK_INT(sb.len, (n + 2) / 3 * 4);
		strbuf_reset(&dec);
		CHECK_INT(rec_base64_decode(&dec, sb.buf, sb.len, &bad), 0);
		CHECK_INT(dec.len, n);
		CHECK(memcmp(dec.buf, all, n) == 0);
	}
	strbuf_free(&sb);
	strbuf_free(&dec);
}

static void test_rotation(const char *base)
{
	char dir[512], exp[600];
	struct recording_writer *w;
	struct oeed_error err;
	char **paths;
	size_t n;
	const uint8_t payload[10] = "0123456789";

	/* Each line "100N t MDEyMzQ1Njc4OQ==\n" is 24 bytes: 4 lines fit in 100. */
	snprintf(dir, sizeof(dir), "%s/rot/sub", base);
	CHECK_INT(recording_writer_open(dir, 100, 0, &w, &err), 0);
	CHECK(recording_writer_current(w) == NULL);
	for (int i = 0; i < 10; i++)
		CHECK_INT(recording_write(w, 1000 + i, "t", 1, payload, sizeof(payload)), 0);
	snprintf(exp, sizeof(exp), "%s/recording-00000000000000001008.log", dir);
	CHECK_STR(recording_writer_current(w), exp);
	CHECK_INT(recording_writer_offset(w), 48);
	CHECK_INT(recording_writer_sync(w), 0);
	recording_writer_close(w);

	CHECK_INT(recording_list_dir(dir, &paths, &n), 0);
	CHECK_INT(n, 3);
	if (n == 3) {
		snprintf(exp, sizeof(exp), "%s/recording-00000000000000001000.log", dir);
		CHECK_STR(paths[0], exp);
		CHECK_INT(file_size(paths[0]), 96);
		snprintf(exp, sizeof(exp), "%s/recording-00000000000000001004.log", dir);
		CHECK_STR(paths[1], exp);
		CHECK_INT(file_size(paths[1]), 96);
		CHECK_INT(file_size(paths[2]), 48);
	}
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);

	/* First file holds exactly the first four messages. */
	struct recording_reader *r;
	struct recording_msg m;
	snprintf(exp, sizeof(exp), "%s/recording-00000000000000001000.log", dir);
	CHECK_INT(recording_reader_open(exp, &r, &err), 0);
	for (int i = 0; i < 4; i++) {
		CHECK_INT(recording_next(r, &m, &err), 1);
		CHECK_INT(m.rx_ns, 1000 + i);
		CHECK_STR(m.topic, "t");
		CHECK_INT(m.len, 10);
		CHECK(memcmp(m.payload, payload, 10) == 0);
	}
	CHECK_INT(recording_next(r, &m, &err), 0);
	recording_reader_close(r);
	remove_dir(dir);
	snprintf(exp, sizeof(exp), "%s/rot", base);
	rmdir(exp);

	/* total_max 250: when a file starts, the others plus file_max (100) must fit, so one
	 * full older file (96 bytes) stays. Files start at 1000, 1004, ..., 1016. */
	snprintf(dir, sizeof(dir), "%s/total", base);
	CHECK_INT(recording_writer_open(dir, 100, 250, &w, &err), 0);
	for (int i = 0; i < 20; i++) {
		CHECK_INT(recording_write(w, 1000 + i, "t", 1, payload, sizeof(payload)), 0);
		long long total = 0;
		CHECK_INT(recording_list_dir(dir, &paths, &n), 0);
		for (size_t k = 0; k < n; k++) {
			total += file_size(paths[k]);
			free(paths[k]);
		}
		free(paths);
		CHECK(total <= 250);
	}
	recording_writer_close(w);
	CHECK_INT(recording_list_dir(dir, &paths, &n), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		snprintf(exp, sizeof(exp), "%s/recording-00000000000000001012.log", dir);
		CHECK_STR(paths[0], exp);
		snprintf(exp, sizeof(exp), "%s/recording-00000000000000001016.log", dir);
		CHECK_STR(paths[1], exp);
	}
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);

	/* Reopening enforces the cap too (192 + 100 > 250: the oldest goes). */
	CHECK_INT(recording_writer_open(dir, 100, 250, &w, &err), 0);
	CHECK_INT(recording_list_dir(dir, &paths, &n), 0);
	CHECK_INT(n, 1);
	snprintf(exp, sizeof(exp), "%s/recording-00000000000000001016.log", dir);
	CHECK_STR(n ? paths[0] : NULL, exp);
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	/* The clock went back: file 5 sorts before 1016. Lines are "N t MDEyMzQ1Njc4OQ==\n",
	 * 21 bytes; four fit in file 5 (84 bytes) and the fifth starts file 9. A file 1000 of
	 * 72 bytes put there by someone else makes the others 84 + 72 + 96 = 252: with the 100
	 * reserved, 5 is deleted (268 still > 250), 9 is skipped as the current file, and 1000
	 * is deleted (196). */
	for (int i = 5; i <= 8; i++)
		CHECK_INT(recording_write(w, i, "t", 1, payload, sizeof(payload)), 0);
	snprintf(exp, sizeof(exp), "%s/recording-00000000000000001000.log", dir);
	FILE *f = fopen(exp, "w");
	CHECK(f != NULL);
	if (f) {
		for (int i = 0; i < 3; i++)
			fputs("1000 t MDEyMzQ1Njc4OQ==\n", f); /* 24 bytes */
		fclose(f);
	}
	CHECK_INT(recording_write(w, 9, "t", 1, payload, sizeof(payload)), 0);
	CHECK_INT(recording_list_dir(dir, &paths, &n), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		snprintf(exp, sizeof(exp), "%s/recording-00000000000000000009.log", dir);
		CHECK_STR(paths[0], exp);
		CHECK_INT(file_size(paths[0]), 21);
		snprintf(exp, sizeof(exp), "%s/recording-00000000000000001016.log", dir);
		CHECK_STR(paths[1], exp);
	}
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	recording_writer_close(w);
	remove_dir(dir);
}

static void test_reader_errors(const char *base)
{
	char path[512], exp[700];
	struct recording_reader *r;
	struct recording_msg m;
	struct oeed_error err;
	snprintf(path, sizeof(path), "%s/bad.log", base);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs("123 a%20b QUJD\n"	      /* 1 ok */
	      "\n"			      /* 2 */
	      "12x3 t QQ==\n"		      /* 3 */
	      "123\n"			      /* 4 */
	      "123 topic\n"		      /* 5 */
	      "123 a%2xb QQ==\n"	      /* 6 */
	      "123 t QQ=!\n"		      /* 7 */
	      "123 t QQ\n"		      /* 8 */
	      "123 t \n"		      /* 9 ok, empty payload */
	      "-5 t%2B/%c3%bc QQ==\n"	      /* 10 ok */
	      "99999999999999999999 t QQ==\n" /* 11 */
	      "123 t QQ== extra\n"	      /* 12 */
	      "123 a\tb QQ==\n"		      /* 13 */
	      "9223372036854775808 t QQ==\n"  /* 14 */
	      "123  QQ==\n"		      /* 15 ok, empty topic */
	      "123 t Zh==\n",		      /* 16 */
	      f);
	/* 17: longer than 16 MiB, 18: fine again, 19: cut short */
	fputs("1 t ", f);
	for (size_t i = 0; i < 16u * 1024 * 1024; i++)
		fputc('A', f);
	fputs("\n7 t QUJD\n1 t QQ==", f);
	fclose(f);

	CHECK_INT(recording_reader_open(path, &r, &err), 0);
	CHECK_INT(recording_next(r, &m, &err), 1);
	CHECK_INT(m.rx_ns, 123);
	CHECK_STR(m.topic, "a b");
	CHECK_INT(m.topic_len, 3);
	CHECK_INT(m.len, 3);
	CHECK(memcmp(m.payload, "ABC", 3) == 0);

	static const char *const expected[] = {
	    "2:1: missing receive time",
	    "3:3: bad receive time: expected a decimal integer",
	    "4:4: missing topic field",
	    "5:10: missing payload field",
	    "6:6: bad percent escape in topic",
	    "7:9: bad base64 character in payload",
	    "8:7: truncated base64 in payload (length not a multiple of 4)",
	};
	for (size_t i = 0; i < OEED_ARRAY_SIZE(expected); i++) {
		CHECK_INT(recording_next(r, &m, &err), -EBADMSG);
		snprintf(exp, sizeof(exp), "%s:%s", path, expected[i]);
		CHECK_STR(err.msg, exp);
	}
	CHECK_INT(recording_next(r, &m, &err), 1);
	CHECK_INT(m.rx_ns, 123);
	CHECK_INT(m.len, 0);
	CHECK_STR(m.topic, "t");
	CHECK_INT(recording_next(r, &m, &err), 1);
	CHECK_INT(m.rx_ns, -5);
	CHECK_STR(m.topic, "t+/\xc3\xbc");
	CHECK_INT(m.len, 1);
	CHECK_INT(m.payload[0], 'A');

	static const char *const expected2[] = {
	    "11:19: receive time out of range",
	    "12:9: bad base64 character in payload",
	    "13:6: byte not allowed in topic",
	    "14:1: receive time out of range",
	};
	for (size_t i = 0; i < OEED_ARRAY_SIZE(expected2); i++) {
		CHECK_INT(recording_next(r, &m, &err), -EBADMSG);
		snprintf(exp, sizeof(exp), "%s:%s", path, expected2[i]);
		CHECK_STR(err.msg, exp);
	}
	CHECK_INT(recording_next(r, &m, &err), 1);
	CHECK_INT(m.topic_len, 0);
	CHECK_STR(m.topic, "");
	CHECK_INT(m.len, 1);

	CHECK_INT(recording_next(r, &m, &err), -EBADMSG);
	snprintf(exp, sizeof(exp), "%s:16:8: non-canonical base64 in payload (padding bits set)",
		 path);
	CHECK_STR(err.msg, exp);
	CHECK_INT(recording_next(r, &m, &err), -EBADMSG);
	snprintf(exp, sizeof(exp), "%s:17:16777217: line longer than 16 MiB", path);
	CHECK_STR(err.msg, exp);
	CHECK_INT(recording_next(r, &m, &err), 1);
	CHECK_INT(m.rx_ns, 7);
	CHECK_INT(recording_next(r, &m, &err), -EBADMSG);
	snprintf(exp, sizeof(exp), "%s:19:9: last line has no newline (cut short)", path);
	CHECK_STR(err.msg, exp);
	CHECK_INT(recording_next(r, &m, &err), 0);
	recording_reader_close(r);
	unlink(path);

	CHECK_INT(recording_reader_open("/nonexistent/oeed/rec.log", &r, &err), -ENOENT);
	CHECK_STR(err.msg, "/nonexistent/oeed/rec.log: No such file or directory");
}

static size_t random_msg(char *topic, uint8_t *payload)
{
	static const char special[] = " %+#/\n\r\"\\=,{}~";
	size_t tl = 1 + rnd() % 40;
	for (size_t i = 0; i < tl; i++) {
		uint32_t k = rnd() % 4;
		topic[i] = k == 0   ? (char)(1 + rnd() % 255)
			   : k == 1 ? special[rnd() % (sizeof(special) - 1)]
				    : (char)('a' + rnd() % 26);
	}
	topic[tl] = '\0';
	size_t len = rnd() % 5 == 0 ? 0 : rnd() % 300;
	for (size_t i = 0; i < len; i++)
		payload[i] = (uint8_t)rnd();
	return len;
}

static void test_round_trip(const char *base)
{
	char dir[512], topic[64];
	uint8_t payload[300];
	struct recording_writer *w;
	struct recording_reader *r;
	struct recording_msg m;
	struct oeed_error err;
	char **paths;
	size_t n;
	const int count = 10000;
	const uint64_t seed = rng_state;

	snprintf(dir, sizeof(dir), "%s/rt", base);
	CHECK_INT(recording_writer_open(dir, 256 * 1024, 0, &w, &err), 0);
	for (int i = 0; i < count; i++) {
		size_t len = random_msg(topic, payload);
		int64_t ns = 1700000000000000000 + (int64_t)i * 1000003;
		if (recording_write(w, ns, topic, strlen(topic), payload, len) != 0) {
			CHECK(!"write failed");
			break;
		}
	}
	recording_writer_close(w);

	rng_state = seed; /* regenerate the same messages to compare */
	int read = 0, mismatches = 0;
	CHECK_INT(recording_list_dir(dir, &paths, &n), 0);
	CHECK(n > 1); /* about 4.3 MB in 256 KiB files: rotation happened */
	for (size_t f = 0; f < n; f++) {
		if (recording_reader_open(paths[f], &r, &err) != 0) {
			CHECK(!"open failed");
			continue;
		}
		int k;
		while ((k = recording_next(r, &m, &err)) == 1) {
			size_t len = random_msg(topic, payload);
			int64_t ns = 1700000000000000000 + (int64_t)read * 1000003;
			mismatches += m.rx_ns != ns || m.topic_len != strlen(topic) ||
				      strcmp(m.topic, topic) != 0 || m.len != len ||
				      (len && memcmp(m.payload, payload, len) != 0);
			read++;
		}
		CHECK_INT(k, 0);
		CHECK(file_size(paths[f]) <= 256 * 1024);
		recording_reader_close(r);
	}
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	CHECK_INT(read, count);
	CHECK_INT(mismatches, 0);
	remove_dir(dir);
}

int main(void)
{
	char base[] = "/tmp/oeed-test-recording-XXXXXX";
	if (!mkdtemp(base)) {
		perror("mkdtemp");
		return 1;
	}
	test_encodings();
	test_rotation(base);
	test_reader_errors(base);
	test_round_trip(base);
	CHECK_INT(rmdir(base), 0); /* everything inside was removed */
	TEST_END();
}
