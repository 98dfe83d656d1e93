"""The TF/Keras reference for `benches/speed.rs`: the same networks, data and batch size.

Reads the networks (`burn.json`) and images (`<network>_x.npy`, `<network>_y.npy`) the Rust
benchmark exported to DIR and writes `tf.json` beside them with the same fields.

    python benches/tf_reference.py DIR [--steps 80]
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402

BATCH = 32


def network(arch: dict) -> keras.Model:
    """The network `benches/speed.rs` measured, from its architecture (asl's ModelConfig)."""
    size, batch_norm = arch["input_size"], arch["batch_norm"]
    layers = [keras.Input((size, size, 3))]
    for stage in range(arch["depth"]):
        for _ in range(arch["convs_per_stage"]):
            layers.append(keras.layers.Conv2D(arch["width"] << stage, 3, padding="same", use_bias=not batch_norm))
            if batch_norm:
                layers.append(keras.layers.BatchNormalization())
            layers.append(keras.layers.ReLU())
        layers.append(keras.layers.MaxPooling2D(2))
    layers.append(keras.layers.GlobalAveragePooling2D() if arch["global_pool"] else keras.layers.Flatten())
    if arch["hidden"]:
        layers.append(keras.layers.Dense(arch["hidden"], activation="relu"))
    layers += [keras.layers.Dropout(arch["dropout"]), keras.layers.Dense(arch["num_classes"])]
    return keras.Sequential(layers)


def percentiles(fn, runs: int):
    for _ in range(3):
        fn()
    ms = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1e3)
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def measure(name: str, arch: dict, data_dir: str, steps: int) -> dict:
    x = np.load(os.path.join(data_dir, f"{name}_x.npy")).astype(np.float32) / 255.0 - 0.5
    y = np.load(os.path.join(data_dir, f"{name}_y.npy")).astype(np.int32)
    size = x.shape[1]
    model = network(arch)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=3e-3, weight_decay=5e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    n = (min(len(x), steps * BATCH) // BATCH) * BATCH
    # Warm-up (graph tracing, oneDNN primitive creation), then a timed epoch of `steps` batches.
    model.fit(x[: 5 * BATCH], y[: 5 * BATCH], batch_size=BATCH, epochs=1, verbose=0)
    t = time.perf_counter()
    model.fit(x[:n], y[:n], batch_size=BATCH, epochs=1, verbose=0, shuffle=True)
    train_ips = n / (time.perf_counter() - t)

    flops = sum(
        2 * np.prod(layer.output.shape[1:3]) * np.prod(layer.kernel.shape)
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D)
    ) + sum(2 * np.prod(layer.kernel.shape) for layer in model.layers if isinstance(layer, keras.layers.Dense))

    infer = tf.function(lambda batch: tf.nn.softmax(model(batch, training=False)))
    b32 = tf.constant(x[:BATCH])
    b1 = tf.constant(x[:1])
    b32_p50, b32_p95 = percentiles(lambda: infer(b32).numpy(), 60)
    b1_p50, b1_p95 = percentiles(lambda: infer(b1).numpy(), 300)
    return {
        "network": name,
        "input_size": size,
        "batch": BATCH,
        "mflops_forward": float(flops) / 1e6,
        "train_images_per_sec": train_ips,
        "train_gflops": train_ips * 3 * float(flops) / 1e9,
        "infer_b32_ms_p50": b32_p50,
        "infer_b32_ms_p95": b32_p95,
        "infer_b1_ms_p50": b1_p50,
        "infer_b1_ms_p95": b1_p95,
        "infer_gflops": BATCH * float(flops) / (b32_p50 / 1e3) / 1e9,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--steps", type=int, default=80)
    args = parser.parse_args()
    with open(os.path.join(args.dir, "burn.json")) as f:
        burn = json.load(f)
    results = [measure(r["network"], r["model"], args.dir, args.steps) for r in burn["results"]]
    doc = {"engine": f"TF {tf.__version__} (Keras {keras.__version__}, oneDNN)", "results": results}
    with open(os.path.join(args.dir, "tf.json"), "w") as f:
        json.dump(doc, f, indent=2)
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
