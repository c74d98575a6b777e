package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"python-api/function"
	"python-api/sandboxcore"

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
	var extraFiles fileFlags
	fs.Var(&extraFiles, "file", "a file for every script's working directory (repeatable)")
	wait := fs.Duration("wait", 0, "wait up to this long (e.g. 10m) for every result, then print a summary (0: do not wait)")
	outDir := fs.String("out", "", "with --wait: write each result to DIR/<id>.json")
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
	inFiles, err := extraFiles.read()
	if err != nil {
		fmt.Fprintf(stderr, "submit: %v\n", err)
		return 2
	}
	type message struct {
		Script    string                  `json:"script"`
		Input     json.RawMessage         `json:"input,omitempty"`
		Files     []sandboxcore.InputFile `json:"files,omitempty"`
		ID        string                  `json:"id,omitempty"`
		TimeoutMs int                     `json:"timeout_ms,omitempty"`
		MemoryMB  int                     `json:"memory_mb,omitempty"`
	}
	payloads := make([][]byte, len(files))
	for i, f := range files {
		script, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "submit: %v\n", err)
			return 2
		}
		payloads[i], err = json.Marshal(message{Script: string(script), Input: input, Files: inFiles, ID: *id, TimeoutMs: *timeoutMs, MemoryMB: *memoryMB})
		if err != nil {
			fmt.Fprintf(stderr, "submit: encode %s: %v\n", f, err)
			return 2
		}
	}

	sigCtx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(sigCtx, 2*time.Minute)
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
	var ids []string
	bar := newProgress(stderr, len(files), "published")
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
		ids = append(ids, resultID)
		fmt.Fprintf(stdout, "%s\tmessage_id=%s\tid=%s\tresult=%s\n", f, msgID, resultID, resultLocation(resultID))
		bar.step()
	}
	bar.done()
	if *wait <= 0 || len(ids) == 0 {
		return code
	}
	wctx, wcancel := context.WithTimeout(sigCtx, *wait)
	defer wcancel()
	if c := awaitResults(wctx, ids, *outDir, stdout, stderr); c > code {
		code = c
	}
	return code
}

// openResults opens the store a server with this environment writes to.
func openResults(ctx context.Context) (function.ResultReader, error) {
	env, err := function.LoadEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	return env.NewResultReader(ctx)
}

// awaitResults polls the result store until every id has its result or
// ctx ends, then prints a summary table. Exit status: 0 all ok, 1 some
// script failed, 2 some result did not come.
func awaitResults(ctx context.Context, ids []string, outDir string, stdout, stderr io.Writer) int {
	store, err := openResults(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "results: %v\n", err)
		return 2
	}
	got := map[string][]byte{}
	bar := newProgress(stderr, len(ids), "results")
	for len(got) < len(ids) && ctx.Err() == nil {
		for _, id := range ids {
			if got[id] != nil {
				continue
			}
			data, err := store.Read(ctx, id)
			switch {
			case err == nil:
				got[id] = data
				bar.step()
			case !errors.Is(err, function.ErrResultMissing) && ctx.Err() == nil:
				fmt.Fprintf(stderr, "results: %s: %v\n", id, err)
			}
		}
		if len(got) < len(ids) {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	bar.done()
	return summarize(ids, got, outDir, stdout, stderr)
}

// summarize prints one row per id (status, duration, error code), writes
// the results to outDir when set, and returns the exit status.
func summarize(ids []string, got map[string][]byte, outDir string, stdout, stderr io.Writer) int {
	code := 0
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tDURATION_MS\tERROR")
	for _, id := range ids {
		data, ok := got[id]
		if !ok {
			fmt.Fprintf(tw, "%s\tmissing\t-\t-\n", id)
			code = 2
			continue
		}
		var obj function.BatchObject
		if err := json.Unmarshal(data, &obj); err != nil {
			fmt.Fprintf(tw, "%s\tunreadable\t-\t%v\n", id, err)
			code = max(code, 2)
			continue
		}
		errCode := "-"
		if obj.Error != nil {
			errCode = string(obj.Error.Code)
			code = max(code, 1)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\n", id, obj.Status, obj.DurationMs, errCode)
		if outDir != "" {
			err := os.MkdirAll(outDir, 0o755)
			if err == nil {
				err = os.WriteFile(filepath.Join(outDir, id+".json"), data, 0o644)
			}
			if err != nil {
				fmt.Fprintf(stderr, "results: write %s: %v\n", id, err)
				code = 2
			}
		}
	}
	_ = tw.Flush()
	return code
}

// resultsCmd fetches results by id: a summary table, and the results
// themselves to --out DIR (or, for one id, the object on stdout).
func resultsCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("results", flag.ContinueOnError)
	fs.SetOutput(stderr)
	outDir := fs.String("out", "", "write each result to DIR/<id>.json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ids := fs.Args()
	if len(ids) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	for _, id := range ids {
		if !function.ValidBatchID(id) {
			fmt.Fprintf(stderr, "results: %q is not a result id (%s)\n", id, function.BatchIDPattern)
			return 2
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := openResults(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "results: %v\n", err)
		return 2
	}
	got := map[string][]byte{}
	for _, id := range ids {
		data, err := store.Read(ctx, id)
		if err != nil && !errors.Is(err, function.ErrResultMissing) {
			fmt.Fprintf(stderr, "results: %s: %v\n", id, err)
		}
		if err == nil {
			got[id] = data
		}
	}
	if len(ids) == 1 && *outDir == "" {
		if data, ok := got[ids[0]]; ok {
			_, _ = stdout.Write(data)
			return 0
		}
	}
	return summarize(ids, got, *outDir, stdout, stderr)
}

// progress is a bar on a terminal, plain lines otherwise.
type progress struct {
	w          io.Writer
	total, n   int
	label      string
	isTerminal bool
}

func newProgress(w io.Writer, total int, label string) *progress {
	p := &progress{w: w, total: total, label: label}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.isTerminal = true
		}
	}
	return p
}

func (p *progress) step() {
	p.n++
	if !p.isTerminal {
		fmt.Fprintf(p.w, "%s %d/%d\n", p.label, p.n, p.total)
		return
	}
	const width = 30
	filled := width * p.n / max(p.total, 1)
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d", p.label, strings.Repeat("#", filled), strings.Repeat(" ", width-filled), p.n, p.total)
}

func (p *progress) done() {
	if p.isTerminal && p.n > 0 {
		fmt.Fprintln(p.w)
	}
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
