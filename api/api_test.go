package api

import (
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"testing"

	"python-api/function"
	"python-api/sandboxcore"

	"sigs.k8s.io/yaml"
)

type doc struct {
	OpenAPI string `json:"openapi"`
	Paths   map[string]map[string]struct {
		Responses map[string]struct {
			Headers map[string]any `json:"headers"`
		} `json:"responses"`
	} `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

func load(t *testing.T) doc {
	t.Helper()
	js, err := yaml.YAMLToJSON(OpenAPI)
	if err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	var d doc
	if err := json.Unmarshal(js, &d); err != nil {
		t.Fatal(err)
	}
	if d.OpenAPI == "" || len(d.Paths) == 0 {
		t.Fatal("not an OpenAPI document")
	}
	return d
}

// The codes the HTTP layer adds to sandboxcore's.
var httpCodes = []sandboxcore.Code{"unauthorized", "method_not_allowed", "unsupported_media_type"}

func TestEveryCodeAndStatusIsDocumented(t *testing.T) {
	d := load(t)
	var execErr struct {
		Properties struct {
			Code struct {
				Enum []string `json:"enum"`
			} `json:"code"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(d.Components.Schemas["ExecError"], &execErr); err != nil {
		t.Fatal(err)
	}
	enum := execErr.Properties.Code.Enum
	execute := d.Paths["/execute"]["post"].Responses
	all := append(slices.Clone(sandboxcore.Codes), httpCodes...)
	for _, c := range all {
		if !slices.Contains(enum, string(c)) {
			t.Errorf("code %q missing from ExecError.code", c)
		}
		status := strconv.Itoa(function.HTTPStatus(c))
		if _, ok := execute[status]; !ok {
			t.Errorf("code %q answers %s, which /execute does not document", c, status)
		}
	}
	if len(enum) != len(all) {
		t.Errorf("ExecError.code lists %d codes, the server has %d", len(enum), len(all))
	}
	var got []string
	for s := range execute {
		got = append(got, s)
	}
	sort.Strings(got)
	want := []string{"200", "400", "401", "405", "413", "415", "422", "429", "500", "503"}
	if !slices.Equal(got, want) {
		t.Errorf("/execute statuses %v, contract %v", got, want)
	}
	for _, s := range []string{"429", "503"} {
		if execute[s].Headers["Retry-After"] == nil {
			t.Errorf("%s does not document Retry-After", s)
		}
	}
	if execute["405"].Headers["Allow"] == nil {
		t.Error("405 does not document Allow")
	}
	health := d.Paths["/healthz"]["get"].Responses
	if _, ok := health["200"]; !ok {
		t.Error("/healthz 200 missing")
	}
	if _, ok := health["503"]; !ok {
		t.Error("/healthz 503 missing")
	}
	for _, p := range []string{"/pubsub", "/metrics"} {
		if d.Paths[p] == nil {
			t.Errorf("%s missing", p)
		}
	}
}

// The request bounds the contract states are the sandbox's own defaults
// (sandboxcore.Config.Check owns them).
func TestRequestBoundsAreTheSandboxDefaults(t *testing.T) {
	d := load(t)
	cfg := sandboxcore.DefaultConfig()
	type bounds struct {
		Minimum *int64 `json:"minimum"`
		Maximum *int64 `json:"maximum"`
	}
	type schema struct {
		Properties map[string]struct {
			bounds
			MaxLength *int64 `json:"maxLength"`
		} `json:"properties"`
	}
	check := func(name, field string, min, max int64) {
		t.Helper()
		var s schema
		if err := json.Unmarshal(d.Components.Schemas[name], &s); err != nil {
			t.Fatal(err)
		}
		p := s.Properties[field]
		if p.Minimum == nil || p.Maximum == nil || *p.Minimum != min || *p.Maximum != max {
			t.Errorf("%s.%s bounds in openapi.yaml: %v..%v, the sandbox: %d..%d", name, field, p.Minimum, p.Maximum, min, max)
		}
	}
	check("ExecuteRequest", "timeout_ms", 1, cfg.MaxWall(sandboxcore.Interactive).Milliseconds())
	check("BatchRequest", "timeout_ms", 1, cfg.MaxWall(sandboxcore.Batch).Milliseconds())
	for _, name := range []string{"ExecuteRequest", "BatchRequest"} {
		check(name, "memory_mb", sandboxcore.MinMemoryMB, int64(cfg.Max.MemoryMB))
	}
	var s schema
	_ = json.Unmarshal(d.Components.Schemas["ExecuteRequest"], &s)
	if ml := s.Properties["script"].MaxLength; ml == nil || *ml != int64(cfg.Max.ScriptBytes) {
		t.Errorf("ExecuteRequest.script maxLength %v, the sandbox's limit %d", ml, cfg.Max.ScriptBytes)
	}
}
