/* secret.c - see secret.h */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CREDENTIAL_NAME_MAX 255

static bool credential_name_ok(const char *name)
{
	size_t n = strlen(name);
	return n > 0 && n <= CREDENTIAL_NAME_MAX && !strchr(name, '/') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}

int secret_path(const char *spec, const char *what, char *buf, size_t len, struct oeed_error *err)
{
	size_t plen = strlen(SECRET_CREDENTIAL_PREFIX);
	int n;
	if (strncmp(spec, SECRET_CREDENTIAL_PREFIX, plen) != 0) {
		n = snprintf(buf, len, "%s", spec);
	} else {
		const char *name = spec + plen;
		if (!credential_name_ok(name)) {
			snprintf(
			    err->msg, sizeof(err->msg),
			    "%s: bad credential name '%.60s' (use credential:NAME, NAME a file "
			    "name without '/', as in LoadCredential=NAME:/path)",
			    what, name);
			return -EINVAL;
		}
		const char *dir = getenv("CREDENTIALS_DIRECTORY");
		if (!dir || !*dir) {
			snprintf(err->msg, sizeof(err->msg),
				 "%s: %.80s: $CREDENTIALS_DIRECTORY is not set (give the unit "
				 "LoadCredential=%.60s:/path/to/file and run under it, or set "
				 "CREDENTIALS_DIRECTORY to a directory holding %.60s)",
				 what, spec, name, name);
			return -ENOENT;
		}
		n = snprintf(buf, len, "%s/%s", dir, name);
	}
	if (n < 0 || (size_t)n >= len) {
		snprintf(err->msg, sizeof(err->msg), "%s: path too long", what);
		return -EINVAL;
	}
	return 0;
}

/* "WHAT: cannot read PATH: ERRNO TEXT" plus what to do about the two usual causes. */
static void cannot_read(const char *spec, const char *path, const char *what, int e,
			struct oeed_error *err)
{
	bool cred = strncmp(spec, SECRET_CREDENTIAL_PREFIX, strlen(SECRET_CREDENTIAL_PREFIX)) == 0;
	if (cred && e == ENOENT)
		snprintf(err->msg, sizeof(err->msg),
			 "%s: %.80s: cannot read %s: %s (no such credential: the unit needs "
			 "LoadCredential=%.60s:/path/to/file)",
			 what, spec, path, strerror(e), spec + strlen(SECRET_CREDENTIAL_PREFIX));
	else if (e == EACCES)
		snprintf(err->msg, sizeof(err->msg),
			 "%s: cannot read %s: %s (oeed runs as uid %u gid %u: make the file "
			 "readable by that user or group, or use credential:NAME with the unit's "
			 "LoadCredential=)",
			 what, path, strerror(e), (unsigned)geteuid(), (unsigned)getegid());
	else
		snprintf(err->msg, sizeof(err->msg), "%s: cannot read %s: %s", what, path,
			 strerror(e));
}

/* Opens `path` for reading, refusing a directory (fopen would open one and fail on read). */
static int open_file(const char *spec, const char *path, const char *what, struct oeed_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		cannot_read(spec, path, what, e, err);
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		cannot_read(spec, path, what, e, err);
		close(fd);
		return -e;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(err->msg, sizeof(err->msg), "%s: %s is a directory (name a file)", what,
			 path);
		close(fd);
		return -EISDIR;
	}
	return fd;
}

int secret_read(const char *spec, const char *what, char **ret, struct oeed_error *err)
{
	char path[4096];
	int r = secret_path(spec, what, path, sizeof(path), err);
	if (r < 0)
		return r;
	int fd = open_file(spec, path, what, err);
	if (fd < 0)
		return fd;
	char *buf = malloc(SECRET_MAX + 2);
	size_t n = 0;
	if (!buf) {
		r = -ENOMEM;
		snprintf(err->msg, sizeof(err->msg), "%s: out of memory", what);
		goto out;
	}
	while (n < SECRET_MAX + 2) {
		ssize_t k = read(fd, buf + n, SECRET_MAX + 2 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			cannot_read(spec, path, what, -r, err);
			goto out;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	/* Exactly one trailing newline is the file's, not the secret's. */
	if (n > 0 && buf[n - 1] == '\n') {
		n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
	}
	if (n > SECRET_MAX) {
		r = -EINVAL;
		snprintf(err->msg, sizeof(err->msg), "%s: %.300s is longer than %d bytes", what,
			 path, SECRET_MAX);
		goto out;
	}
	if (memchr(buf, 0, n)) {
		r = -EINVAL;
		snprintf(err->msg, sizeof(err->msg), "%s: %.300s contains a NUL byte", what, path);
		goto out;
	}
	if (memchr(buf, '\n', n) || memchr(buf, '\r', n)) {
		/* it would end an HTTP header early (token, basic auth) */
		r = -EINVAL;
		snprintf(err->msg, sizeof(err->msg),
			 "%s: %.300s has more than one line (only one trailing newline is allowed)",
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
	close(fd);
	return r;
}

int secret_check_file(const char *path, const char *what, struct oeed_error *err)
{
	int fd = open_file(path, path, what, err);
	if (fd < 0)
		return fd;
	char byte;
	ssize_t k;
	do
		k = read(fd, &byte, 1);
	while (k < 0 && errno == EINTR);
	int r = 0;
	if (k < 0) {
		r = -errno;
		cannot_read(path, path, what, -r, err);
	} else if (k == 0) {
		r = -EINVAL;
		snprintf(err->msg, sizeof(err->msg), "%s: %s is empty", what, path);
	}
	close(fd);
	return r;
}

void secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}
