package stripesim

import (
	"crypto/subtle"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// The hosted pages a browser visits: the 3D Secure challenge of a
// PaymentIntent and the hosted Checkout page.
//
//	GET/POST /challenge/{payment_intent}/{token}
//	GET/POST /checkout/{checkout_session}
func (s *Sim) servePage(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(segs) == 3 && segs[0] == "challenge":
		s.challengePage(w, r, segs[1], segs[2])
	case len(segs) == 2 && segs[0] == "checkout":
		s.checkoutPage(w, r, segs[1])
	default:
		notFoundPage(w)
	}
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Stripe simulator</title>
<style>
body{font-family:system-ui,sans-serif;background:#f6f9fc;color:#1a1f36;margin:0}
main{max-width:28rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 2px 8px rgba(0,0,0,.08)}
h1{font-size:1.3rem}
table{width:100%;border-collapse:collapse;margin:1rem 0}
td,th{padding:.3rem 0;text-align:left}
td.n,th.n{text-align:right}
button{font-size:1rem;padding:.6rem 1.2rem;border-radius:6px;border:0;cursor:pointer;margin:.3rem .3rem .3rem 0}
.primary{background:#635bff;color:#fff}
.secondary{background:#e3e8ee;color:#1a1f36}
.note{color:#697386;font-size:.85rem}
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
{{if .Message}}<p role="status">{{.Message}}</p>{{end}}
{{if .Challenge}}
<p>Your bank asks you to confirm the payment of <strong>{{.Total}}</strong>.</p>
<form method="post">
<input type="hidden" name="action" value="complete">
<button type="submit" class="primary" id="complete" aria-label="Complete authentication">Complete authentication</button>
</form>
<form method="post">
<input type="hidden" name="action" value="fail">
<button type="submit" class="secondary" id="fail" aria-label="Fail authentication">Fail authentication</button>
</form>
{{end}}
{{if .Checkout}}
<table aria-label="Order summary">
<thead><tr><th scope="col">Item</th><th scope="col" class="n">Qty</th><th scope="col" class="n">Amount</th></tr></thead>
<tbody>
{{range .Lines}}<tr><td>{{.Name}}</td><td class="n">{{.Quantity}}</td><td class="n">{{.Amount}}</td></tr>
{{end}}</tbody>
<tfoot><tr><th scope="row" colspan="2">Total</th><td class="n" id="total">{{.Total}}</td></tr></tfoot>
</table>
<form method="post">
<button type="submit" class="primary" id="pay" aria-label="Pay">Pay</button>
</form>
{{if .CancelURL}}<p><a href="{{.CancelURL}}" id="cancel">Cancel and return</a></p>{{end}}
{{end}}
<p class="note">Simulated by onecharge's Stripe simulator. No card is charged.</p>
</main>
</body>
</html>
`))

type pageLine struct {
	Name     string
	Quantity int64
	Amount   string
}

type pageData struct {
	Title     string
	Message   string
	Challenge bool
	Checkout  bool
	Total     string
	Lines     []pageLine
	CancelURL string
}

func renderPage(w http.ResponseWriter, status int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, d)
}

func notFoundPage(w http.ResponseWriter) {
	renderPage(w, http.StatusNotFound, pageData{Title: "Not found", Message: "This page does not exist or has expired."})
}

func (s *Sim) challengePage(w http.ResponseWriter, r *http.Request, id, token string) {
	s.mu.Lock()
	in, ok := s.intents[id]
	// A challenge is live only while its intent requires the action: once
	// the intent was canceled (say) its page completes nothing.
	if !ok || in.challengeToken == "" || in.pi.Status != StatusRequiresAction ||
		subtle.ConstantTimeCompare([]byte(token), []byte(in.challengeToken)) != 1 {
		// A finished challenge: send the browser back with the outcome
		// (a double submit), otherwise nothing to show.
		if ok && r.Method == http.MethodPost && in.returnURL != "" && in.pi.NextAction == nil {
			status := "failed"
			if in.pi.Status == StatusSucceeded {
				status = "succeeded"
			}
			loc := redirectReturn(in, status)
			s.mu.Unlock()
			http.Redirect(w, r, loc, http.StatusSeeOther)
			return
		}
		s.mu.Unlock()
		notFoundPage(w)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		total := formatAmount(in.pi.Amount, in.pi.Currency)
		s.mu.Unlock()
		renderPage(w, http.StatusOK, pageData{Title: "3D Secure authentication", Challenge: true, Total: total})
		return
	case http.MethodPost:
	default:
		s.mu.Unlock()
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var status string
	switch r.PostFormValue("action") {
	case "complete":
		s.succeedLocked(in, nil)
		status = "succeeded"
	case "fail":
		pm := ""
		if in.pi.PaymentMethod != nil {
			pm = *in.pi.PaymentMethod
		}
		s.failLocked(in, Error{Type: ErrorTypeCard, Code: "payment_intent_authentication_failure",
			Message: "We are unable to authenticate your payment method. Please choose a different payment method and try again.",
			DocURL:  "https://stripe.com/docs/error-codes/payment-intent-authentication-failure"}, pm, nil)
		status = "failed"
	default:
		s.mu.Unlock()
		renderPage(w, http.StatusBadRequest, pageData{Title: "3D Secure authentication", Message: "Choose to complete or fail the authentication.", Challenge: true})
		return
	}
	loc := redirectReturn(in, status)
	s.mu.Unlock()
	if loc == "" {
		renderPage(w, http.StatusOK, pageData{Title: "Authentication " + status, Message: "You may close this window."})
		return
	}
	http.Redirect(w, r, loc, http.StatusSeeOther)
}

// redirectReturn is the intent's return_url with Stripe's query parameters;
// "" when it has none. s.mu is held.
func redirectReturn(in *intent, status string) string {
	if in.returnURL == "" {
		return ""
	}
	u, err := url.Parse(in.returnURL)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("payment_intent", in.pi.ID)
	q.Set("payment_intent_client_secret", in.pi.ClientSecret)
	q.Set("redirect_status", status)
	u.RawQuery = q.Encode()
	return u.String()
}

func (s *Sim) checkoutPage(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	ss, ok := s.sessions[id]
	if !ok {
		s.mu.Unlock()
		notFoundPage(w)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		d := pageData{Title: "Checkout", Checkout: ss.cs.Status == "open", Total: formatAmount(ss.cs.AmountTotal, ss.cs.Currency)}
		if ss.cs.CancelURL != nil {
			d.CancelURL = *ss.cs.CancelURL
		}
		for _, l := range ss.cs.LineItems {
			d.Lines = append(d.Lines, pageLine{Name: l.Name, Quantity: l.Quantity, Amount: formatAmount(l.UnitAmount*l.Quantity, l.Currency)})
		}
		if !d.Checkout {
			d.Message = "This checkout session is " + ss.cs.Status + "."
		}
		s.mu.Unlock()
		renderPage(w, http.StatusOK, d)
	case http.MethodPost:
		if ss.cs.Status == "expired" {
			// Expired (through the API): nothing to pay, nothing made.
			s.mu.Unlock()
			renderPage(w, http.StatusGone, pageData{Title: "Checkout", Message: "This checkout session is expired."})
			return
		}
		s.completeSessionLocked(ss) // a no-op when already complete (a double submit)
		loc := ss.successURL()
		s.mu.Unlock()
		http.Redirect(w, r, loc, http.StatusSeeOther)
	default:
		s.mu.Unlock()
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

var zeroDecimal = []string{"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}

// formatAmount renders minor units for people: "12.34 USD", "500 JPY".
func formatAmount(amount int64, currency string) string {
	cur := strings.ToUpper(currency)
	if slices.Contains(zeroDecimal, currency) {
		return fmt.Sprintf("%d %s", amount, cur)
	}
	return fmt.Sprintf("%d.%02d %s", amount/100, amount%100, cur)
}
