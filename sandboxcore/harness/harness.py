# The harness runs inside the jail, before and around the user's script.
#
# It has two modes, chosen by argv[1]:
#   "job":    a single-use jail. argv[2:] are modules to import first.
#   "zygote": a fork server (see the zygote section below). It imports the
#             modules once and forks one child per execution; each child then
#             follows exactly the "job" protocol below on its own fds.
#
# Job protocol with sandboxcore (Go):
#   fd 3      result channel. After preloading, the harness writes b"R\n"
#             (ready). Right before the script's own code runs it writes
#             b"S\n" (started): a job that ends without it never ran any of
#             the script, so Go may run it again elsewhere. After the run it
#             writes one frame: the request's token,
#             a newline, then a JSON envelope {"ok": true, "result": ...} or
#             {"ok": false, "error": {...}}. The frame comes after main()
#             returns, so the script cannot append to it; Go takes the last
#             frame carrying the token, so nothing the script writes to fd 3
#             beforehand can replace it.
#   fd 0      the request, JSON, read to EOF: {"script", "token", "limits"}.
#   fd 1, 2   the script's stdout and stderr, captured by Go at the fd level.
# The harness never prints anything itself.

import json
import os
import sys

RESULT_FD = 3

# Bound now: the script may replace these module attributes before the
# harness needs them again.
_os_write = os.write
_os_exit = os._exit
_os_closerange = os.closerange
_os_fstat = os.fstat
_dumps = json.dumps


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = _os_write(fd, view)
        view = view[n:]


def _preload(modules):
    for name in modules:
        try:
            __import__(name)
        except Exception:
            # A missing optional module must not take the jail down; the
            # script gets the ImportError itself if it needs the module.
            pass


def _read_request():
    chunks = []
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    return json.loads(b"".join(chunks))


def _apply_limits(limits):
    import resource

    def cap(which, value):
        if value and value > 0:
            resource.setrlimit(which, (value, value))

    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu_used = int(used.ru_utime + used.ru_stime) + 1
    cpu = limits.get("cpu_seconds", 0)
    if cpu:
        # Soft limit sends SIGXCPU; the hard limit one second later SIGKILL.
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_used + cpu, cpu_used + cpu + 1))
    cap(resource.RLIMIT_AS, limits.get("memory_bytes", 0))
    cap(resource.RLIMIT_FSIZE, limits.get("file_size_bytes", 0))
    cap(resource.RLIMIT_NOFILE, limits.get("open_files", 0))
    cap(resource.RLIMIT_NPROC, limits.get("processes", 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


_MAX_FRAMES = 100


def _user_frames(tb):
    """Drops the harness's own frames so tracebacks show only the script."""
    import traceback

    # Only the innermost frames: a runaway recursion can be millions deep.
    frames = traceback.extract_tb(tb, limit=-_MAX_FRAMES)
    for i, frame in enumerate(frames):
        if frame.filename == "<script>":
            return traceback.StackSummary.from_list(frames[i:])
    return traceback.StackSummary.from_list([])


# Error texts are the script's own words (an exception's message, a deep
# traceback): bounded, so that an error always fits in its frame.
_MAX_MESSAGE = 8 << 10
_MAX_TRACEBACK = 64 << 10


def _clip(text, limit, keep_end=False):
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    if keep_end:
        return "[%d characters cut]...\n" % cut + text[-limit:]
    return text[:limit] + "...[%d characters cut]" % cut


def _error(code, message, exc=None, line=0, column=0):
    err = {"code": code, "message": _clip(message, _MAX_MESSAGE)}
    if exc is not None:
        import traceback

        err["type"] = type(exc).__name__
        frames = _user_frames(exc.__traceback__)
        lines = ["Traceback (most recent call last):\n"] if frames else []
        lines += frames.format()
        lines += traceback.format_exception_only(type(exc), exc)
        err["traceback"] = _clip("".join(lines), _MAX_TRACEBACK, keep_end=True)
        script_frames = [f for f in frames if f.filename == "<script>"]
        if script_frames and not line:
            line = script_frames[-1].lineno or 0
    if line:
        err["line"] = line
    if column:
        err["column"] = column
    return {"ok": False, "error": err}


def _exception_error(exc, where):
    if isinstance(exc, MemoryError):
        return _error("memory_limit", "the script ran out of memory " + where, exc)
    if isinstance(exc, SystemExit):
        return _error(
            "runtime_error",
            "the script called exit(%r) %s; main() must return a value" % (exc.code, where),
            exc,
        )
    if isinstance(exc, KeyboardInterrupt):
        return _error("runtime_error", "KeyboardInterrupt raised " + where, exc)
    return _error("runtime_error", "%s: %s" % (type(exc).__name__, _safe_str(exc)), exc)


def _safe_str(exc):
    try:
        return str(exc)
    except BaseException:
        return "<the exception's str() failed>"


def _run(request):
    source = request["script"]
    try:
        code = compile(source, "<script>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return _error(
            "syntax_error",
            "%s (line %s)" % (exc.msg, exc.lineno),
            line=exc.lineno or 0,
            column=exc.offset or 0,
        )
    except (ValueError, OverflowError, MemoryError) as exc:
        return _error("syntax_error", "the script cannot be compiled: %s" % exc)

    import linecache

    # Lets tracebacks quote the user's source lines.
    linecache.cache["<script>"] = (len(source), None, source.splitlines(True), "<script>")
    namespace = {"__name__": "__script__", "__builtins__": __builtins__}
    try:
        exec(code, namespace)
    except BaseException as exc:
        return _exception_error(exc, "while loading the script")

    main = namespace.get("main")
    if main is None:
        return _error("missing_main", "the script does not define main()")
    if not callable(main):
        return _error("missing_main", "main is a %s, not a function" % type(main).__name__)

    try:
        value = main()
    except BaseException as exc:
        return _exception_error(exc, "in main()")
    return {"ok": True, "value": value}


def _encode(outcome, limit):
    if not outcome["ok"]:
        return _dumps(outcome).encode()
    try:
        text = _dumps(outcome["value"], allow_nan=False, ensure_ascii=True)
    except TypeError as exc:
        return _dumps(_error("result_not_json", "main() returned a value that is not JSON: %s" % exc)).encode()
    except ValueError as exc:
        return _dumps(_error("result_not_json", "main() returned a value that is not JSON: %s" % exc)).encode()
    except RecursionError:
        return _dumps(_error("result_not_json", "main() returned a value nested too deeply to encode as JSON")).encode()
    except MemoryError:
        return _dumps(_error("result_too_large", "main() returned a value too large to encode")).encode()
    if limit and len(text) > limit:
        return _dumps(
            _error("result_too_large", "the result is %d bytes; the limit is %d bytes" % (len(text), limit))
        ).encode()
    return b'{"ok":true,"result":' + text.encode() + b"}"


def _bind_std_streams():
    """Fresh unbuffered text streams on fds 0-2: in a fork-server child the
    inherited objects still describe the zygote's descriptors. Text a pipe
    cannot take (lone surrogates) is escaped rather than raised."""
    import io

    def stream(fd, mode):
        raw = io.FileIO(fd, mode, closefd=False)
        if mode == "r":
            return io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8", errors="replace")
        return io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", write_through=True)

    sys.stdin = sys.__stdin__ = stream(0, "r")
    sys.stdout = sys.__stdout__ = stream(1, "w")
    sys.stderr = sys.__stderr__ = stream(2, "w")


def serve_request():
    """Runs one request end to end; never returns."""
    request = _read_request()
    limits = request.get("limits", {})
    token = request["token"].encode()
    _apply_limits(limits)
    _bind_std_streams()
    channel = os.fstat(RESULT_FD)
    _write_all(RESULT_FD, b"S\n")
    outcome = _run(request)
    try:
        payload = _encode(outcome, limits.get("result_bytes", 0))
    except BaseException as exc:  # e.g. a __repr__ that raises while encoding
        payload = _dumps(_error("result_not_json", "the result could not be encoded: %s" % type(exc).__name__)).encode()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    try:
        # A script that put something else on fd 3 (dup2 of /dev/null)
        # would swallow the frame: say so instead (exit status 3).
        now = _os_fstat(RESULT_FD)
        if (now.st_dev, now.st_ino) != (channel.st_dev, channel.st_ino):
            _os_exit(3)
        _write_all(RESULT_FD, token + b"\n" + payload)
    except OSError:
        _os_exit(3)
    # Closing every descriptor first lets Go answer while the kernel still
    # tears this process down (a forked address space takes milliseconds).
    _os_closerange(0, 1 << 20)
    # Skips atexit handlers and finalizers the script may have registered.
    _os_exit(0)


# ---------------------------------------------------------------------------
# Zygote: a fork server that never runs user code itself.
#
# argv: zygote <profile> <spares> <tmp_bytes> <preload...>
# fd 3 is a SOCK_SEQPACKET socket to Go. Messages are JSON:
#   zygote -> Go  {"ready": true}                          after preload
#   Go -> zygote  {"op": "run", "id": N}                   + SCM_RIGHTS with
#                 the job's stdin, stdout, stderr and result pipe ends
#   Go -> zygote  {"op": "kill", "id": N}
#   zygote -> Go  {"id": N, "status": S, "cpu": seconds}   when the job ended;
#                 S is the exit code, or 128+signal, as NsJail reports it.
#
# The zygote keeps <spares> children ready. A spare has done all its set-up
# and waits for one job's descriptors, then runs it and exits; it is never
# reused, so the set-up is off the request path but every job is fresh.
# Namespaces mode: the child is cloned straight into fresh user, mount, pid,
# net, ipc, uts and cgroup namespaces (pid 1 of its own, so everything it
# starts dies with it), gets a private noexec /tmp, an empty /proc, no
# capabilities and the extra seccomp rules below. Chroot mode (the host
# cannot create namespaces): a plain fork with its own session, no fork of
# its own, and signals only to itself. Go enforces the wall time and asks
# for the kill.

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
}
# The zygote's own policy leaves these to it; every child denies them
# before the script runs. They are POLICY deny_namespaces (less clone, by
# its flags, below) and POLICY deny_identity of infra/seccomp/policy.kafel:
# a Go test (TestChildDenyListMatchesPolicy) checks that the lists agree.
_CHILD_DENY_NAMESPACES = ["unshare", "setns", "mount", "umount2", "pivot_root", "open_tree", "move_mount",
                          "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr"]
_CHILD_DENY_IDENTITY = ["setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
                        "setfsuid", "setfsgid", "setgroups"]
_CHILD_DENY = _CHILD_DENY_NAMESPACES + _CHILD_DENY_IDENTITY


def _bpf_program(chroot_mode, own_pid):
    """Assembles the child's extra seccomp filter (classic BPF)."""
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
    if chroot_mode:
        # No pid namespace to contain a fork bomb, and gVisor does not
        # enforce RLIMIT_NPROC: threads only.
        for name in ("fork", "vfork", "pidfd_open", "pidfd_send_signal", "tkill"):
            prog += [(JEQ, 0, 1, _NR[name]), (RET, 0, 0, ERRNO)]
        prog += [(JEQ, 0, 4, _NR["clone"]), (LD_ABS, 0, 0, arg_lo(0)), (JSET, 1, 0, CLONE_THREAD),
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

    def clone_into_namespaces(self, flags):
        """fork(), but the child starts in new namespaces (pid 1 of its own
        pid namespace), so no second fork is needed: one page-table copy
        and one teardown per job instead of two. Called the way os.fork()
        does it: CPython's fork hooks around a raw clone, with the GIL held
        (PyDLL) so both processes return into a consistent interpreter."""
        c = self.ctypes
        api = c.pythonapi
        raw = c.PyDLL(None, use_errno=True)
        raw.syscall.restype = c.c_long
        api.PyOS_BeforeFork()
        pid = raw.syscall(c.c_long(56), c.c_ulong(flags | 17), c.c_ulong(0), c.c_ulong(0), c.c_ulong(0), c.c_ulong(0))
        if pid == 0:
            api.PyOS_AfterFork_Child()
            return 0
        err = c.get_errno()
        api.PyOS_AfterFork_Parent()
        if pid < 0:
            raise OSError(err, "clone: %s" % os.strerror(err))
        return pid

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

    def install_filter(self, program):
        """program: _bpf_program's (code, length)."""
        c = self.ctypes
        code, n = program
        buf = c.create_string_buffer(code, len(code))

        class Prog(c.Structure):
            _fields_ = [("len", c.c_ushort), ("filter", c.c_void_p)]

        prog = Prog(n, c.addressof(buf))
        # NsJail set it already; a filter must never depend on that.
        self.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        self.check(self.lib.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, c.byref(prog), 0, 0), "seccomp")


def _status_code(status):
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 255


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
        serve_request()
    except BaseException:
        _setup_failed()


def _become_chroot_spare(libc, sock, zygote_pid):
    """Runs in a forked child (chroot mode, where the host gives no
    namespaces): it is the job itself. Never returns."""
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
        job, fds = _receive_job(0)
        # The job's own host uid, leased by Go: the kernel's permission
        # checks (kill, prlimit, F_SETOWN, sched_*, setpriority) then keep
        # it away from the zygote, the spares and every other job.
        uid = int(job["uid"])
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        libc.clear_capabilities()
        # A change of credentials clears the parent-death signal.
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != zygote_pid:
            _os_exit(255)
        libc.install_filter(_bpf_program(True, os.getpid()))
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
        _, fds = _receive_job(0)
    except BaseException:
        _setup_failed()
    _run_job(fds)


class _Spare:
    def __init__(self, pid, sock):
        self.pid, self.sock = pid, sock


def serve_zygote(chroot_mode, spares_wanted, tmp_bytes, preload):
    import gc
    import selectors
    import signal
    import socket

    libc = _Libc()
    _preload(preload)
    _warm_up(preload)
    # Objects from the preload never need collecting; freezing them keeps
    # the children's garbage collector from touching (and copying) them.
    gc.collect()
    gc.freeze()
    # Hand freed heap back to the kernel: every fork copies the page tables
    # of what is still mapped.
    try:
        libc.lib.malloc_trim(0)
    except AttributeError:
        pass
    ctrl = socket.socket(fileno=RESULT_FD)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    zygote_pid = os.getpid()
    spares = []  # oldest first
    jobs = {}  # pid -> job id
    ids = {}  # job id -> pid
    sel = selectors.DefaultSelector()

    def send(obj):
        ctrl.send(_dumps(obj).encode())

    uid, gid = os.getuid(), os.getgid()
    id_maps = ((b"setgroups", b"deny"), (b"uid_map", b"%d %d 1" % (uid, uid)), (b"gid_map", b"%d %d 1" % (gid, gid)))
    # The same for every namespaced child: built once, not per job.
    last_cap = libc.last_capability()
    program = _bpf_program(False, 0)

    def make_spare():
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        if chroot_mode:
            pid = os.fork()
            if pid == 0:
                _become_chroot_spare(libc, theirs.detach(), zygote_pid)
        else:
            sync_r, sync_w = os.pipe()
            pid = libc.clone_into_namespaces(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET |
                                             CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)
            if pid == 0:
                os.close(sync_w)
                _become_cloned_spare(libc, theirs.detach(), sync_r, tmp_bytes, last_cap, program)
            os.close(sync_r)
            # Map the job's uid and gid onto ours; only then may it go on.
            # Plain descriptors, not open(): every page this process writes
            # after a fork is copied, and file objects touch many.
            for name, text in id_maps:
                fd = os.open(b"/proc/%d/%s" % (pid, name), os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(fd, text)
                finally:
                    os.close(fd)
            os.write(sync_w, b"m")
            os.close(sync_w)
        theirs.close()
        return _Spare(pid, mine)

    send({"ready": True})
    sel.register(ctrl, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    while True:
        # Messages and statuses first; a spare is forked (1-3 ms of this
        # single thread) only when nothing is waiting.
        events = sel.select(timeout=0 if len(spares) < spares_wanted else None)
        if not events:
            spares.append(make_spare())
            continue
        for key, _ in events:
            if key.fileobj is ctrl:
                msg, fds, _, _ = socket.recv_fds(ctrl, 65536, 8)
                if not msg:
                    os._exit(0)  # Go went away: the jail ends, and every job with it
                req = json.loads(msg)
                if req["op"] == "run":
                    spare = spares.pop(0) if spares else make_spare()
                    try:
                        socket.send_fds(spare.sock, [_dumps({"uid": req.get("uid", 0)}).encode()], fds)
                    except OSError:
                        pass  # the spare died; its reaping reports the job as lost
                    spare.sock.close()
                    for fd in fds:
                        os.close(fd)
                    jobs[spare.pid] = req["id"]
                    ids[req["id"]] = spare.pid
                elif req["op"] == "kill":
                    pid = ids.get(req["id"])
                    if pid:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
            else:
                while True:
                    try:
                        if not os.read(wake_r, 4096):
                            break
                    except BlockingIOError:
                        break
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            job_id = jobs.pop(pid, None)
            if job_id is not None:
                # The job was pid 1 of its namespace: its whole tree is gone.
                ids.pop(job_id, None)
                send({"id": job_id, "status": _status_code(status), "cpu": usage.ru_utime + usage.ru_stime})
                continue
            for spare in spares:
                if spare.pid == pid:
                    # A spare that dies before its job means the host
                    # refuses the set-up: fail loudly, Go restarts us.
                    _write_all(2, b"python-api: a spare jail died during set-up\n")
                    os._exit(1)


def _warm_up(preload):
    """Runs the preloaded libraries' lazy initialisation once, in the
    zygote, so that each child does not pay for it (our code, not user
    code): the first groupby, the first CSV parse or the first datetime
    each import and build caches that every later one reuses. The list is
    what data scripts commonly do; what it misses still works, it just
    costs that child the first-time set-up."""
    import io

    steps = []
    if "numpy" in preload:

        def numpy_steps():
            import numpy as np

            a = np.arange(24, dtype=float).reshape(4, 6)
            a.mean(axis=0), a.sum(), a.std(), a.max(), a.argmax(), a.T @ a
            np.linalg.solve(np.eye(3) * 2.0, np.ones(3))
            rng = np.random.default_rng(0)
            rng.normal(size=8), rng.integers(0, 10, 8), np.random.rand(3)
            np.sort(rng.random(16)), np.unique([3, 1, 3]), np.where(a > 3, a, 0)
            np.concatenate([a, a]), np.linspace(0, 1, 5), np.cumsum(a)
            a.tolist(), float(a[0, 0]), np.float64(1.5).item()

        steps.append(numpy_steps)
    if "pandas" in preload:

        def pandas_steps():
            import pandas as pd

            for keys in (["a", "b", "a", "c"], [1, 2, 1, 3]):
                df = pd.DataFrame({"k": keys, "v": range(4), "f": [0.5, 1.5, 2.5, 3.5]})
                g = df.groupby("k")
                g["v"].sum().max(), g["f"].mean().to_dict(), g.agg({"v": "sum", "f": "max"}), g.size()
                g["v"].count(), g["v"].min(), g.sum(), g.mean(numeric_only=True)
            df.describe(), df.sort_values("v"), df.head(2), df.tail(2), df.copy()
            df.merge(df, on="k"), pd.concat([df, df]), df.pivot_table(index="k", values="v", aggfunc="sum")
            df.to_dict(), df.to_dict("records"), df.to_json(), df.to_csv(), df.to_string(), repr(df)
            df["v"].apply(lambda x: x + 1), df.assign(w=df["v"] * 2), df[df["v"] > 1], df.loc[0], df.iloc[0]
            df["v"].value_counts(), df["v"].cumsum(), df["v"].rolling(2).mean(), df.isna().sum(), df.dropna()
            pd.read_csv(io.StringIO("a,b\n1,x\n2,y\n")), pd.read_json(io.StringIO('[{"a": 1}]'))
            s = pd.Series(["x", "y"])
            s.str.upper(), s.str.contains("x"), s.astype("category")
            t = pd.to_datetime(["2024-01-01", "2024-02-01"])
            pd.Series(t).dt.month, pd.date_range("2024-01-01", periods=3, freq="D")
            pd.DataFrame({"t": t, "v": [1, 2]}).set_index("t").resample("MS").sum()
            pd.Series([1.5, 2.5]).mean(), pd.Series([1, 2]).quantile(0.5)

        steps.append(pandas_steps)
    for step in steps:
        try:
            step()
        except Exception:
            pass  # a library version without one of these still works


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "job"
    if mode == "zygote":
        serve_zygote(sys.argv[2] == "chroot", int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:])
    _preload(sys.argv[2:])
    _write_all(RESULT_FD, b"R\n")
    serve_request()


main()
