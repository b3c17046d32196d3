# The project's entry points. `make run` and `make test` are the two commands the README promises work on a
# fresh Debian machine with the Swift toolchain; both install the system packages they need first.

SWIFT        ?= swift
DEBIAN_PKGS  := pkg-config zlib1g-dev libprotobuf-c-dev protobuf-c-compiler libssl-dev libmicrohttpd-dev \
                libcurl4-openssl-dev python3 python3-venv curl e2fsprogs prometheus prometheus-alertmanager
VENV         := .build/venv
RELEASE_BIN  := .build/release
SWIFT_SOURCES := Package.swift Sources Tests Benchmarks Fuzz

.PHONY: deps venv build release run test lint format unit integration end-to-end prometheus rules dashboards \
	alertmanager deploy-files crash bench clean proto check-proto fuzz fuzz-smoke fuzz-build fuzz-seeds interop

# Install only what is missing, so that a machine that already has everything needs no network.
deps:
	@missing=""; \
	for p in $(DEBIAN_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
		$$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $$missing; \
	fi

# Python peers for the tests and benchmarks (prometheus-client; protobuf and grpcio-tools for interop), in a virtual
# environment under .build.
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

# The alert and recording rules: promtool lints them and runs their unit tests (every alert fires and stays silent).
# The tests live outside rules/ so that a `rules/*.yml` glob loads rule files only.
RULES_DIR := deploy/prometheus/rules
RULES_TESTS_DIR := deploy/prometheus/tests
rules: deps
	promtool check rules $(RULES_DIR)/*.yml
	promtool test rules $(RULES_TESTS_DIR)/*.yml

# Every Grafana panel's PromQL against a real Prometheus (with the rules) that scraped a populated exporter.
dashboards: build
	scripts/test-dashboards.sh "$$($(SWIFT) build --show-bin-path)"

# Exporter → Prometheus evaluating the rules → Alertmanager → a loopback webhook receiver gets the paused alert.
alertmanager: build
	scripts/test-alertmanager.sh "$$($(SWIFT) build --show-bin-path)"

# The deployment files: YAML syntax, compose mounts, promtool, amtool routing, systemd-analyze verify, and the
# Dockerfile against Package.swift and `ldd` of the executables built here.
deploy-files: build
	SWIFT=$(SWIFT) scripts/test-deploy.sh "$$($(SWIFT) build --show-bin-path)"

# The C code generated from proto/ is checked in; `make proto` rewrites it, `make check-proto` fails if it is stale
# (regenerated into a temporary directory and compared byte for byte).
PROTO_NAMES   := agentcost store
PROTO_C_DIR   := Sources/CAgentCostProto/agentcost/v1
PROTO_H_DIR   := Sources/CAgentCostProto/include/agentcost/v1

proto: deps
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	for name in $(PROTO_NAMES); do \
		protoc-c --proto_path=proto --c_out="$$tmp" proto/agentcost/v1/$$name.proto && \
		cp "$$tmp/agentcost/v1/$$name.pb-c.c" $(PROTO_C_DIR)/ && \
		cp "$$tmp/agentcost/v1/$$name.pb-c.h" $(PROTO_H_DIR)/ || exit 1; \
	done

check-proto: deps
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	for name in $(PROTO_NAMES); do \
		protoc-c --proto_path=proto --c_out="$$tmp" proto/agentcost/v1/$$name.proto && \
		diff -u $(PROTO_C_DIR)/$$name.pb-c.c "$$tmp/agentcost/v1/$$name.pb-c.c" && \
		diff -u $(PROTO_H_DIR)/$$name.pb-c.h "$$tmp/agentcost/v1/$$name.pb-c.h" || \
		{ echo "generated C in Sources/CAgentCostProto is stale: run 'make proto' and commit the result" >&2; \
		  exit 1; }; \
	done

# A libFuzzer harness over the frame and batch decoders (Fuzz/FrameDecoderFuzz), built in its own scratch
# directory with libFuzzer and AddressSanitizer (release mode: bounds and overflow checks stay on). `make fuzz` runs
# it for FUZZ_SECONDS; a crash, hang, leak or broken invariant fails the target and the input is kept in
# Fuzz/crashes/. Inputs found along the way go to .build/fuzz/corpus; Fuzz/corpus holds the checked-in seeds and
# inputs that once found a bug. Swift's own backtracer is off while fuzzing: it reads memory in ways ASan reports as
# a crash of its own; libFuzzer prints the stack instead, and the replay tool shows Swift's message.
FUZZ_SECONDS       ?= 120
FUZZ_SMOKE_SECONDS ?= 15
FUZZ_SCRATCH       := .build/fuzz
FUZZ_BIN           := $(FUZZ_SCRATCH)/release/FrameDecoderFuzz
FUZZ_BUILD_FLAGS   := -c release --scratch-path $(FUZZ_SCRATCH) --product FrameDecoderFuzz \
	-Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xcc -fsanitize=fuzzer-no-link,address
FUZZ_RUN_FLAGS     := -dict=Fuzz/frame.dict -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
	-artifact_prefix=Fuzz/crashes/ -print_final_stats=1

# gold warns once per sanitizer symbol it cannot export; the log is shown only when the build fails.
fuzz-build: deps
	@mkdir -p $(FUZZ_SCRATCH)
	@$(SWIFT) build $(FUZZ_BUILD_FLAGS) >$(FUZZ_SCRATCH)/build.log 2>&1 || \
	{ grep -v 'Cannot export local symbol' $(FUZZ_SCRATCH)/build.log >&2; exit 1; }

fuzz: fuzz-build
	@mkdir -p $(FUZZ_SCRATCH)/corpus Fuzz/crashes
	SWIFT_BACKTRACE=enable=no $(FUZZ_BIN) $(FUZZ_SCRATCH)/corpus Fuzz/corpus -max_total_time=$(FUZZ_SECONDS) \
		$(FUZZ_RUN_FLAGS) || \
	{ echo "fuzzing failed; the input is in Fuzz/crashes/. Replay it without sanitizers:" \
		"swift run FrameDecoderFuzz Fuzz/crashes/FILE" >&2; exit 1; }

fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)

# Rewrites the seed corpus from the plain build of the harness (it knows how to make valid frames).
fuzz-seeds: deps
	$(SWIFT) run FrameDecoderFuzz seeds Fuzz/corpus

# Interop with Python's protobuf and zlib (Tests/interop/). Codec level: Python encodes frames and writes the values
# it meant as JSON lines; the Swift InteropTests decode and compare them, then encode the same values; Python parses
# Swift's frames and compares them too. Live: Python's frames go over TCP to a running exporter and are all acked
# OK, and the state they leave (read through the HTTP API) equals what the same events replayed by agentcostctl
# leave in a second exporter (scripts/test-interop-live.sh). The Python schema code is generated into a temporary
# directory, never committed; the packages go into the virtual environment under .build/ (`make venv`).
INTEROP_PY   := $(VENV)/bin/python
INTEROP_DIR  := .build/interop

interop: build venv
	rm -rf $(INTEROP_DIR) && mkdir -p $(INTEROP_DIR)
	$(INTEROP_PY) Tests/interop/encode_batch.py \
		--out $(INTEROP_DIR)/python-frames.bin --expected $(INTEROP_DIR)/python-expected.jsonl
	AGENTCOST_INTEROP_DIR="$(abspath $(INTEROP_DIR))" $(SWIFT) test --skip-build --filter InteropTests
	$(INTEROP_PY) Tests/interop/check_frames.py --negative-zero-may-be-zero \
		--in $(INTEROP_DIR)/swift-frames.bin --expected $(INTEROP_DIR)/python-expected.jsonl
	scripts/test-interop-live.sh "$$($(SWIFT) build --show-bin-path)" $(INTEROP_PY)

# The crash test: SIGKILL at random moments, at least 20 times, while a client streams and retries batches.
crash: build
	scripts/test-crash.sh "$$($(SWIFT) build --show-bin-path)" 20

# Every test stage; any failure fails the target.
test: deps check-proto lint unit integration end-to-end prometheus rules dashboards alertmanager deploy-files \
	crash interop fuzz-smoke

# Benchmarks print absolute figures and ratios against baselines measured in the same run, including Python
# prometheus-client rendering the same series as /metrics. A check that misses its target fails the target.
bench: release venv
	baseline=$$($(VENV)/bin/python Benchmarks/python/render_baseline.py --agents 100000) && \
	$(RELEASE_BIN)/agentcost-bench all --python-render "$$baseline"

clean:
	rm -rf .build
