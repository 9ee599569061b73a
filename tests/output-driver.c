/* output-driver.c - oeed-output-driver: runs one output (output.h) outside the daemon for
 * integration tests and benchmarks. Arguments are key=value pairs describing one
 * oeed_output_conf (url= api= database= retention_policy= username= password_file= org=
 * bucket= token_file= batch_lines= flush_interval_ms= spool_max= gzip=0/1 state_dir= name=
 * timeout_ms= connect_timeout_ms= create_database=0/1 ca_file= verify=0/1 type=influxdb/file
 * path=) plus close_timeout_ms= and log_level=. Lines from stdin go to output_write, with
 * output_tick every 100 ms; at EOF the output is closed and the final stats are printed as
 * one JSON object on stdout: the stats once nothing is pending (or close_timeout_ms passed),
 * the lines left in the spool after close, the CPU seconds and the elapsed time. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "output.h"
#include "spool.h"

static oeed_ms clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (oeed_ms)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse_u64(const char *key, const char *v, uint64_t *ret)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || end == v || *end) {
		fprintf(stderr, "bad number for %s: %s\n", key, v);
		return -EINVAL;
	}
	*ret = n;
	return 0;
}

static int set_key(struct oeed_output_conf *c, const char *key, const char *v,
		   oeed_ms *close_timeout)
{
	uint64_t n = 0;
	bool num = false;
	static const char *const numeric[] = {
	    "api",    "batch_lines",	  "flush_interval_ms",	"spool_max",
	    "gzip",   "timeout_ms",	  "connect_timeout_ms", "create_database",
	    "verify", "close_timeout_ms",
	};
	for (size_t i = 0; i < OEED_ARRAY_SIZE(numeric); i++)
		if (strcmp(key, numeric[i]) == 0)
			num = true;
	if (num && parse_u64(key, v, &n) < 0)
		return -EINVAL;
	/* The strings point into argv, which lives as long as the process. */
	if (strcmp(key, "type") == 0)
		c->type = strcmp(v, "file") == 0 ? OUTPUT_FILE : OUTPUT_INFLUXDB;
	else if (strcmp(key, "name") == 0)
		c->name = (char *)v;
	else if (strcmp(key, "url") == 0)
		c->url = (char *)v;
	else if (strcmp(key, "database") == 0)
		c->database = (char *)v;
	else if (strcmp(key, "retention_policy") == 0)
		c->retention_policy = (char *)v;
	else if (strcmp(key, "username") == 0)
		c->username = (char *)v;
	else if (strcmp(key, "password_file") == 0)
		c->password_file = (char *)v;
	else if (strcmp(key, "org") == 0)
		c->org = (char *)v;
	else if (strcmp(key, "bucket") == 0)
		c->bucket = (char *)v;
	else if (strcmp(key, "token_file") == 0)
		c->token_file = (char *)v;
	else if (strcmp(key, "ca_file") == 0)
		c->ca_file = (char *)v;
	else if (strcmp(key, "path") == 0)
		c->path = (char *)v;
	else if (strcmp(key, "api") == 0)
		c->api = (int)n;
	else if (strcmp(key, "batch_lines") == 0)
		c->batch_lines = (size_t)n;
	else if (strcmp(key, "flush_interval_ms") == 0)
		c->flush_interval_ms = (oeed_ms)n;
	else if (strcmp(key, "spool_max") == 0)
		c->spool_max = n;
	else if (strcmp(key, "gzip") == 0)
		c->gzip = n != 0;
	else if (strcmp(key, "timeout_ms") == 0)
		c->timeout_ms = (oeed_ms)n;
	else if (strcmp(key, "connect_timeout_ms") == 0)
		c->connect_timeout_ms = (oeed_ms)n;
	else if (strcmp(key, "create_database") == 0)
		c->create_database = n != 0;
	else if (strcmp(key, "verify") == 0)
		c->verify = n != 0;
	else if (strcmp(key, "close_timeout_ms") == 0)
		*close_timeout = (oeed_ms)n;
	else {
		fprintf(stderr, "unknown key %s\n", key);
		return -EINVAL;
	}
	return 0;
}

static void print_stats(const struct output_stats *st, uint64_t spool_left, double cpu_s,
			oeed_ms elapsed_ms)
{
	cJSON *j = cJSON_CreateObject();
	char *text;
	if (!j)
		return;
	cJSON_AddNumberToObject(j, "lines_written", (double)st->lines_written);
	cJSON_AddNumberToObject(j, "lines_retried", (double)st->lines_retried);
	cJSON_AddNumberToObject(j, "lines_spooled", (double)st->lines_spooled);
	cJSON_AddNumberToObject(j, "lines_dropped", (double)st->lines_dropped);
	cJSON_AddNumberToObject(j, "write_errors", (double)st->write_errors);
	cJSON_AddNumberToObject(j, "spool_bytes", (double)st->spool_bytes);
	cJSON_AddNumberToObject(j, "last_latency_ms", (double)st->last_latency_ms);
	cJSON_AddStringToObject(j, "last_error", st->last_error);
	cJSON_AddNumberToObject(j, "healthy", st->healthy);
	cJSON_AddNumberToObject(j, "lines_pending", (double)st->lines_pending);
	cJSON_AddNumberToObject(j, "spool_left_lines", (double)spool_left);
	cJSON_AddNumberToObject(j, "cpu_s", cpu_s);
	cJSON_AddNumberToObject(j, "elapsed_ms", (double)elapsed_ms);
	text = cJSON_PrintUnformatted(j);
	if (text)
		printf("%s\n", text);
	free(text);
	cJSON_Delete(j);
}

int main(int argc, char **argv)
{
	struct oeed_output_conf conf = {
	    .type = OUTPUT_INFLUXDB,
	    .name = "influxdb-1",
	    .api = 1,
	    .batch_lines = 5000,
	    .flush_interval_ms = 1000,
	    .spool_max = 256ull << 20,
	    .gzip = true,
	    .timeout_ms = 10000,
	    .connect_timeout_ms = 5000,
	    .verify = true,
	    .precision = "ms",
	};
	const char *state_dir = ".";
	oeed_ms close_timeout = 10000, t0, last_tick = 0;
	struct oeed_error err = {{0}};
	struct output *out = NULL;
	struct output_stats st;
	struct rusage ru;
	static char buf[1 << 16];
	size_t have = 0;
	int r, ret = 1;
	bool eof = false;

	log_init();
	for (int i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq) {
			fprintf(stderr, "argument without '=': %s\n", argv[i]);
			return 2;
		}
		*eq = '\0';
		if (strcmp(argv[i], "state_dir") == 0) {
			state_dir = eq + 1;
		} else if (strcmp(argv[i], "log_level") == 0) {
			enum log_level lvl;
			if (log_level_parse(eq + 1, &lvl) < 0)
				return 2;
			log_set_level(lvl);
		} else if (set_key(&conf, argv[i], eq + 1, &close_timeout) < 0) {
			return 2;
		}
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "curl_global_init failed\n");
		return 1;
	}
	t0 = clock_ms(CLOCK_MONOTONIC);
	r = output_new(&conf, state_dir, &out, &err);
	if (r < 0) {
		fprintf(stderr, "output_new: %s (%s)\n", err.msg, strerror(-r));
		goto out;
	}
	while (!eof) {
		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
		oeed_ms now = clock_ms(CLOCK_MONOTONIC);
		int timeout = (int)OEED_MAX(0, last_tick + 100 - now);
		if (poll(&p, 1, timeout) > 0) {
			ssize_t n = read(STDIN_FILENO, buf + have, sizeof(buf) - have);
			if (n < 0 && errno != EINTR) {
				perror("read");
				goto out;
			}
			if (n == 0) {
				eof = true;
				/* A last line without '\n' still counts as a line. */
				if (have > 0 && have < sizeof(buf))
					buf[have++] = '\n';
			}
			if (n > 0)
				have += (size_t)n;
			/* Whole lines only; the rest waits for more input. */
			size_t whole = have;
			while (whole > 0 && buf[whole - 1] != '\n')
				whole--;
			if (whole == 0 && have == sizeof(buf))
				whole = have; /* a 64 KiB line: pass it on as it is */
			if (whole > 0) {
				r = output_write(out, buf, whole);
				if (r < 0)
					fprintf(stderr, "output_write: %s\n", strerror(-r));
				memmove(buf, buf + whole, have - whole);
				have -= whole;
			}
		}
		now = clock_ms(CLOCK_MONOTONIC);
		if (now - last_tick >= 100) {
			output_tick(out, clock_ms(CLOCK_REALTIME));
			last_tick = now;
		}
	}
	/* Flush the partial batch, wait for delivery (the stats are gone after close), then
	 * close with what is left of the timeout and look at what the spool kept. */
	{
		oeed_ms wall = clock_ms(CLOCK_REALTIME), deadline;
		output_tick(out, wall);
		output_tick(out, wall + 1000000000);
		deadline = clock_ms(CLOCK_MONOTONIC) + close_timeout;
		for (;;) {
			output_get_stats(out, &st);
			if (st.lines_pending == 0 || clock_ms(CLOCK_MONOTONIC) >= deadline)
				break;
			usleep(20000);
		}
		output_close(out, OEED_MAX(0, deadline - clock_ms(CLOCK_MONOTONIC)));
	}
	ret = 0;
out:
	getrusage(RUSAGE_SELF, &ru);
	if (ret == 0) {
		uint64_t left = 0;
		char dir[4096];
		struct spool *sp;
		snprintf(dir, sizeof(dir), "%s/spool/%s", state_dir, conf.name);
		if (conf.type == OUTPUT_INFLUXDB && spool_open(dir, UINT64_MAX, &sp) == 0) {
			struct spool_stats ss;
			spool_get_stats(sp, &ss);
			left = ss.lines;
			spool_close(sp);
		}
		print_stats(&st, left,
			    (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
				(double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
			    clock_ms(CLOCK_MONOTONIC) - t0);
	}
	curl_global_cleanup();
	return ret;
}
