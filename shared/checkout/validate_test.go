package checkout_test

import (
	"strings"
	"testing"

	"github.com/onecharge/onecharge/shared/checkout"
)

func items(n int) []checkout.Item {
	out := make([]checkout.Item, n)
	for i := range out {
		out[i] = checkout.Item{ProductID: "p" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + string(rune('a'+i/26)), Quantity: 1}
	}
	return out
}

func TestValidateItems(t *testing.T) {
	tests := []struct {
		name  string
		items []checkout.Item
		ok    bool
	}{
		{"OK", []checkout.Item{{"mug", 1}, {"tshirt", 99}}, true},
		{"OK50Lines", items(50), true},
		{"ErrNoItems", nil, false},
		{"ErrEmptyItems", []checkout.Item{}, false},
		{"Err51Lines", items(51), false},
		{"ErrDuplicateProduct", []checkout.Item{{"mug", 1}, {"mug", 2}}, false},
		{"ErrQuantityZero", []checkout.Item{{"mug", 0}}, false},
		{"ErrQuantityNegative", []checkout.Item{{"mug", -1}}, false},
		{"ErrQuantity100", []checkout.Item{{"mug", 100}}, false},
		{"ErrMissingProductID", []checkout.Item{{"", 1}}, false},
		{"ErrProductIDChars", []checkout.Item{{"mug; drop table", 1}}, false},
		{"ErrProductIDTooLong", []checkout.Item{{strings.Repeat("a", 65), 1}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkout.ValidateItems(tt.items)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateItems: %v", err)
				}
				return
			}
			if got := checkout.ErrorCode(err); got != checkout.CodeInvalidItems {
				t.Fatalf("code = %q (%v), want invalid_items", got, err)
			}
		})
	}
}

func TestParsePaymentMethod(t *testing.T) {
	for _, s := range []string{"CARD", "CARD_TEST", "CASH_ON_DELIVERY"} {
		if m, err := checkout.ParsePaymentMethod(s); err != nil || string(m) != s {
			t.Errorf("ParsePaymentMethod(%q) = %q, %v", s, m, err)
		}
	}
	for _, s := range []string{"", "card", "PAYPAL", "CARD ", "CASH"} {
		if _, err := checkout.ParsePaymentMethod(s); checkout.ErrorCode(err) != checkout.CodeInvalidPaymentMethod {
			t.Errorf("ParsePaymentMethod(%q) error = %v, want invalid_payment_method", s, err)
		}
	}
	if !checkout.MethodCard.UsesKey() || !checkout.MethodCardTest.UsesKey() || checkout.MethodCashOnDelivery.UsesKey() {
		t.Error("UsesKey: only CARD and CARD_TEST use keys")
	}
}

func TestValidateEmail(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"", true},
		{"shopper@example.com", true},
		{"a.b+tag@sub.example.co", true},
		{"no-at.example.com", false},
		{"two@@example.com", false},
		{"@example.com", false},
		{"user@", false},
		{"user@localhost", false},
		{"user@.com", false},
		{"us er@example.com", false},
		{"user@example.com\n", false},
		{strings.Repeat("a", 250) + "@x.io", false},
		{"\xff@example.com", false},
	}
	for _, tt := range tests {
		err := checkout.ValidateEmail(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateEmail(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if err != nil && checkout.ErrorCode(err) != checkout.CodeInvalidRequest {
			t.Errorf("ValidateEmail(%q) code = %q", tt.in, checkout.ErrorCode(err))
		}
	}
}

func TestPriceItems(t *testing.T) {
	catalog := map[string]checkout.Product{
		"mug":     {ID: "mug", Name: "Mug", UnitAmount: 1200, Currency: "usd", Active: true},
		"tshirt":  {ID: "tshirt", Name: "T-shirt", UnitAmount: 2500, Currency: "usd", Active: true},
		"old":     {ID: "old", Name: "Old", UnitAmount: 100, Currency: "usd", Active: false},
		"eurobag": {ID: "eurobag", Name: "Bag", UnitAmount: 900, Currency: "eur", Active: true},
	}
	lookup := func(id string) (checkout.Product, bool) { p, ok := catalog[id]; return p, ok }

	t.Run("OK", func(t *testing.T) {
		order, err := checkout.PriceItems([]checkout.Item{{"mug", 2}, {"tshirt", 1}}, lookup)
		if err != nil {
			t.Fatal(err)
		}
		if order.Amount != 4900 || order.Currency != "usd" || len(order.Items) != 2 || order.Items[0].Name != "Mug" || order.Items[0].UnitAmount != 1200 {
			t.Fatalf("order = %+v", order)
		}
	})
	for name, its := range map[string][]checkout.Item{
		"ErrUnknown":       {{"nope", 1}},
		"ErrInactive":      {{"old", 1}},
		"ErrMixedCurrency": {{"mug", 1}, {"eurobag", 1}},
		"ErrShape":         {{"mug", 0}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := checkout.PriceItems(its, lookup); checkout.ErrorCode(err) != checkout.CodeInvalidItems {
				t.Fatalf("error = %v, want invalid_items", err)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	if checkout.ErrorCode(nil) != "" || checkout.ErrorMessage(nil) != "" {
		t.Error("nil error has a code")
	}
	plain := errAny("pq: relation carts does not exist")
	if checkout.ErrorCode(plain) != checkout.CodeInternal || checkout.ErrorMessage(plain) != "Internal error." {
		t.Error("a plain error must read as internal without details")
	}
	if checkout.ErrAlreadyCompleted.Message != "Payment already completed for this session. Please clear your checkout and start a new order." {
		t.Error("already-completed message differs from the contract")
	}
	want := map[checkout.Code]int{
		checkout.CodeInvalidRequest: 400, checkout.CodeRequestTooLarge: 413, checkout.CodeUnsupportedMediaType: 415,
		checkout.CodeInvalidItems: 422, checkout.CodeInvalidPaymentMethod: 422, checkout.CodePaymentAlreadyCompleted: 409,
		checkout.CodeRequestInProgress: 409, checkout.CodePaymentUnavailable: 502, checkout.CodePaymentIntentFailed: 502,
		checkout.CodeInternal: 500, checkout.CodeNotFound: 404, checkout.CodeInvalidSignature: 400, "made_up": 500,
	}
	for code, status := range want {
		if got := code.HTTPStatus(); got != status {
			t.Errorf("%s.HTTPStatus() = %d, want %d", code, got, status)
		}
	}
}

type errAny string

func (e errAny) Error() string { return string(e) }

func TestValidateChargeAmount(t *testing.T) {
	tests := []struct {
		amount   int64
		currency string
		ok       bool
	}{
		{50, "usd", true}, {49, "usd", false}, {0, "usd", false}, {-1, "usd", false},
		{99_999_999, "usd", true}, {100_000_000, "usd", false},
		{30, "gbp", true}, {29, "gbp", false}, {50, "jpy", true}, {49, "jpy", false},
		{1499, "czk", false}, {1500, "czk", true}, {50, "xyz", true},
	}
	for _, tt := range tests {
		err := checkout.ValidateChargeAmount(tt.amount, tt.currency)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateChargeAmount(%d, %s) = %v, want ok=%v", tt.amount, tt.currency, err, tt.ok)
		}
		if err != nil && checkout.ErrorCode(err) != checkout.CodeInvalidItems {
			t.Errorf("code %s, want invalid_items", checkout.ErrorCode(err))
		}
	}
}

func TestValidateNonce(t *testing.T) {
	for _, ok := range []string{"a", "nonce-1", " spaced ", strings.Repeat("~", 255), "0123456789abcdef!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"} {
		if err := checkout.ValidateNonce(ok); err != nil {
			t.Errorf("ValidateNonce(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("n", 256), "tab\there", "nl\n", "é", "\x7f", "\x00"} {
		if err := checkout.ValidateNonce(bad); checkout.ErrorCode(err) != checkout.CodeInvalidRequest {
			t.Errorf("ValidateNonce(%q) = %v, want invalid_request", bad, err)
		}
	}
}

func TestValidOrderID(t *testing.T) {
	for _, ok := range []string{"pi_1", "pi_3MtwBwLkdIwHu7ix28a3tqPa", "cs_test_a1B2c3", "cs_live_x", "pi_" + strings.Repeat("a", 250)} {
		if !checkout.ValidOrderID(ok) {
			t.Errorf("ValidOrderID(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "pi_", "cs_", "pi", "ch_1", "PI_1", "pi_a-b", "pi_a b", "pi_\x00", "pi_\xff", "pi_\xc3\x28", "pi_é", "pi_a/b", "pi_" + strings.Repeat("a", 251)} {
		if checkout.ValidOrderID(bad) {
			t.Errorf("ValidOrderID(%q) = true", bad)
		}
	}
}
