"""The agentcost wire format in Python, written from docs/protocol.md alone: frames, and messages as JSON values.

Shared by encode_batch.py (Python writes frames) and check_frames.py (Python reads frames another implementation
wrote). Needs the `protobuf` and `grpcio-tools` packages; the Python code for the schema is generated on first use
into a temporary directory (or into AGENTCOST_PB_DIR when set), never into the source tree.
"""

import importlib
import math
import os
import struct
import sys
import tempfile
import zlib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.path.join(REPO, "proto")
PROTO_FILE = os.path.join(PROTO_DIR, "agentcost", "v1", "agentcost.proto")

MAGIC = b"ACST"
VERSION = 1
HEADER = struct.Struct(">4sBBHII")  # magic, version, type, flags, payload length, payload CRC32
FLAG_COMPRESSED = 0x0001
FRAME_TYPES = {"hello": 1, "batch": 2, "ack": 3}
FRAME_NAMES = {number: name for name, number in FRAME_TYPES.items()}
EVENT_KINDS = ("cycle_start", "spend", "cycle_end", "set_budget", "resume", "create_goal")

_pb2 = None


def pb2():
    """The generated agentcost_pb2 module, generating it with grpc_tools.protoc the first time."""
    global _pb2
    if _pb2 is not None:
        return _pb2
    from grpc_tools import protoc

    out = os.environ.get("AGENTCOST_PB_DIR") or tempfile.mkdtemp(prefix="agentcost-pb-")
    os.makedirs(out, exist_ok=True)
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    status = protoc.main(["protoc", f"-I{PROTO_DIR}", f"-I{include}", f"--python_out={out}", PROTO_FILE])
    if status != 0:
        raise RuntimeError(f"grpc_tools.protoc failed with status {status} on {PROTO_FILE}")
    sys.path.insert(0, out)
    _pb2 = importlib.import_module("agentcost.v1.agentcost_pb2")
    return _pb2


# Frames


def make_frame(frame_type, message_bytes, compressed, level=6):
    """One frame as docs/protocol.md describes it: header, then the payload (zlib-compressed when asked)."""
    payload = zlib.compress(message_bytes, level) if compressed else message_bytes
    flags = FLAG_COMPRESSED if compressed else 0
    header = HEADER.pack(MAGIC, VERSION, FRAME_TYPES[frame_type], flags, len(payload), zlib.crc32(payload))
    return header + payload


def read_frames(data):
    """Splits back-to-back frames, checking every header field and CRC.

    Yields (type name, compressed, message bytes), the message inflated when the frame is compressed."""
    offset = 0
    while offset < len(data):
        if len(data) - offset < HEADER.size:
            raise ValueError(f"{len(data) - offset} bytes at offset {offset} are too few for a frame header")
        magic, version, frame_type, flags, length, crc = HEADER.unpack_from(data, offset)
        where = f"frame at offset {offset}"
        if magic != MAGIC or version != VERSION or frame_type not in FRAME_NAMES or flags & ~FLAG_COMPRESSED:
            raise ValueError(f"{where}: bad header {data[offset:offset + HEADER.size].hex(' ')}")
        payload = data[offset + HEADER.size:offset + HEADER.size + length]
        if len(payload) != length:
            raise ValueError(f"{where}: truncated, {len(payload)} of {length} payload bytes")
        if zlib.crc32(payload) != crc:
            raise ValueError(f"{where}: CRC32 {zlib.crc32(payload):#010x}, header says {crc:#010x}")
        compressed = bool(flags & FLAG_COMPRESSED)
        if compressed:
            inflater = zlib.decompressobj()
            message = inflater.decompress(payload)
            if not inflater.eof or inflater.unused_data:
                raise ValueError(f"{where}: payload is not exactly one complete zlib stream")
        else:
            message = payload
        yield FRAME_NAMES[frame_type], compressed, message
        offset += HEADER.size + length


# Messages as JSON values: proto field names, every field present, 64-bit integers as decimal strings and doubles
# as numbers or "NaN", "Infinity", "-Infinity" (as in the proto3 JSON mapping), an event without a kind as
# {"kind": null}.


def double_to_json(value):
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def double_from_json(value):
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(value, value) \
        if isinstance(value, str) else float(value)


_EVENT_FIELDS = {
    "cycle_start": ("agent_id",),
    "spend": ("agent_id", "cost_usd", "goal_id", "model", "input_tokens", "output_tokens"),
    "cycle_end": ("agent_id",),
    "set_budget": ("agent_id", "budget_usd", "period", "warning_ratio", "clear"),
    "resume": ("agent_id", "force"),
    "create_goal": ("goal_id", "name", "budget_usd", "parent_id"),
}
_DOUBLES = {"cost_usd", "budget_usd", "warning_ratio"}
_UINT64S = {"input_tokens", "output_tokens"}


def event_to_json(event):
    kind = event.WhichOneof("kind")
    value = {"time_unix_nano": str(event.time_unix_nano), "kind": kind}
    if kind is None:
        return value
    fields = getattr(event, kind)
    for name in _EVENT_FIELDS[kind]:
        field = getattr(fields, name)
        if name in _DOUBLES:
            field = double_to_json(field)
        elif name in _UINT64S:
            field = str(field)
        value[name] = field
    return value


def event_from_json(value, event):
    event.time_unix_nano = int(value["time_unix_nano"])
    kind = value["kind"]
    if kind is None:
        return
    fields = getattr(event, kind)
    fields.SetInParent()
    for name in _EVENT_FIELDS[kind]:
        field = value[name]
        if name in _DOUBLES:
            field = double_from_json(field)
        elif name in _UINT64S:
            field = int(field)
        setattr(fields, name, field)


def message_to_json(frame_type, message):
    """A parsed Hello, Batch or Ack as the JSON value described above (without the frame's keys)."""
    if frame_type == "hello":
        return {"token": message.token, "producer_id": message.producer_id, "client_version": message.client_version}
    if frame_type == "batch":
        return {
            "producer_id": message.producer_id,
            "sequence": str(message.sequence),
            "events": [event_to_json(event) for event in message.events],
        }
    return {
        "sequence": str(message.sequence),
        "status": message.status,
        "applied": message.applied,
        "rejected": message.rejected,
        "rejections": [{"index": r.index, "reason": r.reason} for r in message.rejections],
        "paused_agents": list(message.paused_agents),
        "message": message.message,
    }


def message_from_json(frame_type, value):
    """The protobuf message for a JSON value as described above."""
    pb = pb2()
    if frame_type == "hello":
        return pb.Hello(token=value["token"], producer_id=value["producer_id"], client_version=value["client_version"])
    if frame_type == "batch":
        batch = pb.Batch(producer_id=value["producer_id"], sequence=int(value["sequence"]))
        for event in value["events"]:
            event_from_json(event, batch.events.add())
        return batch
    ack = pb.Ack(
        sequence=int(value["sequence"]), applied=value["applied"], rejected=value["rejected"],
        paused_agents=value["paused_agents"], message=value["message"])
    ack.status = value["status"]
    for rejection in value["rejections"]:
        ack.rejections.add(index=rejection["index"], reason=rejection["reason"])
    return ack


def parse_message(frame_type, message_bytes):
    message = {"hello": pb2().Hello, "batch": pb2().Batch, "ack": pb2().Ack}[frame_type]()
    message.ParseFromString(message_bytes)
    return message


def same_json(expected, actual, negative_zero_is_zero=False):
    """Equality of JSON values where doubles compare by value, -0.0 differs from 0.0 (unless told otherwise), and
    NaN equals NaN."""
    def same(expected, actual):
        if isinstance(expected, float) or isinstance(actual, float):
            if not isinstance(expected, (int, float)) or not isinstance(actual, (int, float)):
                return False
            same_sign = math.copysign(1, expected) == math.copysign(1, actual)
            return float(expected) == float(actual) and (same_sign or negative_zero_is_zero)
        if isinstance(expected, dict):
            return isinstance(actual, dict) and expected.keys() == actual.keys() and \
                all(same(expected[key], actual[key]) for key in expected)
        if isinstance(expected, list):
            return isinstance(actual, list) and len(expected) == len(actual) and \
                all(same(e, a) for e, a in zip(expected, actual))
        return type(expected) is type(actual) and expected == actual
    return same(expected, actual)
