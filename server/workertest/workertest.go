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
	"syscall"
	"testing"
	"time"
)

// Options configure a Worker started by Start.
type Options struct {
	// DatabaseURL is the PostgreSQL the Hyperdrive binding reaches; ""
	// starts the Worker without a database (it answers 503).
	DatabaseURL string
	// Stripe is the simulator; nil starts the Worker with a Stripe key but
	// no reachable Stripe.
	Stripe Stripe
	// Main, when set, replaces the Go Worker by this script (the plain-JS
	// floor of the CPU benchmark).
	Main string
}

// Worker is a running `wrangler dev`.
type Worker struct {
	URL  string
	log  *syncBuffer
	pgid int // wrangler's process group: wrangler and workerd
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

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
	wrangler  string
)

// Build builds the Worker and provisions wrangler, once per test binary.
// It returns the build directory (worker.mjs, app.wasm) and wrangler's path.
func Build(t testing.TB) (string, string) {
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
		buildDir = filepath.Join(dir, "build")
		start := time.Now()
		if out, err := command(root, "scripts/worker.sh").env("WORKER_SIZE=0", "WORKER_BUILD_DIR="+buildDir).run(); err != nil {
			buildErr = fmt.Errorf("scripts/worker.sh: %v\n%s", err, out)
			return
		}
		out, err := command(root, "scripts/wrangler.sh", "provision").run()
		if err != nil {
			buildErr = fmt.Errorf("scripts/wrangler.sh provision: %v\n%s", err, out)
			return
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		wrangler = lines[len(lines)-1]
		fmt.Fprintf(os.Stderr, "workertest: built the Worker and provisioned wrangler in %s\n", time.Since(start).Round(100*time.Millisecond))
	})
	if buildErr != nil {
		t.Fatalf("workertest: %v", buildErr)
	}
	return buildDir, wrangler
}

// Cleanup removes the build directory; call it from TestMain.
func Cleanup() {
	if buildDir != "" {
		os.RemoveAll(filepath.Dir(buildDir))
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
	build, wranglerBin := Build(t)
	ws := make([]*Worker, len(opts))
	errs := make([]error, len(opts))
	var wg sync.WaitGroup
	for i, o := range opts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 1; ; attempt++ {
				ws[i], errs[i] = start(t, build, wranglerBin, o)
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

// start runs one Worker; it may run on any goroutine (no t.Fatal).
func start(t testing.TB, build, wranglerBin string, opts Options) (*Worker, error) {
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
	vars := map[string]string{
		"SESSION_SECRET":    randomHex(24),
		"STRIPE_SECRET_KEY": "sk_test_unreachable",
		"STRIPE_API_BASE":   "http://127.0.0.1:9",
	}
	if opts.Stripe != nil {
		vars["STRIPE_SECRET_KEY"] = opts.Stripe.SecretKey()
		vars["STRIPE_API_BASE"] = opts.Stripe.APIBase()
		vars["STRIPE_PUBLISHABLE_KEY"] = opts.Stripe.PublishableKey()
		vars["STRIPE_WEBHOOK_SECRET"] = opts.Stripe.WebhookSecret()
	}
	var cfg strings.Builder
	main := filepath.Join(build, "worker.mjs")
	if opts.Main != "" {
		main = opts.Main
	}
	fmt.Fprintf(&cfg, "name = \"onecharge-test\"\nmain = %q\ncompatibility_date = \"2026-04-01\"\n\n", main)
	fmt.Fprintf(&cfg, "[assets]\ndirectory = %q\n\n", filepath.Join(root, "web"))
	env := []string{
		"WRANGLER_SEND_METRICS=false",
		"WRANGLER_LOG_PATH=" + filepath.Join(dir, "logs"),
		"WRANGLER_LOG=log",
		"NO_COLOR=1",
		"FORCE_COLOR=0",
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
	log := &syncBuffer{}
	cmd := exec.Command(wranglerBin, args...)
	cmd.Dir = filepath.Join(root, "server", "cmd", "onecharge-worker")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	// A process group of its own: wrangler, workerd and their children are
	// killed together, and Pdeathsig ends wrangler if the test binary dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start wrangler: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { stopGroup(cmd.Process.Pid, exited) })

	w := &Worker{URL: "http://127.0.0.1:" + strconv.Itoa(port), log: log, pgid: cmd.Process.Pid}
	if opts.Stripe != nil {
		opts.Stripe.SetWebhookURL(w.URL + "/api/stripe/webhook")
	}
	if err := waitReady(w.URL, exited, 90*time.Second); err != nil {
		return nil, fmt.Errorf("wrangler dev: %v\n--- wrangler's output:\n%s", err, log.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- wrangler's output (%s):\n%s", w.URL, tail(log.String(), 200))
		}
	})
	return w, nil
}

// stopGroup ends the process group: SIGTERM, then SIGKILL after 5 s.
func stopGroup(pid int, exited <-chan struct{}) {
	syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
	}
	// workerd may outlive wrangler: whatever is left of the group goes.
	syscall.Kill(-pid, syscall.SIGKILL)
	<-exited
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

// syncBuffer collects a child's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
