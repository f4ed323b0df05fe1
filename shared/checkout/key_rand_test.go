//go:build !js

package checkout_test

import (
	"testing"

	"github.com/onecharge/onecharge/shared/checkout"
)

func TestNewKey(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		k, err := checkout.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := checkout.ParseKey(k); err != nil {
			t.Fatalf("NewKey made %q, which ParseKey rejects: %v", k, err)
		}
		if seen[k] {
			t.Fatalf("duplicate key %q", k)
		}
		seen[k] = true
	}
}
