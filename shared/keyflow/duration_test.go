package keyflow_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/onecharge/onecharge/shared/keyflow"
)

// TestDurationString: keyflow.Duration formats as time.Duration does.
func TestDurationString(t *testing.T) {
	ds := []int64{0, 1, -1, 999, 1000, 1001, 1e6 - 1, 1e6, 125e6, 1e9 - 1, 1e9, 1e9 + 1, 1500e6, 59e9, 60e9, 61e9 + 5e8,
		3600e9, 3661e9, 86400e9, 1<<63 - 1, -1 << 63, -1500e6}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		ds = append(ds, int64(r.Uint64()), r.Int64N(1e12), -r.Int64N(1e12), r.Int64N(1e6)*1e6)
	}
	for _, d := range ds {
		if got, want := keyflow.Duration(d).String(), time.Duration(d).String(); got != want {
			t.Errorf("Duration(%d).String() = %q, want %q", d, got, want)
		}
	}
}

func TestDurationUnits(t *testing.T) {
	if time.Duration(keyflow.Millisecond) != time.Millisecond || time.Duration(keyflow.Second) != time.Second {
		t.Errorf("Millisecond, Second = %d, %d", keyflow.Millisecond, keyflow.Second)
	}
}
