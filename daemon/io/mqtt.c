/* mqtt.c - the MQTT edge (see mqtt.h): owns the paho MQTTAsync client, its connect options,
 * the subscription set, and the receive queue (rxqueue.h) that hands messages from paho's
 * callback thread to the main thread.
 *
 * Threads: paho calls on_message, on_connected, on_connection_lost and the response callbacks
 * on its own threads; everything else runs on the main thread. on_message is the queue's
 * producer, the main thread its consumer. `lock` guards the connection stats and the current
 * subscription set (the queue has its own). paho is never called while `lock` is held: paho
 * runs some callbacks under its own mutex, so holding ours across a paho call could deadlock
 * against a callback waiting for ours.
 *
 * Persistence is MQTTCLIENT_PERSISTENCE_NONE: oeed only receives, and for received QoS 1
 * messages the session state that matters (subscriptions, messages queued while offline) is
 * held by the broker. paho's file persistence would only keep our own outgoing QoS 0 rebirth
 * requests and needs a writable working directory, which systemd's ProtectSystem=strict does
 * not give. */
#include "mqtt.h"

#include <MQTTAsync.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "rxqueue.h"
#include "tlscheck.h"
#include "secret.h"

/* The receive queue's per-message limit: a larger payload is counted as too_large and not
 * queued. The queue costs queue_len * 24 B + max(queue_bytes, 1.1 MiB), of which only what the
 * deepest backlog reached is touched (rxqueue.h). */
#define MQTT_MAX_PAYLOAD	   (1024 * 1024)
#define MQTT_DISCONNECT_TIMEOUT_MS 2000
/* How long paho's receive thread may wait for room in a full queue before it drops the
 * message. Waiting stops paho reading the socket, so TCP pushes back to the broker, which
 * keeps the rest (docs/mqtt.md). Well under any keep-alive: paho sends PINGREQs from the same
 * thread, between callbacks. */
#define MQTT_FULL_WAIT_MS 1000

/* An immutable subscription set, shared by reference so that the connected callback can
 * subscribe from it without holding `lock` while set_subscriptions replaces it. */
struct subset {
	unsigned refs;
	size_t n;
	char **filters;
	int *qos;
};

struct mqtt_client {
	MQTTAsync handle;
	bool created;
	int protocol;
	struct recording_writer *rec;

	/* Strings paho keeps pointers to for the client's lifetime (reconnects reuse them). */
	char *url, *client_id, *username, *password, *status_topic;
	/* Sparkplug primary host (NULL: passive): spBv1.0/STATE/<host_id> and its two payloads,
	 * both with the timestamp of the first CONNECT (paho sends that will on every reconnect,
	 * and the birth must carry the will's timestamp). */
	char *state_topic;
	char state_online[64], state_offline[64];
	char *ca_file, *cert_file, *key_file;
	bool tls_diagnosed; /* since the last connect: tls_check ran (paho's thread only) */
	char tls_cause[200];
	MQTTAsync_SSLOptions ssl;
	MQTTAsync_willOptions will;
	MQTTProperties connect_props;
	MQTTAsync_connectOptions conn;

	/* The receive queue: on_message pushes, mqtt_drain drains (rxqueue.h). */
	struct rxqueue *q;

	pthread_mutex_t lock;
	/* The connection's fields of mqtt_stats; mqtt_get_stats adds the queue's. */
	struct mqtt_stats stats;
	struct subset *subs;

	/* Only used from paho's threads, guarded by log_lock. */
	pthread_mutex_t log_lock;
	struct log_ratelimit rl_drop, rl_conn, rl_rec;

	/* mqtt_free waits here for the disconnect to complete. */
	pthread_mutex_t done_lock;
	pthread_cond_t done_cond;
	bool done;
};

static void subset_unref(struct subset *s)
{
	if (!s || --s->refs > 0)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->filters[i]);
	free(s->filters);
	free(s->qos);
	free(s);
}

static bool subs_valid(const struct mqtt_subscription *subs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!subs[i].filter || !*subs[i].filter || subs[i].qos < 0 || subs[i].qos > 2)
			return false;
	return true;
}

static struct subset *subset_new(const struct mqtt_subscription *subs, size_t n)
{
	struct subset *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->refs = 1;
	s->filters = calloc(n ? n : 1, sizeof(*s->filters));
	s->qos = calloc(n ? n : 1, sizeof(*s->qos));
	if (!s->filters || !s->qos)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		s->filters[i] = strdup(subs[i].filter);
		if (!s->filters[i])
			goto fail;
		s->qos[i] = subs[i].qos;
		s->n = i + 1;
	}
	return s;
fail:
	subset_unref(s);
	return NULL;
}

static void set_last_error(struct mqtt_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_last_error(struct mqtt_client *c, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&c->lock);
	va_start(ap, fmt);
	vsnprintf(c->stats.last_error, sizeof(c->stats.last_error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&c->lock);
}

/* MQTT 3.1.1 CONNACK return codes (the failure code paho reports for a refused connect). */
static const char *connack_text(int code)
{
	switch (code) {
	case 1:
		return "unacceptable protocol version";
	case 2:
		return "client identifier rejected";
	case 3:
		return "server unavailable";
	case 4:
		return "bad user name or password";
	case 5:
		return "not authorized";
	default:
		return MQTTAsync_strerror(code);
	}
}

static void conn_failed(struct mqtt_client *c, const char *what, const char *detail)
{
	set_last_error(c, "connect to %s failed: %s%s%s", c->url, what, detail ? ": " : "",
		       detail ? detail : "");
	pthread_mutex_lock(&c->log_lock);
	log_limited(&c->rl_conn, clock_mono_ms(), LOG_LVL_ERROR,
		    "mqtt: connect to %s failed: %s%s%s (retrying)", c->url, what,
		    detail ? ": " : "", detail ? detail : "");
	pthread_mutex_unlock(&c->log_lock);
}

/* paho reports a failed TLS handshake, an untrusted certificate and a host name mismatch all
 * as a plain failure: the first such failure since a connect runs tls_check (a blocking
 * handshake of its own, at most 2 s, in paho's thread between its retries) to name the cause;
 * later ones repeat it. */
static const char *failure_text(struct mqtt_client *c, int code)
{
	if (code != MQTTASYNC_FAILURE || !c->conn.ssl)
		return connack_text(code);
	if (!c->tls_diagnosed) {
		char host[256], port[8] = "8883";
		const char *h = c->url + strlen("ssl://");
		size_t hl;
		if (*h == '[') { /* an IPv6 literal */
			const char *close = strchr(h, ']');
			hl = close ? (size_t)(close - h - 1) : 0;
			h++;
		} else {
			hl = strcspn(h, ":/");
		}
		const char *colon = strchr(h + hl, ':');
		if (colon)
			snprintf(port, sizeof(port), "%.*s", (int)strcspn(colon + 1, "/"),
				 colon + 1);
		snprintf(host, sizeof(host), "%.*s", (int)OEED_MIN(hl, sizeof(host) - 1), h);
		c->tls_diagnosed = true;
		if (tls_check(host, port, c->ca_file, c->cert_file, c->key_file, c->ssl.verify,
			      2000, c->tls_cause, sizeof(c->tls_cause)) == 1)
			snprintf(
			    c->tls_cause, sizeof(c->tls_cause),
			    "TCP connect or TLS handshake failed (a TLS handshake with the same "
			    "settings passes from here)");
	}
	return c->tls_cause;
}

static void on_connect_failure(void *ctx, MQTTAsync_failureData *r)
{
	struct mqtt_client *c = ctx;
	conn_failed(c, r ? failure_text(c, r->code) : "unknown error", r ? r->message : NULL);
}

static void on_connect_failure5(void *ctx, MQTTAsync_failureData5 *r)
{
	struct mqtt_client *c = ctx;
	const char *what = "unknown error";
	/* paho 1.3 reports a refused MQTT 5 CONNACK with the reason code in `code` (reasonCode
	 * stays 0): 135 is "Not authorized", which MQTTAsync_strerror calls "Unknown error". */
	if (r && r->reasonCode >= 0x80)
		what = MQTTReasonCode_toString(r->reasonCode);
	else if (r && r->code >= 0x80 && r->code <= 0xFF)
		what = MQTTReasonCode_toString((enum MQTTReasonCodes)r->code);
	else if (r)
		what = failure_text(c, r->code);
	conn_failed(c, what, r ? r->message : NULL);
}

static void on_sub_failure(void *ctx, MQTTAsync_failureData *r)
{
	struct mqtt_client *c = ctx;
	set_last_error(c, "subscribe failed: %s", r ? MQTTAsync_strerror(r->code) : "?");
	log_error("mqtt: subscribe failed: %s", r ? MQTTAsync_strerror(r->code) : "?");
}

static void on_sub_failure5(void *ctx, MQTTAsync_failureData5 *r)
{
	struct mqtt_client *c = ctx;
	const char *what = r ? MQTTReasonCode_toString(r->reasonCode) : "?";
	set_last_error(c, "subscribe failed: %s", what);
	log_error("mqtt: subscribe failed: %s", what);
}

/* Each filter is subscribed on its own, so the answer holds one code: a granted QoS of 0x80
 * (3.1.1) or a reason code >= 0x80 (5) is a refused filter (an ACL, a bad filter). */
static void on_sub_success(void *ctx, MQTTAsync_successData *r)
{
	struct mqtt_client *c = ctx;
	if (r && r->alt.qos == 0x80) {
		set_last_error(c, "subscribe refused by the broker");
		log_error("mqtt: the broker refused a subscription");
	}
}

static void on_sub_success5(void *ctx, MQTTAsync_successData5 *r)
{
	struct mqtt_client *c = ctx;
	if (r && r->reasonCode >= 0x80) {
		set_last_error(c, "subscribe refused: %s", MQTTReasonCode_toString(r->reasonCode));
		log_error("mqtt: the broker refused a subscription: %s",
			  MQTTReasonCode_toString(r->reasonCode));
	}
}

static void set_response(struct mqtt_client *c, MQTTAsync_responseOptions *o)
{
	o->context = c;
	if (c->protocol == 5) {
		o->onSuccess5 = on_sub_success5;
		o->onFailure5 = on_sub_failure5;
	} else {
		o->onSuccess = on_sub_success;
		o->onFailure = on_sub_failure;
	}
}

static int subscribe_set(struct mqtt_client *c, const struct subset *s)
{
	int r = 0;
	for (size_t i = 0; i < s->n; i++) {
		MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
		set_response(c, &o);
		int rc = MQTTAsync_subscribe(c->handle, s->filters[i], s->qos[i], &o);
		if (rc != MQTTASYNC_SUCCESS) {
			set_last_error(c, "subscribe to %s failed: %s", s->filters[i],
				       MQTTAsync_strerror(rc));
			log_error("mqtt: subscribe to %s failed: %s", s->filters[i],
				  MQTTAsync_strerror(rc));
			r = -EIO;
		}
	}
	return r;
}

static void publish_retained(struct mqtt_client *c, const char *topic, const char *text)
{
	MQTTAsync_message m = MQTTAsync_message_initializer;
	m.payload = (void *)text;
	m.payloadlen = (int)strlen(text);
	m.qos = 1;
	m.retained = 1;
	int rc = MQTTAsync_sendMessage(c->handle, topic, &m, NULL);
	if (rc != MQTTASYNC_SUCCESS)
		log_warn("mqtt: publishing \"%s\" to %s failed: %s", text, topic,
			 MQTTAsync_strerror(rc));
}

static void publish_status(struct mqtt_client *c, const char *text)
{
	publish_retained(c, c->status_topic, text);
}

/* Sparkplug 3.0 host birth: after the subscriptions (the source topics and its own STATE
 * topic, tck-id-host-topic-phid-birth-sub-required), STATE online=true, QoS 1, retained. */
static void sparkplug_host_birth(struct mqtt_client *c)
{
	MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
	set_response(c, &o);
	int rc = MQTTAsync_subscribe(c->handle, c->state_topic, 1, &o);
	if (rc != MQTTASYNC_SUCCESS)
		log_error("mqtt: subscribe to %s failed: %s", c->state_topic,
			  MQTTAsync_strerror(rc));
	publish_retained(c, c->state_topic, c->state_online);
}

/* Called after the first connect and after every automatic reconnect (onSuccess is not
 * called again after a reconnect, so the subscriptions are renewed here). */
static void on_connected(void *ctx, char *cause)
{
	struct mqtt_client *c = ctx;
	pthread_mutex_lock(&c->lock);
	c->stats.connected = 1;
	c->tls_diagnosed = false;
	c->stats.connects++;
	/* what was in flight when the connection broke is not counted against the new one */
	c->stats.inflight = 0;
	struct subset *s = c->subs;
	s->refs++;
	pthread_mutex_unlock(&c->lock);

	log_info("mqtt: connected to %s as %s", c->url, c->client_id);
	/* The broker handles packets of one connection in order: the SUBSCRIBE goes out before
	 * "online", so whoever sees "online" can rely on the subscriptions being in place. */
	subscribe_set(c, s);
	if (c->status_topic)
		publish_status(c, "online");
	if (c->state_topic)
		sparkplug_host_birth(c);

	pthread_mutex_lock(&c->lock);
	subset_unref(s);
	pthread_mutex_unlock(&c->lock);
}

static void on_connection_lost(void *ctx, char *cause)
{
	struct mqtt_client *c = ctx;
	/* cause is always NULL in paho 1.3 (#1148): nothing more specific to report. */
	pthread_mutex_lock(&c->lock);
	c->stats.connected = 0;
	c->stats.disconnects++;
	snprintf(c->stats.last_error, sizeof(c->stats.last_error), "connection to %s lost", c->url);
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_lock(&c->log_lock);
	log_limited(&c->rl_conn, clock_mono_ms(), LOG_LVL_WARN,
		    "mqtt: connection to %s lost; reconnecting", c->url);
	pthread_mutex_unlock(&c->log_lock);
}

/* The stamped hook of rxqueue_push: the recording is written before the message is queued,
 * so that it is the write-ahead log for what the queue holds (and holds what a full queue
 * drops, for the next start's tail replay). */
static int record_msg(void *ctx, int64_t rx_ns, const char *topic, size_t topic_len,
		      const uint8_t *payload, size_t len)
{
	struct mqtt_client *c = ctx;
	return recording_write(c->rec, rx_ns, topic, topic_len, payload, len);
}

/* Our own STATE saying offline (a will of an earlier connection, or someone else's publish):
 * say online again at once (tck-id-message-flow-hid-sparkplug-state-message-delivered).
 * Returns true when the message was our STATE topic (not for the engine). */
static bool own_state(struct mqtt_client *c, const char *topic, size_t tlen,
		      const MQTTAsync_message *m)
{
	if (!c->state_topic || strlen(c->state_topic) != tlen ||
	    memcmp(c->state_topic, topic, tlen) != 0)
		return false;
	cJSON *j = cJSON_ParseWithLength(m->payload, m->payloadlen > 0 ? (size_t)m->payloadlen : 0);
	const cJSON *online = j ? cJSON_GetObjectItemCaseSensitive(j, "online") : NULL;
	if (cJSON_IsFalse(online)) {
		log_info("mqtt: %s says offline: publishing online again", c->state_topic);
		publish_retained(c, c->state_topic, c->state_online);
	}
	cJSON_Delete(j);
	return true;
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
	struct mqtt_client *c = ctx;
	size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
	size_t len = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
	struct rxqueue_push_info info;

	if (own_state(c, topic, tlen, m)) {
		MQTTAsync_freeMessage(&m);
		MQTTAsync_free(topic);
		return 1;
	}

	int r =
	    rxqueue_push(c->q, topic, tlen, m->payload, len, c->rec ? record_msg : NULL, c, &info);
	int rec_rc = info.stamped_rc;
	if (rec_rc < 0) {
		pthread_mutex_lock(&c->lock);
		c->stats.record_errors++;
		pthread_mutex_unlock(&c->lock);
	}
	if (r < 0 || rec_rc < 0) {
		pthread_mutex_lock(&c->log_lock);
		oeed_ms now = clock_mono_ms();
		if (rec_rc < 0)
			log_limited(&c->rl_rec, now, LOG_LVL_ERROR,
				    "mqtt: recording a message on %.*s failed: %s",
				    (int)OEED_MIN(tlen, 200), topic, strerror(-rec_rc));
		if (r == -ENOBUFS)
			log_limited(&c->rl_drop, now, LOG_LVL_WARN,
				    "mqtt: receive queue full (%zu messages) for %d ms, message on "
				    "%.*s dropped",
				    info.depth, MQTT_FULL_WAIT_MS, (int)OEED_MIN(tlen, 200), topic);
		else if (r == -EMSGSIZE)
			log_limited(
			    &c->rl_drop, now, LOG_LVL_WARN,
			    "mqtt: message on %.*s dropped: %zu bytes is over the %d byte limit",
			    (int)OEED_MIN(tlen, 200), topic, len, MQTT_MAX_PAYLOAD);
		pthread_mutex_unlock(&c->log_lock);
	}
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

static int ssl_error_cb(const char *str, size_t len, void *u)
{
	struct mqtt_client *c = u;
	size_t n = len;
	while (n > 0 && (str[n - 1] == '\n' || str[n - 1] == '\r'))
		n--;
	set_last_error(c, "TLS: %.*s", (int)OEED_MIN(n, 140), str);
	pthread_mutex_lock(&c->log_lock);
	log_limited(&c->rl_conn, clock_mono_ms(), LOG_LVL_ERROR, "mqtt: TLS error with %s: %.*s",
		    c->url, (int)n, str);
	pthread_mutex_unlock(&c->log_lock);
	return 0;
}

static int dup_str(char **dst, const char *src)
{
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

/* A TLS file of the config, resolved (credential:NAME) and checked now: a missing or unreadable
 * file fails at start with its key and path instead of an OpenSSL line at every reconnect. */
static int tls_file(char **dst, const char *spec, const char *what, struct oeed_error *err)
{
	char path[4096];
	int r;
	if (!spec)
		return 0;
	if ((r = secret_path(spec, what, path, sizeof(path), err)) < 0 ||
	    (r = secret_check_file(path, what, err)) < 0)
		return r;
	if (dup_str(dst, path) < 0) {
		snprintf(err->msg, sizeof(err->msg), "mqtt: out of memory");
		return -ENOMEM;
	}
	return 0;
}

static int secs_from_ms(oeed_ms ms)
{
	if (ms <= 0)
		return 0;
	oeed_ms s = (ms + 999) / 1000;
	return s > 86400 * 365 ? 86400 * 365 : (int)s;
}

static int build_options(struct mqtt_client *c, const struct oeed_mqtt_conf *conf,
			 struct oeed_error *err)
{
	bool tls = strncmp(c->url, "ssl://", 6) == 0;
	if (!tls && strncmp(c->url, "tcp://", 6) != 0) {
		snprintf(err->msg, sizeof(err->msg),
			 "mqtt: url %s: must start with tcp:// or ssl://", c->url);
		return -EINVAL;
	}
	if (!tls && conf->has_tls) {
		snprintf(err->msg, sizeof(err->msg),
			 "mqtt: tls settings are given but url %s is not ssl://", c->url);
		return -EINVAL;
	}
	if (conf->protocol != 4 && conf->protocol != 5) {
		snprintf(err->msg, sizeof(err->msg), "mqtt: protocol must be 4 or 5, not %d",
			 conf->protocol);
		return -EINVAL;
	}
	if (c->protocol == 5) {
		MQTTAsync_connectOptions o5 = MQTTAsync_connectOptions_initializer5;
		c->conn = o5;
		c->conn.cleanstart = conf->clean_session;
		/* Without a session expiry interval an MQTT 5 session ends with the connection. */
		MQTTProperty p = {.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL};
		oeed_ms secs = conf->clean_session ? 0 : conf->session_expiry_ms / 1000;
		p.value.integer4 = secs >= 0xFFFFFFFF ? 0xFFFFFFFE : (unsigned)secs;
		if (MQTTProperties_add(&c->connect_props, &p) != 0) {
			snprintf(err->msg, sizeof(err->msg), "mqtt: out of memory");
			return -ENOMEM;
		}
		c->conn.connectProperties = &c->connect_props;
		c->conn.onFailure5 = on_connect_failure5;
	} else {
		MQTTAsync_connectOptions o4 = MQTTAsync_connectOptions_initializer;
		c->conn = o4;
		c->conn.MQTTVersion = MQTTVERSION_3_1_1;
		c->conn.cleansession = conf->clean_session;
		c->conn.onFailure = on_connect_failure;
	}
	c->conn.context = c;
	c->conn.keepAliveInterval = secs_from_ms(conf->keepalive_ms);
	c->conn.automaticReconnect = 1;
	c->conn.minRetryInterval = OEED_MAX(1, secs_from_ms(conf->reconnect_min_ms));
	c->conn.maxRetryInterval =
	    OEED_MAX(c->conn.minRetryInterval, secs_from_ms(conf->reconnect_max_ms));
	c->conn.connectTimeout = 10;
	c->conn.username = c->username;
	c->conn.password = c->password;
	if (c->status_topic || c->state_topic) {
		/* One will per connection: the config allows status_topic or sparkplug_host_id. */
		MQTTAsync_willOptions w = MQTTAsync_willOptions_initializer;
		c->will = w;
		c->will.topicName = c->state_topic ? c->state_topic : c->status_topic;
		c->will.message = c->state_topic ? c->state_offline : "offline";
		c->will.retained = 1;
		c->will.qos = 1;
		c->conn.will = &c->will;
	}
	if (tls) {
		MQTTAsync_SSLOptions s = MQTTAsync_SSLOptions_initializer;
		c->ssl = s;
		c->ssl.trustStore = c->ca_file;
		c->ssl.keyStore = c->cert_file;
		c->ssl.privateKey = c->key_file;
		c->ssl.enableServerCertAuth = 1;
		/* paho's default is no host name check. */
		c->ssl.verify = conf->tls.verify;
		c->ssl.ssl_error_cb = ssl_error_cb;
		c->ssl.ssl_error_context = c;
		c->conn.ssl = &c->ssl;
	}
	return 0;
}

int mqtt_new(const struct oeed_mqtt_conf *conf, const struct mqtt_subscription *subs, size_t n_subs,
	     struct recording_writer *rec, struct mqtt_client **ret, struct oeed_error *err)
{
	int r;
	struct mqtt_client *c = NULL;

	if (!conf->client_id || !*conf->client_id) {
		snprintf(err->msg, sizeof(err->msg), "mqtt: client_id is required");
		return -EINVAL;
	}
	if (!subs_valid(subs, n_subs)) {
		snprintf(err->msg, sizeof(err->msg),
			 "mqtt: a subscription has no filter or a qos "
			 "outside 0..2");
		return -EINVAL;
	}
	if (conf->queue_len == 0 || conf->queue_len > RXQUEUE_MAX_LEN) {
		snprintf(err->msg, sizeof(err->msg), "mqtt: queue_len must be 1..%u",
			 RXQUEUE_MAX_LEN);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err->msg, sizeof(err->msg), "mqtt: out of memory");
		return -ENOMEM;
	}
	c->rec = rec;
	c->protocol = conf->protocol;
	MQTTProperties props = MQTTProperties_initializer;
	c->connect_props = props;
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(60000, 5);
	c->rl_drop = c->rl_conn = c->rl_rec = rl;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->log_lock, NULL);
	pthread_mutex_init(&c->done_lock, NULL);
	pthread_cond_init(&c->done_cond, NULL);

	if (dup_str(&c->url, conf->url) < 0 || dup_str(&c->client_id, conf->client_id) < 0 ||
	    dup_str(&c->username, conf->username) < 0 ||
	    dup_str(&c->status_topic, conf->status_topic) < 0) {
		r = -ENOMEM;
		snprintf(err->msg, sizeof(err->msg), "mqtt: out of memory");
		goto fail;
	}
	if (conf->sparkplug_host_id) {
		size_t n = strlen("spBv1.0/STATE/") + strlen(conf->sparkplug_host_id) + 1;
		c->state_topic = malloc(n);
		if (!c->state_topic) {
			r = -ENOMEM;
			snprintf(err->msg, sizeof(err->msg), "mqtt: out of memory");
			goto fail;
		}
		snprintf(c->state_topic, n, "spBv1.0/STATE/%s", conf->sparkplug_host_id);
		long long ts = (long long)clock_wall_ms();
		snprintf(c->state_online, sizeof(c->state_online),
			 "{\"online\":true,\"timestamp\":%lld}", ts);
		snprintf(c->state_offline, sizeof(c->state_offline),
			 "{\"online\":false,\"timestamp\":%lld}", ts);
	}
	if (conf->has_tls &&
	    ((r = tls_file(&c->ca_file, conf->tls.ca_file, "mqtt.tls.ca_file", err)) < 0 ||
	     (r = tls_file(&c->cert_file, conf->tls.cert_file, "mqtt.tls.cert_file", err)) < 0 ||
	     (r = tls_file(&c->key_file, conf->tls.key_file, "mqtt.tls.key_file", err)) < 0))
		goto fail;
	if (conf->password_file) {
		r = secret_read(conf->password_file, "mqtt.password_file", &c->password, err);
		if (r < 0)
			goto fail;
	}
	r = build_options(c, conf, err);
	if (r < 0)
		goto fail;

	c->subs = subset_new(subs, n_subs);
	if (!c->subs) {
		r = -ENOMEM;
		snprintf(err->msg, sizeof(err->msg), "mqtt: out of memory");
		goto fail;
	}
	struct rxqueue_conf qc = {
	    .queue_len = conf->queue_len,
	    .queue_bytes = (size_t)conf->queue_bytes,
	    .max_payload = MQTT_MAX_PAYLOAD,
	    .full_wait_ms = MQTT_FULL_WAIT_MS,
	};
	r = rxqueue_new(&qc, &c->q);
	if (r == -ENOMEM) {
		snprintf(err->msg, sizeof(err->msg), "mqtt: out of memory");
		goto fail;
	}
	if (r < 0) {
		snprintf(err->msg, sizeof(err->msg), "mqtt: eventfd: %s", strerror(-r));
		goto fail;
	}

	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	co.MQTTVersion = c->protocol == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
	co.sendWhileDisconnected = 0;
	int rc = MQTTAsync_createWithOptions(&c->handle, c->url, c->client_id,
					     MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		r = rc == MQTTASYNC_BAD_PROTOCOL ? -EINVAL : -EIO;
		snprintf(err->msg, sizeof(err->msg), "mqtt: cannot create a client for %s: %s",
			 c->url, MQTTAsync_strerror(rc));
		goto fail;
	}
	c->created = true;
	rc = MQTTAsync_setCallbacks(c->handle, c, on_connection_lost, on_message, NULL);
	if (rc == MQTTASYNC_SUCCESS)
		rc = MQTTAsync_setConnected(c->handle, c, on_connected);
	if (rc != MQTTASYNC_SUCCESS) {
		r = -EIO;
		snprintf(err->msg, sizeof(err->msg), "mqtt: cannot set callbacks: %s",
			 MQTTAsync_strerror(rc));
		goto fail;
	}
	*ret = c;
	return 0;
fail:
	mqtt_free(c);
	return r;
}

/* Around every paho call from the main thread: the receive thread stops waiting for room,
 * since paho's mutex, which it holds meanwhile, is what the call needs. */
static void paho_enter(struct mqtt_client *c)
{
	rxqueue_nowait_begin(c->q);
}

static void paho_leave(struct mqtt_client *c)
{
	rxqueue_nowait_end(c->q);
}

int mqtt_start(struct mqtt_client *c)
{
	paho_enter(c);
	int rc = MQTTAsync_connect(c->handle, &c->conn);
	paho_leave(c);
	if (rc != MQTTASYNC_SUCCESS) {
		set_last_error(c, "connect to %s failed: %s", c->url, MQTTAsync_strerror(rc));
		log_error("mqtt: connect to %s failed: %s", c->url, MQTTAsync_strerror(rc));
		return rc == MQTTASYNC_BAD_MQTT_OPTION || rc == MQTTASYNC_BAD_STRUCTURE ? -EINVAL
											: -EIO;
	}
	return 0;
}

int mqtt_fd(const struct mqtt_client *c)
{
	return rxqueue_fd(c->q);
}

/* mqtt_drain's callback and its context, behind rxqueue_drain's. */
struct drain_ctx {
	void (*fn)(void *ctx, const struct mqtt_msg *m);
	void *ctx;
};

static void drain_one(void *ctx, const struct rxqueue_msg *qm)
{
	struct drain_ctx *d = ctx;
	struct mqtt_msg m = {
	    .rx_ns = qm->rx_ns,
	    .topic = qm->topic,
	    .topic_len = qm->topic_len,
	    .payload = qm->payload,
	    .len = qm->len,
	};
	d->fn(d->ctx, &m);
}

size_t mqtt_drain(struct mqtt_client *c, void (*fn)(void *ctx, const struct mqtt_msg *m), void *ctx,
		  size_t max)
{
	struct drain_ctx d = {.fn = fn, .ctx = ctx};
	return rxqueue_drain(c->q, drain_one, &d, max);
}

int mqtt_set_subscriptions(struct mqtt_client *c, const struct mqtt_subscription *subs, size_t n)
{
	if (!subs_valid(subs, n))
		return -EINVAL;
	struct subset *ns = subset_new(subs, n);
	if (!ns)
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	struct subset *old = c->subs;
	c->subs = ns;
	ns->refs++;
	bool connected = c->stats.connected;
	pthread_mutex_unlock(&c->lock);

	int r = 0;
	if (connected) {
		paho_enter(c);
		/* Filters no longer wanted; a changed QoS is handled by subscribing again. */
		for (size_t i = 0; i < old->n; i++) {
			bool keep = false;
			for (size_t j = 0; j < ns->n && !keep; j++)
				keep = strcmp(old->filters[i], ns->filters[j]) == 0;
			if (keep)
				continue;
			MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
			int rc = MQTTAsync_unsubscribe(c->handle, old->filters[i], &o);
			if (rc != MQTTASYNC_SUCCESS) {
				log_error("mqtt: unsubscribe from %s failed: %s", old->filters[i],
					  MQTTAsync_strerror(rc));
				r = -EIO;
			}
		}
		if (subscribe_set(c, ns) < 0)
			r = -EIO;
		paho_leave(c);
	}
	/* When not connected, on_connected subscribes the new set. Filters dropped here stay in a
	 * persistent session until the broker forgets it; their messages match no source. */
	pthread_mutex_lock(&c->lock);
	subset_unref(old);
	subset_unref(ns);
	pthread_mutex_unlock(&c->lock);
	return r;
}

int mqtt_publish(struct mqtt_client *c, const char *topic, const void *payload, size_t len)
{
	if (len > INT32_MAX)
		return -EMSGSIZE;
	MQTTAsync_message m = MQTTAsync_message_initializer;
	m.payload = (void *)payload;
	m.payloadlen = (int)len;
	m.qos = 0;
	paho_enter(c);
	int rc = MQTTAsync_sendMessage(c->handle, topic, &m, NULL);
	paho_leave(c);
	if (rc == MQTTASYNC_DISCONNECTED)
		return -ENOTCONN;
	return rc == MQTTASYNC_SUCCESS ? 0 : -EIO;
}

/* paho's answers to mqtt_publish_msg, on its threads. */
static void published(struct mqtt_client *c, bool ok)
{
	pthread_mutex_lock(&c->lock);
	if (c->stats.inflight > 0)
		c->stats.inflight--;
	if (ok)
		c->stats.published++;
	else
		c->stats.publish_failed++;
	pthread_mutex_unlock(&c->lock);
}

static void on_pub_success(void *ctx, MQTTAsync_successData *r)
{
	published(ctx, true);
}

static void on_pub_failure(void *ctx, MQTTAsync_failureData *r)
{
	published(ctx, false);
}

static void on_pub_success5(void *ctx, MQTTAsync_successData5 *r)
{
	published(ctx, !r || r->reasonCode < 0x80);
}

static void on_pub_failure5(void *ctx, MQTTAsync_failureData5 *r)
{
	published(ctx, false);
}

int mqtt_publish_msg(struct mqtt_client *c, const char *topic, const void *payload, size_t len,
		     int qos, bool retain, size_t max_inflight)
{
	if (len > INT32_MAX)
		return -EMSGSIZE;
	pthread_mutex_lock(&c->lock);
	bool connected = c->stats.connected;
	bool busy = c->stats.inflight >= max_inflight;
	if (connected && !busy)
		c->stats.inflight++; /* before the call: its answer may come before it returns */
	pthread_mutex_unlock(&c->lock);
	if (!connected)
		return -ENOTCONN;
	if (busy)
		return -EAGAIN;
	MQTTAsync_message m = MQTTAsync_message_initializer;
	m.payload = (void *)payload;
	m.payloadlen = (int)len;
	m.qos = qos;
	m.retained = retain;
	MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
	o.context = c;
	if (c->protocol == 5) {
		o.onSuccess5 = on_pub_success5;
		o.onFailure5 = on_pub_failure5;
	} else {
		o.onSuccess = on_pub_success;
		o.onFailure = on_pub_failure;
	}
	paho_enter(c);
	int rc = MQTTAsync_sendMessage(c->handle, topic, &m, &o);
	paho_leave(c);
	if (rc != MQTTASYNC_SUCCESS) {
		pthread_mutex_lock(&c->lock);
		if (c->stats.inflight > 0)
			c->stats.inflight--;
		pthread_mutex_unlock(&c->lock);
		return rc == MQTTASYNC_DISCONNECTED ? -ENOTCONN : -EIO;
	}
	return 0;
}

int64_t mqtt_watermark_ns(struct mqtt_client *c)
{
	return rxqueue_watermark_ns(c->q);
}

void mqtt_get_stats(struct mqtt_client *c, struct mqtt_stats *ret)
{
	struct rxqueue_stats qs;
	pthread_mutex_lock(&c->lock);
	*ret = c->stats;
	pthread_mutex_unlock(&c->lock);
	rxqueue_get_stats(c->q, &qs);
	ret->received = qs.pushed;
	ret->queue_dropped = qs.dropped;
	ret->queue_waits = qs.waits;
	ret->too_large = qs.too_large;
	ret->queue_depth = qs.depth;
	ret->queue_high_water = qs.high_water;
}

static void on_disconnect_done(void *ctx, MQTTAsync_successData *r)
{
	struct mqtt_client *c = ctx;
	pthread_mutex_lock(&c->done_lock);
	c->done = true;
	pthread_cond_signal(&c->done_cond);
	pthread_mutex_unlock(&c->done_lock);
}

static void on_disconnect_failed(void *ctx, MQTTAsync_failureData *r)
{
	on_disconnect_done(ctx, NULL);
}

static void on_disconnect_done5(void *ctx, MQTTAsync_successData5 *r)
{
	on_disconnect_done(ctx, NULL);
}

static void on_disconnect_failed5(void *ctx, MQTTAsync_failureData5 *r)
{
	on_disconnect_done(ctx, NULL);
}

static void disconnect(struct mqtt_client *c)
{
	pthread_mutex_lock(&c->lock);
	bool connected = c->stats.connected;
	pthread_mutex_unlock(&c->lock);
	if (!connected)
		return;
	/* A clean disconnect does not fire the will: say "offline" ourselves. */
	if (c->status_topic)
		publish_status(c, "offline");
	if (c->state_topic) {
		/* tck-id-host-topic-phid-death-payload-disconnect-clean: the time of the disconnect
		 */
		char off[64];
		snprintf(off, sizeof(off), "{\"online\":false,\"timestamp\":%lld}",
			 (long long)clock_wall_ms());
		publish_retained(c, c->state_topic, off);
	}
	MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
	if (c->protocol == 5) {
		MQTTAsync_disconnectOptions o5 = MQTTAsync_disconnectOptions_initializer5;
		o = o5;
		o.onSuccess5 = on_disconnect_done5;
		o.onFailure5 = on_disconnect_failed5;
	} else {
		o.onSuccess = on_disconnect_done;
		o.onFailure = on_disconnect_failed;
	}
	o.context = c;
	o.timeout = MQTT_DISCONNECT_TIMEOUT_MS;
	int rc = MQTTAsync_disconnect(c->handle, &o);
	if (rc != MQTTASYNC_SUCCESS) {
		log_warn("mqtt: disconnect from %s failed: %s", c->url, MQTTAsync_strerror(rc));
		return;
	}
	/* done_cond has the default clock, CLOCK_REALTIME. */
	struct timespec until = clock_deadline(CLOCK_REALTIME, MQTT_DISCONNECT_TIMEOUT_MS + 1000);
	pthread_mutex_lock(&c->done_lock);
	while (!c->done)
		if (pthread_cond_timedwait(&c->done_cond, &c->done_lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&c->done_lock);
}

void mqtt_stop(struct mqtt_client *c)
{
	if (!c || !c->created)
		return;
	rxqueue_stop(c->q); /* no more waiting for room: paho's calls below need its mutex */
	disconnect(c);
	MQTTAsync_destroy(&c->handle);
	c->created = false; /* no callback runs after this: the queue is the caller's alone */
}

void mqtt_free(struct mqtt_client *c)
{
	if (!c)
		return;
	mqtt_stop(c);
	rxqueue_free(c->q);
	subset_unref(c->subs);
	MQTTProperties_free(&c->connect_props);
	secret_free(c->password);
	free(c->url);
	free(c->client_id);
	free(c->username);
	free(c->status_topic);
	free(c->state_topic);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	pthread_cond_destroy(&c->done_cond);
	pthread_mutex_destroy(&c->done_lock);
	pthread_mutex_destroy(&c->log_lock);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
