package sandboxcore

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MinMemoryMB leaves room for the interpreter with numpy and pandas loaded
// (about 160 MB).
const MinMemoryMB = 256

// Check is the one place that decides whether a request's script and
// limits are acceptable, and with what message: the HTTP and batch paths
// only check the request's shape and leave every bound to it. It returns
// the request's limits, filled from the defaults, or the caller's mistake.
func (c Config) Check(req Request) (Limits, *ExecError) {
	l := c.Default
	reject := func(code Code, format string, args ...any) (Limits, *ExecError) {
		return Limits{}, &ExecError{Code: code, Message: fmt.Sprintf(format, args...)}
	}
	if len(req.Script) > c.Max.ScriptBytes {
		return reject(CodeScriptTooLarge, "the script is %d bytes; the limit is %d bytes", len(req.Script), c.Max.ScriptBytes)
	}
	if strings.TrimSpace(req.Script) == "" {
		return reject(CodeInvalidRequest, `field "script" must not be empty`)
	}
	if strings.IndexByte(req.Script, 0) >= 0 {
		return reject(CodeInvalidRequest, `field "script" must not contain NUL bytes`)
	}
	if len(req.Input) > c.Max.InputBytes {
		return reject(CodeInputTooLarge, `field "input" is %d bytes of JSON; the limit is %d bytes`, len(req.Input), c.Max.InputBytes)
	}
	if req.Input != nil && !json.Valid(req.Input) {
		return reject(CodeInvalidRequest, `field "input" must be a JSON value`)
	}
	if len(req.Files) > c.Max.InputFiles {
		return reject(CodeInputTooLarge, `field "files" has %d files; the limit is %d`, len(req.Files), c.Max.InputFiles)
	}
	total, seen := 0, map[string]bool{}
	for i, f := range req.Files {
		if err := CheckFileName(f.Name); err != nil {
			return reject(CodeInvalidRequest, `files[%d]: %v`, i, err)
		}
		if seen[f.Name] {
			return reject(CodeInvalidRequest, `files[%d]: %q is given twice`, i, f.Name)
		}
		seen[f.Name] = true
		total += len(f.Content)
	}
	if total > c.Max.InputFilesBytes {
		return reject(CodeInputTooLarge, `field "files" holds %d bytes; the limit is %d bytes`, total, c.Max.InputFilesBytes)
	}
	maxWall := c.MaxWall(req.Class)
	switch {
	case req.Timeout < 0 || req.Timeout > maxWall:
		return reject(CodeInvalidRequest, `field "timeout_ms" must be an integer from 1 to %d`, maxWall.Milliseconds())
	case req.Timeout > 0:
		l.Wall = req.Timeout
	}
	switch {
	case req.MemoryMB < 0 || req.MemoryMB > c.Max.MemoryMB || (req.MemoryMB > 0 && req.MemoryMB < MinMemoryMB):
		return reject(CodeInvalidRequest, `field "memory_mb" must be an integer from %d to %d (the Python runtime alone needs about 160)`,
			MinMemoryMB, c.Max.MemoryMB)
	case req.MemoryMB > 0:
		l.MemoryMB = req.MemoryMB
	}
	// A single-threaded script cannot use more CPU than wall time; the CPU
	// limit only catches jobs that burn several cores at once.
	l.CPU = l.Wall
	return l, nil
}

// MaxWall is the longest timeout a request of class may ask for.
func (c Config) MaxWall(class Class) time.Duration {
	if class == Batch {
		return c.BatchMaxWall
	}
	return c.Max.Wall
}

// CheckFileName is the rule for a file's name in a request (and for an
// output file the server stores under its own name): a relative path of
// non-empty components, none "." or "..", none over 255 bytes, no NUL.
func CheckFileName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("the name is empty")
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("the name %q contains a NUL byte", name)
	case strings.HasPrefix(name, "/"):
		return fmt.Errorf("the name %q is absolute; give a path relative to the working directory", name)
	case !utf8.ValidString(name):
		return fmt.Errorf("the name %q is not valid UTF-8", name)
	}
	for _, part := range strings.Split(name, "/") {
		switch {
		case part == "" || part == ".":
			return fmt.Errorf("the name %q has an empty or \".\" component", name)
		case part == "..":
			return fmt.Errorf("the name %q climbs out of the working directory (\"..\")", name)
		case len(part) > 255:
			return fmt.Errorf("the name %q has a component over 255 bytes", name)
		}
	}
	return nil
}
