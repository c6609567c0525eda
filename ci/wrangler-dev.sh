#!/usr/bin/env bash
# Serve a worker with `wrangler dev` on loopback (the real Workers runtime), run a command against
# it, then stop it; exits with the command's exit code.
#
#   ci/wrangler-dev.sh [--dir DIR] [--config FILE] [--env NAME] [--port N] -- COMMAND [ARGS...]
#
# The command runs with SYNTHETICS_TARGET=http://127.0.0.1:PORT in its environment, e.g.
#   ci/wrangler-dev.sh --dir . -- synthetics run
# Nothing leaves loopback: wrangler's metrics, error reports and update check (banner) are off,
# and miniflare does not fetch the Request.cf object from Cloudflare
# (CLOUDFLARE_CF_FETCH_ENABLED=false: it uses its built-in fallback instead).
# wrangler is taken from $WRANGLER, else PATH (it needs Node >= 22 first on PATH).
set -euo pipefail

dir=. config=wrangler-production-simple.toml env=production port=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --env) env=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "wrangler-dev.sh: unknown argument $1 (usage: [--dir D] [--config F] [--env E] [--port N] -- COMMAND...)" >&2; exit 4 ;;
  esac
done
if [ $# -eq 0 ]; then
  echo "wrangler-dev.sh: no command given after --" >&2
  exit 4
fi
if [ ! -f "$dir/$config" ]; then
  echo "wrangler-dev.sh: no $config in $dir" >&2
  exit 4
fi

export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false WRANGLER_HIDE_BANNER=true
export CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_NO_SKILLS_UPDATE_PROMPTS=true
wrangler=${WRANGLER:-wrangler}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
[ "$port" = 0 ] && port=$(free_port)
inspector=$(free_port)
state=$(mktemp -d)
log="$state/wrangler.log"

(cd "$dir" && exec "$wrangler" dev --config "$config" --env "$env" --ip 127.0.0.1 \
  --port "$port" --inspector-port "$inspector" --inspector-ip 127.0.0.1 \
  --persist-to "$state/persist" --show-interactive-dev-session=false) >"$log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT

url="http://127.0.0.1:$port"
ready=0
for _ in $(seq 1 600); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "wrangler-dev.sh: wrangler dev exited before it was ready:" >&2
    cat "$log" >&2
    exit 4
  fi
  if grep -q "Ready on" "$log" && python3 - "$url" <<'PY' 2>/dev/null
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/health", timeout=2)
except urllib.error.HTTPError:
    pass  # it answers: the checks will judge the answer
PY
  then
    ready=1
    break
  fi
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  echo "wrangler-dev.sh: wrangler dev did not answer at $url within a minute:" >&2
  cat "$log" >&2
  exit 4
fi
echo "wrangler dev serving $dir/$config (env $env) at $url"
set +e
SYNTHETICS_TARGET=$url "$@"
rc=$?
set -e
exit "$rc"
