# Files in and out (part of the job protocol). Before main() runs, the
# request's files are written into the job's working directory,
# /tmp/work (the job's private, size-capped /tmp), which becomes the
# current directory, with an empty outputs/ for the script to fill. After
# main(), every regular file under outputs/ goes back in the frame, read
# here inside the jail: the server never opens a path the script shaped.
# Symlinks, hard links, FIFOs, sockets and devices are never followed or
# read; they are reported as skipped, as is what the limits leave out.

_WORKDIR = "/tmp/work"
_OUTPUTS = "outputs"
# Bounds on the walk of outputs/: a script may leave a huge or deep tree.
_MAX_ENTRIES = 10000
_MAX_DEPTH = 32


def _prepare_workdir(files):
    """Makes the working directory, writes the request's files into it and
    enters it. Where /tmp is not writable (the chroot profile, which the
    server never sends files), the script keeps the read-only root."""
    import base64

    try:
        os.makedirs(_WORKDIR + "/" + _OUTPUTS, mode=0o700)
    except OSError:
        return False
    for f in files:
        name = f["name"]
        parts = name.split("/")
        if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError("bad file name %r" % name)  # the server checked it already
        path = _WORKDIR + "/" + name
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            _write_all(fd, base64.b64decode(f["content"]))
        finally:
            os.close(fd)
    os.chdir(_WORKDIR)
    return True


def _collect_outputs(limits):
    """The frame's files, files_skipped and files_truncated."""
    import base64
    import mimetypes
    import stat

    max_files = limits.get("output_files", 0)
    max_file = limits.get("output_file_bytes", 0)
    budget = limits.get("output_bytes", 0)
    files, skipped, truncated = [], [], False
    root = _WORKDIR + "/" + _OUTPUTS
    stack = [("", 0)]
    entries = 0

    def skip(name, reason):
        if len(skipped) < max_files:
            skipped.append({"name": name, "reason": reason})

    while stack and not truncated:
        rel, depth = stack.pop()
        try:
            it = list(os.scandir(root + "/" + rel if rel else root))
        except OSError as exc:
            skip(rel, "the directory cannot be read: %s" % exc.strerror)
            continue
        for entry in sorted(it, key=lambda e: e.name):
            entries += 1
            if entries > _MAX_ENTRIES:
                truncated = True
                skip(rel, "more than %d entries in outputs/: the rest is not listed" % _MAX_ENTRIES)
                break
            name = rel + "/" + entry.name if rel else entry.name
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                skip(name.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), "the name is not valid UTF-8")
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                skip(name, "gone while it was read")
                continue
            if stat.S_ISDIR(st.st_mode):
                if depth + 1 >= _MAX_DEPTH:
                    skip(name, "deeper than %d directories" % _MAX_DEPTH)
                else:
                    stack.append((name, depth + 1))
                continue
            if stat.S_ISLNK(st.st_mode):
                skip(name, "a symbolic link (not followed)")
                continue
            if not stat.S_ISREG(st.st_mode):
                skip(name, "not a regular file (a FIFO, socket or device)")
                continue
            if st.st_nlink > 1:
                skip(name, "a hard link (not read)")
                continue
            if len(files) >= max_files:
                truncated = True
                skip(name, "more than %d files" % max_files)
                break
            if st.st_size > max_file:
                skip(name, "%d bytes, over the %d-byte limit for one file" % (st.st_size, max_file))
                continue
            if st.st_size > budget:
                truncated = True
                skip(name, "over what is left of the %d-byte limit for all files" % limits.get("output_bytes", 0))
                continue
            data = _read_regular(root + "/" + name, st, max_file)
            if data is None:
                skip(name, "changed while it was read, or grew past the limit")
                continue
            budget -= len(data)
            files.append({
                "name": name,
                "size": len(data),
                "content_type": mimetypes.guess_type(name)[0] or "application/octet-stream",
                "content": base64.b64encode(data).decode("ascii"),
            })
    return {"files": files, "files_skipped": skipped, "files_truncated": truncated}


def _read_regular(path, st, limit):
    """The file's bytes if it is still the regular file st describes and
    not over limit; None otherwise. Opened without following a link and
    without blocking (a FIFO swapped in would otherwise hang)."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or now.st_nlink > 1:
            return None
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            return None
        return b"".join(chunks)
    finally:
        os.close(fd)
