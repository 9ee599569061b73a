/* Unit tests for emit.c: the sink's state, kpi and contract callbacks and emit_self(), called
 * directly with hand-made inputs, against the exact line protocol expected: measurement, tag
 * order and escaping, field order and formatting (integers with `i`, decimals, booleans,
 * strings), millisecond timestamps; the site tag; skipped NaN fields; and `discard`. */
#include <math.h>
#include <stdlib.h>

#include "emit.h"
#include "testutil.h"

#define T0 1793599200000LL /* 2026-11-02T06:00:00Z */

struct fixture {
	struct strbuf sb;
	struct emitter em;
	struct engine_sink sink;
	struct engine_machine_info m;
};

static void setup(struct fixture *f, const char *site)
{
	memset(f, 0, sizeof(*f));
	strbuf_init(&f->sb);
	f->em.out = &f->sb;
	f->em.site = site;
	emit_sink(&f->em, &f->sink);
	f->m.id = "press 01";
	f->m.n_tags = 2;
	f->m.tag[0] = (struct engine_tag){"line", "L=2"};
	f->m.tag[1] = (struct engine_tag){"hall", "north,east"};
}

static const char *take(struct fixture *f)
{
	static char copy[4096];
	snprintf(copy, sizeof(copy), "%s", f->sb.buf ? f->sb.buf : "");
	strbuf_reset(&f->sb);
	return copy;
}

static void test_sink_wiring(void)
{
	struct fixture f;
	setup(&f, NULL);
	CHECK(f.sink.ctx == &f.em);
	CHECK(f.sink.state != NULL);
	CHECK(f.sink.kpi != NULL);
	CHECK(f.sink.contract != NULL);
	strbuf_free(&f.sb);
}

static void test_state(void)
{
	struct fixture f;
	setup(&f, NULL);
	f.sink.state(f.sink.ctx, &f.m, T0 + 123, CAT_DOWN, "FAULT \"x\"\\", "fault", 600.5);
	CHECK_STR(take(&f), "machine_state,machine=press\\ 01,line=L\\=2,hall=north\\,east,"
			    "category=down state=\"FAULT \\\"x\\\"\\\\\",reason=\"fault\","
			    "prev_duration_s=600.5 1793599200123\n");
	CHECK_INT(f.em.lines, 1);

	/* the first state: no previous duration; an empty reason is still written */
	f.sink.state(f.sink.ctx, &f.m, T0, CAT_RUNNING, "RUNNING", "", -1.0);
	CHECK_STR(take(&f), "machine_state,machine=press\\ 01,line=L\\=2,hall=north\\,east,"
			    "category=running state=\"RUNNING\",reason=\"\" 1793599200000\n");
	/* a zero duration is a duration (only < 0 means none); 1/3 s to nine decimals */
	f.sink.state(f.sink.ctx, &f.m, T0 + 1, CAT_IDLE, "IDLE", "starved", 0);
	CHECK_STR(take(&f), "machine_state,machine=press\\ 01,line=L\\=2,hall=north\\,east,"
			    "category=idle state=\"IDLE\",reason=\"starved\",prev_duration_s=0 "
			    "1793599200001\n");
	f.sink.state(f.sink.ctx, &f.m, T0 + 2, CAT_PLANNED, "BREAK", "break", 1.0 / 3);
	CHECK_STR(take(&f), "machine_state,machine=press\\ 01,line=L\\=2,hall=north\\,east,"
			    "category=planned state=\"BREAK\",reason=\"break\","
			    "prev_duration_s=0.333333333 1793599200002\n");
	f.sink.state(f.sink.ctx, &f.m, T0 + 3, CAT_UNKNOWN, "", "stale", 90);
	CHECK_STR(take(&f), "machine_state,machine=press\\ 01,line=L\\=2,hall=north\\,east,"
			    "category=unknown state=\"\",reason=\"stale\",prev_duration_s=90 "
			    "1793599200003\n");
	CHECK_INT(f.em.lines, 5);

	/* a machine without tags; a tag with an empty value is left out (InfluxDB rejects it);
	 * CR/LF in a tag value become (escaped) spaces */
	struct engine_machine_info bare = {.id = "m1", .n_tags = 0};
	f.sink.state(f.sink.ctx, &bare, T0, CAT_RUNNING, "1", "", -1);
	CHECK_STR(take(&f), "machine_state,machine=m1,category=running state=\"1\",reason=\"\" "
			    "1793599200000\n");
	struct engine_machine_info odd = {.id = "m2", .n_tags = 2};
	odd.tag[0] = (struct engine_tag){"cell", ""};
	odd.tag[1] = (struct engine_tag){"area", "a\nb"};
	f.sink.state(f.sink.ctx, &odd, T0, CAT_RUNNING, "run", "", -1);
	CHECK_STR(take(&f), "machine_state,machine=m2,area=a\\ b,category=running state=\"run\","
			    "reason=\"\" 1793599200000\n");
	CHECK_INT(f.em.lines, 7);
	strbuf_free(&f.sb);
}

static void kv_set(struct kpi_values *kv, enum kpi_field fl, double v)
{
	kv->v[fl] = v;
	kv->defined |= 1u << fl;
}

static void test_kpi(void)
{
	struct fixture f;
	setup(&f, NULL);
	struct kpi_values kv = {0};
	/* set out of order: the output follows enum kpi_field */
	kv_set(&kv, KF_AVAILABILITY, 0.7);
	kv_set(&kv, KF_RUN_S, 2100);
	kv_set(&kv, KF_TOTAL_COUNT, 600);
	kv_set(&kv, KF_PERFORMANCE, 2.0 * 600 / 2100);
	kv_set(&kv, KF_FAILURES, 1);
	kv_set(&kv, KF_MTTR_S, 299.9995);
	kv_set(&kv, KF_CYCLE_COUNT, 41.6); /* an int field is rounded */
	kv.v[KF_DOWN_S] = 300;		   /* a value without its defined bit: not written */
	f.sink.kpi(f.sink.ctx, &f.m, "1h", T0, T0 + 3600000, &kv, false);
	CHECK_STR(take(&f), "machine_kpi,machine=press\\ 01,line=L\\=2,hall=north\\,east,window=1h "
			    "run_s=2100,total_count=600i,availability=0.7,performance=0.571428571,"
			    "failures=1i,mttr_s=299.9995,cycle_count=42i,final=false,"
			    "window_start=1793599200000i 1793602800000\n");
	CHECK_INT(f.em.lines, 1);

	/* NaN and infinite fields are skipped, the rest of the line stays */
	struct kpi_values nan_kv = {0};
	kv_set(&nan_kv, KF_RUN_S, 60);
	kv_set(&nan_kv, KF_COVERAGE, NAN);
	kv_set(&nan_kv, KF_QUALITY, INFINITY);
	kv_set(&nan_kv, KF_OEE, -0.0);
	kv_set(&nan_kv, KF_MTBF_S, NAN);
	f.sink.kpi(f.sink.ctx, &f.m, "day", T0 - 21600000, T0 + 60000, &nan_kv, true);
	CHECK_STR(take(&f),
		  "machine_kpi,machine=press\\ 01,line=L\\=2,hall=north\\,east,window=day "
		  "run_s=60,oee=0,final=true,window_start=1793577600000i 1793599260000\n");
	/* integer fields too: a NaN or infinite count must be skipped, not written as the
	 * INT64_MIN that llround() gives for it */
	struct kpi_values nan_int = {0};
	kv_set(&nan_int, KF_TOTAL_COUNT, INFINITY);
	kv_set(&nan_int, KF_GOOD_COUNT, 5);
	kv_set(&nan_int, KF_FAILURES, NAN);
	f.sink.kpi(f.sink.ctx, &f.m, "1h", T0, T0 + 60000, &nan_int, false);
	CHECK_STR(take(&f),
		  "machine_kpi,machine=press\\ 01,line=L\\=2,hall=north\\,east,window=1h "
		  "good_count=5i,final=false,window_start=1793599200000i 1793599260000\n");

	/* no KPI at all: the line still has final and window_start */
	struct kpi_values none = {0};
	f.sink.kpi(f.sink.ctx, &f.m, "15m", T0, T0 + 1, &none, false);
	CHECK_STR(take(&f), "machine_kpi,machine=press\\ 01,line=L\\=2,hall=north\\,east,"
			    "window=15m final=false,window_start=1793599200000i 1793599200001\n");
	CHECK_INT(f.em.lines, 4);

	/* every field has its name, in enum order */
	struct kpi_values all = {0};
	for (int i = 0; i < KF__COUNT; i++)
		kv_set(&all, (enum kpi_field)i, i + 0.25);
	struct engine_machine_info bare = {.id = "m", .n_tags = 0};
	f.sink.kpi(f.sink.ctx, &bare, "shift", 0, 5, &all, false);
	CHECK_STR(take(&f),
		  "machine_kpi,machine=m,window=shift run_s=0.25,idle_s=1.25,down_s=2.25,"
		  "planned_s=3.25,unknown_s=4.25,observed_s=5.25,coverage=6.25,ppt_s=7.25,"
		  "total_count=8i,good_count=9i,reject_count=10i,availability=11.25,uptime=12.25,"
		  "performance=13.25,quality=14.25,oee=15.25,down_run_ratio=16.25,failures=17i,"
		  "mtbf_s=18.25,mttr_s=19.25,rate_per_h=20.25,cycle_count=21i,cycle_avg_s=22.25,"
		  "cycle_min_s=23.25,cycle_max_s=24.25,cycle_p50_s=25.25,cycle_p95_s=26.25,"
		  "final=false,window_start=0i 5\n");
	/* a shift record carries the shift's name */
	struct kpi_values one = {0};
	kv_set(&one, KF_RUN_S, 1);
	one.shift = "late";
	f.sink.kpi(f.sink.ctx, &bare, "shift", 0, 5, &one, true);
	CHECK_STR(take(&f), "machine_kpi,machine=m,window=shift,shift=late run_s=1,final=true,"
			    "window_start=0i 5\n");
	strbuf_free(&f.sb);
}

static void test_contract(void)
{
	struct fixture f;
	setup(&f, NULL);
	struct oeed_contract con = {.name = "line 2,avail",
				    .kpi = KPI_AVAILABILITY,
				    .target = 0.975,
				    .minimum = 0.95,
				    .higher_is_better = true};
	struct contract_result r = {.contract = &con,
				    .period_label = "2026-11",
				    .period_start = T0 - 21600000 - 86400000LL,
				    .period_end = T0 + 1000,
				    .ts = T0 + 1000,
				    .has_value = true,
				    .value = 0.9625,
				    .best_case = 0.99,
				    .worst_case =
					0.1 + 0.2, /* 0.30000000000000004: nine decimals */
				    .coverage = 0.5,
				    .status = CS_AT_RISK,
				    .final = false,
				    .n_machines = 3};
	f.sink.contract(f.sink.ctx, &r);
	CHECK_STR(take(&f), "contract,contract=line\\ 2\\,avail,kpi=availability,period=2026-11 "
			    "value=0.9625,target=0.975,minimum=0.95,best_case=0.99,worst_case=0.3,"
			    "coverage=0.5,status=\"at_risk\",status_code=3i,final=false,"
			    "period_start=1793491200000i,machines=3i 1793599201000\n");

	/* no value yet and an unknown best case: both fields left out */
	r.has_value = false;
	r.value = 123; /* ignored without has_value */
	r.best_case = NAN;
	r.status = CS_NO_DATA;
	r.final = true;
	r.n_machines = 0;
	f.sink.contract(f.sink.ctx, &r);
	CHECK_STR(
	    take(&f),
	    "contract,contract=line\\ 2\\,avail,kpi=availability,period=2026-11 "
	    "target=0.975,minimum=0.95,worst_case=0.3,coverage=0.5,"
	    "status=\"no_data\",status_code=0i,final=true,period_start=1793491200000i,machines=0i "
	    "1793599201000\n");

	/* each status by its name */
	static const char *const names[CS__COUNT] = {"met",	      "on_track", "at_risk",
						     "below_minimum", "breached", "no_data"};
	/* interface.md: 0 no_data, 1 met, 2 on_track, 3 at_risk, 4 below_minimum, 5 breached */
	static const int codes[CS__COUNT] = {1, 2, 3, 4, 5, 0};
	struct oeed_contract mttr = {
	    .name = "repair", .kpi = KPI_MTTR, .target = 600, .minimum = 1800.5};
	struct contract_result q = {.contract = &mttr,
				    .period_label = "30d",
				    .period_start = 0,
				    .ts = 7,
				    .has_value = true,
				    .value = 720,
				    .best_case = 700,
				    .worst_case = 900,
				    .coverage = 1};
	for (int s = 0; s < CS__COUNT; s++) {
		char exp[512];
		q.status = (enum contract_status)s;
		f.sink.contract(f.sink.ctx, &q);
		snprintf(exp, sizeof(exp),
			 "contract,contract=repair,kpi=mttr_s,period=30d value=720,target=600,"
			 "minimum=1800.5,best_case=700,worst_case=900,coverage=1,status=\"%s\","
			 "status_code=%di,final=false,period_start=0i,machines=0i 7\n",
			 names[s], codes[s]);
		CHECK_STR(take(&f), exp);
	}
	CHECK_INT(f.em.lines, 2 + CS__COUNT);

	/* a shift contract carries the shift's name as a tag */
	q.shift = "night";
	q.period_label = "shift";
	q.status = CS_MET;
	f.sink.contract(f.sink.ctx, &q);
	CHECK_STR(take(&f),
		  "contract,contract=repair,kpi=mttr_s,period=shift,shift=night value=720,"
		  "target=600,minimum=1800.5,best_case=700,worst_case=900,coverage=1,"
		  "status=\"met\",status_code=1i,final=false,period_start=0i,machines=0i "
		  "7\n");
	strbuf_free(&f.sb);
}

static void test_loss_and_stop(void)
{
	struct fixture f;
	setup(&f, "plant 1");
	CHECK(f.sink.loss != NULL && f.sink.stop != NULL);
	struct engine_loss l = {.label = "shift",
				.shift = "early",
				.window_start = T0,
				.window_end = T0 + 8 * 3600000LL,
				.cat = CAT_DOWN,
				.reason = "tool change",
				.time_ms = 1234567,
				.events = 3,
				.final = true};
	f.sink.loss(f.sink.ctx, &f.m, &l);
	CHECK_STR(take(&f), "machine_loss,machine=press\\ 01,site=plant\\ 1,line=L\\=2,"
			    "hall=north\\,east,window=shift,shift=early,category=down,"
			    "reason=tool\\ change time_s=1234.567,events=3i,mean_s=411.522333333,"
			    "final=true,window_start=1793599200000i 1793628000000\n");
	/* no reason: the tag is left out; no entry in the span: no mean */
	l.reason = "";
	l.shift = NULL;
	l.label = "day";
	l.events = 0;
	l.final = false;
	f.sink.loss(f.sink.ctx, &f.m, &l);
	CHECK_STR(take(&f), "machine_loss,machine=press\\ 01,site=plant\\ 1,line=L\\=2,"
			    "hall=north\\,east,window=day,category=down time_s=1234.567,events=0i,"
			    "final=false,window_start=1793599200000i 1793628000000\n");
	struct engine_stop st = {
	    .cat = CAT_IDLE, .reason = "starved", .start = T0 + 5, .end = T0 + 65005};
	f.sink.stop(f.sink.ctx, &f.m, &st);
	CHECK_STR(take(&f), "machine_stop,machine=press\\ 01,site=plant\\ 1,line=L\\=2,"
			    "hall=north\\,east,category=idle,reason=starved duration_s=65,"
			    "start=1793599200005i 1793599200005\n");
	CHECK_INT(f.em.lines, 3);
	strbuf_free(&f.sb);
}

static struct self_metrics sample_metrics(void)
{
	struct self_metrics s = {
	    .messages = 1,
	    .decode_errors = 2,
	    .unmatched = 3,
	    .dropped_messages = 4,
	    .late = 5,
	    .skewed = 6,
	    .machines = 7,
	    .machines_dropped = 8,
	    .counter_resets = 9,
	    .unmapped = 10,
	    .lines_written = 11,
	    .lines_retried = 12,
	    .lines_spooled = 13,
	    .write_errors = 14,
	    .spool_bytes = 15,
	    .dropped_lines = 16,
	    .queue_depth = 17,
	    .queue_waits = 18,
	    .rss_bytes = 19,
	    .protocol_notices = 20,
	};
	return s;
}

static void test_self(void)
{
	struct fixture f;
	setup(&f, NULL);
	struct self_metrics s = sample_metrics();
	emit_self(&f.em, "gw 1", T0 + 5, &s);
	CHECK_STR(
	    take(&f),
	    "oeed,instance=gw\\ 1 messages=1i,decode_errors=2i,unmatched=3i,"
	    "dropped_messages=4i,late=5i,reordered=0i,skewed=6i,machines=7i,machines_dropped=8i,"
	    "counter_resets=9i,unmapped=10i,lines_written=11i,lines_retried=12i,"
	    "lines_spooled=13i,write_errors=14i,spool_bytes=15i,dropped_lines=16i,"
	    "queue_depth=17i,queue_waits=18i,rss_bytes=19i,protocol_notices=20i "
	    "1793599200005\n");
	CHECK_INT(f.em.lines, 1);
	/* counters beyond 2^32 stay whole */
	struct self_metrics big = {0};
	big.rss_bytes = 5000000000ull;
	emit_self(&f.em, "gw1", T0, &big);
	CHECK(strstr(take(&f), ",rss_bytes=5000000000i,") != NULL);
	CHECK_INT(f.em.lines, 2);
	strbuf_free(&f.sb);
}

static void test_site(void)
{
	struct fixture f;
	setup(&f, "plant 1");
	/* site comes right after machine, before the topic's tags */
	f.sink.state(f.sink.ctx, &f.m, T0, CAT_RUNNING, "RUNNING", "", -1);
	CHECK_STR(take(&f), "machine_state,machine=press\\ 01,site=plant\\ 1,line=L\\=2,"
			    "hall=north\\,east,category=running state=\"RUNNING\",reason=\"\" "
			    "1793599200000\n");
	struct kpi_values kv = {0};
	kv_set(&kv, KF_UPTIME, 0.5);
	f.sink.kpi(f.sink.ctx, &f.m, "24h", T0, T0 + 10, &kv, false);
	CHECK_STR(take(&f), "machine_kpi,machine=press\\ 01,site=plant\\ 1,line=L\\=2,"
			    "hall=north\\,east,window=24h uptime=0.5,final=false,"
			    "window_start=1793599200000i 1793599200010\n");
	/* contract: after the contract's name */
	struct oeed_contract con = {.name = "c", .kpi = KPI_OEE, .target = 0.6, .minimum = 0.5};
	struct contract_result r = {.contract = &con,
				    .period_label = "2026-11-02 early",
				    .period_start = T0,
				    .ts = T0 + 10,
				    .best_case = NAN,
				    .worst_case = NAN,
				    .coverage = NAN,
				    .status = CS_MET,
				    .final = true,
				    .n_machines = 1};
	f.sink.contract(f.sink.ctx, &r);
	CHECK_STR(take(&f), "contract,contract=c,site=plant\\ 1,kpi=oee,period=2026-11-02\\ early "
			    "target=0.6,minimum=0.5,status=\"met\",status_code=1i,final=true,"
			    "period_start=1793599200000i,machines=1i 1793599200010\n");
	/* self-metrics: after the instance */
	struct self_metrics s = sample_metrics();
	emit_self(&f.em, "gw1", T0, &s);
	const char *self = take(&f), *head = "oeed,instance=gw1,site=plant\\ 1 messages=1i,";
	CHECK(strncmp(self, head, strlen(head)) == 0);
	CHECK_INT(f.em.lines, 4);
	strbuf_free(&f.sb);
}

static void test_discard(void)
{
	struct fixture f;
	setup(&f, "plant");
	f.em.discard = true;
	struct kpi_values kv = {0};
	kv_set(&kv, KF_RUN_S, 1);
	struct oeed_contract con = {.name = "c", .kpi = KPI_OEE, .target = 0.6, .minimum = 0.5};
	struct contract_result r = {.contract = &con,
				    .period_label = "day",
				    .ts = T0,
				    .has_value = true,
				    .value = 0.55,
				    .status = CS_AT_RISK};
	f.sink.state(f.sink.ctx, &f.m, T0, CAT_RUNNING, "RUNNING", "", -1);
	f.sink.kpi(f.sink.ctx, &f.m, "1h", T0, T0 + 1, &kv, false);
	f.sink.contract(f.sink.ctx, &r);
	CHECK_INT(f.sb.len, 0);
	CHECK_INT(f.em.lines, 0);
	/* the same emitter writes again once discard is off */
	f.em.discard = false;
	f.sink.kpi(f.sink.ctx, &f.m, "1h", T0, T0 + 1, &kv, false);
	CHECK(f.sb.len > 0);
	CHECK_INT(f.em.lines, 1);
	strbuf_free(&f.sb);
}

/* Lines append: each callback adds one line after what the buffer already holds. */
static void test_append(void)
{
	struct fixture f;
	setup(&f, NULL);
	strbuf_puts(&f.sb, "x v=1i 1\n");
	struct engine_machine_info bare = {.id = "m", .n_tags = 0};
	f.sink.state(f.sink.ctx, &bare, 2, CAT_DOWN, "F", "f", 1.5);
	f.sink.state(f.sink.ctx, &bare, 3, CAT_RUNNING, "R", "", 0.001);
	CHECK_STR(take(&f), "x v=1i 1\n"
			    "machine_state,machine=m,category=down state=\"F\",reason=\"f\","
			    "prev_duration_s=1.5 2\n"
			    "machine_state,machine=m,category=running state=\"R\",reason=\"\","
			    "prev_duration_s=0.001 3\n");
	CHECK_INT(f.em.lines, 2);
	strbuf_free(&f.sb);
}

int main(void)
{
	test_sink_wiring();
	test_state();
	test_kpi();
	test_contract();
	test_loss_and_stop();
	test_self();
	test_site();
	test_discard();
	test_append();
	TEST_END();
}
