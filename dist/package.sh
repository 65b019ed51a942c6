#!/usr/bin/env bash
# Packs a built sopsguard binary as a release archive, the way the release workflow
# (.github/workflows/release.yml) publishes it and the Action (action/install.sh) and
# `cargo binstall` ([package.metadata.binstall] in Cargo.toml) download it:
#
#   dist/package.sh VERSION TARGET BINARY OUT_DIR
#
# writes OUT_DIR/sopsguard-vVERSION-TARGET.tar.gz, holding the directory sopsguard-vVERSION-TARGET/
# with the binary (sopsguard, or sopsguard.exe on Windows), README.md and the license files, and
# OUT_DIR/sopsguard-vVERSION-TARGET.tar.gz.sha256 in `sha256sum` format ("HASH  NAME"), which
# `sha256sum -c` (or `shasum -a 256 -c`) checks. Prints the archive's path.
set -euo pipefail

if [ "$#" -ne 4 ]; then
  echo "usage: $0 VERSION TARGET BINARY OUT_DIR" >&2
  exit 2
fi
version=${1#v} target=$2 binary=$3 out=$4
root=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$binary" ] || { echo "package.sh: no binary at $binary" >&2; exit 1; }

name="sopsguard-v$version-$target"
case "$target" in *windows*) exe=sopsguard.exe ;; *) exe=sopsguard ;; esac
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$name" "$out"
cp "$binary" "$stage/$name/$exe"
chmod 0755 "$stage/$name/$exe"
for f in README.md LICENSE LICENSE-MIT LICENSE-APACHE; do
  if [ -f "$root/$f" ]; then cp "$root/$f" "$stage/$name/"; fi
done
out=$(cd "$out" && pwd)
# Reproducible: sorted entries, fixed owner and modification time.
mtime=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)}
if tar --version 2>/dev/null | grep -q 'GNU tar'; then
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" \
    -C "$stage" -cf - "$name" | gzip -9n > "$out/$name.tar.gz"
else
  tar -C "$stage" -cf - "$name" | gzip -9n > "$out/$name.tar.gz"
fi
(
  cd "$out"
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$name.tar.gz" > "$name.tar.gz.sha256"
  else
    shasum -a 256 "$name.tar.gz" > "$name.tar.gz.sha256"
  fi
)
echo "$out/$name.tar.gz"
