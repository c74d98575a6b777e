package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
)

// jsonOnlyOutput keeps the process's log one JSON object per line: the
// Functions Framework prints plain text with fmt to os.Stdout and
// os.Stderr ("Serving function", and "Function error: 503: …" for every
// failed delivery, which Pub/Sub retries), so both are swapped for pipes
// whose plain lines become log entries. JSON lines (the function's own
// logger, made later from os.Stderr) pass through as they are, to out, the
// original stderr. Only fmt's output through the os.Stdout/os.Stderr
// variables is caught; a crash still writes raw.
func jsonOnlyOutput(out io.Writer, log *slog.Logger) error {
	for _, target := range []struct {
		file  **os.File
		level slog.Level
	}{{&os.Stdout, slog.LevelInfo}, {&os.Stderr, slog.LevelWarn}} {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		*target.file = w
		go relayLines(r, out, log, target.level)
	}
	return nil
}

func relayLines(r io.Reader, out io.Writer, log *slog.Logger, level slog.Level) {
	sc := bufio.NewScanner(r)
	// A line longer than the buffer is cut into pieces, never a stall.
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		adv, tok, err := bufio.ScanLines(data, atEOF)
		if adv == 0 && tok == nil && len(data) >= 1<<20 {
			return len(data), data, nil
		}
		return adv, tok, err
	})
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		switch {
		case len(line) == 0:
		case line[0] == '{' && json.Valid(line):
			_, _ = out.Write(append(line, '\n'))
		default:
			log.Log(context.Background(), level, "functions framework: "+string(line), "source", "functions-framework")
		}
	}
}
