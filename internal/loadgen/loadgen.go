// Package loadgen drives POST /execute with a fixed number of closed-loop
// clients for a fixed time and summarises what came back. It only talks
// to loopback addresses: load tests here never leave the machine.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config describes one run.
type Config struct {
	// URL is the server's base URL (http://127.0.0.1:8080); /execute is
	// appended.
	URL string
	// Clients is the number of concurrent closed-loop clients: each sends
	// its next request when the previous answer arrived.
	Clients int
	// Duration bounds the run; requests in flight at the end are waited
	// for (up to RequestTimeout) and counted.
	Duration time.Duration
	// Body is the JSON request body.
	Body []byte
	// APIKey, when set, is sent as X-API-Key.
	APIKey string
	// RequestTimeout bounds each request (default 60s).
	RequestTimeout time.Duration
	// MaxRequests stops the run early once this many were sent (0: no cap).
	MaxRequests int
	// IgnoreRetryAfter makes clients resend at once after a 429 instead
	// of waiting as the server asks; on a 2-core machine such a busy loop
	// mostly measures the load generator.
	IgnoreRetryAfter bool
}

// Report is the outcome of a run.
type Report struct {
	Clients    int            `json:"clients"`
	Elapsed    time.Duration  `json:"elapsed_ns"`
	Requests   int            `json:"requests"`
	ByStatus   map[int]int    `json:"by_status"`
	ByCode     map[string]int `json:"by_code"`
	Errors     int            `json:"errors"`
	ErrorKinds map[string]int `json:"error_kinds,omitempty"`
	// Throughput counts 200 answers per second.
	Throughput float64       `json:"throughput_ok_per_s"`
	P50        time.Duration `json:"p50_ns"`
	P90        time.Duration `json:"p90_ns"`
	P99        time.Duration `json:"p99_ns"`
	Max        time.Duration `json:"max_ns"`
}

// Scripts are the built-in workloads.
var Scripts = map[string]string{
	"hello":  "def main():\n    print(\"Hello from IDE\")\n    return {\"status\": \"ok\"}",
	"numpy":  "def main():\n    import numpy as np\n    arr = np.array([1, 2, 3, 4, 5])\n    return {\"mean\": float(np.mean(arr))}",
	"pandas": "def main():\n    import pandas as pd\n    df = pd.DataFrame({'a': range(1000), 'b': range(1000)})\n    return {'sum': int((df.a * df.b).sum())}",
}

// Body builds the JSON body for script.
func Body(script string) []byte {
	b, _ := json.Marshal(map[string]string{"script": script})
	return b
}

// CheckLoopback refuses any target that is not on this machine's
// loopback interface.
func CheckLoopback(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url %q: want http or https", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return u, nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("url %q: only loopback targets (127.0.0.0/8, ::1, localhost) are allowed", raw)
	}
	return u, nil
}

type sample struct {
	latency    time.Duration
	status     int
	code       string
	err        string
	retryAfter time.Duration
}

// Run executes cfg and returns its report. ctx cancels the run early.
func Run(ctx context.Context, cfg Config) (Report, error) {
	u, err := CheckLoopback(cfg.URL)
	if err != nil {
		return Report{}, err
	}
	if cfg.Clients < 1 || cfg.Duration <= 0 || len(cfg.Body) == 0 {
		return Report{}, errors.New("loadgen: need Clients >= 1, Duration > 0 and a Body")
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 60 * time.Second
	}
	target := strings.TrimRight(u.String(), "/") + "/execute"
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: cfg.Clients, MaxConnsPerHost: cfg.Clients},
		Timeout:   cfg.RequestTimeout,
		// A redirect could lead off loopback.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()

	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var (
		mu      sync.Mutex
		samples []sample
		sent    int
		wg      sync.WaitGroup
	)
	take := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if cfg.MaxRequests > 0 && sent >= cfg.MaxRequests {
			return false
		}
		sent++
		return true
	}
	start := time.Now()
	for range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil && take() {
				// The request outlives the run's deadline so that the
				// last answers are measured, not cut off.
				s := once(context.WithoutCancel(ctx), client, target, cfg)
				mu.Lock()
				samples = append(samples, s)
				mu.Unlock()
				if s.retryAfter > 0 && !cfg.IgnoreRetryAfter {
					select {
					case <-time.After(s.retryAfter):
					case <-runCtx.Done():
					}
				}
			}
		}()
	}
	wg.Wait()
	return summarise(cfg.Clients, time.Since(start), samples), nil
}

func once(ctx context.Context, client *http.Client, target string, cfg Config) sample {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(cfg.Body))
	if err != nil {
		return sample{err: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	if cfg.APIKey != "" {
		req.Header.Set("X-API-Key", cfg.APIKey)
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return sample{latency: time.Since(t0), err: errKind(err)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	resp.Body.Close()
	lat := time.Since(t0)
	if err != nil {
		return sample{latency: lat, status: resp.StatusCode, err: errKind(err)}
	}
	var parsed struct {
		Error *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	code := "ok"
	if json.Unmarshal(body, &parsed) != nil {
		code = "unparsable"
	} else if parsed.Error != nil {
		code = parsed.Error.Code
	}
	smp := sample{latency: lat, status: resp.StatusCode, code: code}
	if resp.StatusCode == http.StatusTooManyRequests {
		smp.retryAfter = time.Second
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 && secs < 60 {
			smp.retryAfter = time.Duration(secs) * time.Second
		}
	}
	return smp
}

func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	case strings.Contains(err.Error(), "connection reset"):
		return "connection reset"
	case strings.Contains(err.Error(), "EOF"):
		return "EOF"
	default:
		return "other"
	}
}

func summarise(clients int, elapsed time.Duration, samples []sample) Report {
	r := Report{Clients: clients, Elapsed: elapsed, Requests: len(samples),
		ByStatus: map[int]int{}, ByCode: map[string]int{}, ErrorKinds: map[string]int{}}
	var lat []time.Duration
	for _, s := range samples {
		if s.err != "" {
			r.Errors++
			r.ErrorKinds[s.err]++
			continue
		}
		r.ByStatus[s.status]++
		r.ByCode[s.code]++
		if s.status == http.StatusOK {
			lat = append(lat, s.latency)
		}
	}
	slices.Sort(lat)
	r.P50, r.P90, r.P99 = quantile(lat, .50), quantile(lat, .90), quantile(lat, .99)
	if len(lat) > 0 {
		r.Max = lat[len(lat)-1]
	}
	if elapsed > 0 {
		r.Throughput = float64(r.ByStatus[http.StatusOK]) / elapsed.Seconds()
	}
	return r
}

// quantile is the nearest-rank quantile of sorted latencies.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// String formats the report for people. Latencies are of 200 answers.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "clients %d, %v: %d requests, %.1f ok/s, %d errors\n",
		r.Clients, r.Elapsed.Round(time.Millisecond), r.Requests, r.Throughput, r.Errors)
	fmt.Fprintf(&b, "latency of 200s: p50 %v  p90 %v  p99 %v  max %v\n",
		r.P50.Round(100*time.Microsecond), r.P90.Round(100*time.Microsecond),
		r.P99.Round(100*time.Microsecond), r.Max.Round(100*time.Microsecond))
	statuses := make([]int, 0, len(r.ByStatus))
	for s := range r.ByStatus {
		statuses = append(statuses, s)
	}
	sort.Ints(statuses)
	b.WriteString("by status:")
	for _, s := range statuses {
		fmt.Fprintf(&b, " %d=%d", s, r.ByStatus[s])
	}
	b.WriteString("\nby code:")
	codes := make([]string, 0, len(r.ByCode))
	for c := range r.ByCode {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		fmt.Fprintf(&b, " %s=%d", c, r.ByCode[c])
	}
	b.WriteString("\n")
	if r.Errors > 0 {
		b.WriteString("errors:")
		for k, n := range r.ErrorKinds {
			fmt.Fprintf(&b, " %s=%d", k, n)
		}
		b.WriteString("\n")
	}
	return b.String()
}
