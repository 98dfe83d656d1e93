//! asl-core: everything of substance in asl, the American Sign Language fingerspelling reader.
//!
//! One module per pipeline stage: [`dataset`] (collect from Kaggle), [`synth`] (the embedded
//! synthetic dataset), [`decode`] (word estimation), [`photo`] (decoding under a budget), [`prep`], [`model`], [`train`], [`eval`], [`infer`] (the model),
//! [`hpo`] (search), [`tracking`] and [`registry`] (runs, versions, aliases), [`pipeline`], [`monitor`] (drift).
//! [`workspace`] is the use-case layer over them: the operations on one state root, written once.
//! Frontends (`asl-cli`, `asl-http`, `asl-py`) parse, make one call there (or on a stage), and render.
//! Two helpers stay public because the API needs them: [`rng`]'s seeded generator is what the
//! augmentation functions take, and frontends render the core's timestamps (unix seconds) with
//! [`clock`] in the RFC 3339 form the core writes to its files. Crash-safe writes are the
//! core's own business.
#![warn(missing_docs)]
pub mod augment;
pub mod classes;
pub mod clock;
pub mod dataset;
pub mod decode;
pub mod decode_eval;
pub mod eval;
mod fsutil;
pub mod hand;
pub mod hand_cache;
pub mod handshape;
pub mod home;
pub mod hpo;
pub mod infer;
pub mod model;
pub mod monitor;
pub mod photo;
pub mod pipeline;
pub mod prep;
pub mod progress;
pub mod registry;
pub mod rng;
pub mod synth;
pub mod tracking;
pub mod train;
pub mod word;
pub mod workspace;

pub use home::AslHome;
pub use workspace::{DataSpec, ModelRef, Workspace};
