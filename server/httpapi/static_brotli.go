//go:build !workers

package httpapi

import (
	"io"

	"github.com/andybalholm/brotli"
)

// codings are the content codings the storefront is sent in, in
// ascending preference.
var codings = []string{encGzip, encBrotli}

func brotliReader(r io.Reader) io.Reader { return brotli.NewReader(r) }

func brotliWriter(w io.Writer, quality int) io.WriteCloser {
	return brotli.NewWriterOptions(w, brotli.WriterOptions{Quality: quality, LGWin: 22})
}
