// Command precompress writes the precompressed siblings of a storefront's
// files, which the server sends by Accept-Encoding
// (server/httpapi/static.go): for every compressible file X of the
// directories given (HTML, JavaScript, CSS, JSON, SVG, WebAssembly, text),
// X.br at brotli quality 11 and X.gz at gzip level 9, unless the encoding
// does not make X smaller. A sibling that already decodes to X's bytes is
// kept, so a rebuild that changed nothing costs no compression; a stale
// one is rewritten. `make build` runs it on web/:
//
//	go run ./tools/precompress web
//
// The siblings are build outputs (gitignored). The server checks each one
// against its file before using it and compresses on its own when a
// sibling is missing or stale, so running this is an optimization: brotli
// quality 11 takes seconds for the bundle, too long for a first request.
package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
)

var compressible = map[string]bool{
	".html": true, ".htm": true, ".js": true, ".mjs": true, ".css": true, ".json": true,
	".map": true, ".svg": true, ".txt": true, ".xml": true, ".wasm": true, ".webmanifest": true,
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: precompress DIR...")
		os.Exit(2)
	}
	failed := false
	for _, dir := range os.Args[1:] {
		if err := run(dir); err != nil {
			fmt.Fprintln(os.Stderr, "precompress:", err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

func run(dir string) error {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && compressible[strings.ToLower(filepath.Ext(p))] {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(files))
	for _, f := range files {
		for _, enc := range []encoding{brotliEncoding, gzipEncoding} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := write(f, enc); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	return <-errs
}

type encoding struct {
	ext    string
	encode func(w io.Writer) io.WriteCloser
	decode func(r io.Reader) (io.Reader, error)
}

var (
	brotliEncoding = encoding{".br",
		func(w io.Writer) io.WriteCloser {
			return brotli.NewWriterOptions(w, brotli.WriterOptions{Quality: 11, LGWin: 24})
		},
		func(r io.Reader) (io.Reader, error) { return brotli.NewReader(r), nil }}
	gzipEncoding = encoding{".gz",
		func(w io.Writer) io.WriteCloser { zw, _ := gzip.NewWriterLevel(w, gzip.BestCompression); return zw },
		func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }}
)

// write makes file+enc.ext, or removes it when it would not be smaller.
func write(file string, enc encoding) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	out := file + enc.ext
	if old, err := os.ReadFile(out); err == nil && decodesTo(enc, old, data) {
		return nil
	}
	var b bytes.Buffer
	w := enc.encode(&b)
	if _, err := w.Write(data); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if b.Len() >= len(data) {
		if err := os.Remove(out); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

func decodesTo(enc encoding, compressed, want []byte) bool {
	r, err := enc.decode(bytes.NewReader(compressed))
	if err != nil {
		return false
	}
	got, err := io.ReadAll(io.LimitReader(r, int64(len(want))+1))
	return err == nil && bytes.Equal(got, want)
}
