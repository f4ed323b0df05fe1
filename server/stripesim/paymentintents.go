package stripesim

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// testCard is what a test payment method does on confirmation.
type testCard struct {
	outcome     string // "succeed", "3ds" or "decline"
	declineCode string
	code        string
	message     string
}

var testCards = map[string]testCard{
	PMCardVisa:                     {outcome: "succeed"},
	PMCardMastercard:               {outcome: "succeed"},
	"pm_card_amex":                 {outcome: "succeed"},
	PMCardThreeDSecure2:            {outcome: "3ds"},
	PMCardAuthRequired:             {outcome: "3ds"},
	"pm_card_threeDSecureRequired": {outcome: "3ds"},
	PMCardChargeDeclined:           {outcome: "decline", code: "card_declined", declineCode: "generic_decline", message: "Your card was declined."},
	PMCardInsufficientFunds:        {outcome: "decline", code: "card_declined", declineCode: "insufficient_funds", message: "Your card has insufficient funds."},
	PMCardChargeDeclinedExpiry:     {outcome: "decline", code: "expired_card", declineCode: "expired_card", message: "Your card has expired."},
}

var updatableStatuses = []string{StatusRequiresPaymentMethod, StatusRequiresConfirmation, StatusRequiresAction}

func (s *Sim) createPaymentIntent(c *call) response {
	if c.public {
		return publicOnly()
	}
	f := c.form
	amount, ok, bad := formInt(f, "amount")
	switch {
	case bad.status != 0:
		return bad
	case !ok:
		return missingParam("amount")
	}
	currency := strings.ToLower(f.Get("currency"))
	switch {
	case !f.Has("currency"):
		return missingParam("currency")
	case !currencyOK(currency):
		return invalidCurrency("currency", f.Get("currency"))
	}
	if r := checkAmount(amount, currency); r.status != 0 {
		return r
	}
	if cm := f.Get("capture_method"); cm != "" && cm != "automatic" && cm != "automatic_async" {
		return paramError("parameter_unknown", "capture_method", "The simulator supports capture_method automatic only.")
	}
	confirm, _, bad := formBool(f, "confirm")
	if bad.status != 0 {
		return bad
	}
	apm, apmSent, bad := formBool(f, "automatic_payment_methods[enabled]")
	if bad.status != 0 {
		return bad
	}
	types, typesSent := formList(f, "payment_method_types")
	if apmSent && apm && typesSent {
		return paramError("parameter_unknown", "payment_method_types", "You cannot specify both automatic_payment_methods and payment_method_types.")
	}
	if !typesSent || len(types) == 0 {
		types = []string{"card"}
	}
	metadata, _ := formMap(f, "metadata")
	for k, v := range metadata {
		if v == "" {
			delete(metadata, k)
		}
	}
	if metadata == nil {
		metadata = map[string]string{}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	pm := f.Get("payment_method")
	if _, known := testCards[pm]; pm != "" && !known {
		return resourceMissing("PaymentMethod", "payment_method", pm) // nothing is created
	}
	in := s.newIntentLocked(amount, currency, metadata, f.Get("description"), types, StatusRequiresPaymentMethod)
	in.pi.ReceiptEmail = strPtr(f.Get("receipt_email"))
	in.returnURL = f.Get("return_url")
	if apmSent {
		in.pi.AutomaticPaymentMethods = &AutomaticPaymentMethods{Enabled: apm}
	}
	if pm != "" {
		in.pi.PaymentMethod = &pm
		in.pi.Status = StatusRequiresConfirmation
	}
	if confirm {
		return s.confirmLocked(c, in, "", f.Get("return_url"))
	}
	return jsonResponse(http.StatusOK, in.pi)
}

// lookupLocked finds a PaymentIntent for c. A publishable key must send the
// matching client_secret; it learns nothing about other intents.
func (s *Sim) lookupLocked(c *call, id string) (*intent, response) {
	in, ok := s.intents[id]
	if c.public {
		if !c.form.Has("client_secret") {
			return nil, publicOnly()
		}
		if !ok || c.form.Get("client_secret") != in.pi.ClientSecret {
			return nil, errResponse(http.StatusBadRequest, Error{Type: ErrorTypeInvalidRequest,
				Code: "payment_intent_invalid_parameter", Param: "client_secret",
				Message: "The client_secret provided does not match any associated PaymentIntent on this account."})
		}
		return in, response{}
	}
	if !ok {
		return nil, resourceMissing("payment_intent", "intent", id)
	}
	return in, response{}
}

func (s *Sim) retrievePaymentIntent(c *call, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, r := s.lookupLocked(c, id)
	if in == nil {
		return r
	}
	return jsonResponse(http.StatusOK, in.pi)
}

func (s *Sim) updatePaymentIntent(c *call, id string) response {
	if c.public {
		return publicOnly()
	}
	f := c.form
	amount, amountSent, bad := formInt(f, "amount")
	if bad.status != 0 {
		return bad
	}
	currency := strings.ToLower(f.Get("currency"))
	currencySent := f.Has("currency")
	if currencySent && !currencyOK(currency) {
		return invalidCurrency("currency", f.Get("currency"))
	}
	metadata, metadataSent := formMap(f, "metadata")
	types, typesSent := formList(f, "payment_method_types")

	s.mu.Lock()
	defer s.mu.Unlock()
	in, r := s.lookupLocked(c, id)
	if in == nil {
		return r
	}
	pi := &in.pi
	if amountSent || currencySent {
		// The bounds apply to the amount and currency the intent would have.
		newAmount, newCurrency := pi.Amount, pi.Currency
		if amountSent {
			newAmount = amount
		}
		if currencySent {
			newCurrency = currency
		}
		if r := checkAmount(newAmount, newCurrency); r.status != 0 {
			return r
		}
	}
	if (amountSent || currencySent) && !slices.Contains(updatableStatuses, pi.Status) {
		field := "amount"
		if !amountSent {
			field = "currency"
		}
		return s.unexpectedState(in, fmt.Sprintf(
			"This PaymentIntent's %s could not be updated because it has a status of %s. You may only update the %s of a PaymentIntent with one of the following statuses: %s.",
			field, pi.Status, field, strings.Join(updatableStatuses, ", ")))
	}
	pm := f.Get("payment_method")
	if pm != "" {
		if !slices.Contains(updatableStatuses, pi.Status) {
			return s.unexpectedState(in, fmt.Sprintf("You cannot update this PaymentIntent's payment method because it has a status of %s.", pi.Status))
		}
		if _, known := testCards[pm]; !known {
			return resourceMissing("PaymentMethod", "payment_method", pm)
		}
	}
	changedMoney := (amountSent && amount != pi.Amount) || (currencySent && currency != pi.Currency)
	if amountSent {
		pi.Amount = amount
	}
	if currencySent {
		pi.Currency = currency
	}
	if metadataSent {
		if len(metadata) == 0 && f.Has("metadata") {
			pi.Metadata = map[string]string{}
		}
		for k, v := range metadata {
			if v == "" {
				delete(pi.Metadata, k)
			} else {
				pi.Metadata[k] = v
			}
		}
	}
	if f.Has("description") {
		pi.Description = strPtr(f.Get("description"))
	}
	if f.Has("receipt_email") {
		pi.ReceiptEmail = strPtr(f.Get("receipt_email"))
	}
	if typesSent && len(types) > 0 {
		pi.PaymentMethodTypes = types
	}
	if pm != "" {
		pi.PaymentMethod = &pm
		pi.NextAction = nil
		pi.Status = StatusRequiresConfirmation
	} else if changedMoney && pi.Status == StatusRequiresAction {
		// The authentication was for the old amount: confirm again.
		pi.NextAction = nil
		in.challengeToken = ""
		pi.Status = StatusRequiresConfirmation
	}
	return jsonResponse(http.StatusOK, *pi)
}

func (s *Sim) unexpectedState(in *intent, msg string) response {
	snap := in.pi.clone()
	return errResponse(http.StatusBadRequest, Error{Type: ErrorTypeInvalidRequest,
		Code: "payment_intent_unexpected_state", Message: msg, PaymentIntent: &snap})
}

func (s *Sim) confirmPaymentIntent(c *call, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, r := s.lookupLocked(c, id)
	if in == nil {
		return r
	}
	return s.confirmLocked(c, in, c.form.Get("payment_method"), c.form.Get("return_url"))
}

// confirmLocked runs a confirmation with pm (or the intent's own payment
// method when pm is ""). s.mu is held.
func (s *Sim) confirmLocked(c *call, in *intent, pm, returnURL string) response {
	pi := &in.pi
	if !slices.Contains(updatableStatuses, pi.Status) {
		return s.unexpectedState(in, fmt.Sprintf("You cannot confirm this PaymentIntent because it has a status of %s.", pi.Status))
	}
	if pm == "" && pi.PaymentMethod != nil {
		pm = *pi.PaymentMethod
	}
	if pm == "" {
		return s.unexpectedState(in, "You cannot confirm this PaymentIntent because it's missing a payment method. Update the PaymentIntent with a payment method and then confirm it again.")
	}
	card, known := testCards[pm]
	if !known {
		return resourceMissing("PaymentMethod", "payment_method", pm)
	}
	if returnURL != "" {
		in.returnURL = returnURL
	}
	pi.PaymentMethod = &pm
	pi.LastPaymentError = nil
	pi.NextAction = nil
	switch card.outcome {
	case "succeed":
		s.succeedLocked(in, c)
	case "3ds":
		in.challengeToken = newID("", 24)
		pi.Status = StatusRequiresAction
		pi.NextAction = &NextAction{
			Type: "redirect_to_url",
			RedirectToURL: &RedirectToURL{
				URL:       c.baseURL + "/challenge/" + pi.ID + "/" + in.challengeToken,
				ReturnURL: in.returnURL,
			},
		}
	case "decline":
		e := s.failLocked(in, Error{Type: ErrorTypeCard, Code: card.code, DeclineCode: card.declineCode,
			Message: card.message, DocURL: "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(card.code, "_", "-")}, pm, c)
		snap := pi.clone()
		e.PaymentIntent = &snap
		return errResponse(http.StatusPaymentRequired, e)
	}
	return jsonResponse(http.StatusOK, *pi)
}

// succeedLocked completes a payment and emits payment_intent.succeeded.
func (s *Sim) succeedLocked(in *intent, c *call) {
	pi := &in.pi
	pi.Status = StatusSucceeded
	pi.AmountReceived = pi.Amount
	pi.NextAction = nil
	pi.LastPaymentError = nil
	pi.LatestCharge = strPtr(newID("ch_", 24))
	in.challengeToken = ""
	s.emitLocked(EventPaymentIntentSucceeded, *pi, c)
}

// failLocked records a failed payment attempt and emits
// payment_intent.payment_failed. It returns the error as stored.
func (s *Sim) failLocked(in *intent, e Error, pm string, c *call) Error {
	pi := &in.pi
	e.PaymentMethod = &PaymentMethod{ID: pm, Object: "payment_method", Type: "card"}
	stored := e
	pi.Status = StatusRequiresPaymentMethod
	pi.PaymentMethod = nil
	pi.NextAction = nil
	pi.LastPaymentError = &stored
	pi.LatestCharge = strPtr(newID("ch_", 24))
	in.challengeToken = ""
	s.emitLocked(EventPaymentIntentPaymentFailed, *pi, c)
	return e
}

var cancellationReasons = []string{"duplicate", "fraudulent", "requested_by_customer", "abandoned"}

func (s *Sim) cancelPaymentIntent(c *call, id string) response {
	if c.public {
		return publicOnly()
	}
	reason := c.form.Get("cancellation_reason")
	if reason != "" && !slices.Contains(cancellationReasons, reason) {
		return paramError("parameter_invalid_string", "cancellation_reason",
			"Invalid cancellation_reason: must be one of "+strings.Join(cancellationReasons, ", "))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in, r := s.lookupLocked(c, id)
	if in == nil {
		return r
	}
	pi := &in.pi
	if !slices.Contains(updatableStatuses, pi.Status) {
		return s.unexpectedState(in, fmt.Sprintf(
			"You cannot cancel this PaymentIntent because it has a status of %s. Only a PaymentIntent with one of the following statuses may be canceled: %s.",
			pi.Status, strings.Join(updatableStatuses, ", ")))
	}
	t := s.cfg.Now().Unix()
	pi.Status = StatusCanceled
	pi.CanceledAt = &t
	pi.CancellationReason = strPtr(reason)
	pi.NextAction = nil
	in.challengeToken = ""
	s.emitLocked(EventPaymentIntentCanceled, *pi, c)
	return jsonResponse(http.StatusOK, *pi)
}

// newIntentLocked creates and registers a PaymentIntent: through the API,
// or for a hosted checkout.
func (s *Sim) newIntentLocked(amount int64, currency string, metadata map[string]string, desc string, types []string, status string) *intent {
	id := newID("pi_", 24)
	if metadata == nil {
		metadata = map[string]string{}
	}
	in := &intent{pi: PaymentIntent{
		ID:                 id,
		Object:             "payment_intent",
		Amount:             amount,
		CaptureMethod:      "automatic",
		ClientSecret:       id + "_secret_" + newID("", 25),
		ConfirmationMethod: "automatic",
		Created:            s.cfg.Now().Unix(),
		Currency:           currency,
		Description:        strPtr(desc),
		Metadata:           maps.Clone(metadata),
		PaymentMethodTypes: types,
		Status:             status,
	}, seq: len(s.piOrder)}
	s.intents[id] = in
	s.piOrder = append(s.piOrder, id)
	s.created++
	return in
}
