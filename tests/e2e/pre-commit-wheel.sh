#!/usr/bin/env bash
# The pre-commit hook that installs sopsguard from its wheel (language: python; the ruff-pre-commit
# pattern): dist/write-pre-commit-mirror.sh writes the mirror repository for this version, and real
# pre-commit from PyPI installs its hooks with no Rust toolchain on PATH and no package index: a
# local directory with the wheel built here (and the mirror's build backend, setuptools) stands in
# for PyPI through PIP_FIND_LINKS. Prints the time of the first run (environment install and scan).
#
# Checks: the first commit runs the hook in seconds, with the sopsguard binary of the wheel; a
# staged age identity blocks a commit (redacted diagnostic); the pre-push hook blocks a push of a
# range with a plaintext Secret.
source "$(dirname "$0")/lib.sh"

python_tools
git_env

say "the wheel and a local package directory in place of PyPI"
build_wheel
links=$WORK/find-links
mkdir -p "$links"
cp "$WHEEL" "$links/"
# The mirror's build backend, fetched once into the tools directory (before anything is timed).
if ! ls "$TOOLS/setuptools/setuptools-$SETUPTOOLS_VERSION-"*.whl >/dev/null 2>&1; then
  "$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --dest "$TOOLS/setuptools" "setuptools==$SETUPTOOLS_VERSION"
fi
cp "$TOOLS/setuptools/setuptools-$SETUPTOOLS_VERSION-"*.whl "$links/"
ls "$links" | sed 's/^/  /'
pass "find-links: $(basename "$WHEEL") and setuptools $SETUPTOOLS_VERSION"

say "the pre-commit mirror for $VERSION (dist/write-pre-commit-mirror.sh)"
mirror=$WORK/sopsguard-pre-commit
"$REPO/dist/write-pre-commit-mirror.sh" "$VERSION" "$mirror"
git -C "$mirror" init -q
git -C "$mirror" add -A
git -C "$mirror" commit -qm "sopsguard $VERSION"
git -C "$mirror" tag "v$VERSION"
grep -q "\"sopsguard==$VERSION\"" "$mirror/pyproject.toml" || fail "the mirror does not pin sopsguard==$VERSION"
[ "$(grep -cx '  language: python' "$mirror/.pre-commit-hooks.yaml")" = 2 ] || fail "the mirror's hooks are not language: python"
pass "mirror at v$VERSION: two language: python hooks depending on sopsguard==$VERSION"

# From here on: no cargo, no index; pip finds packages only in $links.
clean_path=$(no_cargo_path)
export PATH="$VENV/bin:$clean_path"
! command -v cargo >/dev/null || fail "cargo is still on PATH"
export PIP_NO_INDEX=1 PIP_FIND_LINKS=$links PIP_DISABLE_PIP_VERSION_CHECK=1
export PRE_COMMIT_HOME=$WORK/pre-commit-home
unset PRE_COMMIT_FROM_REF PRE_COMMIT_TO_REF PRE_COMMIT_LOCAL_BRANCH PRE_COMMIT

app=$WORK/app
remote=$WORK/remote.git
git init -q "$app"
git init -q --bare "$remote"
cd "$app"
git remote add origin "$remote"
cat > .pre-commit-config.yaml <<YAML
repos:
  - repo: $mirror
    rev: v$VERSION
    hooks:
      - id: sopsguard
      - id: sopsguard-push
YAML
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  mode: prod\n' > app.yaml
git add -A && git commit -qm "initial, without hooks"
pre-commit install -t pre-commit -t pre-push >/dev/null

commit() { # MESSAGE: git commit with the hooks; sets RC and LOG
  RC=0; git commit -m "$1" > "$WORK/commit.log" 2>&1 || RC=$?; LOG=$(cat "$WORK/commit.log")
}

say "first run: the first commit installs the hook's environment from the wheel, then scans"
printf '  replicas: "2"\n' >> app.yaml && git add app.yaml
start=$(date +%s.%N)
commit "clean change"
first=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
echo "$LOG" | sed 's/^/  | /'
[ "$RC" = 0 ] || fail "clean commit blocked"
grep -q "sopsguard.*Passed" "$WORK/commit.log" || fail "the hook did not run"
env_bin=$(find "$PRE_COMMIT_HOME" -path '*/bin/sopsguard' -type f | head -n 1)
[ -n "$env_bin" ] || fail "no sopsguard in pre-commit's environments"
find "$PRE_COMMIT_HOME" -type d -name "sopsguard-$VERSION.dist-info" | grep -q . \
  || fail "the hook's environment has no sopsguard $VERSION from the wheel"
wheel_sha=$(python3 - "$WHEEL" "$VERSION" <<'PY'
import hashlib, sys, zipfile
print(hashlib.sha256(zipfile.ZipFile(sys.argv[1]).read(f"sopsguard-{sys.argv[2]}.data/scripts/sopsguard")).hexdigest())
PY
)
[ "$(sha256sum < "$env_bin" | cut -d' ' -f1)" = "$wheel_sha" ] || fail "the hook's sopsguard is not the wheel's binary"
awk -v t="$first" 'BEGIN { exit !(t < 120) }' || fail "the first run took ${first}s: something was built"
pass "first run with the wheel hook (environment install + scan): ${first}s, no cargo on PATH; the hook runs the wheel's binary"
echo "pre-commit first run (wheel hook, language: python): ${first}s"

say "a staged age identity blocks the commit and the diagnostic is shown"
key=$(age_identity)
printf '# created: 2024-01-01\n%s\n' "$key" > keys.txt && git add keys.txt
head_before=$(git rev-parse HEAD)
commit "add keys"
echo "$LOG" | sed 's/^/  | /'
[ "$RC" != 0 ] || fail "commit with a staged age identity was not blocked"
[ "$(git rev-parse HEAD)" = "$head_before" ] || fail "a commit was created"
grep -q "age/identity" "$WORK/commit.log" && grep -q "keys.txt:2:1" "$WORK/commit.log" || fail "no age/identity diagnostic at keys.txt:2:1"
! grep -q "${key:20}" "$WORK/commit.log" || fail "the key itself was printed"
git rm -q --cached -f keys.txt && rm -f keys.txt
pass "blocked, with the age/identity diagnostic at keys.txt:2:1 (redacted)"

say "pre-push blocks a pushed range that contains a secret"
RC=0; git push -q origin main > "$WORK/push.log" 2>&1 || RC=$?
[ "$RC" = 0 ] || { cat "$WORK/push.log"; fail "a clean push was blocked"; }
pushed=$(git rev-parse HEAD)
printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\ndata:\n  token: c2VjcmV0LXRva2Vu\n' > api-secret.yaml
git add api-secret.yaml && git commit -q --no-verify -m "secret, committed without the pre-commit hook"
RC=0; git push origin main > "$WORK/push.log" 2>&1 || RC=$?
sed 's/^/  | /' "$WORK/push.log"
[ "$RC" != 0 ] && grep -q "k8s/plaintext-secret" "$WORK/push.log" || fail "the push of a range with a secret was not blocked"
[ "$(git --git-dir="$remote" rev-parse main)" = "$pushed" ] || fail "the remote moved"
pass "push blocked, the remote still at ${pushed:0:12}"

echo "pre-commit-wheel: all checks passed (first run ${first}s)"
