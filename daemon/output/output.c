/* output.c - the output dispatcher (output.h): output_new() picks the ops table of the
 * configured type once (output_ops.h) and every other call forwards to it. The file output
 * lives in output_file.c, the influxdb output in output_influx.c, the mqtt output in
 * output_mqtt.c. */
#include "output.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output_file.h"
#include "output_influx.h"
#include "output_mqtt.h"

struct output {
	const struct output_ops *ops;
	void *impl;
	char *name;
};

static const struct output_ops *ops_for(enum oeed_output_type type)
{
	switch (type) {
	case OUTPUT_INFLUXDB:
		return &influx_output_ops;
	case OUTPUT_FILE:
		return &file_output_ops;
	case OUTPUT_MQTT:
		return &mqtt_output_ops;
	default:
		return NULL;
	}
}

int output_new(const struct oeed_output_conf *conf, const char *state_dir, struct output **ret,
	       struct oeed_error *err)
{
	const char *name = conf->name;
	int r = 0;
	struct output *o = calloc(1, sizeof(*o));
	if (!o || !(o->name = strdup(name))) {
		snprintf(err->msg, sizeof(err->msg), "output %s: out of memory", name);
		r = -ENOMEM;
		goto out;
	}
	o->ops = ops_for(conf->type);
	if (!o->ops) {
		snprintf(err->msg, sizeof(err->msg), "output %s: unknown type %d", name,
			 (int)conf->type);
		r = -EINVAL;
		goto out;
	}
	r = o->ops->open(conf, state_dir, &o->impl, err);
	if (r < 0)
		goto out;
	*ret = o;
out:
	if (r < 0 && o) {
		free(o->name);
		free(o);
	}
	return r;
}

int output_write(struct output *o, const char *lines, size_t len)
{
	return o->ops->write(o->impl, lines, len);
}

void output_tick(struct output *o, oeed_ms now)
{
	o->ops->tick(o->impl, now);
}

void output_get_stats(struct output *o, struct output_stats *ret)
{
	o->ops->get_stats(o->impl, ret);
}

const char *output_name(const struct output *o)
{
	return o->name;
}

const char *output_type(const struct output *o)
{
	return o->ops->type;
}

bool output_takes_machines(const struct output *o)
{
	return o->ops->machine != NULL;
}

void output_set_publisher(struct output *o, const struct output_publisher *pub)
{
	if (o->ops->set_publisher)
		o->ops->set_publisher(o->impl, pub);
}

int output_machine(struct output *o, const char *id, const char *doc, size_t len)
{
	return o->ops->machine ? o->ops->machine(o->impl, id, doc, len) : 0;
}

void output_close(struct output *o, oeed_ms timeout_ms)
{
	if (!o)
		return;
	o->ops->close(o->impl, timeout_ms);
	free(o->name);
	free(o);
}
