package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
)

// The Functions Framework (v1.9.2) only offers StartHostPort, which calls
// http.ListenAndServe("host:port"): it cannot take a listener or a Unix
// socket, and its handler is unexported. So the port has to be picked,
// released, and handed to it, and something else (another process, or an
// outgoing connection's ephemeral port) may take it in between. A TCP dial
// cannot tell whose listener answered; an HTTP request to a function that
// only this process registered, answering a token only this process knows,
// can. The framework's error channel tells a failed bind from a slow one.

// probeFunction is served by the framework at /<probeFunction> on its
// private loopback port only; the public mux never forwards it.
const probeFunction = "framework-probe"

// processToken is this process's answer to the probe. It is not a secret
// (the private port is on loopback, which jailed scripts cannot reach); it
// only has to differ from every other process's.
var processToken = newToken()

func init() {
	functions.HTTP(probeFunction, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, processToken)
	})
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails on Linux (crypto/rand panics instead)
	return hex.EncodeToString(b)
}

// framework is a Functions Framework server started by startFramework.
type framework struct {
	// url is where it listens: http://127.0.0.1:<port>.
	url *url.URL
	// done receives the framework's error if its server ever stops, which
	// only happens when it fails; the process must not serve after that.
	done <-chan error
}

// frameworkStarter is how startFramework gets a framework running: start
// is funcframework.StartHostPort, pickPort returns a loopback port that was
// free a moment ago, token is what the probe must answer.
type frameworkStarter struct {
	start    func(host, port string) error
	pickPort func() (string, error)
	token    string
	// timeout bounds each attempt: the framework only builds a mux and
	// listens, but under gVisor on a loaded host that is not instant.
	timeout time.Duration
	// attempts is how many ports to try when the framework cannot bind.
	attempts int
}

// errFrameworkExited marks an attempt whose framework returned (it could
// not listen): its goroutine is gone, so another port may be tried.
var errFrameworkExited = errors.New("functions framework exited")

// startFramework starts the framework and returns once a real HTTP request
// through it has reached this process's probe function. If the framework
// cannot bind it tries another port; if it neither binds nor fails within
// the timeout it gives up rather than start a second one beside it.
func (fs frameworkStarter) startFramework(ctx context.Context) (*framework, error) {
	var lastErr error
	for attempt := 0; attempt < fs.attempts; attempt++ {
		port, err := fs.pickPort()
		if err != nil {
			return nil, fmt.Errorf("pick a loopback port: %w", err)
		}
		u := &url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", port)}
		errc := make(chan error, 1)
		go func() {
			err := fs.start("127.0.0.1", port)
			if err == nil {
				err = errors.New("server returned without an error")
			}
			errc <- fmt.Errorf("%w on %s: %w", errFrameworkExited, u.Host, err)
		}()
		err = awaitProbe(ctx, u, fs.token, errc, fs.timeout)
		if err == nil {
			return &framework{url: u, done: errc}, nil
		}
		if !errors.Is(err, errFrameworkExited) {
			return nil, err
		}
		lastErr = err
	}
	return nil, fmt.Errorf("functions framework did not start after %d attempts: %w", fs.attempts, lastErr)
}

// awaitProbe polls u's probe until it answers token, the framework exits
// (errc), ctx ends or timeout passes.
func awaitProbe(parent context.Context, u *url.URL, token string, errc <-chan error, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	probe := u.JoinPath(probeFunction).String()
	var last string
	for {
		last = probeOnce(ctx, client, probe, token)
		if last == "" {
			return nil
		}
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			if err := parent.Err(); err != nil {
				return err
			}
			return fmt.Errorf("functions framework on %s did not answer its probe within %v (last: %s)", u.Host, timeout, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// probeOnce returns "" when the probe at url answered token, else what it
// saw instead.
func probeOnce(ctx context.Context, client *http.Client, probeURL, token string) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, probeURL, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256))
	switch {
	case err != nil:
		return err.Error()
	case resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != token:
		// Another process listens there; our framework's bind fails
		// and errc says so.
		return fmt.Sprintf("someone else answered: %s", resp.Status)
	}
	return ""
}

// freeLoopbackPort returns a port that was free on 127.0.0.1 just now.
func freeLoopbackPort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	_, port, err := net.SplitHostPort(l.Addr().String())
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	return port, err
}
