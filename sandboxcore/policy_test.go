package sandboxcore

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"python-api/infra"
	"python-api/sandboxcore/harness"
)

// The fork server's children install, in the harness, the rules the fork
// server itself must go without (it makes namespaces and switches uids).
// Those lists are the policy's own blocks, kept in one place each: this
// test fails when either side changes alone.
func TestChildDenyListMatchesPolicy(t *testing.T) {
	for policy, list := range map[string]string{
		"deny_namespaces": "_CHILD_DENY_NAMESPACES",
		"deny_identity":   "_CHILD_DENY_IDENTITY",
	} {
		want := policyCalls(t, policy)
		got := harnessList(t, list)
		// Kafel spells umount2 "umount"; clone is filtered by its flags in
		// both places, so it is not in the plain list.
		for i, c := range want {
			if c == "umount" {
				want[i] = "umount2"
			}
		}
		want = slices.DeleteFunc(want, func(c string) bool { return c == "clone" })
		// The harness also denies the newer mount calls Kafel 3.6 lacks.
		got = slices.DeleteFunc(got, func(c string) bool { return c == "mount_setattr" })
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Errorf("POLICY %s = %v, harness %s = %v", policy, want, list, got)
		}
	}
}

// policyCalls lists the syscall names in one POLICY block of the policy.
func policyCalls(t *testing.T, name string) []string {
	t.Helper()
	start := strings.Index(infra.SeccompPolicy, "POLICY "+name+" {")
	if start < 0 {
		t.Fatalf("no POLICY %s", name)
	}
	body := infra.SeccompPolicy[start:]
	body = body[strings.Index(body, "{")+1:]
	depth, end := 1, 0
	for i, r := range body {
		if r == '{' {
			depth++
		} else if r == '}' {
			depth--
		}
		if depth == 0 {
			end = i
			break
		}
	}
	body = regexp.MustCompile(`//[^\n]*`).ReplaceAllString(body[:end], "")
	body = regexp.MustCompile(`\{[^{}]*\}`).ReplaceAllString(strings.Replace(body, "ERRNO(1) {", "", 1), "")
	return strings.FieldsFunc(body, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '}' })
}

// harnessList reads a list of quoted names assigned to name in the harness.
func harnessList(t *testing.T, name string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?s)\n` + name + ` = \[(.*?)\]`).FindStringSubmatch(harness.Source)
	if m == nil {
		t.Fatalf("no %s in the harness", name)
	}
	var out []string
	for _, q := range regexp.MustCompile(`"([a-z0-9_]+)"`).FindAllStringSubmatch(m[1], -1) {
		out = append(out, q[1])
	}
	return out
}
