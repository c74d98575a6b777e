// Package e2e runs the real bin/server (real sandbox, real Functions
// Framework) and real peers: the Pub/Sub emulator and fake-gcs-server.
//
// It needs SANDBOX_ROOTFS (make test exports it). SERVER_BIN selects a
// prebuilt binary; otherwise the tests build ./cmd/server once.
//
// With SERVER_URL set (infra/image/run-gvisor.sh sets it), the HTTP
// contract tests run against the server already listening there instead
// of one of their own, and SANDBOX_ROOTFS is not needed. SERVER_API_KEY is
// the key that server wants, if it has API_KEYS. Tests that must control
// the server's process or environment (its signals, its slot count, its
// Pub/Sub and storage peers) are skipped in that mode, saying why, and
// only in that mode.
package e2e

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
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"python-api/internal/syncbuf"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	serverBin string
	repoRoot  string
	workDir   string
	// externalURL is SERVER_URL: the server under test when set.
	externalURL = strings.TrimRight(os.Getenv("SERVER_URL"), "/")
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if externalURL != "" {
		if u, err := url.Parse(externalURL); err != nil || u.Scheme == "" || u.Host == "" {
			fmt.Fprintf(os.Stderr, "e2e: SERVER_URL=%q is not a URL such as http://127.0.0.1:8080\n", externalURL)
			return 1
		}
		fmt.Fprintf(os.Stderr, "e2e: testing the server at SERVER_URL=%s; tests that need a server of their own are skipped\n", externalURL)
	} else if os.Getenv("SANDBOX_ROOTFS") == "" {
		fmt.Fprintln(os.Stderr, "e2e: SANDBOX_ROOTFS is not set. These tests run the real sandbox: "+
			"build the runtime tree with `make rootfs` and export SANDBOX_ROOTFS=$PWD/build/rootfs (make test does both).")
		return 1
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: find module root:", err)
		return 1
	}
	repoRoot = strings.TrimSpace(string(out))
	workDir, err = os.MkdirTemp("", "python-api-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(workDir)

	serverBin = os.Getenv("SERVER_BIN")
	if serverBin == "" && externalURL == "" {
		serverBin = filepath.Join(workDir, "server")
		build := exec.Command("go", "build", "-o", serverBin, "./cmd/server")
		build.Dir = repoRoot
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: go build ./cmd/server:", err)
			return 1
		}
	}
	code := m.Run()
	stopShared()
	return code
}

// needsLocalServer skips t when SERVER_URL points at a server this test
// cannot control; without SERVER_URL it does nothing, so the normal run
// still runs every test.
func needsLocalServer(t *testing.T, why string) {
	t.Helper()
	if externalURL != "" {
		t.Skipf("needs a bin/server of its own (%s), which SERVER_URL mode does not start; run without SERVER_URL for it", why)
	}
}

// proc is a child process whose output is kept for failure reports.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
	err  error // valid after done
}

// startProc starts argv in its own process group, so that stopping it
// also stops what it spawned (the emulator's JVM).
func startProc(name string, env []string, argv ...string) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &proc{name: name, cmd: cmd, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig to the process group and waits; after grace it kills.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) error {
	if p.exited() {
		return p.err
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s did not stop within %v", p.name, grace)
	}
	return p.err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// errExited says a child process exited during start-up (most often: its
// port was taken between freePort and its bind); another port may work.
var errExited = errors.New("exited during start-up")

// waitReady polls ready until it returns nil, p exits or timeout passes.
// ready must prove that p answers, not merely that something listens on
// its port: the port was free a moment ago, not reserved.
func waitReady(p *proc, timeout time.Duration, ready func(ctx context.Context) error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if p.exited() {
			return fmt.Errorf("%s %w: %v\n%s", p.name, errExited, p.err, tail(p.out.String()))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		last = ready(ctx)
		cancel()
		if last == nil {
			// Something answered; make sure it was not a stranger on
			// our port while p failed to bind and is about to exit.
			select {
			case <-p.done:
				return fmt.Errorf("%s %w: %v\n%s", p.name, errExited, p.err, tail(p.out.String()))
			case <-time.After(100 * time.Millisecond):
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %v\n%s", p.name, timeout, last, tail(p.out.String()))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// getBody GETs url with ctx and returns the status and the start of the body.
func getBody(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b), err
}

func tail(s string) string {
	const n = 4000
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// server is the server under test: a bin/server of ours, or the one at
// SERVER_URL (p nil).
type server struct {
	p    *proc
	url  string
	port int
	// key is an API key the server accepts ("" when it wants none), alt
	// another one; keysOn says whether it refuses requests without one.
	key, alt string
	keysOn   bool
}

// logs is the tail of the server's output, for failure messages.
func (s *server) logs() string {
	if s.p == nil {
		return "(the server at SERVER_URL: its log is not visible from here)"
	}
	return tail(s.p.out.String())
}

// output is everything the server printed so far (ours only).
func (s *server) output() string { return s.p.out.String() }

func (s *server) exited() bool { return s.p != nil && s.p.exited() }

const testAPIKey = "e2e-test-key-0123456789"

// startServer runs bin/server with env added to a minimal environment and
// waits until /healthz says ok. A server that exits during start-up (its
// port taken before it could bind) is started again on another port.
func startServer(env ...string) (*server, error) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var s *server
		s, err = startServerOnce(env...)
		if err == nil || !errors.Is(err, errExited) || !strings.Contains(err.Error(), "address already in use") {
			return s, err
		}
	}
	return nil, err
}

func startServerOnce(env ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	base := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"PORT=" + strconv.Itoa(port),
		"SANDBOX_ROOTFS=" + os.Getenv("SANDBOX_ROOTFS"),
		"RESULTS_DIR=" + filepath.Join(workDir, fmt.Sprintf("results-%d", port)),
	}
	p, err := startProc("bin/server", append(base, env...), serverBin)
	if err != nil {
		return nil, err
	}
	s := &server{p: p, port: port, url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	for _, e := range env {
		if keys, ok := strings.CutPrefix(e, "API_KEYS="); ok && keys != "" {
			s.keysOn = true
			s.key, s.alt, _ = strings.Cut(keys, ",")
			if s.alt == "" {
				s.alt = s.key
			}
		}
	}
	// The warm pool makes start-up take a moment; /healthz says when. The
	// server opens its port only once its framework answers, so a 200
	// here means /execute works too.
	err = waitReady(p, 60*time.Second, func(ctx context.Context) error {
		status, body, err := getBody(ctx, s.url+"/healthz")
		if err == nil && (status != 200 || !strings.Contains(body, `"ok":true`)) {
			err = fmt.Errorf("healthz %d %.200s", status, body)
		}
		return err
	})
	if err != nil {
		_ = p.stop(syscall.SIGKILL, time.Second)
		return nil, fmt.Errorf("bin/server: %w", err)
	}
	return s, nil
}

func mustStartServer(t *testing.T, env ...string) *server {
	t.Helper()
	s, err := startServer(env...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.p.stop(syscall.SIGTERM, 15*time.Second); err != nil && !s.exited() {
			t.Errorf("stop server: %v", err)
		}
		if t.Failed() {
			t.Logf("server output:\n%s", s.logs())
		}
	})
	return s
}

var shared struct {
	once sync.Once
	srv  *server
	err  error
}

// sharedServer is the server for the tests that do not need one of their
// own: the one at SERVER_URL, or one bin/server with API keys on.
func sharedServer(t *testing.T) *server {
	t.Helper()
	shared.once.Do(func() {
		if externalURL != "" {
			shared.srv, shared.err = externalServer()
			return
		}
		shared.srv, shared.err = startServer("API_KEYS=" + testAPIKey + ",other-key")
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	if shared.srv.exited() {
		t.Fatalf("shared server died:\n%s", shared.srv.logs())
	}
	return shared.srv
}

// externalServer checks that SERVER_URL answers /healthz ok and finds out
// whether it wants API keys: without a key, a body that is not even JSON
// gets 401 from a server with API_KEYS and 400 from one without.
func externalServer() (*server, error) {
	key := os.Getenv("SERVER_API_KEY")
	s := &server{url: externalURL, key: key, alt: key}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last error
	for {
		status, body, err := getBody(ctx, s.url+"/healthz")
		if err == nil && status == 200 && strings.Contains(body, `"ok":true`) {
			break
		}
		last = fmt.Errorf("healthz: %d %.300s %v", status, body, err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("SERVER_URL=%s is not healthy: %w", s.url, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
	r, err := s.do(ctx, http.MethodPost, "/execute", "application/json", "not json")
	if err != nil {
		return nil, fmt.Errorf("SERVER_URL=%s: %w", s.url, err)
	}
	switch {
	case r.status == 401 && key == "":
		return nil, fmt.Errorf("the server at SERVER_URL=%s wants an API key: set SERVER_API_KEY", s.url)
	case r.status == 401:
		s.keysOn = true
	case r.status == 400:
		if key != "" {
			return nil, fmt.Errorf("SERVER_API_KEY is set but the server at SERVER_URL=%s takes requests without a key", s.url)
		}
	default:
		return nil, fmt.Errorf("SERVER_URL=%s: POST /execute without a key: %d %.300s", s.url, r.status, r.raw)
	}
	return s, nil
}

func stopShared() {
	if shared.srv != nil && shared.srv.p != nil {
		_ = shared.srv.p.stop(syscall.SIGTERM, 15*time.Second)
	}
}

// httpClient never uses a proxy: everything here is on loopback. Its
// timeout is a backstop; callers that poll pass shorter contexts.
var httpClient = &http.Client{
	Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64},
	Timeout:   90 * time.Second,
}

type result struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r result) code() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (s *server) do(ctx context.Context, method, path, ctype, body string, hdr ...string) (result, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, strings.NewReader(body))
	if err != nil {
		return result{}, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, err
	}
	r := result{status: resp.StatusCode, header: resp.Header, raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			return r, fmt.Errorf("response is not JSON: %v: %q", err, raw)
		}
	}
	return r, nil
}

// auth is the header that carries the server's key (none when it needs none).
func (s *server) auth() []string {
	if s.key == "" {
		return nil
	}
	return []string{"X-API-Key", s.key}
}

// execute POSTs a script payload with the server's key.
func (s *server) execute(t *testing.T, payload any) result {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := s.do(ctx, http.MethodPost, "/execute", "application/json", string(b), s.auth()...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type health struct {
	OK      bool   `json:"ok"`
	Profile string `json:"profile"`
	Pool    struct {
		Slots    int `json:"slots"`
		Busy     int `json:"busy"`
		QueueCap int `json:"queue_capacity"`
		Queued   int `json:"queued"`
	} `json:"pool"`
}

func (s *server) health(t *testing.T) health {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := s.do(ctx, http.MethodGet, "/healthz", "", "")
	if err != nil {
		t.Fatal(err)
	}
	var h health
	if err := json.Unmarshal(r.raw, &h); err != nil {
		t.Fatalf("healthz: %v: %s", err, r.raw)
	}
	return h
}

// metric returns the value of the sample whose name and labels are given
// exactly as in the exposition, e.g. `python_api_executions_total{code="ok",path="http"}`.
func (s *server) metric(t *testing.T, sample string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := s.do(ctx, http.MethodGet, "/metrics", "", "")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(r.raw))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// eventually polls cond until it holds or timeout passes. cond must not
// block for long itself (bound its calls with a context).
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func isConnRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}
