/* clock.c - see clock.h */
#include "clock.h"

static int64_t read_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

oeed_ms clock_wall_ms(void)
{
	return read_ns(CLOCK_REALTIME) / 1000000;
}

int64_t clock_wall_ns(void)
{
	return read_ns(CLOCK_REALTIME);
}

oeed_ms clock_mono_ms(void)
{
	return read_ns(CLOCK_MONOTONIC) / 1000000;
}

struct timespec clock_deadline(clockid_t clk, oeed_ms ms)
{
	struct timespec t;
	clock_gettime(clk, &t);
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	t.tv_sec += (time_t)(ms / 1000) + t.tv_nsec / 1000000000L;
	t.tv_nsec %= 1000000000L;
	return t;
}
