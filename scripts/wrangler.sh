#!/usr/bin/env bash
# wrangler.sh provision: makes sure the pinned wrangler (and with it workerd)
# is installed in server/cmd/onecharge-worker/node_modules, running `npm ci`
# from the lock file when it is missing or not the pinned version.
# Prints the path of the wrangler executable.
set -euo pipefail
cd "$(dirname "$0")/../server/cmd/onecharge-worker"
want=$(sed -n 's/.*"wrangler": *"\([^"]*\)".*/\1/p' package.json)
bin=$PWD/node_modules/.bin/wrangler
have=
if [ -x "$bin" ]; then
	have=$(node -p 'require("./node_modules/wrangler/package.json").version' 2>/dev/null || true)
fi
if [ "$have" != "$want" ]; then
	command -v npm >/dev/null || { echo "wrangler.sh: npm not found: install Node.js 20 with npm" >&2; exit 1; }
	echo "wrangler.sh: installing wrangler $want with npm ci" >&2
	npm ci --no-audit --no-fund --loglevel=error >&2 ||
		{ echo "wrangler.sh: npm ci failed" >&2; exit 1; }
fi
echo "$bin"
