#!/usr/bin/env bash
# Copies the CRDs (crds/, the one source of truth) into deploy/crds/, which kustomize can read.
# test/unit/deploy-manifests.test.ts fails when the copies are stale.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$root/deploy/crds"
rm -f "$root"/deploy/crds/*.yaml
cp "$root"/crds/*.yaml "$root/deploy/crds/"
echo "synced $(ls "$root"/crds/*.yaml | wc -l | tr -d ' ') CRD file(s) into deploy/crds/"
