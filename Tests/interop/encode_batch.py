#!/usr/bin/env python3
"""Encodes agentcost frames with Python's protobuf and zlib, and writes what each frame means as JSON lines.

    encode_batch.py --out FRAMES --expected EXPECTED.jsonl [--scenario codec|valid] [--producer-id ID]
                    [--first-sequence N] [--token TOKEN] [--time-unix-nano T]

FRAMES gets the frames back to back, exactly as a client writes them to the connection. EXPECTED gets one JSON
object per frame, in the same order: {"frame": "hello"|"batch"|"ack", "compressed": bool, ...the message's fields}
(see agentcost_wire.py for the encoding of values).

Scenarios:
  codec  every event kind and field at ordinary and extreme values (unicode, 64-bit limits, NaN, infinities,
         subnormals, -0.0, unknown enum numbers, an event without a kind), compressed and plain, plus hellos and
         acks. For codec-level tests: a server would reject some of these events.
  valid  a hello (with --token) and batches a server accepts and applies, for end-to-end tests against a live
         server; sequences start at --first-sequence, event times at --time-unix-nano (default: in November 2023;
         give a recent time when the server's budget periods must not roll over after the events).
"""

import argparse
import json
import math
import sys

import agentcost_wire as wire

TIME = 1_700_000_000_000_000_000
INT64_MIN, INT64_MAX, UINT64_MAX, UINT32_MAX = -(2**63), 2**63 - 1, 2**64 - 1, 2**32 - 1
UNICODE = [
    "planner-ü", "代理-7", "🤖 agent 🚀", "وكيل", "e\u0301 combining", "\u200bzero-width", "Ωmega\U0001F600",
]


def event(time, kind=None, **fields):
    value = {"time_unix_nano": str(time), "kind": kind}
    defaults = {
        "cycle_start": {"agent_id": ""},
        "spend": {"agent_id": "", "cost_usd": 0.0, "goal_id": "", "model": "", "input_tokens": "0",
                  "output_tokens": "0"},
        "cycle_end": {"agent_id": ""},
        "set_budget": {"agent_id": "", "budget_usd": 0.0, "period": 0, "warning_ratio": 0.0, "clear": False},
        "resume": {"agent_id": "", "force": False},
        "create_goal": {"goal_id": "", "name": "", "budget_usd": 0.0, "parent_id": ""},
    }.get(kind, {})
    unknown = set(fields) - set(defaults)
    if unknown:
        raise ValueError(f"{kind} has no fields {sorted(unknown)}")
    value.update(defaults)
    for name, field in fields.items():
        value[name] = str(field) if name in ("input_tokens", "output_tokens") else field
    return value


def batch(producer_id, sequence, events, compressed=True, level=6):
    return {"frame": "batch", "compressed": compressed, "level": level, "producer_id": producer_id,
            "sequence": str(sequence), "events": events}


def hello(token, producer_id, client_version, compressed=False):
    return {"frame": "hello", "compressed": compressed, "token": token, "producer_id": producer_id,
            "client_version": client_version}


def ack(sequence, status, applied=0, rejected=0, rejections=(), paused_agents=(), message="", compressed=False):
    return {"frame": "ack", "compressed": compressed, "sequence": str(sequence), "status": status,
            "applied": applied, "rejected": rejected,
            "rejections": [{"index": index, "reason": reason} for index, reason in rejections],
            "paused_agents": list(paused_agents), "message": message}


def every_kind(time, agent, goal):
    return [
        event(time + 1, "cycle_start", agent_id=agent),
        event(time + 2, "spend", agent_id=agent, cost_usd=0.0125, goal_id=goal, model="gpt-4o", input_tokens=1200,
              output_tokens=340),
        event(time + 3, "cycle_end", agent_id=agent),
        event(time + 4, "set_budget", agent_id=agent, budget_usd=25.0, period=2, warning_ratio=0.9),
        event(time + 5, "resume", agent_id=agent, force=True),
        event(time + 6, "create_goal", goal_id=goal, name="Q3 launch", budget_usd=500.0, parent_id="2026"),
    ]


def codec_scenario(producer_id, first_sequence, token):
    frames = [
        hello(token or "s3cret-🔑", producer_id, "agentcost-python-interop/1.0 (protobuf)"),
        hello("", "", ""),  # every field at its default: an empty payload
        hello("tøken", "fleet-ß", "py/∞", compressed=True),
        batch(producer_id, first_sequence, every_kind(TIME, "planner-1", "q3-launch")),
        batch(producer_id, first_sequence + 1, every_kind(TIME, "planner-1", "q3-launch"), compressed=False),
    ]

    # Extreme numbers, each in the field that carries it.
    doubles = [0.1, 1e-9, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -0.0, -1.5, math.nan, math.inf,
               -math.inf, 123456789.123456789, 0.30000000000000004]
    extremes = []
    for index, value in enumerate(doubles):
        json_value = wire.double_to_json(value)
        extremes.append(event(INT64_MIN + index, "spend", agent_id=f"a{index}", cost_usd=json_value,
                              input_tokens=UINT64_MAX - index, output_tokens=index))
        extremes.append(event(INT64_MAX - index, "set_budget", agent_id=f"a{index}", budget_usd=json_value,
                              period=index % 4, warning_ratio=json_value, clear=index % 2 == 1))
        extremes.append(event(-index, "create_goal", goal_id=f"g{index}", budget_usd=json_value))
    extremes += [
        event(0, "set_budget", agent_id="future-period", budget_usd=1.0, period=7),
        event(0, "set_budget", agent_id="negative-period", budget_usd=1.0, period=-1),
        event(0, "spend", agent_id="", cost_usd=-0.01),  # invalid for a server, fine for the codec
        event(1, "resume", agent_id="x", force=False),
    ]
    frames.append(batch(producer_id, UINT64_MAX, extremes))
    frames.append(batch(producer_id, first_sequence + 2, extremes, compressed=False))

    # Unicode and long strings everywhere a string goes.
    strings = []
    for index, text in enumerate(UNICODE + ["x" * 5000, "é" * 3000 + "🚀" * 1000]):
        strings += [
            event(TIME + index, "cycle_start", agent_id=text),
            event(TIME + index, "spend", agent_id=text, cost_usd=1.0, goal_id=text[::-1], model=text + "-model"),
            event(TIME + index, "cycle_end", agent_id=text),
            event(TIME + index, "set_budget", agent_id=text, budget_usd=2.0, period=1),
            event(TIME + index, "resume", agent_id=text),
            event(TIME + index, "create_goal", goal_id=text, name=text * 2, parent_id=text[:1]),
        ]
    frames.append(batch("producer-ü-🤖", first_sequence + 3, strings))

    # Zero and default values, an event without a kind, an empty batch, other compression levels.
    frames.append(batch(producer_id, first_sequence + 4, [
        event(0, "spend"), event(0, "set_budget"), event(0, "create_goal"), event(0, None), event(5, None),
        event(0, "cycle_start", agent_id="after-kindless"),
    ]))
    frames.append(batch("", 0, [], compressed=True))
    frames.append(batch("", 0, [], compressed=False))
    frames.append(batch(producer_id, first_sequence + 5, every_kind(TIME, "lvl-9", "g"), level=9))
    frames.append(batch(producer_id, first_sequence + 6, every_kind(TIME, "lvl-0", "g"), level=0))

    # A realistic batch: 1,000 spend events over 50 agents.
    spends = [event(TIME + index, "spend", agent_id=f"agent-{index % 50}", cost_usd=(index % 100) / 1000,
                    goal_id=f"goal-{index % 5}", model="gpt-4o-mini", input_tokens=100 + index,
                    output_tokens=20 + index % 7) for index in range(1000)]
    frames.append(batch(producer_id, first_sequence + 7, spends))

    # Acks, as a server sends them, and with values at their limits.
    frames += [
        ack(first_sequence, 0, applied=5, rejected=1, rejections=[(2, "negative_cost")], paused_agents=["coder-7"]),
        ack(0, 1, message="bad token: 🔑 rejected"),
        ack(UINT64_MAX, 2, applied=UINT32_MAX, rejected=UINT32_MAX,
            rejections=[(UINT32_MAX, "empty_agent_id"), (0, "ünïcödé"), (7, "")],
            paused_agents=UNICODE, message="retry later", compressed=True),
        ack(3, 9, message="a status from the future"),
        ack(0, 0),
    ]
    return frames


def valid_scenario(producer_id, first_sequence, token, start=TIME):
    goal = f"{producer_id}-goal"
    frames = [hello(token, producer_id, "agentcost-python-interop/1.0")]
    frames.append(batch(producer_id, first_sequence, [
        event(start, "create_goal", goal_id=goal, name="Interop goal ✓", budget_usd=100.0),
        event(start + 1, "set_budget", agent_id="py-planner-🤖", budget_usd=10.0, period=0, warning_ratio=0.5),
        event(start + 2, "cycle_start", agent_id="py-planner-🤖"),
        event(start + 3, "spend", agent_id="py-planner-🤖", cost_usd=0.0125, goal_id=goal, model="gpt-4o",
              input_tokens=1200, output_tokens=340),
        event(start + 4, "cycle_end", agent_id="py-planner-🤖"),
    ]))
    frames.append(batch(producer_id, first_sequence + 1, [
        event(start + 10 + index, "spend", agent_id=f"py-agent-{index % 7}", cost_usd=0.001 * (index % 9),
              model="gpt-4o-mini", input_tokens=index, output_tokens=index // 2) for index in range(200)
    ], compressed=False))
    frames.append(batch(producer_id, first_sequence + 2, [
        event(start + 300, "set_budget", agent_id="py-planner-🤖", budget_usd=0.01, period=1),
        event(start + 301, "spend", agent_id="py-planner-🤖", cost_usd=0.5),
        event(start + 302, "resume", agent_id="py-planner-🤖", force=True),
    ]))
    return frames


def encode(value):
    """The frame bytes for one expected value."""
    message = wire.message_from_json(value["frame"], value)
    # Check that the value survives protobuf itself, so a mismatch found later is not the test's own mistake.
    reparsed = wire.message_to_json(value["frame"], wire.parse_message(value["frame"], message.SerializeToString()))
    keys = {key: value[key] for key in reparsed}
    if not wire.same_json(keys, reparsed):
        raise AssertionError(f"Python protobuf does not round-trip {keys} (got {reparsed})")
    return wire.make_frame(value["frame"], message.SerializeToString(), value["compressed"], value.get("level", 6))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="file to write the frames to")
    parser.add_argument("--expected", required=True, help="file to write one JSON line per frame to")
    parser.add_argument("--scenario", choices=("codec", "valid"), default="codec")
    parser.add_argument("--producer-id", default="python-interop")
    parser.add_argument("--first-sequence", type=int, default=1)
    parser.add_argument("--token", default="")
    parser.add_argument("--time-unix-nano", type=int, default=TIME, help="the first event's time (valid scenario)")
    args = parser.parse_args(argv)

    if args.scenario == "codec":
        values = codec_scenario(args.producer_id, args.first_sequence, args.token)
    else:
        values = valid_scenario(args.producer_id, args.first_sequence, args.token, args.time_unix_nano)
    with open(args.out, "wb") as frames, open(args.expected, "w", encoding="utf-8") as expected:
        for value in values:
            frames.write(encode(value))
            expected.write(json.dumps(value, ensure_ascii=False) + "\n")
    print(f"wrote {len(values)} frames to {args.out} and their values to {args.expected}", file=sys.stderr)


if __name__ == "__main__":
    main()
