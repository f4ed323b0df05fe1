package stripesim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

func (s *Sim) createCheckoutSession(c *call) response {
	if c.public {
		return publicOnly()
	}
	f := c.form
	switch mode := f.Get("mode"); mode {
	case "":
		return missingParam("mode")
	case "payment":
	default:
		return paramError("parameter_invalid_string", "mode", "The simulator supports mode payment only, not "+mode+".")
	}
	successURL := f.Get("success_url")
	if successURL == "" {
		return missingParam("success_url")
	}
	objs := formObjects(f, "line_items")
	if len(objs) == 0 {
		return missingParam("line_items")
	}
	var (
		lines    []LineItem
		currency = strings.ToLower(f.Get("currency"))
		total    int64
	)
	for i, li := range objs {
		p := fmt.Sprintf("line_items[%d]", i)
		if li.Has("price") {
			return resourceMissing("price", p+"[price]", li.Get("price"))
		}
		cur := strings.ToLower(li.Get("price_data.currency"))
		name := li.Get("price_data.product_data.name")
		switch {
		case !li.Has("price_data.currency"):
			return missingParam(p + "[price_data][currency]")
		case !currencyOK(cur):
			return invalidCurrency(p+"[price_data][currency]", li.Get("price_data.currency"))
		case currency != "" && cur != currency:
			return paramError("parameter_invalid_string", p+"[price_data][currency]", "All line items must use the same currency.")
		case name == "":
			return missingParam(p + "[price_data][product_data][name]")
		}
		currency = cur
		unit, bad := requiredInt(li, "price_data.unit_amount", p+"[price_data][unit_amount]", 0, "unit_amount must be non-negative.")
		if bad.status != 0 {
			return bad
		}
		qty, bad := requiredInt(li, "quantity", p+"[quantity]", 1, "quantity must be at least 1.")
		if bad.status != 0 {
			return bad
		}
		lines = append(lines, LineItem{Name: name, Currency: cur, UnitAmount: unit, Quantity: qty})
		total = addLine(total, unit, qty)
	}
	if r := checkSessionTotal(total, currency); r.status != 0 {
		return r
	}
	metadata, _ := formMap(f, "metadata")
	if metadata == nil {
		metadata = map[string]string{}
	}
	piMeta, _ := formMap(f, "payment_intent_data[metadata]")
	now := s.cfg.Now()
	expires := now.Add(24 * time.Hour).Unix()
	if v, ok, bad := formInt(f, "expires_at"); bad.status != 0 {
		return bad
	} else if ok {
		expires = v
	}
	types, _ := formList(f, "payment_method_types")
	if len(types) == 0 {
		types = []string{"card"}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	id := newID("cs_test_", 58)
	url := c.baseURL + "/checkout/" + id
	ss := &session{
		cs: CheckoutSession{
			ID:                 id,
			Object:             "checkout.session",
			AmountSubtotal:     total,
			AmountTotal:        total,
			CancelURL:          strPtr(f.Get("cancel_url")),
			ClientReferenceID:  strPtr(f.Get("client_reference_id")),
			Created:            now.Unix(),
			Currency:           currency,
			CustomerEmail:      strPtr(f.Get("customer_email")),
			ExpiresAt:          expires,
			Metadata:           metadata,
			Mode:               "payment",
			PaymentMethodTypes: types,
			PaymentStatus:      "unpaid",
			Status:             "open",
			SuccessURL:         successURL,
			URL:                &url,
			LineItems:          lines,
		},
		piMetadata: piMeta,
		piDesc:     f.Get("payment_intent_data[description]"),
	}
	s.sessions[id] = ss
	s.csOrder = append(s.csOrder, id)
	return jsonResponse(http.StatusOK, ss.cs)
}

func (s *Sim) retrieveCheckoutSession(c *call, id string) response {
	if c.public {
		return publicOnly()
	}
	expand, _ := formList(c.form, "expand")
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok {
		return resourceMissing("checkout.session", "session", id)
	}
	if !slices.Contains(expand, "payment_intent") || ss.cs.PaymentIntent == nil {
		return jsonResponse(http.StatusOK, ss.cs)
	}
	// Expanded: the payment_intent member becomes the object.
	b, _ := json.Marshal(ss.cs)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["payment_intent"] = s.intents[*ss.cs.PaymentIntent].pi
	return jsonResponse(http.StatusOK, m)
}

// expireCheckoutSession answers POST /v1/checkout/sessions/{id}/expire: an
// open session becomes expired (its page can no longer be paid) and
// checkout.session.expired is emitted; any other status is Stripe's 400.
func (s *Sim) expireCheckoutSession(c *call, id string) response {
	if c.public {
		return publicOnly()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok {
		return resourceMissing("checkout.session", "session", id)
	}
	if ss.cs.Status != "open" {
		return errResponse(http.StatusBadRequest, Error{Type: ErrorTypeInvalidRequest,
			Message: `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of ` + "`" + ss.cs.Status + "`."})
	}
	ss.cs.Status = "expired"
	ss.cs.URL = nil
	s.emitLocked(EventCheckoutSessionExpired, ss.cs, c)
	return jsonResponse(http.StatusOK, ss.cs)
}

// completeSessionLocked pays an open session: a succeeded PaymentIntent for
// its total, then payment_intent.succeeded and checkout.session.completed.
func (s *Sim) completeSessionLocked(ss *session) {
	if ss.cs.Status != "open" {
		return
	}
	in := s.newIntentLocked(ss.cs.AmountTotal, ss.cs.Currency, ss.piMetadata, ss.piDesc, []string{"card"}, StatusRequiresConfirmation)
	in.pi.PaymentMethod = strPtr(PMCardVisa)
	s.succeedLocked(in, nil)
	ss.cs.PaymentIntent = &in.pi.ID
	ss.cs.Status = "complete"
	ss.cs.PaymentStatus = "paid"
	ss.cs.URL = nil
	s.emitLocked(EventCheckoutSessionCompleted, ss.cs, nil)
}

// successURL is the session's success_url with {CHECKOUT_SESSION_ID} filled in.
func (ss *session) successURL() string {
	return strings.ReplaceAll(ss.cs.SuccessURL, "{CHECKOUT_SESSION_ID}", ss.cs.ID)
}
