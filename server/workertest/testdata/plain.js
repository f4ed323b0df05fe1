// The plain-JS floor of the Worker CPU benchmark (server/workertest,
// make bench): the same routes as the Go Worker's measured ones, each doing
// the equivalent trivial work (a static catalog, a parsed request body),
// with no database and no Go runtime.
const catalog = {
  products: [
    { id: "cap", name: "Onecharge Cap", unit_amount: 2000, currency: "usd" },
    { id: "hoodie", name: "Onecharge Hoodie", unit_amount: 4500, currency: "usd" },
    { id: "mug", name: "Onecharge Mug", unit_amount: 1200, currency: "usd" },
    { id: "stickers", name: "Sticker Pack", unit_amount: 500, currency: "usd" },
    { id: "tshirt", name: "Onecharge T-Shirt", unit_amount: 2500, currency: "usd" },
  ],
};

function json(status, body) {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/healthz") return json(200, { status: "ok" });
    if (url.pathname === "/api/products") return json(200, catalog);
    if (url.pathname === "/api/orders/validate" && request.method === "POST") {
      const req = await request.json();
      const byID = new Map(catalog.products.map((p) => [p.id, p]));
      const items = req.items.map((i) => ({ ...i, name: byID.get(i.product_id).name, unit_amount: byID.get(i.product_id).unit_amount }));
      const amount = items.reduce((s, i) => s + i.quantity * i.unit_amount, 0);
      return json(200, {
        order: { items, amount, currency: "usd" },
        payment_method: req.payment_method,
        idempotency_key: req.idempotency_key,
        payment_intent: { id: "pi_plain", client_secret: "pi_plain_secret", status: "requires_payment_method", amount, currency: "usd" },
      });
    }
    return json(404, { error: { code: "not_found", message: "Not found." } });
  },
};
