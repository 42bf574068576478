# vsd: the two commands of the README, and the pieces they are made of.
#   make demo   build, bring up a namespace topology, run vsd on deploy/examples/demo.yaml, send real
#               HTTP requests through it, print the spread, tear down
#   make test   every test: unit, property, real DPDK on vdevs, end to end in namespaces
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo

.PHONY: all deps build test unit e2e perf-smoke bench lint demo clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(CARGO) build --release --workspace --bins

unit: deps
	$(CARGO) test --workspace

e2e: build
	tests/e2e/run.sh

# A few seconds of vsd on a tiny profile through real DPDK vdevs: it must forward (not a benchmark).
perf-smoke: build
	target/release/vsd-perf smoke

test: unit perf-smoke e2e

# The perf runs of docs/PERFORMANCE.md (vsd beside dpdk-testpmd on the same vdevs), the synthetic
# 1M/10M-connection runs, and the criterion microbenchmarks: under 10 minutes on a 2-vCPU machine.
bench: build
	target/release/vsd-perf run --profile established,persist,syn,mixed,imix
	target/release/vsd-perf synth --profile established,syn --conns 1M,10M --seconds 3
	$(CARGO) bench -p vsd-perf

# cargo-deny (deny.toml) checks licences, banned crates and sources. Not advisories: the RustSec
# advisory database is a git repository on GitHub, which these build machines cannot reach, and
# cargo-deny fails when it cannot fetch it. Where GitHub is reachable, run `cargo deny check` (all).
# It is installed here, not by `deps`, so that `make demo` on a fresh machine does not wait for it
# (it compiles for some minutes, once per machine).
lint: deps
	@$(CARGO) deny --version >/dev/null 2>&1 || $(CARGO) install --locked cargo-deny
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) deny check bans licenses sources

demo: build
	scripts/demo.sh

clean:
	$(CARGO) clean
