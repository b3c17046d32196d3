#!/usr/bin/env python3
"""Python's side of the live interop check (scripts/test-interop-live.sh) against a running agentcost-exporter.

    live_exchange.py send --address HOST:PORT --in FRAMES --expected EXPECTED.jsonl
    live_exchange.py event-lines --expected EXPECTED.jsonl --out EVENTS.jsonl
    live_exchange.py state --web-address HOST:PORT --out STATE.json
    live_exchange.py compare PYTHON-STATE.json SWIFT-STATE.json [--agents N] [--goals N]

send       writes the frames (from encode_batch.py) to the ingest port over TCP, back to back, reads one ack per
           frame, and checks each: the hello acknowledged OK with sequence 0, every batch OK with its own sequence,
           all of its events applied and none rejected. Prints the acks as JSON lines.
event-lines  writes the events of EXPECTED.jsonl as the JSON lines `agentcostctl replay` reads
           (docs/protocol.md), so that the same events can be sent through the Swift client.
state      reads what the exporter holds through its HTTP API: every agent's summary and cycles, every goal.
compare    fails, naming the first difference, unless the two states are equal, not empty, and (when given) hold
           N agents and N goals.
"""

import argparse
import json
import socket
import sys
import urllib.parse
import urllib.request

import agentcost_wire as wire

PERIODS = {0: "lifetime", 1: "daily", 2: "weekly", 3: "monthly"}
STATUS_OK = 0


def address(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def read_ack(connection, buffer):
    """Reads the next frame, which must be an ack; returns (the ack, the bytes after it)."""
    while True:
        if len(buffer) >= wire.HEADER.size:
            end = wire.HEADER.size + wire.HEADER.unpack_from(buffer, 0)[4]
            if len(buffer) >= end:
                [(frame_type, _compressed, message)] = wire.read_frames(bytes(buffer[:end]))
                if frame_type != "ack":
                    raise ValueError(f"the server sent a {frame_type} frame, not an ack")
                return wire.parse_message("ack", message), buffer[end:]
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection before every frame was acknowledged")
        buffer += chunk


def send(args):
    with open(args.frames, "rb") as file:
        data = file.read()
    with open(args.expected, encoding="utf-8") as lines:
        expected = [json.loads(line) for line in lines if line.strip()]
    frames = list(wire.read_frames(data))
    if len(frames) != len(expected):
        print(f"send: {len(frames)} frames in {args.frames}, {len(expected)} lines in {args.expected}", file=sys.stderr)
        return 1

    failures = []
    with socket.create_connection(address(args.address), timeout=args.timeout) as connection:
        connection.sendall(data)
        buffer = bytearray()
        for index, value in enumerate(expected):
            ack, buffer = read_ack(connection, buffer)
            got = wire.message_to_json("ack", ack)
            print(json.dumps(got, ensure_ascii=False))
            if value["frame"] == "hello":
                want = {"sequence": "0", "status": STATUS_OK}
            else:
                want = {"sequence": value["sequence"], "status": STATUS_OK, "applied": len(value["events"]),
                        "rejected": 0}
            wrong = {key: got[key] for key in want if got[key] != want[key]}
            if wrong:
                failures.append(f"frame {index} ({value['frame']}): ack {got}, expected {want}")
    for failure in failures:
        print(f"send: {failure}", file=sys.stderr)
    if not failures:
        print(f"send: {len(expected)} frames from {args.frames} acknowledged OK by {args.address}", file=sys.stderr)
    return 1 if failures else 0


def event_line(event):
    kind = event["kind"]
    if kind is None:
        raise ValueError(f"an event without a kind cannot be replayed: {event}")
    line = {"type": kind, "time_unix_nano": int(event["time_unix_nano"])}
    for name, value in event.items():
        if name in ("kind", "time_unix_nano"):
            continue
        if name in ("input_tokens", "output_tokens"):
            value = int(value)
        elif name == "period":
            value = PERIODS[value]
        line[name] = value
    return line


def event_lines(args):
    count = 0
    with open(args.expected, encoding="utf-8") as lines, open(args.out, "w", encoding="utf-8") as out:
        for line in lines:
            value = json.loads(line)
            for event in value.get("events", []):
                out.write(json.dumps(event_line(event), ensure_ascii=False) + "\n")
                count += 1
    print(f"event-lines: {count} events written to {args.out}", file=sys.stderr)
    return 0


def get(web, path):
    url = f"http://{web}{urllib.parse.quote(path)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read().decode("utf-8"))


def state(args):
    agents = get(args.web_address, "/api/v1/agents")["agents"]
    result = {"agents": {}, "goals": get(args.web_address, "/api/v1/goals")["goals"]}
    for agent in agents:
        agent_id = agent["agent_id"]
        result["agents"][agent_id] = {
            "summary": get(args.web_address, f"/api/v1/agents/{agent_id}"),
            "cycles": get(args.web_address, f"/api/v1/agents/{agent_id}/cycles")["cycles"],
        }
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(result, out, ensure_ascii=False, indent=1, sort_keys=True)
    print(f"state: {len(result['agents'])} agents and {len(result['goals'])} goals from {args.web_address}",
          file=sys.stderr)
    return 0


def first_difference(left, right, path="$"):
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right)):
            if key not in left or key not in right:
                return f"{path}.{key}: only in {'the first' if key in left else 'the second'}"
            difference = first_difference(left[key], right[key], f"{path}.{key}")
            if difference:
                return difference
        return None
    if isinstance(left, list) and isinstance(right, list):
        if len(left) != len(right):
            return f"{path}: {len(left)} items against {len(right)}"
        for index, (one, other) in enumerate(zip(left, right)):
            difference = first_difference(one, other, f"{path}[{index}]")
            if difference:
                return difference
        return None
    return None if left == right and type(left) is type(right) else f"{path}: {left!r} against {right!r}"


def compare(args):
    with open(args.first, encoding="utf-8") as first, open(args.second, encoding="utf-8") as second:
        left, right = json.load(first), json.load(second)
    if not left["agents"] or not left["goals"]:
        print(f"compare: {args.first} holds no agents or no goals; nothing was applied", file=sys.stderr)
        return 1
    for name, count in (("agents", args.agents), ("goals", args.goals)):
        if count is not None and len(left[name]) != count:
            print(f"compare: {args.first} holds {len(left[name])} {name}, expected {count}", file=sys.stderr)
            return 1
    difference = first_difference(left, right)
    if difference:
        print(f"compare: {args.first} and {args.second} differ at {difference}", file=sys.stderr)
        return 1
    print(f"compare: the same {len(left['agents'])} agents and {len(left['goals'])} goals in both", file=sys.stderr)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("send")
    command.add_argument("--address", required=True)
    command.add_argument("--in", dest="frames", required=True)
    command.add_argument("--expected", required=True)
    command.add_argument("--timeout", type=float, default=10)
    command = commands.add_parser("event-lines")
    command.add_argument("--expected", required=True)
    command.add_argument("--out", required=True)
    command = commands.add_parser("state")
    command.add_argument("--web-address", required=True)
    command.add_argument("--out", required=True)
    command = commands.add_parser("compare")
    command.add_argument("first")
    command.add_argument("second")
    command.add_argument("--agents", type=int)
    command.add_argument("--goals", type=int)
    args = parser.parse_args(argv)
    return {"send": send, "event-lines": event_lines, "state": state, "compare": compare}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
