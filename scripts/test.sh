#!/usr/bin/env bash
# Runs every test of the workspace. README.md's test command; .ci/run calls it.
# Installs what the tests drive for real: Debian's chromium (the server's page is tested in a
# headless browser), Debian's prometheus (it scrapes the server in the monitoring test),
# Debian's postgresql (the replicas' shared prediction log, the Optuna study) and MLflow in ./.venv (tracking and registry are tested against a real
# `mlflow server`), and the validators of deploy/ in ./.venv-deploy. Then the Python bindings (asl-py) in ./.venv-py: wheel, pytest, the example
# notebook and the example Prefect flows; last, the deployable stack's processes started natively
# (deploy/native_stack.py).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -x /usr/bin/prometheus ] || missing+=(prometheus)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]} (Debian) for the browser, monitoring and PostgreSQL tests"
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

# The deployable stack (Dockerfile, deploy/): Prometheus rules with their unit tests, the
# compose file and the Kubernetes manifests against their schemas (bundled, no network).
if [ ! -x .venv-deploy/bin/kubernetes-validate ] || [ ! -x .venv-deploy/bin/check-jsonschema ]; then
  echo "== installing the deployment validators into .venv-deploy"
  rm -rf .venv-deploy && python3 -m venv .venv-deploy
  .venv-deploy/bin/pip install -q --disable-pip-version-check 'check-jsonschema==0.39.0' 'kubernetes-validate==1.37.0'
fi
echo "== deploy/check.sh"
deploy/check.sh "$PWD/.venv-deploy"

echo "== cargo fmt --check (rustfmt.toml; generated hand-model code is #[rustfmt::skip])"
cargo fmt --all --check
(cd asl-py && cargo fmt --all --check)
echo "== cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
# examples/dependent: a crate outside this workspace that depends on asl by path, as a user's
# would. It must link the vendored burn-flex through its own [patch] line, compile clean
# against the public API, and (after the tests, below) train as fast as the workspace does.
echo "== examples/dependent: vendored burn-flex, fmt, clippy"
dependent_flex=$(cd examples/dependent && cargo tree --locked -e normal -i burn-flex --depth 0)
case "$dependent_flex" in
  *vendor/burn-flex*) echo "   $dependent_flex" ;;
  *) echo "examples/dependent resolves burn-flex to $dependent_flex, not vendor/burn-flex" >&2; exit 1 ;;
esac
(cd examples/dependent && cargo fmt --check && cargo clippy --locked -- -D warnings)
cargo test --workspace --locked "$@"

# The same training steps timed inside the workspace (its train_steps example, built by the
# tests above) and as the dependent. Upstream burn-flex trains the default network about 5x
# slower than the vendored kernels (README, "As a Rust dependency"), so a dependent under half
# the workspace's speed has lost the [patch]. The dependent's Cargo.toml aligns two serde
# features so that this build reuses most of the burn crates the tests compiled; burn-flex and
# the crates above it are compiled again (8-14 min here: Cargo hashes a path package outside the
# workspace root by its absolute path).
echo "== examples/dependent: build, run, and train as fast as the workspace"
steps=20
workspace_line=$("${CARGO_TARGET_DIR:-target}/debug/examples/train_steps" "$steps")
dependent_line=$(cd examples/dependent && cargo run --locked --quiet -- "$steps")
echo "   workspace: $workspace_line"
echo "   dependent: $dependent_line"
compute_rate() { sed -n 's/.*(\([0-9]*\) images\/s forward.*/\1/p' <<<"$1"; }
ws_rate=$(compute_rate "$workspace_line")
dep_rate=$(compute_rate "$dependent_line")
if [ -z "$ws_rate" ] || [ -z "$dep_rate" ] || [ $((dep_rate * 2)) -lt "$ws_rate" ]; then
  echo "examples/dependent trains at ${dep_rate:-?} images/s, the workspace at ${ws_rate:-?}" >&2
  exit 1
fi

# The Python bindings (asl-py, `import asl`), in their own venv (.venv-py; .venv holds MLflow):
# build and install the wheel with maturin as `pip install ./asl-py` does, then run their tests
# (they compare predictions with the `asl` binary built above), execute the example notebook
# headless with nbclient, and run the example Prefect flows on a small synthetic dataset.
py_started=$SECONDS
if [ ! -x .venv-py/bin/python ] || ! .venv-py/bin/python -c 'import sys' 2>/dev/null; then
  echo "== creating .venv-py for the Python bindings"
  if ! python3 -m venv .venv-py 2>/dev/null; then
    as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    rm -rf .venv-py && python3 -m venv .venv-py
  fi
fi
.venv-py/bin/pip install -q --disable-pip-version-check -r asl-py/requirements-dev.txt
echo "== pip install ./asl-py (maturin, release profile of asl-py/Cargo.toml)"
t=$SECONDS
# --no-build-isolation: maturin comes from .venv-py (pinned) instead of a download; its PEP 517
# hook runs `maturin` from PATH.
PATH="$PWD/.venv-py/bin:$PATH" .venv-py/bin/pip install -q --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps ./asl-py
echo "   installed in $((SECONDS - t))s"
export ASL_BIN="$CARGO_TARGET_DIR/debug/asl"
echo "== pytest asl-py/tests"
t=$SECONDS
.venv-py/bin/python -m pytest -q -p no:cacheprovider asl-py/tests
echo "   pytest took $((SECONDS - t))s"
py_tmp=$(mktemp -d)
trap 'rm -rf "$py_tmp"' EXIT
echo "== examples/notebook.ipynb (nbclient, headless)"
t=$SECONDS
.venv-py/bin/python -m ipykernel install --sys-prefix --name asl-py --display-name "Python (asl-py)" >/dev/null
.venv-py/bin/python - <<'PY'
import nbformat
from nbclient import NotebookClient
nb = nbformat.read("examples/notebook.ipynb", as_version=4)
NotebookClient(nb, timeout=600, kernel_name="asl-py", resources={"metadata": {"path": "examples"}}).execute()
print(f"   {sum(c.cell_type == 'code' for c in nb.cells)} code cells ran")
PY
echo "   notebook took $((SECONDS - t))s"
echo "== examples/prefect_flow.py (Prefect 3, temporary local server)"
t=$SECONDS
# No PREFECT_API_URL: Prefect starts a temporary local server (state in $PREFECT_HOME); its
# usage telemetry is off (it would only try to reach the internet).
env -u PREFECT_API_URL PREFECT_HOME="$py_tmp/prefect" PREFECT_SERVER_ANALYTICS_ENABLED=false \
  .venv-py/bin/python examples/prefect_flow.py --home "$py_tmp/asl-home"
echo "   prefect flow took $((SECONDS - t))s"
echo "== deploy/native_stack.py (the compose arrangement started natively: PostgreSQL, MLflow, two replicas, Prometheus)"
t=$SECONDS
.venv-py/bin/python deploy/native_stack.py --server "$CARGO_TARGET_DIR/debug/asl-http" --prometheus /usr/bin/prometheus
echo "   native stack took $((SECONDS - t))s"
echo "== Python part took $((SECONDS - py_started))s"
