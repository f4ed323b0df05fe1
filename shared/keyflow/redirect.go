package keyflow

import "strings"

// redirectSucceeded reports whether rawURL's query carries
// redirect_status=succeeded, as Stripe appends to return_url after a
// redirect-based confirmation (3-D Secure). It parses the query by hand
// instead of importing net/url, which would add about 35 KB (brotli) to the
// WebAssembly bundle. ok is false when rawURL is not a URL with a readable
// query (control characters, spaces, malformed percent escapes).
func redirectSucceeded(rawURL string) (succeeded, ok bool) {
	if rawURL == "" {
		return false, false
	}
	for i := 0; i < len(rawURL); i++ {
		switch c := rawURL[i]; {
		case c <= ' ' || c == 0x7f:
			return false, false
		case c == '%':
			if i+2 >= len(rawURL) {
				return false, false
			}
			if _, ok := unhex(rawURL[i+1]); !ok {
				return false, false
			}
			if _, ok := unhex(rawURL[i+2]); !ok {
				return false, false
			}
		}
	}
	rest, _, _ := strings.Cut(rawURL, "#")
	_, query, found := strings.Cut(rest, "?")
	if !found {
		return false, true
	}
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, ok1 := unescape(k)
		val, ok2 := unescape(v)
		if !ok1 || !ok2 {
			return false, false
		}
		if key == "redirect_status" {
			// The first occurrence wins, as url.Values.Get does.
			return val == "succeeded", true
		}
	}
	return false, true
}

// unescape decodes a query component: %XX escapes and '+' for space.
func unescape(s string) (string, bool) {
	if !strings.ContainsAny(s, "%+") {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b.WriteByte(' ')
		case '%':
			if i+2 >= len(s) {
				return "", false
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", false
			}
			b.WriteByte(hi<<4 | lo)
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
