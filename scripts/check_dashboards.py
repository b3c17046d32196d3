#!/usr/bin/env python3
"""Runs every panel query of the Grafana dashboards against a Prometheus server and fails a panel whose query errors
or returns nothing.

usage: check_dashboards.py PROMETHEUS_URL COUNTS_FILE DASHBOARD.json...

Grafana's macros and the dashboards' template variables are replaced the way Grafana would for a one-hour view of
the job "agentcost" with every exporter and agent selected. The structure Grafana's provisioning needs is checked
too: a `datasource` variable of type prometheus that every panel and query uses, and unique panel ids. COUNTS_FILE
receives "passed failed".
"""

import json
import re
import sys
import time
import urllib.parse
import urllib.request

SUBSTITUTIONS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$job": "agentcost",
    "$instance": ".*",
    "$agent": ".*",
}


def expand(expr):
    """The query as Grafana would send it: ${name} and [[name]] become $name, then every variable is replaced."""
    expr = re.sub(r"\$\{(\w+)(?::\w+)?\}", r"$\1", expr)
    expr = re.sub(r"\[\[(\w+)\]\]", r"$\1", expr)
    for name in sorted(SUBSTITUTIONS, key=len, reverse=True):
        expr = expr.replace(name, SUBSTITUTIONS[name])
    leftover = re.findall(r"\$\w+", expr)
    if leftover:
        raise ValueError(f"unknown variable(s) {leftover}; add them to SUBSTITUTIONS")
    return expr


def api(base, path, params):
    url = f"{base}/api/v1/{path}?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        return json.load(error)


def has_samples(reply):
    result = reply["data"]["result"]
    if reply["data"]["resultType"] in ("vector", "matrix"):
        return any(series.get("values") or series.get("value") for series in result)
    return result is not None


def panels_of(dashboard):
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def structure_problems(dashboard):
    problems = []
    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    source = variables.get("datasource")
    if not source or source.get("type") != "datasource" or source.get("query") != "prometheus":
        problems.append("no template variable 'datasource' of type datasource with query prometheus")
    ids = [panel["id"] for panel in panels_of(dashboard)]
    if len(ids) != len(set(ids)):
        problems.append(f"panel ids are not unique: {sorted(ids)}")
    for panel in panels_of(dashboard):
        if panel.get("type") == "row":
            continue
        for owner in [panel] + panel.get("targets", []):
            if owner.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
                problems.append(f"panel '{panel['title']}' does not use the datasource variable")
                break
        if not panel.get("targets"):
            problems.append(f"panel '{panel['title']}' has no query")
    if not dashboard.get("uid"):
        problems.append("no uid (provisioning needs a stable one)")
    return problems


def main():
    base, counts_file, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    passed = failed = 0
    now = time.time()

    for path in files:
        with open(path) as f:
            dashboard = json.load(f)
        name = dashboard.get("title", path)
        problems = structure_problems(dashboard)
        for problem in problems:
            print(f"FAIL {name}: {problem}")
        if problems:
            failed += 1
        else:
            passed += 1
            print(f"ok   {name}: provisioning-ready structure")

        for panel in panels_of(dashboard):
            if panel.get("type") == "row":
                continue
            title = f"{name} / {panel['title']}"
            exprs = [target["expr"] for target in panel.get("targets", [])]
            errors = []
            for target in panel["targets"]:
                try:
                    query = expand(target["expr"])
                except ValueError as error:
                    errors.append(f"{target['refId']}: {error}")
                    continue
                if target.get("instant"):
                    reply = api(base, "query", {"query": query, "time": now})
                else:
                    reply = api(base, "query_range", {"query": query, "start": now - 120, "end": now, "step": 2})
                if reply.get("status") != "success":
                    errors.append(f"{target['refId']}: {query} failed: {reply.get('error')}")
                elif not has_samples(reply):
                    errors.append(f"{target['refId']}: {query} returned nothing")
            if errors:
                failed += 1
                print(f"FAIL {title}")
                for error in errors:
                    print(f"     {error}")
            else:
                passed += 1
                print(f"ok   {title} ({len(exprs)} quer{'y' if len(exprs) == 1 else 'ies'})")

    with open(counts_file, "w") as f:
        f.write(f"{passed} {failed}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
