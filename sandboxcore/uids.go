package sandboxcore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

var errNoUID = errors.New("no free job uid")

// idRange is the host ids [first, first+count).
type idRange struct{ first, count int }

func (r idRange) end() int { return r.first + r.count }

// uidPool hands every live jail, and in the chroot profile every fork-path
// job, a host uid of its own, so a job can never signal, trace, re-limit or
// share files with another job through a common uid. Each uid is also
// leased with an flock on a file under lockDir, so that several servers (or
// test sandboxes) on one host never hand out the same uid either. A uid
// goes back only once no process holds it (see uidLease.release).
type uidPool struct {
	ids     idRange
	lockDir string
	mu      sync.Mutex
	free    []int
	// quarantined counts uids kept out of the pool because a process
	// still held them after the sweep.
	quarantined int
}

func newUIDPool(base, n int) (*uidPool, error) {
	dir := "/run/python-api/uids"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		dir = filepath.Join(os.TempDir(), "python-api-uids")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("uid lease directory: %w", err)
		}
	}
	p := &uidPool{ids: idRange{first: base, count: n}, lockDir: dir, free: make([]int, 0, n)}
	for i := n - 1; i >= 0; i-- {
		p.free = append(p.free, base+i)
	}
	return p, nil
}

// uidLease is one uid taken from the pool.
type uidLease struct {
	uid  int
	pool *uidPool
	lock *os.File
	once sync.Once
}

// take returns a uid of its own to the caller.
func (p *uidPool) take() (*uidLease, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.free) - 1; i >= 0; i-- {
		uid := p.free[i]
		lock, err := p.lockFile(uid)
		if err != nil {
			continue // held by another process on this host
		}
		p.free = append(p.free[:i], p.free[i+1:]...)
		return &uidLease{uid: uid, pool: p, lock: lock}, nil
	}
	return nil, errNoUID
}

func (p *uidPool) lockFile(uid int) (*os.File, error) {
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

// kill sends SIGKILL to every process running under the lease's uid. The
// server does it itself, as that uid, so nothing a job does (a new
// session, a cleared parent-death signal, a killed parent) keeps it alive.
func (l *uidLease) kill() error { return killUID(l.uid) }

// release kills whatever still runs under the uid, waits until no process
// holds it, and only then returns it to the pool. A uid that some process
// still holds after uidDrainTimeout is never handed out again. Safe to
// call more than once; it blocks for the sweep.
func (l *uidLease) release() error {
	var err error
	l.once.Do(func() { err = l.pool.giveBack(l, true) })
	return err
}

// releaseReaped returns the uid after one last kill, without waiting to see
// it unused: for callers that have reaped the only process that could hold
// it (a chroot-profile job cannot create processes).
func (l *uidLease) releaseReaped() error {
	var err error
	l.once.Do(func() { err = l.pool.giveBack(l, false) })
	return err
}

func (p *uidPool) giveBack(l *uidLease, drain bool) error {
	err := killUID(l.uid)
	if err == nil && drain {
		err = waitUIDUnused(l.uid, uidDrainTimeout)
	}
	if err != nil {
		p.mu.Lock()
		p.quarantined++
		p.mu.Unlock()
		// The flock stays held too: no other server takes it either.
		return fmt.Errorf("uid %d kept out of the pool: %w", l.uid, err)
	}
	l.lock.Close() // drops the flock
	p.mu.Lock()
	// Reused last: a uid goes back to the far end of the list.
	p.free = append([]int{l.uid}, p.free...)
	p.mu.Unlock()
	return nil
}

// uidDrainTimeout bounds the wait for a killed job's processes to be gone.
const uidDrainTimeout = 10 * time.Second

func waitUIDUnused(uid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		pids := processesOfUID(uid)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still run under uid %d after %v", pids, uid, timeout)
		}
		_ = killUID(uid)
		time.Sleep(delay)
	}
}
