package sandboxcore

import (
	"context"
	"sync/atomic"
	"time"
)

// limiter bounds concurrent executions and the queue in front of them.
// Past both it refuses interactive requests at once: piling them up would
// only turn an overload into timeouts for everybody. Batch requests are
// admitted differently: nobody waits on them but Pub/Sub, whose push
// stays open while they wait, and every refusal would burn one of the
// message's delivery attempts. So they wait, outside the queue's count
// (the platform's request concurrency bounds them), up to batchWait.
type limiter struct {
	slots     chan struct{}
	queueCap  int64
	queued    atomic.Int64
	batches   atomic.Int64 // batch requests waiting
	maxWait   time.Duration
	batchWait time.Duration
}

func newLimiter(slots, queue int, maxWait, batchWait time.Duration) *limiter {
	return &limiter{slots: make(chan struct{}, slots), queueCap: int64(queue), maxWait: maxWait, batchWait: batchWait}
}

// acquire takes a slot, waiting in the queue if there is room there, but
// not longer than the class's wait: a request that would wait longer is
// told it is overloaded (and when to retry) instead of hanging.
func (l *limiter) acquire(ctx context.Context, class Class) error {
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	wait := l.maxWait
	if class == Batch {
		wait = l.batchWait
		l.batches.Add(1)
		defer l.batches.Add(-1)
	} else {
		if l.queued.Add(1) > l.queueCap {
			l.queued.Add(-1)
			return ErrOverloaded
		}
		defer l.queued.Add(-1)
	}
	timer := time.NewTimer(wait)
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
func (l *limiter) waiting() int { return int(l.queued.Load() + l.batches.Load()) }
