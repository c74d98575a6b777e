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
}

// hostProcesses lists the host's processes (those still readable).
func hostProcesses() []hostProcess {
	var out []hostProcess
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ..."; comm may itself hold spaces and parens.
		open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || end < open {
			continue
		}
		fields := bytes.Fields(stat[end+1:])
		if len(fields) < 2 || len(fields[0]) != 1 {
			continue
		}
		ppid, _ := strconv.Atoi(string(fields[1]))
		out = append(out, hostProcess{pid: pid, comm: string(stat[open+1 : end]), state: fields[0][0], ppid: ppid})
	}
	return out
}
