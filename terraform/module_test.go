// Package terraform holds no Go code of its own: its tests parse the
// Terraform module beside them and check what a plan cannot show (every IAM
// grant at once, the dependency graph, the server's environment against the
// server's code). tests/*.tftest.hcl check the rest with terraform itself
// (make test-terraform); these run wherever Go does, Cloud Build included.
package terraform

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// module is the parsed view of a Terraform module the checks work on.
type module struct {
	files     map[string][]byte
	bodies    map[string]*hclsyntax.Body
	resources map[string]*hclsyntax.Block // "type.name"
	data      map[string]*hclsyntax.Block // "type.name"
	variables map[string]*hclsyntax.Block
	outputs   map[string]*hclsyntax.Block
	locals    map[string]*hclsyntax.Attribute
	terraform []*hclsyntax.Block
	providers map[string]*hclsyntax.Block
}

func loadModule(dir string) (*module, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no .tf files in %s", dir)
	}
	files := make(map[string][]byte, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read module file: %w", err)
		}
		files[filepath.Base(p)] = b
	}
	return parseModule(files)
}

func parseModule(files map[string][]byte) (*module, error) {
	m := &module{
		files:     files,
		bodies:    map[string]*hclsyntax.Body{},
		resources: map[string]*hclsyntax.Block{},
		data:      map[string]*hclsyntax.Block{},
		variables: map[string]*hclsyntax.Block{},
		outputs:   map[string]*hclsyntax.Block{},
		locals:    map[string]*hclsyntax.Attribute{},
		providers: map[string]*hclsyntax.Block{},
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f, diags := hclsyntax.ParseConfig(files[name], name, hcl.InitialPos)
		if diags.HasErrors() {
			return nil, fmt.Errorf("parse %s: %w", name, diags)
		}
		body := f.Body.(*hclsyntax.Body)
		m.bodies[name] = body
		if len(body.Attributes) > 0 {
			return nil, fmt.Errorf("%s: top-level attributes are not valid Terraform", name)
		}
		for _, b := range body.Blocks {
			if err := m.add(name, b); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *module) add(file string, b *hclsyntax.Block) error {
	dup := func(kind, key string) error {
		return fmt.Errorf("%s: duplicate %s %q", file, kind, key)
	}
	switch b.Type {
	case "resource", "data":
		if len(b.Labels) != 2 {
			return fmt.Errorf("%s: %s block needs two labels", file, b.Type)
		}
		key := b.Labels[0] + "." + b.Labels[1]
		target := m.resources
		if b.Type == "data" {
			target = m.data
		}
		if _, ok := target[key]; ok {
			return dup(b.Type, key)
		}
		target[key] = b
	case "variable", "output", "provider":
		if len(b.Labels) != 1 {
			return fmt.Errorf("%s: %s block needs one label", file, b.Type)
		}
		target := map[string]map[string]*hclsyntax.Block{"variable": m.variables, "output": m.outputs, "provider": m.providers}[b.Type]
		if _, ok := target[b.Labels[0]]; ok {
			return dup(b.Type, b.Labels[0])
		}
		target[b.Labels[0]] = b
	case "locals":
		for name, a := range b.Body.Attributes {
			if _, ok := m.locals[name]; ok {
				return dup("local", name)
			}
			m.locals[name] = a
		}
	case "terraform":
		m.terraform = append(m.terraform, b)
	case "module", "moved", "import", "check", "removed":
	default:
		return fmt.Errorf("%s: unknown top-level block %q", file, b.Type)
	}
	return nil
}

// varDefaults evaluates every variable's default; variables without one are
// left unknown so expressions that use them stay unknown instead of wrong.
func (m *module) varDefaults() (cty.Value, error) {
	vals := map[string]cty.Value{}
	for name, v := range m.variables {
		a, ok := v.Body.Attributes["default"]
		if !ok {
			vals[name] = cty.DynamicVal
			continue
		}
		val, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			return cty.NilVal, fmt.Errorf("variable %s default: %w", name, diags)
		}
		vals[name] = val
	}
	return cty.ObjectVal(vals), nil
}

// eval evaluates expr with the variables' defaults plus the given stand-ins
// for other objects (e.g. a resource's computed attribute).
func (m *module) eval(expr hcl.Expression, extra map[string]cty.Value) (cty.Value, error) {
	vars, err := m.varDefaults()
	if err != nil {
		return cty.NilVal, err
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": vars}}
	for k, v := range extra {
		ctx.Variables[k] = v
	}
	val, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("evaluate %s: %w", m.src(expr), diags)
	}
	return val, nil
}

func (m *module) evalNumber(expr hcl.Expression) (int64, error) {
	v, err := m.eval(expr, nil)
	if err != nil {
		return 0, err
	}
	if v.Type() != cty.Number || !v.IsKnown() || v.IsNull() {
		return 0, fmt.Errorf("%s is not a known number", m.src(expr))
	}
	n, acc := v.AsBigFloat().Int64()
	if acc != 0 {
		return 0, fmt.Errorf("%s is not an integer", m.src(expr))
	}
	return n, nil
}

func (m *module) evalString(expr hcl.Expression) (string, error) {
	v, err := m.eval(expr, nil)
	if err != nil {
		return "", err
	}
	if v.Type() != cty.String || !v.IsKnown() || v.IsNull() {
		return "", fmt.Errorf("%s is not a known string", m.src(expr))
	}
	return v.AsString(), nil
}

func (m *module) evalBool(expr hcl.Expression) (bool, error) {
	v, err := m.eval(expr, nil)
	if err != nil {
		return false, err
	}
	if v.Type() != cty.Bool || !v.IsKnown() || v.IsNull() {
		return false, fmt.Errorf("%s is not a known bool", m.src(expr))
	}
	return v.True(), nil
}

// src is the expression's source text, for messages.
func (m *module) src(expr hcl.Expression) string {
	r := expr.Range()
	b, ok := m.files[r.Filename]
	if !ok || r.End.Byte > len(b) {
		return r.String()
	}
	return string(b[r.Start.Byte:r.End.Byte])
}

// refs lists what expr refers to, as "a.b.c" paths (index steps dropped),
// looking through local values so that `local.x` contributes what x uses.
func (m *module) refs(expr hcl.Expression) []string {
	seen := map[string]bool{}
	var out []string
	var walk func(e hcl.Expression, depth int)
	walk = func(e hcl.Expression, depth int) {
		for _, t := range e.Variables() {
			p := traversalPath(t)
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
			if t.RootName() == "local" && len(t) > 1 && depth < 8 {
				if ta, ok := t[1].(hcl.TraverseAttr); ok {
					if l, ok := m.locals[ta.Name]; ok {
						walk(l.Expr, depth+1)
					}
				}
			}
		}
	}
	walk(expr, 0)
	return out
}

// refersTo reports whether expr uses prefix (e.g. "google_service_account.service").
func (m *module) refersTo(expr hcl.Expression, prefix string) bool {
	for _, r := range m.refs(expr) {
		if r == prefix || strings.HasPrefix(r, prefix+".") {
			return true
		}
	}
	return false
}

func traversalPath(t hcl.Traversal) string {
	parts := []string{t.RootName()}
	for _, step := range t[1:] {
		if a, ok := step.(hcl.TraverseAttr); ok {
			parts = append(parts, a.Name)
		}
	}
	return strings.Join(parts, ".")
}

func attr(b *hclsyntax.Body, name string) hcl.Expression {
	if b == nil {
		return nil
	}
	if a, ok := b.Attributes[name]; ok {
		return a.Expr
	}
	return nil
}

func blocks(b *hclsyntax.Body, typ string) []*hclsyntax.Block {
	if b == nil {
		return nil
	}
	var out []*hclsyntax.Block
	for _, blk := range b.Blocks {
		if blk.Type == typ {
			out = append(out, blk)
		}
	}
	return out
}

// block returns the only nested block of a type, or nil if there is not
// exactly one.
func block(b *hclsyntax.Body, typ string) *hclsyntax.Body {
	bs := blocks(b, typ)
	if len(bs) != 1 {
		return nil
	}
	return bs[0].Body
}

// literal returns expr's value when it is a constant string.
func literal(expr hcl.Expression) (string, bool) {
	if expr == nil || len(expr.Variables()) > 0 {
		return "", false
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() || v.Type() != cty.String || v.IsNull() {
		return "", false
	}
	return v.AsString(), true
}
