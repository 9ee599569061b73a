/* fuzz-decoder-json.c - libFuzzer target for the "json" decoder (plugins/decoder_json.c): one
 * source with a path for every signal and the timestamp, one reading the whole payload as the
 * state, one with tag-list filter paths and a timestamp_zone. Values must satisfy
 * decoder_check.h and come at most once per signal in signal order; a message is all or
 * nothing (no value when decode() fails), except for a timestamp that cannot be read: then the
 * values stand at the receive time and the error names the timestamp path. */
#include <errno.h>
#include <stdint.h>
#include "decoder_check.h"
#include "plugin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_with(const struct oeed_decoder *dec, const struct oeed_source *src,
			unsigned allowed, const uint8_t *data, size_t size)
{
	const char *ts_path = src->fields[SIG_TIMESTAMP];
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
	bool ts_error = ts_path && strncmp(err.msg, ts_path, strlen(ts_path)) == 0 &&
			err.msg[strlen(ts_path)] == ':';
	if (r < 0 && c.n_values && !ts_error) {
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
	struct oeed_source tags = {.topic = "factory/{line}/{machine}/data",
				   .decoder = "json",
				   .signal = SIG_NONE,
				   .qos = -1,
				   .timestamp_zone = "Europe/Berlin"};
	tags.fields[SIG_STATE] = "$.values[?(@.id==\"State\")].v";
	tags.fields[SIG_TOTAL] = "$.values[?(@.id=='Parts')].v";
	tags.fields[SIG_CYCLE] = "$.values[?(@.n==7)].v";
	tags.fields[SIG_TIMESTAMP] = "$.values[?(@.id==\"State\")].t";
	decode_with(dec, &tags, 1u << SIG_STATE | 1u << SIG_TOTAL | 1u << SIG_CYCLE, data, size);
	return 0;
}
