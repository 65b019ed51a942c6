#!/usr/bin/env bash
# `sopsguard scan --staged` against `git diff --cached --name-only` (what hooks that scan the
# working-tree copies of staged files run first), on a generated repository with 20,000 tracked
# files in 400 directories and 5 staged files. The goal is at most 2x git's wall time.
#
# Usage: benches/staged.sh
#   SOPSGUARD=path/to/sopsguard   binary to measure (default: target/release/sopsguard, built if absent)
#   RUNS=n                        runs per command, median kept (default 21)
#   FILES=n                       tracked files (default 20000)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${SOPSGUARD:-$root/target/release/sopsguard}
if [ ! -x "$bin" ]; then
    cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin sopsguard
fi
runs=${RUNS:-21}
files=${FILES:-20000}
repo=$(mktemp -d)
trap 'rm -rf "$repo"' EXIT

export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
git -C "$repo" init -q -b main
for ((d = 0; d < 400; d++)); do
    mkdir -p "$repo/apps/app$d"
done
for ((i = 0; i < files; i++)); do
    d=$((i % 400))
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n  key: value-%d\n' "$i" "$i" \
        >"$repo/apps/app$d/file$i.yaml"
done
git -C "$repo" add -A
git -C "$repo" commit -q -m init
for i in 1 2 3 4 5; do
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: changed-%d\ndata:\n  key: changed\n' "$i" \
        >"$repo/apps/app$((i * 7))/file$((i * 7)).yaml"
done
git -C "$repo" add apps
test "$(git -C "$repo" diff --cached --name-only | wc -l)" -eq 5

# median NAME CMD... : median wall time in milliseconds over $runs runs.
median() {
    local times=()
    for _ in $(seq "$runs"); do
        local start end
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1 || true
        end=$(date +%s%N)
        times+=($(((end - start) / 1000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "%.2f", a[int((NR + 1) / 2)] / 1000 }'
}

git_ms=$(cd "$repo" && median git diff --cached --name-only)
sg_ms=$(cd "$repo" && median "$bin" scan --staged --quiet)
printf '%-36s %10s\n' command median_ms
printf '%-36s %10s\n' "git diff --cached --name-only" "$git_ms"
printf '%-36s %10s\n' "sopsguard scan --staged" "$sg_ms"
awk -v a="$sg_ms" -v b="$git_ms" 'BEGIN { printf "ratio %.2f (goal <= 2.00)\n", a / b }'
