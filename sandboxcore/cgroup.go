package sandboxcore

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// cgroupParent is created under each cgroup v1 controller; NsJail puts one
// child group per jail below it.
const cgroupParent = "python-api"

// cgroupSupport says which cgroup controllers the namespaces profile can
// use. cgroups are an extra layer: a whole job (all its processes) is held
// to a memory and pid budget. Without them each process is still bounded
// by rlimits, and /healthz says which layers are active.
type cgroupSupport struct {
	memory, pids bool
	// memoryMount and pidsMount hold cgroupParent: the v1 controllers'
	// mounts, or on cgroup v2 (unified) both the server's own group.
	memoryMount string
	pidsMount   string
	unified     bool
	// missing says why per-job groups cannot be had here, for /healthz.
	missing string
}

// probeCgroups takes cgroup v1's memory and pids controllers where both
// are mounted and writable, else cgroup v2's (see cgroup2.go).
func probeCgroups() cgroupSupport {
	var cg cgroupSupport
	try := func(mount string) bool {
		if _, err := os.Stat(filepath.Join(mount, "tasks")); err != nil {
			return false
		}
		return os.MkdirAll(filepath.Join(mount, cgroupParent), 0o700) == nil
	}
	cg.memoryMount, cg.pidsMount = "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids"
	cg.memory = try(cg.memoryMount)
	cg.pids = try(cg.pidsMount)
	if !cg.memory || !cg.pids {
		base, err := probeUnified()
		if err != nil {
			cg.missing = "cgroup v1 memory and pids are not both writable; " + err.Error()
		} else {
			cg = cgroupSupport{memory: true, pids: true, memoryMount: base, pidsMount: base, unified: true}
		}
	}
	cg.sweep()
	return cg
}

// sweep removes the groups of processes that are gone (NSJAIL.<pid> of
// NsJail, job-<pid> of ours), innermost first: a process killed with
// SIGKILL, or a server that died, cannot remove its own.
func (cg cgroupSupport) sweep() {
	for _, mount := range []string{cg.memoryMount, cg.pidsMount} {
		removeStaleGroups(filepath.Join(mount, cgroupParent))
	}
}

func removeStaleGroups(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub := filepath.Join(dir, e.Name())
		removeStaleGroups(sub)
		id, ok := strings.CutPrefix(e.Name(), "NSJAIL.")
		if !ok {
			id, ok = strings.CutPrefix(e.Name(), "job-")
		}
		pid, err := strconv.Atoi(id)
		if !ok || err != nil || syscall.Kill(pid, 0) == nil {
			continue
		}
		_ = os.Remove(sub) // fails while not empty
	}
}

// args hands NsJail the v1 controllers, where it makes each jail's group
// itself; on v2 the server places jobs (see cgroup2.go).
func (cg cgroupSupport) args() []string {
	var args []string
	if cg.unified {
		return nil
	}
	if cg.memory {
		args = append(args, "--cgroup_mem_mount", cg.memoryMount, "--cgroup_mem_parent", cgroupParent)
	}
	if cg.pids {
		args = append(args, "--cgroup_pids_mount", cg.pidsMount, "--cgroup_pids_parent", cgroupParent)
	}
	return args
}
