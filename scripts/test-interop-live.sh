#!/usr/bin/env bash
# Live interop: frames encoded by Python's protobuf and zlib (Tests/interop/encode_batch.py, valid scenario) are sent
# over TCP to a running exporter and must all be acknowledged OK; the same events replayed through the Swift client
# (agentcostctl replay) into a second, fresh exporter must leave the same state, read through the HTTP API (every
# agent's summary and cycles, every goal).
set -euo pipefail

bin_dir=$(realpath "${1:?usage: $0 BIN_DIR PYTHON (BIN_DIR holds agentcost-exporter and agentcostctl)}")
python=${2:?usage: $0 BIN_DIR PYTHON (a Python with protobuf and grpcio-tools, e.g. .build/venv/bin/python)}
interop=$(cd "$(dirname "$0")/../Tests/interop" && pwd)
work=$(mktemp -d)
pids=()
trap 'for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done; rm -rf "$work"' EXIT
export AGENTCOST_PB_DIR="$work/pb"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts an exporter named NAME on free loopback ports; sets NAME_pid, NAME_ingest and NAME_web.
start_exporter() {
    local name=$1 log="$work/$1.log"
    for _ in 1 2 3 4 5; do
        local ingest web pid
        ingest=$(free_port) web=$(free_port)
        "$bin_dir/agentcost-exporter" --ingest.listen-address="127.0.0.1:$ingest" \
            --web.listen-address="127.0.0.1:$web" --data.dir="$work/$name-data" >"$log" 2>&1 &
        pid=$!
        for _ in $(seq 1 100); do
            if grep -qs 'msg="ingest listening"' "$log"; then
                pids+=("$pid")
                printf -v "${name}_pid" %s "$pid"
                printf -v "${name}_ingest" %s "$ingest"
                printf -v "${name}_web" %s "$web"
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "--- exporter $name never logged 'ingest listening':"; cat "$log"; return 1
}

stop_exporter() {
    local name=$1 pid status=0
    pid=${name}_pid
    kill -TERM "${!pid}"
    wait "${!pid}" || status=$?
    [ "$status" -eq 0 ] || { echo "exporter $name exited $status after SIGTERM"; cat "$work/$name.log"; return 1; }
}

# Event times are now, so that the exporters' budget clock (which moves periods to the wall clock every 10 s) does
# not roll the daily budget over between the events and the reads; close to midnight UTC, wait for the new day.
start=$("$python" - <<'PY'
import time
now = time.time()
to_midnight = 86400 - now % 86400
if to_midnight < 120:
    time.sleep(to_midnight + 1)
print(time.time_ns())
PY
)
"$python" "$interop/encode_batch.py" --scenario valid --producer-id python-live --time-unix-nano "$start" \
    --out "$work/frames.bin" --expected "$work/expected.jsonl"
"$python" "$interop/live_exchange.py" event-lines --expected "$work/expected.jsonl" --out "$work/events.jsonl"

start_exporter python
start_exporter swift

echo "--- Python frames over TCP to 127.0.0.1:$python_ingest"
"$python" "$interop/live_exchange.py" send --address "127.0.0.1:$python_ingest" --in "$work/frames.bin" \
    --expected "$work/expected.jsonl"

echo "--- the same events through agentcostctl replay to 127.0.0.1:$swift_ingest"
"$bin_dir/agentcostctl" replay "$work/events.jsonl" --address "127.0.0.1:$swift_ingest" --producer swift-live \
    >"$work/replay.out" 2>&1 || { cat "$work/replay.out"; exit 1; }
grep -E '^total events=208 batches=1 applied=208 rejected=0 rejected_batches=0 ' "$work/replay.out" ||
    { cat "$work/replay.out"; exit 1; }

echo "--- the state both exporters hold"
"$python" "$interop/live_exchange.py" state --web-address "127.0.0.1:$python_web" --out "$work/python-state.json"
"$python" "$interop/live_exchange.py" state --web-address "127.0.0.1:$swift_web" --out "$work/swift-state.json"
"$python" "$interop/live_exchange.py" compare "$work/python-state.json" "$work/swift-state.json" --agents 8 --goals 1

stop_exporter python
stop_exporter swift
echo "live interop: Python's frames were acknowledged and left the same state as the Swift client's"
