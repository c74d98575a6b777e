// Package harness holds the Python program that runs inside every jail
// around the user's script. See harness.py for its protocol.
package harness

import _ "embed"

// Source is passed to the jailed interpreter with -c, so the harness always
// matches the server binary and the runtime tree never needs rebuilding
// when it changes.
//
//go:embed harness.py
var Source string
