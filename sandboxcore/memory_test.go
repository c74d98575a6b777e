package sandboxcore

// A job's memory is the job's (docs/threat-model.md, class 37): memory_mb
// bounds all of a job's processes together, and no job can make a
// neighbour within its own limits fail. In all four setups, and with the
// per-job cgroups turned off (the fallback: threads only).

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// manyChildren forks children that each hold 185 MB for a while and
// reports how many got their memory: one "512 MB" job once held 5.2 GB.
const manyChildren = `import os, time
def main():
    r, w = os.pipe()
    forked = 0
    for _ in range(28):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            try:
                b = bytearray(185 << 20)
                os.write(w, b"1")
                time.sleep(2)
            finally:
                os._exit(0)
        forked += 1
    os.close(w)
    deadline = time.time() + 4
    got = 0
    os.set_blocking(r, False)
    while time.time() < deadline:
        try:
            chunk = os.read(r, 64)
        except BlockingIOError:
            time.sleep(0.05)
            continue
        if not chunk:
            break
        got += len(chunk)
    return {"forked": forked, "held": got}
`

// neighbourJob allocates 200 MB inside its own 512 MB (runtime included)
// and, where the
// profile allows processes, forks a few children.
const neighbourJob = `import os
def main():
    b = bytearray(200 << 20)
    kids = 0
    for _ in range(4):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        kids += 1
    return {"held": len(b) >> 20, "kids": kids}
`

func memoryBound(t *testing.T, s *Sandbox) {
	var wg sync.WaitGroup
	var hog Result
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var err error
		hog, err = s.Execute(ctx, Request{Script: manyChildren, MemoryMB: 512, Timeout: 20 * time.Second})
		if err != nil {
			t.Errorf("hog: %v", err)
		}
	}()
	time.Sleep(800 * time.Millisecond) // the hog is holding what it got
	res := execute(t, s, Request{Script: neighbourJob, MemoryMB: 512, Timeout: 20 * time.Second})
	m := resultMap(t, res)
	if m["held"] != float64(200) {
		t.Errorf("neighbour: %v", m)
	}
	wg.Wait()
	if hog.Error != nil {
		// The kernel may end the whole job at its limit: that is fine,
		// as long as it says which limit.
		wantCode(t, hog, CodeMemoryLimit, CodeKilled)
		return
	}
	h := resultMap(t, hog)
	t.Logf("hog: %v, usage %+v", h, hog.Usage)
	if h["forked"] == float64(0) {
		return // threads only: one process, bounded by its address space
	}
	// With processes, the job's own cgroup holds them together: 28
	// children of 185 MB each never add up past its memory_mb (the kernel
	// ends some), and its peak, over all its processes, says so.
	if held := h["held"].(float64); held == h["forked"] {
		t.Errorf("every one of %v children held 185 MB: nothing stopped them", held)
	}
	if hog.Usage == nil || hog.Usage.MaxRSSMB > 512 || hog.Usage.MaxRSSMB < 300 {
		t.Errorf("the job's peak over all its processes: %+v (limit 512 MB)", hog.Usage)
	}
}

func TestAttack37JobMemoryIsTheJobs(t *testing.T) {
	attack(t, memoryBound)
}

// Without per-job cgroups, fork-path jobs get threads only, and /healthz
// says so.
func TestJobMemoryWithoutCgroups(t *testing.T) {
	s := forkSandbox(t, ModeNamespaces, func(c *Config) { c.JobCgroups = false })
	if weaker := strings.Join(s.Health().Weaker, "; "); !strings.Contains(weaker, "threads only") {
		t.Fatalf("/healthz weaker = %q", weaker)
	}
	m := resultMap(t, run(t, s, manyChildren))
	if m["forked"] != float64(0) {
		t.Fatalf("without job cgroups a job forked: %v", m)
	}
	memoryBound(t, s)
	stillWorks(t, s)
}

// A job's processes are counted per job: a fork bomb at its limit leaves
// a neighbour's children alone.
func TestAttack37JobProcessesAreTheJobs(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, _ = s.Execute(ctx, Request{Timeout: 3 * time.Second, Script: `import os, time
def main():
    n = 0
    while True:
        try:
            if os.fork() == 0:
                time.sleep(5)
                os._exit(0)
            n += 1
        except OSError:
            time.sleep(5)
            return n
`})
		}()
		time.Sleep(700 * time.Millisecond)
		m := resultMap(t, execute(t, s, Request{Script: neighbourJob, MemoryMB: 512}))
		if s.prof.name == ProfileNamespaces && m["kids"] != float64(4) {
			t.Errorf("a neighbour of a fork bomb could not fork: %v", m)
		}
		<-done
	})
}

func TestFitMemory(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Slots = 2
	cfg.Max.MemoryMB, cfg.Default.MemoryMB = 2048, 512
	got, reason, err := fitMemory(cfg, 2048, 0)
	if err != nil || got.Max.MemoryMB != 768 || got.Default.MemoryMB != 512 || reason == "" {
		t.Fatalf("2 GiB instance, 2 slots: max %d default %d, %q, %v", got.Max.MemoryMB, got.Default.MemoryMB, reason, err)
	}
	// A /tmp that memory_mb does not count (chroot profile) is counted beside it.
	got, reason, err = fitMemory(cfg, 2048, 64)
	if err != nil || got.Max.MemoryMB != 704 || !strings.Contains(reason, "64 MB /tmp") {
		t.Fatalf("2 GiB instance, 2 slots, 64 MB /tmp each: max %d, %q, %v", got.Max.MemoryMB, reason, err)
	}
	if got, reason, err := fitMemory(cfg, 24<<10, 64); err != nil || got.Max.MemoryMB != 2048 || reason != "" {
		t.Fatalf("24 GiB: %d, %q, %v", got.Max.MemoryMB, reason, err)
	}
	cfg.Slots = 8
	if _, _, err := fitMemory(cfg, 2048, 0); err == nil {
		t.Fatal("8 slots fit in 2 GiB")
	}
}
