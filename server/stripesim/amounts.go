package stripesim

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// MaxAmount is the largest amount Stripe accepts: eight digits in the
// currency's minor unit (99999999 is $999,999.99).
const MaxAmount = 99999999

// chargeCurrency is a currency the simulator accepts: Stripe's minimum
// charge amount for it and how Stripe writes its amounts in messages.
type chargeCurrency struct {
	min      int64  // in minor units
	prefix   string // e.g. "$"
	suffix   string // e.g. " Ft"
	decimals int    // 0 for zero-decimal currencies (jpy), else 2
}

// chargeCurrencies is Stripe's table of minimum charge amounts
// (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts),
// one row per settlement currency; the simulator accepts these currencies
// only, so that every amount it accepts is one Stripe would accept. (For
// a presentment currency outside the table Stripe converts the amount to
// the account's settlement currency first, which no simulator can.)
var chargeCurrencies = map[string]chargeCurrency{
	"usd": {min: 50, prefix: "$", decimals: 2},
	"aed": {min: 200, suffix: " د.إ", decimals: 2},
	"aud": {min: 50, prefix: "$", decimals: 2},
	"bgn": {min: 100, prefix: "лв", decimals: 2},
	"brl": {min: 50, prefix: "R$", decimals: 2},
	"cad": {min: 50, prefix: "$", decimals: 2},
	"chf": {min: 50, suffix: " Fr", decimals: 2},
	"czk": {min: 1500, suffix: "Kč", decimals: 2},
	"dkk": {min: 250, suffix: "-kr.", decimals: 2},
	"eur": {min: 50, prefix: "€", decimals: 2},
	"gbp": {min: 30, prefix: "£", decimals: 2},
	"hkd": {min: 400, prefix: "$", decimals: 2},
	"huf": {min: 17500, suffix: " Ft", decimals: 2},
	"inr": {min: 50, prefix: "₹", decimals: 2},
	"jpy": {min: 50, prefix: "¥", decimals: 0},
	"mxn": {min: 1000, prefix: "$", decimals: 2},
	"myr": {min: 200, prefix: "RM ", decimals: 2},
	"nok": {min: 300, suffix: "-kr.", decimals: 2},
	"nzd": {min: 50, prefix: "$", decimals: 2},
	"pln": {min: 200, suffix: " zł", decimals: 2},
	"ron": {min: 200, prefix: "lei", decimals: 2},
	"sek": {min: 300, suffix: "-kr.", decimals: 2},
	"sgd": {min: 50, prefix: "$", decimals: 2},
	"thb": {min: 1000, prefix: "฿", decimals: 2},
}

// Currencies returns the currencies the simulator accepts (lower case,
// sorted): those of Stripe's table of minimum charge amounts.
func Currencies() []string {
	out := make([]string, 0, len(chargeCurrencies))
	for c := range chargeCurrencies {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// MinimumAmount returns Stripe's minimum charge amount for currency, in
// minor units (50 for "usd"); false when the simulator does not accept
// the currency.
func MinimumAmount(currency string) (int64, bool) {
	c, ok := chargeCurrencies[currency]
	return c.min, ok
}

// currencyOK reports whether the simulator accepts c (lower case).
func currencyOK(c string) bool {
	_, ok := chargeCurrencies[c]
	return ok
}

func invalidCurrency(param, sent string) response {
	return paramError("parameter_invalid_string", param,
		"Invalid currency: "+sent+". The simulator supports these currencies: "+strings.Join(Currencies(), ", ")+".")
}

// stripeAmount writes amount (minor units) of currency as Stripe does in
// its messages: "$0.50", "¥50", "175.00 Ft", "$999,999.99".
func stripeAmount(amount int64, currency string) string {
	c := chargeCurrencies[currency]
	major, minor := amount, int64(0)
	if c.decimals == 2 {
		major, minor = amount/100, amount%100
	}
	digits := strconv.FormatInt(major, 10)
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	s := b.String()
	if c.decimals == 2 {
		s += "." + strconv.FormatInt(minor/10, 10) + strconv.FormatInt(minor%10, 10)
	}
	return c.prefix + s + c.suffix
}

func amountError(code, param, msg string) response {
	r := errResponse(http.StatusBadRequest, Error{Type: ErrorTypeInvalidRequest, Code: code, Param: param, Message: msg,
		DocURL: "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(code, "_", "-")})
	r.save = false // parameter validation: not stored for idempotency
	return r
}

// checkAmount applies Stripe's bounds to a PaymentIntent's amount in
// currency (which must be accepted): at least 1 (parameter_invalid_integer
// otherwise), at least the currency's minimum charge (amount_too_small),
// at most MaxAmount (amount_too_large); all on param "amount".
func checkAmount(amount int64, currency string) response {
	c := chargeCurrencies[currency]
	switch {
	case amount < 1:
		return amountError("parameter_invalid_integer", "amount", "This value must be greater than or equal to 1.")
	case amount < c.min:
		return amountError("amount_too_small", "amount", "Amount must be at least "+stripeAmount(c.min, currency)+" "+currency)
	case amount > MaxAmount:
		return amountError("amount_too_large", "amount", "Amount must be no more than "+stripeAmount(MaxAmount, currency))
	}
	return response{}
}

// checkSessionTotal applies the same bounds to a Checkout Session's total
// (with Checkout's messages; Stripe names no param for them).
func checkSessionTotal(total int64, currency string) response {
	c := chargeCurrencies[currency]
	switch {
	case total < c.min:
		return amountError("amount_too_small", "", "The Checkout Session's total amount due must add up to at least "+stripeAmount(c.min, currency)+" "+currency)
	case total > MaxAmount:
		return amountError("amount_too_large", "", "The Checkout Session's total amount due must be no more than "+stripeAmount(MaxAmount, currency)+".")
	}
	return response{}
}

// addLine adds unit×qty to total without overflowing: any sum beyond
// MaxAmount is kept as MaxAmount+1 (too large either way).
func addLine(total, unit, qty int64) int64 {
	const over = MaxAmount + 1
	if unit > 0 && qty > over/unit {
		return over
	}
	return min(total+unit*qty, over)
}
