package sandboxcore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// readyTimeout bounds a jail's start-up, preload included.
const readyTimeout = 60 * time.Second

// pool keeps pre-started jails with the preload modules imported, so a
// request does not pay interpreter and pandas start-up. Every jail still
// serves one execution only.
type pool struct {
	launch  *launcher
	ceiling Limits
	preload []string
	target  int

	ready  chan *jail
	refill chan struct{}
	stop   context.CancelFunc
	ctx    context.Context
	done   chan struct{}

	warmStarts atomic.Int64
	coldStarts atomic.Int64
	failures   atomic.Int64
	mu         sync.Mutex
	lastErr    error
}

func newPool(launch *launcher, ceiling Limits, preload []string, target int) *pool {
	ctx, stop := context.WithCancel(context.Background())
	p := &pool{
		launch: launch, ceiling: ceiling, preload: preload, target: target,
		ready:  make(chan *jail, max(target, 1)),
		refill: make(chan struct{}, 1),
		ctx:    ctx, stop: stop,
		done: make(chan struct{}),
	}
	go p.loop()
	return p
}

// loop keeps target jails warm, one start at a time: starting is CPU-bound
// and must not starve the executions that are running.
func (p *pool) loop() {
	defer close(p.done)
	backoff := 100 * time.Millisecond
	for {
		if len(p.ready) < p.target {
			j, err := p.start(p.ctx, p.preload)
			if err == nil {
				p.warmStarts.Add(1)
				p.setErr(nil)
				backoff = 100 * time.Millisecond
				select {
				case p.ready <- j:
				case <-p.ctx.Done():
					j.discard()
					return
				}
				continue
			}
			if p.ctx.Err() != nil {
				return
			}
			p.failures.Add(1)
			p.setErr(err)
			select {
			case <-time.After(backoff):
			case <-p.ctx.Done():
				return
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		select {
		case <-p.refill:
		case <-p.ctx.Done():
			return
		}
	}
}

func (p *pool) start(ctx context.Context, preload []string) (*jail, error) {
	return p.launch.jail(ctx, p.ceiling, preload)
}

// get returns a warm jail, or starts a cold one (without preload: exactly
// the original one-fresh-Python-per-request design) when none is ready.
func (p *pool) get(ctx context.Context) (*jail, error) {
	defer p.kick()
	for {
		select {
		case j := <-p.ready:
			select {
			case <-j.exited: // died while waiting; never hand it out
				j.discard()
				continue
			default:
				return j, nil
			}
		default:
		}
		break
	}
	p.coldStarts.Add(1)
	j, err := p.start(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("start cold jail: %w", err)
	}
	return j, nil
}

func (p *pool) kick() {
	select {
	case p.refill <- struct{}{}:
	default:
	}
}

func (p *pool) setErr(err error) {
	p.mu.Lock()
	p.lastErr = err
	p.mu.Unlock()
}

func (p *pool) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// close stops refilling and kills every warm jail.
func (p *pool) close() {
	p.stop()
	<-p.done
	for {
		select {
		case j := <-p.ready:
			j.discard()
		default:
			return
		}
	}
}
