package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/tracing"
	"github.com/chromedp/chromedp"
	"github.com/go-json-experiment/json/jsontext"
)

// traceCategories: page loading, the main thread's tasks, V8's WebAssembly
// compilation, and the page's performance marks.
var traceCategories = []string{
	"devtools.timeline", "disabled-by-default-devtools.timeline", "loading", "blink.user_timing",
	"v8", "v8.wasm", "disabled-by-default-v8.wasm.detailed", "disabled-by-default-v8.compile",
	"v8.execute", "toplevel", "netlog", "blink.resource", "navigation",
}

// traceLoad records a Chromium trace of one cold load of url into out
// (Chrome's JSON trace format, for chrome://tracing or Perfetto) and
// prints its summary.
func traceLoad(browser context.Context, url, out string) error {
	tctx, closeTab, err := newTab(browser)
	if err != nil {
		return err
	}
	defer closeTab()
	var mu sync.Mutex
	var events []jsontext.Value
	complete := make(chan struct{})
	chromedp.ListenTarget(tctx, func(ev any) {
		switch ev := ev.(type) {
		case *tracing.EventDataCollected:
			mu.Lock()
			events = append(events, ev.Value...)
			mu.Unlock()
		case *tracing.EventTracingComplete:
			close(complete)
		}
	})
	ctx, cancel := context.WithTimeout(tctx, 90*time.Second)
	defer cancel()
	var ready float64
	err = chromedp.Run(ctx,
		network.Enable(),
		network.SetCacheDisabled(true),
		chromedp.ActionFunc(func(ctx context.Context) error {
			_, err := page.AddScriptToEvaluateOnNewDocument(readyHook).Do(ctx)
			return err
		}),
		tracing.Start().WithTransferMode(tracing.TransferModeReportEvents).
			WithTraceConfig(&tracing.TraceConfig{IncludedCategories: traceCategories}),
		chromedp.Navigate(url),
		chromedp.Poll(`(() => { const m = performance.getEntriesByName('bench:ready')[0]; return m ? m.startTime : 0; })()`,
			&ready, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.Sleep(500*time.Millisecond),
		tracing.End(),
	)
	if err != nil {
		return err
	}
	select {
	case <-complete:
	case <-ctx.Done():
		return ctx.Err()
	}
	mu.Lock()
	defer mu.Unlock()
	data, err := json.Marshal(map[string]any{"traceEvents": events})
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "trace of %s (ready at %.1f ms): %s, %d events\n", url, ready, out, len(events))
	return summarize(os.Stderr, data)
}
