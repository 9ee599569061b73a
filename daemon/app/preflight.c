/* preflight.c - see preflight.h */
#include "preflight.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "secret.h"
#include "topic.h"

#define ZONEINFO_DIR "/usr/share/zoneinfo/"
/* the child reports at most this many errors in its exit status */
#define CHILD_MAX_ERRORS   250
#define CHILD_SETUP_FAILED 255

struct pf {
	const struct oeed_config *cfg;
	FILE *out;
	struct preflight_counts n;
};

/* "FILE:LINE:COLUMN: " for `key`, "FILE: " when the file does not give it. */
static void place(const struct pf *p, const char *key, char *buf, size_t len)
{
	const struct oeed_config_pos *pos = config_where(p->cfg, key);
	if (pos)
		snprintf(buf, len, "%s:%d:%d: ", pos->file, pos->line, pos->column);
	else
		snprintf(buf, len, "%s: ", p->cfg->path);
}

/* One finding. `msg` starts with the key path (as secret.h's messages do). */
static void report(struct pf *p, const char *key, bool warning, const char *msg)
{
	char where[PATH_MAX + 32];
	place(p, key, where, sizeof(where));
	fprintf(p->out, "%s%s%s\n", where, warning ? "warning: " : "", msg);
	if (warning)
		p->n.warnings++;
	else
		p->n.errors++;
}

static void reportf(struct pf *p, const char *key, bool warning, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reportf(struct pf *p, const char *key, bool warning, const char *fmt, ...)
{
	char msg[OEED_ERR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report(p, key, warning, msg);
}

static bool is_credential(const char *spec)
{
	return strncmp(spec, SECRET_CREDENTIAL_PREFIX, strlen(SECRET_CREDENTIAL_PREFIX)) == 0;
}

/* ---- files ------------------------------------------------------------------------------ */

/* Which files a pass checks: the as-service child takes what the service user opens itself,
 * the caller what systemd opens for it (credentials, the StateDirectory). */
enum pass { PASS_ALL, PASS_SERVICE_USER, PASS_SYSTEMD };

static bool in_pass(enum pass pass, bool systemd_opens)
{
	return pass == PASS_ALL || (pass == PASS_SYSTEMD) == systemd_opens;
}

static void check_secret(struct pf *p, enum pass pass, const char *key, const char *spec)
{
	struct oeed_error err = {{0}};
	char *s = NULL;
	if (!spec || !in_pass(pass, is_credential(spec)))
		return;
	if (secret_read(spec, key, &s, &err) < 0)
		report(p, key, false, err.msg);
	secret_free(s);
}

static void check_tls_file(struct pf *p, enum pass pass, const char *key, const char *spec)
{
	struct oeed_error err = {{0}};
	char path[PATH_MAX];
	if (!spec || !in_pass(pass, is_credential(spec)))
		return;
	if (secret_path(spec, key, path, sizeof(path), &err) < 0 ||
	    secret_check_file(path, key, &err) < 0)
		report(p, key, false, err.msg);
}

static bool state_dir_by_systemd(const char *dir)
{
	size_t n = strlen(PREFLIGHT_UNIT_STATE_DIR);
	return strncmp(dir, PREFLIGHT_UNIT_STATE_DIR, n) == 0 && (dir[n] == '\0' || dir[n] == '/');
}

/* "state_dir" or "state_dir (default /var/lib/oeed)" */
static void key_label(const struct pf *p, const char *key, const char *value, char *buf, size_t len)
{
	if (config_where(p->cfg, key))
		snprintf(buf, len, "%s", key);
	else
		snprintf(buf, len, "%s (default %s)", key, value);
}

/* The daemon creates state_dir (one level, mkdir) and then files and directories in it. */
static void check_state_dir(struct pf *p, enum pass pass)
{
	const char *dir = p->cfg->state_dir;
	char key[PATH_MAX + 32], probe[PATH_MAX];
	struct stat st;
	if (!in_pass(pass, state_dir_by_systemd(dir)))
		return;
	key_label(p, "state_dir", dir, key, sizeof(key));
	if (stat(dir, &st) < 0) {
		int e = errno;
		if (e != ENOENT) {
			reportf(p, "state_dir", false, "%s: cannot use %s: %s", key, dir,
				strerror(e));
			return;
		}
		/* missing: the daemon creates it, so its parent must take a new directory */
		char parent[PATH_MAX];
		snprintf(parent, sizeof(parent), "%s", dir);
		char *slash = strrchr(parent, '/');
		if (slash == parent)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		if (access(parent, W_OK | X_OK) < 0) {
			e = errno;
			reportf(
			    p, "state_dir", false,
			    "%s: %s does not exist and cannot be created in %s: %s (oeed creates "
			    "only the last level; under the unit use the StateDirectory= %s)",
			    key, dir, parent, strerror(e), PREFLIGHT_UNIT_STATE_DIR);
		}
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		reportf(p, "state_dir", false, "%s: %s is not a directory", key, dir);
		return;
	}
	snprintf(probe, sizeof(probe), "%s/.oeed-check-XXXXXX", dir);
	int fd = mkstemp(probe);
	if (fd < 0) {
		int e = errno;
		reportf(p, "state_dir", false,
			"%s: cannot write in %s: %s (oeed keeps its checkpoint, spools and "
			"recordings there: the service user must be able to create files)",
			key, dir, strerror(e));
		return;
	}
	close(fd);
	unlink(probe);
}

static void check_timezone(struct pf *p, enum pass pass)
{
	const char *tz = p->cfg->report.timezone;
	char path[PATH_MAX], key[300];
	struct oeed_error err = {{0}};
	if (!tz || !in_pass(pass, false))
		return;
	snprintf(path, sizeof(path), "%s%s", ZONEINFO_DIR, tz);
	key_label(p, "report.timezone", tz, key, sizeof(key));
	int r = secret_check_file(path, key, &err);
	/* UTC works without tzdata (calendar.c) */
	if (r < 0 && !(r == -ENOENT && strcmp(tz, "UTC") == 0))
		report(p, "report.timezone", false, err.msg);
}

static void check_files(struct pf *p, enum pass pass)
{
	const struct oeed_config *cfg = p->cfg;
	char key[64];
	check_state_dir(p, pass);
	check_secret(p, pass, "mqtt.password_file", cfg->mqtt.password_file);
	if (cfg->mqtt.has_tls) {
		check_tls_file(p, pass, "mqtt.tls.ca_file", cfg->mqtt.tls.ca_file);
		check_tls_file(p, pass, "mqtt.tls.cert_file", cfg->mqtt.tls.cert_file);
		check_tls_file(p, pass, "mqtt.tls.key_file", cfg->mqtt.tls.key_file);
	}
	check_timezone(p, pass);
	for (size_t i = 0; i < cfg->n_outputs; i++) {
		const struct oeed_output_conf *o = &cfg->outputs[i];
		if (o->type != OUTPUT_INFLUXDB)
			continue;
		/* the same keys the output reads (output_influx.c): v1 basic auth needs a user */
		if (o->api == 1 && o->username) {
			snprintf(key, sizeof(key), "outputs[%zu].password_file", i);
			check_secret(p, pass, key, o->password_file);
		}
		if (o->api == 2) {
			snprintf(key, sizeof(key), "outputs[%zu].token_file", i);
			check_secret(p, pass, key, o->token_file);
		}
		snprintf(key, sizeof(key), "outputs[%zu].ca_file", i);
		check_tls_file(p, pass, key, o->ca_file);
	}
}

/* The service user's pass in a child that dropped root: its exit status is the number of
 * errors it found (its lines are on p->out already). */
static int check_files_as_service(struct pf *p, const struct preflight_opts *opts,
				  struct oeed_error *err)
{
	fflush(p->out);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err->msg, sizeof(err->msg), "--as-service: fork: %s", strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		if (setgroups(opts->n_groups, opts->groups) < 0 ||
		    setgid(PREFLIGHT_SERVICE_ID) < 0 || setuid(PREFLIGHT_SERVICE_ID) < 0) {
			fprintf(p->out, "oeed: --as-service: cannot drop to uid %d: %s\n",
				PREFLIGHT_SERVICE_ID, strerror(errno));
			fflush(p->out);
			_exit(CHILD_SETUP_FAILED);
		}
		p->n = (struct preflight_counts){0};
		check_files(p, PASS_SERVICE_USER);
		fflush(p->out);
		_exit(p->n.errors > CHILD_MAX_ERRORS ? CHILD_MAX_ERRORS : (int)p->n.errors);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			snprintf(err->msg, sizeof(err->msg), "--as-service: waitpid: %s",
				 strerror(errno));
			return -errno;
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) == CHILD_SETUP_FAILED) {
		snprintf(err->msg, sizeof(err->msg),
			 "--as-service: the check as uid %d failed (status %d)",
			 PREFLIGHT_SERVICE_ID, status);
		return -ECHILD;
	}
	p->n.errors += (unsigned)WEXITSTATUS(status);
	return 0;
}

/* ---- URLs ------------------------------------------------------------------------------- */

/* Parses `url` with libcurl's URL API: a host and, for http(s), one of the two schemes. */
static void check_url(struct pf *p, const char *key, const char *url, bool http, bool tls_given)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	if (!u) {
		reportf(p, key, false, "%s: out of memory", key);
		return;
	}
	CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, http ? 0 : CURLU_NON_SUPPORT_SCHEME);
	if (rc == CURLUE_OK)
		rc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(u, CURLUPART_HOST, &host, 0);
	if (rc != CURLUE_OK)
		reportf(p, key, false, "%s: bad url '%.200s': %s (use %s)", key, url,
			curl_url_strerror(rc),
			http ? "http://HOST:PORT or https://HOST:PORT"
			     : "tcp://HOST:PORT or "
			       "ssl://HOST:PORT");
	else if (http && tls_given && strcmp(scheme, "http") == 0)
		reportf(p, key, true,
			"%s: ca_file is given but '%.200s' is not https://: it is not used", key,
			url);
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
}

static void check_urls(struct pf *p)
{
	const struct oeed_config *cfg = p->cfg;
	char key[64];
	if (cfg->mqtt.url)
		check_url(p, "mqtt.url", cfg->mqtt.url, false, false);
	for (size_t i = 0; i < cfg->n_outputs; i++) {
		const struct oeed_output_conf *o = &cfg->outputs[i];
		if (o->type != OUTPUT_INFLUXDB || !o->url)
			continue;
		snprintf(key, sizeof(key), "outputs[%zu].url", i);
		check_url(p, key, o->url, true, o->ca_file != NULL);
	}
}

/* ---- warnings --------------------------------------------------------------------------- */

static void check_outputs_given(struct pf *p)
{
	if (p->cfg->n_outputs == 0)
		report(p, "outputs", true,
		       "outputs: none configured: figures are computed and written nowhere (add "
		       "an output, e.g. {type: file, path: \"-\"} or an influxdb one)");
}

/* A contract's machine entries are not recorded one by one: name the contract's start. */
static void report_at(struct pf *p, const char *key, int line, int column, const char *msg)
{
	if (config_where(p->cfg, key) || line <= 0) {
		report(p, key, true, msg);
		return;
	}
	fprintf(p->out, "%s:%d:%d: warning: %s\n", p->cfg->path, line, column, msg);
	p->n.warnings++;
}

static void check_contract_patterns(struct pf *p)
{
	const struct oeed_machines *ms = &p->cfg->machines;
	char key[64], msg[OEED_ERR_MAX];
	if (ms->n_list == 0)
		return; /* every machine is found by topic: nothing to compare with */
	for (size_t i = 0; i < p->cfg->n_contracts; i++) {
		const struct oeed_contract *c = &p->cfg->contracts[i];
		for (size_t j = 0; j < c->n_machines; j++) {
			size_t k = 0;
			while (k < ms->n_list && fnmatch(c->machines[j], ms->list[k].id, 0) != 0)
				k++;
			if (k < ms->n_list)
				continue;
			snprintf(key, sizeof(key), "contracts[%zu].machines[%zu]", i, j);
			snprintf(
			    msg, sizeof(msg),
			    "%s: '%.100s' matches no machine in machines.list (%zu listed; %s)",
			    key, c->machines[j], ms->n_list,
			    ms->max > ms->n_list
				? "it can still match a machine found by topic"
				: "machines.max leaves no room for others: it matches nothing");
			report_at(p, key, c->line, c->column, msg);
		}
	}
}

struct levels {
	const char *at[TOPIC_MAX_LEVELS + 1];
	size_t len[TOPIC_MAX_LEVELS + 1];
	size_t n;
};

/* Splits a filter at '/'; false when it has more levels than a template can. */
static bool split_levels(const char *f, struct levels *ret)
{
	ret->n = 0;
	for (;;) {
		if (ret->n == OEED_ARRAY_SIZE(ret->at))
			return false;
		size_t l = strcspn(f, "/");
		ret->at[ret->n] = f;
		ret->len[ret->n++] = l;
		if (f[l] == '\0')
			return true;
		f += l + 1;
	}
}

static bool level_is(const struct levels *lv, size_t i, char c)
{
	return lv->len[i] == 1 && lv->at[i][0] == c;
}

/* Appends a level of the example topic ('+' becomes "x"). */
static void example_add(char *buf, size_t len, size_t *used, const struct levels *lv, size_t i)
{
	bool plus = level_is(lv, i, '+');
	int n = snprintf(buf + *used, len - *used, "%s%.*s", *used || i ? "/" : "",
			 plus ? 1 : (int)lv->len[i], plus ? "x" : lv->at[i]);
	if (n > 0)
		*used = OEED_MIN(*used + (size_t)n, len - 1);
}

bool preflight_filters_overlap(const char *a, const char *b, char *example, size_t len)
{
	struct levels la, lb;
	char scratch[1];
	size_t used = 0;
	if (!example || !len) {
		example = scratch;
		len = sizeof(scratch);
	}
	example[0] = '\0';
	if (!split_levels(a, &la) || !split_levels(b, &lb))
		return false;
	for (size_t i = 0;; i++) {
		bool ha = i < la.n && level_is(&la, i, '#'), hb = i < lb.n && level_is(&lb, i, '#');
		if (ha || hb) {
			/* '#' matches the rest of the other filter, also nothing ("a/#" matches
			 * "a") */
			const struct levels *o = ha ? &lb : &la;
			for (size_t k = i; k < o->n && !level_is(o, k, '#'); k++)
				example_add(example, len, &used, o, k);
			return true;
		}
		if (i == la.n || i == lb.n)
			return la.n == lb.n;
		bool pa = level_is(&la, i, '+'), pb = level_is(&lb, i, '+');
		if (!pa && !pb && (la.len[i] != lb.len[i] || memcmp(la.at[i], lb.at[i], la.len[i])))
			return false;
		example_add(example, len, &used, pa ? &lb : &la, i);
	}
}

static void check_source_overlap(struct pf *p)
{
	const struct oeed_config *cfg = p->cfg;
	struct topic_template *t = calloc(cfg->n_sources ? cfg->n_sources : 1, sizeof(*t));
	char errbuf[128], key[64], example[512];
	if (!t)
		return;
	for (size_t i = 0; i < cfg->n_sources; i++)
		if (topic_template_parse(cfg->sources[i].topic, &t[i], errbuf, sizeof(errbuf)) < 0)
			t[i].subscription = NULL; /* the loader checked it; nothing to compare */
	for (size_t j = 1; j < cfg->n_sources; j++) {
		for (size_t i = 0; i < j; i++) {
			if (!t[i].subscription || !t[j].subscription ||
			    !preflight_filters_overlap(t[i].subscription, t[j].subscription,
						       example, sizeof(example)))
				continue;
			snprintf(key, sizeof(key), "sources[%zu].topic", j);
			char ikey[64];
			snprintf(ikey, sizeof(ikey), "sources[%zu].topic", i);
			const struct oeed_config_pos *other = config_where(cfg, ikey);
			reportf(
			    p, key, true,
			    "%s: '%.100s' and %s '%.100s' (line %d) can match the same topic, e.g. "
			    "'%.100s': each such message is decoded by both sources (make the "
			    "templates distinct, or use one source with fields:)",
			    key, cfg->sources[j].topic, ikey, cfg->sources[i].topic,
			    other ? other->line : cfg->sources[i].line, example);
			break; /* one warning per source */
		}
	}
	for (size_t i = 0; i < cfg->n_sources; i++)
		if (t[i].subscription)
			topic_template_free(&t[i]);
	free(t);
}

int preflight_run(const struct oeed_config *cfg, const struct preflight_opts *opts, FILE *out,
		  struct preflight_counts *ret, struct oeed_error *err)
{
	struct pf p = {.cfg = cfg, .out = out};
	int r = 0;
	if (opts->as_service && geteuid() == 0) {
		check_files(&p, PASS_SYSTEMD);
		r = check_files_as_service(&p, opts, err);
		if (r < 0)
			return r;
	} else {
		check_files(&p, PASS_ALL);
	}
	if (opts->as_service && !state_dir_by_systemd(cfg->state_dir))
		reportf(&p, "state_dir", true,
			"state_dir: the unit (ProtectSystem=strict) lets oeed write only below %s "
			"(StateDirectory=oeed): %s needs ReadWritePaths=%s in a drop-in",
			PREFLIGHT_UNIT_STATE_DIR, cfg->state_dir, cfg->state_dir);
	check_urls(&p);
	check_outputs_given(&p);
	check_contract_patterns(&p);
	check_source_overlap(&p);
	*ret = p.n;
	return 0;
}
