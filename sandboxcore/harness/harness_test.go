package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The joined program is valid Python (a syntax error would surface only
// as a jail that never becomes ready).
func TestSourceCompiles(t *testing.T) {
	f := filepath.Join(t.TempDir(), "harness.py")
	if err := os.WriteFile(f, []byte(Source), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("python3", "-m", "py_compile", f).CombinedOutput(); err != nil {
		t.Fatalf("the joined harness does not compile: %v\n%s", err, out)
	}
}
