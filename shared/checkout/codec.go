package checkout

import (
	"strconv"
	"strings"
)

// The typed JSON codecs of the bodies the browser module sends and reads,
// on the parser of jsonwire.go. They follow encoding/json's rules for the
// types involved (the differential tests compare them with it):
//
//   - Encoding writes exactly what json.Marshal writes, omitempty honoured.
//   - In requests (ParseValidateRequest) member names match fields
//     exactly, as the server's Decode requires ("ITEMS" is an unknown
//     field, although encoding/json alone folds it to "items"). Responses
//     are read as encoding/json reads them: case-insensitively
//     (strings.EqualFold). When a name repeats, the last value wins,
//     decoded into the earlier one for objects and array elements.
//   - null leaves a string, number or struct field as it is and sets a
//     slice or pointer to nil; the whole document null is the zero value.
//   - Types are strict: a string field takes a JSON string only; an
//     integer field takes an integral JSON number without fraction or
//     exponent that fits its type ("1.0", "1e2" and 2^63 are errors).
//   - Invalid UTF-8 and unpaired surrogate escapes in strings become
//     U+FFFD.
//
// Errors of the type checks name the first offending field, in document
// order, by its dotted path ("items.quantity"), as encoding/json's
// UnmarshalTypeError.Field does. Documents are limited in size
// (MaxBodyBytes for requests, MaxResponseBytes for responses) and in
// nesting (64 levels; encoding/json allows 10000).

// MaxResponseBytes is the largest response body DecodeValidateResponse and
// DecodeErrorBody read; the API's responses are a few kilobytes.
const MaxResponseBytes = 1 << 20

// EncodeValidateRequest returns req as JSON, byte for byte what
// encoding/json.Marshal returns for it.
func EncodeValidateRequest(req ValidateRequest) []byte {
	b := make([]byte, 0, 64+48*len(req.Items)+len(req.Email)+len(req.IdempotencyKey))
	b = append(b, `{"items":`...)
	if req.Items == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, it := range req.Items {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"product_id":`...)
			b = appendJSONString(b, it.ProductID)
			b = append(b, `,"quantity":`...)
			b = strconv.AppendInt(b, int64(it.Quantity), 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"payment_method":`...)
	b = appendJSONString(b, string(req.PaymentMethod))
	if req.Email != "" {
		b = append(b, `,"email":`...)
		b = appendJSONString(b, req.Email)
	}
	if req.IdempotencyKey != "" {
		b = append(b, `,"idempotency_key":`...)
		b = appendJSONString(b, req.IdempotencyKey)
	}
	return append(b, '}')
}

// EncodeValidateResponse returns resp as JSON, byte for byte what
// encoding/json.Marshal returns for it.
func EncodeValidateResponse(resp ValidateResponse) []byte {
	b := make([]byte, 0, 512+96*len(resp.Order.Items))
	b = append(b, `{"order":{"items":`...)
	if resp.Order.Items == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, l := range resp.Order.Items {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"product_id":`...)
			b = appendJSONString(b, l.ProductID)
			b = append(b, `,"name":`...)
			b = appendJSONString(b, l.Name)
			b = append(b, `,"quantity":`...)
			b = strconv.AppendInt(b, int64(l.Quantity), 10)
			b = append(b, `,"unit_amount":`...)
			b = strconv.AppendInt(b, l.UnitAmount, 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"amount":`...)
	b = strconv.AppendInt(b, resp.Order.Amount, 10)
	b = append(b, `,"currency":`...)
	b = appendJSONString(b, resp.Order.Currency)
	b = append(b, `},"payment_method":`...)
	b = appendJSONString(b, string(resp.PaymentMethod))
	if resp.IdempotencyKey != "" {
		b = append(b, `,"idempotency_key":`...)
		b = appendJSONString(b, resp.IdempotencyKey)
	}
	if pi := resp.PaymentIntent; pi != nil {
		b = append(b, `,"payment_intent":{"id":`...)
		b = appendJSONString(b, pi.ID)
		b = append(b, `,"client_secret":`...)
		b = appendJSONString(b, pi.ClientSecret)
		b = append(b, `,"status":`...)
		b = appendJSONString(b, pi.Status)
		b = append(b, `,"amount":`...)
		b = strconv.AppendInt(b, pi.Amount, 10)
		b = append(b, `,"currency":`...)
		b = appendJSONString(b, pi.Currency)
		b = append(b, '}')
	}
	return append(b, '}')
}

// ParseValidateRequest decodes a ValidateOrderItemsInsert request body
// with the server's rules (Decode, which native builds have): at most
// MaxBodyBytes, exactly one JSON value, no unknown fields, strict types.
// It rejects with the same *Error as Decode: CodeRequestTooLarge, or
// CodeInvalidRequest with the same message. It does not apply the
// validation rules; call Validate for those.
//
// The browser module uses it to check a request the page passes in
// before anything is sent.
func ParseValidateRequest(body []byte) (ValidateRequest, error) {
	var req ValidateRequest
	v, end, err := parseJSONPrefix(body, MaxBodyBytes)
	if err != nil {
		return ValidateRequest{}, requestBodyError(err)
	}
	if err := decodeValidateRequest(binder{strict: true}, &v, &req); err != nil {
		return ValidateRequest{}, requestBodyError(err)
	}
	if end < len(body) {
		return ValidateRequest{}, requestBodyError(&jsonError{kind: errJSONTrailing, offset: end})
	}
	return req, nil
}

// requestBodyError is the *Error the API answers a request body with
// that does not decode. Decode and ParseValidateRequest share it.
func requestBodyError(e *jsonError) *Error {
	var msg string
	switch e.kind {
	case errJSONTooLarge:
		return &Error{Code: CodeRequestTooLarge, Message: MessageRequestTooLarge}
	case errJSONEmpty:
		msg = "The request body is empty."
	case errJSONTooDeep:
		msg = "The request body is nested too deeply."
	case errJSONTrailing:
		msg = "The request body must hold one JSON value."
	case errJSONType:
		if e.field == "" {
			msg = "The request body has the wrong type."
		} else {
			msg = "Field " + strconv.Quote(e.field) + " has the wrong type."
		}
	case errJSONUnknownField:
		msg = "The request body is invalid: unknown field " + strconv.Quote(e.field) + "."
	default:
		msg = "The request body is not valid JSON."
	}
	return NewError(CodeInvalidRequest, msg)
}

// DecodeValidateResponse decodes the 200 body of POST
// /api/orders/validate. Unknown fields are ignored (servers may add
// fields); types are strict. The error describes the first problem; it
// is not an *Error (the body is the server's, not the client's, fault).
func DecodeValidateResponse(body []byte) (ValidateResponse, error) {
	var resp ValidateResponse
	v, err := parseJSON(body, MaxResponseBytes)
	if err == nil {
		err = decodeValidateResponse(binder{}, &v, &resp)
	}
	if err != nil { // not folded into the return: a nil *jsonError is a non-nil error
		return ValidateResponse{}, err
	}
	return resp, nil
}

// DecodeErrorBody decodes the body of an error response, with the rules
// of DecodeValidateResponse. A body that decodes may still lack a code.
func DecodeErrorBody(body []byte) (ErrorBody, error) {
	var out ErrorBody
	v, err := parseJSON(body, MaxResponseBytes)
	if err == nil {
		err = decodeErrorBody(binder{}, &v, &out)
	}
	if err != nil { // see DecodeValidateResponse
		return ErrorBody{}, err
	}
	return out, nil
}

// binder decodes jsonValue trees into the wire types.
type binder struct {
	// strict makes unknown object members errors, as the server's
	// DisallowUnknownFields does, and names match exactly.
	strict bool
}

// fieldFunc decodes the member name with value v, reporting whether the
// type has a field of that name.
type fieldFunc func(name string, v *jsonValue) (known bool, err *jsonError)

// object decodes the object v member by member with field. null is left
// alone; any other value is a type error at path.
func (b binder) object(v *jsonValue, path string, field fieldFunc) *jsonError {
	switch v.kind {
	case jsonNull:
		return nil
	case jsonObject:
	default:
		return typeError(path)
	}
	for i := range v.kids {
		m := &v.kids[i]
		known, err := field(m.name, &m.value)
		if err != nil {
			return err
		}
		if !known && b.strict {
			return &jsonError{kind: errJSONUnknownField, field: m.name}
		}
	}
	return nil
}

func typeError(path string) *jsonError { return &jsonError{kind: errJSONType, field: path} }

// join returns the dotted path of field name under path.
func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// is reports whether the member name names field: byte for byte in
// strict (request) decoding, case-insensitively otherwise.
func (b binder) is(name, field string) bool {
	if b.strict {
		return name == field
	}
	return strings.EqualFold(name, field)
}

func decodeString[T ~string](v *jsonValue, path string, dst *T) *jsonError {
	switch v.kind {
	case jsonNull:
	case jsonString:
		*dst = T(v.text)
	default:
		return typeError(path)
	}
	return nil
}

func decodeInt[T int | int64](v *jsonValue, path string, dst *T) *jsonError {
	switch v.kind {
	case jsonNull:
	case jsonNumber:
		n, err := strconv.ParseInt(v.text, 10, 64)
		if err != nil || int64(T(n)) != n {
			return typeError(path)
		}
		*dst = T(n)
	default:
		return typeError(path)
	}
	return nil
}

// decodeSlice decodes the array v into *dst with elem. Like encoding/json
// it decodes into the elements *dst already holds (from a repeated
// member) and sets *dst to nil for null and to an empty slice for [].
func decodeSlice[T any](b binder, v *jsonValue, path string, dst *[]T, elem func(binder, *jsonValue, string, *T) *jsonError) *jsonError {
	switch v.kind {
	case jsonNull:
		*dst = nil
		return nil
	case jsonArray:
	default:
		return typeError(path)
	}
	if len(v.kids) == 0 {
		*dst = []T{}
		return nil
	}
	s := (*dst)[:0]
	for i := range v.kids {
		if i < cap(s) {
			s = s[:i+1]
		} else {
			var zero T
			s = append(s, zero)
		}
		if err := elem(b, &v.kids[i].value, path, &s[i]); err != nil {
			return err
		}
	}
	*dst = s
	return nil
}

func decodeValidateRequest(b binder, v *jsonValue, req *ValidateRequest) *jsonError {
	return b.object(v, "", func(name string, v *jsonValue) (bool, *jsonError) {
		switch {
		case b.is(name, "items"):
			return true, decodeSlice(b, v, "items", &req.Items, decodeItem)
		case b.is(name, "payment_method"):
			return true, decodeString(v, "payment_method", &req.PaymentMethod)
		case b.is(name, "email"):
			return true, decodeString(v, "email", &req.Email)
		case b.is(name, "idempotency_key"):
			return true, decodeString(v, "idempotency_key", &req.IdempotencyKey)
		}
		return false, nil
	})
}

func decodeItem(b binder, v *jsonValue, path string, it *Item) *jsonError {
	return b.object(v, path, func(name string, v *jsonValue) (bool, *jsonError) {
		switch {
		case b.is(name, "product_id"):
			return true, decodeString(v, join(path, "product_id"), &it.ProductID)
		case b.is(name, "quantity"):
			return true, decodeInt(v, join(path, "quantity"), &it.Quantity)
		}
		return false, nil
	})
}

func decodeValidateResponse(b binder, v *jsonValue, resp *ValidateResponse) *jsonError {
	return b.object(v, "", func(name string, v *jsonValue) (bool, *jsonError) {
		switch {
		case b.is(name, "order"):
			return true, decodeOrder(b, v, "order", &resp.Order)
		case b.is(name, "payment_method"):
			return true, decodeString(v, "payment_method", &resp.PaymentMethod)
		case b.is(name, "idempotency_key"):
			return true, decodeString(v, "idempotency_key", &resp.IdempotencyKey)
		case b.is(name, "payment_intent"):
			switch v.kind {
			case jsonNull:
				resp.PaymentIntent = nil
				return true, nil
			case jsonObject:
				if resp.PaymentIntent == nil {
					resp.PaymentIntent = new(PaymentIntent)
				}
				return true, decodePaymentIntent(b, v, "payment_intent", resp.PaymentIntent)
			}
			return true, typeError("payment_intent")
		}
		return false, nil
	})
}

func decodeOrder(b binder, v *jsonValue, path string, o *Order) *jsonError {
	return b.object(v, path, func(name string, v *jsonValue) (bool, *jsonError) {
		switch {
		case b.is(name, "items"):
			return true, decodeSlice(b, v, join(path, "items"), &o.Items, decodeLine)
		case b.is(name, "amount"):
			return true, decodeInt(v, join(path, "amount"), &o.Amount)
		case b.is(name, "currency"):
			return true, decodeString(v, join(path, "currency"), &o.Currency)
		}
		return false, nil
	})
}

func decodeLine(b binder, v *jsonValue, path string, l *Line) *jsonError {
	return b.object(v, path, func(name string, v *jsonValue) (bool, *jsonError) {
		switch {
		case b.is(name, "product_id"):
			return true, decodeString(v, join(path, "product_id"), &l.ProductID)
		case b.is(name, "name"):
			return true, decodeString(v, join(path, "name"), &l.Name)
		case b.is(name, "quantity"):
			return true, decodeInt(v, join(path, "quantity"), &l.Quantity)
		case b.is(name, "unit_amount"):
			return true, decodeInt(v, join(path, "unit_amount"), &l.UnitAmount)
		}
		return false, nil
	})
}

func decodePaymentIntent(b binder, v *jsonValue, path string, pi *PaymentIntent) *jsonError {
	return b.object(v, path, func(name string, v *jsonValue) (bool, *jsonError) {
		switch {
		case b.is(name, "id"):
			return true, decodeString(v, join(path, "id"), &pi.ID)
		case b.is(name, "client_secret"):
			return true, decodeString(v, join(path, "client_secret"), &pi.ClientSecret)
		case b.is(name, "status"):
			return true, decodeString(v, join(path, "status"), &pi.Status)
		case b.is(name, "amount"):
			return true, decodeInt(v, join(path, "amount"), &pi.Amount)
		case b.is(name, "currency"):
			return true, decodeString(v, join(path, "currency"), &pi.Currency)
		}
		return false, nil
	})
}

func decodeErrorBody(b binder, v *jsonValue, out *ErrorBody) *jsonError {
	return b.object(v, "", func(name string, v *jsonValue) (bool, *jsonError) {
		if !b.is(name, "error") {
			return false, nil
		}
		return true, b.object(v, "error", func(name string, v *jsonValue) (bool, *jsonError) {
			switch {
			case b.is(name, "code"):
				return true, decodeString(v, "error.code", &out.Error.Code)
			case b.is(name, "message"):
				return true, decodeString(v, "error.message", &out.Error.Message)
			}
			return false, nil
		})
	})
}
