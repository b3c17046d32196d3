#!/usr/bin/env bash
# The real exporter binary starts with its embedded defaults, logs its effective configuration, and exits 0 on
# SIGTERM and on SIGINT; a bad flag makes it exit 2 with a message naming the flag. It raises its soft open-file
# limit to the hard one, and when it runs out of descriptors anyway it backs off instead of spinning.
set -euo pipefail

binary=$(realpath "${1:?usage: $0 PATH-TO-agentcost-exporter}")
work=$(mktemp -d)
exporter_pid=""
trap 'if [ -n "$exporter_pid" ]; then kill -9 "$exporter_pid" 2>/dev/null; fi; rm -rf "$work"' EXIT
failures=0
passes=0

check() {
    local name=$1; shift
    if "$@"; then
        passes=$((passes + 1)); echo "ok   $name"
    else
        failures=$((failures + 1)); echo "FAIL $name"
    fi
}

wait_for_line() {
    local file=$1 pattern=$2
    for _ in $(seq 1 100); do
        grep -q "$pattern" "$file" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "--- $file:"; cat "$file"; return 1
}

stops_cleanly_on() {
    local signal=$1 log="$work/exporter-$1.log"
    (cd "$work" && exec "$binary" >"$log" 2>&1) &
    local pid=$!
    wait_for_line "$log" 'msg="ingest listening"' || { kill -9 "$pid"; return 1; }
    grep -q 'flag=ingest.listen-address value=127.0.0.1:9471' "$log" || { echo "no effective setting logged"; return 1; }
    kill "-$signal" "$pid"
    local status=0
    wait "$pid" || status=$?
    [ "$status" -eq 0 ] || { echo "exit status $status after SIG$signal"; cat "$log"; return 1; }
    grep -q "msg=\"shutting down\" signal=SIG$signal" "$log"
}

bad_flag_is_named() {
    local status=0 output
    output=$("$binary" --tracker.rolling-window=zero 2>&1) || status=$?
    [ "$status" -eq 2 ] && [[ "$output" == *"--tracker.rolling-window=zero is not a whole number"* ]]
}

# The help text is read whole first: with pipefail, `grep -q` leaving early would make the writer's SIGPIPE the
# pipeline's status.
help_lists_flags() {
    local output
    output=$("$binary" --help) && [[ "$output" == *"--data.dir=data"* ]]
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts the exporter on free loopback ports with the open-file limits set by the given `ulimit` arguments; sets
# exporter_pid, ingest_port, web_port and log.
start_limited() {
    local name=$1; shift
    log="$work/$name.log" ingest_port=$(free_port) web_port=$(free_port)
    (ulimit "$@" && exec "$binary" --ingest.listen-address="127.0.0.1:$ingest_port" \
        --web.listen-address="127.0.0.1:$web_port" --data.dir="$work/$name-data" >"$log" 2>&1) &
    exporter_pid=$!
    wait_for_line "$log" 'msg="ingest listening"' || { kill -9 "$exporter_pid"; exporter_pid=""; return 1; }
}

stop_limited() {
    kill -TERM "$exporter_pid" && wait "$exporter_pid" || true
    exporter_pid=""
}

soft_file_limit_is_raised() {
    local hard
    hard=$(ulimit -Hn)
    [ "$hard" != unlimited ] || { echo "the hard open-file limit is unlimited; nothing to check"; return 0; }
    [ "$hard" -gt 256 ] || { echo "the hard open-file limit $hard is too low to check raising 256"; return 0; }
    start_limited raised -S -n 256 || return 1
    stop_limited
    grep -q "msg=\"open file limit\" soft=$hard hard=$hard" "$log" || { cat "$log"; return 1; }
}

# CPU time (user + system, in clock ticks) the process has used so far.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

out_of_descriptors_backs_off() {
    # 64 descriptors in all: the exporter needs some 15 of its own, so 80 connections exhaust them. While they are
    # held, accept fails with EMFILE on every try; the loops must rest between tries instead of spinning, and log
    # about once a second each.
    start_limited starved -n 64 || return 1
    grep -q 'msg="open file limit" soft=64 hard=64' "$log" &&
        grep -q 'level=warn .*msg="the open file limit is below' "$log" || { cat "$log"; stop_limited; return 1; }
    python3 - "$ingest_port" >"$work/hold.out" 2>&1 <<'PY' &
import socket, sys, time
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(80)]
time.sleep(3)
for connection in held:
    connection.close()
PY
    local holder=$! before after
    sleep 1
    before=$(cpu_ticks "$exporter_pid")
    sleep 1.5
    after=$(cpu_ticks "$exporter_pid")
    wait "$holder" || { cat "$work/hold.out"; stop_limited; return 1; }

    # Once the descriptors are back, every connection left in the backlog is accepted.
    local accepted=""
    for _ in $(seq 1 50); do
        accepted=$(curl -s "http://127.0.0.1:$web_port/metrics" | grep '^agentcost_ingest_connections_accepted_total ' |
            awk '{ print $2 }') || true
        [ "$accepted" = 80 ] && break
        sleep 0.1
    done
    local metrics lines
    metrics=$(curl -s "http://127.0.0.1:$web_port/metrics")
    stop_limited
    lines=$(grep -c 'msg="accept failed: out of file descriptors' "$log" || true)
    echo "cpu ticks in 1.5 s while starved: $((after - before)); warnings: $lines; accepted: $accepted"
    [ $((after - before)) -lt 50 ] || { echo "the exporter spun while out of descriptors"; return 1; }
    [ "$lines" -ge 1 ] && [ "$lines" -le 10 ] || { grep 'accept failed' "$log"; return 1; }
    grep -q 'suppressed=[1-9]' <(grep 'accept failed' "$log") || { grep 'accept failed' "$log"; return 1; }
    [ "$accepted" = 80 ] || { echo "accepted $accepted of 80 connections"; return 1; }
    grep -Eq '^agentcost_ingest_connections_closed_total\{reason="out_of_descriptors"\} [1-9]' <<<"$metrics" ||
        { echo "$metrics" | grep connections_closed; return 1; }
}

check "exporter stops cleanly on SIGTERM" stops_cleanly_on TERM
check "exporter stops cleanly on SIGINT" stops_cleanly_on INT
check "a bad flag exits 2 and names the flag" bad_flag_is_named
check "--help lists the flags" help_lists_flags
check "the soft open-file limit is raised to the hard one and logged" soft_file_limit_is_raised
check "out of file descriptors, accepting rests and logs once a second instead of spinning" out_of_descriptors_backs_off

echo "exporter lifecycle: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
