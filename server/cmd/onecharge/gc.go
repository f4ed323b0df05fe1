package main

import (
	"os"
	"runtime/debug"
)

// defaultGCPercent is the garbage collector's target unless GOGC is set.
// Go's default, 100, collects whenever the heap has grown by as much as
// is live, and never lets it grow past 4 MB before that: onecharge's live
// heap is a few megabytes and a request allocates about 10 KB, so at 100
// the collector ran every few hundred requests and took about 45% of the
// instructions of a validate replay (BenchmarkHandler under cachegrind:
// 137k per request, 78k with the collector off; 97k at 400). At 400 the
// heap grows to five times what is live (16 MB at least) between
// collections. GOGC, when set, is the runtime's as always.
const defaultGCPercent = 400

func init() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}
