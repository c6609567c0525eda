#!/usr/bin/env bash
# Install what the project's own tests drive, when it is missing: Debian packages (Chromium and
# its driver for the report test, a Pushgateway for the metrics test, strace for the wrangler
# dev test, Alertmanager and promtool for the runners tests, systemd-analyze for the unit) and, from npm, wrangler with the Node 22 it needs (tests/node/package.json).
# Idempotent and quiet when everything is there; `make test` runs it first.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v prometheus-pushgateway >/dev/null || need+=(prometheus-pushgateway)
command -v strace >/dev/null || need+=(strace)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v promtool >/dev/null || need+=(prometheus)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v npm >/dev/null || need+=(nodejs npm)

if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ci/test-tools.sh: the tests need Debian packages: ${need[*]}" >&2
    echo "  install them as root: sudo apt-get install ${need[*]}   (or: sudo bash ci/test-tools.sh)" >&2
    exit 1
  fi
  echo "ci/test-tools.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

stamp=tests/node/node_modules/.package.json.installed
if [ ! -f "$stamp" ] || [ tests/node/package.json -nt "$stamp" ]; then
  echo "ci/test-tools.sh: installing wrangler and Node 22 into tests/node (npm)"
  npm install --prefix tests/node --no-audit --no-fund --loglevel=error
  cp tests/node/package.json "$stamp"
fi
