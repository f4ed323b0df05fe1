package httpapi_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/onecharge/onecharge/server/httpapi"
	"github.com/onecharge/onecharge/server/testenv"
)

// One info line per API request, as the server's text logger writes it.
func TestAccessLog(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
		var out testenv.SyncBuffer
		h := httpapi.NewHandler(httpapi.Config{
			Service: env.Service, Auth: &httpapi.CookieAuth{Secret: []byte(strings.Repeat("k", 32))},
			Logger: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: level})),
		})
		for _, path := range []string{"/api/cart", "/healthz", "/api/nope"} {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
		}
		if level == slog.LevelWarn {
			assert.Empty(t, out.String(), "info lines are not written at warn level")
			continue
		}
		lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
		if assert.Len(t, lines, 2, "%s", out.String()) {
			assert.Regexp(t, regexp.MustCompile(`^time=\S+ level=INFO msg=http method=GET path=/api/cart status=200 dur=\d+(\.\d+)?(µs|ms|s)$`), lines[0])
			assert.Regexp(t, regexp.MustCompile(`^time=\S+ level=INFO msg=http method=GET path=/api/nope status=404 dur=\S+$`), lines[1])
		}
	}
}
