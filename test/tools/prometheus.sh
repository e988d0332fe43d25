#!/usr/bin/env bash
# Makes Debian's `prometheus` package available for the dashboard tests and prints the path of
# its binary on the last line of stdout. Idempotent: when the binary is already installed it
# returns at once. The package's service is not started: during the install a policy-rc.d
# (unless one exists already) tells invoke-rc.d and deb-systemd-invoke to start nothing; the
# tests run the binary themselves on 127.0.0.1.
#
# The expected version is pinned in versions.env (PROMETHEUS_VERSION); another version is
# reported on stderr but still used, since the distribution may ship a security update.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
log() { echo "[prometheus] $*" >&2; }
want=$(sed -n 's/^PROMETHEUS_VERSION=\([^ #]*\).*/\1/p' "$root/versions.env")

bin=$(command -v prometheus || true)
if [ -z "$bin" ]; then
  if [ "$(id -u)" != 0 ]; then
    log "prometheus is not installed and this is not root: run  apt-get update && apt-get install -y --no-install-recommends prometheus"
    exit 1
  fi
  t0=$(date +%s.%N)
  # One install at a time on this machine (apt's own lock would fail rather than wait).
  exec 8>"${TMPDIR:-/tmp}/deployer-apt.flock"
  flock 8
  if ! command -v prometheus >/dev/null 2>&1; then
    log "installing Debian's prometheus package (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\n# deployer test/tools/prometheus.sh: start no service while installing\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod 755 /usr/sbin/policy-rc.d
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt_opts=(-o DPkg::Lock::Timeout=300 -q)
    if ! apt-cache show prometheus >/dev/null 2>&1; then
      apt-get "${apt_opts[@]}" update >&2
    fi
    if ! apt-get "${apt_opts[@]}" install -y --no-install-recommends prometheus >&2; then
      apt-get "${apt_opts[@]}" update >&2
      apt-get "${apt_opts[@]}" install -y --no-install-recommends prometheus >&2
    fi
  fi
  flock -u 8
  bin=$(command -v prometheus)
  log "installed in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s"
fi

have=$("$bin" --version 2>&1 | sed -n 's/^prometheus, version \([0-9.]*\).*/\1/p')
if [ -n "$want" ] && [ "$have" != "$want" ]; then
  log "expected prometheus $want (versions.env), found $have at $bin"
fi
echo "$bin"
