# The fork server ("zygote"): a Python that never runs user code itself.
#
# argv: zygote <profile> <threads|processes> <spares> <tmp_bytes> <preload...>
# fd 3 is a SOCK_SEQPACKET socket to Go. Messages are JSON:
#   zygote -> Go  {"ready": true}                          after preload
#   zygote -> Go  {"spare": P}                             a new spare, pid P
#                 (Go moves it into cgroups of its own before it names it)
#   Go -> zygote  {"op": "run", "id": N, "spare": P}       + SCM_RIGHTS with
#                 the job's stdin, stdout, stderr and result pipe ends; the
#                 spare P takes the job (and "uid" in the chroot profile)
#   Go -> zygote  {"op": "kill", "id": N}
#   zygote -> Go  {"id": N, "status": S, "cpu": seconds}   when the job ended;
#                 S is the exit code, or 128+signal, as NsJail reports it.
#
# The zygote does not fork them itself: once the preload is done it forks
# a template (_start_template), a copy of itself that only clones spares,
# in C, so that no Python runs in it after a fork (infra/rootfs/
# forktemplate.c says why). Each spare is cloned with CLONE_PARENT: it is
# the zygote's child, and the zygote reaps it.
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

def _status_code(status):
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 255


class _Spare:
    def __init__(self, pid, sock):
        self.pid, self.sock = pid, sock


def serve_zygote(chroot_mode, threads_only, spares_wanted, tmp_bytes, preload):
    import gc
    import selectors
    import signal
    import socket

    libc = _Libc()
    _preload(preload)
    _warm_up(preload)
    # Every module a job's harness path imports, imported here once: in a
    # child each import is a search of the tree, and under gVisor every
    # lookup and open goes through its file proxy.
    import mimetypes
    import resource  # noqa: F401

    mimetypes.init()
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
    zygote_pid = os.getpid()
    uid, gid = os.getuid(), os.getgid()
    id_maps = ((b"setgroups", b"deny"), (b"uid_map", b"%d %d 1" % (uid, uid)), (b"gid_map", b"%d %d 1" % (gid, gid)))
    # The same for every namespaced child: built once, not per job.
    last_cap = libc.last_capability()
    program = _bpf_program(False, 0, threads_only)

    def become_spare(fds):
        if chroot_mode:
            _become_chroot_spare(libc, fds[0], zygote_pid, tmp_bytes)
        else:
            _become_cloned_spare(libc, fds[0], fds[1], tmp_bytes, last_cap, program)

    # Before any signal handler or descriptor below exists: the template
    # and every spare start without them.
    template_pid, template = _start_template(libc, zygote_pid, become_spare)
    ctrl = socket.socket(fileno=RESULT_FD)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    spares = []  # oldest first
    jobs = {}  # pid -> job id
    ids = {}  # job id -> pid
    sel = selectors.DefaultSelector()

    def send(obj):
        ctrl.send(_dumps(obj).encode())

    def make_spare():
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fds, flags = [theirs.fileno()], 0
        if not chroot_mode:
            sync_r, sync_w = os.pipe()
            fds.append(sync_r)
            flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP
        try:
            socket.send_fds(template, [flags.to_bytes(8, "little")], fds)
            reply = template.recv(4)
        finally:
            for fd in fds[1:]:
                os.close(fd)
        if len(reply) != 4:
            _write_all(2, b"python-api: the fork template is gone\n")
            os._exit(1)
        pid = int.from_bytes(reply, "little", signed=True)
        if pid < 0:
            raise OSError(-pid, "clone a spare: %s" % os.strerror(-pid))
        if not chroot_mode:
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
        # Messages and statuses first; a spare is asked of the template
        # only when nothing is waiting.
        events = sel.select(timeout=0 if len(spares) < spares_wanted else None)
        if not events:
            spare = make_spare()
            spares.append(spare)
            send({"spare": spare.pid})
            continue
        for key, _ in events:
            if key.fileobj is ctrl:
                msg, fds, _, _ = socket.recv_fds(ctrl, 65536, 8)
                if not msg:
                    os._exit(0)  # Go went away: the jail ends, and every job with it
                req = json.loads(msg)
                if req["op"] == "run":
                    spare = next((s for s in spares if s.pid == req.get("spare")), None)
                    if spare is None:
                        # Go names only spares it was told of; this one is
                        # gone. The job never started: Go runs it elsewhere.
                        for fd in fds:
                            os.close(fd)
                        send({"id": req["id"], "status": 255, "cpu": 0, "maxrss": 0})
                        continue
                    spares.remove(spare)
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
                send({"id": job_id, "status": _status_code(status), "cpu": usage.ru_utime + usage.ru_stime,
                      "maxrss": usage.ru_maxrss})
                continue
            if pid == template_pid:
                _write_all(2, b"python-api: the fork template died\n")
                os._exit(1)
            for spare in spares:
                if spare.pid == pid:
                    # A spare that dies before its job means the host
                    # refuses the set-up: fail loudly, Go restarts us.
                    _write_all(2, b"python-api: a spare jail died during set-up\n")
                    os._exit(1)


# Built into the runtime tree by infra/build-rootfs.sh.
TEMPLATE_LIBRARY = "/opt/python-api/forktemplate.so"


def _start_template(libc, zygote_pid, become_spare):
    """Forks the template: this zygote as it is now, preload done, in a
    loop that only clones spares (infra/rootfs/forktemplate.c). Returns its
    pid and the socket that asks it for a spare. In each spare it clones,
    become_spare(descriptors) runs and never returns.

    The spares skip CPython's fork hooks (PyOS_AfterFork_Child): the
    template is single-threaded, so they would find no lock held and no
    other thread to forget, and their one effect a job would notice,
    reseeding random, is _fresh_entropy's."""
    import signal
    import socket

    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() != 1:
        raise RuntimeError("the fork server must be single-threaded to start its template")
    # Loaded here, not in the template: a tree without it fails the fork
    # server's start, loudly, rather than each spare.
    lib = libc.ctypes.PyDLL(TEMPLATE_LIBRARY)
    lib.serve_forks.argtypes = (libc.ctypes.c_int, libc.ctypes.POINTER(libc.ctypes.c_int))
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        try:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != zygote_pid:
                _os_exit(255)
            cmd = _move_high([theirs.detach()])[0]
            os.closerange(3, cmd)
            os.closerange(cmd + 1, 65536)
            fds = (libc.ctypes.c_int * 2)()
            # Returns only in a new spare, with the command socket closed.
            fds = fds[:lib.serve_forks(cmd, fds)]
        except BaseException:
            _setup_failed()
        become_spare(fds)
    theirs.close()
    return pid, mine


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
