/* tlscheck.h - says which TLS check fails against a broker. paho reports an untrusted
 * certificate, a host name mismatch and a refused client certificate all as one plain
 * failure; after such a failure the MQTT client runs this once (blocking, bounded by a
 * timeout) with the same CA, client certificate and host check, and names the cause. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* Connects to host:port and makes a TLS handshake with ca_file (NULL: the system's CAs),
 * cert_file/key_file (NULL: none) and, with verify_host, the host name (or IP address) check.
 * Writes one line into out ("the server certificate does not name 127.0.0.1: IP address
 * mismatch (tls.verify checks it)"). Returns 0 when it found the cause, 1 when every check
 * passed here (the broker refused later), -errno when it could not connect at all. */
int tls_check(const char *host, const char *port, const char *ca_file, const char *cert_file,
	      const char *key_file, bool verify_host, int timeout_ms, char *out, size_t len);
