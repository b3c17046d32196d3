#!/usr/bin/env bash
# End to end: starts the real agentcost-exporter on 127.0.0.1, replays the seed's scenarios (scripts/fixtures/
# end-to-end/*.jsonl) through the real agentcostctl, and checks the acks: applied counts, paused agents,
# rejections with their reason codes, exactly-once on a second replay, the ingest token, and gen + blast; then
# reads and steers the resulting state through agentcostctl's operator subcommands over the HTTP API.
set -euo pipefail

bin_dir=$(realpath "${1:?usage: $0 BIN_DIR (holding agentcost-exporter and agentcostctl)}")
exporter="$bin_dir/agentcost-exporter"
ctl="$bin_dir/agentcostctl"
fixtures=$(cd "$(dirname "$0")/fixtures/end-to-end" && pwd)
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

# A port nobody listens on now (the kernel's choice); start_exporter retries should another process take it first.
free_port() {
    if command -v python3 >/dev/null; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    else
        echo $((20000 + RANDOM % 40000))
    fi
}

# Starts the exporter with the given extra flags; sets exporter_pid, port (ingest) and log.
start_exporter() {
    local name=$1; shift
    log="$work/$name.log"
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        web_port=$(free_port)
        "$exporter" --ingest.listen-address="127.0.0.1:$port" --web.listen-address="127.0.0.1:$web_port" \
            --data.dir="$work/$name-data" --log.level=info "$@" >"$log" 2>&1 &
        exporter_pid=$!
        for _ in $(seq 1 100); do
            if grep -qs 'msg="ingest listening"' "$log"; then return 0; fi
            kill -0 "$exporter_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$exporter_pid" 2>/dev/null || true
        wait "$exporter_pid" 2>/dev/null || true
        exporter_pid=""
    done
    echo "--- the exporter never logged 'ingest listening':"; cat "$log"; return 1
}

# Stops the exporter with SIGTERM; fails unless it exits 0.
stop_exporter() {
    local status=0
    kill -TERM "$exporter_pid"
    wait "$exporter_pid" || status=$?
    exporter_pid=""
    [ "$status" -eq 0 ] || { echo "exporter exited $status after SIGTERM"; cat "$log"; return 1; }
    grep -q 'msg=stopped' "$log" || grep -q 'msg="stopped"' "$log"
}

# Replays a fixture; its stdout and stderr go to $work/NAME.out (NAME is the second argument).
replay() {
    local fixture=$1 name=$2; shift 2
    "$ctl" replay "$fixtures/$fixture" --address "127.0.0.1:$port" --deadline 3 "$@" >"$work/$name.out" 2>&1
}

# Whether the output of replay NAME has a line matching the extended regular expression; prints it when not.
has() {
    local name=$1 pattern=$2
    grep -Eq -- "$pattern" "$work/$name.out" && return 0
    echo "--- no line matching '$pattern' in $name:"; cat "$work/$name.out"; return 1
}

hasnt() {
    local name=$1 pattern=$2
    grep -Eq -- "$pattern" "$work/$name.out" || return 0
    echo "--- a line matches '$pattern' in $name:"; cat "$work/$name.out"; return 1
}

basic_cycle_is_applied() {
    replay basic-cycle.jsonl basic &&
        has basic '^ack sequence=1 status=ok applied=4 rejected=0 paused_agents=$' &&
        has basic '^total events=4 batches=1 applied=4 rejected=0 '
}

anomalous_cycle_is_applied() {
    replay anomaly.jsonl anomaly &&
        has anomaly '^total events=18 batches=1 applied=18 rejected=0 rejected_batches=0 paused_agents=$' &&
        hasnt anomaly 'rejection'
}

over_budget_agent_is_paused() {
    # One event a batch, so each ack shows the agent's state after that event. The budget is checked on every
    # spend: $0.90 of $1.00 after the third cycle (its end is batch 10), and the fourth cycle's spend (batch 12)
    # reaches $1.20 and pauses the agent in the middle of its cycle.
    replay budget.jsonl budget --batch-size 1 &&
        has budget '^ack sequence=10 status=ok applied=1 rejected=0 paused_agents=$' &&
        has budget '^ack sequence=11 status=ok applied=1 rejected=0 paused_agents=$' &&
        has budget '^ack sequence=12 status=ok applied=1 rejected=0 paused_agents=e2e-budget$' &&
        has budget '^ack sequence=13 status=ok applied=1 rejected=0 paused_agents=e2e-budget$' &&
        has budget '^total events=13 batches=13 applied=13 rejected=0 rejected_batches=0 paused_agents=e2e-budget$'
}

resume_after_raising_the_budget() {
    # Still at $1.20 of $1.00: the first resume is refused; after the budget is raised to $5.00 it is applied.
    replay resume.jsonl resume --batch-size 1 &&
        has resume '^ack sequence=1 status=ok applied=0 rejected=1 paused_agents=e2e-budget$' &&
        has resume '^  rejection index=0 reason=resume_refused: ' &&
        has resume '^ack sequence=3 status=ok applied=1 rejected=0 paused_agents=$' &&
        has resume '^ack sequence=5 status=ok applied=1 rejected=0 paused_agents=$' &&
        has resume '^total events=6 batches=6 applied=5 rejected=1 rejected_batches=0 paused_agents=$'
}

bad_events_are_rejected_with_reasons() {
    replay bad-events.jsonl bad &&
        has bad '^ack sequence=1 status=ok applied=1 rejected=3 ' &&
        has bad '^  rejection index=0 reason=negative_cost: ' &&
        has bad '^  rejection index=1 reason=empty_agent_id: ' &&
        has bad '^  rejection index=2 reason=no_open_cycle: '
}

second_replay_applies_nothing() {
    local producer="e2e-exactly-once-$$"
    replay anomaly.jsonl once-first --producer "$producer" --first-sequence 7 --batch-size 5 &&
        has once-first '^total events=18 batches=4 applied=18 rejected=0 ' &&
        replay anomaly.jsonl once-second --producer "$producer" --first-sequence 7 --batch-size 5 &&
        has once-second '^ack sequence=10 status=ok applied=0 rejected=0 .*already applied' &&
        has once-second '^total events=18 batches=4 applied=0 rejected=0 '
}

gen_and_blast_apply_every_event() {
    "$ctl" gen --out "$work/load.frames" --frames 20 --events-per-frame 500 --agents 50 >"$work/gen.out" 2>&1 &&
        has gen '^wrote 20 frames, 10000 events' &&
        "$ctl" blast "$work/load.frames" --address "127.0.0.1:$port" >"$work/blast.out" 2>&1 &&
        has blast '^acks=20 of 20 frames, events=10000 applied=10000 rejected=0 not_ok_batches=0 ' &&
        has blast '^events/s=[0-9.]+ frames/s=[0-9.]+$'
}

# Runs an operator subcommand against the exporter's web address; output to $work/NAME.out.
operate() {
    local name=$1; shift
    "$ctl" "$@" --web-address "127.0.0.1:$web_port" >"$work/$name.out" 2>&1
}

# The state the anomaly and budget scenarios left, read back over HTTP (before (d) resumes the budget agent).
operator_reads_the_anomalous_cycle() {
    local reason='Cycle cost \$0.50 is 5.0x the rolling average \$0.10'
    operate anomaly-cycles cycles e2e-anomaly --limit 2 &&
        has anomaly-cycles "^e2e-anomaly/6 +2026-12-03T20:05:00.000Z +0.5 +1 +0 +anomaly +$reason *\$" &&
        has anomaly-cycles '^e2e-anomaly/5 +2026-12-03T20:04:00.000Z +0.1 +1 +0 +completed +- *$' &&
        operate anomaly-agent agent e2e-anomaly &&
        has anomaly-agent '^anomaly_count: 1$' && has anomaly-agent '^total_cycles: 6$' &&
        has anomaly-agent '^cumulative_spend: 1$' && has anomaly-agent '^paused: false$'
}

operator_reads_the_paused_budget_agent() {
    operate budget-agent agent e2e-budget &&
        has budget-agent '^paused: true$' && has budget-agent '^pause_count: 1$' &&
        has budget-agent '^cumulative_spend: 1.2$' && has budget-agent '^period_spend: 1.2$' &&
        has budget-agent '^budget: 1$' && has budget-agent '^budget_used_pct: 120$' &&
        has budget-agent '^total_cycles: 4$' &&
        operate budget-paused agents --paused && has budget-paused '^e2e-budget +1.2 +1 +120 +lifetime +true *$'
}

operator_reads_the_seed_cycle() {
    operate summary agent e2e-basic &&
        has summary '^cumulative_spend: 0.08$' && has summary '^total_calls: 2$' && has summary '^paused: false$' &&
        operate cycles cycles e2e-basic --limit 5 &&
        has cycles '^e2e-basic/1 +2026-12-03T19:30:00.000Z +0.08 +2 +30 +completed'
}

operator_pauses_refuses_and_forces() {
    local status=0
    operate lower set-budget e2e-basic 0.05 && has lower '^paused: true$' &&
        operate paused agents --paused && has paused '^e2e-basic ' &&
        { operate refused resume e2e-basic || status=$?; [ "$status" -eq 1 ]; } &&
        has refused 'answered 409: agent e2e-basic has spent \$0.08 of its lifetime budget of \$0.05' &&
        operate forced resume e2e-basic --force && has forced '^paused: false$' && has forced '^budget_overridden: true$'
}

operator_creates_goals() {
    operate goal-root create-goal e2e-launch --name Launch --budget 50 && has goal-root '^budget: 50$' &&
        operate goal-list goals && has goal-list '^e2e-launch +Launch '
}

exporter_stops_on_sigterm() {
    stop_exporter
}

without_token_replay_fails_clearly() {
    local status=0
    replay basic-cycle.jsonl no-token || status=$?
    [ "$status" -eq 1 ] || { echo "agentcostctl exited $status"; cat "$work/no-token.out"; return 1; }
    has no-token "replay to 127.0.0.1:$port failed: .*(token|hello)"
}

with_wrong_token_replay_fails_clearly() {
    local status=0
    echo "not-the-token" >"$work/wrong-token"
    replay basic-cycle.jsonl wrong-token --token-file "$work/wrong-token" || status=$?
    [ "$status" -eq 1 ] || { echo "agentcostctl exited $status"; cat "$work/wrong-token.out"; return 1; }
    has wrong-token "refused the hello .*check the token"
}

with_token_replay_succeeds() {
    replay basic-cycle.jsonl token --token-file "$work/token" &&
        has token '^total events=4 batches=1 applied=4 rejected=0 '
}

start_exporter open
check "(a) a cycle of 0.05 + 0.03 is applied: 4 events" basic_cycle_is_applied
check "(b) five cycles near \$0.10 and one of \$0.50 are applied" anomalous_cycle_is_applied
check "(c) over a \$1.00 budget, a later ack lists the agent as paused" over_budget_agent_is_paused
check "(b) agentcostctl cycles: the last cycle is an anomaly with the reason text" operator_reads_the_anomalous_cycle
check "(c) agentcostctl agent: the budget agent is paused at \$1.20 of \$1.00" operator_reads_the_paused_budget_agent
check "(d) resume is refused over budget and applied after raising it" resume_after_raising_the_budget
check "(e) bad events are rejected with their reason codes" bad_events_are_rejected_with_reasons
check "(f) the same file replayed twice by one producer applies 0 the second time" second_replay_applies_nothing
check "(h) gen + blast: the acks count every event of the file as applied" gen_and_blast_apply_every_event
check "agentcostctl agent/cycles read the seed's cycle over HTTP" operator_reads_the_seed_cycle
check "agentcostctl set-budget pauses, resume is refused, resume --force works" operator_pauses_refuses_and_forces
check "agentcostctl create-goal and goals" operator_creates_goals
check "the exporter exits 0 on SIGTERM" exporter_stops_on_sigterm

echo "e2e-secret-token" >"$work/token"
start_exporter token --ingest.token-file="$work/token"
check "(g) with a token file, replay without the token fails clearly" without_token_replay_fails_clearly
check "(g) with a token file, replay with a wrong token fails clearly" with_wrong_token_replay_fails_clearly
check "(g) with a token file, replay with the token succeeds" with_token_replay_succeeds
check "the exporter with a token file exits 0 on SIGTERM" exporter_stops_on_sigterm

echo "end to end: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
