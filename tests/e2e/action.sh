#!/usr/bin/env bash
# The GitHub Action: action.yml validates against the GitHub Action schema (check-jsonschema), and
# its steps, run locally by tests/e2e/run_action.py with simulated GITHUB_* environments and event
# payloads (push, pull_request, workflow_dispatch, a shallow checkout, path mode), produce the
# expected SARIF and exit status. Installation goes through the action's own install step: from a
# prebuilt release archive served from a local directory (SOPSGUARD_RELEASE_BASE_URL), with its
# checksum checked, then from the simulated cache.
source "$(dirname "$0")/lib.sh"

python_tools
build_sopsguard
git_env

say "action.yml against the GitHub Action schema"
"$VENV/bin/check-jsonschema" --builtin-schema vendor.github-actions "$REPO/action.yml"
pass "schema"

# A prebuilt "release" of the binary just built, for the runner this is, packed by the same script
# the release workflow runs (dist/package.sh), in the layout of a GitHub release download URL.
version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n 1)
target=x86_64-unknown-linux-musl
archive="sopsguard-v$version-$target.tar.gz"
"$REPO/dist/package.sh" "$version" "$target" "$BIN" "$WORK/releases/v$version" >/dev/null
(cd "$WORK/releases/v$version" && sha256sum -c --quiet "$archive.sha256") || fail "package.sh wrote a bad checksum"

say "the archive name and layout are the ones cargo binstall reads from Cargo.toml"
"$VENV/bin/python" - "$REPO/Cargo.toml" "$WORK/releases/v$version/$archive" "$version" "$target" <<'PY'
import re, sys, tarfile, tomllib
manifest, path, version, target = sys.argv[1:]
meta = tomllib.load(open(manifest, "rb"))
b = meta["package"]["metadata"]["binstall"]
vals = {"repo": meta["package"]["repository"], "name": meta["package"]["name"], "version": version,
        "target": target, "archive-suffix": ".tar.gz", "bin": "sopsguard", "binary-ext": ""}
render = lambda t: re.sub(r"\{\s*([\w-]+)\s*\}", lambda m: vals[m.group(1)], t)
url = render(b["pkg-url"])
want = f"https://github.com/sopsguard/sopsguard/releases/download/v{version}/" + path.rsplit("/", 1)[1]
assert b["pkg-fmt"] == "tgz", b["pkg-fmt"]
assert url == want, f"binstall pkg-url {url} is not the release archive {want}"
names = tarfile.open(path).getnames()
assert render(b["bin-dir"]) in names, f"binstall bin-dir {render(b['bin-dir'])} is not in the archive: {names}"
print(f"binstall: {url} -> {render(b['bin-dir'])}")
PY
pass "binstall pkg-url, pkg-fmt and bin-dir match $archive"

# The repository the workflow checked out: c1 clean, c2 adds a plaintext Secret, c3 clean.
origin=$WORK/origin.git
ws=$WORK/workspace
git init -q "$ws"
(
  cd "$ws"
  echo "# app" > README.md && git add -A && git commit -qm c1
  printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: aHVudGVyMjI=\n' > secret.yaml
  git add -A && git commit -qm c2
  echo "more" >> README.md && git add -A && git commit -qm c3
)
c1=$(git -C "$ws" rev-parse HEAD~2); c2=$(git -C "$ws" rev-parse HEAD~1); c3=$(git -C "$ws" rev-parse HEAD)
git clone -q --bare "$ws" "$origin"
git -C "$ws" remote add origin "$origin" && git -C "$ws" fetch -q origin

# run_action EVENT PAYLOAD WORKSPACE [INPUT=VALUE ...]: runs the action; sets RC and OUTPUTS (a file).
# TOOLCACHE (the runner's tool cache, where the simulated actions/cache looks), RELEASES (the
# release download directory) and EXTRA_PATH (prepended to PATH) may be changed for one run. No
# GitHub token reaches the action, and gh gets an empty configuration directory.
TOOLCACHE=$WORK/toolcache RELEASES=$WORK/releases EXTRA_PATH=""
run_action() {
  local event=$1 payload=$2 dir=$3; shift 3
  printf '%s' "$payload" > "$WORK/event.json"
  OUTPUTS=$WORK/outputs-$event.json
  RC=0
  mkdir -p "$WORK/gh-config"
  (
    cd "$dir"
    env -u GITHUB_TOKEN -u GH_TOKEN -u GH_ENTERPRISE_TOKEN PATH="${EXTRA_PATH:+$EXTRA_PATH:}$PATH" \
      GH_CONFIG_DIR="$WORK/gh-config" \
      GITHUB_ACTIONS=true CI=true GITHUB_EVENT_NAME="$event" GITHUB_EVENT_PATH="$WORK/event.json" \
      GITHUB_WORKSPACE="$dir" GITHUB_REPOSITORY=example/app GITHUB_SHA="$(git rev-parse HEAD)" \
      RUNNER_OS=Linux RUNNER_ARCH=X64 RUNNER_TEMP="$WORK/runner-temp" RUNNER_TOOL_CACHE="$TOOLCACHE" \
      GITHUB_STEP_SUMMARY="$WORK/summary.md" RUN_ACTION_OUTPUTS="$OUTPUTS" \
      SOPSGUARD_RELEASE_BASE_URL="file://$RELEASES" \
      "$VENV/bin/python" "$REPO/tests/e2e/run_action.py" "$REPO" "$@"
  ) > "$WORK/action.log" 2>&1 || RC=$?
}
output() { jq -r ".\"$1\"" "$OUTPUTS"; }
show_log() { sed 's/^/  | /' "$WORK/action.log"; }

say "push: before..after contains a Secret → SARIF with a range run, the step fails"
run_action push "{\"before\": \"$c1\", \"after\": \"$c3\", \"repository\": {\"default_branch\": \"main\"}}" "$ws"
show_log
[ "$RC" = 1 ] || fail "push with a secret: exit $RC, want 1"
[ "$(output mode)" = range ] && [ "$(output range)" = "$c1..$c3" ] || fail "push: mode/range $(output mode) $(output range)"
grep -q "installed the prebuilt $archive" "$WORK/action.log" || fail "the prebuilt release was not installed"
grep -q "SHA-256 of $archive checked" "$WORK/action.log" || fail "the checksum was not checked"
grep -q "::notice title=sopsguard::build-provenance attestation of $archive not verified" "$WORK/action.log" \
  || fail "without a usable gh, the attestation check should be skipped with a notice"
grep -q "cache-hit=false" "$WORK/action.log" || fail "the first run should miss the cache"
sarif="$ws/$(output sarif-file)"
jq -e --arg c2 "$c2" '.runs | length == 1 and .[0].automationDetails.id == "sopsguard/range/"
  and (.[0].results | length == 1) and .[0].results[0].ruleId == "k8s/plaintext-secret"
  and .[0].results[0].properties.commit == $c2
  and (.[0].results[0].partialFingerprints.primaryLocationLineHash | length > 0)' "$sarif" >/dev/null \
  || { jq . "$sarif"; fail "push: unexpected SARIF"; }
grep -q "::error file=secret.yaml,line=6" "$WORK/action.log" || fail "no annotation for the finding"
grep -q "| error | 1 |" "$WORK/summary.md" || fail "no step summary"
pass "push: exit 1, range $c1..$c3, one range result in commit $c2, annotation and summary"

say "pull_request: base..head without a secret → empty range run, the step passes (and the cache hits)"
git -C "$ws" checkout -q -b feature && echo "x" > "$ws/notes.md" && git -C "$ws" add -A && git -C "$ws" commit -qm c4
c4=$(git -C "$ws" rev-parse HEAD)
run_action pull_request "{\"pull_request\": {\"base\": {\"sha\": \"$c3\"}, \"head\": {\"sha\": \"$c4\"}}}" "$ws"
show_log
[ "$RC" = 0 ] || fail "clean pull request: exit $RC, want 0"
[ "$(output range)" = "$c3..$c4" ] || fail "pull_request range: $(output range)"
grep -q "cache-hit=true" "$WORK/action.log" || fail "the second run should hit the cache"
jq -e '.runs | length == 1 and .[0].automationDetails.id == "sopsguard/range/" and (.[0].results | length == 0)' \
  "$ws/sopsguard.sarif" >/dev/null || fail "pull_request: unexpected SARIF"
pass "pull_request: exit 0, range $c3..$c4, an empty range run (fixed alerts close)"

say "pull_request with the secret in range, fail-on: never → findings in SARIF, the step passes"
run_action pull_request "{\"pull_request\": {\"base\": {\"sha\": \"$c1\"}, \"head\": {\"sha\": \"$c4\"}}}" "$ws" fail-on=never sarif-file=out/scan.sarif
[ "$RC" = 0 ] || { show_log; fail "fail-on never: exit $RC, want 0"; }
jq -e '.runs[0].results | length == 1' "$ws/out/scan.sarif" >/dev/null || fail "fail-on never: SARIF"
pass "fail-on never: exit 0 with 1 result"

say "workflow_dispatch → the whole history"
run_action workflow_dispatch '{}' "$ws"
[ "$RC" = 1 ] && [ "$(output mode)" = history ] || { show_log; fail "workflow_dispatch: exit $RC mode $(output mode)"; }
jq -e '.runs | length == 1 and .[0].automationDetails.id == "sopsguard/history/" and (.[0].results | length >= 1)' \
  "$ws/sopsguard.sarif" >/dev/null || fail "history SARIF"
pass "workflow_dispatch: history run with the secret, exit 1"

say "a shallow checkout says fetch-depth: 0"
git clone -q --depth 1 "file://$origin" "$WORK/shallow"
run_action push "{\"before\": \"$c1\", \"after\": \"$c3\"}" "$WORK/shallow"
show_log
[ "$RC" = 2 ] || fail "shallow: exit $RC, want 2"
grep -q "fetch-depth: 0" "$WORK/action.log" || fail "shallow: no fetch-depth hint"
pass "shallow: exit 2 with the fetch-depth: 0 hint"

say "path mode with fail-on error: the working tree"
printf 'SOPS_AGE_KEY=%s\n' "$(age_identity)" > "$ws/.env"
run_action push '{}' "$ws" mode=path fail-on=error "args=--quiet ."
[ "$RC" = 1 ] || { show_log; fail "path mode: exit $RC, want 1"; }
jq -e '[.runs[0].results[].ruleId] | index("age/identity") != null' "$ws/sopsguard.sarif" >/dev/null || fail "path mode SARIF"
pass "path mode: exit 1, age identity in SARIF"

say "bad inputs are errors"
run_action push '{}' "$ws" fail-on=sometimes
[ "$RC" = 2 ] && grep -q "fail-on must be" "$WORK/action.log" || { show_log; fail "bad fail-on accepted"; }
pass "bad fail-on: exit 2"

# Installation failures. Each run gets an empty tool cache, so the install step runs.
install_case() { # NAME [INPUT=VALUE ...]: a push of c1..c3 with a fresh tool cache
  local name=$1; shift
  TOOLCACHE=$WORK/toolcache-$name
  run_action push "{\"before\": \"$c1\", \"after\": \"$c3\"}" "$ws" "$@"
  grep '::error' "$WORK/action.log" | sed 's/^/  | /' || true
}
installed() { find "$TOOLCACHE" -name sopsguard -type f 2>/dev/null | grep -q .; }
fake_gh() { # RC: a gh on PATH that logs its arguments to $WORK/gh.log and exits with RC
  mkdir -p "$WORK/fake-gh"
  printf '#!/bin/sh\necho "gh $*" >> "%s"\n[ "$1" = auth ] && exit 0\nexit %s\n' "$WORK/gh.log" "$1" > "$WORK/fake-gh/gh"
  chmod +x "$WORK/fake-gh/gh"
  : > "$WORK/gh.log"
  EXTRA_PATH=$WORK/fake-gh
}

say "attestation: gh verifies the downloaded archive against the release repository"
fake_gh 0
install_case gh-ok
EXTRA_PATH=""
[ "$RC" = 1 ] || { show_log; fail "with a verifying gh: exit $RC, want 1 (the scan's findings)"; }
grep -q "^gh attestation verify .*/$archive --repo sopsguard/sopsguard$" "$WORK/gh.log" \
  || { cat "$WORK/gh.log"; fail "gh attestation verify was not run on the archive"; }
grep -q "build-provenance attestation of $archive verified" "$WORK/action.log" || { show_log; fail "no verified message"; }
installed || fail "a verified archive was not installed"
pass "gh attestation verify ran on $archive with --repo sopsguard/sopsguard; installed"

say "attestation: an archive whose attestation does not verify is not installed"
fake_gh 1
install_case gh-bad
EXTRA_PATH=""
[ "$RC" = 2 ] || { show_log; fail "failing attestation: exit $RC, want 2"; }
grep -q "::error title=sopsguard::the build-provenance attestation of $archive does not verify" "$WORK/action.log" \
  || { show_log; fail "no clear attestation error"; }
! installed || fail "an archive that failed attestation was installed"
grep -q "skip scan" "$WORK/action.log" || fail "the scan step should not run after a failed install"
pass "failing attestation: exit 2, nothing installed, no scan"

say "attestation: verify-attestation: required without a usable gh is an error"
install_case gh-required verify-attestation=required
[ "$RC" = 2 ] && grep -q "cannot verify the build-provenance attestation" "$WORK/action.log" \
  || { show_log; fail "required attestation without gh: exit $RC"; }
! installed || fail "installed without the required attestation"
pass "verify-attestation required: exit 2, nothing installed"

say "a bad checksum is an error, and nothing is installed"
cp -r "$WORK/releases" "$WORK/releases-bad"
printf '%064d  %s\n' 0 "$archive" > "$WORK/releases-bad/v$version/$archive.sha256"
RELEASES=$WORK/releases-bad
install_case bad-sum
RELEASES=$WORK/releases
[ "$RC" = 2 ] || { show_log; fail "bad checksum: exit $RC, want 2"; }
grep -q "::error title=sopsguard::checksum mismatch for $archive" "$WORK/action.log" || { show_log; fail "no checksum error"; }
! installed || fail "an archive with a bad checksum was installed"
pass "bad checksum: exit 2 with 'checksum mismatch', nothing installed"

say "a missing checksum file is an error"
mkdir -p "$WORK/releases-nosum/v$version" && cp "$WORK/releases/v$version/$archive" "$WORK/releases-nosum/v$version/"
RELEASES=$WORK/releases-nosum
install_case no-sum
RELEASES=$WORK/releases
[ "$RC" = 2 ] && grep -q "no checksum file $archive.sha256" "$WORK/action.log" || { show_log; fail "missing checksum: exit $RC"; }
! installed || fail "an unchecked archive was installed"
pass "missing .sha256: exit 2, nothing installed"

say "a version with no release archive is a clear error, not a build from source"
install_case missing version=v9.9.9
[ "$RC" = 2 ] || { show_log; fail "missing archive: exit $RC, want 2"; }
grep -q "::error title=sopsguard::no release archive sopsguard-v9.9.9-$target.tar.gz at file://.*/v9.9.9/sopsguard-v9.9.9-$target.tar.gz" \
  "$WORK/action.log" || { show_log; fail "no clear missing-archive error"; }
grep -q 'version: source' "$WORK/action.log" || fail "the error should say how to build from source"
! grep -qi "compiling\|cargo install" "$WORK/action.log" || fail "a missing archive fell back to cargo"
! installed || fail "something was installed for a missing archive"
pass "missing archive: exit 2, names the URL and version: source, no cargo"

say "version: source builds the action's own source with cargo, then the cache has it"
# The dev profile and the caller's target directory, where the tests built sopsguard already, keep
# this build short (the release profile would compile everything again with LTO); the install step
# is the one users run.
TOOLCACHE=$WORK/toolcache-source
export CARGO_TARGET_DIR=$E2E_TARGET_DIR SOPSGUARD_CARGO_PROFILE=dev
run_action push "{\"before\": \"$c1\", \"after\": \"$c3\"}" "$ws" version=source
[ "$RC" = 1 ] || { show_log; fail "version source: exit $RC, want 1 (the scan's findings)"; }
grep -q "built sopsguard $version from source" "$WORK/action.log" || { show_log; fail "no build from source"; }
! grep -q "prebuilt" "$WORK/action.log" || fail "version source installed a release archive"
grep -q "cache-hit=false (.*/sopsguard-src-[0-9a-f]\{16\}-$target/bin)" "$WORK/action.log" \
  || { show_log; fail "the source build is not cached by a hash of the sources"; }
run_action push "{\"before\": \"$c1\", \"after\": \"$c3\"}" "$ws" version=source
[ "$RC" = 1 ] && grep -q "cache-hit=true" "$WORK/action.log" && ! grep -q "from source" "$WORK/action.log" \
  || { show_log; fail "the second source run should hit the cache"; }
unset SOPSGUARD_CARGO_PROFILE
pass "version source: cargo install of the action's source, cached under sopsguard-src-HASH-$target; the second run hits the cache"

say "an unsupported runner is an error"
TOOLCACHE=$WORK/toolcache-ppc
RC=0
(cd "$ws" && env RUNNER_OS=Linux RUNNER_ARCH=PPC64 RUNNER_TOOL_CACHE="$TOOLCACHE" GITHUB_OUTPUT=/dev/null \
  SOPSGUARD_RELEASE_BASE_URL="file://$RELEASES" bash "$REPO/action/install.sh" install) > "$WORK/action.log" 2>&1 || RC=$?
[ "$RC" = 2 ] && grep -q "no prebuilt sopsguard for Linux/PPC64" "$WORK/action.log" || { show_log; fail "unknown runner: exit $RC"; }
pass "unsupported runner: exit 2"

say "the cache key and path follow version, OS and architecture"
for spec in "Linux X64 x86_64-unknown-linux-musl" "Linux ARM64 aarch64-unknown-linux-musl" \
    "macOS X64 x86_64-apple-darwin" "macOS ARM64 aarch64-apple-darwin" "Windows X64 x86_64-pc-windows-msvc"; do
  read -r os arch want <<< "$spec"
  plan=$(env RUNNER_OS="$os" RUNNER_ARCH="$arch" RUNNER_TOOL_CACHE=/cache INPUT_VERSION=v1.2.3 GITHUB_OUTPUT=/dev/stdout \
    bash "$REPO/action/install.sh" plan)
  grep -qx "cache-key=sopsguard-1.2.3-$want" <<< "$plan" || fail "$os/$arch: $plan"
  grep -qx "bin-dir=/cache/sopsguard/sopsguard-1.2.3-$want/bin" <<< "$plan" || fail "$os/$arch: $plan"
  grep -qx "url=https://github.com/sopsguard/sopsguard/releases/download/v1.2.3/sopsguard-v1.2.3-$want.tar.gz" <<< "$plan" \
    || fail "$os/$arch: $plan"
done
pass "plan: one key, path and URL per version and target"

echo "action: all checks passed"
