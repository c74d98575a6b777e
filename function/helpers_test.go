package function

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"python-api/internal/syncbuf"

	"python-api/sandboxcore"
)

// fakeExec is the unit tests' sandbox: it records requests and answers
// with fn.
type fakeExec struct {
	fn     func(ctx context.Context, req sandboxcore.Request) (sandboxcore.Result, error)
	health sandboxcore.Health
	calls  atomic.Int64
	mu     sync.Mutex
	reqs   []sandboxcore.Request
}

// Execute applies the sandbox's real request rules (sandboxcore's
// Config.Check, the one owner of every limit) before fn.
// A rejected request is not counted in calls: like the real sandbox, it
// uses no jail.
func (f *fakeExec) Execute(ctx context.Context, req sandboxcore.Request) (sandboxcore.Result, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if _, reject := sandboxcore.DefaultConfig().Check(req); reject != nil {
		return sandboxcore.Result{Error: reject}, nil
	}
	f.calls.Add(1)
	if f.fn == nil {
		return okResult(`{"status":"ok"}`, "out\n"), nil
	}
	return f.fn(ctx, req)
}

func (f *fakeExec) Health() sandboxcore.Health { return f.health }

func (f *fakeExec) lastRequest(t *testing.T) sandboxcore.Request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("the executor was never called")
	}
	return f.reqs[len(f.reqs)-1]
}

func okResult(result, stdout string) sandboxcore.Result {
	return sandboxcore.Result{Result: json.RawMessage(result), Stdout: stdout, DurationMs: 1.5, Profile: "namespaces",
		Usage: &sandboxcore.Usage{WallMs: 1.5, CPUMs: 12, MaxRSSMB: 100}}
}

func errResult(code sandboxcore.Code) sandboxcore.Result {
	return sandboxcore.Result{Error: &sandboxcore.ExecError{Code: code, Message: "m"}, Stderr: "trace\n", Profile: "namespaces"}
}

func newTestService(t *testing.T, exec *fakeExec, mod func(*Options)) (*Service, *syncbuf.Buffer) {
	t.Helper()
	var logs syncbuf.Buffer
	opts := Options{Executor: exec, Logger: NewLogger(&logs), Store: nil}
	if mod != nil {
		mod(&opts)
	}
	s, err := NewService(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, &logs
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func post(t *testing.T, h http.Handler, body string, hdr map[string]string) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/execute", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return do(t, h, req)
}

func do(t *testing.T, h http.Handler, req *http.Request) response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	r := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &r.body); err != nil {
			t.Fatalf("response is not JSON: %v: %q", err, rec.Body.String())
		}
	}
	return r
}

func (r response) code() string {
	e, _ := r.body["error"].(map[string]any)
	if e == nil {
		return ""
	}
	c, _ := e["code"].(string)
	return c
}

func (r response) message() string {
	e, _ := r.body["error"].(map[string]any)
	if e == nil {
		return ""
	}
	m, _ := e["message"].(string)
	return m
}

func script(s string) string {
	b, _ := json.Marshal(map[string]string{"script": s})
	return string(b)
}
