package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/onecharge/onecharge/server/checkoutsvc"
)

// Authenticator tells which user a request belongs to. A shop plugs its own
// (for example one that checks a JWT from its auth provider); the default
// is CookieAuth.
type Authenticator interface {
	// Authenticate returns the user id (a UUID string) of r, and may set
	// cookies on w. An error answers 401 unless it is an *checkout.Error.
	Authenticate(w http.ResponseWriter, r *http.Request) (userID string, err error)
}

// SessionCookie is the name of the default authenticator's cookie.
const SessionCookie = "onecharge_session"

// CookieAuth issues each new visitor an anonymous user id (a random UUID) in
// an HMAC-SHA256-signed, HttpOnly, SameSite=Lax cookie. A cookie whose
// signature does not verify is treated as absent: the visitor gets a fresh
// id, never an error.
type CookieAuth struct {
	Secret []byte        // at least 32 bytes; not to be changed once in use
	Secure bool          // set the Secure attribute (behind HTTPS)
	MaxAge time.Duration // cookie lifetime; default one year

	// macs holds *cookieMAC: HMAC states keyed with Secret, reused, since
	// keying one costs more than the MAC of an id (every API request
	// verifies its cookie).
	macs sync.Pool
}

// cookieMAC is an HMAC-SHA256 keyed with the secret, and room for one
// id, its MAC and the MAC's encoding, so that signing allocates nothing.
type cookieMAC struct {
	h   hash.Hash
	in  [uuidLen]byte
	sum [sha256.Size]byte
	enc [43]byte // base64.RawURLEncoding.EncodedLen(sha256.Size)
}

const uuidLen = 36

// mac returns the encoded MAC of id (a UUID, uuidLen bytes), valid until
// m goes back to the pool.
func (a *CookieAuth) mac(id string) (*cookieMAC, []byte) {
	m, _ := a.macs.Get().(*cookieMAC)
	if m == nil {
		m = &cookieMAC{h: hmac.New(sha256.New, a.Secret)}
	} else {
		m.h.Reset()
	}
	n := copy(m.in[:], id)
	m.h.Write(m.in[:n])
	base64.RawURLEncoding.Encode(m.enc[:], m.h.Sum(m.sum[:0]))
	return m, m.enc[:]
}

// Authenticate implements Authenticator.
func (a *CookieAuth) Authenticate(w http.ResponseWriter, r *http.Request) (string, error) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if id, ok := a.verify(c.Value); ok {
			return id, nil
		}
	}
	id, err := newUUID()
	if err != nil {
		return "", err
	}
	maxAge := a.MaxAge
	if maxAge <= 0 {
		maxAge = 365 * 24 * time.Hour
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: a.sign(id), Path: "/",
		MaxAge: int(maxAge.Seconds()), HttpOnly: true, Secure: a.Secure, SameSite: http.SameSiteLaxMode,
	})
	return id, nil
}

func (a *CookieAuth) sign(id string) string {
	m, enc := a.mac(id)
	v := id + "." + string(enc)
	a.macs.Put(m)
	return v
}

// verify reports whether v is sign(id) for the id it starts with.
func (a *CookieAuth) verify(v string) (string, bool) {
	id, sig, ok := strings.Cut(v, ".")
	if !ok || !isUUID(id) {
		return "", false
	}
	m, enc := a.mac(id)
	defer a.macs.Put(m)
	return id, hmac.Equal(enc, []byte(sig)) // the conversion copies nothing: hmac.Equal keeps no reference
}

func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// isUUID reports whether s is a UUID in lower case, as newUUID makes
// them.
func isUUID(s string) bool {
	id, err := checkoutsvc.ParseUserID(s)
	return err == nil && id == s
}

type userKey struct{}

// UserID returns the authenticated user of a request's context.
func UserID(ctx context.Context) string {
	id, _ := ctx.Value(userKey{}).(string)
	return id
}

var errUnauthenticated = errors.New("unauthenticated")
