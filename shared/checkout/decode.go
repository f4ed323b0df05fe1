//go:build !js || workers

package checkout

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// Decode reads exactly one JSON value from r into v. Unknown fields, wrong
// types, trailing data and bodies over MaxBodyBytes are rejected; every
// error is an *Error (CodeInvalidRequest or CodeRequestTooLarge).
//
// Decode uses encoding/json and exists in native builds only (see the
// package documentation); ParseValidateRequest applies the same rules to a
// ValidateRequest in every build.
func Decode(r io.Reader, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, MaxBodyBytes+1))
	if err != nil {
		return NewError(CodeInvalidRequest, "The request body could not be read.")
	}
	if len(data) > MaxBodyBytes {
		return requestBodyError(&jsonError{kind: errJSONTooLarge})
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return requestBodyError(&jsonError{kind: errJSONTrailing})
	}
	if _, err := dec.Token(); err != io.EOF {
		return requestBodyError(&jsonError{kind: errJSONTrailing})
	}
	return nil
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
func DecodeValidateRequest(r io.Reader) (ValidateRequest, error) {
	var req ValidateRequest
	if err := Decode(r, &req); err != nil {
		return req, err
	}
	return req, req.Validate()
}
