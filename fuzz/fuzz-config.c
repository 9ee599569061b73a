/* fuzz-config.c - libFuzzer target for the config loader (daemon/config.c): any bytes either
 * load, and then config_print() gives YAML that loads again and prints the same, or fail with
 * -EINVAL and "NAME:LINE:COLUMN: ..." (or "NAME: byte N: ..." for bad encoding). Leaks and
 * crashes are the sanitizers'. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"

#define NAME "fuzz.yaml"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* "NAME:LINE:COLUMN: " with both numbers positive, or "NAME: byte N: " for an encoding error
 * (libyaml's reader knows only the byte offset), N within the input. */
static int error_has_position(const char *msg, size_t size)
{
	const char *p = msg;
	size_t n = strlen(NAME);
	char *end;

	if (strncmp(p, NAME, n) != 0)
		return 0;
	p += n;
	if (strncmp(p, ": byte ", 7) == 0) {
		unsigned long long off = strtoull(p + 7, &end, 10);
		return end != p + 7 && off <= size && strncmp(end, ": ", 2) == 0;
	}
	if (*p++ != ':')
		return 0;
	for (int field = 0; field < 2; field++) {
		long v = strtol(p, &end, 10);
		if (end == p || !isdigit((unsigned char)*p) || v < 1 || *end != ':')
			return 0;
		p = end + 1;
	}
	return *p == ' ';
}

static char *print_config(const struct oeed_config *cfg, size_t *ret_len)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		abort(); /* out of memory in the harness, not a finding */
	config_print(cfg, f);
	if (fclose(f) != 0)
		abort();
	*ret_len = len;
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oeed_config *cfg = NULL, *again = NULL;
	struct oeed_error err;
	char *text = NULL, *text2 = NULL;
	size_t len, len2;
	int r;

	r = config_load_string(NAME, (const char *)data, size, &cfg, &err);
	if (r < 0) {
		if (r != -EINVAL && r != -ENOMEM) {
			fprintf(stderr, "unexpected return %d: %s\n", r, err.msg);
			abort();
		}
		if (r == -EINVAL && !error_has_position(err.msg, size)) {
			fprintf(stderr, "error without NAME:LINE:COLUMN: '%s'\n", err.msg);
			abort();
		}
		return 0;
	}
	if (!cfg)
		abort();

	/* What config_print() writes must be a config again, and a fixed point. */
	text = print_config(cfg, &len);
	r = config_load_string(NAME, text, len, &again, &err);
	if (r < 0) {
		fprintf(stderr, "printed config does not load: %s\n---\n%s---\n", err.msg, text);
		abort();
	}
	text2 = print_config(again, &len2);
	if (len != len2 || memcmp(text, text2, len) != 0) {
		fprintf(stderr, "print(load(print(x))) differs:\n---\n%s---\n%s---\n", text, text2);
		abort();
	}
	free(text2);
	free(text);
	config_free(again);
	config_free(cfg);
	return 0;
}
