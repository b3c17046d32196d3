#!/usr/bin/env bash
# The deployment files: every YAML file under deploy/ and Grafana/provisioning parses (python3 yaml, from a throwaway
# virtual environment when the system Python lacks it), the compose file runs the four services with mounts that
# exist, promtool accepts the Prometheus example, amtool accepts the Alertmanager example and routes page and ticket
# alerts to their receivers, the systemd unit has its hardening and passes `systemd-analyze verify` (when available),
# and the Dockerfile has its two stages. Docker itself does not run here, so scripts/check_dockerfile.py checks the
# Dockerfile against what a build needs: a Swift image at least the manifest's tools version, a COPY of every path
# Package.swift uses (and of nothing that does not exist), the manifest's -dev packages in the build stage, and in the
# runtime stage the Debian package of every library `ldd` finds in the executables built here (via `dpkg -S`).
set -euo pipefail

bin_dir=$(realpath "${1:?usage: $0 BIN_DIR}")
swift=${SWIFT:-swift}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
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

python=python3
if ! python3 -c 'import yaml' 2>/dev/null; then
    python3 -m venv "$work/venv" && "$work/venv/bin/pip" install --quiet --disable-pip-version-check pyyaml
    python="$work/venv/bin/python"
fi

yaml_parses() {
    "$python" - "$root" <<'PY'
import glob, os, sys, yaml
root = sys.argv[1]
files = [f for pattern in ("deploy/**/*.yml", "Grafana/provisioning/**/*.yml")
         for f in glob.glob(os.path.join(root, pattern), recursive=True)]
bad = 0
for f in sorted(files):
    try:
        yaml.safe_load(open(f))
    except yaml.YAMLError as error:
        print(f"--- {f}: {error}"); bad += 1
print(f"     ({len(files)} files)")
sys.exit(1 if bad or len(files) < 7 else 0)
PY
}

compose_runs_the_stack() {
    "$python" - "$root" <<'PY'
import os, sys, yaml
root = sys.argv[1]
deploy = os.path.join(root, "deploy")
compose = yaml.safe_load(open(os.path.join(deploy, "compose.yml")))
services = compose["services"]
problems = []
if set(services) != {"exporter", "prometheus", "alertmanager", "grafana"}:
    problems.append(f"services are {sorted(services)}")
build = services["exporter"]["build"]
if not os.path.isfile(os.path.join(deploy, build["context"], build["dockerfile"])):
    problems.append("the exporter's Dockerfile is not where the build points")
for name, service in services.items():
    for volume in service.get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("."):
            if not os.path.exists(os.path.join(deploy, source)):
                problems.append(f"{name} mounts {source}, which does not exist")
        elif source not in compose.get("volumes", {}):
            problems.append(f"{name} uses the undeclared volume {source}")
    for port in service.get("ports", []):
        if not port.startswith("127.0.0.1:"):
            problems.append(f"{name} publishes {port} beyond loopback")
provider = yaml.safe_load(open(os.path.join(root, "Grafana/provisioning/dashboards/agentcost.yml")))
path = provider["providers"][0]["options"]["path"]
if not any(v.endswith(":" + path + ":ro") for v in services["grafana"]["volumes"]):
    problems.append(f"Grafana's dashboard provider reads {path}, which compose does not mount")
source = yaml.safe_load(open(os.path.join(root, "Grafana/provisioning/datasources/prometheus.yml")))
if source["datasources"][0]["url"] != "http://prometheus:9090":
    problems.append("the Grafana data source is not the compose Prometheus")
prometheus = yaml.safe_load(open(os.path.join(deploy, "prometheus/prometheus.yml")))
if prometheus["scrape_configs"][0]["job_name"] != "agentcost":
    problems.append("the scrape job is not 'agentcost', which the rules select on")
for problem in problems:
    print("--- " + problem)
sys.exit(1 if problems else 0)
PY
}

promtool_accepts_the_prometheus_example() {
    promtool check config "$root/deploy/prometheus/prometheus.yml" >"$work/promtool.out" 2>&1 ||
        { cat "$work/promtool.out"; return 1; }
}

amtool_routes_page_and_ticket() {
    local config="$root/deploy/alertmanager/alertmanager.yml"
    amtool check-config "$config" >"$work/amtool.out" 2>&1 || { cat "$work/amtool.out"; return 1; }
    [ "$(amtool config routes test --config.file="$config" severity=page alertname=AgentCostAgentPaused 2>/dev/null)" = page ] &&
        [ "$(amtool config routes test --config.file="$config" severity=ticket 2>/dev/null)" = ticket ]
}

systemd_unit_is_hardened() {
    local unit="$root/deploy/systemd/agentcost-exporter.service" directive
    for directive in 'DynamicUser=yes' 'ProtectSystem=strict' 'StateDirectory=agentcost-exporter' \
        '--data.dir=/var/lib/agentcost-exporter' 'NoNewPrivileges=yes' 'PrivateTmp=yes' 'ProtectHome=yes' \
        'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'MemoryDenyWriteExecute=yes' \
        'SystemCallFilter=@system-service' 'Restart=on-failure' 'EnvironmentFile='; do
        grep -qF -- "$directive" "$unit" || { echo "--- the unit lacks $directive"; return 1; }
    done
    if ! command -v systemd-analyze >/dev/null; then
        echo "     (systemd-analyze is not installed: verify skipped)"; return 0
    fi
    # Verified with ExecStart pointing at the binary just built, since it is not installed in /usr/local/bin here.
    sed "s#/usr/local/bin/agentcost-exporter#$bin_dir/agentcost-exporter#" "$unit" >"$work/agentcost-exporter.service"
    systemd-analyze verify "$work/agentcost-exporter.service" >"$work/verify.out" 2>&1 || { cat "$work/verify.out"; return 1; }
    ! grep -q . "$work/verify.out" || { cat "$work/verify.out"; return 1; }
}

dockerfile_has_both_stages() {
    local dockerfile="$root/deploy/container/Dockerfile" needle
    for needle in 'FROM swift:' 'swift build -c release --static-swift-stdlib' 'FROM debian:bookworm-slim' \
        'USER agentcost'; do
        grep -qF -- "$needle" "$dockerfile" || { echo "--- the Dockerfile lacks $needle"; return 1; }
    done
}

dockerfile_toolchain_meets_the_manifest() {
    python3 "$here/check_dockerfile.py" "$root" toolchain "$swift"
}

dockerfile_copies_every_path_the_manifest_uses() {
    python3 "$here/check_dockerfile.py" "$root" copies "$swift"
}

dockerfile_installs_the_manifests_dev_packages() {
    python3 "$here/check_dockerfile.py" "$root" build-packages "$swift"
}

dockerfile_runtime_has_every_linked_library() {
    python3 "$here/check_dockerfile.py" "$root" runtime-packages "$bin_dir/agentcost-exporter" "$bin_dir/agentcostctl"
}

check "every YAML file of deploy/ and Grafana/provisioning parses" yaml_parses
check "compose runs exporter, Prometheus, Alertmanager and Grafana with mounts that exist" compose_runs_the_stack
check "promtool accepts deploy/prometheus/prometheus.yml and every rule file its rules/*.yml glob loads" \
    promtool_accepts_the_prometheus_example
check "amtool accepts the Alertmanager example and routes page and ticket alerts apart" amtool_routes_page_and_ticket
check "the systemd unit is hardened and passes systemd-analyze verify" systemd_unit_is_hardened
check "the Dockerfile builds in a Swift stage and runs in slim Debian as a non-root user" dockerfile_has_both_stages
check "the Dockerfile's Swift image is at least the manifest's tools version" dockerfile_toolchain_meets_the_manifest
check "the Dockerfile copies every path Package.swift uses, and only paths that exist" \
    dockerfile_copies_every_path_the_manifest_uses
check "the Dockerfile's build stage installs the -dev packages of the manifest's system libraries" \
    dockerfile_installs_the_manifests_dev_packages
check "the Dockerfile's runtime stage installs the package of every library the executables link" \
    dockerfile_runtime_has_every_linked_library

echo "deploy: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
