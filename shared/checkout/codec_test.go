package checkout_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/onecharge/onecharge/shared/checkout"
)

// These tests run natively and under GOOS=js GOARCH=wasm; codec_diff_test.go
// (native only) compares the codecs with encoding/json.

func TestParseJSON(t *testing.T) {
	type obj = map[string]any
	type arr = []any
	type num = checkout.JSONNumber
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	tests := []struct {
		name string
		in   string
		want any // for ok
		ok   bool
	}{
		{"Null", `null`, nil, true},
		{"True", ` true `, true, true},
		{"False", "\t\r\nfalse\n", false, true},
		{"Zero", `0`, num("0"), true},
		{"NegativeZero", `-0`, num("-0"), true},
		{"NumberKeepsText", `-12.50e+03`, num("-12.50e+03"), true},
		{"BigNumber", `123456789012345678901234567890`, num("123456789012345678901234567890"), true},
		{"String", `"a"`, "a", true},
		{"EmptyString", `""`, "", true},
		{"Escapes", `"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t", true},
		{"UnicodeEscape", `"\u00e9\u20AC"`, "é€", true},
		{"SurrogatePair", `"\ud83d\ude00"`, "😀", true},
		{"LoneHighSurrogate", `"\ud83dx"`, "\ufffdx", true},
		{"LoneLowSurrogate", `"\ude00"`, "\ufffd", true},
		{"HighThenNonSurrogate", `"\ud83d\u0041"`, "\ufffdA", true},
		{"TwoHighSurrogates", `"\ud83d\ud83d\ude00"`, "\ufffd😀", true},
		{"InvalidUTF8", "\"a\xffb\"", "a\ufffdb", true},
		{"EncodedSurrogate", "\"\xed\xa0\x80\"", "\ufffd\ufffd\ufffd", true},
		{"RawUTF8", `"héllo wörld"`, "héllo wörld", true},
		{"DEL", "\"\x7f\"", "\x7f", true},
		{"EmptyArray", `[ ]`, arr{}, true},
		{"Array", `[1, "a", null, [true]]`, arr{num("1"), "a", nil, arr{true}}, true},
		{"EmptyObject", `{ }`, obj{}, true},
		{"Object", `{"a": {"b": [1]}, "c": null}`, obj{"a": obj{"b": arr{num("1")}}, "c": nil}, true},
		{"DuplicateLastWins", `{"a": 1, "a": 2}`, obj{"a": num("2")}, true},
		{"EscapedName", `{"\u0061": 1}`, obj{"a": num("1")}, true},
		{"MaxDepth", deep(checkout.JSONMaxDepth), nil, true},

		{"ErrEmpty", ``, nil, false},
		{"ErrSpaces", " \n ", nil, false},
		{"ErrTrailing", `{} {}`, nil, false},
		{"ErrTrailingGarbage", `1 x`, nil, false},
		{"ErrTrailingNUL", "null\x00", nil, false},
		{"ErrBOM", "\xef\xbb\xbf{}", nil, false},
		{"ErrTooDeep", deep(checkout.JSONMaxDepth + 1), nil, false},
		{"ErrTooLarge", `"` + strings.Repeat("a", checkout.MaxResponseBytes) + `"`, nil, false},
		{"ErrLeadingZero", `01`, nil, false},
		{"ErrPlus", `+1`, nil, false},
		{"ErrDot", `1.`, nil, false},
		{"ErrLeadingDot", `.5`, nil, false},
		{"ErrExponent", `1e`, nil, false},
		{"ErrExponentSign", `1e+`, nil, false},
		{"ErrMinus", `-`, nil, false},
		{"ErrHex", `0x10`, nil, false},
		{"ErrNaN", `NaN`, nil, false},
		{"ErrInfinity", `-Infinity`, nil, false},
		{"ErrTru", `tru`, nil, false},
		{"ErrTrueX", `truex`, nil, false},
		{"ErrCapitalTrue", `True`, nil, false},
		{"ErrSingleQuotes", `'a'`, nil, false},
		{"ErrUnterminated", `"abc`, nil, false},
		{"ErrControlChar", "\"a\nb\"", nil, false},
		{"ErrTab", "\"a\tb\"", nil, false},
		{"ErrBadEscape", `"\x"`, nil, false},
		{"ErrEscapedQuoteApostrophe", `"\'"`, nil, false},
		{"ErrShortUnicode", `"\u12"`, nil, false},
		{"ErrBadUnicode", `"\u12g4"`, nil, false},
		{"ErrSurrogateThenBadEscape", `"\ud83d\uzzzz"`, nil, false},
		{"ErrTrailingBackslash", `"\`, nil, false},
		{"ErrTrailingComma", `[1,]`, nil, false},
		{"ErrTrailingCommaObject", `{"a":1,}`, nil, false},
		{"ErrMissingComma", `[1 2]`, nil, false},
		{"ErrLeadingComma", `[,1]`, nil, false},
		{"ErrUnquotedName", `{a:1}`, nil, false},
		{"ErrNumberName", `{1:1}`, nil, false},
		{"ErrMissingColon", `{"a" 1}`, nil, false},
		{"ErrMissingValue", `{"a":}`, nil, false},
		{"ErrUnclosedArray", `[1`, nil, false},
		{"ErrUnclosedObject", `{"a":1`, nil, false},
		{"ErrMismatched", `[}`, nil, false},
		{"ErrComment", `[1 /* c */]`, nil, false},
		{"ErrNonBreakingSpace", "\u00a01", nil, false},
		{"ErrVerticalTab", "\v1", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := checkout.ParseJSON([]byte(tt.in))
			if !tt.ok {
				if err == nil {
					t.Fatalf("ParseJSON(%q) = %#v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseJSON(%q): %v", tt.in, err)
			}
			if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseJSON(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestAppendJSONString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain ASCII 123", `"plain ASCII 123"`},
		{`quote " backslash \ slash /`, `"quote \" backslash \\ slash /"`},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f" + `"`},
		{"<script>&</script>", `"\u003cscript\u003e\u0026\u003c/script\u003e"`},
		{"line\u2028para\u2029", `"line\u2028para\u2029"`},
		{"é€😀", `"é€😀"`},
		{"bad \xff utf8 \xed\xa0\x80", `"bad \ufffd utf8 \ufffd\ufffd\ufffd"`},
		{"cut \xe2\x82", `"cut \ufffd\ufffd"`},
	}
	for _, tt := range tests {
		if got := string(checkout.AppendJSONString([]byte("x"), tt.in)); got != "x"+tt.want {
			t.Errorf("AppendJSONString(%q) = %s, want x%s", tt.in, got, tt.want)
		}
	}
}

func TestEncodeValidateRequest(t *testing.T) {
	tests := []struct {
		name string
		req  checkout.ValidateRequest
		want string
	}{
		{"Zero", checkout.ValidateRequest{}, `{"items":null,"payment_method":""}`},
		{"EmptyItems", checkout.ValidateRequest{Items: []checkout.Item{}, PaymentMethod: "CARD"}, `{"items":[],"payment_method":"CARD"}`},
		{"Full", checkout.ValidateRequest{
			Items:          []checkout.Item{{ProductID: "mug", Quantity: 1}, {ProductID: "tee", Quantity: -2}},
			PaymentMethod:  checkout.MethodCardTest,
			Email:          "a<b>@example.com",
			IdempotencyKey: "ik_" + strings.Repeat("k", 22),
		}, `{"items":[{"product_id":"mug","quantity":1},{"product_id":"tee","quantity":-2}],"payment_method":"CARD_TEST","email":"a\u003cb\u003e@example.com","idempotency_key":"ik_kkkkkkkkkkkkkkkkkkkkkk"}`},
		{"OmitsEmptyKey", checkout.ValidateRequest{Items: []checkout.Item{{"a", 9223372036854775807}}, PaymentMethod: "CASH_ON_DELIVERY", Email: "e@x.io"},
			`{"items":[{"product_id":"a","quantity":9223372036854775807}],"payment_method":"CASH_ON_DELIVERY","email":"e@x.io"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(checkout.EncodeValidateRequest(tt.req)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestEncodeValidateResponse(t *testing.T) {
	tests := []struct {
		name string
		resp checkout.ValidateResponse
		want string
	}{
		{"Zero", checkout.ValidateResponse{}, `{"order":{"items":null,"amount":0,"currency":""},"payment_method":""}`},
		{"CashOnDelivery", checkout.ValidateResponse{
			Order:         checkout.Order{Items: []checkout.Line{{ProductID: "tee", Name: "T-shirt \"XL\"", Quantity: 2, UnitAmount: 2500}}, Amount: 5000, Currency: "usd"},
			PaymentMethod: checkout.MethodCashOnDelivery,
		}, `{"order":{"items":[{"product_id":"tee","name":"T-shirt \"XL\"","quantity":2,"unit_amount":2500}],"amount":5000,"currency":"usd"},"payment_method":"CASH_ON_DELIVERY"}`},
		{"Card", checkout.ValidateResponse{
			Order:          checkout.Order{Items: []checkout.Line{}, Amount: -1, Currency: "eur"},
			PaymentMethod:  checkout.MethodCard,
			IdempotencyKey: "ik_x",
			PaymentIntent:  &checkout.PaymentIntent{ID: "pi_1", ClientSecret: "pi_1_secret_&", Status: "requires_payment_method", Amount: -9223372036854775808, Currency: "eur"},
		}, `{"order":{"items":[],"amount":-1,"currency":"eur"},"payment_method":"CARD","idempotency_key":"ik_x","payment_intent":{"id":"pi_1","client_secret":"pi_1_secret_\u0026","status":"requires_payment_method","amount":-9223372036854775808,"currency":"eur"}}`},
		{"EmptyPaymentIntent", checkout.ValidateResponse{PaymentIntent: &checkout.PaymentIntent{}},
			`{"order":{"items":null,"amount":0,"currency":""},"payment_method":"","payment_intent":{"id":"","client_secret":"","status":"","amount":0,"currency":""}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(checkout.EncodeValidateResponse(tt.resp)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParseValidateRequest(t *testing.T) {
	key := "ik_" + strings.Repeat("k", 32)
	mug := []checkout.Item{{ProductID: "mug", Quantity: 1}}
	tests := []struct {
		name string
		body string
		want checkout.ValidateRequest // when code is ""
		code checkout.Code
		msg  string
	}{
		{"OK", `{"items":[{"product_id":"mug","quantity":1}],"payment_method":"CARD"}`,
			checkout.ValidateRequest{Items: mug, PaymentMethod: "CARD"}, "", ""},
		{"OKFull", ` {"items":[{"product_id":"mug","quantity":1}],"payment_method":"CARD","email":"a@b.co","idempotency_key":"` + key + `"} `,
			checkout.ValidateRequest{Items: mug, PaymentMethod: "CARD", Email: "a@b.co", IdempotencyKey: key}, "", ""},
		{"OKNotValidated", `{"items":[{"product_id":"","quantity":0}],"payment_method":"BITCOIN","idempotency_key":"nope"}`,
			checkout.ValidateRequest{Items: []checkout.Item{{}}, PaymentMethod: "BITCOIN", IdempotencyKey: "nope"}, "", ""},
		{"OKNull", `null`, checkout.ValidateRequest{}, "", ""},
		{"OKNullFields", `{"items":null,"payment_method":null,"email":null,"idempotency_key":null}`, checkout.ValidateRequest{}, "", ""},
		{"OKEmptyItems", `{"items":[]}`, checkout.ValidateRequest{Items: []checkout.Item{}}, "", ""},
		{"OKNullItem", `{"items":[null,{"quantity":3}]}`, checkout.ValidateRequest{Items: []checkout.Item{{}, {Quantity: 3}}}, "", ""},
		{"OKNegativeZero", `{"items":[{"quantity":-0}]}`, checkout.ValidateRequest{Items: []checkout.Item{{}}}, "", ""},
		{"ErrNamesAreCaseSensitive", `{"ITEMS":[{"product_id":"mug","quantity":1}],"payment_method":"CARD"}`,
			checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `The request body is invalid: unknown field "ITEMS".`},
		{"ErrItemNamesAreCaseSensitive", `{"items":[{"Product_ID":"mug","quantity":1}],"payment_method":"CARD"}`,
			checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `The request body is invalid: unknown field "Product_ID".`},
		{"ErrMethodNameCase", `{"items":[{"product_id":"mug","quantity":1}],"Payment_Method":"CARD"}`,
			checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `The request body is invalid: unknown field "Payment_Method".`},
		{"ErrKelvinSign", `{"idempotency_` + "\u212a" + `ey":"x"}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest,
			`The request body is invalid: unknown field "idempotency_` + "\u212a" + `ey".`},
		{"ErrLongS", `{"item` + "\u017f" + `":[]}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest,
			`The request body is invalid: unknown field "item` + "\u017f" + `".`},
		{"OKDuplicateLastWins", `{"payment_method":"CARD","payment_method":"CARD_TEST"}`, checkout.ValidateRequest{PaymentMethod: "CARD_TEST"}, "", ""},
		{"OKEscapes", `{"email":"\u0061@b.co\u00e9"}`, checkout.ValidateRequest{Email: "a@b.coé"}, "", ""},

		{"ErrEmpty", ``, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, "The request body is empty."},
		{"ErrBlank", " \r\n\t", checkout.ValidateRequest{}, checkout.CodeInvalidRequest, "The request body is empty."},
		{"ErrMalformed", `{"items":[`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, "The request body is not valid JSON."},
		{"ErrNotJSON", `items=1`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, "The request body is not valid JSON."},
		{"ErrSyntaxBeatsTypes", `{"items":"x","y":}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, "The request body is not valid JSON."},
		{"ErrUnknownField", `{"items":[],"payment_method":"CARD","price":1}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `The request body is invalid: unknown field "price".`},
		{"ErrUnknownItemField", `{"items":[{"product_id":"mug","quantity":1,"unit_amount":1}]}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `The request body is invalid: unknown field "unit_amount".`},
		{"ErrUnknownFieldQuoted", `{"a\"\u00e9\n":1}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `The request body is invalid: unknown field "a\"é\n".`},
		{"ErrWrongTypeTop", `[]`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, "The request body has the wrong type."},
		{"ErrWrongTypeTopString", `"x"`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, "The request body has the wrong type."},
		{"ErrWrongTypeTopNumberThenGarbage", `1x`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, "The request body has the wrong type."},
		{"ErrItemsObject", `{"items":{}}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `Field "items" has the wrong type.`},
		{"ErrItemNotObject", `{"items":[1]}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `Field "items" has the wrong type.`},
		{"ErrQuantityString", `{"items":[{"quantity":"1"}]}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `Field "items.quantity" has the wrong type.`},
		{"ErrQuantityFraction", `{"items":[{"quantity":1.5}]}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `Field "items.quantity" has the wrong type.`},
		{"ErrQuantityPointZero", `{"items":[{"quantity":1.0}]}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `Field "items.quantity" has the wrong type.`},
		{"ErrQuantityExponent", `{"items":[{"quantity":1e2}]}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `Field "items.quantity" has the wrong type.`},
		{"ErrQuantityOverflow", `{"items":[{"quantity":9223372036854775808}]}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `Field "items.quantity" has the wrong type.`},
		{"ErrQuantityBool", `{"items":[{"quantity":true}]}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `Field "items.quantity" has the wrong type.`},
		{"ErrProductIDNumber", `{"items":[{"product_id":1}]}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `Field "items.product_id" has the wrong type.`},
		{"ErrMethodNumber", `{"payment_method":1}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `Field "payment_method" has the wrong type.`},
		{"ErrEmailObject", `{"email":{}}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `Field "email" has the wrong type.`},
		{"ErrCaseBeforeType", `{"ITEMS":[{"quantity":"1"}]}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `The request body is invalid: unknown field "ITEMS".`},
		{"ErrTypeBeforeCase", `{"items":[{"quantity":"1"}],"ITEMS":[]}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `Field "items.quantity" has the wrong type.`},
		{"ErrNestedCaseBeforeType", `{"items":[{"QUANTITY":1,"quantity":"1"}]}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `The request body is invalid: unknown field "QUANTITY".`},
		{"ErrFirstErrorWinsType", `{"items":"a","x":1}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `Field "items" has the wrong type.`},
		{"ErrFirstErrorWinsUnknown", `{"x":1,"items":"a"}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `The request body is invalid: unknown field "x".`},
		{"ErrTypeBeatsTrailing", `{"items":"a"} {}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, `Field "items" has the wrong type.`},
		{"ErrTrailingData", `{"items":[]} {}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, "The request body must hold one JSON value."},
		{"ErrTrailingBracket", `{"items":[]}]`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, "The request body must hold one JSON value."},
		{"ErrTrailingNUL", "{}\x00", checkout.ValidateRequest{}, checkout.CodeInvalidRequest, "The request body must hold one JSON value."},
		{"ErrTooDeep", `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, checkout.ValidateRequest{}, checkout.CodeInvalidRequest, "The request body is nested too deeply."},
		{"ErrTooLarge", `{"items":[],"email":"` + strings.Repeat("a", 70<<10) + `"}`, checkout.ValidateRequest{}, checkout.CodeRequestTooLarge, checkout.MessageRequestTooLarge},
	}
	// One table for the browser codec and, in native builds, the
	// server's decoder (requestDecoders): the two must agree. Only the
	// nesting limit differs (encoding/json allows 10000 levels).
	for _, tt := range tests {
		for name, decode := range requestDecoders {
			if name != "ParseValidateRequest" && tt.name == "ErrTooDeep" {
				continue
			}
			t.Run(tt.name+"/"+name, func(t *testing.T) {
				got, err := decode([]byte(tt.body))
				if tt.code == "" {
					if err != nil {
						t.Fatalf("ParseValidateRequest: %v", err)
					}
					if !reflect.DeepEqual(got, tt.want) {
						t.Errorf("got %#v, want %#v", got, tt.want)
					}
					return
				}
				var ce *checkout.Error
				if !asError(err, &ce) || ce.Code != tt.code || ce.Message != tt.msg {
					t.Fatalf("err = %v, want *Error %s %q", err, tt.code, tt.msg)
				}
			})
		}
	}
}

// requestDecoders are the decoders of request bodies the table of
// TestParseValidateRequest holds to one behaviour.
var requestDecoders = map[string]func([]byte) (checkout.ValidateRequest, error){
	"ParseValidateRequest": checkout.ParseValidateRequest,
}

func TestDecodeValidateResponse(t *testing.T) {
	const card = `{"order":{"items":[{"product_id":"tee","name":"Tee","quantity":2,"unit_amount":2500}],"amount":5000,"currency":"usd"},` +
		`"payment_method":"CARD","idempotency_key":"ik_x","payment_intent":{"id":"pi_1","client_secret":"s","status":"requires_payment_method","amount":5000,"currency":"usd"}}`
	full := checkout.ValidateResponse{
		Order:          checkout.Order{Items: []checkout.Line{{ProductID: "tee", Name: "Tee", Quantity: 2, UnitAmount: 2500}}, Amount: 5000, Currency: "usd"},
		PaymentMethod:  "CARD",
		IdempotencyKey: "ik_x",
		PaymentIntent:  &checkout.PaymentIntent{ID: "pi_1", ClientSecret: "s", Status: "requires_payment_method", Amount: 5000, Currency: "usd"},
	}
	tests := []struct {
		name string
		body string
		want checkout.ValidateResponse
		ok   bool
	}{
		{"Card", card, full, true},
		{"RoundTrip", string(checkout.EncodeValidateResponse(full)), full, true},
		{"UnknownFieldsIgnored", `{"order":{"amount":1,"tax":{"x":[1,{"y":null}]},"items":[{"quantity":1,"sku":"a"}]},"payment_method":"CARD","new":true,"extra":[1e400]}`,
			checkout.ValidateResponse{Order: checkout.Order{Amount: 1, Items: []checkout.Line{{Quantity: 1}}}, PaymentMethod: "CARD"}, true},
		{"CaseInsensitive", `{"ORDER":{"Amount":7},"Payment_Method":"CARD"}`, checkout.ValidateResponse{Order: checkout.Order{Amount: 7}, PaymentMethod: "CARD"}, true},
		{"Null", `null`, checkout.ValidateResponse{}, true},
		{"NullFields", `{"order":null,"payment_method":null,"idempotency_key":null,"payment_intent":null}`, checkout.ValidateResponse{}, true},
		{"NullItems", `{"order":{"items":null}}`, checkout.ValidateResponse{}, true},
		{"EmptyItems", `{"order":{"items":[]}}`, checkout.ValidateResponse{Order: checkout.Order{Items: []checkout.Line{}}}, true},
		{"EmptyPaymentIntent", `{"payment_intent":{}}`, checkout.ValidateResponse{PaymentIntent: &checkout.PaymentIntent{}}, true},
		{"DuplicateObjectsMerge", `{"order":{"amount":1},"order":{"currency":"usd"}}`, checkout.ValidateResponse{Order: checkout.Order{Amount: 1, Currency: "usd"}}, true},
		{"DuplicatePaymentIntentMerges", `{"payment_intent":{"id":"a"},"payment_intent":{"status":"b"}}`, checkout.ValidateResponse{PaymentIntent: &checkout.PaymentIntent{ID: "a", Status: "b"}}, true},
		{"DuplicateNullClears", `{"payment_intent":{"id":"a"},"payment_intent":null}`, checkout.ValidateResponse{}, true},
		{"MaxInt64", `{"order":{"amount":9223372036854775807}}`, checkout.ValidateResponse{Order: checkout.Order{Amount: 9223372036854775807}}, true},
		{"MinInt64", `{"order":{"amount":-9223372036854775808}}`, checkout.ValidateResponse{Order: checkout.Order{Amount: -9223372036854775808}}, true},

		{"ErrEmpty", ``, checkout.ValidateResponse{}, false},
		{"ErrTruncated", `{"order":`, checkout.ValidateResponse{}, false},
		{"ErrHTML", `<html>bad gateway</html>`, checkout.ValidateResponse{}, false},
		{"ErrTrailing", `{} {}`, checkout.ValidateResponse{}, false},
		{"ErrArray", `[]`, checkout.ValidateResponse{}, false},
		{"ErrAmountString", `{"order":{"amount":"5000"}}`, checkout.ValidateResponse{}, false},
		{"ErrAmountFraction", `{"order":{"amount":50.5}}`, checkout.ValidateResponse{}, false},
		{"ErrAmountExponent", `{"order":{"amount":5e3}}`, checkout.ValidateResponse{}, false},
		{"ErrAmountOverflow", `{"order":{"amount":9223372036854775808}}`, checkout.ValidateResponse{}, false},
		{"ErrQuantityOverflow", `{"order":{"items":[{"quantity":-9223372036854775809}]}}`, checkout.ValidateResponse{}, false},
		{"ErrLineNotObject", `{"order":{"items":["tee"]}}`, checkout.ValidateResponse{}, false},
		{"ErrItemsObject", `{"order":{"items":{}}}`, checkout.ValidateResponse{}, false},
		{"ErrOrderArray", `{"order":[]}`, checkout.ValidateResponse{}, false},
		{"ErrMethodNumber", `{"payment_method":1}`, checkout.ValidateResponse{}, false},
		{"ErrKeyBool", `{"idempotency_key":false}`, checkout.ValidateResponse{}, false},
		{"ErrPaymentIntentString", `{"payment_intent":"pi_1"}`, checkout.ValidateResponse{}, false},
		{"ErrPaymentIntentAmount", `{"payment_intent":{"amount":"1"}}`, checkout.ValidateResponse{}, false},
		{"ErrSecretNumber", `{"payment_intent":{"client_secret":1}}`, checkout.ValidateResponse{}, false},
		{"ErrTooLarge", `{"x":"` + strings.Repeat("a", checkout.MaxResponseBytes) + `"}`, checkout.ValidateResponse{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := checkout.DecodeValidateResponse([]byte(tt.body))
			if !tt.ok {
				if err == nil {
					t.Fatalf("DecodeValidateResponse = %#v, want an error", got)
				}
				if !reflect.DeepEqual(got, checkout.ValidateResponse{}) {
					t.Errorf("a failed decoding returned %#v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeValidateResponse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeErrorBody(t *testing.T) {
	body := func(code, msg string) checkout.ErrorBody {
		return checkout.ErrorBody{Error: checkout.ErrorDetail{Code: checkout.Code(code), Message: msg}}
	}
	tests := []struct {
		name string
		body string
		want checkout.ErrorBody
		ok   bool
	}{
		{"OK", `{"error":{"code":"invalid_items","message":"Unknown product."}}`, body("invalid_items", "Unknown product."), true},
		{"UnknownFields", `{"error":{"code":"x","message":"m","details":[1]},"request_id":"r"}`, body("x", "m"), true},
		{"NoCode", `{"error":{"message":"m"}}`, body("", "m"), true},
		{"NoError", `{}`, body("", ""), true},
		{"Null", `null`, body("", ""), true},
		{"ErrorNull", `{"error":null}`, body("", ""), true},
		{"Escapes", `{"error":{"code":"a\u0062","message":"\u00e9\n"}}`, body("ab", "é\n"), true},

		{"ErrHTML", `<h1>404</h1>`, body("", ""), false},
		{"ErrEmpty", ``, body("", ""), false},
		{"ErrCodeNumber", `{"error":{"code":409}}`, body("", ""), false},
		{"ErrMessageObject", `{"error":{"code":"x","message":{}}}`, body("", ""), false},
		{"ErrErrorString", `{"error":"boom"}`, body("", ""), false},
		{"ErrTopString", `"boom"`, body("", ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := checkout.DecodeErrorBody([]byte(tt.body))
			if (err == nil) != tt.ok {
				t.Fatalf("DecodeErrorBody(%q) error = %v, want ok=%v", tt.body, err, tt.ok)
			}
			if got != tt.want {
				t.Errorf("DecodeErrorBody(%q) = %#v, want %#v", tt.body, got, tt.want)
			}
		})
	}
}

// TestDecodeErrorsName checks that decoding errors say what is wrong.
func TestDecodeErrorsName(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"order":{"items":[{"unit_amount":1.5}]}}`, `field "order.items.unit_amount" has the wrong type`},
		{`{"payment_intent":{"amount":"1"}}`, `field "payment_intent.amount" has the wrong type`},
		{`[]`, `the document has the wrong type`},
		{`{"order":`, `invalid syntax at offset 9`},
		{`{} x`, `data after the value at offset 3`},
		{``, `empty document`},
	}
	for _, tt := range tests {
		_, err := checkout.DecodeValidateResponse([]byte(tt.body))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("DecodeValidateResponse(%q) error = %v, want it to mention %q", tt.body, err, tt.want)
		}
	}
}
