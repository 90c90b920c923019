// zlib, for reading gzip-compressed dataset files.
#ifndef EXPERTSTREAM_CZLIB_SHIM_H
#define EXPERTSTREAM_CZLIB_SHIM_H
#include <zlib.h>
#endif
