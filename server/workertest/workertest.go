package workertest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onecharge/onecharge/server/testenv"
)

// Options configure a Worker started by Start.
type Options struct {
	// DatabaseURL is the PostgreSQL the Hyperdrive binding reaches; ""
	// starts the Worker without a database (it answers 503).
	DatabaseURL string
	// Stripe starts a standalone simulator (server/cmd/stripesim, see
	// Stripe) for this Worker: its API is the Worker's STRIPE_API_BASE,
	// its keys and webhook secret the Worker's, its events go to the
	// Worker's webhook. False starts the Worker with a Stripe key but no
	// reachable Stripe.
	Stripe bool
	// Main, when set, replaces the Go Worker by this script (the plain-JS
	// floor of the CPU benchmark).
	Main string
}

// Worker is a running `wrangler dev`.
type Worker struct {
	URL string
	// Stripe is the Worker's simulator (Options.Stripe), else nil.
	Stripe *Stripe
	log    *testenv.SyncBuffer
	pgid   int // the process group of wrangler and workerd
}

// Log is what wrangler printed so far.
func (w *Worker) Log() string { return w.log.String() }

// Root is the repository's root directory.
func Root(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("workertest: cannot locate the repository")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Unavailable skips the test, or fails it under CI=true, naming what is
// missing.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("workertest: %s", msg)
	}
	t.Skipf("workertest: %s (set CI=true to make this a failure)", msg)
}

// Built is what Build made, once per test binary.
type Built struct {
	// Dir holds the Worker: worker.mjs and app.wasm.
	Dir string
	// Wrangler is the pinned wrangler's executable.
	Wrangler string
	// Stripesim is server/cmd/stripesim, built from this tree by go build.
	Stripesim string
}

var (
	buildOnce sync.Once
	buildTop  string // the temporary directory holding it all
	built     Built
	buildErr  error
)

// Build builds the Worker, provisions wrangler and builds the standalone
// Stripe simulator (into the same temporary directory: a bin/stripesim
// left by an older make build is never used), once per test binary.
func Build(t testing.TB) Built {
	t.Helper()
	for _, tool := range []string{"go", "node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			Unavailable(t, "%s not found: the Worker suite needs Go and Node.js 20 with npm", tool)
		}
	}
	root := Root(t)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "onecharge-worker-*")
		if err != nil {
			buildErr = err
			return
		}
		buildTop = dir
		b := Built{Dir: filepath.Join(dir, "build"), Stripesim: filepath.Join(dir, "stripesim")}
		start := time.Now()
		// The simulator builds while the Worker does.
		simErr := make(chan error, 1)
		go func() {
			out, err := command(root, "go", "build", "-o", b.Stripesim, "./server/cmd/stripesim").run()
			if err != nil {
				err = fmt.Errorf("go build ./server/cmd/stripesim: %v\n%s", err, out)
			}
			simErr <- err
		}()
		defer func() {
			if err := <-simErr; err != nil && buildErr == nil {
				buildErr = err
			}
			if buildErr == nil {
				built = b
				fmt.Fprintf(os.Stderr, "workertest: built the Worker and the Stripe simulator and provisioned wrangler in %s\n", time.Since(start).Round(100*time.Millisecond))
			}
		}()
		if out, err := command(root, "scripts/worker.sh").env("WORKER_SIZE=0", "WORKER_BUILD_DIR="+b.Dir).run(); err != nil {
			buildErr = fmt.Errorf("scripts/worker.sh: %v\n%s", err, out)
			return
		}
		out, err := command(root, "scripts/wrangler.sh", "provision").run()
		if err != nil {
			buildErr = fmt.Errorf("scripts/wrangler.sh provision: %v\n%s", err, out)
			return
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		b.Wrangler = lines[len(lines)-1]
	})
	if buildErr != nil {
		t.Fatalf("workertest: %v", buildErr)
	}
	return built
}

// Cleanup removes the build directory; call it from TestMain.
func Cleanup() {
	if buildTop != "" {
		os.RemoveAll(buildTop)
	}
}

// Start builds the Worker (once) and runs it under `wrangler dev --local`
// until the test ends.
func Start(t testing.TB, opts Options) *Worker {
	t.Helper()
	ws := StartAll(t, opts)
	return ws[0]
}

// StartAll starts one Worker per Options, in parallel (each takes seconds
// to start, most of it compiling the WebAssembly module).
func StartAll(t testing.TB, opts ...Options) []*Worker {
	t.Helper()
	b := Build(t)
	ws := make([]*Worker, len(opts))
	errs := make([]error, len(opts))
	var wg sync.WaitGroup
	for i, o := range opts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 1; ; attempt++ {
				ws[i], errs[i] = start(t, b, o)
				// The ports are free when chosen, but wrangler and workerd
				// bind more of their own: a clash is retried on others.
				if errs[i] == nil || !strings.Contains(errs[i].Error(), "Address already in use") || attempt == 3 {
					break
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("workertest: %v", err)
		}
	}
	return ws
}

// start runs one Worker (and its simulator); it may run on any goroutine
// (no t.Fatal).
func start(t testing.TB, b Built, opts Options) (w *Worker, err error) {
	root := Root(t)
	dir := t.TempDir()

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	inspector, err := freePort()
	if err != nil {
		return nil, err
	}
	w = &Worker{URL: "http://127.0.0.1:" + strconv.Itoa(port), log: &testenv.SyncBuffer{}}
	vars := map[string]string{
		"SESSION_SECRET":    randomHex(24),
		"STRIPE_SECRET_KEY": "sk_test_unreachable",
		"STRIPE_API_BASE":   "http://127.0.0.1:9",
	}
	if opts.Stripe {
		// Started first, on a port of its own choosing (PORT=0), with the
		// Worker's webhook as its endpoint: the Worker needs its URL, it
		// needs the Worker's.
		w.Stripe, err = startStripe(t, b.Stripesim, []string{w.URL + "/api/stripe/webhook"})
		if err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				w.Stripe.sup.stop() // a retry starts another
			}
		}()
		vars["STRIPE_SECRET_KEY"] = w.Stripe.SecretKey
		vars["STRIPE_API_BASE"] = w.Stripe.Base
		vars["STRIPE_PUBLISHABLE_KEY"] = w.Stripe.PublishableKey
		vars["STRIPE_WEBHOOK_SECRET"] = w.Stripe.WebhookSecret
	}
	var cfg strings.Builder
	main := filepath.Join(b.Dir, "worker.mjs")
	if opts.Main != "" {
		main = opts.Main
	}
	fmt.Fprintf(&cfg, "name = \"onecharge-test\"\nmain = %q\ncompatibility_date = \"2026-04-01\"\n\n", main)
	fmt.Fprintf(&cfg, "[assets]\ndirectory = %q\n\n", filepath.Join(root, "web"))
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return nil, err
	}
	env := []string{
		"WRANGLER_SEND_METRICS=false",
		"WRANGLER_LOG_PATH=" + filepath.Join(dir, "logs"),
		"WRANGLER_LOG=log",
		"NO_COLOR=1",
		"FORCE_COLOR=0",
		// Miniflare's scratch directories, which a killed wrangler cannot
		// remove itself, go with the test's directory.
		"TMPDIR=" + tmp,
	}
	if opts.DatabaseURL != "" {
		cfg.WriteString("[[hyperdrive]]\nbinding = \"HYPERDRIVE\"\nid = \"00000000000000000000000000000000\"\n\n")
		env = append(env, "CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE="+withPassword(opts.DatabaseURL))
	}
	config := filepath.Join(dir, "wrangler.toml")
	if err := os.WriteFile(config, []byte(cfg.String()), 0o644); err != nil {
		return nil, err
	}
	args := []string{"dev", "--local", "--config", config, "--ip", "127.0.0.1",
		"--port", strconv.Itoa(port), "--inspector-port", strconv.Itoa(inspector),
		"--persist-to", filepath.Join(dir, "state"), "--show-interactive-dev-session=false", "--log-level", "log"}
	for k, v := range vars {
		args = append(args, "--var", k+":"+v)
	}
	cmd := exec.Command(b.Wrangler, args...)
	cmd.Dir = filepath.Join(root, "server", "cmd", "onecharge-worker")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = w.log, w.log
	// wrangler, workerd and their children die together when the test
	// ends or its binary dies (see superviseScript).
	sup, err := supervise(cmd)
	if err != nil {
		return nil, fmt.Errorf("start wrangler: %v", err)
	}
	t.Cleanup(sup.stop)
	w.pgid = sup.pgid
	if err := waitReady(w.URL, sup.exited, 90*time.Second); err != nil {
		sup.stop()
		return nil, fmt.Errorf("wrangler dev: %v\n--- wrangler's output:\n%s", err, w.log.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- wrangler's output (%s):\n%s", w.URL, tail(w.log.String(), 200))
			if w.Stripe != nil {
				t.Logf("--- stripesim's output:\n%s", tail(w.Stripe.Log(), 100))
			}
		}
	})
	return w, nil
}

// waitReady polls /healthz until it answers 200.
func waitReady(base string, exited <-chan struct{}, timeout time.Duration) error {
	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("wrangler exited before the Worker was ready")
		default:
		}
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s (last error: %v)", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// withPassword adds a password to a URL that has none: wrangler refuses a
// Hyperdrive connection string without one (the test cluster trusts
// loopback, so any password does).
func withPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		return raw
	}
	u.User = url.UserPassword(u.User.Username(), "onecharge")
	return u.String()
}

// freePort is a loopback port nothing listens on (wrangler binds it a
// moment later; a clash fails the start, saying so).
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

type cmdSpec struct {
	dir  string
	name string
	args []string
	envs []string
}

func command(dir, name string, args ...string) *cmdSpec {
	return &cmdSpec{dir: dir, name: name, args: args}
}

func (c *cmdSpec) env(kv ...string) *cmdSpec { c.envs = append(c.envs, kv...); return c }

func (c *cmdSpec) run() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.name, c.args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), c.envs...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
