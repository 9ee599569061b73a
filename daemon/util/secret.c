/* secret.c - see secret.h */
#include "secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int secret_read(const char *path, const char *what, char **ret, struct oeed_error *err)
{
	int r = 0;
	char *buf = NULL;
	FILE *f = fopen(path, "re");
	if (!f) {
		r = -errno;
		snprintf(err->msg, sizeof(err->msg), "%s: cannot read %s: %s", what, path,
			 strerror(-r));
		return r;
	}
	if (!(buf = malloc(SECRET_MAX + 2))) {
		r = -ENOMEM;
		snprintf(err->msg, sizeof(err->msg), "%s: out of memory", what);
		goto out;
	}
	size_t n = fread(buf, 1, SECRET_MAX + 2, f);
	if (ferror(f)) {
		r = -EIO;
		snprintf(err->msg, sizeof(err->msg), "%s: cannot read %s: I/O error", what, path);
		goto out;
	}
	/* Exactly one trailing newline is the file's, not the secret's. */
	if (n > 0 && buf[n - 1] == '\n') {
		n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
	}
	if (n > SECRET_MAX) {
		r = -EINVAL;
		snprintf(err->msg, sizeof(err->msg), "%s: %s is longer than %d bytes", what, path,
			 SECRET_MAX);
		goto out;
	}
	if (memchr(buf, 0, n)) {
		r = -EINVAL;
		snprintf(err->msg, sizeof(err->msg), "%s: %s contains a NUL byte", what, path);
		goto out;
	}
	if (memchr(buf, '\n', n) || memchr(buf, '\r', n)) {
		/* it would end an HTTP header early (token, basic auth) */
		r = -EINVAL;
		snprintf(err->msg, sizeof(err->msg),
			 "%s: %s has more than one line (only one trailing newline is allowed)",
			 what, path);
		goto out;
	}
	buf[n] = '\0';
	*ret = buf;
	buf = NULL;
out:
	if (buf) {
		explicit_bzero(buf, SECRET_MAX + 2);
		free(buf);
	}
	fclose(f);
	return r;
}

void secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}
