#!/usr/bin/env bash
# Installs sopsguard for the action.
#
#   install.sh plan     writes version, target, bin-dir, cache-key and url to GITHUB_OUTPUT
#   install.sh install  installs into bin-dir (after a cache miss)
#
# The version is INPUT_VERSION, or the version of this action's own Cargo.toml (the action and the
# binary are released together). A prebuilt release archive for the runner is downloaded and its
# SHA-256 checked; when there is none (or INPUT_VERSION is `source`), the action's own source is
# built with `cargo install --locked --path` (another version: `cargo install --locked
# sopsguard@VERSION`). SOPSGUARD_RELEASE_BASE_URL overrides where releases are downloaded from.
set -euo pipefail

action_path=${GITHUB_ACTION_PATH:-$(cd "$(dirname "$0")/.." && pwd)}
out=${GITHUB_OUTPUT:-/dev/stdout}
base_url=${SOPSGUARD_RELEASE_BASE_URL:-https://github.com/sopsguard/sopsguard/releases/download}

error() { echo "::error title=sopsguard::$*"; exit 2; }

own_version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$action_path/Cargo.toml" | head -n 1)
requested=${INPUT_VERSION:-}
requested=${requested#v}
version=${requested:-$own_version}

case "${RUNNER_OS:-$(uname -s)}/${RUNNER_ARCH:-$(uname -m)}" in
  Linux/X64|Linux/x86_64) target=x86_64-unknown-linux-musl ;;
  Linux/ARM64|Linux/aarch64) target=aarch64-unknown-linux-musl ;;
  macOS/X64|Darwin/x86_64) target=x86_64-apple-darwin ;;
  macOS/ARM64|Darwin/arm64) target=aarch64-apple-darwin ;;
  Windows/X64) target=x86_64-pc-windows-msvc ;;
  *) target=unknown ;;
esac

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

case "${1:-}" in
  plan)
    {
      echo "version=$version"
      echo "target=$target"
      echo "bin-dir=$bin_dir"
      echo "cache-key=$key"
      echo "url=$url"
    } >> "$out"
    ;;
  install)
    mkdir -p "$bin_dir"
    if [ "$version" != source ] && [ "$target" != unknown ]; then
      tmp=$(mktemp -d)
      if curl -fsSL --retry 3 -o "$tmp/$archive" "$url" && curl -fsSL --retry 3 -o "$tmp/$archive.sha256" "$url.sha256"; then
        want=$(cut -d' ' -f1 < "$tmp/$archive.sha256")
        got=$({ sha256sum "$tmp/$archive" 2>/dev/null || shasum -a 256 "$tmp/$archive"; } | cut -d' ' -f1)
        [ "$want" = "$got" ] || error "checksum mismatch for $archive (want $want, got $got)"
        tar -xzf "$tmp/$archive" -C "$tmp"
        install -m 0755 "$(find "$tmp" -type f \( -name sopsguard -o -name sopsguard.exe \) | head -n 1)" "$bin_dir/"
        rm -rf "$tmp"
        echo "sopsguard: installed the prebuilt $archive"
        exit 0
      fi
      rm -rf "$tmp"
      echo "sopsguard: no prebuilt release $archive; building from source"
    fi
    command -v cargo >/dev/null 2>&1 || error "no prebuilt sopsguard for this runner and no cargo to build one (install a Rust toolchain, e.g. dtolnay/rust-toolchain, before this action)"
    root=$(mktemp -d)
    if [ "$version" = source ] || [ "$version" = "$own_version" ]; then
      cargo install --locked --quiet --path "$action_path" --root "$root"
    else
      cargo install --locked --quiet "sopsguard@$version" --root "$root"
    fi
    install -m 0755 "$root"/bin/sopsguard* "$bin_dir/"
    rm -rf "$root"
    echo "sopsguard: built $("$bin_dir/sopsguard" --version) from source"
    ;;
  *)
    echo "usage: install.sh plan|install" >&2
    exit 2
    ;;
esac
