// The bare C ingest loop the benchmark measures the Swift decoder against.
#ifndef CBASELINE_H
#define CBASELINE_H

#include <stddef.h>
#include <stdint.h>

/// Inflates and unpacks each frame (header included, as sent on the wire) with zlib and protobuf-c's default
/// allocator, frees the message, and returns the total number of events, or -1 if any frame fails. The inflate
/// stream and output buffer are reused across frames, as a well-written C server would.
///
/// frames[i] points to frame i and lengths[i] is its length in bytes; scratch is an output buffer of
/// scratch_capacity bytes, large enough for the largest inflated payload.
long cbaseline_ingest(const uint8_t *const *frames, const size_t *lengths, size_t count, uint8_t *scratch,
                      size_t scratch_capacity);

#endif
