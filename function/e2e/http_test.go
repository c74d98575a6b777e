package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The seed's three curl examples, verbatim.
func TestSeedExamples(t *testing.T) {
	s := sharedServer(t)

	r := s.execute(t, map[string]any{"script": "def main():\n print(\"Hello from IDE\")\n return {\"status\": \"ok\"}"})
	if r.status != 200 || r.body["stdout"] != "Hello from IDE\n" {
		t.Fatalf("hello: %d %s", r.status, r.raw)
	}
	if res, _ := r.body["result"].(map[string]any); len(res) != 1 || res["status"] != "ok" {
		t.Fatalf("hello result: %s", r.raw)
	}

	r = s.execute(t, map[string]any{"script": "def main():\n import numpy as np\n arr = np.array([1, 2, 3, 4, 5])\n return {\"mean\": float(np.mean(arr))}"})
	if res, _ := r.body["result"].(map[string]any); r.status != 200 || res["mean"] != 3.0 {
		t.Fatalf("numpy: %d %s", r.status, r.raw)
	}

	r = s.execute(t, map[string]any{"script": "def main():\n import os\n os.mkdir(\"/should_fail\")\n return {\"status\": \"created\"}"})
	if r.status != 422 || r.code() != "runtime_error" || r.body["result"] != nil {
		t.Fatalf("mkdir: %d %s", r.status, r.raw)
	}
	if e := r.body["error"].(map[string]any); !strings.Contains(e["message"].(string), "Read-only") && !strings.Contains(e["message"].(string), "ermission") {
		t.Fatalf("mkdir error does not say why: %s", r.raw)
	}
}

func TestStatuses(t *testing.T) {
	s := sharedServer(t)
	key := s.auth()
	big := strings.Repeat("#", 1<<20+1)
	bigJSON, _ := json.Marshal(map[string]string{"script": big})
	cases := []struct {
		name, method, ctype, body string
		hdr                       []string
		status                    int
		code                      string
	}{
		{"ok", "POST", "application/json", `{"script":"def main():\n    return [1, 2]"}`, key, 200, ""},
		{"bearer ok", "POST", "application/json", `{"script":"def main():\n    return 1"}`, []string{"Authorization", "Bearer " + s.alt}, 200, ""},
		{"invalid json", "POST", "application/json", `{"script":`, key, 400, "invalid_request"},
		{"script not a string", "POST", "application/json", `{"script":["x"]}`, key, 400, "invalid_request"},
		{"unknown field", "POST", "application/json", `{"script":"x","eval":true}`, key, 400, "invalid_request"},
		{"nul byte", "POST", "application/json", `{"script":"def main():\u0000\n    return 1"}`, key, 400, "invalid_request"},
		{"timeout zero", "POST", "application/json", `{"script":"def main():\n    return 1","timeout_ms":0}`, key, 400, "invalid_request"},
		{"memory below sandbox minimum", "POST", "application/json", `{"script":"def main():\n    return 1","memory_mb":1}`, key, 400, "invalid_request"},
		{"syntax error", "POST", "application/json", `{"script":"def main(:\n    pass"}`, key, 400, "syntax_error"},
		{"missing main", "POST", "application/json", `{"script":"x = 1"}`, key, 400, "missing_main"},
		{"no key", "POST", "application/json", `{"script":"def main():\n    return 1"}`, nil, 401, "unauthorized"},
		{"wrong key", "POST", "application/json", `{"script":"def main():\n    return 1"}`, []string{"X-API-Key", "nope"}, 401, "unauthorized"},
		{"GET", "GET", "", "", key, 405, "method_not_allowed"},
		{"PUT", "PUT", "application/json", `{"script":"x"}`, key, 405, "method_not_allowed"},
		{"too large", "POST", "application/json", string(bigJSON), key, 413, "script_too_large"},
		{"text/plain", "POST", "text/plain", `{"script":"def main():\n    return 1"}`, key, 415, "unsupported_media_type"},
		{"runtime error", "POST", "application/json", `{"script":"def main():\n    return 1/0"}`, key, 422, "runtime_error"},
		{"result not json", "POST", "application/json", `{"script":"def main():\n    return {1, 2}"}`, key, 422, "result_not_json"},
		{"result too large", "POST", "application/json", `{"script":"def main():\n    return 'x' * (40 << 20)","memory_mb":1024}`, key, 422, "result_too_large"},
		{"timeout", "POST", "application/json", `{"script":"def main():\n    while True:\n        pass","timeout_ms":300}`, key, 422, "timeout"},
		{"memory limit", "POST", "application/json", `{"script":"def main():\n    b = bytearray(1 << 30)\n    return len(b)","memory_mb":256}`, key, 422, "memory_limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.status == 401 && !s.keysOn {
				// Only a server at SERVER_URL can be without keys.
				t.Skip("the server at SERVER_URL runs without API_KEYS (give SERVER_API_KEY if it has them)")
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			r, err := s.do(ctx, c.method, "/execute", c.ctype, c.body, c.hdr...)
			if err != nil {
				t.Fatal(err)
			}
			if r.status != c.status || r.code() != c.code {
				t.Fatalf("got %d %q, want %d %q: %.400s", r.status, r.code(), c.status, c.code, r.raw)
			}
			if c.status == 405 && r.header.Get("Allow") != "POST, OPTIONS" {
				t.Fatalf("Allow %q", r.header.Get("Allow"))
			}
			if c.status >= 400 && r.body["result"] != nil {
				t.Fatalf("failure with a result: %s", r.raw)
			}
		})
	}
}

func TestHealthMetricsIDE(t *testing.T) {
	s := sharedServer(t)
	h := s.health(t)
	if !h.OK || h.Pool.Slots < 1 || h.Profile == "" {
		t.Fatalf("healthz: %+v", h)
	}
	// Health, metrics and the IDE are not behind the key.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := s.do(ctx, "GET", "/", "", "")
	if err != nil || r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("IDE: %v %d %q", err, r.status, r.header.Get("Content-Type"))
	}
	s.execute(t, map[string]any{"script": "def main():\n    return 1"})
	if v := s.metric(t, `python_api_executions_total{code="ok",path="http"}`); v < 1 {
		t.Fatalf("executions_total ok = %v", v)
	}
	if v := s.metric(t, "python_api_pool_slots"); int(v) != h.Pool.Slots {
		t.Fatalf("pool_slots %v, healthz says %d", v, h.Pool.Slots)
	}
	// CORS preflight from the dev IDE.
	r, err = s.do(ctx, "OPTIONS", "/execute", "", "", "Origin", "http://localhost:5173", "Access-Control-Request-Method", "POST")
	if err != nil || r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
		t.Fatalf("preflight: %v %d %v", err, r.status, r.header)
	}
}

const sleepScript = "import time\ndef main():\n    time.sleep(%s)\n    return 'slept'"

func sleeper(seconds string) map[string]any {
	return map[string]any{"script": strings.Replace(sleepScript, "%s", seconds, 1), "timeout_ms": 30000}
}

// A burst larger than slots + queue: every request gets an answer, only
// 200 or 429, and the server is fine afterwards.
func TestOverload(t *testing.T) {
	s := sharedServer(t)
	h := s.health(t)
	n := h.Pool.Slots + h.Pool.QueueCap + 6
	body, _ := json.Marshal(sleeper("1.5"))
	var (
		mu     sync.Mutex
		counts = map[int]int{}
		errs   []error
		wg     sync.WaitGroup
	)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			r, err := s.do(ctx, "POST", "/execute", "application/json", string(body), s.auth()...)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			counts[r.status]++
			if r.status == 429 && (r.header.Get("Retry-After") == "" || r.code() != "overloaded") {
				errs = append(errs, &statusError{r})
			}
		}()
	}
	close(start)
	wg.Wait()
	t.Logf("burst of %d (slots %d, queue %d): %v", n, h.Pool.Slots, h.Pool.QueueCap, counts)
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	for status := range counts {
		if status != 200 && status != 429 {
			t.Fatalf("unexpected status %d: %v", status, counts)
		}
	}
	if counts[429] == 0 || counts[200] < h.Pool.Slots {
		t.Fatalf("want some 429 and at least %d 200: %v", h.Pool.Slots, counts)
	}
	if r := s.execute(t, map[string]any{"script": "def main():\n    return 'fine'"}); r.status != 200 {
		t.Fatalf("after the burst: %d %s", r.status, r.raw)
	}
}

type statusError struct{ r result }

func (e *statusError) Error() string {
	return "bad 429: Retry-After=" + e.r.header.Get("Retry-After") + " body=" + string(e.r.raw)
}

// Clients that hang up free their slots: the jail is killed, not left to
// finish a 30 s sleep.
func TestClientCancellationFreesSlot(t *testing.T) {
	s := sharedServer(t)
	// Earlier tests' jobs hold their slots until their processes are gone;
	// "every slot busy" below must mean this test's two requests.
	if !eventually(20*time.Second, func() bool { return s.health(t).Pool.Busy == 0 }) {
		t.Fatalf("slots still busy from earlier tests: %+v", s.health(t))
	}
	h := s.health(t)
	body, _ := json.Marshal(sleeper("30"))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range h.Pool.Slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = s.do(ctx, "POST", "/execute", "application/json", string(body), s.auth()...)
		}()
	}
	if !eventually(20*time.Second, func() bool { return s.health(t).Pool.Busy == h.Pool.Slots }) {
		cancel()
		t.Fatalf("slots never filled: %+v", s.health(t))
	}
	cancel()
	wg.Wait()
	start := time.Now()
	// Far less than the scripts' 30 s: the jails were killed.
	if !eventually(10*time.Second, func() bool { return s.health(t).Pool.Busy == 0 }) {
		t.Fatalf("slots still busy 10s after the clients left: %+v", s.health(t))
	}
	t.Logf("slots freed %v after cancellation", time.Since(start).Round(time.Millisecond))
	if r := s.execute(t, map[string]any{"script": "def main():\n    return 'next'"}); r.status != 200 {
		t.Fatalf("next request: %d %s", r.status, r.raw)
	}
	// The handler records an execution after its slot is free, so the
	// count may trail the slots by a moment.
	canceled := func() float64 { return s.metric(t, `python_api_executions_total{code="canceled",path="http"}`) }
	if !eventually(5*time.Second, func() bool { return canceled() >= float64(h.Pool.Slots) }) {
		t.Fatalf("canceled executions recorded: %v, want %d", canceled(), h.Pool.Slots)
	}
}

// SIGTERM with requests in flight: all of them are answered, new
// connections are refused, and the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	needsLocalServer(t, "it sends SIGTERM to the server and checks its exit status")
	s := mustStartServer(t, "SHUTDOWN_TIMEOUT=9s")
	h := s.health(t)
	n := h.Pool.Slots + 2 // some running, some queued
	body, _ := json.Marshal(sleeper("2"))
	type answer struct {
		r   result
		err error
	}
	answers := make(chan answer, n)
	for range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			r, err := s.do(ctx, "POST", "/execute", "application/json", string(body))
			answers <- answer{r, err}
		}()
	}
	if !eventually(20*time.Second, func() bool { return s.health(t).Pool.Busy == h.Pool.Slots }) {
		t.Fatalf("requests never started: %+v", s.health(t))
	}
	time.Sleep(200 * time.Millisecond) // let the queued ones arrive too
	sent := time.Now()
	if err := s.p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused once the listener is closed.
	refused := eventually(2*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", s.url[len("http://"):], 200*time.Millisecond)
		if err == nil {
			c.Close()
			return false
		}
		return isConnRefused(err)
	})
	if !refused {
		t.Error("new connections still accepted after SIGTERM")
	}
	for range n {
		a := <-answers
		if a.err != nil || a.r.status != http.StatusOK {
			t.Errorf("in-flight request lost: %v %d %s", a.err, a.r.status, a.r.raw)
		}
	}
	select {
	case <-s.p.done:
	case <-time.After(15 * time.Second):
		t.Fatal("server did not exit")
	}
	if s.p.err != nil {
		t.Fatalf("exit: %v\n%s", s.p.err, s.logs())
	}
	t.Logf("%d in-flight requests answered; exit %v after SIGTERM", n, time.Since(sent).Round(time.Millisecond))
}

// Caller mistakes on /pubsub are 4xx in the contract's shape, whatever the
// framework behind it would say: never a 5xx, which Pub/Sub would retry
// forever, and never the body echoed back.
func TestPubSubCallerMistakes(t *testing.T) {
	s := sharedServer(t)
	marker := strings.Repeat("MARKER", 20)
	cases := []struct {
		name, method, ctype, body string
		status                    int
	}{
		{"not json", "POST", "application/json", "hello " + marker, 400},
		{"not a push body", "POST", "application/json", `{"x":"` + marker + `"}`, 400},
		{"bad base64", "POST", "application/json", `{"message":{"data":"*` + marker + `","messageId":"1"}}`, 400},
		{"structured cloudevent, not json", "POST", "application/cloudevents+json", marker, 400},
		{"too large", "POST", "application/json", strings.Repeat(" ", 16<<20+1), 413},
		{"GET", "GET", "", "", 405},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r, err := s.do(ctx, c.method, "/pubsub", c.ctype, c.body, s.auth()...)
			if err != nil {
				t.Fatal(err)
			}
			if r.status != c.status || r.code() == "" {
				t.Fatalf("got %d %q, want %d: %.300s", r.status, r.code(), c.status, r.raw)
			}
			if strings.Contains(string(r.raw), "MARKER") {
				t.Fatalf("the answer echoes the body: %.300s", r.raw)
			}
		})
	}
}
