package sandboxcore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

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
	// grp is the job's own cgroups (namespaces profile), set once ready;
	// peak and oom are read from it as the jail ends, before it goes.
	grp       atomic.Pointer[jobGroup]
	peak      int64
	oomKilled bool

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
		j.peak, j.oomKilled = j.group().peak()
		j.group().remove()
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

// run serves the jail's one execution.
func (j *jail) run(ctx context.Context, req harnessRequest, l Limits) runOutcome {
	if g := j.group(); g != nil {
		if err := g.limit(int64(l.MemoryMB)<<20, l.Processes+1); err != nil {
			// Never run a job above its own limits: the jail is dropped
			// and the execution reported as not run.
			j.kill()
			<-j.exited
			return runOutcome{diagnostics: "set the job's cgroup limits: " + err.Error()}
		}
	}
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

func (j *jail) group() *jobGroup { return j.grp.Load() }

func (j *jail) memory() (int64, bool) {
	select {
	case <-j.exited:
		return j.peak, j.oomKilled
	default:
		return j.group().peak()
	}
}

// moveToJobGroup gives the jailed process cgroups of its own, beside
// NsJail's, which only held it while it started.
func (j *jail) moveToJobGroup(cg cgroupSupport) error {
	kids := childPids(j.cmd.Process.Pid)
	if len(kids) != 1 {
		return fmt.Errorf("the jail has %d processes, want 1", len(kids))
	}
	g, err := newChildGroup(rootGroup(cg), "job-"+strconv.Itoa(kids[0]), kids[0])
	if err != nil {
		return err
	}
	j.grp.Store(g)
	return nil
}

func (j *jail) status() exitStatus {
	if j.state == nil {
		return exitStatus{}
	}
	st := exitStatus{code: j.state.ExitCode(), cpu: j.state.UserTime() + j.state.SystemTime(), known: true}
	if ru, ok := j.state.SysUsage().(*syscall.Rusage); ok {
		// NsJail's own usage with the jailed process it waited for.
		st.maxRSS = ru.Maxrss
	}
	return st
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
