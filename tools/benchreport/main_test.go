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
	out.Reset()
	in = `BenchmarkServerCartPG/c8 1 900 req/s 3000 p50-us 9000 p99-us 0 errors 1 409s
BenchmarkServerCartPG/c8FloorPgx 1 1000 req/s 2000 p50-us 8000 p99-us 0 errors 0 409s
BenchmarkServerCartPG/c8 1 700 req/s 5000 p50-us 11000 p99-us 2 errors 0 409s
BenchmarkServerCartPG/c8FloorPgx 1 1000 req/s 2000 p50-us 8000 p99-us 0 errors 0 409s
BenchmarkServerCartPG/c8 1 800 req/s 4000 p50-us 10000 p99-us 0 errors 0 409s
BenchmarkServerCartPG/c8FloorPgx 1 1000 req/s 2000 p50-us 8000 p99-us 0 errors 0 409s
BenchmarkServerReplayMem/c32 1 850 req/s 1000 p50-us 2000 p99-us 0 errors 0 409s
BenchmarkServerReplayMem/c32FloorJSON 1 1000 req/s 1000 p50-us 2000 p99-us 0 errors 0 409s
`
	if err := report(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	got = out.String()
	for _, want := range []string{"ServerCartPG/c8 / Pgx", "req/s", "800", "1000", "0.80x", ">= 0.80x met", "4.00", "2.00", "10.00 / 8.00",
		"errors 2, 409s 1", "ServerReplayMem/c32 / JSON", "0.85x"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	out.Reset()
	if err := report(strings.NewReader("BenchmarkServerCartPG/c8 1 700 req/s\nBenchmarkServerCartPG/c8FloorPgx 1 1000 req/s\n"), &out); err != nil || !strings.Contains(out.String(), ">= 0.80x NOT met") {
		t.Errorf("0.70x must miss the target: %v\n%s", err, out.String())
	}
	if err := report(strings.NewReader("BenchmarkX-2 1 5 ns/op\n"), &out); err == nil {
		t.Error("no pairs must be an error")
	}
	if err := report(strings.NewReader("BenchmarkXFloorY-2 1 5 ns/op\n"), &out); err == nil {
		t.Error("a floor without its figure must be an error")
	}
}
