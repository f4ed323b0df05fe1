#!/bin/sh
# wasm-size.sh WASMFILE: prints the raw, gzip -9 and brotli -q 11 sizes of
# a file, one line each, in bytes and KB (1 KB = 1024 bytes).
#
# The bundle is built with (see the Makefile)
#   GOOS=js GOARCH=wasm go build -trimpath -gcflags="github.com/onecharge/onecharge/...=-l" -ldflags="-s -w" -o web/onecharge.wasm ./wasm
set -eu

if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then
	echo "usage: $0 WASMFILE" >&2
	exit 2
fi
file=$1

line() { # label bytes
	awk -v l="$1" -v b="$2" 'BEGIN { printf "%-7s %9d bytes %9.1f KB\n", l ":", b, b / 1024 }'
}

line raw "$(wc -c <"$file" | tr -d ' ')"
if command -v gzip >/dev/null 2>&1; then
	line gzip "$(gzip -9 -c "$file" | wc -c | tr -d ' ')"
else
	echo "gzip: not installed"
fi
if command -v brotli >/dev/null 2>&1; then
	line brotli "$(brotli -q 11 -c "$file" | wc -c | tr -d ' ')"
else
	echo "brotli: not installed"
fi
