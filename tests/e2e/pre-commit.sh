#!/usr/bin/env bash
# The pre-commit hooks with the real pre-commit from PyPI, in a throwaway repository whose
# .pre-commit-config.yaml points at this checkout (repo: this directory, rev: its HEAD commit, so
# the hooks and code tested are the committed ones). `language: rust` builds sopsguard with cargo;
# CARGO_TARGET_DIR keeps that build between runs and the release profile is lightened so it is
# quick (the hook's code is the same).
#
# Checks: a clean commit passes; a staged age identity blocks `git commit` and the diagnostic is
# shown; the staged index is what is scanned (a secret only in the working tree does not block a
# commit, a staged one whose working-tree copy was cleaned does); `pre-commit run --all-files` and
# `--files` find a secret that exists only as an unstaged edit of a tracked file; the pre-push hook
# blocks a push (to a local bare repository) of a range that contains a secret and lets a clean
# one through; sopsguard-system works with the binary on PATH.
source "$(dirname "$0")/lib.sh"

python_tools
git_env
export PATH="$VENV/bin:$PATH"
export PRE_COMMIT_HOME=$WORK/pre-commit-home
export CARGO_TARGET_DIR=${SOPSGUARD_E2E_TARGET:-$REPO/target/e2e-pre-commit}
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false
unset PRE_COMMIT_FROM_REF PRE_COMMIT_TO_REF PRE_COMMIT_LOCAL_BRANCH PRE_COMMIT

rev=$(git -C "$REPO" rev-parse HEAD)
git -C "$REPO" cat-file -e "$rev:.pre-commit-hooks.yaml" 2>/dev/null \
  || fail ".pre-commit-hooks.yaml is not committed at HEAD ($rev): pre-commit installs the committed hooks"
if [ -n "$(git -C "$REPO" status --porcelain -- .pre-commit-hooks.yaml src Cargo.toml Cargo.lock rules)" ]; then
  echo "note: uncommitted changes in $REPO are not what pre-commit tests (it uses $rev)"
fi

app=$WORK/app
remote=$WORK/remote.git
git init -q "$app"
git init -q --bare "$remote"
cd "$app"
git remote add origin "$remote"
cat > .pre-commit-config.yaml <<YAML
default_install_hook_types: [pre-commit, pre-push]
repos:
  - repo: $REPO
    rev: $rev
    hooks:
      - id: sopsguard
      - id: sopsguard-push
YAML
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  mode: prod\n' > app.yaml
git add -A && git commit -qm "initial, without hooks"

say "pre-commit install (builds the rust hook from $rev)"
start=$(date +%s)
pre-commit install --install-hooks
pass "installed in $(( $(date +%s) - start ))s"

commit() { # MESSAGE: git commit with the hooks; sets RC and LOG
  RC=0; git commit -m "$1" > "$WORK/commit.log" 2>&1 || RC=$?; LOG=$(cat "$WORK/commit.log")
}

say "a clean commit passes"
printf '  replicas: "2"\n' >> app.yaml && git add app.yaml
commit "clean change"
[ "$RC" = 0 ] || { echo "$LOG"; fail "clean commit blocked"; }
grep -q "sopsguard.*Passed" "$WORK/commit.log" || { echo "$LOG"; fail "the hook did not run"; }
pass "clean commit: Passed"

say "a staged age identity blocks the commit and the diagnostic is shown"
key=$(age_identity)
printf '# created: 2024-01-01\n%s\n' "$key" > keys.txt && git add keys.txt
head_before=$(git rev-parse HEAD)
commit "add keys"
echo "$LOG" | sed 's/^/  | /'
[ "$RC" != 0 ] || fail "commit with a staged age identity was not blocked"
[ "$(git rev-parse HEAD)" = "$head_before" ] || fail "a commit was created"
grep -q "age/identity" "$WORK/commit.log" || fail "no age/identity diagnostic"
grep -q "keys.txt:2:1" "$WORK/commit.log" || fail "the diagnostic does not point at keys.txt:2:1"
! grep -q "${key:20}" "$WORK/commit.log" || fail "the key itself was printed"
pass "blocked, with the age/identity diagnostic at keys.txt:2:1 (redacted)"

say "the staged index is what is scanned"
git rm -q --cached -f keys.txt
echo "# a key will go here" > notes.md && git add notes.md
printf '%s\n' "$key" >> notes.md          # only in the working tree
commit "notes (clean in the index)"
[ "$RC" = 0 ] || { echo "$LOG"; fail "a secret only in the working tree blocked the commit"; }
printf '%s\n' "$key" > staged.txt && git add staged.txt && echo "cleaned" > staged.txt   # only in the index
commit "staged secret, clean working tree"
[ "$RC" != 0 ] && grep -q "staged.txt" "$WORK/commit.log" || { echo "$LOG"; fail "a secret only in the index was not caught"; }
git rm -q --cached -f staged.txt
rm -f staged.txt
[ -z "$(git diff --cached --name-only)" ] || fail "the index should be clean again"
cp app.yaml "$WORK/app.yaml.orig"
printf 'key: %s\n' "$key" >> app.yaml     # tracked, not staged
RC=0; git commit -a -m "commit -a" > "$WORK/commit.log" 2>&1 || RC=$?
[ "$RC" != 0 ] && grep -q "app.yaml" "$WORK/commit.log" || { cat "$WORK/commit.log"; fail "git commit -a: the index git builds for it was not scanned"; }
cp "$WORK/app.yaml.orig" app.yaml
pass "working-tree-only secret: commit passes; index-only secret: blocked; git commit -a: blocked"

say "pre-commit run --all-files and --files scan the working tree (an unstaged edit of a tracked file)"
git checkout -q -- notes.md 2>/dev/null || true
rm -f keys.txt
printf -- '---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2hunter2\n' >> app.yaml
git status --short
RC=0; pre-commit run --all-files > "$WORK/all.log" 2>&1 || RC=$?
sed 's/^/  | /' "$WORK/all.log"
[ "$RC" != 0 ] && grep -q "k8s/plaintext-secret" "$WORK/all.log" || fail "--all-files did not find the unstaged secret"
RC=0; pre-commit run --files app.yaml > "$WORK/files.log" 2>&1 || RC=$?
[ "$RC" != 0 ] && grep -q "k8s/plaintext-secret" "$WORK/files.log" || { cat "$WORK/files.log"; fail "--files did not find the unstaged secret"; }
pass "--all-files and --files app.yaml: k8s/plaintext-secret found in the unstaged edit"
git checkout -q -- app.yaml

say "pre-push blocks a pushed range that contains a secret"
RC=0; git push -q origin main > "$WORK/push.log" 2>&1 || RC=$?
[ "$RC" = 0 ] || { cat "$WORK/push.log"; fail "a clean push was blocked"; }
pushed=$(git rev-parse HEAD)
printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\ndata:\n  token: c2VjcmV0LXRva2Vu\n' > api-secret.yaml
git add api-secret.yaml && git commit -q --no-verify -m "secret, committed without the pre-commit hook"
echo "# later" >> notes.md && git add notes.md && git commit -q --no-verify -m "another commit on top"
RC=0; git push origin main > "$WORK/push.log" 2>&1 || RC=$?
sed 's/^/  | /' "$WORK/push.log"
[ "$RC" != 0 ] || fail "the push of a range with a secret was not blocked"
grep -q "k8s/plaintext-secret" "$WORK/push.log" || fail "no diagnostic on push"
[ "$(git --git-dir="$remote" rev-parse main)" = "$pushed" ] || fail "the remote moved"
pass "push blocked, the remote still at ${pushed:0:12}"

say "sopsguard-system runs the sopsguard on PATH"
build_sopsguard
cat > "$WORK/system-config.yaml" <<YAML
repos:
  - repo: $REPO
    rev: $rev
    hooks:
      - id: sopsguard-system
YAML
RC=0; PATH="$(dirname "$BIN"):$PATH" pre-commit run --config "$WORK/system-config.yaml" --all-files > "$WORK/system.log" 2>&1 || RC=$?
[ "$RC" != 0 ] && grep -q "k8s/plaintext-secret" "$WORK/system.log" || { cat "$WORK/system.log"; fail "sopsguard-system"; }
pass "sopsguard-system finds the committed secret with --all-files"

echo "pre-commit: all checks passed"
