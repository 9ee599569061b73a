/* testutil.h - minimal checks for unit tests: each failed check prints file:line and what
 * differed; TEST_END returns the exit code meson reads. */
#pragma once
#include <math.h>
#include <stdio.h>
#include <string.h>

static int test_failed_checks;
static int test_checks;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		test_checks++;                                                                     \
		if (!(cond)) {                                                                     \
			test_failed_checks++;                                                      \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
		}                                                                                  \
	} while (0)

#define CHECK_INT(a, b)                                                                            \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		test_checks++;                                                                     \
		if (a_ != b_) {                                                                    \
			test_failed_checks++;                                                      \
			fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__,      \
				__LINE__, #a, a_, #b, b_);                                         \
		}                                                                                  \
	} while (0)

#define CHECK_NEAR(a, b, eps)                                                                      \
	do {                                                                                       \
		double a_ = (double)(a), b_ = (double)(b);                                         \
		test_checks++;                                                                     \
		if (!(fabs(a_ - b_) <= (eps))) {                                                   \
			test_failed_checks++;                                                      \
			fprintf(stderr, "%s:%d: %s == %.9g, expected %.9g (+-%g)\n", __FILE__,     \
				__LINE__, #a, a_, b_, (double)(eps));                              \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *a_ = (a), *b_ = (b);                                                   \
		test_checks++;                                                                     \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                           \
			test_failed_checks++;                                                      \
			fprintf(stderr, "%s:%d: %s ==\n  \"%s\"\nexpected\n  \"%s\"\n", __FILE__,  \
				__LINE__, #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)");             \
		}                                                                                  \
	} while (0)

#define TEST_END()                                                                                 \
	do {                                                                                       \
		fprintf(stderr, "%d checks, %d failed\n", test_checks, test_failed_checks);        \
		return test_failed_checks ? 1 : 0;                                                 \
	} while (0)
