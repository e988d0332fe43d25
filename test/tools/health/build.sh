#!/usr/bin/env bash
# Builds (or finds in the cache) test/tools/health: the health that GitOps tools compute, with
# their libraries (Argo CD: github.com/yuin/gopher-lua; Flux: sigs.k8s.io/cli-utils kstatus).
# Versions are pinned in test/tools/health/go.mod (one place). The binary is cached outside the
# repository, keyed by a hash of go.mod, go.sum, the source and the Go version:
#   ${DEPLOYER_TOOLS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/deployer-tools}/health-<hash>/health
# Prints the binary's path on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log() { echo "[tools:health] $*" >&2; }
if ! command -v go >/dev/null 2>&1; then
  log "Go >= 1.26 on PATH with access to a Go module proxy is needed to build the health helper"; exit 1
fi
gover=$(go env GOVERSION)
hash=$( { cat "$here/go.mod" "$here/go.sum" "$here"/*.go; echo "$gover"; } | sha256sum | cut -c1-16)
cache=${DEPLOYER_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/deployer-tools}
dir="$cache/health-$hash"
mkdir -p "$cache"
if [ -x "$dir/health" ]; then echo "$dir/health"; exit 0; fi
exec 8>"$cache/health-$hash.lock"
flock 8
if [ -x "$dir/health" ]; then echo "$dir/health"; exit 0; fi
log "building $dir/health ($gover)"
start=$(date +%s)
mkdir -p "$dir"
cd "$here"
GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-trimpath -modcacherw -mod=readonly" \
  go build -ldflags "-s -w" -o "$dir/health.tmp" .
mv "$dir/health.tmp" "$dir/health"
log "built in $(( $(date +%s) - start ))s"
echo "$dir/health"
