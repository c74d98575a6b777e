package sandboxcore

// A job's I/O, shared by single-use jails (jail.go) and fork-server
// children (zygote.go): the request on stdin, stdout and stderr captured
// with caps, the harness's marks and frame on fd 3, the wall limit.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"sync"
	"time"
)

// readyMark is what the harness writes on fd 3 once its preload is done;
// startMark what it writes there right before the script's code runs.
var readyMark, startMark = []byte("R\n"), []byte("S\n")

// harnessRequest is what the harness reads on stdin.
type harnessRequest struct {
	Script string          `json:"script"`
	Input  json.RawMessage `json:"input,omitempty"`
	Files  []InputFile     `json:"files,omitempty"`
	Token  string          `json:"token"`
	Limits harnessLimits   `json:"limits"`
}

type harnessLimits struct {
	CPUSeconds    int `json:"cpu_seconds"`
	MemoryBytes   int `json:"memory_bytes"`
	FileSizeBytes int `json:"file_size_bytes"`
	OpenFiles     int `json:"open_files"`
	Processes     int `json:"processes"`
	ResultBytes   int `json:"result_bytes"`
	OutputFiles   int `json:"output_files"`
	OutputFile    int `json:"output_file_bytes"`
	OutputTotal   int `json:"output_bytes"`
}

// runOutcome is the raw material the classifier turns into a Result.
type runOutcome struct {
	stdout, stderr capped
	result         capped
	exit           exitStatus
	wallExceeded   bool
	canceled       bool
	// started: the harness marked the start of the script's own code, so
	// the script may have had effects (see startMark).
	started bool
	// memPeak is the job's peak memory over all its processes, and
	// oomKilled whether the kernel killed one at the job's memory limit,
	// from the job's own cgroup (zero without one).
	memPeak   int64
	oomKilled bool
	// settled is set when the harness's frame arrived and every stream
	// closed before the process was gone: exit is then not known yet, and
	// settled closes once the process is gone. Nil otherwise.
	settled <-chan struct{}
	elapsed time.Duration
	// diagnostics is for the operator's log when the sandbox itself failed.
	diagnostics string
}

// exitStatus is how a job's process ended, as NsJail reports it: the exit
// code, or 128+N for death by signal N. known is false when nobody could
// tell (the fork server died with the job).
type exitStatus struct {
	code   int
	cpu    time.Duration
	maxRSS int64 // KiB, as getrusage reports it
	known  bool
}

// process is a running job, whether a single-use jail or a fork-server child.
type process interface {
	done() <-chan struct{}
	kill()
	status() exitStatus // valid once done is closed
	// memory is the job's peak memory over all its processes and whether
	// the kernel killed one at the job's limit, from its own cgroups (zero
	// where there are none).
	memory() (peak int64, oomKilled bool)
}

// jobPipes are the parent's ends of a job's descriptors.
type jobPipes struct {
	stdin, stdout, stderr, result *os.File
}

func (p jobPipes) close() {
	for _, f := range []*os.File{p.stdin, p.stdout, p.stderr, p.result} {
		f.Close()
	}
}

// collect hands the request to the harness and gathers everything until
// the job has answered. It kills the job at the wall limit or when ctx ends.
//
// The harness closes its descriptors right after its frame, so a job
// usually answers before its process is gone: tearing down a forked
// address space takes about as long as a small script runs. The answer
// then goes out at once and out.settled closes once the process is gone;
// the wall limit keeps applying until then, so a script that forges a
// frame and lingers is still killed on time. (Single-use jails answer as
// NsJail ends: NsJail's own stdio are the job's pipes.)
func collect(ctx context.Context, proc process, pipes jobPipes, req harnessRequest, l Limits) runOutcome {
	var out runOutcome
	var readers sync.WaitGroup
	readers.Add(3)
	go func() { defer readers.Done(); out.stdout.fill(pipes.stdout, l.StdoutBytes) }()
	go func() { defer readers.Done(); out.stderr.fill(pipes.stderr, l.StderrBytes) }()
	// The frame is a token, a newline and an envelope around the result.
	// Output files ride in the frame too, base64 (4/3) with their names.
	frameCap := l.ResultBytes + l.OutputFilesBytes/3*4 + l.OutputFiles*1024 + len(req.Token) + 64<<10
	go func() { defer readers.Done(); out.result.fill(pipes.result, frameCap) }()
	streamsClosed := make(chan struct{})
	go func() { readers.Wait(); close(streamsClosed) }()

	start := time.Now()
	if payload, err := json.Marshal(req); err == nil {
		go func() {
			// A script that never reads stdin is fine: the write finishes
			// into the pipe buffer or fails when the job ends.
			_, _ = pipes.stdin.Write(payload)
			pipes.stdin.Close()
		}()
	} else {
		proc.kill()
	}

	timer := time.NewTimer(l.Wall)
	for waiting := true; waiting; {
		select {
		case <-proc.done():
			waiting = false
		case <-streamsClosed:
			streamsClosed = nil // read once; without a frame, wait for the exit
			if _, ok := lastFrame(out.result.data, req.Token); ok {
				out.started = true
				out.elapsed = time.Since(start)
				out.memPeak, out.oomKilled = proc.memory()
				out.settled = settleLater(proc, timer)
				pipes.close()
				return out
			}
		case <-timer.C:
			out.wallExceeded = true
			proc.kill()
			<-proc.done()
			waiting = false
		case <-ctx.Done():
			out.canceled = true
			proc.kill()
			<-proc.done()
			waiting = false
		}
	}
	timer.Stop()
	out.elapsed = time.Since(start)
	out.exit = proc.status()

	// Every writer is gone once the job's processes are, so the readers
	// reach EOF; the deadline only guards against surprises.
	deadline := time.Now().Add(2 * time.Second)
	for _, f := range []*os.File{pipes.stdout, pipes.stderr, pipes.result} {
		_ = f.SetReadDeadline(deadline)
	}
	readers.Wait()
	pipes.close()
	out.started = bytes.HasPrefix(out.result.data, startMark)
	out.memPeak, out.oomKilled = proc.memory()
	return out
}

// settleLater waits for a job that has answered to end, killing it when its
// wall time runs out, and closes the returned channel once it is gone.
func settleLater(proc process, wall *time.Timer) <-chan struct{} {
	settled := make(chan struct{})
	go func() {
		defer close(settled)
		select {
		case <-proc.done():
			wall.Stop()
		case <-wall.C:
			proc.kill()
			<-proc.done()
		}
	}()
	return settled
}

// capped keeps the first limit bytes of a stream and drains the rest, so a
// flood neither blocks the writer nor grows the server's memory.
type capped struct {
	data      []byte
	total     int64
	truncated bool
}

func (c *capped) fill(r io.Reader, limit int) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			c.total += int64(n)
			if room := limit - len(c.data); room > 0 {
				c.data = append(c.data, buf[:min(n, room)]...)
			}
		}
		if err != nil {
			c.truncated = c.total > int64(limit)
			return
		}
	}
}
