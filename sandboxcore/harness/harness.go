// Package harness holds the Python program that runs inside every jail
// around the user's script, one concern per file: protocol.py (the job
// protocol with sandboxcore: request, marks, result frame), encode.py (the
// result's JSON rules), files.py (files in and out),
// jailsetup.py (what a fork-server child does to itself before its job:
// seccomp, capabilities, uid, mounts), zygote.py (the fork server's loop)
// and main.py (the entry point).
package harness

import (
	_ "embed"
	"strings"
)

var (
	//go:embed protocol.py
	protocol string
	//go:embed encode.py
	encode string
	//go:embed files.py
	files string
	//go:embed jailsetup.py
	jailSetup string
	//go:embed zygote.py
	zygote string
	//go:embed main.py
	entry string
)

// Source is the files joined into one program. It is passed to the jailed
// interpreter with -c, so the harness always matches the server binary and
// the runtime tree never needs rebuilding when it changes.
var Source = strings.Join([]string{protocol, encode, files, jailSetup, zygote, entry}, "\n\n")
