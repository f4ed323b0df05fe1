//go:build js && wasm

package browser

import (
	"errors"
	"syscall/js"

	"github.com/onecharge/onecharge/shared/keyflow"
)

// Fetch is a keyflow.Transport over the browser's fetch, with credentials
// "same-origin" (the session cookie goes along to the page's own origin
// only). A rejected fetch (network failure, CORS, abort) is an error; every
// HTTP status is a Response. Ending ctx aborts the request.
type Fetch struct{}

// Do implements keyflow.Transport.
func (Fetch) Do(ctx keyflow.Context, req keyflow.Request) (keyflow.Response, error) {
	var res keyflow.Response
	fetch, err := get(global, "fetch")
	if err != nil {
		return res, err
	}
	if fetch.Type() != js.TypeFunction {
		return res, errors.New("fetch is not available")
	}
	init := newObject()
	init.Set("method", req.Method)
	init.Set("credentials", "same-origin")
	headers := newObject()
	for name, value := range req.Header {
		headers.Set(name, value)
	}
	init.Set("headers", headers)
	if req.Body != nil {
		init.Set("body", string(req.Body))
	}
	var abort func()
	if ac, err := get(global, "AbortController"); err == nil && ac.Type() == js.TypeFunction {
		var controller js.Value
		if try(func() { controller = ac.New() }) == nil {
			init.Set("signal", controller.Get("signal"))
			abort = func() { _ = try(func() { controller.Call("abort") }) }
		}
	}

	var pending js.Value
	if err := try(func() { pending = reflectJ.Call("apply", fetch, global, []any{req.URL, init}) }); err != nil {
		return res, err
	}
	response, err := await(ctx, pending, abort)
	if err != nil {
		return res, err
	}
	err = try(func() {
		res.Status = response.Get("status").Int()
		res.Header = readHeaders(response.Get("headers"))
	})
	if err != nil {
		return res, err
	}
	var body js.Value
	if err := try(func() { body = response.Call("arrayBuffer") }); err != nil {
		return res, err
	}
	buf, err := await(ctx, body, abort)
	if err != nil {
		return res, err
	}
	err = try(func() {
		bytes := global.Get("Uint8Array").New(buf)
		res.Body = make([]byte, bytes.Get("length").Int())
		js.CopyBytesToGo(res.Body, bytes)
	})
	return res, err
}

// readHeaders copies a Headers object into a map with lower-case names.
func readHeaders(h js.Value) map[string]string {
	out := map[string]string{}
	each := js.FuncOf(func(_ js.Value, args []js.Value) any {
		out[lowerASCII(arg(args, 1).String())] = arg(args, 0).String()
		return nil
	})
	defer each.Release()
	h.Call("forEach", each)
	return out
}

// lowerASCII lower-cases a header name. Names are ASCII tokens (the
// Headers object rejects anything else), so this is strings.ToLower
// without the Unicode case tables it would link into the bundle.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
