/* secret.h - the files that hold credentials: the one reader of secrets (MQTT password_file,
 * InfluxDB password_file and token_file) and the one resolver and check of the other files
 * handed to TLS libraries by path (CA bundles, client certificates and keys).
 *
 * Any of these keys may name a systemd credential instead of a path: "credential:NAME" is
 * $CREDENTIALS_DIRECTORY/NAME (the unit's LoadCredential=NAME:/path). NAME is a plain file
 * name (no '/', not "." or ".."). A secret follows one rule: at most SECRET_MAX bytes, no NUL
 * byte, one line: exactly one trailing newline ("\n" or "\r\n") is the file's, not the
 * secret's, and any other CR or LF is an error (it would end an HTTP header early). Spaces are
 * kept. Error messages name the key and the path, never the content. */
#pragma once
#include <stddef.h>
#include "util.h"

#define SECRET_MAX		 4096
#define SECRET_CREDENTIAL_PREFIX "credential:"

/* The path `spec` stands for: "credential:NAME" -> "$CREDENTIALS_DIRECTORY/NAME", anything
 * else itself. Returns 0 with the path in buf, or -EINVAL (bad NAME, too long) / -ENOENT
 * ($CREDENTIALS_DIRECTORY not set) with err ("WHAT: credential:NAME: ..."). */
int secret_path(const char *spec, const char *what, char *buf, size_t len, struct oeed_error *err);
/* Reads the secret in `spec` (a path or credential:NAME); `what` names it in errors
 * ("mqtt.password_file"). Returns 0 with *ret (free with secret_free), or -errno / -EINVAL
 * (too long, NUL byte, more than one line) with err. */
int secret_read(const char *spec, const char *what, char **ret, struct oeed_error *err);
/* Checks that the file `path` (already resolved) can be opened and read by this process now,
 * and that it is not empty: what a TLS library will do with it later, where its error would
 * not name the file. Returns 0, or -errno / -EINVAL (empty, a directory) with err. */
int secret_check_file(const char *path, const char *what, struct oeed_error *err);
/* Wipes and frees; NULL is fine. */
void secret_free(char *s);
