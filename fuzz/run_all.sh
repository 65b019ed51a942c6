#!/usr/bin/env bash
# Runs every fuzz target for $1 seconds (default 600), one at a time, and logs a summary line each.
set -u
cd "$(dirname "$0")"
secs=${1:-600}
V=../../shared/vectors
F=../tests/fixtures/sops
for t in enc_value metadata store_yaml store_json store_dotenv store_ini store_binary sops_config; do
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
