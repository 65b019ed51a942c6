#!/usr/bin/env bash
# The GitHub Action: action.yml validates against the GitHub Action schema (check-jsonschema), and
# its steps, run locally by tests/e2e/run_action.py with simulated GITHUB_* environments and event
# payloads (push, pull_request, workflow_dispatch, a shallow checkout, path mode), produce the
# expected SARIF and exit status. Installation goes through the action's own install step: from a
# prebuilt release archive served from a local directory (SOPSGUARD_RELEASE_BASE_URL), with its
# checksum checked, then from the simulated cache.
source "$(dirname "$0")/lib.sh"

python_tools
build_sopsguard
git_env

say "action.yml against the GitHub Action schema"
"$VENV/bin/check-jsonschema" --builtin-schema vendor.github-actions "$REPO/action.yml"
pass "schema"

# A prebuilt "release" of the binary just built, for the runner this is.
version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n 1)
target=x86_64-unknown-linux-musl
mkdir -p "$WORK/releases/v$version" "$WORK/pkg"
cp "$BIN" "$WORK/pkg/sopsguard"
archive="sopsguard-v$version-$target.tar.gz"
tar -czf "$WORK/releases/v$version/$archive" -C "$WORK/pkg" sopsguard
(cd "$WORK/releases/v$version" && sha256sum "$archive" > "$archive.sha256")

# The repository the workflow checked out: c1 clean, c2 adds a plaintext Secret, c3 clean.
origin=$WORK/origin.git
ws=$WORK/workspace
git init -q "$ws"
(
  cd "$ws"
  echo "# app" > README.md && git add -A && git commit -qm c1
  printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: aHVudGVyMjI=\n' > secret.yaml
  git add -A && git commit -qm c2
  echo "more" >> README.md && git add -A && git commit -qm c3
)
c1=$(git -C "$ws" rev-parse HEAD~2); c2=$(git -C "$ws" rev-parse HEAD~1); c3=$(git -C "$ws" rev-parse HEAD)
git clone -q --bare "$ws" "$origin"
git -C "$ws" remote add origin "$origin" && git -C "$ws" fetch -q origin

# run_action EVENT PAYLOAD WORKSPACE [INPUT=VALUE ...]: runs the action; sets RC and OUTPUTS (a file).
run_action() {
  local event=$1 payload=$2 dir=$3; shift 3
  printf '%s' "$payload" > "$WORK/event.json"
  OUTPUTS=$WORK/outputs-$event.json
  RC=0
  (
    cd "$dir"
    env GITHUB_ACTIONS=true CI=true GITHUB_EVENT_NAME="$event" GITHUB_EVENT_PATH="$WORK/event.json" \
      GITHUB_WORKSPACE="$dir" GITHUB_REPOSITORY=example/app GITHUB_SHA="$(git rev-parse HEAD)" \
      RUNNER_OS=Linux RUNNER_ARCH=X64 RUNNER_TEMP="$WORK/runner-temp" RUNNER_TOOL_CACHE="$WORK/toolcache" \
      GITHUB_STEP_SUMMARY="$WORK/summary.md" RUN_ACTION_OUTPUTS="$OUTPUTS" \
      SOPSGUARD_RELEASE_BASE_URL="file://$WORK/releases" \
      "$VENV/bin/python" "$REPO/tests/e2e/run_action.py" "$REPO" "$@"
  ) > "$WORK/action.log" 2>&1 || RC=$?
}
output() { jq -r ".\"$1\"" "$OUTPUTS"; }
show_log() { sed 's/^/  | /' "$WORK/action.log"; }

say "push: before..after contains a Secret → SARIF with a range run, the step fails"
run_action push "{\"before\": \"$c1\", \"after\": \"$c3\", \"repository\": {\"default_branch\": \"main\"}}" "$ws"
show_log
[ "$RC" = 1 ] || fail "push with a secret: exit $RC, want 1"
[ "$(output mode)" = range ] && [ "$(output range)" = "$c1..$c3" ] || fail "push: mode/range $(output mode) $(output range)"
grep -q "installed the prebuilt $archive" "$WORK/action.log" || fail "the prebuilt release was not installed"
sarif="$ws/$(output sarif-file)"
jq -e --arg c2 "$c2" '.runs | length == 1 and .[0].automationDetails.id == "sopsguard/range/"
  and (.[0].results | length == 1) and .[0].results[0].ruleId == "k8s/plaintext-secret"
  and .[0].results[0].properties.commit == $c2
  and (.[0].results[0].partialFingerprints.primaryLocationLineHash | length > 0)' "$sarif" >/dev/null \
  || { jq . "$sarif"; fail "push: unexpected SARIF"; }
grep -q "::error file=secret.yaml,line=6" "$WORK/action.log" || fail "no annotation for the finding"
grep -q "| error | 1 |" "$WORK/summary.md" || fail "no step summary"
pass "push: exit 1, range $c1..$c3, one range result in commit $c2, annotation and summary"

say "pull_request: base..head without a secret → empty range run, the step passes (and the cache hits)"
git -C "$ws" checkout -q -b feature && echo "x" > "$ws/notes.md" && git -C "$ws" add -A && git -C "$ws" commit -qm c4
c4=$(git -C "$ws" rev-parse HEAD)
run_action pull_request "{\"pull_request\": {\"base\": {\"sha\": \"$c3\"}, \"head\": {\"sha\": \"$c4\"}}}" "$ws"
show_log
[ "$RC" = 0 ] || fail "clean pull request: exit $RC, want 0"
[ "$(output range)" = "$c3..$c4" ] || fail "pull_request range: $(output range)"
grep -q "cache-hit=true" "$WORK/action.log" || fail "the second run should hit the cache"
jq -e '.runs | length == 1 and .[0].automationDetails.id == "sopsguard/range/" and (.[0].results | length == 0)' \
  "$ws/sopsguard.sarif" >/dev/null || fail "pull_request: unexpected SARIF"
pass "pull_request: exit 0, range $c3..$c4, an empty range run (fixed alerts close)"

say "pull_request with the secret in range, fail-on: never → findings in SARIF, the step passes"
run_action pull_request "{\"pull_request\": {\"base\": {\"sha\": \"$c1\"}, \"head\": {\"sha\": \"$c4\"}}}" "$ws" fail-on=never sarif-file=out/scan.sarif
[ "$RC" = 0 ] || { show_log; fail "fail-on never: exit $RC, want 0"; }
jq -e '.runs[0].results | length == 1' "$ws/out/scan.sarif" >/dev/null || fail "fail-on never: SARIF"
pass "fail-on never: exit 0 with 1 result"

say "workflow_dispatch → the whole history"
run_action workflow_dispatch '{}' "$ws"
[ "$RC" = 1 ] && [ "$(output mode)" = history ] || { show_log; fail "workflow_dispatch: exit $RC mode $(output mode)"; }
jq -e '.runs | length == 1 and .[0].automationDetails.id == "sopsguard/history/" and (.[0].results | length >= 1)' \
  "$ws/sopsguard.sarif" >/dev/null || fail "history SARIF"
pass "workflow_dispatch: history run with the secret, exit 1"

say "a shallow checkout says fetch-depth: 0"
git clone -q --depth 1 "file://$origin" "$WORK/shallow"
run_action push "{\"before\": \"$c1\", \"after\": \"$c3\"}" "$WORK/shallow"
show_log
[ "$RC" = 2 ] || fail "shallow: exit $RC, want 2"
grep -q "fetch-depth: 0" "$WORK/action.log" || fail "shallow: no fetch-depth hint"
pass "shallow: exit 2 with the fetch-depth: 0 hint"

say "path mode with fail-on error: the working tree"
printf 'SOPS_AGE_KEY=%s\n' "$(age_identity)" > "$ws/.env"
run_action push '{}' "$ws" mode=path fail-on=error "args=--quiet ."
[ "$RC" = 1 ] || { show_log; fail "path mode: exit $RC, want 1"; }
jq -e '[.runs[0].results[].ruleId] | index("age/identity") != null' "$ws/sopsguard.sarif" >/dev/null || fail "path mode SARIF"
pass "path mode: exit 1, age identity in SARIF"

say "bad inputs are errors"
run_action push '{}' "$ws" fail-on=sometimes
[ "$RC" = 2 ] && grep -q "fail-on must be" "$WORK/action.log" || { show_log; fail "bad fail-on accepted"; }
pass "bad fail-on: exit 2"

echo "action: all checks passed"
