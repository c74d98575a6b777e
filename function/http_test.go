package function

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"python-api/sandboxcore"
)

const hello = "def main():\n    print(\"Hello from IDE\")\n    return {\"status\": \"ok\"}"

func TestExecuteSuccessBody(t *testing.T) {
	exec := &fakeExec{}
	s, _ := newTestService(t, exec, nil)
	r := post(t, s.ExecuteHandler(), script(hello), nil)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	want := `{"result":{"status":"ok"},"stdout":"out\n","stderr":"","stdout_truncated":false,"stderr_truncated":false,"duration_ms":1.5,"profile":"namespaces",` +
		`"usage":{"wall_ms":1.5,"cpu_ms":12,"max_rss_mb":100}}` + "\n"
	if r.raw != want {
		t.Fatalf("body\n got %s\nwant %s", r.raw, want)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	req := exec.lastRequest(t)
	if req.Script != hello || req.Class != sandboxcore.Interactive || req.Timeout != 0 || req.MemoryMB != 0 {
		t.Fatalf("executor got %+v", req)
	}
}

func TestExecuteOverrides(t *testing.T) {
	exec := &fakeExec{}
	s, _ := newTestService(t, exec, nil)
	r := post(t, s.ExecuteHandler(), `{"script":"def main(): return 1","timeout_ms":1500,"memory_mb":256}`, nil)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	req := exec.lastRequest(t)
	if req.Timeout != 1500*time.Millisecond || req.MemoryMB != 256 {
		t.Fatalf("executor got timeout %v memory %d", req.Timeout, req.MemoryMB)
	}
}

// Every sandboxcore code has the status the contract gives it, and the
// failure body keeps stdout/stderr next to the error.
func TestExecuteStatusForEveryCode(t *testing.T) {
	want := map[sandboxcore.Code]int{
		sandboxcore.CodeInvalidRequest: 400, sandboxcore.CodeSyntaxError: 400, sandboxcore.CodeMissingMain: 400,
		sandboxcore.CodeScriptTooLarge: 413, sandboxcore.CodeInputTooLarge: 413,
		sandboxcore.CodeRuntimeError: 422, sandboxcore.CodeResultNotJSON: 422, sandboxcore.CodeResultTooLarge: 422,
		sandboxcore.CodeTimeout: 422, sandboxcore.CodeMemoryLimit: 422, sandboxcore.CodeKilled: 422,
		sandboxcore.CodeOverloaded: 429, sandboxcore.CodeUnavailable: 503, sandboxcore.CodeInternal: 500,
	}
	for _, code := range sandboxcore.Codes {
		t.Run(string(code), func(t *testing.T) {
			status, ok := want[code]
			if !ok {
				t.Fatalf("sandboxcore has a code this test does not know: %q; add it to the contract", code)
			}
			exec := &fakeExec{fn: func(context.Context, sandboxcore.Request) (sandboxcore.Result, error) {
				return errResult(code), nil
			}}
			s, _ := newTestService(t, exec, nil)
			r := post(t, s.ExecuteHandler(), script(hello), nil)
			if r.status != status || r.code() != string(code) {
				t.Fatalf("got %d %q, want %d %q", r.status, r.code(), status, code)
			}
			if r.body["result"] != nil || r.body["stderr"] != "trace\n" {
				t.Fatalf("failure body lost fields: %s", r.raw)
			}
			if status == 429 && r.header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		})
	}
}

func TestExecuteErrors(t *testing.T) {
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{sandboxcore.ErrOverloaded, 429, "overloaded"},
		{fmt.Errorf("wrapped: %w", sandboxcore.ErrOverloaded), 429, "overloaded"},
		{sandboxcore.ErrUnavailable, 503, "unavailable"},
		{errors.New("boom: /secret/path"), 500, "internal"},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			exec := &fakeExec{fn: func(context.Context, sandboxcore.Request) (sandboxcore.Result, error) {
				return sandboxcore.Result{}, c.err
			}}
			s, logs := newTestService(t, exec, nil)
			r := post(t, s.ExecuteHandler(), script(hello), nil)
			if r.status != c.status || r.code() != c.code {
				t.Fatalf("got %d %q: %s", r.status, r.code(), r.raw)
			}
			if (c.status == 429 || c.status == 503) && r.header.Get("Retry-After") != "1" {
				t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
			}
			if strings.Contains(r.raw, "/secret/path") {
				t.Fatal("internal error details leaked to the client")
			}
			if c.status == 500 && !strings.Contains(logs.String(), "boom") {
				t.Fatal("internal error not logged")
			}
		})
	}
}

func TestExecuteValidation(t *testing.T) {
	big := strings.Repeat("x", DefaultLimits.MaxScriptBytes+1)
	cases := []struct {
		name, body, ctype string
		status            int
		code, mention     string
	}{
		{"no content type", script(hello), "-", 415, "unsupported_media_type", "Content-Type"},
		{"text/plain", script(hello), "text/plain", 415, "unsupported_media_type", "application/json"},
		{"form", "script=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type", ""},
		{"charset ok", script(hello), "application/json; charset=utf-8", 200, "", ""},
		{"empty body", "", "", 400, "invalid_request", "empty"},
		{"invalid json", `{"script": `, "", 400, "invalid_request", "JSON"},
		{"syntax", `{"script" "x"}`, "", 400, "invalid_request", "invalid JSON"},
		{"not an object", `["def main(): pass"]`, "", 400, "invalid_request", "JSON object"},
		{"string body", `"def main(): pass"`, "", 400, "invalid_request", "JSON object"},
		{"missing script", `{}`, "", 400, "invalid_request", `"script"`},
		{"null script", `{"script":null}`, "", 400, "invalid_request", `"script"`},
		{"number script", `{"script":42}`, "", 400, "invalid_request", `"script" must be a string`},
		{"array script", `{"script":["a"]}`, "", 400, "invalid_request", `"script" must be a string`},
		{"empty script", `{"script":"  "}`, "", 400, "invalid_request", `"script"`},
		{"nul", `{"script":"def main():\u0000 pass"}`, "", 400, "invalid_request", "NUL"},
		{"unknown field", `{"script":"x","extra":1}`, "", 400, "invalid_request", `"extra"`},
		{"id on http", `{"script":"x","id":"a"}`, "", 400, "invalid_request", `"id"`},
		{"trailing data", `{"script":"x"} {"script":"y"}`, "", 400, "invalid_request", "after"},
		{"timeout zero", `{"script":"x","timeout_ms":0}`, "", 400, "invalid_request", "timeout_ms"},
		{"timeout negative", `{"script":"x","timeout_ms":-5}`, "", 400, "invalid_request", "timeout_ms"},
		{"timeout too big", `{"script":"x","timeout_ms":3600000}`, "", 400, "invalid_request", "timeout_ms"},
		{"timeout float", `{"script":"x","timeout_ms":1.5}`, "", 400, "invalid_request", "timeout_ms"},
		{"timeout string", `{"script":"x","timeout_ms":"100"}`, "", 400, "invalid_request", "timeout_ms"},
		{"timeout overflow", `{"script":"x","timeout_ms":1e400}`, "", 400, "invalid_request", ""},
		{"memory zero", `{"script":"x","memory_mb":0}`, "", 400, "invalid_request", "memory_mb"},
		{"memory too big", `{"script":"x","memory_mb":1000000}`, "", 400, "invalid_request", "memory_mb"},
		{"memory bool", `{"script":"x","memory_mb":true}`, "", 400, "invalid_request", "memory_mb"},
		{"script over limit", script(big), "", 413, "script_too_large", "limit"},
		{"body over limit", `{"script":"` + strings.Repeat("\\n", DefaultLimits.MaxScriptBytes+40<<10) + `"}`, "", 413, "script_too_large", ""},
		{"invalid utf8 is replaced not rejected", "{\"script\":\"def main(): return '\xff'\"}", "", 200, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			exec := &fakeExec{}
			s, _ := newTestService(t, exec, nil)
			hdr := map[string]string{}
			switch c.ctype {
			case "":
			case "-":
				hdr["Content-Type"] = ""
			default:
				hdr["Content-Type"] = c.ctype
			}
			r := post(t, s.ExecuteHandler(), c.body, hdr)
			if r.status != c.status || r.code() != c.code {
				t.Fatalf("got %d %q (%s), want %d %q", r.status, r.code(), r.message(), c.status, c.code)
			}
			if !strings.Contains(r.message(), c.mention) {
				t.Fatalf("message %q does not mention %q", r.message(), c.mention)
			}
			if c.status != 200 && exec.calls.Load() != 0 {
				t.Fatal("a rejected request reached the sandbox")
			}
		})
	}
}

func TestExecuteMethods(t *testing.T) {
	s, _ := newTestService(t, &fakeExec{}, nil)
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead} {
		r := do(t, s.ExecuteHandler(), httptest.NewRequest(m, "/execute", nil))
		if r.status != 405 {
			t.Fatalf("%s: status %d", m, r.status)
		}
		if r.header.Get("Allow") != "POST, OPTIONS" {
			t.Fatalf("%s: Allow %q", m, r.header.Get("Allow"))
		}
		if m != http.MethodHead && r.code() != "method_not_allowed" {
			t.Fatalf("%s: code %q", m, r.code())
		}
	}
}

func TestCORS(t *testing.T) {
	s, _ := newTestService(t, &fakeExec{}, func(o *Options) {
		o.CORSOrigins = []string{"http://localhost:5173", " https://ide.example.com/ "}
		o.APIKeys = []string{"k1"}
	})
	h := s.ExecuteHandler()
	pre := func(origin string) response {
		req := httptest.NewRequest(http.MethodOptions, "/execute", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type,x-api-key")
		return do(t, h, req)
	}
	r := pre("http://localhost:5173")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
		t.Fatalf("allowed preflight: %d %v", r.status, r.header)
	}
	if !strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "X-API-Key") ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight headers: %v", r.header)
	}
	if r := pre("https://ide.example.com"); r.header.Get("Access-Control-Allow-Origin") != "https://ide.example.com" {
		t.Fatalf("configured origin with spaces and slash not matched: %v", r.header)
	}
	r = pre("https://evil.example")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin got CORS headers: %d %v", r.status, r.header)
	}
	// The actual request carries the origin header too (and still needs the key).
	resp := post(t, h, script(hello), map[string]string{"Origin": "http://localhost:5173", "X-API-Key": "k1"})
	if resp.status != 200 || resp.header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" ||
		!strings.Contains(resp.header.Get("Vary"), "Origin") {
		t.Fatalf("actual request: %d %v", resp.status, resp.header)
	}
	resp = post(t, h, script(hello), map[string]string{"Origin": "https://evil.example", "X-API-Key": "k1"})
	if resp.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("foreign origin allowed on the actual request")
	}

	any, _ := newTestService(t, &fakeExec{}, func(o *Options) { o.CORSOrigins = []string{"*"} })
	req := httptest.NewRequest(http.MethodOptions, "/execute", nil)
	req.Header.Set("Origin", "https://whatever.example")
	if r := do(t, any.ExecuteHandler(), req); r.header.Get("Access-Control-Allow-Origin") != "https://whatever.example" {
		t.Fatalf("* did not allow: %v", r.header)
	}
}

func TestAPIKeys(t *testing.T) {
	exec := &fakeExec{}
	s, logs := newTestService(t, exec, func(o *Options) { o.APIKeys = []string{"alpha-key-123", " beta-key-456 ", ""} })
	h := s.ExecuteHandler()
	cases := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"none", nil, 401},
		{"wrong", map[string]string{"X-API-Key": "alpha-key-12"}, 401},
		{"prefix of key", map[string]string{"X-API-Key": "alpha"}, 401},
		{"longer", map[string]string{"X-API-Key": "alpha-key-1234"}, 401},
		{"x-api-key", map[string]string{"X-API-Key": "alpha-key-123"}, 200},
		{"second key trimmed", map[string]string{"X-API-Key": "beta-key-456"}, 200},
		{"bearer", map[string]string{"Authorization": "Bearer beta-key-456"}, 200},
		{"bearer lowercase", map[string]string{"Authorization": "bearer alpha-key-123"}, 200},
		{"basic", map[string]string{"Authorization": "Basic alpha-key-123"}, 401},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := post(t, h, script(hello), c.hdr)
			if r.status != c.want {
				t.Fatalf("status %d, want %d: %s", r.status, c.want, r.raw)
			}
			if c.want == 401 && r.code() != "unauthorized" {
				t.Fatalf("code %q", r.code())
			}
		})
	}
	if exec.calls.Load() != 4 {
		t.Fatalf("executor called %d times, want 4 (only authorised requests)", exec.calls.Load())
	}
	for _, k := range []string{"alpha-key", "beta-key"} {
		if strings.Contains(logs.String(), k) {
			t.Fatalf("a key appears in the logs")
		}
	}

	// /pubsub: guarded by the keys unless the platform authenticates.
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	push := func() *http.Request {
		return httptest.NewRequest(http.MethodPost, "/pubsub", strings.NewReader(pushBody))
	}
	if r := do(t, s.GuardPubSub(ok), push()); r.status != 401 {
		t.Fatalf("pubsub without key: %d", r.status)
	}
	req := push()
	req.Header.Set("Authorization", "Bearer alpha-key-123")
	if r := do(t, s.GuardPubSub(ok), req); r.status != 204 {
		t.Fatalf("pubsub with key: %d", r.status)
	}
	plat, _ := newTestService(t, exec, func(o *Options) { o.APIKeys = []string{"k"}; o.PubSubAuth = "platform" })
	if r := do(t, plat.GuardPubSub(ok), push()); r.status != 204 {
		t.Fatalf("platform auth still asked for a key: %d", r.status)
	}

	// Keys off: everything passes.
	open, _ := newTestService(t, &fakeExec{}, nil)
	if r := post(t, open.ExecuteHandler(), script(hello), nil); r.status != 200 {
		t.Fatalf("no keys configured but got %d", r.status)
	}
}

func TestHealth(t *testing.T) {
	exec := &fakeExec{health: sandboxcore.Health{OK: true, Mode: "auto", Profile: "namespaces", Layers: []string{"user_ns"},
		Pool: sandboxcore.PoolStats{Slots: 2, QueueCap: 8, WarmTarget: 2, Warm: 2}}}
	s, _ := newTestService(t, exec, func(o *Options) { o.Version = "v9"; o.APIKeys = []string{"k"} })
	r := do(t, s.HealthHandler(), httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if r.status != 200 || r.body["ok"] != true || r.body["version"] != "v9" || r.body["profile"] != "namespaces" {
		t.Fatalf("healthz: %d %s", r.status, r.raw)
	}
	pool := r.body["pool"].(map[string]any)
	if pool["slots"] != 2.0 || pool["queue_capacity"] != 8.0 {
		t.Fatalf("pool: %v", pool)
	}
	exec.health.OK = false
	if r := do(t, s.HealthHandler(), httptest.NewRequest(http.MethodGet, "/healthz", nil)); r.status != 503 || r.body["ok"] != false {
		t.Fatalf("unhealthy sandbox: %d %s", r.status, r.raw)
	}
	exec.health.OK = true
	s.Drain()
	if r := do(t, s.HealthHandler(), httptest.NewRequest(http.MethodGet, "/healthz", nil)); r.status != 503 {
		t.Fatalf("draining: %d", r.status)
	}
	if r := post(t, s.ExecuteHandler(), script(hello), map[string]string{"X-API-Key": "k"}); r.status != 503 || r.code() != "unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("execute while draining: %d %s", r.status, r.raw)
	}

	// Fail: 503 with the reason, whatever the sandbox says.
	failed, _ := newTestService(t, exec, nil)
	failed.Fail("functions framework stopped")
	failed.Fail("a later reason does not replace the first")
	r = do(t, failed.HealthHandler(), httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if r.status != 503 || r.body["ok"] != false || r.body["failure"] != "functions framework stopped" {
		t.Fatalf("failed: %d %s", r.status, r.raw)
	}
	if r := post(t, failed.ExecuteHandler(), script(hello), nil); r.status != 503 {
		t.Fatalf("execute after Fail: %d", r.status)
	}
}

const pushBody = `{"message":{"data":"eyJzY3JpcHQiOiJ4In0=","messageId":"7","attributes":{"a":"b"},"publishTime":"2026-01-02T03:04:05Z"},"subscription":"projects/p/subscriptions/s"}`

// GuardPubSub answers caller mistakes itself, in the contract's shape,
// without echoing the body, and passes the rest through byte for byte.
func TestPubSubGuard(t *testing.T) {
	var got []byte
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		if r.ContentLength != int64(len(got)) {
			t.Errorf("ContentLength %d for %d bytes", r.ContentLength, len(got))
		}
		w.WriteHeader(204)
	})
	s, logs := newTestService(t, &fakeExec{}, nil)
	h := s.GuardPubSub(next)
	secret := strings.Repeat("SECRET", 50)
	cases := []struct {
		name, method, ctype, body string
		hdr                       map[string]string
		status                    int
		code                      string
	}{
		{"push body", "POST", "application/json", pushBody, nil, 204, ""},
		{"push body without data", "POST", "application/json", `{"message":{"messageId":"7"}}`, nil, 204, ""},
		{"binary cloudevent, any data", "POST", "text/plain", "raw " + secret, map[string]string{"Ce-Id": "1"}, 204, ""},
		{"structured cloudevent", "POST", "application/cloudevents+json; charset=utf-8", `{"specversion":"1.0"}`, nil, 204, ""},
		{"structured cloudevent, not JSON", "POST", "application/cloudevents+json", secret, nil, 400, "invalid_request"},
		{"not JSON", "POST", "application/json", "hello " + secret, nil, 400, "invalid_request"},
		{"empty", "POST", "application/json", "", nil, 400, "invalid_request"},
		{"JSON array", "POST", "application/json", `["` + secret + `"]`, nil, 400, "invalid_request"},
		{"no message", "POST", "application/json", `{"subscription":"` + secret + `"}`, nil, 400, "invalid_request"},
		{"message is a string", "POST", "application/json", `{"message":"` + secret + `"}`, nil, 400, "invalid_request"},
		{"data not base64", "POST", "application/json", `{"message":{"data":"*` + secret + `","messageId":"1"}}`, nil, 400, "invalid_request"},
		{"bad publishTime", "POST", "application/json", `{"message":{"messageId":"1","publishTime":"` + secret + `"}}`, nil, 400, "invalid_request"},
		{"no messageId", "POST", "application/json", `{"message":{"data":"e30="}}`, nil, 400, "invalid_request"},
		{"trailing garbage", "POST", "application/json", pushBody + secret, nil, 400, "invalid_request"},
		{"GET", "GET", "", "", nil, 405, "method_not_allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got = nil
			req := httptest.NewRequest(c.method, "/pubsub", strings.NewReader(c.body))
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			for k, v := range c.hdr {
				req.Header.Set(k, v)
			}
			r := do(t, h, req)
			if r.status != c.status || r.code() != c.code {
				t.Fatalf("got %d %q, want %d %q: %s", r.status, r.code(), c.status, c.code, r.raw)
			}
			if c.status == 204 && string(got) != c.body {
				t.Fatalf("forwarded %q, want %q", got, c.body)
			}
			if c.status != 204 && got != nil {
				t.Fatal("a rejected request reached the framework")
			}
			if strings.Contains(r.raw, "SECRET") {
				t.Fatalf("the answer echoes the body: %s", r.raw)
			}
			if c.status == 405 && r.header.Get("Allow") != "POST" {
				t.Fatalf("Allow %q", r.header.Get("Allow"))
			}
		})
	}
	if strings.Contains(logs.String(), "SECRET") {
		t.Fatal("the log echoes a body")
	}

	// Too large: by Content-Length before reading, or while reading.
	big := strings.Repeat("a", MaxPushBodyBytes+1)
	req := httptest.NewRequest(http.MethodPost, "/pubsub", strings.NewReader(big))
	if r := do(t, h, req); r.status != 413 || r.code() != "script_too_large" || r.header.Get("Connection") != "close" {
		t.Fatalf("declared too large: %d %s", r.status, r.raw)
	}
	req = httptest.NewRequest(http.MethodPost, "/pubsub", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	if r := do(t, h, req); r.status != 413 || got != nil {
		t.Fatalf("chunked too large: %d %s", r.status, r.raw)
	}
}

// A client that goes away cancels the context the sandbox runs under.
func TestExecuteClientCancel(t *testing.T) {
	started := make(chan struct{})
	sawCancel := make(chan struct{})
	exec := &fakeExec{fn: func(ctx context.Context, _ sandboxcore.Request) (sandboxcore.Result, error) {
		close(started)
		select {
		case <-ctx.Done():
			close(sawCancel)
			return sandboxcore.Result{}, ctx.Err()
		case <-time.After(10 * time.Second):
			return okResult("1", ""), nil
		}
	}}
	s, logs := newTestService(t, exec, nil)
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest(http.MethodPost, "/execute", strings.NewReader(script(hello))).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	done := make(chan struct{})
	go func() { s.ExecuteHandler().ServeHTTP(httptest.NewRecorder(), req); close(done) }()
	<-started
	cancel()
	select {
	case <-sawCancel:
	case <-time.After(5 * time.Second):
		t.Fatal("executor context not cancelled")
	}
	<-done
	if !strings.Contains(logs.String(), `"code":"canceled"`) {
		t.Fatalf("cancellation not logged as canceled: %s", logs.String())
	}
}

func TestHTTPStatusNeverDefaultsForKnownCodes(t *testing.T) {
	for _, c := range sandboxcore.Codes {
		if c != sandboxcore.CodeInternal && HTTPStatus(c) == 500 {
			t.Errorf("%s maps to 500", c)
		}
	}
	for code, status := range map[sandboxcore.Code]int{codeUnauthorized: 401, codeMethodNotAllowed: 405,
		codeUnsupportedMediaType: 415, sandboxcore.CodeUnavailable: 503, codeOK: 200} {
		if HTTPStatus(code) != status {
			t.Errorf("%s: %d", code, HTTPStatus(code))
		}
	}
}

func TestResultEncodingKeepsBytes(t *testing.T) {
	exec := &fakeExec{fn: func(context.Context, sandboxcore.Request) (sandboxcore.Result, error) {
		return okResult(`"<b>&</b>"`, "<tag> & \u2028\n"), nil
	}}
	s, _ := newTestService(t, exec, nil)
	r := post(t, s.ExecuteHandler(), script(hello), nil)
	var body struct {
		Result json.RawMessage
		Stdout string
	}
	if err := json.Unmarshal([]byte(r.raw), &body); err != nil {
		t.Fatal(err)
	}
	if string(body.Result) != `"<b>&</b>"` || body.Stdout != "<tag> & \u2028\n" {
		t.Fatalf("got %s", r.raw)
	}
}
