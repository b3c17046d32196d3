// The bare C ingest loop: for each frame, read the length from the header, inflate when flagged, unpack, count,
// free. See CBaseline.h.
#include "CBaseline.h"

#include <malloc.h>
#include <string.h>
#include <zlib.h>

#include "agentcost/v1/agentcost.pb-c.h"

enum { header_size = 16, flag_compressed = 1 };

static uint32_t read_be32(const uint8_t *bytes) {
    return ((uint32_t)bytes[0] << 24) | ((uint32_t)bytes[1] << 16) | ((uint32_t)bytes[2] << 8) | bytes[3];
}

long cbaseline_ingest(const uint8_t *frames, size_t length, uint8_t *scratch, size_t scratch_capacity) {
    z_stream stream;
    memset(&stream, 0, sizeof stream);
    if (inflateInit(&stream) != Z_OK) {
        return -1;
    }
    long events = 0;
    size_t offset = 0;
    while (offset < length) {
        // The header: flags and payload length.
        if (length - offset < header_size) {
            events = -1;
            break;
        }
        const uint8_t *frame = frames + offset;
        uint16_t flags = (uint16_t)((frame[6] << 8) | frame[7]);
        size_t payload_length = read_be32(frame + 8);
        if (length - offset - header_size < payload_length) {
            events = -1;
            break;
        }
        const uint8_t *payload = frame + header_size;
        offset += header_size + payload_length;

        // Inflate into the scratch buffer when the payload is compressed.
        if (flags & flag_compressed) {
            inflateReset(&stream);
            stream.next_in = (Bytef *)payload;
            stream.avail_in = (uInt)payload_length;
            stream.next_out = scratch;
            stream.avail_out = (uInt)scratch_capacity;
            if (inflate(&stream, Z_FINISH) != Z_STREAM_END) {
                events = -1;
                break;
            }
            payload = scratch;
            payload_length = stream.total_out;
        }

        // Unpack with the default allocator, count, free.
        Agentcost__V1__Batch *batch = agentcost__v1__batch__unpack(NULL, payload_length, payload);
        if (batch == NULL) {
            events = -1;
            break;
        }
        events += (long)batch->n_events;
        agentcost__v1__batch__free_unpacked(batch, NULL);
    }
    inflateEnd(&stream);
    return events;
}

int cbaseline_release_free_heap(void) { return malloc_trim(0); }
