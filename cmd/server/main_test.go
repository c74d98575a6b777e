package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"nope"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage") {
		t.Fatalf("unknown command: %d %q", code, errb.String())
	}
	if code := run([]string{"--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "submit") {
		t.Fatalf("help: %d", code)
	}
	if code := run([]string{"submit", "--topic", "t"}, &out, &errb); code != 2 {
		t.Fatalf("submit without files: %d", code)
	}
	errb.Reset()
	if code := run([]string{"submit", "--project", "p", "--topic", "t", "--id", "../x", "f.py"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--id") {
		t.Fatalf("submit with a bad id: %d %q", code, errb.String())
	}
	if code := run([]string{"submit", "--project", "p", "--topic", "t", "--id", "a", "f.py", "g.py"}, &out, &errb); code != 2 {
		t.Fatalf("submit --id with two files: %d", code)
	}
}

func TestDurationEnv(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 9 * time.Second, "5s": 5 * time.Second, "3": 3 * time.Second, "1500ms": 1500 * time.Millisecond} {
		t.Setenv("SHUTDOWN_TIMEOUT", v)
		got, err := durationEnv("SHUTDOWN_TIMEOUT", 9*time.Second)
		if err != nil || got != want {
			t.Errorf("%q: %v %v", v, got, err)
		}
	}
	for _, v := range []string{"-1s", "0", "soon"} {
		t.Setenv("SHUTDOWN_TIMEOUT", v)
		if _, err := durationEnv("SHUTDOWN_TIMEOUT", time.Second); err == nil {
			t.Errorf("%q accepted", v)
		}
	}
}

func TestResultLocation(t *testing.T) {
	t.Setenv("RESULTS_BUCKET", "b")
	t.Setenv("RESULTS_PREFIX", "/p/")
	if got := resultLocation("id1"); got != "gs://b/p/id1.json" {
		t.Fatal(got)
	}
	t.Setenv("RESULTS_BUCKET", "")
	t.Setenv("RESULTS_PREFIX", "")
	t.Setenv("RESULTS_DIR", "/tmp/r")
	if got := resultLocation("id1"); got != "/tmp/r/results/id1.json" {
		t.Fatal(got)
	}
}
