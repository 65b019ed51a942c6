#!/usr/bin/env bash
# The Python wheel (pyproject.toml, maturin `bindings = "bin"`): `maturin build` writes a wheel that
# carries the native binary; installed with pip into a fresh virtual environment, with no Rust
# toolchain on PATH and no package index, it gives a working `sopsguard` that scans a git
# repository; `uvx --from WHEEL sopsguard` runs it too. In CI the wheel packs the debug build the
# tests already compiled (SOPSGUARD_WHEEL_PROFILE, default dev: the packaging is what is tested, and
# CI compiles nothing more); SOPSGUARD_WHEEL_PROFILE=release builds it as the release workflow does.
source "$(dirname "$0")/lib.sh"

git_env

say "maturin build"
start=$(date +%s)
build_wheel
pass "built $(basename "$WHEEL") in $(( $(date +%s) - start ))s"

say "the wheel holds the binary as a script, and the project's metadata"
python3 - "$WHEEL" "$VERSION" <<'PY'
import sys, zipfile
wheel, version = sys.argv[1:]
z = zipfile.ZipFile(wheel)
names = z.namelist()
script = f"sopsguard-{version}.data/scripts/sopsguard"
assert script in names, f"no {script} in {names}"
assert z.read(script)[:4] == b"\x7fELF", "the script is not the native binary"
meta = z.read(f"sopsguard-{version}.dist-info/METADATA").decode()
for line in ("Name: sopsguard", f"Version: {version}", "Requires-Python: >=3.8"):
    assert line in meta.splitlines(), f"METADATA lacks {line!r}"
tag = z.read(f"sopsguard-{version}.dist-info/WHEEL").decode()
assert "Tag: py3-none-" in tag, tag
print(f"  {script}: {z.getinfo(script).file_size // (1 << 20)} MiB; tags: "
      + ", ".join(l.split(": ", 1)[1] for l in tag.splitlines() if l.startswith("Tag:")))
PY
pass "the wheel: ELF binary in scripts, Name/Version/Requires-Python, py3-none tag"

say "a fresh virtual environment with no cargo on PATH: pip install the wheel (no index)"
clean_path=$(no_cargo_path)
! PATH=$clean_path command -v cargo >/dev/null || fail "cargo is still on PATH: $clean_path"
! PATH=$clean_path command -v rustc >/dev/null || fail "rustc is still on PATH"
venv=$WORK/venv
PATH=$clean_path python3 -m venv "$venv"
PATH=$clean_path PIP_NO_INDEX=1 "$venv/bin/pip" install --quiet --disable-pip-version-check --no-index "$WHEEL"
export PATH="$venv/bin:$clean_path"
[ "$(command -v sopsguard)" = "$venv/bin/sopsguard" ] || fail "sopsguard on PATH is $(command -v sopsguard), not the venv's"
[ "$(sopsguard --version)" = "sopsguard $VERSION" ] || fail "sopsguard --version: $(sopsguard --version)"
pass "installed: $(sopsguard --version) at venv/bin/sopsguard, no cargo or rustc on PATH"

say "sopsguard scan on a temporary git repository"
app=$WORK/app
git init -q "$app"
cd "$app"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  mode: prod\n' > app.yaml
git add -A && git commit -qm clean
RC=0; sopsguard scan > "$WORK/clean.log" 2>&1 || RC=$?
[ "$RC" = 0 ] || { cat "$WORK/clean.log"; fail "clean repository: exit $RC, want 0"; }
grep -Eq "scanned 1 file \(.*\): 0 errors, 0 warnings" "$WORK/clean.log" || { cat "$WORK/clean.log"; fail "clean scan: unexpected summary"; }
printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: aHVudGVyMjI=\n' > secret.yaml
git add secret.yaml && git commit -qm "add a Secret"
RC=0; sopsguard scan > "$WORK/secret.log" 2>&1 || RC=$?
sed 's/^/  | /' "$WORK/secret.log"
[ "$RC" = 1 ] || fail "repository with a plaintext Secret: exit $RC, want 1"
grep -q "k8s/plaintext-secret" "$WORK/secret.log" && grep -q "secret.yaml" "$WORK/secret.log" \
  || fail "the scan did not report k8s/plaintext-secret in secret.yaml"
RC=0; sopsguard scan --history --format json -o "$WORK/history.json" || RC=$?
[ "$RC" = 1 ] || fail "history scan: exit $RC, want 1"
jq -e '[.findings[] | select(.rule == "k8s/plaintext-secret" and .path == "secret.yaml")] | length == 1' \
  "$WORK/history.json" >/dev/null || { jq . "$WORK/history.json"; fail "history scan JSON"; }
pass "clean: exit 0; plaintext Secret: exit 1 with k8s/plaintext-secret in secret.yaml (working tree and history)"

say "uvx runs the wheel's sopsguard without installing it (no index, no cargo)"
uv_tool
cd "$app"
RC=0
env UV_CACHE_DIR="$WORK/uv-cache" UV_TOOL_DIR="$WORK/uv-tools" UV_PYTHON_DOWNLOADS=never UV_NO_CONFIG=1 \
  "$(dirname "$UV")/uvx" --offline --no-index --from "$WHEEL" sopsguard scan --quiet > "$WORK/uvx.log" 2>&1 || RC=$?
[ "$RC" = 1 ] && grep -q "k8s/plaintext-secret" "$WORK/uvx.log" || { cat "$WORK/uvx.log"; fail "uvx --from the wheel: exit $RC"; }
pass "uvx --from $(basename "$WHEEL") sopsguard scan: exit 1 with k8s/plaintext-secret"

echo "wheel: all checks passed"
