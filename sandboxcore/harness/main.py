# The harness's entry point: argv[1] chooses the mode (see protocol.py).


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "job"
    if mode == "zygote":
        serve_zygote(sys.argv[2] == "chroot", sys.argv[3] == "threads", int(sys.argv[4]), int(sys.argv[5]),
                     sys.argv[6:])
    _preload(sys.argv[2:])
    _write_all(RESULT_FD, b"R\n")
    serve_request()


main()
