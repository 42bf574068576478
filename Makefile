# vsd: the two commands of the README, and the pieces they are made of.
#   make demo   build, bring up a namespace topology, run vsd on deploy/examples/demo.yaml, send real
#               HTTP requests through it, print the spread, tear down
#   make test   every test: unit, property, real DPDK on vdevs, end to end in namespaces
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo

.PHONY: all deps build test unit e2e lint demo clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(CARGO) build --release --workspace --bins

unit: deps
	$(CARGO) test --workspace

e2e: build
	tests/e2e/run.sh

test: unit e2e

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

demo: build
	scripts/demo.sh

clean:
	$(CARGO) clean
