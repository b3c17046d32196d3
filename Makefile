# The project's entry points. `make run` and `make test` are the two commands the README promises work on a
# fresh Debian machine with the Swift toolchain; both install the system packages they need first.

SWIFT        ?= swift
DEBIAN_PKGS  := pkg-config zlib1g-dev libprotobuf-c-dev protobuf-c-compiler libssl-dev libmicrohttpd-dev \
                libcurl4-openssl-dev python3 python3-venv curl prometheus prometheus-alertmanager
VENV         := .build/venv
RELEASE_BIN  := .build/release
SWIFT_SOURCES := Package.swift Sources Tests Benchmarks

.PHONY: deps venv build release run test lint format unit integration end-to-end prometheus bench clean proto \
	check-proto

# Install only what is missing, so that a machine that already has everything needs no network.
deps:
	@missing=""; \
	for p in $(DEBIAN_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
		$$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $$missing; \
	fi

# Python peers for the tests and benchmarks (prometheus-client), in a virtual environment under .build.
venv: $(VENV)/.installed
$(VENV)/.installed: scripts/requirements.txt | deps
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
	touch $@

build: deps
	$(SWIFT) build --build-tests

release: deps
	$(SWIFT) build -c release

run: release
	exec $(RELEASE_BIN)/agentcost-exporter

lint:
	$(SWIFT) format lint --strict --recursive $(SWIFT_SOURCES)

format:
	$(SWIFT) format format --in-place --recursive $(SWIFT_SOURCES)

unit: build
	$(SWIFT) test --skip-build

# End-to-end checks of the real executables.
integration: build
	scripts/test-exporter-lifecycle.sh "$$($(SWIFT) build --show-bin-path)/agentcost-exporter"

# The seed's scenarios replayed through the real agentcostctl against the real exporter, checked through the acks.
end-to-end: build
	scripts/test-end-to-end.sh "$$($(SWIFT) build --show-bin-path)"

# Real peers: promtool, Python prometheus-client, and a Prometheus server scraping the exporter.
prometheus: build venv
	scripts/test-prometheus.sh "$$($(SWIFT) build --show-bin-path)" $(VENV)/bin/python

# The C code generated from proto/ is checked in; `make proto` rewrites it, `make check-proto` fails if it is stale
# (regenerated into a temporary directory and compared byte for byte).
PROTO_SRC     := proto/agentcost/v1/agentcost.proto
PROTO_C_DIR   := Sources/CAgentCostProto/agentcost/v1
PROTO_H_DIR   := Sources/CAgentCostProto/include/agentcost/v1

proto: deps
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	protoc-c --proto_path=proto --c_out="$$tmp" $(PROTO_SRC) && \
	cp "$$tmp/agentcost/v1/agentcost.pb-c.c" $(PROTO_C_DIR)/ && \
	cp "$$tmp/agentcost/v1/agentcost.pb-c.h" $(PROTO_H_DIR)/

check-proto: deps
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	protoc-c --proto_path=proto --c_out="$$tmp" $(PROTO_SRC) && \
	diff -u $(PROTO_C_DIR)/agentcost.pb-c.c "$$tmp/agentcost/v1/agentcost.pb-c.c" && \
	diff -u $(PROTO_H_DIR)/agentcost.pb-c.h "$$tmp/agentcost/v1/agentcost.pb-c.h" || \
	{ echo "generated C in Sources/CAgentCostProto is stale: run 'make proto' and commit the result" >&2; exit 1; }

# Every test stage; any failure fails the target.
test: deps check-proto lint unit integration end-to-end prometheus

# Benchmarks print absolute figures and ratios against baselines measured in the same run, including Python
# prometheus-client rendering the same series as /metrics.
bench: release venv
	baseline=$$($(VENV)/bin/python Benchmarks/python/render_baseline.py --agents 100000) && \
	$(RELEASE_BIN)/agentcost-bench all --python-render "$$baseline"

clean:
	rm -rf .build
