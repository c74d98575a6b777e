package terraform

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// leftToDefault is every environment variable the server reads that the
// deployment deliberately does not set, and why. Terraform, the image and
// Cloud Run set the others (TestServerEnvCovered).
var leftToDefault = map[string]string{
	// Per-request limits: the README's defaults; tunable through extra_env.
	"TIMEOUT_MS":         "default per-request wall time",
	"MAX_TIMEOUT_MS":     "interactive maximum; run.tf checks an extra_env value against the batch maximum",
	"CPU_TIME_MS":        "default per-request CPU time",
	"MAX_CPU_TIME_MS":    "maximum per-request CPU time",
	"MAX_PROCESSES":      "per-job process limit",
	"MAX_OPEN_FILES":     "per-job descriptor limit",
	"MAX_FILE_SIZE_MB":   "per-job file size limit",
	"TMP_SIZE_MB":        "per-job /tmp size",
	"STDOUT_LIMIT_BYTES": "per-job stdout cap",
	"STDERR_LIMIT_BYTES": "per-job stderr cap",
	"RESULT_LIMIT_BYTES": "per-job result cap",
	"SCRIPT_LIMIT_BYTES": "script size cap",
	"INPUT_LIMIT_BYTES":  "per-job input cap",
	// Files in and out: the README's defaults fit the server's 16/32 MiB
	// budget; tunable through extra_env.
	"MAX_INPUT_FILES":          "files per request",
	"INPUT_FILES_LIMIT_BYTES":  "bytes of files per request",
	"MAX_OUTPUT_FILES":         "output files per execution",
	"OUTPUT_FILE_LIMIT_BYTES":  "bytes per output file",
	"OUTPUT_FILES_LIMIT_BYTES": "bytes of output files per execution",
	// Sandbox internals with server defaults.
	"QUEUE_SIZE":          "server default from the CPUs it sees (4 per CPU)",
	"WARM_JAILS":          "server default from the CPUs it sees; its memory is in server_memory_reserve_mb",
	"SANDBOX_EXECUTOR":    "fork, the fast path",
	"SANDBOX_NSJAIL":      "the image's NsJail inside the runtime tree",
	"SANDBOX_JOB_CGROUPS": "on: per-job memory and pids cgroups where the host allows them",
	"ZYGOTE_MAX_FORKS":    "fork server recycling",
	"ZYGOTE_MAX_AGE_S":    "fork server recycling",
	"JOB_UID_BASE":        "first uid handed to jails",
	"PRELOAD_MODULES":     "numpy and pandas",
	// Server plumbing.
	"RESULTS_DIR":          "local result store, only used without RESULTS_BUCKET",
	"CORS_ALLOWED_ORIGINS": "the IDE is served from the same origin; the default allows only the Vite dev server",
	"SHUTDOWN_TIMEOUT":     "9 s default fits Cloud Run's 10 s between SIGTERM and SIGKILL",
	"BODY_READ_TIMEOUT":    "60 s default",
	"FUNCTION_TARGET":      "bin/server ignores it (it serves every function)",
}

// cloudRunEnv is what Cloud Run sets in every container.
var cloudRunEnv = []string{"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"}

// TestServerEnvCovered: every environment variable the server's code reads
// (cmd/server and the packages of this module it imports, scanned below) is
// set by Terraform, by the image's ENV or by Cloud Run, or is listed in
// leftToDefault; every variable Terraform sets is one the server reads (a
// misspelt name would otherwise be ignored silently); and leftToDefault
// names only variables that are read and not set.
func TestServerEnvCovered(t *testing.T) {
	reads, tf, image := moduleEnv(t)
	if len(reads) < 10 {
		t.Fatalf("found only %d environment reads in the server's code: the scan no longer recognises how it reads them (%v)", len(reads), reads)
	}
	t.Logf("server reads %d variables; Terraform sets %d, the image %d", len(reads), len(tf), len(image))

	for _, p := range envCoverageProblems(reads, tf, image, leftToDefault) {
		t.Error(p)
	}
}

// envCoverageProblems applies the rule of TestServerEnvCovered.
func envCoverageProblems(reads map[string]string, tf, image map[string]bool, defaults map[string]string) []string {
	var out []string
	set := map[string]bool{}
	for _, n := range cloudRunEnv {
		set[n] = true
	}
	for n := range image {
		set[n] = true
	}
	for n := range tf {
		set[n] = true
	}
	for _, name := range sortedKeys(reads) {
		_, isDefault := defaults[name]
		switch {
		case !set[name] && !isDefault:
			out = append(out, fmt.Sprintf("%s (read at %s) is neither set by Terraform, the image or Cloud Run nor listed in leftToDefault: set it in local.server_env (terraform/main.tf) or say in leftToDefault why the server's default is right", name, reads[name]))
		case tf[name] && isDefault:
			out = append(out, fmt.Sprintf("%s is set by Terraform and also listed in leftToDefault", name))
		}
	}
	for _, name := range sortedKeys(tf) {
		if _, ok := reads[name]; !ok {
			out = append(out, fmt.Sprintf("Terraform sets %s, which the server never reads (misspelt, or no longer used?)", name))
		}
	}
	for _, name := range sortedKeys(defaults) {
		if _, ok := reads[name]; !ok {
			out = append(out, fmt.Sprintf("leftToDefault lists %s, which the server no longer reads", name))
		}
	}
	return out
}

// TestEnvScanCatchesBreakage proves the scan sees each way the server reads
// its environment, and that the coverage rule objects to a new variable.
func TestEnvScanCatchesBreakage(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "cmd/server"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"go.mod": "module example\n\ngo 1.26\n",
		"cmd/server/main.go": `package main
import ("os"; "example/lib")
func envOr(key, def string) string { if v := os.Getenv(key); v != "" { return v }; return def }
func main() {
	_ = envOr("VIA_HELPER", "x")
	_, _ = os.LookupEnv("VIA_LOOKUP")
	lib.Load(os.Getenv)
}`,
		"lib/lib.go": `package lib
type parser struct{ getenv func(string) string }
func lookup(getenv func(string) string, name string) string { return getenv(name) }
func (p *parser) int(name string, dst *int) { _ = lookup(p.getenv, name) }
func (p *parser) duration(name string, dst *int) { p.int(name, dst) }
func Load(getenv func(string) string) {
	_ = getenv("VIA_PARAM")
	p := parser{getenv}
	var n int
	p.duration("VIA_METHOD_CHAIN", &n)
}`,
		"lib/lib_test.go": `package lib
import "os"
func init() { _ = os.Getenv("ONLY_IN_TESTS") }`,
		"unused/unused.go": `package unused
import "os"
func F() { _ = os.Getenv("NOT_IMPORTED") }`,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reads, err := serverEnvReads(dir, "cmd/server")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"VIA_HELPER", "VIA_LOOKUP", "VIA_METHOD_CHAIN", "VIA_PARAM"}
	if got := sortedKeys(reads); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("scan found %v, want %v", got, want)
	}

	// The coverage rule, on the real module and the real server's reads,
	// objects to each way they can drift apart.
	real, tf, image := moduleEnv(t)
	if p := envCoverageProblems(real, tf, image, leftToDefault); len(p) != 0 {
		t.Fatalf("the real module already fails: %v", p)
	}
	copyReads := func() map[string]string {
		c := map[string]string{}
		for k, v := range real {
			c[k] = v
		}
		return c
	}
	copyDefaults := func() map[string]string {
		c := map[string]string{}
		for k, v := range leftToDefault {
			c[k] = v
		}
		return c
	}
	newRead := copyReads()
	newRead["NEW_SERVER_SETTING"] = "function/function.go:1"
	noLongerRead := copyReads()
	delete(noLongerRead, "PUBSUB_AUTH")
	staleDefault := copyDefaults()
	staleDefault["GONE_SETTING"] = "was read once"
	both := copyDefaults()
	both["BATCH_MAX_TIMEOUT_MS"] = "listed by mistake"
	for name, tc := range map[string]struct {
		reads    map[string]string
		defaults map[string]string
	}{
		"server reads a new variable":        {newRead, leftToDefault},
		"Terraform sets an unread variable":  {noLongerRead, leftToDefault},
		"leftToDefault lists an unread name": {real, staleDefault},
		"set and listed as default":          {real, both},
	} {
		if p := envCoverageProblems(tc.reads, tf, image, tc.defaults); len(p) == 0 {
			t.Errorf("coverage rule did not notice: %s", name)
		} else {
			t.Logf("%s: %v", name, p)
		}
	}
}

// TestTerraformEnvSeesTheModule: the names Terraform sets are read from the
// module (local.server_env and the secret-backed API_KEYS), not copied here.
func TestTerraformEnvSeesTheModule(t *testing.T) {
	tf, err := terraformEnv(load(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"RESULTS_BUCKET", "PUBSUB_AUTH", "BATCH_MAX_TIMEOUT_MS", "MAX_MEMORY_MB", "MAX_CONCURRENCY", "API_KEYS"} {
		if !tf[n] {
			t.Errorf("terraformEnv does not see %s", n)
		}
	}
	base := load(t)
	files := map[string][]byte{}
	for k, v := range base.files {
		files[k] = v
	}
	files["main.tf"] = []byte(strings.Replace(string(files["main.tf"]), "    PUBSUB_AUTH          = local.pubsub_auth\n", "    PUBSUB_AUTHS         = local.pubsub_auth\n", 1))
	m, err := parseModule(files)
	if err != nil {
		t.Fatal(err)
	}
	tf, err = terraformEnv(m)
	if err != nil {
		t.Fatal(err)
	}
	if tf["PUBSUB_AUTH"] || !tf["PUBSUB_AUTHS"] {
		t.Errorf("a renamed key in local.server_env is not noticed: %v", sortedKeys(tf))
	}
}

// serverEnvReads scans the non-test Go files of pkg and of every package of
// the same module it imports, directly or not, for environment variable
// names read with os.Getenv / os.LookupEnv, through a func(string) string
// called getenv (LoadConfig(os.Getenv) style), or through a helper of the
// same package that passes one of its parameters on to such a read
// (envOr(key, def), p.int(name, &dst), ...). It returns each name with the
// place of its first read.
func serverEnvReads(root, pkg string) (map[string]string, error) {
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, err
	}
	m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindSubmatch(mod)
	if m == nil {
		return nil, fmt.Errorf("go.mod has no module line")
	}
	modPath := string(m[1])

	reads := map[string]string{}
	seen := map[string]bool{}
	queue := []string{pkg}
	fset := token.NewFileSet()
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		if seen[dir] {
			continue
		}
		seen[dir] = true
		paths, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
		if err != nil {
			return nil, err
		}
		var files []*ast.File
		for _, p := range paths {
			if strings.HasSuffix(p, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
			if err != nil {
				return nil, fmt.Errorf("parse %s: %w", p, err)
			}
			files = append(files, f)
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if rest, ok := strings.CutPrefix(path, modPath+"/"); ok {
					queue = append(queue, rest)
				}
			}
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("no Go files in %s", filepath.Join(root, dir))
		}
		for name, pos := range packageEnvReads(fset, files) {
			if _, ok := reads[name]; !ok {
				rel, err := filepath.Rel(root, pos.Filename)
				if err != nil {
					rel = pos.Filename
				}
				reads[name] = fmt.Sprintf("%s:%d", rel, pos.Line)
			}
		}
	}
	return reads, nil
}

// packageEnvReads finds the environment reads of one package's files.
func packageEnvReads(fset *token.FileSet, files []*ast.File) map[string]token.Position {
	// readers maps a callee name to the argument that names the variable.
	readers := map[string]int{}
	readerArg := func(call *ast.CallExpr) (int, bool) {
		switch fun := call.Fun.(type) {
		case *ast.SelectorExpr:
			if x, ok := fun.X.(*ast.Ident); ok && x.Name == "os" && (fun.Sel.Name == "Getenv" || fun.Sel.Name == "LookupEnv") {
				return 0, true
			}
			if fun.Sel.Name == "getenv" {
				return 0, true
			}
			i, ok := readers[fun.Sel.Name]
			return i, ok
		case *ast.Ident:
			if fun.Name == "getenv" {
				return 0, true
			}
			i, ok := readers[fun.Name]
			return i, ok
		}
		return 0, false
	}
	// Helpers: functions that hand one of their parameters to a reader.
	// Repeat until nothing new is found (a helper may use another).
	for changed := true; changed; {
		changed = false
		for _, f := range files {
			for _, d := range f.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok || fd.Body == nil {
					continue
				}
				if _, known := readers[fd.Name.Name]; known {
					continue
				}
				var params []string
				for _, field := range fd.Type.Params.List {
					for _, n := range field.Names {
						params = append(params, n.Name)
					}
				}
				ast.Inspect(fd.Body, func(n ast.Node) bool {
					call, ok := n.(*ast.CallExpr)
					if !ok {
						return true
					}
					i, ok := readerArg(call)
					if !ok || i >= len(call.Args) {
						return true
					}
					if id, ok := call.Args[i].(*ast.Ident); ok {
						for pi, p := range params {
							if p == id.Name {
								if _, known := readers[fd.Name.Name]; !known {
									readers[fd.Name.Name] = pi
									changed = true
								}
							}
						}
					}
					return true
				})
			}
		}
	}
	out := map[string]token.Position{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			i, ok := readerArg(call)
			if !ok || i >= len(call.Args) {
				return true
			}
			lit, ok := call.Args[i].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			name, err := strconv.Unquote(lit.Value)
			if err != nil || !regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`).MatchString(name) {
				return true
			}
			if _, ok := out[name]; !ok {
				out[name] = fset.Position(lit.Pos())
			}
			return true
		})
	}
	return out
}

// terraformEnv is every variable name the Cloud Run container gets from the
// module: literal env blocks, dynamic env blocks with a literal name, and
// the keys of the local object(s) a dynamic env block iterates over
// (local.server_env). extra_env is the caller's and not counted.
func terraformEnv(m *module) (map[string]bool, error) {
	c, problems := m.container()
	if c == nil {
		return nil, fmt.Errorf("%v", problems)
	}
	out := map[string]bool{}
	for name := range m.envVars(c) {
		out[name] = true
	}
	for _, d := range blocks(c, "dynamic") {
		if len(d.Labels) != 1 || d.Labels[0] != "env" {
			continue
		}
		content := block(d.Body, "content")
		if name, ok := literal(attr(content, "name")); ok {
			out[name] = true
			continue
		}
		forEach := attr(d.Body, "for_each")
		if forEach == nil {
			return nil, fmt.Errorf("dynamic env block without for_each")
		}
		found := false
		for _, r := range m.refs(forEach) {
			local, ok := strings.CutPrefix(r, "local.")
			if !ok {
				continue
			}
			l, ok := m.locals[local]
			if !ok {
				continue
			}
			obj, ok := l.Expr.(*hclsyntax.ObjectConsExpr)
			if !ok {
				continue
			}
			found = true
			for _, item := range obj.Items {
				k, diags := item.KeyExpr.Value(nil)
				if diags.HasErrors() || !k.Type().Equals(cty.String) {
					return nil, fmt.Errorf("local.%s: key %s is not a literal name", local, m.src(item.KeyExpr))
				}
				out[k.AsString()] = true
			}
		}
		if !found && !m.refersTo(forEach, "var.extra_env") {
			return nil, fmt.Errorf("dynamic env block over %s: cannot tell which names it sets", m.src(forEach))
		}
	}
	return out, nil
}

// imageEnv is what the Dockerfile's last stage sets with ENV.
func imageEnv(dockerfile string) map[string]bool {
	out := map[string]bool{}
	for _, in := range parseDockerfile(dockerfile) {
		switch in.cmd {
		case "FROM":
			out = map[string]bool{} // only the runtime stage counts
		case "ENV":
			for _, kv := range strings.Fields(in.args) {
				if k, _, ok := strings.Cut(kv, "="); ok {
					out[k] = true
				}
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// moduleEnv is what the server's code reads, what Terraform sets and what
// the image's ENV sets.
func moduleEnv(t *testing.T) (reads map[string]string, tf, image map[string]bool) {
	t.Helper()
	reads, err := serverEnvReads("..", "cmd/server")
	if err != nil {
		t.Fatal(err)
	}
	tf, err = terraformEnv(load(t))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	return reads, tf, imageEnv(string(src))
}
