package sandboxcore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"unicode/utf8"
)

// envelope is the harness's frame payload.
type envelope struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  *ExecError      `json:"error"`
	Usage  *struct {
		CPUMs    float64 `json:"cpu_ms"`
		MaxRSSMB float64 `json:"max_rss_mb"`
	} `json:"usage"`
	Files          []OutputFile  `json:"files"`
	FilesSkipped   []SkippedFile `json:"files_skipped"`
	FilesTruncated bool          `json:"files_truncated"`
}

// classify turns what a jail produced into the caller's Result. The
// harness's own frame is trusted first; without one, how the process ended
// tells what happened.
func classify(out runOutcome, token string, l Limits) Result {
	res := Result{
		Stdout:          text(out.stdout.data),
		Stderr:          text(out.stderr.data),
		StdoutTruncated: out.stdout.truncated,
		StderrTruncated: out.stderr.truncated,
		DurationMs:      float64(out.elapsed.Microseconds()) / 1000,
	}
	// What the job used: the harness's own account when it wrote its
	// frame, else how the process ended (known once it is gone).
	res.Usage = &Usage{WallMs: res.DurationMs}
	if out.exit.known {
		res.Usage.CPUMs = float64(out.exit.cpu.Microseconds()) / 1000
		res.Usage.MaxRSSMB = float64(out.exit.maxRSS*10/1024) / 10
	}
	// The job's own cgroup counts every process it had: its peak wins.
	if out.memPeak > 0 {
		res.Usage.MaxRSSMB = float64(out.memPeak*10>>20) / 10
	}
	fail := func(code Code, format string, args ...any) Result {
		res.Error = &ExecError{Code: code, Message: fmt.Sprintf(format, args...)}
		return res
	}
	failAt := func(code Code, limit LimitHit, format string, args ...any) Result {
		res = fail(code, format, args...)
		res.Error.Limit = &limit
		return res
	}

	if out.wallExceeded {
		return failAt(CodeTimeout, LimitHit{"timeout_ms", l.Wall.Milliseconds()}, "the script ran longer than the %v time limit", l.Wall)
	}
	if env, ok := lastFrame(out.result.data, token); ok {
		res.Files, res.FilesSkipped, res.FilesTruncated = env.Files, env.FilesSkipped, env.FilesTruncated
		if env.Usage != nil {
			res.Usage.CPUMs = env.Usage.CPUMs
			if out.memPeak == 0 {
				res.Usage.MaxRSSMB = env.Usage.MaxRSSMB
			}
		}
		if env.OK && env.Result != nil && json.Valid(env.Result) {
			res.Result = env.Result
			return res
		}
		if !env.OK && env.Error != nil && knownScriptCode(env.Error.Code) {
			res.Error = env.Error
			res.Error.Limit = nil // only this side says which limit ended a job
			switch res.Error.Code {
			case CodeMemoryLimit:
				res.Error.Limit = &LimitHit{"memory_mb", int64(l.MemoryMB)}
				res.Error.Message += fmt.Sprintf(" (the limit is memory_mb %d)", l.MemoryMB)
			case CodeResultTooLarge:
				res.Error.Limit = &LimitHit{"result_bytes", int64(l.ResultBytes)}
			}
			return res
		}
		return fail(CodeRuntimeError, "the script corrupted its result channel")
	}
	if out.result.truncated {
		return failAt(CodeResultTooLarge, LimitHit{"result_bytes", int64(l.ResultBytes)}, "the result is larger than the %d byte limit", l.ResultBytes)
	}

	if !out.exit.known {
		return fail(CodeInternal, "the jail did not report how it ended")
	}
	cpu := out.exit.cpu
	// NsJail exits with 128+N when the jailed process died of signal N.
	if out.oomKilled {
		return failAt(CodeMemoryLimit, LimitHit{"memory_mb", int64(l.MemoryMB)},
			"the script's processes together used more than the memory_mb %d limit", l.MemoryMB)
	}
	switch code := out.exit.code; {
	case code == 128+int(syscall.SIGKILL) || code == 128+int(syscall.SIGXCPU):
		if cpu >= l.CPU {
			return failAt(CodeTimeout, LimitHit{"cpu_time_ms", l.CPU.Milliseconds()}, "the script used more than the %v CPU time limit", l.CPU)
		}
		return fail(CodeKilled, "the script was killed (%s); it may have exceeded the memory or process limit", signalName(code-128))
	case code == 128+int(syscall.SIGXFSZ):
		return failAt(CodeKilled, LimitHit{"file_size_mb", int64(l.FileSizeMB)}, "the script was killed for writing a file larger than the %d MB limit", l.FileSizeMB)
	case code == 128+int(syscall.SIGSYS):
		return fail(CodeKilled, "the script was killed for a forbidden system call")
	case code > 128 && code < 128+65:
		return fail(CodeKilled, "the script was killed by %s", signalName(code-128))
	case code == 0:
		return fail(CodeRuntimeError, "the script ended the process before main() returned (os._exit or a signal handler)")
	case code == 3:
		return fail(CodeRuntimeError, "the script closed or replaced the result channel (fd 3), so main()'s value was lost")
	case code == 255:
		// NsJail itself failed; its log went to fd 4, not to the user.
		return fail(CodeInternal, "the sandbox failed to run the script")
	default:
		return fail(CodeRuntimeError, "the process exited with status %d before main() returned", code)
	}
}

// lastFrame finds the harness's frame: the last token line in the channel.
// Anything the script wrote to fd 3 before it lacks the token and is ignored.
func lastFrame(data []byte, token string) (envelope, bool) {
	marker := []byte(token + "\n")
	i := bytes.LastIndex(data, marker)
	if i < 0 {
		return envelope{}, false
	}
	var env envelope
	if err := json.Unmarshal(data[i+len(marker):], &env); err != nil {
		return envelope{}, false
	}
	return env, true
}

// knownScriptCode lists the codes the harness may report.
func knownScriptCode(c Code) bool {
	switch c {
	case CodeInvalidRequest, CodeSyntaxError, CodeMissingMain, CodeRuntimeError, CodeResultNotJSON, CodeResultTooLarge, CodeMemoryLimit:
		return true
	}
	return false
}

// text makes captured bytes safe to put in JSON: invalid UTF-8 becomes
// U+FFFD and NUL bytes survive as \u0000 in the encoder.
func text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func signalName(n int) string {
	return fmt.Sprintf("signal %d (%s)", n, syscall.Signal(n).String())
}
