package checkout_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/onecharge/onecharge/shared/checkout"
)

func TestNewKeyFrom(t *testing.T) {
	k, err := checkout.NewKeyFrom(bytes.NewReader(make([]byte, 24)))
	if err != nil || k != "ik_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" {
		t.Fatalf("NewKeyFrom(zeros) = %q, %v", k, err)
	}
	if _, err := checkout.ParseKey(k); err != nil {
		t.Fatalf("NewKeyFrom made %q, which ParseKey rejects: %v", k, err)
	}
	if _, err := checkout.NewKeyFrom(bytes.NewReader(make([]byte, 3))); err == nil {
		t.Fatal("a short random source must fail")
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"OK", "ik_" + strings.Repeat("a", 32), true},
		{"OKMinimum128Bits", "ik_" + strings.Repeat("Z", 22), true},
		{"OK255", "ik_" + strings.Repeat("-", 252), true},
		{"OKUnderscoreDash", "ik_ab-_" + strings.Repeat("9", 20), true},
		{"ErrTooShort", "ik_" + strings.Repeat("a", 21), false},
		{"ErrEmpty", "", false},
		{"ErrPrefixOnly", "ik_", false},
		{"ErrWrongPrefix", "pk_" + strings.Repeat("a", 32), false},
		{"ErrUpperPrefix", "IK_" + strings.Repeat("a", 32), false},
		{"ErrBadChars", "ik_" + strings.Repeat("a", 30) + "+/", false},
		{"ErrSpace", "ik_" + strings.Repeat("a", 30) + " ", false},
		{"ErrUnicode", "ik_" + strings.Repeat("a", 30) + "é", false},
		{"Err256", "ik_" + strings.Repeat("a", 253), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := checkout.ParseKey(tt.in)
			if tt.ok {
				if err != nil || got != tt.in {
					t.Fatalf("ParseKey(%q) = %q, %v", tt.in, got, err)
				}
				return
			}
			if checkout.ErrorCode(err) != checkout.CodeInvalidRequest {
				t.Fatalf("ParseKey(%q) error = %v, want invalid_request", tt.in, err)
			}
		})
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add("ik_" + strings.Repeat("a", 32))
	f.Add("ik_")
	f.Add("ik_\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := checkout.ParseKey(s)
		if err != nil {
			if checkout.ErrorCode(err) != checkout.CodeInvalidRequest {
				t.Fatalf("rejection of %q is not invalid_request: %v", s, err)
			}
			return
		}
		if got != s || len(s) > checkout.MaxKeyLength || !strings.HasPrefix(s, checkout.KeyPrefix) || len(s) < len(checkout.KeyPrefix)+checkout.MinKeyBody {
			t.Fatalf("accepted malformed key %q", s)
		}
	})
}
