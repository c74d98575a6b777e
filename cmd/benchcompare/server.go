package main

import (
	"bufio"
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
	"syscall"
	"time"
)

// server is one bin/server process started for the benchmark.
type server struct {
	cmd     *exec.Cmd
	url     string // http://127.0.0.1:PORT
	log     *os.File
	exited  chan struct{}
	waitErr error
}

// launcher says how one environment's servers are started: bin/server
// itself on this host, or a -launch command that serves the same API from
// somewhere else (the image under gVisor) on the loopback port it is given.
type launcher struct {
	// env names the environment in the cells; hostEnv for bin/server
	// run directly.
	env  string
	argv []string
	// rootfs is SANDBOX_ROOTFS for bin/server on the host; a launcher
	// brings its own runtime tree, so it gets none.
	rootfs string
	// grace is how long stop waits after SIGTERM before it kills the
	// process group: a launcher also has to tear its container down.
	grace time.Duration
}

// startServer starts l's server at a free loopback port with the given
// executor. The caller must call stop, whatever happens next.
func startServer(l launcher, executor, logPath string) (*server, error) {
	if len(l.argv) == 0 {
		return nil, errors.New("start server: no command")
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	// O_APPEND: the log has several writers (a launcher and what it
	// starts), and gVisor's sentry writes a container's output with
	// pwrite at an offset of its own, which only O_APPEND keeps from
	// overwriting the other writers' lines.
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	// No CommandContext: cancellation must go through stop's SIGTERM, so
	// the server closes its jails instead of being killed mid-way.
	cmd := exec.Command(l.argv[0], l.argv[1:]...)
	cmd.Env = serverEnv(os.Environ(), port, l.rootfs, executor)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so stop can reach every jail it left.
		Setpgid: true,
		// If the benchmark dies without running stop, so does the server.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", l.argv[0], err)
	}
	s := &server{cmd: cmd, url: "http://127.0.0.1:" + strconv.Itoa(port), log: logf, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

// serverEnv is the parent's environment with the benchmark's settings.
// API keys are dropped: the benchmark sends none. Everything else
// (MAX_CONCURRENCY, QUEUE_SIZE, WARM_JAILS, ...) passes through so an
// operator can tune the run. An empty rootfs sets no SANDBOX_ROOTFS.
func serverEnv(parent []string, port int, rootfs, executor string) []string {
	drop := map[string]bool{"PORT": true, "SANDBOX_ROOTFS": true, "SANDBOX_EXECUTOR": true, "API_KEYS": true, "FUNCTION_TARGET": true}
	env := make([]string, 0, len(parent)+3)
	for _, kv := range parent {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	env = append(env, "PORT="+strconv.Itoa(port))
	if rootfs != "" {
		env = append(env, "SANDBOX_ROOTFS="+rootfs)
	}
	return append(env, "SANDBOX_EXECUTOR="+executor)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// stop sends SIGTERM, waits up to grace for a clean exit, then kills the
// whole process group.
func (s *server) stop(grace time.Duration) error {
	defer s.log.Close()
	pgid := s.cmd.Process.Pid
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(grace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-s.exited
			return fmt.Errorf("server did not stop within %v; killed", grace)
		}
	}
	// Anything of the group still alive (a jail the server lost) goes too;
	// ESRCH, the usual case, means there is nothing left.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	var ee *exec.ExitError
	if s.waitErr != nil && !errors.As(s.waitErr, &ee) {
		return fmt.Errorf("wait for server: %w", s.waitErr)
	}
	return nil
}

// health is the part of GET /healthz the benchmark needs.
type health struct {
	OK       bool   `json:"ok"`
	Profile  string `json:"profile"`
	Executor string `json:"executor"`
	Pool     struct {
		Slots      int `json:"slots"`
		WarmTarget int `json:"warm_target"`
		Warm       int `json:"warm"`
	} `json:"pool"`
}

func (h health) ready() bool { return h.OK && h.Pool.Warm >= h.Pool.WarmTarget }

// waitReady polls /healthz until the server is ok with its warm capacity
// full, the server exits, ctx ends or timeout passes.
func (s *server) waitReady(ctx context.Context, timeout time.Duration) (health, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	var (
		last    health // the last answer the server gave
		answers int
		lastErr error
	)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		h, err := getHealth(ctx, client, s.url)
		if err == nil {
			if h.ready() {
				return h, nil
			}
			last, answers = h, answers+1
		} else if ctx.Err() == nil {
			lastErr = err
		}
		select {
		case <-s.exited:
			return last, fmt.Errorf("server exited before it was ready (%v); see %s", s.waitErr, s.log.Name())
		case <-ctx.Done():
			if answers == 0 {
				return last, fmt.Errorf("not ready: %w (last error: %v)", ctx.Err(), lastErr)
			}
			return last, fmt.Errorf("not ready: %w (ok=%v warm %d/%d)", ctx.Err(), last.OK, last.Pool.Warm, last.Pool.WarmTarget)
		case <-tick.C:
		}
	}
}

func getHealth(ctx context.Context, client *http.Client, base string) (health, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return health{}, fmt.Errorf("healthz request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return health{}, fmt.Errorf("healthz: %w", err)
	}
	defer resp.Body.Close()
	var h health
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&h); err != nil {
		return health{}, fmt.Errorf("healthz body (status %d): %w", resp.StatusCode, err)
	}
	return h, nil
}

// logOffset is the server log's current size: lines after it belong to
// the window that starts now.
func (s *server) logOffset() int64 {
	fi, err := s.log.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// serverTimes reads the HTTP execution lines between two log offsets.
func serverTimes(path string, from, to int64) (ServerTimes, error) {
	f, err := os.Open(path)
	if err != nil {
		return ServerTimes{}, fmt.Errorf("open server log: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return ServerTimes{}, fmt.Errorf("seek server log: %w", err)
	}
	return parseServerTimes(io.LimitReader(f, to-from))
}

// parseServerTimes takes the medians of the "execution" lines of
// path=http that ended in 200.
func parseServerTimes(r io.Reader) (ServerTimes, error) {
	var handler, sandbox []float64
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue // the framework prints plain text too
		}
		var rec struct {
			Message   string   `json:"message"`
			Path      string   `json:"path"`
			Status    int      `json:"http_status"`
			Duration  *float64 `json:"duration_ms"`
			SandboxMs *float64 `json:"sandbox_duration_ms"`
		}
		if json.Unmarshal(line, &rec) != nil || rec.Message != "execution" || rec.Path != "http" || rec.Status != http.StatusOK {
			continue
		}
		if rec.Duration != nil {
			handler = append(handler, *rec.Duration)
		}
		if rec.SandboxMs != nil {
			sandbox = append(sandbox, *rec.SandboxMs)
		}
	}
	if err := sc.Err(); err != nil {
		return ServerTimes{}, fmt.Errorf("read server log: %w", err)
	}
	return ServerTimes{Lines: len(handler), HandlerP50Ms: median(handler), SandboxP50Ms: median(sandbox)}, nil
}

// cpuBusy is the machine's busy CPU time so far, from /proc/stat.
func cpuBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("read /proc/stat: %w", err)
	}
	return parseCPUBusy(string(b))
}

// parseCPUBusy sums the first "cpu" line's fields except idle and iowait.
// The fields are in USER_HZ ticks, 100 per second on Linux.
func parseCPUBusy(stat string) (time.Duration, error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: no aggregate cpu line")
	}
	var busy int64
	// user nice system idle iowait irq softirq steal (guest time is
	// already inside user and nice).
	for i, v := range f[1:min(len(f), 9)] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat field %d: %w", i+1, err)
		}
		if i == 3 || i == 4 {
			continue
		}
		busy += n
	}
	return time.Duration(busy) * 10 * time.Millisecond, nil
}

// loadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() ([3]float64, error) {
	var la [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return la, fmt.Errorf("read /proc/loadavg: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return la, errors.New("/proc/loadavg: too few fields")
	}
	for i := range la {
		if la[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return la, fmt.Errorf("/proc/loadavg: %w", err)
		}
	}
	return la, nil
}

// treeCPU is the CPU time used so far by pid and its descendants,
// including descendants that already exited and were waited for (their
// time is in their parent's cutime and cstime). It is read from /proc
// under root; a process that vanishes between listing and reading is
// skipped.
func treeCPU(procRoot string, pid int) (time.Duration, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", procRoot, err)
	}
	type proc struct {
		ppid  int
		ticks int64
	}
	procs := map[int]proc{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "stat"))
		if err != nil {
			continue
		}
		ppid, ticks, err := parseProcStat(string(b))
		if err != nil {
			continue
		}
		procs[p] = proc{ppid, ticks}
	}
	if _, ok := procs[pid]; !ok {
		return 0, fmt.Errorf("process %d not found", pid)
	}
	children := map[int][]int{}
	for p, st := range procs {
		children[st.ppid] = append(children[st.ppid], p)
	}
	var total int64
	stack := []int{pid}
	for len(stack) > 0 && len(stack) <= len(procs) {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		total += procs[p].ticks
		stack = append(stack, children[p]...)
	}
	return time.Duration(total) * 10 * time.Millisecond, nil
}

// parseProcStat returns the parent pid and utime+stime+cutime+cstime (in
// USER_HZ ticks) from a /proc/PID/stat line. The command name may hold
// spaces and parentheses, so fields are counted after its last ')'.
func parseProcStat(stat string) (ppid int, ticks int64, err error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, errors.New("stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); ppid is field 4; utime..cstime are 14..17.
	if len(f) < 15 {
		return 0, 0, errors.New("stat: too few fields")
	}
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		return 0, 0, fmt.Errorf("stat ppid: %w", err)
	}
	for _, v := range f[11:15] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("stat times: %w", err)
		}
		ticks += n
	}
	return ppid, ticks, nil
}
