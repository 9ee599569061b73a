/* hist.c - the fixed-size cycle-time histogram of hist.h (776 bytes per histogram).
 * Bin 0 holds values below 1 ms, bins 1..192 are 24 octaves of 8 logarithmically equal bins
 * each (bin k covers [1 ms * 2^((k-1)/8), 1 ms * 2^(k/8)) ), bin 193 holds 2^24 ms and more.
 * Because the bins are equal on a log scale, the geometric middle of a bin is within a factor
 * 2^(1/16) of every value in it: that is the HIST_REL_ERROR bound. */
#include "hist.h"

#include <math.h>
#include <string.h>

#define HIST_LOW_S    0.001
#define HIST_OVERFLOW (HIST_BINS - 1)

/* Lower edge (s) of bin k, 1 <= k <= HIST_BINS - 1. */
static double bin_low(int k)
{
	return HIST_LOW_S * exp2((double)(k - 1) / HIST_PER_OCTAVE);
}

void hist_clear(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

int hist_bin(double seconds)
{
	if (!(seconds >= HIST_LOW_S)) /* also NaN */
		return 0;
	if (seconds >= bin_low(HIST_OVERFLOW))
		return HIST_OVERFLOW;
	int k = 1 + (int)floor(log2(seconds / HIST_LOW_S) * HIST_PER_OCTAVE);
	/* log2 may round across an edge; settle on the edges bin_low() defines. */
	if (k < 1)
		k = 1;
	if (k > HIST_OVERFLOW - 1)
		k = HIST_OVERFLOW - 1;
	while (k > 1 && seconds < bin_low(k))
		k--;
	while (k < HIST_OVERFLOW - 1 && seconds >= bin_low(k + 1))
		k++;
	return k;
}

/* Counts saturate instead of wrapping (over 4 billion cycles in one bin). */
static void bin_add(uint32_t *b, uint32_t n)
{
	*b = n > UINT32_MAX - *b ? UINT32_MAX : *b + n;
}

void hist_add(struct hist *h, double seconds)
{
	if (isnan(seconds))
		return; /* not a duration: not counted at all */
	bin_add(&h->bin[hist_bin(seconds)], 1);
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	for (int i = 0; i < HIST_BINS; i++)
		bin_add(&dst->bin[i], src->bin[i]);
}

uint64_t hist_count(const struct hist *h)
{
	uint64_t n = 0;
	for (int i = 0; i < HIST_BINS; i++)
		n += h->bin[i];
	return n;
}

/* Nearest-rank quantile: the value of rank ceil(q * n) (1-based) in sorted order, rank at
 * least 1; q = 0.5 of 10 values is the 5th, q = 0.95 of 10,000 the 9,500th. A tolerance of
 * 1e-9 absorbs q * n landing a hair above an integer in floating point (0.07 * 100
 * = 7.000000000000001). */
double hist_quantile(const struct hist *h, double q, double min_s, double max_s)
{
	uint64_t n = hist_count(h), rank, seen = 0;
	int k;
	if (n == 0 || isnan(q))
		return NAN;
	if (q < 0)
		q = 0;
	if (q > 1)
		q = 1;
	rank = (uint64_t)ceil(q * (double)n - 1e-9);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	for (k = 0; k < HIST_BINS; k++) {
		seen += h->bin[k];
		if (seen >= rank)
			break;
	}
	if (k == 0)
		return min_s;
	if (k >= HIST_OVERFLOW)
		return max_s;
	double mid = HIST_LOW_S * exp2((k - 0.5) / HIST_PER_OCTAVE);
	if (mid < min_s)
		mid = min_s;
	if (mid > max_s)
		mid = max_s;
	return mid;
}
