# Two commands matter: `make run` and `make test`. Both do every set-up step
# first, and every step is idempotent, so a fresh Debian 12 machine (as root)
# and a warm developer checkout take the same path.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export GOFLAGS := -buildvcs=false

BUILD   := build
ROOTFS  := $(BUILD)/rootfs
PORT    ?= 8080
GO      ?= go

.PHONY: all setup deps rootfs client build run test test-go test-client test-e2e lint bench loadtest clean

all: build

# Host packages (apt), pinned where Debian allows.
deps:
	@bash infra/setup/install-host-deps.sh

# The read-only tree every jail runs in: Debian python3 + numpy + pandas + NsJail.
rootfs: deps
	@bash infra/build-rootfs.sh $(ROOTFS)

client:
	@bash infra/setup/build-client.sh

setup: deps rootfs client

build: client
	@mkdir -p bin
	$(GO) build -o bin/server ./cmd/server

run: setup build
	PORT=$(PORT) SANDBOX_ROOTFS=$(abspath $(ROOTFS)) ./bin/server

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './client/*'))" || { gofmt -l .; echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

test-go: setup build
	SANDBOX_ROOTFS=$(abspath $(ROOTFS)) $(GO) test -race -count=1 -timeout 40m ./...

test-client: client
	@bash infra/setup/test-client.sh

test-e2e: setup build
	@bash infra/setup/test-e2e.sh

test: setup build lint test-go test-client test-e2e

bench: setup build
	SANDBOX_ROOTFS=$(abspath $(ROOTFS)) $(GO) test -run '^$$' -bench . -benchtime 20x ./sandboxcore/

clean:
	rm -rf bin $(BUILD) client/dist
