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
 *
 * Speed: the bundle's fetch starts as this script runs, in parallel with
 * wasm_exec.js, and compiles while it downloads (WebAssembly.compileStreaming;
 * the instance is made once Go is defined). A page can start the download
 * even earlier, while its HTML is parsed, with a preload that this fetch
 * then uses (same URL, mode and credentials):
 *
 *   <link rel="preload" href="onecharge.wasm" as="fetch" type="application/wasm" crossorigin>
 *
 * The loader leaves performance marks (onecharge:start, onecharge:go-defined,
 * onecharge:compiled, onecharge:instantiated, onecharge:ready) for the
 * page's own measurements.
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
    mark('ready');
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

  function mark(name) {
    try { if (g.performance && performance.mark) performance.mark('onecharge:' + name); } catch (e) { /* marks are optional */ }
  }
  mark('start');

  // credentials 'same-origin' is what a preload with crossorigin (anonymous)
  // fetches, so the browser hands this fetch the preloaded response.
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

  function compileBytes(response) {
    return response
      .then(function (res) { return res.arrayBuffer(); })
      .then(function (bytes) { return WebAssembly.compile(bytes); });
  }

  // Streaming compilation: the module compiles while its bytes arrive, and
  // before wasm_exec.js has loaded (compileStreaming needs no imports; the
  // instance is made once Go is defined). It needs the server to send
  // application/wasm. When it does not (a TypeError), or the browser lacks
  // the API, the module compiles from the bytes instead: of a second fetch,
  // as the first response's body may be consumed by then (the HTTP cache
  // answers it). An HTTP error is final.
  function compile(response) {
    if (typeof WebAssembly.compileStreaming !== 'function') {
      return compileBytes(response);
    }
    return WebAssembly.compileStreaming(response).catch(function (err) {
      if (err && err.http) {
        throw err;
      }
      return compileBytes(fetchWasm());
    });
  }

  // Start the download and the compilation now, while wasm_exec.js loads.
  var compiled = compile(fetchWasm()).then(function (module) {
    mark('compiled');
    return module;
  });
  compiled.catch(function () { /* reported below */ });

  (typeof g.Go === 'function' ? Promise.resolve() : loadScript(execURL))
    .then(function () {
      if (typeof g.Go !== 'function') {
        throw new Error(execURL + ' did not define Go');
      }
      mark('go-defined');
      var go = new g.Go();
      return compiled.then(function (module) {
        return WebAssembly.instantiate(module, go.importObject);
      }).then(function (instance) {
        mark('instantiated');
        go.run(instance).then(
          function () { fail(new Error('the WebAssembly module exited')); },
          fail
        );
      });
    })
    .catch(fail);
})();
