#!/usr/bin/env bash
# Builds (or finds in the cache) the helm binary the chart tests use: helm.sh/helm/v4 at
# HELM_VERSION (versions.env), built from its Go module through the module proxy.
# Cached outside the repository, keyed by version:
#   ${DEPLOYER_TOOLS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/deployer-tools}/helm-<version>/bin/helm
# Prints the binary's path on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../versions.env"
cache=${DEPLOYER_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/deployer-tools}
dir="$cache/helm-$HELM_VERSION"
bin="$dir/bin/helm"
log() { echo "[tools:helm] $*" >&2; }
mkdir -p "$dir/bin"

# One build per version at a time (parallel test runs on a cold cache wait for the first).
exec 8>"$dir.lock"
if ! flock -n 8; then
  log "another build of helm $HELM_VERSION is running: waiting for it"
  flock 8
fi
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "[tools:helm] helm $HELM_VERSION is not in $dir; building it needs Go >= 1.26 on PATH and a Go module proxy." >&2
  exit 1
fi
major=${HELM_VERSION%%.*}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$dir/bin.tmp"
# -p=1 by default: the machine is usually shared with the control plane and the tests.
export GOFLAGS="-trimpath -modcacherw ${HELM_GOFLAGS:--p=1}"
log "building helm $HELM_VERSION from helm.sh/helm/$major (once; later runs reuse $bin)"
start=$(date +%s)
rm -rf "$GOBIN"
go install -ldflags "-s -w -X helm.sh/helm/$major/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/$major/cmd/helm@$HELM_VERSION"
mv "$GOBIN/helm" "$bin"
rm -rf "$GOBIN"
log "built in $(( $(date +%s) - start ))s"
echo "$bin"
