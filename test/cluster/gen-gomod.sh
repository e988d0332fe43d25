#!/usr/bin/env bash
# Regenerates test/cluster/k8sbin/go.mod for the versions in versions.env.
# k8s.io/kubernetes requires every staging module at v0.0.0 and fixes that with
# `replace => ./staging/...` lines that only work inside its own repository, so
# this wrapper module replaces each staging module with its published release.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../versions.env"
export GOTOOLCHAIN=local GOFLAGS=-modcacherw
cd "$here/k8sbin"
rm -f go.mod go.sum
go mod init deployer.dev/test/k8sbin >/dev/null 2>&1
gm=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
go mod edit -go="$(sed -n 's/^go //p' "$gm")"
sed -n 's/^godebug \(.*\)/\1/p' "$gm" | while read -r kv; do go mod edit -godebug="$kv"; done
for m in $(sed -n 's|^[[:space:]]*\(k8s.io/[^ ]*\) => \./staging/.*|\1|p' "$gm"); do
  go mod edit -replace="$m=$m@v0.${K8S_VERSION#v1.}"
done
go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" \
  "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION" \
  "k8s.io/kubernetes/cmd/kube-scheduler@$K8S_VERSION" \
  "k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION"
go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
go mod tidy
echo "wrote $here/k8sbin/go.mod"
