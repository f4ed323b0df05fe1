package checkout

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of an order.
const (
	MaxLines       = 50
	MinQuantity    = 1
	MaxQuantity    = 99
	MaxProductID   = 64
	MaxEmailLength = 254
	// MaxBodyBytes is the largest request body the API reads.
	MaxBodyBytes = 64 << 10
)

// ValidateItems checks the shape of the requested lines, before any catalog
// lookup:
//   - at least one line and at most MaxLines;
//   - every product id well formed (ValidateProductID);
//   - no product twice;
//   - every quantity within MinQuantity..MaxQuantity.
//
// The error is an *Error with CodeInvalidItems.
func ValidateItems(items []Item) error {
	if len(items) == 0 {
		return NewError(CodeInvalidItems, "The order has no items.")
	}
	if len(items) > MaxLines {
		return NewError(CodeInvalidItems, "The order has "+strconv.Itoa(len(items))+" lines; at most "+strconv.Itoa(MaxLines)+" are allowed.")
	}
	seen := make(map[string]bool, len(items))
	for i, it := range items {
		if err := ValidateProductID(it.ProductID); err != nil {
			return NewError(CodeInvalidItems, "Item "+strconv.Itoa(i+1)+": "+err.(*Error).Message)
		}
		if seen[it.ProductID] {
			return NewError(CodeInvalidItems, "Product "+strconv.Quote(it.ProductID)+" appears more than once.")
		}
		seen[it.ProductID] = true
		if err := ValidateQuantity(it.Quantity); err != nil {
			return NewError(CodeInvalidItems, "Item "+strconv.Itoa(i+1)+": "+err.(*Error).Message)
		}
	}
	return nil
}

// ValidateQuantity checks that q is within MinQuantity..MaxQuantity.
func ValidateQuantity(q int) error {
	if q < MinQuantity || q > MaxQuantity {
		return NewError(CodeInvalidItems, "quantity "+strconv.Itoa(q)+" is outside "+strconv.Itoa(MinQuantity)+".."+strconv.Itoa(MaxQuantity)+".")
	}
	return nil
}

// ValidateProductID checks that id is 1..MaxProductID characters of
// [A-Za-z0-9_-].
func ValidateProductID(id string) error {
	if id == "" {
		return NewError(CodeInvalidItems, "product_id is missing.")
	}
	if len(id) > MaxProductID || !isToken(id) {
		return NewError(CodeInvalidItems, "product_id is not a valid product id.")
	}
	return nil
}

// ParsePaymentMethod accepts exactly CARD, CARD_TEST and CASH_ON_DELIVERY.
// The error is an *Error with CodeInvalidPaymentMethod.
func ParsePaymentMethod(s string) (PaymentMethod, error) {
	switch m := PaymentMethod(s); m {
	case MethodCard, MethodCardTest, MethodCashOnDelivery:
		return m, nil
	}
	return "", NewError(CodeInvalidPaymentMethod, "payment_method must be one of CARD, CARD_TEST, CASH_ON_DELIVERY.")
}

// ValidateEmail accepts "" (email is optional) or a plausible address: at
// most MaxEmailLength bytes of valid UTF-8, no spaces or control characters,
// exactly one "@" with text on both sides and a dot in the domain. Real
// verification is the shop's business; this only rejects garbage.
// The error is an *Error with CodeInvalidRequest.
func ValidateEmail(s string) error {
	if s == "" {
		return nil
	}
	bad := len(s) > MaxEmailLength || !utf8.ValidString(s) || strings.Count(s, "@") != 1
	at := strings.IndexByte(s, '@')
	if !bad {
		local, domain := s[:at], s[at+1:]
		bad = local == "" || domain == "" || !strings.Contains(domain, ".") ||
			strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".")
	}
	if !bad {
		bad = strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f })
	}
	if bad {
		return NewError(CodeInvalidRequest, "email is not a valid address.")
	}
	return nil
}

// PriceItems prices validated items against the catalog. Unknown and
// inactive products, and products in more than one currency, are rejected
// with CodeInvalidItems. lookup returns the catalog entry for an id.
func PriceItems(items []Item, lookup func(id string) (Product, bool)) (Order, error) {
	if err := ValidateItems(items); err != nil {
		return Order{}, err
	}
	order := Order{Items: make([]Line, 0, len(items))}
	for _, it := range items {
		p, ok := lookup(it.ProductID)
		if !ok || !p.Active {
			return Order{}, NewError(CodeInvalidItems, "Product "+strconv.Quote(it.ProductID)+" is not for sale.")
		}
		if order.Currency == "" {
			order.Currency = p.Currency
		} else if order.Currency != p.Currency {
			return Order{}, NewError(CodeInvalidItems, "Products in one order must share one currency.")
		}
		order.Items = append(order.Items, Line{ProductID: p.ID, Name: p.Name, Quantity: it.Quantity, UnitAmount: p.UnitAmount})
		order.Amount += p.UnitAmount * int64(it.Quantity)
	}
	return order, nil
}

// Validate applies the catalog-free rules to a decoded request.
func (req ValidateRequest) Validate() error {
	if req.IdempotencyKey != "" {
		if _, err := ParseKey(req.IdempotencyKey); err != nil {
			return err
		}
	}
	if err := ValidateEmail(req.Email); err != nil {
		return err
	}
	if err := ValidateItems(req.Items); err != nil {
		return err
	}
	if _, err := ParsePaymentMethod(string(req.PaymentMethod)); err != nil {
		return err
	}
	return nil
}

// isToken reports whether s consists of [A-Za-z0-9_-] only.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// MaxChargeAmount is the largest amount Stripe charges, in minor units of
// any currency (eight digits).
const MaxChargeAmount = 99_999_999

// minChargeAmounts are Stripe's minimum charge amounts, in minor units,
// for the currencies whose minimum is not 50 ("Minimum and maximum charge
// amounts" in Stripe's documentation). Amounts are what the API takes:
// jpy has no minor unit.
var minChargeAmounts = map[string]int64{
	"aed": 200, "bgn": 100, "czk": 1500, "dkk": 250, "gbp": 30, "hkd": 400,
	"huf": 17500, "mxn": 1000, "myr": 200, "nok": 300, "pln": 200, "ron": 200,
	"sek": 300, "thb": 1000,
}

// MinChargeAmount returns the smallest amount Stripe charges in currency,
// in its minor units: 50 (cents, yen, ...) unless minChargeAmounts says
// otherwise.
func MinChargeAmount(currency string) int64 {
	if m, ok := minChargeAmounts[currency]; ok {
		return m
	}
	return 50
}

// ValidateChargeAmount checks that Stripe would accept a charge of amount
// in currency: MinChargeAmount(currency)..MaxChargeAmount. Checked before
// anything is written, so a total Stripe would refuse is the shopper's
// 422, not a 502 that clients retry. The error is an *Error with
// CodeInvalidItems.
func ValidateChargeAmount(amount int64, currency string) error {
	if min := MinChargeAmount(currency); amount < min {
		return NewError(CodeInvalidItems, "The order total "+strconv.FormatInt(amount, 10)+" "+currency+
			" is below the smallest amount that can be charged ("+strconv.FormatInt(min, 10)+" "+currency+").")
	}
	if amount > MaxChargeAmount {
		return NewError(CodeInvalidItems, "The order total "+strconv.FormatInt(amount, 10)+" "+currency+
			" is above the largest amount that can be charged ("+strconv.FormatInt(MaxChargeAmount, 10)+").")
	}
	return nil
}

// NonceHeader is the request header that carries the client nonce of a
// first validation (CONTRACT.md section 5, rule 3).
const NonceHeader = "Idempotency-Key"

// MaxNonceLength is the longest first-call nonce (the NonceHeader of a
// validation without a key).
const MaxNonceLength = 255

// ValidateNonce checks a first-call nonce: 1..MaxNonceLength printable
// ASCII characters (space to tilde). The error is an *Error with
// CodeInvalidRequest.
func ValidateNonce(s string) error {
	ok := len(s) >= 1 && len(s) <= MaxNonceLength
	for i := 0; ok && i < len(s); i++ {
		ok = s[i] >= 0x20 && s[i] <= 0x7e
	}
	if !ok {
		return NewError(CodeInvalidRequest, "The "+NonceHeader+" header must be 1 to "+strconv.Itoa(MaxNonceLength)+" printable ASCII characters.")
	}
	return nil
}

// ValidOrderID reports whether id is a well-formed Stripe PaymentIntent id
// (pi_…) or Checkout Session id (cs_…): the prefix, then 1..250 of
// [A-Za-z0-9_]. GET /api/orders/{id} answers 404 for anything else
// without asking the store.
func ValidOrderID(id string) bool {
	rest, ok := strings.CutPrefix(id, "pi_")
	if !ok {
		rest, ok = strings.CutPrefix(id, "cs_")
	}
	if !ok || rest == "" || len(rest) > 250 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
