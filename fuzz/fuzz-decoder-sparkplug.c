/* fuzz-decoder-sparkplug.c - libFuzzer target for the "sparkplug_b" decoder
 * (plugins/decoder_sparkplug.c). One input is a sequence of messages (spb_frames.h) decoded by
 * one decoder, so BIRTH/DATA/DEATH state and seq tracking are exercised across messages.
 * Values must satisfy decoder_check.h and carry a machine; a rebirth request must be one
 * well-formed NCMD to the message's own node, at most one per decode() call. */
#include <errno.h>
#include <stdint.h>
#include "decoder_check.h"
#include "plugin.h"
#include "spb_frames.h"
#include "sparkplug_b.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct host_ctx {
	const struct oeed_msg *msg;
	int publishes;
	unsigned counts;
};

static int fake_publish(void *ctx, const char *topic, const void *payload, size_t len)
{
	struct host_ctx *h = ctx;
	char want[128];
	const char *t = h->msg->topic;
	/* spBv1.0/<group>/<TYPE>/<node>[/<device>] -> spBv1.0/<group>/NCMD/<node> */
	const char *g_end = strchr(t + 8, '/');
	const char *n_start = g_end ? strchr(g_end + 1, '/') : NULL;
	const char *n_end = n_start ? strchr(n_start + 1, '/') : NULL;

	if (!n_start)
		abort();
	snprintf(want, sizeof(want), "%.*sNCMD/%.*s", (int)(g_end + 1 - t), t,
		 (int)(n_end ? n_end - n_start - 1 : (ptrdiff_t)strlen(n_start + 1)), n_start + 1);
	if (strcmp(topic, want) != 0) {
		fprintf(stderr, "rebirth to '%s', expected '%s'\n", topic, want);
		abort();
	}
	Spb__Payload *p = spb__payload__unpack(NULL, len, payload);
	if (!p || p->n_metrics != 1 || !p->metrics[0]->name ||
	    strcmp(p->metrics[0]->name, "Node Control/Rebirth") != 0 ||
	    p->metrics[0]->value_case != SPB__PAYLOAD__METRIC__VALUE_BOOLEAN_VALUE ||
	    !p->metrics[0]->boolean_value) {
		fprintf(stderr, "rebirth request is not Node Control/Rebirth = true\n");
		abort();
	}
	spb__payload__free_unpacked(p, NULL);
	h->publishes++;
	return 0;
}

static void fake_count(void *ctx, const char *what, const char *detail)
{
	struct host_ctx *h = ctx;
	static const char *const known[] = {"seq_gap",	  "unknown_alias",     "stale_ndeath",
					    "table_full", "unsupported_type",  "invalid_utf8",
					    "no_nbirth",  "ndeath_unverified", "machine_conflict"};

	if (!detail || strncmp(detail, "group ", 6) != 0) {
		fprintf(stderr, "notice '%s' does not name its node: %s\n", what,
			detail ? detail : "(null)");
		abort();
	}

	for (size_t i = 0; i < OEED_ARRAY_SIZE(known); i++)
		if (strcmp(what, known[i]) == 0) {
			h->counts |= 1u << i;
			return;
		}
	fprintf(stderr, "unknown counter '%s'\n", what);
	abort();
}

static void check_spb(void *ctx, const struct oeed_value *v)
{
	check_value(ctx, v);
	if (!v->machine) {
		fprintf(stderr, "sparkplug value without a machine\n");
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct oeed_decoder *dec = plugin_find("sparkplug_b");
	struct host_ctx hc = {0};
	struct oeed_decoder_host host = {.ctx = &hc, .publish = fake_publish, .count = fake_count};
	struct oeed_source src = {.topic = "spBv1.0/{group}/+/{node}/#",
				  .decoder = "sparkplug_b",
				  .signal = SIG_NONE,
				  .qos = -1};
	struct oeed_decode_error err = {0};
	void *state = NULL;
	size_t pos = 0;

	if (!dec)
		abort();
	src.fields[SIG_STATE] = "Machine/State";
	src.fields[SIG_TOTAL] = "Counts/Total";
	src.fields[SIG_GOOD] = "Counts/Good";
	src.fields[SIG_REJECT] = "Counts/Reject";
	src.fields[SIG_CYCLE] = "Machine/Cycle";
	if (dec->create(&src, &host, &state, &err) < 0) {
		fprintf(stderr, "create failed: %s\n", err.msg);
		abort();
	}
	while (pos < size) {
		char topic[64];
		uint8_t sel = data[pos++];
		size_t len = 0;

		if (pos + 2 <= size)
			len = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
		pos = pos + 2 <= size ? pos + 2 : size;
		len = OEED_MIN(len, size - pos);

		struct oeed_msg msg = {.topic = topic,
				       .topic_len = spb_frame_topic(sel, topic, sizeof(topic)),
				       .payload = data + pos,
				       .len = len,
				       .rx_ms = 1700000000000};
		struct check_ctx c = {.msg = &msg,
				      .signals_allowed = 1u << SIG_STATE | 1u << SIG_TOTAL |
							 1u << SIG_GOOD | 1u << SIG_REJECT |
							 1u << SIG_CYCLE | 1u << SIG_DEATH,
				      .machine_from_topic = true,
				      .allow_nonfinite = true,
				      .str_max = 5, /* "true", "false" */
				      .last_signal = -1};

		hc.msg = &msg;
		hc.publishes = 0;
		int r = dec->decode(state, &msg, check_spb, &c, &err);
		check_result(&msg, r, &err);
		if (hc.publishes > 1) {
			fprintf(stderr, "%d rebirth requests in one decode() call\n", hc.publishes);
			abort();
		}
		pos += len;
	}
	dec->destroy(state);
	return 0;
}
