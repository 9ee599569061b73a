/* log.c - see log.h. The level and the journal flag are the only process-wide settings. The
 * journal flag is set once at start, before any other thread exists; the level is set at
 * start and on reload by the main thread while paho's and the outputs' threads read it, so it
 * is atomic (relaxed: a thread that logs one line at the old level is harmless). */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static _Atomic int log_threshold = LOG_LVL_INFO;
static int log_to_journal;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const int level_prio[] = {3, 4, 6, 7};

void log_set_level(enum log_level lvl)
{
	atomic_store_explicit(&log_threshold, (int)lvl, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&log_threshold, memory_order_relaxed);
}

int log_level_parse(const char *s, enum log_level *ret)
{
	for (size_t i = 0; i < OEED_ARRAY_SIZE(level_names); i++)
		if (strcmp(s, level_names[i]) == 0) {
			*ret = (enum log_level)i;
			return 0;
		}
	return -EINVAL;
}

const char *log_level_name(enum log_level lvl)
{
	return lvl <= LOG_LVL_DEBUG ? level_names[lvl] : "?";
}

void log_init(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	struct stat st;
	unsigned long long dev, ino;
	log_to_journal = 0;
	if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
		log_to_journal = 1;
}

static void log_vmsg(enum log_level lvl, const char *suffix, const char *fmt, va_list ap)
{
	char line[2048];
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	/* One line per message: a payload quoted in a message must not forge log lines. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (log_to_journal)
		fprintf(stderr, "<%d>%s%s\n", level_prio[lvl], line, suffix);
	else
		fprintf(stderr, "oeed: %s: %s%s\n", level_names[lvl], line, suffix);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	if ((int)lvl > atomic_load_explicit(&log_threshold, memory_order_relaxed))
		return;
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(lvl, "", fmt, ap);
	va_end(ap);
}

void log_limited(struct log_ratelimit *rl, oeed_ms now, enum log_level lvl, const char *fmt, ...)
{
	if ((int)lvl > atomic_load_explicit(&log_threshold, memory_order_relaxed))
		return;
	if (now - rl->window_start >= rl->interval_ms || now < rl->window_start) {
		rl->window_start = now;
		rl->in_window = 0;
	}
	if (rl->in_window >= rl->burst) {
		rl->suppressed++;
		return;
	}
	rl->in_window++;
	char suffix[64] = "";
	if (rl->suppressed) {
		snprintf(suffix, sizeof(suffix), " (%llu similar messages suppressed)",
			 (unsigned long long)rl->suppressed);
		rl->suppressed = 0;
	}
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(lvl, suffix, fmt, ap);
	va_end(ap);
}
