#!/usr/bin/env bash
# The Grafana dashboards against real data: starts the real exporter on 127.0.0.1, a real Prometheus scraping it
# every second with deploy/prometheus/rules/agentcost.yml loaded, replays a scenario that gives every panel something
# to show (goals with a budget, budgets of every period, a paused agent, an anomalous cycle, an open cycle, rejected
# events and a rejected frame, sent while Prometheus is scraping so that rates are not zero), then runs every panel's
# PromQL through the Prometheus HTTP API (scripts/check_dashboards.py). A query that errors or returns nothing fails.
# The exporter calls an orchestrator (scripts/webhook_receiver.py) that answers its first request 503, so the webhook
# panels show a failure, a retry and a delivery; it writes a snapshot every two logged batches, so the storage panels
# show snapshots as well as write-ahead log writes.
set -euo pipefail

bin_dir=$(realpath "${1:?usage: $0 BIN_DIR}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
fixtures="$here/fixtures/dashboards"
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

wait_for() {
    local what=$1 command=$2
    for _ in $(seq 1 150); do
        if eval "$command" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "--- gave up waiting for $what"; return 1
}

# The orchestrator the exporter calls on a pause; its first answer is a 503.
receiver_port=$(free_port)
python3 "$here/webhook_receiver.py" "$receiver_port" "$work/received.jsonl" 1 >"$work/receiver.log" 2>&1 &
pids+=($!)
wait_for "the webhook receiver" "grep -q listening '$work/receiver.log'"

# The exporter, with the fleet's goals and budgets.
ingest_port=$(free_port)
web_port=$(free_port)
"$bin_dir/agentcost-exporter" --ingest.listen-address="127.0.0.1:$ingest_port" \
    --web.listen-address="127.0.0.1:$web_port" --data.dir="$work/data" \
    --webhook.orchestrator-url="http://127.0.0.1:$receiver_port" --storage.snapshot-records=2 \
    >"$work/exporter.log" 2>&1 &
pids+=($!)
wait_for "the exporter" "grep -q 'msg=\"ingest listening\"' '$work/exporter.log'"
replay() {
    "$bin_dir/agentcostctl" replay "$fixtures/$1" --address "127.0.0.1:$ingest_port" >>"$work/replay.out"
}
replay setup.jsonl

# A real Prometheus with the rules, scraping and evaluating every second.
prometheus_port=$(free_port)
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $root/deploy/prometheus/rules/agentcost.yml
scrape_configs:
  - job_name: agentcost
    static_configs:
      - targets: ["127.0.0.1:$web_port"]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prometheus_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)
prometheus_url="http://127.0.0.1:$prometheus_port"

# How many series a PromQL query returns right now.
count() {
    curl -sf --data-urlencode "query=$1" "$prometheus_url/api/v1/query" |
        python3 -c 'import json, sys; print(len(json.load(sys.stdin)["data"]["result"]))'
}

# A frame that does not start with the magic: the exporter rejects it (bad_magic) and closes the connection.
send_bad_frame() {
    python3 - "$ingest_port" <<'PY'
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as s:
    s.sendall(b"NOPE" + bytes(28))
    s.settimeout(5)
    while s.recv(4096):
        pass
PY
}

prometheus_scrapes_with_the_rules() {
    wait_for "a successful scrape" "[ \"\$(count 'up{job=\"agentcost\"} == 1')\" = 1 ]" &&
        curl -sf "$prometheus_url/api/v1/rules" | python3 -c '
import json, sys
groups = {g["name"] for g in json.load(sys.stdin)["data"]["groups"]}
sys.exit(0 if {"agentcost.rules", "agentcost.alerts"} <= groups else 1)'
}

# Activity while Prometheus is scraping, twice, a few seconds apart, so that rates and increases are above zero.
activity_is_scraped() {
    replay activity.jsonl && send_bad_frame && sleep 3 && replay activity.jsonl && send_bad_frame &&
        wait_for "the second activity in Prometheus" \
            "[ \"\$(count 'agentcost_ingest_frames_total{result=\"rejected\"} == 2')\" = 1 ]" &&
        wait_for "the recording rules" "[ \"\$(count 'job:agentcost_spend_usd_per_hour:rate5m > 0')\" = 1 ]" &&
        wait_for "the paused alert" "[ \"\$(count 'ALERTS{alertname=\"AgentCostAgentPaused\",alertstate=\"firing\"}')\" = 1 ]"
}

# The pause call failed once and was retried: every webhook panel has a non-zero series to show.
webhooks_are_scraped() {
    wait_for "the pause call after a retry" "grep -q '/pause' '$work/received.jsonl'" &&
        wait_for "the webhook counters in Prometheus" \
            "[ \"\$(count 'agentcost_webhook_retries_total > 0 and on (target) agentcost_webhook_deliveries_total{result=\"delivered\"} > 0')\" = 1 ]"
}

# The batches went through the write-ahead log and snapshots were written: the storage panels have non-zero series.
storage_is_scraped() {
    wait_for "the storage counters in Prometheus" \
        "[ \"\$(count 'agentcost_storage_wal_records_total > 0 and on (instance) agentcost_storage_snapshots_total{result=\"written\"} > 0 and on (instance) agentcost_storage_last_snapshot_duration_seconds > 0 and on (instance) agentcost_storage_writable == 1')\" = 1 ]"
}

check "a real Prometheus scrapes the exporter with the agentcost rules loaded" prometheus_scrapes_with_the_rules
check "the scenario's activity reaches Prometheus and its rules" activity_is_scraped
check "the pause webhook is retried after a 503 and delivered, and Prometheus sees it" webhooks_are_scraped
check "batches are logged and snapshots written, and Prometheus sees it" storage_is_scraped

panels_ok=0
if python3 "$here/check_dashboards.py" "$prometheus_url" "$work/counts" "$root"/Grafana/dashboards/*.json; then
    panels_ok=1
fi
read -r panel_passes panel_failures <"$work/counts" || { panel_passes=0; panel_failures=1; }
[ "$panels_ok" = 1 ] || [ "$panel_failures" -gt 0 ] || panel_failures=1
passes=$((passes + panel_passes))
failures=$((failures + panel_failures))

echo "dashboards: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
