#!/usr/bin/env bash
# Run the synthetic checks the way the workflows do; exits with `synthetics run`'s code
# (0 all targets met, 1 a check failed, 4 a usage or configuration error; see README).
#
# Everything comes from the environment, so a workflow sets variables rather than flags:
#   SYNTHETICS_TARGET      worker URL (required here: CI never checks the built-in stand-in
#                          unless SYNTHETICS_ALLOW_BUILTIN=true)
#   SYNTHETICS_REPORTS     report folder (default reports)
#   SYNTHETICS_HISTORY     history database (default .synthetics/history.sqlite3)
#   SYNTHETICS_REGION      region label of the metrics (default: the runner's name)
#   SYNTHETICS_PUSHGATEWAY push metrics here when set (a secret: it may carry user:password@)
#   SYNTHETICS_METRICS_TEXTFILE  also write the metrics textfile here when set
#   SYNTHETICS_REDEPLOY    "true" turns self-healing on (needs CLOUDFLARE_API_TOKEN and wrangler)
# Any other SYNTHETICS_* option variable (docs/options.md) is read by the plugin itself.
# Extra arguments go to pytest, e.g. ci/synthetics-run.sh -m "health or dns".
set -euo pipefail

python=${PYTHON:-python3}
synthetics=${SYNTHETICS_BIN:-synthetics}
reports=${SYNTHETICS_REPORTS:-reports}
export SYNTHETICS_HISTORY=${SYNTHETICS_HISTORY:-.synthetics/history.sqlite3}
export SYNTHETICS_REGION=${SYNTHETICS_REGION:-${RUNNER_NAME:-$(hostname)}}

if [ -z "${SYNTHETICS_TARGET:-}" ] && [ "${SYNTHETICS_ALLOW_BUILTIN:-}" != true ]; then
  echo "ci/synthetics-run.sh: set SYNTHETICS_TARGET to the worker's URL (a repository variable)" >&2
  exit 4
fi
if [ "${SYNTHETICS_REDEPLOY:-}" = true ] && [ -z "${CLOUDFLARE_API_TOKEN:-}" ]; then
  echo "ci/synthetics-run.sh: SYNTHETICS_REDEPLOY=true needs the CLOUDFLARE_API_TOKEN secret" >&2
  exit 4
fi
if [ "${SYNTHETICS_REDEPLOY:-}" != true ]; then
  unset SYNTHETICS_REDEPLOY
fi

mkdir -p "$reports" "$(dirname "$SYNTHETICS_HISTORY")"
args=(run --reports "$reports")
# SYNTHETICS_PUSHGATEWAY, SYNTHETICS_METRICS_TEXTFILE and SYNTHETICS_REGION are read by the
# plugin from the environment: the Pushgateway URL never appears on a command line.

echo "synthetics: target ${SYNTHETICS_TARGET:-built-in reference worker}, region $SYNTHETICS_REGION, history $SYNTHETICS_HISTORY"
set +e
if command -v "$synthetics" >/dev/null 2>&1; then
  "$synthetics" "${args[@]}" "$@"
else
  "$python" -m synthetics.cli "${args[@]}" "$@"
fi
rc=$?
set -e
echo "synthetics: exit code $rc"
exit "$rc"
