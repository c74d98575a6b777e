#!/usr/bin/env bash
# Unit tests of the web IDE (Vitest, Node environment: no browser). The
# browser end-to-end test is test-e2e.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "$root/infra/setup/build-client.sh"
cd "$root/client"
mkdir -p test-results
rc=0
npx --no-install vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json || rc=$?
# A plain closing line, as the other suites print.
node -e '
  const r = require("./test-results/vitest.json");
  console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);
  if (r.numTotalTests === 0) process.exit(1);
' || rc=1
exit "$rc"
