package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"python-api/function"

	"cloud.google.com/go/pubsub/v2"
)

// submitCmd publishes each file as a batch message and prints, per file,
// the message id and where its result will appear.
func submitCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	project := fs.String("project", os.Getenv("GOOGLE_CLOUD_PROJECT"), "Google Cloud project (default $GOOGLE_CLOUD_PROJECT)")
	topic := fs.String("topic", "", "Pub/Sub topic id or projects/P/topics/T (required)")
	id := fs.String("id", "", "result id for a single FILE (default: the message id)")
	timeoutMs := fs.Int("timeout-ms", 0, "timeout_ms to request (0: server default)")
	memoryMB := fs.Int("memory-mb", 0, "memory_mb to request (0: server default)")
	inputPath := fs.String("input", "", "a JSON file passed to every script's main(input)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	files := fs.Args()
	switch {
	case *topic == "" || len(files) == 0:
		fmt.Fprint(stderr, usage)
		return 2
	case *project == "" && !strings.HasPrefix(*topic, "projects/"):
		fmt.Fprintln(stderr, "submit: --project (or GOOGLE_CLOUD_PROJECT) is required")
		return 2
	case *id != "" && len(files) != 1:
		fmt.Fprintln(stderr, "submit: --id names one result; give exactly one FILE")
		return 2
	case *id != "" && !function.ValidBatchID(*id):
		fmt.Fprintln(stderr, "submit: --id must match "+function.BatchIDPattern)
		return 2
	case *timeoutMs < 0 || *memoryMB < 0:
		fmt.Fprintln(stderr, "submit: --timeout-ms and --memory-mb must not be negative")
		return 2
	}
	if p, _, ok := strings.Cut(strings.TrimPrefix(*topic, "projects/"), "/topics/"); ok && strings.HasPrefix(*topic, "projects/") {
		*project = p
	}

	input, err := readInput(*inputPath, os.Stdin)
	if err != nil {
		fmt.Fprintf(stderr, "submit: %v\n", err)
		return 2
	}
	type message struct {
		Script    string          `json:"script"`
		Input     json.RawMessage `json:"input,omitempty"`
		ID        string          `json:"id,omitempty"`
		TimeoutMs int             `json:"timeout_ms,omitempty"`
		MemoryMB  int             `json:"memory_mb,omitempty"`
	}
	payloads := make([][]byte, len(files))
	for i, f := range files {
		script, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "submit: %v\n", err)
			return 2
		}
		payloads[i], err = json.Marshal(message{Script: string(script), Input: input, ID: *id, TimeoutMs: *timeoutMs, MemoryMB: *memoryMB})
		if err != nil {
			fmt.Fprintf(stderr, "submit: encode %s: %v\n", f, err)
			return 2
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	client, err := pubsub.NewClient(ctx, *project)
	if err != nil {
		fmt.Fprintf(stderr, "submit: pubsub client: %v\n", err)
		return 2
	}
	defer func() { _ = client.Close() }()
	pub := client.Publisher(*topic)
	defer pub.Stop()

	results := make([]*pubsub.PublishResult, len(files))
	for i := range files {
		results[i] = pub.Publish(ctx, &pubsub.Message{Data: payloads[i]})
	}
	code := 0
	for i, f := range files {
		msgID, err := results[i].Get(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "submit: publish %s: %v\n", f, err)
			code = 2
			continue
		}
		resultID := *id
		if resultID == "" {
			resultID = msgID
		}
		fmt.Fprintf(stdout, "%s\tmessage_id=%s\tid=%s\tresult=%s\n", f, msgID, resultID, resultLocation(resultID))
	}
	return code
}

// resultLocation is where the server will write id's result, if it runs
// with the same RESULTS_* environment as this command.
func resultLocation(id string) string {
	env, err := function.LoadEnv(os.Getenv)
	if err != nil {
		return "(unknown: " + err.Error() + ")"
	}
	return env.ResultName(id)
}
