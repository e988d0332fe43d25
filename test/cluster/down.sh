#!/usr/bin/env bash
# Stops the local control plane that up.sh started: exactly the processes named by
# its pid files (TERM, then KILL after 10 s), checks that its ports are free, and
# removes the state folder ($CLUSTER_DIR, default <repo>/.cluster).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
R=${CLUSTER_DIR:-$root/.cluster}
log() { echo "[cluster:down] $*" >&2; }

lock="${TMPDIR:-/tmp}/deployer-cluster-$(printf '%s' "$R" | cksum | cut -d' ' -f1).flock"
if [ "${_DEPLOYER_CLUSTER_LOCKED:-}" != "$R" ]; then # up.sh already holds it when it cleans up
  exec 9>"$lock"
  flock 9
fi

if [ ! -e "$R" ]; then log "nothing to stop ($R does not exist)"; exit 0; fi

# ours <component> <pid>: the pid still runs the binary up.sh started for that component
ours() {
  local cmd
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$2/cmdline") || return 1
  [[ "$cmd" == *"/$1 "* ]]
}

pids=()
names=()
# Reverse start order: the apiserver outlives its clients, etcd goes last.
for c in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
  f="$R/$c.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if [ -n "$pid" ] && ours "$c" "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid"); names+=("$c")
    # Let clients go before the apiserver, and the apiserver before etcd.
    for _ in $(seq 20); do ours "$c" "$pid" || break; sleep 0.1; done
  fi
done

deadline=$(( $(date +%s) + 10 ))
for i in "${!pids[@]}"; do
  while ours "${names[$i]}" "${pids[$i]}" && [ "$(date +%s)" -lt $deadline ]; do sleep 0.1; done
  if ours "${names[$i]}" "${pids[$i]}"; then
    log "${names[$i]} (pid ${pids[$i]}) ignored TERM for 10s: sending KILL"
    kill -KILL "${pids[$i]}" 2>/dev/null || true
  fi
done
for i in "${!pids[@]}"; do
  for _ in $(seq 50); do ours "${names[$i]}" "${pids[$i]}" || break; sleep 0.1; done
done
[ ${#pids[@]} -eq 0 ] || log "stopped ${names[*]}"

if [ -f "$R/ports" ]; then
  # shellcheck disable=SC1091
  . "$R/ports"
  port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
  for p in "$ETCD_PORT" "$ETCD_PEER_PORT" "$API_PORT" "$KCM_PORT" "$SCHEDULER_PORT" "$KWOK_PORT"; do
    for _ in $(seq 50); do port_busy "$p" || break; sleep 0.1; done
    port_busy "$p" && log "warning: 127.0.0.1:$p is still in use (by a process up.sh did not start?)"
  done
fi

rm -rf "$R"
log "removed $R"
