//! `asl`: read American Sign Language fingerspelling from photos.
//!
//! The facade of the workspace: everything of [`asl_core`], re-exported. Start from a
//! [`Workspace`] (one state root: datasets, caches, runs, models) and a model:
//!
//! ```no_run
//! use asl::{ModelRef, Workspace};
//! use asl::infer::Classifier;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ws = Workspace::resolve(None); // --home, else $ASL_HOME, else ~/.local/share/asl
//! let clf = Classifier::load(&ws.resolve_model(&ModelRef::ChampionOrNewest)?)?;
//! let photos = asl::word::read_files(&["h.jpg".into(), "i.jpg".into()])?;
//! let answer = asl::word::predict_word(&clf, &photos, false, asl::decode::Lexicon::bundled(), &Default::default())?;
//! println!("{}", answer.estimate.text);
//! # Ok(())
//! # }
//! ```
//!
//! `examples/spell_word.rs` is the same as a program. Training, search and the registry are
//! methods of [`Workspace`] too ([`Workspace::train_run`], [`Workspace::study`],
//! [`Workspace::register`]).
pub use asl_core::*;
