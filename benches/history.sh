#!/usr/bin/env bash
# Wall time and peak memory of `sopsguard scan --history` against what git itself needs to read
# the same history, on existing clones (this script downloads nothing):
#
#   sopsguard scan --history                          every blob reachable from every ref, scanned
#   git cat-file --batch-all-objects --batch --unordered   every object inflated once (the floor)
#   git log -p --all                                  what diff-based scanners read first
#
# Usage: benches/history.sh REPO...
#   SOPSGUARD=path/to/sopsguard   binary to measure (default: target/release/sopsguard, built if absent)
#   RUNS=n                        runs per command, best wall time kept (default 1)
#   SKIP_LOG_P=1                  skip `git log -p --all` (slow on large repositories)
#   THREADS=n                     passed to sopsguard as --threads (default 0: one per core)
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

# measure NAME CMD... : best wall time (s) and its peak RSS (KiB) over $runs runs, in $tmp/NAME.
measure() {
    local name=$1
    shift
    local best="" rss=""
    for _ in $(seq "$runs"); do
        # Exit codes are not failures here: findings exit 1, and unreadable objects exit 2.
        /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" >/dev/null 2>"$tmp/stderr" || true
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
    measure cat git -C "$repo" cat-file --batch-all-objects --batch --unordered
    measure sg "$bin" scan --history --quiet --threads "$threads" --format json -o "$tmp/report.json" "$repo"
    read -r cat_s cat_k <"$tmp/cat"
    read -r sg_s sg_k <"$tmp/sg"
    printf '%-28s %-22s %9s %9s %10s\n' "$name" "git cat-file --batch" "$cat_s" "1.00" "$(mib "$cat_k")"
    printf '%-28s %-22s %9s %9s %10s\n' "$name" "sopsguard --history" "$sg_s" "$(ratio "$sg_s" "$cat_s")" "$(mib "$sg_k")"
    if [ -z "${SKIP_LOG_P:-}" ]; then
        measure logp git -C "$repo" log -p --all
        read -r lp_s lp_k <"$tmp/logp"
        printf '%-28s %-22s %9s %9s %10s\n' "$name" "git log -p --all" "$lp_s" "$(ratio "$lp_s" "$cat_s")" "$(mib "$lp_k")"
        printf '%-28s %-22s %9s\n' "$name" "sopsguard / log -p" "$(ratio "$sg_s" "$lp_s")"
    fi
done
