//! CPU speed of the burn model (issue: "burn at least as fast as TF/Keras on the same network").
//!
//! For the course project's network (Conv 16/32/64 + pool, Dense 128, 64×64 input) and for
//! asl's default model, at batch 32:
//! - training images/s: real steps of the training loop (batch fill + forward + backward +
//!   AdamW update), and the compute part alone,
//! - inference: one forward pass of a 32-image batch and of one image, p50/p95,
//! - data loading alone (augmentation + normalisation) on ONE core, images/s,
//! - achieved GFLOP/s against the machine's fp32 peak.
//!
//! Data: `../shared/data/asl-alphabet-64px.zip` when present, else the synthetic dataset.
//! `ASL_SPEED_EXPORT=DIR` also writes the images and labels it trains on as `.npy` files and
//! the results as `burn.json`, so `benches/tf_reference.py` runs TF on the same data
//! (`benches/cpu_speed.sh` does both and prints them side by side).
//!
//! Run: `cargo bench --bench speed` (env `ASL_SPEED_STEPS`, default 80 timed training steps;
//! `ASL_SPEED_NETWORKS=course` or `default` for one network).
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use asl::model::ModelConfig;
use asl::prep::{self, Cache, PrepConfig, Split};
use asl::progress::{Cancel, NoProgress};
use asl::train::{self, TrainConfig};

/// fp32 peak of the 2-vCPU AMD EPYC Zen 4 this was tuned on (the figure).
const PEAK_GFLOPS: f64 = 166.0;
const BATCH: usize = 32;

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Milliseconds per call: p50 and p95 over `runs` calls after 3 warm-up calls.
fn time_ms(runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..3 {
        f();
    }
    let mut ms: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    (percentile(&mut ms, 0.5), percentile(&mut ms, 0.95))
}

/// A `.npy` file (format 1.0, little-endian, C order).
fn write_npy(path: &Path, dtype: &str, shape: &[usize], data: &[u8]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::fs::File::create(path).expect("create npy");
    f.write_all(b"\x93NUMPY\x01\x00").expect("write");
    f.write_all(&(header.len() as u16).to_le_bytes()).expect("write");
    f.write_all(header.as_bytes()).expect("write");
    f.write_all(data).expect("write");
}

/// The training images (HWC u8) and labels the benchmark uses, for the TF reference.
fn export(cache: &Cache, dir: &Path, name: &str, n: usize) {
    let s = cache.image_size();
    let n = n.min(cache.len(Split::Train));
    let mut px = Vec::with_capacity(n * s * s * 3);
    for i in 0..n {
        px.extend_from_slice(cache.pixels(Split::Train, i));
    }
    write_npy(&dir.join(format!("{name}_x.npy")), "|u1", &[n, s, s, 3], &px);
    write_npy(
        &dir.join(format!("{name}_y.npy")),
        "|u1",
        &[n],
        &cache.labels(Split::Train)[..n],
    );
}

mod common;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let steps: usize = std::env::var("ASL_SPEED_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(80);
    let export_dir = std::env::var_os("ASL_SPEED_EXPORT").map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir().expect("tmp");
    let home = asl::AslHome::new(tmp.path());
    let (dataset, data_label) = common::collect_benchmark_data(&home, 100);
    println!(
        "speed benchmark on the {data_label}; batch {BATCH}; {} rayon threads",
        rayon::current_num_threads()
    );

    let mut results = Vec::new();
    // `ASL_SPEED_NETWORKS=default` (or `course`) measures one network only, e.g. under a profiler.
    let only = std::env::var("ASL_SPEED_NETWORKS").ok();
    for (name, model) in [("course", ModelConfig::course()), ("default", ModelConfig::new())] {
        if only.as_deref().is_some_and(|o| !o.split(',').any(|n| n == name)) {
            continue;
        }
        let prep_cfg = PrepConfig {
            image_size: model.input_size as u32,
            ..PrepConfig::default()
        };
        let cache = prep::prepare_collected(&home, &dataset, &prep_cfg, false, &NoProgress, &Cancel::new())
            .expect("prep")
            .cache;
        if let Some(dir) = &export_dir {
            std::fs::create_dir_all(dir).expect("export dir");
            export(&cache, dir, name, 4096);
        }
        let flops = model.flops_per_image() as f64;
        let cfg = TrainConfig {
            model: model.clone(),
            batch_size: BATCH,
            ..Default::default()
        };

        let tp = train::measure_throughput(&cache, &cfg, 5, steps).expect("throughput");
        // Forward + backward ≈ 3 × forward.
        let train_gflops = tp.compute_images_per_sec * 3.0 * flops / 1e9;

        let device = asl::model::device(&cfg.device).expect("device");
        // As the classifier serves it: batch norms folded into the convolutions.
        let net = model.init(&device).expect("a valid architecture").fold_batch_norm();
        let s = model.input_size;
        let plane = 3 * s * s;
        let batch: Vec<f32> = (0..BATCH * plane)
            .map(|i| ((i * 7919) % 255) as f32 / 255.0 - 0.5)
            .collect();
        let (b32_p50, b32_p95) = time_ms(60, || {
            asl::infer::forward_probs(&net, &device, batch.clone(), BATCH, s).expect("forward");
        });
        let (b1_p50, b1_p95) = time_ms(300, || {
            asl::infer::forward_probs(&net, &device, batch[..plane].to_vec(), 1, s).expect("forward");
        });
        let infer_gflops = BATCH as f64 * flops / (b32_p50 / 1e3) / 1e9;

        // Data loading on one core: the same fill the training loop runs, in a 1-thread pool.
        let one_core = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
        let idx: Vec<usize> = (0..cache.len(Split::Train)).collect();
        let (mut px, mut lb) = (Vec::new(), Vec::new());
        let t = Instant::now();
        let mut filled = 0usize;
        one_core.install(|| {
            for (b, chunk) in idx.chunks_exact(BATCH).take(100).enumerate() {
                train::fill_batch(
                    &cache,
                    Split::Train,
                    chunk,
                    Some((&cfg.augment, b as u64)),
                    &mut px,
                    &mut lb,
                );
                filled += chunk.len();
            }
        });
        let fill_one_core = filled as f64 / t.elapsed().as_secs_f64();

        println!("{name} network ({s}px, {:.1} MFLOP/image forward):", flops / 1e6);
        println!(
            "  training: {:.0} img/s training loop (next batch filled meanwhile), {:.0} img/s compute only (~{train_gflops:.1} GFLOP/s, {:.0}% of {PEAK_GFLOPS} peak); batch fill {:.0} img/s on all threads",
            tp.images_per_sec,
            tp.compute_images_per_sec,
            100.0 * train_gflops / PEAK_GFLOPS,
            tp.fill_images_per_sec
        );
        println!(
            "  inference batch 32: p50 {b32_p50:.2} ms, p95 {b32_p95:.2} ms (~{infer_gflops:.1} GFLOP/s); batch 1: p50 {b1_p50:.3} ms, p95 {b1_p95:.3} ms"
        );
        println!("  data loading (augment + normalise) on one core: {fill_one_core:.0} img/s");
        results.push(serde_json::json!({
            "network": name, "input_size": s, "batch": BATCH, "mflops_forward": flops / 1e6, "model": &model,
            "train_images_per_sec": tp.images_per_sec, "train_compute_images_per_sec": tp.compute_images_per_sec,
            "train_gflops": train_gflops, "infer_b32_ms_p50": b32_p50, "infer_b32_ms_p95": b32_p95,
            "infer_b1_ms_p50": b1_p50, "infer_b1_ms_p95": b1_p95, "infer_gflops": infer_gflops,
            "data_loading_one_core_images_per_sec": fill_one_core,
        }));
    }
    if let Some(dir) = &export_dir {
        let doc = serde_json::json!({"engine": "burn 0.22.1 flex", "data": data_label, "results": results});
        std::fs::write(dir.join("burn.json"), serde_json::to_vec_pretty(&doc).expect("json")).expect("write burn.json");
    }
}
