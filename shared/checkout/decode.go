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
func Decode(r io.Reader, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, MaxBodyBytes+1))
	if err != nil {
		return Errorf(CodeInvalidRequest, "The request body could not be read.")
	}
	if len(data) > MaxBodyBytes {
		return &Error{Code: CodeRequestTooLarge, Message: MessageRequestTooLarge}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return Errorf(CodeInvalidRequest, "The request body must hold one JSON value.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return Errorf(CodeInvalidRequest, "The request body must hold one JSON value.")
	}
	return nil
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			return Errorf(CodeInvalidRequest, "Field %q has the wrong type.", typeErr.Field)
		}
		return Errorf(CodeInvalidRequest, "The request body has the wrong type.")
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(CodeInvalidRequest, "The request body is not valid JSON.")
	case errors.Is(err, io.EOF):
		return Errorf(CodeInvalidRequest, "The request body is empty.")
	}
	// json reports unknown fields as `json: unknown field "x"`.
	return Errorf(CodeInvalidRequest, "The request body is invalid: %s.", trimJSONPrefix(err.Error()))
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

// Validate applies the catalog-free rules to a decoded request.
func (req ValidateRequest) Validate() error {
	if req.IdempotencyKey != "" {
		if _, err := ParseKey(req.IdempotencyKey); err != nil {
			return err
		}
	}
	if err := ValidateEmail(req.Email); err != nil {
		return err
	}
	if err := ValidateItems(req.Items); err != nil {
		return err
	}
	if _, err := ParsePaymentMethod(string(req.PaymentMethod)); err != nil {
		return err
	}
	return nil
}
