/* spb_frames.h - how fuzz-decoder-sparkplug reads one input as a sequence of Sparkplug B
 * messages, shared with the seed generator so seeds and target agree:
 *   frame = selector byte, payload length (2 bytes, little endian), payload bytes.
 * The selector picks the topic: bits 0-2 the message type (NBIRTH ... DCMD), bit 3 one of two
 * edge nodes, bit 4 one of two devices, bit 5 a group. A short last frame takes what is left. */
#pragma once
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

static const char *const spb_frame_types[8] = {"NBIRTH", "NDEATH", "NDATA", "NCMD",
					       "DBIRTH", "DDEATH", "DDATA", "DCMD"};

/* Writes the topic for `sel` into buf (at least 64 bytes); returns its length. */
static inline size_t spb_frame_topic(uint8_t sel, char *buf, size_t size)
{
	unsigned type = sel & 7u;
	const char *group = sel & 32u ? "plant2" : "plant1";
	const char *node = sel & 8u ? "edge-b" : "edge-a";
	const char *device = sel & 16u ? "press-02" : "press-01";
	int n;

	if (type >= 4)
		n = snprintf(buf, size, "spBv1.0/%s/%s/%s/%s", group, spb_frame_types[type], node,
			     device);
	else
		n = snprintf(buf, size, "spBv1.0/%s/%s/%s", group, spb_frame_types[type], node);
	return n > 0 ? (size_t)n : 0;
}
