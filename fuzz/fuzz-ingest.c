/* fuzz-ingest.c - libFuzzer target for the whole path from a received message to line
 * protocol: the pipeline (daemon/pipeline/pipeline.c, the same object the daemon and replay
 * use) with the sources of config/demo.yaml. The input is a sequence of messages:
 *   topic length (1 byte), topic, payload length (2 bytes, little endian), payload,
 *   seconds until the next message (1 byte)
 * with report ticks every report.interval as the daemon has them. Every line written must be
 * one '\n'-terminated line of valid UTF-8 without a non-finite number, and the ingest
 * statistics must add up. machines.max is lowered to 4 so that dropped machines are reached. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "log.h"
#include "pipeline.h"

#ifndef FUZZ_SOURCE_DIR
#error "build with -DFUZZ_SOURCE_DIR=\"<source root>\" (scripts/fuzz.sh does)"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Loaded once: libFuzzer gives no other place to keep what every input shares. Read only. */
static struct oeed_config *demo;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct oeed_error err;

	if (config_load(FUZZ_SOURCE_DIR "/config/demo.yaml", &demo, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		abort();
	}
	demo->machines.max = 4;
	log_set_level(LOG_LVL_ERROR); /* rejected messages are the point here, not news */
	return 0;
}

/* Field values of one line (from the first unescaped space): strings are skipped, every other
 * value must be a number, boolean or integer, never "nan" or "inf" in any spelling. */
static void check_fields(const char *line, const char *nl)
{
	const char *p = line;

	while (p < nl && *p != ' ') /* measurement and tags */
		p += *p == '\\' ? 2 : 1;
	while (p < nl && (*p == ' ' || *p == ',')) { /* p: the separator before a field */
		const char *eq = p + 1;

		while (eq < nl && *eq != '=')
			eq += *eq == '\\' ? 2 : 1;
		if (eq >= nl)
			break; /* the timestamp */
		p = eq + 1;
		if (p < nl && *p == '"') {
			for (p++; p < nl && *p != '"'; p += *p == '\\' ? 2 : 1)
				;
			p++;
		} else {
			const char *v = p;
			size_t n;

			while (p < nl && *p != ',' && *p != ' ')
				p++;
			n = (size_t)(p - v);
			bool word = (n == 4 && memcmp(v, "true", 4) == 0) ||
				    (n == 5 && memcmp(v, "false", 5) == 0);
			bool number = n > 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) &&
				      !memchr(v, 'n', n) && !memchr(v, 'N', n);
			if (!word && !number) {
				fprintf(stderr, "field value not a finite number: %.*s\n",
					(int)(nl - line), line);
				abort();
			}
		}
		if (p >= nl || *p == ' ')
			break; /* the timestamp follows */
	}
}

static void check_output(const struct strbuf *out)
{
	const char *s = out->buf ? out->buf : "";
	size_t len = out->len;

	if (out->failed)
		abort();
	if (len && s[len - 1] != '\n') {
		fprintf(stderr, "output does not end in a newline\n");
		abort();
	}
	size_t bad = plugin_utf8_valid((const uint8_t *)s, len);
	if (bad != len) {
		size_t from = bad, to = bad;
		while (from > 0 && s[from - 1] != '\n')
			from--;
		while (to < len && s[to] != '\n')
			to++;
		fprintf(stderr, "invalid UTF-8 (byte 0x%02x) at column %zu of the line:\n%.*s\n",
			(unsigned char)s[bad], bad - from + 1, (int)(to - from), s + from);
		abort();
	}
	if (memchr(s, '\r', len) || memchr(s, '\0', len)) {
		fprintf(stderr, "CR or NUL in the output:\n%s", s);
		abort();
	}
	for (const char *line = s; line < s + len;) {
		const char *nl = memchr(line, '\n', (size_t)(s + len - line));

		if (nl == line || line[0] == ' ' || line[0] == '#') {
			fprintf(stderr, "empty line or no measurement in the output\n");
			abort();
		}
		check_fields(line, nl);
		line = nl + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pipeline *p = NULL;
	struct oeed_error err;
	struct pipeline_stats st;
	oeed_ms now = 1700000000000;
	size_t pos = 0, fed = 0;
	uint64_t rejected = 0;
	struct strbuf out;

	strbuf_init(&out);
	if (pipeline_new(demo, NULL, NULL, &p, &err) < 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		abort();
	}
	while (pos < size) {
		size_t tlen = data[pos++];
		tlen = OEED_MIN(tlen, size - pos);
		const char *topic = (const char *)data + pos;
		pos += tlen;
		size_t plen = pos + 2 <= size ? (size_t)data[pos] | (size_t)data[pos + 1] << 8 : 0;
		pos = OEED_MIN(pos + 2, size);
		plen = OEED_MIN(plen, size - pos);
		const uint8_t *payload = data + pos;
		pos += plen;

		/* the daemon's rule for ticks: the pipeline's, as for every caller */
		if (pipeline_message(p, now * 1000000, topic, tlen, payload, plen) != INGEST_OK) {
			rejected++;
			if (pipeline_last_error(p)[0] == '\0') {
				fprintf(stderr, "a message was rejected without a reason\n");
				abort();
			}
		}
		fed++;
		now += pos < size ? (oeed_ms)data[pos++] * 1000 : 0;
		pipeline_ticks_until(p, now);
		size_t len;
		const char *lines = pipeline_take_lines(p, &len);
		if (lines)
			strbuf_append(&out, lines, len);
	}
	pipeline_final_tick(p);
	size_t len;
	const char *lines = pipeline_take_lines(p, &len);
	if (lines)
		strbuf_append(&out, lines, len);
	pipeline_get_stats(p, &st);
	if (st.ingest.messages != fed || st.messages != fed || st.ingest.unmatched > fed ||
	    st.ingest.decode_errors > fed * demo->n_sources) {
		fprintf(stderr, "stats do not add up: %llu messages for %zu fed\n",
			(unsigned long long)st.ingest.messages, fed);
		abort();
	}
	if (rejected != st.rejected || rejected > fed)
		abort();
	check_output(&out);
	pipeline_free(p);
	strbuf_free(&out);
	return 0;
}
