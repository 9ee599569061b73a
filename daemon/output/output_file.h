/* output_file.h - the file output: line protocol appended to a file or written to stdout,
 * through a 64 KiB buffer, with no retry. Used through output.h. */
#pragma once
#include "output_ops.h"

extern const struct output_ops file_output_ops;
