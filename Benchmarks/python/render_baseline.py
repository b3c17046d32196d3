"""The baseline for the /metrics render benchmark: Python prometheus-client rendering the same series.

Builds the exporter's per-agent families for N agents with prometheus_client's metric families (a custom
collector, the fastest way that library offers to expose many label values) and times generate_latest().
Prints "<series> <seconds>" (best of three) for agentcost-bench to compare against.
"""

import argparse
import time

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


class FleetCollector:
    def __init__(self, agents):
        self.agents = agents

    def collect(self):
        ids = [f"agent-{i}" for i in range(self.agents)]
        families = [
            (CounterMetricFamily, "agentcost_agent_spend_usd", ["agent"], lambda i: 0.08 + i * 1e-6),
            (GaugeMetricFamily, "agentcost_agent_period_spend_usd", ["agent", "period"], lambda i: 0.08),
            (CounterMetricFamily, "agentcost_agent_out_of_cycle_spend_usd", ["agent"], lambda i: 0.0),
            (CounterMetricFamily, "agentcost_agent_paused_spend_usd", ["agent"], lambda i: 0.0),
            (GaugeMetricFamily, "agentcost_agent_budget_usd", ["agent", "period"], lambda i: 10.0),
            (GaugeMetricFamily, "agentcost_agent_budget_used_ratio", ["agent"], lambda i: 0.008),
            (GaugeMetricFamily, "agentcost_agent_paused", ["agent"], lambda i: 0),
            (CounterMetricFamily, "agentcost_agent_pauses", ["agent"], lambda i: 0),
            (CounterMetricFamily, "agentcost_agent_llm_calls", ["agent"], lambda i: 2 + i % 7),
            (CounterMetricFamily, "agentcost_agent_anomalies", ["agent"], lambda i: 0),
            (GaugeMetricFamily, "agentcost_agent_last_cycle_cost_usd", ["agent"], lambda i: 0.08),
            (GaugeMetricFamily, "agentcost_agent_rolling_average_cycle_cost_usd", ["agent"], lambda i: 0.08),
            (GaugeMetricFamily, "agentcost_agent_active_cycle", ["agent"], lambda i: 0),
        ]
        for kind, name, labels, value in families:
            family = kind(name, "help", labels=labels)
            for i, agent in enumerate(ids):
                family.add_metric([agent, "daily"][: len(labels)], value(i))
            yield family
        cycles = CounterMetricFamily("agentcost_agent_cycles", "help", labels=["agent", "status"])
        for agent in ids:
            cycles.add_metric([agent, "completed"], 1)
            cycles.add_metric([agent, "anomaly"], 0)
        yield cycles


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=100_000)
    arguments = parser.parse_args()

    registry = CollectorRegistry()
    registry.register(FleetCollector(arguments.agents))
    best = float("inf")
    series = 0
    for _ in range(3):
        start = time.perf_counter()
        text = generate_latest(registry)
        best = min(best, time.perf_counter() - start)
        series = sum(1 for line in text.split(b"\n") if line and not line.startswith(b"#"))
    print(series, best)


if __name__ == "__main__":
    main()
