package checkout

// PaymentMethod is how the shopper pays.
type PaymentMethod string

// The payment methods of the contract.
const (
	MethodCard           PaymentMethod = "CARD"
	MethodCardTest       PaymentMethod = "CARD_TEST"
	MethodCashOnDelivery PaymentMethod = "CASH_ON_DELIVERY"
)

// UsesKey reports whether m is paid through a PaymentIntent and therefore
// carries an idempotency key.
func (m PaymentMethod) UsesKey() bool { return m == MethodCard || m == MethodCardTest }

// Item is one requested cart line: what the client may say.
type Item struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
}

// Line is one priced order or cart line: what the server answers. Prices
// always come from the server's catalog.
type Line struct {
	ProductID  string `json:"product_id"`
	Name       string `json:"name"`
	Quantity   int    `json:"quantity"`
	UnitAmount int64  `json:"unit_amount"`
}

// Product is a catalog entry. Inactive products are not sold.
type Product struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	UnitAmount int64  `json:"unit_amount"`
	Currency   string `json:"currency"`
	Active     bool   `json:"-"`
}

// ProductsResponse is the body of GET /api/products.
type ProductsResponse struct {
	Products []Product `json:"products"`
}

// ValidateRequest is the body of POST /api/orders/validate.
type ValidateRequest struct {
	Items          []Item        `json:"items"`
	PaymentMethod  PaymentMethod `json:"payment_method"`
	Email          string        `json:"email,omitempty"`
	IdempotencyKey string        `json:"idempotency_key,omitempty"`
}

// Order is a priced set of lines.
type Order struct {
	Items    []Line `json:"items"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// PaymentIntent is what the browser needs to confirm a payment.
type PaymentIntent struct {
	ID           string `json:"id"`
	ClientSecret string `json:"client_secret"`
	Status       string `json:"status"`
	Amount       int64  `json:"amount"`
	Currency     string `json:"currency"`
}

// ValidateResponse is the 200 body of POST /api/orders/validate.
// IdempotencyKey and PaymentIntent are set for CARD and CARD_TEST only.
type ValidateResponse struct {
	Order          Order          `json:"order"`
	PaymentMethod  PaymentMethod  `json:"payment_method"`
	IdempotencyKey string         `json:"idempotency_key,omitempty"`
	PaymentIntent  *PaymentIntent `json:"payment_intent,omitempty"`
}

// CartRequest is the body of PUT /api/cart and POST /api/checkout.
type CartRequest struct {
	Items []Item `json:"items"`
}

// CheckoutResponse is the body of POST /api/checkout.
type CheckoutResponse struct {
	URL       string `json:"url"`
	SessionID string `json:"session_id"`
}

// Order statuses reported by GET /api/orders/{payment_intent_id}.
const (
	// OrderPending: not paid yet, and it can still be paid (also after a
	// declined attempt).
	OrderPending = "pending"
	// OrderPaid: Stripe reported the payment, and its amount is the
	// order's (invariant I1).
	OrderPaid = "paid"
	// OrderFailed: it can no longer be paid (the PaymentIntent was
	// canceled, the Checkout Session expired).
	OrderFailed = "failed"
	// OrderNeedsReview: Stripe reported a payment whose amount matches no
	// order the server bound to it. The order carries the amount paid
	// and the lines the server knows; a person has to look (I1).
	OrderNeedsReview = "needs_review"
)

// OrderStatus is one order as GET /api/orders/{payment_intent_id} reports it.
type OrderStatus struct {
	Status   string `json:"status"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Items    []Line `json:"items"`
}

// OrderResponse is the body of GET /api/orders/{payment_intent_id}.
type OrderResponse struct {
	Order OrderStatus `json:"order"`
}

// ConfigResponse is the body of GET /api/config.
type ConfigResponse struct {
	Stripe StripeConfig `json:"stripe"`
}

// StripeConfig tells the page how to confirm payments.
type StripeConfig struct {
	PublishableKey string `json:"publishable_key"`
	APIBase        string `json:"api_base"`
	Simulated      bool   `json:"simulated"`
}
