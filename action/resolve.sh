#!/usr/bin/env bash
# Decides what the action scans. Inputs (environment): INPUT_MODE, INPUT_FAIL_ON, and GitHub's
# GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_OUTPUT. Writes `mode` (staged|range|history|path)
# and `range` (A..B) to GITHUB_OUTPUT.
#
# auto: push → before..after; pull_request(_target) → base.sha..head.sha; merge_group →
# base_sha..head_sha; schedule, workflow_dispatch and any other event → the whole history.
# Range and history scans need the full history: a shallow checkout is an error that says so.
set -euo pipefail

mode=${INPUT_MODE:-auto}
fail_on=${INPUT_FAIL_ON:-warning}
event=${GITHUB_EVENT_NAME:-}
payload=${GITHUB_EVENT_PATH:-}
out=${GITHUB_OUTPUT:-/dev/stdout}
zero=0000000000000000000000000000000000000000

error() { echo "::error title=sopsguard::$*"; exit 2; }
notice() { echo "::notice title=sopsguard::$*"; }

case "$mode" in auto|staged|range|history|path) ;; *) error "mode must be auto, staged, range, history or path, not '$mode'" ;; esac
case "$fail_on" in error|warning|never) ;; *) error "fail-on must be error, warning or never, not '$fail_on'" ;; esac

# Reads a field of the event payload (a jq path such as .pull_request.base.sha); empty if absent.
field() {
  [ -n "$payload" ] && [ -f "$payload" ] || return 0
  if command -v jq >/dev/null 2>&1; then
    jq -r "$1 // empty" "$payload"
  else
    python3 - "$payload" "$1" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].lstrip(".").split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else v)
PY
  fi
}

has_commit() { git cat-file -e "$1^{commit}" 2>/dev/null; }
shallow() { [ "$(git rev-parse --is-shallow-repository 2>/dev/null)" = true ]; }
shallow_error() {
  error "the checkout is shallow, so a $1 scan would miss commits$2. Set \`fetch-depth: 0\` on actions/checkout."
}

range=""
range_from_event() {
  local base="" head=""
  case "$event" in
    push)
      base=$(field .before); head=$(field .after)
      if [ -z "$head" ] || [ "$head" = "$zero" ]; then
        notice "push deletes a ref: nothing to scan"; mode=none; return
      fi
      if [ -n "$base" ] && [ "$base" != "$zero" ] && ! has_commit "$base" && shallow; then
        shallow_error range " (commit $base, the push's \`before\`, is not in it)"
      fi
      if [ -z "$base" ] || [ "$base" = "$zero" ] || ! has_commit "$base"; then
        # A new branch (or a force-push whose old tip is gone): scan what the default branch lacks.
        local before=${base:-none}
        local default; default=$(field .repository.default_branch)
        if [ -n "$default" ] && git rev-parse -q --verify "refs/remotes/origin/$default^{commit}" >/dev/null \
            && [ "$(git rev-parse "refs/remotes/origin/$default")" != "$head" ]; then
          base=$(git merge-base "refs/remotes/origin/$default" "$head" 2>/dev/null || true)
        else
          base=""
        fi
        if [ -z "$base" ]; then
          notice "push of a new history (before: $before): scanning the whole history"
          mode=history; return
        fi
      fi
      ;;
    pull_request|pull_request_target)
      base=$(field .pull_request.base.sha); head=$(field .pull_request.head.sha) ;;
    merge_group)
      base=$(field .merge_group.base_sha); head=$(field .merge_group.head_sha) ;;
    *)
      return 1 ;;
  esac
  [ -n "$base" ] && [ -n "$head" ] || error "the $event event payload has no base and head commits"
  [ "$base" != "$head" ] || { notice "base and head are the same commit ($head): nothing new to scan"; mode=none; return; }
  for c in "$base" "$head"; do
    has_commit "$c" || ! shallow || shallow_error range " (commit $c of the $event event is not in it)"
    has_commit "$c" || error "commit $c of the $event event is not in the checkout. Check out with \`fetch-depth: 0\` (actions/checkout) so the whole range is available."
  done
  range="$base..$head"
  mode=range
}

case "$mode" in
  auto)
    if ! range_from_event; then
      case "$event" in
        schedule|workflow_dispatch) ;;
        *) notice "event '${event:-none}' has no commit range: scanning the whole history" ;;
      esac
      mode=history
    fi ;;
  range)
    range_from_event || error "mode 'range' takes its range from a push, pull_request or merge_group event (this is '${event:-none}'); use mode 'history', or mode 'path' with \`--range A..B\` in args" ;;
esac

if [ "$mode" = range ] || [ "$mode" = history ] || [ "$mode" = staged ]; then
  git rev-parse --git-dir >/dev/null 2>&1 || error "mode '$mode' needs a git checkout (run actions/checkout first)"
fi
if [ "$mode" = range ] || [ "$mode" = history ]; then
  if shallow; then
    shallow_error "$mode" ""
  fi
fi

echo "mode=$mode" >> "$out"
echo "range=$range" >> "$out"
echo "sopsguard: mode $mode${range:+ ($range)}"
