package contracttest_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/contracttest"
	"github.com/onecharge/onecharge/server/httpapi"
	"github.com/onecharge/onecharge/server/memstore"
	"github.com/onecharge/onecharge/server/stripepay"
	"github.com/onecharge/onecharge/server/stripesim"
	"github.com/onecharge/onecharge/shared/checkout"
)

// TestNative runs the suite against the native handler on the memory
// store, with the simulator in-process behind an HTTP server of its own
// (reached over HTTP only, as bin/stripesim is by the Worker suite): the
// suite's own check, and an example for other targets.
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
	stripe := contracttest.API{Base: simSrv.URL, SecretKey: sim.SecretKey(), PublishableKey: sim.PublishableKey()}
	contracttest.Run(t, contracttest.Target{BaseURL: srv.URL, Stripe: stripe, StaleAfter: svc.StaleAfter})
	assert.Equal(t, sim.CreatedPaymentIntents(), len(sim.PaymentIntents()), "nothing was deleted: listing counts what was created")
}
