//go:build js && wasm

package browser

import (
	"math"
	"syscall/js"

	"github.com/onecharge/onecharge/shared/checkout"
	"github.com/onecharge/onecharge/shared/keyflow"
)

// Install puts the API of CONTRACT.md section 6 on globalThis.onecharge
// and returns that object. An object already there (the loader's
// placeholder holding `ready`) is kept and completed; without one, `ready`
// is set to a resolved Promise. Then globalThis.__onechargeReady, when it
// is a function, is called with the object. store, when not nil, is the
// client's Store: its changes are dispatched as KeyChangeEvent
// (LocalStorage.Watch).
func Install(client *keyflow.Client, store *LocalStorage) js.Value {
	api, err := get(global, "onecharge")
	if err != nil || api.Type() != js.TypeObject {
		api = newObject()
	}
	set := func(name string, fn func(args []js.Value) any) {
		api.Set(name, js.FuncOf(func(_ js.Value, args []js.Value) any { return fn(args) }))
	}
	// void is what JavaScript functions without a result return.
	void := js.Undefined()
	set("configure", func(args []js.Value) any { configure(client, arg(args, 0)); return void })
	set("validateCartItems", func(args []js.Value) any { return validateCartItems(client, arg(args, 0)) })
	set("getStoredIdempotencyKey", func([]js.Value) any {
		if key, ok := client.StoredKey(); ok {
			return key
		}
		return js.Null()
	})
	set("setIdempotencyKey", func(args []js.Value) any { setKey(client, arg(args, 0)); return void })
	set("clearIdempotencyKey", func([]js.Value) any { client.ClearKey(); return void })
	set("paymentSucceeded", func([]js.Value) any { client.PaymentSucceeded(); return void })
	set("handleRedirectReturn", func(args []js.Value) any { return handleRedirectReturn(client, arg(args, 0)) })
	if store != nil {
		store.Watch(dispatchKeyChange)
	}
	if ready, err := get(api, "ready"); err == nil && ready.IsUndefined() {
		api.Set("ready", global.Get("Promise").Call("resolve", api))
	}
	global.Set("onecharge", api)
	if cb, err := get(global, "__onechargeReady"); err == nil && cb.Type() == js.TypeFunction {
		if err := try(func() { cb.Invoke(api) }); err != nil {
			console("error", "onecharge: __onechargeReady threw: "+err.Error())
		}
	}
	return api
}

// configure applies {baseURL, maxAttempts}; absent fields keep their
// value, invalid ones are ignored with a console warning (a function
// called from JavaScript cannot throw from Go).
func configure(client *keyflow.Client, opts js.Value) {
	if isNullish(opts) {
		return
	}
	if opts.Type() != js.TypeObject {
		console("warn", "onecharge.configure: expected an object like {baseURL, maxAttempts}")
		return
	}
	if v, err := get(opts, "baseURL"); err != nil || (!v.IsUndefined() && v.Type() != js.TypeString) {
		console("warn", "onecharge.configure: baseURL must be a string; ignored")
	} else if !v.IsUndefined() {
		client.BaseURL = v.String()
	}
	if v, err := get(opts, "maxAttempts"); err != nil || (!v.IsUndefined() && !positiveInt(v)) {
		console("warn", "onecharge.configure: maxAttempts must be an integer of at least 1; ignored")
	} else if !v.IsUndefined() {
		client.MaxAttempts = v.Int()
	}
}

func positiveInt(v js.Value) bool {
	if v.Type() != js.TypeNumber {
		return false
	}
	f := v.Float()
	return f >= 1 && f <= math.MaxInt32 && f == math.Trunc(f)
}

// validateCartItems converts the request with JSON.stringify, decodes it
// with the server's rules (checkout.ParseValidateRequest: unknown fields
// and wrong types are rejected as the server would), and settles the
// returned Promise with JSON.parse of the response
// (checkout.EncodeValidateResponse) or with a rejection object.
func validateCartItems(client *keyflow.Client, request js.Value) js.Value {
	var text js.Value
	err := try(func() { text = jsonJ.Call("stringify", request) })
	if err == nil && text.Type() != js.TypeString {
		err = checkout.NewError(checkout.CodeInvalidRequest, "The request must be an object.")
	} else if err != nil {
		err = checkout.NewError(checkout.CodeInvalidRequest, "The request could not be serialized: "+err.Error()+".")
	}
	var body string
	if err == nil {
		body = text.String()
	}
	return newPromise(func() (js.Value, bool) {
		if err != nil {
			return rejection(keyflow.AsRejection(err)), false
		}
		req, err := checkout.ParseValidateRequest([]byte(body))
		if err != nil {
			return rejection(keyflow.AsRejection(err)), false
		}
		resp, err := client.ValidateCartItems(keyflow.Background(), req)
		if err != nil {
			return rejection(keyflow.AsRejection(err)), false
		}
		return jsonJ.Call("parse", string(checkout.EncodeValidateResponse(resp))), true
	})
}

// rejection is the plain object {kind, code, message, status}.
func rejection(r *keyflow.Rejection) js.Value {
	o := newObject()
	o.Set("kind", string(r.Kind))
	o.Set("code", string(r.Code))
	o.Set("message", r.Message)
	o.Set("status", r.Status)
	return o
}

// internalRejection is the rejection of a failure inside the module (a
// panic); err is not shown to the page.
func internalRejection(err error) js.Value {
	return rejection(&keyflow.Rejection{Kind: keyflow.KindGeneric, Code: checkout.CodeInternal, Message: checkout.MessageInternal})
}

// setKey stores a well-formed key; null or undefined clears the key;
// anything else is ignored with a console warning.
func setKey(client *keyflow.Client, key js.Value) {
	switch {
	case isNullish(key):
		client.ClearKey()
	case key.Type() != js.TypeString:
		console("warn", "onecharge.setIdempotencyKey: the key must be a string; ignored")
	default:
		if err := client.SetKey(key.String()); err != nil {
			console("warn", "onecharge.setIdempotencyKey: "+checkout.ErrorMessage(err)+" Ignored.")
		}
	}
}

// handleRedirectReturn uses url, or location.href when url is omitted.
func handleRedirectReturn(client *keyflow.Client, url js.Value) bool {
	if isNullish(url) {
		loc, err := get(global, "location")
		if err != nil || isNullish(loc) {
			return false
		}
		if url, err = get(loc, "href"); err != nil {
			return false
		}
	}
	if url.Type() != js.TypeString {
		return false
	}
	return client.HandleRedirectReturn(url.String())
}

// KeyChangeEvent is the CustomEvent the module dispatches on window
// whenever the stored key changes, in this tab or another tab of the
// origin; its detail is {key}, the key or null.
const KeyChangeEvent = "onecharge:keychange"

// dispatchKeyChange dispatches KeyChangeEvent (where the page has
// dispatchEvent and CustomEvent; the browser reports a listener that
// throws, and the other listeners still run).
func dispatchKeyChange(key string, ok bool) {
	detail := newObject()
	detail.Set("key", js.Null())
	if ok {
		detail.Set("key", key)
	}
	init := newObject()
	init.Set("detail", detail)
	_ = try(func() { global.Call("dispatchEvent", global.Get("CustomEvent").New(KeyChangeEvent, init)) })
}
