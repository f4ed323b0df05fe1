package e2e_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/onecharge/onecharge/server/postgres/pgtest"
	"github.com/onecharge/onecharge/server/testenv"
)

// Set by TestMain for the tests.
var (
	// bundleDir is the storefront the test servers serve at "/".
	bundleDir string
	// browserCtx is the one browser of this test process.
	browserCtx context.Context
	// skipReason, when set, skips every test (a missing prerequisite outside CI).
	skipReason string
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	flag.Parse()
	ci := os.Getenv("CI") == "true"
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if ci {
			fmt.Fprintln(os.Stderr, "e2e: chromium is not on PATH: install the Debian package chromium (make test installs it)")
			return 1
		}
		skipReason = "chromium is not on PATH: install the Debian package chromium"
		return m.Run()
	}
	if os.Getenv(pgtest.EnvURL) == "" && !ci {
		// pgtest would skip every test; do not build the bundle for nothing.
		skipReason = pgtest.EnvURL + " is not set: run scripts/with-postgres.sh go test ./e2e/..."
		return m.Run()
	}

	// Artifacts of failed tests are from this run only.
	if err := os.RemoveAll(filepath.Join("testdata", "failures")); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}

	tmp, err := os.MkdirTemp("", "onecharge-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	start := time.Now()
	bundleDir = filepath.Join(tmp, "web")
	if err := buildBundle(bundleDir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the web bundle:", err)
		return 1
	}
	built := time.Since(start)

	var browserLog testenv.SyncBuffer
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", "new"),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(filepath.Join(tmp, "profile")),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.CombinedOutput(&browserLog),
	)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	// The first Run starts the browser; it must not carry a timeout (that
	// would end the browser with it), so the wait is bounded from outside.
	started := make(chan error, 1)
	go func() { started <- chromedp.Run(ctx) }()
	select {
	case err = <-started:
	case <-time.After(60 * time.Second):
		err = errors.New("chromium did not start within 60s")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: starting chromium: %v\n%s", err, browserLog.String())
		return 1
	}
	browserCtx = ctx
	if testing.Verbose() {
		fmt.Printf("e2e: bundle built in %s, chromium started in %s\n",
			built.Round(time.Millisecond), (time.Since(start) - built).Round(time.Millisecond))
	}
	return m.Run()
}

// buildBundle writes the storefront into dir: web/*.html, *.js and *.css,
// the toolchain's wasm_exec.js and onecharge.wasm built from ./wasm.
// It never reads web/'s own build outputs.
func buildBundle(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, pattern := range []string{"*.html", "*.js", "*.css"} {
		files, err := filepath.Glob(filepath.Join("..", "web", pattern))
		if err != nil {
			return err
		}
		for _, f := range files {
			if filepath.Base(f) == "wasm_exec.js" {
				continue // a build output; the toolchain's copy is used below
			}
			if err := copyFile(f, filepath.Join(dir, filepath.Base(f))); err != nil {
				return err
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		return fmt.Errorf("web/index.html missing: %w", err)
	}

	goBin, err := exec.LookPath("go")
	if err != nil {
		return err
	}
	out, err := exec.Command(goBin, "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %w", err)
	}
	goroot := strings.TrimSpace(string(out))
	if err := copyFile(filepath.Join(goroot, "lib", "wasm", "wasm_exec.js"), filepath.Join(dir, "wasm_exec.js")); err != nil {
		return err
	}

	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "onecharge.wasm"), "../wasm")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("GOOS=js GOARCH=wasm go build ./wasm: %w\n%s", err, msg)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
