package stripepay_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/stripepay"
)

func eventJSON(id, typ, version, object string) []byte {
	return []byte(`{"id":"` + id + `","object":"event","api_version":"` + version + `","created":1700000000,` +
		`"livemode":false,"pending_webhooks":1,"type":"` + typ + `","data":{"object":` + object + `}}`)
}

const piObject = `{"id":"pi_123","object":"payment_intent","amount":5000,"currency":"usd","status":"succeeded",` +
	`"client_secret":"pi_123_secret_x","metadata":{"onecharge_key":"ik_abc","user_id":"u1"}}`

func sign(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at}).Header
}

func TestParseEvent(t *testing.T) {
	t.Parallel()
	gw, err := stripepay.New(stripepay.Config{SecretKey: secretKey, WebhookSecret: webhookSecret})
	require.NoError(t, err)
	now := time.Now()

	t.Run("OK", func(t *testing.T) {
		tests := []struct {
			name    string
			payload []byte
			want    checkoutsvc.Event
		}{
			{"PaymentSucceeded", eventJSON("evt_1", "payment_intent.succeeded", stripe.APIVersion, piObject),
				checkoutsvc.Event{ID: "evt_1", Type: checkoutsvc.EventPaymentSucceeded, PaymentIntentID: "pi_123", OnechargeKey: "ik_abc", MetadataUserID: "u1", Amount: 5000, Currency: "usd"}},
			{"PaymentFailed", eventJSON("evt_2", "payment_intent.payment_failed", stripe.APIVersion, piObject),
				checkoutsvc.Event{ID: "evt_2", Type: checkoutsvc.EventPaymentFailed, PaymentIntentID: "pi_123", OnechargeKey: "ik_abc", MetadataUserID: "u1", Amount: 5000, Currency: "usd"}},
			{"PaymentCanceled", eventJSON("evt_3", "payment_intent.canceled", stripe.APIVersion, piObject),
				checkoutsvc.Event{ID: "evt_3", Type: checkoutsvc.EventPaymentCanceled, PaymentIntentID: "pi_123", OnechargeKey: "ik_abc", MetadataUserID: "u1", Amount: 5000, Currency: "usd"}},
			{"CheckoutCompleted", eventJSON("evt_4", "checkout.session.completed", stripe.APIVersion,
				`{"id":"cs_test_1","object":"checkout.session","amount_total":3999,"currency":"eur","payment_intent":"pi_9","client_reference_id":"u2","metadata":{}}`),
				checkoutsvc.Event{ID: "evt_4", Type: checkoutsvc.EventCheckoutCompleted, PaymentIntentID: "pi_9", CheckoutSessionID: "cs_test_1", ClientReferenceID: "u2", Amount: 3999, Currency: "eur"}},
			{"CheckoutExpired", eventJSON("evt_8", "checkout.session.expired", stripe.APIVersion,
				`{"id":"cs_test_3","object":"checkout.session","amount_total":100,"currency":"usd","status":"expired"}`),
				checkoutsvc.Event{ID: "evt_8", Type: checkoutsvc.EventCheckoutExpired, CheckoutSessionID: "cs_test_3", Amount: 100, Currency: "usd"}},
			{"SucceededAmountReceived", eventJSON("evt_9", "payment_intent.succeeded", stripe.APIVersion,
				`{"id":"pi_r","object":"payment_intent","amount":5000,"amount_received":4000,"currency":"usd","status":"succeeded","metadata":{}}`),
				checkoutsvc.Event{ID: "evt_9", Type: checkoutsvc.EventPaymentSucceeded, PaymentIntentID: "pi_r", Amount: 4000, Currency: "usd"}},
			{"CheckoutCompletedNoIntent", eventJSON("evt_5", "checkout.session.completed", stripe.APIVersion,
				`{"id":"cs_test_2","object":"checkout.session","amount_total":0,"currency":"usd","payment_intent":null}`),
				checkoutsvc.Event{ID: "evt_5", Type: checkoutsvc.EventCheckoutCompleted, CheckoutSessionID: "cs_test_2", Currency: "usd"}},
			{"OtherType", eventJSON("evt_6", "customer.created", stripe.APIVersion, `{"id":"cus_1","object":"customer"}`),
				checkoutsvc.Event{ID: "evt_6", Type: "customer.created"}},
			{"OtherAPIVersion", eventJSON("evt_7", "payment_intent.succeeded", "2020-08-27", piObject),
				checkoutsvc.Event{ID: "evt_7", Type: checkoutsvc.EventPaymentSucceeded, PaymentIntentID: "pi_123", OnechargeKey: "ik_abc", MetadataUserID: "u1", Amount: 5000, Currency: "usd"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := gw.ParseEvent(tt.payload, sign(tt.payload, webhookSecret, now))
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
			})
		}
	})

	t.Run("ErrBadSignature", func(t *testing.T) {
		payload := eventJSON("evt_1", "payment_intent.succeeded", stripe.APIVersion, piObject)
		noSecret, err := stripepay.New(stripepay.Config{SecretKey: secretKey})
		require.NoError(t, err)
		tests := []struct {
			name      string
			gw        *stripepay.Client
			payload   []byte
			signature string
			cause     error
		}{
			{"WrongSecret", gw, payload, sign(payload, "whsec_other", now), webhook.ErrNoValidSignature},
			{"Tampered", gw, append(payload[:len(payload)-1:len(payload)-1], ' ', '}'), sign(payload, webhookSecret, now), webhook.ErrNoValidSignature},
			{"TooOld", gw, payload, sign(payload, webhookSecret, now.Add(-10*time.Minute)), webhook.ErrTooOld},
			{"Missing", gw, payload, "", webhook.ErrNotSigned},
			{"Garbage", gw, payload, "t=abc,v1=zz", webhook.ErrInvalidHeader},
			{"NoWebhookSecret", noSecret, payload, sign(payload, webhookSecret, now), nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := tt.gw.ParseEvent(tt.payload, tt.signature)
				assert.ErrorIs(t, err, checkoutsvc.ErrBadSignature)
				if tt.cause != nil {
					assert.ErrorIs(t, err, tt.cause)
				}
			})
		}
	})
}
