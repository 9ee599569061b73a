/* fuzz-recording.c - libFuzzer target for the recording reader (daemon/recording.c): the input
 * is a recording file (written to a memfd, read through /proc/self/fd). Every line must come
 * back as a message or as -EBADMSG naming "PATH:LINE:COLUMN: " with the right line; reading
 * goes on after a bad line (replay skips them). A message must re-encode to its line: the
 * reader takes only canonical base64, so the payload field is exactly rec_base64_encode() of
 * the payload, and the topic survives a percent-encode/decode round trip. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "recording.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, size_t lineno)
{
	fprintf(stderr, "line %zu: %s\n", lineno, what);
	abort();
}

static void check_message(const struct recording_msg *m, const char *line, size_t line_len,
			  size_t lineno)
{
	struct strbuf sb, back;
	size_t bad = 0;

	if (!m->topic || m->topic[m->topic_len] != '\0')
		fail("topic not NUL-terminated at topic_len", lineno);
	if (m->len && !m->payload)
		fail("payload NULL", lineno);
	/* Line: "<ns> <topic> <payload>\n"; the payload field is what follows the 2nd space. */
	const char *sp1 = memchr(line, ' ', line_len);
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', line_len - (size_t)(sp1 + 1 - line)) : NULL;
	if (!sp2)
		fail("message from a line without two spaces", lineno);
	if (strtoll(line, NULL, 10) != m->rx_ns)
		fail("receive time differs from the line", lineno);

	strbuf_init(&sb);
	strbuf_init(&back);
	rec_base64_encode(&sb, m->payload, m->len);
	size_t field_len = line_len - 1 - (size_t)(sp2 + 1 - line);
	if (sb.failed || sb.len != field_len || memcmp(sb.buf ? sb.buf : "", sp2 + 1, field_len))
		fail("payload does not re-encode to the line's base64", lineno);

	strbuf_reset(&sb);
	rec_percent_encode(&sb, m->topic, m->topic_len);
	if (sb.failed || rec_percent_decode(&back, sb.buf ? sb.buf : "", sb.len, &bad) != 0 ||
	    back.len != m->topic_len || memcmp(back.buf, m->topic, m->topic_len) != 0)
		fail("topic does not survive percent-encode/decode", lineno);
	strbuf_free(&back);
	strbuf_free(&sb);
}

/* "PATH:LINE:COLUMN: what" */
static void check_error(const char *msg, const char *path, size_t lineno, size_t line_len)
{
	size_t n = strlen(path);
	char *end;

	if (strncmp(msg, path, n) != 0 || msg[n] != ':')
		fail("error does not start with the path", lineno);
	unsigned long long l = strtoull(msg + n + 1, &end, 10);
	if (l != lineno || *end != ':')
		fail("error names the wrong line", lineno);
	unsigned long long col = strtoull(end + 1, &end, 10);
	if (col < 1 || col > line_len + 1 || strncmp(end, ": ", 2) != 0)
		fail("error column outside the line", lineno);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct recording_reader *rd = NULL;
	struct recording_msg m;
	struct oeed_error err;
	char path[64];
	size_t pos = 0, lineno = 0;
	int fd = memfd_create("fuzz-recording", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	for (size_t off = 0; off < size;) {
		ssize_t w = write(fd, data + off, size - off);
		if (w <= 0)
			abort();
		off += (size_t)w;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (recording_reader_open(path, &rd, &err) < 0) {
		fprintf(stderr, "open: %s\n", err.msg);
		abort();
	}
	for (;;) {
		/* The line getline() will return next, from our own copy. */
		const char *line = (const char *)data + pos;
		const uint8_t *nl = pos < size ? memchr(data + pos, '\n', size - pos) : NULL;
		size_t line_len = nl ? (size_t)(nl - data) - pos + 1 : size - pos;
		int r = recording_next(rd, &m, &err);

		if (r == 0) {
			if (pos != size)
				fail("end of file before the end of the data", lineno);
			break;
		}
		lineno++;
		if (pos >= size)
			fail("a message past the end of the data", lineno);
		if (r == 1) {
			if (!nl)
				fail("a last line without newline was accepted", lineno);
			check_message(&m, line, line_len, lineno);
		} else if (r == -EBADMSG) {
			check_error(err.msg, path, lineno, line_len);
		} else {
			fprintf(stderr, "recording_next returned %d: %s\n", r, err.msg);
			abort();
		}
		pos += line_len;
	}
	recording_reader_close(rd);
	close(fd);
	return 0;
}
