#!/usr/bin/env bash
# The real exporter binary starts with its embedded defaults, logs its effective configuration, and exits 0 on
# SIGTERM and on SIGINT; a bad flag makes it exit 2 with a message naming the flag.
set -euo pipefail

binary=$(realpath "${1:?usage: $0 PATH-TO-agentcost-exporter}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
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

check "exporter stops cleanly on SIGTERM" stops_cleanly_on TERM
check "exporter stops cleanly on SIGINT" stops_cleanly_on INT
check "a bad flag exits 2 and names the flag" bad_flag_is_named
check "--help lists the flags" help_lists_flags

echo "exporter lifecycle: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
