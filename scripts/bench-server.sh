#!/usr/bin/env bash
# The server's part of make bench (issue 12): end to end under load with
# wrk, each figure against its floor of CONTRACT.md section 8 in the same
# run (tools/serverbench):
#   ServerCartPG     PUT /api/cart, PostgreSQL store
#                    / a minimal net/http + pgx/v5 handler, same SQL
#   ServerReplayPG   validate replay, PostgreSQL store
#                    / pgbench running the same SQL; / net/http + pgx, same SQL
#   ServerReplayMem  validate replay, memory store / a minimal net/http JSON handler
# at BENCH_SERVER_CONNS (default 8,32) connections, BENCH_SERVER_ROUNDS
# (default 5) rounds of BENCH_SERVER_DURATION (default 5s) runs, against a
# durable PostgreSQL (fsync on). Then a CPU profile of each path from a
# build with -tags pprof, into BENCH_PROFILE_DIR (default bin/profiles).
# Prints `go test -bench` lines on stdout (tools/benchreport reads them),
# progress on stderr. About 8 minutes with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
if ! command -v wrk >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "installing Debian package wrk (the HTTP load of make bench)" >&2
		apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2
	else
		echo "missing: wrk — install the Debian package 'wrk' (apt-get install wrk)" >&2
		exit 1
	fi
fi
command -v pgbench >/dev/null || { echo "missing: pgbench — install the Debian package postgresql-client" >&2; exit 1; }
$GO build -trimpath -o bin/onecharge ./server/cmd/onecharge >&2
$GO build -trimpath -tags pprof -o bin/onecharge-pprof ./server/cmd/onecharge >&2
$GO build -o bin/serverbench ./tools/serverbench >&2
# A cluster of its own, durable: with-postgres.sh reuses TEST_DATABASE_URL
# when it is set, and the tests' clusters run with fsync off.
env -u TEST_DATABASE_URL PG_DURABLE=1 scripts/with-postgres.sh bin/serverbench \
	-server bin/onecharge -profile-server bin/onecharge-pprof -profile-dir "${BENCH_PROFILE_DIR:-bin/profiles}" \
	-conns "${BENCH_SERVER_CONNS:-8,32}" -rounds "${BENCH_SERVER_ROUNDS:-5}" -duration "${BENCH_SERVER_DURATION:-5s}"
