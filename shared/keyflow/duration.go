package keyflow

import (
	"strconv"
	"strings"
)

// Duration is a length of time in nanoseconds, the same unit as
// time.Duration, so the two convert into each other exactly
// (keyflow.Duration(d), time.Duration(d)). keyflow has its own because the
// time package costs the WebAssembly bundle about 34 KB brotli.
type Duration int64

// Units of Duration.
const (
	Millisecond Duration = 1e6
	Second      Duration = 1e9
)

// maxDuration is the longest Duration.
const maxDuration Duration = 1<<63 - 1

// String formats d as time.Duration's String does: "0s", "125ms",
// "1.5s", "1h0m0s".
func (d Duration) String() string {
	u, sign := uint64(d), ""
	if d < 0 {
		u, sign = -u, "-"
	}
	if u < uint64(Second) {
		switch {
		case u == 0:
			return "0s"
		case u < 1e3:
			return sign + decimal(u, 1) + "ns"
		case u < 1e6:
			return sign + decimal(u, 1e3) + "µs"
		}
		return sign + decimal(u, 1e6) + "ms"
	}
	s := decimal(u%60e9, 1e9) + "s" // seconds of the minute, with their fraction
	if minutes := u / 60e9; minutes > 0 {
		s = strconv.FormatUint(minutes%60, 10) + "m" + s
		if hours := minutes / 60; hours > 0 {
			s = strconv.FormatUint(hours, 10) + "h" + s
		}
	}
	return sign + s
}

// decimal formats u/unit in decimal, the fraction without trailing zeros.
func decimal(u, unit uint64) string {
	s := strconv.FormatUint(u/unit, 10)
	if frac := u % unit; frac != 0 {
		s += "." + strings.TrimRight(strconv.FormatUint(unit+frac, 10)[1:], "0")
	}
	return s
}
