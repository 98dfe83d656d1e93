#!/usr/bin/env bash
# burn vs TF/Keras on this CPU, side by side, on the same networks, data and batch size.
#
#   benches/cpu_speed.sh [OUT_DIR]
#
# 1. `cargo bench --bench speed` measures asl's burn model (course network + default model)
#    and exports the images it trained on;
# 2. benches/tf_reference.py runs the same networks in TF/Keras (tensorflow-cpu, installed into
#    ./.venv-tf on first use) on those images;
# 3. a table compares them (ratio > 1 = burn faster).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/cpu-speed}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
venv="${ASL_TF_VENV:-.venv-tf}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import tensorflow' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'tensorflow-cpu==2.21.*'
fi
ASL_SPEED_EXPORT="$out" cargo bench --bench speed
"$venv/bin/python" benches/tf_reference.py "$out" > "$out/tf.log"
python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
burn = json.load(open(f"{d}/burn.json"))
tf = json.load(open(f"{d}/tf.json"))
print(f"\n{burn['engine']} vs {tf['engine']} — data: {burn['data']}, batch 32, this machine")
rows = [("training, img/s", "train_images_per_sec", True),
        ("inference batch 32, ms p50", "infer_b32_ms_p50", False),
        ("inference batch 1, ms p50", "infer_b1_ms_p50", False)]
for b, t in zip(burn["results"], tf["results"]):
    print(f"\n{b['network']} network ({b['input_size']}px, {b['mflops_forward']:.1f} MFLOP fwd)")
    print(f"  {'':30} {'burn':>10} {'TF':>10} {'burn/TF speed':>14}")
    for label, key, higher in rows:
        ratio = b[key] / t[key] if higher else t[key] / b[key]
        print(f"  {label:30} {b[key]:>10.2f} {t[key]:>10.2f} {ratio:>13.2f}x")
    print(f"  {'training GFLOP/s (of 166 peak)':30} {b['train_gflops']:>10.1f} {t['train_gflops']:>10.1f}")
    print(f"  {'data loading, one core, img/s':30} {b['data_loading_one_core_images_per_sec']:>10.0f}")
PY
