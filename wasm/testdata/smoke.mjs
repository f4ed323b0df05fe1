// Smoke test of the WebAssembly bundle in Node: node smoke.mjs <dir>, where
// <dir> holds onecharge.wasm and wasm_exec.js. It stands in for the browser
// with a Map-backed localStorage and a scripted fetch installed on
// globalThis before the module loads, then drives every function of
// globalThis.onecharge. Run by wasm/smoke_test.go.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node smoke.mjs <dir with onecharge.wasm and wasm_exec.js>');
  process.exit(2);
}

const STORAGE_KEY = 'checkout-idempotency-key';
const K1 = 'ik_' + '1'.repeat(32);
const K2 = 'ik_' + '2'.repeat(32);
const K3 = 'ik_' + '3'.repeat(32);
const K4 = 'ik_' + '4'.repeat(32);
const ALREADY = 'Payment already completed for this session. Please clear your checkout and start a new order.';

// ---- browser stand-ins, installed before the module loads ----

class MemoryStorage {
  #items = new Map();
  getItem(k) { return this.#items.has(String(k)) ? this.#items.get(String(k)) : null; }
  setItem(k, v) { this.#items.set(String(k), String(v)); }
  removeItem(k) { this.#items.delete(String(k)); }
  clear() { this.#items.clear(); }
  get length() { return this.#items.size; }
}
const storage = new MemoryStorage();
Object.defineProperty(globalThis, 'localStorage', { value: storage, configurable: true, writable: true });

const calls = []; // what fetch was asked
let script = []; // what fetch answers, in order
globalThis.fetch = async (url, init = {}) => {
  calls.push({
    url: String(url),
    method: init.method,
    headers: { ...init.headers },
    credentials: init.credentials,
    body: init.body === undefined ? undefined : JSON.parse(init.body),
    hasSignal: init.signal !== undefined,
  });
  const next = script.shift();
  if (!next) throw new Error('smoke: fetch called with nothing scripted');
  if (next.gate) await next.gate;
  if (next.networkError) throw new TypeError('fetch failed');
  const body = typeof next.body === 'string' ? next.body : JSON.stringify(next.body);
  return new Response(body, { status: next.status, headers: next.headers });
};

const warnings = [];
const realWarn = console.warn;
console.warn = (...args) => { warnings.push(args.join(' ')); };
const debugs = [];
const realDebug = console.debug;
console.debug = (...args) => { debugs.push(args.join(' ')); };

vm.runInThisContext(readFileSync(path.join(dir, 'wasm_exec.js'), 'utf8'), { filename: 'wasm_exec.js' });
const wasm = readFileSync(path.join(dir, 'onecharge.wasm'));

// start runs a fresh instance of the module and resolves with its API.
async function start() {
  delete globalThis.onecharge;
  const ready = new Promise((resolve, reject) => {
    globalThis.__onechargeReady = resolve;
    setTimeout(() => reject(new Error('smoke: module not ready after 10s')), 10000).unref();
  });
  const go = new Go();
  const { instance } = await WebAssembly.instantiate(wasm, go.importObject);
  go.run(instance).then(() => { if (!done) { console.error('smoke: the Go program exited'); process.exit(1); } });
  const api = await ready;
  delete globalThis.__onechargeReady;
  return api;
}
let done = false;

// ---- scripted answers ----

const order = { items: [{ product_id: 'tee', name: 'Tee', quantity: 2, unit_amount: 2500 }], amount: 5000, currency: 'usd' };
const ok = (method, key) => ({
  status: 200,
  headers: { 'content-type': 'application/json' },
  body: key
    ? { order, payment_method: method, idempotency_key: key, payment_intent: { id: 'pi_1', client_secret: 'pi_1_secret', status: 'requires_payment_method', amount: 5000, currency: 'usd' } }
    : { order, payment_method: method },
});
const fail = (status, code, message = code, headers = {}) => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: { error: { code, message } },
});
const req = (payment_method = 'CARD') => ({ items: [{ product_id: 'tee', quantity: 2 }], payment_method });

// validate runs one validation with the given script and returns what
// happened: the settled value or rejection, and the requests sent.
async function validate(request, ...answers) {
  script = answers;
  calls.length = 0;
  let value, rejection;
  try {
    value = await globalThis.onecharge.validateCartItems(request);
  } catch (e) {
    rejection = e;
  }
  assert.equal(script.length, 0, 'every scripted answer was used');
  return { value, rejection, calls: [...calls], keys: calls.map((c) => c.body.idempotency_key) };
}

function assertRejection(rej, kind, code, status) {
  assert.ok(rej, `expected a rejection ${kind}/${code}`);
  assert.deepEqual(Object.keys(rej).sort(), ['code', 'kind', 'message', 'status']);
  assert.equal(rej.kind, kind);
  assert.equal(rej.code, code);
  assert.equal(rej.status, status);
  assert.equal(typeof rej.message, 'string');
  assert.ok(rej.message.length > 0);
}

const stored = () => storage.getItem(STORAGE_KEY);
const NONCE = /^[0-9a-z]{1,13}\.[0-9a-z]{1,13}$/;

// ---- scenario 1: localStorage works ----
{
  const api = await start();
  assert.equal(globalThis.onecharge, api);
  assert.equal(await api.ready, api, 'ready resolves with the API');
  for (const fn of ['configure', 'validateCartItems', 'getStoredIdempotencyKey', 'setIdempotencyKey',
    'clearIdempotencyKey', 'paymentSucceeded', 'handleRedirectReturn']) {
    assert.equal(typeof api[fn], 'function', fn);
  }
  assert.equal(api.getStoredIdempotencyKey(), null);

  // The first validation sends no key and stores the one it gets.
  let r = await validate(req(), ok('CARD', K1));
  assert.equal(r.rejection, undefined, JSON.stringify(r.rejection));
  assert.deepEqual(r.keys, [undefined]);
  assert.ok(!('idempotency_key' in r.calls[0].body));
  assert.equal(r.calls[0].method, 'POST');
  assert.equal(r.calls[0].url, '/api/orders/validate');
  assert.equal(r.calls[0].credentials, 'same-origin');
  assert.equal(r.calls[0].headers['Content-Type'], 'application/json');
  assert.ok(r.calls[0].hasSignal);
  assert.deepEqual(r.calls[0].body, req());
  assert.match(r.calls[0].headers['Idempotency-Key'], NONCE, 'a first validation sends a nonce');
  assert.equal(r.value.idempotency_key, K1);
  assert.deepEqual(r.value.order, order);
  assert.equal(r.value.payment_intent.client_secret, 'pi_1_secret');
  assert.equal(stored(), K1);
  assert.equal(api.getStoredIdempotencyKey(), K1);

  // The second sends it, and no nonce.
  r = await validate(req(), ok('CARD', K1));
  assert.deepEqual(r.keys, [K1]);
  assert.equal(r.calls[0].headers['Idempotency-Key'], undefined);
  assert.equal(stored(), K1);

  // Rotation overwrites.
  r = await validate(req('CARD_TEST'), ok('CARD_TEST', K2));
  assert.deepEqual(r.keys, [K1]);
  assert.equal(stored(), K2);

  // configure: base URL and attempts.
  api.configure({ baseURL: 'https://shop.test/', maxAttempts: 3 });
  r = await validate(req(), ok('CARD', K2));
  assert.equal(r.calls[0].url, 'https://shop.test/api/orders/validate');
  api.configure({ baseURL: '' });

  // 503 then 200: retried with the same key (Retry-After 0 keeps it quick).
  r = await validate(req(), fail(503, 'internal', 'Internal error.', { 'Retry-After': '0' }), ok('CARD', K2));
  assert.equal(r.rejection, undefined);
  assert.deepEqual(r.keys, [K2, K2]);
  // A network error then 200, with the real jittered backoff.
  r = await validate(req(), { networkError: true }, ok('CARD', K2));
  assert.equal(r.rejection, undefined);
  assert.deepEqual(r.keys, [K2, K2]);
  // request_in_progress is retried too.
  r = await validate(req(), fail(409, 'request_in_progress', 'busy', { 'Retry-After': '0' }), ok('CARD', K2));
  assert.deepEqual(r.keys, [K2, K2]);
  // Retry-After waits on the page's timers (setTimeout) and clock
  // (Date.now): one second, an HTTP-date one to two seconds ahead, and a
  // date an hour ahead, which ends the retries instead.
  let t0 = Date.now();
  r = await validate(req(), fail(503, 'internal', 'Internal error.', { 'Retry-After': '1' }), ok('CARD', K2));
  assert.deepEqual(r.keys, [K2, K2]);
  assert.ok(Date.now() - t0 >= 1000, `Retry-After 1 waited ${Date.now() - t0}ms`);
  t0 = Date.now();
  r = await validate(req(), fail(503, 'internal', 'Internal error.', { 'Retry-After': new Date(t0 + 2000).toUTCString() }), ok('CARD', K2));
  assert.deepEqual(r.keys, [K2, K2]);
  assert.ok(Date.now() - t0 >= 900 && Date.now() - t0 < 5000, `a date 2s ahead waited ${Date.now() - t0}ms`);
  r = await validate(req(), fail(503, 'internal', 'Internal error.', { 'Retry-After': new Date(Date.now() + 3600e3).toUTCString() }));
  assertRejection(r.rejection, 'generic', 'internal', 503);
  assert.equal(r.calls.length, 1);

  // maxAttempts in all: 3 network errors, then a generic rejection.
  r = await validate(req(), { networkError: true }, { networkError: true }, { networkError: true });
  assertRejection(r.rejection, 'generic', 'network_error', 0);
  assert.equal(r.calls.length, 3);
  assert.equal(stored(), K2, 'a failed validation keeps the key');

  // payment_unavailable / payment_intent_failed after their retries.
  api.configure({ maxAttempts: 2 });
  r = await validate(req(), fail(502, 'payment_unavailable', 'payment unavailable', { 'Retry-After': '0' }),
    fail(502, 'payment_unavailable', 'payment unavailable', { 'Retry-After': '0' }));
  assertRejection(r.rejection, 'payment_unavailable', 'payment_unavailable', 502);
  assert.equal(r.rejection.message, 'payment unavailable');
  assert.equal(r.calls.length, 2);
  r = await validate(req(), fail(502, 'payment_intent_failed', 'failed to create payment intent', { 'Retry-After': '0' }),
    fail(502, 'payment_intent_failed', 'failed to create payment intent', { 'Retry-After': '0' }));
  assertRejection(r.rejection, 'payment_unavailable', 'payment_intent_failed', 502);
  api.configure({ maxAttempts: 4 });

  // 4xx: one request, kind validation.
  r = await validate(req(), fail(422, 'invalid_items', 'Unknown product.'));
  assertRejection(r.rejection, 'validation', 'invalid_items', 422);
  assert.equal(r.rejection.message, 'Unknown product.');
  assert.equal(r.calls.length, 1);
  // Requests the server's rules reject are rejected without a request.
  r = await validate({ items: [], payment_method: 'CARD' });
  assertRejection(r.rejection, 'validation', 'invalid_items', 422);
  r = await validate({ items: 'tee', payment_method: 'CARD' });
  assertRejection(r.rejection, 'validation', 'invalid_request', 400);
  r = await validate(undefined);
  assertRejection(r.rejection, 'validation', 'invalid_request', 400);
  // A malformed 200 is generic.
  r = await validate(req(), { status: 200, body: '{"order":' });
  assertRejection(r.rejection, 'generic', 'unexpected_response', 200);
  assert.equal(stored(), K2);

  // payment_already_completed: clear, retry once without a key, store the new key.
  r = await validate(req(), fail(409, 'payment_already_completed', ALREADY), ok('CARD', K3));
  assert.equal(r.rejection, undefined);
  assert.deepEqual(r.keys, [K2, undefined]);
  assert.equal(r.calls[0].headers['Idempotency-Key'], undefined);
  assert.match(r.calls[1].headers['Idempotency-Key'], NONCE, 'the retry without a key is a first validation');
  assert.equal(stored(), K3);
  // ... and when the retry fails too, reject with the key cleared.
  r = await validate(req(), fail(409, 'payment_already_completed', ALREADY), fail(409, 'payment_already_completed', ALREADY));
  assertRejection(r.rejection, 'already_completed', 'payment_already_completed', 409);
  assert.equal(r.rejection.message, ALREADY);
  assert.deepEqual(r.keys, [K3, undefined]);
  assert.equal(stored(), null);
  assert.equal(api.getStoredIdempotencyKey(), null);

  // A first validation's retries send its nonce again; the next first
  // validation draws a new one.
  r = await validate(req(), { networkError: true }, fail(503, 'internal', 'Internal error.', { 'Retry-After': '0' }), ok('CARD', K3));
  assert.deepEqual(r.keys, [undefined, undefined, undefined]);
  const nonce = r.calls[0].headers['Idempotency-Key'];
  assert.match(nonce, NONCE);
  assert.deepEqual(r.calls.map((c) => c.headers['Idempotency-Key']), [nonce, nonce, nonce]);
  api.clearIdempotencyKey();
  r = await validate(req(), ok('CARD', K3));
  assert.match(r.calls[0].headers['Idempotency-Key'], NONCE);
  assert.notEqual(r.calls[0].headers['Idempotency-Key'], nonce, 'a new nonce');
  api.clearIdempotencyKey();
  // Cash on delivery never gets a key: no nonce either.
  r = await validate(req('CASH_ON_DELIVERY'), ok('CASH_ON_DELIVERY'));
  assert.equal(r.calls[0].headers['Idempotency-Key'], undefined);

  // CASH_ON_DELIVERY stores nothing and keeps the stored key.
  r = await validate(req('CASH_ON_DELIVERY'), ok('CASH_ON_DELIVERY'));
  assert.equal(r.rejection, undefined);
  assert.equal(r.value.idempotency_key, undefined);
  assert.equal(stored(), null);
  api.setIdempotencyKey(K4);
  r = await validate(req('CASH_ON_DELIVERY'), ok('CASH_ON_DELIVERY'));
  assert.equal(stored(), K4);

  // The key functions.
  assert.equal(api.getStoredIdempotencyKey(), K4);
  const before = warnings.length;
  api.setIdempotencyKey('not-a-key');
  assert.equal(api.getStoredIdempotencyKey(), K4, 'a malformed key is ignored');
  assert.equal(warnings.length, before + 1);
  api.clearIdempotencyKey();
  assert.equal(api.getStoredIdempotencyKey(), null);
  assert.equal(stored(), null);
  api.setIdempotencyKey(K1);
  assert.equal(stored(), K1);
  api.setIdempotencyKey(null);
  assert.equal(stored(), null);
  api.setIdempotencyKey(K1);
  assert.equal(api.paymentSucceeded(), undefined);
  assert.equal(api.clearIdempotencyKey(), undefined);
  assert.equal(api.configure(), undefined);
  assert.equal(stored(), null);

  // handleRedirectReturn.
  api.setIdempotencyKey(K1);
  assert.equal(api.handleRedirectReturn('https://shop.test/done?payment_intent=pi_1&payment_intent_client_secret=s&redirect_status=failed'), false);
  assert.equal(stored(), K1);
  assert.equal(api.handleRedirectReturn('%zz garbage'), false);
  assert.equal(stored(), K1);
  assert.equal(api.handleRedirectReturn('https://shop.test/done?payment_intent=pi_1&redirect_status=succeeded'), true);
  assert.equal(stored(), null);
  api.setIdempotencyKey(K1);
  globalThis.location = { href: 'https://shop.test/done?redirect_status=succeeded' };
  assert.equal(api.handleRedirectReturn(), true, 'defaults to location.href');
  assert.equal(stored(), null);
  delete globalThis.location;
  assert.equal(api.handleRedirectReturn(), false);

  // configure ignores invalid values, with a warning.
  const w = warnings.length;
  api.configure({ maxAttempts: 0 });
  api.configure({ baseURL: 42 });
  assert.equal(warnings.length, w + 2);
  api.configure();
  r = await validate(req(), ok('CARD', K1));
  assert.equal(r.calls[0].url, '/api/orders/validate');

  assert.ok(!warnings.some((m) => m.includes('localStorage')), 'no storage warning while localStorage works');
  assert.ok(debugs.some((m) => m.includes('Web Locks API is not available')), 'without navigator.locks, per tab');
  console.log('smoke: scenario localStorage ok');
}

// ---- scenario 2: the localStorage getter throws ----
{
  storage.clear();
  Object.defineProperty(globalThis, 'localStorage', {
    configurable: true,
    get() { throw new DOMException('The operation is insecure.', 'SecurityError'); },
  });
  warnings.length = 0;
  const api = await start();

  assert.equal(api.getStoredIdempotencyKey(), null);
  let r = await validate(req(), ok('CARD', K1));
  assert.deepEqual(r.keys, [undefined]);
  assert.equal(api.getStoredIdempotencyKey(), K1, 'kept in memory');
  r = await validate(req(), ok('CARD', K2));
  assert.deepEqual(r.keys, [K1]);
  assert.equal(api.getStoredIdempotencyKey(), K2);
  r = await validate(req(), fail(409, 'payment_already_completed', ALREADY), ok('CARD', K3));
  assert.deepEqual(r.keys, [K2, undefined]);
  assert.equal(api.getStoredIdempotencyKey(), K3);
  api.paymentSucceeded();
  assert.equal(api.getStoredIdempotencyKey(), null);
  api.setIdempotencyKey(K4);
  assert.equal(api.getStoredIdempotencyKey(), K4);
  assert.equal(storage.length, 0, 'nothing reached the real storage');

  const storageWarnings = warnings.filter((m) => m.includes('localStorage'));
  assert.equal(warnings.length, 1, `exactly one console.warn, got ${JSON.stringify(warnings)}`);
  assert.equal(storageWarnings.length, 1);
  assert.match(storageWarnings[0], /SecurityError|insecure/, 'the warning names the reason');
  console.log('smoke: scenario fallback ok');
}

// ---- scenario 3: no localStorage at all ----
{
  delete globalThis.localStorage;
  warnings.length = 0;
  const api = await start();
  api.setIdempotencyKey(K1);
  assert.equal(api.getStoredIdempotencyKey(), K1);
  api.clearIdempotencyKey();
  assert.equal(api.getStoredIdempotencyKey(), null);
  assert.equal(warnings.length, 1, `exactly one console.warn, got ${JSON.stringify(warnings)}`);
  assert.match(warnings[0], /not available/);
  console.log('smoke: scenario missing localStorage ok');
}

// ---- scenario 4: web/onecharge.js, the browser loader ----
// A minimal document: the loader derives its directory from currentScript,
// loads wasm_exec.js with a <script> element, and falls back from
// instantiateStreaming when the server sends the wrong MIME type.
{
  delete globalThis.onecharge;
  delete globalThis.Go;
  Object.defineProperty(globalThis, 'localStorage', { value: new MemoryStorage(), configurable: true, writable: true });
  const base = 'https://shop.test/static/';
  const loaded = [];
  globalThis.location = { href: 'https://shop.test/cart' };
  globalThis.document = {
    currentScript: { src: base + 'onecharge.js', getAttribute: () => null },
    querySelector: () => null,
    createElement: () => ({}),
    head: {
      appendChild(el) {
        loaded.push(el.src);
        setTimeout(() => {
          if (el.src !== base + 'wasm_exec.js') return el.onerror();
          vm.runInThisContext(readFileSync(path.join(dir, 'wasm_exec.js'), 'utf8'), { filename: 'wasm_exec.js' });
          el.onload();
        });
      },
    },
  };
  const apiFetch = globalThis.fetch;
  const wasmFetches = [];
  globalThis.fetch = async (url, init) => {
    if (String(url).endsWith('.wasm')) {
      wasmFetches.push(String(url));
      return new Response(wasm, { status: 200, headers: { 'content-type': 'application/octet-stream' } });
    }
    return apiFetch(url, init);
  };
  const loader = new URL('../../web/onecharge.js', import.meta.url);
  vm.runInThisContext(readFileSync(loader, 'utf8'), { filename: 'onecharge.js' });
  const placeholder = globalThis.onecharge;
  assert.ok(placeholder.ready instanceof Promise);
  assert.equal(placeholder.validateCartItems, undefined, 'functions arrive with ready');
  const api = await Promise.race([
    placeholder.ready,
    new Promise((_, reject) => setTimeout(() => reject(new Error('loader: ready did not resolve')), 10000).unref()),
  ]);
  assert.equal(api, placeholder, 'the Go side completes the placeholder');
  assert.equal(api.ready, placeholder.ready, 'ready is preserved');
  assert.equal(globalThis.__onechargeReady, undefined);
  assert.deepEqual(loaded, [base + 'wasm_exec.js']);
  assert.ok(wasmFetches.length >= 1 && wasmFetches.every((u) => u === base + 'onecharge.wasm'), JSON.stringify(wasmFetches));
  const r = await validate(req(), ok('CARD', K1));
  assert.deepEqual(r.keys, [undefined]);
  assert.equal(api.getStoredIdempotencyKey(), K1);
  console.log(`smoke: scenario loader ok (${wasmFetches.length} fetch(es) of the wasm)`);
}

// ---- scenario 5: two tabs sharing localStorage and Web Locks ----
// Two instances of the module run side by side, as two tabs of an origin
// do: one localStorage, one (fake, FIFO) navigator.locks, and one window
// for their events.
{
  // One queue per name, FIFO (modes are not told apart: the module's
  // shared locks all have names of their own).
  class FakeLocks {
    queues = new Map(); // name -> grant functions, the holder first
    requests = [];
    request(name, ...rest) {
      const callback = rest.pop();
      this.requests.push({ name, mode: rest[0] && rest[0].mode });
      const q = this.queues.get(name) || [];
      this.queues.set(name, q);
      return new Promise((resolve, reject) => {
        const grant = () => {
          let held;
          try { held = Promise.resolve(callback({ name, mode: 'exclusive' })); } catch (e) { held = Promise.reject(e); }
          held.then(resolve, reject).finally(() => {
            q.shift();
            if (q.length) q[0]();
          });
        };
        q.push(grant);
        if (q.length === 1) grant();
      });
    }
    state(name) { const n = (this.queues.get(name) || []).length; return { held: Math.min(n, 1), pending: Math.max(n - 1, 0) }; }
    async query() {
      const held = [], pending = [];
      for (const [name, q] of this.queues) {
        q.forEach((_, i) => (i === 0 ? held : pending).push({ name, mode: 'exclusive', clientId: 'c' }));
      }
      return { held, pending };
    }
    posts() { return [...this.queues].filter(([n, q]) => n.startsWith(LOCK + ' posted ') && q.length).map(([n]) => n).sort(); }
  }
  const LOCK = 'onecharge:' + STORAGE_KEY;
  const window = new EventTarget();
  globalThis.addEventListener = window.addEventListener.bind(window);
  globalThis.dispatchEvent = window.dispatchEvent.bind(window);
  const locks = new FakeLocks();
  globalThis.navigator = { locks };
  const shared = new MemoryStorage();
  Object.defineProperty(globalThis, 'localStorage', { value: shared, configurable: true, writable: true });
  const events = [];
  window.addEventListener('onecharge:keychange', (e) => events.push(e.detail.key));
  const tabA = await start();
  const tabB = await start();
  assert.notEqual(tabA, tabB);
  const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

  // Both check out at once without a key. A's request is held at the
  // "server"; B waits for the lock, then sends the key A stored.
  let open;
  calls.length = 0;
  script = [{ ...ok('CARD', K1), gate: new Promise((r) => { open = r; }) }, ok('CARD', K1)];
  const a = tabA.validateCartItems(req());
  while (calls.length < 1) await tick(1);
  const b = tabB.validateCartItems(req());
  await tick();
  assert.equal(calls.length, 1, 'B sends nothing while A holds the lock');
  assert.deepEqual(locks.state(LOCK), { held: 1, pending: 1 });
  open();
  const [ra, rb] = await Promise.all([a, b]);
  assert.equal(ra.idempotency_key, K1);
  assert.equal(rb.idempotency_key, K1);
  assert.deepEqual(calls.map((c) => c.body.idempotency_key), [undefined, K1], 'B sends the key A stored');
  assert.match(calls[0].headers['Idempotency-Key'], NONCE);
  assert.equal(calls[1].headers['Idempotency-Key'], undefined);
  assert.deepEqual(locks.requests.filter((r) => r.name === LOCK), [{ name: LOCK, mode: 'exclusive' }, { name: LOCK, mode: 'exclusive' }]);
  assert.deepEqual(locks.state(LOCK), { held: 0, pending: 0 }, 'both released the lock');
  assert.deepEqual(events, [K1], 'A dispatched the change of its own store');
  // A posted its new key on the board before releasing the lock.
  const posts = locks.posts();
  assert.equal(posts.length, 1, JSON.stringify(posts));
  assert.match(posts[0], new RegExp('^' + LOCK + ' posted \\d{13}:' + K1 + '$'));
  assert.equal(locks.requests.find((r) => r.name === posts[0]).mode, 'shared');

  // B's localStorage has not caught up yet (Chromium propagates it between
  // tabs asynchronously): B finds no key, asks the board, and sends the key
  // A posted. A clear is posted too.
  calls.length = 0;
  script = [ok('CARD', K2)];
  tabA.clearIdempotencyKey();
  await tick();
  assert.match(locks.posts().at(-1), new RegExp(' posted \\d{13}:$'), 'the clear is posted');
  await tabA.validateCartItems(req());
  assert.equal(shared.getItem(STORAGE_KEY), K2);
  await tick(2); // the posts are a millisecond apart at least
  const stale = new MemoryStorage();
  Object.defineProperty(globalThis, 'localStorage', { value: stale, configurable: true, writable: true });
  script = [ok('CARD', K2)];
  await tabB.validateCartItems(req());
  assert.deepEqual(calls.map((c) => c.body.idempotency_key), [undefined, K2], 'B sends the key A posted');
  assert.equal(calls[1].headers['Idempotency-Key'], undefined);
  assert.equal(stale.getItem(STORAGE_KEY), K2, 'and stores it');
  Object.defineProperty(globalThis, 'localStorage', { value: shared, configurable: true, writable: true });
  events.length = 0;

  // Another tab changes the key: its storage event makes each module read
  // the entry again and dispatch the change.
  events.length = 0;
  shared.setItem(STORAGE_KEY, K4);
  window.dispatchEvent(new Event('storage'));
  assert.deepEqual(events, [K4, K4], 'A and B follow the other tab');
  assert.equal(tabA.getStoredIdempotencyKey(), K4);
  events.length = 0;
  window.dispatchEvent(new Event('storage'));
  assert.deepEqual(events, [], 'no change, no event');
  shared.removeItem(STORAGE_KEY);
  window.dispatchEvent(new Event('storage'));
  assert.deepEqual(events, [null, null]);
  events.length = 0;
  tabB.setIdempotencyKey(K3);
  assert.deepEqual(events, [K3], "B's own change");

  // A lock manager that refuses (as in an opaque origin): the validation
  // goes on, serialized in its tab only, and says so.
  globalThis.navigator = { locks: { request: () => Promise.reject(new DOMException('denied', 'SecurityError')) } };
  const tabC = await start();
  debugs.length = 0;
  const r = await validate(req(), ok('CARD', K3));
  assert.equal(r.rejection, undefined, JSON.stringify(r.rejection));
  assert.deepEqual(r.keys, [K3]);
  assert.ok(debugs.some((m) => m.includes('serialized in this tab only') && m.includes('SecurityError')), JSON.stringify(debugs));
  assert.equal(globalThis.onecharge, tabC);
  console.log('smoke: scenario two tabs ok');
}

done = true;
console.warn = realWarn;
console.debug = realDebug;
console.log('smoke: ok');
process.exit(0);
