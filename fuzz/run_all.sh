#!/usr/bin/env bash
# Runs fuzz targets for $1 seconds each (default 600), one at a time, and logs a summary line each.
# Targets: the remaining arguments, or all of them.
set -u
cd "$(dirname "$0")"
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(enc_value metadata store_yaml store_json store_dotenv store_ini store_binary sops_config k8s pem rules render)
V=../../shared/vectors
F=../tests/fixtures/sops
# Seeds that reach the alias and flood cases (generated, not committed): an anchor behind many
# aliases, BEGIN lines without END, a Secret with many keys, control characters in names.
if [ ! -d seeds/hostile ]; then
  mkdir -p seeds/hostile
  python3 - <<'PY'
import os
d = "seeds/hostile"
open(os.path.join(d, "alias"), "w").write("kind: Secret\nx: &a \"" + "A" * 4096 + "\"\ny: [" + ",".join(["*a"] * 2000) + "]\n")
open(os.path.join(d, "begins"), "w").write("-----BEGIN RSA PRIVATE KEY-----\n" * 2000 + "MIIEowIBAAKCAQEAv0dHjm1lTEl6q2Gqz2Rr0yqWb8Yt\n-----END RSA PRIVATE KEY-----\n")
open(os.path.join(d, "keys"), "w").write("apiVersion: v1\nkind: Secret\nstringData:\n" + "".join(f"  k{i}: v{i}\n" for i in range(3000)))
open(os.path.join(d, "names"), "w").write("evil\x1b[2J\u202e|`[x](y)\x00Mallory\x07\x00na\nme\x00value\r\n")
PY
fi
for t in "${targets[@]}"; do
  mkdir -p corpus/$t
  seeds=()
  case $t in
    sops_config) seeds=(seeds/sops_config) ;;
    enc_value) seeds=() ;;
    k8s|pem|rules|render) seeds=(seeds/hostile) ;;
    *) seeds=("$F"); [ -d "$V" ] && seeds+=("$V") ;;
  esac
  start=$(date +%s)
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" corpus/$t "${seeds[@]}" -- -max_total_time="$secs" -max_len=${MAX_LEN:-65536} -rss_limit_mb=2048 > "logs/$t.log" 2>&1
  rc=$?
  end=$(date +%s)
  runs=$(grep -oE "Done [0-9]+ runs in [0-9]+ second" "logs/$t.log" | tail -1)
  cov=$(grep -oE "cov: [0-9]+ ft: [0-9]+" "logs/$t.log" | tail -1)
  echo "$t exit=$rc wall=$((end-start))s $runs $cov corpus=$(ls corpus/$t | wc -l)" >> logs/summary.txt
done
