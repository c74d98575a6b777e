package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"python-api/sandboxcore"
)

// execCmd runs one file through the sandbox, as /execute would, and
// prints the same JSON body. Exit status: 0 ok, 1 the script failed,
// 2 usage or our own failure.
func execCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("exec", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeoutMs := fs.Int("timeout-ms", 0, "execution timeout in ms (0: server default)")
	memoryMB := fs.Int("memory-mb", 0, "memory limit in MiB (0: server default)")
	inputPath := fs.String("input", "", "a JSON file (or - for stdin) passed to main(input)")
	var files fileFlags
	fs.Var(&files, "file", "a file for the script's working directory (repeatable)")
	outDir := fs.String("out", "", "write the files the script leaves in outputs/ to DIR")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 || *timeoutMs < 0 || *memoryMB < 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	script, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "exec: %v\n", err)
		return 2
	}
	input, err := readInput(*inputPath, os.Stdin)
	if err != nil {
		fmt.Fprintf(stderr, "exec: %v\n", err)
		return 2
	}
	inFiles, err := files.read()
	if err != nil {
		fmt.Fprintf(stderr, "exec: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg, err := sandboxcore.LoadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "exec: sandbox config: %v\n", err)
		return 2
	}
	sb, err := sandboxcore.New(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "exec: start sandbox: %v\n", err)
		return 2
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sb.Close(cctx)
	}()

	res, err := sb.Execute(ctx, sandboxcore.Request{
		Script:   string(script),
		Input:    input,
		Files:    inFiles,
		Timeout:  time.Duration(*timeoutMs) * time.Millisecond,
		MemoryMB: *memoryMB,
		Class:    sandboxcore.Interactive,
	})
	if err != nil {
		res = sandboxcore.FailureResult(err, sb.Health().Profile)
	}
	if *outDir != "" {
		if err := writeOutputs(*outDir, res.Files); err != nil {
			fmt.Fprintf(stderr, "exec: %v\n", err)
			return 2
		}
	}
	out, merr := json.MarshalIndent(res, "", "  ")
	if merr != nil {
		fmt.Fprintf(stderr, "exec: encode result: %v\n", merr)
		return 2
	}
	fmt.Fprintln(stdout, string(out))
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "exec: %v\n", err)
		return 2
	case res.Error == nil:
		return 0
	case res.Error.Code == sandboxcore.CodeInternal:
		return 2
	default:
		return 1
	}
}

// readInput reads --input: "" is no input, "-" standard input, else a
// file; it must hold one JSON value.
func readInput(path string, stdin io.Reader) (json.RawMessage, error) {
	var (
		data []byte
		err  error
	)
	switch path {
	case "":
		return nil, nil
	case "-":
		data, err = io.ReadAll(stdin)
	default:
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("--input: %w", err)
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("--input %s: not a JSON value", path)
	}
	return json.RawMessage(data), nil
}
