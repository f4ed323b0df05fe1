package stripepay_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/stripepay"
	"github.com/onecharge/onecharge/server/stripesim"
)

const (
	// secretKey is for servers that are not the simulator (stripe-mock,
	// fixed answers, closed ports), which accept any test key; the
	// simulator takes only its own, sim.SecretKey().
	secretKey     = "sk_test_stripepay"
	webhookSecret = "whsec_stripepay_test"
)

// simEnv is the simulator mounted under /_stripe, as the server mounts it,
// counting the API requests it receives.
type simEnv struct {
	sim      *stripesim.Sim
	base     string
	requests atomic.Int32
}

func mustSim(tb testing.TB, cfg stripesim.Config) *simEnv {
	tb.Helper()
	if cfg.WebhookSecret == "" {
		cfg.WebhookSecret = webhookSecret
	}
	e := &simEnv{sim: stripesim.New(cfg)}
	strip := http.StripPrefix("/_stripe", e.sim)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/_stripe/v1/") {
			e.requests.Add(1)
		}
		strip.ServeHTTP(w, r)
	}))
	e.base = srv.URL + "/_stripe"
	tb.Cleanup(func() {
		srv.Close()
		_ = e.sim.Close()
	})
	return e
}

// gateway returns a stripepay.Client for the simulator; mod adjusts the config.
func (e *simEnv) gateway(tb testing.TB, mod func(*stripepay.Config)) *stripepay.Client {
	tb.Helper()
	cfg := stripepay.Config{SecretKey: e.sim.SecretKey(), WebhookSecret: webhookSecret, APIBase: e.base, NoRetryDelay: true}
	if mod != nil {
		mod(&cfg)
	}
	c, err := stripepay.New(cfg)
	require.NoError(tb, err)
	return c
}

// stripeMockPath finds the stripe-mock binary: PATH, then $(go env GOPATH)/bin.
func stripeMockPath() (string, bool) {
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, true
	}
	gopath := ""
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		gopath = strings.TrimSpace(string(out))
	}
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	p := filepath.Join(gopath, "bin", "stripe-mock")
	if st, err := os.Stat(p); err == nil && !st.IsDir() {
		return p, true
	}
	return "", false
}

var listenRE = regexp.MustCompile(`Listening for HTTP at address: (\S+)`)

// startStripeMock runs stripe-mock on free loopback ports and returns its
// HTTP base URL. Without the binary the test fails under CI=true and is
// skipped otherwise.
func startStripeMock(tb testing.TB) string {
	tb.Helper()
	path, ok := stripeMockPath()
	if !ok {
		const msg = "stripe-mock not found: install with go install github.com/stripe/stripe-mock@v0.203.0"
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	cmd := exec.Command(path, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	require.NoError(tb, cmd.Start())
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = pw.Close()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case a := <-addr:
		return "http://" + a
	case <-time.After(15 * time.Second):
		tb.Fatal("stripe-mock did not start listening within 15s")
		return ""
	}
}
