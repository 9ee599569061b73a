/* fuzz-decoder-text.c - libFuzzer target for the "text" decoder (plugins/decoder_text.c): the
 * input is decoded once for each signal the decoder accepts; every value must satisfy
 * decoder_check.h, and a state must be the payload's own bytes. */
#include <errno.h>
#include <stdint.h>
#include "decoder_check.h"
#include "plugin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const enum oeed_signal signals[] = {SIG_STATE, SIG_TOTAL, SIG_GOOD, SIG_REJECT, SIG_CYCLE};

static void check_state(void *ctx, const struct oeed_value *v)
{
	struct check_ctx *c = ctx;

	check_value(ctx, v);
	if (v->signal == SIG_STATE &&
	    (v->kind != VAL_STR || !points_into(v->str, v->len, c->msg->payload, c->msg->len) ||
	     v->len == 0 || v->len > 256)) {
		fprintf(stderr, "state is not 1..256 bytes of the payload\n");
		abort();
	}
	if (v->signal != SIG_STATE && v->kind != VAL_NUM &&
	    !(v->signal == SIG_CYCLE && v->kind == VAL_NONE)) {
		fprintf(stderr, "count or cycle that is not a number\n");
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct oeed_decoder *dec = plugin_find("text");
	const char *topic = "factory/l1/m1/state";

	if (!dec)
		abort();
	for (size_t i = 0; i < OEED_ARRAY_SIZE(signals); i++) {
		struct oeed_source src = {.topic = "factory/{line}/{machine}/state",
					  .decoder = "text",
					  .signal = signals[i],
					  .qos = -1};
		struct oeed_decode_error err = {0};
		struct oeed_msg msg = {.topic = topic,
				       .topic_len = strlen(topic),
				       .payload = data,
				       .len = size,
				       .rx_ms = 1700000000000};
		struct check_ctx c = {.msg = &msg,
				      .signals_allowed = 1u << signals[i],
				      .once_per_signal = true,
				      .last_signal = -1};
		void *state = NULL;

		if (dec->create(&src, NULL, &state, &err) < 0) {
			fprintf(stderr, "create failed: %s\n", err.msg);
			abort();
		}
		int r = dec->decode(state, &msg, check_state, &c, &err);
		check_result(&msg, r, &err);
		/* One payload, one value: all or nothing. */
		if ((r == 0) != (c.n_values == 1)) {
			fprintf(stderr, "decode returned %d after %zu values\n", r, c.n_values);
			abort();
		}
		dec->destroy(state);
	}
	return 0;
}
