package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:80", "http://127.9.9.9"} {
		if _, err := CheckLoopback(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://10.0.0.1", "http://192.168.1.1:8080", "http://example.com", "http://8.8.8.8", "ftp://127.0.0.1", "http://0.0.0.0:80"} {
		if _, err := CheckLoopback(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestRunCountsAndPercentiles(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != "k" || r.URL.Path != "/execute" {
			w.WriteHeader(401)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if n.Add(1)%4 == 0 {
			w.WriteHeader(429)
			_, _ = w.Write([]byte(`{"result":null,"error":{"code":"overloaded"}}`))
			return
		}
		time.Sleep(2 * time.Millisecond)
		_, _ = w.Write([]byte(`{"result":1}`))
	}))
	defer srv.Close()
	rep, err := Run(context.Background(), Config{URL: srv.URL, Clients: 4, Duration: 300 * time.Millisecond, Body: Body("x"), APIKey: "k", IgnoreRetryAfter: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != int(n.Load()) || rep.Errors != 0 {
		t.Fatalf("requests %d, server saw %d, errors %d", rep.Requests, n.Load(), rep.Errors)
	}
	if rep.ByStatus[200]+rep.ByStatus[429] != rep.Requests || rep.ByCode["overloaded"] != rep.ByStatus[429] || rep.ByStatus[429] == 0 {
		t.Fatalf("counts %v %v", rep.ByStatus, rep.ByCode)
	}
	if rep.P50 < 2*time.Millisecond || rep.P50 > rep.P99 || rep.P99 > rep.Max {
		t.Fatalf("percentiles p50 %v p99 %v max %v", rep.P50, rep.P99, rep.Max)
	}
	if rep.Elapsed > 2*time.Second {
		t.Fatalf("run not bounded: %v", rep.Elapsed)
	}
	if rep.String() == "" {
		t.Fatal("empty report")
	}
	capped, err := Run(context.Background(), Config{URL: srv.URL, Clients: 2, Duration: 5 * time.Second, Body: Body("x"), APIKey: "k", MaxRequests: 5})
	if err != nil || capped.Requests != 5 {
		t.Fatalf("MaxRequests: %v %d", err, capped.Requests)
	}
}

func TestQuantile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if quantile(d, .5) != 50 || quantile(d, .99) != 99 || quantile(d, .9) != 90 || quantile(nil, .5) != 0 {
		t.Fatalf("quantiles %v %v %v", quantile(d, .5), quantile(d, .9), quantile(d, .99))
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(429)
	}))
	defer srv.Close()
	rep, err := Run(context.Background(), Config{URL: srv.URL, Clients: 2, Duration: 1500 * time.Millisecond, Body: Body("x")})
	if err != nil {
		t.Fatal(err)
	}
	// Two clients, one request each per second: 4 at most in 1.5 s.
	if rep.Requests > 4 || rep.ByStatus[429] != rep.Requests {
		t.Fatalf("requests %d (%v): Retry-After ignored", rep.Requests, rep.ByStatus)
	}
}
