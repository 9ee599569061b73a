/* Unit tests for preflight.c's filter overlap: a topic exists that matches both filters. */
#include "preflight.h"
#include "testutil.h"

static const char *overlap(const char *a, const char *b)
{
	static char ex[128];
	bool r1 = preflight_filters_overlap(a, b, ex, sizeof(ex));
	char ex2[128];
	bool r2 = preflight_filters_overlap(b, a, ex2, sizeof(ex2));
	CHECK(r1 == r2); /* symmetric */
	return r1 ? ex : NULL;
}

int main(void)
{
	CHECK_STR(overlap("f/+/+/state", "f/+/+/state"), "f/x/x/state");
	CHECK_STR(overlap("f/+/+/state", "f/+/+/#"), "f/x/x/state");
	CHECK_STR(overlap("a/#", "a"), "a"); /* '#' matches the parent level too */
	CHECK_STR(overlap("#", "x/+/y"), "x/x/y");
	CHECK_STR(overlap("a/+", "+/b"), "a/b");
	CHECK_STR(overlap("a//b", "a/+/b"), "a//b");
	CHECK(overlap("f/+/+/state", "f/+/+/count") == NULL);
	CHECK(overlap("f/+/state", "f/+/+/state") == NULL);
	CHECK(overlap("a/+", "a") == NULL);
	CHECK(overlap("a/b/#", "a/c") == NULL);
	CHECK(overlap("spBv1.0/+/NDATA/+", "spBv1.0/+/DDATA/+/+") == NULL);
	TEST_END();
}
