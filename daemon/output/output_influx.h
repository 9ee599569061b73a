/* output_influx.h - the influxdb output (InfluxDB 1.x /write, 2.x /api/v2/write, and
 * servers that speak them, e.g. VictoriaMetrics): batching, a sender thread with libcurl,
 * answers sorted into OK / RETRY / DROP, and a disk spool. Used through output.h. */
#pragma once
#include "output_ops.h"

extern const struct output_ops influx_output_ops;
