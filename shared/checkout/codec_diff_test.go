//go:build !js

package checkout_test

// Differential tests: the codecs of codec.go against encoding/json, which
// the browser build does not link. Native only.

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/onecharge/onecharge/shared/checkout"
)

// depth returns how deeply arrays and objects nest in data, counting
// brackets outside strings (a guess for malformed data, which is enough:
// it only decides when a difference is the parser's depth limit).
func depth(data []byte) int {
	d, most, inString := 0, 0, false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			d++
			most = max(most, d)
		case c == ']' || c == '}':
			d--
		}
	}
	return most
}

// checkParseValidateRequest: ParseValidateRequest rejects with the same
// code and message as the server's Decode, and accepts the same values.
func checkParseValidateRequest(t *testing.T, body []byte) {
	t.Helper()
	got, gotErr := checkout.ParseValidateRequest(body)
	var want checkout.ValidateRequest
	wantErr := checkout.Decode(bytes.NewReader(body), &want)
	gotCode, wantCode := checkout.ErrorCode(gotErr), checkout.ErrorCode(wantErr)
	if gotCode != wantCode {
		t.Fatalf("body %q:\nParseValidateRequest: %v\nDecode:               %v", body, gotErr, wantErr)
	}
	if gotErr == nil {
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("body %q:\nParseValidateRequest = %#v\nDecode               = %#v", body, got, want)
		}
		return
	}
	var ce *checkout.Error
	if !asError(gotErr, &ce) {
		t.Fatalf("body %q: error %v (%T) is not an *Error", body, gotErr, gotErr)
	}
	if gotMsg, wantMsg := checkout.ErrorMessage(gotErr), checkout.ErrorMessage(wantErr); gotMsg != wantMsg && depth(body) <= checkout.JSONMaxDepth {
		t.Fatalf("body %q:\nParseValidateRequest: %q\nDecode:               %q", body, gotMsg, wantMsg)
	}
}

// checkDecodeValidateRequest: the server's DecodeValidateRequest answers
// as Decode followed by Validate, message for message, at any depth.
func checkDecodeValidateRequest(t *testing.T, body []byte) {
	t.Helper()
	got, gotErr := checkout.DecodeValidateRequest(bytes.NewReader(body))
	var want checkout.ValidateRequest
	wantErr := checkout.Decode(bytes.NewReader(body), &want)
	if wantErr == nil {
		wantErr = want.Validate()
	}
	if checkout.ErrorCode(gotErr) != checkout.ErrorCode(wantErr) || checkout.ErrorMessage(gotErr) != checkout.ErrorMessage(wantErr) {
		t.Fatalf("body %q:\nDecodeValidateRequest: %v\nDecode, Validate:      %v", body, gotErr, wantErr)
	}
	if gotErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("body %q:\nDecodeValidateRequest = %#v\nDecode                = %#v", body, got, want)
	}
}

// checkDecodeCartRequest: DecodeCartRequest answers as Decode does,
// message for message, with the same value.
func checkDecodeCartRequest(t *testing.T, body []byte) {
	t.Helper()
	got, gotErr := checkout.DecodeCartRequest(bytes.NewReader(body))
	var want checkout.CartRequest
	wantErr := checkout.Decode(bytes.NewReader(body), &want)
	if checkout.ErrorCode(gotErr) != checkout.ErrorCode(wantErr) || checkout.ErrorMessage(gotErr) != checkout.ErrorMessage(wantErr) {
		t.Fatalf("body %q:\nDecodeCartRequest: %v\nDecode:            %v", body, gotErr, wantErr)
	}
	if gotErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("body %q:\nDecodeCartRequest = %#v\nDecode            = %#v", body, got, want)
	}
}

// checkDecode: decode (a codec) accepts what json.Unmarshal accepts, with
// the same value, except documents nested deeper than the parser's limit.
func checkDecode[T any](t *testing.T, name string, body []byte, decode func([]byte) (T, error)) {
	t.Helper()
	got, gotErr := decode(body)
	var want T
	wantErr := json.Unmarshal(body, &want)
	if (gotErr == nil) != (wantErr == nil) {
		if gotErr != nil && wantErr == nil && depth(body) > checkout.JSONMaxDepth {
			return
		}
		t.Fatalf("body %q:\n%s: %v\njson.Unmarshal: %v", body, name, gotErr, wantErr)
	}
	if gotErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("body %q:\n%s = %#v\njson.Unmarshal = %#v", body, name, got, want)
	}
}

// checkParseJSON: the parser agrees with json.Unmarshal into an any.
func checkParseJSON(t *testing.T, body []byte) {
	t.Helper()
	got, gotErr := checkout.ParseJSON(body)
	var want any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	wantErr := dec.Decode(&want)
	if wantErr == nil && !json.Valid(body) {
		wantErr = errTrailing
	}
	if (gotErr == nil) != (wantErr == nil) {
		if gotErr != nil && wantErr == nil && depth(body) > checkout.JSONMaxDepth {
			return
		}
		t.Fatalf("body %q:\nParseJSON: %v\njson:      %v", body, gotErr, wantErr)
	}
	if gotErr == nil && !reflect.DeepEqual(got, numbers(want)) {
		t.Fatalf("body %q:\nParseJSON = %#v\njson      = %#v", body, got, want)
	}
}

var errTrailing = checkout.NewError(checkout.CodeInvalidRequest, "trailing data")

// numbers replaces json.Number with checkout.JSONNumber in v.
func numbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		return checkout.JSONNumber(v)
	case []any:
		for i := range v {
			v[i] = numbers(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = numbers(v[k])
		}
	}
	return v
}

func checkAll(t *testing.T, body []byte) {
	t.Helper()
	checkParseJSON(t, body)
	checkParseValidateRequest(t, body)
	checkDecodeValidateRequest(t, body)
	checkDecodeCartRequest(t, body)
	checkDecode(t, "DecodeValidateResponse", body, checkout.DecodeValidateResponse)
	checkDecode(t, "DecodeErrorBody", body, checkout.DecodeErrorBody)
}

// checkEncode: the encoders write what json.Marshal writes, and what they
// write decodes to what json.Unmarshal decodes it to.
func checkEncode(t *testing.T, req checkout.ValidateRequest, resp checkout.ValidateResponse) {
	t.Helper()
	want, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := checkout.EncodeValidateRequest(req); !bytes.Equal(got, want) {
		t.Fatalf("EncodeValidateRequest(%#v)\n= %s\nwant %s", req, got, want)
	}
	checkParseValidateRequest(t, want)
	if want, err = json.Marshal(resp); err != nil {
		t.Fatal(err)
	}
	if got := checkout.EncodeValidateResponse(resp); !bytes.Equal(got, want) {
		t.Fatalf("EncodeValidateResponse(%#v)\n= %s\nwant %s", resp, got, want)
	}
	checkDecode(t, "DecodeValidateResponse", want, checkout.DecodeValidateResponse)
}

// seeds are documents for the fuzz targets and the random test.
var seeds = []string{
	``, ` `, `null`, `{}`, `[]`, `"x"`, `1`, `true`, `{} {}`, `{}]`, "{}\x00", `1x`, `nullx`,
	`{"items":[{"product_id":"mug","quantity":1}],"payment_method":"CARD"}`,
	`{"items":[{"product_id":"mug","quantity":1}],"payment_method":"CARD","email":"a@b.co","idempotency_key":"ik_kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"}`,
	`{"items":null,"payment_method":null,"idempotency_key":"ik_"}`,
	`{"items":[{"product_id":"\u0000","quantity":99999999999999999999}]}`,
	`{"items":[{"quantity":1.5}]}`, `{"items":[{"quantity":1e2}]}`, `{"items":[{"quantity":-0}]}`,
	`{"items":[1]}`, `{"items":{}}`, `{"items":[[1]]}`, `{"items":"a","x":1}`, `{"x":1,"items":"a"}`,
	`{"ITEMS":[{"Quantity":2}],"Payment_Method":"CARD"}`, `{"idempotency_` + "\u212a" + `ey":"x","item` + "\u017f" + `":[]}`,
	`{"items":[{"product_id":"a"}],"items":[{"quantity":1},{"quantity":2}]}`,
	`{"items":[{"product_id":"a"},{"product_id":"b"}],"items":[],"items":[{"quantity":1},{},{}]}`,
	`{"order":{"items":[{"product_id":"tee","name":"Tee","quantity":2,"unit_amount":2500}],"amount":5000,"currency":"usd"},"payment_method":"CARD","idempotency_key":"ik_x","payment_intent":{"id":"pi_1","client_secret":"s","status":"requires_payment_method","amount":5000,"currency":"usd"}}`,
	`{"order":{"amount":1},"order":{"currency":"usd"},"payment_intent":{"id":"a"},"payment_intent":{"status":"b"}}`,
	`{"order":{"items":[{"name":"a"}]},"order":{"items":[{"quantity":1}]}}`,
	`{"payment_intent":{"id":"a"},"payment_intent":null}`, `{"payment_intent":"x"}`, `{"order":{"amount":9223372036854775808}}`,
	`{"error":{"code":"invalid_items","message":"Unknown product."}}`, `{"error":{"code":409}}`, `{"error":"boom"}`,
	`"\ud83d\ude00\ud83d\u0041\ude00\ud83d"`, "\"\xff\xed\xa0\x80\"", `"\'"`, `"\u12g4"`, `[1,]`, `{"a" 1}`,
	`{"x":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`,
	`{"items":[{"product_id":"mug","quantity":1}],"payment_method":"CARD","email":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`,
	strings.Repeat("[", 70) + strings.Repeat("]", 70),
	`{"items":[{"product_id":"mug","quantity":2},{"product_id":"tshirt","quantity":1}]}`, `{"items":[]}`, `{"items":null}`,
	`{"items":[{"product_id":"mug","quantity":2}],"Items":[]}`, `{"items":[{"product_id":"mug","quantity":2,"x":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}]}`,
}

func FuzzParseValidateRequestDifferential(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkParseValidateRequest(t, body)
		checkDecodeValidateRequest(t, body)
	})
}

func FuzzDecodeCartRequestDifferential(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkDecodeCartRequest(t, body) })
}

func FuzzDecodeValidateResponseDifferential(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecode(t, "DecodeValidateResponse", body, checkout.DecodeValidateResponse)
	})
}

func FuzzDecodeErrorBodyDifferential(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkDecode(t, "DecodeErrorBody", body, checkout.DecodeErrorBody) })
}

func FuzzParseJSONDifferential(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkParseJSON(t, body) })
}

// checkAppendCartResponse: AppendCartResponse writes what json.Marshal
// writes, and fails where it fails.
func checkAppendCartResponse(t *testing.T, resp checkout.CartResponse) {
	t.Helper()
	want, wantErr := json.Marshal(resp)
	got, gotErr := checkout.AppendCartResponse([]byte("x"), resp)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("AppendCartResponse(%#v): %v; json.Marshal: %v", resp, gotErr, wantErr)
	}
	if gotErr == nil && !bytes.Equal(got, append([]byte("x"), want...)) {
		t.Fatalf("AppendCartResponse(x, %#v)\n= %s\nwant x%s", resp, got, want)
	}
}

func FuzzAppendCartResponseDifferential(f *testing.F) {
	f.Add("mug", "Onecharge Mug", int64(2), int64(1200), "usd", int64(1764626400123456789), 0, true)
	f.Add("<&>\u2028\u2029\x00\x7f\"\\", "\b\f\n\r\t\xff", int64(-9223372036854775808), int64(0), "\xed\xa0\x80", int64(-62135596800000000000/1e9), 3600, false)
	f.Add("a", "b", int64(1), int64(1), "usd", int64(253402300800), -7*3600-30*60, true) // the year 10000
	f.Fuzz(func(t *testing.T, id, name string, n, amount int64, currency string, unix int64, offset int, items bool) {
		resp := checkout.CartResponse{Cart: checkout.Cart{Amount: amount * n, Currency: currency,
			UpdatedAt: time.Unix(0, 0).Add(time.Duration(unix)).In(time.FixedZone("z", offset%(48*3600)))}}
		if items {
			resp.Cart.Items = []checkout.Line{{ProductID: id, Name: name, Quantity: int(n), UnitAmount: amount}, {ProductID: name}}
		}
		checkAppendCartResponse(t, resp)
		resp.Cart.UpdatedAt = time.Unix(unix, int64(offset)).UTC()
		checkAppendCartResponse(t, resp)
		resp.Cart.Items = []checkout.Line{}
		checkAppendCartResponse(t, resp)
	})
}

func FuzzEncodeDifferential(f *testing.F) {
	f.Add("mug", int64(1), "CARD", "a@b.co", "ik_x", "Mug", int64(1200), true)
	f.Add("<&>\u2028\u2029\x00\x7f\"\\", int64(-9223372036854775808), "\xff\xed\xa0\x80", "", "", "\b\f\n\r\t", int64(0), false)
	f.Fuzz(func(t *testing.T, id string, n int64, method, email, key, name string, amount int64, intent bool) {
		req := checkout.ValidateRequest{
			Items:          []checkout.Item{{ProductID: id, Quantity: int(n)}, {ProductID: name}},
			PaymentMethod:  checkout.PaymentMethod(method),
			Email:          email,
			IdempotencyKey: key,
		}
		resp := checkout.ValidateResponse{
			Order:          checkout.Order{Items: []checkout.Line{{ProductID: id, Name: name, Quantity: int(n), UnitAmount: amount}}, Amount: amount, Currency: email},
			PaymentMethod:  checkout.PaymentMethod(method),
			IdempotencyKey: key,
		}
		if intent {
			resp.PaymentIntent = &checkout.PaymentIntent{ID: id, ClientSecret: key, Status: name, Amount: n, Currency: method}
		}
		checkEncode(t, req, resp)
		req.Items, resp.Order.Items = nil, nil
		checkEncode(t, req, resp)
	})
}

// TestCodecsMatchEncodingJSON runs the differential checks on the seeds and
// on documents generated from the shapes of the API bodies with random
// mistakes: wrong types, nulls, unknown, repeated and differently cased
// names, odd numbers and strings, truncation and stray bytes.
func TestCodecsMatchEncodingJSON(t *testing.T) {
	for _, s := range seeds {
		checkAll(t, []byte(s))
	}
	r := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i := 0; i < n; i++ {
		g := gen{r: r}
		g.value(shapes[i%len(shapes)], 0)
		body := g.b
		switch r.IntN(8) {
		case 0:
			body = body[:r.IntN(len(body)+1)]
		case 1:
			p := r.IntN(len(body) + 1)
			body = append(body[:p:p], append([]byte{strayBytes[r.IntN(len(strayBytes))]}, body[p:]...)...)
		case 2:
			body = append(body, strayBytes[r.IntN(len(strayBytes))])
		}
		checkAll(t, body)
	}
	for i := 0; i < n/10; i++ {
		g := gen{r: r}
		req := checkout.ValidateRequest{PaymentMethod: checkout.PaymentMethod(g.str()), Email: g.str(), IdempotencyKey: g.str()}
		for range r.IntN(3) {
			req.Items = append(req.Items, checkout.Item{ProductID: g.str(), Quantity: int(r.Int64() >> r.IntN(64))})
		}
		resp := checkout.ValidateResponse{Order: checkout.Order{Amount: r.Int64() - r.Int64(), Currency: g.str()}, PaymentMethod: checkout.PaymentMethod(g.str()), IdempotencyKey: g.str()}
		for range r.IntN(3) {
			resp.Order.Items = append(resp.Order.Items, checkout.Line{ProductID: g.str(), Name: g.str(), Quantity: -r.IntN(5), UnitAmount: r.Int64()})
		}
		if r.IntN(2) == 0 {
			resp.PaymentIntent = &checkout.PaymentIntent{ID: g.str(), ClientSecret: g.str(), Status: g.str(), Amount: r.Int64(), Currency: g.str()}
		}
		checkEncode(t, req, resp)
	}
}

var strayBytes = []byte(`{}[],:"\ 0-x` + "\x00\xff\t")

// shape describes a JSON body: an object with fields, an array of elem,
// a string ('s') or an integer ('i').
type shape struct {
	kind   byte // 'o', 'a', 's', 'i'
	fields []field
	elem   *shape
}

type field struct {
	name  string
	shape *shape
}

var (
	str  = &shape{kind: 's'}
	num  = &shape{kind: 'i'}
	item = &shape{kind: 'o', fields: []field{{"product_id", str}, {"quantity", num}}}
	line = &shape{kind: 'o', fields: []field{{"product_id", str}, {"name", str}, {"quantity", num}, {"unit_amount", num}}}

	shapes = []*shape{
		{kind: 'o', fields: []field{{"items", &shape{kind: 'a', elem: item}}, {"payment_method", str}, {"email", str}, {"idempotency_key", str}}},
		{kind: 'o', fields: []field{
			{"order", &shape{kind: 'o', fields: []field{{"items", &shape{kind: 'a', elem: line}}, {"amount", num}, {"currency", str}}}},
			{"payment_method", str}, {"idempotency_key", str},
			{"payment_intent", &shape{kind: 'o', fields: []field{{"id", str}, {"client_secret", str}, {"status", str}, {"amount", num}, {"currency", str}}}},
		}},
		{kind: 'o', fields: []field{{"error", &shape{kind: 'o', fields: []field{{"code", str}, {"message", str}}}}}},
	}

	numberLits = []string{"0", "-0", "1", "2", "99", "-5", "1234567890", "9223372036854775807", "-9223372036854775808",
		"9223372036854775808", "-9223372036854775809", "99999999999999999999", "1.0", "1.5", "1e2", "1E+2", "0.0", "-0.0", "2e-1"}
	stringLits = []string{``, `a`, `mug`, `CARD`, `ik_kkkkkkkkkkkkkkkkkkkkkk`, `a@b.co`, `\u0041\u00e9`, `\ud83d\ude00`, `\ud83d`,
		`\ude00x`, `\ud83d\u0041`, `\"\\\/\b\f\n\r\t`, "\xff\xfe", "\xed\xa0\x80", "é€😀", `<&>`, "\u2028", `\u0000`}
	memberNames = []string{"x", "ITEMS", "Quantity", "item\u017f", "idempotency_\u212aey", "product_ID", "", "\u0069tems", `\u0069tems`, "unit amount"}
)

// gen writes a random document.
type gen struct {
	r *rand.Rand
	b []byte
}

func (g *gen) space() {
	if g.r.IntN(6) == 0 {
		g.b = append(g.b, " \t\n\r"[g.r.IntN(4)])
	}
}

func (g *gen) str() string {
	if g.r.IntN(3) == 0 {
		b := make([]byte, g.r.IntN(6))
		for i := range b {
			b[i] = byte(g.r.IntN(256))
		}
		return string(b)
	}
	var out string
	if err := json.Unmarshal([]byte(`"`+stringLits[g.r.IntN(len(stringLits))]+`"`), &out); err != nil {
		return "\xff" // a raw invalid byte
	}
	return out
}

func (g *gen) value(s *shape, d int) {
	g.space()
	if g.r.IntN(12) == 0 { // a wrong type, or null
		g.anything(d)
		g.space()
		return
	}
	switch s.kind {
	case 's':
		g.b = append(g.b, '"')
		g.b = append(g.b, stringLits[g.r.IntN(len(stringLits))]...)
		g.b = append(g.b, '"')
	case 'i':
		g.b = append(g.b, numberLits[g.r.IntN(len(numberLits))]...)
	case 'a':
		g.b = append(g.b, '[')
		for i := range g.r.IntN(4) {
			if i > 0 {
				g.b = append(g.b, ',')
			}
			g.value(s.elem, d+1)
		}
		g.space()
		g.b = append(g.b, ']')
	case 'o':
		g.b = append(g.b, '{')
		n := g.r.IntN(len(s.fields) + 3)
		for i := range n {
			if i > 0 {
				g.b = append(g.b, ',')
			}
			g.space()
			if g.r.IntN(8) == 0 { // an unknown name
				g.b = append(g.b, '"')
				g.b = append(g.b, memberNames[g.r.IntN(len(memberNames))]...)
				g.b = append(g.b, `":`...)
				g.anything(d + 1)
				continue
			}
			f := s.fields[g.r.IntN(len(s.fields))]
			name := f.name
			switch g.r.IntN(6) {
			case 0:
				name = strings.ToUpper(name)
			case 1:
				name = strings.ToUpper(name[:1]) + name[1:]
			}
			g.b = append(g.b, '"')
			g.b = append(g.b, name...)
			g.b = append(g.b, '"')
			g.space()
			g.b = append(g.b, ':')
			g.value(f.shape, d+1)
		}
		g.space()
		g.b = append(g.b, '}')
	}
	g.space()
}

// anything writes a random value of any type.
func (g *gen) anything(d int) {
	switch k := g.r.IntN(7); {
	case k == 0:
		g.b = append(g.b, "null"...)
	case k == 1:
		g.b = append(g.b, []string{"true", "false"}[g.r.IntN(2)]...)
	case k == 2:
		g.b = append(g.b, numberLits[g.r.IntN(len(numberLits))]...)
	case k == 3:
		g.b = append(g.b, '"')
		g.b = append(g.b, stringLits[g.r.IntN(len(stringLits))]...)
		g.b = append(g.b, '"')
	case k == 4 && d < 6:
		g.b = append(g.b, '[')
		for i := range g.r.IntN(3) {
			if i > 0 {
				g.b = append(g.b, ',')
			}
			g.anything(d + 1)
		}
		g.b = append(g.b, ']')
	case k == 5 && d < 6:
		g.b = append(g.b, `{"`...)
		g.b = append(g.b, memberNames[g.r.IntN(len(memberNames))]...)
		g.b = append(g.b, `":`...)
		g.anything(d + 1)
		g.b = append(g.b, '}')
	default:
		g.b = append(g.b, "null"...)
	}
}
