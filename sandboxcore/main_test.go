package sandboxcore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostSecret is put in the test process's environment before any sandbox
// starts; no job may ever see it.
const hostSecret = "host-secret-4f1d9a"

// The tests share one sandbox per profile: starting one costs a probe and
// a pool warm-up, and sharing also proves that one job leaves nothing for
// the next.
var sandboxes = struct {
	sync.Mutex
	byKind map[sandboxKind]*Sandbox
}{byKind: map[sandboxKind]*Sandbox{}}

// sandboxKind is one isolation profile with one way of starting jobs.
type sandboxKind struct {
	mode     Mode
	executor ExecutorKind
}

func (k sandboxKind) String() string { return string(k.mode) + "/" + string(k.executor) }

// kinds are what every attack runs against: both profiles, on the fast
// path (fork server) and on the single-use jail path.
var kinds = []sandboxKind{
	{ModeNamespaces, ExecutorFork}, {ModeChroot, ExecutorFork},
	{ModeNamespaces, ExecutorWarm}, {ModeChroot, ExecutorWarm},
}

func TestMain(m *testing.M) {
	os.Setenv("PYTHON_API_TEST_SECRET", hostSecret)
	os.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "/secrets/"+hostSecret+".json")
	code := m.Run()
	sandboxes.Lock()
	for _, s := range sandboxes.byKind {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = s.Close(ctx)
		cancel()
	}
	sandboxes.Unlock()
	os.Exit(code)
}

// testConfig is the production configuration read from the environment,
// so tests run exactly what `make run` serves.
func testConfig(t testing.TB, mode Mode) Config {
	t.Helper()
	if os.Getenv("SANDBOX_ROOTFS") == "" {
		t.Fatal("SANDBOX_ROOTFS is not set: run the tests through `make test` (it builds the runtime tree)")
	}
	cfg, err := LoadConfig(os.Getenv)
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	cfg.Mode = mode
	return cfg
}

func sandboxFor(t testing.TB, kind sandboxKind) *Sandbox {
	t.Helper()
	sandboxes.Lock()
	defer sandboxes.Unlock()
	if s, ok := sandboxes.byKind[kind]; ok {
		return s
	}
	cfg := testConfig(t, kind.mode)
	cfg.Executor = kind.executor
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", kind, err)
	}
	if s.Profile() != string(kind.mode) {
		t.Fatalf("asked for %s, got profile %s", kind, s.Profile())
	}
	sandboxes.byKind[kind] = s
	return s
}

// eachProfile runs fn against both isolation profiles, on both paths.
func eachProfile(t *testing.T, fn func(t *testing.T, s *Sandbox)) {
	for _, kind := range kinds {
		t.Run(kind.String(), func(t *testing.T) { fn(t, sandboxFor(t, kind)) })
	}
}

func execute(t *testing.T, s *Sandbox, req Request) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := s.Execute(ctx, req)
	if err != nil {
		t.Fatalf("Execute: %v (result %+v)", err, res)
	}
	return res
}

func run(t *testing.T, s *Sandbox, script string) Result {
	t.Helper()
	return execute(t, s, Request{Script: script})
}

// wantOK checks main() returned want (compared as JSON values).
func wantOK(t *testing.T, res Result, want any) {
	t.Helper()
	if res.Error != nil {
		t.Fatalf("want success, got %s: %s\ntraceback: %s\nstderr: %s", res.Error.Code, res.Error.Message, res.Error.Traceback, res.Stderr)
	}
	var got any
	if err := json.Unmarshal(res.Result, &got); err != nil {
		t.Fatalf("result %q is not JSON: %v", res.Result, err)
	}
	wantJSON, _ := json.Marshal(want)
	var wantVal any
	_ = json.Unmarshal(wantJSON, &wantVal)
	if fmt.Sprint(got) != fmt.Sprint(wantVal) {
		t.Fatalf("result = %s, want %s", res.Result, wantJSON)
	}
}

func wantCode(t *testing.T, res Result, codes ...Code) {
	t.Helper()
	if res.Error == nil {
		t.Fatalf("want error %v, got success with result %s", codes, res.Result)
	}
	for _, c := range codes {
		if res.Error.Code == c {
			return
		}
	}
	t.Fatalf("error code = %s (%s), want one of %v\ntraceback: %s", res.Error.Code, res.Error.Message, codes, res.Error.Traceback)
}

// stillWorks is run after every attack: the service must be unharmed.
func stillWorks(t *testing.T, s *Sandbox) {
	t.Helper()
	res := run(t, s, "import numpy as np\ndef main():\n    print('alive')\n    return int(np.arange(4).sum())\n")
	wantOK(t, res, 6)
	if res.Stdout != "alive\n" {
		t.Fatalf("stdout after attack = %q", res.Stdout)
	}
}

// resultMap decodes a successful dict result.
func resultMap(t *testing.T, res Result) map[string]any {
	t.Helper()
	if res.Error != nil {
		t.Fatalf("script failed: %s: %s\n%s", res.Error.Code, res.Error.Message, res.Error.Traceback)
	}
	var m map[string]any
	if err := json.Unmarshal(res.Result, &m); err != nil {
		t.Fatalf("result %s: %v", res.Result, err)
	}
	return m
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
