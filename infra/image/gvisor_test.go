//go:build gvisor

// Package image tests the production image while infra/image/run-gvisor.sh
// runs it under gVisor. The build tag keeps these tests out of a plain
// `go test ./...`: they need that running server (SERVER_URL) and the runsc
// container it lives in (GVISOR_RUNSC_ROOT, GVISOR_CONTAINER_ID).
package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func serverURL(t *testing.T) *url.URL {
	t.Helper()
	raw := os.Getenv("SERVER_URL")
	if raw == "" {
		t.Fatal("SERVER_URL is not set: run these tests through infra/image/run-gvisor.sh")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("SERVER_URL: %v", err)
	}
	return u
}

type health struct {
	OK      bool     `json:"ok"`
	Mode    string   `json:"mode"`
	Profile string   `json:"profile"`
	Layers  []string `json:"layers"`
	Files   bool     `json:"files"`
	Weaker  []string `json:"weaker"`
}

func getHealth(t *testing.T) health {
	t.Helper()
	u := serverURL(t)
	resp, err := http.Get(u.JoinPath("/healthz").String())
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read /healthz: %v", err)
	}
	var h health
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatalf("/healthz is not JSON: %v: %s", err, body)
	}
	if resp.StatusCode != http.StatusOK || !h.OK {
		t.Fatalf("/healthz: %d %s", resp.StatusCode, body)
	}
	return h
}

type execResult struct {
	status int
	Result json.RawMessage `json:"result"`
	Stdout string          `json:"stdout"`
	Stderr string          `json:"stderr"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Profile string `json:"profile"`
	Files   []struct {
		Name    string `json:"name"`
		Content []byte `json:"content"`
	} `json:"files"`
}

func execute(t *testing.T, script string) execResult {
	t.Helper()
	u := serverURL(t)
	body, _ := json.Marshal(map[string]any{"script": script, "timeout_ms": 20000})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.JoinPath("/execute").String(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /execute: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read /execute: %v", err)
	}
	var r execResult
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("/execute answered %d with non-JSON: %s", resp.StatusCode, raw)
	}
	r.status = resp.StatusCode
	return r
}

func TestHealthzChroot(t *testing.T) {
	want := os.Getenv("EXPECT_PROFILE")
	if want == "" {
		want = "chroot"
	}
	h := getHealth(t)
	t.Logf("healthz: mode=%s profile=%s layers=%v weaker=%v", h.Mode, h.Profile, h.Layers, h.Weaker)
	if h.Mode != "auto" {
		t.Errorf("mode %q, want auto (the image sets SANDBOX_MODE=auto)", h.Mode)
	}
	if h.Profile != want {
		t.Errorf("profile %q, want %q under gVisor without CAP_SYS_ADMIN", h.Profile, want)
	}
	if !contains(h.Layers, "seccomp") {
		t.Errorf("layers %v lack seccomp", h.Layers)
	}
}

func TestExecutePandas(t *testing.T) {
	r := execute(t, `import numpy as np, pandas as pd
def main():
    print("hello from gvisor")
    df = pd.DataFrame({"x": np.arange(4)})
    return {"sum": int(df.x.sum()), "numpy": np.__version__}
`)
	if r.status != http.StatusOK || r.Error != nil {
		t.Fatalf("status %d, error %+v, stderr %s", r.status, r.Error, r.Stderr)
	}
	var got struct {
		Sum   int    `json:"sum"`
		Numpy string `json:"numpy"`
	}
	if err := json.Unmarshal(r.Result, &got); err != nil || got.Sum != 6 || got.Numpy == "" {
		t.Fatalf("result %s (%v)", r.Result, err)
	}
	if r.Stdout != "hello from gvisor\n" {
		t.Errorf("stdout %q", r.Stdout)
	}
	if r.Profile != "chroot" && os.Getenv("EXPECT_PROFILE") == "" {
		t.Errorf("executed in profile %q", r.Profile)
	}
}

// A data analyst's request as the IDE sends it, under gVisor: a CSV in, a
// summary and a matplotlib plot out (the chroot profile's private /tmp).
func TestFilesAndPlotUnderGVisor(t *testing.T) {
	if h := getHealth(t); !h.Files {
		t.Fatalf("/healthz says jobs have no working directory here: layers %v, weaker %v", h.Layers, h.Weaker)
	}
	status, r := post(t, serverURL(t).JoinPath("/execute").String(), "application/json", map[string]any{
		"timeout_ms": 30000,
		"files":      []map[string]any{{"name": "data.csv", "content": []byte("city,sales\nParis,3\nOslo,5\nParis,4\n")}},
		"script": `import matplotlib.pyplot as plt
import pandas as pd
def main():
    df = pd.read_csv("data.csv").groupby("city", as_index=False)["sales"].sum()
    df.to_csv("outputs/summary.csv", index=False)
    df.plot.bar(x="city", y="sales")
    plt.savefig("outputs/sales.png")
    return len(df)
`})
	if status != http.StatusOK || r.Error != nil || string(r.Result) != "2" {
		t.Fatalf("status %d, result %s, error %+v, stderr %s", status, r.Result, r.Error, r.Stderr)
	}
	got := map[string]string{}
	for _, f := range r.Files {
		got[f.Name] = string(f.Content)
	}
	if got["summary.csv"] != "city,sales\nOslo,5\nParis,7\n" || !strings.HasPrefix(got["sales.png"], "\x89PNG") {
		t.Errorf("files: %d returned, summary %q, png %d bytes", len(r.Files), got["summary.csv"], len(got["sales.png"]))
	}
}

// standIn counts every TCP connection and UDP datagram it receives: it plays
// the metadata server (which on Cloud Run is one hop away from the
// container) on this machine's loopback.
type standIn struct {
	tcp   net.Listener
	udp   net.PacketConn
	tcp6  net.Listener
	count atomic.Int64
}

func newStandIn(t *testing.T) *standIn {
	t.Helper()
	s := &standIn{}
	var err error
	if s.tcp, err = net.Listen("tcp4", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if s.udp, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	// IPv6 loopback may be absent; the IPv4 checks still stand then.
	s.tcp6, _ = net.Listen("tcp6", "[::1]:0")
	accept := func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.count.Add(1)
			// Answer like the metadata server would, so a script that got
			// this far would have a "token" to show.
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			_, _ = c.Read(make([]byte, 4096))
			_, _ = io.WriteString(c, "HTTP/1.0 200 OK\r\nMetadata-Flavor: Google\r\nContent-Type: application/json\r\n\r\n{\"access_token\":\"stand-in-token\"}")
			c.Close()
		}
	}
	go accept(s.tcp)
	if s.tcp6 != nil {
		go accept(s.tcp6)
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := s.udp.ReadFrom(buf); err != nil {
				return
			}
			s.count.Add(1)
		}
	}()
	t.Cleanup(func() {
		s.tcp.Close()
		s.udp.Close()
		if s.tcp6 != nil {
			s.tcp6.Close()
		}
	})
	return s
}

func port(a net.Addr) int {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.Port
	case *net.UDPAddr:
		return a.Port
	}
	return 0
}

// networkScript tries every way Python (and C, through ctypes) has to open a
// socket towards the stand-in and the server's own port. Each entry reports
// what happened; anything but an error is a breach.
const networkScript = `import socket, ctypes, json, urllib.request, http.client, subprocess, sys
TCP = %d
UDP = %d
TCP6 = %d
SERVER = %d

def attempt(fn):
    try:
        return "ok:" + str(fn())
    except BaseException as e:
        return "denied:" + type(e).__name__ + ":" + str(e)[:80]

def tcp(host, port, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect((host, port))
    s.sendall(b"GET /computeMetadata/v1/instance/service-accounts/default/token HTTP/1.0\r\nMetadata-Flavor: Google\r\n\r\n")
    data = s.recv(4096)
    s.close()
    return data[:40]

def udp(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", (host, port))
    s.close()
    return "sent"

def metadata_http():
    req = urllib.request.Request("http://127.0.0.1:%%d/computeMetadata/v1/instance/service-accounts/default/token" %% TCP,
                                 headers={"Metadata-Flavor": "Google"})
    return urllib.request.urlopen(req, timeout=3).read()[:40]

def service_http():
    c = http.client.HTTPConnection("127.0.0.1", SERVER, timeout=3)
    c.request("GET", "/healthz")
    return c.getresponse().status

libc = ctypes.CDLL(None, use_errno=True)
def raw_syscall_socket():
    # socket(2) is syscall 41 on x86-64: straight to the kernel, past Python.
    fd = libc.syscall(41, socket.AF_INET, socket.SOCK_STREAM, 0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "syscall(socket)")
    return "fd %%d" %% fd

def raw_syscall_connect():
    fd = libc.syscall(41, socket.AF_INET, socket.SOCK_STREAM, 0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "syscall(socket)")
    addr = socket.inet_aton("127.0.0.1")
    sa = (ctypes.c_ubyte * 16)(2, 0, TCP >> 8, TCP & 0xff, *addr)
    rc = libc.syscall(42, fd, sa, 16)
    if rc < 0:
        raise OSError(ctypes.get_errno(), "syscall(connect)")
    return "connected"

def child_process():
    out = subprocess.run([sys.executable, "-c",
        "import socket; s=socket.create_connection(('127.0.0.1', %%d), 3); print('connected')" %% TCP],
        capture_output=True, text=True, timeout=10)
    if "connected" in out.stdout:
        return "connected"
    raise OSError("child: " + (out.stderr.strip().splitlines() or ["?"])[-1])

def main():
    out = {
        "tcp-standin": attempt(lambda: tcp("127.0.0.1", TCP)),
        "tcp-service": attempt(lambda: tcp("127.0.0.1", SERVER)),
        "udp-standin": attempt(lambda: udp("127.0.0.1", UDP)),
        "http-metadata-standin": attempt(metadata_http),
        "http-service": attempt(service_http),
        "create_connection-standin": attempt(lambda: socket.create_connection(("127.0.0.1", TCP), 3)),
        "localhost-service": attempt(lambda: socket.create_connection(("localhost", SERVER), 3)),
        "syscall-socket": attempt(raw_syscall_socket),
        "syscall-connect": attempt(raw_syscall_connect),
        "child-process": attempt(child_process),
        "socketpair-not-network": attempt(lambda: len(socket.socketpair())),
    }
    if TCP6:
        out["tcp6-standin"] = attempt(lambda: tcp("::1", TCP6, socket.AF_INET6))
    return out
`

func TestScriptCannotReachLoopback(t *testing.T) {
	srv := serverURL(t)
	var serverPort int
	if _, err := fmt.Sscan(srv.Port(), &serverPort); err != nil || serverPort == 0 {
		t.Fatalf("SERVER_URL %s has no port", srv)
	}
	s := newStandIn(t)
	tcp6 := 0
	if s.tcp6 != nil {
		tcp6 = port(s.tcp6.Addr())
	}
	script := fmt.Sprintf(networkScript, port(s.tcp.Addr()), port(s.udp.LocalAddr()), tcp6, serverPort)

	r := execute(t, script)
	if r.status != http.StatusOK || r.Error != nil {
		t.Fatalf("status %d, error %+v, stderr %s", r.status, r.Error, r.Stderr)
	}
	var outcomes map[string]string
	if err := json.Unmarshal(r.Result, &outcomes); err != nil {
		t.Fatalf("result %s: %v", r.Result, err)
	}
	for name, o := range outcomes {
		t.Logf("%-26s %s", name, o)
		if name == "socketpair-not-network" {
			continue // AF_UNIX pairs reach nothing outside the job; either outcome is fine
		}
		if !strings.HasPrefix(o, "denied:") {
			t.Errorf("%s: %s", name, o)
		}
	}
	for _, name := range []string{"tcp-standin", "tcp-service", "udp-standin", "syscall-socket", "syscall-connect", "child-process"} {
		if _, ok := outcomes[name]; !ok {
			t.Errorf("script did not report %s", name)
		}
	}
	// Give any packet that did leave time to arrive before counting.
	time.Sleep(500 * time.Millisecond)
	if n := s.count.Load(); n != 0 {
		t.Fatalf("the stand-in received %d connections/datagrams from the jailed script", n)
	}

	// Control: an un-jailed process in the same gVisor container (the
	// runtime tree's python, chrooted, run as root by runsc exec) does reach
	// the stand-in and the service. So the denials above come from the jail,
	// not from the way this test hosts the container.
	out, err := runscExec(t, "/usr/sbin/chroot", "/opt/python-api/rootfs", "/usr/bin/python3", "-c",
		fmt.Sprintf("import socket\nfor p in (%d, %d):\n    socket.create_connection(('127.0.0.1', p), 3).close()\nprint('reached')", port(s.tcp.Addr()), serverPort))
	if err != nil || !strings.Contains(out, "reached") {
		t.Fatalf("control: an un-jailed process in the container could not reach the loopback listeners (%v): %s", err, out)
	}
	deadline := time.Now().Add(3 * time.Second)
	for s.count.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := s.count.Load(); n != 1 {
		t.Fatalf("control: the stand-in counted %d connections, want 1", n)
	}
	getHealth(t) // the service is still fine
}

// runscExec runs argv inside the server's gVisor container.
func runscExec(t *testing.T, argv ...string) (string, error) {
	t.Helper()
	root, id, runsc := os.Getenv("GVISOR_RUNSC_ROOT"), os.Getenv("GVISOR_CONTAINER_ID"), os.Getenv("GVISOR_RUNSC")
	if root == "" || id == "" || runsc == "" {
		t.Fatal("GVISOR_RUNSC, GVISOR_RUNSC_ROOT and GVISOR_CONTAINER_ID must name the runsc and the server's container (run-gvisor.sh sets them)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--root", root, "--network=host", "--ignore-cgroups", "exec", id}, argv...)
	// The runsc that runs the container: another one reads its state wrong.
	out, err := exec.CommandContext(ctx, runsc, args...).CombinedOutput()
	return string(out), err
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// TestContractUnderGVisor checks the HTTP contract's main answers against
// the image as Cloud Run gen1 would run it (the function/ tests cover the
// contract in depth against a host server).
func TestContractUnderGVisor(t *testing.T) {
	u := serverURL(t)
	cases := []struct {
		name, script string
		timeoutMs    int
		status       int
		code         string
	}{
		{"ok", "def main():\n    return {'a': [1, 2.5, None]}\n", 0, 200, ""},
		{"syntax error", "def main(:\n", 0, 400, "syntax_error"},
		{"missing main", "x = 1\n", 0, 400, "missing_main"},
		{"runtime error", "def main():\n    return 1 / 0\n", 0, 422, "runtime_error"},
		{"not json", "def main():\n    return {1, 2}\n", 0, 422, "result_not_json"},
		{"timeout", "def main():\n    while True:\n        pass\n", 1000, 422, "timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"script": tc.script}
			if tc.timeoutMs > 0 {
				body["timeout_ms"] = tc.timeoutMs
			}
			status, r := post(t, u.JoinPath("/execute").String(), "application/json", body)
			code := ""
			if r.Error != nil {
				code = r.Error.Code
			}
			if status != tc.status || code != tc.code {
				t.Fatalf("got %d %q, want %d %q (stderr %q)", status, code, tc.status, tc.code, r.Stderr)
			}
		})
	}

	resp, err := http.Get(u.JoinPath("/execute").String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "POST") {
		t.Errorf("GET /execute: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	resp, err = http.Post(u.JoinPath("/execute").String(), "text/plain", strings.NewReader("def main(): return 1"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: %d, want 415", resp.StatusCode)
	}
	for path, want := range map[string]string{"/metrics": "# TYPE", "/": "<html"} {
		resp, err := http.Get(u.JoinPath(path).String())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(string(b)), strings.ToLower(want)) {
			t.Errorf("GET %s: %d, body lacks %q", path, resp.StatusCode, want)
		}
	}
}

// TestPubSubPushUnderGVisor delivers a Pub/Sub push body to /pubsub, the
// path the terraform push subscription targets, and reads the stored result
// inside the container (RESULTS_DIR default: no bucket here).
func TestPubSubPushUnderGVisor(t *testing.T) {
	u := serverURL(t)
	msgID := fmt.Sprintf("gvisor-%d", time.Now().UnixNano())
	data, _ := json.Marshal(map[string]any{"id": "../not-a-path", "script": "def main():\n    print('batch')\n    return 6 * 7\n"})
	push := map[string]any{
		"message":      map[string]any{"data": data, "messageId": msgID, "attributes": map[string]string{}},
		"subscription": "projects/p/subscriptions/python-api-scripts-push",
	}
	status, _ := post(t, u.JoinPath("/pubsub").String(), "application/json", push)
	if status < 200 || status > 299 {
		t.Fatalf("POST /pubsub: %d, want 2xx (an acknowledged delivery)", status)
	}
	out, err := runscExec(t, "/bin/sh", "-c", "cat /results/*/"+msgID+".json")
	if err != nil {
		t.Fatalf("result object for message %s not found in the container (%v): %s", msgID, err, out)
	}
	var obj struct {
		MessageID string          `json:"message_id"`
		Status    string          `json:"status"`
		Result    json.RawMessage `json:"result"`
		Stdout    string          `json:"stdout"`
		IDError   string          `json:"id_error"`
	}
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		t.Fatalf("result object is not JSON: %v: %s", err, out)
	}
	if obj.MessageID != msgID || obj.Status != "ok" || string(obj.Result) != "42" || obj.Stdout != "batch\n" {
		t.Errorf("result object %s", out)
	}
	if obj.IDError == "" {
		t.Errorf("the path-like id was accepted silently: %s", out)
	}
}

func post(t *testing.T, url, ctype string, body any) (int, execResult) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r execResult
	_ = json.Unmarshal(raw, &r) // /pubsub answers may be empty
	return resp.StatusCode, r
}
