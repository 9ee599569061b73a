/* spb_build.h - builds Sparkplug B payloads (up to 8 metrics) with the generated protobuf-c
 * code, for the decoder's unit tests (tests/test-sparkplug.c) and the fuzz seed generator
 * (fuzz/gen-seeds.c), so that both construct payloads the same way. Header-only. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "sparkplug_b.pb-c.h"

/* A payload under construction; buf/len receive the packed bytes where a caller packs it. */
struct pb {
	Spb__Payload p;
	Spb__Payload__Metric m[8];
	Spb__Payload__Metric *mp[8];
	uint8_t buf[1024];
	size_t len;
};

/* ts < 0: no timestamp; seq < 0: no seq */
static inline void pb_init(struct pb *b, int64_t ts, int seq)
{
	Spb__Payload p = SPB__PAYLOAD__INIT;
	b->p = p;
	if (ts >= 0) {
		b->p.has_timestamp = 1;
		b->p.timestamp = (uint64_t)ts;
	}
	if (seq >= 0) {
		b->p.has_seq = 1;
		b->p.seq = (uint64_t)seq;
	}
	b->p.metrics = b->mp;
	b->len = 0;
}

/* name NULL: none; alias < 0: none; datatype 0: none */
static inline Spb__Payload__Metric *pb_metric(struct pb *b, const char *name, int64_t alias,
					      uint32_t datatype)
{
	Spb__Payload__Metric init = SPB__PAYLOAD__METRIC__INIT;
	Spb__Payload__Metric *m = &b->m[b->p.n_metrics];
	*m = init;
	b->mp[b->p.n_metrics++] = m;
	m->name = (char *)name;
	if (alias >= 0) {
		m->has_alias = 1;
		m->alias = (uint64_t)alias;
	}
	if (datatype) {
		m->has_datatype = 1;
		m->datatype = datatype;
	}
	return m;
}

static inline void set_str(Spb__Payload__Metric *m, const char *s)
{
	m->value_case = SPB__PAYLOAD__METRIC__VALUE_STRING_VALUE;
	m->string_value = (char *)s;
}

static inline void set_int(Spb__Payload__Metric *m, uint32_t v)
{
	m->value_case = SPB__PAYLOAD__METRIC__VALUE_INT_VALUE;
	m->int_value = v;
}

static inline void set_long(Spb__Payload__Metric *m, uint64_t v)
{
	m->value_case = SPB__PAYLOAD__METRIC__VALUE_LONG_VALUE;
	m->long_value = v;
}

static inline void set_double(Spb__Payload__Metric *m, double v)
{
	m->value_case = SPB__PAYLOAD__METRIC__VALUE_DOUBLE_VALUE;
	m->double_value = v;
}

static inline void set_bool(Spb__Payload__Metric *m, int v)
{
	m->value_case = SPB__PAYLOAD__METRIC__VALUE_BOOLEAN_VALUE;
	m->boolean_value = v;
}
