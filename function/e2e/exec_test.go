package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bin/server exec FILE: the result JSON on stdout; exit 0 ok, 1 script
// error, 2 usage.
func TestExecCommand(t *testing.T) {
	needsLocalServer(t, "it runs this checkout's bin/server exec, not the server at SERVER_URL")
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		args []string
		exit int
		code string
	}{
		{"ok", []string{"exec", write("ok.py", "def main():\n    print('hi')\n    return {'n': 1}")}, 0, ""},
		{"script error", []string{"exec", write("div.py", "def main():\n    return 1/0")}, 1, "runtime_error"},
		{"timeout flag", []string{"exec", "--timeout-ms", "200", write("loop.py", "def main():\n    while True:\n        pass")}, 1, "timeout"},
		{"input file", []string{"exec", "--input", write("in.json", `{"n": 1}`), write("in.py", "def main(data):\n    print('hi')\n    return {'n': data['n']}")}, 0, ""},
		{"input on stdin", []string{"exec", "--input", "-", write("in2.py", "def main(data):\n    print('hi')\n    return data")}, 0, ""},
		{"input not JSON", []string{"exec", "--input", write("bad.json", `{"n":`), write("in3.py", "def main(data):\n    return 1")}, 2, ""},
		{"input to main()", []string{"exec", "--input", write("in4.json", `1`), write("noarg.py", "def main():\n    return 1")}, 1, "invalid_request"},
		{"files in and out", []string{"exec", "--file", write("data.csv", "n\n1\n"), "--out", filepath.Join(dir, "out"),
			write("files.py", "def main():\n    print('hi')\n    open('outputs/got.txt', 'w').write(open('data.csv').read())\n    return {'n': 1}")}, 0, ""},
		{"missing file", []string{"exec", filepath.Join(dir, "nope.py")}, 2, ""},
		{"no file", []string{"exec"}, 2, ""},
		{"unknown command", []string{"frobnicate"}, 2, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, serverBin, c.args...)
			cmd.WaitDelay = 5 * time.Second
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SANDBOX_ROOTFS=" + os.Getenv("SANDBOX_ROOTFS")}
			cmd.Stdin = strings.NewReader(`{"n": 1}`)
			var stderr []byte
			out, err := cmd.Output()
			var ee *exec.ExitError
			exit := 0
			if errors.As(err, &ee) {
				exit, stderr = ee.ExitCode(), ee.Stderr
			} else if err != nil {
				t.Fatal(err)
			}
			if exit != c.exit {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", exit, c.exit, out, stderr)
			}
			if c.exit == 2 {
				return
			}
			var res struct {
				Result map[string]any `json:"result"`
				Stdout string         `json:"stdout"`
				Error  *struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("stdout is not the result JSON: %v: %s", err, out)
			}
			if c.code == "" && (res.Error != nil || res.Result["n"] != 1.0 || res.Stdout != "hi\n") {
				t.Fatalf("result: %s", out)
			}
			if c.code != "" && (res.Error == nil || res.Error.Code != c.code) {
				t.Fatalf("result: %s", out)
			}
			if c.name == "files in and out" {
				if got, err := os.ReadFile(filepath.Join(dir, "out", "got.txt")); err != nil || string(got) != "n\n1\n" {
					t.Fatalf("output file: %q, %v", got, err)
				}
			}
		})
	}
}

// bin/server probe: both profiles really run a script on this host.
func TestProbeCommand(t *testing.T) {
	needsLocalServer(t, "it runs this checkout's bin/server probe on this host")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, serverBin, "probe")
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SANDBOX_ROOTFS=" + os.Getenv("SANDBOX_ROOTFS")}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	var rep struct {
		Chosen   string `json:"chosen"`
		Profiles []struct {
			Profile string   `json:"profile"`
			Works   bool     `json:"works"`
			Layers  []string `json:"layers"`
		} `json:"profiles"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("probe output is not the report: %v\n%s", err, out)
	}
	if rep.Chosen != "namespaces" || len(rep.Profiles) != 2 || !rep.Profiles[0].Works || !rep.Profiles[1].Works {
		t.Fatalf("report: %s", out)
	}
}
