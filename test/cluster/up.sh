#!/usr/bin/env bash
# Starts the local control plane used by the tests, the demo and the benchmarks:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (simulated
# nodes and pods), all on 127.0.0.1, with the binaries from build.sh.
#
# State lives in $CLUSTER_DIR (default <repo>/.cluster, git-ignored):
#   kubeconfig          admin kubeconfig (client certificate in system:masters)
#   env                 `. .cluster/env` sets KUBECONFIG and puts the matching kubectl on PATH
#   bin                 symlink to the folder of the binaries (kubectl matches the apiserver)
#   ports               the ports in use (read by down.sh and the test helpers)
#   pki/ logs/<c>.log <c>.pid etcd/
#
# If the control plane is already up (every pid alive, /readyz ok) it is reused. Stale
# state (a dead process) is cleaned up first. The last line on stdout is
# `status: started` or `status: reused`.
#
# Environment (all optional):
#   CLUSTER_DIR, CLUSTER_ETCD_PORT (23790), CLUSTER_ETCD_PEER_PORT (23800),
#   CLUSTER_API_PORT (16443), CLUSTER_KCM_PORT (10357), CLUSTER_SCHEDULER_PORT (10359),
#   CLUSTER_KWOK_PORT (10361), CLUSTER_NODES (3), CLUSTER_NODE_PODS (250),
#   CLUSTER_START_TIMEOUT (seconds per component, 90).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
R=${CLUSTER_DIR:-$root/.cluster}
log() { echo "[cluster:up] $*" >&2; }
t0=$(date +%s.%N)

components=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

# One up.sh or down.sh at a time for a given state folder.
lock="${TMPDIR:-/tmp}/deployer-cluster-$(printf '%s' "$R" | cksum | cut -d' ' -f1).flock"
exec 9>"$lock"
if ! flock -n 9; then
  log "waiting for another up/down of $R to finish"
  flock 9
fi

# --- reuse a running control plane ------------------------------------------------
alive() { # alive <component>: its pid file names a live process running our binary
  local f="$R/$1.pid" pid cmd
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -n "$pid" ] || return 1
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ "$cmd" == *"/$1 "* ]]
}
api_ready() {
  curl -sf --max-time 3 --cacert "$R/pki/ca.crt" --cert "$R/pki/admin.crt" --key "$R/pki/admin.key" \
    "https://127.0.0.1:$1/readyz" >/dev/null 2>&1
}
print_usage() {
  cat <<EOF
Control plane: https://127.0.0.1:$1 ($(cat "$R/.version" 2>/dev/null || echo kube-apiserver))
Use it with:
  export KUBECONFIG=$R/kubeconfig
  export PATH=$R/bin:\$PATH      # kubectl matching the apiserver
or simply:  . $R/env
Stop it with: $([ "$R" = "$root/.cluster" ] && echo "npm run cluster:down" || echo "CLUSTER_DIR=$R bash $here/down.sh")
EOF
}

if [ -f "$R/ports" ]; then
  # shellcheck disable=SC1091
  . "$R/ports"
  all=1
  for c in "${components[@]}"; do alive "$c" || all=0; done
  if [ $all = 1 ]; then
    # Every process runs: give a busy apiserver time to answer before calling it broken.
    deadline=$(( $(date +%s) + 30 ))
    until api_ready "$API_PORT" || [ "$(date +%s)" -ge $deadline ]; do sleep 1; done
    if api_ready "$API_PORT"; then
      log "already up (pids alive, /readyz ok): reusing it"
      print_usage "$API_PORT"
      echo "status: reused"
      exit 0
    fi
  fi
fi
# down.sh, called from here, must not wait for the lock this script holds.
export _DEPLOYER_CLUSTER_LOCKED=$R
if [ -e "$R" ]; then
  log "found stale state in $R: cleaning it up"
  CLUSTER_DIR="$R" bash "$here/down.sh" >&2
fi

# --- settings ----------------------------------------------------------------------
ETCD_PORT=${CLUSTER_ETCD_PORT:-23790}
ETCD_PEER_PORT=${CLUSTER_ETCD_PEER_PORT:-23800}
API_PORT=${CLUSTER_API_PORT:-16443}
KCM_PORT=${CLUSTER_KCM_PORT:-10357}
SCHEDULER_PORT=${CLUSTER_SCHEDULER_PORT:-10359}
KWOK_PORT=${CLUSTER_KWOK_PORT:-10361}
NODES=${CLUSTER_NODES:-3}
NODE_PODS=${CLUSTER_NODE_PODS:-250}
TIMEOUT=${CLUSTER_START_TIMEOUT:-90}

for tool in openssl curl flock setsid; do
  command -v "$tool" >/dev/null || { log "missing required tool: $tool"; exit 1; }
done
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$ETCD_PORT" "$ETCD_PEER_PORT" "$API_PORT" "$KCM_PORT" "$SCHEDULER_PORT" "$KWOK_PORT"; do
  if port_busy "$p"; then
    log "port 127.0.0.1:$p is already in use by another process; free it or pick other ports"
    log "(CLUSTER_ETCD_PORT, CLUSTER_ETCD_PEER_PORT, CLUSTER_API_PORT, CLUSTER_KCM_PORT, CLUSTER_SCHEDULER_PORT, CLUSTER_KWOK_PORT)"
    exit 1
  fi
done

BIN=$(bash "$here/build.sh" | tail -n 1)
[ -x "$BIN/kube-apiserver" ] || { log "build.sh did not produce binaries in '$BIN'"; exit 1; }

mkdir -p "$R/pki" "$R/logs"
ln -sfn "$BIN" "$R/bin"
cat >"$R/ports" <<EOF
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
API_PORT=$API_PORT
KCM_PORT=$KCM_PORT
SCHEDULER_PORT=$SCHEDULER_PORT
KWOK_PORT=$KWOK_PORT
EOF

started=()
fail() { # fail <component> <message>: show its log, stop what we started, exit 1
  log "FAILED: $1: $2"
  if [ -f "$R/logs/$1.log" ]; then
    log "last lines of $R/logs/$1.log:"
    tail -n 40 "$R/logs/$1.log" >&2
  fi
  if [ ${#started[@]} -gt 0 ]; then
    keep="${TMPDIR:-/tmp}/deployer-cluster-failed-logs"
    rm -rf "$keep"; cp -r "$R/logs" "$keep" 2>/dev/null || true
    log "logs kept in $keep"
    CLUSTER_DIR="$R" bash "$here/down.sh" >&2 || true
  fi
  exit 1
}
trap 'fail up.sh "interrupted"' INT TERM

# --- PKI (openssl) -----------------------------------------------------------------
P=$R/pki
(
  cd "$P"
  umask 077
  q() { "$@" >/dev/null 2>&1 || { echo "openssl failed: $*" >&2; exit 1; }; }
  q openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/CN=deployer-test-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  sign() { # sign <name> <subject> <extensions>
    q openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2"
    printf '%b' "$3" >"$1.ext"
    q openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -out "$1.crt" -extfile "$1.ext"
    rm -f "$1.csr" "$1.ext"
  }
  client='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n'
  sign apiserver "/CN=kube-apiserver" \
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n'
  sign admin "/O=system:masters/CN=deployer-admin" "$client"
  sign kube-controller-manager "/CN=system:kube-controller-manager" "$client"
  sign kube-scheduler "/CN=system:kube-scheduler" "$client"
  # Aggregation layer: the apiserver's client certificate towards extension apiservers.
  q openssl req -x509 -newkey rsa:2048 -nodes -keyout front-proxy-ca.key -out front-proxy-ca.crt -days 30 \
    -subj "/CN=deployer-test-front-proxy-ca" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  q openssl req -newkey rsa:2048 -nodes -keyout front-proxy-client.key -out front-proxy-client.csr -subj "/CN=front-proxy-client"
  printf '%b' "$client" >front-proxy-client.ext
  q openssl x509 -req -in front-proxy-client.csr -CA front-proxy-ca.crt -CAkey front-proxy-ca.key -CAcreateserial -days 30 \
    -out front-proxy-client.crt -extfile front-proxy-client.ext
  rm -f front-proxy-client.csr front-proxy-client.ext front-proxy-ca.srl
  q openssl genrsa -out sa.key 2048
  q openssl rsa -in sa.key -pubout -out sa.pub
  rm -f ca.srl
) || fail pki "could not create certificates with openssl"

kubeconfig() { # kubeconfig <file> <user cert name>
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: deployer-test
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(base64 -w0 "$P/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 "$P/$2.crt")
    client-key-data: $(base64 -w0 "$P/$2.key")
contexts:
- name: deployer-test
  context:
    cluster: deployer-test
    user: $2
    namespace: default
current-context: deployer-test
EOF
  chmod 600 "$1"
}
KC=$R/kubeconfig
kubeconfig "$KC" admin
kubeconfig "$P/kube-controller-manager.kubeconfig" kube-controller-manager
kubeconfig "$P/kube-scheduler.kubeconfig" kube-scheduler

# --- processes -----------------------------------------------------------------------
start() { # start <component> <args...>: runs $BIN/<component> in its own session
  local c=$1; shift
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$R/$c.pid" "$BIN/$c" "$@" \
    </dev/null >"$R/logs/$c.log" 2>&1 9>&- &
  started+=("$c")
  local i
  for i in $(seq 50); do [ -s "$R/$c.pid" ] && break; sleep 0.05; done
}
wait_for() { # wait_for <component> <curl args...>: polls until curl succeeds
  local c=$1; shift
  local deadline=$(( $(date +%s) + TIMEOUT ))
  until curl -sf --max-time 2 "$@" >/dev/null 2>&1; do
    alive "$c" || fail "$c" "the process exited"
    [ "$(date +%s)" -lt $deadline ] || fail "$c" "not healthy after ${TIMEOUT}s"
    sleep 0.2
  done
  log "$c is up (pid $(cat "$R/$c.pid"))"
}
CURL_ADMIN=(--cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key")

log "starting etcd on 127.0.0.1:$ETCD_PORT"
start etcd --name=deployer-test --data-dir="$R/etcd" --unsafe-no-fsync \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="deployer-test=http://127.0.0.1:$ETCD_PEER_PORT" \
  --quota-backend-bytes=$((2 * 1024 * 1024 * 1024)) --snapshot-count=10000 --log-level=warn
wait_for etcd "http://127.0.0.1:$ETCD_PORT/health"

log "starting kube-apiserver on https://127.0.0.1:$API_PORT"
start kube-apiserver --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
  --endpoint-reconciler-type=none --service-cluster-ip-range=10.96.0.0/16 \
  --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" --client-ca-file="$P/ca.crt" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
  --authorization-mode=Node,RBAC --allow-privileged=true --profiling=false --cert-dir="$P" --event-ttl=1h \
  --requestheader-client-ca-file="$P/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$P/front-proxy-client.crt" --proxy-client-key-file="$P/front-proxy-client.key"
wait_for kube-apiserver "${CURL_ADMIN[@]}" "https://127.0.0.1:$API_PORT/readyz"

log "starting kube-controller-manager (health on 127.0.0.1:$KCM_PORT)"
KCMKC=$P/kube-controller-manager.kubeconfig
start kube-controller-manager --kubeconfig="$KCMKC" \
  --authentication-kubeconfig="$KCMKC" --authorization-kubeconfig="$KCMKC" \
  --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --leader-elect=false \
  --controllers='*' --use-service-account-credentials=true \
  --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" \
  --cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key" \
  --service-cluster-ip-range=10.96.0.0/16 --allocate-node-cidrs=false \
  --profiling=false --concurrent-deployment-syncs=10 --concurrent-replicaset-syncs=10 \
  --kube-api-qps=200 --kube-api-burst=400
wait_for kube-controller-manager -k "https://127.0.0.1:$KCM_PORT/healthz"

log "starting kube-scheduler (health on 127.0.0.1:$SCHEDULER_PORT)"
SCHKC=$P/kube-scheduler.kubeconfig
start kube-scheduler --kubeconfig="$SCHKC" \
  --authentication-kubeconfig="$SCHKC" --authorization-kubeconfig="$SCHKC" \
  --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --leader-elect=false --profiling=false
wait_for kube-scheduler -k "https://127.0.0.1:$SCHEDULER_PORT/healthz"

log "starting kwok (health on 127.0.0.1:$KWOK_PORT)"
start kwok --kubeconfig="$KC" --config="$BIN/kwok-stages.yaml" --manage-all-nodes=true \
  --cidr=10.244.0.0/16 --node-ip=10.240.0.1 --node-lease-duration-seconds=40 \
  --server-address="127.0.0.1:$KWOK_PORT"
wait_for kwok "http://127.0.0.1:$KWOK_PORT/healthz"

# --- nodes -------------------------------------------------------------------------------
K=("$BIN/kubectl" --kubeconfig="$KC")
{
  for i in $(seq 0 $((NODES - 1))); do
    n=kwok-node-$i
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $n
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: $n
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    node-role.kubernetes.io/agent: ""
    topology.kubernetes.io/zone: zone-$((i % 3))
    type: kwok
status:
  capacity: {cpu: "64", memory: 256Gi, pods: "$NODE_PODS", ephemeral-storage: 1Ti}
  allocatable: {cpu: "64", memory: 256Gi, pods: "$NODE_PODS", ephemeral-storage: 1Ti}
EOF
  done
} | "${K[@]}" create -f - >"$R/logs/nodes.log" 2>&1 || { cat "$R/logs/nodes.log" >&2; fail kwok "could not create the Nodes"; }

"${K[@]}" wait --for=condition=Ready node --all --timeout="${TIMEOUT}s" >/dev/null 2>>"$R/logs/nodes.log" \
  || fail kwok "the Nodes did not become Ready"
log "$NODES nodes Ready"
deadline=$(( $(date +%s) + TIMEOUT ))
until "${K[@]}" -n default get serviceaccount default >/dev/null 2>&1; do
  alive kube-controller-manager || fail kube-controller-manager "the process exited"
  [ "$(date +%s)" -lt $deadline ] || fail kube-controller-manager "the default ServiceAccount did not appear"
  sleep 0.2
done

"$BIN/kube-apiserver" --version 2>/dev/null | awk '{print "kube-apiserver " $2}' >"$R/.version" || true
cat >"$R/env" <<EOF
export KUBECONFIG=$KC
export PATH=$R/bin:\$PATH
EOF
trap - INT TERM
log "ready in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s"
print_usage "$API_PORT"
echo "status: started"
