/* secret.h - the one reader of secrets (MQTT password_file, InfluxDB password_file and
 * token_file), with one rule for all of them: at most SECRET_MAX bytes, no NUL byte, one
 * line: exactly one trailing newline ("\n" or "\r\n") is the file's, not the secret's, and
 * any other CR or LF is an error (it would end an HTTP header early). Spaces are kept. Error
 * messages name the key and the path, never the content. */
#pragma once
#include <stddef.h>
#include "util.h"

#define SECRET_MAX 4096

/* Reads the secret in `path`; `what` names it in errors ("mqtt.password_file"). Returns 0 with
 * *ret (free with secret_free), or -errno / -EINVAL (too long, NUL byte) with err. */
int secret_read(const char *path, const char *what, char **ret, struct oeed_error *err);
/* Wipes and frees; NULL is fine. */
void secret_free(char *s);
