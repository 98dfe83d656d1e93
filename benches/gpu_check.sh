#!/usr/bin/env bash
# The GPU backends on a machine with a GPU: the same real-photo training and evaluation as on
# the CPU, once per device, with their speeds, and a model trained on the GPU evaluated on the
# CPU (the weights travel between backends).
#
#   benches/gpu_check.sh [ASL_BIN] [DATA_ZIP]
#
# ASL_BIN: an `asl` built with the GPU features (`cargo build --release -p asl-cli --features
# wgpu`); DATA_ZIP: the dataset in Kaggle's layout (default ../shared/data/asl-alphabet-64px.zip).
# Env: ASL_GPU_DEVICES (default "wgpu flex"), ASL_GPU_EPOCHS (default 3), ASL_GPU_BATCH
# (extra batch sizes to time on the first device, default "128").
set -uo pipefail
bin="${1:-target/release/asl}"
zip="${2:-../shared/data/asl-alphabet-64px.zip}"
devices="${ASL_GPU_DEVICES:-wgpu flex}"
epochs="${ASL_GPU_EPOCHS:-3}"
if [ -z "${ASL_HOME:-}" ]; then
    # A state root of its own (dataset, cache, four models), removed at the end.
    ASL_HOME="$(mktemp -d)"
    trap 'rm -rf "$ASL_HOME"' EXIT
fi
export ASL_HOME
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
nproc
"$bin" collect --from-zip "$zip" --json || exit 1
"$bin" prep --json || exit 1
first=""
for dev in $devices; do
    first="${first:-$dev}"
    echo "== train on $dev ($epochs epochs, batch 32)"
    # One JSON line: validation summary, images/s per epoch.
    "$bin" train --device "$dev" --epochs "$epochs" --name "check-$dev" --json || { echo "train on $dev failed: rc $?"; continue; }
    echo "== eval on $dev"
    "$bin" eval --model "$ASL_HOME/models/check-$dev" --device "$dev" --json || echo "eval on $dev failed: rc $?"
done
if [ -d "$ASL_HOME/models/check-$first" ] && [ "$first" != flex ]; then
    echo "== the $first-trained model evaluated on flex (CPU)"
    "$bin" eval --model "$ASL_HOME/models/check-$first" --device flex --json || echo "eval on flex failed: rc $?"
fi
for b in ${ASL_GPU_BATCH:-128}; do
    echo "== train on $first, batch $b (1 epoch, speed)"
    "$bin" train --device "$first" --epochs 1 --batch-size "$b" --name "check-$first-b$b" --json || echo "train on $first, batch $b failed: rc $?"
done
