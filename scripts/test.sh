#!/usr/bin/env bash
# Runs every test of the workspace. README.md's test command; .ci/run calls it.
# Installs what the tests drive for real: Debian's chromium (the server's page is tested in a
# headless browser), Debian's prometheus (it scrapes the server in the monitoring test) and MLflow in ./.venv (tracking and registry are tested against a real
# `mlflow server`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -x /usr/bin/prometheus ] || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]} (Debian) for the browser and monitoring tests"
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/mlflow ]; then
  echo "== installing MLflow 3.17.2 into .venv for the tracking tests"
  if ! python3 -m venv .venv 2>/dev/null; then
    as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    rm -rf .venv && python3 -m venv .venv
  fi
  .venv/bin/pip install -q --disable-pip-version-check 'mlflow==3.17.2'
fi
export ASL_MLFLOW_BIN="${ASL_MLFLOW_BIN:-$PWD/.venv/bin/mlflow}"

cargo test --workspace --locked "$@"
