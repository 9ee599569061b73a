/* Unit tests for output.c and the file output: bytes reach the file exactly as given, only on
 * tick/close or when the 64 KiB buffer fills, lines are counted, write errors are counted
 * with the message, "-" is stdout and stays open, output_close(NULL) is harmless, an unknown
 * type is refused. The influxdb output's secrets (no server needed: they are read before any
 * connection): a second line or a missing file fails output_new, naming output and key. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output.h"
#include "testutil.h"

static char *read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(1 << 20);
	size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
	fclose(f);
	if (buf)
		buf[n] = '\0';
	*ret_len = n;
	return buf;
}

static struct oeed_output_conf file_conf(char *path)
{
	struct oeed_output_conf c;
	memset(&c, 0, sizeof(c));
	c.type = OUTPUT_FILE;
	c.name = "file-1";
	c.path = path;
	return c;
}

int main(void)
{
	char dir[] = "/tmp/oeed-test-output-XXXXXX";
	char path[128];
	struct output *o;
	struct output_stats st;
	struct oeed_error err;
	size_t len;
	char *got;

	output_close(NULL, 0);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/out.lp", dir);

	/* Appends to what is there; nothing is written before the tick. */
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("old 1\n", f);
		fclose(f);
	}
	struct oeed_output_conf c = file_conf(path);
	CHECK_INT(output_new(&c, dir, &o, &err), 0);
	CHECK_STR(output_name(o), "file-1");
	const char *a = "m,machine=press\\ 1 v=1i 1000\nm v=0.5 2000\n";
	CHECK_INT(output_write(o, a, strlen(a)), 0);
	CHECK_INT(output_write(o, "m s=\"\xc3\xbc\" 3\n", 11), 0);
	got = read_file(path, &len);
	CHECK_STR(got, "old 1\n");
	free(got);
	output_get_stats(o, &st);
	CHECK_INT(st.lines_written, 0);
	CHECK_INT(st.lines_pending, 3);
	output_tick(o, 5000);
	got = read_file(path, &len);
	CHECK_STR(got, "old 1\nm,machine=press\\ 1 v=1i 1000\nm v=0.5 2000\nm s=\"\xc3\xbc\" 3\n");
	free(got);
	output_get_stats(o, &st);
	CHECK_INT(st.lines_written, 3);
	CHECK_INT(st.lines_pending, 0);
	CHECK_INT(st.write_errors, 0);
	CHECK_INT(st.healthy, 1);

	/* 10,000 lines of 20 bytes (200,000 bytes) in 100-line chunks: the buffer fills and is
	 * written on its own; a 100,000-byte chunk goes straight through. */
	char chunk[2001];
	for (int i = 0; i < 100; i++)
		snprintf(chunk + 20 * i, 21, "m v=%04di %09d\n", i, i);
	for (int k = 0; k < 100; k++)
		CHECK_INT(output_write(o, chunk, 2000), 0);
	char *big = malloc(100000);
	CHECK(big != NULL);
	if (big) {
		for (int k = 0; k < 50; k++)
			memcpy(big + 2000 * k, chunk, 2000);
		CHECK_INT(output_write(o, big, 100000), 0);
	}
	output_get_stats(o, &st);
	/* 32 chunks fit the 65,536-byte buffer, so chunks 33, 65 and 97 flush; the big chunk
	 * flushes the last 4 and is written directly: every line reached the file. */
	CHECK_INT(st.lines_written, 3 + 10000 + 5000);
	output_close(o, 1000);
	got = read_file(path, &len);
	CHECK_INT(len, 59 + 200000 + 100000);
	CHECK(got && memcmp(got + 59, chunk, 2000) == 0);
	CHECK(got && memcmp(got + len - 2000, chunk, 2000) == 0);
	free(got);
	free(big);
	unlink(path);

	/* A new file is created 0640. */
	struct stat sst;
	umask(022);
	CHECK_INT(output_new(&c, dir, &o, &err), 0);
	CHECK_INT(output_write(o, "x v=1 1\n", 8), 0);
	output_close(o, 0);
	CHECK_INT(stat(path, &sst), 0);
	CHECK_INT(sst.st_mode & 0777, 0640);
	got = read_file(path, &len);
	CHECK_STR(got, "x v=1 1\n");
	free(got);
	unlink(path);

	/* Cannot open. */
	char bad[160];
	snprintf(bad, sizeof(bad), "%s/missing/out.lp", dir);
	c = file_conf(bad);
	CHECK_INT(output_new(&c, dir, &o, &err), -ENOENT);
	char exp[300];
	snprintf(exp, sizeof(exp), "output file-1: cannot open %s: No such file or directory", bad);
	CHECK_STR(err.msg, exp);

	/* Write errors are counted and the lines dropped. */
	c = file_conf("/dev/full");
	if (output_new(&c, dir, &o, &err) == 0) {
		CHECK_INT(output_write(o, "a v=1 1\nb v=2 2\n", 16), 0);
		output_tick(o, 0);
		output_get_stats(o, &st);
		CHECK_INT(st.write_errors, 1);
		CHECK_INT(st.lines_dropped, 2);
		CHECK_INT(st.lines_written, 0);
		CHECK_INT(st.healthy, 0);
		CHECK_STR(st.last_error, "/dev/full: write: No space left on device");
		output_tick(o, 0); /* nothing buffered: no new error */
		output_get_stats(o, &st);
		CHECK_INT(st.write_errors, 1);
		output_close(o, 0);
	}

	/* "-" is stdout, which output_close leaves open. */
	snprintf(path, sizeof(path), "%s/stdout.lp", dir);
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(saved >= 0 && fd >= 0);
	if (saved >= 0 && fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		close(fd);
		c = file_conf("-");
		CHECK_INT(output_new(&c, dir, &o, &err), 0);
		CHECK_INT(output_write(o, "s v=1 1\n", 8), 0);
		output_close(o, 0);
		CHECK(fcntl(STDOUT_FILENO, F_GETFD) != -1);
		dup2(saved, STDOUT_FILENO);
		close(saved);
		got = read_file(path, &len);
		CHECK_STR(got, "s v=1 1\n");
		free(got);
	}
	unlink(path);

	/* An unknown type. */
	c = file_conf(path);
	c.type = (enum oeed_output_type)99;
	CHECK_INT(output_new(&c, dir, &o, &err), -EINVAL);
	CHECK_STR(err.msg, "output file-1: unknown type 99");

	/* influxdb secrets: one line, one trailing newline; errors name the output and key. */
	char secret[160];
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	struct oeed_output_conf ic;
	memset(&ic, 0, sizeof(ic));
	ic.type = OUTPUT_INFLUXDB;
	ic.name = "influxdb-1";
	ic.url = "http://127.0.0.1:9";
	ic.api = 1;
	ic.database = "oeed";
	ic.precision = "ms"; /* what the loader fills in */
	ic.batch_lines = 5000;
	ic.flush_interval_ms = 1000;
	ic.spool_max = 1 << 20;
	ic.timeout_ms = 10000;
	ic.connect_timeout_ms = 5000;
	ic.username = "u";
	ic.password_file = secret;
	f = fopen(secret, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("first\nsecond\n", f);
		fclose(f);
	}
	CHECK_INT(output_new(&ic, dir, &o, &err), -EINVAL);
	snprintf(exp, sizeof(exp),
		 "output influxdb-1: password_file: %s has more than one line (only one trailing "
		 "newline is allowed)",
		 secret);
	CHECK_STR(err.msg, exp);
	unlink(secret);
	memset(&ic, 0, sizeof(ic));
	ic.type = OUTPUT_INFLUXDB;
	ic.name = "influxdb-1";
	ic.url = "http://127.0.0.1:9";
	ic.api = 2;
	ic.org = "acme";
	ic.bucket = "oeed";
	ic.token_file = secret;
	CHECK_INT(output_new(&ic, dir, &o, &err), -ENOENT);
	snprintf(exp, sizeof(exp),
		 "output influxdb-1: token_file: cannot read %s: No such file or directory",
		 secret);
	CHECK_STR(err.msg, exp);

	CHECK_INT(rmdir(dir), 0);
	TEST_END();
}
