package sandboxcore

import (
	"errors"
	"sync"
)

var errNoUID = errors.New("no free job uid")

// uidPool hands every live jail a host uid of its own, so a job can never
// signal, trace or share files with another job through a common uid.
type uidPool struct {
	mu   sync.Mutex
	free []int
}

func newUIDPool(base, n int) *uidPool {
	p := &uidPool{free: make([]int, 0, n)}
	for i := n - 1; i >= 0; i-- {
		p.free = append(p.free, base+i)
	}
	return p
}

// take returns a uid and the func that gives it back (call it once).
func (p *uidPool) take() (int, func(), error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) == 0 {
		return 0, nil, errNoUID
	}
	uid := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	var once sync.Once
	return uid, func() {
		once.Do(func() {
			p.mu.Lock()
			// Reused last: a uid goes back to the far end of the list.
			p.free = append([]int{uid}, p.free...)
			p.mu.Unlock()
		})
	}, nil
}
