// Command benchcompare is issue 6's HTTP benchmark: it starts bin/server
// once per executor (fork, warm, cold), drives POST /execute with
// closed-loop clients for a fixed time with a hello-world and a pandas
// script, and prints one table with throughput, p50/p99 latency and the
// ratios to the original design (cold), plus a JSON copy for the README.
// Each cell is measured at two loads: one client (one request at a time:
// the latency a caller sees) and one client per slot (every slot busy: the
// throughput the host sustains, with the queueing that comes with it).
//
//	go run ./cmd/benchcompare -server bin/server -rootfs build/rootfs
//
// With -launch, each executor's server is started by a command instead
// (issue 14: the image under gVisor, infra/image/bench-gvisor.sh), and -host
// measures bin/server on this host too, in the same run, so that the
// launched environment's cost is a ratio of figures taken minutes apart
// rather than on different days:
//
//	go run ./cmd/benchcompare -launch 'bash infra/image/bench-gvisor.sh launch' \
//		-launch-name gvisor -host fork -server bin/server -rootfs build/rootfs
//
// Every server listens on a free port and is only ever addressed through
// 127.0.0.1. Every server is stopped (SIGTERM, then SIGKILL to its
// process group) before the command returns, on failure and on Ctrl-C
// too. The whole run is bounded by -max-total.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"python-api/internal/loadgen"
)

// pandasScript builds a small DataFrame, groups and aggregates it, and
// returns a number, as issue 6 asks. Its answer is checked once per
// server before timing, so a server that answers fast but wrongly is
// caught.
const pandasScript = `def main():
    import pandas as pd
    df = pd.DataFrame({"k": [i % 7 for i in range(200)], "v": range(200)})
    return int(df.groupby("k")["v"].sum().max())
`

// workloads are the scripts with the JSON result each must return.
var workloads = map[string]struct{ src, want string }{
	"hello":  {loadgen.Scripts["hello"], `{"status":"ok"}`},
	"pandas": {pandasScript, `2929`},
}

var allExecutors = []string{"fork", "warm", "cold"}

type options struct {
	server, rootfs, out, logDir string
	executors, scripts          []string
	clientLevels                []int // 0: the server's slot count
	duration, warmup, maxTotal  time.Duration
	// launch, when set, starts the -executors' servers instead of
	// -server; their cells are in environment launchName. hostExecutors
	// are then measured with -server too, before them.
	launch        []string
	launchName    string
	hostExecutors []string
}

// Output is the JSON file's content.
type Output struct {
	Started    time.Time         `json:"started"`
	Host       HostInfo          `json:"host"`
	Clients    []int             `json:"clients_flag"` // 0: the server's slot count
	DurationS  float64           `json:"duration_s"`
	WarmupS    float64           `json:"warmup_s"`
	Scripts    map[string]string `json:"scripts"`
	Executors  []ExecutorInfo    `json:"executors"`
	Launch     string            `json:"launch,omitempty"`
	Cells      []Cell            `json:"cells"`
	Targets    []Target          `json:"targets"`
	Goals      []Goal            `json:"goals,omitempty"`
	Failures   []string          `json:"failures,omitempty"`
	TotalTimeS float64           `json:"total_time_s"`
}

// HostInfo says what else was going on: other work on the machine skews
// every number.
type HostInfo struct {
	CPUs      int        `json:"cpus"`
	LoadStart [3]float64 `json:"loadavg_start"`
	LoadEnd   [3]float64 `json:"loadavg_end"`
}

// ExecutorInfo is what the server said about itself when it was ready.
type ExecutorInfo struct {
	Env        string  `json:"env,omitempty"`
	Executor   string  `json:"executor"`
	Profile    string  `json:"profile"`
	Slots      int     `json:"slots"`
	WarmTarget int     `json:"warm_target"`
	ReadyS     float64 `json:"ready_s"`
	Log        string  `json:"log"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "benchcompare: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, opts.maxTotal)
	defer cancel()

	out := Output{Started: time.Now().UTC(), Clients: opts.clientLevels,
		DurationS: opts.duration.Seconds(), WarmupS: opts.warmup.Seconds(), Scripts: map[string]string{}}
	for _, name := range opts.scripts {
		out.Scripts[name] = workloads[name].src
	}
	out.Host.CPUs = runtime.NumCPU()
	out.Host.LoadStart, _ = loadAvg()
	fmt.Fprintf(stdout, "benchcompare: %d CPUs, load average at start %.2f %.2f %.2f; %v per cell after %v warm-up\n",
		out.Host.CPUs, out.Host.LoadStart[0], out.Host.LoadStart[1], out.Host.LoadStart[2], opts.duration, opts.warmup)

	launched := len(opts.launch) > 0
	if launched {
		out.Launch = strings.Join(opts.launch, " ")
	}
	for _, st := range plan(opts) {
		name := cellLabel(st.l.env, st.executor, launched)
		if ctx.Err() != nil {
			out.Failures = append(out.Failures, fmt.Sprintf("%s: not run: %v", name, context.Cause(ctx)))
			continue
		}
		info, cells, err := benchExecutor(ctx, opts, st, stdout)
		if info.Executor != "" {
			out.Executors = append(out.Executors, info)
		}
		out.Cells = append(out.Cells, cells...)
		if err != nil {
			fmt.Fprintf(stderr, "benchcompare: %s: %v\n", name, err)
			out.Failures = append(out.Failures, fmt.Sprintf("%s: %v", name, err))
		}
	}

	fillRatios(out.Cells)
	out.Targets = checkTargets(issueTargets, out.Cells)
	if launched {
		out.Goals = checkGoals(issue14Goals(opts.launchName), out.Cells)
	}
	out.Host.LoadEnd, _ = loadAvg()
	out.TotalTimeS = time.Since(out.Started).Seconds()

	fmt.Fprintln(stdout)
	if err := writeTable(stdout, out.Cells); err != nil {
		fmt.Fprintf(stderr, "benchcompare: %v\n", err)
		return 1
	}
	switch {
	case !launched:
		writeTargets(stdout, "issue 6 targets (fast path, 2 cores)", out.Targets)
	case len(opts.hostExecutors) > 0:
		writeTargets(stdout, "issue 6 targets, on the host (fast path, 2 cores)", out.Targets)
	}
	if launched {
		if err := writeGoals(stdout, opts.launchName, out.Goals); err != nil {
			fmt.Fprintf(stderr, "benchcompare: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "\nload average at end %.2f %.2f %.2f; total %.0f s\n",
		out.Host.LoadEnd[0], out.Host.LoadEnd[1], out.Host.LoadEnd[2], out.TotalTimeS)

	if err := writeJSON(opts.out, out); err != nil {
		fmt.Fprintf(stderr, "benchcompare: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "results: %s\n", opts.out)
	failed := len(out.Failures) > 0
	for _, c := range out.Cells {
		if c.Errors > 0 {
			fmt.Fprintf(stderr, "benchcompare: %s/%s: %d of %d requests did not get a 200: %v\n", cellLabel(c.Env, c.Executor, launched), c.Script, c.Errors, c.Requests, c.ByCode)
			failed = true
		}
	}
	if failed {
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("benchcompare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var executors, scripts, clients, launch, hostExecutors string
	fs.StringVar(&o.server, "server", "bin/server", "the bin/server binary to start")
	fs.StringVar(&launch, "launch", "", "start each of -executors' servers with this command (split at spaces, no shell) instead of -server; "+
		"it gets SANDBOX_EXECUTOR and PORT in its environment, must serve on 127.0.0.1:$PORT, and must be gone, with all it started, once it exits after SIGTERM")
	fs.StringVar(&o.launchName, "launch-name", "launched", "with -launch: the environment's name in the table, the JSON and the log file names")
	fs.StringVar(&hostExecutors, "host", "", "with -launch: executors to measure with -server on this host too, first, as the same run's reference (e.g. fork)")
	fs.StringVar(&o.rootfs, "rootfs", os.Getenv("SANDBOX_ROOTFS"), "runtime tree (SANDBOX_ROOTFS); default $SANDBOX_ROOTFS, else build/rootfs")
	fs.StringVar(&o.out, "out", "build/bench/bench-http.json", "where to write the JSON results")
	fs.StringVar(&o.logDir, "logdir", "", "where the servers' logs go (default: the -out directory)")
	fs.StringVar(&executors, "executors", strings.Join(allExecutors, ","), "executors to measure, in order")
	fs.StringVar(&scripts, "scripts", "hello,pandas", "workloads to run on each")
	fs.StringVar(&clients, "c", "1,0", "closed-loop client counts to measure each cell at (0: the server's slot count)")
	fs.DurationVar(&o.duration, "d", 15*time.Second, "measured time per executor and script")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each measurement")
	fs.DurationVar(&o.maxTotal, "max-total", 10*time.Minute, "bound on the whole run")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.executors, err = parseList(executors, allExecutors); err != nil {
		return o, fmt.Errorf("-executors: %w", err)
	}
	if o.scripts, err = parseList(scripts, []string{"hello", "pandas"}); err != nil {
		return o, fmt.Errorf("-scripts: %w", err)
	}
	if o.clientLevels, err = parseCounts(clients); err != nil {
		return o, fmt.Errorf("-c: %w", err)
	}
	o.launch = strings.Fields(launch)
	if strings.TrimSpace(hostExecutors) != "" {
		if len(o.launch) == 0 {
			return o, errors.New("-host needs -launch: without it every executor already runs on the host")
		}
		if o.hostExecutors, err = parseList(hostExecutors, allExecutors); err != nil {
			return o, fmt.Errorf("-host: %w", err)
		}
	}
	// The name goes into log file names and must not pass for the host.
	if len(o.launch) > 0 && !validEnvName(o.launchName) {
		return o, fmt.Errorf("-launch-name %q: want lower-case letters, digits and '-', not \"host\"", o.launchName)
	}
	switch {
	case o.duration <= 0 || o.duration > 5*time.Minute:
		return o, errors.New("-d must be positive and at most 5m")
	case o.warmup < 0 || o.warmup > time.Minute:
		return o, errors.New("-warmup must be between 0 and 1m")
	case o.maxTotal <= 0 || o.maxTotal > time.Hour:
		return o, errors.New("-max-total must be positive and at most 1h")
	}
	if o.logDir == "" {
		o.logDir = filepath.Dir(o.out)
	}
	if len(o.launch) > 0 && len(o.hostExecutors) == 0 {
		return o, nil // bin/server is not started: no need for it or its tree
	}
	if o.rootfs == "" {
		o.rootfs = "build/rootfs"
	}
	if o.rootfs, err = filepath.Abs(o.rootfs); err != nil {
		return o, fmt.Errorf("-rootfs: %w", err)
	}
	if fi, err := os.Stat(o.rootfs); err != nil || !fi.IsDir() {
		return o, fmt.Errorf("-rootfs %s: not a directory (run make rootfs)", o.rootfs)
	}
	if fi, err := os.Stat(o.server); err != nil || fi.IsDir() {
		return o, fmt.Errorf("-server %s: not a file (run make build)", o.server)
	}
	return o, nil
}

// validEnvName accepts a -launch-name: it becomes part of file names and
// must not be mistaken for the host in the table.
func validEnvName(name string) bool {
	if name == "" || name == "host" {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// step is one server of the run: an executor in an environment, with
// the name of its log file.
type step struct {
	l        launcher
	executor string
	log      string
}

// plan lists the servers to start, in order. A host-only run keeps its
// log names (server-fork.log); with -launch every name says its
// environment, and the host reference comes first.
func plan(opts options) []step {
	host := launcher{env: hostEnv, argv: []string{opts.server}, rootfs: opts.rootfs, grace: 15 * time.Second}
	var steps []step
	if len(opts.launch) == 0 {
		for _, e := range opts.executors {
			steps = append(steps, step{host, e, "server-" + e + ".log"})
		}
		return steps
	}
	for _, e := range opts.hostExecutors {
		steps = append(steps, step{host, e, "server-host-" + e + ".log"})
	}
	// A launcher stops a container: the server's own shutdown (up to
	// SHUTDOWN_TIMEOUT, 9 s by default), then the sandbox's teardown.
	l := launcher{env: opts.launchName, argv: opts.launch, grace: time.Minute}
	for _, e := range opts.executors {
		steps = append(steps, step{l, e, "server-" + opts.launchName + "-" + e + ".log"})
	}
	return steps
}

// benchExecutor starts one server and measures every script on it. The
// server is stopped before it returns.
func benchExecutor(ctx context.Context, opts options, st step, stdout io.Writer) (info ExecutorInfo, cells []Cell, err error) {
	executor := st.executor
	if err := os.MkdirAll(opts.logDir, 0o755); err != nil {
		return info, nil, fmt.Errorf("log directory: %w", err)
	}
	logPath := filepath.Join(opts.logDir, st.log)
	t0 := time.Now()
	srv, err := startServer(st.l, executor, logPath)
	if err != nil {
		return info, nil, err
	}
	defer func() {
		if serr := srv.stop(st.l.grace); serr != nil && err == nil {
			err = serr
		}
	}()
	h, err := srv.waitReady(ctx, 2*time.Minute)
	if err != nil {
		return info, nil, err
	}
	if h.Executor != "" && h.Executor != executor {
		return info, nil, fmt.Errorf("server reports executor %q, want %q", h.Executor, executor)
	}
	info = ExecutorInfo{Env: st.l.env, Executor: executor, Profile: h.Profile, Slots: h.Pool.Slots,
		WarmTarget: h.Pool.WarmTarget, ReadyS: time.Since(t0).Seconds(), Log: logPath}
	levels := make([]int, 0, len(opts.clientLevels))
	for _, n := range opts.clientLevels {
		if n == 0 {
			n = max(h.Pool.Slots, 1)
		}
		if !slices.Contains(levels, n) {
			levels = append(levels, n)
		}
	}
	fmt.Fprintf(stdout, "%s: profile %s, %d slots, warm target %d, ready in %.1f s; clients %v\n",
		cellLabel(st.l.env, executor, len(opts.launch) > 0), h.Profile, h.Pool.Slots, h.Pool.WarmTarget, info.ReadyS, levels)

	for _, name := range opts.scripts {
		for _, clients := range levels {
			c, err := benchCell(ctx, srv, opts, st.l.env, executor, name, clients)
			if err != nil {
				return info, cells, fmt.Errorf("%s with %d clients: %w", name, clients, err)
			}
			fmt.Fprintf(stdout, "  %-6s %2d clients %5d requests, %3d errors, %7.1f exec/s, p50 %7.2f ms, p99 %7.2f ms\n",
				name, clients, c.Requests, c.Errors, c.ExecPerSec, c.P50Ms, c.P99Ms)
			cells = append(cells, c)
		}
	}
	return info, cells, nil
}

func benchCell(ctx context.Context, srv *server, opts options, env, executor, name string, clients int) (Cell, error) {
	w := workloads[name]
	// Each script starts from full warm capacity, as the first did.
	if _, err := srv.waitReady(ctx, time.Minute); err != nil {
		return Cell{}, err
	}
	if err := checkAnswer(ctx, srv.url, w.src, w.want); err != nil {
		return Cell{}, err
	}
	cfg := loadgen.Config{URL: srv.url, Clients: clients, Body: loadgen.Body(w.src), RequestTimeout: 30 * time.Second}
	if opts.warmup > 0 {
		cfg.Duration = opts.warmup
		if _, err := loadgen.Run(ctx, cfg); err != nil {
			return Cell{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return Cell{}, fmt.Errorf("before measuring: %w", context.Cause(ctx))
	}
	cfg.Duration = opts.duration
	off0 := srv.logOffset()
	cpu0, cpuErr := cpuBusy()
	srvCPU0, srvErr := treeCPU("/proc", srv.cmd.Process.Pid)
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return Cell{}, fmt.Errorf("measure: %w", err)
	}
	cpu1, cpuErr2 := cpuBusy()
	srvCPU1, srvErr2 := treeCPU("/proc", srv.cmd.Process.Pid)
	if err := ctx.Err(); err != nil {
		return Cell{}, fmt.Errorf("measurement cut short: %w", context.Cause(ctx))
	}
	select {
	case <-srv.exited:
		return Cell{}, fmt.Errorf("server exited during the measurement: %v", srv.waitErr)
	default:
	}
	c := newCell(env, executor, name, rep)
	if ok := rep.ByStatus[http.StatusOK]; ok > 0 && cpuErr == nil && cpuErr2 == nil {
		c.HostCPUMsPerExec = float64((cpu1 - cpu0).Microseconds()) / 1000 / float64(ok)
	}
	if ok := rep.ByStatus[http.StatusOK]; ok > 0 && srvErr == nil && srvErr2 == nil {
		c.ServerCPUMsPerExec = float64((srvCPU1 - srvCPU0).Microseconds()) / 1000 / float64(ok)
	}
	// The handler logs after it wrote the answer: give the last lines a
	// moment to land before reading the window.
	time.Sleep(100 * time.Millisecond)
	if st, err := serverTimes(srv.log.Name(), off0, srv.logOffset()); err == nil {
		c.Server = st
	}
	return c, nil
}

// checkAnswer runs the script once and compares its result, so that a
// fast wrong answer cannot pass as a fast execution.
func checkAnswer(ctx context.Context, base, script, want string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/execute", bytes.NewReader(loadgen.Body(script)))
	if err != nil {
		return fmt.Errorf("check request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("check request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("check answer: %w", err)
	}
	var got struct {
		Result json.RawMessage `json:"result"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &got) != nil {
		return fmt.Errorf("check answer: status %d: %.300s", resp.StatusCode, body)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, got.Result); err != nil || compact.String() != want {
		return fmt.Errorf("check answer: result %s, want %s", got.Result, want)
	}
	return nil
}

func writeJSON(path string, out Output) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("results directory: %w", err)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}
