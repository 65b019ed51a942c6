#!/usr/bin/env bash
# SARIF from a scan with a finding of every rule passes Microsoft's SARIF Multitool, GitHub (GH…)
# rules included, with no result of level error; so does the SARIF of a clean scan and of a scan
# with problems and skipped files.
source "$(dirname "$0")/lib.sh"

sarif_multitool
build_sopsguard

multitool() { # FILE OUT: runs the Multitool with the SARIF and GitHub rules, every level
  (cd "$WORK" && "$MULTITOOL" validate "$1" --output "$2" --log ForceOverwrite \
    --rule-kind '"Sarif;Gh"' --level '"Error;Warning;Note"' >/dev/null) || true
  [ -s "$2" ] || fail "the Multitool wrote no report for $1"
}

validate() { # FILE: no error-level result from the Multitool
  local out=$1.validation.sarif errors warnings
  multitool "$1" "$out"
  errors=$(jq '[.runs[].results[]? | select(.level == "error")] | length' "$out")
  warnings=$(jq '[.runs[].results[]? | select(.level == "warning")] | length' "$out")
  jq -r '.runs[].results[]? | "\(.level // "note") \(.ruleId)"' "$out" | sort | uniq -c | sed 's/^/  /'
  if [ "$errors" != 0 ]; then
    jq -r '.runs[].results[]? | select(.level == "error") | "  \(.ruleId) \(.message.arguments // [] | join(" | "))"' "$out"
    fail "$1: $errors error-level results from the Multitool"
  fi
  pass "$(basename "$1"): 0 errors, $warnings warnings (SARIF and GitHub rules)"
}

say "control: the GitHub rules are active (a result without a location must be an error)"
printf '%s' '{"$schema":"https://json.schemastore.org/sarif-2.1.0.json","version":"2.1.0","runs":[{"tool":{"driver":{"name":"x","rules":[{"id":"r"}]}},"results":[{"ruleId":"r","message":{"text":"m."}}]}]}' > "$WORK/control.sarif"
multitool "$WORK/control.sarif" "$WORK/control.out.sarif"
jq -e '[.runs[].results[]? | select(.level == "error" and (.ruleId | startswith("GH")))] | length > 0' "$WORK/control.out.sarif" >/dev/null \
  || fail "the Multitool's GitHub (GH…) rules did not flag the control"
pass "GH rules flag the control: $(jq -r '[.runs[].results[]? | select(.level == "error") | .ruleId] | unique | join(", ")' "$WORK/control.out.sarif")"

say "every rule"
every_rule_fixture "$WORK/fixture"
rc=0; (cd "$WORK/fixture" && "$BIN" scan . --isolated --identity .identity.txt --format sarif --output "$WORK/every-rule.sarif") || rc=$?
[ "$rc" = 1 ] || fail "scan with findings should exit 1, got $rc"
want=$("$BIN" rules --format json | jq -r '[.[].id] | sort | join(",")')
got=$(jq -r '[.runs[].results[].ruleId] | unique | sort | join(",")' "$WORK/every-rule.sarif")
[ "$want" = "$got" ] || fail "rules without a result: want $want, got $got"
pass "a result for every rule ($(jq '[.runs[].results[]] | length' "$WORK/every-rule.sarif") results)"
validate "$WORK/every-rule.sarif"

say "a clean scan with a skipped file, and a scan with a problem"
mkdir -p "$WORK/clean"
echo "hello" > "$WORK/clean/readme.md"
head -c 4096 /dev/zero | tr '\0' 'x' > "$WORK/clean/big.txt"
"$BIN" scan "$WORK/clean" --isolated --max-file-size 1K --format sarif --output "$WORK/clean.sarif" \
  || fail "clean scan should exit 0"
validate "$WORK/clean.sarif"
# A Kubernetes manifest that is not UTF-8 is a problem (exit 2): a tool execution notification.
printf 'apiVersion: v1\nkind: Secret\ndata:\n  k: \xff\xfe\n' > "$WORK/clean/broken.yaml"
rc=0; "$BIN" scan "$WORK/clean" --isolated --format sarif --output "$WORK/problem.sarif" || rc=$?
[ "$rc" = 2 ] || fail "a problem should exit 2, got $rc"
jq -e '.runs[0].invocations[0].executionSuccessful == false
  and ([.runs[0].invocations[0].toolExecutionNotifications[] | select(.level == "error")] | length == 1)' \
  "$WORK/problem.sarif" >/dev/null || fail "the problem is not an error notification"
validate "$WORK/problem.sarif"

say "history and range scans: their own runs, commit properties, fingerprints for deleted files"
git_env
repo=$WORK/repo
git init -q "$repo"
(
  cd "$repo"
  echo "# app" > README.md && git add -A && git commit -qm c1
  printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: aHVudGVyMjI=\n' > secret.yaml
  age_identity > old-keys.txt
  git add -A && git commit -qm "c2: secrets"
  git rm -q old-keys.txt && git commit -qm "c3: remove the key (it stays in history)"
)
rc=0; (cd "$repo" && "$BIN" scan --history --isolated --format sarif --output "$WORK/history.sarif") || rc=$?
[ "$rc" = 1 ] || fail "history scan: exit $rc, want 1"
jq -e '.runs | length == 1 and .[0].automationDetails.id == "sopsguard/history/"
  and ([.[0].results[] | select(.properties.commit and .properties.author and .properties.date
        and .partialFingerprints.primaryLocationLineHash)] | length == 2)
  and ([.[0].results[].locations[0].physicalLocation.artifactLocation.uri] | sort == ["old-keys.txt", "secret.yaml"])' \
  "$WORK/history.sarif" >/dev/null || { jq '.runs[] | {id: .automationDetails, results: [.results[] | {ruleId, properties, partialFingerprints}]}' "$WORK/history.sarif"; fail "history SARIF"; }
pass "history: one sopsguard/history/ run, commit/author/date and primaryLocationLineHash on both (one file deleted)"
validate "$WORK/history.sarif"
c1=$(git -C "$repo" rev-list --max-parents=0 HEAD)
rc=0; (cd "$repo" && "$BIN" scan --range "$c1..HEAD" --isolated --format sarif --output "$WORK/range.sarif") || rc=$?
[ "$rc" = 1 ] || fail "range scan: exit $rc, want 1"
jq -e '.runs | length == 1 and .[0].automationDetails.id == "sopsguard/range/"' "$WORK/range.sarif" >/dev/null || fail "range SARIF"
validate "$WORK/range.sarif"

echo "sarif-multitool: all checks passed"
