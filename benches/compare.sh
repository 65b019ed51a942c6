#!/usr/bin/env bash
# Times `sopsguard scan` (every rule) against ripgrep looking for one literal on the same tree, in
# the same run, and prints both wall times and their ratio. The goal is a ratio of at most 1.5.
#
#   benches/gen_corpus.py /tmp/corpus          # once: ~50,000 files / ~500 MB, outside the repo
#   benches/compare.sh /tmp/corpus             # RUNS=10 WARMUP=2 THREADS=0 to change the defaults
#   SOPSGUARD=path/to/sopsguard benches/compare.sh /tmp/corpus   # measure that binary (no build)
#   BASELINE=path/to/old/sopsguard benches/compare.sh /tmp/corpus  # also time an older binary in
#                                  the same run (hyperfine only) and print this one's time over it
#
# Uses hyperfine when installed (apt-get install -y hyperfine ripgrep), else a plain timing loop.
# Before timing, it checks that sopsguard reports exactly the planted findings listed in
# CORPUS.expected.json (written by gen_corpus.py), so a speed-up cannot silently lose recall.
# Exit status: 0 when the goal is met, 3 when the ratio is above GOAL (default 1.5), 1 on errors.
set -euo pipefail

corpus=${1:?usage: benches/compare.sh CORPUS_DIR}
corpus=$(cd "$corpus" && pwd)
runs=${RUNS:-10}
warmup=${WARMUP:-2}
threads=${THREADS:-0}
goal=${GOAL:-1.5}
here=$(cd "$(dirname "$0")/.." && pwd)

command -v rg >/dev/null || { echo "compare.sh: ripgrep (rg) is not installed (apt-get install -y ripgrep)" >&2; exit 1; }

if [ -n "${SOPSGUARD:-}" ]; then
    sg=$SOPSGUARD
else
    echo "== building release sopsguard" >&2
    (cd "$here" && cargo build --release --quiet --bin sopsguard)
    target_dir=$(cd "$here" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null ||
        echo "$here/target")
    sg="$target_dir/release/sopsguard"
fi

files=$(find "$corpus" -type f | wc -l)
bytes=$(find "$corpus" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
echo "corpus: $corpus: $files files, $((bytes / 1000000)) MB; $(nproc) cores; $("$sg" --version); $(rg --version 2>/dev/null | sed -n 1p)"

sg_cmd=("$sg" scan "$corpus" --format json -o /dev/null --threads "$threads")
rg_cmd=(rg -uuu -c 'AGE-SECRET-KEY-1' "$corpus")
if [ "$threads" != 0 ]; then rg_cmd+=(--threads "$threads"); fi

# Recall check: exactly the planted (path, rule) pairs, nothing more, nothing less.
expected="$corpus.expected.json"
if [ -f "$expected" ] && command -v python3 >/dev/null; then
    out=$(mktemp)
    trap 'rm -f "$out"' EXIT
    set +e
    "$sg" scan "$corpus" --format json -o "$out" --threads "$threads"
    code=$?
    set -e
    python3 - "$expected" "$out" "$corpus" "$code" <<'EOF'
import json, sys
expected, got, root, code = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4]
want = sorted((p["path"], p["rule"]) for p in expected["planted"])
have = sorted((f["path"][len(root) + 1:] if f["path"].startswith(root + "/") else f["path"], f["rule"])
              for f in got["findings"])
s = got["summary"]
print(f"sopsguard: exit {code}, {s['files']} files, {s['bytes'] // 1000000} MB, {len(have)} findings "
      f"({len(want)} planted), {s['problems']} problems, {s['skipped']} skipped")
if have != want:
    missing = [x for x in want if x not in have]
    extra = [x for x in have if x not in want]
    print(f"compare.sh: findings differ from the planted ones: missing {missing}, unexpected {extra}", file=sys.stderr)
    sys.exit(1)
EOF
fi

if command -v hyperfine >/dev/null; then
    json=$(mktemp)
    base_args=()
    if [ -n "${BASELINE:-}" ]; then
        base_args=(-n baseline "$(printf '%q ' "$BASELINE" "${sg_cmd[@]:1}")")
    fi
    hyperfine --style basic --warmup "$warmup" --runs "$runs" -i --export-json "$json" \
        -n sopsguard "$(printf '%q ' "${sg_cmd[@]}")" \
        -n rg "$(printf '%q ' "${rg_cmd[@]}")" "${base_args[@]}" >&2
    read -r sg_mean sg_sd rg_mean rg_sd base_mean < <(python3 -c '
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
print(r["sopsguard"]["mean"], r["sopsguard"]["stddev"] or 0, r["rg"]["mean"], r["rg"]["stddev"] or 0,
      r["baseline"]["mean"] if "baseline" in r else 0)' "$json")
    rm -f "$json"
    if [ -n "${BASELINE:-}" ]; then
        awk -v s="$sg_mean" -v b="$base_mean" 'BEGIN {
            printf "baseline scan: %.3f s; sopsguard / baseline: %.2f\n", b, s / b }'
    fi
else
    # Alternate the two commands so that both see the same machine load.
    t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
    for _ in $(seq "$warmup"); do t "${sg_cmd[@]}" >/dev/null; t "${rg_cmd[@]}" >/dev/null; done
    sg_times=(); rg_times=()
    for _ in $(seq "$runs"); do sg_times+=("$(t "${sg_cmd[@]}")"); rg_times+=("$(t "${rg_cmd[@]}")"); done
    stats() { printf '%s\n' "$@" | awk '{s+=$1; q+=$1*$1; n++} END {m=s/n; v=q/n-m*m; if (v<0) v=0; print m, sqrt(v)}'; }
    read -r sg_mean sg_sd < <(stats "${sg_times[@]}")
    read -r rg_mean rg_sd < <(stats "${rg_times[@]}")
fi

awk -v s="$sg_mean" -v ss="$sg_sd" -v r="$rg_mean" -v rs="$rg_sd" -v g="$goal" 'BEGIN {
    printf "sopsguard scan (all rules): %.3f s ± %.3f\n", s, ss
    printf "rg -uuu -c AGE-SECRET-KEY-1: %.3f s ± %.3f\n", r, rs
    printf "ratio sopsguard / rg:        %.2f (goal: at most %s)\n", s / r, g
    exit (s / r <= g) ? 0 : 3
}'
