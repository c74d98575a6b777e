package sandboxcore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// errZygoteLost: the fork server died during a job that may have started.
// Its outcome is unknown and it is not run again: the caller gets a clear
// error, never a silent second run.
var errZygoteLost = fmt.Errorf("the fork server died: %w", ErrInterrupted)

// errJobNotStarted: the job never reached the script (it could not be
// handed over, or its set-up failed), so running it on a fresh fork server
// is safe.
var errJobNotStarted = errors.New("the fork server could not set the job up")

// zygote is one fork server: a jailed Python that has imported the preload
// modules and forks a fresh, separately namespaced child per execution.
type zygote struct {
	cmd     *exec.Cmd
	ctrl    *net.UnixConn
	log     *logTail
	jobUIDs *uidPool // chroot profile: every job runs under a uid of its own
	opLog   *slog.Logger
	// cg, when set, gives every spare cgroups of its own below grp, the
	// fork server's (namespaces profile); hostPid is the fork server's
	// pid on the host.
	cg      *cgroupSupport
	grp     *jobGroup
	hostPid int

	born    time.Time
	forks   atomic.Int64
	stopped atomic.Bool
	ready   chan struct{}
	exited  chan struct{} // the NsJail process is gone
	dead    chan struct{} // closed once: the control channel is gone

	mu      sync.Mutex
	nextID  int64
	waiting map[int64]*zygoteJob
	// spares are the children ready for a job, oldest first, each in its
	// cgroups already; spareAdded is closed and replaced when one comes.
	spares     []spare
	spareAdded chan struct{}
}

// spare is a fork-server child waiting for a job.
type spare struct {
	pid   int // in the fork server's pid namespace
	group *jobGroup
}

// zygoteMessage is every message the fork server sends.
type zygoteMessage struct {
	Ready  bool    `json:"ready"`
	ID     int64   `json:"id"`
	Status int     `json:"status"`
	CPU    float64 `json:"cpu"`
	MaxRSS int64   `json:"maxrss"`
	Spare  int     `json:"spare"`
}

func startZygote(p *profile, spec jailSpec, release func(), reap *reaper, jobUIDs *uidPool, cg *cgroupSupport, opLog *slog.Logger) (z *zygote, err error) {
	spec.zygote = true
	cmd, cleanup, err := p.command(spec)
	if err != nil {
		release()
		return nil, err
	}
	var parentEnds []io.Closer
	defer func() {
		if err != nil {
			for _, c := range parentEnds {
				c.Close()
			}
			cleanup()
			release()
		}
	}()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	parent, child := os.NewFile(uintptr(fds[0]), "zygote-ctrl"), os.NewFile(uintptr(fds[1]), "zygote-ctrl-child")
	defer child.Close()
	conn, err := net.FileConn(parent)
	parent.Close()
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	parentEnds = append(parentEnds, conn)
	logR, logW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	defer logW.Close()
	parentEnds = append(parentEnds, logR)
	z = &zygote{
		cmd: cmd, ctrl: conn.(*net.UnixConn), log: newLogTail(logR), jobUIDs: jobUIDs, opLog: opLog, cg: cg,
		born: time.Now(), ready: make(chan struct{}), exited: make(chan struct{}), dead: make(chan struct{}),
		waiting: map[int64]*zygoteJob{}, spareAdded: make(chan struct{}),
	}
	// The fork server's own stderr and NsJail's log share one pipe: the
	// operator's diagnostics, never a job's output.
	cmd.Stderr = logW
	cmd.ExtraFiles = []*os.File{child, logW}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start fork server: %w", err)
	}
	reap.own(cmd.Process.Pid)
	go func() {
		_ = cmd.Wait()
		reap.disown(cmd.Process.Pid)
		cleanup()
		release()
		z.mu.Lock()
		left := z.spares
		z.spares = nil
		z.mu.Unlock()
		for _, sp := range left {
			sp.group.remove()
		}
		close(z.exited)
	}()
	go z.readLoop()
	return z, nil
}

// waitReady waits until the fork server has imported the preload modules.
func (z *zygote) waitReady(ctx context.Context) error {
	select {
	case <-z.ready:
		return nil
	case <-z.dead:
		z.stop()
		return fmt.Errorf("fork server exited during start-up: %s", z.diagnostics())
	case <-ctx.Done():
		z.stop()
		return fmt.Errorf("fork server did not become ready: %w", ctx.Err())
	}
}

func (z *zygote) readLoop() {
	defer func() {
		close(z.dead)
		z.mu.Lock()
		for id, job := range z.waiting {
			job.finish(exitStatus{})
			delete(z.waiting, id)
		}
		z.mu.Unlock()
	}()
	buf := make([]byte, 4096)
	readyOnce := sync.Once{}
	for {
		n, err := z.ctrl.Read(buf)
		if err != nil || n == 0 {
			return
		}
		var msg zygoteMessage
		if json.Unmarshal(buf[:n], &msg) != nil {
			return // a fork server that speaks nonsense is not trusted further
		}
		if msg.Ready {
			if z.cg != nil {
				kids := childPids(z.cmd.Process.Pid)
				if len(kids) != 1 {
					z.opLog.Error("sandbox: cannot find the fork server's process", "nsjail_pid", z.cmd.Process.Pid)
					return
				}
				z.hostPid, z.grp = kids[0], jailGroups(*z.cg, kids[0])
			}
			readyOnce.Do(func() { close(z.ready) })
			continue
		}
		if msg.Spare != 0 {
			if err := z.addSpare(msg.Spare); err != nil {
				// A child that cannot be held to its job's limits must
				// never get a job: this fork server is done.
				z.opLog.Error("sandbox: fork server replaced: a spare could not get cgroups of its own", "error", err.Error())
				return
			}
			continue
		}
		z.mu.Lock()
		job := z.waiting[msg.ID]
		delete(z.waiting, msg.ID)
		z.mu.Unlock()
		if job != nil {
			job.finish(exitStatus{code: msg.Status, cpu: time.Duration(msg.CPU * float64(time.Second)), maxRSS: msg.MaxRSS, known: true})
		}
	}
}

// alive: the fork server can take jobs (it is neither gone nor stopped).
func (z *zygote) alive() bool {
	if z.stopped.Load() {
		return false
	}
	select {
	case <-z.dead:
		return false
	default:
		return true
	}
}

// run forks one job and serves its execution.
func (z *zygote) run(ctx context.Context, req harnessRequest, l Limits) (runOutcome, error) {
	var parentEnds, childEnds []*os.File
	closeAll := func(files []*os.File) {
		for _, f := range files {
			f.Close()
		}
	}
	for _, parentReads := range []bool{false, true, true, true} { // stdin, stdout, stderr, result
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(parentEnds)
			closeAll(childEnds)
			return runOutcome{}, fmt.Errorf("pipe: %w", err)
		}
		if parentReads {
			parentEnds, childEnds = append(parentEnds, r), append(childEnds, w)
		} else {
			parentEnds, childEnds = append(parentEnds, w), append(childEnds, r)
		}
	}
	defer closeAll(childEnds) // the fork server holds its own copies once sent
	pipes := jobPipes{stdin: parentEnds[0], stdout: parentEnds[1], stderr: parentEnds[2], result: parentEnds[3]}

	// The uid first: a spare once taken is the fork server's to use up,
	// and any failure after it replaces the fork server (forkServer.replace).
	var lease *uidLease
	if z.jobUIDs != nil {
		var err error
		if lease, err = z.jobUIDs.take(); err != nil {
			pipes.close()
			return runOutcome{}, fmt.Errorf("%v: %w", err, ErrUnavailable)
		}
	}
	sp, err := z.takeSpare(ctx)
	if err != nil {
		pipes.close()
		if lease != nil {
			_ = lease.releaseReaped()
		}
		return runOutcome{}, err
	}
	job := &zygoteJob{z: z, grp: sp.group, lease: lease, finished: make(chan struct{})}
	if sp.group != nil {
		if err := sp.group.limit(int64(l.MemoryMB)<<20, l.Processes+1); err != nil {
			pipes.close()
			job.finish(exitStatus{})
			return runOutcome{}, fmt.Errorf("%w: the job's cgroup limits: %v", errJobNotStarted, err)
		}
	}
	z.mu.Lock()
	z.nextID++
	job.id = z.nextID
	z.waiting[job.id] = job
	z.mu.Unlock()

	op := map[string]any{"op": "run", "id": job.id, "spare": sp.pid}
	if job.lease != nil {
		op["uid"] = job.lease.uid
	}
	msg, _ := json.Marshal(op)
	rights := unix.UnixRights(int(childEnds[0].Fd()), int(childEnds[1].Fd()), int(childEnds[2].Fd()), int(childEnds[3].Fd()))
	if _, _, err := z.ctrl.WriteMsgUnix(msg, rights, nil); err != nil {
		z.forget(job.id)
		job.finish(exitStatus{})
		pipes.close()
		return runOutcome{}, fmt.Errorf("%w: send job to fork server: %v", errJobNotStarted, err)
	}
	closeAll(childEnds)
	childEnds = nil
	z.forks.Add(1)
	out := collect(ctx, job, pipes, req, l)
	switch {
	case out.canceled || out.wallExceeded || out.settled != nil:
		return out, nil
	case !out.started:
		// Nothing of the script ran: its set-up failed in the child, or
		// the fork server died before handing it over.
		return out, fmt.Errorf("%w: %s", errJobNotStarted, setupFailure(out, z))
	case !out.exit.known:
		return out, fmt.Errorf("%w: %s", errZygoteLost, z.diagnostics())
	}
	return out, nil
}

// setupFailure says why a job never started, for the operator: the
// child's own report of its set-up, else the fork server's log.
func setupFailure(out runOutcome, z *zygote) string {
	if msg := bytes.TrimSpace(out.stderr.data); len(msg) > 0 {
		return string(msg)
	}
	if out.exit.known {
		return fmt.Sprintf("the job's process ended with status %d before the script started; fork server log: %s", out.exit.code, z.diagnostics())
	}
	return "the fork server ended before the script started: " + z.diagnostics()
}

// addSpare records a new child of the fork server, in cgroups of its own
// when the profile has them.
func (z *zygote) addSpare(pid int) error {
	sp := spare{pid: pid}
	if z.grp != nil {
		host, err := hostPidOf(z.hostPid, pid)
		if err != nil {
			return err
		}
		if sp.group, err = newChildGroup(z.grp, "job-"+strconv.Itoa(host), host); err != nil {
			return err
		}
	}
	z.mu.Lock()
	z.spares = append(z.spares, sp)
	close(z.spareAdded)
	z.spareAdded = make(chan struct{})
	z.mu.Unlock()
	return nil
}

// takeSpare waits for the oldest ready child. The fork server makes a new
// one whenever it is idle and has fewer than it keeps.
func (z *zygote) takeSpare(ctx context.Context) (spare, error) {
	timeout := time.NewTimer(spareTimeout)
	defer timeout.Stop()
	for {
		z.mu.Lock()
		if len(z.spares) > 0 {
			sp := z.spares[0]
			z.spares = z.spares[1:]
			z.mu.Unlock()
			return sp, nil
		}
		added := z.spareAdded
		z.mu.Unlock()
		select {
		case <-added:
		case <-z.dead:
			return spare{}, fmt.Errorf("%w: the fork server ended", errJobNotStarted)
		case <-timeout.C:
			return spare{}, fmt.Errorf("%w: no spare came within %v", errJobNotStarted, spareTimeout)
		case <-ctx.Done():
			return spare{}, fmt.Errorf("waiting for a spare: %w", ctx.Err())
		}
	}
}

// spareTimeout bounds the wait for a fork server's next child (it makes
// one in milliseconds when idle); past it the fork server is replaced.
const spareTimeout = 10 * time.Second

func (z *zygote) forget(id int64) {
	z.mu.Lock()
	delete(z.waiting, id)
	z.mu.Unlock()
}

// stop kills the fork server and every job it holds: in the namespaces
// profile they die with its pid namespace; in the chroot profile each job's
// uid is swept as its job is finished (zygoteJob.finish).
func (z *zygote) stop() {
	z.stopped.Store(true)
	z.ctrl.Close()
	if z.cmd.Process != nil {
		stopGroup(z.cmd.Process.Pid, z.exited)
	}
}

func (z *zygote) diagnostics() string { return z.log.String() }

// zygoteJob is one forked child, seen through the fork server's reports.
type zygoteJob struct {
	z        *zygote
	id       int64
	grp      *jobGroup // namespaces profile: the job's own cgroups
	peak     int64     // read from grp as the job finished
	oom      bool
	lease    *uidLease // chroot profile: the job's own uid
	once     sync.Once
	finished chan struct{}
	exit     exitStatus
}

// finish records how the job ended. In the chroot profile the job's uid is
// swept first, so the job counts as finished (and its slot as free) only
// once nothing runs under that uid: a reaped job (known status) was its
// uid's only process, as chroot-profile jobs cannot create processes; an
// unknown end (the fork server died) waits until the sweep has ended every
// process of the uid.
func (j *zygoteJob) finish(st exitStatus) {
	j.once.Do(func() {
		j.exit = st
		// The job's processes die with it (pid 1 of its namespace); its
		// account is read now, and the group goes once the kernel has let
		// go of them.
		j.peak, j.oom = j.grp.peak()
		go j.grp.remove()
		if j.lease == nil {
			close(j.finished)
			return
		}
		if st.known {
			j.releaseUID(j.lease.releaseReaped())
			close(j.finished)
			return
		}
		go func() {
			j.releaseUID(j.lease.release())
			close(j.finished)
		}()
	})
}

func (j *zygoteJob) releaseUID(err error) {
	if err != nil {
		j.z.opLog.Error("sandbox: a job's uid is still in use after its job ended", "error", err.Error())
	}
}

func (j *zygoteJob) done() <-chan struct{} { return j.finished }

func (j *zygoteJob) memory() (int64, bool) {
	select {
	case <-j.finished:
		return j.peak, j.oom
	default:
		return j.grp.peak()
	}
}

func (j *zygoteJob) kill() {
	if j.lease != nil {
		// The server ends the job itself, as the job's uid: nothing the job
		// can reach or clear stands in the way. The fork server then reaps
		// it and reports its status.
		if err := j.lease.kill(); err != nil {
			j.z.opLog.Error("sandbox: could not kill a job", "error", err.Error())
		}
	} else {
		msg, _ := json.Marshal(map[string]any{"op": "kill", "id": j.id})
		if _, err := j.z.ctrl.Write(msg); err != nil {
			// The fork server is gone, and its children with it.
			j.finish(exitStatus{})
			return
		}
	}
	go func() {
		select {
		case <-j.finished:
		case <-time.After(killConfirmTimeout):
			// A fork server that cannot confirm a kill is not trusted
			// further: stopping it ends every job it holds.
			j.z.stop()
		}
	}()
}

// killConfirmTimeout bounds how long a kill may take to be reported.
const killConfirmTimeout = 3 * time.Second

func (j *zygoteJob) status() exitStatus { return j.exit }
