package sandboxcore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

var errNoUID = errors.New("no free job uid")

// uidPool hands every live jail a host uid of its own, so a job can never
// signal, trace or share files with another job through a common uid.
// Each uid is also leased with an flock on a file under lockDir, so that
// several servers (or test sandboxes) on one host never hand out the same
// uid either.
type uidPool struct {
	lockDir string
	mu      sync.Mutex
	free    []int
}

func newUIDPool(base, n int) (*uidPool, error) {
	dir := "/run/python-api/uids"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		dir = filepath.Join(os.TempDir(), "python-api-uids")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("uid lease directory: %w", err)
		}
	}
	p := &uidPool{lockDir: dir, free: make([]int, 0, n)}
	for i := n - 1; i >= 0; i-- {
		p.free = append(p.free, base+i)
	}
	return p, nil
}

// take returns a uid and the func that gives it back (call it once).
func (p *uidPool) take() (int, func(), error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.free) - 1; i >= 0; i-- {
		uid := p.free[i]
		lease, err := p.lease(uid)
		if err != nil {
			continue // held by another process on this host
		}
		p.free = append(p.free[:i], p.free[i+1:]...)
		var once sync.Once
		return uid, func() {
			once.Do(func() {
				lease.Close() // drops the flock
				p.mu.Lock()
				// Reused last: a uid goes back to the far end of the list.
				p.free = append([]int{uid}, p.free...)
				p.mu.Unlock()
			})
		}, nil
	}
	return 0, nil, errNoUID
}

func (p *uidPool) lease(uid int) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(p.lockDir, strconv.Itoa(uid)), os.O_CREATE|os.O_RDWR|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
