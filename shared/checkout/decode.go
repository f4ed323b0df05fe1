//go:build !js || workers

package checkout

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
)

// Decode reads exactly one JSON value from r into v. Unknown fields, wrong
// types, trailing data and bodies over MaxBodyBytes are rejected; every
// error is an *Error (CodeInvalidRequest or CodeRequestTooLarge).
//
// Member names must match the json tags exactly: encoding/json alone
// would take "ITEMS" for "items" (it folds case), which the browser's
// codec does not, and the two must agree. When a body has several
// problems, the first in document order is reported, as encoding/json
// and the browser codec do.
//
// Decode uses encoding/json and exists in native builds only (see the
// package documentation); ParseValidateRequest applies the same rules to a
// ValidateRequest in every build.
func Decode(r io.Reader, v any) error {
	buf, data, err := readPooledBody(r)
	defer putBodyBuffer(buf)
	if err != nil {
		return err
	}
	return decodeBytes(data, v) // encoding/json keeps nothing of data
}

// bodyBuffers holds the buffers of readPooledBody.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readPooledBody reads a request body of at most MaxBodyBytes into a
// buffer of bodyBuffers: data is valid until buf is put back
// (putBodyBuffer). The codec copies every string it decodes, so nothing
// decoded refers to data.
func readPooledBody(r io.Reader) (buf *bytes.Buffer, data []byte, err error) {
	buf = bodyBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(r, MaxBodyBytes+1)); err != nil {
		return buf, nil, NewError(CodeInvalidRequest, "The request body could not be read.")
	}
	if buf.Len() > MaxBodyBytes {
		return buf, nil, requestBodyError(&jsonError{kind: errJSONTooLarge})
	}
	return buf, buf.Bytes(), nil
}

func putBodyBuffer(buf *bytes.Buffer) { bodyBuffers.Put(buf) }

// decodeBytes is Decode of a body read.
func decodeBytes(data []byte, v any) error {
	nameErr, nameAt := exactNames(data, reflect.TypeOf(v))
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if nameErr != nil && (!errors.As(err, &typeErr) || typeErr.Offset > nameAt) {
			return requestBodyError(nameErr)
		}
		return decodeError(err)
	}
	if nameErr != nil {
		return requestBodyError(nameErr)
	}
	if dec.More() {
		return requestBodyError(&jsonError{kind: errJSONTrailing})
	}
	if _, err := dec.Token(); err != io.EOF {
		return requestBodyError(&jsonError{kind: errJSONTrailing})
	}
	return nil
}

// exactNames reports the first object member of data, in document order,
// whose name is not exactly the json name of a field of the struct type it
// decodes into, and the offset where that member ends. Syntax errors are
// left to encoding/json: exactNames then reports nothing.
func exactNames(data []byte, t reflect.Type) (*jsonError, int64) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var bad *jsonError
	var at int64
	var walk func(t reflect.Type) error
	walk = func(t reflect.Type) error {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		delim, ok := tok.(json.Delim)
		if !ok {
			return nil // a scalar: its type is encoding/json's to check
		}
		switch delim {
		case '{':
			for dec.More() {
				key, err := dec.Token()
				if err != nil {
					return err
				}
				name, _ := key.(string)
				var ft reflect.Type
				switch {
				case t != nil && t.Kind() == reflect.Struct:
					f, found := fieldByJSONName(t, name)
					if !found && bad == nil {
						bad, at = &jsonError{kind: errJSONUnknownField, field: name}, dec.InputOffset()
					}
					ft = f
				case t != nil && t.Kind() == reflect.Map:
					ft = t.Elem()
				}
				if err := walk(ft); err != nil {
					return err
				}
			}
		case '[':
			var et reflect.Type
			if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				et = t.Elem()
			}
			for dec.More() {
				if err := walk(et); err != nil {
					return err
				}
			}
		}
		_, err = dec.Token() // the closing delimiter
		return err
	}
	if err := walk(t); err != nil {
		return nil, 0
	}
	return bad, at
}

// fieldByJSONName returns the type of the exported field of struct t whose
// json name is exactly name.
func fieldByJSONName(t reflect.Type, name string) (reflect.Type, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case tag == "-":
			continue
		case tag == "":
			tag = f.Name
		}
		if tag == name {
			return f.Type, true
		}
	}
	return nil, false
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return requestBodyError(&jsonError{kind: errJSONType, field: typeErr.Field})
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return requestBodyError(&jsonError{kind: errJSONSyntax})
	case errors.Is(err, io.EOF):
		return requestBodyError(&jsonError{kind: errJSONEmpty})
	}
	// json reports unknown fields as `json: unknown field "x"`.
	return NewError(CodeInvalidRequest, "The request body is invalid: "+trimJSONPrefix(err.Error())+".")
}

func trimJSONPrefix(s string) string {
	if len(s) > 6 && s[:6] == "json: " {
		return s[6:]
	}
	return s
}

// DecodeValidateRequest decodes and validates a ValidateOrderItemsInsert
// request: body shape, items, payment method, email and key format, in that
// order. It does not consult the catalog.
//
// It answers as Decode followed by Validate does, with the same errors
// and messages, but parses with the codec of codec.go
// (ParseValidateRequest, held to Decode by the differential tests), which
// takes a fraction of Decode's time and allocations: Decode walks the
// body twice with encoding/json (once for the exact names). A body nested
// deeper than that codec allows (JSONMaxDepth; encoding/json allows far
// more) is decoded by Decode, so that its answer is Decode's too.
func DecodeValidateRequest(r io.Reader) (ValidateRequest, error) {
	req, err := decodePooled(r, parseValidateRequest)
	if err != nil {
		return req, err
	}
	return req, req.Validate()
}

// DecodeCartRequest decodes the body of PUT /api/cart and POST
// /api/checkout. It answers as Decode does, with the same errors and
// messages, through the codec of codec.go as DecodeValidateRequest does
// (and, like it, leaves bodies nested deeper than that codec allows to
// Decode). It applies no validation rules.
func DecodeCartRequest(r io.Reader) (CartRequest, error) {
	return decodePooled(r, parseCartRequest)
}

// decodePooled reads a body into a pooled buffer and parses it with
// parse, leaving a body nested deeper than the codec allows to Decode.
func decodePooled[T any](r io.Reader, parse func([]byte) (T, *jsonError)) (T, error) {
	var zero T
	buf, data, err := readPooledBody(r)
	defer putBodyBuffer(buf)
	if err != nil {
		return zero, err
	}
	req, perr := parse(data)
	switch {
	case perr != nil && perr.kind == errJSONTooDeep: // req is the zero value
		if err := decodeBytes(data, &req); err != nil {
			return req, err
		}
	case perr != nil:
		return zero, requestBodyError(perr)
	}
	return req, nil
}

// parseValidateRequest is ParseValidateRequest with the parser's own
// error, whose kind DecodeValidateRequest looks at. (It is not in
// codec.go, so that the browser's bundle stays as it is.)
func parseValidateRequest(body []byte) (ValidateRequest, *jsonError) {
	return parseStrict(body, decodeValidateRequest)
}

// parseCartRequest is parseValidateRequest for a CartRequest.
func parseCartRequest(body []byte) (CartRequest, *jsonError) {
	return parseStrict(body, decodeCartRequest)
}

// parseStrict parses body as one JSON value decoded by decode with exact
// field names, and nothing after it.
func parseStrict[T any](body []byte, decode func(binder, *jsonValue, *T) *jsonError) (T, *jsonError) {
	var req, zero T
	v, end, err := parseJSONPrefix(body, MaxBodyBytes)
	if err != nil {
		return zero, err
	}
	if err := decode(binder{strict: true}, &v, &req); err != nil {
		return zero, err
	}
	if end < len(body) {
		return zero, &jsonError{kind: errJSONTrailing, offset: end}
	}
	return req, nil
}

func decodeCartRequest(b binder, v *jsonValue, req *CartRequest) *jsonError {
	return b.object(v, "", func(name string, v *jsonValue) (bool, *jsonError) {
		if b.is(name, "items") {
			return true, decodeSlice(b, v, "items", &req.Items, decodeItem)
		}
		return false, nil
	})
}
