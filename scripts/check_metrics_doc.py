#!/usr/bin/env python3
"""Checks docs/metrics.md against a populated exporter's /metrics, and its example queries against Prometheus.

usage: check_metrics_doc.py DOC METRICS_TEXT
       check_metrics_doc.py DOC METRICS_TEXT PROMETHEUS_URL

With two arguments: every family of a `# TYPE` line in METRICS_TEXT (the Prometheus text format) has a row in one
of DOC's tables, every family with a row is on /metrics, every family is used by at least one example query (the
```promql blocks), and every agentcost_ name an example uses is a series of a real family (a histogram's _bucket,
_sum and _count included). With PROMETHEUS_URL: every example query also runs there without an error.

In the promql blocks each line is one query, a line starting with a space continues the one before, and `#` starts
a comment (PromQL allows them, so a query is sent as written).
"""

import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

NAME = re.compile(r"(?<![\w:])agentcost_\w+")


def exposed_families(metrics_text):
    """{family: type} from the `# TYPE` lines."""
    families = {}
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            families[name] = kind.strip()
    return families


def documented(doc):
    """The families with a table row (the first column, in backticks) and the example queries, in order."""
    families, queries, in_block = [], [], False
    for line in doc.splitlines():
        if line.startswith("```"):
            in_block = line.strip() == "```promql"
            continue
        if in_block:
            code = without_comments(line).strip()
            if line.startswith(" ") and queries and code:
                queries[-1] += "\n" + line
            elif code:
                queries.append(line)
            continue
        match = re.match(r"\|\s*`(agentcost_\w+)`\s*\|", line)
        if match:
            families.append(match[1])
    return families, queries


def without_comments(query):
    return "\n".join(line.split("#", 1)[0] for line in query.splitlines())


def family_of(name, families):
    if name in families:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and families.get(base) == "histogram":
            return base
    return None


def check_names(doc, metrics_text):
    exposed = exposed_families(metrics_text)
    families, queries = documented(doc)
    problems = []
    if not exposed:
        problems.append("/metrics has no # TYPE lines")
    for name in sorted(set(exposed) - set(families)):
        problems.append(f"{name} is on /metrics but has no row in docs/metrics.md")
    for name in sorted(set(families) - set(exposed)):
        problems.append(f"{name} has a row in docs/metrics.md but is not on /metrics")
    for name in sorted({name for name in families if families.count(name) > 1}):
        problems.append(f"{name} has more than one row in docs/metrics.md")

    used = set()
    for query in queries:
        for name in NAME.findall(without_comments(query)):
            family = family_of(name, exposed)
            if family is None:
                problems.append(f"the example `{without_comments(query).strip()}` uses {name}, which is not on /metrics")
            used.add(family)
    for name in sorted(set(families) - used):
        problems.append(f"{name} has no example query in docs/metrics.md")
    print(f"     ({len(exposed)} families on /metrics, {len(families)} documented, {len(queries)} example queries)")
    return problems


def check_queries(doc, base):
    _, queries = documented(doc)
    problems, with_data = [], 0
    for query in queries:
        url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                reply = json.load(response)
        except urllib.error.HTTPError as error:
            reply = json.load(error)
        if reply.get("status") != "success":
            problems.append(f"the example `{without_comments(query).strip()}` fails: {reply.get('error')}")
        elif reply["data"]["result"]:
            with_data += 1
    print(f"     ({len(queries)} example queries ran, {with_data} returned series on this small fleet)")
    return problems


def main():
    with open(sys.argv[1]) as f:
        doc = f.read()
    with open(sys.argv[2]) as f:
        metrics_text = f.read()
    if len(sys.argv) > 3:
        problems = check_queries(doc, sys.argv[3])
    else:
        problems = check_names(doc, metrics_text)
    for problem in problems:
        print("--- " + problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
