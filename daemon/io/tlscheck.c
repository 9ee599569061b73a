/* tlscheck.c - a one-shot OpenSSL handshake that names the failing TLS check (tlscheck.h). */
#include "tlscheck.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* A TCP connection within timeout_ms; returns the socket (blocking again) or -errno. */
static int connect_timeout(const char *host, const char *port, int timeout_ms)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int fd = -1, r = -EHOSTUNREACH;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -EHOSTUNREACH;
	for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    a->ai_protocol);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
			r = -errno;
			close(fd);
			fd = -1;
			continue;
		}
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (poll(&p, 1, timeout_ms) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
			r = soerr ? -soerr : -ETIMEDOUT;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return r;
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static const char *verify_hint(long v)
{
	switch (v) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return "the server certificate does not name the host in mqtt.url (tls.verify "
		       "checks it)";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return "the server certificate is not signed by a CA in tls.ca_file";
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "the server certificate is outside its validity (or the clock is wrong)";
	default:
		return "the server certificate fails verification";
	}
}

int tls_check(const char *host, const char *port, const char *ca_file, const char *cert_file,
	      const char *key_file, bool verify_host, int timeout_ms, char *out, size_t len)
{
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	char ebuf[256];
	struct in6_addr ip;
	bool is_ip = inet_pton(AF_INET, host, &ip) == 1 || inet_pton(AF_INET6, host, &ip) == 1;
	int fd, r = 0;

	out[0] = '\0';
	ERR_clear_error();
	if (!(ctx = SSL_CTX_new(TLS_client_method()))) {
		snprintf(out, len, "TLS: cannot set up OpenSSL");
		return -ENOMEM;
	}
	if (ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1
		    : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		ERR_error_string_n(ERR_get_error(), ebuf, sizeof(ebuf));
		snprintf(out, len, "tls.ca_file %s cannot be loaded: %s", ca_file ? ca_file : "",
			 ebuf);
		goto out;
	}
	if (cert_file && (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
			  SSL_CTX_use_PrivateKey_file(ctx, key_file ? key_file : cert_file,
						      SSL_FILETYPE_PEM) != 1)) {
		ERR_error_string_n(ERR_get_error(), ebuf, sizeof(ebuf));
		snprintf(out, len, "the client certificate or key cannot be used: %s", ebuf);
		goto out;
	}
	/* the result is read after the handshake, so every check is seen, not only the first */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if ((fd = connect_timeout(host, port, timeout_ms)) < 0) {
		snprintf(out, len, "cannot reach %s:%s: %s", host, port, strerror(-fd));
		r = fd;
		goto out;
	}
	if (!(ssl = SSL_new(ctx)) || SSL_set_fd(ssl, fd) != 1) {
		close(fd);
		snprintf(out, len, "TLS: cannot set up OpenSSL");
		r = -ENOMEM;
		goto out;
	}
	if (!is_ip)
		SSL_set_tlsext_host_name(ssl, host);
	if (verify_host) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
		if (is_ip)
			X509_VERIFY_PARAM_set1_ip_asc(vp, host);
		else
			SSL_set1_host(ssl, host);
	}
	if (SSL_connect(ssl) != 1) {
		unsigned long e = ERR_get_error();
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
		snprintf(out, len, "the TLS handshake fails: %s", e ? ebuf : "connection closed");
	} else {
		long v = SSL_get_verify_result(ssl);
		if (v != X509_V_OK) {
			snprintf(out, len, "%s: %s", verify_hint(v),
				 X509_verify_cert_error_string(v));
		} else {
			/* TLS 1.3 refuses a missing client certificate after the handshake; a
			 * broker that just waits for CONNECT says nothing for half a second */
			struct timeval tv = {.tv_sec = 0, .tv_usec = 500000};
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			char b;
			int n = SSL_read(ssl, &b, 1);
			if (n <= 0 && SSL_get_error(ssl, n) == SSL_ERROR_SSL) {
				ERR_error_string_n(ERR_get_error(), ebuf, sizeof(ebuf));
				snprintf(out, len, "the broker refuses the client certificate: %s",
					 ebuf);
			} else {
				snprintf(out, len, "every TLS check passes from here");
				r = 1;
			}
		}
	}
	SSL_shutdown(ssl);
	close(fd);
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return r;
}
