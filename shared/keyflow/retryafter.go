package keyflow

import (
	"strconv"
	"strings"
)

// parseRetryAfter reads a Retry-After value: delta seconds or an HTTP-date
// (relative to now(), in nanoseconds since 1970, which is called for dates
// only; a date in the past means no wait). ok is false for an absent or
// unreadable value.
func parseRetryAfter(v string, now func() int64) (d Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 63); err == nil {
		const maxSecs = uint64(maxDuration / Second)
		return Duration(min(secs, maxSecs)) * Second, true
	}
	if t, ok := parseHTTPDate(v); ok {
		return until(t, now()), true
	}
	return 0, false
}

// until returns the time from now (nanoseconds since 1970) to the second t
// (seconds since 1970), 0 when t is not later, and maxDuration when it is
// further off than that (time.Time's Sub saturates the same way).
func until(t, now int64) Duration {
	sec, nsec := now/1e9, now%1e9
	if nsec < 0 {
		sec, nsec = sec-1, nsec+1e9
	}
	d := t - sec // no overflow: t is in years 0 to 9999, now within 292 years of 1970
	if d <= 0 {
		return 0 // the wait, d seconds less nsec, is not positive
	}
	// The wait is d-1 seconds and 1e9-nsec nanoseconds.
	const maxSecs = int64(maxDuration / Second)
	if d-1 > maxSecs {
		return maxDuration
	}
	whole, part := Duration(d-1)*Second, Duration(1e9-nsec)
	if whole > maxDuration-part {
		return maxDuration
	}
	return whole + part
}

// parseHTTPDate parses an HTTP-date in any of the three forms RFC 9110
// section 5.6.7 requires recipients to accept, all in GMT, and returns it
// in seconds since 1970:
//
//	IMF-fixdate  Sun, 06 Nov 1994 08:49:37 GMT
//	RFC 850      Sunday, 06-Nov-94 08:49:37 GMT
//	asctime      Sun Nov  6 08:49:37 1994
//
// It is written by hand because time.Parse would add about 60 KB (brotli)
// to the WebAssembly bundle, and the time package itself 34 KB more. It is
// as strict as the grammar (names are case-sensitive, single spaces,
// two-digit hours), except that, like
// time.Parse, it does not check the day name against the date and reads a
// two-digit RFC 850 year yy as 19yy when yy >= 69 and as 20yy otherwise.
// Dates that do not exist (31 Feb, 24:00:00, second 60) are rejected.
func parseHTTPDate(s string) (int64, bool) {
	var day, month, year, clock string
	switch {
	case len(s) == 29 && s[3] == ',': // Sun, 06 Nov 1994 08:49:37 GMT
		if dayName(s[:3]) < 0 || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[25:] != " GMT" {
			return 0, false
		}
		day, month, year, clock = s[5:7], s[8:11], s[12:16], s[17:25]
	case len(s) == 24 && s[3] == ' ': // Sun Nov  6 08:49:37 1994
		if dayName(s[:3]) < 0 || s[7] != ' ' || s[10] != ' ' || s[19] != ' ' {
			return 0, false
		}
		month, day, clock, year = s[4:7], s[8:10], s[11:19], s[20:]
		if day[0] == ' ' {
			day = "0" + day[1:]
		}
	default: // Sunday, 06-Nov-94 08:49:37 GMT
		name, rest, ok := strings.Cut(s, ", ")
		if !ok || longDayName(name) < 0 || len(rest) != 22 || rest[2] != '-' || rest[6] != '-' || rest[9] != ' ' || rest[18:] != " GMT" {
			return 0, false
		}
		day, month, year, clock = rest[:2], rest[3:6], rest[7:9], rest[10:18]
	}
	d, ok1 := number(day)
	y, ok2 := number(year)
	h, ok3 := number(clock[0:2])
	mi, ok4 := number(clock[3:5])
	sec, ok5 := number(clock[6:8])
	m := monthNumber(month)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || m < 1 || clock[2] != ':' || clock[5] != ':' {
		return 0, false
	}
	if len(year) == 2 {
		if y >= 69 {
			y += 1900
		} else {
			y += 2000
		}
	}
	if d < 1 || d > daysIn(m, y) || h > 23 || mi > 59 || sec > 59 {
		return 0, false
	}
	return unixSeconds(y, m, d, h, mi, sec), true
}

// unixSeconds returns the seconds since 1970 of a valid date and time in
// UTC, years 0 to 9999 (days from the civil date as in Howard Hinnant's
// "chrono-Compatible Low-Level Date Algorithms", on the calendar of March
// years, whose leap day comes last).
func unixSeconds(y, m, d, h, mi, sec int) int64 {
	if m <= 2 {
		y-- // January and February end the previous March year
	}
	y += 400                                        // so that y >= 0 (the January of year 0 is in March year -1)
	era, yoe := y/400-1, y%400                      // 400 years: one era of 146097 days
	doy := (153*((m+9)%12)+2)/5 + d - 1             // day of the March year, 0..365
	doe := yoe*365 + yoe/4 - yoe/100 + doy          // day of the era, 0..146096
	days := int64(era)*146097 + int64(doe) - 719468 // 719468: days from 0000-03-01 to 1970-01-01
	return days*86400 + int64(h*3600+mi*60+sec)
}

// dayName returns the index of a three-letter day name, or -1.
func dayName(s string) int {
	for i, name := range [...]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"} {
		if s == name {
			return i
		}
	}
	return -1
}

// longDayName returns the index of a full day name, or -1.
func longDayName(s string) int {
	for i, name := range [...]string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"} {
		if s == name {
			return i
		}
	}
	return -1
}

// monthNumber returns 1..12 for a three-letter month name, or -1.
func monthNumber(s string) int {
	for i, name := range [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"} {
		if s == name {
			return i + 1
		}
	}
	return -1
}

// daysIn returns the number of days of month m (1..12) in year y.
func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// number reads a string of ASCII digits.
func number(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, s != ""
}

// header returns the value of name (lower case) in h, matching names in
// any case so that a Transport that does not lower-case still works.
func header(h map[string]string, name string) string {
	if v, ok := h[name]; ok {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
