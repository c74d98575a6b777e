package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestParseServerTimes(t *testing.T) {
	log := strings.Join([]string{
		`Serving function: "execute"`,
		`{"severity":"INFO","message":"serving","addr":"[::]:1"}`,
		`{"message":"execution","path":"http","code":"ok","http_status":200,"duration_ms":4.0,"sandbox_duration_ms":3.0}`,
		`{"message":"execution","path":"http","code":"ok","http_status":200,"duration_ms":2.0,"sandbox_duration_ms":1.5}`,
		`{"message":"execution","path":"http","code":"ok","http_status":200,"duration_ms":9.0,"sandbox_duration_ms":8.0}`,
		// Not counted: a failure, a batch execution, a torn line.
		`{"message":"execution","path":"http","code":"overloaded","http_status":429,"duration_ms":0.1}`,
		`{"message":"execution","path":"pubsub","code":"ok","http_status":200,"duration_ms":100,"sandbox_duration_ms":99}`,
		`{"message":"execution","path":"http","http_st`,
	}, "\n")
	st, err := parseServerTimes(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if st != (ServerTimes{Lines: 3, HandlerP50Ms: 4, SandboxP50Ms: 3}) {
		t.Errorf("got %+v", st)
	}
}

func TestServerTimesReadsOnlyTheWindow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.log")
	before := `{"message":"execution","path":"http","http_status":200,"duration_ms":500,"sandbox_duration_ms":500}` + "\n"
	inside := `{"message":"execution","path":"http","http_status":200,"duration_ms":2,"sandbox_duration_ms":1}` + "\n"
	if err := os.WriteFile(path, []byte(before+inside+before), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := serverTimes(path, int64(len(before)), int64(len(before+inside)))
	if err != nil {
		t.Fatal(err)
	}
	if st != (ServerTimes{Lines: 1, HandlerP50Ms: 2, SandboxP50Ms: 1}) {
		t.Errorf("got %+v", st)
	}
}

func TestParseCPUBusy(t *testing.T) {
	stat := "cpu  100 5 50 1000 7 3 2 1 40 0\ncpu0 50 2 25 500 3 1 1 0 20 0\n"
	got, err := parseCPUBusy(stat)
	if err != nil {
		t.Fatal(err)
	}
	// user+nice+system+irq+softirq+steal = 161 ticks of 10 ms; guest is
	// inside user already, idle and iowait are not busy.
	if want := 1610 * time.Millisecond; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"", "intr 1 2 3\n", "cpu  1 x 3 4 5\n"} {
		if _, err := parseCPUBusy(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := cpuBusy(); err != nil {
		t.Errorf("this machine's /proc/stat: %v", err)
	}
}

func TestServerEnv(t *testing.T) {
	env := serverEnv([]string{"PATH=/bin", "API_KEYS=secret", "PORT=1", "MAX_CONCURRENCY=3", "SANDBOX_EXECUTOR=cold", "FUNCTION_TARGET=x"}, 4242, "/r", "fork")
	want := []string{"PATH=/bin", "MAX_CONCURRENCY=3", "PORT=4242", "SANDBOX_ROOTFS=/r", "SANDBOX_EXECUTOR=fork"}
	if !slices.Equal(env, want) {
		t.Errorf("got %q, want %q", env, want)
	}
}

func TestWaitReadyWaitsForWarmCapacity(t *testing.T) {
	var polls atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		switch n := polls.Add(1); {
		case n == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"ok":false}`)
		case n < 4:
			fmt.Fprintf(w, `{"ok":true,"pool":{"slots":2,"warm_target":2,"warm":%d}}`, n-2)
		default:
			fmt.Fprint(w, `{"ok":true,"profile":"namespaces","executor":"warm","pool":{"slots":2,"warm_target":2,"warm":2}}`)
		}
	}))
	defer ts.Close()
	s := &server{url: ts.URL, exited: make(chan struct{}), log: tempLog(t)}
	h, err := s.waitReady(context.Background(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if polls.Load() != 4 || h.Executor != "warm" || h.Pool.Warm != 2 {
		t.Errorf("ready after %d polls: %+v", polls.Load(), h)
	}
}

func TestWaitReadyGivesUp(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"ok":true,"pool":{"warm_target":2,"warm":1}}`)
	}))
	defer ts.Close()
	s := &server{url: ts.URL, exited: make(chan struct{}), log: tempLog(t)}
	start := time.Now()
	_, err := s.waitReady(context.Background(), 300*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "warm 1/2") {
		t.Errorf("err %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v", time.Since(start))
	}

	// A server that exits is noticed at once, not after the timeout.
	close(s.exited)
	start = time.Now()
	if _, err := s.waitReady(context.Background(), time.Minute); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("err %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
}

// TestStopKillsTheWholeGroup runs a real "server" that ignores SIGTERM and
// leaves a child behind: stop must kill both within its grace period.
func TestStopKillsTheWholeGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	script := filepath.Join(dir, "server.sh")
	body := "#!/bin/sh\ntrap '' TERM\nsleep 60 &\necho $! > " + pidFile + ".tmp\nmv " + pidFile + ".tmp " + pidFile + "\nwait\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := startServer(launcher{argv: []string{script}, rootfs: dir}, "fork", filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	var child int
	for deadline := time.Now().Add(10 * time.Second); child == 0 && time.Now().Before(deadline); {
		if b, err := os.ReadFile(pidFile); err == nil {
			child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if child == 0 {
		_ = s.stop(time.Second)
		t.Fatal("the fake server did not start its child")
	}
	start := time.Now()
	err = s.stop(300 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("stop of a server that ignores SIGTERM: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stop took %v", took)
	}
	// The orphaned sleep is reaped by init eventually; until then it is
	// a zombie, which no longer runs. Either way it must not be alive.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if !running(child) {
			break
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(child, syscall.SIGKILL)
			t.Fatalf("child %d survived stop", child)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// running reports whether pid exists and is not a zombie.
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	_, rest, ok := strings.Cut(string(b), ") ")
	return ok && !strings.HasPrefix(rest, "Z")
}

func tempLog(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestCheckAnswer(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/execute" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), "raise") {
			w.WriteHeader(http.StatusUnprocessableEntity)
			fmt.Fprint(w, `{"result":null,"error":{"code":"runtime_error"}}`)
			return
		}
		fmt.Fprint(w, `{"result": {"status": "ok"}, "stdout": ""}`)
	}))
	defer ts.Close()
	ctx := context.Background()
	if err := checkAnswer(ctx, ts.URL, "x", `{"status":"ok"}`); err != nil {
		t.Errorf("right answer refused: %v", err)
	}
	if err := checkAnswer(ctx, ts.URL, "x", `2929`); err == nil || !strings.Contains(err.Error(), "want 2929") {
		t.Errorf("wrong answer: %v", err)
	}
	if err := checkAnswer(ctx, ts.URL, "raise", `{"status":"ok"}`); err == nil || !strings.Contains(err.Error(), "status 422") {
		t.Errorf("failed execution: %v", err)
	}
}

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and a ')' must not shift the fields.
	line := "4242 (we ird) name) S 17 4242 4242 0 -1 4194560 100 0 0 0 30 12 5 3 20 0 1 0 100 1000 50"
	ppid, ticks, err := parseProcStat(line)
	if err != nil || ppid != 17 || ticks != 50 {
		t.Errorf("got ppid %d ticks %d err %v, want 17, 50", ppid, ticks, err)
	}
	for _, bad := range []string{"", "1 (x) S 1 2 3", "1 (x) S y 1 1 0 -1 0 0 0 0 0 1 1 1 1 20"} {
		if _, _, err := parseProcStat(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestTreeCPUSumsDescendantsOnly(t *testing.T) {
	root := t.TempDir()
	write := func(pid, ppid int, utime, stime, cutime, cstime int) {
		dir := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		line := fmt.Sprintf("%d (p) S %d 0 0 0 -1 0 0 0 0 0 %d %d %d %d 20 0 1 0 0 0 0", pid, ppid, utime, stime, cutime, cstime)
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(1, 0, 1000, 1000, 0, 0) // init: not ours
	write(10, 1, 5, 5, 0, 0)      // the server
	write(11, 10, 1, 2, 30, 40)   // NsJail, with reaped children
	write(12, 11, 3, 4, 0, 0)     // the zygote
	write(20, 1, 500, 0, 0, 0)    // a neighbour
	if err := os.MkdirAll(filepath.Join(root, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := treeCPU(root, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := 90 * 10 * time.Millisecond; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := treeCPU(root, 99); err == nil {
		t.Error("a missing process was accepted")
	}
	if _, err := treeCPU("/proc", os.Getpid()); err != nil {
		t.Errorf("this process: %v", err)
	}
}
