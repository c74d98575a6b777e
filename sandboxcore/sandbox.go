package sandboxcore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sandbox runs scripts. It is safe for concurrent use.
type Sandbox struct {
	cfg     Config
	prof    *profile
	pool    *pool       // single-use jails (Executor "warm" or "cold")
	forks   *forkServer // the fast path (Executor "fork")
	limiter *limiter
	workDir string
	jobs    atomic.Int64 // jobs started, for tests and metrics

	stopReaper context.CancelFunc

	mu       sync.Mutex
	closing  bool
	inflight sync.WaitGroup
}

// New picks the isolation profile and starts the warm pool. It fails
// closed: when no profile works on this host it returns an error and the
// caller must not serve; nothing ever runs unsandboxed.
func New(ctx context.Context, cfg Config) (*Sandbox, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("sandbox config: %w", err)
	}
	// Resolved once: NsJail runs from another directory, and a relative
	// path there would quietly fail the namespaces profile.
	for _, p := range []*string{&cfg.Rootfs, &cfg.NsjailPath} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return nil, fmt.Errorf("sandbox config: %w", err)
			}
			*p = abs
		}
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("the sandbox must start as root (it creates namespaces or chroots, then drops every job to an unprivileged uid): %w", ErrUnavailable)
	}
	if _, err := os.Stat(filepath.Join(cfg.Rootfs, "usr/bin/python3")); err != nil {
		return nil, fmt.Errorf("runtime tree %q is missing (run `make rootfs`): %w", cfg.Rootfs, ErrUnavailable)
	}
	if cfg.NsjailPath == "" {
		cfg.NsjailPath = filepath.Join(cfg.Rootfs, nsjailInTree)
	}
	workDir, err := os.MkdirTemp("", "python-api-sandbox-")
	if err != nil {
		return nil, fmt.Errorf("sandbox work dir: %w", err)
	}
	// Twice the jails that can be alive at once, so a uid is not reused
	// while its previous jail may still be exiting.
	uids, err := newUIDPool(cfg.JobUIDBase, 2*(cfg.Slots+cfg.WarmJails)+64)
	if err != nil {
		os.RemoveAll(workDir)
		return nil, err
	}

	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	reap := newReaper()
	prof, err := chooseProfile(ctx, cfg, workDir, uids, reap)
	if err != nil {
		os.RemoveAll(workDir)
		return nil, err
	}
	// What admitted jobs may use together must fit the instance. A job's
	// /tmp is memory too: where no per-job cgroup counts it against its
	// memory_mb (the chroot profile), it is counted beside it.
	tmpMB := 0
	if prof.workdir && !prof.jobCgroups() {
		tmpMB = cfg.Default.TmpMB
	}
	cfg, lowered, err := fitMemory(cfg, instanceMemoryMB(), tmpMB)
	if err != nil {
		os.RemoveAll(workDir)
		return nil, fmt.Errorf("sandbox config: %v: %w", err, ErrUnavailable)
	}
	if lowered != "" {
		cfg.Logger.Warn("sandbox: " + lowered)
	}
	launch := &launcher{prof: prof, uids: uids, reap: reap, log: cfg.Logger}
	if cfg.Executor == ExecutorFork && prof.forkUnavailable != nil {
		// Fail closed on the fast path, not on the service: single-use
		// jails keep every guarantee, each under its own uid.
		cfg.Logger.Warn("sandbox: the fork executor cannot run on this host; using single-use jails", "reason", prof.forkUnavailable.Error())
		prof.weaker = append(prof.weaker, "fork executor unavailable here ("+prof.forkUnavailable.Error()+"): warm single-use jails serve instead")
		cfg.Executor = ExecutorWarm
	}
	s := &Sandbox{
		cfg:     cfg,
		prof:    prof,
		limiter: newLimiter(cfg.Slots, cfg.QueueSize, cfg.QueueWait, cfg.BatchQueueWait),
		workDir: workDir,
	}
	switch cfg.Executor {
	case ExecutorFork:
		s.forks = newForkServer(launch, s.zygoteCeiling(), cfg.Preload, cfg.WarmJails, cfg.ZygoteMaxForks, cfg.ZygoteMaxAge)
	case ExecutorCold:
		s.pool = newPool(launch, s.ceiling(), nil, 0)
	default:
		s.pool = newPool(launch, s.ceiling(), cfg.Preload, cfg.WarmJails)
	}
	reapCtx, stopReaper := context.WithCancel(context.Background())
	s.stopReaper = stopReaper
	go reap.run(reapCtx)
	return s, nil
}

// chooseProfile runs a real script in each candidate profile and takes the
// first that answers correctly, strongest first.
func chooseProfile(ctx context.Context, cfg Config, workDir string, uids *uidPool, reap *reaper) (*profile, error) {
	var candidates []func() (*profile, error)
	namespaces := func() (*profile, error) {
		cg := cgroupSupport{}
		if cfg.JobCgroups {
			cg = probeCgroups()
		}
		return newNamespacesProfile(cfg.Rootfs, cfg.NsjailPath, workDir, cg, uids.ids)
	}
	chroot := func() (*profile, error) { return newChrootProfile(cfg.Rootfs, uids), nil }
	switch cfg.Mode {
	case ModeNamespaces:
		candidates = append(candidates, namespaces)
	case ModeChroot:
		candidates = append(candidates, chroot)
	default:
		candidates = append(candidates, namespaces, chroot)
	}
	var failures []string
	for _, build := range candidates {
		prof, err := build()
		if err == nil {
			err = probeProfile(ctx, &launcher{prof: prof, uids: uids, reap: reap, log: cfg.Logger}, cfg)
		}
		if err == nil {
			if prof.probeFork != nil {
				prof.forkUnavailable = prof.probeFork(uids)
			}
			return prof, nil
		}
		failures = append(failures, err.Error())
	}
	return nil, fmt.Errorf("no sandbox profile works on this host (mode %s): %s: %w",
		cfg.Mode, strings.Join(failures, "; "), ErrUnavailable)
}

func probeProfile(ctx context.Context, launch *launcher, cfg Config) error {
	prof := launch.prof
	j, err := launch.jail(ctx, cfg.Default, nil)
	if err != nil {
		return fmt.Errorf("%s profile: %w", prof.name, err)
	}
	token := newToken()
	l := cfg.Default
	out := j.run(ctx, harnessRequest{Script: "def main():\n    return 42\n", Token: token, Limits: harnessLimitsFor(l)}, l)
	if out.settled != nil {
		<-out.settled
	}
	res := classify(out, token, l)
	if res.Error != nil || string(res.Result) != "42" {
		return fmt.Errorf("%s profile: probe script failed: %+v (stderr %q)", prof.name, res.Error, res.Stderr)
	}
	return nil
}

// ceiling is what every pooled jail is started with; requests only lower it.
func (s *Sandbox) ceiling() Limits {
	c := s.cfg.Max
	c.Wall = s.cfg.BatchMaxWall
	c.CPU = s.cfg.BatchMaxWall
	c.TmpMB = s.cfg.Default.TmpMB
	return c
}

// zygoteCeiling is the fork server's own limits: it holds every concurrent
// job, and each child lowers the limits to its request's values.
func (s *Sandbox) zygoteCeiling() Limits {
	c := s.ceiling()
	c.Processes = s.cfg.Slots*(c.Processes+2) + 16
	c.MemoryMB = s.cfg.Slots*(c.MemoryMB+256) + 512
	return c
}

// Execute runs one script. Problems with the request or the script come back
// in Result.Error with a nil error. A non-nil error means the script was not
// run, or its outcome is unknown, through no fault of the caller:
// ErrOverloaded, ErrUnavailable, or the context's error.
func (s *Sandbox) Execute(ctx context.Context, req Request) (Result, error) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return Result{}, fmt.Errorf("shutting down: %w", ErrUnavailable)
	}
	s.inflight.Add(1)
	s.mu.Unlock()
	// An execution that answered before its process was gone keeps its
	// slot, and counts as in flight, until it is: the limits bound
	// processes, not answers.
	var settled <-chan struct{}
	defer func() { whenSettled(settled, s.inflight.Done) }()

	limits, reject := s.cfg.Check(req)
	if reject == nil && len(req.Files) > 0 && !s.prof.workdir {
		reject = &ExecError{Code: CodeInvalidRequest, Message: fmt.Sprintf(
			`field "files": the %s profile has no writable working directory for a job, so it takes no files`, s.prof.name)}
	}
	if reject != nil {
		return Result{Profile: s.prof.name, Error: reject}, nil
	}
	if err := s.limiter.acquire(ctx, req.Class); err != nil {
		return Result{}, fmt.Errorf("wait for a slot: %w", err)
	}
	defer func() { whenSettled(settled, s.limiter.release) }()

	token := newToken()
	out, err := s.run(ctx, harnessRequest{Script: req.Script, Input: req.Input, Files: req.Files, Token: token, Limits: harnessLimitsFor(limits)}, limits)
	settled = out.settled
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("start job: %w", context.Cause(ctx))
		}
		return Result{}, fmt.Errorf("start job: %w", err)
	}
	if out.canceled {
		return Result{}, fmt.Errorf("execution canceled: %w", context.Cause(ctx))
	}
	res := classify(out, token, limits)
	res.Profile = s.prof.name
	if res.Error != nil && res.Error.Code == CodeInternal {
		return res, fmt.Errorf("jail failed (%s): %w", out.diagnostics, ErrUnavailable)
	}
	return res, nil
}

// whenSettled calls fn now, or once settled closes if there is one.
func whenSettled(settled <-chan struct{}, fn func()) {
	if settled == nil {
		fn()
		return
	}
	go func() {
		<-settled
		fn()
	}()
}

func (s *Sandbox) run(ctx context.Context, req harnessRequest, l Limits) (runOutcome, error) {
	s.jobs.Add(1)
	if s.forks != nil {
		return s.forks.execute(ctx, req, l)
	}
	j, err := s.pool.get(ctx)
	if err != nil {
		return runOutcome{}, fmt.Errorf("%v: %w", err, ErrUnavailable)
	}
	return j.run(ctx, req, l), nil
}

func harnessLimitsFor(l Limits) harnessLimits {
	return harnessLimits{
		CPUSeconds:    int((l.CPU + time.Second - 1) / time.Second),
		MemoryBytes:   l.MemoryMB << 20,
		FileSizeBytes: l.FileSizeMB << 20,
		OpenFiles:     l.OpenFiles,
		Processes:     l.Processes,
		ResultBytes:   l.ResultBytes,
		OutputFiles:   l.OutputFiles,
		OutputFile:    l.OutputFileBytes,
		OutputTotal:   l.OutputFilesBytes,
	}
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails on Linux
	return hex.EncodeToString(b)
}

// Profile is the active isolation profile's name.
func (s *Sandbox) Profile() string { return s.prof.name }

// Health reports the active profile and pool state.
func (s *Sandbox) Health() Health {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	h := Health{
		Mode:     string(s.cfg.Mode),
		Profile:  s.prof.name,
		Executor: string(s.cfg.Executor),
		Layers:   s.prof.layers,
		Files:    s.prof.workdir,
		Weaker:   s.prof.weaker,
		Pool: PoolStats{
			Slots:    s.cfg.Slots,
			Busy:     s.limiter.busy(),
			QueueCap: s.cfg.QueueSize,
			Queued:   s.limiter.waiting(),
		},
	}
	if s.forks != nil {
		fs := s.forks.stats()
		h.Pool.WarmTarget, h.Pool.Warm = 1, 0
		if fs.Alive {
			h.Pool.Warm = 1
		}
		h.ForkServer = &fs
		h.Weaker = append(append([]string{}, h.Weaker...), s.prof.forkWeaker...)
		h.Layers = append([]string{}, s.prof.forkLayers...)
		// Healthy while a fork server is up or the last start worked.
		h.OK = !closing && (fs.Alive || fs.LastError == "")
		return h
	}
	h.Pool.WarmTarget, h.Pool.Warm = s.pool.target, len(s.pool.ready)
	// Healthy while jails can be started: either some are warm, or the
	// last start succeeded.
	h.OK = !closing && (h.Pool.Warm > 0 || s.pool.err() == nil)
	return h
}

// Close stops taking work, waits for running executions until ctx ends,
// then kills every jail. Executions still running then are killed by their
// own contexts' owners or, at the latest, by the wall limit.
func (s *Sandbox) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("executions still running at shutdown: %w", ctx.Err())
	}
	if s.forks != nil {
		s.forks.close()
	} else {
		s.pool.close()
	}
	s.stopReaper()
	if rmErr := os.RemoveAll(s.workDir); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("remove work dir: %w", rmErr))
	}
	return err
}
