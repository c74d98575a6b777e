package sandboxcore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// cgroup v2 (a unified hierarchy: one directory per group, every
// controller's files in it). Two rules shape how the server uses it:
//
//   - A group that hands controllers to its children (cgroup.subtree_control)
//     may hold no processes itself, except the root. So the server first
//     moves every process of its own group into a leaf beside the jobs
//     (serverLeaf), then enables memory and pids below its group and below
//     cgroupParent.
//   - NsJail's own cgroup v2 mode would put each jail's group directly in
//     its mount and write its limits there; the server does the moving
//     itself instead, as it does for fork-server children on v1: every
//     job (a single-use jail's process, a fork server's child) goes into
//     a leaf of its own, cgroupParent/job-<pid>, with the job's limits,
//     before its request is sent. Fork servers and NsJail itself stay in
//     the server's leaf; they never run user code.
//
// Where any of this cannot be written (a read-only /sys/fs/cgroup, a
// controller the parent does not delegate), the probe fails and jobs fall
// back to threads only, as without cgroup v1.

// serverLeaf is the group the server's own processes move to, so that its
// former group can delegate controllers. A server that finds itself there
// already (restarted, or a second sandbox in one process) uses the parent.
const serverLeaf = "python-api-server"

// probeUnified prepares cgroup v2 for per-job groups and returns the
// directory below which cgroupParent lives (the server's own group).
func probeUnified() (string, error) {
	mount, err := unifiedMount()
	if err != nil {
		return "", err
	}
	own, err := ownUnifiedGroup()
	if err != nil {
		return "", err
	}
	base := filepath.Join(mount, own)
	if filepath.Base(own) == serverLeaf {
		base = filepath.Dir(base)
	}
	controllers, err := os.ReadFile(filepath.Join(base, "cgroup.controllers"))
	if err != nil {
		return "", fmt.Errorf("cgroup v2: %w", err)
	}
	for _, c := range []string{"memory", "pids"} {
		if !slices.Contains(strings.Fields(string(controllers)), c) {
			return "", fmt.Errorf("cgroup v2: the %s controller is not delegated to %s", c, base)
		}
	}
	if base != mount { // the root may hold processes and delegate at once
		if err := moveAllProcesses(base, filepath.Join(base, serverLeaf)); err != nil {
			return "", err
		}
	}
	parent := filepath.Join(base, cgroupParent)
	if err := enableControllers(base); err != nil {
		return "", err
	}
	if err := os.Mkdir(parent, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("cgroup v2: %w", err)
	}
	if err := enableControllers(parent); err != nil {
		return "", err
	}
	return base, nil
}

// unifiedMount finds where the cgroup v2 hierarchy is mounted
// (/sys/fs/cgroup on a v2 host, /sys/fs/cgroup/unified on a hybrid one).
func unifiedMount() (string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("cgroup v2: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if ok && len(f) >= 5 && len(g) >= 1 && g[0] == "cgroup2" && f[3] == "/" {
			return f[4], nil
		}
	}
	return "", errors.New("cgroup v2: no cgroup2 mount")
}

// ownUnifiedGroup is this process's group in the v2 hierarchy ("0::PATH").
func ownUnifiedGroup() (string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("cgroup v2: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if path, ok := strings.CutPrefix(line, "0::"); ok {
			return path, nil
		}
	}
	return "", errors.New("cgroup v2: this process is in no v2 group")
}

// moveAllProcesses empties from into the leaf to. Processes may be
// started while it moves them: a few passes catch those.
func moveAllProcesses(from, to string) error {
	if err := os.Mkdir(to, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("cgroup v2: %w", err)
	}
	for range 10 {
		data, err := os.ReadFile(filepath.Join(from, "cgroup.procs"))
		if err != nil {
			return fmt.Errorf("cgroup v2: %w", err)
		}
		pids := strings.Fields(string(data))
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			// A process that exited meanwhile is fine (ESRCH).
			if err := writeCgroup(to, "cgroup.procs", pid); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("cgroup v2: move the server's processes out of %s: %w", from, err)
			}
		}
	}
	return fmt.Errorf("cgroup v2: %s keeps gaining processes", from)
}

func enableControllers(dir string) error {
	if err := writeCgroup(dir, "cgroup.subtree_control", "+memory +pids"); err != nil {
		return fmt.Errorf("cgroup v2: delegate memory and pids below %s: %w", dir, err)
	}
	return nil
}

// limitUnified: memory.max with no swap beyond it (memory.swap.max is
// absent without swap accounting), the whole job ended together when the
// kernel has to kill for memory (memory.oom.group), and pids.max.
func (g *jobGroup) limitUnified(memoryBytes int64, processes int) error {
	if err := writeCgroup(g.memory, "memory.max", strconv.FormatInt(memoryBytes, 10)); err != nil {
		return err
	}
	for _, optional := range [][2]string{{"memory.swap.max", "0"}, {"memory.oom.group", "1"}} {
		if err := writeCgroup(g.memory, optional[0], optional[1]); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return writeCgroup(g.pids, "pids.max", strconv.Itoa(processes))
}
