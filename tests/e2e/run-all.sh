#!/usr/bin/env bash
# Runs every end-to-end script, sharing one tools directory (pre-commit, check-jsonschema, maturin
# and the SARIF Multitool are installed once). Prints "N passed, N failed" and exits non-zero on a failure.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export SOPSGUARD_E2E_TOOLS=${SOPSGUARD_E2E_TOOLS:-$(mktemp -d "${TMPDIR:-/tmp}/sopsguard-e2e-tools.XXXXXX")}
passed=0 failed=0
for script in sarif-multitool.sh action.sh pre-commit.sh wheel.sh pre-commit-wheel.sh; do
  echo "=== e2e: $script"
  start=$(date +%s)
  if bash "$here/$script"; then
    passed=$((passed + 1)); echo "=== e2e: $script passed in $(( $(date +%s) - start ))s"
  else
    failed=$((failed + 1)); echo "=== e2e: $script FAILED after $(( $(date +%s) - start ))s"
  fi
done
echo "e2e: $passed passed, $failed failed"
[ "$failed" = 0 ]
