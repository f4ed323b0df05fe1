//go:build !js

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSmoke builds the bundle as `make build` does and drives it in Node
// with testdata/smoke.mjs (a localStorage shim and a scripted fetch).
// Without node it fails under CI=true and skips otherwise.
func TestSmoke(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node is required for the WebAssembly smoke test (CI=true): %v", err)
		}
		t.Skipf("node not found, skipping the WebAssembly smoke test (install Node.js >= 20 to run it): %v", err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not found: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()
	dir := t.TempDir()

	run := func(env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}

	run([]string{"GOOS=js", "GOARCH=wasm"}, goTool, "build", "-trimpath", "-ldflags=-s -w",
		"-o", filepath.Join(dir, "onecharge.wasm"), ".")
	goroot := strings.TrimSpace(run(nil, goTool, "env", "GOROOT"))
	execJS, err := os.ReadFile(filepath.Join(goroot, "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wasm_exec.js"), execJS, 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "smoke.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	out := run(nil, node, script, dir)
	t.Log(out)
	if !strings.Contains(out, "smoke: ok") {
		t.Fatalf("smoke.mjs did not finish:\n%s", out)
	}
}
