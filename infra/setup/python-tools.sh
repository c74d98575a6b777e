#!/usr/bin/env bash
# Installs the Python test tools (schemathesis, for the OpenAPI check in
# function/e2e) into build/venv, pinned by infra/setup/python-tools.txt.
# Idempotent and quiet: does nothing when the venv already matches.
set -euo pipefail
cd "$(dirname "$0")/../.."

lock=infra/setup/python-tools.txt
venv=build/venv
stamp=$venv/.python-tools.sha256
want=$(sha256sum "$lock" | cut -d' ' -f1)

if [[ -x $venv/bin/st && -f $stamp && $(cat "$stamp") == "$want" ]]; then
	exit 0
fi
python=${PYTHON:-python3}
if [[ ! -x $venv/bin/python ]]; then
	"$python" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-input --require-virtualenv -r "$lock"
"$venv/bin/st" --version >/dev/null
echo "$want" > "$stamp"
