#!/usr/bin/env bash
# README's main command: the whole pipeline on the embedded synthetic dataset, no Kaggle
# account needed. Extra arguments go to `asl demo` (e.g. --from-zip ../shared/data/asl-alphabet-64px.zip).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export ASL_HOME="${ASL_HOME:-$PWD/.asl-home}"
cargo build --release --locked -p asl-cli
"$CARGO_TARGET_DIR/release/asl" demo "$@"
