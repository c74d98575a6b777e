package sandboxcore

// One test per row of docs/threat-model.md, each run in both profiles, each
// checking the host side as well as what the script reports, and each
// followed by a normal script that must still work.

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// attack runs one threat in both profiles, then proves the service works.
func attack(t *testing.T, fn func(t *testing.T, s *Sandbox)) {
	eachProfile(t, func(t *testing.T, s *Sandbox) {
		fn(t, s)
		stillWorks(t, s)
	})
}

// T01: writes outside the sandbox fail and nothing appears on the host.
func TestAttack01WriteOutside(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, `import os
def main():
    out = {}
    for p in ["/usr/x", "/should_fail", "/etc/passwd", "/opt/nsjail/bin/nsjail"]:
        try:
            open(p, "a").write("x")
            out[p] = "written"
        except OSError as e:
            out[p] = type(e).__name__
    try:
        os.mkdir("/should_fail")
        out["mkdir"] = "made"
    except OSError as e:
        out["mkdir"] = type(e).__name__
    return out
`)
		for p, v := range resultMap(t, res) {
			if v == "written" || v == "made" {
				t.Errorf("%s: %v", p, v)
			}
		}
		for _, p := range []string{"/should_fail", "/usr/x", filepath.Join(s.cfg.Rootfs, "should_fail"), filepath.Join(s.cfg.Rootfs, "usr/x")} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("%s exists on the host", p)
			}
		}
	})
}

// T02: the service's files are not in the sandbox root.
func TestAttack02ReadTheService(t *testing.T) {
	exe, _ := os.Executable()
	attack(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, fmt.Sprintf(`import os
def main():
    found = []
    for p in ["/app", "/app/server", "/work", "/root/.config", "/proc/self", "/sys/kernel", %q, %q, %q]:
        if os.path.exists(p):
            found.append(p)
    return {"root": sorted(os.listdir("/")), "found": found}
`, exe, s.workDir, s.cfg.Rootfs))
		m := resultMap(t, res)
		if found := m["found"].([]any); len(found) != 0 {
			t.Errorf("the sandbox sees host paths: %v", found)
		}
		root := fmt.Sprint(m["root"])
		for _, name := range []string{"app", "work", "python-api"} {
			if strings.Contains(root, name) {
				t.Errorf("sandbox root lists %q: %s", name, root)
			}
		}
	})
}

// T03: path traversal stays inside the sandbox root.
func TestAttack03PathTraversal(t *testing.T) {
	secret := filepath.Join(os.TempDir(), "python-api-host-only-"+strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(secret, []byte(hostSecret), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(secret)
	attack(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, fmt.Sprintf(`def main():
    out = []
    for p in ["../"*30 + "etc/shadow", "../"*30 + %q, "/../../../" + %q]:
        try:
            out.append(open(p).read())
        except OSError as e:
            out.append(type(e).__name__)
    return out
`, strings.TrimPrefix(secret, "/"), strings.TrimPrefix(secret, "/")))
		if bytes.Contains(res.Result, []byte(hostSecret)) {
			t.Fatalf("read a host file: %s", res.Result)
		}
		if bytes.Contains(res.Result, []byte("root:")) {
			t.Fatalf("read /etc/shadow: %s", res.Result)
		}
	})
}

// T04: the classic double-chroot escape is denied.
func TestAttack04ChrootEscape(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, `import os
def main():
    try:
        os.makedirs("/tmp/d", exist_ok=True)
    except OSError:
        pass
    try:
        os.chroot("/tmp/d")
    except OSError as e:
        return "denied: " + type(e).__name__
    os.chdir("../" * 40)
    os.chroot(".")
    return sorted(os.listdir("/"))
`)
		wantOK(t, res, "denied: PermissionError")
	})
}

// T05: the only descriptors are the harness's own pipes.
func TestAttack05InheritedDescriptors(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, `import os, stat
def main():
    found = {}
    for fd in range(0, 1024):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        kind = "fifo" if stat.S_ISFIFO(st.st_mode) else "dir" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else "other"
        found[str(fd)] = kind
    return found
`)
		m := resultMap(t, res)
		for fd, kind := range m {
			if kind != "fifo" {
				t.Errorf("fd %s is a %v: a host descriptor leaked", fd, kind)
			}
		}
		if len(m) > 4 {
			t.Errorf("more descriptors than stdin/stdout/stderr/result: %v", m)
		}
	})
}

// T06 and T07: only allow-listed environment; no credentials anywhere.
func TestAttack06And07EnvironmentAndCredentials(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, `import os, glob
def main():
    seen = {"env": dict(os.environ), "files": []}
    for p in ["/proc/1/environ", "/proc/self/environ"]:
        try:
            seen["files"].append(open(p, "rb").read().decode(errors="replace"))
        except OSError:
            pass
    for pattern in ["/root/.config/gcloud/*", "/secrets/*", "/var/run/secrets/*", "/etc/gcloud/*", "/home/*/.config/gcloud/*", "/proc/*/environ"]:
        seen["files"].extend(glob.glob(pattern))
    return seen
`)
		m := resultMap(t, res)
		env := m["env"].(map[string]any)
		allowed := map[string]bool{}
		for _, kv := range jailEnv {
			allowed[strings.SplitN(kv, "=", 2)[0]] = true
		}
		for k := range env {
			// LC_CTYPE is set by the interpreter itself from LC_ALL.
			if !allowed[k] && k != "LC_CTYPE" {
				t.Errorf("variable %s is not on the allow-list", k)
			}
		}
		if bytes.Contains(res.Result, []byte(hostSecret)) || bytes.Contains(res.Result, []byte("GOOGLE_APPLICATION_CREDENTIALS")) {
			t.Fatalf("a host secret reached the job: %s", res.Result)
		}
		if files := m["files"].([]any); len(files) != 0 {
			t.Errorf("credential or environ files visible: %v", files)
		}
	})
}

// listener stands in for the metadata server and for the service's own port.
type listener struct {
	net.Listener
	mu       sync.Mutex
	accepted int
}

func listen(t *testing.T) *listener { return listenOn(t, "127.0.0.1:0") }

func listenOn(t *testing.T, addr string) *listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{Listener: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.mu.Lock()
			l.accepted++
			l.mu.Unlock()
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return l
}

func (l *listener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accepted
}

// T08, T09, T10: no socket to the metadata server, the internet, DNS or the
// service's own port; the host-side listeners see no connection. Every
// target is on loopback (stand-ins for the metadata server and for the
// outside), so even a broken jail would send nothing off this machine.
func TestAttack08To10Network(t *testing.T) {
	metadata, service, outside := listen(t), listen(t), listenOn(t, "127.0.0.2:0")
	attack(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, fmt.Sprintf(`import socket, urllib.request
def main():
    out = {}
    targets = {"metadata": ("127.0.0.1", %[1]d), "service": ("127.0.0.1", %[2]d),
               "egress": ("127.0.0.2", %[3]d), "egress6": ("::1", %[2]d)}
    for name, addr in targets.items():
        try:
            socket.create_connection(addr, timeout=2).close()
            out[name] = "connected"
        except OSError as e:
            out[name] = type(e).__name__
    try:
        socket.getaddrinfo("metadata.google.internal", 80)
        out["dns"] = "resolved"
    except OSError as e:
        out["dns"] = type(e).__name__
    try:
        req = urllib.request.Request("http://127.0.0.1:%[1]d/computeMetadata/v1/instance/service-accounts/default/token",
                                     headers={"Metadata-Flavor": "Google"})
        urllib.request.urlopen(req, timeout=2)
        out["token"] = "fetched"
    except Exception as e:
        out["token"] = type(e).__name__
    return out
`, port(metadata), port(service), port(outside)))
		for name, v := range resultMap(t, res) {
			if v == "connected" || v == "resolved" || v == "fetched" {
				t.Errorf("%s: %v", name, v)
			}
		}
	})
	if n := metadata.count() + service.count() + outside.count(); n != 0 {
		t.Fatalf("host listeners accepted %d connections from jobs", n)
	}
}

func port(l *listener) int { return l.Addr().(*net.TCPAddr).Port }

// T11: raw, packet and netlink sockets are denied.
func TestAttack11RawSockets(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, `import socket
def main():
    out = {}
    for name, args in {"raw": (socket.AF_INET, socket.SOCK_RAW, 1), "packet": (socket.AF_PACKET, socket.SOCK_RAW, 0),
                       "netlink": (socket.AF_NETLINK, socket.SOCK_RAW, 0), "unix": (socket.AF_UNIX, socket.SOCK_STREAM, 0)}.items():
        try:
            socket.socket(*args)
            out[name] = "opened"
        except OSError as e:
            out[name] = type(e).__name__
    return out
`)
		wantOK(t, res, map[string]any{"raw": "PermissionError", "packet": "PermissionError", "netlink": "PermissionError", "unix": "PermissionError"})
	})
}

// ctypesSyscalls calls raw syscalls through libc and reports their results.
const ctypesSyscalls = `import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sys_call(nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return r if r >= 0 else -ctypes.get_errno()
`

// T12, T24, T26, T27: syscalls made behind Python's back get the same
// answer as the Python path.
func TestAttack12SyscallsBehindPythonsBack(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, ctypesSyscalls+`
def main():
    ppid = os.getppid()
    return {
        "socket_inet": sys_call(41, 2, 1, 0),
        "socket_unix": sys_call(41, 1, 1, 0),
        "setuid0": sys_call(105, 0),
        "chmod": sys_call(90, ctypes.addressof(ctypes.create_string_buffer(b"/tmp")), 0o777),
        "mount": sys_call(165, 0, ctypes.addressof(ctypes.create_string_buffer(b"/tmp")), ctypes.addressof(ctypes.create_string_buffer(b"tmpfs")), 0, 0),
        "ptrace_attach": sys_call(101, 16, ppid, 0, 0),
        "unshare_user": sys_call(272, 0x10000000),
        "unshare_net": sys_call(272, 0x40000000),
        "clone_newuser": sys_call(56, 0x10000000 | 17, 0, 0, 0, 0),
        "setns": sys_call(308, 0, 0),
        "bpf": sys_call(321, 0, 0, 0),
        "io_uring_setup": sys_call(425, 8, 0),
        "userfaultfd": sys_call(323, 0),
        "perf_event_open": sys_call(298, 0, 0, -1, -1, 0),
        "keyctl": sys_call(250, 0, 0, 0, 0, 0),
        "add_key": sys_call(248, 0, 0, 0, 0, 0),
        "process_vm_readv": sys_call(310, ppid, 0, 0, 0, 0, 0),
        "personality": sys_call(135, 0x0040000),
        "kexec_load": sys_call(246, 0, 0, 0, 0),
        "init_module": sys_call(175, 0, 0, 0),
        "reboot": sys_call(169, 0xfee1dead, 672274793, 0x1234567, 0),
        "clone3": sys_call(435, 0, 0),
    }
`)
		m := resultMap(t, res)
		for name, v := range m {
			n, _ := v.(float64)
			want := -1.0 // EPERM
			switch name {
			case "socket_inet", "socket_unix":
				want = -13 // EACCES
			case "clone3":
				want = -38 // ENOSYS, so glibc falls back to clone
			}
			if n != want {
				t.Errorf("%s returned %v, want %v", name, v, want)
			}
		}
	})
}

// processesWithComm lists live host processes whose name is comm.
func processesWithComm(comm string) []int {
	var pids []int
	for _, p := range hostProcesses() {
		if p.comm == comm && p.state != 'Z' {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

// nameSelf renames the calling process so the host can find it.
const nameSelf = `import ctypes
def name_self(name):
    ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name.encode()), 0, 0, 0)
`

func noSurvivors(t *testing.T, comm string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		pids := processesWithComm(comm)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job processes still running after the answer: %v", pids)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// T13: a fork bomb hits the process limit and ends; the host is fine.
func TestAttack13ForkBomb(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		comm := "bomb" + strconv.Itoa(os.Getpid()%10000)
		res := execute(t, s, Request{Script: nameSelf + fmt.Sprintf(`import os
def main():
    name_self(%q)
    n = 0
    while True:
        try:
            if os.fork() == 0:
                name_self(%q)
                while True:
                    try:
                        os.fork()
                    except OSError:
                        pass
            n += 1
        except OSError as e:
            return {"forked": n, "stopped_by": type(e).__name__}
`, comm, comm), Timeout: 5 * time.Second})
		if res.Error != nil {
			wantCode(t, res, CodeTimeout, CodeKilled, CodeRuntimeError)
		} else if m := resultMap(t, res); m["forked"].(float64) > float64(s.cfg.Default.Processes) {
			t.Errorf("forked %v processes, limit %d", m["forked"], s.cfg.Default.Processes)
		}
		noSurvivors(t, comm)
	})
}

// T14: memory bombs get memory_limit; the host is fine.
func TestAttack14MemoryBomb(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, "def main():\n    b = b' ' * 10**10\n    return len(b)\n")
		wantCode(t, res, CodeMemoryLimit)
		res = run(t, s, "import numpy\ndef main():\n    return float(numpy.ones(10**10).sum())\n")
		wantCode(t, res, CodeMemoryLimit)
		res = run(t, s, "def main():\n    chunks = []\n    while True:\n        chunks.append(bytearray(10**7))\n")
		wantCode(t, res, CodeMemoryLimit, CodeKilled)
	})
}

// T15: CPU loops and sleeps end with timeout close to the limit.
func TestAttack15CPUAndSleep(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		for _, script := range []string{"def main():\n    while True:\n        pass\n", "import time\ndef main():\n    time.sleep(3600)\n"} {
			start := time.Now()
			res := execute(t, s, Request{Script: script, Timeout: 1500 * time.Millisecond})
			wantCode(t, res, CodeTimeout)
			if took := time.Since(start); took < 1500*time.Millisecond || took > 4*time.Second {
				t.Errorf("timeout after %v, limit 1.5s", took)
			}
		}
	})
}

// T16: double-forked daemons die with the job.
func TestAttack16SurvivingProcesses(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		comm := "daemon" + strconv.Itoa(os.Getpid()%10000)
		res := run(t, s, nameSelf+fmt.Sprintf(`import os, time
def main():
    try:
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                name_self(%q)
                time.sleep(3600)
            os._exit(0)
    except OSError as e:
        return "fork denied: " + type(e).__name__
    time.sleep(0.2)
    return "daemonized"
`, comm))
		if res.Error != nil {
			t.Fatalf("%+v", res.Error)
		}
		noSurvivors(t, comm)
	})
}

// T17: filling /tmp stops at its cap; host disk untouched.
func TestAttack17DiskFill(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		var before syscall.Statfs_t
		_ = syscall.Statfs(s.cfg.Rootfs, &before)
		res := run(t, s, `import os
def main():
    written = 0
    try:
        with open("/tmp/fill", "wb") as f:
            while True:
                f.write(b"x" * (1 << 20))
                f.flush()
                written += 1 << 20
    except OSError as e:
        return {"written": written, "error": type(e).__name__}
`)
		m := resultMap(t, res)
		if w := m["written"].(float64); w > float64(s.cfg.Default.TmpMB<<20) || (s.prof.workdir && w < float64(s.cfg.Default.TmpMB<<19)) {
			t.Errorf("wrote %v bytes to /tmp, cap %d MiB", w, s.cfg.Default.TmpMB)
		}
		var after syscall.Statfs_t
		_ = syscall.Statfs(s.cfg.Rootfs, &after)
		if lost := (int64(before.Bavail) - int64(after.Bavail)) * before.Bsize; lost > 32<<20 {
			t.Errorf("host disk lost %d bytes", lost)
		}
	})
}

// T18: output floods are truncated at the cap and flagged.
func TestAttack18OutputFlood(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, `import os, sys
def main():
    chunk = "y" * 65536
    for _ in range(600):
        sys.stdout.write(chunk)
        os.write(2, chunk.encode())
    return "done"
`)
		wantOK(t, res, "done")
		if !res.StdoutTruncated || !res.StderrTruncated {
			t.Errorf("truncation flags: stdout %v stderr %v", res.StdoutTruncated, res.StderrTruncated)
		}
		if len(res.Stdout) != s.cfg.Default.StdoutBytes || len(res.Stderr) != s.cfg.Default.StderrBytes {
			t.Errorf("captured %d/%d bytes, caps %d/%d", len(res.Stdout), len(res.Stderr), s.cfg.Default.StdoutBytes, s.cfg.Default.StderrBytes)
		}
	})
}

// T19: huge or deeply nested results are refused cleanly.
func TestAttack19HugeOrDeepResult(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, fmt.Sprintf("def main():\n    return 'x' * %d\n", s.cfg.Default.ResultBytes+1))
		wantCode(t, res, CodeResultTooLarge)
		res = run(t, s, "def main():\n    v = []\n    for _ in range(10**6):\n        v = [v]\n    return v\n")
		wantCode(t, res, CodeResultNotJSON)
		res = run(t, s, "def main():\n    return 'x' * 10**9\n")
		wantCode(t, res, CodeMemoryLimit, CodeResultTooLarge)
	})
}

// T19 (error text): a huge exception message is the script's error,
// clipped, not a result_too_large.
func TestAttack19HugeErrorMessage(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, "def main():\n    raise ValueError('x' * 20_000_000)\n")
		wantCode(t, res, CodeRuntimeError)
		if n := len(res.Error.Message) + len(res.Error.Traceback); n > 100<<10 || !strings.Contains(res.Error.Message, "characters cut") {
			t.Errorf("error text is %d bytes: %.200q", n, res.Error.Message)
		}
	})
}

// T20: values JSON cannot hold are named in the error, with where they
// sit. (NaN and Inf are null, by the documented rule set: encode.py.)
func TestAttack20NonJSONResults(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		wantOK(t, run(t, s, "def main():\n    return [float('nan'), {'k': float('inf')}]\n"), []any{nil, map[string]any{"k": nil}})
		for expr, want := range map[string]string{
			"{1, 2}": "result is a set", "object()": "result is an object", "b'x'": "result is a bytes",
			"{'rows': [1, {2}]}": `result["rows"][1] is a set`, "{(1, 2): 3}": "result[(1, 2)] (a key) is a tuple",
			"[complex(1, 2)]": "result[0] is a complex",
		} {
			res := run(t, s, "def main():\n    return "+expr+"\n")
			wantCode(t, res, CodeResultNotJSON)
			if !strings.Contains(res.Error.Message, want) {
				t.Errorf("%s: message %q does not name %q", expr, res.Error.Message, want)
			}
		}
	})
}

// T21: forged envelopes on stdout or the result fd do not replace main()'s value.
func TestAttack21ResultForgery(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, `import os
FAKE = '{"ok": true, "result": "forged"}'
print(FAKE)
def main():
    print('{"result": "forged", "stdout": ""}')
    os.write(3, b"00000000000000000000000000000000\n" + FAKE.encode())
    os.write(3, b"R\n" + FAKE.encode() + b"\n")
    return "genuine"
`)
		wantOK(t, res, "genuine")
	})
}

// T22: closing or replacing the standard and result descriptors gives a
// clean answer and never a hang.
func TestAttack22DescriptorGames(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		start := time.Now()
		wantOK(t, run(t, s, "import os\ndef main():\n    os.close(1)\n    os.close(2)\n    return 'still here'\n"), "still here")
		wantCode(t, run(t, s, "import os\ndef main():\n    os.close(3)\n    return 1\n"), CodeRuntimeError)
		wantCode(t, run(t, s, "import os\ndef main():\n    os.dup2(1, 3)\n    return 1\n"), CodeRuntimeError)
		wantCode(t, run(t, s, "import os\ndef main():\n    r, w = os.pipe()\n    os.dup2(r, 3)\n    return 1\n"), CodeRuntimeError)
		wantOK(t, run(t, s, "import os\ndef main():\n    os.dup2(2, 1)\n    print('to stderr')\n    return 2\n"), 2)
		res := run(t, s, "import os\ndef main():\n    os.dup2(os.open('/dev/null', os.O_WRONLY), 3)\n    return 1\n")
		wantCode(t, res, CodeRuntimeError)
		if !strings.Contains(res.Error.Message, "result channel (fd 3)") {
			t.Errorf("/dev/null over fd 3: %q", res.Error.Message)
		}
		if time.Since(start) > 20*time.Second {
			t.Errorf("descriptor games took %v", time.Since(start))
		}
	})
}

// T23: signals cannot reach anything outside the job.
func TestAttack23Signals(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		restarts := int64(0)
		if fs := s.Health().ForkServer; fs != nil {
			restarts = fs.Restarts
		}
		before := s.Health().Pool.Warm
		res := run(t, s, `import os, signal
def main():
    out = {}
    for name, pid in {"parent": os.getppid(), "group": 0, "everyone": -1, "init": 1}.items():
        try:
            os.kill(pid, signal.SIGKILL)
            out[name] = "sent"
        except OSError as e:
            out[name] = type(e).__name__
    return out
`)
		if res.Error != nil {
			wantCode(t, res, CodeKilled, CodeRuntimeError)
		}
		if before > 0 {
			// Warm jails and the fork server are out of reach: still there.
			waitFor(t, func() bool { return s.Health().Pool.Warm >= 1 })
		}
		if fs := s.Health().ForkServer; fs != nil && (fs.Restarts != restarts || !fs.Alive) {
			t.Errorf("the job's signals reached the fork server: %+v", fs)
		}
	})
}

// T25: the seed's privilege calls are denied.
func TestAttack25PrivilegeCalls(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, `import os
def main():
    out = {}
    try:
        fd = os.open("/tmp/suid", os.O_CREAT | os.O_WRONLY, 0o644)
        os.close(fd)
        path = "/tmp/suid"
    except OSError:
        path = "/usr/bin/python3"
    for name, call in {"setuid": lambda: os.setuid(0), "setgid": lambda: os.setgid(0),
                       "setgroups": lambda: os.setgroups([0]), "chown": lambda: os.chown(path, 0, 0),
                       "chmod_suid": lambda: os.chmod(path, 0o4755)}.items():
        try:
            call()
            out[name] = "allowed"
        except OSError as e:
            out[name] = type(e).__name__
    return out
`)
		for name, v := range resultMap(t, res) {
			if v != "PermissionError" {
				t.Errorf("%s: %v", name, v)
			}
		}
	})
}

// T28: native code written to /tmp cannot be run or loaded.
func TestAttack28NativeCode(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, `import os, ctypes, subprocess
def main():
    out = {}
    try:
        for src, dst in [("/usr/bin/true", "/tmp/true"), ("/usr/lib/x86_64-linux-gnu/libz.so.1", "/tmp/libz.so")]:
            data = open(src, "rb").read()
            fd = os.open(dst, os.O_CREAT | os.O_WRONLY, 0o755)
            os.write(fd, data)
            os.close(fd)
    except OSError as e:
        return {"write": type(e).__name__}
    try:
        os.execv("/tmp/true", ["/tmp/true"])
    except OSError as e:
        out["exec"] = type(e).__name__
    try:
        ctypes.CDLL("/tmp/libz.so")
        out["dlopen"] = "loaded"
    except OSError as e:
        out["dlopen"] = "OSError"
    return out
`)
		m := resultMap(t, res)
		if _, ok := m["write"]; ok {
			if s.prof.workdir {
				t.Fatalf("the job's own /tmp was not writable: %v", m)
			}
			return // /tmp is not writable at all (a chroot profile without a private /tmp)
		}
		if m["exec"] != "PermissionError" || m["dlopen"] != "OSError" {
			t.Errorf("native code ran: %v", m)
		}
	})
}

// T29: exits of every kind are reported as "main returned nothing".
func TestAttack29Exits(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		for _, script := range []string{
			"import sys\ndef main():\n    sys.exit(0)\n",
			"import os\ndef main():\n    os._exit(0)\n",
			"raise SystemExit\ndef main():\n    return 1\n",
			"def main():\n    raise KeyboardInterrupt\n",
		} {
			res := run(t, s, script)
			wantCode(t, res, CodeRuntimeError)
			if !contains(res.Error.Message, "main") && !contains(res.Error.Message, "exit") {
				t.Errorf("%q: message %q", script, res.Error.Message)
			}
		}
	})
}

// T30: runaway recursion ends cleanly.
func TestAttack30Recursion(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		// Python 3.11 frames live on the heap, so the recursion ends at the
		// memory limit; a small one keeps the test short.
		// Under gVisor filling 256 MiB with frames takes about 11 s, hence
		// the longer limit: the recursion must end by itself.
		res := execute(t, s, Request{Script: "import sys\nsys.setrecursionlimit(10**7)\ndef f(n):\n    return f(n + 1)\ndef main():\n    return f(0)\n",
			MemoryMB: MinMemoryMB, Timeout: 45 * time.Second})
		wantCode(t, res, CodeRuntimeError, CodeKilled, CodeMemoryLimit)
	})
}

// T31: odd bytes still give a valid JSON answer.
func TestAttack31OddText(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, "import os\ndef main():\n    os.write(1, b'\\xff\\xfe ok \\x00')\n    print('\\ud800')\n    return '\\ud800 lone'\n")
		if res.Error != nil {
			t.Fatalf("%+v", res.Error)
		}
		if !strings.Contains(res.Stdout, "\uFFFD") || !strings.Contains(res.Stdout, " ok ") {
			t.Errorf("stdout = %q", res.Stdout)
		}
		if string(res.Result) != `"\ud800 lone"` {
			t.Errorf("result = %s", res.Result)
		}
	})
}

// T33: nothing of job A is visible to job B, concurrently or later.
func TestAttack33CrossExecutionLeak(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		leave := `import os, ctypes, time
def main():
    made = []
    try:
        open("/tmp/leak-marker", "w").write("A was here")
        made.append("file")
    except OSError:
        pass
    try:
        open("outputs/leak-marker", "w").write("A was here")
        made.append("output")
    except OSError:
        pass
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.shmget(0x5151, 4096, 0o1666) >= 0:
        made.append("shm")
    time.sleep(1.5)
    return made
`
		look := `import os, ctypes
def main():
    libc = ctypes.CDLL(None, use_errno=True)
    others = []
    for pid in range(1, 4096):
        if pid in (os.getpid(), os.getppid()):
            continue
        try:
            os.kill(pid, 0)
            others.append(pid)
        except OSError:
            pass
    # /tmp/work is every job's own working directory (files in and out).
    tmp = sorted(os.listdir("/tmp")) if os.path.isdir("/tmp") else []
    return {"tmp": [n for n in tmp if n != "work"],
            "outputs": sorted(os.listdir("outputs")) if os.path.isdir("outputs") else [],
            "shm": libc.shmget(0x5151, 0, 0) >= 0, "processes": others}
`
		var wg sync.WaitGroup
		var a Result
		wg.Add(1)
		go func() { defer wg.Done(); a = run(t, s, leave) }()
		time.Sleep(500 * time.Millisecond)
		concurrent := run(t, s, look)
		wg.Wait()
		later := run(t, s, look)
		t.Logf("job A made %s", a.Result)
		for name, res := range map[string]Result{"concurrent": concurrent, "later": later} {
			if res.Error != nil || string(res.Result) != `{"tmp": [], "outputs": [], "shm": false, "processes": []}` {
				t.Errorf("%s job saw something of job A: %s %+v", name, res.Result, res.Error)
			}
		}
	})
}
