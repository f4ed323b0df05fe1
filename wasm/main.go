//go:build js && wasm

// Command wasm is onecharge's browser module: it wires keyflow to
// localStorage, fetch and the Web Locks API and installs the API on
// globalThis.onecharge (CONTRACT.md section 6). Build it with
//
//	GOOS=js GOARCH=wasm go build -trimpath -gcflags="github.com/onecharge/onecharge/...=-l" -ldflags="-s -w" -o web/onecharge.wasm ./wasm
//
// and load it with web/onecharge.js. Its brotli-compressed size must stay
// within 700 KB: size_test.go measures it, and rejects encoding/json, fmt,
// net/http, net/url, reflect, time and context among its dependencies.
package main

import (
	"github.com/onecharge/onecharge/shared/keyflow"
	"github.com/onecharge/onecharge/wasm/browser"
)

func main() {
	store := browser.NewLocalStorage()
	client := keyflow.New(store, browser.Fetch{})
	client.Log = browser.Debug
	client.Sleep, client.Now = browser.Sleep, browser.Now // keyflow's browser build has no clock
	if locks, ok := browser.NewWebLocks(); ok {
		client.Locker = locks // validations take turns across the origin's tabs
	} else {
		browser.Debug("onecharge: the Web Locks API is not available; validations are serialized in this tab only")
	}
	browser.Install(client, store)
	select {} // serve calls from JavaScript for the life of the page
}
