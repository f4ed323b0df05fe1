//go:build js && wasm

// Command wasm is onecharge's browser module: it wires keyflow to
// localStorage and fetch and installs the API on globalThis.onecharge
// (CONTRACT.md section 6). Build it with
//
//	GOOS=js GOARCH=wasm go build -trimpath -gcflags="github.com/onecharge/onecharge/...=-l" -ldflags="-s -w" -o web/onecharge.wasm ./wasm
//
// and load it with web/onecharge.js. Its brotli-compressed size must stay
// within 700 KB: size_test.go measures it, and rejects encoding/json, fmt,
// net/http and net/url among its dependencies.
package main

import (
	"github.com/onecharge/onecharge/shared/keyflow"
	"github.com/onecharge/onecharge/wasm/browser"
)

func main() {
	client := keyflow.New(browser.NewLocalStorage(), browser.Fetch{})
	client.Log = browser.Debug
	browser.Install(client)
	select {} // serve calls from JavaScript for the life of the page
}
