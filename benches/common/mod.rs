//! What the benchmarks share: the data they run on.
use std::path::Path;

use asl::dataset::{DatasetRef, DatasetStore};
use asl::progress::NoProgress;

/// Collect the benchmark data into `home`: `../shared/data/asl-alphabet-64px.zip` when present
/// (real photos), else a synthetic dataset of `synth_per_class` images per class written under
/// `home`. Returns the dataset and a label saying which it is.
pub fn collect_benchmark_data(home: &asl::AslHome, synth_per_class: usize) -> (DatasetRef, &'static str) {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/asl-alphabet-64px.zip");
    let (zip, label) = if shared.exists() {
        (shared, "shared real 64px archive")
    } else {
        let z = home.root().join("synth.zip");
        asl::synth::write_zip(
            &asl::synth::SynthConfig {
                per_class: synth_per_class,
                ..Default::default()
            },
            &z,
        )
        .expect("synth");
        (
            z,
            "SYNTHETIC data (shared archive absent; accuracy says nothing about real photos)",
        )
    };
    let dataset = DatasetRef::parse("grassknoted/asl-alphabet").expect("ref").0;
    DatasetStore::new(home, &dataset)
        .import_zip(&zip, 1, false, &Default::default(), &NoProgress)
        .expect("import");
    (dataset, label)
}
