// Package infra holds the sandbox's static configuration files so that the
// server binary carries exactly the policy that was reviewed and tested.
package infra

import _ "embed"

// SeccompPolicy is the Kafel policy shared by every profile. It defines
// POLICY blocks only; sandboxcore appends the USE line for the profile.
//
//go:embed seccomp/policy.kafel
var SeccompPolicy string

// NamespacesConfig is the NsJail config template of the namespaces profile.
//
//go:embed nsjail/namespaces.cfg
var NamespacesConfig string
