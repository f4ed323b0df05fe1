package httpapi_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/httpapi"
)

// refSign is the cookie value of id as the contract describes it: the id,
// a dot, the unpadded URL-safe base64 of HMAC-SHA256(secret, id).
func refSign(secret []byte, id string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id))
	return id + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestCookieAuth(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	a := &httpapi.CookieAuth{Secret: secret}
	auth := func(value string) (id string, issued *http.Cookie) {
		req := httptest.NewRequest(http.MethodGet, "/api/cart", nil)
		if value != "" {
			req.AddCookie(&http.Cookie{Name: httpapi.SessionCookie, Value: value})
		}
		rec := httptest.NewRecorder()
		id, err := a.Authenticate(rec, req)
		require.NoError(t, err)
		for _, c := range rec.Result().Cookies() {
			if c.Name == httpapi.SessionCookie {
				issued = c
			}
		}
		return id, issued
	}
	id, issued := auth("")
	require.NotNil(t, issued)
	assert.Equal(t, refSign(secret, id), issued.Value, "a new cookie is signed as the reference signs")

	const user = "6f1c1a2e-0d3b-4c55-9b8e-5a7f0c2d4e61"
	good := refSign(secret, user)
	got, issued := auth(good)
	assert.Equal(t, user, got)
	assert.Nil(t, issued, "a valid cookie is kept")

	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	sig := good[len(user)+1:]
	last := sig[len(sig)-1]
	flip := func(c byte) byte {
		if c == 'A' {
			return 'B'
		}
		return 'A'
	}
	for name, value := range map[string]string{
		"FlippedSignature": good[:len(good)-1] + string(flip(last)),
		// The last of 43 characters carries 2 unused bits: another
		// character that decodes to the same bytes is still not the
		// signature.
		"OtherTrailingBits": good[:len(good)-1] + string(alphabet[strings.IndexByte(alphabet, last)^1]),
		"Truncated":         good[:len(good)-1],
		"Longer":            good + "A",
		"NoSignature":       user,
		"EmptySignature":    user + ".",
		"OtherSecret":       refSign([]byte(strings.Repeat("t", 32)), user),
		"UpperCaseID":       strings.ToUpper(user) + "." + sig,
		"NotUUID":           refSign(secret, "not-a-uuid"),
	} {
		t.Run(name, func(t *testing.T) {
			got, issued := auth(value)
			require.NotNil(t, issued, "a cookie that does not verify is treated as absent")
			assert.NotEqual(t, user, got)
		})
	}

	t.Run("Concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 200; j++ {
					req := httptest.NewRequest(http.MethodGet, "/api/cart", nil)
					req.AddCookie(&http.Cookie{Name: httpapi.SessionCookie, Value: good})
					id, err := a.Authenticate(httptest.NewRecorder(), req)
					if err != nil || id != user {
						t.Errorf("Authenticate = %q, %v", id, err)
						return
					}
				}
			}()
		}
		wg.Wait()
	})
}
