#!/usr/bin/env bash
# make bench: the benchmarks, each figure measured with its floor in the
# same run, five times; prints median ratios (tools/benchreport).
#   ReplayPath       / pgbench running the same SQL, same concurrency, same PostgreSQL
#   ValidateReplay   / a minimal net/http JSON handler on this machine
#   Bundle           / an empty Go syscall/js program (brotli -q 11 bytes)
#   PageReady        / the same page, loader and server running an empty Go
#                      program: time to onecharge.ready, cold loads in headless
#                      Chromium (tools/pagebench; PAGE_LOADS of each, default 9)
#   PageWire         / the bundle's brotli size: bytes on the wire of a first
#                      load, every resource, as Chromium reports them
#   ServerCartPG, ServerReplayPG, ServerReplayMem
#                    end to end under wrk, c=8 and c=32, against a minimal
#                      net/http + pgx handler running the same SQL, pgbench,
#                      and a minimal net/http JSON handler: throughput ratios
#                      with p50/p99 (scripts/bench-server.sh, tools/serverbench;
#                      CPU profiles of each path in bin/profiles)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
COUNT=${BENCH_COUNT:-5}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "running benchmarks ($COUNT runs each; raw output in the log below)" >&2
scripts/with-postgres.sh $GO test -run '^$' -bench . -benchtime 2000x -count "$COUNT" \
	./server/postgres/ ./server/httpapi/ ./wasm/ | tee "$out" >&2
command -v chromium >/dev/null || { echo "chromium not found: apt-get install chromium (make test installs it)" >&2; exit 1; }
make --no-print-directory build >&2
$GO run ./tools/pagebench -web web -server bin/onecharge -n "${PAGE_LOADS:-9}" | tee -a "$out" >&2
scripts/bench-server.sh | tee -a "$out" >&2
echo
$GO run ./tools/benchreport < "$out"

# The Cloudflare Worker: bundle size and CPU per request under workerd.
echo
scripts/bench-worker.sh
