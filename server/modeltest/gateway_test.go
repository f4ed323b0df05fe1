package modeltest

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/onecharge/onecharge/server/checkoutsvc"
)

// Gateway operations a plan can target.
const (
	opCreate  = "create"
	opUpdate  = "update"
	opGet     = "get"
	opSession = "session"
	opAny     = ""
)

// When a plan fires.
const (
	killBefore = "kill-before" // the process dies before the Stripe call
	killAfter  = "kill-after"  // the Stripe call happened, the process dies before it hears of it
	pause      = "pause"       // the call waits until released (a slow request)
)

// faultGateway wraps the service's gateway and, when armed, kills the
// request at one Stripe call (panic(http.ErrAbortHandler): nothing after
// that point runs, as when the process dies, and the key's lock is left
// held) or holds it there until released. Methods it does not override
// pass through untouched.
type faultGateway struct {
	checkoutsvc.Gateway

	mu   sync.Mutex
	plan *gatewayPlan
}

// gatewayPlan is one armed fault; it fires at most once.
type gatewayPlan struct {
	op, when string
	hit      chan struct{} // closed when the plan fires
	release  chan struct{} // pause: closed to let the call go on
	fired    bool
	firedOp  string
}

func newPlan(op, when string) *gatewayPlan {
	return &gatewayPlan{op: op, when: when, hit: make(chan struct{}), release: make(chan struct{})}
}

func (g *faultGateway) arm(p *gatewayPlan) {
	g.mu.Lock()
	g.plan = p
	g.mu.Unlock()
}

// disarm removes the plan and reports whether it fired.
func (g *faultGateway) disarm() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.plan
	g.plan = nil
	return p != nil && p.fired
}

// hasFired reports whether the armed plan has fired.
func (g *faultGateway) hasFired() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.plan != nil && g.plan.fired
}

func (g *faultGateway) around(op string, call func()) {
	g.mu.Lock()
	p := g.plan
	if p == nil || p.fired || (p.op != opAny && p.op != op) {
		g.mu.Unlock()
		call()
		return
	}
	p.fired, p.firedOp = true, op
	g.mu.Unlock()
	switch p.when {
	case killBefore:
		close(p.hit)
		panic(http.ErrAbortHandler)
	case killAfter:
		call()
		close(p.hit)
		panic(http.ErrAbortHandler)
	case pause:
		close(p.hit)
		select {
		case <-p.release:
		case <-time.After(30 * time.Second):
		}
		call()
	default:
		call()
	}
}

func (g *faultGateway) CreatePaymentIntent(ctx context.Context, p checkoutsvc.CreateIntentParams) (pi checkoutsvc.PaymentIntent, err error) {
	g.around(opCreate, func() { pi, err = g.Gateway.CreatePaymentIntent(ctx, p) })
	return
}

func (g *faultGateway) UpdatePaymentIntent(ctx context.Context, id string, amount int64, currency, idem string) (pi checkoutsvc.PaymentIntent, err error) {
	g.around(opUpdate, func() { pi, err = g.Gateway.UpdatePaymentIntent(ctx, id, amount, currency, idem) })
	return
}

func (g *faultGateway) GetPaymentIntent(ctx context.Context, id string) (pi checkoutsvc.PaymentIntent, err error) {
	g.around(opGet, func() { pi, err = g.Gateway.GetPaymentIntent(ctx, id) })
	return
}

func (g *faultGateway) CreateCheckoutSession(ctx context.Context, p checkoutsvc.CheckoutSessionParams) (cs checkoutsvc.CheckoutSession, err error) {
	g.around(opSession, func() { cs, err = g.Gateway.CreateCheckoutSession(ctx, p) })
	return
}
