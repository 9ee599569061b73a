/* output_mqtt.h - the mqtt output: one retained JSON document per machine, published on a
 * topic template ("oeed/{machine}") through the daemon's own MQTT client (an
 * output_publisher). It takes documents (output_machine), not line protocol. Bounded: a
 * queue of queue_len machines in which only a machine's newest document waits (an older one
 * still waiting is dropped, counted), and at most max_inflight messages handed to the broker
 * and not yet acknowledged. Used through output.h. */
#pragma once
#include "output_ops.h"

extern const struct output_ops mqtt_output_ops;
