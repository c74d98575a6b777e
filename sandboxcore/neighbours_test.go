package sandboxcore

// Threat class 35, "reaching other processes by pid" (docs/threat-model.md):
// a job must not be able to name the fork server, a spare, a concurrent job
// or the jail that runs it, by any call that takes a pid, a process group
// or a thread id, nor outlive its request. Each test runs in all four
// setups and checks the outcome on the host side.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pristineJob is what every job must see of its own process, whatever an
// earlier or concurrent job did: the configured limits, every CPU, normal
// scheduling at NsJail's nice level (19).
const pristineJob = `import os, resource
def pristine():
    return {
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "as": resource.getrlimit(resource.RLIMIT_AS)[0],
        "cpus": len(os.sched_getaffinity(0)),
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "policy": os.sched_getscheduler(0),
    }
`

func wantPristine(t *testing.T, s *Sandbox, got map[string]any) {
	t.Helper()
	want := map[string]float64{
		"nofile": float64(s.cfg.Default.OpenFiles),
		"as":     float64(s.cfg.Default.MemoryMB << 20),
		"cpus":   float64(runtime.NumCPU()),
		"nice":   19,
		"policy": 0, // SCHED_OTHER
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("a job's own %s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

// freshJobsWork runs a few normal jobs after an attack: each must answer
// promptly with a fresh job's limits and scheduling.
func freshJobsWork(t *testing.T, s *Sandbox) {
	t.Helper()
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		res, err := s.Execute(ctx, Request{Script: pristineJob + "def main():\n    return pristine()\n"})
		cancel()
		if err != nil {
			t.Fatalf("a normal job after the attack failed: %v", err)
		}
		wantPristine(t, s, resultMap(t, res))
	}
}

// forkServerState is what must not change when a job attacks its fork
// server: the same zygote, never restarted.
func forkServerState(t *testing.T, s *Sandbox) (*zygote, int64) {
	if s.forks == nil {
		return nil, 0
	}
	waitFor(t, func() bool { return s.Health().ForkServer.Alive })
	return currentZygote(s), s.forks.restarts.Load()
}

// T35: every call that takes a pid, process group or thread id fails for
// any process but the job's own, and a concurrent job keeps its limits.
func TestAttack35ReachOtherProcesses(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		zBefore, restartsBefore := forkServerState(t, s)
		victim := make(chan Result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := s.Execute(ctx, Request{Script: pristineJob + "import time\ndef main():\n    time.sleep(2.5)\n    return pristine()\n"})
			if err != nil {
				t.Errorf("victim: %v", err)
			}
			victim <- res
		}()
		time.Sleep(700 * time.Millisecond) // the victim is running
		res := execute(t, s, Request{Timeout: 30 * time.Second, Script: `import ctypes, fcntl, os, resource, signal
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def main():
    me, parent = os.getpid(), os.getppid()
    pids = set(range(2, 64)) | set(range(max(2, parent - 64), parent + 512))
    pids.discard(me)
    pids.discard(0)
    calls = {
        "prlimit_nofile": lambda p: resource.prlimit(p, resource.RLIMIT_NOFILE, (200, 200)),
        "prlimit_as": lambda p: resource.prlimit(p, resource.RLIMIT_AS, (64 << 20, 64 << 20)),
        "sched_setaffinity": lambda p: os.sched_setaffinity(p, {0}),
        "sched_setscheduler": lambda p: os.sched_setscheduler(p, os.SCHED_IDLE, os.sched_param(0)),
        "setpriority": lambda p: os.setpriority(os.PRIO_PROCESS, p, 19),
        "setpriority_pgrp": lambda p: os.setpriority(os.PRIO_PGRP, p, 19),
        "ioprio_set": lambda p: libc.syscall(251, 1, p, 3 << 13) == 0 or (_ for _ in ()).throw(OSError()),
        "kill0": lambda p: os.kill(p, 0),
    }
    reached = {}
    for name, call in calls.items():
        for p in sorted(pids):
            try:
                call(p)
                reached.setdefault(name, []).append(p)
            except (OSError, ValueError):
                pass
    # Signals by descriptor ownership: the kernel checks them when the
    # signal is sent, so the write below is the attempt.
    r, w = os.pipe()
    os.set_blocking(w, False)
    fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_ASYNC)
    fcntl.fcntl(r, 10, signal.SIGKILL)  # F_SETSIG
    for p in sorted(pids):
        for owner in (p, -p):
            try:
                fcntl.fcntl(r, fcntl.F_SETOWN, owner)
                os.write(w, b"x")
                os.read(r, 1)
            except OSError:
                pass
    # Every process of the caller's user: only the job itself may answer.
    try:
        os.setpriority(os.PRIO_USER, 0, 19)
    except OSError:
        pass
    return {"reached": reached, "tried": len(pids), "parent": parent}
`})
		ownJailShared := s.prof.name == ProfileChroot && s.forks == nil
		if ownJailShared && res.Error != nil {
			// The job may kill its own NsJail (its parent, the same uid):
			// it ends its own execution, nothing else (the victim's and
			// the fresh jobs' checks below).
			wantCode(t, res, CodeRuntimeError, CodeKilled)
			res = run(t, s, "def main():\n    return {'reached': {}, 'parent': 0}\n")
		}
		m := resultMap(t, res)
		reached := m["reached"].(map[string]any)
		if ownJailShared {
			// A single-use chroot jail's job shares its uid with its own
			// NsJail, its parent: that is the job's own jail, not a
			// neighbour, and the uid sweep ends whatever outlives it.
			for call, pids := range reached {
				if fmt.Sprint(pids) == fmt.Sprintf("[%v]", m["parent"]) {
					delete(reached, call)
				}
			}
		}
		if len(reached) != 0 {
			t.Errorf("the job reached other processes: %v", reached)
		}
		got := <-victim
		wantPristine(t, s, resultMap(t, got))
		if zAfter, restartsAfter := forkServerState(t, s); zAfter != zBefore || restartsAfter != restartsBefore || (zAfter != nil && !zAfter.alive()) {
			t.Errorf("the fork server was hit: restarts %d -> %d, same %v, health %+v", restartsBefore, restartsAfter, zAfter == zBefore, s.Health().ForkServer)
		}
		freshJobsWork(t, s)
	})
}

// T36: a job that clears its parent-death signal, kills its parent and
// closes its descriptors still ends at its wall limit, and nothing of it
// runs after the answer.
func TestAttack36OutliveTheRequest(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		zBefore, restartsBefore := forkServerState(t, s)
		comm := "survivor" + strconv.Itoa(os.Getpid()%10000)
		res := execute(t, s, Request{Timeout: 2 * time.Second, Script: nameSelf + fmt.Sprintf(`import ctypes, fcntl, os, signal, time
def main():
    name_self(%q)
    libc = ctypes.CDLL(None, use_errno=True)
    cleared = libc.prctl(1, 0, 0, 0, 0) == 0  # PR_SET_PDEATHSIG
    r, w = os.pipe()
    fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_ASYNC)
    fcntl.fcntl(r, 10, signal.SIGKILL)  # F_SETSIG
    try:
        fcntl.fcntl(r, fcntl.F_SETOWN, os.getppid())
        os.write(w, b"x")
    except OSError:
        pass
    os.closerange(0, 4)
    time.sleep(60)
    return cleared
`, comm)})
		wantCode(t, res, CodeTimeout, CodeKilled, CodeRuntimeError)
		noSurvivors(t, comm)
		if zAfter, restartsAfter := forkServerState(t, s); zAfter != zBefore || restartsAfter != restartsBefore {
			t.Errorf("the job killed its fork server: restarts %d -> %d", restartsBefore, restartsAfter)
		}
		freshJobsWork(t, s)
	})
}

// T35 (per-uid kernel quotas): one job holding inotify instances cannot
// make a concurrent job's inotify_init fail; inotify is denied to jobs.
func TestAttack35SharedQuotas(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, `import ctypes
def main():
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(0)
    return {"fd": fd, "errno": ctypes.get_errno()}
`)
		m := resultMap(t, res)
		if m["fd"].(float64) >= 0 || m["errno"].(float64) != float64(unix.EPERM) {
			t.Errorf("inotify_init1 = %v", m)
		}
	})
}

// A fork server whose children cannot set a job up is replaced at once:
// the request runs on a fresh one (its script never started), the cause is
// in /healthz, and later requests work.
func TestBrokenForkServerIsReplacedAtOnce(t *testing.T) {
	withReadyForkServer(t, func(t *testing.T, s *Sandbox, broken *zygote) {
		// NsJail, the fork server, its template and all its spares.
		waitFor(t, func() bool { return len(descendants(broken.cmd.Process.Pid)) == 3+s.cfg.WarmJails })
		// What a job could once do to the fork server and its spares
		// in the chroot profile: a hard NOFILE limit below the one
		// every job sets, so each child's set-up fails.
		// As the fork server's own uid: root here may lack
		// CAP_SYS_RESOURCE.
		for _, p := range descendants(broken.cmd.Process.Pid)[1:] { // NsJail itself aside
			err := asUser(p.uid, p.gid, func() error {
				lim := unix.Rlimit{Cur: 200, Max: 200}
				return unix.Prlimit(p.pid, unix.RLIMIT_NOFILE, &lim, nil)
			})
			if err != nil {
				t.Fatalf("prlimit %d: %v", p.pid, err)
			}
		}
		res := run(t, s, "def main():\n    return 'fresh'\n")
		wantOK(t, res, "fresh")
		h := s.Health()
		if h.ForkServer.SetupFailures != 1 || !strings.Contains(h.ForkServer.LastSetupFailure, "limit") {
			t.Errorf("health after a set-up failure: %+v", h.ForkServer)
		}
		if currentZygote(s) == broken {
			t.Error("the broken fork server is still in use")
		}
		freshJobsWork(t, s)
	})
}

// A fork server that dies while a script runs never runs that script a
// second time: the caller gets ErrUnavailable saying so.
func TestForkServerDeathIsNotRetried(t *testing.T) {
	withReadyForkServer(t, func(t *testing.T, s *Sandbox, first *zygote) {
		done := make(chan error, 1)
		go func() {
			_, err := s.Execute(context.Background(), Request{Script: "import time\ndef main():\n    time.sleep(1)\n    return 'ran'\n"})
			done <- err
		}()
		waitFor(t, func() bool { return first.forks.Load() == 1 })
		time.Sleep(300 * time.Millisecond)
		_ = unix.Kill(-first.cmd.Process.Pid, unix.SIGKILL)
		select {
		case err := <-done:
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "not run again") {
				t.Fatalf("Execute after its fork server died: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the request hung after its fork server died")
		}
		waitForReplacement(t, s, first)
		if n := currentZygote(s).forks.Load(); n != 0 {
			t.Fatalf("the script was run again on the new fork server (%d forks)", n)
		}
		wantOK(t, run(t, s, "def main():\n    return 2\n"), 2)
	})
}

// The template, the copy of the fork server that clones every spare, is
// part of it: when the template dies, the fork server ends at once and a
// fresh one serves the next request.
func TestForkTemplateDeathReplacesTheForkServer(t *testing.T) {
	withReadyForkServer(t, func(t *testing.T, s *Sandbox, first *zygote) {
		if err := unix.Kill(forkTemplate(t, first), unix.SIGKILL); err != nil {
			t.Fatalf("kill the template: %v", err)
		}
		waitForReplacement(t, s, first)
		if first.alive() {
			t.Fatal("the fork server outlived its template")
		}
		wantOK(t, run(t, s, "def main():\n    return 2\n"), 2)
	})
}

// withReadyForkServer runs fn in both profiles, on a fork sandbox whose
// fork server is up with its spare ready.
func withReadyForkServer(t *testing.T, fn func(t *testing.T, s *Sandbox, z *zygote)) {
	for _, mode := range []Mode{ModeNamespaces, ModeChroot} {
		t.Run(string(mode), func(t *testing.T) {
			s := forkSandbox(t, mode, func(*Config) {})
			waitFor(t, func() bool { return s.Health().Pool.Warm == 1 })
			fn(t, s, currentZygote(s))
		})
	}
}

// waitForReplacement waits until a live fork server other than old serves.
func waitForReplacement(t *testing.T, s *Sandbox, old *zygote) {
	t.Helper()
	waitFor(t, func() bool { z := currentZygote(s); return z != old && z != nil && z.alive() })
}

// forkTemplate finds a fork server's template on the host: the fork
// server's first child (the others are its spares and jobs).
func forkTemplate(t *testing.T, z *zygote) int {
	t.Helper()
	tree := descendants(z.cmd.Process.Pid) // NsJail, the fork server, its children
	if len(tree) < 3 {
		t.Fatalf("the fork server has no children: %+v", tree)
	}
	template, first := 0, uint64(0)
	for _, p := range tree[2:] {
		if p.ppid != tree[1].pid {
			continue
		}
		if started := startTime(t, p.pid); template == 0 || started < first {
			template, first = p.pid, started
		}
	}
	return template
}

// startTime is when a process started, in clock ticks since boot.
func startTime(t *testing.T, pid int) uint64 {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("read the stat of %d: %v", pid, err)
	}
	// Field 22; fields 3 on follow the last ')' (comm may hold spaces).
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	ticks, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		t.Fatalf("the stat of %d: %v", pid, err)
	}
	return ticks
}

// descendants lists pid and every process below it on the host, with the
// ids they run as.
func descendants(pid int) []hostProcess {
	children := map[int][]hostProcess{}
	var top hostProcess
	for _, p := range hostProcesses() {
		children[p.ppid] = append(children[p.ppid], p)
		if p.pid == pid {
			top = p
		}
	}
	out := []hostProcess{top}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i].pid]...)
	}
	for i := range out {
		out[i].uid, out[i].gid = processIDs(out[i].pid)
	}
	return out
}

// processIDs reads a process's real uid and gid from /proc.
func processIDs(pid int) (uid, gid int) {
	st, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	if err != nil {
		return -1, -1
	}
	sys := st.Sys().(*syscall.Stat_t)
	return int(sys.Uid), int(sys.Gid)
}
