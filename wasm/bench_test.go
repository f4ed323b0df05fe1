//go:build !js

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// The size figure against its floor (`make bench`): the bundle, and an
// empty Go syscall/js program, both built with the bundle's flags and
// compressed with brotli -q 11. b.N is irrelevant to a size: each runs once.

func BenchmarkBundle(b *testing.B) {
	b.ReportMetric(float64(brotliSize(b, ".", "")), "brotli-bytes")
}

func BenchmarkBundleFloorEmpty(b *testing.B) {
	dir := b.TempDir()
	src := "package main\n\nimport \"syscall/js\"\n\nfunc main() {\n\tjs.Global().Get(\"document\")\n\tselect {}\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	// Outside any module, so that it builds on the standard library alone.
	b.ReportMetric(float64(brotliSize(b, "main.go", dir)), "brotli-bytes")
}

// brotliSize builds target (in dir, "" for this package) for js/wasm with
// -trimpath -ldflags=-s -w and returns its brotli -q 11 size.
func brotliSize(b *testing.B, target, dir string) int {
	brotli, err := exec.LookPath("brotli")
	if err != nil {
		b.Fatal("brotli not found: apt-get install brotli (make test installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out := filepath.Join(b.TempDir(), "out.wasm")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-gcflags="+gcflags, "-ldflags=-s -w", "-o", out, target)
	build.Dir = dir
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "GO111MODULE=off")
	if dir == "" {
		build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	}
	if msg, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build %s: %v\n%s", target, err, msg)
	}
	b.ResetTimer()
	return len(command(ctx, b, nil, brotli, "-q", "11", "-c", out))
}
