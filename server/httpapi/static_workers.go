//go:build workers

package httpapi

import "io"

// The Worker serves the storefront from Workers static assets, which
// Cloudflare compresses itself: the brotli encoder (about 420 KB of the
// Worker's bundle, gzip) is left out, and static files, if a Worker is
// ever given some, are sent in gzip at most.
var codings = []string{encGzip}

func brotliReader(r io.Reader) io.Reader { panic("httpapi: no brotli in the Worker build") }

func brotliWriter(w io.Writer, quality int) io.WriteCloser {
	panic("httpapi: no brotli in the Worker build")
}
