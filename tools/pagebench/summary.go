package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// traceEvent is the part of a Chrome trace event the summary reads.
type traceEvent struct {
	Name string  `json:"name"`
	Cat  string  `json:"cat"`
	Ph   string  `json:"ph"`
	TS   float64 `json:"ts"`  // µs
	Dur  float64 `json:"dur"` // µs
	PID  int     `json:"pid"`
	TID  int     `json:"tid"`
	Args struct {
		Name string `json:"name"`
		Data struct {
			URL                string  `json:"url"`
			RequestID          string  `json:"requestId"`
			DocumentLoaderURL  string  `json:"documentLoaderURL"`
			EncodedDataLength  float64 `json:"encodedDataLength"`
			DecodedBodyLength  float64 `json:"decodedBodyLength"`
			IsLoadingMainFrame bool    `json:"isLoadingMainFrame"`
		} `json:"data"`
		ChromeMojo struct {
			Tag string `json:"watcher_notify_interface_tag"`
		} `json:"chrome_mojo_event_info"`
	} `json:"args"`
}

// summarize prints where a page load's time to onecharge.ready went: the
// loader's marks, the bundle's request, and the renderer main thread's
// work by phase, from navigation start (ms).
func summarize(w io.Writer, trace []byte) error {
	var t struct {
		TraceEvents []traceEvent `json:"traceEvents"`
	}
	if err := json.Unmarshal(trace, &t); err != nil {
		return err
	}
	threads := map[[2]int]string{}
	var nav *traceEvent
	for i, e := range t.TraceEvents {
		if e.Ph == "M" && e.Name == "thread_name" {
			threads[[2]int{e.PID, e.TID}] = e.Args.Name
		}
		if e.Name == "navigationStart" && strings.HasPrefix(e.Args.Data.DocumentLoaderURL, "http") {
			nav = &t.TraceEvents[i]
		}
	}
	if nav == nil {
		return fmt.Errorf("no navigationStart in the trace")
	}
	t0, pid := nav.TS, nav.PID
	ms := func(ts float64) float64 { return (ts - t0) / 1000 }
	onMain := func(e traceEvent) bool {
		return e.PID == pid && threads[[2]int{e.PID, e.TID}] == "CrRendererMain"
	}

	marks := map[string]float64{}
	type request struct {
		url                  string
		sent, response, done float64
		encoded              float64
	}
	requests := map[string]*request{}
	var order []string
	for _, e := range t.TraceEvents {
		if e.PID != pid {
			continue
		}
		switch {
		case e.Cat == "blink.user_timing" && (strings.HasPrefix(e.Name, "onecharge:") || strings.HasPrefix(e.Name, "bench:")):
			if _, ok := marks[e.Name]; !ok {
				marks[e.Name] = ms(e.TS)
			}
		case e.Name == "ResourceSendRequest":
			requests[e.Args.Data.RequestID] = &request{url: e.Args.Data.URL, sent: ms(e.TS)}
			order = append(order, e.Args.Data.RequestID)
		case e.Name == "ResourceReceiveResponse":
			if r := requests[e.Args.Data.RequestID]; r != nil {
				r.response = ms(e.TS)
			}
		case e.Name == "ResourceFinish":
			if r := requests[e.Args.Data.RequestID]; r != nil {
				r.done, r.encoded = ms(e.TS), e.Args.Data.EncodedDataLength
			}
		}
	}
	ready, ok := marks["bench:ready"]
	if !ok {
		return fmt.Errorf("no bench:ready mark in the trace")
	}

	fmt.Fprintf(w, "\nwhere the time to ready went (ms from navigation start; ready at %.1f)\n", ready)
	fmt.Fprintln(w, "  marks:")
	names := make([]string, 0, len(marks))
	for n := range marks {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return int(marks[a]*1000 - marks[b]*1000) })
	for _, n := range names {
		fmt.Fprintf(w, "    %8.1f  %s\n", marks[n], n)
	}
	fmt.Fprintln(w, "  requests (sent, response, finished, bytes on the wire):")
	for _, id := range order {
		r := requests[id]
		if r.sent > ready+50 {
			continue
		}
		fmt.Fprintf(w, "    %8.1f %8.1f %8.1f %9.0f  %s\n", r.sent, r.response, r.done, r.encoded, r.url)
	}

	// The main thread's top-level tasks up to ready, and the work inside
	// them that belongs to the bundle.
	var busy, buffering, compile, lazy, instantiate, scripts float64
	for _, e := range t.TraceEvents {
		if e.Ph != "X" || !onMain(e) || ms(e.TS) > ready || ms(e.TS+e.Dur) < 0 {
			continue
		}
		d := e.Dur / 1000
		switch {
		case e.Name == "ThreadControllerImpl::RunTask":
			busy += d
		case e.Name == "SimpleWatcher::OnHandleReady" && strings.Contains(e.Args.ChromeMojo.Tag, "data_pipe_bytes_consumer"):
			buffering += d
		case e.Name == "v8.wasm.compileConsume" || e.Name == "v8.wasm.compileConsumeDone":
			compile += d
		case e.Name == "wasm.CompileLazy":
			lazy += d
		case e.Name == "wasm.SyncInstantiate":
			instantiate += d
		case e.Name == "EvaluateScript":
			scripts += d
		}
	}
	fmt.Fprintln(w, "  renderer main thread until ready (ms):")
	fmt.Fprintf(w, "    %8.1f  busy in tasks\n", busy)
	fmt.Fprintf(w, "    %8.1f  evaluating scripts\n", scripts)
	fmt.Fprintf(w, "    %8.1f  reading response bodies into memory (preloads)\n", buffering)
	fmt.Fprintf(w, "    %8.1f  streaming compilation: feeding bytes to V8\n", compile)
	fmt.Fprintf(w, "    %8.1f  instantiating\n", instantiate)
	fmt.Fprintf(w, "    %8.1f  compiling functions on first call (Liftoff, lazy)\n", lazy)
	if c, ok := marks["onecharge:instantiated"]; ok {
		fmt.Fprintf(w, "    %8.1f  Go runtime start and main until ready (instantiated → ready, lazy compilation included)\n", marks["onecharge:ready"]-c)
	}
	return nil
}
