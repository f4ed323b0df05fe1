package modeltest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/onecharge/onecharge/server/httpapi"
	"github.com/onecharge/onecharge/shared/checkout"
	"github.com/onecharge/onecharge/shared/keyflow"
)

// shopper is one browser: its own cookie jar, so its own user.
type shopper struct {
	name   string
	userID string
	http   *http.Client
	tabs   []*tab
}

// tab is one page holding a stored key. A raw tab is driven request by
// request, so it can also send what no honest browser sends; a keyflow tab
// is the real client lifecycle (shared/keyflow: retries, rotation,
// clear-and-retry) over the test's HTTP client.
type tab struct {
	name    string
	sh      *shopper
	key     string   // raw tab: the stored key ("" none)
	history []string // every key this tab stored, oldest first
	nonce   string   // the nonce of the tab's last first call
	nonceAt time.Time
	cart    []checkout.Item
	method  checkout.PaymentMethod
	pi      *checkout.PaymentIntent // the last PaymentIntent it was answered

	kf      *keyflow.Client
	kfStore *keyflow.MemoryStore
}

func (tb *tab) storedKey() string {
	if tb.kf != nil {
		k, _ := tb.kfStore.Get()
		return k
	}
	return tb.key
}

func (tb *tab) setKey(k string) {
	if tb.kf != nil {
		if k == "" {
			tb.kfStore.Clear()
		} else {
			tb.kfStore.Set(k)
		}
	} else {
		tb.key = k
	}
	if k != "" && (len(tb.history) == 0 || tb.history[len(tb.history)-1] != k) {
		tb.history = append(tb.history, k)
	}
}

// reply is one HTTP answer, or the error of a request that got none (a
// killed request, a dropped connection).
type reply struct {
	Status int
	Header http.Header
	Body   []byte
	Err    error
}

func (r reply) code() checkout.Code {
	var b checkout.ErrorBody
	_ = json.Unmarshal(r.Body, &b)
	return b.Error.Code
}

func (r reply) String() string {
	if r.Err != nil {
		return "no answer (" + shortErr(r.Err) + ")"
	}
	if r.Status >= 400 {
		return fmt.Sprintf("%d %s", r.Status, r.code())
	}
	return fmt.Sprint(r.Status)
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// send is safe to call from several goroutines: it never fails the test.
func send(c *http.Client, method, rawURL string, body []byte, header map[string]string) reply {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		return reply{Err: err}
	}
	// Go's transport resends a request whose connection dropped when it
	// is "replayable", which a body it can rewind and an Idempotency-Key
	// header make it: the model would then see the retry's answer for the
	// killed request. A browser does not resend; neither do the shoppers.
	req.GetBody = nil
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return reply{Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{Status: resp.StatusCode, Header: resp.Header, Err: err}
	}
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// userIDOf reads the user id from the session cookie (id.signature).
func userIDOf(c *http.Client, base string) (string, error) {
	u, _ := url.Parse(base)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == httpapi.SessionCookie {
			id, _, ok := strings.Cut(ck.Value, ".")
			if ok {
				return id, nil
			}
		}
	}
	return "", errors.New("no session cookie")
}

// validation is one POST /api/orders/validate as sent.
type validation struct {
	tab    *tab
	items  []checkout.Item
	method checkout.PaymentMethod
	key    string // the idempotency_key sent ("" none)
	nonce  string // the Idempotency-Key header sent ("" none)
	body   []byte // when set, sent instead of the encoded fields (bad requests)
	want   checkout.Code
}

func (v validation) encode() []byte {
	if v.body != nil {
		return v.body
	}
	b, _ := json.Marshal(checkout.ValidateRequest{Items: v.items, PaymentMethod: v.method, IdempotencyKey: v.key})
	return b
}

func (v validation) header() map[string]string {
	h := map[string]string{"Content-Type": "application/json"}
	if v.nonce != "" {
		h["Idempotency-Key"] = v.nonce
	}
	return h
}

func (v validation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s validate %s %s", v.tab.label(), v.method, itemsString(v.items))
	if v.key != "" {
		fmt.Fprintf(&b, " key=%s", short(v.key))
	}
	if v.nonce != "" {
		fmt.Fprintf(&b, " nonce=%s", v.nonce)
	}
	if v.want != "" {
		fmt.Fprintf(&b, " body=%s", v.body)
	}
	return b.String()
}

func (tb *tab) label() string { return tb.sh.name + "/" + tb.name }

func itemsString(items []checkout.Item) string {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = fmt.Sprintf("%s×%d", it.ProductID, it.Quantity)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// short abbreviates an id for the logs.
func short(id string) string {
	if len(id) > 11 {
		return id[:11]
	}
	return id
}

// kfTransport is keyflow.Transport over the shopper's HTTP client; every
// attempt keyflow makes goes through the world's observations and checks.
type kfTransport struct {
	w   *world
	tab *tab
}

func (tr *kfTransport) Do(ctx keyflow.Context, r keyflow.Request) (keyflow.Response, error) {
	var body checkout.ValidateRequest
	_ = json.Unmarshal(r.Body, &body)
	v := validation{tab: tr.tab, items: body.Items, method: body.PaymentMethod, key: body.IdempotencyKey,
		nonce: r.Header["Idempotency-Key"], body: r.Body}
	fired := tr.w.gw.hasFired()
	rep := tr.w.validateOnce(v)
	if rep.Err != nil {
		if !fired && tr.w.gw.hasFired() {
			// This very attempt was killed: keyflow made its key or nonce
			// (a new nonce after payment_already_completed's clear, say),
			// so the kill is recorded under what the attempt carried.
			id := v.key
			if id == "" {
				id = sh(v) + v.nonce
			}
			tr.w.killedAt[id] = tr.w.env.Clock.Now()
		}
		return keyflow.Response{}, rep.Err
	}
	h := map[string]string{}
	for k := range rep.Header {
		h[strings.ToLower(k)] = rep.Header.Get(k)
	}
	return keyflow.Response{Status: rep.Status, Header: h, Body: rep.Body}, nil
}
