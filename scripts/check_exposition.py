"""Parses the exporter's /metrics with Python prometheus-client, in both formats, and checks the replayed values.

Usage: check_exposition.py TEXT_FILE OPENMETRICS_FILE. Exits non-zero naming the first mismatch.
"""

import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

WEIRD = 'we"ird\\agent\nné ✓'

EXPECTED = [
    ("agentcost_agent_spend_usd_total", {"agent": "agent-123"}, 3.75),
    ("agentcost_agent_budget_usd", {"agent": "agent-123", "period": "lifetime"}, 10.0),
    ("agentcost_agent_budget_used_ratio", {"agent": "agent-123"}, 0.375),
    ("agentcost_agent_paused", {"agent": "agent-123"}, 0.0),
    ("agentcost_agent_paused", {"agent": "over-budget"}, 1.0),
    ("agentcost_agent_period_spend_usd", {"agent": "over-budget", "period": "daily"}, 1.2),
    ("agentcost_agent_spend_usd_total", {"agent": WEIRD}, 0.000001),
    ("agentcost_goal_direct_spend_usd_total", {"goal": "feature-x"}, 2.25),
    ("agentcost_cycle_cost_usd_count", {}, 3.0),
]


def samples(families):
    found = {}
    for family in families:
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def check(name, found):
    for metric, labels, value in EXPECTED:
        key = (metric, tuple(sorted(labels.items())))
        if key not in found:
            sys.exit(f"{name}: no sample {metric}{labels}")
        if abs(found[key] - value) > 1e-12:
            sys.exit(f"{name}: {metric}{labels} is {found[key]}, expected {value}")
    print(f"{name}: {len(found)} samples parsed, {len(EXPECTED)} values as expected")


def main():
    text_path, openmetrics_path = sys.argv[1:3]
    with open(text_path, encoding="utf-8") as text:
        check("text 0.0.4", samples(parse_text(text.read())))
    with open(openmetrics_path, encoding="utf-8") as openmetrics:
        check("OpenMetrics 1.0", samples(parse_openmetrics(openmetrics.read())))


if __name__ == "__main__":
    main()
