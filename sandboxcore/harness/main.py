# The harness's entry point: argv[1] chooses the mode (see protocol.py).


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "job"
    if mode == "zygote":
        serve_zygote(sys.argv[2] == "chroot", sys.argv[3] == "threads", int(sys.argv[4]), int(sys.argv[5]),
                     sys.argv[6:])
    # job <tmp_bytes> <preload...>: tmp_bytes > 0 only where the jail
    # mounts its own /tmp (the chroot profile's private /tmp).
    tmp_bytes = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    if tmp_bytes:
        try:
            _become_chroot_jail(tmp_bytes)
        except BaseException:
            _setup_failed()
    _preload(sys.argv[3:])
    _write_all(RESULT_FD, b"R\n")
    serve_request()


main()
