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
		if ok != !tt.want.IsZero() || !got.Equal(tt.want) {
			t.Errorf("ParseHTTPDate(%q) = %v, %v; want %v", tt.in, got, ok, tt.want)
		}
		if ok && got.Location() != time.UTC {
			t.Errorf("ParseHTTPDate(%q) is in %v, want UTC", tt.in, got.Location())
		}
	}
}

// TestParseHTTPDateMatchesTimeParse formats random times in each form and
// checks that ParseHTTPDate reads them as time.Parse does.
func TestParseHTTPDateMatchesTimeParse(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	lo := time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2068, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	for range 20000 {
		tm := time.Unix(lo+r.Int64N(hi-lo+1), 0).UTC()
		for _, layout := range httpDateLayouts {
			s := tm.Format(layout)
			want, err := time.Parse(layout, s)
			got, ok := keyflow.ParseHTTPDate(s)
			if err != nil || !ok || !got.Equal(want) || !got.Equal(tm) {
				t.Fatalf("%q: ParseHTTPDate = %v, %v; time.Parse = %v, %v", s, got, ok, want, err)
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
				if !got.Equal(want) {
					t.Fatalf("%q: ParseHTTPDate = %v, time.Parse(%q) = %v", s, got, layout, want)
				}
				return
			}
		}
		t.Fatalf("ParseHTTPDate accepts %q, which time.Parse rejects in every layout", s)
	})
}
