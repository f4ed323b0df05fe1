package workertest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/onecharge/onecharge/server/contracttest"
	"github.com/onecharge/onecharge/server/testenv"
)

// Stripe is a standalone simulator (server/cmd/stripesim, built by Build
// into the build directory, never a stale bin/stripesim) running on a free
// port with secrets drawn for it; Options.Stripe starts one per Worker. The contract suite reaches it
// over HTTP only, through the embedded contracttest.API: PaymentIntents
// are counted with stripe-go's PaymentIntents.List and the secret key,
// payments are confirmed with the publishable key and the client secret.
type Stripe struct {
	contracttest.API
	WebhookSecret string

	log *testenv.SyncBuffer
	sup *supervised
}

// Log is what the simulator printed so far.
func (s *Stripe) Log() string { return s.log.String() }

var listening = regexp.MustCompile(`(?m)^stripesim listening on (\S+)$`)

// startStripe runs bin with PORT=0, delivering every event to each of
// webhookURLs, and waits for its "listening on" line; it is stopped when
// the test ends. It may run on any goroutine (no t.Fatal).
func startStripe(t testing.TB, bin string, webhookURLs []string) (*Stripe, error) {
	s := &Stripe{
		API: contracttest.API{
			SecretKey:      "sk_test_workertest_" + randomHex(16),
			PublishableKey: "pk_test_workertest_" + randomHex(8),
		},
		WebhookSecret: "whsec_" + randomHex(24),
		log:           &testenv.SyncBuffer{},
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"PORT=0",
		"STRIPESIM_SECRET_KEY="+s.SecretKey,
		"STRIPESIM_PUBLISHABLE_KEY="+s.PublishableKey,
		"STRIPESIM_WEBHOOK_SECRET="+s.WebhookSecret,
		"STRIPESIM_WEBHOOK_URL="+strings.Join(webhookURLs, ","),
	)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	sup, err := supervise(cmd)
	if err != nil {
		return nil, fmt.Errorf("start stripesim: %v", err)
	}
	s.sup = sup
	t.Cleanup(sup.stop)
	deadline := time.After(30 * time.Second)
	for {
		if m := listening.FindStringSubmatch(s.log.String()); m != nil {
			// It listens on every interface and names localhost: the
			// Worker gets the IPv4 loopback address, as workerd resolves
			// localhost its own way.
			u, err := url.Parse(m[1])
			if err != nil || u.Port() == "" {
				return nil, fmt.Errorf("stripesim printed %q: no port", m[0])
			}
			s.Base = "http://" + net.JoinHostPort("127.0.0.1", u.Port())
			return s, nil
		}
		select {
		case <-sup.exited:
			return nil, fmt.Errorf("stripesim exited before listening:\n%s", s.log.String())
		case <-deadline:
			return nil, fmt.Errorf("stripesim not listening after 30s:\n%s", s.log.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
