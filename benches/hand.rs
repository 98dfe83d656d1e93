//! Speed of the hand pipeline (palm detector → rotated crop → 21 landmarks) at batch 1, on the
//! 8 test photos of other signers (`asl-core/tests/data/hands`), on the default `flex` device:
//! `cargo bench --bench hand` (or, in the test profile, whose dependencies are optimised too:
//! `cargo test --workspace --bench hand`). Prints the median per photo of the whole `detect`
//! and of each network alone, with each of MediaPipe's two landmark models. Issue 18's targets: the whole per-photo pipeline ≤ 25 ms on two
//! cores, and no slower than MediaPipe's own Python pipeline on the same photos
//! (`scripts/hand_models/bench.py`).
use std::path::Path;
use std::time::Instant;

use asl::hand::{self, BurnHandNets, DetectConfig, HandNets, LandmarkModel};

const ROUNDS: usize = 15;

// As the binaries: glibc malloc returns burn's per-op buffers to the kernel and faults them in again.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    for model in [LandmarkModel::Full, LandmarkModel::Lite] {
        bench(model);
    }
}

fn bench(model: LandmarkModel) {
    let device = asl::model::device("flex").expect("flex device");
    let nets = BurnHandNets::load(&device, model).expect("embedded weights");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("asl-core/tests/data/hands");
    let mut photos = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("test photos").flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "jpg") {
            let img = image::open(&path).expect("a photo").to_rgb8();
            photos.push((path.file_name().unwrap_or_default().to_string_lossy().to_string(), img));
        }
    }
    photos.sort_by(|a, b| a.0.cmp(&b.0));
    let cfg = DetectConfig::default();
    let palm_input = vec![0.5f32; 3 * 192 * 192];
    let landmark_input = vec![0.5f32; 3 * 224 * 224];
    // Warm-up: the first passes allocate and pack weights.
    for (_, img) in &photos {
        let _ = hand::detect(&nets, img, &cfg);
    }
    let (mut whole, mut palm, mut landmarks) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cascade, mut view_cascade) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        for (_, img) in &photos {
            let t = Instant::now();
            let _ = hand::detect(&nets, img, &cfg).expect("detect");
            whole.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let _ = hand::find_hand(&nets, img).expect("cascade");
            cascade.push(t.elapsed().as_secs_f64() * 1e3);
            // What serving does: the hand view (longer side 192..640 px), then the cascade.
            let t = Instant::now();
            let _ = hand::find_hand(&nets, &hand::view(img)).expect("cascade");
            view_cascade.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let t = Instant::now();
        let _ = nets.palm(&palm_input).expect("palm");
        palm.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let _ = nets.landmarks(&landmark_input).expect("landmarks");
        landmarks.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!(
        "hand pipeline, landmark model {}, batch 1, flex, {threads} CPUs, {} photos × {ROUNDS} rounds (medians):",
        model.name(),
        photos.len()
    );
    println!("  detect (whole pipeline, per photo): {:.1} ms", median_ms(whole));
    println!("  detection cascade (all its steps):  {:.1} ms", median_ms(cascade));
    println!(
        "  view + cascade (as served):         {:.1} ms",
        median_ms(view_cascade)
    );
    println!("  palm detector alone (192 px):       {:.1} ms", median_ms(palm));
    println!("  landmark model alone (224 px):      {:.1} ms", median_ms(landmarks));
}
