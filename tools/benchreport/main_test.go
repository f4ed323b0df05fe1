package main

import (
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	in := `goos: linux
BenchmarkReplayPath-2               	    2000	    120000 ns/op
BenchmarkReplayPathFloorPgbench-2   	    2000	     60000 ns/op
BenchmarkReplayPath-2               	    2000	    100000 ns/op
BenchmarkReplayPathFloorPgbench-2   	    2000	     50000 ns/op
BenchmarkReplayPath-2               	    2000	    140000 ns/op
BenchmarkReplayPathFloorPgbench-2   	    2000	     40000 ns/op
BenchmarkBundle-2   1  3.0 s/op  700000 brotli-bytes
BenchmarkBundleFloorEmpty-2   1  1.0 s/op  350000 brotli-bytes
BenchmarkPageWire 1 610000 wire-bytes
BenchmarkPageWireFloorBrotli 1 600000 wire-bytes
`
	var out strings.Builder
	if err := report(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"ReplayPath / Pgbench", "120000", "50000", "2.40x", "Bundle / Empty", "brotli-bytes", "2.00x", "<= 1.28x NOT met", "PageWire / Brotli", "1.02x", "<= 1.10x met"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if err := report(strings.NewReader("BenchmarkX-2 1 5 ns/op\n"), &out); err == nil {
		t.Error("no pairs must be an error")
	}
	if err := report(strings.NewReader("BenchmarkXFloorY-2 1 5 ns/op\n"), &out); err == nil {
		t.Error("a floor without its figure must be an error")
	}
}
