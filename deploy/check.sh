#!/usr/bin/env bash
# Checks the deployable stack without a container engine: Prometheus' config and alert rules
# (promtool, with the rules' unit tests), the compose file against the Compose Specification's
# schema and the Kubernetes manifests against Kubernetes' own schemas (both bundled in their
# PyPI packages: no network). Usage: deploy/check.sh [VENV] (a venv with check-jsonschema and
# kubernetes-validate; scripts/test.sh installs them into .venv).
set -euo pipefail
cd "$(dirname "$0")"
venv="${1:-../.venv}"

need() {
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
    echo "deploy/check.sh: $1 is missing ($2)" >&2
    exit 1
  fi
}
need promtool "apt-get install prometheus"
need "$venv/bin/check-jsonschema" "pip install check-jsonschema==0.39.0"
need "$venv/bin/kubernetes-validate" "pip install kubernetes-validate==1.37.0"

echo "== promtool: config, rules, rule unit tests"
promtool check config prometheus/prometheus.yml
promtool check rules prometheus/alerts.yml
promtool test rules prometheus/alerts_test.yml

echo "== compose.yaml against the Compose Specification"
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec compose.yaml

echo "== Kubernetes manifests (strict: unknown fields fail)"
for f in k8s/*.yaml; do
  # kustomization.yaml is kustomize's own file, not a Kubernetes object.
  [ "$(basename "$f")" = kustomization.yaml ] && continue
  "$venv/bin/kubernetes-validate" --strict --quiet -k 1.30.0 "$f"
done
# Every manifest kustomize is told about exists.
sed -n 's/^  - \(.*\.yaml\)$/\1/p' k8s/kustomization.yaml | while read -r f; do
  [ -f "k8s/$f" ] || { echo "k8s/kustomization.yaml lists $f, which is missing" >&2; exit 1; }
done
echo "deploy: all checks passed"
