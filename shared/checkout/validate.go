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
