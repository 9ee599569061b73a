/* fuzz-decoder-json.c - libFuzzer target for the "json" decoder (plugins/decoder_json.c): one
 * source with a path for every signal and the timestamp, one reading the whole payload as the
 * state. Values must satisfy decoder_check.h, come at most once per signal in signal order,
 * and a message is all or nothing (no value when decode() fails). */
#include <errno.h>
#include <stdint.h>
#include "decoder_check.h"
#include "plugin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_with(const struct oeed_decoder *dec, const struct oeed_source *src,
			unsigned allowed, const uint8_t *data, size_t size)
{
	const char *topic = "factory/l1/m1/data";
	struct oeed_decode_error err = {0};
	struct oeed_msg msg = {.topic = topic,
			       .topic_len = strlen(topic),
			       .payload = data,
			       .len = size,
			       .rx_ms = 1700000000000};
	/* A number as state becomes text of at most 24 bytes ("%.17g"). */
	struct check_ctx c = {.msg = &msg,
			      .signals_allowed = allowed,
			      .once_per_signal = true,
			      .str_max = 32,
			      .last_signal = -1};
	void *state = NULL;

	if (dec->create(src, NULL, &state, &err) < 0) {
		fprintf(stderr, "create failed: %s\n", err.msg);
		abort();
	}
	int r = dec->decode(state, &msg, check_value, &c, &err);
	check_result(&msg, r, &err);
	if (r < 0 && c.n_values) {
		fprintf(stderr, "%zu values emitted before error %d: %s\n", c.n_values, r, err.msg);
		abort();
	}
	dec->destroy(state);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct oeed_decoder *dec = plugin_find("json");
	struct oeed_source fields = {.topic = "factory/{line}/{machine}/data",
				     .decoder = "json",
				     .signal = SIG_NONE,
				     .qos = -1};
	struct oeed_source whole = {.topic = "factory/{line}/{machine}/data",
				    .decoder = "json",
				    .signal = SIG_STATE,
				    .qos = -1};

	if (!dec)
		abort();
	fields.fields[SIG_STATE] = "$.state";
	fields.fields[SIG_TOTAL] = "$.parts";
	fields.fields[SIG_GOOD] = "$['good parts']";
	fields.fields[SIG_REJECT] = "$.q.scrap[1]";
	fields.fields[SIG_CYCLE] = "$[\"m\"].cycle_s";
	fields.fields[SIG_TIMESTAMP] = "$.ts";
	decode_with(dec, &fields,
		    1u << SIG_STATE | 1u << SIG_TOTAL | 1u << SIG_GOOD | 1u << SIG_REJECT |
			1u << SIG_CYCLE,
		    data, size);
	decode_with(dec, &whole, 1u << SIG_STATE, data, size);
	return 0;
}
