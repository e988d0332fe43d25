#!/usr/bin/env bash
# npm run demo: the local control plane, a local Datadog stand-in, the operator and a sample
# app guarded by a Canary; ships a good version (promoted) and a bad one (rolled back); then
# releases a two-service application with one Release, promoted, then rolled back as a whole.
# A local webhook receiver prints every notification the operator sends; the demo ends with the
# delivery metrics.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export PATH="$root/node_modules/.bin:$PATH"
state="$root/.cluster/demo"
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "Starting the local Kubernetes control plane (first run builds it: several minutes)"
bash test/cluster/up.sh
export KUBECONFIG="$root/.cluster/kubeconfig"
export PATH="$root/.cluster/bin:$PATH"   # the kubectl that matches the apiserver
depctl() { node "$root/bin/depctl.js" "$@"; }
mkdir -p "$state" "$root/.cluster/logs"
kubectl apply -f crds/ >/dev/null

DD_PORT=${DEMO_DATADOG_PORT:-18126}
DD_URL="http://127.0.0.1:$DD_PORT"
if ! curl -sf "$DD_URL/_stand-in/state" >/dev/null 2>&1; then
  say "Starting the Datadog stand-in on $DD_URL (a local imitation of Datadog's API for the demo; not Datadog)"
  nohup node --import tsx test/datadog/main.ts --port "$DD_PORT" --api-key demo-api-key --app-key demo-app-key \
    >"$root/.cluster/logs/datadog-stand-in.log" 2>&1 &
  echo $! >"$state/datadog.pid"
  for _ in $(seq 50); do curl -sf "$DD_URL/_stand-in/state" >/dev/null 2>&1 && break; sleep 0.2; done
fi
ctl() { curl -sf -X "$1" "$DD_URL/_stand-in/$2" -H 'Content-Type: application/json' -d "$3" >/dev/null; }
ctl POST reset '{}'
ctl PUT monitors '{"monitors":[{"id":1001,"name":"checkout error rate","tags":["service:checkout","env:demo"],"type":"metric alert","query":"avg(last_5m):sum:trace.http.request.errors{service:checkout,env:demo} by {version} > 5","groupByVersion":true},{"id":1002,"name":"worker job failures","tags":["service:worker","env:demo"],"type":"metric alert","query":"avg(last_5m):sum:worker.jobs.failed{service:worker,env:demo} by {version} > 0","groupByVersion":true,"groups":{"version:1.3.0":"Alert"}}]}'
# Every version reports to the stand-in's multi-alert monitor and latency metric; only the
# versions listed in alert-versions alert.
ctl PUT versions '{"versions":["1.0.0","1.1.0","1.2.0","1.3.0","2.0.0","2.0.1"]}'
ctl POST series-by-version '{"metric":"trace.http.request.duration","values":{"1.0.0":0.21,"1.1.0":0.19,"2.0.0":0.24},"default":0.2,"intervalSec":10}'

# The notification receiver: a local signed webhook printing each notification as one line.
RX_PORT=${DEMO_RECEIVER_PORT:-18127}
RX_LOG="$root/.cluster/logs/demo-receiver.log"
HOOK_SECRET=demo-signing-key-not-a-secret
shown=0
# Prints the receiver's new lines once one matches $1 (deliveries are asynchronous: a second or two).
notifications() {
  for _ in $(seq 60); do tail -n +"$((shown + 1))" "$RX_LOG" | grep -Ec "$1" >/dev/null && break; sleep 0.5; done
  sleep 1
  say "Notifications received by the local webhook receiver"
  tail -n +"$((shown + 1))" "$RX_LOG"
  shown=$(wc -l <"$RX_LOG")
}

if [ -f "$state/operator.pid" ] && kill -0 "$(cat "$state/operator.pid")" 2>/dev/null; then
  say "The operator is already running (pid $(cat "$state/operator.pid"))"
else
  say "Starting the operator (logs: .cluster/logs/operator.log)"
  # It watches only the demo namespace (with a webhook configuration limited to it), so the
  # test suite can run on the same control plane while the demo's operator keeps running.
  nohup node --import tsx src/main.ts --namespaces demo --webhook-url 127.0.0.1 --webhook-port 0 --health-port 18081 \
    >"$root/.cluster/logs/operator.log" 2>&1 &
  echo $! >"$state/operator.pid"
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18081/readyz >/dev/null 2>&1 && break; sleep 0.2; done
fi

say "Deploying the sample app (checkout 1.0.0, 4 pods) with its Service and Canary"
kubectl delete namespace demo --ignore-not-found --wait=true >/dev/null 2>&1 || true
# The receiver starts afresh once the previous run's objects are gone (their last transitions are not this run's).
if [ -f "$state/receiver.pid" ]; then kill "$(cat "$state/receiver.pid")" 2>/dev/null || true; rm -f "$state/receiver.pid"; sleep 0.3; fi
say "Starting the notification receiver on http://127.0.0.1:$RX_PORT (it verifies each HMAC signature)"
: >"$RX_LOG"
DEMO_HOOK_SECRET="$HOOK_SECRET" nohup node --import tsx examples/demo/receiver.ts --port "$RX_PORT" >"$RX_LOG" 2>"$root/.cluster/logs/demo-receiver.err" &
echo $! >"$state/receiver.pid"
for _ in $(seq 50); do (echo >"/dev/tcp/127.0.0.1/$RX_PORT") 2>/dev/null && break; sleep 0.2; done
kubectl create namespace demo --save-config >/dev/null
kubectl create secret generic datadog -n demo --from-literal=api-key=demo-api-key \
  --from-literal=app-key=demo-app-key --from-literal=url="$DD_URL" >/dev/null
# The webhook sink of the checkout Canary and the shop Release: its URL and HMAC signing key.
kubectl create secret generic notify-hook -n demo --from-literal=url="http://127.0.0.1:$RX_PORT/deployer" \
  --from-literal=secret="$HOOK_SECRET" >/dev/null
kubectl apply -f examples/demo/app.yaml
kubectl rollout status deployment/checkout -n demo --timeout=120s
kubectl wait canary/checkout -n demo --for=condition=Ready --timeout=60s >/dev/null
kubectl get canaries -n demo

say "Shipping a good version: checkout 1.1.0 (the gate holds it; canary pods run beside the stable pods)"
kubectl set image deployment/checkout -n demo checkout=registry.example.com/shop/checkout:1.1.0
depctl status checkout -n demo --watch --timeout 5m
kubectl rollout status deployment/checkout -n demo --timeout=120s

say "Shipping a bad version: checkout 2.0.0 (its monitor group version:2.0.0 alerts in the stand-in)"
ctl PUT alert-versions '{"versions":["2.0.0"]}'
kubectl set image deployment/checkout -n demo checkout=registry.example.com/shop/checkout:2.0.0
if depctl status checkout -n demo --watch --timeout 5m; then
  echo "unexpected: the bad version was not rolled back" >&2
  exit 1
fi

say "Act 1 done: the bad version was rolled back; the stable pods never stopped serving."
kubectl get canaries -n demo
notifications 'RolledBack +Canary demo/checkout +version 2\.0\.0'

say "Act 2: the shop application, checkout and a worker, each with its Canary, released together by one Release"
# This tree's CRDs again (a control plane shared with other work may have had an older copy applied meanwhile).
kubectl apply -f crds/ >/dev/null
kubectl apply -f examples/demo/shop.yaml
kubectl rollout status deployment/worker -n demo --timeout=120s
kubectl wait canary/worker -n demo --for=condition=Ready --timeout=60s >/dev/null
cat <<'YAML' | kubectl apply -f -
apiVersion: deployer.dev/v1alpha1
kind: Release
metadata: { name: shop, namespace: demo }
spec:
  version: "1.2.0"
  targets:
    - deployment: checkout
      images: { checkout: registry.example.com/shop/checkout:1.2.0 }
    - deployment: worker
      images: { worker: registry.example.com/shop/worker:1.2.0 }
  order: [[checkout], [worker]]
  failurePolicy: RollbackAll
  progressDeadline: 5m
  notifications:
    - name: team-hook
      transitions: [Started, Promoted, RolledBack, Failed]
      webhook:
        urlSecretRef: { name: notify-hook }
        signingSecretRef: { name: notify-hook }
YAML
say "Release shop 1.2.0: checkout first, then the worker, each verified by its own canary"
depctl status release/shop -n demo --watch --timeout 5m
kubectl get releases -n demo
notifications 'Promoted +Release demo/shop +version 1\.2\.0'

say "Release shop 1.3.0: checkout passes, the worker's monitor alerts for 1.3.0, so the whole release rolls back"
depctl release shop -n demo --version 1.3.0 --image checkout=registry.example.com/shop/checkout:1.3.0 --image worker=registry.example.com/shop/worker:1.3.0
if depctl status release/shop -n demo --watch --timeout 5m; then
  echo "unexpected: the failing release was not rolled back" >&2
  exit 1
fi
kubectl rollout status deployment/checkout -n demo --timeout=120s
kubectl rollout status deployment/worker -n demo --timeout=120s
kubectl get releases -n demo
depctl history shop -n demo
notifications 'RolledBack +Release demo/shop +version 1\.3\.0'

say "Delivery metrics of the demo namespace: deploys, duration, change failure rate, time to recover, lead time"
# The acts run minutes apart: without a fix-forward window, a deploy counts as a change failure only
# when it was rolled back or put back (the default window, 1 h, would count every next deploy).
depctl metrics -n demo --fix-forward-window 0

say "Done. Release 1.3.0 was rolled back as a whole: checkout, already promoted, went back to 1.2.0 at once, without a second analysis."
cat <<MSG

The cluster, the operator and the stand-in are still running. Try:
  export KUBECONFIG=$root/.cluster/kubeconfig
  kubectl get canaries,releases -A
  npx depctl status release/shop -n demo
  npx depctl release shop -n demo --version 1.4.0 --image checkout=registry.example.com/shop/checkout:1.4.0 --image worker=registry.example.com/shop/worker:1.4.0
  npx depctl status release/shop -n demo --watch
  tail -f .cluster/logs/demo-receiver.log     # the notifications, as they arrive
  npx depctl metrics -n demo
Stop everything with: npm run demo:stop
MSG
