#!/usr/bin/env bash
# with-postgres.sh CMD [ARGS...]
#
# Runs CMD with TEST_DATABASE_URL pointing at a throwaway PostgreSQL cluster
# (127.0.0.1, a free port, trust authentication, fsync off), stopped and
# deleted when CMD exits, fails or is interrupted. Exits with CMD's status.
#
# PG_DURABLE=1 keeps PostgreSQL's durable defaults (fsync, synchronous_commit
# and full_page_writes on), for benchmarks that must pay for commits as a
# production database does (make bench).
#
# When TEST_DATABASE_URL is already set, it just runs CMD.
#
# initdb and pg_ctl are taken from PATH or /usr/lib/postgresql/*/bin (the
# newest). When they are missing and this runs as root with apt-get, it
# installs Debian's postgresql package; otherwise it fails saying so.
# initdb refuses to run as root: as root, the cluster runs as the
# unprivileged user "postgres" (created when absent).
#
# For suites that start clusters of their own (the fault suite,
# server/faulttest), it also exports:
#   TEST_PGBIN   the directory of initdb, pg_ctl and postgres
#   TEST_PGAS    a command that runs its arguments as the cluster's owner
#                (this user, or "postgres" when running as root), from /
set -euo pipefail

prog=${0##*/}
die() { echo "$prog: $*" >&2; exit 1; }

[ $# -gt 0 ] || die "usage: $prog CMD [ARGS...]"

if [ -n "${TEST_DATABASE_URL:-}" ]; then
	exec "$@"
fi

find_bindir() {
	local initdb d
	if initdb=$(command -v initdb) && command -v pg_ctl >/dev/null; then
		dirname "$initdb"
		return 0
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

if ! bindir=$(find_bindir); then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "$prog: initdb not found; installing postgresql with apt-get" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2 ||
			die "apt-get install postgresql failed"
		bindir=$(find_bindir) || die "initdb still not found after installing postgresql"
	else
		die "initdb/pg_ctl not found: install the PostgreSQL server (Debian package: postgresql)"
	fi
fi

# The cluster runs as its owner: this user, or "postgres" when running as
# root.
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin postgres 2>/dev/null ||
		adduser --system --group --no-create-home postgres >/dev/null ||
		die "cannot create the user postgres"
fi

start_ns=$(date +%s%N)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/onecharge-pg.XXXXXX")
chmod 700 "$tmp"
if [ "$(id -u)" = 0 ]; then
	chown postgres: "$tmp"
fi
data=$tmp/data
started=

cleanup() {
	local status=$?
	trap - EXIT INT TERM HUP
	if [ -n "$started" ]; then
		as_pg "$bindir/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# as_pg runs a command as the cluster's owner, through the wrapper that
# TEST_PGAS names.
if [ "$(id -u)" = 0 ]; then
	if command -v runuser >/dev/null; then
		as_line='cd / && exec runuser -u postgres -- "$@"'
	else
		as_line='cd / && exec su postgres -s /bin/sh -c '"'"'exec "$0" "$@"'"'"' "$@"'
	fi
else
	as_line='cd / && exec "$@"'
fi
mkdir "$tmp/bin"
printf '#!/bin/sh\n# Runs its arguments as the owner of the cluster in %s.\n%s\n' "$data" "$as_line" >"$tmp/bin/as-pg"
chmod 755 "$tmp/bin" "$tmp/bin/as-pg"
as_pg() { "$tmp/bin/as-pg" "$@"; }

as_pg "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C \
	--no-sync --no-instructions >"$tmp/initdb.log" 2>&1 ||
	{ cat "$tmp/initdb.log" >&2; die "initdb failed"; }

# A port is free when nothing answers on it; bind races are retried.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
if [ "${PG_DURABLE:-}" = 1 ]; then
	durability="-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
fi
for attempt in 1 2 3 4 5; do
	port=$((20000 + RANDOM % 40000))
	port_in_use "$port" && continue
	if as_pg "$bindir/pg_ctl" -D "$data" -l "$tmp/server.log" -w -t 60 -s \
		-o "-c listen_addresses=127.0.0.1 -p $port -k $tmp $durability -c max_connections=300" \
		start; then
		started=1
		break
	fi
	grep -q "could not bind\|already in use" "$tmp/server.log" 2>/dev/null || break
done
if [ -z "$started" ]; then
	cat "$tmp/server.log" >&2 2>/dev/null || true
	die "PostgreSQL did not start"
fi

export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
export TEST_PGBIN=$bindir TEST_PGAS=$tmp/bin/as-pg
version=$("$bindir/postgres" --version 2>/dev/null | awk '{print $3}')
elapsed_ms=$((($(date +%s%N) - start_ns) / 1000000))
printf '%s: PostgreSQL %s at %s (%s, started in %d.%03ds)\n' "$prog" "${version:-?}" \
	"$TEST_DATABASE_URL" "$( [ "${PG_DURABLE:-}" = 1 ] && echo "fsync on" || echo "fsync off")" $((elapsed_ms / 1000)) $((elapsed_ms % 1000)) >&2

set +e
"$@"
status=$?
set -e
exit "$status"
