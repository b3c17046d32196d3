#!/usr/bin/env bash
# Real peers against the real exporter: promtool lints /metrics, Python prometheus-client parses both formats,
# gzip is negotiated, and a real Prometheus server scrapes the exporter every second so that PromQL returns the
# exact spend, budget and paused values of a replayed scenario (agent labels with quotes, backslashes, newlines
# and non-ASCII included). docs/metrics.md is checked against the same exporter: every family on /metrics is
# documented and every documented family is on /metrics (a webhook target is configured so that the webhook families
# are there too), each has an example query, and every example query runs in that Prometheus
# (scripts/check_metrics_doc.py). Everything listens on 127.0.0.1 and is stopped at the end.
set -euo pipefail

bin_dir=$(realpath "${1:?usage: $0 BIN_DIR PYTHON}")
python=${2:?usage: $0 BIN_DIR PYTHON (with prometheus-client installed)}
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

wait_for() {
    local what=$1 command=$2
    for _ in $(seq 1 150); do
        if eval "$command" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "--- gave up waiting for $what"; return 1
}

# The orchestrator the exporter calls on a pause.
receiver_port=$(free_port)
python3 "$here/webhook_receiver.py" "$receiver_port" "$work/received.jsonl" >"$work/receiver.log" 2>&1 &
pids+=($!)
wait_for "the webhook receiver" "grep -q listening '$work/receiver.log'"

# The exporter, with a replayed fleet.
ingest_port=$(free_port)
web_port=$(free_port)
"$bin_dir/agentcost-exporter" --ingest.listen-address="127.0.0.1:$ingest_port" \
    --web.listen-address="127.0.0.1:$web_port" --data.dir="$work/data" \
    --webhook.orchestrator-url="http://127.0.0.1:$receiver_port" >"$work/exporter.log" 2>&1 &
pids+=($!)
wait_for "the exporter" "grep -q 'msg=\"ingest listening\"' '$work/exporter.log'"
"$bin_dir/agentcostctl" replay "$here/fixtures/prometheus/fleet.jsonl" --address "127.0.0.1:$ingest_port" \
    >"$work/replay.out"
metrics="http://127.0.0.1:$web_port/metrics"

promtool_finds_nothing() {
    # Functions run by `check` are outside `set -e`: a failed or empty fetch must fail the check by itself.
    curl -sf "$metrics" >"$work/metrics.txt" || { echo "--- GET $metrics failed"; return 1; }
    grep -q '^# TYPE agentcost_agent_spend_usd_total counter$' "$work/metrics.txt" ||
        { echo "--- GET $metrics returned no agent spend family ($(wc -c <"$work/metrics.txt") bytes)"; return 1; }
    local problems
    problems=$(promtool check metrics <"$work/metrics.txt" 2>&1) || { echo "$problems"; return 1; }
    [ -z "$problems" ] || { echo "$problems"; return 1; }
}

python_parses_both_formats() {
    curl -sf -H 'Accept: application/openmetrics-text; version=1.0.0' "$metrics" >"$work/metrics.om"
    tail -c 6 "$work/metrics.om" | grep -q '# EOF' &&
        "$python" "$here/check_exposition.py" "$work/metrics.txt" "$work/metrics.om"
}

gzip_is_negotiated() {
    curl -sf -D "$work/gzip.headers" -H 'Accept-Encoding: gzip' -o "$work/metrics.gz" "$metrics" &&
        grep -qi '^content-encoding: gzip' "$work/gzip.headers" &&
        gunzip -c "$work/metrics.gz" >"$work/metrics.gunzipped" &&
        grep -q '^agentcost_agent_spend_usd_total{agent="agent-123"} 3.75$' "$work/metrics.gunzipped" &&
        curl -sf -D "$work/plain.headers" -H 'Accept-Encoding: gzip;q=0' -o /dev/null "$metrics" &&
        ! grep -qi '^content-encoding' "$work/plain.headers"
}

docs_match_the_families() {
    "$python" "$here/check_metrics_doc.py" "$root/docs/metrics.md" "$work/metrics.txt"
}

check "promtool check metrics finds nothing on a populated exporter" promtool_finds_nothing
check "docs/metrics.md documents exactly the families on /metrics, each with an example query" docs_match_the_families
check "Python prometheus-client parses text 0.0.4 and OpenMetrics 1.0 with the exact values" python_parses_both_formats
check "gzip is sent when Accept-Encoding allows it, and not when it refuses it" gzip_is_negotiated

# A real Prometheus scraping every second.
prometheus_port=$(free_port)
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: agentcost
    static_configs:
      - targets: ["127.0.0.1:$web_port"]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prometheus_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)
api="http://127.0.0.1:$prometheus_port/api/v1"

# The value of a PromQL query with one result, or "none".
query() {
    curl -sf --data-urlencode "query=$1" "$api/query" | python3 -c '
import json, sys
result = json.load(sys.stdin)["data"]["result"]
print(result[0]["value"][1] if len(result) == 1 else "none")'
}

expect_query() {
    local promql=$1 expected=$2 actual
    actual=$(query "$promql")
    [ "$actual" = "$expected" ] && return 0
    echo "--- $promql returned $actual, expected $expected"; return 1
}

prometheus_scrapes_the_exporter() {
    wait_for "a successful scrape" "[ \"\$(query 'up{job=\"agentcost\"}')\" = 1 ]" &&
        wait_for "the agent series" "[ \"\$(query 'agentcost_agent_spend_usd_total{agent=\"agent-123\"}')\" != none ]"
}

promql_returns_exact_values() {
    expect_query 'agentcost_agent_spend_usd_total{agent="agent-123"}' 3.75 &&
        expect_query 'agentcost_agent_budget_usd{agent="agent-123"}' 10 &&
        expect_query 'agentcost_agent_budget_used_ratio{agent="agent-123"}' 0.375 &&
        expect_query 'agentcost_agent_paused{agent="agent-123"}' 0 &&
        expect_query 'agentcost_agent_paused{agent="over-budget"}' 1 &&
        expect_query 'agentcost_agent_period_spend_usd{agent="over-budget",period="daily"}' 1.2 &&
        expect_query 'agentcost_goal_direct_spend_usd_total{goal="feature-x"}' 2.25 &&
        expect_query 'sum(agentcost_agent_cycles_total{agent="agent-123"})' 3
}

promql_matches_escaped_labels() {
    # The label value as Prometheus stored it after parsing the escaped exposition: quote, backslash, newline, é, ✓.
    expect_query 'agentcost_agent_spend_usd_total{agent="we\"ird\\agent\nné ✓"}' 0.000001
}

prometheus_saw_no_scrape_errors() {
    local scraped
    scraped=$(query 'scrape_samples_scraped{job="agentcost"}')
    [ "$scraped" != none ] && [ "$scraped" -gt 80 ] || { echo "--- samples scraped: $scraped"; return 1; }
    ! grep -E 'level=(warn|error)' "$work/prometheus.log" | grep -i scrape
}

check "a real Prometheus scrapes the exporter every second" prometheus_scrapes_the_exporter
check "PromQL returns the exact spend, budget and paused values" promql_returns_exact_values
check "PromQL matches agent labels with quotes, backslashes, newlines and non-ASCII" promql_matches_escaped_labels
docs_examples_run() {
    "$python" "$here/check_metrics_doc.py" "$root/docs/metrics.md" "$work/metrics.txt" \
        "http://127.0.0.1:$prometheus_port"
}

check "Prometheus logged no scrape warnings for the exporter" prometheus_saw_no_scrape_errors
check "every example query of docs/metrics.md runs in Prometheus" docs_examples_run

echo "prometheus: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
