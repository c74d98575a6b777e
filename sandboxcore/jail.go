package sandboxcore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// readyMark is what the harness writes on fd 3 once its preload is done;
// startMark what it writes there right before the script's code runs.
var readyMark, startMark = []byte("R\n"), []byte("S\n")

// jail is one started NsJail running the harness. It serves exactly one
// execution and is then killed.
type jail struct {
	cmd     *exec.Cmd
	cleanup func()
	uid     int
	release func() // returns the uid once the process is gone

	stdin  *os.File
	stdout *os.File
	stderr *os.File
	result *os.File
	log    *os.File

	exited  chan struct{} // closed when the NsJail process has been reaped
	state   *os.ProcessState
	started time.Time

	killOnce sync.Once
}

// startJail starts NsJail for spec. The jail then imports the preloaded
// modules in the background; waitReady tells when it is done.
func startJail(p *profile, spec jailSpec, release func(), reap *reaper) (j *jail, err error) {
	cmd, cleanup, err := p.command(spec)
	if err != nil {
		release()
		return nil, err
	}
	var parentEnds, childEnds []*os.File
	defer func() {
		for _, f := range childEnds {
			f.Close()
		}
		if err != nil {
			for _, f := range parentEnds {
				f.Close()
			}
			cleanup()
			release()
		}
	}()
	pipe := func(parentReads bool) (parent, child *os.File, err error) {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, nil, fmt.Errorf("pipe: %w", err)
		}
		if parentReads {
			parent, child = r, w
		} else {
			parent, child = w, r
		}
		parentEnds = append(parentEnds, parent)
		childEnds = append(childEnds, child)
		return parent, child, nil
	}
	j = &jail{cmd: cmd, cleanup: cleanup, uid: spec.uid, release: release, exited: make(chan struct{})}
	var inChild, outChild, errChild, resChild, logChild *os.File
	if j.stdin, inChild, err = pipe(false); err != nil {
		return nil, err
	}
	if j.stdout, outChild, err = pipe(true); err != nil {
		return nil, err
	}
	if j.stderr, errChild, err = pipe(true); err != nil {
		return nil, err
	}
	if j.result, resChild, err = pipe(true); err != nil {
		return nil, err
	}
	if j.log, logChild, err = pipe(true); err != nil {
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inChild, outChild, errChild
	cmd.ExtraFiles = []*os.File{resChild, logChild} // fds 3 and 4
	if err = cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nsjail: %w", err)
	}
	j.started = time.Now()
	reap.own(cmd.Process.Pid)
	go func() {
		_ = cmd.Wait()
		reap.disown(cmd.Process.Pid)
		j.state = cmd.ProcessState
		cleanup()
		// Whatever the job left behind under its uid (it may have killed
		// NsJail and cleared its parent-death signal) ends here, before
		// the job counts as gone.
		release()
		close(j.exited)
	}()
	return j, nil
}

// waitReady waits for the harness's ready mark. On failure the jail is
// killed and the error carries NsJail's own log for the operator.
func (j *jail) waitReady(ctx context.Context) error {
	got := make(chan error, 1)
	go func() {
		buf := make([]byte, len(readyMark))
		_, err := io.ReadFull(j.result, buf)
		if err == nil && !bytes.Equal(buf, readyMark) {
			err = fmt.Errorf("unexpected ready mark %q", buf)
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err == nil {
			return nil
		}
		j.kill()
		<-j.exited
		return fmt.Errorf("jail did not become ready (%s): %w; nsjail: %s", j.exitDescription(), err, j.nsjailLog())
	case <-ctx.Done():
		j.kill()
		return fmt.Errorf("jail did not become ready: %w", ctx.Err())
	}
}

// harnessRequest is what the harness reads on stdin.
type harnessRequest struct {
	Script string        `json:"script"`
	Token  string        `json:"token"`
	Limits harnessLimits `json:"limits"`
}

type harnessLimits struct {
	CPUSeconds    int `json:"cpu_seconds"`
	MemoryBytes   int `json:"memory_bytes"`
	FileSizeBytes int `json:"file_size_bytes"`
	OpenFiles     int `json:"open_files"`
	Processes     int `json:"processes"`
	ResultBytes   int `json:"result_bytes"`
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
	code  int
	cpu   time.Duration
	known bool
}

// process is a running job, whether a single-use jail or a fork-server child.
type process interface {
	done() <-chan struct{}
	kill()
	status() exitStatus // valid once done is closed
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
	go func() { defer readers.Done(); out.result.fill(pipes.result, l.ResultBytes+len(req.Token)+4096) }()
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

// run serves the jail's one execution.
func (j *jail) run(ctx context.Context, req harnessRequest, l Limits) runOutcome {
	out := collect(ctx, j, jobPipes{stdin: j.stdin, stdout: j.stdout, stderr: j.stderr, result: j.result}, req, l)
	if out.settled != nil {
		// The pipes closed as NsJail ended, just before it was reaped.
		go func() { <-out.settled; j.log.Close() }()
		return out
	}
	out.diagnostics = j.exitDescription() + "; nsjail: " + j.nsjailLog()
	j.log.Close()
	return out
}

func (j *jail) done() <-chan struct{} { return j.exited }

func (j *jail) status() exitStatus {
	if j.state == nil {
		return exitStatus{}
	}
	return exitStatus{code: j.state.ExitCode(), cpu: j.state.UserTime() + j.state.SystemTime(), known: true}
}

// kill stops the jail.
func (j *jail) kill() {
	j.killOnce.Do(func() { stopGroup(j.cmd.Process.Pid, j.exited) })
}

// stopGroup ends an NsJail started with its own process group: SIGTERM lets
// NsJail kill and reap the jailed tree itself; SIGKILL follows if it has
// not exited after stopGrace. Anything that left the group is ended by the
// uid sweep once NsJail is gone.
func stopGroup(pid int, exited <-chan struct{}) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	go func() {
		select {
		case <-exited:
		case <-time.After(stopGrace):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}()
}

const stopGrace = 500 * time.Millisecond

// discard kills an unused jail and releases everything it holds.
func (j *jail) discard() {
	j.kill()
	go func() {
		<-j.exited
		j.closeParentEnds()
	}()
}

func (j *jail) closeParentEnds() {
	jobPipes{stdin: j.stdin, stdout: j.stdout, stderr: j.stderr, result: j.result}.close()
	j.log.Close()
}

func (j *jail) exitDescription() string {
	if j.state == nil {
		return "still running"
	}
	return j.state.String()
}

// nsjailLog returns what NsJail logged, for errors; call after exit.
func (j *jail) nsjailLog() string {
	_ = j.log.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	b, err := io.ReadAll(io.LimitReader(j.log, 4096))
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && len(b) == 0 {
		return "(no log: " + err.Error() + ")"
	}
	return string(bytes.TrimSpace(b))
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
