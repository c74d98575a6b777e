// Package function holds the two entry points to the sandbox: the HTTP
// function "execute" (POST /execute) and the CloudEvent function "pubsub"
// (Pub/Sub batch messages whose results land in a ResultStore). Both decode
// the same payload, call the one sandboxcore.Executor and encode its Result
// the same way; this package only translates.
package function

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"python-api/sandboxcore"

	"github.com/prometheus/client_golang/prometheus"
)

// Limits bound how much of a request this package reads. Every other
// bound (timeouts, memory, the script itself) is sandboxcore's
// (Config.Check), which answers with its own code and message.
type Limits struct {
	// MaxScriptBytes is the largest accepted script (UTF-8 bytes), and
	// MaxInputBytes the largest "input" (JSON text); the request body may
	// be about twice the script, for JSON escaping, plus the input.
	MaxScriptBytes int
	MaxInputBytes  int
	MaxFilesBytes  int
}

// DefaultLimits are used for every zero field of Options.Limits: the
// sandbox's own defaults.
var DefaultLimits = Limits{
	MaxScriptBytes: sandboxcore.DefaultConfig().Max.ScriptBytes,
	MaxInputBytes:  sandboxcore.DefaultConfig().Max.InputBytes,
	MaxFilesBytes:  sandboxcore.DefaultConfig().Max.InputFilesBytes,
}

func (l Limits) withDefaults() Limits {
	if l.MaxScriptBytes <= 0 {
		l.MaxScriptBytes = DefaultLimits.MaxScriptBytes
	}
	if l.MaxInputBytes <= 0 {
		l.MaxInputBytes = DefaultLimits.MaxInputBytes
	}
	if l.MaxFilesBytes <= 0 {
		l.MaxFilesBytes = DefaultLimits.MaxFilesBytes
	}
	return l
}

// Options configures a Service. Executor is required; everything else has
// a usable zero value.
type Options struct {
	Executor sandboxcore.Executor
	// Store receives batch results. Nil makes /pubsub answer with a
	// retryable error, so messages wait in Pub/Sub rather than get lost.
	Store ResultStore
	// Logger gets one line per execution; nil discards.
	Logger *slog.Logger
	// Registry receives the metrics; nil creates a private one.
	Registry *prometheus.Registry
	Limits   Limits
	// APIKeys, when non-empty, are required on /execute (and on /pubsub
	// through RequireAPIKey).
	APIKeys []string
	// CORSOrigins lists the browser origins allowed to call /execute;
	// "*" allows any.
	CORSOrigins []string
	// PubSubAuth "platform" exempts /pubsub from APIKeys (Cloud Run IAM
	// authenticates the push instead); "oidc" checks the push's OIDC token
	// here (PubSubOIDC); anything else requires a key there.
	PubSubAuth string
	PubSubOIDC PushOIDC
	// ProjectID turns X-Cloud-Trace-Context into a Cloud Logging trace.
	ProjectID string
	// StoreTimeout bounds each ResultStore call so that a storage outage
	// turns into a retry instead of a push request that hangs (10s).
	StoreTimeout time.Duration
	// Version is reported by /healthz.
	Version string
	// Now is the clock for finished_at; nil means time.Now.
	Now func() time.Time
}

// Service is the state shared by the handlers. Build it with NewService.
type Service struct {
	exec         sandboxcore.Executor
	store        ResultStore
	log          *slog.Logger
	reg          *prometheus.Registry
	metrics      *metrics
	limits       Limits
	keys         *apiKeys
	pubsubKeys   pushAuth
	cors         corsPolicy
	projectID    string
	storeTimeout time.Duration
	version      string
	now          func() time.Time

	draining atomic.Bool
	// failure, once set, is why this instance can no longer serve (the
	// Functions Framework behind cmd/server stopped): /healthz says so.
	failure atomic.Pointer[string]
	// batchLocks serialises deliveries of the same batch id inside this
	// process so that a duplicate push waits and then finds the object,
	// rather than running the script a second time.
	batchLocks keyedMutex
}

// NewService checks opts and builds the handlers' shared state.
func NewService(opts Options) (*Service, error) {
	if opts.Executor == nil {
		return nil, errors.New("function.NewService: Executor is required")
	}
	s := &Service{
		exec:         opts.Executor,
		store:        opts.Store,
		log:          opts.Logger,
		reg:          opts.Registry,
		limits:       opts.Limits.withDefaults(),
		keys:         newAPIKeys(opts.APIKeys),
		pubsubKeys:   newAPIKeys(opts.APIKeys),
		cors:         newCORSPolicy(opts.CORSOrigins),
		projectID:    opts.ProjectID,
		storeTimeout: opts.StoreTimeout,
		version:      opts.Version,
		now:          opts.Now,
	}
	switch opts.PubSubAuth {
	case "platform":
		s.pubsubKeys = newAPIKeys(nil)
	case "oidc":
		o, err := newOIDCPush(context.Background(), opts.PubSubOIDC)
		if err != nil {
			return nil, fmt.Errorf("function.NewService: %w", err)
		}
		s.pubsubKeys = o
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	if s.storeTimeout <= 0 {
		s.storeTimeout = 10 * time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	m, err := newMetrics(s.reg, s.exec)
	if err != nil {
		return nil, fmt.Errorf("function.NewService: %w", err)
	}
	s.metrics = m
	return s, nil
}

// Limits reports the limits in force (defaults filled in).
func (s *Service) Limits() Limits { return s.limits }

// Drain makes new executions answer 503 "unavailable" (HTTP) or a
// retryable error (Pub/Sub) while the ones already running finish. The
// server calls it when SIGTERM arrives.
func (s *Service) Drain() { s.draining.Store(true) }

// Fail marks the instance as broken for good: /healthz answers 503 with
// reason and new executions are refused as in Drain. cmd/server calls it
// when the Functions Framework stops, just before it exits non-zero so
// that the platform replaces the instance.
func (s *Service) Fail(reason string) {
	s.failure.CompareAndSwap(nil, &reason)
	s.Drain()
}

// Close releases the executor (when it can be closed, as *sandboxcore.Sandbox
// can) and the result store. ctx bounds how long running executions may
// still take.
func (s *Service) Close(ctx context.Context) error {
	s.Drain()
	var errs []error
	if c, ok := s.exec.(interface{ Close(context.Context) error }); ok {
		if err := c.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close sandbox: %w", err))
		}
	}
	if c, ok := s.store.(io.Closer); ok {
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close result store: %w", err))
		}
	}
	return errors.Join(errs...)
}

// HealthHandler serves GET /healthz: the sandbox's Health plus the version,
// 503 when the sandbox is not ok, the service is draining or has failed.
func (s *Service) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, failure(codeMethodNotAllowed, "use GET"))
			return
		}
		h := s.exec.Health()
		body := struct {
			sandboxcore.Health
			Draining bool   `json:"draining,omitempty"`
			Failure  string `json:"failure,omitempty"`
			Version  string `json:"version"`
		}{Health: h, Draining: s.draining.Load(), Version: s.version}
		if f := s.failure.Load(); f != nil {
			body.Failure = *f
		}
		if body.Layers == nil {
			body.Layers = []string{}
		}
		status := http.StatusOK
		if !h.OK || body.Draining || body.Failure != "" {
			body.OK = false
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, body)
	})
}

// keyedMutex is a lock per string key that forgets keys nobody holds.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedEntry
}

type keyedEntry struct {
	ch   chan struct{} // one token: holding it means holding the lock
	refs int
}

// lock waits for key, or for ctx; the returned func releases it.
func (k *keyedMutex) lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedEntry{}
	}
	e := k.locks[key]
	if e == nil {
		e = &keyedEntry{ch: make(chan struct{}, 1)}
		k.locks[key] = e
	}
	e.refs++
	k.mu.Unlock()

	release := func() {
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
