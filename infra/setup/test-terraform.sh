#!/usr/bin/env bash
# The Terraform checks of terraform/, the way Terraform users run them:
#   terraform fmt -check    formatting, including tests/*.tftest.hcl
#   terraform validate      the module against the google provider's schema
#   terraform test          tests/*.tftest.hcl: plans with a mocked provider
# against the provider infra/setup/terraform-provider.sh builds (no `init`,
# no registry, no credentials, no cloud). `make test-terraform` runs this;
# the Go tests of terraform/ (go test ./terraform/) are separate.
set -euo pipefail
cd "$(dirname "$0")/../../terraform"

if ! command -v terraform >/dev/null; then
	echo "test-terraform.sh: no terraform on PATH (Terraform >= 1.7 is needed for mock_provider, 1.11 for override_during)" >&2
	exit 1
fi
TF_CLI_CONFIG_FILE=$(bash ../infra/setup/terraform-provider.sh)
export TF_CLI_CONFIG_FILE TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1

# Every command warns that dev_overrides are in effect; that is the point
# here, so keep the warning out of the output and show everything else.
quiet() {
	local out rc=0
	out=$("$@" -no-color 2>&1) || rc=$?
	printf '%s\n' "$out" | awk '
		/Warning: Provider development overrides are in effect/ { skip = 1 }
		skip && /releases\.$/ { skip = 0; next }
		skip { next }
		/^Success! The configuration is valid, but there were some/ { print "Success! The configuration is valid."; getline; next }
		/^$/ && blank { next }
		{ blank = ($0 == ""); print }'
	return "$rc"
}

start=$SECONDS
echo "terraform fmt -check -recursive"
if ! terraform fmt -check -recursive -diff -no-color; then
	echo "test-terraform.sh: run terraform fmt -recursive in terraform/" >&2
	exit 1
fi
echo "terraform validate"
quiet terraform validate
echo "terraform test"
quiet terraform test
echo "test-terraform.sh: fmt, validate and test passed in $((SECONDS - start)) s"
