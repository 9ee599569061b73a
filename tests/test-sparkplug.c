/* Unit tests for plugins/decoder_sparkplug.c: payloads are built with the generated protobuf-c
 * code, host services are fakes that record what the decoder asked for, and every emitted
 * value is checked against what the Sparkplug B rules give by hand. */
#include <errno.h>
#include <stdlib.h>
#include "plugin.h"
#include "spb_build.h"
#include "testutil.h"

#define MAX_VALUES 16

struct got_value {
	enum oeed_signal signal;
	enum oeed_value_kind kind;
	double num;
	char str[64];
	oeed_ms ts;
	char machine[64];
	char tags[128]; /* "group=G,node=N" */
};

struct fake {
	struct got_value v[MAX_VALUES];
	int n;
	int seq_gap, unknown_alias, stale_ndeath, no_nbirth, conflicts, other_counts;
	char last_notice[512];
	int publishes;
	char pub_topic[128];
	uint8_t pub_payload[256];
	size_t pub_len;
};

static void on_emit(void *ctx, const struct oeed_value *v)
{
	struct fake *f = ctx;
	if (f->n >= MAX_VALUES)
		return;
	struct got_value *g = &f->v[f->n++];
	memset(g, 0, sizeof(*g));
	g->signal = v->signal;
	g->kind = v->kind;
	g->num = v->num;
	if (v->kind == VAL_STR)
		snprintf(g->str, sizeof(g->str), "%.*s", (int)v->len, v->str);
	g->ts = v->ts_ms;
	if (v->machine)
		snprintf(g->machine, sizeof(g->machine), "%.*s", (int)v->machine_len, v->machine);
	size_t n = 0;
	for (size_t i = 0; i < v->n_tags && n < sizeof(g->tags); i++)
		n += (size_t)snprintf(g->tags + n, sizeof(g->tags) - n, "%s%s=%.*s", i ? "," : "",
				      v->tags[i].key, (int)v->tags[i].value_len, v->tags[i].value);
}

static void fake_count(void *ctx, const char *what, const char *detail)
{
	struct fake *f = ctx;
	snprintf(f->last_notice, sizeof(f->last_notice), "%s: %s", what, detail ? detail : "");
	if (strcmp(what, "seq_gap") == 0)
		f->seq_gap++;
	else if (strcmp(what, "unknown_alias") == 0)
		f->unknown_alias++;
	else if (strcmp(what, "stale_ndeath") == 0)
		f->stale_ndeath++;
	else if (strcmp(what, "no_nbirth") == 0)
		f->no_nbirth++;
	else if (strcmp(what, "machine_conflict") == 0)
		f->conflicts++;
	else
		f->other_counts++;
}

static int fake_publish(void *ctx, const char *topic, const void *payload, size_t len)
{
	struct fake *f = ctx;
	f->publishes++;
	snprintf(f->pub_topic, sizeof(f->pub_topic), "%s", topic);
	f->pub_len = len < sizeof(f->pub_payload) ? len : sizeof(f->pub_payload);
	memcpy(f->pub_payload, payload, f->pub_len);
	return 0;
}

static oeed_ms rx_now = 99999;

static int decode(const struct oeed_decoder *d, void *st, struct fake *f, const char *topic,
		  struct pb *b, struct oeed_decode_error *err)
{
	b->len = spb__payload__pack(&b->p, b->buf);
	struct oeed_msg msg = {
	    .topic = topic,
	    .topic_len = strlen(topic),
	    .payload = b->buf,
	    .len = b->len,
	    .rx_ms = rx_now,
	};
	f->n = 0;
	return d->decode(st, &msg, on_emit, f, err);
}

int main(void)
{
	const struct oeed_decoder *d = plugin_find("sparkplug_b");
	CHECK(d != NULL);
	if (!d)
		TEST_END();

	struct fake f;
	memset(&f, 0, sizeof(f));
	struct oeed_decoder_host host = {.ctx = &f, .publish = fake_publish, .count = fake_count};
	struct oeed_source src;
	memset(&src, 0, sizeof(src));
	struct oeed_decode_error err;
	void *st = NULL;

	/* No fields: nothing to look for. */
	CHECK_INT(d->create(&src, &host, &st, &err), -EINVAL);
	src.fields[SIG_STATE] = "Machine/State";
	src.fields[SIG_TOTAL] = "Counts/Total";
	src.fields[SIG_CYCLE] = "Cycle/Time";
	src.reorder_timeout_ms = 1000;
	CHECK_INT(d->create(&src, &host, &st, &err), 0);

	struct pb b;
	Spb__Payload__Metric *m;

	/* NBIRTH: bdSeq 7, state by name with alias 1 and its own timestamp. */
	pb_init(&b, 1000, 0);
	set_long(pb_metric(&b, "bdSeq", -1, 8), 7);
	set_str(m = pb_metric(&b, "Machine/State", 1, 12), "RUN");
	m->has_timestamp = 1;
	m->timestamp = 900;
	set_int(pb_metric(&b, "Other/Thing", 2, 7), 5);
	CHECK_INT(decode(d, st, &f, "spBv1.0/G/NBIRTH/N1", &b, &err), 0);
	CHECK_INT(f.n, 1);
	CHECK_INT(f.v[0].signal, SIG_STATE);
	CHECK_INT(f.v[0].kind, VAL_STR);
	CHECK_STR(f.v[0].str, "RUN");
	CHECK_INT(f.v[0].ts, 900);
	CHECK_STR(f.v[0].machine, "N1");

	/* DBIRTH of D1: aliases 10 (state), 11 (total, Int32), 12 (cycle, Double). */
	pb_init(&b, 2000, 1);
	set_str(pb_metric(&b, "Machine/State", 10, 12), "IDLE");
	set_int(pb_metric(&b, "Counts/Total", 11, 3), 5);
	m = pb_metric(&b, "Cycle/Time", 12, 10);
	m->value_case = SPB__PAYLOAD__METRIC__VALUE_DOUBLE_VALUE;
	m->double_value = 1.5;
	set_int(pb_metric(&b, "Unmapped", 13, 7), 1);
	CHECK_INT(decode(d, st, &f, "spBv1.0/G/DBIRTH/N1/D1", &b, &err), 0);
	CHECK_INT(f.n, 3);
	CHECK_STR(f.v[0].str, "IDLE");
	CHECK_STR(f.v[0].machine, "D1");
	CHECK_INT(f.v[0].ts, 2000);
	CHECK_INT(f.v[1].signal, SIG_TOTAL);
	CHECK_INT(f.v[1].kind, VAL_NUM);
	CHECK_NEAR(f.v[1].num, 5, 0);
	CHECK_INT(f.v[2].signal, SIG_CYCLE);
	CHECK_NEAR(f.v[2].num, 1.5, 0);
	CHECK_STR(f.v[2].machine, "D1");

	/* DDATA by alias only; Int32 comes from the BIRTH: 0xFFFFFFFD is -3. Alias 13 is a known
	 * but unmapped metric: skipped, not "unknown". */
	pb_init(&b, 3000, 2);
	set_int(pb_metric(&b, NULL, 11, 0), 0xFFFFFFFDu);
	set_str(m = pb_metric(&b, NULL, 10, 0), "DOWN");
	m->has_timestamp = 1;
	m->timestamp = 2999;
	set_int(pb_metric(&b, NULL, 13, 0), 2);
	CHECK_INT(decode(d, st, &f, "spBv1.0/G/DDATA/N1/D1", &b, &err), 0);
	CHECK_INT(f.n, 2);
	CHECK_INT(f.v[0].signal, SIG_TOTAL);
	CHECK_NEAR(f.v[0].num, -3, 0);
	CHECK_INT(f.v[0].ts, 3000);
	CHECK_INT(f.v[1].signal, SIG_STATE);
	CHECK_STR(f.v[1].str, "DOWN");
	CHECK_INT(f.v[1].ts, 2999);
	CHECK_STR(f.v[1].machine, "D1");
	CHECK_INT(f.seq_gap, 0);
	CHECK_INT(f.unknown_alias, 0);
	CHECK_INT(f.publishes, 0);

	/* seq 5 after 2: seqs 3 and 4 may still come, within the reorder timeout (1 s). */
	pb_init(&b, 3100, 5);
	set_int(pb_metric(&b, NULL, 11, 0), 7);
	CHECK_INT(decode(d, st, &f, "spBv1.0/G/DDATA/N1/D1", &b, &err), 0);
	CHECK_INT(f.n, 1);
	CHECK_NEAR(f.v[0].num, 7, 0);
	CHECK_INT(f.seq_gap, 0);
	CHECK_INT(f.publishes, 0);
	/* 3 comes late: reordered, no gap yet */
	rx_now += 500;
	pb_init(&b, 3050, 3);
	CHECK_INT(decode(d, st, &f, "spBv1.0/G/DDATA/N1/D1", &b, &err), 0);
	CHECK_INT(f.seq_gap, 0);
	CHECK_INT(f.publishes, 0);
	/* 4 never comes: the node's next message after the timeout counts the gap, once, and
	 * asks the node for a rebirth. */
	rx_now += 600;
	pb_init(&b, 3150, 6);
	CHECK_INT(decode(d, st, &f, "spBv1.0/G/DDATA/N1/D1", &b, &err), 0);
	CHECK_INT(f.seq_gap, 1);
	CHECK_STR(f.last_notice, "seq_gap: group G node N1 device D1: seq 4 (and maybe more) "
				 "missing for 1100 ms");
	CHECK_INT(f.publishes, 1);
	CHECK_STR(f.pub_topic, "spBv1.0/G/NCMD/N1");
	Spb__Payload *rb = spb__payload__unpack(NULL, f.pub_len, f.pub_payload);
	CHECK(rb != NULL);
	if (rb) {
		CHECK_INT(rb->n_metrics, 1);
		CHECK_STR(rb->metrics[0]->name, "Node Control/Rebirth");
		CHECK_INT(rb->metrics[0]->value_case, SPB__PAYLOAD__METRIC__VALUE_BOOLEAN_VALUE);
		CHECK_INT(rb->metrics[0]->boolean_value, 1);
		CHECK_INT(rb->metrics[0]->datatype, 11);
		spb__payload__free_unpacked(rb, NULL);
	}
	/* A seq behind the expected one that is no hole (a duplicate) is a gap at once; the
	 * rebirth request is held back: one per node per 10 s. */
	pb_init(&b, 3160, 2);
	CHECK_INT(decode(d, st, &f, "spBv1.0/G/DDATA/N1/D1", &b, &err), 0);
	CHECK_INT(f.seq_gap, 2);
	CHECK_STR(f.last_notice, "seq_gap: group G node N1 device D1: seq 2, expected 7");
	CHECK_INT(f.publishes, 1);
	pb_init(&b, 3170, 3);
	CHECK_INT(decode(d, st, &f, "spBv1.0/G/DDATA/N1/D1", &b, &err), 0);
	CHECK_INT(f.seq_gap, 2);
	f.seq_gap = 1;
	rx_now += 10000;

	/* D2 never had a DBIRTH: two aliases, one count, one rebirth, no values. */
	pb_init(&b, 3200, 4);
	set_int(pb_metric(&b, NULL, 10, 0), 1);
	set_int(pb_metric(&b, NULL, 11, 0), 2);
	CHECK_INT(decode(d, st, &f, "spBv1.0/G/DDATA/N1/D2", &b, &err), 0);
	CHECK_INT(f.n, 0);
	CHECK_INT(f.unknown_alias, 1);
	CHECK_INT(f.publishes, 2);
	CHECK_INT(f.seq_gap, 1);

	/* Historical values land at their own timestamps, the live one at the payload's. */
	pb_init(&b, 5000, 5);
	set_int(m = pb_metric(&b, NULL, 11, 0), 40);
	m->has_is_historical = 1;
	m->is_historical = 1;
	m->has_timestamp = 1;
	m->timestamp = 4000;
	set_int(pb_metric(&b, NULL, 11, 0), 41);
	CHECK_INT(decode(d, st, &f, "spBv1.0/G/DDATA/N1/D1", &b, &err), 0);
	CHECK_INT(f.n, 2);
	CHECK_NEAR(f.v[0].num, 40, 0);
	CHECK_INT(f.v[0].ts, 4000);
	CHECK_NEAR(f.v[1].num, 41, 0);
	CHECK_INT(f.v[1].ts, 5000);

	/* A boolean state is the text "true" for the map; the node is the machine of NDATA. */
	pb_init(&b, 5100, 6);
	m = pb_metric(&b, "Machine/State", -1, 11);
	m->value_case = SPB__PAYLOAD__METRIC__VALUE_BOOLEAN_VALUE;
	m->boolean_value = 1;
	CHECK_INT(decode(d, st, &f, "spBv1.0/G/NDATA/N1", &b, &err), 0);
	CHECK_INT(f.n, 1);
	CHECK_INT(f.v[0].kind, VAL_STR);
	CHECK_STR(f.v[0].str, "true");
	CHECK_STR(f.v[0].machine, "N1");
	CHECK_INT(f.v[0].ts, 5100);

	/* DDEATH: death of D1 at the payload time. */
	pb_init(&b, 6000, 7);
	CHECK_INT(decode(d, st, &f, "spBv1.0/G/DDEATH/N1/D1", &b, &err), 0);
	CHECK_INT(f.n, 1);
	CHECK_INT(f.v[0].signal, SIG_DEATH);
	CHECK_STR(f.v[0].machine, "D1");
	CHECK_INT(f.v[0].ts, 6000);

	/* NDEATH with an old bdSeq: ignored. */
	pb_init(&b, -1, -1);
	set_long(pb_metric(&b, "bdSeq", -1, 8), 6);
	CHECK_INT(decode(d, st, &f, "spBv1.0/G/NDEATH/N1", &b, &err), 0);
	CHECK_INT(f.n, 0);
	CHECK_INT(f.stale_ndeath, 1);

	/* NDEATH with the NBIRTH's bdSeq: the node and its devices that are machines, at
	 * receive time. D2 never gave a value: no phantom machine for it. */
	pb_init(&b, -1, -1);
	set_long(pb_metric(&b, "bdSeq", -1, 8), 7);
	CHECK_INT(decode(d, st, &f, "spBv1.0/G/NDEATH/N1", &b, &err), 0);
	CHECK_INT(f.n, 2);
	CHECK_INT(f.v[0].signal, SIG_DEATH);
	CHECK_STR(f.v[0].machine, "N1");
	CHECK(f.v[0].ts == OEED_MS_NONE);
	CHECK_INT(f.v[1].signal, SIG_DEATH);
	CHECK_STR(f.v[1].machine, "D1");
	CHECK_STR(f.v[1].tags, "group=G,node=N1");
	CHECK(f.v[1].ts == OEED_MS_NONE);
	rx_now += 10000;

	/* A new NBIRTH restarts seq at 0: no gap. Aliases of D1 were forgotten by the death,
	 * so its DDATA by alias is unknown until its DBIRTH. */
	pb_init(&b, 7000, 0);
	set_long(pb_metric(&b, "bdSeq", -1, 8), 8);
	CHECK_INT(decode(d, st, &f, "spBv1.0/G/NBIRTH/N1", &b, &err), 0);
	CHECK_INT(f.seq_gap, 1);
	pb_init(&b, 7100, 1);
	set_int(pb_metric(&b, NULL, 11, 0), 50);
	CHECK_INT(decode(d, st, &f, "spBv1.0/G/DDATA/N1/D1", &b, &err), 0);
	CHECK_INT(f.n, 0);
	CHECK_INT(f.unknown_alias, 2);
	CHECK_INT(f.publishes, 3);
	CHECK_INT(f.seq_gap, 1);

	/* Found by fuzz/fuzz-decoder-sparkplug: protobuf-c does not check UTF-8, so a string that
	 * is not UTF-8 is counted and skipped; the other metrics of the message stand. */
	pb_init(&b, 7200, 2);
	set_str(pb_metric(&b, "Machine/State", -1, 12), "RUN\xff");
	set_int(pb_metric(&b, "Counts/Total", -1, 7), 51);
	CHECK_INT(decode(d, st, &f, "spBv1.0/G/NDATA/N1", &b, &err), 0);
	CHECK_INT(f.n, 1);
	CHECK_INT(f.v[0].signal, SIG_TOTAL);
	CHECK_NEAR(f.v[0].num, 51, 0);
	CHECK_INT(f.other_counts, 1);
	CHECK_INT(f.seq_gap, 1);
	f.other_counts = 0;

	/* Garbage is not a payload; a wrong topic is not Sparkplug. */
	static const uint8_t garbage[] = {0xff, 0xff, 0xff};
	struct oeed_msg gm = {.topic = "spBv1.0/G/NDATA/N1",
			      .topic_len = 18,
			      .payload = garbage,
			      .len = sizeof(garbage)};
	err.offset = 77;
	CHECK_INT(d->decode(st, &gm, on_emit, &f, &err), -EBADMSG);
	CHECK_INT(err.offset, 0);
	CHECK_STR(err.msg, "not a Sparkplug B payload");
	gm.topic = "factory/G/NDATA/N1";
	CHECK_INT(d->decode(st, &gm, on_emit, &f, &err), -EINVAL);
	CHECK_INT(f.other_counts, 0);

	d->destroy(st);

	/* ---- identity: two edge nodes that reuse a device id ---- */
	struct oeed_source src2;
	memset(&src2, 0, sizeof(src2));
	src2.fields[SIG_STATE] = "Machine/State";
	src2.fields[SIG_TOTAL] = "Counts/Total";
	src2.machine = "{node}/{device}";
	CHECK_INT(d->create(&src2, &host, &st, &err), -EINVAL);
	CHECK_STR(err.msg, "machine: column 7: '/' cannot be in a machine id");
	src2.machine = "{node}";
	CHECK_INT(d->create(&src2, &host, &st, &err), -EINVAL);
	src2.machine = "{line}.{device}";
	CHECK_INT(d->create(&src2, &host, &st, &err), -EINVAL);
	CHECK_STR(err.msg, "machine: column 1: only {group}, {node} and {device} may be used");

	/* The default template {device} cannot tell gw6/press-01 from gw7/press-01: the second
	 * is refused, named, counted once, never merged into the first. */
	src2.machine = NULL;
	memset(&f, 0, sizeof(f));
	CHECK_INT(d->create(&src2, &host, &st, &err), 0);
	const char *gws[] = {"gw6", "gw7"};
	for (int g = 0; g < 2; g++) {
		char topic[64];
		pb_init(&b, 1000, 0);
		set_long(pb_metric(&b, "bdSeq", -1, 8), 1);
		snprintf(topic, sizeof(topic), "spBv1.0/P/NBIRTH/%s", gws[g]);
		CHECK_INT(decode(d, st, &f, topic, &b, &err), 0);
		CHECK_INT(f.n, 0);
		pb_init(&b, 1100, 1);
		set_int(pb_metric(&b, "Machine/State", 1, 7), 1);
		set_int(pb_metric(&b, "Counts/Total", 2, 7), g ? 100000 : 20);
		snprintf(topic, sizeof(topic), "spBv1.0/P/DBIRTH/%s/press-01", gws[g]);
		CHECK_INT(decode(d, st, &f, topic, &b, &err), 0);
		CHECK_INT(f.n, g ? 0 : 2);
	}
	CHECK_STR(f.v[0].machine, "press-01");
	CHECK_STR(f.v[0].tags, "group=P,node=gw6");
	CHECK_INT(f.conflicts, 1);
	CHECK_STR(f.last_notice,
		  "machine_conflict: group P node gw7 device press-01: machine id "
		  "'press-01' is already device press-01 of node gw6 (group P): "
		  "refused, not merged; give the source a machine template that tells "
		  "them apart, e.g. machine: \"{node}.{device}\"");
	pb_init(&b, 1200, 2);
	set_int(pb_metric(&b, NULL, 2, 0), 100001);
	CHECK_INT(decode(d, st, &f, "spBv1.0/P/DDATA/gw7/press-01", &b, &err), 0);
	CHECK_INT(f.n, 0);
	CHECK_INT(f.conflicts, 1);
	/* gw7's death kills nothing of gw6's press-01; gw6's does, and gw6 (no values of its
	 * own) is no machine: no phantom. */
	pb_init(&b, -1, -1);
	set_long(pb_metric(&b, "bdSeq", -1, 8), 1);
	CHECK_INT(decode(d, st, &f, "spBv1.0/P/NDEATH/gw7", &b, &err), 0);
	CHECK_INT(f.n, 0);
	CHECK_INT(decode(d, st, &f, "spBv1.0/P/NDEATH/gw6", &b, &err), 0);
	CHECK_INT(f.n, 1);
	CHECK_STR(f.v[0].machine, "press-01");
	CHECK_INT(f.v[0].signal, SIG_DEATH);
	d->destroy(st);

	/* A template with {node} keeps them apart; node messages drop ".{device}". */
	src2.machine = "{node}.{device}";
	memset(&f, 0, sizeof(f));
	CHECK_INT(d->create(&src2, &host, &st, &err), 0);
	for (int g = 0; g < 2; g++) {
		char topic[64];
		pb_init(&b, 1000, 0);
		set_long(pb_metric(&b, "bdSeq", -1, 8), 1);
		set_int(pb_metric(&b, "Machine/State", 1, 7), 4);
		snprintf(topic, sizeof(topic), "spBv1.0/P/NBIRTH/%s", gws[g]);
		CHECK_INT(decode(d, st, &f, topic, &b, &err), 0);
		CHECK_INT(f.n, 1);
		CHECK_STR(f.v[0].machine, gws[g]);
		pb_init(&b, 1100, 1);
		set_int(pb_metric(&b, "Counts/Total", 2, 7), g ? 100000 : 20);
		snprintf(topic, sizeof(topic), "spBv1.0/P/DBIRTH/%s/press-01", gws[g]);
		CHECK_INT(decode(d, st, &f, topic, &b, &err), 0);
		CHECK_INT(f.n, 1);
		CHECK_STR(f.v[0].machine, g ? "gw7.press-01" : "gw6.press-01");
		CHECK_STR(f.v[0].tags, g ? "group=P,node=gw7" : "group=P,node=gw6");
	}
	CHECK_INT(f.conflicts, 0);
	d->destroy(st);

	/* ---- after an oeed restart: a node that sends names, and one that sends aliases ---- */
	src2.machine = NULL;
	memset(&f, 0, sizeof(f));
	rx_now = 50000;
	CHECK_INT(d->create(&src2, &host, &st, &err), 0);
	pb_init(&b, 49000, 17);
	set_int(pb_metric(&b, "Machine/State", -1, 7), 1);
	CHECK_INT(decode(d, st, &f, "spBv1.0/P/DDATA/gw1/m1", &b, &err), 0);
	CHECK_INT(f.n, 1); /* names work without the BIRTH */
	CHECK_INT(f.no_nbirth, 1);
	CHECK_STR(f.last_notice, "no_nbirth: group P node gw1 device m1: DDATA without an NBIRTH "
				 "seen in this session");
	CHECK_INT(f.publishes, 1);
	CHECK_STR(f.pub_topic, "spBv1.0/P/NCMD/gw1");
	/* rate-limited per node: again only after 10 s; another node is asked at once */
	rx_now += 5000;
	pb_init(&b, 54000, 18);
	set_int(pb_metric(&b, "Machine/State", -1, 7), 1);
	CHECK_INT(decode(d, st, &f, "spBv1.0/P/DDATA/gw1/m1", &b, &err), 0);
	CHECK_INT(f.publishes, 1);
	CHECK_INT(f.no_nbirth, 2);
	pb_init(&b, 54000, 3);
	set_int(pb_metric(&b, NULL, 1, 0), 1);
	CHECK_INT(decode(d, st, &f, "spBv1.0/P/DDATA/gw2/m2", &b, &err), 0);
	CHECK_INT(f.n, 0);
	CHECK_INT(f.publishes, 2);
	CHECK_STR(f.pub_topic, "spBv1.0/P/NCMD/gw2");
	CHECK_INT(f.unknown_alias, 1);
	rx_now += 5000;
	pb_init(&b, 59000, 19);
	CHECK_INT(decode(d, st, &f, "spBv1.0/P/DDATA/gw1/m1", &b, &err), 0);
	CHECK_INT(f.publishes, 3);
	CHECK_STR(f.pub_topic, "spBv1.0/P/NCMD/gw1");
	/* gw1 dies before it answered: no bdSeq to check, but its machines die all the same */
	pb_init(&b, -1, -1);
	set_long(pb_metric(&b, "bdSeq", -1, 8), 4);
	CHECK_INT(decode(d, st, &f, "spBv1.0/P/NDEATH/gw1", &b, &err), 0);
	CHECK_INT(f.n, 1);
	CHECK_STR(f.v[0].machine, "m1");
	CHECK_INT(f.v[0].signal, SIG_DEATH);
	CHECK_INT(f.other_counts, 1);
	CHECK_STR(f.last_notice, "ndeath_unverified: group P node gw1: no NBIRTH seen in this "
				 "session to check bdSeq");
	/* gw2 answers the rebirth (same bdSeq): Int8 and Int16 sign-extend from the BIRTH's
	 * datatype, the aliases work; its NDEATH is then checked against the bdSeq. */
	pb_init(&b, 60000, 0);
	set_long(pb_metric(&b, "bdSeq", -1, 8), 9);
	CHECK_INT(decode(d, st, &f, "spBv1.0/P/NBIRTH/gw2", &b, &err), 0);
	pb_init(&b, 60001, 1);
	set_int(pb_metric(&b, "Machine/State", 1, 1), 0xFEu);
	set_int(pb_metric(&b, "Counts/Total", 2, 2), 0xFFFFu);
	CHECK_INT(decode(d, st, &f, "spBv1.0/P/DBIRTH/gw2/m2", &b, &err), 0);
	CHECK_INT(f.n, 2);
	CHECK_STR(f.v[0].machine, "m2");
	CHECK_NEAR(f.v[0].num, -2, 0);
	CHECK_NEAR(f.v[1].num, -1, 0);
	pb_init(&b, 60002, 2);
	set_int(pb_metric(&b, NULL, 1, 0), 0x80u);
	CHECK_INT(decode(d, st, &f, "spBv1.0/P/DDATA/gw2/m2", &b, &err), 0);
	CHECK_INT(f.n, 1);
	CHECK_NEAR(f.v[0].num, -128, 0);
	pb_init(&b, -1, -1);
	set_long(pb_metric(&b, "bdSeq", -1, 8), 8);
	CHECK_INT(decode(d, st, &f, "spBv1.0/P/NDEATH/gw2", &b, &err), 0);
	CHECK_INT(f.n, 0);
	CHECK_INT(f.stale_ndeath, 1);
	CHECK_STR(f.last_notice, "stale_ndeath: group P node gw2: bdSeq 8, the NBIRTH's is 9");
	set_long(&b.m[0], 9);
	CHECK_INT(decode(d, st, &f, "spBv1.0/P/NDEATH/gw2", &b, &err), 0);
	CHECK_INT(f.n, 1);
	CHECK_STR(f.v[0].machine, "m2");
	/* A DDEATH of a device that never gave a value makes no machine either. */
	pb_init(&b, 61000, 5);
	CHECK_INT(decode(d, st, &f, "spBv1.0/P/DDEATH/gw3/ghost", &b, &err), 0);
	CHECK_INT(f.n, 0);
	d->destroy(st);
	TEST_END();
}
