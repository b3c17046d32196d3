// The bare C ingest loop the benchmark measures the Swift decoder against.
#ifndef CBASELINE_H
#define CBASELINE_H

#include <stddef.h>
#include <stdint.h>

/// Walks `length` bytes of back-to-back frames (as sent on the wire, headers included) and, for each, inflates the
/// payload when flagged, unpacks it with protobuf-c's default allocator, counts its events and frees it.
///
/// It checks nothing else (no magic, version or CRC), so it is the floor a real decoder competes with. The inflate
/// stream and the output buffer are reused across frames, as a well-written C server would. `scratch` receives the
/// inflated payloads and must hold `scratch_capacity` bytes, enough for the largest.
///
/// Returns the total number of events, or -1 if a frame is cut short, does not inflate or does not unpack.
long cbaseline_ingest(const uint8_t *frames, size_t length, uint8_t *scratch, size_t scratch_capacity);

/// Hands the heap memory that is free but still mapped back to the kernel (glibc's `malloc_trim`), so that a
/// benchmark measuring resident growth starts from what is really in use. Returns 1 if memory was released.
int cbaseline_release_free_heap(void);

#endif
