package httpapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/onecharge/onecharge/shared/checkout"
)

// Serving the storefront (web/): compressed representations chosen by
// Accept-Encoding, a strong ETag per representation, and caching that a
// browser and a CDN honour without ever serving a changed file stale.
//
// Compression. Every compressible file (HTML, JavaScript, CSS, JSON, SVG,
// WebAssembly, plain text) has up to three representations: identity,
// brotli ("br") and gzip. They are made once per version of the file and
// kept in memory. A representation is taken from a precompressed sibling
// (onecharge.wasm.br, onecharge.wasm.gz, written by `make build` through
// tools/precompress at brotli quality 11 and gzip level 9) when the sibling
// decompresses to exactly the file's current bytes; otherwise it is made at
// the first request that asks for it, in pure Go (brotli quality 11 for
// files up to 128 KiB, quality 5 above, where quality 11 takes seconds), so
// a server started without the build step still compresses everything.
// A stale sibling is ignored (and logged), never served. Siblings are not
// resources of their own: /onecharge.wasm.br answers 404.
//
// Freshness. Each request stats its file; a file whose size, modification
// time or (on Linux) inode or change time differs from the cached version is
// read again. So a rebuilt bundle is served at the next request, and no
// cached representation outlives the bytes it was made from.
//
// Caching. Unversioned URLs and every HTML page carry Cache-Control
// no-cache: browsers and CDNs may store them but revalidate each use with
// If-None-Match, which costs a 304 and no body when nothing changed. HTML
// pages are rewritten as they are served so that their references to the
// site's own files (double-quoted src, href, data-wasm and data-wasm-exec
// attributes with a relative or same-origin path, no query; not other
// pages) carry ?v=<content hash>, and a URL whose v
// is the current hash of its file is cached for a year, immutable: a new
// build changes the hash, so the page names a new URL, and a CDN or browser
// never needs to revalidate a versioned file. A v that is not the current
// hash (an old page, or a replica on another build during a rolling
// deploy) gets the current bytes with no-cache, so no CDN pins the wrong
// bytes under a versioned URL. Content-addressed URLs injected at serve
// time, rather than hashed file names, keep the build outputs and the
// loader's default URLs (onecharge.wasm beside onecharge.js) unchanged for
// pages that embed the loader without the rewriting.
//
// Every compressible response has Vary: Accept-Encoding. Range requests
// apply to the selected representation (RFC 9110 section 14), and HEAD,
// If-None-Match, If-Modified-Since and If-Range work as in
// http.ServeContent, which serves the bytes.

// Cache-Control values of the storefront.
const (
	cacheImmutable   = "public, max-age=31536000, immutable"
	cacheRevalidate  = "no-cache"
	staticMaxCached  = 32 << 20  // larger files are served from the file system, uncompressed
	brotliBestUpTo   = 128 << 10 // lazy brotli: quality 11 up to this size, 5 above
	versionHexDigits = 16
)

// Encodings this server can send, in its order of preference on a tie.
const (
	encBrotli = "br"
	encGzip   = "gzip"
)

// staticFiles serves the storefront in web; a missing file is the JSON 404
// of every unknown route. See the comment at the top of this file.
func (s *server) staticFiles(web fs.FS) http.Handler {
	// Go's table lacks .wasm on some systems; instantiateStreaming needs it.
	_ = mime.AddExtensionType(".wasm", "application/wasm")
	site := &staticSite{fsys: web, logger: s.logger, files: map[string]*staticFile{}, pages: map[string]*staticFile{}}
	return s.handle(site.serve)
}

type staticSite struct {
	fsys   fs.FS
	logger *slog.Logger

	mu    sync.Mutex
	files map[string]*staticFile // name → the newest version seen
	pages map[string]*staticFile // name → the newest rewritten HTML page
}

// fileID identifies one version of a file: what a rewrite changes.
type fileID struct {
	size    int64
	modTime int64
	sys     sysID
}

// staticFile is one version of a file, or of a rewritten HTML page.
type staticFile struct {
	name    string
	id      fileID
	modTime time.Time // Last-Modified; zero for rewritten pages
	ctype   string
	page    bool   // an HTML page, rewritten with versioned references
	key     string // pages: the versions of the page and of its references

	load    sync.Once
	err     error
	version string   // hex prefix of the SHA-256 of identity.data
	refs    []string // pages: the referenced files, resolved names

	identity representation
	encoded  [2]lazyRepresentation // br, gzip
}

type representation struct {
	data []byte
	etag string
}

type lazyRepresentation struct {
	once sync.Once
	rep  *representation // nil when the encoding does not pay off
}

func (s *staticSite) serve(w http.ResponseWriter, r *http.Request) error {
	notFound := &checkout.Error{Code: checkout.CodeNotFound, Message: checkout.MessageNotFound}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	dir := name == "" || strings.HasSuffix(r.URL.Path, "/")
	if name == "" {
		name = "."
	}
	if !fs.ValidPath(name) || hiddenName(name) {
		return notFound
	}
	if dir {
		name = path.Join(name, "index.html")
	}
	var f *staticFile
	for attempt := 0; ; attempt++ {
		info, err := fs.Stat(s.fsys, name)
		if err != nil {
			return notFound
		}
		if info.IsDir() {
			if _, err := fs.Stat(s.fsys, path.Join(name, "index.html")); err != nil {
				return notFound
			}
			http.Redirect(w, r, "/"+name+"/", http.StatusMovedPermanently)
			return nil
		}
		if !info.Mode().IsRegular() || s.isSibling(name) {
			return notFound
		}
		if info.Size() > staticMaxCached {
			return s.serveUncached(w, r, name, info)
		}
		f, err = s.file(name, info)
		if err == errChangedWhileReading && attempt < 3 {
			continue // replaced between the stat and the read: stat again
		}
		if err != nil {
			return err
		}
		break
	}
	var err error
	cacheControl := cacheRevalidate
	if f.page {
		if f, err = s.page(f); err != nil {
			return err
		}
	} else if v := r.URL.Query().Get("v"); v != "" && v == f.version {
		cacheControl = cacheImmutable
	}

	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("Cache-Control", cacheControl)
	rep, enc := &f.identity, ""
	if compressible(f.ctype) {
		h.Add("Vary", "Accept-Encoding")
		enc = negotiateEncoding(r.Header.Values("Accept-Encoding"))
		if enc != "" {
			if e := s.encoded(f, enc); e != nil {
				rep = e
			} else {
				enc = ""
			}
		}
	}
	h.Set("ETag", rep.etag)
	if enc != "" {
		w = &encodingWriter{ResponseWriter: w, encoding: enc}
	}
	http.ServeContent(w, r, "", f.modTime, bytes.NewReader(rep.data))
	return nil
}

// serveUncached serves a file too large to keep in memory as it is.
func (s *staticSite) serveUncached(w http.ResponseWriter, r *http.Request, name string, info fs.FileInfo) error {
	file, err := s.fsys.Open(name)
	if err != nil {
		return err
	}
	defer file.Close()
	rs, ok := file.(io.ReadSeeker)
	if !ok {
		return &checkout.Error{Code: checkout.CodeNotFound, Message: checkout.MessageNotFound}
	}
	w.Header().Set("Content-Type", contentType(name))
	w.Header().Set("Cache-Control", cacheRevalidate)
	http.ServeContent(w, r, "", info.ModTime(), rs)
	return nil
}

// hiddenName reports whether a path has an element starting with a dot.
func hiddenName(name string) bool {
	for _, el := range strings.Split(name, "/") {
		if strings.HasPrefix(el, ".") && el != "." {
			return true
		}
	}
	return false
}

// isSibling reports whether name is a precompressed sibling of a file.
func (s *staticSite) isSibling(name string) bool {
	base, ok := strings.CutSuffix(name, ".br")
	if !ok {
		base, ok = strings.CutSuffix(name, ".gz")
	}
	if !ok {
		return false
	}
	info, err := fs.Stat(s.fsys, base)
	return err == nil && info.Mode().IsRegular()
}

// file returns the version of name that info describes, reading it once.
func (s *staticSite) file(name string, info fs.FileInfo) (*staticFile, error) {
	id := fileID{size: info.Size(), modTime: info.ModTime().UnixNano(), sys: sysIdentity(info)}
	s.mu.Lock()
	f := s.files[name]
	if f == nil || f.id != id {
		ctype := contentType(name)
		f = &staticFile{name: name, id: id, modTime: info.ModTime(), ctype: ctype, page: isHTML(ctype)}
		s.files[name] = f
	}
	s.mu.Unlock()
	f.load.Do(func() {
		data, err := fs.ReadFile(s.fsys, name)
		if err == nil && int64(len(data)) != id.size {
			// Changed between the stat and the read: the next request
			// stats again and reads the new version.
			err = errChangedWhileReading
		}
		if err != nil {
			f.err = err
			return
		}
		f.setContent(data)
		if f.page {
			f.refs = s.references(name, data)
		}
	})
	if f.err != nil {
		s.mu.Lock()
		if s.files[name] == f {
			delete(s.files, name)
		}
		s.mu.Unlock()
		return nil, f.err
	}
	return f, nil
}

var errChangedWhileReading = checkout.NewError(checkout.CodeInternal, "the file changed while it was read")

func (f *staticFile) setContent(data []byte) {
	sum := sha256.Sum256(data)
	f.version = hex.EncodeToString(sum[:])[:versionHexDigits]
	f.identity = representation{data: data, etag: etagOfSum(sum)}
}

// etagOf is a strong validator of exactly these bytes.
func etagOf(data []byte) string { return etagOfSum(sha256.Sum256(data)) }

func etagOfSum(sum [sha256.Size]byte) string { return `"` + hex.EncodeToString(sum[:12]) + `"` }

// page returns the HTML page f with its references versioned, made again
// when f or any file it references changed.
func (s *staticSite) page(f *staticFile) (*staticFile, error) {
	versions := make([]string, len(f.refs))
	var key strings.Builder
	key.WriteString(f.version)
	for i, ref := range f.refs {
		info, err := fs.Stat(s.fsys, ref)
		if err != nil || !info.Mode().IsRegular() || info.Size() > staticMaxCached {
			key.WriteString(" -")
			continue // gone meanwhile: left unversioned
		}
		dep, err := s.file(ref, info)
		if err != nil {
			return nil, err
		}
		versions[i] = dep.version
		key.WriteString(" " + dep.version)
	}
	s.mu.Lock()
	p := s.pages[f.name]
	if p == nil || p.key != key.String() {
		p = &staticFile{name: f.name, ctype: f.ctype, page: true, key: key.String()}
		s.pages[f.name] = p
	}
	s.mu.Unlock()
	p.load.Do(func() {
		byName := map[string]string{}
		for i, ref := range f.refs {
			if versions[i] != "" {
				byName[ref] = versions[i]
			}
		}
		p.setContent(rewriteReferences(f.name, f.identity.data, func(ref string) string { return byName[ref] }))
	})
	return p, nil
}

// referenceAttr matches the attributes whose URLs a page's rewrite versions.
var referenceAttr = regexp.MustCompile(`(?i)(\s(?:src|href|data-wasm|data-wasm-exec)\s*=\s*)"([^"]*)"`)

// references lists the files a page references that can be versioned.
func (s *staticSite) references(name string, page []byte) []string {
	var refs []string
	seen := map[string]bool{}
	for _, m := range referenceAttr.FindAllSubmatch(page, -1) {
		ref, ok := resolveReference(name, string(m[2]))
		if !ok || seen[ref] {
			continue
		}
		info, err := fs.Stat(s.fsys, ref)
		if err != nil || !info.Mode().IsRegular() || isHTML(contentType(ref)) {
			continue // a page's bytes depend on its references: never immutable
		}
		seen[ref] = true
		refs = append(refs, ref)
	}
	return refs
}

// resolveReference resolves a relative or same-origin absolute URL path
// in the page name to a file name; ok is false for anything else (other
// origins, schemes, queries and fragments, which the rewrite leaves alone).
func resolveReference(page, url string) (string, bool) {
	if url == "" || strings.ContainsAny(url, ":?#\\%") || strings.HasPrefix(url, "//") {
		return "", false
	}
	var name string
	if strings.HasPrefix(url, "/") {
		name = path.Clean(url)[1:]
	} else {
		name = path.Join(path.Dir(page), url)
	}
	if name == "" || name == "." || !fs.ValidPath(name) || hiddenName(name) {
		return "", false
	}
	return name, true
}

// rewriteReferences appends ?v=<version> to each reference that version
// knows.
func rewriteReferences(page string, html []byte, version func(ref string) string) []byte {
	return referenceAttr.ReplaceAllFunc(html, func(m []byte) []byte {
		sub := referenceAttr.FindSubmatch(m)
		url := string(sub[2])
		ref, ok := resolveReference(page, url)
		if !ok {
			return m
		}
		v := version(ref)
		if v == "" {
			return m
		}
		return []byte(string(sub[1]) + `"` + url + "?v=" + v + `"`)
	})
}

// encoded returns f's representation in enc, making it on first use; nil
// when the encoding would not make it smaller.
func (s *staticSite) encoded(f *staticFile, enc string) *representation {
	i := 0
	if enc == encGzip {
		i = 1
	}
	l := &f.encoded[i]
	l.once.Do(func() {
		data := s.sibling(f, enc)
		if data == nil {
			var err error
			if data, err = compress(f.identity.data, enc); err != nil {
				s.logger.Error("static: compressing failed", "file", f.name, "encoding", enc, "err", err)
				return
			}
		}
		if len(data) < len(f.identity.data) {
			l.rep = &representation{data: data, etag: etagOf(data)}
		}
	})
	return l.rep
}

// sibling returns the precompressed sibling of f in enc when it decodes to
// f's current bytes (a rewritten page matches its file's sibling only when
// the rewrite changed nothing).
func (s *staticSite) sibling(f *staticFile, enc string) []byte {
	ext := ".br"
	if enc == encGzip {
		ext = ".gz"
	}
	data, err := fs.ReadFile(s.fsys, f.name+ext)
	if err != nil {
		return nil
	}
	var r io.Reader
	if enc == encGzip {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			s.logger.Warn("static: ignoring an unreadable precompressed file", "file", f.name+ext, "err", err)
			return nil
		}
		r = zr
	} else {
		r = brotliReader(bytes.NewReader(data))
	}
	// Read one byte past the file's size: a longer sibling is stale too.
	decoded, err := io.ReadAll(io.LimitReader(r, int64(len(f.identity.data))+1))
	if err != nil || !bytes.Equal(decoded, f.identity.data) {
		s.logger.Warn("static: ignoring a stale precompressed file (run make build)", "file", f.name+ext)
		return nil
	}
	return data
}

// compress encodes data in enc (see the top of this file for the levels).
func compress(data []byte, enc string) ([]byte, error) {
	var b bytes.Buffer
	var w io.WriteCloser
	switch enc {
	case encBrotli:
		q := 11
		if len(data) > brotliBestUpTo {
			q = 5
		}
		w = brotliWriter(&b, q)
	default:
		level := gzip.BestCompression
		if len(data) > 1<<20 {
			level = gzip.DefaultCompression
		}
		zw, err := gzip.NewWriterLevel(&b, level)
		if err != nil {
			return nil, err
		}
		w = zw
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// encodingWriter adds Content-Encoding to the responses that carry the
// encoded bytes (200 and 206); a 304 or an error carries none.
// http.ServeContent computes Content-Length before it writes the header,
// and it does so only while Content-Encoding is unset.
type encodingWriter struct {
	http.ResponseWriter
	encoding string
	wrote    bool
}

func (w *encodingWriter) WriteHeader(code int) {
	if !w.wrote && (code == http.StatusOK || code == http.StatusPartialContent) {
		w.Header().Set("Content-Encoding", w.encoding)
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *encodingWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *encodingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// negotiateEncoding picks the content coding for an Accept-Encoding
// request header (RFC 9110 section 12.5.3): the acceptable coding of
// highest weight among br, gzip and identity, preferring them in that order
// on equal weights; "" means identity. No header, or an empty one, means
// identity. "*" weighs every coding not named; q=0 excludes one; x-gzip is
// gzip. Identity is acceptable unless excluded by identity;q=0 or *;q=0,
// and when nothing is acceptable the response is sent without a content
// coding, as the RFC advises instead of a 406.
func negotiateEncoding(headers []string) string {
	q := map[string]float64{}
	star := -1.0
	for _, h := range headers {
		for _, el := range strings.Split(h, ",") {
			coding, params, _ := strings.Cut(el, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding == "" {
				continue
			}
			if coding == "x-gzip" {
				coding = encGzip
			}
			weight, ok := qValue(params)
			if !ok {
				continue // malformed: ignored
			}
			if coding == "*" {
				star = weight
				continue
			}
			if old, seen := q[coding]; !seen || weight > old {
				q[coding] = weight
			}
		}
	}
	weight := func(coding string) float64 {
		if w, ok := q[coding]; ok {
			return w
		}
		if star >= 0 {
			return star
		}
		if coding == "identity" {
			return 0.001 // acceptable by default, below any coding asked for
		}
		return 0
	}
	best, bestWeight := "", weight("identity")
	for _, coding := range codings { // ascending preference
		if w := weight(coding); w > 0 && w >= bestWeight {
			best, bestWeight = coding, w
		}
	}
	return best
}

// qValue reads the q parameter of an Accept-Encoding element (default 1).
func qValue(params string) (float64, bool) {
	for _, p := range strings.Split(params, ";") {
		name, value, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		value = strings.TrimSpace(value)
		f, err := strconv.ParseFloat(value, 64)
		if err != nil || len(value) > 5 || f < 0 || f > 1 || math.IsNaN(f) {
			return 0, false
		}
		return f, true
	}
	return 1, true
}

func contentType(name string) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

func isHTML(ctype string) bool { return strings.HasPrefix(ctype, "text/html") }

// compressible reports whether a content type is worth compressing.
func compressible(ctype string) bool {
	mt, _, _ := strings.Cut(ctype, ";")
	mt = strings.TrimSpace(mt)
	switch {
	case strings.HasPrefix(mt, "text/"), strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/wasm", "application/javascript", "application/json", "application/xml", "image/svg+xml", "application/manifest+json":
		return true
	}
	return false
}
