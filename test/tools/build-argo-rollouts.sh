#!/usr/bin/env bash
# Builds (or finds in the cache) the Argo Rollouts controller the scale benchmark compares Deployer with:
# github.com/argoproj/argo-rollouts at ARGO_ROLLOUTS_VERSION (versions.env), cmd/rollouts-controller,
# built from its Go module through the module proxy, with the CRDs of the same module source
# (manifests/crds: rollouts, analysistemplates, clusteranalysistemplates, analysisruns, experiments).
# Cached outside the repository, keyed by version:
#   ${DEPLOYER_ARGO_CACHE:-${XDG_CACHE_HOME:-~/.cache}/deployer-argo-rollouts}/<version>/bin/rollouts-controller
#   ${DEPLOYER_ARGO_CACHE:-${XDG_CACHE_HOME:-~/.cache}/deployer-argo-rollouts}/<version>/crds/*.yaml
# Prints that <version> directory on its last line.
#
# The module's go.mod pins the k8s.io staging repositories at v0.0.0 with replace directives, which
# `go install pkg@version` refuses; so the build runs in a writable copy of the module's own directory,
# where its go.mod (and its replaces) is the main module.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../versions.env"
version=$ARGO_ROLLOUTS_VERSION
module=github.com/argoproj/argo-rollouts
cache=${DEPLOYER_ARGO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/deployer-argo-rollouts}
dir="$cache/$version"
bin="$dir/bin/rollouts-controller"
crds="$dir/crds"
log() { echo "[tools:argo-rollouts] $*" >&2; }
mkdir -p "$cache"

# One build per version at a time (parallel runs on a cold cache wait for the first).
exec 8>"$dir.lock"
if ! flock -n 8; then
  log "another build of argo-rollouts $version is running: waiting for it"
  flock 8
fi
if [ -x "$bin" ] && [ -f "$crds/rollout-crd.yaml" ]; then echo "$dir"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "[tools:argo-rollouts] argo-rollouts $version is not in $dir; building it needs Go >= 1.23 on PATH and a Go module proxy." >&2
  exit 1
fi
export GOTOOLCHAIN=local CGO_ENABLED=0
# -p=1 by default: the machine is usually shared with the control plane and the tests.
# -mod=mod: the module's go.sum is taken as it is, completed if the local Go asks for more.
export GOFLAGS="-trimpath -modcacherw -mod=mod ${ARGO_GOFLAGS:--p=1}"
start=$(date +%s)
log "downloading $module@$version from the module proxy"
src=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$src" ] || [ ! -d "$src" ]; then
  log "go mod download gave no module directory for $module@$version"
  exit 1
fi
work="$dir.build"
rm -rf "$work" "$dir"
mkdir -p "$work"
cp -r "$src/." "$work/"
chmod -R u+w "$work"
log "building $module/cmd/rollouts-controller $version (once; later runs reuse $bin)"
(
  cd "$work"
  go build -o "$work/rollouts-controller" \
    -ldflags "-s -w -X $module/utils/version.version=${version#v} -X $module/utils/version.gitTag=$version -X $module/utils/version.gitTreeState=clean" \
    ./cmd/rollouts-controller
)
mkdir -p "$dir/bin" "$crds"
cp "$work"/manifests/crds/*-crd.yaml "$crds/"
mv "$work/rollouts-controller" "$bin"
rm -rf "$work"
log "built in $(( $(date +%s) - start ))s"
echo "$dir"
