// Package sandboxcore is the one way to run an untrusted Python script:
// Execute takes a Request (the script and its limits) and returns what
// main() returned, what the script printed, and how it ended, as one of a
// closed set of codes. It knows nothing of HTTP or Pub/Sub.
//
// What it guarantees, on every path: the script runs inside NsJail as an
// unprivileged host uid of its own, with no network, no credentials, no
// view of the host or of other jobs, within its wall, CPU, memory, file and
// process limits; nothing of it outlives its wall limit; nothing is ever run
// unsandboxed (New fails closed). docs/threat-model.md lists every threat
// class, the layer that stops it in each profile, and its test.
//
// Profiles (chosen at start-up by running a real probe script; see
// profile.go): "namespaces" gives each job fresh user, pid, net, mount,
// ipc, uts and cgroup namespaces; "chroot", for hosts that cannot create
// namespaces (Cloud Run's first generation, gVisor), chroots into the
// runtime tree and leans on seccomp and per-job uids instead.
//
// Executors: "fork" (the default fast path: a fork server with numpy and
// pandas imported forks one single-use child per job; forkserver.go,
// zygote.go and the harness's zygote.py), "warm" (pre-started single-use
// jails; pool.go) and "cold" (a fresh jail per request).
//
// Where to start reading: sandbox.go (New, Execute), check.go (every
// request limit), then jail.go and zygote.go (how a job is started),
// jobio.go (its I/O) and classify.go (how its end becomes a Result). The
// Python side is in harness/.
package sandboxcore
