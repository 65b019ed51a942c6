#!/usr/bin/env bash
# Runs the scan for the action. Inputs (environment): SOPSGUARD_BIN, SOPSGUARD_MODE and
# SOPSGUARD_RANGE (from resolve.sh), INPUT_ARGS (split on white space), INPUT_SARIF_FILE,
# INPUT_FAIL_ON. Prints the findings, writes the SARIF file, one annotation per finding (at most
# 50) and a step summary, and sets the outputs `sarif-file` and `exit-code`. Exits 1 on findings
# at or above fail-on, 2 when sopsguard could not complete the scan, else 0.
set -euo pipefail

bin=${SOPSGUARD_BIN:-sopsguard}
mode=${SOPSGUARD_MODE:-path}
range=${SOPSGUARD_RANGE:-}
sarif=${INPUT_SARIF_FILE:-}
fail_on=${INPUT_FAIL_ON:-warning}
out=${GITHUB_OUTPUT:-/dev/null}
summary=${GITHUB_STEP_SUMMARY:-/dev/null}

args=(scan)
case "$mode" in
  staged) args+=(--staged) ;;
  range) args+=(--range "$range") ;;
  history) args+=(--history) ;;
  path) ;;
  none)
    echo "sopsguard: nothing to scan"
    { echo "sarif-file="; echo "exit-code=0"; } >> "$out"
    exit 0 ;;
  *) echo "::error title=sopsguard::unknown mode '$mode'"; exit 2 ;;
esac
set -f
read -r -a extra <<< "${INPUT_ARGS:-}"
set +f
args+=(${extra[@]+"${extra[@]}"} --fail-on "$fail_on")
if [ -n "$sarif" ]; then
  mkdir -p "$(dirname "$sarif")"
  args+=(--sarif "$sarif")
fi

echo "sopsguard ${args[*]}"
rc=0
"$bin" "${args[@]}" || rc=$?
{ echo "sarif-file=$sarif"; echo "exit-code=$rc"; } >> "$out"

# Annotations and the step summary, from the SARIF file.
escape_data() { local s=${1//'%'/%25}; s=${s//$'\r'/%0D}; s=${s//$'\n'/%0A}; printf '%s' "$s"; }
escape_prop() { local s; s=$(escape_data "$1"); s=${s//:/%3A}; s=${s//,/%2C}; printf '%s' "$s"; }
if [ -n "$sarif" ] && [ -s "$sarif" ] && command -v jq >/dev/null 2>&1; then
  jq -r '.runs[].results[] | [.level, .ruleId, .locations[0].physicalLocation.artifactLocation.uri,
      (.locations[0].physicalLocation.region | .startLine, .startColumn, .endLine, .endColumn),
      .message.text] | @tsv' "$sarif" | head -n 50 |
  while IFS=$'\t' read -r level rule uri line col end_line end_col message; do
    case "$level" in error) cmd=error ;; warning) cmd=warning ;; *) cmd=notice ;; esac
    file=$(printf '%b' "${uri//%/\\x}")
    file=${file#file://}
    echo "::$cmd file=$(escape_prop "$file"),line=$line,col=$col,endLine=$end_line,endColumn=$end_col,title=$(escape_prop "sopsguard $rule")::$(escape_data "$message")"
  done
  {
    echo "### sopsguard"
    echo
    echo "Mode: \`$mode\`${range:+ (\`$range\`)}; fail on: \`$fail_on\`; exit code: $rc"
    echo
    echo "| level | results |"
    echo "| --- | ---: |"
    jq -r '[.runs[].results[].level] | group_by(.) | map("| \(.[0]) | \(length) |") | .[]' "$sarif"
    echo
    echo "Runs: $(jq -r '[.runs[] | "`\(.automationDetails.id)` (\(.results | length))"] | join(", ")' "$sarif")"
  } >> "$summary"
fi

case "$rc" in
  0) ;;
  1) echo "::error title=sopsguard::findings at or above '$fail_on' (see the log above and the code scanning alerts)" ;;
  *) echo "::error title=sopsguard::sopsguard could not complete the scan (exit code $rc)" ;;
esac
exit "$rc"
