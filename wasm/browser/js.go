//go:build js && wasm

package browser

import (
	"errors"
	"syscall/js"
)

var (
	global   = js.Global()
	reflectJ = global.Get("Reflect")
	objectJ  = global.Get("Object")
	jsonJ    = global.Get("JSON")
	dateJ    = global.Get("Date")
)

// try runs f and turns a panic from syscall/js (a thrown JavaScript
// exception, or a value of the wrong type) into an error.
func try(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
	}()
	f()
	return nil
}

func panicError(r any) error {
	switch r := r.(type) {
	case js.Error:
		return errors.New(describe(r.Value))
	case error:
		return r
	case string:
		return errors.New(r)
	}
	return errors.New("panic") // fmt, which could print r, is not linked
}

// describe renders a thrown value as String(value) does.
func describe(v js.Value) string {
	var s string
	if err := try(func() { s = global.Call("String", v).String() }); err != nil {
		return "unknown JavaScript error"
	}
	return s
}

// get reads obj[name] through Reflect.get, so a throwing getter is an error.
func get(obj js.Value, name string) (v js.Value, err error) {
	err = try(func() { v = reflectJ.Call("get", obj, name) })
	return v, err
}

// isNullish reports whether v is undefined or null.
func isNullish(v js.Value) bool { return v.IsUndefined() || v.IsNull() }

// newObject returns a new plain JavaScript object.
func newObject() js.Value { return objectJ.New() }

// console calls console[level](msg), ignoring a missing or throwing console.
func console(level, msg string) {
	_ = try(func() {
		if c, err := get(global, "console"); err == nil && !isNullish(c) {
			c.Call(level, msg)
		}
	})
}

// Debug logs msg to console.debug; it fits keyflow.Client.Log.
func Debug(msg string) { console("debug", msg) }
