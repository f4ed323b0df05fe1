/*
 * The onecharge demo storefront: plain JavaScript, no build step.
 *
 * It shows the catalog (GET /api/products) and a cart persisted on the
 * server (GET/PUT /api/cart), validates the order through the checkout
 * module (onecharge.validateCartItems, which owns the idempotency key), and
 * pays card orders by confirming the PaymentIntent against the Stripe API
 * base of GET /api/config with the client secret, as Stripe.js does.
 *
 * The page never touches localStorage itself: the key is the module's
 * (getStoredIdempotencyKey is only read for the "Under the hood" panel,
 * which follows the module's 'onecharge:keychange' events, so it shows a
 * key stored, rotated or cleared by another tab too).
 *
 * Stable element ids (used by the browser tests in e2e/): #checkout, #pay,
 * #card-visa, #card-3ds, #card-declined, #pm-card, #pm-card-test, #pm-cod,
 * #add-<product>, #qty-<product>, #order-total, #toast (data-kind),
 * #stored-key, #payment-intent-id, #payment-intent-status, #order-status,
 * #module-status (data-state), #result-text, #hosted-checkout.
 * #checkout-form[data-done] and #pay[data-done] count the settled
 * validations and payments.
 *
 * "Pay on a hosted page" is the other flow of the API: POST /api/checkout
 * creates a Stripe Checkout Session for the cart and the page goes there;
 * Stripe sends the shopper back to /?checkout=success&session_id=... once
 * paid (the checkout.session.completed webhook records the order and
 * empties the cart) or to /?checkout=canceled.
 */
(function () {
  'use strict';

  var ORDER_POLL_INTERVAL_MS = 300;
  var ORDER_POLL_TIMEOUT_MS = 15000;

  var state = {
    api: null, // the checkout module, once ready
    config: null, // GET /api/config .stripe
    products: [],
    productsById: {},
    cart: [], // [{product_id, quantity}] in the order lines were added
    currency: 'usd',
    checkouts: 0, // validations in flight
    checkoutsDone: 0, // validations settled (mirrored in #checkout-form[data-done])
    paying: false,
    paysDone: 0, // confirmations settled (mirrored in #pay[data-done])
    order: null, // the last validated order
    intent: null, // {id, client_secret, status, amount, currency}
    orderStatus: '',
  };

  function $(id) { return document.getElementById(id); }

  // ---- formatting ----

  var digitsCache = {};
  function fractionDigits(currency) {
    var c = String(currency || 'usd').toUpperCase();
    if (!(c in digitsCache)) {
      try {
        digitsCache[c] = new Intl.NumberFormat('en', { style: 'currency', currency: c })
          .resolvedOptions().maximumFractionDigits;
      } catch (e) {
        digitsCache[c] = 2;
      }
    }
    return digitsCache[c];
  }

  // money formats an amount in minor units.
  function money(amount, currency) {
    var c = String(currency || state.currency || 'usd').toUpperCase();
    var value = amount / Math.pow(10, fractionDigits(c));
    try {
      return new Intl.NumberFormat(undefined, { style: 'currency', currency: c }).format(value);
    } catch (e) {
      return value.toFixed(2) + ' ' + c;
    }
  }

  // ---- HTTP ----

  // request calls the onecharge API; it resolves with the decoded body and
  // rejects with an Error carrying status and code.
  function request(method, path, body) {
    var init = { method: method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (data) {
        if (!res.ok) {
          var detail = (data && data.error) || {};
          var err = new Error(detail.message || ('HTTP ' + res.status));
          err.status = res.status;
          err.code = detail.code || '';
          throw err;
        }
        return data;
      });
    });
  }

  function delay(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  // ---- toast ----

  var TOASTS = {
    already_completed: 'This checkout was already paid. Please start a new order.',
    payment_unavailable: 'Payments are unavailable right now. Your cart is saved: please try again in a moment.',
    validation: 'Please check your order: ',
    generic: 'Something went wrong on our side. Please try again.',
    card_declined: 'Your card was declined. Choose another card and pay again.',
    payment_failed: 'The payment did not go through. Choose another card and pay again.',
    network: 'We could not reach the payment service. Check your order before paying again.',
    hosted_canceled: 'The hosted checkout was canceled. Your cart is saved.',
    error: 'Something went wrong: ',
  };

  function showToast(kind, detail) {
    var text = TOASTS[kind] || TOASTS.generic;
    if (detail && (kind === 'validation' || kind === 'error')) {
      text += detail;
    }
    var toast = $('toast');
    toast.dataset.kind = kind;
    $('toast-text').textContent = text;
    toast.hidden = false;
  }

  function hideToast() {
    var toast = $('toast');
    toast.hidden = true;
    toast.dataset.kind = '';
    $('toast-text').textContent = '';
  }

  // showRejection shows the toast for a validateCartItems rejection
  // ({kind, code, message, status}).
  function showRejection(rej) {
    var kind = rej && rej.kind;
    if (!TOASTS[kind]) {
      kind = 'generic';
    }
    showToast(kind, rej && rej.message);
    if (window.console) {
      console.info('checkout rejected:', rej && rej.kind, rej && rej.code, rej && rej.status);
    }
  }

  // ---- "Under the hood" ----

  function updatePanel() {
    var key = null;
    if (state.api) {
      key = state.api.getStoredIdempotencyKey();
    }
    $('stored-key').textContent = key || 'none';
    $('payment-intent-id').textContent = (state.intent && state.intent.id) || 'none';
    $('payment-intent-status').textContent = (state.intent && state.intent.status) || 'none';
    $('order-status').textContent = state.orderStatus || 'none';
  }

  // ---- catalog and cart ----

  function renderProducts() {
    var list = $('products');
    list.textContent = '';
    state.products.forEach(function (p) {
      var li = document.createElement('li');
      li.className = 'product';
      var name = document.createElement('span');
      name.className = 'product-name';
      name.id = 'name-' + p.id;
      name.textContent = p.name;
      var price = document.createElement('span');
      price.className = 'product-price';
      price.textContent = money(p.unit_amount, p.currency);
      var add = document.createElement('button');
      add.type = 'button';
      add.id = 'add-' + p.id;
      add.className = 'secondary';
      add.textContent = 'Add to cart';
      add.setAttribute('aria-describedby', name.id);
      add.addEventListener('click', function () { addToCart(p.id); });
      li.appendChild(name);
      li.appendChild(price);
      li.appendChild(add);
      list.appendChild(li);
    });
    $('catalog-status').hidden = state.products.length > 0;
    if (!state.products.length) {
      $('catalog-status').textContent = 'No products are for sale right now.';
    }
  }

  function cartAmount() {
    return state.cart.reduce(function (sum, line) {
      var p = state.productsById[line.product_id];
      return sum + (p ? p.unit_amount * line.quantity : 0);
    }, 0);
  }

  function renderCart() {
    var list = $('cart-lines');
    list.textContent = '';
    state.cart.forEach(function (line) {
      var p = state.productsById[line.product_id] || { name: line.product_id, unit_amount: 0 };
      var li = document.createElement('li');
      li.className = 'cart-line';
      var label = document.createElement('label');
      label.htmlFor = 'qty-' + line.product_id;
      label.textContent = p.name;
      var qty = document.createElement('input');
      qty.type = 'number';
      qty.id = 'qty-' + line.product_id;
      qty.min = '1';
      qty.max = '99';
      qty.inputMode = 'numeric';
      qty.value = String(line.quantity);
      qty.addEventListener('change', function () { setQuantity(line.product_id, qty.value); });
      var sub = document.createElement('span');
      sub.className = 'line-amount';
      sub.textContent = money(p.unit_amount * line.quantity, p.currency);
      var remove = document.createElement('button');
      remove.type = 'button';
      remove.id = 'remove-' + line.product_id;
      remove.className = 'link';
      remove.textContent = 'Remove';
      remove.setAttribute('aria-label', 'Remove ' + p.name);
      remove.addEventListener('click', function () { setQuantity(line.product_id, 0); });
      li.appendChild(label);
      li.appendChild(qty);
      li.appendChild(sub);
      li.appendChild(remove);
      list.appendChild(li);
    });
    $('cart-empty').hidden = state.cart.length > 0;
    $('cart-total').textContent = money(cartAmount(), state.currency);
  }

  // Cart writes are chained so that they reach the server in order.
  var cartWrites = Promise.resolve();
  function saveCart() {
    var items = cartItems();
    cartWrites = cartWrites.then(function () {
      return request('PUT', '/api/cart', { items: items });
    }).catch(function (err) {
      showToast('error', 'your cart could not be saved (' + err.message + ').');
    });
    return cartWrites;
  }

  function cartItems() {
    return state.cart.map(function (l) { return { product_id: l.product_id, quantity: l.quantity }; });
  }

  // cartChanged hides the card step: the PaymentIntent's amount is the
  // last validated order's, so a changed cart needs a new checkout (which
  // updates the same PaymentIntent).
  function cartChanged() {
    renderCart();
    saveCart();
    if (!$('card-step').hidden) {
      $('card-step').hidden = true;
      $('order-total-line').hidden = true;
    }
  }

  function addToCart(id) {
    var line = state.cart.find(function (l) { return l.product_id === id; });
    if (line) {
      line.quantity = Math.min(99, line.quantity + 1);
    } else {
      state.cart.push({ product_id: id, quantity: 1 });
    }
    cartChanged();
  }

  function setQuantity(id, value) {
    var n = parseInt(value, 10);
    if (!isFinite(n) || n < 0) {
      n = 1;
    }
    n = Math.min(99, n);
    if (n === 0) {
      state.cart = state.cart.filter(function (l) { return l.product_id !== id; });
    } else {
      state.cart.forEach(function (l) { if (l.product_id === id) { l.quantity = n; } });
    }
    cartChanged();
  }

  function loadCart() {
    return request('GET', '/api/cart').then(function (data) { setCart(data.cart); });
  }

  function setCart(cart) {
    cart = cart || {};
    state.cart = (cart.items || []).map(function (l) { return { product_id: l.product_id, quantity: l.quantity }; });
    if (cart.currency) {
      state.currency = cart.currency;
    }
    renderCart();
  }

  // ---- checkout ----

  function selectedMethod() {
    var checked = document.querySelector('input[name="payment-method"]:checked');
    return checked ? checked.value : 'CARD';
  }

  function setCheckoutBusy() {
    var btn = $('checkout');
    var busy = state.checkouts > 0;
    // aria-disabled, not disabled: the button announces itself as
    // unavailable while a validation runs, yet a fast double click still
    // reaches the module. The module runs validations one at a time (in
    // every tab of the origin), so the second one sends the key the first
    // stored and gets the same PaymentIntent; that is what the library
    // guarantees and what the browser tests check. Disabling here would
    // hide it.
    btn.setAttribute('aria-disabled', String(busy || !state.api));
    btn.classList.toggle('busy', busy);
    btn.textContent = busy ? 'Checking out…' : 'Checkout';
  }

  function checkout(event) {
    if (event) {
      event.preventDefault();
    }
    if (!state.api) {
      return;
    }
    // Start the call first, then mark the button busy.
    var call = state.api.validateCartItems({ items: cartItems(), payment_method: selectedMethod() });
    state.checkouts++;
    setCheckoutBusy();
    hideToast();
    call.then(onValidated, function (rej) {
      showRejection(rej);
    }).then(function () {
      state.checkouts--;
      state.checkoutsDone++;
      setCheckoutBusy();
      updatePanel();
      $('checkout-form').dataset.done = String(state.checkoutsDone);
    });
  }

  function onValidated(res) {
    state.order = res.order;
    $('order-total').textContent = money(res.order.amount, res.order.currency);
    $('order-total-line').hidden = false;
    if (res.payment_intent) {
      var samePI = state.intent && state.intent.id === res.payment_intent.id;
      state.intent = res.payment_intent;
      if (!samePI) {
        state.orderStatus = '';
      }
      $('pay-amount').textContent = money(res.payment_intent.amount, res.payment_intent.currency);
      $('card-step').hidden = false;
      $('result').hidden = true;
      return;
    }
    // Cash on delivery: no key, no PaymentIntent; the order is placed.
    state.intent = null;
    state.orderStatus = '';
    $('card-step').hidden = true;
    showResult('Order placed: ' + money(res.order.amount, res.order.currency) + ', to pay on delivery.', res.order.items);
    state.cart = [];
    renderCart();
    saveCart();
  }

  function showResult(text, lines) {
    $('result-text').textContent = text;
    var list = $('result-lines');
    list.textContent = '';
    (lines || []).forEach(function (l) {
      var li = document.createElement('li');
      li.textContent = l.quantity + ' × ' + l.name;
      list.appendChild(li);
    });
    $('result').hidden = false;
  }

  // ---- paying by card ----

  function stripeURL(path) {
    var base = (state.config && state.config.api_base) || '/_stripe';
    return base.replace(/\/+$/, '') + path;
  }

  function stripeHeaders() {
    return { Authorization: 'Bearer ' + ((state.config && state.config.publishable_key) || '') };
  }

  function selectedCard() {
    var checked = document.querySelector('input[name="test-card"]:checked');
    return checked ? checked.value : 'pm_card_visa';
  }

  function setPaying(paying) {
    state.paying = paying;
    var btn = $('pay');
    btn.disabled = paying;
    btn.classList.toggle('busy', paying);
  }

  function pay() {
    var pi = state.intent;
    if (!pi || state.paying) {
      return;
    }
    setPaying(true);
    hideToast();
    // Let pending cart writes land first: one arriving after the payment's
    // webhook emptied the cart would fill it again.
    cartWrites.then(function () { confirmIntent(pi); });
  }

  function confirmIntent(pi) {
    var form = new URLSearchParams();
    form.set('client_secret', pi.client_secret);
    form.set('payment_method', selectedCard());
    form.set('return_url', location.origin + '/?return=1');
    var headers = stripeHeaders();
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    fetch(stripeURL('/v1/payment_intents/' + encodeURIComponent(pi.id) + '/confirm'), {
      method: 'POST', headers: headers, body: form.toString(), credentials: 'omit',
    }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (body) {
        return onConfirmed(pi, res.status, body);
      });
    }, function () {
      // No answer: the payment may or may not have gone through. Ask the
      // PaymentIntent; when that fails too, keep the key and say so (the
      // next validation tells: payment_already_completed makes the module
      // start a new checkout).
      return retrieveIntent(pi.id, pi.client_secret).then(function (fresh) {
        if (fresh && fresh.status) {
          return onIntentState(pi, fresh);
        }
        showToast('network');
      });
    }).then(function () {
      setPaying(false);
      updatePanel();
      state.paysDone++;
      $('pay').dataset.done = String(state.paysDone);
    });
  }

  function onConfirmed(pi, status, body) {
    if (status >= 200 && status < 300 && body && body.status) {
      return onIntentState(pi, body);
    }
    var err = (body && body.error) || {};
    var current = err.payment_intent;
    if (current && (current.status === 'succeeded' || current.status === 'processing')) {
      // Paid already (a repeated confirmation, or another tab paid it).
      return onIntentState(pi, current);
    }
    if (current && current.status) {
      pi.status = current.status;
    }
    if (status === 402 || err.type === 'card_error') {
      showToast('card_declined');
    } else {
      showToast('error', err.message || ('HTTP ' + status));
    }
  }

  // onIntentState acts on a PaymentIntent as Stripe reports it.
  function onIntentState(pi, current) {
    pi.status = current.status;
    updatePanel();
    switch (current.status) {
      case 'succeeded':
      case 'processing':
        state.api.paymentSucceeded();
        $('card-step').hidden = true;
        return showOrder(pi.id);
      case 'requires_action':
        var next = current.next_action && current.next_action.redirect_to_url;
        if (next && next.url) {
          location.assign(next.url);
          return new Promise(function () {}); // stay busy while leaving
        }
        showToast('payment_failed');
        return;
      default:
        showToast('payment_failed');
    }
  }

  // showOrder polls GET /api/orders/{pi} until the order is paid (the
  // webhook records it) or a bounded time passes, then reloads the cart,
  // which the webhook empties. It is called once Stripe said the payment
  // succeeded, so "failed" is not final here: it is an earlier declined
  // attempt whose webhook arrived before the success's.
  function showOrder(piID) {
    state.orderStatus = 'pending';
    updatePanel();
    showResult('Payment received. Confirming your order…');
    var deadline = Date.now() + ORDER_POLL_TIMEOUT_MS;
    function poll() {
      return request('GET', '/api/orders/' + encodeURIComponent(piID)).then(function (data) {
        return data.order;
      }, function () {
        return null;
      }).then(function (order) {
        if (order) {
          state.orderStatus = order.status;
          updatePanel();
        }
        if (order && order.status === 'paid') {
          showResult('Order paid: ' + money(order.amount, order.currency) + '. Thank you!', order.items);
          return loadCart();
        }
        if (order && order.status === 'needs_review') {
          // Stripe took a payment whose amount matches no order the
          // server bound to it: the shop looks at it by hand.
          showResult('Payment received: ' + money(order.amount, order.currency) +
            '. Your order is being reviewed; the shop will be in touch.', order.items);
          return loadCart();
        }
        if (Date.now() >= deadline) {
          showResult('Payment received. Your order is being confirmed; it will appear shortly.');
          return loadCart();
        }
        return delay(ORDER_POLL_INTERVAL_MS).then(poll);
      });
    }
    return poll().catch(function () {}).then(updatePanel);
  }

  // ---- hosted checkout (Stripe Checkout Session) ----

  var hostedBusy = false;
  function hostedCheckout() {
    if (hostedBusy || !state.cart.length) {
      return;
    }
    hostedBusy = true;
    $('hosted-checkout').setAttribute('aria-disabled', 'true');
    // Pending cart writes land first; the server upserts the cart again
    // with these items before it creates the session.
    cartWrites.then(function () {
      return request('POST', '/api/checkout', { items: cartItems() });
    }).then(function (data) {
      location.assign(data.url);
    }, function (err) {
      hostedBusy = false;
      $('hosted-checkout').setAttribute('aria-disabled', 'false');
      var kind = err.status >= 500 ? 'payment_unavailable' : 'validation';
      showToast(kind, err.message);
    });
  }

  // handleHostedReturn shows the outcome of a hosted checkout and waits,
  // bounded, for the webhook to empty the cart.
  function handleHostedReturn() {
    var params = new URLSearchParams(location.search);
    var outcome = params.get('checkout');
    if (!outcome) {
      return false;
    }
    history.replaceState(null, '', location.pathname);
    if (outcome !== 'success') {
      showToast('hosted_canceled');
      return true;
    }
    showResult('Paid on the hosted page. Thank you! Your order is being recorded.');
    var deadline = Date.now() + ORDER_POLL_TIMEOUT_MS;
    (function poll() {
      loadCart().then(function () {
        if (state.cart.length && Date.now() < deadline) {
          return delay(ORDER_POLL_INTERVAL_MS).then(poll);
        }
        if (!state.cart.length) {
          state.orderStatus = 'paid';
          showResult('Order paid on the hosted page. Thank you!');
          updatePanel();
        }
      }).catch(function () {});
    })();
    return true;
  }

  // ---- returning from a redirect (3-D Secure) ----

  function handleRedirect() {
    var params = new URLSearchParams(location.search);
    var piID = params.get('payment_intent');
    var status = params.get('redirect_status');
    if (!piID || !status) {
      return;
    }
    var secret = params.get('payment_intent_client_secret') || '';
    state.api.handleRedirectReturn(location.href);
    // Clean the URL so that a refresh does not handle the return again.
    history.replaceState(null, '', location.pathname);
    state.intent = { id: piID, client_secret: secret, status: status === 'succeeded' ? 'succeeded' : '' };
    updatePanel();
    if (status === 'succeeded') {
      return showOrder(piID);
    }
    // Failed or canceled authentication: the key is kept; the shopper can
    // pick another card and pay the same PaymentIntent.
    showToast('payment_failed');
    return retrieveIntent(piID, secret).then(function (pi) {
      if (pi) {
        state.intent.status = pi.status;
        state.intent.amount = pi.amount;
        state.intent.currency = pi.currency;
        $('pay-amount').textContent = money(pi.amount, pi.currency);
        if (pi.status === 'requires_payment_method' || pi.status === 'requires_confirmation') {
          $('card-step').hidden = false;
        }
      }
      updatePanel();
    });
  }

  function retrieveIntent(id, secret) {
    var url = stripeURL('/v1/payment_intents/' + encodeURIComponent(id) + '?client_secret=' + encodeURIComponent(secret));
    return fetch(url, { headers: stripeHeaders(), credentials: 'omit' }).then(function (res) {
      return res.ok ? res.json() : null;
    }).catch(function () { return null; });
  }

  // ---- start ----

  function moduleStatus(text, st) {
    var el = $('module-status');
    el.textContent = text;
    el.dataset.state = st;
  }

  function start() {
    $('checkout-form').addEventListener('submit', checkout);
    $('pay').addEventListener('click', pay);
    $('hosted-checkout').addEventListener('click', hostedCheckout);
    $('toast-close').addEventListener('click', hideToast);
    // The stored key changed, here or in another tab of this shop.
    window.addEventListener('onecharge:keychange', updatePanel);

    var configured = request('GET', '/api/config').then(function (data) {
      state.config = data.stripe;
    }).catch(function (err) {
      showToast('error', 'the payment configuration could not be loaded (' + err.message + ').');
    });

    // The catalog is shown once the cart is loaded too, so that nothing
    // added to the cart can be overwritten by the cart arriving late.
    Promise.all([request('GET', '/api/products'), request('GET', '/api/cart')]).then(function (res) {
      state.products = res[0].products || [];
      state.productsById = {};
      state.products.forEach(function (p) { state.productsById[p.id] = p; });
      if (state.products.length) {
        state.currency = state.products[0].currency;
      }
      setCart(res[1].cart);
      renderProducts();
      handleHostedReturn();
    }).catch(function (err) {
      $('catalog-status').textContent = 'The catalog could not be loaded (' + err.message + ').';
    });

    var onecharge = window.onecharge;
    if (!onecharge || !onecharge.ready) {
      moduleStatus('The checkout module is missing: checkout is unavailable.', 'failed');
      return;
    }
    onecharge.ready.then(function (api) {
      state.api = api;
      moduleStatus('Checkout module ready.', 'ready');
      setCheckoutBusy();
      updatePanel();
      return configured.then(handleRedirect);
    }, function (err) {
      moduleStatus('The checkout module could not be loaded (' + (err && err.message) + '): checkout is unavailable.', 'failed');
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
