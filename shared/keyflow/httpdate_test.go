package keyflow_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/onecharge/onecharge/shared/keyflow"
)

// The layouts of the three HTTP-date forms, for time.Parse and time.Format.
var httpDateLayouts = []string{
	"Mon, 02 Jan 2006 15:04:05 GMT",
	"Monday, 02-Jan-06 15:04:05 GMT",
	"Mon Jan _2 15:04:05 2006",
}

func TestParseHTTPDate(t *testing.T) {
	date := func(y int, m time.Month, d, h, mi, s int) time.Time { return time.Date(y, m, d, h, mi, s, 0, time.UTC) }
	tests := []struct {
		in   string
		want time.Time // zero: rejected
	}{
		{"Sun, 06 Nov 1994 08:49:37 GMT", date(1994, 11, 6, 8, 49, 37)},
		{"Sunday, 06-Nov-94 08:49:37 GMT", date(1994, 11, 6, 8, 49, 37)},
		{"Sun Nov  6 08:49:37 1994", date(1994, 11, 6, 8, 49, 37)},
		{"Sun Nov 16 08:49:37 1994", date(1994, 11, 16, 8, 49, 37)},
		{"Sun Nov 06 08:49:37 1994", date(1994, 11, 6, 8, 49, 37)},
		{"Thu, 01 Jan 1970 00:00:00 GMT", date(1970, 1, 1, 0, 0, 0)},
		{"Fri, 31 Dec 9999 23:59:59 GMT", date(9999, 12, 31, 23, 59, 59)},
		{"Sat, 01 Jan 0000 00:00:00 GMT", date(0, 1, 1, 0, 0, 0)},
		{"Tue, 29 Feb 0000 12:00:00 GMT", date(0, 2, 29, 12, 0, 0)},
		{"Wed, 01 Mar 0000 00:00:00 GMT", date(0, 3, 1, 0, 0, 0)},
		{"Thu, 29 Feb 2024 12:00:00 GMT", date(2024, 2, 29, 12, 0, 0)},
		{"Tue, 29 Feb 2000 12:00:00 GMT", date(2000, 2, 29, 12, 0, 0)},
		{"Mon, 30 Apr 2025 00:00:00 GMT", date(2025, 4, 30, 0, 0, 0)},
		{"Mon, 14 Mar 2025 15:09:33 GMT", date(2025, 3, 14, 15, 9, 33)},  // the day name is not checked, as time.Parse does not
		{"Wednesday, 01-Jan-69 00:00:00 GMT", date(1969, 1, 1, 0, 0, 0)}, // yy >= 69: 19yy, as time.Parse
		{"Sunday, 01-Jan-68 00:00:00 GMT", date(2068, 1, 1, 0, 0, 0)},    // yy < 69: 20yy
		{"Saturday, 29-Feb-00 00:00:00 GMT", date(2000, 2, 29, 0, 0, 0)}, // 2000 is a leap year
		{"Wednesday, 09-Jul-25 23:59:59 GMT", date(2025, 7, 9, 23, 59, 59)},

		{"", time.Time{}},
		{"Fri, 31 Feb 2025 15:09:33 GMT", time.Time{}},
		{"Wed, 29 Feb 2023 12:00:00 GMT", time.Time{}},
		{"Mon, 29 Feb 2100 12:00:00 GMT", time.Time{}},
		{"Wed, 31 Apr 2025 12:00:00 GMT", time.Time{}},
		{"Fri, 00 Mar 2025 15:09:33 GMT", time.Time{}},
		{"Fri, 14 Mar 2025 24:00:00 GMT", time.Time{}},
		{"Fri, 14 Mar 2025 23:60:00 GMT", time.Time{}},
		{"Fri, 14 Mar 2025 23:59:60 GMT", time.Time{}},
		{"Fri, 14 Mar 2025 15:09:33 UTC", time.Time{}},
		{"Fri, 14 Mar 2025 15:09:33 gmt", time.Time{}},
		{"fri, 14 Mar 2025 15:09:33 GMT", time.Time{}},
		{"Fri, 14 mar 2025 15:09:33 GMT", time.Time{}},
		{"Fry, 14 Mar 2025 15:09:33 GMT", time.Time{}},
		{"Fri, 14 Mrz 2025 15:09:33 GMT", time.Time{}},
		{"Fri, 14 Mar 2025 15.09.33 GMT", time.Time{}},
		{"Fri, 14 Mar 2025 5:09:33 GMT", time.Time{}},
		{"Fri, 4 Mar 2025 15:09:33 GMT", time.Time{}},
		{"Fri,  4 Mar 2025 15:09:33 GMT", time.Time{}},
		{"Fri, 14 Mar 25 15:09:33 GMT", time.Time{}},
		{"Fri, 14 Mar +025 15:09:33 GMT", time.Time{}},
		{"Fri, 14 Mar 2025 15:09:33 GMT ", time.Time{}},
		{"Fri 14 Mar 2025 15:09:33 GMT", time.Time{}},
		{"Fri, 14 Mar 2025 15:09:33 +0000", time.Time{}},
		{"Fri,14 Mar 2025 15:09:33 GMT", time.Time{}},
		{"Fri, 14 Mar 2025 15:09:33.5 GMT", time.Time{}},
		{"Friday, 14-Mar-2025 15:09:33 GMT", time.Time{}},
		{"Fri, 14-Mar-25 15:09:33 GMT", time.Time{}},
		{"Friday, 14 Mar 25 15:09:33 GMT", time.Time{}},
		{"Frieday, 14-Mar-25 15:09:33 GMT", time.Time{}},
		{"Friday, 14-Mar-25 15:09:33 UTC", time.Time{}},
		{"Fri Mar 4 15:09:26 2025", time.Time{}},
		{"Fri Mar  4 15:09:26 25", time.Time{}},
		{"Fri Mar  4 15:09:26 2025 GMT", time.Time{}},
		{"Fri Mar 0 4 15:09:26 2025", time.Time{}},
		{"Fri Mar 32 15:09:26 2025", time.Time{}},
		{"Fri Mar    15:09:26 2025", time.Time{}},
	}
	for _, tt := range tests {
		got, ok := keyflow.ParseHTTPDate(tt.in)
		if ok != !tt.want.IsZero() || ok && got != tt.want.Unix() {
			t.Errorf("ParseHTTPDate(%q) = %v, %v; want %v", tt.in, time.Unix(got, 0).UTC(), ok, tt.want)
		}
	}
}

// TestParseHTTPDateMatchesTimeParse formats random times in each form and
// checks that ParseHTTPDate reads them as time.Parse does: in the years
// of two-digit RFC 850 dates in every form, and in years 0 to 9999 in the
// two forms with four-digit years.
func TestParseHTTPDateMatchesTimeParse(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	year := func(y int) int64 { return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).Unix() }
	for _, span := range []struct {
		lo, hi  int64 // seconds since 1970, hi excluded
		layouts []string
	}{
		{year(1969), year(2069), httpDateLayouts},
		{year(0), year(10000), []string{httpDateLayouts[0], httpDateLayouts[2]}},
	} {
		for range 20000 {
			unix := span.lo + r.Int64N(span.hi-span.lo)
			tm := time.Unix(unix, 0).UTC()
			for _, layout := range span.layouts {
				s := tm.Format(layout)
				want, err := time.Parse(layout, s)
				got, ok := keyflow.ParseHTTPDate(s)
				if err != nil || !ok || got != want.Unix() || got != unix {
					t.Fatalf("%q: ParseHTTPDate = %v, %v; time.Parse = %v, %v", s, got, ok, want, err)
				}
			}
		}
	}
}

// FuzzParseHTTPDate: whatever ParseHTTPDate accepts, time.Parse accepts
// with one of the layouts, as the same instant.
func FuzzParseHTTPDate(f *testing.F) {
	for _, s := range []string{
		"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
		"Thu, 29 Feb 2024 12:00:00 GMT", "Fri, 31 Feb 2025 15:09:33 GMT", "Fri Apr 14 15:09:26 2025",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := keyflow.ParseHTTPDate(s)
		if !ok {
			return
		}
		for _, layout := range httpDateLayouts {
			if want, err := time.Parse(layout, s); err == nil {
				if got != want.Unix() {
					t.Fatalf("%q: ParseHTTPDate = %v, time.Parse(%q) = %v", s, time.Unix(got, 0).UTC(), layout, want)
				}
				return
			}
		}
		t.Fatalf("ParseHTTPDate accepts %q, which time.Parse rejects in every layout", s)
	})
}

// TestUntil checks the wait until an HTTP-date against time.Time's Sub (a
// date in the past means no wait), around now and at the extremes.
func TestUntil(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	year := func(y int) int64 { return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).Unix() }
	const maxNow = 1<<63 - 1
	dates := []int64{year(0), year(1970), 0, 1, -1, year(2262), year(2263), year(10000) - 1}
	nows := []int64{0, 1, -1, 1e9 - 1, 1e9, -1e9, maxNow, -maxNow - 1}
	for range 1000 {
		dates = append(dates, year(0)+r.Int64N(year(10000)-year(0)))
		nows = append(nows, int64(r.Uint64()), time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC).UnixNano()+r.Int64N(86400e9))
	}
	for i, date := range dates {
		near := []int64{nows[i%len(nows)], nows[(i*7+3)%len(nows)]}
		if -9e9 < date && date < 9e9 { // within a second of date
			near = append(near, date*1e9+r.Int64N(2e9)-1e9)
		}
		for _, now := range near {
			want := max(time.Unix(date, 0).Sub(time.Unix(0, now)), 0)
			if got := keyflow.Until(date, now); time.Duration(got) != want {
				t.Errorf("Until(%d, %d) = %d, want %d", date, now, got, want)
			}
		}
	}
}
