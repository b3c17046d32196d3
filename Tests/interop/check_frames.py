#!/usr/bin/env python3
"""Reads frames written by another implementation with Python's zlib and protobuf, and checks their values.

    check_frames.py --in FRAMES --expected EXPECTED.jsonl [--negative-zero-may-be-zero]

EXPECTED is the file encode_batch.py writes. Each frame in FRAMES must have the type of the next expected line and
carry exactly its values (doubles compared bit for bit, except that any NaN equals any NaN). A batch with an event
without a kind cannot be built by a client that only sends events with a kind, so those lines are skipped.
Whether a frame is compressed is not compared; its CRC and zlib stream are checked.

--negative-zero-may-be-zero accepts 0.0 where -0.0 was meant. protobuf-c (1.4.1, which the Swift encoder uses)
decides whether a proto3 double is at its default with `== 0`, so it leaves -0.0 out of the message and the reader
sees 0.0; the protobuf spec (and Python's protobuf) send -0.0. Harmless for amounts, but a deviation, so it must be
asked for.
"""

import argparse
import json
import sys

import agentcost_wire as wire


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--in", dest="frames", required=True, help="the frames, back to back")
    parser.add_argument("--expected", required=True, help="one JSON line per frame, from encode_batch.py")
    parser.add_argument("--negative-zero-may-be-zero", action="store_true",
                        help="accept 0.0 where -0.0 was meant (protobuf-c omits -0.0 from proto3 messages)")
    args = parser.parse_args(argv)

    with open(args.expected, encoding="utf-8") as lines:
        expected = [json.loads(line) for line in lines if line.strip()]
    expected = [value for value in expected
                if not any(event["kind"] is None for event in value.get("events", []))]
    with open(args.frames, "rb") as frames:
        actual = list(wire.read_frames(frames.read()))

    failures = []
    if len(actual) != len(expected):
        failures.append(f"{len(actual)} frames, expected {len(expected)}")
    for index, (value, (frame_type, _compressed, message_bytes)) in enumerate(zip(expected, actual)):
        if frame_type != value["frame"]:
            failures.append(f"frame {index}: a {frame_type} frame, expected a {value['frame']} frame")
            continue
        message = wire.parse_message(frame_type, message_bytes)
        got = wire.message_to_json(frame_type, message)
        want = {key: value[key] for key in got}
        if wire.same_json(want, got, args.negative_zero_may_be_zero):
            continue
        # Name the first event that differs, or the whole message when the difference is elsewhere.
        pairs = zip(want.pop("events", []), got.pop("events", []))
        for number, (want_event, got_event) in enumerate(pairs):
            if not wire.same_json(want_event, got_event, args.negative_zero_may_be_zero):
                failures.append(f"frame {index} ({frame_type}), event {number}: got {json.dumps(got_event)}\n"
                                f"  expected {json.dumps(want_event)}")
                break
        else:
            failures.append(f"frame {index} ({frame_type}): got {json.dumps(got, ensure_ascii=False)[:2000]}\n"
                            f"  expected {json.dumps(want, ensure_ascii=False)[:2000]}")
    for failure in failures:
        print(f"check_frames: {failure}", file=sys.stderr)
    if failures:
        return 1
    print(f"check_frames: {len(actual)} frames from {args.frames} carry the expected values", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
