package sandboxcore

import (
	"context"
	"sync/atomic"
)

// limiter bounds concurrent executions and the queue in front of them.
// Past both it refuses at once: piling up requests would only turn an
// overload into timeouts for everybody.
type limiter struct {
	slots    chan struct{}
	queueCap int64
	queued   atomic.Int64
}

func newLimiter(slots, queue int) *limiter {
	return &limiter{slots: make(chan struct{}, slots), queueCap: int64(queue)}
}

// acquire takes a slot, waiting in the queue if there is room there.
func (l *limiter) acquire(ctx context.Context) error {
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	if l.queued.Add(1) > l.queueCap {
		l.queued.Add(-1)
		return ErrOverloaded
	}
	defer l.queued.Add(-1)
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *limiter) release() { <-l.slots }

func (l *limiter) busy() int    { return len(l.slots) }
func (l *limiter) waiting() int { return int(l.queued.Load()) }
