package terraform

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

func load(t *testing.T) *module {
	t.Helper()
	m, err := loadModule(".")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFormatted stands in for `terraform fmt -check` where there is no
// terraform binary (Cloud Build's test step runs only go test); make
// test-terraform runs the real one. terraform fmt is hclwrite.Format plus
// two clean-ups, unwrapping interpolation-only strings ("${x}") and
// unquoting type constraints, so a file that is byte-identical to its
// hclwrite.Format output and has neither passes terraform fmt -check.
func TestFormatted(t *testing.T) {
	for _, p := range fmtProblems(load(t)) {
		t.Error(p)
	}
}

func fmtProblems(m *module) []string {
	var out []string
	for name, src := range m.files {
		if got := hclwrite.Format(src); !bytes.Equal(got, src) {
			out = append(out, fmt.Sprintf("%s is not formatted; hclwrite.Format differs at byte %d", name, firstDiff(src, got)))
		}
		for _, p := range fmtCleanups(m, name) {
			out = append(out, name+": "+p)
		}
	}
	return out
}

func TestFormatCheckCatchesBreakage(t *testing.T) {
	base := load(t)
	cases := []struct{ name, file, old, new string }{
		{"misaligned", "storage.tf", "  name     = local.results_bucket", "  name = local.results_bucket"},
		{"interpolation only", "registry.tf", "location      = var.region", `location      = "${var.region}"`},
		{"quoted type", "variables.tf", "  type        = bool\n  default     = false\n}\n\nvariable \"api_keys_secret\"", "  type        = \"bool\"\n  default     = false\n}\n\nvariable \"api_keys_secret\""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string][]byte{}
			for k, v := range base.files {
				files[k] = v
			}
			if n := strings.Count(string(files[tc.file]), tc.old); n != 1 {
				t.Fatalf("%q occurs %d times in %s, want 1", tc.old, n, tc.file)
			}
			files[tc.file] = []byte(strings.Replace(string(files[tc.file]), tc.old, tc.new, 1))
			m, err := parseModule(files)
			if err != nil {
				t.Fatal(err)
			}
			if p := fmtProblems(m); len(p) == 0 {
				t.Errorf("format check did not notice: %s", tc.name)
			} else {
				t.Logf("%v", p)
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// fmtCleanups finds what terraform fmt would rewrite beyond hclwrite.Format.
func fmtCleanups(m *module, file string) []string {
	var out []string
	hclsyntax.VisitAll(m.bodies[file], func(n hclsyntax.Node) hcl.Diagnostics {
		if w, ok := n.(*hclsyntax.TemplateWrapExpr); ok {
			out = append(out, fmt.Sprintf("%s: interpolation-only string %s", w.SrcRange, m.src(w)))
		}
		return nil
	})
	for _, b := range m.bodies[file].Blocks {
		if b.Type != "variable" {
			continue
		}
		if e := attr(b.Body, "type"); e != nil {
			if _, quoted := e.(*hclsyntax.TemplateExpr); quoted {
				out = append(out, fmt.Sprintf("variable %s: quoted type constraint", b.Labels[0]))
			}
		}
	}
	return out
}

func TestWiring(t *testing.T) {
	m := load(t)
	names := make([]string, 0, len(checks))
	for n := range checks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			for _, p := range checks[name](m) {
				t.Error(p)
			}
		})
	}
}

// TestVariablesDocumented keeps the README's promise that every input and
// output is described.
func TestVariablesDocumented(t *testing.T) {
	m := load(t)
	for kind, set := range map[string]map[string]*hclsyntax.Block{"variable": m.variables, "output": m.outputs} {
		for name, b := range set {
			if d, ok := literal(attr(b.Body, "description")); !ok || strings.TrimSpace(d) == "" {
				t.Errorf("%s %s has no description", kind, name)
			}
		}
	}
	if _, ok := m.variables["project_id"]; !ok {
		t.Error("no project_id variable")
	} else if attr(m.variables["project_id"].Body, "default") != nil {
		t.Error("project_id must have no default: terraform apply -var project_id=... is the one required input")
	}
}

// TestChecksCatchBreakage proves each check can fail: it breaks the real
// module one way at a time and expects the matching check to object.
func TestChecksCatchBreakage(t *testing.T) {
	cases := []struct {
		name, check, file, old, new string
	}{
		{"project-level role", "service_account", "iam.tf", `resource "google_service_account" "pubsub_invoker" {`,
			"resource \"google_project_iam_member\" \"svc_editor\" {\n  project = var.project_id\n  role    = \"roles/editor\"\n  member  = google_service_account.service.member\n}\n\n" +
				`resource "google_service_account" "pubsub_invoker" {`},
		{"wider bucket role", "service_account", "iam.tf", `"roles/storage.objectViewer"`, `"roles/storage.objectAdmin"`},
		{"missing bucket role", "service_account", "iam.tf", `"roles/storage.objectCreator"`, `"roles/storage.objectViewer"`},
		{"project grant to others", "project_iam", "build.tf", `role    = "roles/logging.logWriter"`, `role    = "roles/owner"`},
		{"project grant to the service", "project_iam", "build.tf", "role    = \"roles/logging.logWriter\"\n  member  = google_service_account.builder.member", "role    = \"roles/logging.logWriter\"\n  member  = google_service_account.service.member"},
		{"public by default", "invokers", "variables.tf", "type        = bool\n  default     = false\n}\n\nvariable \"api_keys_secret\"", "type        = bool\n  default     = true\n}\n\nvariable \"api_keys_secret\""},
		{"another invoker", "invokers", "build.tf", `role     = "roles/run.developer"`, `role     = "roles/run.invoker"`},
		{"push before its invoker grant", "push_depends_on", "pubsub.tf", "    google_cloud_run_v2_service_iam_member.pubsub_invoker,\n", ""},
		{"unbounded provider", "provider", "versions.tf", `">= 6.10.0, < 7.0.0"`, `">= 6.10.0"`},
		{"missing registry", "resources", "registry.tf", `"google_artifact_registry_repository" "images"`, `"google_artifact_registry_repository" "imgs"`},
		{"no builder account", "resources", "build.tf", "resource \"google_service_account\" \"builder\" {\n", "resource \"google_service_account\" \"builder_x\" {\n"},
	}
	base := load(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string][]byte{}
			for k, v := range base.files {
				files[k] = v
			}
			src := string(files[tc.file])
			if n := strings.Count(src, tc.old); n != 1 {
				t.Fatalf("%s: %q occurs %d times, want 1 (update this case)", tc.file, tc.old, n)
			}
			files[tc.file] = []byte(strings.Replace(src, tc.old, tc.new, 1))
			m, err := parseModule(files)
			if err != nil {
				t.Fatal(err)
			}
			if p := checks[tc.check](base); len(p) != 0 {
				t.Fatalf("check %s already fails on the real module: %v", tc.check, p)
			}
			if p := checks[tc.check](m); len(p) == 0 {
				t.Errorf("check %s did not notice: %s", tc.check, tc.name)
			} else {
				t.Logf("check %s: %v", tc.check, p)
			}
		})
	}
}
