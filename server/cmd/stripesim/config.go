package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/onecharge/onecharge/server/stripesim"
)

// DefaultPort is where the simulator listens without PORT (stripe-mock's
// port, so that tools pointed at a local Stripe find it).
const DefaultPort = 12111

// config is the simulator's configuration, read from the environment only.
type config struct {
	Port                int
	SecretKey           string
	SecretKeyRandom     bool // drawn at random: printed at start-up
	PublishableKey      string
	WebhookSecret       string
	WebhookSecretRandom bool // drawn at random: printed at start-up
	WebhookURLs         []string
}

// configVars lists every variable the command reads.
var configVars = []string{"PORT", "STRIPESIM_SECRET_KEY", "STRIPESIM_PUBLISHABLE_KEY", "STRIPESIM_WEBHOOK_SECRET", "STRIPESIM_WEBHOOK_URL"}

// keyVars are the variables holding a key: each is a prefix then
// letters, digits or _.
var keyVars = []struct {
	name, what string
	format     *regexp.Regexp
}{
	{"STRIPESIM_SECRET_KEY", "a test secret key, sk_test_", regexp.MustCompile(`^sk_test_[A-Za-z0-9_]+$`)},
	{"STRIPESIM_PUBLISHABLE_KEY", "a test publishable key, pk_test_", regexp.MustCompile(`^pk_test_[A-Za-z0-9_]+$`)},
	{"STRIPESIM_WEBHOOK_SECRET", "a signing secret, whsec_", regexp.MustCompile(`^whsec_[A-Za-z0-9_]+$`)},
}

// loadConfig reads and checks the environment. Its errors are one line,
// naming the variable.
func loadConfig(getenv func(string) string) (config, error) {
	c := config{Port: DefaultPort, PublishableKey: stripesim.DefaultPublishableKey}
	if v := getenv("PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			return c, fmt.Errorf("PORT=%q: want a port number 0..65535 (0 picks a free one)", v)
		}
		c.Port = p
	}
	keys := map[string]string{}
	for _, k := range keyVars {
		v := getenv(k.name)
		if v != "" && !k.format.MatchString(v) {
			return c, fmt.Errorf("%s: want %s then letters, digits or _", k.name, k.what)
		}
		keys[k.name] = v
	}
	if c.SecretKey = keys["STRIPESIM_SECRET_KEY"]; c.SecretKey == "" {
		c.SecretKey, c.SecretKeyRandom = stripesim.RandomSecretKey(), true
	}
	if v := keys["STRIPESIM_PUBLISHABLE_KEY"]; v != "" {
		c.PublishableKey = v
	}
	if c.WebhookSecret = keys["STRIPESIM_WEBHOOK_SECRET"]; c.WebhookSecret == "" {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return c, fmt.Errorf("STRIPESIM_WEBHOOK_SECRET: cannot draw a random one: %v", err)
		}
		c.WebhookSecret, c.WebhookSecretRandom = "whsec_"+hex.EncodeToString(b), true
	}
	if v := getenv("STRIPESIM_WEBHOOK_URL"); strings.TrimSpace(v) != "" {
		for i, raw := range strings.Split(v, ",") {
			raw = strings.TrimSpace(raw)
			u, err := url.Parse(raw)
			if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
				return c, fmt.Errorf("STRIPESIM_WEBHOOK_URL: URL %d (%q) is not an absolute http(s) URL; want one or more, comma separated", i+1, raw)
			}
			if slices.Contains(c.WebhookURLs, raw) {
				return c, fmt.Errorf("STRIPESIM_WEBHOOK_URL: %q is listed twice", raw)
			}
			c.WebhookURLs = append(c.WebhookURLs, raw)
		}
	}
	return c, nil
}
