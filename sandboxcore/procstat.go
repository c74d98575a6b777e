package sandboxcore

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// hostProcess is what /proc/PID/stat says of a process on the host.
type hostProcess struct {
	pid   int
	comm  string
	state byte // 'R', 'S', 'Z', …
	ppid  int
	// uid and gid are filled in only where a caller asks for them.
	uid, gid int
}

// eachProcess calls fn with every host process's pid and the content of
// its /proc/PID/<file>, skipping those gone meanwhile.
func eachProcess(file string, fn func(pid int, data []byte)) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if data, err := os.ReadFile(filepath.Join("/proc", e.Name(), file)); err == nil {
			fn(pid, data)
		}
	}
}

// hostProcesses lists the host's processes (those still readable).
func hostProcesses() []hostProcess {
	var out []hostProcess
	eachProcess("stat", func(pid int, stat []byte) {
		// "pid (comm) state ppid ..."; comm may itself hold spaces and parens.
		open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || end < open {
			return
		}
		fields := bytes.Fields(stat[end+1:])
		if len(fields) < 2 || len(fields[0]) != 1 {
			return
		}
		ppid, _ := strconv.Atoi(string(fields[1]))
		out = append(out, hostProcess{pid: pid, comm: string(stat[open+1 : end]), state: fields[0][0], ppid: ppid})
	})
	return out
}

// processesOfUID lists the live processes (zombies aside: they hold no
// memory and can no longer act) whose real, effective, saved or filesystem
// uid is uid.
func processesOfUID(uid int) []int {
	var out []int
	want := []byte(strconv.Itoa(uid))
	eachProcess("status", func(pid int, status []byte) {
		if holdsUID(status, want) {
			out = append(out, pid)
		}
	})
	return out
}

// holdsUID reads a /proc/PID/status text.
func holdsUID(status, uid []byte) bool {
	live, match := true, false
	for _, line := range bytes.Split(status, []byte("\n")) {
		switch {
		case bytes.HasPrefix(line, []byte("State:")):
			if f := bytes.Fields(line[len("State:"):]); len(f) > 0 && (f[0][0] == 'Z' || f[0][0] == 'X') {
				live = false
			}
		case bytes.HasPrefix(line, []byte("Uid:")):
			for _, id := range bytes.Fields(line[len("Uid:"):]) {
				if bytes.Equal(id, uid) {
					match = true
				}
			}
			return live && match // Uid comes after State
		}
	}
	return false
}
