// Command loadtest runs N closed-loop clients against POST /execute for a
// fixed time and prints throughput, latency percentiles and outcomes:
//
//	go run ./cmd/loadtest -url http://127.0.0.1:8080 -c 8 -d 20s -script hello|numpy|pandas|FILE
//
// Only loopback targets are accepted. LOADTEST_API_KEY, when set, is sent
// as X-API-Key.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"python-api/internal/loadgen"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "server base URL (loopback only)")
	clients := flag.Int("c", 8, "concurrent closed-loop clients")
	dur := flag.Duration("d", 20*time.Second, "run time (at most 10m)")
	script := flag.String("script", "hello", "hello, numpy, pandas, or a path to a .py file")
	maxReq := flag.Int("n", 0, "stop after this many requests (0: no cap)")
	asJSON := flag.Bool("json", false, "print the report as JSON")
	noWait := flag.Bool("ignore-retry-after", false, "resend at once after 429 instead of waiting Retry-After")
	flag.Parse()

	if *dur > 10*time.Minute || *clients < 1 || *clients > 1024 {
		fmt.Fprintln(os.Stderr, "loadtest: -d must be at most 10m and -c between 1 and 1024")
		os.Exit(2)
	}
	src, ok := loadgen.Scripts[*script]
	if !ok {
		b, err := os.ReadFile(*script)
		if err != nil {
			fmt.Fprintf(os.Stderr, "loadtest: -script: %v\n", err)
			os.Exit(2)
		}
		src = string(b)
	}
	cfg := loadgen.Config{URL: *url, Clients: *clients, Duration: *dur, Body: loadgen.Body(src), MaxRequests: *maxReq, IgnoreRetryAfter: *noWait}
	// The key comes from the environment: argv is visible to every user.
	cfg.APIKey = os.Getenv("LOADTEST_API_KEY")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadtest: %v\n", err)
		os.Exit(2)
	}
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(rep)
	} else {
		fmt.Printf("script %s, %s\n%s", *script, *url, rep)
	}
	if rep.Errors > 0 || rep.ByStatus[500] > 0 {
		os.Exit(1)
	}
}
