package sandboxcore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The seed's three curl examples, as the original README describes them.
func TestSeedExamples(t *testing.T) {
	eachProfile(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, "def main():\n    print(\"Hello from IDE\")\n    return {\"status\": \"ok\"}")
		wantOK(t, res, map[string]any{"status": "ok"})
		if res.Stdout != "Hello from IDE\n" {
			t.Errorf("stdout = %q", res.Stdout)
		}
		if res.Profile != s.Profile() || res.DurationMs <= 0 {
			t.Errorf("profile %q duration %v", res.Profile, res.DurationMs)
		}

		res = run(t, s, "def main():\n    import numpy as np\n    arr = np.array([1, 2, 3, 4, 5])\n    return {\"mean\": float(np.mean(arr))}")
		wantOK(t, res, map[string]any{"mean": 3.0})

		res = run(t, s, "def main():\n    import os\n    os.mkdir(\"/should_fail\")\n    return {\"status\": \"created\"}")
		wantCode(t, res, CodeRuntimeError)
		if !contains(res.Error.Message, "Error") || !strings.Contains(res.Error.Traceback, "os.mkdir") || res.Error.Line != 3 {
			t.Errorf("want a clean error naming line 3, got %+v", res.Error)
		}
	})
}

func TestPandas(t *testing.T) {
	eachProfile(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, pandasScript)
		wantOK(t, res, map[string]any{"a": 4.0, "b": 6.0})
	})
}

const pandasScript = `import pandas as pd

def main():
    df = pd.DataFrame({"k": ["a", "b", "a", "b"], "v": [1, 2, 3, 4]})
    return {k: float(v) for k, v in df.groupby("k")["v"].sum().items()}
`

func TestResultsAndErrors(t *testing.T) {
	eachProfile(t, func(t *testing.T, s *Sandbox) {
		t.Run("syntax error has line and column", func(t *testing.T) {
			res := run(t, s, "def main():\n    return (1 +\n\nx = = 2\n")
			wantCode(t, res, CodeSyntaxError)
			if res.Error.Line == 0 || res.Error.Column == 0 {
				t.Fatalf("syntax error without position: %+v", res.Error)
			}
		})
		t.Run("missing main", func(t *testing.T) {
			wantCode(t, run(t, s, "x = 1\n"), CodeMissingMain)
			wantCode(t, run(t, s, "main = 3\n"), CodeMissingMain)
		})
		t.Run("exception keeps stdout and hides harness frames", func(t *testing.T) {
			res := run(t, s, "def helper():\n    return 1 / 0\n\ndef main():\n    print('before')\n    return helper()\n")
			wantCode(t, res, CodeRuntimeError)
			if res.Stdout != "before\n" {
				t.Errorf("stdout = %q", res.Stdout)
			}
			if res.Error.Type != "ZeroDivisionError" || res.Error.Line != 2 {
				t.Errorf("error = %+v", res.Error)
			}
			if strings.Contains(res.Error.Traceback, "<string>") || strings.Contains(res.Error.Traceback, "_run") {
				t.Errorf("traceback shows harness frames:\n%s", res.Error.Traceback)
			}
			if !strings.Contains(res.Error.Traceback, "return 1 / 0") {
				t.Errorf("traceback does not quote the script:\n%s", res.Error.Traceback)
			}
		})
		t.Run("stderr and fd-level output are captured", func(t *testing.T) {
			res := run(t, s, "import os, sys\ndef main():\n    os.write(1, b'raw\\n')\n    print('err', file=sys.stderr)\n    return None\n")
			wantOK(t, res, nil)
			if res.Stdout != "raw\n" || res.Stderr != "err\n" {
				t.Errorf("stdout %q stderr %q", res.Stdout, res.Stderr)
			}
		})
		t.Run("unicode result", func(t *testing.T) {
			wantOK(t, run(t, s, "def main():\n    return {'name': 'Zoë ☃', 'n': [1, 2.5, True, None]}\n"),
				map[string]any{"name": "Zoë ☃", "n": []any{1, 2.5, true, nil}})
		})
	})
}

func TestRequestValidation(t *testing.T) {
	s := sandboxFor(t, kinds[0])
	cases := []struct {
		name string
		req  Request
		code Code
	}{
		{"NUL byte", Request{Script: "def main():\n    return 1\x00\n"}, CodeInvalidRequest},
		{"empty script", Request{Script: " \n\t"}, CodeInvalidRequest},
		{"negative timeout", Request{Script: "def main(): return 1", Timeout: -time.Second}, CodeInvalidRequest},
		{"timeout above max", Request{Script: "def main(): return 1", Timeout: time.Hour}, CodeInvalidRequest},
		{"memory above max", Request{Script: "def main(): return 1", MemoryMB: 1 << 20}, CodeInvalidRequest},
		{"memory below runtime", Request{Script: "def main(): return 1", MemoryMB: 10}, CodeInvalidRequest},
		{"script too large", Request{Script: strings.Repeat("#", 50<<20)}, CodeScriptTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			jobs := s.jobs.Load()
			start := time.Now()
			res := execute(t, s, c.req)
			wantCode(t, res, c.code)
			// Rejected before any jail is touched.
			if s.jobs.Load() != jobs || time.Since(start) > time.Second {
				t.Errorf("a jail was used for a rejected request")
			}
		})
	}
	t.Run("batch may run longer than interactive", func(t *testing.T) {
		long := s.cfg.Max.Wall + time.Second
		wantCode(t, execute(t, s, Request{Script: "def main(): return 1", Timeout: long}), CodeInvalidRequest)
		wantOK(t, execute(t, s, Request{Script: "def main(): return 1", Timeout: long, Class: Batch}), 1)
	})
}

func TestOverloadAndCancel(t *testing.T) {
	cfg := testConfig(t, ModeNamespaces)
	cfg.Slots, cfg.QueueSize, cfg.WarmJails = 1, 1, 1
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())

	sleeper := Request{Script: "import time\ndef main():\n    time.sleep(30)\n"}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 { // one runs, one queues
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Execute(ctx, sleeper)
			errs <- err
		}()
	}
	waitFor(t, func() bool { h := s.Health(); return h.Pool.Busy == 1 && h.Pool.Queued == 1 })
	if _, err := s.Execute(context.Background(), sleeper); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("third request: err = %v, want ErrOverloaded", err)
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("canceled execution returned %v", err)
		}
	}
	// The canceled execution's slot is free again.
	waitFor(t, func() bool { return s.Health().Pool.Busy == 0 })
	wantOK(t, execute(t, s, Request{Script: "def main(): return 'free'"}), "free")
}

func TestCloseRefusesNewWork(t *testing.T) {
	cfg := testConfig(t, ModeNamespaces)
	cfg.WarmJails = 1
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan Result)
	go func() {
		res, _ := s.Execute(context.Background(), Request{Script: "import time\ndef main():\n    time.sleep(1)\n    return 'finished'"})
		done <- res
	}()
	waitFor(t, func() bool { return s.Health().Pool.Busy == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantOK(t, <-done, "finished") // in-flight work finished
	if _, err := s.Execute(context.Background(), Request{Script: "def main(): return 1"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("after Close: err = %v, want ErrUnavailable", err)
	}
	if s.Health().OK {
		t.Fatal("health still ok after Close")
	}
}

func TestHealth(t *testing.T) {
	eachProfile(t, func(t *testing.T, s *Sandbox) {
		h := s.Health()
		if !h.OK || h.Profile != s.Profile() || len(h.Layers) == 0 || h.Pool.Slots < 1 {
			t.Fatalf("health = %+v", h)
		}
		if s.Profile() == ProfileChroot && len(h.Weaker) == 0 {
			t.Fatal("chroot profile must say what it lacks")
		}
		waitFor(t, func() bool { h := s.Health(); return h.Pool.Warm == h.Pool.WarmTarget && h.Pool.Warm > 0 })
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProbeReportsBothProfiles(t *testing.T) {
	rep := Probe(context.Background(), testConfig(t, ModeAuto))
	if !rep.Root || rep.Chosen != ProfileNamespaces || len(rep.Profiles) != 2 {
		t.Fatalf("report = %+v", rep)
	}
	for _, p := range rep.Profiles {
		if !p.Works || len(p.Layers) == 0 {
			t.Errorf("%s: %+v", p.Profile, p)
		}
	}
}

// A fork-server job that answers and then keeps running gets its answer at
// once, but keeps its slot until its process is gone, and is still killed
// at its wall limit. The script forges the harness's frame with the real
// token (any script can find it) and closes its descriptors, which is what
// the harness does just before it exits. (Single-use jails answer when
// NsJail ends, which is at the limit here.)
func TestAnsweredJobKeepsItsSlotUntilItEnds(t *testing.T) {
	eachProfile(t, func(t *testing.T, s *Sandbox) {
		forked := s.cfg.Executor == ExecutorFork
		waitFor(t, func() bool { return s.Health().Pool.Busy == 0 })
		comm := "linger" + strconv.Itoa(os.Getpid()%10000)
		start := time.Now()
		res := execute(t, s, Request{Script: nameSelf + fmt.Sprintf(`import os, sys, time
def main():
    f = sys._getframe()
    while "token" not in f.f_locals:
        f = f.f_back
    os.write(3, f.f_locals["token"] + b'\n{"ok": true, "result": "early"}')
    os.closerange(0, 4)
    name_self(%q)
    time.sleep(3600)
`, comm), Timeout: 3 * time.Second})
		answeredAfter := time.Since(start)
		if !forked {
			wantCode(t, res, CodeTimeout)
			noSurvivors(t, comm)
			return
		}
		wantOK(t, res, "early")
		if answeredAfter > 2*time.Second {
			t.Errorf("answered after %v: the frame was complete long before the 3s limit", answeredAfter)
		}
		if busy := s.Health().Pool.Busy; busy != 1 {
			t.Errorf("%d slots busy right after the answer; the job still runs and must hold one", busy)
		}
		waitFor(t, func() bool { return s.Health().Pool.Busy == 0 })
		if freed := time.Since(start); freed < 3*time.Second {
			t.Errorf("slot freed after %v, before the job's 3s wall limit killed it", freed)
		}
		noSurvivors(t, comm)
	})
}

// A relative SANDBOX_ROOTFS works like the absolute one: it once made the
// namespaces profile fail and auto fall back to chroot.
func TestRelativeRootfs(t *testing.T) {
	cfg := testConfig(t, ModeNamespaces)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, cfg.Rootfs)
	if err != nil || filepath.IsAbs(rel) {
		t.Fatalf("no relative path to %s: %v", cfg.Rootfs, err)
	}
	cfg.Rootfs, cfg.Executor = rel, ExecutorCold
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New with SANDBOX_ROOTFS=%s: %v", rel, err)
	}
	defer func() { _ = s.Close(context.Background()) }()
	if s.Profile() != ProfileNamespaces {
		t.Fatalf("profile %s", s.Profile())
	}
	wantOK(t, run(t, s, "def main():\n    return 1\n"), 1)
}
