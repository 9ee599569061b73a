/* output_influx.h - the influxdb output (InfluxDB 1.x /write, 2.x /api/v2/write, and
 * servers that speak them, e.g. VictoriaMetrics): batching, a sender thread with libcurl,
 * answers sorted into OK / RETRY / DROP, and a disk spool. Used through output.h. */
#pragma once
#include "output.h"

struct influx_output;
int influx_output_new(const struct oeed_output_conf *conf, const char *state_dir,
		      struct influx_output **ret, struct oeed_error *err);
int influx_output_write(struct influx_output *o, const char *lines, size_t len);
void influx_output_tick(struct influx_output *o, oeed_ms now);
void influx_output_get_stats(struct influx_output *o, struct output_stats *ret);
void influx_output_close(struct influx_output *o, oeed_ms timeout_ms);
