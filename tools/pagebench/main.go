// Command pagebench measures the storefront's page load in headless
// Chromium against the real server (bin/onecharge), each figure with its
// floor in the same run (CONTRACT.md section 8), and prints `go test
// -bench` lines for tools/benchreport:
//
//	BenchmarkPageReady            time to onecharge.ready, ns/op, one line per cold load
//	BenchmarkPageReadyFloorEmpty  the same page, loader and server running an
//	                              empty Go syscall/js program that resolves ready
//	BenchmarkPageWire             bytes on the wire of a first load (every
//	                              resource's encodedDataLength as Chromium reports it)
//	BenchmarkPageWireFloorBrotli  the brotli -q 11 size of onecharge.wasm
//
// Every load is cold: a new browser context (its own HTTP cache, cookies and
// storage) with the cache disabled. Loads of the figure and the floor
// alternate, so that drift on a shared machine hits both alike. Time to
// ready is read from a mark that a script installed before the page's own
// scripts sets when onecharge.ready resolves, relative to navigation start.
//
//	go run ./tools/pagebench [-web web] [-n 9] [-trace trace.json] [-trace-floor floor.json] [-v]
//	go run ./tools/pagebench -summarize trace.json
//	go run ./tools/pagebench -web variantA -against variantB   (A/B: PageReady / its "floor" B)
//
// -trace records a Chromium performance trace of one more cold load of the
// figure and prints where its time to ready went (tools/pagebench/trace.go).
// The web directory must hold a built bundle (make build). It is a
// benchmark: it asserts nothing about timings and runs only when asked
// (make bench).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// readyHook runs before the page's scripts: it marks the moment
// onecharge.ready resolves, whichever loader defines it.
const readyHook = `(() => {
  let value;
  Object.defineProperty(globalThis, 'onecharge', {
    configurable: true, enumerable: true,
    get() { return value; },
    set(v) {
      value = v;
      if (v && v.ready && typeof v.ready.then === 'function' && !v.__benchHooked) {
        try { Object.defineProperty(v, '__benchHooked', {value: true}); } catch (e) {}
        v.ready.then(() => { if (!performance.getEntriesByName('bench:ready').length) performance.mark('bench:ready'); },
                     (e) => { performance.mark('bench:failed'); });
      }
    },
  });
})();`

// floorProgram is the empty Go program of the time floor: it does what the
// loader needs (resolve ready) and nothing else.
const floorProgram = `package main

import "syscall/js"

func main() {
	g := js.Global()
	g.Call("__onechargeReady", g.Get("onecharge"))
	select {}
}
`

var (
	webDir    = flag.String("web", "web", "the built storefront (make build)")
	loads     = flag.Int("n", 9, "cold loads of the figure and of the floor each")
	traceOut  = flag.String("trace", "", "record a Chromium trace of one more cold load into this file and summarize it")
	traceFlr  = flag.String("trace-floor", "", "the same for the floor")
	verbose   = flag.Bool("v", false, "print every load's resources")
	chromium  = flag.String("chromium", "chromium", "the Chromium binary")
	serverBin = flag.String("server", "", "the server binary (default: built from ./server/cmd/onecharge)")
	summary   = flag.String("summarize", "", "only summarize this trace file (of -trace) and exit")
	against   = flag.String("against", "", "an A/B comparison: serve this built storefront as the floor instead of the empty program")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pagebench:", err)
		os.Exit(1)
	}
}

func run() error {
	if *summary != "" {
		data, err := os.ReadFile(*summary)
		if err != nil {
			return err
		}
		return summarize(os.Stdout, data)
	}
	tmp, err := os.MkdirTemp("", "pagebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	bin := *serverBin
	if bin == "" {
		bin = filepath.Join(tmp, "onecharge")
		if err := command("", nil, "go", "build", "-trimpath", "-o", bin, "./server/cmd/onecharge"); err != nil {
			return err
		}
	}
	floorDir := *against
	if floorDir == "" {
		if floorDir, err = floorSite(tmp); err != nil {
			return err
		}
	}
	bundleBrotli, err := brotliSize(filepath.Join(*webDir, "onecharge.wasm"))
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	figure, err := startServer(ctx, bin, *webDir)
	if err != nil {
		return err
	}
	floor, err := startServer(ctx, bin, floorDir)
	if err != nil {
		return err
	}

	browser, stop, err := startBrowser(tmp)
	if err != nil {
		return err
	}
	defer stop()

	// One warm-up load each: the servers read and hash their files.
	for _, url := range []string{figure, floor} {
		if _, err := load(browser, url, false); err != nil {
			return fmt.Errorf("warm-up load of %s: %w", url, err)
		}
	}
	for i := range *loads {
		order := []string{figure, floor}
		if i%2 == 1 {
			order = []string{floor, figure}
		}
		for _, url := range order {
			res, err := load(browser, url, *verbose)
			if err != nil {
				return fmt.Errorf("load %d of %s: %w", i+1, url, err)
			}
			name := "PageReady"
			if url == floor {
				name = "PageReadyFloorEmpty"
			} else {
				fmt.Printf("BenchmarkPageWire 1 %d wire-bytes\n", res.wire)
				fmt.Printf("BenchmarkPageWireFloorBrotli 1 %d wire-bytes\n", bundleBrotli)
			}
			fmt.Printf("Benchmark%s 1 %d ns/op\n", name, res.ready.Nanoseconds())
		}
	}
	for _, tr := range []struct{ url, out string }{{figure, *traceOut}, {floor, *traceFlr}} {
		if tr.out == "" {
			continue
		}
		if err := traceLoad(browser, tr.url, tr.out); err != nil {
			return fmt.Errorf("trace: %w", err)
		}
	}
	return nil
}

// floorSite is the storefront with the floor program as onecharge.wasm.
func floorSite(tmp string) (string, error) {
	dir := filepath.Join(tmp, "floor")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(*webDir)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, "onecharge.wasm") || strings.HasSuffix(name, ".br") || strings.HasSuffix(name, ".gz") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(*webDir, name))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return "", err
		}
	}
	src := filepath.Join(tmp, "floorsrc")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(floorProgram), 0o644); err != nil {
		return "", err
	}
	// Outside any module, on the standard library alone, with the bundle's flags.
	env := []string{"GOOS=js", "GOARCH=wasm", "GO111MODULE=off"}
	if err := command(src, env, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "onecharge.wasm"), "main.go"); err != nil {
		return "", err
	}
	// The same precompression as make build.
	if err := command("", nil, "go", "run", "./tools/precompress", dir); err != nil {
		return "", err
	}
	return dir, nil
}

func brotliSize(file string) (int, error) {
	brotli, err := exec.LookPath("brotli")
	if err != nil {
		return 0, errors.New("brotli not found: apt-get install brotli")
	}
	out, err := exec.Command(brotli, "-q", "11", "-c", file).Output()
	return len(out), err
}

func command(dir string, env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// startServer runs bin on a free port serving web and returns its URL; it
// stops with ctx.
func startServer(ctx context.Context, bin, web string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, "-web", web)
	cmd.Env = append(os.Environ(), "PORT=0", "DATABASE_URL=", "STRIPE_SECRET_KEY=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return "", err
	}
	go func() { _ = cmd.Wait() }()
	lines := bufio.NewScanner(stdout)
	urls := make(chan string, 1)
	go func() {
		for lines.Scan() {
			if u, ok := strings.CutPrefix(lines.Text(), "onecharge listening on "); ok {
				urls <- u
			}
		}
	}()
	select {
	case u := <-urls:
		return u, nil
	case <-time.After(30 * time.Second):
		return "", errors.New("the server did not start within 30s")
	}
}

func startBrowser(tmp string) (context.Context, func(), error) {
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(*chromium),
		chromedp.Flag("headless", "new"),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(filepath.Join(tmp, "profile")),
	)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	started := make(chan error, 1)
	go func() { started <- chromedp.Run(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			cancelBrowser()
			cancelAlloc()
			return nil, nil, err
		}
	case <-time.After(60 * time.Second):
		cancelBrowser()
		cancelAlloc()
		return nil, nil, errors.New("chromium did not start within 60s")
	}
	return ctx, func() { cancelBrowser(); cancelAlloc() }, nil
}

type loadResult struct {
	ready time.Duration
	wire  int64
}

// tab is a new window in a new browser context; close disposes both.
func newTab(browser context.Context) (context.Context, func(), error) {
	bctx, cancel := context.WithTimeout(browser, 20*time.Second)
	defer cancel()
	exec := cdp.WithExecutor(bctx, chromedp.FromContext(browser).Browser)
	bc, err := target.CreateBrowserContext().Do(exec)
	if err != nil {
		return nil, nil, err
	}
	// A new window: Chromium's new headless mode refuses a target in a new
	// browser context without one (see e2e/harness_test.go).
	id, err := target.CreateTarget("about:blank").WithBrowserContextID(bc).WithNewWindow(true).Do(exec)
	if err != nil {
		return nil, nil, err
	}
	tctx, cancelTab := chromedp.NewContext(browser, chromedp.WithTargetID(id))
	closeAll := func() {
		cancelTab()
		dctx, cancel := context.WithTimeout(browser, 10*time.Second)
		defer cancel()
		_ = target.DisposeBrowserContext(bc).Do(cdp.WithExecutor(dctx, chromedp.FromContext(browser).Browser))
	}
	return tctx, closeAll, nil
}

// load opens url cold and waits for ready and a quiet network.
func load(browser context.Context, url string, verbose bool) (loadResult, error) {
	var res loadResult
	tctx, closeTab, err := newTab(browser)
	if err != nil {
		return res, err
	}
	defer closeTab()

	var mu sync.Mutex
	inflight := map[network.RequestID]string{}
	encoding := map[network.RequestID]string{}
	var lines []string
	var wire int64
	lastActivity := time.Now()
	chromedp.ListenTarget(tctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			inflight[ev.RequestID] = ev.Request.URL
			lastActivity = time.Now()
		case *network.EventResponseReceived:
			for k, v := range ev.Response.Headers {
				if strings.EqualFold(k, "content-encoding") {
					encoding[ev.RequestID] = fmt.Sprint(v)
				}
			}
		case *network.EventLoadingFinished:
			wire += int64(ev.EncodedDataLength)
			lines = append(lines, fmt.Sprintf("  %9.0f B %-5s %s", ev.EncodedDataLength, encoding[ev.RequestID], inflight[ev.RequestID]))
			delete(inflight, ev.RequestID)
			lastActivity = time.Now()
		case *network.EventLoadingFailed:
			delete(inflight, ev.RequestID)
			lastActivity = time.Now()
		}
	})
	ctx, cancel := context.WithTimeout(tctx, 60*time.Second)
	defer cancel()
	var ready float64
	err = chromedp.Run(ctx,
		network.Enable(),
		network.SetCacheDisabled(true),
		chromedp.ActionFunc(func(ctx context.Context) error {
			_, err := page.AddScriptToEvaluateOnNewDocument(readyHook).Do(ctx)
			return err
		}),
		chromedp.Navigate(url),
		chromedp.Poll(`(() => { const m = performance.getEntriesByName('bench:ready')[0];
			if (performance.getEntriesByName('bench:failed').length) throw new Error('onecharge.ready rejected');
			return m ? m.startTime : 0; })()`, &ready, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)),
	)
	if err != nil {
		return res, err
	}
	res.ready = time.Duration(ready * float64(time.Millisecond))
	// The page goes on fetching the catalog and the cart: count them too.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		quiet := len(inflight) == 0 && time.Since(lastActivity) > 300*time.Millisecond
		mu.Unlock()
		if quiet {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	res.wire = wire
	if verbose {
		slices.Sort(lines)
		fmt.Fprintf(os.Stderr, "%s: ready %.1f ms, %d B on the wire\n%s\n", url, ready, res.wire, strings.Join(lines, "\n"))
	}
	return res, nil
}
