/* log.h - the program's logging: levels, rate-limited repeats, and journald priority
 * prefixes ("<3>") when stderr is connected to the journal (JOURNAL_STREAM). Library-like
 * modules (engine, decoders, encoders) never log; they return errors and the daemon logs. */
#pragma once
#include <stdint.h>
#include "util.h"

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* Returns 0 and sets *ret for "error", "warn", "info", "debug"; -EINVAL otherwise. */
int log_level_parse(const char *s, enum log_level *ret);
const char *log_level_name(enum log_level lvl);
/* Detect whether stderr goes to journald (JOURNAL_STREAM matches stderr's dev:ino). */
void log_init(void);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A rate limiter for one kind of repeated message: at most `burst` lines per `interval_ms`;
 * what was suppressed is counted and reported with the next line that passes. Owned by
 * whoever logs (e.g. the daemon context), not global. */
struct log_ratelimit {
	oeed_ms interval_ms;
	unsigned burst;
	oeed_ms window_start;
	unsigned in_window;
	uint64_t suppressed;
};
#define LOG_RATELIMIT_INIT(interval, burst_)                                                       \
	{                                                                                          \
		.interval_ms = (interval), .burst = (burst_), .window_start = 0, .in_window = 0,   \
		.suppressed = 0                                                                    \
	}
void log_limited(struct log_ratelimit *rl, oeed_ms now, enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
