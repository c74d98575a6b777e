# Two commands matter: `make run` and `make test`. Both do every set-up step
# first, and every step is idempotent, so a fresh Debian 12 machine (as root)
# and a warm developer checkout take the same path.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export GOFLAGS := -buildvcs=false

BUILD   := build
ROOTFS  := $(abspath $(BUILD)/rootfs)
PORT    ?= 8080
GO      ?= go
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X python-api/function.version=$(VERSION)

.PHONY: all setup deps pytools rootfs client build run test test-go test-client test-e2e test-gvisor \
	test-terraform test-cgroup2 image lint bench bench-cgroups bench-encode bench-http bench-gvisor loadtest clean

all: build

# Host packages (apt), from infra/setup/apt/*.txt.
deps:
	@bash infra/setup/install-host-deps.sh

# Pinned Python test tools (schemathesis) in build/venv.
pytools: deps
	@bash infra/setup/python-tools.sh

# The read-only tree every jail runs in: Debian python3 + numpy + pandas + NsJail.
rootfs: deps
	@bash infra/build-rootfs.sh $(ROOTFS)

client: deps
	@bash infra/setup/build-client.sh

setup: deps pytools rootfs client

build: client
	@mkdir -p bin
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/server ./cmd/server

run: deps rootfs build
	PORT=$(PORT) SANDBOX_ROOTFS=$(ROOTFS) ./bin/server

lint: client
	@bash infra/setup/check-tracked.sh
	@files=$$(gofmt -l $$(git ls-files '*.go'; git ls-files --others --exclude-standard '*.go')); \
		if [ -n "$$files" ]; then echo "gofmt: these files need formatting:"; echo "$$files"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

test-go: setup build
	SANDBOX_ROOTFS=$(ROOTFS) SERVER_BIN=$(abspath bin/server) $(GO) test -race -count=1 -timeout 30m ./...

test-client: client
	@bash infra/setup/test-client.sh

test-e2e: setup build
	@bash infra/setup/test-e2e.sh

# The container image, built with podman from the Dockerfile, then run under
# gVisor (runsc) the way Cloud Run's first generation runs it.
image: deps
	@bash infra/image/build-image.sh

test-gvisor: image
	@bash infra/image/run-gvisor.sh

# The per-job cgroup code on a cgroup v2 kernel (this host's kernel gives
# memory and pids on v1 only): the sandbox's cgroup, memory and files tests
# in a small QEMU VM with only the unified hierarchy (infra/vm/).
CGROUP2_TESTS := ^(TestJobCgroupsOfThisHost|TestAttack37.*|TestJobMemoryWithoutCgroups|TestHealth|TestFilesInAndOut|TestAttack17DiskFill)$$
test-cgroup2: setup
	@mkdir -p $(BUILD)/vm
	CGO_ENABLED=0 $(GO) test -c -o $(BUILD)/vm/sandboxcore.test ./sandboxcore
	cd sandboxcore && SANDBOX_ROOTFS=$(abspath $(ROOTFS)) TEST_EXPECT_CGROUP=v2 \
		bash ../infra/vm/run-cgroup2.sh -- $(abspath $(BUILD))/vm/sandboxcore.test -test.run '$(CGROUP2_TESTS)' -test.v

# terraform fmt -check, validate and test of terraform/ against the google
# provider built from the Go module proxy (infra/setup/terraform-provider.sh).
test-terraform:
	@bash infra/setup/test-terraform.sh

test: setup build lint test-go test-client test-e2e test-gvisor test-terraform test-cgroup2

# Per-execution latency of each executor, in-process (Go benchmark).
bench: setup
	SANDBOX_ROOTFS=$(ROOTFS) $(GO) test -run '^$$' -bench . -benchtime 20x ./sandboxcore/

# What per-job cgroups cost on the fork path, against none, same run.
bench-cgroups: setup
	SANDBOX_ROOTFS=$(ROOTFS) $(GO) test -run '^$$' -bench BenchmarkJobCgroups -benchtime 200x ./sandboxcore/

# The harness's result encoding against json.dumps and DataFrame.to_json,
# inside the runtime tree (issue 11's targets: about 1x and at most 2x).
bench-encode: rootfs
	@cat sandboxcore/harness/encode.py infra/bench/encode.py | \
		chroot $(ROOTFS) /usr/bin/python3 -c 'import os, sys; exec(sys.stdin.read())'

# Throughput and latency through HTTP, fork vs warm vs cold (issue 6).
bench-http: setup build
	$(GO) run ./cmd/benchcompare -server bin/server -rootfs $(ROOTFS) -out $(BUILD)/bench/bench-http.json

# The same table for the image under gVisor (gen1-like settings), with the
# host's fork path measured in the same run as the reference (issue 14).
bench-gvisor: setup build image
	SANDBOX_ROOTFS=$(ROOTFS) bash infra/image/bench-gvisor.sh

# Closed-loop load against a server already running on $(PORT).
loadtest:
	$(GO) run ./cmd/loadtest -url http://127.0.0.1:$(PORT) -c 8 -d 20s -script hello

clean:
	rm -rf bin $(BUILD) client/dist
