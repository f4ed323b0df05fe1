//go:build !js || workers

package checkout

import "fmt"

// Errorf returns an *Error with a message formatted by fmt.Sprintf.
//
// It exists in native builds only, for the server's convenience: the
// browser's WebAssembly build must not link fmt (see the package
// documentation), so code shared with it uses NewError.
func Errorf(code Code, format string, args ...any) *Error {
	return NewError(code, fmt.Sprintf(format, args...))
}
