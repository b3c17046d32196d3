# The project's entry points. `make run` and `make test` are the two commands the README promises work on a
# fresh Debian machine with the Swift toolchain; both install the system packages they need first.

SWIFT        ?= swift
DEBIAN_PKGS  := pkg-config zlib1g-dev libprotobuf-c-dev protobuf-c-compiler libssl-dev
RELEASE_BIN  := .build/release
SWIFT_SOURCES := Package.swift Sources Tests Benchmarks Fuzz

.PHONY: deps build release run test lint format unit integration bench clean proto check-proto \
	fuzz fuzz-smoke fuzz-build fuzz-seeds

# Install only what is missing, so that a machine that already has everything needs no network.
deps:
	@missing=""; \
	for p in $(DEBIAN_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
		$$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $$missing; \
	fi

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

# A libFuzzer harness over the frame and batch decoders (Fuzz/FrameDecoderFuzz), built in its own scratch
# directory with libFuzzer and AddressSanitizer (release mode: bounds and overflow checks stay on). `make fuzz` runs
# it for FUZZ_SECONDS; a crash, hang, leak or broken invariant fails the target and the input is kept in
# Fuzz/crashes/. Inputs found along the way go to .build/fuzz/corpus; Fuzz/corpus holds the checked-in seeds.
FUZZ_SECONDS       ?= 120
FUZZ_SMOKE_SECONDS ?= 15
FUZZ_SCRATCH       := .build/fuzz
FUZZ_BIN           := $(FUZZ_SCRATCH)/release/FrameDecoderFuzz
FUZZ_BUILD_FLAGS   := -c release --scratch-path $(FUZZ_SCRATCH) --product FrameDecoderFuzz \
	-Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xcc -fsanitize=fuzzer-no-link,address
FUZZ_RUN_FLAGS     := -max_len=8192 -timeout=10 -rss_limit_mb=2048 -artifact_prefix=Fuzz/crashes/ -print_final_stats=1

# gold warns once per sanitizer symbol it cannot export; the log is shown only when the build fails.
fuzz-build: deps
	@mkdir -p $(FUZZ_SCRATCH)
	@$(SWIFT) build $(FUZZ_BUILD_FLAGS) >$(FUZZ_SCRATCH)/build.log 2>&1 || \
	{ grep -v 'Cannot export local symbol' $(FUZZ_SCRATCH)/build.log >&2; exit 1; }

fuzz: fuzz-build
	@mkdir -p $(FUZZ_SCRATCH)/corpus Fuzz/crashes
	$(FUZZ_BIN) $(FUZZ_SCRATCH)/corpus Fuzz/corpus -max_total_time=$(FUZZ_SECONDS) $(FUZZ_RUN_FLAGS) || \
	{ echo "fuzzing failed; the input is in Fuzz/crashes/. Replay it without sanitizers:" \
		"swift run FrameDecoderFuzz Fuzz/crashes/FILE" >&2; exit 1; }

fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)

# Rewrites the seed corpus from the plain build of the harness (it knows how to make valid frames).
fuzz-seeds: deps
	$(SWIFT) run FrameDecoderFuzz seeds Fuzz/corpus

# Every test stage; any failure fails the target.
test: deps check-proto lint unit integration fuzz-smoke

bench: release
	$(RELEASE_BIN)/agentcost-bench

clean:
	rm -rf .build
