#!/usr/bin/env bash
# Runs fuzz targets for $1 seconds each (default 600), one at a time, and logs a summary line each.
# Targets: the remaining arguments, or all of them.
set -u
cd "$(dirname "$0")"
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(enc_value metadata store_yaml store_json store_dotenv store_ini store_binary sops_config)
V=../../shared/vectors
F=../tests/fixtures/sops
for t in "${targets[@]}"; do
  mkdir -p corpus/$t
  seeds=()
  case $t in
    sops_config) seeds=(seeds/sops_config) ;;
    enc_value) seeds=() ;;
    *) seeds=("$F"); [ -d "$V" ] && seeds+=("$V") ;;
  esac
  start=$(date +%s)
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" corpus/$t "${seeds[@]}" -- -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 > "logs/$t.log" 2>&1
  rc=$?
  end=$(date +%s)
  runs=$(grep -oE "Done [0-9]+ runs in [0-9]+ second" "logs/$t.log" | tail -1)
  cov=$(grep -oE "cov: [0-9]+ ft: [0-9]+" "logs/$t.log" | tail -1)
  echo "$t exit=$rc wall=$((end-start))s $runs $cov corpus=$(ls corpus/$t | wc -l)" >> logs/summary.txt
done
