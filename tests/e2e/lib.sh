# Shared helpers for the end-to-end scripts. Source it; it sets REPO, WORK (a temp dir removed on
# exit), TOOLS (where PyPI/npm tools are installed: $SOPSGUARD_E2E_TOOLS to reuse them across runs)
# and BIN (the debug binary, built here).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sopsguard-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
TOOLS=${SOPSGUARD_E2E_TOOLS:-$WORK/tools}
mkdir -p "$TOOLS"

# Pinned tool versions.
PRE_COMMIT_VERSION=4.7.0
CHECK_JSONSCHEMA_VERSION=0.39.0
PYYAML_VERSION=6.0.3
SARIF_MULTITOOL_VERSION=5.7.0

# jq reads the SARIF and JSON reports (it is on the machine image; install it where it is not).
if ! command -v jq >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq jq >/dev/null; fi
  command -v jq >/dev/null 2>&1 || { echo "the e2e scripts need jq" >&2; exit 1; }
fi

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
pass() { printf 'ok: %s\n' "$*"; }

# A Python virtual environment with pre-commit, check-jsonschema and PyYAML from PyPI.
python_tools() {
  local venv=$TOOLS/venv
  if [ ! -x "$venv/bin/pre-commit" ] || [ ! -x "$venv/bin/check-jsonschema" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "pre-commit==$PRE_COMMIT_VERSION" "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" "PyYAML==$PYYAML_VERSION"
  fi
  VENV=$venv
}

# Microsoft's SARIF Multitool from npm.
sarif_multitool() {
  local dir=$TOOLS/npm
  if [ ! -x "$dir/node_modules/.bin/sarif-multitool" ]; then
    mkdir -p "$dir"
    [ -f "$dir/package.json" ] || echo '{"private": true}' > "$dir/package.json"
    (cd "$dir" && npm install --silent --no-audit --no-fund "@microsoft/sarif-multitool@$SARIF_MULTITOOL_VERSION")
  fi
  MULTITOOL=$dir/node_modules/.bin/sarif-multitool
}

build_sopsguard() {
  (cd "$REPO" && cargo build --locked --quiet)
  BIN=$REPO/target/debug/sopsguard
}

# A git repository with a fixed identity and no global configuration.
git_env() {
  export GIT_CONFIG_GLOBAL=$WORK/gitconfig GIT_CONFIG_NOSYSTEM=1
  git config --file "$GIT_CONFIG_GLOBAL" user.name "E2E Tester"
  git config --file "$GIT_CONFIG_GLOBAL" user.email "e2e@example.com"
  git config --file "$GIT_CONFIG_GLOBAL" init.defaultBranch main
  git config --file "$GIT_CONFIG_GLOBAL" advice.detachedHead false
}

# Writes a fixture with a finding of every rule into $1 (from the rules' own examples).
every_rule_fixture() {
  (cd "$REPO" && SOPSGUARD_FIXTURE_DIR=$1 cargo test --locked --quiet --test it -- \
    --ignored --exact sarif::write_every_rule_fixture_for_e2e >/dev/null)
}

# A fresh valid age identity, uppercase (Bech32 with HRP age-secret-key-), from Python's stdlib.
age_identity() {
  python3 - "$@" <<'PY'
import os
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
def polymod(values):
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (b >> i) & 1 else 0
    return chk
def bits5(data):
    acc = bits = 0
    out = []
    for v in data:
        acc = (acc << 8) | v
        bits += 8
        while bits >= 5:
            bits -= 5
            out.append((acc >> bits) & 31)
    if bits:
        out.append((acc << (5 - bits)) & 31)
    return out
hrp = "age-secret-key-"
data = bits5(os.urandom(32))
pm = polymod([ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + data + [0] * 6) ^ 1
print((hrp + "1" + "".join(CHARSET[d] for d in data + [(pm >> 5 * (5 - i)) & 31 for i in range(6)])).upper())
PY
}
