// Package client embeds the web IDE's production build (client/dist, made by
// `npm run build` via infra/setup/build-client.sh) so bin/server serves it at
// "/" with nothing else to deploy.
package client

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Dist is the Vite build output. "all:" keeps files whose names start with
// "." or "_", which Vite may emit for chunks.
//
//go:embed all:dist
var Dist embed.FS

// contentTypes is fixed here rather than taken from the host's mime tables,
// which differ between machines (some map .js to text/plain).
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".json":  "application/json",
	".map":   "application/json",
	".txt":   "text/plain; charset=utf-8",
	".woff2": "font/woff2",
	".wasm":  "application/wasm",
}

// csp lets the page load only its own code. connect-src stays open because
// the IDE can be pointed at another deployment; CodeMirror injects style
// elements, hence 'unsafe-inline' for styles only.
const csp = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self'; connect-src *; object-src 'none'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the embedded build: "/" is index.html, hashed files under
// /assets/ are cached for a year, everything else must be revalidated.
func Handler() http.Handler {
	sub, err := fs.Sub(Dist, "dist")
	if err != nil {
		// fs.Sub fails only on an invalid path literal.
		panic("client: " + err.Error())
	}
	h, err := newHandler(sub)
	if err != nil {
		// The embedded tree is part of the binary; failing to read it is a
		// build defect, not a runtime condition.
		panic("client: " + err.Error())
	}
	return h
}

type file struct {
	data, gz    []byte // gz is nil when compression does not pay
	etag, ctype string
}

// newHandler reads every file once: the build is immutable for the life of
// the process, so ETags and gzip bodies are computed up front.
func newHandler(files fs.FS) (http.Handler, error) {
	byName := map[string]*file{}
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(files, name)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		sum := sha256.Sum256(data)
		f := &file{data: data, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		f.ctype = contentTypes[path.Ext(name)]
		if f.ctype == "" {
			f.ctype = http.DetectContentType(data)
		}
		if compressible(f.ctype) && len(data) > 1024 {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			if _, err := zw.Write(data); err != nil {
				return fmt.Errorf("gzip %s: %w", name, err)
			}
			if err := zw.Close(); err != nil {
				return fmt.Errorf("gzip %s: %w", name, err)
			}
			if buf.Len() < len(data) {
				f.gz = buf.Bytes()
			}
		}
		byName[name] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index embedded client: %w", err)
	}
	if byName["index.html"] == nil {
		return nil, fmt.Errorf("embedded client has no index.html: run infra/setup/build-client.sh")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name == "" {
			name = "index.html"
		}
		f := byName[name]
		if f == nil {
			// There are no client-side routes: anything not in the build is a 404.
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.ctype)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if strings.HasPrefix(name, "assets/") {
			// Vite puts a content hash in every asset name.
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		if f.ctype == contentTypes[".html"] {
			h.Set("Content-Security-Policy", csp)
			h.Set("X-Frame-Options", "DENY")
		}
		body, etag := f.data, f.etag
		if f.gz != nil {
			h.Add("Vary", "Accept-Encoding")
			if acceptsGzip(r.Header.Get("Accept-Encoding")) {
				body, etag = f.gz, strings.TrimSuffix(f.etag, `"`)+`-gz"`
				h.Set("Content-Encoding", "gzip")
			}
		}
		h.Set("ETag", etag)
		// A zero modtime: ETag alone drives revalidation.
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
	}), nil
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.HasPrefix(ctype, "application/json") ||
		strings.HasPrefix(ctype, "image/svg+xml") || strings.HasPrefix(ctype, "application/wasm")
}

func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
