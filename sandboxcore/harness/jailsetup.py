# Jail set-up done in Python, in each fork-server child before the job:
# the child's seccomp program, capabilities, uid and id maps, mounts.
# (Part of the harness: harness.go joins protocol.py, jailsetup.py,
# zygote.py and main.py into one program.)

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEW_ANY = 0x7E020080
CLONE_THREAD = 0x00010000

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REC, MS_PRIVATE = 0x4000, 0x40000

PR_SET_PDEATHSIG = 1
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2

EPERM = 1

# x86_64 syscall numbers the child denies on top of the zygote's policy.
_NR = {
    "clone": 56, "fork": 57, "vfork": 58, "kill": 62, "pivot_root": 155,
    "mount": 165, "umount2": 166, "tkill": 200, "tgkill": 234,
    "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297, "unshare": 272,
    "setns": 308, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "pidfd_open": 434,
    "pidfd_send_signal": 424, "mount_setattr": 442, "prctl": 157,
    "setuid": 105, "setgid": 106, "setreuid": 113, "setregid": 114, "setresuid": 117,
    "setresgid": 119, "setfsuid": 122, "setfsgid": 123, "setgroups": 116,
    "setpriority": 141, "ioprio_set": 251,
}
PRIO_PROCESS, IOPRIO_WHO_PROCESS = 0, 1
# The zygote's own policy leaves these to it; every child denies them
# before the script runs. They are POLICY deny_namespaces (less clone, by
# its flags, below) and POLICY deny_identity of infra/seccomp/policy.kafel:
# a Go test (TestChildDenyListMatchesPolicy) checks that the lists agree.
_CHILD_DENY_NAMESPACES = ["unshare", "setns", "mount", "umount2", "pivot_root", "open_tree", "move_mount",
                          "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr"]
_CHILD_DENY_IDENTITY = ["setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
                        "setfsuid", "setfsgid", "setgroups"]
_CHILD_DENY = _CHILD_DENY_NAMESPACES + _CHILD_DENY_IDENTITY


def _bpf_program(chroot_mode, own_pid, threads_only=False):
    """Assembles the child's extra seccomp filter (classic BPF). threads_only
    denies new processes (the chroot profile always; the namespaces profile
    where no per-job cgroup holds a job's processes together)."""
    import struct

    LD_ABS, JEQ, JSET, RET = 0x20, 0x15, 0x45, 0x06
    ALLOW, ERRNO = 0x7FFF0000, 0x00050000 | EPERM
    KILL_PROCESS = 0x80000000
    AUDIT_ARCH_X86_64 = 0xC000003E
    nr_off, arch_off = 0, 4

    def arg_lo(i):
        return 16 + 8 * i

    prog = [
        (LD_ABS, 0, 0, arch_off),
        (JEQ, 1, 0, AUDIT_ARCH_X86_64),
        (RET, 0, 0, KILL_PROCESS),
        (LD_ABS, 0, 0, nr_off),
    ]
    for name in _CHILD_DENY:
        prog += [(JEQ, 0, 1, _NR[name]), (RET, 0, 0, ERRNO)]
    # The parent-death signal stays as the harness set it.
    prog += [(JEQ, 0, 4, _NR["prctl"]), (LD_ABS, 0, 0, arg_lo(0)), (JEQ, 0, 1, PR_SET_PDEATHSIG),
             (RET, 0, 0, ERRNO), (LD_ABS, 0, 0, nr_off)]
    # clone with any namespace flag.
    prog += [(JEQ, 0, 4, _NR["clone"]), (LD_ABS, 0, 0, arg_lo(0)), (JSET, 0, 1, CLONE_NEW_ANY),
             (RET, 0, 0, ERRNO), (LD_ABS, 0, 0, nr_off)]
    if chroot_mode or threads_only:
        # chroot: no pid namespace to contain a fork bomb, and gVisor does
        # not enforce RLIMIT_NPROC. Either way one process is then the
        # whole job, and its address-space limit bounds all of it.
        for name in ("fork", "vfork"):
            prog += [(JEQ, 0, 1, _NR[name]), (RET, 0, 0, ERRNO)]
        prog += [(JEQ, 0, 4, _NR["clone"]), (LD_ABS, 0, 0, arg_lo(0)), (JSET, 1, 0, CLONE_THREAD),
                 (RET, 0, 0, ERRNO), (LD_ABS, 0, 0, nr_off)]
    if chroot_mode:
        for name in ("pidfd_open", "pidfd_send_signal", "tkill"):
            prog += [(JEQ, 0, 1, _NR[name]), (RET, 0, 0, ERRNO)]
        # Priorities of a process group or a user: the job is alone in
        # both, and gVisor answers success without checking anything.
        for name, own in (("setpriority", PRIO_PROCESS), ("ioprio_set", IOPRIO_WHO_PROCESS)):
            prog += [(JEQ, 0, 4, _NR[name]), (LD_ABS, 0, 0, arg_lo(0)), (JEQ, 1, 0, own),
                     (RET, 0, 0, ERRNO), (LD_ABS, 0, 0, nr_off)]
        # Every job has a uid of its own, so the kernel already refuses
        # signals to any other process; this keeps signals to the job's own
        # process even so.
        for name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
            prog += [(JEQ, 0, 4, _NR[name]), (LD_ABS, 0, 0, arg_lo(0)), (JEQ, 1, 0, own_pid),
                     (RET, 0, 0, ERRNO), (LD_ABS, 0, 0, nr_off)]
    prog.append((RET, 0, 0, ALLOW))
    return b"".join(struct.pack("HBBI", *ins) for ins in prog), len(prog)


class _Libc:
    def __init__(self):
        import ctypes

        self.ctypes = ctypes
        self.lib = ctypes.CDLL(None, use_errno=True)

    def check(self, ret, what):
        if ret != 0:
            err = self.ctypes.get_errno()
            raise OSError(err, "%s: %s" % (what, os.strerror(err)))

    def prctl(self, *args):
        c = self.ctypes
        self.check(self.lib.prctl(*[c.c_ulong(a) for a in args]), "prctl%r" % (args[:1],))

    def mount(self, source, target, fstype, flags, data):
        c = self.ctypes
        self.check(self.lib.mount(source, target, fstype, c.c_ulong(flags), data), "mount %s" % target)

    def unshare(self, flags):
        self.check(self.lib.unshare(flags), "unshare")

    def last_capability(self):
        """The highest capability number this kernel knows (asked once, in
        the zygote, so that each child makes no more calls than it needs)."""
        c = self.ctypes
        for cap in range(64):
            if self.lib.prctl(c.c_ulong(PR_CAPBSET_READ), c.c_ulong(cap), 0, 0, 0) < 0:
                return cap - 1
        return 63

    def clear_capabilities(self):
        """Empties every capability set but the bounding one, which only
        CAP_SETPCAP could change (chroot profile: with no_new_privs, nothing
        can refill the others)."""
        c = self.ctypes
        PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
        self.check(self.lib.prctl(c.c_ulong(PR_CAP_AMBIENT), c.c_ulong(PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0),
                   "clear ambient capabilities")
        header = (c.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
        data = (c.c_uint32 * 6)()
        self.check(self.lib.capset(header, data), "capset")
        self.check(self.lib.capget(header, data), "capget")
        if any(data):
            raise OSError("capabilities remain after capset: %r" % list(data))

    def drop_capabilities(self, last_cap):
        c = self.ctypes
        drop, op = self.lib.prctl, c.c_ulong(PR_CAPBSET_DROP)
        for cap in range(last_cap + 1):
            self.check(drop(op, c.c_ulong(cap), 0, 0, 0), "drop capability %d" % cap)
        header = (c.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
        data = (c.c_uint32 * 6)()
        self.check(self.lib.capset(header, data), "capset")

    def load_filter(self, program):
        """program: _bpf_program's (code, length), made ready to install
        (a fork-server child does this before its job comes)."""
        c = self.ctypes
        code, n = program
        buf = c.create_string_buffer(code, len(code))

        class Prog(c.Structure):
            _fields_ = [("len", c.c_ushort), ("filter", c.c_void_p)]

        return Prog(n, c.addressof(buf)), buf

    def install_filter(self, program):
        """program: _bpf_program's (code, length), or load_filter's."""
        c = self.ctypes
        prog, _buf = self.load_filter(program) if isinstance(program[0], bytes) else program
        # NsJail set it already; a filter must never depend on that.
        self.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        self.check(self.lib.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, c.byref(prog), 0, 0), "seccomp")


def _move_high(fds):
    import fcntl

    return [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in fds]


def _receive_job(sock):
    """Waits for the job: the zygote's message and the job's descriptors,
    moved out of the way of 0-3."""
    import socket

    conn = socket.socket(fileno=sock)
    msg, fds, _, _ = socket.recv_fds(conn, 1024, 4)
    if len(fds) != 4:
        _os_exit(255)
    high = _move_high(fds)
    conn.close()
    return json.loads(msg), high


def _run_job(fds):
    """Puts the job's descriptors at 0-3 and runs it; never returns (this is
    a fork of the zygote: nothing may unwind into the zygote's loop)."""
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(4, 65536)
        serve_request(prepared=True)
    except BaseException:
        _setup_failed()


def _mount_private_tmp(libc, tmp_bytes, uid):
    """The job's own size-capped /tmp (chroot profile, where the server
    started the jail in a user and mount namespace of its own): with the
    mount flags the policy's mount_private_tmp allows, and no others."""
    libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
               ("size=%d,mode=0700,uid=%d,gid=%d" % (tmp_bytes, uid, uid)).encode())


def _become_chroot_jail(tmp_bytes):
    """A single-use jail's set-up in the chroot profile with a private /tmp:
    mount it, then give up the capability that did it and deny what a job
    never needs, as the fork server's children do."""
    libc = _Libc()
    _mount_private_tmp(libc, tmp_bytes, os.getuid())
    libc.clear_capabilities()
    libc.install_filter(_bpf_program(True, os.getpid()))


def _become_chroot_spare(libc, sock, zygote_pid, tmp_bytes):
    """Runs in a forked child (chroot mode, where the host gives no
    namespaces): it is the job itself. Never returns. With tmp_bytes, it
    first takes a mount namespace and a /tmp of its own."""
    import signal

    try:
        # The zygote's SIGCHLD wake-up plumbing must not follow: its fd
        # number may be reused by a job's pipe.
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != zygote_pid:
            _os_exit(255)
        # A session and process group of its own: kill(0, …) must never
        # reach the zygote or another job.
        os.setsid()
        sock = _move_high([sock])[0]
        os.dup2(sock, 0)
        os.closerange(3, 65536)
        # Built before the job comes: it depends only on this pid.
        program = libc.load_filter(_bpf_program(True, os.getpid()))
        prepare_request()
        job, fds = _receive_job(0)
        # The job's own host uid, leased by Go: the kernel's permission
        # checks (kill, prlimit, F_SETOWN, sched_*, setpriority) then keep
        # it away from the zygote, the spares and every other job.
        uid = int(job["uid"])
        if tmp_bytes:
            libc.unshare(CLONE_NEWNS)
            _mount_private_tmp(libc, tmp_bytes, uid)
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        libc.clear_capabilities()
        # A change of credentials clears the parent-death signal.
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != zygote_pid:
            _os_exit(255)
        libc.install_filter(program)
    except BaseException:
        _setup_failed()
    _run_job(fds)


def _setup_failed():
    """Set-up failed before any user code ran: tell the operator why."""
    import traceback

    try:
        _write_all(2, ("python-api: jail set-up failed:\n" + traceback.format_exc()).encode())
    finally:
        _os_exit(255)


def _become_cloned_spare(libc, sock, sync_fd, tmp_bytes, last_cap, program):
    """Runs in a child cloned into fresh namespaces (namespaces mode): waits
    for the zygote to write its id maps, sets up the jail, then waits for
    its job. Never returns. It is itself the job, pid 1 of its namespace."""
    import signal

    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        # A session of its own: kill(0, …) crosses pid namespaces.
        # EOF instead of the byte: the zygote died before writing the maps.
        if os.read(sync_fd, 1) != b"m":
            _os_exit(255)
        os.setsid()
        sock = _move_high([sock])[0]
        os.dup2(sock, 0)
        os.closerange(3, 65536)
        uid, gid = os.getuid(), os.getgid()
        libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)
        libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   ("size=%d,mode=0700,uid=%d,gid=%d" % (tmp_bytes, uid, gid)).encode())
        libc.mount(b"none", b"/proc", b"tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, b"size=4k,mode=0555")
        os.chdir("/tmp")
        libc.drop_capabilities(last_cap)
        libc.install_filter(program)
        prepare_request()
        _, fds = _receive_job(0)
    except BaseException:
        _setup_failed()
    _run_job(fds)
