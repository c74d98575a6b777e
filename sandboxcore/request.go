package sandboxcore

import (
	"context"
	"encoding/json"
	"time"
)

// Class selects which server maxima apply: batch executions may run longer
// than interactive ones because nobody holds an HTTP connection open.
type Class int

const (
	Interactive Class = iota
	Batch
)

// Request is one script to run. Zero-valued overrides take the server default.
type Request struct {
	Script string
	// Input, when not nil, is a JSON value: main is then called as
	// main(input), else as main().
	Input json.RawMessage
	// Files are written into the script's working directory before main
	// runs (namespaces profile).
	Files    []InputFile
	Timeout  time.Duration
	MemoryMB int
	Class    Class
}

// Health describes the sandbox for /healthz: which profile is active, which
// isolation layers it has, and how loaded it is.
type Health struct {
	OK       bool     `json:"ok"`
	Mode     string   `json:"mode"`
	Profile  string   `json:"profile"`
	Executor string   `json:"executor"`
	Layers   []string `json:"layers"`
	// Files says jobs have a working directory, so requests may carry
	// files (false only in a chroot profile without a private /tmp).
	Files bool `json:"files"`
	// Weaker lists what this profile lacks compared with the strongest one.
	Weaker     []string         `json:"weaker,omitempty"`
	Pool       PoolStats        `json:"pool"`
	ForkServer *ForkServerStats `json:"fork_server,omitempty"`
}

// ForkServerStats describes the fast path's zygote.
type ForkServerStats struct {
	Alive    bool  `json:"alive"`
	Forks    int64 `json:"forks"`
	Restarts int64 `json:"restarts"`
	// SetupFailures counts jobs whose set-up failed before their script
	// started; each replaced the fork server at once.
	SetupFailures    int64  `json:"setup_failures"`
	LastSetupFailure string `json:"last_setup_failure,omitempty"`
	LastError        string `json:"last_error,omitempty"`
}

// PoolStats is a point-in-time view of capacity.
type PoolStats struct {
	Slots      int `json:"slots"`
	Busy       int `json:"busy"`
	QueueCap   int `json:"queue_capacity"`
	Queued     int `json:"queued"`
	WarmTarget int `json:"warm_target"`
	Warm       int `json:"warm"`
}

// Executor is what function/ needs from the sandbox; *Sandbox implements it.
type Executor interface {
	Execute(ctx context.Context, req Request) (Result, error)
	Health() Health
}

// InputFile is one file of a request: a relative path below the script's
// working directory, and its bytes.
type InputFile struct {
	Name    string `json:"name"`
	Content []byte `json:"content"`
}
