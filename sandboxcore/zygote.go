package sandboxcore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// errZygoteLost: the fork server died while the job ran; the job's outcome
// is unknown and the execution may be retried on a fresh one.
var errZygoteLost = errors.New("fork server died during the execution")

// zygote is one fork server: a jailed Python that has imported the preload
// modules and forks a fresh, separately namespaced child per execution.
type zygote struct {
	cmd     *exec.Cmd
	ctrl    *net.UnixConn
	release func()
	cleanup func()
	log     *logTail

	born   time.Time
	forks  atomic.Int64
	ready  chan struct{}
	exited chan struct{} // the NsJail process is gone
	dead   chan struct{} // closed once: the control channel is gone

	mu      sync.Mutex
	nextID  int64
	waiting map[int64]*zygoteJob
}

// zygoteMessage is every message the fork server sends.
type zygoteMessage struct {
	Ready  bool    `json:"ready"`
	ID     int64   `json:"id"`
	Status int     `json:"status"`
	CPU    float64 `json:"cpu"`
}

func startZygote(p *profile, spec jailSpec, release func(), reap *reaper) (z *zygote, err error) {
	spec.zygote = true
	cmd, cleanup, err := p.command(spec)
	if err != nil {
		release()
		return nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		cleanup()
		release()
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	parent, child := os.NewFile(uintptr(fds[0]), "zygote-ctrl"), os.NewFile(uintptr(fds[1]), "zygote-ctrl-child")
	defer child.Close()
	logR, logW, err := os.Pipe()
	if err != nil {
		parent.Close()
		cleanup()
		release()
		return nil, fmt.Errorf("pipe: %w", err)
	}
	defer logW.Close()
	conn, err := net.FileConn(parent)
	parent.Close()
	if err != nil {
		logR.Close()
		cleanup()
		release()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	z = &zygote{
		cmd: cmd, ctrl: conn.(*net.UnixConn), release: release, cleanup: cleanup, log: newLogTail(logR),
		born: time.Now(), ready: make(chan struct{}), exited: make(chan struct{}), dead: make(chan struct{}),
		waiting: map[int64]*zygoteJob{},
	}
	// The fork server's own stderr and NsJail's log share one pipe: the
	// operator's diagnostics, never a job's output.
	cmd.Stderr = logW
	cmd.ExtraFiles = []*os.File{child, logW}
	if err := cmd.Start(); err != nil {
		z.ctrl.Close()
		cleanup()
		release()
		return nil, fmt.Errorf("start fork server: %w", err)
	}
	reap.own(cmd.Process.Pid)
	go func() {
		_ = cmd.Wait()
		reap.disown(cmd.Process.Pid)
		cleanup()
		release()
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
			readyOnce.Do(func() { close(z.ready) })
			continue
		}
		z.mu.Lock()
		job := z.waiting[msg.ID]
		delete(z.waiting, msg.ID)
		z.mu.Unlock()
		if job != nil {
			job.finish(exitStatus{code: msg.Status, cpu: time.Duration(msg.CPU * float64(time.Second)), known: true})
		}
	}
}

func (z *zygote) alive() bool {
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
	pipes := jobPipes{stdin: parentEnds[0], stdout: parentEnds[1], stderr: parentEnds[2], result: parentEnds[3]}

	job := &zygoteJob{z: z, finished: make(chan struct{})}
	z.mu.Lock()
	z.nextID++
	job.id = z.nextID
	z.waiting[job.id] = job
	z.mu.Unlock()

	msg, _ := json.Marshal(map[string]any{"op": "run", "id": job.id})
	rights := unix.UnixRights(int(childEnds[0].Fd()), int(childEnds[1].Fd()), int(childEnds[2].Fd()), int(childEnds[3].Fd()))
	_, _, err := z.ctrl.WriteMsgUnix(msg, rights, nil)
	closeAll(childEnds) // the fork server holds its own copies now
	if err != nil {
		z.forget(job.id)
		pipes.close()
		return runOutcome{}, fmt.Errorf("send job to fork server: %v: %w", err, errZygoteLost)
	}
	z.forks.Add(1)
	out := collect(ctx, job, pipes, req, l)
	if !out.exit.known && !out.canceled && out.settled == nil {
		return out, fmt.Errorf("%w: %s", errZygoteLost, z.diagnostics())
	}
	return out, nil
}

func (z *zygote) forget(id int64) {
	z.mu.Lock()
	delete(z.waiting, id)
	z.mu.Unlock()
}

// stop kills the fork server, and with it (PDEATHSIG) every job it holds.
func (z *zygote) stop() {
	z.ctrl.Close()
	if z.cmd.Process != nil {
		_ = syscall.Kill(-z.cmd.Process.Pid, syscall.SIGTERM)
		go func() {
			select {
			case <-z.exited:
			case <-time.After(time.Second):
				_ = syscall.Kill(-z.cmd.Process.Pid, syscall.SIGKILL)
			}
		}()
	}
}

func (z *zygote) diagnostics() string { return z.log.String() }

// zygoteJob is one forked child, seen through the fork server's reports.
type zygoteJob struct {
	z        *zygote
	id       int64
	once     sync.Once
	finished chan struct{}
	exit     exitStatus
}

func (j *zygoteJob) finish(st exitStatus) {
	j.once.Do(func() {
		j.exit = st
		close(j.finished)
	})
}

func (j *zygoteJob) done() <-chan struct{} { return j.finished }

func (j *zygoteJob) kill() {
	msg, _ := json.Marshal(map[string]any{"op": "kill", "id": j.id})
	if _, err := j.z.ctrl.Write(msg); err != nil {
		// The fork server is gone, and its children with it.
		j.finish(exitStatus{})
		return
	}
	go func() {
		select {
		case <-j.finished:
		case <-time.After(killConfirmTimeout):
			// A fork server that cannot confirm a kill is not trusted
			// further: stopping it kills every child it holds.
			j.z.stop()
		}
	}()
}

// killConfirmTimeout bounds how long a kill may take to be reported.
const killConfirmTimeout = 3 * time.Second

func (j *zygoteJob) status() exitStatus { return j.exit }
