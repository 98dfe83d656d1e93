//! Handshape classification from the 21 hand landmarks: what reads other people's hands.
//!
//! A photo's landmarks ([`crate::hand`]) become 115 features that carry no background, skin
//! tone or lighting ([`features`]: right-hand mirroring, wrist origin, palm-size scale, an
//! upright in-plane rotation whose angle is kept as a feature, joint and spread angles, finger
//! distances). A small MLP ([`model`]) classifies them. It is trained ([`train`]) on the
//! landmarks of the training photos, each seen again under landmark-space augmentation
//! ([`augment`]: 3-D rotation, finger-length and hand-width jitter, noise), plus hands drawn
//! from a kinematic handshape prior ([`prior`]): the textbook form of each letter, which the
//! Kaggle signer does not always make (T, D, M, N) but other people do, and the hands of other
//! signers from MIT-licensed and public-domain photo collections ([`signers`]).
//!
//! The design and every number behind it: `docs/hands/classifier.md` (a Python prototype,
//! `scripts/hand_models/prototype/`, is the executable specification).
pub mod augment;
pub mod features;
pub mod model;
pub mod prior;
pub mod signers;
pub mod stage;
pub mod train;

pub use model::{FusionGate, GATE_PHOTO_WEIGHT, HandshapeModel, HandshapeModelCard};
pub use stage::{HandsMode, PipelineInfo, build_hand_stage};
pub use train::{DEFAULT_LANDMARK_MODEL, HandTrainConfig, LabelledHand, train_handshape_model};

/// Why training, loading or running the handshape classifier failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshapeError {
    /// The training photos showed fewer hands than [`HandTrainConfig::min_hands`].
    #[error("too few hands to train the handshape model: {found} found, at least {needed} needed")]
    TooFewHands {
        /// Training hands found.
        found: usize,
        /// The minimum.
        needed: usize,
    },
    /// A training setting is out of range (or the backend named is unknown).
    #[error("invalid handshape training configuration: {0}")]
    BadConfig(String),
    /// `handshape.json` is unreadable, of another format, or disagrees with the features.
    #[error("{path}: {problem}")]
    BadCard {
        /// The card file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// `handshape.bpk` is missing or does not fit the card's layer sizes.
    #[error("{path}: cannot load the handshape weights: {problem}")]
    BadWeights {
        /// The weights file.
        path: std::path::PathBuf,
        /// The loader's error.
        problem: String,
    },
    /// The tensor backend failed while running the MLP.
    #[error("the backend failed: {0}")]
    Backend(String),
    /// Training stopped because its [`crate::progress::Cancel`] was set.
    #[error("training was cancelled")]
    Cancelled,
    /// Reading or writing a model file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}
