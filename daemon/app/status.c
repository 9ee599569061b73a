/* status.c - `oeed status` on both ends (docs/operations.md, "oeed status").
 *
 * The daemon's end: the status socket (io/statsock.h) in the loop; every connection is
 * answered with one JSON document built here from the live view (emit/liveview.h: states,
 * the last tick's KPIs, contracts), the outputs' and the MQTT client's stats. Nothing is read
 * from a client: nothing on the socket can change the daemon. No secret is in the document
 * (no URL, user name or file name: only counters, states and error texts that name none).
 *
 * The command's end: connect, read the document, print it as tables (machines sorted by id)
 * or, with --json, as it came. */
#include "status.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "clock.h"
#include "daemon.h"

#define STATUS_READ_TIMEOUT_MS 10000
#define STATUS_SYSTEMD_SOCKET  "/run/oeed/status.sock" /* RuntimeDirectory=oeed */

/* ---- the daemon's end ---- */

static void put_u64(struct strbuf *b, const char *key, uint64_t v, bool comma)
{
	strbuf_printf(b, "%s\"%s\":%llu", comma ? "," : "", key, (unsigned long long)v);
}

static void outputs_json(struct daemon *d, struct strbuf *b)
{
	strbuf_putc(b, '[');
	for (size_t i = 0; i < d->out.n; i++) {
		struct output_stats os;
		output_get_stats(d->out.o[i], &os);
		if (i)
			strbuf_putc(b, ',');
		strbuf_puts(b, "{\"name\":");
		json_put_str(b, output_name(d->out.o[i]));
		strbuf_puts(b, ",\"type\":");
		json_put_str(b, output_type(d->out.o[i]));
		strbuf_printf(b, ",\"healthy\":%s", os.healthy ? "true" : "false");
		if (output_takes_machines(d->out.o[i])) {
			put_u64(b, "messages_published", os.messages_published, true);
			put_u64(b, "messages_pending", os.messages_pending, true);
			put_u64(b, "messages_dropped", os.messages_dropped, true);
		} else {
			put_u64(b, "lines_written", os.lines_written, true);
			put_u64(b, "lines_pending", os.lines_pending, true);
			put_u64(b, "lines_retried", os.lines_retried, true);
			put_u64(b, "lines_spooled", os.lines_spooled, true);
			put_u64(b, "lines_dropped", os.lines_dropped, true);
			put_u64(b, "spool_bytes", os.spool_bytes, true);
		}
		put_u64(b, "write_errors", os.write_errors, true);
		strbuf_printf(b, ",\"last_latency_ms\":%lld", (long long)os.last_latency_ms);
		strbuf_puts(b, ",\"last_error\":");
		json_put_str(b, os.last_error);
		strbuf_putc(b, '}');
	}
	strbuf_putc(b, ']');
}

static int render(void *ctx, struct strbuf *b)
{
	struct daemon *d = ctx;
	struct pipeline_stats ps;
	pipeline_get_stats(d->pipe.p, &ps);
	strbuf_printf(b, "{\"oeed\":\"%s\",\"instance\":", OEED_VERSION);
	json_put_str(b, d->cfg->instance);
	strbuf_puts(b, ",\"site\":");
	if (d->pipe.cfg->site)
		json_put_str(b, d->pipe.cfg->site);
	else
		strbuf_puts(b, "null");
	strbuf_printf(b, ",\"now\":%lld,\"started\":%lld", (long long)d->loop.now,
		      (long long)d->started);
	oeed_ms tick = liveview_tick(d->pipe.view);
	if (tick == OEED_MS_NONE)
		strbuf_puts(b, ",\"tick\":null");
	else
		strbuf_printf(b, ",\"tick\":%lld", (long long)tick);
	strbuf_printf(b, ",\"report_interval_ms\":%lld",
		      (long long)d->pipe.cfg->report.interval_ms);
	put_u64(b, "messages", ps.messages, true);
	put_u64(b, "rejected", ps.rejected, true);
	put_u64(b, "machines_dropped", ps.engine.machines_dropped, true);
	strbuf_puts(b, ",\"machines\":");
	liveview_machines_json(d->pipe.view, b);
	strbuf_puts(b, ",\"contracts\":");
	liveview_contracts_json(d->pipe.view, b);
	strbuf_puts(b, ",\"outputs\":");
	outputs_json(d, b);
	strbuf_puts(b, ",\"mqtt\":");
	if (d->mqtt.client) {
		struct mqtt_stats ms;
		mqtt_get_stats(d->mqtt.client, &ms);
		strbuf_printf(b, "{\"connected\":%s", ms.connected ? "true" : "false");
		put_u64(b, "received", ms.received, true);
		put_u64(b, "queue_depth", ms.queue_depth, true);
		put_u64(b, "queue_dropped", ms.queue_dropped, true);
		put_u64(b, "too_large", ms.too_large, true);
		put_u64(b, "connects", ms.connects, true);
		put_u64(b, "disconnects", ms.disconnects, true);
		put_u64(b, "published", ms.published, true);
		put_u64(b, "inflight", ms.inflight, true);
		strbuf_putc(b, '}');
	} else {
		strbuf_puts(b, "null");
	}
	struct statsock_stats ss;
	statsock_get_stats(d->status.sock, &ss);
	strbuf_puts(b, ",\"status_socket\":{");
	put_u64(b, "clients", ss.clients, false);
	put_u64(b, "served", ss.served, true);
	put_u64(b, "dropped", ss.dropped, true);
	put_u64(b, "refused", ss.refused, true);
	put_u64(b, "too_large", ss.too_large, true);
	strbuf_puts(b, "}}\n");
	return 0;
}

static void status_ready(struct loop_source *s, uint32_t events, oeed_ms now)
{
	struct daemon *d = s->ctx;
	if (d->status.sock)
		statsock_ready(d->status.sock, now, render, d);
}

static bool status_conf_equal(const struct oeed_status_conf *a, const struct oeed_status_conf *b)
{
	return a->enabled == b->enabled && strcmp(a->socket, b->socket) == 0 &&
	       a->clients == b->clients && a->max_bytes == b->max_bytes &&
	       a->client_timeout_ms == b->client_timeout_ms;
}

void daemon_status_close(struct daemon *d)
{
	struct daemon_status *st = &d->status;
	if (st->sock)
		loop_remove(&d->loop, &st->src);
	statsock_close(st->sock);
	config_free(st->cfg);
	memset(st, 0, sizeof(*st));
}

void daemon_status_open(struct daemon *d, struct oeed_config *cfg)
{
	struct daemon_status *st = &d->status;
	struct oeed_error err = {{0}};
	if (st->cfg && status_conf_equal(&st->cfg->status, &cfg->status))
		return;
	/* the old one goes first: the same path cannot be bound twice */
	daemon_status_close(d);
	if (!cfg->status.enabled)
		return;
	struct statsock_conf sc = {.path = cfg->status.socket,
				   .max_clients = cfg->status.clients,
				   .max_bytes = (size_t)cfg->status.max_bytes,
				   .timeout_ms = cfg->status.client_timeout_ms};
	if (statsock_open(&sc, &st->sock, &err) < 0) {
		log_error("%s; `oeed status` is not available", err.msg);
		return;
	}
	st->src.fd = statsock_fd(st->sock);
	st->src.ready = status_ready;
	st->src.ctx = d;
	int r = loop_add(&d->loop, &st->src);
	if (r < 0) {
		log_error("status socket: epoll: %s", strerror(-r));
		statsock_close(st->sock);
		st->sock = NULL;
		return;
	}
	st->cfg = config_ref(cfg);
	log_info("status socket: %s", cfg->status.socket);
}

void daemon_status_expire(struct daemon *d, oeed_ms now)
{
	if (d->status.sock)
		statsock_expire(d->status.sock, now);
}

/* ---- the command's end ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: oeed status [--json] [--socket PATH] [-c FILE]\n"
		"  the running daemon's machines, KPIs, contracts and outputs\n"
		"  --json         the document as the daemon sends it\n"
		"  --socket PATH  the daemon's status socket (default: status.socket of the\n"
		"                 config, else " STATUS_SYSTEMD_SOCKET " when it exists, else\n"
		"                 state_dir/status.sock)\n"
		"  -c FILE        the config that names the socket (default " DEFAULT_CONFIG ")\n");
}

/* --socket, else the config's status.socket when the file gives it, else systemd's runtime
 * directory when the socket is there, else what the config resolves to. */
static int socket_path(const char *given, const char *cfg_path, bool cfg_given, char *buf,
		       size_t len)
{
	struct oeed_config *cfg = NULL;
	struct oeed_error err = {{0}};
	struct stat st;
	if (given) {
		snprintf(buf, len, "%s", given);
		return 0;
	}
	if (config_load(cfg_path, &cfg, &err) < 0) {
		if (cfg_given) {
			fprintf(stderr, "%s\n", err.msg);
			return -EINVAL;
		}
		snprintf(buf, len, "%s", STATUS_SYSTEMD_SOCKET);
		return 0;
	}
	if (config_where(cfg, "status.socket") || stat(STATUS_SYSTEMD_SOCKET, &st) < 0)
		snprintf(buf, len, "%s", cfg->status.socket);
	else
		snprintf(buf, len, "%s", STATUS_SYSTEMD_SOCKET);
	config_free(cfg);
	return 0;
}

static int fetch(const char *path, struct strbuf *out)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int r = 0;
	if (strlen(path) >= sizeof(a.sun_path)) {
		fprintf(stderr, "oeed status: %s: path too long\n", path);
		return -ENAMETOOLONG;
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		r = -errno;
		fprintf(stderr, "oeed status: cannot connect to %s: %s%s\n", path, strerror(-r),
			r == -ENOENT || r == -ECONNREFUSED ? " (is oeed running?)"
			: r == -EACCES			   ? " (the socket is for oeed's user and "
							     "group)"
							   : "");
		goto out;
	}
	oeed_ms deadline = clock_mono_ms() + STATUS_READ_TIMEOUT_MS;
	for (;;) {
		char chunk[65536];
		struct pollfd p = {.fd = fd, .events = POLLIN};
		oeed_ms left = deadline - clock_mono_ms();
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			fprintf(stderr, "oeed status: no answer from %s within %d s\n", path,
				STATUS_READ_TIMEOUT_MS / 1000);
			r = -ETIMEDOUT;
			goto out;
		}
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			fprintf(stderr, "oeed status: reading %s: %s\n", path, strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		strbuf_append(out, chunk, (size_t)n);
	}
	if (out->failed) {
		fprintf(stderr, "oeed status: out of memory\n");
		r = -ENOMEM;
	}
out:
	if (fd >= 0)
		close(fd);
	return r;
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* "2026-10-25 14:03:07" in local time, "-" for none. */
static void when(double ms, char *buf, size_t len)
{
	if (!isfinite(ms)) {
		snprintf(buf, len, "-");
		return;
	}
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* "3d 04:05:06", "04:05:06" */
static void span(double ms, char *buf, size_t len)
{
	if (!isfinite(ms) || ms < 0) {
		snprintf(buf, len, "-");
		return;
	}
	long long s = (long long)(ms / 1000);
	if (s >= 86400)
		snprintf(buf, len, "%lldd %02lld:%02lld:%02lld", s / 86400, s / 3600 % 24,
			 s / 60 % 60, s % 60);
	else
		snprintf(buf, len, "%02lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
}

static void pct(const cJSON *o, const char *key, char *buf, size_t len)
{
	double v = num(o, key);
	if (isfinite(v))
		snprintf(buf, len, "%.1f%%", v * 100);
	else
		snprintf(buf, len, "-");
}

static void print_text(const cJSON *doc, FILE *f)
{
	char a[64], b[64], c[64], e[64], g[64];
	double now = num(doc, "now");
	when(now, a, sizeof(a));
	when(num(doc, "tick"), b, sizeof(b));
	const char *site = str(doc, "site");
	fprintf(f, "oeed %s on %s%s%s at %s; KPIs of the report tick at %s\n\n", str(doc, "oeed"),
		str(doc, "instance"), *site ? ", site " : "", site, a, b);
	const cJSON *machines = cJSON_GetObjectItemCaseSensitive(doc, "machines");
	const cJSON *m;
	fprintf(f, "%-24s %-8s %-16s %-20s %-19s %12s\n", "MACHINE", "CATEGORY", "STATE", "REASON",
		"SINCE", "FOR");
	cJSON_ArrayForEach(m, machines)
	{
		double since = num(m, "since");
		when(since, a, sizeof(a));
		span(now - since, b, sizeof(b));
		fprintf(f, "%-24s %-8s %-16s %-20s %-19s %12s\n", str(m, "machine"),
			str(m, "category"), *str(m, "state") ? str(m, "state") : "-",
			*str(m, "reason") ? str(m, "reason") : "-", a, b);
	}
	fprintf(f, "\n%-24s %-8s %8s %8s %8s %8s %8s %8s %10s\n", "MACHINE", "WINDOW", "AVAIL",
		"PERF", "QUALITY", "OEE", "MTBF_S", "MTTR_S", "PARTS");
	cJSON_ArrayForEach(m, machines)
	{
		const cJSON *w;
		cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(m, "kpi"))
		{
			double mtbf = num(w, "mtbf_s"), mttr = num(w, "mttr_s");
			double parts = num(w, "total_count");
			pct(w, "availability", a, sizeof(a));
			pct(w, "performance", b, sizeof(b));
			pct(w, "quality", c, sizeof(c));
			pct(w, "oee", e, sizeof(e));
			snprintf(g, sizeof(g), "%s", "-");
			if (isfinite(parts))
				snprintf(g, sizeof(g), "%.0f", parts);
			fprintf(f, "%-24s %-8s %8s %8s %8s %8s ", str(m, "machine"), w->string, a,
				b, c, e);
			if (isfinite(mtbf))
				fprintf(f, "%8.0f ", mtbf);
			else
				fprintf(f, "%8s ", "-");
			if (isfinite(mttr))
				fprintf(f, "%8.0f ", mttr);
			else
				fprintf(f, "%8s ", "-");
			fprintf(f, "%10s\n", g);
		}
	}
	const cJSON *contracts = cJSON_GetObjectItemCaseSensitive(doc, "contracts");
	if (cJSON_GetArraySize(contracts) > 0) {
		fprintf(f, "\n%-20s %-14s %-8s %9s %9s %9s %-14s %9s\n", "CONTRACT", "KPI",
			"PERIOD", "VALUE", "TARGET", "MINIMUM", "STATUS", "COVERAGE");
		cJSON_ArrayForEach(m, contracts)
		{
			double v = num(m, "value"), cov = num(m, "coverage");
			snprintf(a, sizeof(a), isfinite(v) ? "%.4g" : "-", v);
			snprintf(b, sizeof(b), isfinite(cov) ? "%.1f%%" : "-", cov * 100);
			fprintf(f, "%-20s %-14s %-8s %9s %9.4g %9.4g %-14s %9s\n",
				str(m, "contract"), str(m, "kpi"),
				*str(m, "period") ? str(m, "period") : "-", a, num(m, "target"),
				num(m, "minimum"), str(m, "status"), b);
		}
	}
	fprintf(f, "\n%-20s %-9s %-8s %12s %10s %10s %12s  %s\n", "OUTPUT", "TYPE", "HEALTHY",
		"WRITTEN", "PENDING", "DROPPED", "SPOOL_BYTES", "LAST ERROR");
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(doc, "outputs"))
	{
		bool per_machine = strcmp(str(m, "type"), "mqtt") == 0;
		double spool = num(m, "spool_bytes");
		snprintf(a, sizeof(a), isfinite(spool) ? "%.0f" : "-", spool);
		fprintf(f, "%-20s %-9s %-8s %12.0f %10.0f %10.0f %12s  %s\n", str(m, "name"),
			str(m, "type"),
			cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "healthy")) ? "yes" : "NO",
			num(m, per_machine ? "messages_published" : "lines_written"),
			num(m, per_machine ? "messages_pending" : "lines_pending"),
			num(m, per_machine ? "messages_dropped" : "lines_dropped"), a,
			str(m, "last_error"));
	}
	const cJSON *mq = cJSON_GetObjectItemCaseSensitive(doc, "mqtt");
	if (cJSON_IsObject(mq))
		fprintf(f, "\nmqtt: %s, %.0f messages received, %.0f queued, %.0f dropped\n",
			cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(mq, "connected"))
			    ? "connected"
			    : "NOT CONNECTED",
			num(mq, "received"), num(mq, "queue_depth"), num(mq, "queue_dropped"));
	else
		fprintf(f, "\nmqtt: no client\n");
}

int status_main(int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
					     {"socket", required_argument, NULL, 's'},
					     {"config", required_argument, NULL, 'c'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	const char *sock = NULL, *cfg_path = DEFAULT_CONFIG;
	bool json = false, cfg_given = false;
	char path[4096];
	struct strbuf doc;
	int o, rc = EXIT_OK;
	optind = 1;
	while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'j':
			json = true;
			break;
		case 's':
			sock = optarg;
			break;
		case 'c':
			cfg_path = optarg;
			cfg_given = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_CONFIG;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "oeed status: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_CONFIG;
	}
	if (socket_path(sock, cfg_path, cfg_given, path, sizeof(path)) < 0)
		return EXIT_CONFIG;
	strbuf_init(&doc);
	if (fetch(path, &doc) < 0) {
		rc = EXIT_RUNTIME;
		goto out;
	}
	cJSON *root = cJSON_ParseWithLength(doc.buf ? doc.buf : "", doc.len);
	if (!root || cJSON_GetObjectItemCaseSensitive(root, "error")) {
		fprintf(stderr, "oeed status: %s: %s\n", path,
			root ? str(root, "error") : "the answer is not JSON");
		cJSON_Delete(root);
		rc = EXIT_RUNTIME;
		goto out;
	}
	if (json)
		fwrite(doc.buf, 1, doc.len, stdout);
	else
		print_text(root, stdout);
	cJSON_Delete(root);
out:
	strbuf_free(&doc);
	return rc;
}
