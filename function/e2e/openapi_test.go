package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestOpenAPIConformance runs schemathesis (pinned, from
// infra/setup/python-tools.sh) against a live bin/server: no 5xx and no
// response outside api/openapi.yaml, for every documented operation.
func TestOpenAPIConformance(t *testing.T) {
	st := os.Getenv("SCHEMATHESIS")
	if st == "" {
		st = filepath.Join(repoRoot, "build", "venv", "bin", "st")
	}
	if _, err := os.Stat(st); err != nil {
		t.Fatalf("schemathesis not installed (%v): run infra/setup/python-tools.sh", err)
	}
	s := sharedServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{"run", filepath.Join(repoRoot, "api", "openapi.yaml"),
		"--url", s.url,
		"--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,response_headers_conformance",
		"--phases", "examples,coverage,fuzzing",
		"--max-examples", "40",
		"--seed", "20261125",
		"--rate-limit", "auto",
		"--request-timeout", "60",
		"--workers", "2",
		"--no-color",
	}
	if s.key != "" {
		args = append(args, "-H", "X-API-Key: "+s.key)
	}
	cmd := exec.CommandContext(ctx, st, args...)
	cmd.WaitDelay = 5 * time.Second // bounded even if a child keeps the pipe
	cmd.Env = append(os.Environ(), "SCHEMATHESIS_HOOKS=", "NO_COLOR=1")
	cmd.Dir = t.TempDir() // its reports and caches stay out of the tree
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("schemathesis: %v\n%s", err, out)
	}
	t.Logf("schemathesis:\n%s", tail(string(out)))
}
