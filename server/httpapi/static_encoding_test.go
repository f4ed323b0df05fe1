package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/httpapi"
)

// site is a storefront directory served by the real handler.
type site struct {
	t   *testing.T
	dir string
	h   http.Handler
}

// A compressible, non-trivial payload (compresses well, differs by name).
func payload(name string, n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%s line %d: the quick brown fox jumps over the lazy dog\n", name, i%97)
	}
	return b.Bytes()[:n]
}

const testPage = `<!doctype html>
<html><head>
<link rel="preload" href="onecharge.wasm" as="fetch" crossorigin>
<link rel="stylesheet" href="/style.css">
<script src="onecharge.js" data-wasm="onecharge.wasm" data-wasm-exec="wasm_exec.js"></script>
<script src="https://cdn.example/lib.js"></script>
<script src="//cdn.example/other.js"></script>
<a href="#top">top</a> <a href="missing.js">gone</a> <a href="onecharge.js?x=1">queried</a>
<a href="other.html">page</a> <img src="logo.png">
</head></html>
`

func newSite(t *testing.T) *site {
	t.Helper()
	s := &site{t: t, dir: t.TempDir()}
	s.write("index.html", []byte(testPage))
	s.write("other.html", []byte("<!doctype html><p>other</p>"))
	s.write("onecharge.wasm", append([]byte("\x00asm\x01\x00\x00\x00"), payload("wasm", 300<<10)...))
	s.write("onecharge.js", payload("loader", 5000))
	s.write("wasm_exec.js", payload("exec", 4000))
	s.write("style.css", payload("css", 3000))
	s.write("logo.png", payload("png", 2000))
	s.write(".secret", []byte("hidden"))
	require.NoError(t, os.MkdirAll(filepath.Join(s.dir, "sub"), 0o755))
	s.write("sub/index.html", []byte("<!doctype html><script src=\"../onecharge.js\"></script>"))
	require.NoError(t, os.MkdirAll(filepath.Join(s.dir, "empty"), 0o755))
	s.h = httpapi.NewHandler(httpapi.Config{Web: os.DirFS(s.dir)})
	return s
}

func (s *site) write(name string, data []byte) {
	s.t.Helper()
	require.NoError(s.t, os.WriteFile(filepath.Join(s.dir, name), data, 0o644))
}

func (s *site) read(name string) []byte {
	s.t.Helper()
	data, err := os.ReadFile(filepath.Join(s.dir, name))
	require.NoError(s.t, err)
	return data
}

// get sends one request; headers are name, value pairs.
func (s *site) do(method, target string, headers ...string) *httptest.ResponseRecorder {
	s.t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, req)
	return w
}

func (s *site) get(target string, headers ...string) *httptest.ResponseRecorder {
	s.t.Helper()
	return s.do(http.MethodGet, target, headers...)
}

// decode returns the body of w decoded by its Content-Encoding.
func decode(t *testing.T, w *httptest.ResponseRecorder) []byte {
	t.Helper()
	body := w.Body.Bytes()
	var r io.Reader
	switch enc := w.Header().Get("Content-Encoding"); enc {
	case "":
		return body
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		require.NoError(t, err)
		r = zr
	default:
		t.Fatalf("unexpected Content-Encoding %q", enc)
	}
	data, err := io.ReadAll(r)
	require.NoError(t, err)
	return data
}

func version(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:16]
}

func TestStaticNegotiation(t *testing.T) {
	s := newSite(t)
	want := s.read("onecharge.wasm")
	cases := []struct {
		name     string
		accept   []string // Accept-Encoding lines; nil: no header
		encoding string
	}{
		{"NoHeader", nil, ""},
		{"EmptyHeader", []string{""}, ""},
		{"Gzip", []string{"gzip"}, "gzip"},
		{"XGzip", []string{"x-gzip"}, "gzip"},
		{"Brotli", []string{"br"}, "br"},
		{"ChromiumDefault", []string{"gzip, deflate, br, zstd"}, "br"},
		{"CaseInsensitive", []string{"GZIP, BR"}, "br"},
		{"BrotliPreferredOnTie", []string{"gzip;q=0.8, br;q=0.8"}, "br"},
		{"HigherWeightWins", []string{"gzip;q=0.5, br;q=0.4"}, "gzip"},
		{"BrotliExcluded", []string{"br;q=0, gzip"}, "gzip"},
		{"ZeroWithDecimals", []string{"br;q=0.000, gzip;q=0.0"}, ""},
		{"OnlyUnknown", []string{"deflate, zstd"}, ""},
		{"Identity", []string{"identity"}, ""},
		{"IdentityOutweighs", []string{"br;q=0.3, identity;q=0.5"}, ""},
		{"Star", []string{"*"}, "br"},
		{"StarZeroButGzip", []string{"*;q=0, gzip;q=0.2"}, "gzip"},
		{"StarLowBrNamed", []string{"*;q=0.1, br;q=0"}, "gzip"},
		{"NothingAcceptable", []string{"identity;q=0, *;q=0"}, ""},
		{"MalformedWeightIgnored", []string{"br;q=2, gzip;q=abc"}, ""},
		{"MalformedWeightOthersKept", []string{"br;q=x, gzip;q=0.1"}, "gzip"},
		{"SpacesAndParams", []string{" gzip ; q=0.9 ;level=1 , br ; q = 0.1 "}, "gzip"},
		{"SeveralLines", []string{"gzip;q=0.1", "br"}, "br"},
	}
	etags := map[string]string{} // encoding → ETag
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var headers []string
			for _, a := range c.accept {
				headers = append(headers, "Accept-Encoding", a)
			}
			w := s.get("/onecharge.wasm", headers...)
			require.Equal(t, http.StatusOK, w.Code)
			assert.Equal(t, c.encoding, w.Header().Get("Content-Encoding"))
			assert.Equal(t, "application/wasm", w.Header().Get("Content-Type"))
			assert.Contains(t, w.Header().Values("Vary"), "Accept-Encoding")
			assert.Equal(t, fmt.Sprint(w.Body.Len()), w.Header().Get("Content-Length"), "Content-Length is the length of the sent bytes")
			assert.Equal(t, want, decode(t, w), "the body decodes to the file")
			etag := w.Header().Get("ETag")
			assert.Regexp(t, `^"[0-9a-f]+"$`, etag, "a strong validator")
			if old, ok := etags[c.encoding]; ok {
				assert.Equal(t, old, etag, "one ETag per representation")
			}
			etags[c.encoding] = etag
			if c.encoding != "" {
				assert.Less(t, w.Body.Len(), len(want), "compressed")
			}
		})
	}
	assert.Len(t, map[string]bool{etags[""]: true, etags["br"]: true, etags["gzip"]: true}, 3, "each representation has its own ETag: %v", etags)
}

func TestStaticConditional(t *testing.T) {
	s := newSite(t)
	for _, enc := range []string{"br", "gzip", "identity"} {
		t.Run(enc, func(t *testing.T) {
			first := s.get("/onecharge.wasm", "Accept-Encoding", enc)
			require.Equal(t, http.StatusOK, first.Code)
			etag := first.Header().Get("ETag")
			require.NotEmpty(t, etag)

			for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
				w := s.get("/onecharge.wasm", "Accept-Encoding", enc, "If-None-Match", inm)
				assert.Equal(t, http.StatusNotModified, w.Code, "If-None-Match: %s", inm)
				assert.Empty(t, w.Body.Bytes())
				assert.Equal(t, etag, w.Header().Get("ETag"))
				assert.Equal(t, "no-cache", w.Header().Get("Cache-Control"))
				assert.Contains(t, w.Header().Values("Vary"), "Accept-Encoding")
				assert.Empty(t, w.Header().Get("Content-Encoding"), "a 304 has no body to encode")
			}
			w := s.get("/onecharge.wasm", "Accept-Encoding", enc, "If-None-Match", `"stale"`)
			assert.Equal(t, http.StatusOK, w.Code)

			// HEAD: the GET's headers, no body.
			head := s.do(http.MethodHead, "/onecharge.wasm", "Accept-Encoding", enc)
			assert.Equal(t, http.StatusOK, head.Code)
			assert.Empty(t, head.Body.Bytes())
			for _, h := range []string{"Content-Type", "Content-Length", "Content-Encoding", "ETag", "Cache-Control", "Vary"} {
				assert.Equal(t, first.Header().Values(h), head.Header().Values(h), h)
			}
		})
	}
	t.Run("OtherRepresentationsETag", func(t *testing.T) {
		br := s.get("/onecharge.wasm", "Accept-Encoding", "br").Header().Get("ETag")
		w := s.get("/onecharge.wasm", "Accept-Encoding", "gzip", "If-None-Match", br)
		assert.Equal(t, http.StatusOK, w.Code, "the brotli ETag does not validate the gzip representation")
		assert.Equal(t, "gzip", w.Header().Get("Content-Encoding"))
	})
	t.Run("IfModifiedSince", func(t *testing.T) {
		w := s.get("/style.css", "If-Modified-Since", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
		assert.Equal(t, http.StatusNotModified, w.Code)
	})
}

func TestStaticRange(t *testing.T) {
	s := newSite(t)
	content := s.read("onecharge.wasm")

	w := s.get("/onecharge.wasm", "Range", "bytes=4-11")
	require.Equal(t, http.StatusPartialContent, w.Code)
	assert.Equal(t, content[4:12], w.Body.Bytes())
	assert.Equal(t, fmt.Sprintf("bytes 4-11/%d", len(content)), w.Header().Get("Content-Range"))
	assert.Equal(t, "8", w.Header().Get("Content-Length"))
	assert.Equal(t, "bytes", w.Header().Get("Accept-Ranges"))

	// A range of the brotli representation is a range of its bytes.
	full := s.get("/onecharge.wasm", "Accept-Encoding", "br")
	w = s.get("/onecharge.wasm", "Accept-Encoding", "br", "Range", "bytes=0-99")
	require.Equal(t, http.StatusPartialContent, w.Code)
	assert.Equal(t, "br", w.Header().Get("Content-Encoding"))
	assert.Equal(t, full.Body.Bytes()[:100], w.Body.Bytes())
	assert.Equal(t, fmt.Sprintf("bytes 0-99/%d", full.Body.Len()), w.Header().Get("Content-Range"))

	// If-Range: the current ETag honours the range, a stale one sends all.
	w = s.get("/onecharge.wasm", "Accept-Encoding", "br", "Range", "bytes=0-9", "If-Range", full.Header().Get("ETag"))
	assert.Equal(t, http.StatusPartialContent, w.Code)
	w = s.get("/onecharge.wasm", "Accept-Encoding", "br", "Range", "bytes=0-9", "If-Range", `"stale"`)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, full.Body.Bytes(), w.Body.Bytes())

	w = s.get("/onecharge.wasm", "Accept-Encoding", "br", "Range", fmt.Sprintf("bytes=%d-", len(content)*2))
	assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, w.Code)
	assert.Empty(t, w.Header().Get("Content-Encoding"), "an error is not encoded")
}

func TestStaticVersionedURLs(t *testing.T) {
	s := newSite(t)
	wasmV := version(s.read("onecharge.wasm"))
	jsV := version(s.read("onecharge.js"))
	cssV := version(s.read("style.css"))
	execV := version(s.read("wasm_exec.js"))
	pngV := version(s.read("logo.png"))

	page := s.get("/", "Accept-Encoding", "br")
	require.Equal(t, http.StatusOK, page.Code)
	assert.Equal(t, "no-cache", page.Header().Get("Cache-Control"), "pages are always revalidated")
	assert.Equal(t, "text/html; charset=utf-8", page.Header().Get("Content-Type"))
	assert.Equal(t, "br", page.Header().Get("Content-Encoding"))
	html := string(decode(t, page))
	for _, want := range []string{
		`href="onecharge.wasm?v=` + wasmV + `"`,
		`href="/style.css?v=` + cssV + `"`,
		`src="onecharge.js?v=` + jsV + `" data-wasm="onecharge.wasm?v=` + wasmV + `" data-wasm-exec="wasm_exec.js?v=` + execV + `"`,
		`src="logo.png?v=` + pngV + `"`,
		// Left alone: other origins, fragments, missing files, URLs with a
		// query, and pages (whose bytes depend on their references).
		`src="https://cdn.example/lib.js"`, `src="//cdn.example/other.js"`, `href="#top"`,
		`href="missing.js"`, `href="onecharge.js?x=1"`, `href="other.html"`,
	} {
		assert.Contains(t, html, want)
	}
	assert.Equal(t, html, string(decode(t, s.get("/index.html"))), "/ and /index.html are one page")
	sub := string(decode(t, s.get("/sub/")))
	assert.Contains(t, sub, `src="../onecharge.js?v=`+jsV+`"`)

	cases := []struct {
		target, cacheControl string
	}{
		{"/onecharge.wasm?v=" + wasmV, "public, max-age=31536000, immutable"},
		{"/onecharge.js?v=" + jsV, "public, max-age=31536000, immutable"},
		{"/onecharge.wasm?v=" + jsV, "no-cache"}, // not this file's version: an old page, another build
		{"/onecharge.wasm?v=", "no-cache"},
		{"/onecharge.wasm", "no-cache"},
		{"/?v=" + version([]byte(html)), "no-cache"},
	}
	for _, c := range cases {
		w := s.get(c.target, "Accept-Encoding", "br")
		assert.Equal(t, http.StatusOK, w.Code, c.target)
		assert.Equal(t, c.cacheControl, w.Header().Get("Cache-Control"), c.target)
	}
}

func TestStaticNeverStale(t *testing.T) {
	t.Run("SameSizeAndModTime", func(t *testing.T) {
		s := newSite(t)
		path := filepath.Join(s.dir, "onecharge.js")
		info, err := os.Stat(path)
		require.NoError(t, err)
		old := s.get("/onecharge.js", "Accept-Encoding", "br")
		require.Equal(t, s.read("onecharge.js"), decode(t, old))

		next := bytes.ToUpper(s.read("onecharge.js"))
		require.Len(t, next, int(info.Size()))
		s.write("onecharge.js", next)
		require.NoError(t, os.Chtimes(path, info.ModTime(), info.ModTime())) // as cp -p or rsync -t leave it
		w := s.get("/onecharge.js", "Accept-Encoding", "br", "If-None-Match", old.Header().Get("ETag"))
		require.Equal(t, http.StatusOK, w.Code, "the old ETag no longer validates")
		assert.Equal(t, next, decode(t, w))
		assert.NotEqual(t, old.Header().Get("ETag"), w.Header().Get("ETag"))
	})
	t.Run("PageFollowsItsReferences", func(t *testing.T) {
		s := newSite(t)
		first := s.get("/")
		s.write("onecharge.wasm", append(s.read("onecharge.wasm"), "rebuilt"...))
		w := s.get("/", "If-None-Match", first.Header().Get("ETag"))
		require.Equal(t, http.StatusOK, w.Code, "a rebuilt bundle changes the page")
		assert.Contains(t, w.Body.String(), `data-wasm="onecharge.wasm?v=`+version(s.read("onecharge.wasm"))+`"`)
		assert.NotEqual(t, first.Header().Get("ETag"), w.Header().Get("ETag"))
	})
	t.Run("Siblings", func(t *testing.T) {
		s := newSite(t)
		content := s.read("style.css")
		// A valid sibling is sent as it is: quality 0 makes other bytes
		// than the server's own quality 11.
		var br bytes.Buffer
		bw := brotli.NewWriterLevel(&br, 0)
		_, _ = bw.Write(content)
		require.NoError(t, bw.Close())
		s.write("style.css.br", br.Bytes())
		var gz bytes.Buffer
		gw, _ := gzip.NewWriterLevel(&gz, gzip.HuffmanOnly)
		_, _ = gw.Write(content)
		require.NoError(t, gw.Close())
		s.write("style.css.gz", gz.Bytes())

		w := s.get("/style.css", "Accept-Encoding", "br")
		assert.Equal(t, br.Bytes(), w.Body.Bytes(), "the precompressed sibling")
		w = s.get("/style.css", "Accept-Encoding", "gzip")
		assert.Equal(t, gz.Bytes(), w.Body.Bytes(), "the precompressed sibling")

		// The file changes, its siblings do not: they are stale, never sent.
		next := append(content, "\n/* rebuilt */\n"...)
		s.write("style.css", next)
		for _, enc := range []string{"br", "gzip"} {
			w = s.get("/style.css", "Accept-Encoding", enc)
			assert.Equal(t, enc, w.Header().Get("Content-Encoding"))
			assert.Equal(t, next, decode(t, w), enc)
		}
		// A sibling with trailing data is stale too.
		var longer bytes.Buffer
		bw = brotli.NewWriterLevel(&longer, 5)
		_, _ = bw.Write(append(next, "more"...))
		require.NoError(t, bw.Close())
		s.write("wasm_exec.js.br", longer.Bytes())
		assert.Equal(t, s.read("wasm_exec.js"), decode(t, s.get("/wasm_exec.js", "Accept-Encoding", "br")))

		// Siblings are representations, not resources.
		for _, p := range []string{"/style.css.br", "/style.css.gz"} {
			assert.Equal(t, http.StatusNotFound, s.get(p).Code, p)
		}
	})
	t.Run("ConcurrentFirstRequests", func(t *testing.T) {
		s := newSite(t)
		want := s.read("onecharge.wasm")
		var wg sync.WaitGroup
		bodies := make([][]byte, 8)
		encs := []string{"br", "gzip", "identity"}
		for i := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := httptest.NewRequest(http.MethodGet, "/onecharge.wasm", nil)
				req.Header.Set("Accept-Encoding", encs[i%len(encs)])
				w := httptest.NewRecorder()
				s.h.ServeHTTP(w, req)
				bodies[i] = decode(t, w)
			}()
		}
		wg.Wait()
		for i, b := range bodies {
			assert.Equal(t, want, b, "request %d", i)
		}
	})
}

func TestStaticPaths(t *testing.T) {
	s := newSite(t)
	cases := []struct {
		target string
		status int
		ctype  string
	}{
		{"/", http.StatusOK, "text/html; charset=utf-8"},
		{"/index.html", http.StatusOK, "text/html; charset=utf-8"},
		{"/sub/", http.StatusOK, "text/html; charset=utf-8"},
		{"/sub", http.StatusMovedPermanently, ""},
		{"/empty/", http.StatusNotFound, ""},
		{"/empty", http.StatusNotFound, ""},
		{"/onecharge.js", http.StatusOK, "text/javascript; charset=utf-8"},
		{"/style.css", http.StatusOK, "text/css; charset=utf-8"},
		{"/.secret", http.StatusNotFound, ""},
		{"/sub/.secret", http.StatusNotFound, ""},
		{"/missing.js", http.StatusNotFound, ""},
	}
	for _, c := range cases {
		w := s.get(c.target)
		assert.Equal(t, c.status, w.Code, c.target)
		if c.ctype != "" {
			assert.Equal(t, c.ctype, w.Header().Get("Content-Type"), c.target)
		}
		if c.status == http.StatusNotFound {
			assert.Contains(t, w.Body.String(), `"not_found"`, c.target)
		}
	}
	assert.Equal(t, "/sub/", s.get("/sub").Header().Get("Location"))

	// Not compressible: no encoding, no Vary.
	w := s.get("/logo.png", "Accept-Encoding", "br, gzip")
	assert.Empty(t, w.Header().Get("Content-Encoding"))
	assert.Empty(t, w.Header().Get("Vary"))
	assert.NotEmpty(t, w.Header().Get("ETag"))

	// A file that does not shrink is sent as it is.
	s.write("tiny.txt", []byte("x"))
	w = s.get("/tiny.txt", "Accept-Encoding", "br, gzip")
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Empty(t, w.Header().Get("Content-Encoding"))
	assert.Equal(t, "x", w.Body.String())
	assert.True(t, strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain"))
}
