package sandboxcore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// forkServer keeps one live zygote and replaces it when it dies, after
// maxForks executions, or after maxAge, so that no long-lived process
// accumulates state.
type forkServer struct {
	launch   *launcher
	ceiling  Limits
	preload  []string
	maxForks int64
	maxAge   time.Duration
	spares   int

	ctx  context.Context
	stop context.CancelFunc
	done chan struct{}
	kick chan struct{}

	mu       sync.Mutex
	cur      *zygote
	swapped  chan struct{} // closed and replaced whenever cur changes
	lastErr  error
	restarts atomic.Int64
	// setupFailures counts jobs that failed before their script started.
	setupFailures    atomic.Int64
	lastSetupFailure string // under mu
	log              *slog.Logger
}

func newForkServer(launch *launcher, ceiling Limits, preload []string, spares, maxForks int, maxAge time.Duration) *forkServer {
	ctx, stop := context.WithCancel(context.Background())
	f := &forkServer{
		launch: launch, ceiling: ceiling, preload: preload, log: launch.log,
		maxForks: int64(maxForks), maxAge: maxAge, spares: spares,
		ctx: ctx, stop: stop, done: make(chan struct{}), kick: make(chan struct{}, 1),
		swapped: make(chan struct{}),
	}
	go f.loop()
	return f
}

func (f *forkServer) loop() {
	defer close(f.done)
	backoff := 100 * time.Millisecond
	for {
		f.mu.Lock()
		z := f.cur
		f.mu.Unlock()
		if z == nil || !z.alive() || z.forks.Load() >= f.maxForks || time.Since(z.born) >= f.maxAge {
			next, err := f.start()
			if f.ctx.Err() != nil {
				if next != nil {
					next.stop()
				}
				return
			}
			if err != nil {
				f.setCurrent(z, err)
				select {
				case <-time.After(backoff):
				case <-f.ctx.Done():
					return
				}
				backoff = min(2*backoff, 5*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			if z != nil {
				f.restarts.Add(1)
				go retire(z)
			}
			f.setCurrent(next, nil)
			continue
		}
		wait := time.Until(z.born.Add(f.maxAge))
		select {
		case <-z.dead:
		case <-f.kick:
		case <-time.After(wait):
		case <-f.ctx.Done():
			return
		}
	}
}

func (f *forkServer) start() (*zygote, error) {
	return f.launch.zygote(f.ctx, f.ceiling, f.preload, f.spares)
}

func (f *forkServer) setCurrent(z *zygote, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastErr = err
	if f.cur != z {
		f.cur = z
		close(f.swapped)
		f.swapped = make(chan struct{})
	}
}

// retire lets a replaced zygote finish the jobs it holds, then stops it.
func retire(z *zygote) {
	deadline := time.Now().Add(10 * time.Minute)
	for z.alive() && time.Now().Before(deadline) {
		z.mu.Lock()
		n := len(z.waiting)
		z.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	z.stop()
}

// get returns the live zygote, waiting for one while it is (re)started,
// but never longer than a start may take: a host that cannot start one
// gets ErrUnavailable, not a hung request.
func (f *forkServer) get(parent context.Context) (*zygote, error) {
	ctx, cancel := context.WithTimeout(parent, readyTimeout)
	defer cancel()
	for {
		f.mu.Lock()
		z, swapped, lastErr := f.cur, f.swapped, f.lastErr
		f.mu.Unlock()
		if z != nil && z.alive() {
			if z.forks.Load() >= f.maxForks {
				f.nudge()
			}
			return z, nil
		}
		f.nudge()
		select {
		case <-swapped:
		case <-ctx.Done():
			if parent.Err() != nil {
				return nil, fmt.Errorf("waiting for a fork server: %w", parent.Err())
			}
			return nil, fmt.Errorf("no fork server became ready in %v (last error: %v): %w", readyTimeout, lastErr, ErrUnavailable)
		case <-f.ctx.Done():
			return nil, fmt.Errorf("fork server stopped: %w", ErrUnavailable)
		}
	}
}

func (f *forkServer) nudge() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// execute runs one job. A job that never reached the script (the fork
// server could not set it up) is run once more on a fresh fork server, and
// the broken one is replaced at once; a job that may have started is never
// run twice.
func (f *forkServer) execute(ctx context.Context, req harnessRequest, l Limits) (runOutcome, error) {
	for attempt := 0; ; attempt++ {
		z, err := f.get(ctx)
		if err != nil {
			return runOutcome{}, err
		}
		out, err := z.run(ctx, req, l)
		switch {
		case err == nil:
			return out, nil
		case errors.Is(err, errJobNotStarted):
			f.replace(z, err)
			if attempt == 0 {
				continue
			}
		case errors.Is(err, errZygoteLost):
			f.nudge()
		default:
			return out, err
		}
		return runOutcome{}, fmt.Errorf("%v: %w", err, ErrUnavailable)
	}
}

// replace stops a fork server that failed to set a job up and records why,
// so /healthz and the log say it; the loop starts the next one at once.
func (f *forkServer) replace(z *zygote, cause error) {
	f.setupFailures.Add(1)
	f.mu.Lock()
	f.lastSetupFailure = cause.Error()
	f.mu.Unlock()
	f.log.Error("sandbox: fork server replaced: a job's set-up failed before its script ran", "error", cause.Error())
	z.stop()
	f.nudge()
}

func (f *forkServer) stats() ForkServerStats {
	f.mu.Lock()
	z, err := f.cur, f.lastErr
	st := ForkServerStats{Restarts: f.restarts.Load(), SetupFailures: f.setupFailures.Load(), LastSetupFailure: f.lastSetupFailure}
	f.mu.Unlock()
	if z != nil {
		st.Alive, st.Forks = z.alive(), z.forks.Load()
	}
	if err != nil {
		st.LastError = err.Error()
	}
	return st
}

func (f *forkServer) close() {
	f.stop()
	<-f.done
	f.mu.Lock()
	z := f.cur
	f.mu.Unlock()
	if z != nil {
		z.stop()
	}
}
