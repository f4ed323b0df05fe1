package checkout

import (
	"encoding/base64"
	"io"
	"strconv"
	"strings"
)

// Idempotency key format: "ik_" followed by URL-safe base64 (no padding) of
// random bytes. NewKey draws 24 bytes (192 bits); ParseKey accepts any body
// that carries at least 128 bits, so a shop may issue longer keys, up to
// MaxKeyLength characters in all.
const (
	KeyPrefix    = "ik_"
	KeyBytes     = 24
	MinKeyBody   = 22 // ceil(128/6) base64 characters
	MaxKeyLength = 255
)

// NewKeyFrom returns a key read from r; tests pass a deterministic reader.
// NewKey (native builds) reads crypto/rand.
func NewKeyFrom(r io.Reader) (string, error) {
	b := make([]byte, KeyBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// ParseKey checks that s is a well-formed key: the prefix "ik_", at least
// MinKeyBody characters of [A-Za-z0-9_-] after it, at most MaxKeyLength in
// all. It says nothing about whether the server knows the key.
// The error is an *Error with CodeInvalidRequest.
func ParseKey(s string) (string, error) {
	body, ok := strings.CutPrefix(s, KeyPrefix)
	switch {
	case !ok:
		return "", NewError(CodeInvalidRequest, "idempotency_key must start with "+strconv.Quote(KeyPrefix)+".")
	case len(s) > MaxKeyLength:
		return "", NewError(CodeInvalidRequest, "idempotency_key is longer than "+strconv.Itoa(MaxKeyLength)+" characters.")
	case len(body) < MinKeyBody:
		return "", NewError(CodeInvalidRequest, "idempotency_key is too short.")
	case !isToken(body):
		return "", NewError(CodeInvalidRequest, "idempotency_key has characters outside [A-Za-z0-9_-].")
	}
	return s, nil
}
