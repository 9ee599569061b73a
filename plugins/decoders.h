/* decoders.h - the built-in decoders, linked into oeedcore and found by plugin_find().
 * OEED_BUILTIN_DECODERS lists each as X(name, entry function); it both declares the entry
 * functions and fills the registry in daemon/plugin.c, so adding a decoder is one line here
 * (plus its .c file in plugins/meson.build), e.g. X("sparkplug_b", decoder_sparkplug_entry).
 * A dlopen()ed plugin would export the same kind of function as `oeed_decoder_entry`. */
#pragma once
#include "plugin.h"

#define OEED_BUILTIN_DECODERS(X)                                                                   \
	X("text", decoder_text_entry)                                                              \
	X("json", decoder_json_entry)                                                              \
	X("sparkplug_b", decoder_sparkplug_entry)

#define OEED_DECLARE_DECODER_ENTRY(name, fn) const struct oeed_decoder *fn(void);
OEED_BUILTIN_DECODERS(OEED_DECLARE_DECODER_ENTRY)
#undef OEED_DECLARE_DECODER_ENTRY
