// zlib, as installed by Debian's zlib1g-dev.
//
// zlib's init functions are macros that pass the library version and the stream size; Swift cannot call macros,
// so they are wrapped here as functions with a `czlib_` prefix.
#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H

#include <zlib.h>

static inline int czlib_deflate_init(z_stream *stream, int level) {
    return deflateInit(stream, level);
}

static inline int czlib_inflate_init(z_stream *stream) {
    return inflateInit(stream);
}

// windowBits 15 + 16: write a gzip header and trailer (RFC 1952) instead of zlib's, as HTTP's gzip coding wants.
static inline int czlib_deflate_init_gzip(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

// windowBits 15 + 16: read a gzip stream.
static inline int czlib_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, 15 + 16);
}

#endif
