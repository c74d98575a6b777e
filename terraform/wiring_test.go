package terraform

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
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
	pubsubPath   = "/pubsub"
	healthPath   = "/healthz"
	// wantAttempts is the dead-letter threshold the issue asks for.
	wantAttempts = 5
	// maxAckDeadline is Pub/Sub's upper limit.
	maxAckDeadline = 600
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

var checks = map[string]check{
	"resources":       checkResources,
	"service_account": checkServiceAccountRoles,
	"project_iam":     checkProjectIAM,
	"results_env":     checkResultsEnv,
	"push_endpoint":   checkPushEndpoint,
	"dead_letter":     checkDeadLetter,
	"ack_deadline":    checkAckDeadline,
	"pubsub_agent":    checkPubSubAgent,
	"invokers":        checkInvokers,
	"service":         checkServiceSettings,
	"bucket":          checkBucket,
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
// logs for the optional builder account.
func checkProjectIAM(m *module) []string {
	var out []string
	for key, b := range m.resources {
		if !isProjectLevel(b.Labels[0]) {
			continue
		}
		role, _ := literal(attr(b.Body, "role"))
		member := attr(b.Body, "member")
		if role != "roles/logging.logWriter" || member == nil || !m.refersTo(member, "google_service_account.builder") {
			out = append(out, fmt.Sprintf("%s: project-level grant of %q to %s", key, role, m.src(member)))
		}
		if m.countVar(b) != "var.enable_build_trigger" {
			out = append(out, key+": builder's project grant exists even without the build trigger")
		}
	}
	return out
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

func checkResultsEnv(m *module) []string {
	c, out := m.container()
	if c == nil {
		return out
	}
	env := m.envVars(c)
	if e := env["RESULTS_BUCKET"]; e == nil {
		out = append(out, "no RESULTS_BUCKET env")
	} else if v := attr(e, "value"); v == nil || !m.refersTo(v, resultsBkt+".name") {
		out = append(out, "RESULTS_BUCKET is not the results bucket's name: "+m.src(v))
	}
	if e := env["RESULTS_PREFIX"]; e == nil || attr(e, "value") == nil {
		out = append(out, "no RESULTS_PREFIX env")
	}
	if e := env["SANDBOX_MODE"]; e == nil {
		out = append(out, "no SANDBOX_MODE env")
	} else if v, ok := literal(attr(e, "value")); !ok || v != "auto" {
		out = append(out, "SANDBOX_MODE must be auto so one image serves gen1 and gen2")
	}
	return out
}

func checkPushEndpoint(m *module) []string {
	sub := m.resources[pushSub]
	if sub == nil {
		return []string{"no " + pushSub}
	}
	var out []string
	if e := attr(sub.Body, "topic"); e == nil || !m.refersTo(e, scriptsTopic) {
		out = append(out, pushSub+" does not subscribe to "+scriptsTopic)
	}
	pc := block(sub.Body, "push_config")
	if pc == nil {
		return append(out, pushSub+" has no push_config")
	}
	ep := attr(pc, "push_endpoint")
	if ep == nil {
		return append(out, "no push_endpoint")
	}
	// Evaluate with a stand-in for the service's URL: the endpoint must be
	// exactly that URL plus the CloudEvent path.
	const uri = "https://python-api-abc-uc.a.run.app"
	stand := map[string]cty.Value{
		"google_cloud_run_v2_service": cty.ObjectVal(map[string]cty.Value{
			"api": cty.ObjectVal(map[string]cty.Value{"uri": cty.StringVal(uri)}),
		}),
	}
	v, err := m.eval(ep, stand)
	if err != nil {
		out = append(out, "push_endpoint: "+err.Error())
	} else if v.Type() != cty.String || v.AsString() != uri+pubsubPath {
		out = append(out, fmt.Sprintf("push_endpoint evaluates to %#v, want the service URL + %s", v.GoString(), pubsubPath))
	}
	oidc := block(pc, "oidc_token")
	if oidc == nil {
		return append(out, "push_config has no oidc_token: deliveries would be unauthenticated")
	}
	if e := attr(oidc, "service_account_email"); e == nil || !m.refersTo(e, invokerSA+".email") {
		out = append(out, "oidc_token does not use "+invokerSA)
	}
	if e := attr(oidc, "audience"); e != nil && !m.refersTo(e, runService+".uri") {
		out = append(out, "oidc_token audience is not the service URL")
	}
	return out
}

func checkDeadLetter(m *module) []string {
	sub := m.resources[pushSub]
	if sub == nil {
		return []string{"no " + pushSub}
	}
	dl := block(sub.Body, "dead_letter_policy")
	if dl == nil {
		return []string{pushSub + " has no dead_letter_policy"}
	}
	var out []string
	if e := attr(dl, "dead_letter_topic"); e == nil || !m.refersTo(e, deadTopic) || m.refersTo(e, scriptsTopic) {
		out = append(out, "dead_letter_topic is not "+deadTopic)
	}
	if e := attr(dl, "max_delivery_attempts"); e == nil {
		out = append(out, "no max_delivery_attempts")
	} else if n, err := m.evalNumber(e); err != nil {
		out = append(out, err.Error())
	} else if n != wantAttempts {
		out = append(out, fmt.Sprintf("max_delivery_attempts = %d, want %d", n, wantAttempts))
	}
	// A dead-letter topic with no subscription drops what it receives.
	found := false
	for _, b := range m.resources {
		if b.Labels[0] == "google_pubsub_subscription" {
			if e := attr(b.Body, "topic"); e != nil && m.refersTo(e, deadTopic) {
				found = true
			}
		}
	}
	if !found {
		out = append(out, "nothing subscribes to the dead-letter topic: dead-lettered messages would be lost")
	}
	return out
}

func checkAckDeadline(m *module) []string {
	sub := m.resources[pushSub]
	if sub == nil {
		return []string{"no " + pushSub}
	}
	var out []string
	batch, ok := m.variables["batch_max_timeout_seconds"]
	if !ok {
		return []string{"no variable batch_max_timeout_seconds"}
	}
	maxBatch, err := m.evalNumber(attr(batch.Body, "default"))
	if err != nil {
		return []string{"batch_max_timeout_seconds: " + err.Error()}
	}
	e := attr(sub.Body, "ack_deadline_seconds")
	if e == nil {
		return append(out, "no ack_deadline_seconds (the 10 s default would redeliver every long batch run)")
	}
	ack, err := m.evalNumber(e)
	switch {
	case err != nil:
		out = append(out, err.Error())
	case ack < maxBatch:
		out = append(out, fmt.Sprintf("ack_deadline_seconds %d < batch max timeout %d", ack, maxBatch))
	case ack > maxAckDeadline:
		out = append(out, fmt.Sprintf("ack_deadline_seconds %d > Pub/Sub's %d", ack, maxAckDeadline))
	}
	// The delivery is an HTTP request to Cloud Run: its timeout must cover
	// the batch run too.
	svc := m.resources[runService]
	if svc != nil {
		if t := attr(block(svc.Body, "template"), "timeout"); t == nil {
			out = append(out, "Cloud Run template has no timeout")
		} else if s, err := m.evalString(t); err != nil {
			out = append(out, err.Error())
		} else {
			var secs int64
			if _, err := fmt.Sscanf(s, "%ds", &secs); err != nil || secs < maxBatch {
				out = append(out, fmt.Sprintf("Cloud Run timeout %q does not cover the batch max timeout %d s", s, maxBatch))
			}
		}
	}
	rp := block(sub.Body, "retry_policy")
	if rp == nil || attr(rp, "minimum_backoff") == nil || attr(rp, "maximum_backoff") == nil {
		out = append(out, "push subscription needs retry_policy with minimum_backoff and maximum_backoff (exponential backoff)")
	}
	return out
}

func (m *module) isPubSubAgent(member string) bool {
	// The local's template must produce the service agent's address.
	l, ok := m.locals["pubsub_service_agent"]
	if !ok || member != "local.pubsub_service_agent" {
		return false
	}
	v, err := m.eval(l.Expr, map[string]cty.Value{
		"data": cty.ObjectVal(map[string]cty.Value{
			"google_project": cty.ObjectVal(map[string]cty.Value{
				"this": cty.ObjectVal(map[string]cty.Value{"number": cty.StringVal("123456789")}),
			}),
		}),
	})
	return err == nil && v.Type() == cty.String && v.AsString() == "serviceAccount:service-123456789@gcp-sa-pubsub.iam.gserviceaccount.com"
}

func checkPubSubAgent(m *module) []string {
	type need struct{ typ, role, on string }
	needs := []need{
		{"google_pubsub_topic_iam_member", "roles/pubsub.publisher", deadTopic},
		{"google_pubsub_subscription_iam_member", "roles/pubsub.subscriber", pushSub},
	}
	var out []string
	for _, n := range needs {
		found := false
		for _, b := range m.resources {
			if b.Labels[0] != n.typ {
				continue
			}
			role, _ := literal(attr(b.Body, "role"))
			member := attr(b.Body, "member")
			target := attr(b.Body, "topic")
			if target == nil {
				target = attr(b.Body, "subscription")
			}
			if role == n.role && member != nil && m.isPubSubAgent(m.src(member)) && target != nil && m.refersTo(target, n.on) {
				found = true
			}
		}
		if !found {
			out = append(out, fmt.Sprintf("Pub/Sub service agent lacks %s on %s", n.role, n.on))
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

func checkServiceSettings(m *module) []string {
	svc := m.resources[runService]
	if svc == nil {
		return []string{"no " + runService}
	}
	tmpl := block(svc.Body, "template")
	var out []string
	if e := attr(tmpl, "execution_environment"); e == nil {
		out = append(out, "no execution_environment")
	} else if s, err := m.evalString(e); err != nil || s != "EXECUTION_ENVIRONMENT_GEN2" {
		out = append(out, "execution_environment must default to EXECUTION_ENVIRONMENT_GEN2")
	} else if !m.refersTo(e, "var.execution_environment") {
		out = append(out, "execution_environment is not a variable")
	}
	for _, a := range []string{"max_instance_request_concurrency", "timeout"} {
		if attr(tmpl, a) == nil {
			out = append(out, "template has no "+a)
		}
	}
	sc := block(tmpl, "scaling")
	if attr(sc, "min_instance_count") == nil || attr(sc, "max_instance_count") == nil {
		out = append(out, "template.scaling needs min and max instance counts")
	}
	c, problems := m.container()
	out = append(out, problems...)
	if c == nil {
		return out
	}
	res := block(c, "resources")
	if e := attr(res, "cpu_idle"); e == nil {
		out = append(out, "resources.cpu_idle unset (must be false to refill the warm pool between requests)")
	} else if idle, err := m.evalBool(e); err != nil || idle {
		out = append(out, "resources.cpu_idle must be false")
	}
	if attr(res, "limits") == nil {
		out = append(out, "resources.limits unset")
	}
	for _, p := range []string{"startup_probe", "liveness_probe"} {
		hg := block(block(c, p), "http_get")
		if path, ok := literal(attr(hg, "path")); !ok || path != healthPath {
			out = append(out, p+" must GET "+healthPath)
		}
	}
	return out
}

func checkBucket(m *module) []string {
	b := m.resources[resultsBkt]
	if b == nil {
		return []string{"no " + resultsBkt}
	}
	var out []string
	if e := attr(b.Body, "uniform_bucket_level_access"); e == nil {
		out = append(out, "uniform_bucket_level_access unset")
	} else if on, err := m.evalBool(e); err != nil || !on {
		out = append(out, "uniform_bucket_level_access must be true")
	}
	if s, ok := literal(attr(b.Body, "public_access_prevention")); !ok || s != "enforced" {
		out = append(out, `public_access_prevention must be "enforced"`)
	}
	deletes := false
	for _, lr := range blocks(b.Body, "lifecycle_rule") {
		typ, _ := literal(attr(block(lr.Body, "action"), "type"))
		age := attr(block(lr.Body, "condition"), "age")
		if typ == "Delete" && age != nil && m.refersTo(age, "var.results_retention_days") {
			deletes = true
		}
	}
	if !deletes {
		out = append(out, "no lifecycle rule deleting results after var.results_retention_days")
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
