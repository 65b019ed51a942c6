#!/usr/bin/env bash
# Clones every triaged repository at its triage commit into CLONES/<owner>__<name>.
# Usage: benches/realworld/clone.sh CLONES [MIRRORS]
#   MIRRORS (optional): a directory holding bare mirrors as MIRRORS/<owner>+<name>/repo;
#   without it the clones come from https://github.com/<owner>/<name>.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
clones=${1:?usage: clone.sh CLONES [MIRRORS]}
mirrors=${2:-}
mkdir -p "$clones"
for t in "$here"/triage/*.tsv; do
  repo=$(sed -n 's/^# repo: //p' "$t")
  commit=$(sed -n 's/^# commit: //p' "$t")
  dir="$clones/${repo/\//__}"
  if [ -d "$dir/.git" ] && [ "$(git -C "$dir" rev-parse HEAD 2>/dev/null)" = "$commit" ]; then
    echo "ok      $repo"
    continue
  fi
  src="https://github.com/$repo"
  [ -n "$mirrors" ] && src="$mirrors/${repo/\//+}/repo"
  rm -rf "$dir"
  git clone -q --no-checkout "$src" "$dir"
  # Some snapshots lack a few large image blobs; images are never scanned for secrets here.
  git -C "$dir" sparse-checkout set --no-cone '/*' '!*.png' '!*.jpg' '!*.jpeg' '!*.gif' '!*.webp' '!*.mp4'
  git -C "$dir" -c advice.detachedHead=false checkout -q "$commit"
  echo "cloned  $repo"
done
