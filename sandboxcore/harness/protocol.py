# The harness runs inside the jail, before and around the user's script.
#
# It has two modes, chosen by argv[1]:
#   "job":    a single-use jail. argv[2] is the size of the /tmp it mounts
#             itself (0: none to mount), argv[3:] are modules to import first.
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
#             {"ok": false, "error": {...}}, with "usage" (the job's CPU and
#             peak memory) in both. The frame comes after main()
#             returns, so the script cannot append to it; Go takes the last
#             frame carrying the token, so nothing the script writes to fd 3
#             beforehand can replace it.
#   fd 0      the request, JSON, read to EOF: {"script", "token", "limits"}
#             and, when the caller sent one, "input": main is then called as
#             main(input), else as main().
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
        # Never above the hard limit NsJail set (raising it fails): on a
        # slow host the preload may have used more than its allowance.
        hard = cpu_used + cpu + 1
        _, hard_now = resource.getrlimit(resource.RLIMIT_CPU)
        if hard_now != resource.RLIM_INFINITY:
            hard = min(hard, hard_now)
        resource.setrlimit(resource.RLIMIT_CPU, (min(cpu_used + cpu, hard), hard))
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
    has_input = "input" in request
    mismatch = _input_mismatch(main, has_input)
    if mismatch:
        return _error("invalid_request", mismatch)

    try:
        value = main(request["input"]) if has_input else main()
    except BaseException as exc:
        return _exception_error(exc, "in main()")
    return {"ok": True, "value": value}


def _input_mismatch(main, has_input):
    """Why main cannot be called with (or without) the request's input, or
    None. A main whose signature cannot be read is simply called."""
    import inspect

    try:
        params = list(inspect.signature(main).parameters.values())
    except (TypeError, ValueError):
        return None
    P = inspect.Parameter
    positional = [p for p in params if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
    takes_any = positional or any(p.kind == P.VAR_POSITIONAL for p in params)
    required = [p.name for p in positional if p.default is P.empty]
    if has_input and not takes_any:
        return 'the request has an "input" but main() takes no parameter; define main(input)'
    if has_input and len(required) > 1:
        return "main() requires %d parameters (%s) but gets one, the request's \"input\"" % (
            len(required), ", ".join(required))
    if not has_input and required:
        return 'main() requires a parameter (%s) but the request has no "input"; send one, or give it a default' % (
            required[0])
    return None


def _encode(outcome, limit, extra):
    """The frame's envelope, as bytes; extra (usage, files) rides along."""
    if not outcome["ok"]:
        return _dumps(dict(outcome, **extra)).encode()
    failed = None
    try:
        text = _Encoder(limit).encode(outcome["value"])
    except _NotJSON as exc:
        failed = _error("result_not_json", "main() returned a value that is not JSON: %s is %s" % (
            exc.path, _a_type(exc.value)))
    except _TooLarge as exc:
        failed = _error("result_too_large", "the result is at least %d bytes; the limit is %d bytes" % (exc.size, limit))
    except ValueError as exc:  # a circular reference
        failed = _error("result_not_json", "main() returned a value that is not JSON: %s" % exc)
    except RecursionError:
        failed = _error("result_not_json", "main() returned a value nested too deeply to encode as JSON")
    except MemoryError:
        failed = _error("result_too_large", "main() returned a value too large to encode")
    if failed is None and limit and len(text) > limit:
        failed = _error("result_too_large", "the result is %d bytes; the limit is %d bytes" % (len(text), limit))
    if failed is not None:
        return _dumps(dict(failed, **extra)).encode()
    return b'{"ok":true,' + _dumps(extra)[1:-1].encode() + b',"result":' + text.encode() + b"}"


def _a_type(value):
    name = _type_name(value)
    return ("an " if name[:1] in "aeiouAEIOU" else "a ") + name


def _usage(since):
    """What the job has used since since (a _usage(None) taken before the
    script): CPU of this process and the children it waited for, and its
    peak resident memory (shared pages of a fork server's runtime
    included: they are resident in the job too)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    if since is not None:
        cpu -= since["cpu"]
    return {"cpu": cpu, "cpu_ms": round(cpu * 1000, 1), "max_rss_mb": round(max(me.ru_maxrss, kids.ru_maxrss) / 1024, 1)}


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


def _fresh_entropy():
    """A fork-server child starts with a copy of its parent's generator
    states; every job draws its own seeds from the kernel instead.
    (random and tempfile reseed themselves after a fork; numpy's global
    generator does not.) np.random.default_rng() and uuid4 already read
    the kernel's entropy on each call."""
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed()
    import random

    random.seed()


def prepare_request():
    """What a fork-server child does for its job before the job arrives,
    while it waits: nothing here depends on the request. It draws its
    seeds (each child serves one job, so they are as fresh as the job's
    own) and runs the harness's result path once on a dummy outcome, so
    that the pages the harness itself touches for every job are already
    copied and mapped (under gVisor each first touch traps: this took a
    hello job's set-up from about 25 ms to about 10 ms)."""
    _fresh_entropy()
    try:
        _encode({"ok": True, "value": {"status": "ok", "values": [1, 2.5, "x", None, True]}}, 1 << 16,
                {"usage": _usage(_usage(None))})
    except BaseException:
        pass  # only the warm-up failed: the job pays for its own first touches


def serve_request(prepared=False):
    """Runs one request end to end; never returns. prepared: the child ran
    prepare_request() while it waited."""
    request = _read_request()
    limits = request.get("limits", {})
    token = request["token"].encode()
    _apply_limits(limits)
    _bind_std_streams()
    if not prepared:
        _fresh_entropy()
    workdir = _prepare_workdir(request.get("files") or [])
    channel = os.fstat(RESULT_FD)
    start = _usage(None)
    _write_all(RESULT_FD, b"S\n")
    outcome = _run(request)
    usage = _usage(start)
    del usage["cpu"]
    extra = {"usage": usage}
    if workdir:
        try:
            extra.update(_collect_outputs(limits))
        except BaseException as exc:  # the script may have broken os or stat
            extra["files_skipped"] = [{"name": "", "reason": "outputs/ could not be read: %s" % type(exc).__name__}]
    try:
        payload = _encode(outcome, limits.get("result_bytes", 0), extra)
    except BaseException as exc:  # e.g. a __repr__ that raises while encoding
        payload = _dumps(dict(_error("result_not_json", "the result could not be encoded: %s" % type(exc).__name__),
                              **extra)).encode()
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
