package keyflow_test

import (
	"context"
	"testing"
	"time"

	"github.com/onecharge/onecharge/shared/checkout"
)

// TestRetryAfter checks the Retry-After forms through the delay the client
// waits before its second attempt. now is Fri, 14 Mar 2025 15:09:26 GMT.
func TestRetryAfter(t *testing.T) {
	const backoff = 125 * time.Millisecond // unreadable: Rand 0.5 × BaseDelay 250ms
	tests := []struct {
		name, header string
		want         time.Duration
	}{
		{"Zero", "0", 0},
		{"Seconds", "2", 2 * time.Second},
		{"SecondsWithSpaces", " 120 ", 120 * time.Second},
		{"HugeSeconds", "9223372036", 9223372036 * time.Second},
		{"IMFFixdate", "Fri, 14 Mar 2025 15:09:33 GMT", 7 * time.Second},
		{"RFC850", "Friday, 14-Mar-25 15:09:33 GMT", 7 * time.Second},
		{"Asctime", "Fri Mar 14 15:09:33 2025", 7 * time.Second},
		{"AsctimeSingleDigitDay", "Fri Apr  4 15:09:26 2025", 21 * 24 * time.Hour},
		{"PastDate", "Thu, 13 Mar 2025 15:09:26 GMT", 0},
		{"NotGMT", "Fri, 14 Mar 2025 15:09:33 UTC", backoff},
		{"BadDay", "Fri, 31 Feb 2025 15:09:33 GMT", backoff},
		{"BadHour", "Fri, 14 Mar 2025 24:09:33 GMT", backoff},
		{"BadMonth", "Fri, 14 Xyz 2025 15:09:33 GMT", backoff},
		{"Overflow", "99999999999999999999", backoff},
		{"Negative", "-1", backoff},
		{"Fraction", "1.5", backoff},
		{"Word", "soon", backoff},
		{"Empty", "", backoff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, keyA, fail(503, checkout.CodeInternal, map[string]string{"retry-after": tt.header}), ok(checkout.MethodCard, keyA))
			h.client.MaxRetryAfter = 1<<63 - 1
			if _, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
				t.Fatal(err)
			}
			if len(h.delays) != 1 || h.delays[0] != tt.want {
				t.Errorf("Retry-After %q: delays = %v, want [%v]", tt.header, h.delays, tt.want)
			}
		})
	}
}
