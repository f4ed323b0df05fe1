//go:build pprof

package main

// Built only with -tags pprof (make bench builds bin/onecharge-pprof so,
// to profile each path end to end; tools/serverbench): the runtime
// profiles on their own listener, ONECHARGE_PPROF_ADDR (for example
// 127.0.0.1:6060), never on the API's. The server make build produces
// has none of this.

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("ONECHARGE_PPROF_ADDR")
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		if err := http.ListenAndServe(addr, mux); err != nil {
			fmt.Fprintf(os.Stderr, "onecharge: pprof on %s: %v\n", addr, err)
		}
	}()
}
