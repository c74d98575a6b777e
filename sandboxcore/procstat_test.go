package sandboxcore

import (
	"os"
	"testing"
)

func TestHostProcessesSeesThisProcess(t *testing.T) {
	for _, p := range hostProcesses() {
		if p.pid == os.Getpid() {
			if p.ppid != os.Getppid() || p.state == 'Z' || p.comm == "" {
				t.Fatalf("read %+v for this process (ppid %d)", p, os.Getppid())
			}
			return
		}
	}
	t.Fatal("this process is not in the list")
}
