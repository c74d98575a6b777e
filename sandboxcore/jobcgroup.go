package sandboxcore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A job's memory is the job's: every process and thread it creates is
// counted together against its memory_mb, and against its process limit,
// in cgroups of its own (cgroup v1 memory and pids controllers, below the
// jail's NsJail groups, so the jail's own limits still bound them all).
//
// Single-use jails get theirs from NsJail (one group per jail), lowered to
// the request's limits before the request is sent. A fork server's child
// is moved by the server into a new group the moment the fork server
// reports it, before any job is handed to it; the job's limits are written
// just before. On cgroup v2 the same, with the differences cgroup2.go
// explains. Where no memory cgroup can be written (cgroup v2 without
// delegation, gVisor), jobs get threads only instead (see profile.go), so
// one process is the whole job and its address-space limit bounds it.

// jobGroup is one job's (or one jail's) cgroups, one directory per
// controller (on v2 both are the same directory); memory may be "" when
// only pids is available.
type jobGroup struct {
	memory, pids string
	unified      bool
	owned        bool // created by us (a fork-server child's), so removed by us
}

// jailGroups finds the groups NsJail made for the jailed process pid; on
// v2 NsJail makes none, and a fork server's children go below the server's
// parent group like single-use jails.
func jailGroups(cg cgroupSupport, pid int) *jobGroup {
	if cg.unified {
		return rootGroup(cg)
	}
	g := &jobGroup{}
	name := "NSJAIL." + strconv.Itoa(pid)
	if cg.memory {
		g.memory = filepath.Join(cg.memoryMount, cgroupParent, name)
	}
	if cg.pids {
		g.pids = filepath.Join(cg.pidsMount, cgroupParent, name)
	}
	return g
}

// rootGroup is the server's own groups, under which jails' groups live.
func rootGroup(cg cgroupSupport) *jobGroup {
	return &jobGroup{memory: filepath.Join(cg.memoryMount, cgroupParent), pids: filepath.Join(cg.pidsMount, cgroupParent), unified: cg.unified}
}

// newChildGroup makes groups named name below parent's and moves pid into
// them.
func newChildGroup(parent *jobGroup, name string, pid int) (*jobGroup, error) {
	g := &jobGroup{owned: true, unified: parent.unified}
	for _, dirs := range []struct{ parent, child *string }{{&parent.memory, &g.memory}, {&parent.pids, &g.pids}} {
		if *dirs.parent == "" {
			continue
		}
		if parent.unified && g.memory != "" {
			g.pids = g.memory // one directory for both
			continue
		}
		dir := filepath.Join(*dirs.parent, name)
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			g.remove()
			return nil, fmt.Errorf("job cgroup: %w", err)
		}
		*dirs.child = dir
		if err := writeCgroup(dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			g.remove()
			return nil, err
		}
	}
	return g, nil
}

// limit sets the job's memory (bytes; memory plus swap, so it cannot page
// out past it) and process limits.
func (g *jobGroup) limit(memoryBytes int64, processes int) error {
	if g.unified {
		return g.limitUnified(memoryBytes, processes)
	}
	if g.memory != "" {
		v := strconv.FormatInt(memoryBytes, 10)
		// The memory+swap limit must stay at least the memory limit: set
		// them in the order that keeps it so from either side.
		first, second := "memory.limit_in_bytes", "memory.memsw.limit_in_bytes"
		if cur, err := readCgroupInt(g.memory, "memory.limit_in_bytes"); err == nil && cur < memoryBytes {
			first, second = second, first
		}
		if err := writeCgroup(g.memory, first, v); err != nil && first == "memory.limit_in_bytes" {
			return err
		}
		if err := writeCgroup(g.memory, second, v); err != nil && second == "memory.limit_in_bytes" {
			return err
		}
	}
	if g.pids != "" {
		if err := writeCgroup(g.pids, "pids.max", strconv.Itoa(processes)); err != nil {
			return err
		}
	}
	return nil
}

// peak reports the job's peak memory over all its processes, and whether
// the kernel killed one of them for going over the limit.
func (g *jobGroup) peak() (bytes int64, oomKilled bool) {
	if g == nil || g.memory == "" {
		return 0, false
	}
	// v2: memory.peak is Linux 5.19+; memory.current, before that, is a
	// lower bound. Both versions count OOM kills as "oom_kill N".
	peakFile, eventsFile := "memory.max_usage_in_bytes", "memory.oom_control"
	if g.unified {
		peakFile, eventsFile = "memory.peak", "memory.events"
	}
	bytes, err := readCgroupInt(g.memory, peakFile)
	if err != nil && g.unified {
		bytes, _ = readCgroupInt(g.memory, "memory.current")
	}
	if data, err := os.ReadFile(filepath.Join(g.memory, eventsFile)); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "oom_kill" && f[1] != "0" {
				oomKilled = true
			}
		}
	}
	return bytes, oomKilled
}

// remove deletes groups we made, once their processes are gone (rmdir
// fails while a group has members; the kernel takes a moment to let go of
// a process that has just exited).
func (g *jobGroup) remove() {
	if g == nil || !g.owned {
		return
	}
	for n, dir := range []string{g.memory, g.pids} {
		if dir == "" || (n == 1 && dir == g.memory) {
			continue
		}
		for i := 0; i < 50; i++ {
			if err := os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func writeCgroup(dir, file, value string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
		return fmt.Errorf("cgroup %s: %w", file, err)
	}
	return nil
}

func readCgroupInt(dir, file string) (int64, error) {
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(bytes.TrimSpace(data)), 10, 64)
}

// childPids lists the children of pid's main thread (host pids).
func childPids(pid int) []int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(data)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// hostPidOf finds, among parent's children, the one whose pid in parent's
// own pid namespace is nsPid (the second field of NSpid: host first).
func hostPidOf(parent, nsPid int) (int, error) {
	want := strconv.Itoa(nsPid)
	for _, c := range childPids(parent) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(strings.TrimPrefix(line, "NSpid:")); strings.HasPrefix(line, "NSpid:") && len(f) >= 2 && f[1] == want {
				return c, nil
			}
		}
	}
	return 0, fmt.Errorf("no child of %d has pid %d in its namespace", parent, nsPid)
}
