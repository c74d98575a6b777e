package sandboxcore

import (
	"context"
	"sync/atomic"
	"time"
)

// limiter bounds concurrent executions and the queue in front of them.
// Past both it refuses at once: piling up requests would only turn an
// overload into timeouts for everybody.
type limiter struct {
	slots    chan struct{}
	queueCap int64
	queued   atomic.Int64
	maxWait  time.Duration
}

func newLimiter(slots, queue int, maxWait time.Duration) *limiter {
	return &limiter{slots: make(chan struct{}, slots), queueCap: int64(queue), maxWait: maxWait}
}

// acquire takes a slot, waiting in the queue if there is room there, but
// not longer than maxWait: a request that would wait longer is told it is
// overloaded (and when to retry) instead of hanging.
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
	timer := time.NewTimer(l.maxWait)
	defer timer.Stop()
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-timer.C:
		return ErrOverloaded
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *limiter) release() { <-l.slots }

func (l *limiter) busy() int    { return len(l.slots) }
func (l *limiter) waiting() int { return int(l.queued.Load()) }
