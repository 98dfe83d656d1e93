//! Writes `asl-core/src/hand/nets/{palm_detection_full,hand_landmark_full,hand_landmark_lite}.rs` and their `.bpk`
//! weights from the ONNX files of `asl-core/models/hand/` (run from anywhere; paths are taken
//! from the repository root so the generated headers name them relative to it), then fuses
//! each convolution with the ReLU6 or residual add + PReLU after it (`fuse.rs`).
use burn_onnx::{LoadStrategy, ModelGen};

mod fuse;

const MODELS: [&str; 3] = ["palm_detection_full", "hand_landmark_full", "hand_landmark_lite"];

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if let Err(e) = std::env::set_current_dir(&root) {
        panic!("cannot enter the repository root {}: {e}", root.display());
    }
    for name in MODELS {
        ModelGen::new()
            .input(&format!("asl-core/models/hand/{name}.onnx"))
            .out_dir("asl-core/src/hand/nets")
            .development(false)
            // Weights are loaded by asl-core's own code (errors, not panics), from bytes.
            .load_strategy(LoadStrategy::None)
            .run_from_cli();
        let path = format!("asl-core/src/hand/nets/{name}.rs");
        let generated = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        std::fs::write(&path, fuse::fuse(&generated)).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
        println!("generated {name}");
    }
}
