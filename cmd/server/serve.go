package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"python-api/function"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
)

// serve runs the service until SIGTERM or SIGINT, or until the Functions
// Framework behind it stops.
//
// The functions are served by the Functions Framework, as registered in
// function's init(). The framework only offers StartHostPort, which owns
// its http.Server and cannot be shut down, and it hands out no handler. So
// it listens on a private loopback port and the public server (which we
// own, and can shut down gracefully) forwards /execute and /pubsub to it.
// The hop costs a loopback round trip; in exchange the requests take the
// exact code path they take on Cloud Functions, including the framework's
// Pub/Sub push conversion.
func serve(stderr io.Writer) int {
	log := function.NewLogger(stderr)
	if err := jsonOnlyOutput(stderr, log); err != nil {
		log.Error("capture the framework's output", "error", err.Error())
		return 1
	}
	fail := func(msg string, err error) int {
		log.Error(msg, "error", err.Error())
		return 1
	}
	port := envOr("PORT", "8080")
	shutdownTimeout, err := durationEnv("SHUTDOWN_TIMEOUT", 9*time.Second)
	if err != nil {
		return fail("bad configuration", err)
	}
	bodyTimeout, err := durationEnv("BODY_READ_TIMEOUT", 60*time.Second)
	if err != nil {
		return fail("bad configuration", err)
	}
	if t := os.Getenv("FUNCTION_TARGET"); t != "" {
		// With it set the framework would serve only that function at /.
		log.Warn("FUNCTION_TARGET is ignored by bin/server, which serves every function", "function_target", t)
		_ = os.Unsetenv("FUNCTION_TARGET")
	}

	svc, err := function.Default()
	if err != nil {
		return fail("service failed to start", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	fw, err := frameworkStarter{
		start:    funcframework.StartHostPort,
		pickPort: freeLoopbackPort,
		token:    processToken,
		timeout:  30 * time.Second,
		attempts: 5,
	}.startFramework(ctx)
	if err != nil {
		_ = svc.Close(context.Background())
		return fail("functions framework failed to start", err)
	}
	ide, err := ideHandler()
	if err != nil {
		_ = svc.Close(context.Background())
		return fail("IDE assets", err)
	}
	// Only now, with the framework proven to answer, does the public port
	// open: /healthz must not say ok before /execute can work.
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		_ = svc.Close(context.Background())
		return fail("listen", err)
	}
	return instance{svc: svc, fw: fw, ide: ide, log: log, shutdownTimeout: shutdownTimeout, bodyTimeout: bodyTimeout}.run(ctx, ln)
}

// instance is a started server's parts.
type instance struct {
	svc             *function.Service
	fw              *framework
	ide             http.Handler
	log             *slog.Logger
	shutdownTimeout time.Duration
	// bodyTimeout bounds how long a caller may take to send its request
	// body; the execution after it is bounded by its own limits.
	bodyTimeout time.Duration
}

// run serves on ln until ctx ends (exit 0 after a clean shutdown) or the
// framework stops (exit 1, /healthz 503 meanwhile): a framework that stopped
// cannot be restarted in this process, and an instance that answers 503
// forever while /healthz says ok would never be replaced.
func (in instance) run(ctx context.Context, ln net.Listener) int {
	log := in.log
	srv := &http.Server{
		Handler:           newMux(in.svc, in.fw.url, in.ide, log, in.bodyTimeout),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "framework", in.fw.url.Host, "version", function.Version())

	code := 0
	select {
	case err := <-serveErr:
		log.Error("server stopped", "error", err.Error())
		_ = in.svc.Close(context.Background())
		return 1
	case err := <-in.fw.done:
		log.Error("functions framework stopped; exiting so that the platform replaces this instance", "error", err.Error())
		in.svc.Fail("functions framework stopped")
		code = 1
	case <-ctx.Done():
		// Cloud Run sends SIGTERM and kills the instance 10s later.
		log.Info("shutting down", "timeout", in.shutdownTimeout.String())
		in.svc.Drain()
	}

	// Stop taking connections, let running executions answer, then kill
	// the pool whatever is left.
	sctx, cancel := context.WithTimeout(context.Background(), in.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("in-flight requests did not finish in time", "error", err.Error())
		code = 1
	}
	cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
	defer ccancel()
	if err := in.svc.Close(cctx); err != nil {
		log.Error("close", "error", err.Error())
		code = 1
	}
	log.Info("stopped", "exit_code", code)
	return code
}

// newMux is the public surface: the framework's functions behind a proxy,
// health, metrics and the IDE.
func newMux(svc *function.Service, inner *url.URL, ide http.Handler, log *slog.Logger, bodyTimeout time.Duration) http.Handler {
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(inner)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: &http.Transport{
			Proxy:               nil, // loopback only; never an HTTP(S)_PROXY
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			b, _ := r.Context().Value(watchedBodyKey{}).(*watchedBody)
			if b != nil && errors.Is(b.failed(), os.ErrDeadlineExceeded) {
				// The body deadline also cancels the request's context;
				// the caller is still there to be told.
				log.Warn("request body not received in time", "path", r.URL.Path, "timeout", bodyTimeout.String())
				function.WriteInvalidRequest(w, fmt.Sprintf("the request body was not received within %v", bodyTimeout))
				return
			}
			if r.Context().Err() != nil {
				return // the client left; nobody to answer
			}
			if b != nil && b.failed() != nil {
				// The caller's body broke off, not the framework.
				log.Warn("request body could not be read", "path", r.URL.Path, "error", b.failed().Error())
				function.WriteInvalidRequest(w, "the request body could not be read")
				return
			}
			log.Error("functions framework unreachable", "error", err.Error())
			function.WriteUnavailable(w, "the function is not reachable; retry")
		},
	}
	forward := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			// A deadline for the body alone: a caller trickling bytes must
			// not hold a connection and a handler. It applies only until
			// the body ends, so the execution that follows is not cut by it.
			if bodyTimeout > 0 {
				r.Body = newBodyDeadline(r.Body, http.NewResponseController(w), bodyTimeout)
			}
			// The proxy wraps the body it forwards, so its error handler
			// finds this one through the context.
			b := &watchedBody{ReadCloser: r.Body}
			r = r.WithContext(context.WithValue(r.Context(), watchedBodyKey{}, b))
			r.Body = b
		}
		proxy.ServeHTTP(w, r)
	})

	mux := http.NewServeMux()
	mux.Handle("/execute", forward)
	mux.Handle("/pubsub", svc.GuardPubSub(forward))
	mux.Handle(function.PubSubTopicPath, svc.GuardPubSub(forward))
	mux.Handle("/healthz", svc.HealthHandler())
	mux.Handle("GET /metrics", svc.MetricsHandler())
	mux.Handle("/", ide)
	return mux
}

type watchedBodyKey struct{}

// watchedBody remembers why reading the caller's body failed, so that the
// proxy's error handler does not blame the framework for it. The proxy's
// transport reads it on its own goroutine, hence the atomic.
type watchedBody struct {
	io.ReadCloser
	err atomic.Pointer[error]
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

// bodyDeadline breaks off a request body that has not ended by its
// deadline, by expiring the connection's read deadline then; a body that
// ended in time leaves the connection's deadline alone.
type bodyDeadline struct {
	io.ReadCloser
	mu    sync.Mutex
	ended bool
	timer *time.Timer
}

func newBodyDeadline(body io.ReadCloser, rc *http.ResponseController, timeout time.Duration) *bodyDeadline {
	b := &bodyDeadline{ReadCloser: body}
	b.timer = time.AfterFunc(timeout, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if !b.ended {
			_ = rc.SetReadDeadline(time.Now())
		}
	})
	return b
}

func (b *bodyDeadline) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.mu.Lock()
		b.ended = true
		b.mu.Unlock()
		b.timer.Stop()
	}
	return n, err
}

func (b *watchedBody) failed() error {
	if e := b.err.Load(); e != nil {
		return *e
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func durationEnv(key string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		// Plain seconds are what people type for Cloud Run.
		if n, nerr := strconv.Atoi(v); nerr == nil {
			d, err = time.Duration(n)*time.Second, nil
		}
	}
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 9s", key, v)
	}
	return d, nil
}
