# onecharge — see README.md. `make run` and `make test` are the two commands.
SHELL := /bin/bash
GO    ?= go
PORT  ?= 8080
GOROOT_WASM := $(shell $(GO) env GOROOT)/lib/wasm
# The bundle's build flags (wasm/size_test.go and wasm/bench_test.go use the
# same): no inlining in the project's own packages, whose speed does not
# matter (they wait on fetch) but whose size does (about 6 KB brotli).
WASM_GCFLAGS := github.com/onecharge/onecharge/...=-l

.PHONY: all build server wasm worker run test vet bench soak clean

all: build

build: server wasm

server:
	$(GO) build -trimpath -o bin/onecharge ./server/cmd/onecharge
	$(GO) build -trimpath -o bin/stripesim ./server/cmd/stripesim

# The browser bundle: Go compiled to WebAssembly plus the toolchain's loader,
# and the .br/.gz siblings the server sends by Accept-Encoding.
wasm:
	GOOS=js GOARCH=wasm $(GO) build -trimpath -gcflags="$(WASM_GCFLAGS)" -ldflags="-s -w" -o web/onecharge.wasm ./wasm
	cp "$(GOROOT_WASM)/wasm_exec.js" web/wasm_exec.js
	@scripts/wasm-size.sh web/onecharge.wasm
	$(GO) run ./tools/precompress web

# The Cloudflare Worker (server/cmd/onecharge-worker, build tag workers) and
# its static assets (web/); prints the bundle size wrangler would upload.
worker: wasm
	@scripts/worker.sh

run: build
	PORT=$(PORT) ./bin/onecharge -web web

vet:
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./shared/... ./wasm/...
	GOOS=js GOARCH=wasm $(GO) vet -tags workers ./server/cmd/onecharge-worker/ ./server/postgres/cfsocket/

# Every suite; provisions PostgreSQL, Chromium and stripe-mock when missing.
test:
	scripts/test.sh

bench:
	scripts/bench.sh

# The long runs, each for SOAK: the model-based randomized test
# (server/modeltest) on each store (memory, then PostgreSQL), printing how
# many checks and steps ran (a failure prints the shrunk sequence and how
# to replay it); then the fault campaign (server/faulttest) with SOAK of
# faults instead of make test's 50 s, printing its figures.
# make soak SOAK=30m.
SOAK ?= 5m
soak:
	ONECHARGE_SOAK=$(SOAK) scripts/with-postgres.sh $(GO) test -count=1 -v -timeout 0 -run '^TestModel$$' ./server/modeltest/
	ONECHARGE_SOAK=$(SOAK) CI=true scripts/with-postgres.sh $(GO) test -count=1 -v -timeout 0 -run '^TestFaultCampaign$$' ./server/faulttest/

clean:
	rm -rf bin web/onecharge.wasm web/wasm_exec.js web/*.br web/*.gz server/cmd/onecharge-worker/build
