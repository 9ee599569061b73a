/* fuzz-ingest.c - libFuzzer target for the whole path from a received message to line
 * protocol: ingest_message() (daemon/ingest.c) through the sources of config/demo.yaml into the
 * engine, whose reports emit.c writes. The input is a sequence of messages:
 *   topic length (1 byte), topic, payload length (2 bytes, little endian), payload,
 *   seconds until the next message (1 byte)
 * with report ticks every report.interval as the daemon has them. Every line written must be
 * one '\n'-terminated line of valid UTF-8 without a non-finite number, and the ingest
 * statistics must add up. machines.max is lowered to 4 so that -ENOSPC is reached. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "calendar.h"
#include "config.h"
#include "emit.h"
#include "engine.h"
#include "ingest.h"
#include "plugin.h"

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
	struct calendar *cal = NULL;
	struct engine *e = NULL;
	struct ingest *in = NULL;
	struct oeed_error err;
	struct strbuf out;
	struct emitter em = {.out = &out, .site = demo->site};
	struct engine_sink sink;
	struct ingest_stats st;
	oeed_ms now = 1700000000000, next_report;
	size_t pos = 0, fed = 0;
	uint64_t rejected = 0;

	strbuf_init(&out);
	emit_sink(&em, &sink);
	if (calendar_new(demo->report.timezone, demo->report.shifts, demo->report.n_shifts, &cal,
			 &err) < 0 ||
	    engine_new(demo, cal, &sink, &e, &err) < 0 ||
	    ingest_new(demo, e, NULL, &in, &err) < 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		abort();
	}
	next_report = now + demo->report.interval_ms;
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
		struct ingest_error ierr;

		ierr.msg[0] = '\0';
		int r = ingest_message(in, topic, tlen, payload, plen, now, &ierr);
		if (r < 0) {
			rejected++;
			if (ierr.msg[0] == '\0') {
				fprintf(stderr, "ingest_message returned %d without a message\n",
					r);
				abort();
			}
		}
		fed++;
		now += pos < size ? (oeed_ms)data[pos++] * 1000 : 0;
		while (next_report <= now) {
			engine_report(e, next_report);
			next_report += demo->report.interval_ms;
		}
	}
	if (fed)
		engine_report(e, next_report);
	ingest_get_stats(in, &st);
	if (st.messages != fed || st.unmatched > fed || st.decode_errors > fed * demo->n_sources) {
		fprintf(stderr, "stats do not add up: %llu messages for %zu fed\n",
			(unsigned long long)st.messages, fed);
		abort();
	}
	if (rejected > fed)
		abort();
	check_output(&out);
	ingest_free(in);
	engine_free(e);
	calendar_free(cal);
	strbuf_free(&out);
	return 0;
}
