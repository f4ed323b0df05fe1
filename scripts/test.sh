#!/usr/bin/env bash
# make test: every suite of onecharge, strictly. It provisions what it can
# (PostgreSQL, Chromium, stripe-mock) and fails naming what it cannot; no
# suite is skipped. Each part prints how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."

# The test code reads CI=true as "a suite that cannot run is a failure".
export CI=true
GO=${GO:-go}

step_start=0
step() { step_start=$(date +%s); printf '\n=== %s\n' "$*"; }
done_step() { printf '=== %s: %ss\n' "$1" "$(( $(date +%s) - step_start ))"; }

need_root_install() { # package, what for
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "installing Debian package $1 ($2)"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
	else
		echo "missing: $2 — install the Debian package '$1' (apt-get install $1)" >&2
		exit 1
	fi
}

step "tools"
command -v node >/dev/null || { echo "missing: node (Node.js 20) for the js/wasm suites" >&2; exit 1; }
command -v chromium >/dev/null || need_root_install chromium "headless Chromium for the browser tests"
command -v brotli >/dev/null || need_root_install brotli "brotli, to report the bundle's compressed size"
gobin=$($GO env GOPATH)/bin
if ! command -v stripe-mock >/dev/null && [ ! -x "$gobin/stripe-mock" ]; then
	echo "installing stripe-mock v0.203.0"
	$GO install github.com/stripe/stripe-mock@v0.203.0
fi
export PATH="$PATH:$gobin"
done_step tools

step "build (server and wasm bundle)"
make --no-print-directory build
done_step build

step "go vet (native, and js/wasm for shared/, wasm/ and the Worker)"
$GO vet ./...
GOOS=js GOARCH=wasm $GO vet ./shared/... ./wasm/...
GOOS=js GOARCH=wasm $GO vet -tags workers ./server/cmd/onecharge-worker/ ./server/postgres/cfsocket/
done_step vet

# The Worker suite (server/workertest, in the native run below) builds the
# Worker again into a directory of its own; this step provisions wrangler
# from the lock file and shows the bundle size.
step "Cloudflare Worker (make worker: build, wrangler, bundle size)"
scripts/worker.sh
done_step worker

step "js/wasm: shared packages under Node"
PATH="$($GO env GOROOT)/lib/wasm:$PATH" GOOS=js GOARCH=wasm $GO test -count=1 ./shared/...
done_step js/wasm

step "native: go test -race ./... (PostgreSQL, stripe-mock, Chromium included)"
rm -f bin/faulttest-report.txt
scripts/with-postgres.sh $GO test -race -count=1 -timeout 30m ./...
done_step native
# go test shows nothing of a passing package: the fault campaign's figures.
if [ -f bin/faulttest-report.txt ]; then cat bin/faulttest-report.txt; fi
