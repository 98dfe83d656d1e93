//! asl-core: everything of substance in asl, the American Sign Language fingerspelling reader.
//!
//! One module per pipeline stage: [`dataset`] (collect from Kaggle), [`synth`] (the embedded
//! synthetic dataset), [`decode`] (word estimation), [`photo`] (decoding under a budget), [`prep`], [`model`], [`train`], [`eval`], [`infer`] (the model),
//! [`hpo`] (search), [`tracking`] and [`registry`] (runs, versions, aliases), [`pipeline`], [`monitor`] (drift).
//! [`workspace`] is the use-case layer over them: the operations on one state root, written once.
//! Frontends (`asl-cli`, `asl-http`, `asl-py`) parse, make one call there (or on a stage), and render.
#[warn(missing_docs)]
pub mod augment;
#[warn(missing_docs)]
pub mod classes;
#[warn(missing_docs)]
pub mod clock;
#[warn(missing_docs)]
pub mod dataset;
#[warn(missing_docs)]
pub mod decode;
#[warn(missing_docs)]
pub mod decode_eval;
#[warn(missing_docs)]
pub mod eval;
#[warn(missing_docs)]
pub mod fsutil;
#[warn(missing_docs)]
pub mod hand;
#[warn(missing_docs)]
pub mod hand_cache;
pub mod handshape;
#[warn(missing_docs)]
pub mod home;
#[warn(missing_docs)]
pub mod hpo;
#[warn(missing_docs)]
pub mod infer;
#[warn(missing_docs)]
pub mod model;
#[warn(missing_docs)]
pub mod monitor;
#[warn(missing_docs)]
pub mod photo;
#[warn(missing_docs)]
pub mod pipeline;
#[warn(missing_docs)]
pub mod prep;
#[warn(missing_docs)]
pub mod progress;
#[warn(missing_docs)]
pub mod registry;
#[warn(missing_docs)]
pub mod rng;
#[warn(missing_docs)]
pub mod synth;
#[warn(missing_docs)]
pub mod tracking;
#[warn(missing_docs)]
pub mod train;
#[warn(missing_docs)]
pub mod word;
#[warn(missing_docs)]
pub mod workspace;

pub use home::AslHome;
pub use workspace::{DataSpec, ModelRef, Workspace};
