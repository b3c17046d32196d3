#!/usr/bin/env bash
# End to end alerting: the real exporter → a real Prometheus evaluating deploy/prometheus/rules/agentcost.yml every
# second → a real Alertmanager → a webhook receiver (scripts/webhook_receiver.py), all on 127.0.0.1. An agent that
# goes over its budget must reach the receiver as a firing AgentCostAgentPaused alert with its agent label within
# a bounded time; an agent within its budget must not.
set -euo pipefail

bin_dir=$(realpath "${1:?usage: $0 BIN_DIR}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
work=$(mktemp -d)
pids=()
stop_all() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap stop_all EXIT
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

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Polls every 0.2 s for up to $3 seconds (default 30).
wait_for() {
    local what=$1 command=$2 seconds=${3:-30}
    for _ in $(seq 1 $((seconds * 5))); do
        if eval "$command" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "--- gave up waiting $seconds s for $what"; return 1
}

alertmanager_bin=$(command -v prometheus-alertmanager || command -v alertmanager) ||
    { echo "neither prometheus-alertmanager nor alertmanager is installed (make deps installs it)"; exit 1; }

# The receiver.
receiver_port=$(free_port)
python3 "$here/webhook_receiver.py" "$receiver_port" "$work/received.jsonl" >"$work/receiver.log" 2>&1 &
pids+=($!)

# Alertmanager: everything to the receiver, no waiting to group.
alertmanager_port=$(free_port)
cat >"$work/alertmanager.yml" <<YAML
route:
  receiver: test-receiver
  group_by: [alertname, agent]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test-receiver
    webhook_configs:
      - url: http://127.0.0.1:$receiver_port/alerts
        send_resolved: false
YAML
"$alertmanager_bin" --config.file="$work/alertmanager.yml" --storage.path="$work/alertmanager" \
    --web.listen-address="127.0.0.1:$alertmanager_port" --cluster.listen-address= >"$work/alertmanager.log" 2>&1 &
pids+=($!)

# The exporter.
ingest_port=$(free_port)
web_port=$(free_port)
"$bin_dir/agentcost-exporter" --ingest.listen-address="127.0.0.1:$ingest_port" \
    --web.listen-address="127.0.0.1:$web_port" --data.dir="$work/data" >"$work/exporter.log" 2>&1 &
pids+=($!)

# Prometheus with the real rules (the paused alert has no `for`, so one evaluation is enough), sending to Alertmanager.
prometheus_port=$(free_port)
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $root/deploy/prometheus/rules/agentcost.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:$alertmanager_port"]
scrape_configs:
  - job_name: agentcost
    static_configs:
      - targets: ["127.0.0.1:$web_port"]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prometheus_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)

everything_starts() {
    wait_for "the receiver" "grep -q listening '$work/receiver.log'" &&
        wait_for "Alertmanager" "curl -sf http://127.0.0.1:$alertmanager_port/-/ready" &&
        wait_for "the exporter" "grep -q 'msg=\"ingest listening\"' '$work/exporter.log'" &&
        wait_for "Prometheus" "curl -sf http://127.0.0.1:$prometheus_port/-/ready"
}

# The alerts the receiver got, one "alertname agent status severity" line each.
received_alerts() {
    python3 - "$work/received.jsonl" <<'PY'
import json, sys
try:
    lines = open(sys.argv[1]).read().splitlines()
except FileNotFoundError:
    lines = []
for line in lines:
    for alert in json.loads(line)["body"]["alerts"]:
        labels = alert["labels"]
        print(labels.get("alertname"), labels.get("agent", "-"), alert["status"], labels.get("severity", "-"),
              "summary" if alert["annotations"].get("summary") else "no-summary")
PY
}

pause_reaches_the_receiver() {
    "$bin_dir/agentcostctl" replay "$here/fixtures/alertmanager/paused.jsonl" --address "127.0.0.1:$ingest_port" \
        >"$work/replay.out" && grep -q 'paused_agents=runaway-7' "$work/replay.out" || {
        echo "--- the replay did not pause runaway-7:"; cat "$work/replay.out"; return 1; }
    local started=$SECONDS
    wait_for "the receiver to get AgentCostAgentPaused for runaway-7" \
        "received_alerts | grep -qx 'AgentCostAgentPaused runaway-7 firing page summary'" 60 || {
        echo "--- received:"; received_alerts; tail -5 "$work/alertmanager.log"; return 1; }
    echo "     (delivered $((SECONDS - started)) s after the replay)"
}

only_the_paused_agent_is_alerted() {
    ! received_alerts | grep -q 'AgentCostAgentPaused steady-8'
}

check "the receiver, Alertmanager, the exporter and Prometheus start on loopback" everything_starts
check "a paused agent reaches the webhook receiver as a firing AgentCostAgentPaused alert within 60 s" \
    pause_reaches_the_receiver
check "an agent within its budget raises no paused alert" only_the_paused_agent_is_alerted

echo "alertmanager: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
