//go:build !js

package checkout_test

import (
	"bytes"

	"github.com/onecharge/onecharge/shared/checkout"
)

// The server's decoder runs the browser codec's table too.
func init() {
	requestDecoders["Decode"] = func(body []byte) (checkout.ValidateRequest, error) {
		var req checkout.ValidateRequest
		err := checkout.Decode(bytes.NewReader(body), &req)
		return req, err
	}
}
