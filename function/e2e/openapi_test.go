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
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, st, "run", filepath.Join(repoRoot, "api", "openapi.yaml"),
		"--url", s.url,
		"-H", "X-API-Key: "+testAPIKey,
		"--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,response_headers_conformance",
		"--phases", "examples,coverage,fuzzing",
		"--max-examples", "40",
		"--seed", "20261125",
		"--rate-limit", "auto",
		"--request-timeout", "90",
		"--workers", "2",
		"--no-color",
	)
	cmd.Env = append(os.Environ(), "SCHEMATHESIS_HOOKS=", "NO_COLOR=1")
	cmd.Dir = t.TempDir() // its reports and caches stay out of the tree
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("schemathesis: %v\n%s", err, out)
	}
	t.Logf("schemathesis:\n%s", tail(string(out)))
}
