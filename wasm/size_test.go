//go:build !js

package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gcflags are the bundle's compiler flags, as in the Makefile: no inlining
// in the project's own packages (smaller; their speed does not matter).
const gcflags = "github.com/onecharge/onecharge/...=-l"

// BrotliBudget is the largest the bundle may be, brotli -q 11 compressed
// (what a CDN serves): 700 KB.
const BrotliBudget = 700 << 10

// forbiddenDeps are packages the bundle must not link: each costs tens to
// hundreds of KB (encoding/json with fmt and reflect about 250 KB brotli,
// fmt alone 130 KB, context 21 KB, time 34 KB with the syscall and
// internal/godebug it brings). shared/checkout keeps its encoding/json,
// fmt and time code behind //go:build !js || workers, and its JSON codec
// serves the browser; shared/keyflow has its own Duration and Context, and
// the module gives it a clock (setTimeout, Date.now).
var forbiddenDeps = []string{"encoding/json", "fmt", "net/http", "net/url", "reflect", "time", "context"}

// TestBundleSize builds the bundle as `make wasm` does and fails when it
// links a forbidden package or brotli-compresses to more than
// BrotliBudget. It is a measurement, not a timing. Without the brotli CLI
// it fails under CI=true and skips the size check otherwise.
func TestBundleSize(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not found: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	jsEnv := []string{"GOOS=js", "GOARCH=wasm"}

	deps := strings.Fields(command(ctx, t, jsEnv, goTool, "list", "-deps", "./..."))
	t.Logf("%d packages linked into the bundle", len(deps))
	for _, dep := range deps {
		for _, bad := range forbiddenDeps {
			if dep == bad {
				t.Errorf("the bundle links %s; see why with: GOOS=js GOARCH=wasm go list -deps -f '{{.ImportPath}}: {{.Imports}}' ./wasm/... | grep '%s'", bad, bad)
			}
		}
	}

	wasm := filepath.Join(t.TempDir(), "onecharge.wasm")
	command(ctx, t, jsEnv, goTool, "build", "-trimpath", "-gcflags="+gcflags, "-ldflags=-s -w", "-o", wasm, ".")
	raw, err := os.ReadFile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(raw)
	zw.Close()
	t.Logf("raw:    %8d bytes %7.1f KB", len(raw), kb(len(raw)))
	t.Logf("gzip:   %8d bytes %7.1f KB (gzip -9)", gz.Len(), kb(gz.Len()))

	brotli, err := exec.LookPath("brotli")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("brotli is required to measure the bundle (CI=true): %v", err)
		}
		t.Skipf("brotli not found, skipping the size budget (apt-get install brotli): %v", err)
	}
	br := len(command(ctx, t, nil, brotli, "-q", "11", "-c", wasm))
	t.Logf("brotli: %8d bytes %7.1f KB (brotli -q 11; budget %.0f KB)", br, kb(br), kb(BrotliBudget))
	if br > BrotliBudget {
		t.Errorf("the bundle is %.1f KB brotli, over the %.0f KB budget; find the biggest contributor by building small programs that import one package each", kb(br), kb(BrotliBudget))
	}
}

func kb(n int) float64 { return float64(n) / 1024 }

// command runs name with args in the package directory, the environment
// plus env, and returns its standard output.
func command(ctx context.Context, t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}
