#!/usr/bin/env bash
# Wall time and peak memory of `sopsguard scan --history` against what git itself needs to read
# the same history, on existing clones (this script downloads nothing):
#
#   sopsguard scan --history                          every blob reachable from every ref, scanned
#   git cat-file --batch-all-objects --batch --unordered   every object inflated once (the floor)
#   git log -p --all                                  what diff-based scanners read first
#
# Usage: benches/history.sh REPO...
#
# `git log -p --all` dies on the first object missing from a partial clone. To measure such a
# repository, work on a copy in which each missing blob is replaced by the empty blob:
#   empty=$(git hash-object -w --stdin </dev/null)
#   git rev-list --all --objects --missing=print | sed -n 's/^?//p' |
#       while read id; do git update-ref "refs/replace/$id" "$empty"; done
#
#   SOPSGUARD=path/to/sopsguard   binary to measure (default: target/release/sopsguard, built if absent)
#   RUNS=n                        runs per command, best wall time kept (default 1)
#   SKIP_LOG_P=1                  skip `git log -p --all` (slow on large repositories)
#   THREADS=n                     passed to sopsguard as --threads (default 0: one per core)
#   BASELINE=path/to/sopsguard    also measure this (older) binary in the same run, and print the
#                                 cost of the change: this binary's time over the baseline's
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 REPO..." >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${SOPSGUARD:-$root/target/release/sopsguard}
if [ ! -x "$bin" ]; then
    cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin sopsguard
fi
runs=${RUNS:-1}
threads=${THREADS:-0}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# measure NAME OK_CODES CMD... : best wall time (s) and its peak RSS (KiB) over $runs runs, in
# $tmp/NAME. An exit code not in OK_CODES (a comma-separated list) aborts: a git command that dies
# half-way (for example on an object missing from a partial clone) would look fast.
measure() {
    local name=$1 ok=$2
    shift 2
    local best="" rss="" code
    for _ in $(seq "$runs"); do
        code=0
        /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" >/dev/null 2>"$tmp/stderr" || code=$?
        if [[ ",$ok," != *",$code,"* ]]; then
            echo "$* exited with $code:" >&2
            tail -n 3 "$tmp/stderr" >&2
            exit 1
        fi
        read -r wall kib < <(tail -n 1 "$tmp/time")
        if [ -z "$best" ] || awk -v a="$wall" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$wall
            rss=$kib
        fi
    done
    echo "$best $rss" >"$tmp/$name"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }

printf '%-28s %-22s %9s %9s %10s\n' repository command wall_s vs_cat peak_MiB
for repo in "$@"; do
    name=$(basename "$(cd "$repo" && pwd)")
    [ "$name" = repo ] && name=$(basename "$(dirname "$(cd "$repo" && pwd)")")
    [ "$name" = .git ] && name=$(basename "$(dirname "$(cd "$repo" && pwd)")")
    # Warm the page cache so that every command reads from memory.
    git -C "$repo" cat-file --batch-all-objects --batch --unordered >/dev/null
    measure cat 0 git -C "$repo" cat-file --batch-all-objects --batch --unordered
    # sopsguard exits 1 on findings and 2 when some object could not be read; both are full runs.
    measure sg 0,1,2 "$bin" scan --history --quiet --threads "$threads" --format json -o "$tmp/report.json" "$repo"
    if [ -n "${BASELINE:-}" ]; then
        measure base 0,1,2 "$BASELINE" scan --history --quiet --threads "$threads" --format json -o "$tmp/base.json" "$repo"
    fi
    read -r cat_s cat_k <"$tmp/cat"
    read -r sg_s sg_k <"$tmp/sg"
    printf '%-28s %-22s %9s %9s %10s\n' "$name" "git cat-file --batch" "$cat_s" "1.00" "$(mib "$cat_k")"
    printf '%-28s %-22s %9s %9s %10s\n' "$name" "sopsguard --history" "$sg_s" "$(ratio "$sg_s" "$cat_s")" "$(mib "$sg_k")"
    if [ -n "${BASELINE:-}" ]; then
        read -r base_s base_k <"$tmp/base"
        printf '%-28s %-22s %9s %9s %10s\n' "$name" "baseline --history" "$base_s" "$(ratio "$base_s" "$cat_s")" "$(mib "$base_k")"
        printf '%-28s %-22s %9s\n' "$name" "sopsguard / baseline" "$(ratio "$sg_s" "$base_s")"
    fi
    if [ -z "${SKIP_LOG_P:-}" ]; then
        measure logp 0 git -C "$repo" log -p --all
        read -r lp_s lp_k <"$tmp/logp"
        printf '%-28s %-22s %9s %9s %10s\n' "$name" "git log -p --all" "$lp_s" "$(ratio "$lp_s" "$cat_s")" "$(mib "$lp_k")"
        printf '%-28s %-22s %9s\n' "$name" "sopsguard / log -p" "$(ratio "$sg_s" "$lp_s")"
    fi
done
