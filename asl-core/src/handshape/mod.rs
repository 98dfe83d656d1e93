//! Handshape classification from the 21 hand landmarks: what reads other people's hands.
//!
//! A photo's landmarks ([`crate::hand`]) become 115 features that carry no background, skin
//! tone or lighting ([`features`]: right-hand mirroring, wrist origin, palm-size scale, an
//! upright in-plane rotation whose angle is kept as a feature, joint and spread angles, finger
//! distances). A small MLP ([`model`]) classifies them. It is trained ([`train`]) on the
//! landmarks of the training photos, each seen again under landmark-space augmentation
//! ([`augment`]: 3-D rotation, finger-length and hand-width jitter, noise), plus hands drawn
//! from a kinematic handshape prior ([`prior`]): the textbook form of each letter, which the
//! Kaggle signer does not always make (T, D, M, N) but other people do.
//!
//! The design and every number behind it: `docs/hands/classifier.md` (a Python prototype,
//! `scripts/hand_models/prototype/`, is the executable specification).
pub mod augment;
pub mod features;
pub mod model;
pub mod prior;
pub mod stage;
pub mod train;

pub use model::{HandshapeModel, HandshapeModelCard};
pub use stage::{HandsMode, PipelineInfo, build_hand_stage};
pub use train::{HandTrainConfig, LabelledHand, train_handshape_model};

#[derive(Debug, thiserror::Error)]
pub enum HandshapeError {
    #[error("too few hands to train the handshape model: {found} found, at least {needed} needed")]
    TooFewHands { found: usize, needed: usize },
    #[error("invalid handshape training configuration: {0}")]
    BadConfig(String),
    #[error("{path}: {problem}")]
    BadCard { path: std::path::PathBuf, problem: String },
    #[error("{path}: cannot load the handshape weights: {problem}")]
    BadWeights { path: std::path::PathBuf, problem: String },
    #[error("the backend failed: {0}")]
    Backend(String),
    #[error("training was cancelled")]
    Cancelled,
    #[error("I/O error on {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}
