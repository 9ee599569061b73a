/* clock.h - the program's one way to read the clock. Only the edges call these (the event
 * loop once per turn, paho's callback for receive times, the output threads for timers);
 * core/ never does: it is handed `now`. */
#pragma once
#include <stdint.h>
#include <time.h>
#include "util.h"

/* CLOCK_REALTIME: event and receive times, report ticks. */
oeed_ms clock_wall_ms(void);
int64_t clock_wall_ns(void);
/* CLOCK_MONOTONIC: timeouts, rate limits, the watchdog. */
oeed_ms clock_mono_ms(void);
/* The absolute time ms from now on clk, for pthread_cond_timedwait (whose condvar was set to
 * that clock) or clock_nanosleep. */
struct timespec clock_deadline(clockid_t clk, oeed_ms ms);
