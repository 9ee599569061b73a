/* Unit tests for secret.c: the one rule of secrets (size, NUL, one trailing newline),
 * credential:NAME resolution and the TLS file check, with the exact error texts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret.h"
#include "testutil.h"

static char dir[] = "/tmp/oeed-test-secret-XXXXXX";

static const char *put(const char *name, const void *data, size_t len)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		abort();
	return path;
}

static int read_secret(const char *spec, char **s, struct oeed_error *err)
{
	*s = NULL;
	err->msg[0] = '\0';
	return secret_read(spec, "k.password_file", s, err);
}

int main(void)
{
	struct oeed_error err;
	char *s, path[512], exp[600];
	if (!mkdtemp(dir))
		return 1;

	/* one trailing newline (LF or CRLF) is the file's; spaces are kept */
	CHECK_INT(read_secret(put("a", " p w \n", 6), &s, &err), 0);
	CHECK_STR(s, " p w ");
	secret_free(s);
	CHECK_INT(read_secret(put("b", "pw\r\n", 4), &s, &err), 0);
	CHECK_STR(s, "pw");
	secret_free(s);
	CHECK_INT(read_secret(put("c", "pw", 2), &s, &err), 0);
	CHECK_STR(s, "pw");
	secret_free(s);
	/* an empty file is an empty secret (a user without a password) */
	CHECK_INT(read_secret(put("e", "", 0), &s, &err), 0);
	CHECK_STR(s, "");
	secret_free(s);

	/* the errors name the key and the path, never the content */
	const char *p = put("two", "pw\n\n", 4);
	CHECK_INT(read_secret(p, &s, &err), -EINVAL);
	snprintf(exp, sizeof(exp),
		 "k.password_file: %s has more than one line (only one trailing newline is "
		 "allowed)",
		 p);
	CHECK_STR(err.msg, exp);
	p = put("nul", "p\0w", 3);
	CHECK_INT(read_secret(p, &s, &err), -EINVAL);
	snprintf(exp, sizeof(exp), "k.password_file: %s contains a NUL byte", p);
	CHECK_STR(err.msg, exp);
	static char big[SECRET_MAX + 2];
	memset(big, 'x', sizeof(big));
	CHECK_INT(read_secret(put("max", big, SECRET_MAX), &s, &err), 0);
	secret_free(s);
	big[SECRET_MAX] = '\n';
	CHECK_INT(read_secret(put("max-nl", big, SECRET_MAX + 1), &s, &err), 0);
	secret_free(s);
	big[SECRET_MAX] = 'x';
	p = put("big", big, SECRET_MAX + 1);
	CHECK_INT(read_secret(p, &s, &err), -EINVAL);
	snprintf(exp, sizeof(exp), "k.password_file: %s is longer than 4096 bytes", p);
	CHECK_STR(err.msg, exp);
	CHECK(!strstr(err.msg, "xxxx"));
	CHECK_INT(read_secret("/nonexistent/pw", &s, &err), -ENOENT);
	CHECK_STR(err.msg,
		  "k.password_file: cannot read /nonexistent/pw: No such file or directory");
	CHECK_INT(read_secret(dir, &s, &err), -EISDIR);
	snprintf(exp, sizeof(exp), "k.password_file: %s is a directory (name a file)", dir);
	CHECK_STR(err.msg, exp);

	/* credential:NAME is $CREDENTIALS_DIRECTORY/NAME */
	unsetenv("CREDENTIALS_DIRECTORY");
	CHECK_INT(read_secret("credential:mqtt.secret", &s, &err), -ENOENT);
	CHECK_STR(err.msg, "k.password_file: credential:mqtt.secret: $CREDENTIALS_DIRECTORY is not "
			   "set (give the unit LoadCredential=mqtt.secret:/path/to/file and run "
			   "under it, or set CREDENTIALS_DIRECTORY to a directory holding "
			   "mqtt.secret)");
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	put("mqtt.secret", "s3cret\n", 7);
	CHECK_INT(read_secret("credential:mqtt.secret", &s, &err), 0);
	CHECK_STR(s, "s3cret");
	secret_free(s);
	CHECK_INT(read_secret("credential:missing", &s, &err), -ENOENT);
	snprintf(exp, sizeof(exp),
		 "k.password_file: credential:missing: cannot read %s/missing: No such file or "
		 "directory (no such credential: the unit needs "
		 "LoadCredential=missing:/path/to/file)",
		 dir);
	CHECK_STR(err.msg, exp);
	CHECK_INT(read_secret("credential:../x", &s, &err), -EINVAL);
	CHECK_INT(read_secret("credential:..", &s, &err), -EINVAL);
	CHECK_INT(read_secret("credential:", &s, &err), -EINVAL);
	CHECK_STR(err.msg, "k.password_file: bad credential name '' (use credential:NAME, NAME a "
			   "file name without '/', as in LoadCredential=NAME:/path)");
	CHECK_INT(secret_path("credential:ca.pem", "x", path, sizeof(path), &err), 0);
	snprintf(exp, sizeof(exp), "%s/ca.pem", dir);
	CHECK_STR(path, exp);
	CHECK_INT(secret_path("/etc/ssl/ca.pem", "x", path, sizeof(path), &err), 0);
	CHECK_STR(path, "/etc/ssl/ca.pem");

	/* TLS files: readable and not empty */
	CHECK_INT(secret_check_file(put("ca.pem", "-----BEGIN", 10), "mqtt.tls.ca_file", &err), 0);
	p = put("empty.pem", "", 0);
	CHECK_INT(secret_check_file(p, "mqtt.tls.ca_file", &err), -EINVAL);
	snprintf(exp, sizeof(exp), "mqtt.tls.ca_file: %s is empty", p);
	CHECK_STR(err.msg, exp);
	CHECK_INT(secret_check_file("/nonexistent/ca.pem", "mqtt.tls.ca_file", &err), -ENOENT);
	CHECK_STR(err.msg, "mqtt.tls.ca_file: cannot read /nonexistent/ca.pem: No such file or "
			   "directory");

	/* unreadable for this uid (only meaningful when not root: root reads anything) */
	if (geteuid() != 0) {
		p = put("locked", "pw", 2);
		chmod(p, 0);
		CHECK_INT(read_secret(p, &s, &err), -EACCES);
		CHECK(strstr(err.msg, "Permission denied (oeed runs as uid ") != NULL);
	}

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_INT(system(cmd), 0);
	TEST_END();
}
