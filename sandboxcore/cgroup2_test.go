package sandboxcore

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestJobCgroupsOfThisHost: the namespaces profile gives every job groups
// of its own with the job's own limits, on the cgroup version this host
// has: the test looks at the group a running job is in from the host side.
// TEST_EXPECT_CGROUP (v1 or v2) makes the version a requirement:
// infra/vm/run-cgroup2.sh runs this test on a cgroup v2 kernel with v2.
func TestJobCgroupsOfThisHost(t *testing.T) {
	for _, kind := range []sandboxKind{{ModeNamespaces, ExecutorFork}, {ModeNamespaces, ExecutorWarm}} {
		t.Run(kind.String(), func(t *testing.T) {
			s := sandboxFor(t, kind)
			cg := s.prof.cg
			want := os.Getenv("TEST_EXPECT_CGROUP")
			switch {
			case want == "v2" && !cg.unified, want == "v1" && (cg.unified || !cg.memory):
				t.Fatalf("want per-job cgroups on %s, got %+v; healthz weaker: %q", want, cg, s.Health().Weaker)
			case !cg.memory || !cg.pids:
				t.Skipf("no per-job cgroups on this host (%s); TestJobMemoryWithoutCgroups covers the fallback", cg.missing)
			}
			layers := s.Health().Layers
			if !slices.Contains(layers, "per_job_cgroups") || slices.Contains(layers, "cgroup_v2") != cg.unified {
				t.Errorf("layers %v for %+v", layers, cg)
			}
			limitFile := "memory.limit_in_bytes"
			if cg.unified {
				limitFile = "memory.max"
			}
			done := make(chan Result, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				res, _ := s.Execute(ctx, Request{Script: "import time\ndef main():\n    time.sleep(3)\n    return 1\n", MemoryMB: 333})
				done <- res
			}()
			// The job's group: a job-<pid> group with this job's limit.
			var found string
			for deadline := time.Now().Add(30 * time.Second); found == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				groups, _ := filepath.Glob(filepath.Join(cg.memoryMount, cgroupParent, "*", limitFile))
				more, _ := filepath.Glob(filepath.Join(cg.memoryMount, cgroupParent, "*", "*", limitFile))
				for _, f := range append(groups, more...) {
					if v, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(v)) == "349175808" && strings.HasPrefix(filepath.Base(filepath.Dir(f)), "job-") {
						found = filepath.Dir(f)
					}
				}
			}
			if found == "" {
				t.Fatalf("no job-<pid> group under %s with %s = 333 MB while the job ran", cg.memoryMount, limitFile)
			}
			procs, err := os.ReadFile(filepath.Join(found, "cgroup.procs"))
			if err != nil || len(strings.Fields(string(procs))) == 0 {
				t.Errorf("the job's group %s holds no process: %q, %v", found, procs, err)
			}
			wantOK(t, <-done, 1)
			// Removed once the job is gone.
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if _, err := os.Stat(found); os.IsNotExist(err) {
					return
				}
			}
			t.Errorf("the job's group %s outlived the job", found)
		})
	}
}
