package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"python-api/internal/syncbuf"

	"python-api/function"
	"python-api/sandboxcore"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
)

// okExec is a sandbox that answers every script with 42.
type okExec struct{}

func (okExec) Execute(context.Context, sandboxcore.Request) (sandboxcore.Result, error) {
	return sandboxcore.Result{Result: json.RawMessage("42"), Profile: "test"}, nil
}

func (okExec) Health() sandboxcore.Health {
	return sandboxcore.Health{OK: true, Mode: "auto", Profile: "test", Layers: []string{"x"}, Pool: sandboxcore.PoolStats{Slots: 1}}
}

// portsFrom hands out the given ports, then free ones; it counts calls.
func portsFrom(calls *atomic.Int32, ports ...string) func() (string, error) {
	return func() (string, error) {
		n := int(calls.Add(1)) - 1
		if n < len(ports) {
			return ports[n], nil
		}
		return freeLoopbackPort()
	}
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The race seen under gVisor: the port picked for the framework is taken
// by someone else before the framework binds it. A TCP dial reaches that
// other listener and used to count as "framework up" while the framework's
// bind error went unread, so every request was forwarded to a stranger.
// The real framework must end up on a port of its own, proven by its probe.
func TestFrameworkStartSkipsAForeignListener(t *testing.T) {
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "some other server")
	}))
	defer foreign.Close()
	fu, _ := url.Parse(foreign.URL)

	var picks atomic.Int32
	fw, err := frameworkStarter{
		start:    funcframework.StartHostPort,
		pickPort: portsFrom(&picks, fu.Port()),
		token:    processToken,
		timeout:  20 * time.Second,
		attempts: 3,
	}.startFramework(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if fw.url.Host == fu.Host {
		t.Fatalf("the framework was declared up on %s, which another server holds", fu.Host)
	}
	if picks.Load() != 2 {
		t.Fatalf("ports picked: %d, want 2 (the taken one, then a free one)", picks.Load())
	}
	if status, body := get(t, fw.url.JoinPath(probeFunction).String()); status != 200 || body != processToken {
		t.Fatalf("probe through %s: %d %q", fw.url, status, body)
	}
	select {
	case err := <-fw.done:
		t.Fatalf("the framework stopped: %v", err)
	default:
	}
}

// A framework that neither answers nor fails is not doubled by a second
// one on another port: start-up fails, and the platform restarts us.
func TestFrameworkStartGivesUpOnASilentFramework(t *testing.T) {
	var starts atomic.Int32
	block := make(chan struct{})
	defer close(block)
	start := time.Now()
	_, err := frameworkStarter{
		start:    func(string, string) error { starts.Add(1); <-block; return nil },
		pickPort: freeLoopbackPort,
		token:    "t",
		timeout:  300 * time.Millisecond,
		attempts: 3,
	}.startFramework(context.Background())
	if err == nil || !strings.Contains(err.Error(), "did not answer its probe") {
		t.Fatalf("err = %v", err)
	}
	if starts.Load() != 1 {
		t.Fatalf("framework started %d times", starts.Load())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("gave up after %v", d)
	}
}

// Each failed bind is read from the framework's error channel and another
// port is tried, up to the attempt limit.
func TestFrameworkStartRetriesFailedBinds(t *testing.T) {
	var starts atomic.Int32
	_, err := frameworkStarter{
		start: func(h, p string) error {
			starts.Add(1)
			return fmt.Errorf("listen tcp %s:%s: bind: address already in use", h, p)
		},
		pickPort: freeLoopbackPort,
		token:    "t",
		timeout:  10 * time.Second,
		attempts: 3,
	}.startFramework(context.Background())
	if err == nil || !strings.Contains(err.Error(), "address already in use") || starts.Load() != 3 {
		t.Fatalf("err = %v after %d starts", err, starts.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = frameworkStarter{
		start:    func(string, string) error { select {} },
		pickPort: freeLoopbackPort, token: "t", timeout: 10 * time.Second, attempts: 3,
	}.startFramework(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled start: %v", err)
	}
}

// testInstance runs instance.run on a loopback port with a stand-in for the
// framework; stopFramework makes the framework "stop" with err.
type testInstance struct {
	url           string
	svc           *function.Service
	logs          *syncbuf.Buffer
	code          chan int
	cancel        context.CancelFunc
	stopFramework func(error)
}

func startInstance(t *testing.T, inner http.Handler) *testInstance {
	t.Helper()
	svc, err := function.NewService(function.Options{Executor: okExec{}})
	if err != nil {
		t.Fatal(err)
	}
	fake := httptest.NewServer(inner)
	t.Cleanup(fake.Close)
	fu, _ := url.Parse(fake.URL)
	done := make(chan error, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ti := &testInstance{
		url: "http://" + ln.Addr().String(), svc: svc, logs: logs, code: make(chan int, 1), cancel: cancel,
		stopFramework: func(err error) { done <- err },
	}
	in := instance{svc: svc, fw: &framework{url: fu, done: done}, ide: http.NotFoundHandler(),
		log: function.NewLogger(logs), shutdownTimeout: 5 * time.Second, bodyTimeout: 2 * time.Second}
	go func() { ti.code <- in.run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ti.code:
		case <-time.After(10 * time.Second):
			t.Error("instance did not stop")
		}
	})
	return ti
}

func (ti *testInstance) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case c := <-ti.code:
		ti.code <- c // for the cleanup
		return c
	case <-time.After(10 * time.Second):
		t.Fatalf("instance still running\n%s", ti.logs.String())
		return -1
	}
}

// If the framework stops after start-up, /healthz turns 503 and the process
// exits non-zero instead of answering 503 to every request forever.
func TestInstanceExitsWhenTheFrameworkStops(t *testing.T) {
	ti := startInstance(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"result":1}`)
	}))
	if status, body := get(t, ti.url+"/healthz"); status != 200 {
		t.Fatalf("healthz before: %d %s", status, body)
	}
	if status, body := get(t, ti.url+"/execute"); status != 200 || body != `{"result":1}` {
		t.Fatalf("forwarded request: %d %s", status, body)
	}
	ti.stopFramework(errors.New("accept tcp 127.0.0.1:1: use of closed network connection"))
	if c := ti.exitCode(t); c != 1 {
		t.Fatalf("exit code %d, want 1", c)
	}
	rec := httptest.NewRecorder()
	ti.svc.HealthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"failure":"functions framework stopped"`) || !strings.Contains(rec.Body.String(), `"ok":false`) {
		t.Fatalf("healthz after: %d %s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(ti.logs.String(), "functions framework stopped") {
		t.Fatalf("logs: %s", ti.logs.String())
	}
}

func TestInstanceShutsDownCleanly(t *testing.T) {
	ti := startInstance(t, http.NotFoundHandler())
	if status, _ := get(t, ti.url+"/healthz"); status != 200 {
		t.Fatalf("healthz: %d", status)
	}
	ti.cancel()
	if c := ti.exitCode(t); c != 0 {
		t.Fatalf("exit code %d\n%s", c, ti.logs.String())
	}
}

// realMux is the public mux in front of the real framework (started once
// per test binary), with a service whose sandbox is okExec.
func realMux(t *testing.T) (string, *syncbuf.Buffer) {
	t.Helper()
	fw, err := frameworkStarter{
		start: funcframework.StartHostPort, pickPort: freeLoopbackPort, token: processToken,
		timeout: 20 * time.Second, attempts: 5,
	}.startFramework(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := function.NewService(function.Options{Executor: okExec{}})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	srv := httptest.NewServer(newMux(svc, fw.url, http.NotFoundHandler(), function.NewLogger(logs), 2*time.Second))
	t.Cleanup(srv.Close)
	return srv.URL, logs
}

// Caller mistakes on /pubsub get a 4xx in the contract's JSON shape: never
// a 5xx (which Pub/Sub retries forever), never the caller's body copied
// back. Before the guard, a huge body was a 503, a structured CloudEvent
// that is not JSON a 500, and other bad bodies were echoed whole.
func TestPubSubCallerMistakesThroughTheFramework(t *testing.T) {
	base, _ := realMux(t)
	marker := strings.Repeat("MARKER", 100)
	big := bytes.Repeat([]byte("a"), function.MaxPushBodyBytes+1)
	cases := []struct {
		name, method, ctype string
		body                []byte
		chunked             bool
		status              int
	}{
		{"not json", "POST", "application/json", []byte("hello " + marker), false, 400},
		{"empty", "POST", "application/json", nil, false, 400},
		{"empty object", "POST", "application/json", []byte(`{"x":"` + marker + `"}`), false, 400},
		{"array", "POST", "application/json", []byte(`["` + marker + `"]`), false, 400},
		{"message not an object", "POST", "application/json", []byte(`{"message":"` + marker + `"}`), false, 400},
		{"bad base64", "POST", "application/json", []byte(`{"message":{"data":"!!` + marker + `","messageId":"1"}}`), false, 400},
		{"bad publishTime", "POST", "application/json", []byte(`{"message":{"messageId":"1","publishTime":"` + marker + `"}}`), false, 400},
		{"no message id", "POST", "application/json", []byte(`{"message":{"data":"e30="}}`), false, 400},
		{"structured cloudevent not json", "POST", "application/cloudevents+json", []byte("zzz " + marker), false, 400},
		{"structured cloudevent without specversion", "POST", "application/cloudevents+json", []byte(`{"x":1}`), false, 400},
		{"too large", "POST", "application/json", big, false, 413},
		{"too large, chunked", "POST", "application/json", big, true, 413},
		{"GET", "GET", "", nil, false, 405},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var body io.Reader = bytes.NewReader(c.body)
			if c.chunked {
				body = io.MultiReader(body) // hides the length: chunked
			}
			req, _ := http.NewRequestWithContext(ctx, c.method, base+"/pubsub", body)
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, c.status, raw)
			}
			if strings.Contains(string(raw), "MARKER") {
				t.Fatalf("the answer echoes the body: %.300s", raw)
			}
			// The framework itself judges a JSON CloudEvent, in plain text.
			if !strings.HasSuffix(c.name, "without specversion") {
				var res struct {
					Error struct{ Code string } `json:"error"`
				}
				if err := json.Unmarshal(raw, &res); err != nil || res.Error.Code == "" {
					t.Fatalf("not the contract's JSON: %v: %.300s", err, raw)
				}
			}
		})
	}
}

// A caller whose body breaks off mid-way gets a 400, not a 503 blaming the
// framework.
func TestExecuteBrokenBodyIsTheCallersFault(t *testing.T) {
	base, logs := realMux(t)
	conn := rawConn(t, base)
	// A chunk size line that is not hex breaks the chunked encoding.
	_, err := io.WriteString(conn, "POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"5\r\n{\"scr\r\nzz\r\n")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 {
		t.Fatalf("status %d: %s\nlogs: %s", resp.StatusCode, raw, logs.String())
	}
	if strings.Contains(logs.String(), "functions framework unreachable") {
		t.Fatalf("blamed the framework: %s", logs.String())
	}
}

// A caller that trickles its body gets a 400 at the body deadline; a slow
// execution after a prompt body is not cut by it.
func TestExecuteBodyReadDeadline(t *testing.T) {
	base, logs := realMux(t)
	conn := rawConn(t, base)
	body := `{"script": "def main():\n    return 1\n"}`
	if _, err := fmt.Fprintf(conn, "POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body)); err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := 0; i < len(body); i++ {
			if _, err := conn.Write([]byte{body[i]}); err != nil {
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
	}()
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(raw), "not received within") {
		t.Fatalf("status %d: %s\nlogs: %s", resp.StatusCode, raw, logs.String())
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("answered after %v, body deadline 2s", took)
	}

	// A prompt body and an answer that comes after the body deadline.
	ti := startInstance(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		time.Sleep(3 * time.Second)
		_, _ = io.WriteString(w, "slow-ok")
	}))
	resp2, err := http.Post(ti.url+"/execute", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	raw, _ = io.ReadAll(resp2.Body)
	if resp2.StatusCode != 200 || string(raw) != "slow-ok" {
		t.Fatalf("slow answer after a prompt body: status %d: %s\nlogs: %s", resp2.StatusCode, raw, ti.logs.String())
	}
}

// rawConn is a TCP connection to the server at base, for writing requests
// by hand; closed when the test ends.
func rawConn(t *testing.T, base string) net.Conn {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	return conn
}
