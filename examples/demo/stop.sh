#!/usr/bin/env bash
# npm run demo:stop: stops the operator, the Datadog stand-in and the notification receiver started by the demo, then the control plane.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
state="$root/.cluster/demo"
for p in operator datadog receiver; do
  if [ -f "$state/$p.pid" ]; then
    pid=$(cat "$state/$p.pid")
    kill "$pid" 2>/dev/null && echo "stopped $p (pid $pid)"
    rm -f "$state/$p.pid"
  fi
done
bash "$root/test/cluster/down.sh"
