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
	"syscall"
	"time"

	"python-api/function"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
)

// serve runs the service until SIGTERM or SIGINT.
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
	log := function.NewLogger(os.Stderr)
	fail := func(msg string, err error) int {
		log.Error(msg, "error", err.Error())
		return 1
	}
	port := envOr("PORT", "8080")
	shutdownTimeout, err := durationEnv("SHUTDOWN_TIMEOUT", 9*time.Second)
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

	inner, err := startFramework(ctx)
	if err != nil {
		_ = svc.Close(context.Background())
		return fail("functions framework failed to start", err)
	}
	ide, err := ideHandler()
	if err != nil {
		_ = svc.Close(context.Background())
		return fail("IDE assets", err)
	}

	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		_ = svc.Close(context.Background())
		return fail("listen", err)
	}
	srv := &http.Server{
		Handler:           newMux(svc, inner, ide, log),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "version", function.Version())

	select {
	case err := <-serveErr:
		_ = svc.Close(context.Background())
		return fail("server stopped", err)
	case <-ctx.Done():
	}

	// Cloud Run sends SIGTERM and kills the instance 10s later: stop
	// taking connections, let running executions answer, then kill the
	// pool whatever is left.
	log.Info("shutting down", "timeout", shutdownTimeout.String())
	svc.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	code := 0
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("in-flight requests did not finish in time", "error", err.Error())
		code = 1
	}
	cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
	defer ccancel()
	if err := svc.Close(cctx); err != nil {
		log.Error("close", "error", err.Error())
		code = 1
	}
	log.Info("stopped")
	return code
}

// newMux is the public surface: the framework's functions behind a proxy,
// health, metrics and the IDE.
func newMux(svc *function.Service, inner *url.URL, ide http.Handler, log *slog.Logger) http.Handler {
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
			if r.Context().Err() != nil {
				return // the client left; nobody to answer
			}
			log.Error("functions framework unreachable", "error", err.Error())
			function.WriteUnavailable(w, "the function is not reachable; retry")
		},
	}
	// Pub/Sub messages are at most 10 MB; base64 and the envelope add a
	// third. The framework reads the body whole, so bound it here.
	const maxPushBody = 16 << 20
	pubsub := svc.GuardPubSub(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxPushBody)
		proxy.ServeHTTP(w, r)
	}))

	mux := http.NewServeMux()
	mux.Handle("/execute", proxy)
	mux.Handle("/pubsub", pubsub)
	mux.Handle("/healthz", svc.HealthHandler())
	mux.Handle("GET /metrics", svc.MetricsHandler())
	mux.Handle("/", ide)
	return mux
}

// startFramework starts funcframework on a free loopback port and waits
// until it accepts connections. The framework's server lives as long as
// the process; only the public server is shut down gracefully, which is
// enough because every request reaches the framework through it.
func startFramework(ctx context.Context) (*url.URL, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a loopback port: %w", err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		_, port, _ := net.SplitHostPort(addr)

		errc := make(chan error, 1)
		go func() { errc <- funcframework.StartHostPort("127.0.0.1", port) }()
		if err := waitListening(ctx, addr, errc); err != nil {
			// Most likely someone took the port between Close and
			// the framework's Listen: try another.
			lastErr = err
			continue
		}
		return &url.URL{Scheme: "http", Host: addr}, nil
	}
	return nil, fmt.Errorf("functions framework did not start: %w", lastErr)
}

func waitListening(ctx context.Context, addr string, errc <-chan error) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return errors.New("timed out waiting for " + addr)
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
