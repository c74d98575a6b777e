#!/usr/bin/env bash
# Builds the hashicorp/google Terraform provider, pinned, from the Go module
# proxy (the Terraform registry that `terraform init` downloads providers
# from cannot be reached here) and writes a Terraform CLI config whose
# dev_overrides point at it, so that `terraform validate` and `terraform
# test` (mock_provider, command = plan) run against the real provider schema
# without `terraform init`. Prints the config's path:
#
#   TF_CLI_CONFIG_FILE=$(bash infra/setup/terraform-provider.sh) terraform validate
#
# Cached outside the work tree, so a fresh clone does not rebuild it (3 to 10
# minutes on 2 cores, 184 MB); idempotent, and silent when the cache is warm.
#
# Which version: the proxy this workplace reaches serves exactly one recent
# version of the module: the pseudo-version below, main of 2026-08-28, two
# days after the provider's 8.0.0 release (its CHANGELOG.md starts at 8.0.0).
# Tags such as v6.50.0 are not Go-module versions of this module path (its
# go.mod has no /v6 suffix) and the proxy answers 403 for them. The module in
# terraform/ declares ">= 6.10.0, < 7.0.0" for real deployments; dev_overrides
# skip that constraint, so the tests check the configuration against this
# 8.0-era schema (terraform/README.md, "Checks", says what that covers).
set -euo pipefail

version=v1.20.1-0.20260828184646-f3721fb45fa3
cache=${PYTHON_API_CACHE:-/var/cache/python-api}/terraform-provider-google-$version
bin=$cache/bin
config=$cache/terraformrc

if [[ ! -x $bin/terraform-provider-google ]]; then
	mkdir -p "$cache"
	echo "building terraform-provider-google $version from the Go module proxy (3 to 10 minutes)" >&2
	start=$SECONDS
	# Build into a temporary directory and move into place, so that an
	# interrupted build never leaves a binary that looks finished.
	tmp=$(mktemp -d "$cache/build.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	if ! GOFLAGS=-buildvcs=false GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN=$tmp \
		go install "github.com/hashicorp/terraform-provider-google@$version" >"$tmp/build.log" 2>&1; then
		tail -n 30 "$tmp/build.log" >&2
		echo "terraform-provider.sh: go install failed" >&2
		exit 1
	fi
	mkdir -p "$bin"
	mv "$tmp/terraform-provider-google" "$bin/terraform-provider-google"
	echo "built terraform-provider-google in $((SECONDS - start)) s" >&2
fi

want="# Written by infra/setup/terraform-provider.sh: hashicorp/google $version,
# built from the Go module proxy, instead of a registry download.
provider_installation {
  dev_overrides {
    \"hashicorp/google\" = \"$bin\"
  }
  direct {}
}"
if [[ ! -f $config ]] || [[ $(<"$config") != "$want" ]]; then
	printf '%s\n' "$want" >"$config.tmp"
	mv "$config.tmp" "$config"
fi
echo "$config"
