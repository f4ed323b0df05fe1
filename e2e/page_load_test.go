package e2e_test

import (
	"context"
	"encoding/base64"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/testenv"
)

// resource is what Chromium reported of one request of a page load.
type resource struct {
	URL             string
	Status          int64             // as the Network domain reports it
	WireStatus      int64             // the status on the wire (ExtraInfo): 304 for a revalidation
	Headers         map[string]string // response headers, lower-case names
	RequestHeaders  map[string]string // as sent, lower-case names
	FromCache       bool              // answered by the memory or disk cache, no request sent
	EncodedLength   float64
	Finished        bool
	RevalidatedWith string // the If-None-Match sent, if any
}

// netLog records every request of a tab, by request id.
type netLog struct {
	mu    sync.Mutex
	byID  map[network.RequestID]*resource
	order []network.RequestID
}

func watchNetwork(tb *tab) *netLog {
	l := &netLog{byID: map[network.RequestID]*resource{}}
	get := func(id network.RequestID) *resource {
		r := l.byID[id]
		if r == nil {
			r = &resource{Headers: map[string]string{}, RequestHeaders: map[string]string{}}
			l.byID[id] = r
			l.order = append(l.order, id)
		}
		return r
	}
	chromedp.ListenTarget(tb.ctx, func(ev any) {
		l.mu.Lock()
		defer l.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			get(ev.RequestID).URL = ev.Request.URL
		case *network.EventRequestWillBeSentExtraInfo:
			r := get(ev.RequestID)
			for k, v := range ev.Headers {
				r.RequestHeaders[strings.ToLower(k)] = toString(v)
			}
			r.RevalidatedWith = r.RequestHeaders["if-none-match"]
		case *network.EventRequestServedFromCache:
			get(ev.RequestID).FromCache = true
		case *network.EventResponseReceived:
			r := get(ev.RequestID)
			r.Status = ev.Response.Status
			r.FromCache = r.FromCache || ev.Response.FromDiskCache
			for k, v := range ev.Response.Headers {
				r.Headers[strings.ToLower(k)] = toString(v)
			}
		case *network.EventResponseReceivedExtraInfo:
			get(ev.RequestID).WireStatus = ev.StatusCode
		case *network.EventLoadingFinished:
			r := get(ev.RequestID)
			r.Finished, r.EncodedLength = true, ev.EncodedDataLength
		}
	})
	return l
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

// take returns the requests recorded so far and forgets them.
func (l *netLog) take() []resource {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]resource, 0, len(l.order))
	for _, id := range l.order {
		out = append(out, *l.byID[id])
	}
	l.byID, l.order = map[network.RequestID]*resource{}, nil
	return out
}

func byPath(rs []resource, path string) []resource {
	var out []resource
	for _, r := range rs {
		if urlPath(r.URL) == path {
			out = append(out, r)
		}
	}
	return out
}

// TestPageLoadCompressedAndCached: the first load gets the bundle brotli
// compressed under a versioned URL, fetched once (the preload is used) and
// streamed into the compiler; a reload revalidates the page (304) and takes
// the versioned files from the cache without asking the server.
func TestPageLoadCompressedAndCached(t *testing.T) {
	env := newEnv(t, testenv.Options{})
	tb := newTab(t, env, nil, "shop")
	log := watchNetwork(tb)

	tb.open("/")
	var ready bool
	tb.run("await onecharge.ready", chromedp.Evaluate(`onecharge.ready.then(api => typeof api.validateCartItems === 'function')`, &ready,
		func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	require.True(t, ready, "onecharge.ready resolves with the API")
	tb.waitFor("the loader's marks", `performance.getEntriesByName('onecharge:ready').length === 1`)

	first := log.take()
	wasm := byPath(first, "/onecharge.wasm")
	require.Len(t, wasm, 1, "one request for the bundle: the fetch uses the preload; requests: %+v", first)
	w := wasm[0]
	assert.Contains(t, w.URL, "onecharge.wasm?v=", "a versioned URL")
	assert.EqualValues(t, 200, w.Status)
	assert.Equal(t, "br", w.Headers["content-encoding"], "Chromium asks for brotli and gets it")
	assert.Equal(t, "application/wasm", w.Headers["content-type"], "streaming compilation needs it")
	assert.Equal(t, "public, max-age=31536000, immutable", w.Headers["cache-control"])
	assert.Contains(t, w.Headers["vary"], "Accept-Encoding")
	assert.NotEmpty(t, w.Headers["etag"])
	require.True(t, w.Finished)
	assert.Less(t, w.EncodedLength, 0.5*2.7e6, "compressed on the wire")
	for _, name := range []string{"/", "/onecharge.js", "/wasm_exec.js", "/app.js", "/style.css"} {
		rs := byPath(first, name)
		if assert.Len(t, rs, 1, name) {
			assert.Equal(t, "br", rs[0].Headers["content-encoding"], name)
		}
	}
	for _, e := range tb.consoleLog() {
		assert.NotContains(t, e.Text, "preload", "Chromium warns about an unused preload: %s", e.Text)
	}

	tb.reload()
	tb.waitFor("the loader's marks after the reload", `performance.getEntriesByName('onecharge:ready').length === 1`)
	again := log.take()
	page := byPath(again, "/")
	require.Len(t, page, 1)
	assert.NotEmpty(t, page[0].RevalidatedWith, "the page is revalidated with its ETag")
	assert.EqualValues(t, 304, page[0].WireStatus, "and is not sent again: %+v", page[0])
	for _, name := range []string{"/onecharge.wasm", "/onecharge.js", "/wasm_exec.js", "/app.js", "/style.css"} {
		for _, r := range byPath(again, name) {
			assert.True(t, r.FromCache, "%s comes from the cache: %+v", name, r)
			assert.Empty(t, r.RevalidatedWith, "%s is not revalidated: its URL names its version", name)
		}
	}
}

// TestPageLoadWrongMIME: a server (or proxy) that sends the bundle without
// application/wasm defeats streaming compilation; the loader compiles from
// the bytes instead and the module still gets ready.
func TestPageLoadWrongMIME(t *testing.T) {
	env := newEnv(t, testenv.Options{})
	tb := newTab(t, env, nil, "shop", fetch.Enable().WithPatterns([]*fetch.RequestPattern{
		{URLPattern: "*onecharge.wasm*", RequestStage: fetch.RequestStageResponse},
	}))
	var rewritten sync.WaitGroup
	var mu sync.Mutex
	count := 0
	chromedp.ListenTarget(tb.ctx, func(ev any) {
		paused, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		rewritten.Add(1)
		go func() {
			defer rewritten.Done()
			err := chromedp.Run(tb.ctx, chromedp.ActionFunc(func(ctx context.Context) error {
				body, err := fetch.GetResponseBody(paused.RequestID).Do(ctx)
				if err != nil {
					return err
				}
				var headers []*fetch.HeaderEntry
				for _, h := range paused.ResponseHeaders {
					switch strings.ToLower(h.Name) {
					case "content-type", "content-encoding", "content-length":
						continue
					}
					headers = append(headers, h)
				}
				headers = append(headers, &fetch.HeaderEntry{Name: "Content-Type", Value: "application/octet-stream"})
				return fetch.FulfillRequest(paused.RequestID, paused.ResponseStatusCode).
					WithResponseHeaders(headers).WithBody(base64.StdEncoding.EncodeToString(body)).Do(ctx)
			}))
			mu.Lock()
			count++
			mu.Unlock()
			if err != nil {
				t.Errorf("rewrite the bundle's response: %v", err)
			}
		}()
	})
	tb.open("/")
	rewritten.Wait()
	mu.Lock()
	assert.GreaterOrEqual(t, count, 1, "the bundle was served with the wrong type")
	t.Logf("bundle responses rewritten: %d", count)
	mu.Unlock()
	var state string
	tb.eval(`document.getElementById('module-status').dataset.state`, &state)
	assert.Equal(t, "ready", state)
}
