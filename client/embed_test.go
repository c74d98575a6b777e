package client

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return b
}

// The real embedded build: index.html at "/" and every asset it references.
func TestHandlerServesEmbeddedBuild(t *testing.T) {
	h := Handler()
	resp := get(t, h, http.MethodGet, "/", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("index Cache-Control = %q, want no-cache", cc)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP = %q", csp)
	}
	index := string(body(t, resp))
	if !strings.Contains(index, `<div id="root">`) {
		t.Fatalf("index.html has no root element:\n%s", index)
	}

	refs := regexp.MustCompile(`(?:src|href)="\./(assets/[^"]+)"`).FindAllStringSubmatch(index, -1)
	if len(refs) < 2 {
		t.Fatalf("index.html references %d assets, want a script and a stylesheet (paths must be relative ./assets/):\n%s", len(refs), index)
	}
	want := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	for _, m := range refs {
		r := get(t, h, http.MethodGet, "/"+m[1], nil)
		if r.StatusCode != http.StatusOK {
			t.Errorf("GET /%s = %d", m[1], r.StatusCode)
			continue
		}
		ext := m[1][strings.LastIndex(m[1], "."):]
		if ct := r.Header.Get("Content-Type"); want[ext] != "" && ct != want[ext] {
			t.Errorf("%s Content-Type = %q, want %q", m[1], ct, want[ext])
		}
		if cc := r.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("%s Cache-Control = %q", m[1], cc)
		}
		if r.Header.Get("Content-Security-Policy") != "" {
			t.Errorf("%s: CSP belongs on documents only", m[1])
		}
	}
}

func testFS() fstest.MapFS {
	big := strings.Repeat("console.log('hello');\n", 200)
	return fstest.MapFS{
		"index.html":       {Data: []byte(`<!doctype html><div id="root"></div>`)},
		"favicon.svg":      {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`)},
		"assets/app-1.js":  {Data: []byte(big)},
		"assets/app-1.css": {Data: []byte("body{}")},
		"assets/img.bin":   {Data: []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 0}},
	}
}

func newTestHandler(t *testing.T) http.Handler {
	t.Helper()
	h, err := newHandler(testFS())
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	return h
}

func TestHandlerHeadersAndErrors(t *testing.T) {
	h := newTestHandler(t)
	cases := []struct {
		method, path string
		status       int
		ctype, cache string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", "no-cache"},
		{"GET", "/index.html", 200, "text/html; charset=utf-8", "no-cache"},
		{"HEAD", "/", 200, "text/html; charset=utf-8", "no-cache"},
		{"GET", "/favicon.svg", 200, "image/svg+xml", "no-cache"},
		{"GET", "/assets/app-1.js", 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"},
		{"GET", "/assets/app-1.css", 200, "text/css; charset=utf-8", "public, max-age=31536000, immutable"},
		{"GET", "/assets/img.bin", 200, "image/png", "public, max-age=31536000, immutable"},
		{"GET", "/assets/", 404, "", ""},
		{"GET", "/assets/missing.js", 404, "", ""},
		{"GET", "/../../etc/passwd", 404, "", ""},
		{"GET", "/execute", 404, "", ""},
		{"POST", "/", 405, "", ""},
		{"DELETE", "/assets/app-1.js", 405, "", ""},
	}
	for _, c := range cases {
		resp := get(t, h, c.method, c.path, nil)
		if resp.StatusCode != c.status {
			t.Errorf("%s %s = %d, want %d", c.method, c.path, resp.StatusCode, c.status)
			continue
		}
		if c.ctype != "" && resp.Header.Get("Content-Type") != c.ctype {
			t.Errorf("%s %s Content-Type = %q, want %q", c.method, c.path, resp.Header.Get("Content-Type"), c.ctype)
		}
		if c.cache != "" && resp.Header.Get("Cache-Control") != c.cache {
			t.Errorf("%s %s Cache-Control = %q, want %q", c.method, c.path, resp.Header.Get("Cache-Control"), c.cache)
		}
		if c.status == 200 && resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s lacks nosniff", c.method, c.path)
		}
		if c.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s Allow = %q", c.method, c.path, resp.Header.Get("Allow"))
		}
		if c.method == "HEAD" && len(body(t, resp)) != 0 {
			t.Errorf("HEAD %s returned a body", c.path)
		}
	}
}

func TestHandlerGzipAndETag(t *testing.T) {
	h := newTestHandler(t)
	plain := get(t, h, "GET", "/assets/app-1.js", nil)
	want := body(t, plain)
	if plain.Header.Get("Content-Encoding") != "" {
		t.Fatalf("identity request got Content-Encoding %q", plain.Header.Get("Content-Encoding"))
	}
	if !bytes.Equal(want, testFS()["assets/app-1.js"].Data) {
		t.Fatal("identity body differs from the file")
	}
	if plain.Header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("Vary = %q", plain.Header.Get("Vary"))
	}

	zr := get(t, h, "GET", "/assets/app-1.js", map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
	if zr.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip request got Content-Encoding %q", zr.Header.Get("Content-Encoding"))
	}
	gzBody := body(t, zr)
	if len(gzBody) >= len(want) {
		t.Errorf("gzip body %d bytes, identity %d", len(gzBody), len(want))
	}
	r, err := gzip.NewReader(bytes.NewReader(gzBody))
	if err != nil {
		t.Fatalf("gzip reader: %v", err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("gunzipped body differs (err %v)", err)
	}
	if zr.Header.Get("ETag") == plain.Header.Get("ETag") {
		t.Error("gzip and identity share an ETag")
	}

	// Revalidation of index.html (no-cache) must be cheap: 304 on a matching ETag.
	first := get(t, h, "GET", "/", nil)
	etag := first.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on index.html")
	}
	again := get(t, h, "GET", "/", map[string]string{"If-None-Match": etag})
	if again.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match = %d, want 304", again.StatusCode)
	}
	// Tiny files are not compressed.
	small := get(t, h, "GET", "/assets/app-1.css", map[string]string{"Accept-Encoding": "gzip"})
	if small.Header.Get("Content-Encoding") != "" {
		t.Error("1-line CSS was gzipped")
	}
}

func TestNewHandlerNeedsIndex(t *testing.T) {
	_, err := newHandler(fstest.MapFS{"assets/a.js": {Data: []byte("x")}})
	if err == nil || !strings.Contains(err.Error(), "index.html") {
		t.Fatalf("err = %v, want missing index.html", err)
	}
	var _ fs.FS = Dist
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                     false,
		"gzip":                 true,
		"GZIP":                 true,
		"deflate, gzip":        true,
		"gzip;q=0":             false,
		"gzip; q=0.000":        false,
		"gzip;q=0.5":           true,
		"br":                   false,
		"x-gzip":               false,
		"identity, gzip;q=1.0": true,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}
