package contracttest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/contracttest"
	"github.com/onecharge/onecharge/server/httpapi"
	"github.com/onecharge/onecharge/server/memstore"
	"github.com/onecharge/onecharge/server/stripepay"
	"github.com/onecharge/onecharge/server/stripesim"
	"github.com/onecharge/onecharge/shared/checkout"
)

// inProcessSim is the contract suite's Stripe over an in-process simulator.
type inProcessSim struct {
	sim *stripesim.Sim
	url string
}

func (s inProcessSim) Confirm(ctx context.Context, id, secret, pm string) (string, error) {
	return contracttest.Confirm(ctx, http.DefaultClient, s.url, s.sim.PublishableKey(), id, secret, pm)
}

func (s inProcessSim) PaymentIntents(context.Context) (int, error) {
	return s.sim.CreatedPaymentIntents(), nil
}

// TestNative runs the suite against the native handler on the memory
// store: the suite's own check, and an example for other targets.
func TestNative(t *testing.T) {
	sim := stripesim.New(stripesim.Config{SecretKey: "sk_test_contract", WebhookSecret: "whsec_contract"})
	t.Cleanup(func() { sim.Close() })
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	gateway, err := stripepay.New(stripepay.Config{SecretKey: "sk_test_contract", WebhookSecret: "whsec_contract", APIBase: simSrv.URL, NoRetryDelay: true})
	if err != nil {
		t.Fatal(err)
	}
	svc := checkoutsvc.New(checkoutsvc.Service{Store: memstore.New(), Gateway: gateway, StaleAfter: 200 * time.Millisecond})
	srv := httptest.NewServer(httpapi.NewHandler(httpapi.Config{
		Service: svc,
		Auth:    &httpapi.CookieAuth{Secret: []byte("0123456789abcdef0123456789abcdef")},
		Stripe:  checkout.StripeConfig{PublishableKey: sim.PublishableKey(), APIBase: simSrv.URL, Simulated: true},
	}))
	t.Cleanup(srv.Close)
	sim.SetWebhookURL(srv.URL + "/api/stripe/webhook")
	contracttest.Run(t, contracttest.Target{BaseURL: srv.URL, Stripe: inProcessSim{sim, simSrv.URL}, StaleAfter: svc.StaleAfter})
}
