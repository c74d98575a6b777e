package sandboxcore

import (
	"context"
	"testing"
	"time"
)

func forkSandbox(t *testing.T, mode Mode, tweak func(*Config)) *Sandbox {
	t.Helper()
	cfg := testConfig(t, mode)
	cfg.Executor = ExecutorFork
	tweak(&cfg)
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func currentZygote(s *Sandbox) *zygote {
	s.forks.mu.Lock()
	defer s.forks.mu.Unlock()
	return s.forks.cur
}

// A zygote is replaced after ZygoteMaxForks jobs. The old one keeps
// serving while the new one imports its modules, so no request waits.
func TestForkServerIsReplacedAfterMaxForks(t *testing.T) {
	s := forkSandbox(t, ModeNamespaces, func(c *Config) { c.ZygoteMaxForks = 3 })
	waitFor(t, func() bool { return s.Health().Pool.Warm == 1 })
	first := currentZygote(s)
	for i := 0; i < 4; i++ {
		wantOK(t, run(t, s, "def main():\n    return 1\n"), 1)
	}
	waitFor(t, func() bool { return currentZygote(s) != first && s.Health().ForkServer.Alive })
	wantOK(t, run(t, s, "def main():\n    return 1\n"), 1)
	if got := currentZygote(s).forks.Load(); got != 1 {
		t.Fatalf("the new fork server ran %d jobs, want 1", got)
	}
	waitFor(t, func() bool { return !first.alive() }) // retired once idle
}

// One fork server serves hundreds of jobs in a row without stalling (its
// own log once filled an undrained pipe after about 360 jobs).
func TestForkServerSustainsManyJobs(t *testing.T) {
	for _, mode := range []Mode{ModeNamespaces, ModeChroot} {
		t.Run(string(mode), func(t *testing.T) {
			s := forkSandbox(t, mode, func(*Config) {})
			for i := 0; i < 500; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				res, err := s.Execute(ctx, Request{Script: helloScript})
				cancel()
				if err != nil || res.Error != nil {
					t.Fatalf("execution %d: %v %+v; fork server log: %s", i, err, res.Error, currentZygote(s).diagnostics())
				}
			}
			if h := s.Health(); h.ForkServer.Restarts != 0 {
				t.Fatalf("fork server restarted during the run: %+v", h.ForkServer)
			}
		})
	}
}
