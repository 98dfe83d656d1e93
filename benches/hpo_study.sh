#!/usr/bin/env bash
# HPO benchmark (issue 4): a 20-trial TPE + ASHA study on the real 64 px archive against the
# default configuration trained as shipped. Prints both validation accuracies and wall times.
#   benches/hpo_study.sh [ASL_BINARY] [HOME_DIR]
# Needs ../shared/data/asl-alphabet-64px.zip (GPL-2.0, never committed).
set -euo pipefail
cd "$(dirname "$0")/.."
ASL="${1:-${CARGO_TARGET_DIR:-target}/release/asl}"
H="${2:-$(mktemp -d /tmp/asl-hpo-bench.XXXX)}"
ZIP=../shared/data/asl-alphabet-64px.zip
[ -f "$ZIP" ] || { echo "needs $ZIP"; exit 1; }
"$ASL" --home "$H" collect --from-zip "$ZIP"
"$ASL" --home "$H" prep
t0=$(date +%s)
"$ASL" --home "$H" hpo --trials "${TRIALS:-20}" --epochs "${EPOCHS:-6}" --parallel "${PARALLEL:-1}" --seed 0 | tee "$H/hpo.log"
t1=$(date +%s)
"$ASL" --home "$H" train --name default-config | tee "$H/default.log"
t2=$(date +%s)
echo "study wall time: $((t1 - t0)) s; default configuration wall time: $((t2 - t1)) s"
grep '^best:' "$H/hpo.log"
grep '^model ' "$H/default.log"
