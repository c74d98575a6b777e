// Package e2e runs the real bin/server (real sandbox, real Functions
// Framework) and real peers: the Pub/Sub emulator and fake-gcs-server.
//
// It needs SANDBOX_ROOTFS (make test exports it). SERVER_BIN selects a
// prebuilt binary; otherwise the tests build ./cmd/server once.
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
	"os"
	"os/exec"
	"path/filepath"
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
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("SANDBOX_ROOTFS") == "" {
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
	if serverBin == "" {
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

// proc is a child process whose output is kept for failure reports.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error // valid after done
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startProc starts argv in its own process group, so that stopping it
// also stops what it spawned (the emulator's JVM).
func startProc(name string, env []string, argv ...string) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &proc{name: name, cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
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

// waitTCP waits until addr accepts connections or p exits.
func waitTCP(addr string, p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited early: %v\n%s", p.name, p.err, tail(p.out.String()))
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not listening on %s after %v", p.name, addr, timeout)
}

func tail(s string) string {
	const n = 4000
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// server is a running bin/server.
type server struct {
	*proc
	url  string
	port int
}

const testAPIKey = "e2e-test-key-0123456789"

// startServer runs bin/server with env added to a minimal environment.
func startServer(env ...string) (*server, error) {
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
	s := &server{proc: p, port: port, url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	// The warm pool makes start-up take a moment; /healthz says when.
	deadline := time.Now().Add(90 * time.Second)
	for {
		if p.exited() {
			return nil, fmt.Errorf("bin/server exited during start-up: %v\n%s", p.err, tail(p.out.String()))
		}
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			_ = p.stop(syscall.SIGKILL, time.Second)
			return nil, fmt.Errorf("bin/server not healthy after 90s\n%s", tail(p.out.String()))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustStartServer(t *testing.T, env ...string) *server {
	t.Helper()
	s, err := startServer(env...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stop(syscall.SIGTERM, 20*time.Second); err != nil && !s.exited() {
			t.Errorf("stop server: %v", err)
		}
		if t.Failed() {
			t.Logf("server output:\n%s", tail(s.out.String()))
		}
	})
	return s
}

var shared struct {
	once sync.Once
	srv  *server
	err  error
}

// sharedServer is one server (API key on) for the tests that do not
// need a server of their own.
func sharedServer(t *testing.T) *server {
	t.Helper()
	shared.once.Do(func() {
		shared.srv, shared.err = startServer("API_KEYS=" + testAPIKey + ",other-key")
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	if shared.srv.exited() {
		t.Fatalf("shared server died:\n%s", tail(shared.srv.out.String()))
	}
	return shared.srv
}

func stopShared() {
	if shared.srv != nil {
		_ = shared.srv.stop(syscall.SIGTERM, 20*time.Second)
	}
}

// httpClient never uses a proxy: everything here is on loopback.
var httpClient = &http.Client{
	Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64},
	Timeout:   2 * time.Minute,
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

// execute POSTs a script payload with the test key.
func (s *server) execute(t *testing.T, payload any) result {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.do(context.Background(), http.MethodPost, "/execute", "application/json", string(b), "X-API-Key", testAPIKey)
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
	r, err := s.do(context.Background(), http.MethodGet, "/healthz", "", "")
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
	r, err := s.do(context.Background(), http.MethodGet, "/metrics", "", "")
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

// eventually polls cond until it holds or timeout passes.
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
