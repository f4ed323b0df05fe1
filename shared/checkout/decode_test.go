//go:build !js

package checkout_test

import (
	"strings"
	"testing"

	"github.com/onecharge/onecharge/shared/checkout"
)

func TestDecodeValidateRequest(t *testing.T) {
	key := "ik_" + strings.Repeat("k", 32)
	tests := []struct {
		name string
		body string
		code checkout.Code // "" for success
	}{
		{"OK", `{"items":[{"product_id":"mug","quantity":1}],"payment_method":"CARD"}`, ""},
		{"OKWithKeyAndEmail", `{"items":[{"product_id":"mug","quantity":1}],"payment_method":"CARD","email":"a@b.co","idempotency_key":"` + key + `"}`, ""},
		{"ErrEmptyBody", ``, checkout.CodeInvalidRequest},
		{"ErrMalformed", `{"items":[`, checkout.CodeInvalidRequest},
		{"ErrNotJSON", `items=1`, checkout.CodeInvalidRequest},
		{"ErrUnknownField", `{"items":[{"product_id":"mug","quantity":1}],"payment_method":"CARD","price":1}`, checkout.CodeInvalidRequest},
		{"ErrUnknownItemField", `{"items":[{"product_id":"mug","quantity":1,"unit_amount":1}],"payment_method":"CARD"}`, checkout.CodeInvalidRequest},
		{"ErrWrongType", `{"items":[{"product_id":"mug","quantity":"1"}],"payment_method":"CARD"}`, checkout.CodeInvalidRequest},
		{"ErrFractionalQuantity", `{"items":[{"product_id":"mug","quantity":1.5}],"payment_method":"CARD"}`, checkout.CodeInvalidRequest},
		{"ErrTrailingData", `{"items":[{"product_id":"mug","quantity":1}],"payment_method":"CARD"} {}`, checkout.CodeInvalidRequest},
		{"ErrArray", `[]`, checkout.CodeInvalidRequest},
		{"ErrBadKey", `{"items":[{"product_id":"mug","quantity":1}],"payment_method":"CARD","idempotency_key":"nope"}`, checkout.CodeInvalidRequest},
		{"ErrBadEmail", `{"items":[{"product_id":"mug","quantity":1}],"payment_method":"CARD","email":"x"}`, checkout.CodeInvalidRequest},
		{"ErrNoItems", `{"items":[],"payment_method":"CARD"}`, checkout.CodeInvalidItems},
		{"ErrQuantity", `{"items":[{"product_id":"mug","quantity":0}],"payment_method":"CARD"}`, checkout.CodeInvalidItems},
		{"ErrMethod", `{"items":[{"product_id":"mug","quantity":1}],"payment_method":"BITCOIN"}`, checkout.CodeInvalidPaymentMethod},
		{"ErrMissingMethod", `{"items":[{"product_id":"mug","quantity":1}]}`, checkout.CodeInvalidPaymentMethod},
		{"ErrTooLarge", `{"items":[],"email":"` + strings.Repeat("a", 70<<10) + `"}`, checkout.CodeRequestTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := checkout.DecodeValidateRequest(strings.NewReader(tt.body))
			if got := checkout.ErrorCode(err); got != tt.code {
				t.Fatalf("code = %q, want %q (err %v)", got, tt.code, err)
			}
		})
	}
}

func FuzzDecodeValidateRequest(f *testing.F) {
	f.Add(`{"items":[{"product_id":"mug","quantity":1}],"payment_method":"CARD"}`)
	f.Add(`{"items":null,"payment_method":null,"idempotency_key":"ik_"}`)
	f.Add(`{"items":[{"product_id":"\u0000","quantity":99999999999999999999}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := checkout.DecodeValidateRequest(strings.NewReader(body))
		if err != nil {
			var ce *checkout.Error
			if code := checkout.ErrorCode(err); code == checkout.CodeInternal || !asError(err, &ce) {
				t.Fatalf("rejection of %q is not a contract error: %v", body, err)
			}
			if code := checkout.ErrorCode(err); code.HTTPStatus() >= 500 {
				t.Fatalf("rejection of %q is a server error: %v", body, err)
			}
			return
		}
		// Whatever decodes must satisfy every rule again.
		if err := req.Validate(); err != nil {
			t.Fatalf("accepted request fails validation: %v", err)
		}
	})
}
