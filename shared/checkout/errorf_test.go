//go:build !js

package checkout_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/onecharge/onecharge/shared/checkout"
)

func TestErrorf(t *testing.T) {
	err := checkout.Errorf(checkout.CodeInvalidItems, "Product %q appears %d times.", "mug", 2)
	if err.Code != checkout.CodeInvalidItems || err.Message != `Product "mug" appears 2 times.` {
		t.Fatalf("Errorf = %+v", err)
	}
	if got := checkout.Errorf(checkout.CodeNotFound, "Not found."); *got != *checkout.NewError(checkout.CodeNotFound, "Not found.") {
		t.Errorf("Errorf without arguments = %+v", got)
	}
}

// TestMessagesMatchFmt: the messages built with strconv read as the fmt
// formats they replaced.
func TestMessagesMatchFmt(t *testing.T) {
	for _, s := range []string{"mug", `a"b\c`, "é€😀", "\x00\x7f\n", "\xff\xfe", "\u2028", "\U0010ffff"} {
		if got, want := strconv.Quote(s), fmt.Sprintf("%q", s); got != want {
			t.Errorf("strconv.Quote(%q) = %s, %%q gives %s", s, got, want)
		}
	}
	_, notForSale := checkout.PriceItems([]checkout.Item{{ProductID: "mug", Quantity: 1}}, func(string) (checkout.Product, bool) { return checkout.Product{}, false })
	tests := []struct {
		err  error
		want string
	}{
		{notForSale, fmt.Sprintf("Product %q is not for sale.", "mug")},
		{checkout.ValidateItems(make([]checkout.Item, 51)), fmt.Sprintf("The order has %d lines; at most %d are allowed.", 51, checkout.MaxLines)},
		{checkout.ValidateItems([]checkout.Item{{ProductID: "mug", Quantity: 1}, {ProductID: "mug", Quantity: 1}}), fmt.Sprintf("Product %q appears more than once.", "mug")},
		{checkout.ValidateItems([]checkout.Item{{ProductID: "mug", Quantity: 1}, {ProductID: "tee", Quantity: -3}}), fmt.Sprintf("Item %d: %s", 2, fmt.Sprintf("quantity %d is outside %d..%d.", -3, checkout.MinQuantity, checkout.MaxQuantity))},
		{checkout.ValidateItems([]checkout.Item{{ProductID: "a b", Quantity: 1}}), "Item 1: product_id is not a valid product id."},
		{checkout.ValidateQuantity(100), fmt.Sprintf("quantity %d is outside %d..%d.", 100, checkout.MinQuantity, checkout.MaxQuantity)},
		{parseKeyErr("x"), fmt.Sprintf("idempotency_key must start with %q.", checkout.KeyPrefix)},
		{parseKeyErr("ik_" + strings.Repeat("a", 300)), fmt.Sprintf("idempotency_key is longer than %d characters.", checkout.MaxKeyLength)},
	}
	for _, tt := range tests {
		if got := checkout.ErrorMessage(tt.err); got != tt.want {
			t.Errorf("message %q, want %q", got, tt.want)
		}
	}
	e := checkout.NewError(checkout.CodeInvalidItems, "m %d")
	if want := fmt.Sprintf("onecharge error: code=%s message=%s", e.Code, e.Message); e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
}

func parseKeyErr(s string) error {
	_, err := checkout.ParseKey(s)
	return err
}
