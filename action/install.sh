#!/usr/bin/env bash
# Installs sopsguard for the action.
#
#   install.sh plan     writes version, target, archive, url, bin-dir and cache-key to GITHUB_OUTPUT
#   install.sh install  installs into bin-dir (after a cache miss)
#
# The version is INPUT_VERSION, or the version of this action's own Cargo.toml (the action and the
# binary are released together). The release archive for the runner's OS and architecture
# (sopsguard-vVERSION-TARGET.tar.gz, as dist/package.sh writes it) is downloaded with its .sha256
# file and checked; then, where the GitHub CLI is installed and authenticated, its build-provenance
# attestation is verified with `gh attestation verify` (INPUT_VERIFY_ATTESTATION: auto skips with a
# notice when gh cannot, required fails, skip does not try). A missing archive is an error: only
# INPUT_VERSION `source` builds (this action's own source, with `cargo install --locked --path`).
#
# SOPSGUARD_RELEASE_BASE_URL overrides where releases are downloaded from (default: this
# project's GitHub releases; a file:// URL works), SOPSGUARD_RELEASE_REPO the repository whose
# attestations are trusted, SOPSGUARD_CARGO_PROFILE the cargo profile of a source build (release).
set -euo pipefail

action_path=${GITHUB_ACTION_PATH:-$(cd "$(dirname "$0")/.." && pwd)}
out=${GITHUB_OUTPUT:-/dev/stdout}
repo=${SOPSGUARD_RELEASE_REPO:-sopsguard/sopsguard}
base_url=${SOPSGUARD_RELEASE_BASE_URL:-https://github.com/$repo/releases/download}
base_url=${base_url%/}
attest=${INPUT_VERIFY_ATTESTATION:-auto}

error() { echo "::error title=sopsguard::$*"; exit 2; }
notice() { echo "::notice title=sopsguard::$*"; }

case "$attest" in auto|required|skip) ;; *) error "verify-attestation must be auto, required or skip, not '$attest'" ;; esac

own_version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$action_path/Cargo.toml" | head -n 1)
requested=${INPUT_VERSION:-}
requested=${requested#v}
version=${requested:-$own_version}

os=${RUNNER_OS:-$(uname -s)}
arch=${RUNNER_ARCH:-$(uname -m)}
case "$os/$arch" in
  Linux/X64|Linux/x86_64) target=x86_64-unknown-linux-musl ;;
  Linux/ARM64|Linux/aarch64|Linux/arm64) target=aarch64-unknown-linux-musl ;;
  macOS/X64|Darwin/x86_64) target=x86_64-apple-darwin ;;
  macOS/ARM64|Darwin/arm64) target=aarch64-apple-darwin ;;
  Windows/X64|MINGW*/x86_64|MSYS*/x86_64) target=x86_64-pc-windows-msvc ;;
  *) target=unknown ;;
esac

sha256() { { sha256sum "$1" 2>/dev/null || shasum -a 256 "$1"; } | cut -d' ' -f1; }

source_hash() {
  (cd "$action_path" && find Cargo.toml Cargo.lock src rules -type f 2>/dev/null | LC_ALL=C sort | xargs cat) \
    | { sha256sum 2>/dev/null || shasum -a 256; } | cut -c1-16
}

tool_root=${RUNNER_TOOL_CACHE:-${HOME:-/tmp}/.cache}/sopsguard
if [ "$version" = source ]; then
  key="sopsguard-src-$(source_hash)-$target"
else
  key="sopsguard-$version-$target"
fi
bin_dir=$tool_root/$key/bin
archive="sopsguard-v$version-$target.tar.gz"
url="$base_url/v$version/$archive"

# download URL FILE: curl (which also reads file:// URLs); fails on HTTP errors.
download() { curl -fsSL --retry 3 --retry-connrefused -o "$2" "$1"; }

verify_attestation() {
  local file=$1
  [ "$attest" != skip ] || { echo "sopsguard: attestation check skipped (verify-attestation: skip)"; return 0; }
  local why=""
  if ! command -v gh >/dev/null 2>&1; then
    why="the GitHub CLI (gh) is not installed"
  elif [ -z "${GH_TOKEN:-}${GITHUB_TOKEN:-}" ] && ! gh auth status >/dev/null 2>&1; then
    why="the GitHub CLI is not authenticated (set GH_TOKEN)"
  fi
  if [ -n "$why" ]; then
    [ "$attest" = required ] && error "cannot verify the build-provenance attestation of $archive: $why"
    notice "build-provenance attestation of $archive not verified: $why (the SHA-256 was checked)"
    return 0
  fi
  if gh attestation verify "$file" --repo "$repo" >"$file.attestation.log" 2>&1; then
    echo "sopsguard: build-provenance attestation of $archive verified (repository $repo)"
  else
    sed 's/^/  /' "$file.attestation.log"
    error "the build-provenance attestation of $archive does not verify against $repo: not installing it"
  fi
}

install_archive() {
  [ "$target" != unknown ] || error "no prebuilt sopsguard for $os/$arch; use \`version: source\` to build it with cargo"
  local tmp; tmp=$(mktemp -d)
  download "$url" "$tmp/$archive" \
    || error "no release archive $archive at $url (is v$version released for $target?). Use \`version: source\` to build this action's source with cargo instead."
  download "$url.sha256" "$tmp/$archive.sha256" \
    || error "no checksum file $archive.sha256 next to $url: not installing an unchecked archive"
  local want got
  want=$(cut -d' ' -f1 < "$tmp/$archive.sha256" | tr -d '\r\n')
  got=$(sha256 "$tmp/$archive")
  [ -n "$want" ] && [ "$want" = "$got" ] || error "checksum mismatch for $archive (want ${want:-nothing}, got $got): not installing it"
  echo "sopsguard: SHA-256 of $archive checked ($got)"
  verify_attestation "$tmp/$archive"
  tar -xzf "$tmp/$archive" -C "$tmp"
  local bin
  bin=$(find "$tmp" -type f \( -name sopsguard -o -name sopsguard.exe \) | head -n 1)
  [ -n "$bin" ] || error "$archive holds no sopsguard binary"
  mkdir -p "$bin_dir"
  install -m 0755 "$bin" "$bin_dir/"
  rm -rf "$tmp"
  echo "sopsguard: installed the prebuilt $archive: $("$bin_dir/$(basename "$bin")" --version)"
}

install_source() {
  command -v cargo >/dev/null 2>&1 \
    || error "version: source builds sopsguard with cargo, which is not installed (add a Rust toolchain, e.g. dtolnay/rust-toolchain, before this action)"
  local root; root=$(mktemp -d)
  cargo install --locked --quiet --profile "${SOPSGUARD_CARGO_PROFILE:-release}" --path "$action_path" --root "$root"
  mkdir -p "$bin_dir"
  install -m 0755 "$root"/bin/sopsguard* "$bin_dir/"
  rm -rf "$root"
  echo "sopsguard: built $("$bin_dir/sopsguard" --version) from source"
}

case "${1:-}" in
  plan)
    {
      echo "version=$version"
      echo "target=$target"
      echo "archive=$archive"
      echo "url=$url"
      echo "bin-dir=$bin_dir"
      echo "cache-key=$key"
    } >> "$out"
    ;;
  install)
    if [ "$version" = source ]; then install_source; else install_archive; fi
    ;;
  *)
    echo "usage: install.sh plan|install" >&2
    exit 2
    ;;
esac
