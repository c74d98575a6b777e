package terraform

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Names the checks rely on. Renaming one in the module means renaming it
// here, on purpose.
const (
	runService   = "google_cloud_run_v2_service.api"
	serviceSA    = "google_service_account.service"
	invokerSA    = "google_service_account.pubsub_invoker"
	resultsBkt   = "google_storage_bucket.results"
	scriptsTopic = "google_pubsub_topic.scripts"
	deadTopic    = "google_pubsub_topic.dead_letter"
	pushSub      = "google_pubsub_subscription.push"
	builderSA    = "google_service_account.builder"
)

// requiredResources is every resource the service needs to work.
var requiredResources = []string{
	"google_artifact_registry_repository.images",
	runService,
	serviceSA,
	invokerSA,
	resultsBkt,
	scriptsTopic,
	deadTopic,
	pushSub,
	"google_storage_bucket_iam_member.service_object_creator",
	"google_storage_bucket_iam_member.service_object_viewer",
	"google_cloud_run_v2_service_iam_member.pubsub_invoker",
	"google_pubsub_topic_iam_member.dead_letter_publisher",
	"google_pubsub_subscription_iam_member.dead_letter_subscriber",
	builderSA,
	"google_artifact_registry_repository_iam_member.builder_writer",
	"google_cloud_run_v2_service_iam_member.builder_developer",
	"google_service_account_iam_member.builder_act_as",
	"google_project_iam_member.builder_logs",
	"google_storage_bucket.build",
	"google_storage_bucket_iam_member.builder_build_bucket",
}

// grant is one IAM role given to the service's account.
type grant struct {
	resourceType string
	role         string
	// on is the object the role is bound to (a module resource, or the
	// variable naming it).
	on string
	// conditional is the variable a count/for_each makes the grant depend on.
	conditional string
}

// wantServiceGrants is the complete list of roles the service account may
// hold: the two bucket roles, and reading the API-keys secret when one is
// configured. Anything else, and anything at project level, is a failure.
var wantServiceGrants = []grant{
	{"google_storage_bucket_iam_member", "roles/storage.objectCreator", resultsBkt, ""},
	{"google_storage_bucket_iam_member", "roles/storage.objectViewer", resultsBkt, ""},
	{"google_secret_manager_secret_iam_member", "roles/secretmanager.secretAccessor", "var.api_keys_secret", "var.api_keys_secret"},
}

type check func(m *module) []string

// checks are what a plan cannot show: every IAM grant in the module at
// once, the dependency graph, the provider pin. What a plan shows (the
// container's environment, timeouts, sizing, the push endpoint, single IAM
// members, bucket and service settings, the preconditions) is checked by
// tests/*.tftest.hcl (make test-terraform).
var checks = map[string]check{
	"resources":       checkResources,
	"service_account": checkServiceAccountRoles,
	"project_iam":     checkProjectIAM,
	"invokers":        checkInvokers,
	"push_depends_on": checkPushDependsOn,
	"provider":        checkProvider,
}

func checkResources(m *module) []string {
	var out []string
	for _, r := range requiredResources {
		if _, ok := m.resources[r]; !ok {
			out = append(out, "missing resource "+r)
		}
	}
	if _, ok := m.data["google_project.this"]; !ok {
		out = append(out, "missing data.google_project.this (the Pub/Sub service agent's name needs the project number)")
	}
	return out
}

func isIAMResource(typ string) bool {
	return strings.HasSuffix(typ, "_iam_member") || strings.HasSuffix(typ, "_iam_binding") || strings.HasSuffix(typ, "_iam_policy")
}

func isProjectLevel(typ string) bool {
	for _, p := range []string{"google_project_iam_", "google_folder_iam_", "google_organization_iam_"} {
		if strings.HasPrefix(typ, p) {
			return true
		}
	}
	return false
}

// grantTargets are the attributes that name the object an IAM resource binds to.
var grantTargets = []string{"bucket", "secret_id", "topic", "subscription", "name", "repository", "service_account_id", "project"}

// countVar names the variable a resource's count or for_each depends on.
func (m *module) countVar(b *hclsyntax.Block) string {
	for _, a := range []string{"count", "for_each"} {
		if e := attr(b.Body, a); e != nil {
			for _, r := range m.refs(e) {
				if strings.HasPrefix(r, "var.") {
					return r
				}
			}
			return "?"
		}
	}
	return ""
}

func (m *module) grantsTo(principal string) ([]grant, []string) {
	var got []grant
	var problems []string
	keys := make([]string, 0, len(m.resources))
	for k := range m.resources {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		b := m.resources[key]
		typ := b.Labels[0]
		if !isIAMResource(typ) {
			continue
		}
		member := attr(b.Body, "member")
		if member == nil {
			member = attr(b.Body, "members")
		}
		if member == nil {
			member = attr(b.Body, "policy_data")
		}
		if member == nil || !m.refersTo(member, principal) {
			continue
		}
		if strings.HasSuffix(typ, "_iam_policy") || strings.HasSuffix(typ, "_iam_binding") {
			problems = append(problems, fmt.Sprintf("%s: authoritative IAM (%s) for %s; use _iam_member", key, typ, principal))
		}
		role, ok := literal(attr(b.Body, "role"))
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: role is not a literal", key))
		}
		g := grant{resourceType: typ, role: role, conditional: m.countVar(b)}
		for _, t := range grantTargets {
			if e := attr(b.Body, t); e != nil {
				for _, r := range m.refs(e) {
					if strings.HasPrefix(r, "var.") && r != "var.project_id" {
						g.on = r
					} else if parts := strings.Split(r, "."); len(parts) >= 2 && strings.HasPrefix(parts[0], "google_") {
						g.on = parts[0] + "." + parts[1]
					}
				}
				if g.on != "" {
					break
				}
			}
		}
		if isProjectLevel(typ) {
			g.on = "project"
		}
		got = append(got, g)
	}
	return got, problems
}

func checkServiceAccountRoles(m *module) []string {
	var out []string
	svc := m.resources[runService]
	if svc == nil {
		return []string{"no " + runService}
	}
	tmpl := block(svc.Body, "template")
	if e := attr(tmpl, "service_account"); e == nil || !m.refersTo(e, serviceSA+".email") {
		out = append(out, "the Cloud Run service does not run as "+serviceSA)
	}
	got, problems := m.grantsTo(serviceSA)
	out = append(out, problems...)
	want := map[grant]bool{}
	for _, g := range wantServiceGrants {
		want[g] = true
	}
	seen := map[grant]bool{}
	for _, g := range got {
		if g.on == "project" {
			out = append(out, fmt.Sprintf("service account holds %s at project level (%s)", g.role, g.resourceType))
			continue
		}
		if !want[g] {
			out = append(out, fmt.Sprintf("service account holds an unlisted grant %+v", g))
		}
		if seen[g] {
			out = append(out, fmt.Sprintf("grant %+v declared twice", g))
		}
		seen[g] = true
	}
	for _, g := range wantServiceGrants {
		if !seen[g] {
			out = append(out, fmt.Sprintf("service account lacks %+v", g))
		}
	}
	return out
}

// checkProjectIAM allows one project-level grant in the whole module: build
// logs for the builder account.
func checkProjectIAM(m *module) []string {
	var out []string
	for key, b := range m.resources {
		if !isProjectLevel(b.Labels[0]) {
			continue
		}
		role, _ := literal(attr(b.Body, "role"))
		member := attr(b.Body, "member")
		if role != "roles/logging.logWriter" || member == nil || !m.refersTo(member, builderSA) {
			out = append(out, fmt.Sprintf("%s: project-level grant of %q to %s", key, role, m.src(member)))
		}
	}
	return out
}

// checkPushDependsOn: Pub/Sub starts pushing as soon as the subscription
// exists, so the push identity's run.invoker grant must exist first. Nothing
// in the subscription's arguments refers to that grant, so only depends_on
// orders them.
func checkPushDependsOn(m *module) []string {
	sub := m.resources[pushSub]
	if sub == nil {
		return []string{"no " + pushSub}
	}
	const invoker = "google_cloud_run_v2_service_iam_member.pubsub_invoker"
	if e := attr(sub.Body, "depends_on"); e != nil {
		for _, r := range m.refs(e) {
			if r == invoker {
				return nil
			}
		}
	}
	return []string{pushSub + " does not depend on " + invoker + ": the first deliveries can arrive before the push identity may invoke the service"}
}

// container returns the Cloud Run service's only container body.
func (m *module) container() (*hclsyntax.Body, []string) {
	svc := m.resources[runService]
	if svc == nil {
		return nil, []string{"no " + runService}
	}
	c := block(block(svc.Body, "template"), "containers")
	if c == nil {
		return nil, []string{runService + " must have exactly one containers block in template"}
	}
	return c, nil
}

func (m *module) envVars(c *hclsyntax.Body) map[string]*hclsyntax.Body {
	out := map[string]*hclsyntax.Body{}
	for _, e := range blocks(c, "env") {
		if name, ok := literal(attr(e.Body, "name")); ok {
			out[name] = e.Body
		}
	}
	return out
}

func checkInvokers(m *module) []string {
	var out []string
	var invoker, public bool
	for key, b := range m.resources {
		if b.Labels[0] != "google_cloud_run_v2_service_iam_member" {
			continue
		}
		role, _ := literal(attr(b.Body, "role"))
		if role != "roles/run.invoker" {
			continue
		}
		if e := attr(b.Body, "name"); e == nil || !m.refersTo(e, runService) {
			out = append(out, key+": invoker grant on something other than the service")
		}
		member := attr(b.Body, "member")
		switch lit, _ := literal(member); {
		case member != nil && m.refersTo(member, invokerSA):
			invoker = true
		case lit == "allUsers" || lit == "allAuthenticatedUsers":
			public = true
			if m.countVar(b) != "var.allow_unauthenticated" {
				out = append(out, key+": public invoker is not conditional on var.allow_unauthenticated")
			}
			if n, err := m.evalNumber(attr(b.Body, "count")); err != nil || n != 0 {
				out = append(out, key+": public invoker is on by default")
			}
		default:
			out = append(out, fmt.Sprintf("%s: unexpected invoker %s", key, m.src(member)))
		}
	}
	if !invoker {
		out = append(out, "the push identity cannot invoke the service")
	}
	if !public {
		out = append(out, "no opt-in public invoker behind var.allow_unauthenticated")
	}
	if v, ok := m.variables["allow_unauthenticated"]; !ok {
		out = append(out, "no variable allow_unauthenticated")
	} else if on, err := m.evalBool(attr(v.Body, "default")); err != nil || on {
		out = append(out, "allow_unauthenticated must default to false")
	}
	return out
}

func checkProvider(m *module) []string {
	var out []string
	found := false
	for _, tb := range m.terraform {
		rp := block(tb.Body, "required_providers")
		e := attr(rp, "google")
		if e == nil {
			continue
		}
		found = true
		v, err := m.eval(e, nil)
		if err != nil || !v.Type().IsObjectType() {
			out = append(out, "required_providers.google must be an object with source and version")
			continue
		}
		if !v.Type().HasAttribute("source") || v.GetAttr("source").AsString() != "hashicorp/google" {
			out = append(out, "google provider source must be hashicorp/google")
		}
		if !v.Type().HasAttribute("version") {
			out = append(out, "google provider version is not pinned")
			continue
		}
		ver := v.GetAttr("version").AsString()
		bounded := strings.Contains(ver, "~>") || (strings.Contains(ver, ">=") && strings.Contains(ver, "<")) || strings.HasPrefix(strings.TrimSpace(ver), "=")
		if !bounded {
			out = append(out, fmt.Sprintf("google provider version %q has no upper bound", ver))
		}
		if attr(tb.Body, "required_version") == nil {
			out = append(out, "terraform required_version unset")
		}
	}
	if !found {
		out = append(out, "no required_providers.google")
	}
	return out
}
