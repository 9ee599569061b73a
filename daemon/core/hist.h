/* hist.h - a fixed-size log-linear histogram of cycle times for percentiles.
 * Range 1 ms .. 2^24 ms (about 4.66 h) in 24 octaves of 8 bins each, plus an underflow and
 * an overflow bin: 194 uint32 bins = 776 bytes. A percentile is reported as the geometric
 * middle of its bin, clamped to the exact min and max seen, so inside the range its relative
 * error is at most 2^(1/16) - 1 = 4.43 %. Below 1 ms the answer is the exact minimum's bin
 * (underflow), above the range the exact maximum. */
#pragma once
#include <stdint.h>

#define HIST_OCTAVES	24
#define HIST_PER_OCTAVE 8
#define HIST_BINS	(HIST_OCTAVES * HIST_PER_OCTAVE + 2)
#define HIST_REL_ERROR	0.0443

struct hist {
	uint32_t bin[HIST_BINS];
};

void hist_clear(struct hist *h);
void hist_add(struct hist *h, double seconds);
void hist_merge(struct hist *dst, const struct hist *src);
uint64_t hist_count(const struct hist *h);
/* q in [0,1]; min_s/max_s are the exact extremes of the same data (for clamping). Returns NAN
 * for an empty histogram. */
double hist_quantile(const struct hist *h, double q, double min_s, double max_s);
/* Bin index of a value (tests). */
int hist_bin(double seconds);
