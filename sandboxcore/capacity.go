package sandboxcore

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// serverReserveMB is what the instance keeps for everything but the jobs:
// the server, the fork server with numpy and pandas imported, NsJail.
const serverReserveMB = 512

// fitMemory makes what admitted jobs may use together fit the instance:
// slots × (the per-job maximum + tmpMB, a job's /tmp where memory_mb does
// not count it) ≤ the instance's memory less the server's reserve. A
// maximum that does not fit is lowered (and the default with it), with
// the reason; one that cannot fit even the runtime is an error.
func fitMemory(cfg Config, instanceMB, tmpMB int) (Config, string, error) {
	avail := instanceMB - serverReserveMB
	perJob := avail/cfg.Slots - tmpMB
	if cfg.Slots*(cfg.Max.MemoryMB+tmpMB) <= avail {
		return cfg, "", nil
	}
	if perJob < MinMemoryMB {
		return cfg, "", fmt.Errorf("the instance has %d MB: %d slots of at least %d MB each, plus %d MB for the server, do not fit; lower MAX_CONCURRENCY",
			instanceMB, cfg.Slots, MinMemoryMB, serverReserveMB)
	}
	reason := fmt.Sprintf("MAX_MEMORY_MB lowered from %d to %d: the instance has %d MB, %d slots share what the server's %d MB leave",
		cfg.Max.MemoryMB, perJob, instanceMB, cfg.Slots, serverReserveMB)
	if tmpMB > 0 {
		reason += fmt.Sprintf(", each with its %d MB /tmp beside its memory", tmpMB)
	}
	cfg.Max.MemoryMB = perJob
	cfg.Default.MemoryMB = min(cfg.Default.MemoryMB, perJob)
	return cfg, reason, nil
}

// instanceMemoryMB is the memory this process may use: its memory cgroup's
// limit (v1 or v2) where it has one, else the machine's.
func instanceMemoryMB() int {
	total := memTotalMB()
	if limit := cgroupMemoryLimitMB(); limit > 0 && limit < total {
		return limit
	}
	return total
}

func memTotalMB() int {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.Atoi(f[1])
			return kb / 1024
		}
	}
	return 0
}

// cgroupMemoryLimitMB reads the tightest memory limit of this process's
// cgroup and its ancestors (v1 or v2; the server may have moved itself
// into a leaf without one, see cgroup2.go); 0 when there is none.
func cgroupMemoryLimitMB() int {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0
	}
	unified, _ := unifiedMount()
	tightest := int64(0)
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var mount, file string
		switch {
		case parts[1] == "memory": // v1
			mount, file = "/sys/fs/cgroup/memory", "memory.limit_in_bytes"
		case parts[0] == "0" && parts[1] == "" && unified != "": // v2
			mount, file = unified, "memory.max"
		default:
			continue
		}
		for dir := filepath.Join(mount, parts[2]); strings.HasPrefix(dir, mount); dir = filepath.Dir(dir) {
			n, err := readCgroupInt(dir, file)
			if err == nil && n > 0 && n < 1<<60 && (tightest == 0 || n < tightest) { // not "max" or v1's "unlimited"
				tightest = n
			}
			if dir == mount {
				break
			}
		}
	}
	return int(tightest >> 20)
}
