#!/usr/bin/env bash
# Builds (or finds in the cache) the local control plane's binaries:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (k8s.io/kubernetes),
#   etcd (go.etcd.io/etcd/server/v3) and kwok (sigs.k8s.io/kwok).
# Binaries are cached outside the repository, keyed by version:
#   ${DEPLOYER_CACHE:-${XDG_CACHE_HOME:-~/.cache}/deployer-testcluster}/<k8s>-etcd<etcd>-kwok<kwok>/bin
# KUBEBUILDER_ASSETS (the envtest convention) may name a folder with prebuilt
# kube-apiserver, etcd (and kubectl); those are used and the rest is built.
# Prints the bin folder on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../versions.env"
key="$K8S_VERSION-etcd$ETCD_VERSION-kwok$KWOK_VERSION"
cache=${DEPLOYER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/deployer-testcluster}
bin="$cache/$key/bin"
mkdir -p "$bin"
log() { echo "[cluster:build] $*" >&2; }

# One build per cache key at a time (parallel test runs on a cold cache wait for the first).
exec 8>"$cache/$key.lock"
if ! flock -n 8; then
  log "another build of $key is running: waiting for it"
  flock 8
fi

# Prebuilt binaries, envtest-style.
if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  for b in kube-apiserver etcd kubectl; do
    if [ -x "$KUBEBUILDER_ASSETS/$b" ] && [ ! -e "$bin/$b" ]; then
      ln -sf "$KUBEBUILDER_ASSETS/$b" "$bin/$b"; log "using prebuilt $KUBEBUILDER_ASSETS/$b"
    fi
  done
fi

need=()
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok; do
  [ -x "$bin/$b" ] || need+=("$b")
done
# The kwok stages are rebuilt when test/cluster/stages/ changes.
if [ ! -f "$bin/kwok-stages.yaml" ] || [ -n "$(find "$here/stages" -name '*.yaml' -newer "$bin/kwok-stages.yaml")" ]; then
  stages_stale=1; need+=(kwok-stages)
fi
if [ ${#need[@]} -eq 0 ]; then echo "$bin"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
[cluster:build] Missing: ${need[*]} (not in $bin).
  Building them needs Go >= 1.26 on PATH with access to a Go module proxy
  (https://go.dev/doc/install), or set KUBEBUILDER_ASSETS to a folder holding
  kube-apiserver and etcd (e.g. from 'setup-envtest use $K8S_VERSION -p path');
  kube-controller-manager, kube-scheduler and kwok are always built with Go.
MSG
  exit 1
fi
gover=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n1.26\n' "$gover" | sort -V | head -1)" != "1.26" ]; then
  echo "[cluster:build] Go $gover is too old: Kubernetes $K8S_VERSION needs Go >= 1.26." >&2; exit 1
fi

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-trimpath -modcacherw"
free_gb=$(df -Pk "$cache" | awk 'NR==2 {print int($4/1024/1024)}')
if [ "$free_gb" -lt 8 ]; then
  log "warning: only ${free_gb} GiB free under $cache; a cold build needs about 8 GiB (module and build caches)"
fi
log "building ${need[*]} for $key (a cold build takes a while; later starts reuse $bin)"
start=$(date +%s)
minor=$(echo "$K8S_VERSION" | cut -d. -f2)
V=k8s.io/component-base/version
ldk="-s -w -X $V.gitVersion=$K8S_VERSION -X $V.gitMajor=1 -X $V.gitMinor=$minor -X $V.gitTreeState=clean -X $V.buildDate=1970-01-01T00:00:00Z"
cd "$here/k8sbin"
pkgs=()
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  [ -x "$bin/$b" ] || pkgs+=("k8s.io/kubernetes/cmd/$b")
done
if [ ${#pkgs[@]} -gt 0 ]; then
  go build -ldflags "$ldk" -o "$bin/" "${pkgs[@]}"
fi
if [ ! -x "$bin/etcd" ]; then
  go build -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3
fi
if [ ! -x "$bin/kwok" ]; then
  GOBIN="$bin" GOFLAGS=-trimpath go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
fi
if [ "${stages_stale:-0}" = 1 ]; then
  s="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
  [ -d "$s" ] || go mod download "sigs.k8s.io/kwok@$KWOK_VERSION"
  { for f in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
             pod/fast/pod-complete pod/fast/pod-delete; do echo '---'; cat "$s/$f.yaml"; done
    echo '---'; cat "$here/stages/pod-ready.yaml"; } > "$bin/kwok-stages.yaml.tmp"
  mv "$bin/kwok-stages.yaml.tmp" "$bin/kwok-stages.yaml"
fi
log "built in $(( $(date +%s) - start ))s"
echo "$bin"
