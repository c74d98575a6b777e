package sandboxcore

import (
	"context"
	"os"
	"sync"
	"syscall"
	"time"
)

// reaper matters only when the server is pid 1, as in a container: a jail
// whose NsJail was killed leaves its children to be re-parented to us, and
// nothing else would ever reap them. It reaps zombie children that this
// sandbox did not start itself, and leaves its own to exec.Cmd.Wait.
type reaper struct {
	mu    sync.Mutex
	owned map[int]bool
}

func newReaper() *reaper { return &reaper{owned: map[int]bool{}} }

func (r *reaper) own(pid int) {
	r.mu.Lock()
	r.owned[pid] = true
	r.mu.Unlock()
}

func (r *reaper) disown(pid int) {
	r.mu.Lock()
	delete(r.owned, pid)
	r.mu.Unlock()
}

// run reaps every few seconds until ctx ends; it returns at once unless
// this process is pid 1.
func (r *reaper) run(ctx context.Context) {
	if os.Getpid() != 1 {
		return
	}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			r.reapOrphans()
		}
	}
}

func (r *reaper) reapOrphans() {
	for _, p := range hostProcesses() {
		if p.state != 'Z' || p.ppid != 1 {
			continue
		}
		r.mu.Lock()
		mine := r.owned[p.pid]
		r.mu.Unlock()
		if !mine {
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(p.pid, &ws, syscall.WNOHANG, nil)
		}
	}
}
