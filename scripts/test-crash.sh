#!/usr/bin/env bash
# Crash test: an acknowledged batch is never lost and never counted twice. agentcostctl streams rounds of 2,400
# batches (retrying every unacknowledged one, with the same sequence, until it is acknowledged) while this script
# kills the exporter with SIGKILL at random moments, at least 20 times, and starts it again on the same data
# directory. Afterwards every agent's spend, calls and cycles must equal exactly one application of every batch.
set -euo pipefail

bin_dir=$(realpath "${1:?usage: $0 BIN_DIR [KILLS]}")
kills_wanted=${2:-20}
work=$(mktemp -d)
exporter_pid=""
replay_pid=""
cleanup() {
    { kill -9 $exporter_pid $replay_pid; wait; } 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
ingest_port=$(free_port)
web_port=$(free_port)
starts=0

start_exporter() {
    starts=$((starts + 1))
    # Small snapshot thresholds, so that kills also land during and after snapshots.
    "$bin_dir/agentcost-exporter" --ingest.listen-address="127.0.0.1:$ingest_port" \
        --web.listen-address="127.0.0.1:$web_port" --data.dir="$work/data" --storage.snapshot-records=150 \
        --storage.snapshot-interval=2s >>"$work/exporter.log" 2>&1 &
    exporter_pid=$!
}

wait_until_listening() {
    local before=$1
    for _ in $(seq 1 300); do
        [ "$(grep -c 'msg="ingest listening"' "$work/exporter.log")" -gt "$before" ] && return 0
        kill -0 "$exporter_pid" 2>/dev/null || { echo "--- the exporter died:"; tail -20 "$work/exporter.log"; return 1; }
        sleep 0.05
    done
    echo "--- the exporter never started listening:"; tail -20 "$work/exporter.log"; return 1
}

# The workload: rounds of 2,400 cycles (12,000 events), each replayed by its own producer, until the exporter has
# been killed often enough; a fast machine runs more rounds instead of fewer kills. write_round N writes round N's
# events, later in time than round N-1's; expected_state N writes what one application of rounds 1…N gives each agent.
write_round() {
    python3 - "$work" "$1" <<'PY'
import json, sys
work, round_number = sys.argv[1], int(sys.argv[2])
with open(f"{work}/events-{round_number}.jsonl", "w") as out:
    for cycle in range(2400):
        agent = f"crash-{cycle % 12}"
        time = 1796299200 + round_number * 10000 + cycle
        out.write(json.dumps({"type": "cycle_start", "agent_id": agent, "time": time}) + "\n")
        for call in range(3):
            cost = (cycle % 97 + call + 1) / 100000
            out.write(json.dumps({"type": "spend", "agent_id": agent, "cost_usd": cost, "time": time}) + "\n")
        out.write(json.dumps({"type": "cycle_end", "agent_id": agent, "time": time + 0.5}) + "\n")
PY
}

expected_state() {
    python3 - "$work" "$1" <<'PY'
import json, sys
from decimal import Decimal
work, rounds = sys.argv[1], int(sys.argv[2])
expected = {}
for _ in range(rounds):
    for cycle in range(2400):
        state = expected.setdefault(f"crash-{cycle % 12}", {"spend": Decimal(0), "calls": 0, "cycles": 0})
        for call in range(3):
            state["spend"] += Decimal(cycle % 97 + call + 1) / Decimal(100000)
            state["calls"] += 1
        state["cycles"] += 1
with open(f"{work}/expected.json", "w") as out:
    json.dump({agent: {"spend": str(s["spend"]), "calls": s["calls"], "cycles": s["cycles"]}
               for agent, s in expected.items()}, out)
PY
}

start_exporter
wait_until_listening 0

kills=0
rounds=0
replays_complete=true
while [ "$rounds" -eq 0 ] || [ "$kills" -lt "$kills_wanted" ]; do
    rounds=$((rounds + 1))
    write_round "$rounds"
    "$bin_dir/agentcostctl" replay "$work/events-$rounds.jsonl" --address "127.0.0.1:$ingest_port" \
        --producer "crash-test-$rounds" --batch-size 5 --deadline 120 >"$work/replay-$rounds.out" 2>&1 &
    replay_pid=$!

    while kill -0 "$replay_pid" 2>/dev/null; do
        sleep "0.$((RANDOM % 9 + 1))"
        kill -0 "$replay_pid" 2>/dev/null || break
        if [ "$kills" -lt "$kills_wanted" ]; then
            { kill -9 "$exporter_pid"; wait "$exporter_pid"; } 2>/dev/null || true
            kills=$((kills + 1))
            listening=$(grep -c 'msg="ingest listening"' "$work/exporter.log")
            start_exporter
            wait_until_listening "$listening"
        fi
    done

    replay_status=0
    wait "$replay_pid" || replay_status=$?
    replay_pid=""
    if [ "$replay_status" -ne 0 ] || ! grep -q '^total events=12000 .* rejected=0 ' "$work/replay-$rounds.out"; then
        echo "--- round $rounds: replay exit $replay_status"; tail -5 "$work/replay-$rounds.out"
        replays_complete=false
        break
    fi
done
expected_state "$rounds"

# A last SIGKILL and restart, so that the batches acknowledged since the previous restart are checked as recovered
# from disk, not as the live process holds them.
if [ -n "$exporter_pid" ]; then
    { kill -9 "$exporter_pid"; wait "$exporter_pid"; } 2>/dev/null || true
    kills=$((kills + 1))
    listening=$(grep -c 'msg="ingest listening"' "$work/exporter.log")
    start_exporter
    wait_until_listening "$listening"
fi
final_recovery=$(grep 'msg="state recovered"' "$work/exporter.log" | tail -1)
echo "final restart: ${final_recovery#*msg=\"state recovered\" }"

failures=0
passes=0
check() {
    if eval "$2"; then passes=$((passes + 1)); echo "ok   $1"; else failures=$((failures + 1)); echo "FAIL $1"; fi
}
check "the exporter was killed with SIGKILL $kills times (at least $kills_wanted) and restarted" \
    "[ $kills -ge $kills_wanted ]"
check "every batch of $rounds rounds was acknowledged in the end" "$replays_complete"
check "recovery replayed log records and loaded snapshots across the restarts" \
    "grep -q 'msg=\"snapshot written\"' '$work/exporter.log' && grep -q 'records_replayed=[1-9]' '$work/exporter.log'"
check "the state below was recovered from disk (snapshot or log) after a final SIGKILL" \
    "[ $starts -eq $((kills + 1)) ] && [[ '$final_recovery' =~ (agents=[1-9]|records_replayed=[1-9]) ]]"

state_is_exact() {
    python3 - "$work" "$web_port" <<'PY'
import json, sys, urllib.request
work, port = sys.argv[1], sys.argv[2]
expected = json.load(open(f"{work}/expected.json"))
problems = []
for agent, want in sorted(expected.items()):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/agents/{agent}") as reply:
        got = json.loads(reply.read(), parse_float=str, parse_int=str)
    spend = got["cumulative_spend"]
    from decimal import Decimal
    if Decimal(spend) != Decimal(want["spend"]):
        problems.append(f"{agent}: spend {spend}, expected {want['spend']}")
    if int(got["total_calls"]) != want["calls"] or int(got["total_cycles"]) != want["cycles"]:
        problems.append(f"{agent}: {got['total_calls']} calls / {got['total_cycles']} cycles, "
                        f"expected {want['calls']} / {want['cycles']}")
print("\n".join(problems) if problems else f"{len(expected)} agents exactly as one application of every batch")
sys.exit(1 if problems else 0)
PY
}
check "the state equals exactly one application of every acknowledged batch" state_is_exact

grep -E 'level=(error|warn)' "$work/exporter.log" | grep -v -E 'cut a damaged tail|RETRY_LATER' | head -5 || true
echo "crash test: $passes passed, $failures failed ($starts starts)"
[ "$failures" -eq 0 ]
