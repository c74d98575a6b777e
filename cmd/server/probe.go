package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"python-api/sandboxcore"
)

// probeCmd prints sandboxcore.Probe's report: which profiles really run a
// script on this host, with their layers. Exit 1 when none does.
func probeCmd(stdout, stderr io.Writer) int {
	cfg, err := sandboxcore.LoadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep := sandboxcore.Probe(ctx, cfg)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return 2
	}
	if rep.Chosen == "" {
		return 1
	}
	return 0
}
