/*
 * onecharge loader — a classic script, no build step:
 *
 *   <script src="/onecharge.js"></script>
 *   <script>
 *     onecharge.ready.then(function (api) { ... api.validateCartItems(request) ... });
 *   </script>
 *
 * It defines globalThis.onecharge = {ready} at once, loads wasm_exec.js
 * (unless Go is already defined) and onecharge.wasm from the directory this
 * script was served from, and runs the module, which completes the same
 * object with its functions and resolves `ready` with it (CONTRACT.md
 * section 6; types in onecharge.d.ts). `ready` rejects when the module
 * cannot be loaded or exits before it is ready.
 *
 * Optional attributes on the script element: data-wasm="URL" and
 * data-wasm-exec="URL" override the two file locations (relative URLs are
 * resolved against this script's URL).
 */
(function () {
  'use strict';

  var g = globalThis;
  if (g.onecharge && g.onecharge.ready) {
    return; // already loaded: keep the first instance
  }

  var script = document.currentScript ||
    document.querySelector('script[src$="onecharge.js"], script[src*="onecharge.js?"]');
  var base = new URL('.', (script && script.src) || g.location.href).href;
  function option(name, fallback) {
    var value = script && script.getAttribute(name);
    return new URL(value || fallback, base).href;
  }
  var wasmURL = option('data-wasm', 'onecharge.wasm');
  var execURL = option('data-wasm-exec', 'wasm_exec.js');

  var settled = false;
  var resolveReady, rejectReady;
  var ready = new Promise(function (resolve, reject) {
    resolveReady = resolve;
    rejectReady = reject;
  });
  var api = { ready: ready };
  g.onecharge = api;

  // The Go side installs its functions on globalThis.onecharge (keeping
  // `ready`) and then calls this.
  g.__onechargeReady = function (installed) {
    settled = true;
    try { delete g.__onechargeReady; } catch (e) { g.__onechargeReady = undefined; }
    resolveReady(installed || g.onecharge);
  };

  function fail(err) {
    if (settled) {
      return;
    }
    settled = true;
    try { delete g.__onechargeReady; } catch (e) { g.__onechargeReady = undefined; }
    var error = err instanceof Error ? err : new Error(String(err));
    console.error('onecharge: could not start: ' + error.message);
    rejectReady(error);
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var el = document.createElement('script');
      el.src = src;
      el.async = true;
      el.onload = function () { resolve(); };
      el.onerror = function () { reject(new Error('could not load ' + src)); };
      (document.head || document.documentElement).appendChild(el);
    });
  }

  function fetchWasm() {
    return fetch(wasmURL, { credentials: 'same-origin' }).then(function (res) {
      if (!res.ok) {
        var err = new Error('could not fetch ' + wasmURL + ': HTTP ' + res.status);
        err.http = true;
        throw err;
      }
      return res;
    });
  }

  function fromBytes(go) {
    return fetchWasm()
      .then(function (res) { return res.arrayBuffer(); })
      .then(function (bytes) { return WebAssembly.instantiate(bytes, go.importObject); });
  }

  // instantiateStreaming needs the server to send application/wasm; when
  // it does not (or the browser lacks it), compile from the bytes instead.
  function instantiate(go) {
    if (typeof WebAssembly.instantiateStreaming !== 'function') {
      return fromBytes(go);
    }
    return WebAssembly.instantiateStreaming(fetchWasm(), go.importObject).catch(function (err) {
      if (err && err.http) {
        throw err;
      }
      return fromBytes(go);
    });
  }

  (typeof g.Go === 'function' ? Promise.resolve() : loadScript(execURL))
    .then(function () {
      if (typeof g.Go !== 'function') {
        throw new Error(execURL + ' did not define Go');
      }
      var go = new g.Go();
      return instantiate(go).then(function (result) {
        go.run(result.instance).then(
          function () { fail(new Error('the WebAssembly module exited')); },
          fail
        );
      });
    })
    .catch(fail);
})();
