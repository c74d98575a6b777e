package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes this test binary, started as a -launch command, act as
// a fake launched server (TestHelperServer) instead of running tests.
const helperEnv = "BENCHCOMPARE_TEST_HELPER_SERVER"

// TestHelperServer is not a test: started by a launcher with helperEnv
// set, it serves /healthz and /execute on 127.0.0.1:$PORT like bin/server
// would, logging one execution line per answer, until SIGTERM. Pandas
// takes 40 ms on "cold" and 1 ms on "fork", hello 1 ms, so the ratios of a
// run against it are known. It reports the executor and SANDBOX_ROOTFS it
// was given, so the test can check the launcher's environment.
func TestHelperServer(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("only runs as a fake server started by TestRunWithLauncher")
	}
	executor, rootfs := os.Getenv("SANDBOX_EXECUTOR"), os.Getenv("SANDBOX_ROOTFS")
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"ok":true,"profile":"fake-rootfs=%s","executor":%q,"pool":{"slots":2,"warm_target":0,"warm":0}}`, rootfs, executor)
	})
	mux.HandleFunc("/execute", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		result, took := `{"status":"ok"}`, time.Millisecond
		if bytes.Contains(body, []byte("pandas")) {
			result = "2929"
			if executor == "cold" {
				took = 40 * time.Millisecond
			}
		}
		time.Sleep(took)
		fmt.Fprintf(w, `{"result":%s}`, result)
		ms := float64(took.Microseconds()) / 1000
		fmt.Printf(`{"message":"execution","path":"http","http_status":200,"duration_ms":%g,"sandbox_duration_ms":%g}`+"\n", ms+0.2, ms)
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	os.Exit(0)
}

// TestHelperPwrite is not a test: started with helperPwriteEnv set, it
// writes its output the way gVisor's sentry writes a container's, with
// pwrite at an offset of its own, after a line written the usual way.
func TestHelperPwrite(t *testing.T) {
	if os.Getenv(helperPwriteEnv) != "1" {
		t.Skip("only runs as a fake server started by TestServerLogKeepsEveryWritersLines")
	}
	fmt.Println("the launcher's line")
	if _, err := syscall.Pwrite(1, []byte("the container's line\n"), 0); err != nil {
		os.Exit(3)
	}
	os.Exit(0)
}

const helperPwriteEnv = "BENCHCOMPARE_TEST_HELPER_PWRITE"

func TestServerLogKeepsEveryWritersLines(t *testing.T) {
	t.Setenv(helperPwriteEnv, "1")
	logPath := filepath.Join(t.TempDir(), "server.log")
	s, err := startServer(launcher{env: "fake", argv: []string{os.Args[0], "-test.run=^TestHelperPwrite$"}}, "fork", logPath)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(time.Minute):
		t.Error("the helper did not exit")
	}
	if err := s.stop(time.Second); err != nil {
		t.Error(err)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "the launcher's line\nthe container's line\n" {
		t.Errorf("log %q: a writer's line was overwritten", b)
	}
}

// TestRunWithLauncher runs the whole benchmark against fake servers
// started through -launch: each gets its executor and port, no
// SANDBOX_ROOTFS, and its cells, ratios, log files and goals are named
// after the launched environment.
func TestRunWithLauncher(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	t.Setenv(helperEnv, "1")
	t.Setenv("SANDBOX_ROOTFS", "/should/not/reach/the/launcher")
	dir := t.TempDir()
	outPath := filepath.Join(dir, "out.json")
	var stdout, stderr bytes.Buffer
	args := []string{"-launch", os.Args[0] + " -test.run=^TestHelperServer$", "-launch-name", "fake",
		"-executors", "fork,cold", "-c", "1", "-d", "300ms", "-warmup", "0", "-out", outPath, "-max-total", "1m"}
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	var out Output
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Executors) != 2 || out.Launch == "" {
		t.Fatalf("executors %+v, launch %q", out.Executors, out.Launch)
	}
	for _, e := range out.Executors {
		// The fake reports what it was given: no SANDBOX_ROOTFS.
		if e.Env != "fake" || e.Profile != "fake-rootfs=" || filepath.Base(e.Log) != "server-fake-"+e.Executor+".log" {
			t.Errorf("executor %+v", e)
		}
	}
	if len(out.Cells) != 4 {
		t.Fatalf("%d cells, want 4: %+v", len(out.Cells), out.Cells)
	}
	for _, c := range out.Cells {
		if c.Env != "fake" || c.Requests == 0 || c.Errors != 0 || c.Server.Lines == 0 {
			t.Errorf("cell %+v", c)
		}
		if c.P50VsCold == nil || c.P50VsHostFork != nil {
			t.Errorf("%s/%s: ratio to cold %v, to the host %v (no host was measured)", c.Executor, c.Script, c.P50VsCold, c.P50VsHostFork)
		}
	}
	if len(out.Goals) != 3 {
		t.Fatalf("goals %+v", out.Goals)
	}
	if g := out.Goals[0]; g.Measured || g.Num.Measured != true || g.Den.Measured {
		t.Errorf("hello goal without a host reference: %+v", g)
	}
	if g := out.Goals[1]; !g.Measured || g.Value < 5 {
		t.Errorf("pandas p50 goal: cold sleeps 40 ms, fork 1 ms, got %+v", g)
	}
	for _, want := range []string{"fake (a) fork", "fake (c) cold", "p50 vs host (a)", "issue 14 goals under fake", "not measured"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	if strings.Contains(stdout.String(), "issue 6 targets") {
		t.Errorf("issue 6 targets printed without a host reference:\n%s", stdout.String())
	}
}

func TestParseFlagsLaunch(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	parse := func(args ...string) (options, error) {
		return parseFlags(append(args, "-out", filepath.Join(dir, "x.json")), io.Discard)
	}

	// Without -host, neither bin/server nor a runtime tree is needed.
	o, err := parse("-launch", "  bash  launch.sh launch ", "-launch-name", "gvisor", "-server", missing, "-rootfs", missing)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.launch, []string{"bash", "launch.sh", "launch"}) || o.launchName != "gvisor" || o.hostExecutors != nil {
		t.Errorf("options %+v", o)
	}
	// With -host they are, as in a host-only run.
	if _, err := parse("-launch", "x", "-host", "fork", "-server", missing, "-rootfs", dir); err == nil {
		t.Error("-host with a missing -server accepted")
	}
	o, err = parse("-launch", "x", "-host", "fork", "-server", bin, "-rootfs", dir)
	if err != nil || !slices.Equal(o.hostExecutors, []string{"fork"}) {
		t.Errorf("-host fork: %+v, %v", o.hostExecutors, err)
	}
	for _, bad := range [][]string{
		{"-host", "fork", "-server", bin, "-rootfs", dir}, // -host alone
		{"-launch", "x", "-host", "hot", "-server", bin, "-rootfs", dir},
		{"-launch", "x", "-launch-name", "host"},
		{"-launch", "x", "-launch-name", "../g"},
		{"-launch", "x", "-launch-name", ""},
		{"-launch", "x", "-launch-name", "gVisor"},
	} {
		if _, err := parse(bad...); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// A host-only run is as before: bin/server must exist.
	if _, err := parse("-server", missing, "-rootfs", dir); err == nil {
		t.Error("host run with a missing -server accepted")
	}
}

func TestPlan(t *testing.T) {
	host := options{server: "bin/server", rootfs: "/r", executors: []string{"fork", "cold"}}
	steps := plan(host)
	if len(steps) != 2 || steps[0].log != "server-fork.log" || steps[1].log != "server-cold.log" {
		t.Fatalf("host plan %+v", steps)
	}
	for _, s := range steps {
		if s.l.env != hostEnv || !slices.Equal(s.l.argv, []string{"bin/server"}) || s.l.rootfs != "/r" {
			t.Errorf("host step %+v", s)
		}
	}

	launched := host
	launched.launch, launched.launchName, launched.hostExecutors = []string{"sh", "l.sh"}, "gvisor", []string{"fork"}
	var got []string
	for _, s := range plan(launched) {
		got = append(got, fmt.Sprintf("%s/%s %s %q rootfs=%q", envName(s.l.env), s.executor, s.log, s.l.argv, s.l.rootfs))
		if s.l.env != hostEnv && s.l.grace < 30*time.Second {
			t.Errorf("a container gets %v to stop", s.l.grace)
		}
	}
	want := []string{
		`host/fork server-host-fork.log ["bin/server"] rootfs="/r"`,
		`gvisor/fork server-gvisor-fork.log ["sh" "l.sh"] rootfs=""`,
		`gvisor/cold server-gvisor-cold.log ["sh" "l.sh"] rootfs=""`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("launch plan\n got %q\nwant %q", got, want)
	}
}

func TestServerEnvWithoutRootfs(t *testing.T) {
	env := serverEnv([]string{"PATH=/bin", "SANDBOX_ROOTFS=/host/tree"}, 1234, "", "cold")
	want := []string{"PATH=/bin", "PORT=1234", "SANDBOX_EXECUTOR=cold"}
	if !slices.Equal(env, want) {
		t.Errorf("got %q, want %q", env, want)
	}
}

// gvisorCells is a launched run with a host reference, as bench-gvisor
// makes it.
func gvisorCells() []Cell {
	return []Cell{
		{Executor: "fork", Script: "hello", Clients: 1, Requests: 100, ExecPerSec: 200, P50Ms: 4},
		{Executor: "fork", Script: "hello", Clients: 2, Requests: 100, ExecPerSec: 220, P50Ms: 8},
		{Env: "gvisor", Executor: "fork", Script: "hello", Clients: 1, Requests: 100, ExecPerSec: 80, P50Ms: 12},
		{Env: "gvisor", Executor: "fork", Script: "hello", Clients: 2, Requests: 100, ExecPerSec: 90, P50Ms: 20},
		{Env: "gvisor", Executor: "fork", Script: "pandas", Clients: 1, Requests: 100, ExecPerSec: 50, P50Ms: 20},
		{Env: "gvisor", Executor: "fork", Script: "pandas", Clients: 2, Requests: 100, ExecPerSec: 60, P50Ms: 30},
		{Env: "gvisor", Executor: "cold", Script: "hello", Clients: 1, Requests: 10, ExecPerSec: 5, P50Ms: 200},
		{Env: "gvisor", Executor: "cold", Script: "pandas", Clients: 1, Requests: 10, ExecPerSec: 1.5, P50Ms: 600},
		{Env: "gvisor", Executor: "cold", Script: "pandas", Clients: 2, Requests: 10, ExecPerSec: 6, P50Ms: 330},
	}
}

func TestFillRatiosPerEnvironment(t *testing.T) {
	cells := gvisorCells()
	// A host cold cell must not become the gVisor cells' baseline.
	cells = append(cells, Cell{Executor: "cold", Script: "pandas", Clients: 1, Requests: 10, ExecPerSec: 5, P50Ms: 200})
	fillRatios(cells)
	want := []struct{ p50Cold, tputCold, p50Host float64 }{
		{math.NaN(), math.NaN(), 1},
		{math.NaN(), math.NaN(), 1},
		{12.0 / 200, 80.0 / 5, 3},
		{math.NaN(), math.NaN(), 20.0 / 8},
		{20.0 / 600, 50 / 1.5, math.NaN()}, // no host pandas cell
		{30.0 / 330, 10, math.NaN()},
		{1, 1, 50},
		{1, 1, math.NaN()},
		{1, 1, math.NaN()},
		{1, 1, math.NaN()}, // the host's cold pandas, against itself
	}
	for i, w := range want {
		c := cells[i]
		cell := fmt.Sprintf("%d %s/%s/%d", i, envName(c.Env), c.Script, c.Clients)
		wantRatio(t, cell+" p50 vs cold", c.P50VsCold, w.p50Cold)
		wantRatio(t, cell+" exec/s vs cold", c.ThroughputVsCold, w.tputCold)
		wantRatio(t, cell+" p50 vs host fork", c.P50VsHostFork, w.p50Host)
	}
}

func TestCheckTargetsJudgesTheHostOnly(t *testing.T) {
	// A fast launched fork cell must not meet issue 6's targets for the
	// host, and must not hide the host's own cell.
	cells := []Cell{
		{Env: "gvisor", Executor: "fork", Script: "hello", Clients: 1, Requests: 10, P50Ms: 1},
		{Executor: "fork", Script: "hello", Clients: 1, Requests: 10, P50Ms: 6},
		{Env: "gvisor", Executor: "fork", Script: "hello", Clients: 1, Requests: 10, P50Ms: 2},
	}
	got := checkTargets([]Target{{Name: "hello", Executor: "fork", Script: "hello", Clients: 1, Metric: "p50_ms", Limit: 5}}, cells)
	if !got[0].Measured || got[0].Value != 6 || got[0].Met {
		t.Errorf("%+v", got[0])
	}
	got = checkTargets(issueTargets, cells[:1])
	for _, g := range got {
		if g.Measured {
			t.Errorf("%s measured on a launched cell: %+v", g.Name, g)
		}
	}
}

func TestCheckGoals(t *testing.T) {
	goals := checkGoals(issue14Goals("gvisor"), gvisorCells())
	// hello: 12 / 4 = 3, the limit, inclusive; pandas p50: 600 / 20 = 30,
	// inclusive; every slot busy: 60 / 6 = 10 at 2 clients, inclusive.
	for i, want := range []float64{3, 30, 10} {
		g := goals[i]
		if !g.Measured || !g.Met || math.Abs(g.Value-want) > 1e-9 {
			t.Errorf("%s: %+v, want %v met", g.Name, g, want)
		}
	}
	if g := goals[2]; g.Num.AtCount != 2 || g.Den.AtCount != 2 || g.Num.Value != 60 || g.Den.Value != 6 {
		t.Errorf("every slot busy read from the wrong cells: %+v", g)
	}
	if g := goals[0]; g.Num.Env != "gvisor" || g.Den.Env != hostEnv || g.Num.Value != 12 || g.Den.Value != 4 {
		t.Errorf("hello sides: %+v", g)
	}

	// Just past each limit: none met.
	cells := gvisorCells()
	cells[2].P50Ms = 12.01 // gVisor fork hello
	cells[7].P50Ms = 599   // gVisor cold pandas
	cells[8].ExecPerSec = 6.01
	for _, g := range checkGoals(issue14Goals("gvisor"), cells) {
		if !g.Measured || g.Met {
			t.Errorf("%s: %+v, want measured and not met", g.Name, g)
		}
	}

	// Errors void a side; a missing cell leaves the goal unmeasured; the
	// input is not changed.
	cells = gvisorCells()
	cells[0].Errors = 1
	in := issue14Goals("gvisor")
	if g := checkGoals(in, cells)[0]; g.Measured || g.Met || g.Den.Measured || !g.Num.Measured {
		t.Errorf("host cell with errors: %+v", g)
	}
	// Without the 2-client cold cell, cold's "every slot busy" is the most
	// it was measured at, 1 client, and the output says so.
	if g := checkGoals(in, cells[:8])[2]; !g.Measured || g.Num.AtCount != 2 || g.Den.AtCount != 1 {
		t.Errorf("every slot busy without cold at 2: %+v", g)
	}
	if in[0].Measured || in[0].Num.Value != 0 {
		t.Error("checkGoals changed its input")
	}
	if g := checkGoals(issue14Goals("other"), cells)[1]; g.Measured || g.Met {
		t.Errorf("goal of an environment never measured: %+v", g)
	}
}

func TestWriteTableMixed(t *testing.T) {
	cells := gvisorCells()[:3]
	cells[2].Server = ServerTimes{Lines: 5, HandlerP50Ms: 10, SandboxP50Ms: 7}
	fillRatios(cells)
	wantWritten(t, func(b *bytes.Buffer) error { return writeTable(b, cells) },
		"executor  script  clients  requests  errors  exec/s  p50 ms  p99 ms  exec/s vs (c)  p50 vs (c)  p50 vs host (a)\n",
		"  host (a) fork   hello        1       100       0   200.0    4.00    0.00              -           -            1.00x\n",
		"gvisor (a) fork   hello        1       100       0    80.0   12.00    0.00              -           -            3.00x\n",
		"gvisor (a) fork   hello        1       12.00        10.00         7.00             3.00        2.00",
	)
}

func TestWriteGoals(t *testing.T) {
	cells := gvisorCells()
	cells[7].P50Ms = 300 // cold pandas: only 15x fork's
	goals := checkGoals(issue14Goals("gvisor"), cells[1:])
	wantWritten(t, func(b *bytes.Buffer) error { return writeGoals(b, "gvisor", goals) },
		"issue 14 goals under gvisor",
		"hello p50, fork / host fork                 not measured  target <= 3x            (gvisor fork hello 12.00 ms at 1 client / host fork hello -)\n",
		"pandas p50, cold / fork                     15.00x        target >= 30x  NOT MET  (gvisor cold pandas 300.00 ms at 1 client / gvisor fork pandas 20.00 ms at 1 client)\n",
		"pandas exec/s every slot busy, fork / cold  10.00x        target >= 10x  met      (gvisor fork pandas 60.00 exec/s at 2 clients / gvisor cold pandas 6.00 exec/s at 2 clients)\n",
	)
}
