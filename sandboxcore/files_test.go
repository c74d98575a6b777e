package sandboxcore

// Files in and out (docs/threat-model.md, class 38): a job's files land in
// its private working directory and what it leaves in outputs/ comes back,
// collected inside the jail, in both profiles (the chroot profile's private
// /tmp needs a user namespace: where the host refuses one, files are
// refused clearly).

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestFilesInAndOut(t *testing.T) {
	eachProfile(t, func(t *testing.T, s *Sandbox) {
		csv := []byte("city,sales\nParis,3\nOslo,5\nParis,4\n")
		req := Request{Files: []InputFile{{Name: "data.csv", Content: csv}, {Name: "sub/notes.txt", Content: []byte("hi")}},
			Script: `import os
import pandas as pd
def main():
    df = pd.read_csv("data.csv")
    out = df.groupby("city", as_index=False)["sales"].sum()
    out.to_csv("outputs/summary.csv", index=False)
    os.makedirs("outputs/deep", exist_ok=True)
    open("outputs/deep/raw.bin", "wb").write(bytes(range(256)))
    return {"rows": len(df), "notes": open("sub/notes.txt").read(), "cwd": os.getcwd()}
`}
		res := execute(t, s, req)
		m := resultMap(t, res)
		if m["rows"] != float64(3) || m["notes"] != "hi" || m["cwd"] != "/tmp/work" {
			t.Errorf("result: %v", m)
		}
		got := map[string]OutputFile{}
		for _, f := range res.Files {
			got[f.Name] = f
		}
		if f := got["summary.csv"]; string(f.Content) != "city,sales\nOslo,5\nParis,7\n" || f.ContentType != "text/csv" || f.Size != int64(len(f.Content)) {
			t.Errorf("summary.csv: %+v", f)
		}
		if f := got["deep/raw.bin"]; len(f.Content) != 256 || f.ContentType != "application/octet-stream" {
			t.Errorf("deep/raw.bin: %+v", f)
		}
		if len(res.Files) != 2 || len(res.FilesSkipped) != 0 || res.FilesTruncated {
			t.Errorf("files %v, skipped %v, truncated %v", len(res.Files), res.FilesSkipped, res.FilesTruncated)
		}
	})
}

// Where the chroot profile has no private /tmp (a host that refuses user
// namespaces), a request with files is refused before any jail runs.
func TestFilesRefusedWithoutWorkdir(t *testing.T) {
	s := forkSandbox(t, ModeChroot, func(*Config) {})
	prof := *s.prof
	prof.workdir = false
	s.prof = &prof
	res := execute(t, s, Request{Script: "def main():\n    return 1\n", Files: []InputFile{{Name: "a.csv", Content: []byte("x")}}})
	wantCode(t, res, CodeInvalidRequest)
	if !strings.Contains(res.Error.Message, "no writable working directory") {
		t.Errorf("refusal: %q", res.Error.Message)
	}
}

// Nothing of one execution's files is visible to another, even while both
// run.
func TestAttack38NeighboursFiles(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		done := make(chan Result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, _ := s.Execute(ctx, Request{Files: []InputFile{{Name: "secret.csv", Content: []byte("s3cret")}}, Script: `import time
def main():
    open("/tmp/left-behind", "w").write("s3cret")
    open("outputs/plot.png", "w").write("s3cret")
    time.sleep(3)
    return open("secret.csv").read()
`})
			done <- res
		}()
		time.Sleep(1500 * time.Millisecond)
		m := resultMap(t, execute(t, s, Request{Script: `import os
def main():
    seen = []
    for top in ("/tmp", "/tmp/work", "/"):
        for root, dirs, files in os.walk(top):
            if root.startswith(("/proc", "/sys", "/usr", "/opt")):
                dirs[:] = []
                continue
            for f in files:
                try:
                    if b"s3cret" in open(os.path.join(root, f), "rb").read(1 << 16):
                        seen.append(os.path.join(root, f))
                except OSError:
                    pass
    return {"seen": seen, "tmp": sorted(os.listdir("/tmp"))}
`}))
		if seen := m["seen"].([]any); len(seen) != 0 {
			t.Errorf("a neighbour's files were readable: %v", seen)
		}
		wantOK(t, <-done, "s3cret")
		// And nothing is left for the next job either.
		m = resultMap(t, run(t, s, "import os\ndef main():\n    return {'tmp': os.listdir('/tmp'), 'cwd': os.listdir('.')}\n"))
		if fmt.Sprint(m["tmp"]) != "[work]" || fmt.Sprint(m["cwd"]) != "[outputs]" {
			t.Errorf("a fresh job's /tmp and working directory: %v", m)
		}
	})
}

func TestFileNamesAreChecked(t *testing.T) {
	s := sandboxFor(t, kinds[0])
	for _, name := range []string{"", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a\x00b", strings.Repeat("n", 256), "ok/" + strings.Repeat("n", 256)} {
		res := execute(t, s, Request{Script: "def main():\n    return 1\n", Files: []InputFile{{Name: name, Content: []byte("x")}}})
		wantCode(t, res, CodeInvalidRequest)
		if !strings.Contains(res.Error.Message, "files[0]") {
			t.Errorf("%q: message does not name the entry: %q", name, res.Error.Message)
		}
	}
	res := execute(t, s, Request{Script: "def main():\n    return 1\n", Files: []InputFile{{Name: "a", Content: nil}, {Name: "a", Content: nil}}})
	wantCode(t, res, CodeInvalidRequest)
	big := make([]byte, s.cfg.Max.InputFilesBytes+1)
	wantCode(t, execute(t, s, Request{Script: "def main():\n    return 1\n", Files: []InputFile{{Name: "big", Content: big}}}), CodeInputTooLarge)
}

// T38: what a script leaves in outputs/ is read inside the jail, never
// followed, and bounded however it is shaped.
func TestAttack38OutputFiles(t *testing.T) {
	attack(t, func(t *testing.T, s *Sandbox) {
		start := time.Now()
		res := execute(t, s, Request{Timeout: 30 * time.Second, Script: `import os
def main():
    os.symlink("/etc/passwd", "outputs/passwd")
    os.symlink("/tmp/work", "outputs/loop")
    open("outputs/a.txt", "w").write("a")
    os.link("outputs/a.txt", "outputs/a-link.txt")
    with open("outputs/sparse.bin", "wb") as f:
        f.truncate(60 << 20)  # sparse, under the file size rlimit
    d = "outputs"
    for i in range(40):
        d += "/d"
    os.makedirs(d)
    open("outputs/line\nbreak.txt", "w").write("n")
    open(b"outputs/bad-\xff.txt", "w").write("b")
    return "done"
`})
		wantOK(t, res, "done")
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("collecting outputs took %v", took)
		}
		reasons := map[string]string{}
		for _, sk := range res.FilesSkipped {
			reasons[sk.Name] = sk.Reason
		}
		for name, want := range map[string]string{
			"passwd": "symbolic link", "loop": "symbolic link", "a.txt": "hard link", "a-link.txt": "hard link",
			"sparse.bin": "over the", "bad-\uFFFD.txt": "not valid UTF-8",
		} {
			if !strings.Contains(reasons[name], want) {
				t.Errorf("%q: skipped as %q, want %q (all: %v)", name, reasons[name], want, reasons)
			}
		}
		for _, f := range res.Files {
			if strings.Contains(string(f.Content), "root:") {
				t.Fatalf("a host file came back: %s", f.Name)
			}
		}
		// Thousands of files: cut at the count limit, said so, quickly.
		start = time.Now()
		res = execute(t, s, Request{Timeout: 30 * time.Second, Script: `def main():
    for i in range(3000):
        open("outputs/many-%04d.txt" % i, "w").write("x")
    return "done"
`})
		wantOK(t, res, "done")
		if !res.FilesTruncated || len(res.Files) != s.cfg.Default.OutputFiles || len(res.FilesSkipped) == 0 {
			t.Errorf("3000 files: %d returned, truncated %v, skipped %v", len(res.Files), res.FilesTruncated, res.FilesSkipped)
		}
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("3000 files took %v", took)
		}
		body, _ := json.Marshal(res)
		if len(body) > 8<<20 {
			t.Errorf("answer is %d bytes", len(body))
		}
	})
}

// A plot saved to outputs/ comes back as a PNG (matplotlib in the tree,
// Agg backend by default).
func TestPlotToOutputs(t *testing.T) {
	eachProfile(t, func(t *testing.T, s *Sandbox) {
		res := execute(t, s, Request{Timeout: 30 * time.Second, Script: `import matplotlib
import matplotlib.pyplot as plt
import numpy as np
def main():
    x = np.linspace(0, 6.3, 100)
    plt.plot(x, np.sin(x))
    plt.savefig("outputs/sine.png")
    return matplotlib.get_backend().lower()
`})
		wantOK(t, res, "agg")
		if len(res.Files) != 1 || res.Files[0].ContentType != "image/png" || !strings.HasPrefix(string(res.Files[0].Content), "\x89PNG") {
			t.Fatalf("plot: %+v", res.Files)
		}
	})
}
