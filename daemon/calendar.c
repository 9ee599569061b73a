/* being written in this session; replaced before commit */
#include "util.h"
