#!/usr/bin/env bash
# Writes the pre-commit mirror repository (the ruff-pre-commit pattern: a repository whose hooks are
# `language: python` and depend on the sopsguard wheel of one version) for VERSION into DIR, from
# the template in dist/pre-commit-mirror/:
#
#   dist/write-pre-commit-mirror.sh VERSION DIR
#
# Files of the template are copied with @VERSION@ replaced; other files in DIR (its .git) are left
# alone. After a release has reached PyPI: run this in a checkout of the mirror repository, then
# `git commit -am "sopsguard VERSION" && git tag vVERSION && git push --tags origin HEAD`.
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: $0 VERSION DIR" >&2
  exit 2
fi
version=${1#v} dir=$2
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-.+][0-9A-Za-z.-]+)?$ ]] \
  || { echo "write-pre-commit-mirror.sh: '$1' is not a version (like 1.2.3)" >&2; exit 2; }
template=$(cd "$(dirname "$0")/pre-commit-mirror" && pwd)
mkdir -p "$dir"
(cd "$template" && find . -type f | LC_ALL=C sort) | while read -r f; do
  mkdir -p "$dir/$(dirname "$f")"
  sed "s/@VERSION@/$version/g" "$template/$f" > "$dir/$f"
done
if grep -rq '@VERSION@' --exclude-dir=.git "$dir"; then
  echo "write-pre-commit-mirror.sh: a placeholder is left in $dir" >&2
  exit 1
fi
echo "wrote the sopsguard $version pre-commit mirror to $dir"
