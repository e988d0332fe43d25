#!/usr/bin/env bash
# Copies the CRDs (crds/, the one source of truth) into deploy/crds/, which kustomize can read, and
# into the Helm chart's crds/ (deploy/helm/deployer/crds/, which Helm installs before the templates).
# test/unit/deploy-manifests.test.ts and test/unit/helm-chart.test.ts fail when the copies are stale.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$root/deploy/crds"
rm -f "$root"/deploy/crds/*.yaml
cp "$root"/crds/*.yaml "$root/deploy/crds/"
mkdir -p "$root/deploy/helm/deployer/crds"
rm -f "$root"/deploy/helm/deployer/crds/*.yaml
cp "$root"/crds/*.yaml "$root/deploy/helm/deployer/crds/"
echo "synced $(ls "$root"/crds/*.yaml | wc -l | tr -d ' ') CRD file(s) into deploy/crds/ and deploy/helm/deployer/crds/"
