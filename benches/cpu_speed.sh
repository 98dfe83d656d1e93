#!/usr/bin/env bash
# burn vs TF/Keras on this CPU, side by side, on the same networks, data and batch size.
#
#   benches/cpu_speed.sh [OUT_DIR]        (env ASL_SPEED_ROUNDS, default 3)
#
# 1. `cargo bench --bench speed` measures asl's burn model (course network + default model)
#    and exports the images it trained on;
# 2. benches/tf_reference.py runs the same networks in TF/Keras (tensorflow-cpu, installed into
#    ./.venv-tf on first use) on those images;
# 3. a table compares them (ratio > 1 = burn faster).
# The two alternate for ASL_SPEED_ROUNDS rounds: on a shared VM whose speed drifts from minute
# to minute only same-round ratios are comparable; the summary gives each row's range.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/cpu-speed}"
rounds="${ASL_SPEED_ROUNDS:-3}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
venv="${ASL_TF_VENV:-.venv-tf}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import tensorflow' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'tensorflow-cpu==2.21.*'
fi
for r in $(seq 1 "$rounds"); do
    mkdir -p "$out/round-$r"
    ASL_SPEED_EXPORT="$out/round-$r" cargo bench --bench speed
    "$venv/bin/python" benches/tf_reference.py "$out/round-$r" > "$out/round-$r/tf.log"
done
python3 - "$out" "$rounds" <<'PY'
import json, sys
d, rounds = sys.argv[1], int(sys.argv[2])
# Training: asl's loop augments each batch on a helper thread; TF's `fit` trains on the arrays
# as they are, so "compute only" (the same steps on batches filled beforehand) is the like-for-like row.
rows = [("training (loop), img/s", "train_images_per_sec", "train_images_per_sec", True),
        ("training (compute only), img/s", "train_compute_images_per_sec", "train_images_per_sec", True),
        ("inference batch 32, ms p50", "infer_b32_ms_p50", "infer_b32_ms_p50", False),
        ("inference batch 1, ms p50", "infer_b1_ms_p50", "infer_b1_ms_p50", False)]
ratios = {}
for r in range(1, rounds + 1):
    burn = json.load(open(f"{d}/round-{r}/burn.json"))
    tf = json.load(open(f"{d}/round-{r}/tf.json"))
    print(f"\nround {r}: {burn['engine']} vs {tf['engine']} — data: {burn['data']}, batch 32, this machine")
    for b, t in zip(burn["results"], tf["results"]):
        print(f"\n{b['network']} network ({b['input_size']}px, {b['mflops_forward']:.1f} MFLOP fwd)")
        print(f"  {'':30} {'burn':>10} {'TF':>10} {'burn/TF speed':>14}")
        for label, key, tkey, higher in rows:
            ratio = b[key] / t[tkey] if higher else t[tkey] / b[key]
            ratios.setdefault((b["network"], label), []).append(ratio)
            print(f"  {label:30} {b[key]:>10.2f} {t[tkey]:>10.2f} {ratio:>13.2f}x")
        print(f"  {'training GFLOP/s (of 166 peak)':30} {b['train_gflops']:>10.1f} {t['train_gflops']:>10.1f}")
        print(f"  {'data loading, one core, img/s':30} {b['data_loading_one_core_images_per_sec']:>10.0f}")
print(f"\nburn/TF speed over {rounds} rounds (same-round ratios, > 1 = burn faster): min / median / max")
for (net, label), v in ratios.items():
    v = sorted(v)
    print(f"  {net:8} {label:30} {v[0]:.2f} / {v[len(v) // 2]:.2f} / {v[-1]:.2f}")
PY
