package terraform

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
	"sigs.k8s.io/yaml"
)

// cloudBuild is the part of the Cloud Build config schema this repository
// uses; unknown fields are rejected so a misspelt key fails here, not in
// Cloud Build.
type cloudBuild struct {
	Steps []struct {
		ID         string   `json:"id"`
		Name       string   `json:"name"`
		Entrypoint string   `json:"entrypoint"`
		Args       []string `json:"args"`
		Env        []string `json:"env"`
		WaitFor    []string `json:"waitFor"`
	} `json:"steps"`
	Images        []string          `json:"images"`
	Substitutions map[string]string `json:"substitutions"`
	Options       struct {
		MachineType string `json:"machineType"`
		Logging     string `json:"logging"`
	} `json:"options"`
	Timeout string `json:"timeout"`
}

// imageRef is the image every step must agree on: Artifact Registry, tagged
// by commit.
const imageRef = "${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPOSITORY}/${_SERVICE}:$COMMIT_SHA"

var userSubst = regexp.MustCompile(`\$(?:\{(_[A-Z0-9_]+)\}|(_[A-Z0-9_]+))`)

// Keys Cloud Build accepts (its build config schema). Matched exactly:
// encoding/json alone would accept "waitfor" for waitFor, Cloud Build not.
var (
	buildKeys   = []string{"steps", "images", "substitutions", "options", "timeout", "availableSecrets", "serviceAccount", "logsBucket", "tags", "artifacts", "queueTtl"}
	stepKeys    = []string{"id", "name", "entrypoint", "args", "env", "waitFor", "dir", "secretEnv", "timeout", "volumes", "script", "allowFailure", "allowExitCodes", "automapSubstitutions"}
	optionsKeys = []string{"machineType", "logging", "diskSizeGb", "dynamicSubstitutions", "env", "substitutionOption", "requestedVerifyOption", "sourceProvenanceHash", "pool", "logStreamingOption", "volumes", "secretEnv", "automapSubstitutions", "defaultLogsBucketBehavior"}
)

func parseCloudBuild(src []byte) (*cloudBuild, error) {
	var raw map[string]any
	if err := yaml.Unmarshal(src, &raw); err != nil {
		return nil, fmt.Errorf("parse cloudbuild.yaml: %w", err)
	}
	if err := knownKeys("build", raw, buildKeys); err != nil {
		return nil, err
	}
	if opts, ok := raw["options"].(map[string]any); ok {
		if err := knownKeys("options", opts, optionsKeys); err != nil {
			return nil, err
		}
	}
	steps, _ := raw["steps"].([]any)
	for i, st := range steps {
		m, ok := st.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("step %d is not a mapping", i)
		}
		if err := knownKeys(fmt.Sprintf("step %d", i), m, stepKeys); err != nil {
			return nil, err
		}
	}
	var cb cloudBuild
	if err := yaml.UnmarshalStrict(src, &cb); err != nil {
		return nil, fmt.Errorf("parse cloudbuild.yaml: %w", err)
	}
	return &cb, nil
}

func knownKeys(where string, m map[string]any, allowed []string) error {
	for k := range m {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("cloudbuild.yaml %s: unknown key %q", where, k)
		}
	}
	return nil
}

func checkCloudBuild(src []byte, goVersion string) []string {
	cb, err := parseCloudBuild(src)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	var ids []string
	byID := map[string]int{}
	for i, s := range cb.Steps {
		ids = append(ids, s.ID)
		byID[s.ID] = i
	}
	if !slices.Equal(ids, []string{"test", "build", "push", "deploy"}) {
		out = append(out, fmt.Sprintf("steps %v, want [test build push deploy]", ids))
		return out
	}
	test, build, push, deploy := cb.Steps[0], cb.Steps[1], cb.Steps[2], cb.Steps[3]

	if !strings.Contains(test.Name, "golang:"+goVersion) {
		out = append(out, fmt.Sprintf("test step image %s does not match go.mod's go %s", test.Name, goVersion))
	}
	script := strings.Join(test.Args, " ")
	if !strings.Contains(script, "go test") || !strings.Contains(script, "./terraform/") {
		out = append(out, "test step does not run go test ./terraform/")
	}
	if !strings.Contains(script, "go vet") {
		out = append(out, "test step does not run go vet")
	}

	if len(build.Args) == 0 || build.Args[0] != "build" || build.Args[len(build.Args)-1] != "." {
		out = append(out, "build step is not `docker build ... .` of the root Dockerfile")
	}
	if !slices.Contains(build.Args, "--tag="+imageRef) {
		out = append(out, "build step does not tag "+imageRef)
	}
	if !slices.Equal(push.Args, []string{"push", "--all-tags", strings.TrimSuffix(imageRef, ":$COMMIT_SHA")}) {
		out = append(out, fmt.Sprintf("push step args %v", push.Args))
	}
	if !slices.Contains(push.WaitFor, "test") || !slices.Contains(push.WaitFor, "build") {
		out = append(out, "push does not wait for both test and build: an image could ship untested")
	}
	if !slices.Contains(cb.Images, imageRef) {
		out = append(out, "images does not list "+imageRef)
	}

	d := strings.Join(append([]string{deploy.Entrypoint}, deploy.Args...), " ")
	for _, want := range []string{"gcloud run deploy ${_SERVICE}", "--image=" + imageRef, "--region=${_REGION}"} {
		if !strings.Contains(d, want) {
			out = append(out, fmt.Sprintf("deploy step %q lacks %q", d, want))
		}
	}
	if !slices.Contains(deploy.WaitFor, "push") {
		out = append(out, "deploy does not wait for push")
	}

	for _, k := range []string{"_REGION", "_REPOSITORY", "_SERVICE"} {
		if cb.Substitutions[k] == "" {
			out = append(out, "substitution "+k+" has no default")
		}
	}
	for k := range cb.Substitutions {
		if !strings.HasPrefix(k, "_") {
			out = append(out, "user substitution "+k+" must start with _")
		}
	}
	// Cloud Build rejects a build that uses an undeclared user substitution.
	for _, m := range userSubst.FindAllStringSubmatch(string(src), -1) {
		name := m[1] + m[2]
		if _, ok := cb.Substitutions[name]; !ok {
			out = append(out, "uses undeclared substitution "+name)
		}
	}
	return out
}

func goModVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

func TestCloudBuild(t *testing.T) {
	src, err := os.ReadFile("../cloudbuild.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkCloudBuild(src, goModVersion(t)) {
		t.Error(p)
	}
}

// TestCloudBuildMatchesTerraform: the trigger terraform creates fills the
// same substitutions, and both sides default to the same names.
func TestCloudBuildMatchesTerraform(t *testing.T) {
	src, err := os.ReadFile("../cloudbuild.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cb, err := parseCloudBuild(src)
	if err != nil {
		t.Fatal(err)
	}
	m := load(t)
	trig := m.resources["google_cloudbuild_trigger.main"]
	if trig == nil {
		t.Fatal("no google_cloudbuild_trigger.main")
	}
	if f, _ := literal(attr(trig.Body, "filename")); f != "cloudbuild.yaml" {
		t.Errorf("trigger runs %q, want cloudbuild.yaml", f)
	}
	subs := attr(trig.Body, "substitutions")
	if subs == nil {
		t.Fatal("trigger has no substitutions")
	}
	stand := map[string]cty.Value{
		"google_artifact_registry_repository": cty.ObjectVal(map[string]cty.Value{
			"images": cty.ObjectVal(map[string]cty.Value{"repository_id": cty.StringVal("repo-from-tf")}),
		}),
		"google_cloud_run_v2_service": cty.ObjectVal(map[string]cty.Value{
			"api": cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("svc-from-tf")}),
		}),
	}
	v, err := m.eval(subs, stand)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for k, val := range v.AsValueMap() {
		got[k] = val.AsString()
	}
	want := map[string]string{"_REGION": "us-central1", "_REPOSITORY": "repo-from-tf", "_SERVICE": "svc-from-tf"}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("trigger substitution %s = %q, want %q", k, got[k], w)
		}
	}
	for k := range cb.Substitutions {
		if _, ok := got[k]; !ok {
			t.Errorf("cloudbuild.yaml substitution %s is not set by the trigger", k)
		}
	}
	for k, name := range map[string]string{"_REGION": "region", "_REPOSITORY": "repository_id", "_SERVICE": "service_name"} {
		def, err := m.evalString(attr(m.variables[name].Body, "default"))
		if err != nil {
			t.Fatal(err)
		}
		if cb.Substitutions[k] != def {
			t.Errorf("cloudbuild.yaml %s defaults to %q, terraform var.%s to %q", k, cb.Substitutions[k], name, def)
		}
	}
}

func TestCloudBuildCheckCatchesBreakage(t *testing.T) {
	src, err := os.ReadFile("../cloudbuild.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gov := goModVersion(t)
	cases := []struct{ name, old, new string }{
		{"undeclared substitution", "--region=${_REGION}\n", "--region=${_ZONE}\n"},
		{"latest instead of commit", "--image=${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPOSITORY}/${_SERVICE}:$COMMIT_SHA", "--image=${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPOSITORY}/${_SERVICE}:latest"},
		{"push before tests", "waitFor: [test, build]", "waitFor: [build]"},
		{"misspelt key", "waitFor: [push]", "waitfor: [push]"},
		{"no region default", "_REGION: us-central1", "_REGION: \"\""},
		{"other go", "golang:1.26-bookworm", "golang:1.22-bookworm"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if n := strings.Count(string(src), tc.old); n != 1 {
				t.Fatalf("%q occurs %d times, want 1 (update this case)", tc.old, n)
			}
			broken := strings.Replace(string(src), tc.old, tc.new, 1)
			if p := checkCloudBuild([]byte(broken), gov); len(p) == 0 {
				t.Errorf("check did not notice: %s", tc.name)
			} else {
				t.Logf("%v", p)
			}
		})
	}
}
