//! Prep throughput: decode + resize to the cache, in images/s, for
//! (a) 200×200 JPEGs like the real Kaggle dataset (generated here), and
//! (b) the shared 64×64 archive (`../shared/data/asl-alphabet-64px.zip`), when present.
//! Target: the full 87,000-image dataset prepared in under 90 s on the 2-core machine.
//!
//! Run: `cargo bench --bench prep` (env `ASL_BENCH_IMAGES` = number of 200px images, default 5800).
use std::path::Path;
use std::time::Instant;

use asl::classes::CLASSES;
use asl::dataset::layout;
use asl::prep::{self, PrepConfig, PrepSource};
use asl::progress::{Cancel, NoProgress};

fn bench_folder(name: &str, dir: &Path, cache_dir: &Path) {
    let layout = layout::scan(dir).expect("layout");
    let n = layout.total_images();
    let src = PrepSource::from_folder(&layout);
    let cfg = PrepConfig::default();
    let t = Instant::now();
    let out = prep::prepare(cache_dir, &src, &cfg, true, &NoProgress, &Cancel::new()).expect("prep");
    let secs = t.elapsed().as_secs_f64();
    let rate = n as f64 / secs;
    println!(
        "{name:<28} {n:>6} images in {secs:>6.2}s = {rate:>7.0} img/s; 87,000 images would take {:.0}s; skipped {}",
        87_000.0 / rate,
        out.cache.header.skipped_count
    );
    // Reuse: opening the memory-mapped cache again.
    let t = Instant::now();
    let again = prep::prepare(cache_dir, &src, &cfg, false, &NoProgress, &Cancel::new()).expect("reuse");
    assert!(!again.built);
    println!(
        "{:<28} reuse (mmap + header check) {:.1} ms",
        "",
        t.elapsed().as_secs_f64() * 1e3
    );
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let threads = rayon::current_num_threads();
    println!(
        "prep benchmark: {threads} rayon threads, {} CPUs",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let tmp = tempfile::tempdir().expect("tmp");
    // (a) 200×200 JPEGs rendered by the synthetic generator, quality 90 (like Kaggle's files).
    let per_class: usize = std::env::var("ASL_BENCH_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(|n: usize| n.div_ceil(29))
        .unwrap_or(200);
    let root = tmp.path().join("big/asl_alphabet_train/asl_alphabet_train");
    for (c, name) in CLASSES.iter().enumerate() {
        let d = root.join(name);
        std::fs::create_dir_all(&d).expect("mkdir");
        for i in 0..per_class {
            let img = asl::synth::render(c, (c * 100_000 + i) as u64, 200);
            let mut bytes = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
                .encode_image(&img)
                .expect("jpeg");
            std::fs::write(d.join(format!("{name}{}.jpg", i + 1)), bytes).expect("write");
        }
    }
    bench_folder(
        "200x200 JPEG (generated)",
        &tmp.path().join("big"),
        &tmp.path().join("cache"),
    );

    // (b) The shared real archive, extracted.
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/asl-alphabet-64px.zip");
    if shared.exists() {
        let out = tmp.path().join("real");
        asl::dataset::extract::extract_zip(&shared, &out, &Default::default(), &NoProgress).expect("extract");
        bench_folder("64x64 JPEG (shared real)", &out, &tmp.path().join("cache"));
    } else {
        println!("(shared archive not present: skipped the real-image case)");
    }
}
