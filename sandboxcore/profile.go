package sandboxcore

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"text/template"
	"time"

	"golang.org/x/sys/unix"

	"python-api/infra"
	"python-api/sandboxcore/harness"
)

// Profile names, as reported in results and /healthz.
const (
	ProfileNamespaces = "namespaces"
	ProfileChroot     = "chroot"
)

// The file descriptors the jail is started with beyond 0, 1 and 2.
const (
	fdResult    = 3 // passed into the jail: ready mark and result frame
	fdNsjailLog = 4 // NsJail's own log; never passed to the jailed process
)

// jailEnv is the whole environment of a jailed process: nothing of the
// host's, no credentials, and single-threaded numeric libraries so that one
// job cannot occupy every core with BLAS threads.
var jailEnv = []string{
	"PATH=/usr/local/bin:/usr/bin:/bin",
	"HOME=/tmp",
	"TMPDIR=/tmp",
	"LANG=C.UTF-8",
	"LC_ALL=C.UTF-8",
	"OPENBLAS_NUM_THREADS=1",
	// Plots are files (outputs/), never windows.
	"MPLBACKEND=Agg",
	"OMP_NUM_THREADS=1",
	"MKL_NUM_THREADS=1",
	"NUMEXPR_NUM_THREADS=1",
}

// jailSpec is what one jail is started with. Its limits are ceilings; the
// harness lowers them to the request's own values.
type jailSpec struct {
	uid     int
	limits  Limits
	preload []string
	// zygote starts a fork server instead of a single-use job. Its limits
	// are the whole server's: it holds every concurrent job. spares is how
	// many set-up children it keeps ready; threadsOnly forbids its jobs
	// new processes.
	zygote      bool
	spares      int
	threadsOnly bool
}

// profile knows how to start NsJail for one isolation profile.
type profile struct {
	name   string
	layers []string
	weaker []string
	// forkLayers and forkWeaker are what the fast path (fork executor)
	// has and gives up on this profile.
	forkLayers []string
	forkWeaker []string
	// cg is the cgroup support jails and jobs get; threadsOnly is set
	// where it cannot hold a job's processes together (see
	// newNamespacesProfile).
	cg          cgroupSupport
	threadsOnly bool
	// workdir: every job has a private, size-capped writable working
	// directory (/tmp/work), for files in and out.
	workdir bool
	// probeFork, where set, tells whether the fork executor's needs are
	// met on this host; forkUnavailable holds its answer.
	probeFork       func(*uidPool) error
	forkUnavailable error
	// command returns the NsJail command for spec, and a cleanup to run
	// after the jail has exited.
	command func(spec jailSpec) (*exec.Cmd, func(), error)
}

// jobCgroups: every job gets memory and pids cgroups of its own.
func (p *profile) jobCgroups() bool { return p.name == ProfileNamespaces && !p.threadsOnly }

// pythonArgv runs the harness. -I: ignore PYTHON* variables and user site;
// -u: unbuffered, so output written before a kill is not lost; -B: the tree
// is read-only, do not try to write bytecode. mountTmp says the harness
// mounts each job's /tmp itself (the namespaces profile's fork server, and
// the chroot profile's jails where it has a private /tmp); NsJail mounts it
// for the namespaces profile's single-use jails.
func pythonArgv(profileName string, spec jailSpec, mountTmp bool) []string {
	argv := []string{"/usr/bin/python3", "-I", "-u", "-B", "-c", harness.Source}
	tmpBytes := 0
	if mountTmp {
		tmpBytes = spec.limits.TmpMB << 20
	}
	if spec.zygote {
		forks := "processes"
		if spec.threadsOnly {
			forks = "threads"
		}
		argv = append(argv, "zygote", profileName, forks, strconv.Itoa(spec.spares), strconv.Itoa(tmpBytes))
	} else {
		argv = append(argv, "job", strconv.Itoa(tmpBytes))
	}
	return append(argv, spec.preload...)
}

// seccompPolicy renders the Kafel policy with the given POLICY blocks in
// force, first match first. jobs is the host uid range jobs run under.
func seccompPolicy(jobs idRange, policies ...string) string {
	var use bytes.Buffer
	fmt.Fprintf(&use, "#define JOB_ID_MIN %d\n#define JOB_ID_END %d\n", jobs.first, jobs.end())
	use.WriteString(infra.SeccompPolicy)
	use.WriteString("\n")
	for i, p := range policies {
		if i > 0 {
			use.WriteString(", ")
		}
		use.WriteString("USE " + p)
	}
	use.WriteString(" DEFAULT ALLOW\n")
	return use.String()
}

var namespacesTemplate = template.Must(template.New("namespaces.cfg").Parse(infra.NamespacesConfig))

// newNamespacesProfile: NsJail runs on the host as root and gives the job
// fresh user, pid, net, mount, ipc, uts and cgroup namespaces, a read-only
// bind of the tree, and a private size-capped /tmp.
func newNamespacesProfile(rootfs, nsjail, workDir string, cg cgroupSupport, jobs idRange) (*profile, error) {
	// A job's processes are held to its memory_mb and process limit
	// together by cgroups of its own; without both controllers a job gets
	// threads only, so that one process (and its address-space limit) is
	// the whole job.
	threadsOnly := !cg.memory || !cg.pids
	jobPolicies := []string{"deny_network", "deny_privilege", "deny_identity", "deny_namespaces"}
	if threadsOnly {
		jobPolicies = append(jobPolicies, "deny_fork")
	}
	policyFile := filepath.Join(workDir, "namespaces.kafel")
	if err := os.WriteFile(policyFile, []byte(seccompPolicy(jobs, jobPolicies...)), 0o600); err != nil {
		return nil, fmt.Errorf("write seccomp policy: %w", err)
	}
	// The fork server creates each child's namespaces and mounts, so it
	// runs without deny_namespaces; every child adds those rules itself
	// before it reads the script.
	zygotePolicyFile := filepath.Join(workDir, "zygote.kafel")
	if err := os.WriteFile(zygotePolicyFile, []byte(seccompPolicy(jobs, "deny_network", "deny_privilege", "deny_identity")), 0o600); err != nil {
		return nil, fmt.Errorf("write seccomp policy: %w", err)
	}
	layers := []string{"nsjail", "user_ns", "pid_ns", "net_ns", "mount_ns", "ipc_ns", "uts_ns", "cgroup_ns",
		"readonly_rootfs", "private_tmpfs_noexec", "seccomp", "no_new_privs", "no_capabilities", "rlimits", "unique_uid", "no_proc"}
	if cg.unified {
		layers = append(layers, "cgroup_v2")
	}
	if cg.memory {
		layers = append(layers, "cgroup_memory")
	}
	if cg.pids {
		layers = append(layers, "cgroup_pids")
	}
	var weaker []string
	if threadsOnly {
		why := "the memory and pids controllers are not both writable here"
		if cg.missing != "" {
			why = cg.missing
		}
		weaker = append(weaker, "no per-job cgroup ("+why+"): "+
			"jobs get threads only, no subprocesses, so one process is the whole job and memory_mb bounds it")
	} else {
		layers = append(layers, "per_job_cgroups")
	}
	// Jobs forked by one zygote share its host uid; each is pid 1 of its
	// own pid namespace instead.
	var forkLayers []string
	for _, l := range layers {
		if l != "unique_uid" {
			forkLayers = append(forkLayers, l)
		}
	}
	forkLayers = append(forkLayers, "fork_server_single_use_children")
	p := &profile{name: ProfileNamespaces, layers: layers, weaker: weaker, cg: cg, threadsOnly: threadsOnly, workdir: true,
		forkLayers: forkLayers, forkWeaker: []string{
			"fork executor: concurrent jobs share the fork server's host uid; each has its own user, pid, mount, " +
				"net, ipc and uts namespaces, so none can see, signal or trace another. SANDBOX_EXECUTOR=warm gives " +
				"every job its own host uid as well",
		}}
	p.command = func(spec jailSpec) (*exec.Cmd, func(), error) {
		var cfg bytes.Buffer
		l := spec.limits
		// The harness sets the job's own CPU limit, counted from where its
		// preload left off; NsJail's is the backstop, with room for the
		// preload on a slow host.
		timeLimit, cpu := int(l.Wall/time.Second)+5, int(l.CPU/time.Second)+2+preloadCPUSeconds
		if spec.zygote {
			timeLimit, cpu = 0, zygoteCPUSeconds // it lives until replaced
		}
		data := map[string]any{
			"TimeLimitSeconds":  timeLimit,
			"Env":               jailEnv,
			"UID":               spec.uid,
			"Rootfs":            rootfs,
			"TmpBytes":          l.TmpMB << 20,
			"MemoryMB":          l.MemoryMB,
			"CPUSeconds":        cpu,
			"FileSizeMB":        l.FileSizeMB,
			"OpenFiles":         l.OpenFiles,
			"Processes":         l.Processes,
			"CgroupMemoryBytes": 0,
			"CgroupPids":        0,
			"SeccompPolicyFile": policyFile,
			"ProcRW":            false,
		}
		if spec.zygote {
			// It writes each child's uid_map through /proc; the children
			// cover /proc with an empty mount before user code runs.
			data["SeccompPolicyFile"] = zygotePolicyFile
			data["ProcRW"] = true
		}
		if cg.memory && !cg.unified {
			// The whole job, every process, may not use more than the
			// per-process limit plus the preloaded runtime's share.
			data["CgroupMemoryBytes"] = (l.MemoryMB + 256) << 20
		}
		if cg.pids && !cg.unified {
			data["CgroupPids"] = l.Processes + 8
		}
		if err := namespacesTemplate.Execute(&cfg, data); err != nil {
			return nil, nil, fmt.Errorf("render nsjail config: %w", err)
		}
		f, err := os.CreateTemp(workDir, "jail-*.cfg")
		if err != nil {
			return nil, nil, fmt.Errorf("write nsjail config: %w", err)
		}
		if _, err := f.Write(cfg.Bytes()); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, nil, fmt.Errorf("write nsjail config: %w", err)
		}
		f.Close()
		args := []string{nsjail, "--config", f.Name(), "--log_fd", strconv.Itoa(fdNsjailLog)}
		if cg.memory || cg.pids {
			args = append(args, cg.args()...)
		}
		args = append(args, "--")
		args = append(args, pythonArgv(ProfileNamespaces, spec, spec.zygote)...)
		cmd := &exec.Cmd{Path: nsjail, Args: args, Env: []string{}, Dir: workDir}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		return cmd, func() { os.Remove(f.Name()) }, nil
	}
	return p, nil
}

// preloadCPUSeconds is the CPU a single-use jail may spend importing its
// preload before its job's own limit starts (numpy and pandas take about
// 0.4 s on a quiet host, 15 times that under emulation).
const preloadCPUSeconds = 30

// zygoteCPUSeconds is the fork server's RLIMIT_CPU: effectively none, as
// forking accumulates CPU time over its whole life.
const zygoteCPUSeconds = 1 << 30

// nsjailInTree is where infra/build-rootfs.sh puts NsJail inside the tree.
const nsjailInTree = "/opt/nsjail/bin/nsjail"

// newChrootProfile is for hosts where namespaces cannot be created (Cloud
// Run gen1 / gVisor). The server chroots into the tree and drops to the
// job's uid before NsJail starts, so stock NsJail needs no privilege: every
// clone_new* is off, rlimits are left to the harness (gVisor refuses some
// that NsJail sets), /proc is not mounted, and seccomp is the network
// barrier and the fork-bomb barrier.
//
// Where the host lets the server make a user namespace (a current gVisor
// does, without CAP_SYS_ADMIN), NsJail starts in a user and mount namespace
// of its own, the job uid range mapped to itself, holding CAP_SYS_ADMIN
// there only: each job then gets a private, size-capped tmpfs on /tmp,
// its working directory for files in and out, mounted by the harness
// before the script runs (see privateTmpAttr).
func newChrootProfile(rootfs string, uids *uidPool) *profile {
	jobs := uids.ids
	p := &profile{
		name: ProfileChroot,
		layers: []string{"nsjail", "chroot", "readonly_rootfs_by_permissions", "seccomp", "seccomp_no_sockets",
			"seccomp_no_fork", "seccomp_no_sysv_ipc", "no_new_privs", "no_capabilities", "rlimits", "unique_uid", "no_proc"},
		weaker: []string{
			"no network namespace: seccomp denies every socket() instead",
			"no pid namespace: new processes are denied by seccomp (threads only); subprocess and multiprocessing fail",
			"no ipc/uts namespaces",
			"no cgroup limits: memory is bounded per process by RLIMIT_AS",
		},
		forkWeaker: []string{
			"fork executor: the fork server holds CAP_SETUID and CAP_SETGID (only to put each child under its " +
				"job's own uid); every job drops all capabilities before the script is read",
		},
	}
	if err := probePrivateTmp(rootfs, uids); err != nil {
		p.weaker = append(p.weaker, "no private /tmp ("+err.Error()+"): scripts cannot create files, and requests with files are refused")
	} else {
		p.workdir = true
		p.layers = append(p.layers, "user_ns", "mount_ns", "private_tmpfs_noexec")
		p.forkWeaker = append(p.forkWeaker, "fork executor: the fork server also holds CAP_SYS_ADMIN in the user "+
			"namespace the server made for it (only to mount each job's /tmp, with the flags its policy allows)")
	}
	p.forkLayers = append(append([]string{}, p.layers...), "fork_server_single_use_children")
	p.probeFork = func(uids *uidPool) error { return probeJobUIDSwitch(rootfs, uids, p.workdir) }
	jailPolicies := []string{"deny_network", "deny_privilege", "deny_identity", "deny_namespaces", "deny_shared_ipc", "deny_fork"}
	// The fork server must fork, and switch each child to its job's uid;
	// its children deny both themselves.
	zygotePolicies := []string{"deny_network", "deny_privilege", "switch_to_job_identity", "deny_identity",
		"deny_namespaces", "deny_shared_ipc"}
	if p.workdir {
		jailPolicies = append([]string{"mount_private_tmp"}, jailPolicies...)
		zygotePolicies = append([]string{"mount_private_tmp"}, zygotePolicies...)
	}
	jobPolicy, zygotePolicy := seccompPolicy(jobs, jailPolicies...), seccompPolicy(jobs, zygotePolicies...)
	p.command = func(spec jailSpec) (*exec.Cmd, func(), error) {
		l := spec.limits
		policy, timeLimit := jobPolicy, int(l.Wall/time.Second)+5
		if spec.zygote {
			policy, timeLimit = zygotePolicy, 0
		}
		args := []string{nsjailInTree,
			"--mode", "o",
			"--log_fd", strconv.Itoa(fdNsjailLog), "--quiet",
			"--disable_clone_newnet", "--disable_clone_newuser", "--disable_clone_newns",
			"--disable_clone_newpid", "--disable_clone_newipc", "--disable_clone_newuts",
			"--disable_clone_newcgroup",
			"--disable_rlimits", "--disable_proc",
			"--time_limit", strconv.Itoa(timeLimit),
			"--cwd", "/",
			"--pass_fd", strconv.Itoa(fdResult),
			"--seccomp_string", policy,
		}
		var ambient []uintptr
		if spec.zygote {
			// Only to switch each child to its job's uid (see
			// switch_to_job_identity in the policy). NsJail keeps the
			// capabilities it is told to keep and nothing else.
			ambient = []uintptr{unix.CAP_SETUID, unix.CAP_SETGID}
			args = append(args, "--cap", "CAP_SETUID", "--cap", "CAP_SETGID")
		}
		if p.workdir {
			// Only to mount the job's /tmp, in the namespace made here.
			ambient = append(ambient, unix.CAP_SYS_ADMIN)
			args = append(args, "--cap", "CAP_SYS_ADMIN")
		}
		for _, e := range jailEnv {
			args = append(args, "--env", e)
		}
		args = append(args, "--")
		args = append(args, pythonArgv(ProfileChroot, spec, p.workdir)...)
		cmd := &exec.Cmd{Path: nsjailInTree, Args: args, Env: []string{}, Dir: "/"}
		cmd.SysProcAttr = chrootAttr(rootfs, spec.uid, ambient)
		cmd.SysProcAttr.Setpgid = true
		if p.workdir {
			privateTmpAttr(cmd.SysProcAttr, jobs)
		}
		return cmd, func() {}, nil
	}
	return p
}

// chrootAttr starts a process in the tree under uid with the given ambient
// capabilities, ended with the server.
func chrootAttr(rootfs string, uid int, ambient []uintptr) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Chroot:      rootfs,
		Credential:  &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}},
		AmbientCaps: ambient,
		Pdeathsig:   syscall.SIGKILL,
	}
}

// privateTmpAttr starts the process in a new user and mount namespace with
// the job uid range (which holds every jail's and job's uid) mapped to
// itself, so that uids, files and the kernel's permission checks mean what
// they mean outside; root is not mapped. Its capabilities then count in
// that namespace only. Mounts copied into a namespace owned by a new user
// namespace do not propagate back, so a job's /tmp is seen by no one else.
func privateTmpAttr(attr *syscall.SysProcAttr, jobs idRange) {
	ids := []syscall.SysProcIDMap{{ContainerID: jobs.first, HostID: jobs.first, Size: jobs.count}}
	attr.Cloneflags = syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS
	attr.UidMappings, attr.GidMappings = ids, ids
	attr.GidMappingsEnableSetgroups = true // the fork server's children call setgroups([])
}

// mountTmpProbe is what the harness does for each job's /tmp (jailsetup.py).
const mountTmpProbe = `import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
if libc.mount(b"tmpfs", b"/tmp", b"tmpfs", ctypes.c_ulong(14), b"size=1048576,mode=0700") != 0:
    raise SystemExit("mount tmpfs on /tmp: " + os.strerror(ctypes.get_errno()))
open("/tmp/probe", "w").write("ok")
`

// probePrivateTmp checks that a process in the tree can be started in a
// user and mount namespace of its own and mount a tmpfs there.
func probePrivateTmp(rootfs string, uids *uidPool) error {
	lease, err := uids.take()
	if err != nil {
		return err
	}
	defer func() { _ = lease.release() }()
	var out bytes.Buffer
	cmd := &exec.Cmd{Path: "/usr/bin/python3", Args: []string{"python3", "-I", "-S", "-c", mountTmpProbe},
		Env: []string{}, Dir: "/", Stdout: &out, Stderr: &out}
	cmd.SysProcAttr = chrootAttr(rootfs, lease.uid, []uintptr{unix.CAP_SYS_ADMIN})
	privateTmpAttr(cmd.SysProcAttr, uids.ids)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("a user and mount namespace for each jail: %v: %s", err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// probeJobUIDSwitch checks that a process in the tree can be started with
// the ambient capabilities the chroot profile's fork server needs to put
// each job under its own uid. Old gVisor releases refuse PR_CAP_AMBIENT.
func probeJobUIDSwitch(rootfs string, uids *uidPool, privateTmp bool) error {
	lease, err := uids.take()
	if err != nil {
		return err
	}
	defer func() { _ = lease.release() }()
	cmd := &exec.Cmd{Path: "/usr/bin/true", Args: []string{"true"}, Env: []string{}, Dir: "/"}
	cmd.SysProcAttr = chrootAttr(rootfs, lease.uid, []uintptr{unix.CAP_SETUID, unix.CAP_SETGID})
	if privateTmp {
		cmd.SysProcAttr.AmbientCaps = append(cmd.SysProcAttr.AmbientCaps, unix.CAP_SYS_ADMIN)
		privateTmpAttr(cmd.SysProcAttr, uids.ids)
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ambient CAP_SETUID/CAP_SETGID for the fork server: %w", err)
	}
	return nil
}
