package sandboxcore

import (
	"encoding/json"
	"errors"
)

// Code names why an execution did not produce a result. The set is closed:
// function/ maps each one to an HTTP status and the README documents them.
type Code string

const (
	CodeInvalidRequest Code = "invalid_request"
	CodeScriptTooLarge Code = "script_too_large"
	CodeInputTooLarge  Code = "input_too_large"
	CodeSyntaxError    Code = "syntax_error"
	CodeMissingMain    Code = "missing_main"
	CodeRuntimeError   Code = "runtime_error"
	CodeResultNotJSON  Code = "result_not_json"
	CodeResultTooLarge Code = "result_too_large"
	CodeTimeout        Code = "timeout"
	CodeMemoryLimit    Code = "memory_limit"
	CodeKilled         Code = "killed"
	CodeOverloaded     Code = "overloaded"
	CodeUnavailable    Code = "unavailable"
	CodeInternal       Code = "internal"
)

// Codes lists every code, for documentation and exhaustive tests.
var Codes = []Code{
	CodeInvalidRequest, CodeScriptTooLarge, CodeInputTooLarge, CodeSyntaxError, CodeMissingMain,
	CodeRuntimeError, CodeResultNotJSON, CodeResultTooLarge, CodeTimeout,
	CodeMemoryLimit, CodeKilled, CodeOverloaded, CodeUnavailable, CodeInternal,
}

// ExecError describes a failed execution. Line and Column are 1-based and
// refer to the user's script; zero means unknown.
type ExecError struct {
	Code      Code   `json:"code"`
	Message   string `json:"message"`
	Type      string `json:"type,omitempty"`
	Traceback string `json:"traceback,omitempty"`
	Line      int    `json:"line,omitempty"`
	Column    int    `json:"column,omitempty"`
	// Limit is the limit that ended the job, when one did (timeout,
	// memory_limit, killed by the file size limit).
	Limit *LimitHit `json:"limit,omitempty"`
}

// LimitHit names a limit and its value in the request's own units, e.g.
// {"name": "timeout_ms", "value": 10000}.
type LimitHit struct {
	Name  string `json:"name"`
	Value int64  `json:"value"`
}

// Usage is what one execution used: the job's own processes, not the
// server's.
type Usage struct {
	// WallMs is the job's run time as the server measured it.
	WallMs float64 `json:"wall_ms"`
	// CPUMs is user plus system CPU time.
	CPUMs float64 `json:"cpu_ms"`
	// MaxRSSMB is the job's peak memory as memory_mb counts it: from its
	// own cgroup where it has one (what all its processes allocated; a
	// fork-server child does not count the runtime it shares), else the
	// peak resident memory of its largest process, runtime included.
	MaxRSSMB float64 `json:"max_rss_mb"`
}

func (e *ExecError) Error() string { return string(e.Code) + ": " + e.Message }

// Result is what one execution produced. Stdout and stderr are returned even
// when the execution failed, up to their caps.
type Result struct {
	// Result is main()'s return value as JSON; nil when the execution failed.
	Result          json.RawMessage `json:"result"`
	Stdout          string          `json:"stdout"`
	Stderr          string          `json:"stderr"`
	StdoutTruncated bool            `json:"stdout_truncated"`
	StderrTruncated bool            `json:"stderr_truncated"`
	DurationMs      float64         `json:"duration_ms"`
	Profile         string          `json:"profile,omitempty"`
	// Usage is nil only when the script never ran (a rejected request).
	Usage *Usage `json:"usage,omitempty"`
	// Files are what the script left in outputs/; what was left out says
	// why in FilesSkipped, and FilesTruncated is set when a limit on
	// their count or size stopped the collection.
	Files          []OutputFile  `json:"files,omitempty"`
	FilesSkipped   []SkippedFile `json:"files_skipped,omitempty"`
	FilesTruncated bool          `json:"files_truncated,omitempty"`
	Error          *ExecError    `json:"error,omitempty"`
}

// OutputFile is one file the script left in outputs/. Content is base64
// in JSON; the batch path stores it as an object of its own instead and
// names it in Object.
type OutputFile struct {
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	Content     []byte `json:"content,omitempty"`
	Object      string `json:"object,omitempty"`
}

// SkippedFile is an entry of outputs/ that was not returned, and why.
type SkippedFile struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// OK reports whether main() returned a JSON value.
func (r *Result) OK() bool { return r.Error == nil }

// Errors returned by Execute when the script was not run for reasons that
// are not the caller's fault; callers retry or answer 429/500.
var (
	// ErrOverloaded: every slot is busy and the wait queue is full.
	ErrOverloaded = errors.New("sandbox overloaded")
	// ErrUnavailable: no jail could be started (host fault, shutting down).
	ErrUnavailable = errors.New("sandbox unavailable")
	// ErrInterrupted (with ErrUnavailable): the sandbox failed while the
	// script ran, and the script was not run again because it may have
	// started.
	ErrInterrupted = errors.New("the sandbox failed while the script ran; it was not run again, because it may have started")
)

// FailureResult turns an error returned by Execute into a Result that can be
// encoded for the caller: the one mapping from sandbox errors to codes, for
// every entry point (HTTP, batch, the exec command).
func FailureResult(err error, profile string) Result {
	code, msg := CodeInternal, "internal error: the sandbox could not run the script"
	switch {
	case errors.Is(err, ErrOverloaded):
		code, msg = CodeOverloaded, "all sandboxes are busy; retry shortly"
	case errors.Is(err, ErrInterrupted):
		code, msg = CodeUnavailable, ErrInterrupted.Error()
	case errors.Is(err, ErrUnavailable):
		code, msg = CodeUnavailable, "no sandbox is available right now; retry"
	}
	return Result{Profile: profile, Error: &ExecError{Code: code, Message: msg}}
}
