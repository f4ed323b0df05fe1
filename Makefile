# onecharge — see README.md. `make run` and `make test` are the two commands.
SHELL := /bin/bash
GO    ?= go
PORT  ?= 8080
GOROOT_WASM := $(shell $(GO) env GOROOT)/lib/wasm

.PHONY: all build server wasm run test vet bench soak clean

all: build

build: server wasm

server:
	$(GO) build -trimpath -o bin/onecharge ./server/cmd/onecharge

# The browser bundle: Go compiled to WebAssembly plus the toolchain's loader.
wasm:
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags="-s -w" -o web/onecharge.wasm ./wasm
	cp "$(GOROOT_WASM)/wasm_exec.js" web/wasm_exec.js
	@scripts/wasm-size.sh web/onecharge.wasm

run: build
	PORT=$(PORT) ./bin/onecharge -web web

vet:
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./shared/... ./wasm/...

# Every suite; provisions PostgreSQL, Chromium and stripe-mock when missing.
test:
	scripts/test.sh

bench:
	scripts/bench.sh

# The model-based randomized test (server/modeltest) for SOAK on each store
# (memory, then PostgreSQL): make soak SOAK=30m. It prints how many checks
# and steps ran; a failure prints the shrunk sequence and how to replay it.
SOAK ?= 5m
soak:
	ONECHARGE_SOAK=$(SOAK) scripts/with-postgres.sh $(GO) test -count=1 -v -timeout 0 -run '^TestModel$$' ./server/modeltest/

clean:
	rm -rf bin web/onecharge.wasm web/wasm_exec.js
