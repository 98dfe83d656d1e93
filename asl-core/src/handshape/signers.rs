//! Hands of other signers than the training photos': the landmarks asl's detection cascade
//! found in public photos of other people fingerspelling that may be used (the three
//! MIT-licensed sources of the `asl-ood-dev` development set and David Lee's public-domain
//! Roboflow letters), embedded and mixed into every handshape training run
//! ([`super::HandTrainConfig::other_signers_repeat`]). They teach the classifier how other
//! people make the letters the Kaggle signer makes their own way (T, G, H, P): measured leaving
//! each source out of its own reading, dev mean over sources 65–67 → 70–72 % with the MIT
//! sources, 74 % with Roboflow too (`docs/hands/classifier.md`, sections 11.7–11.8).
//! Licences: `asl-core/data/NOTICE_other_signers.md`.
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::train::LabelledHand;
use crate::classes::class_index;
use crate::hand::LandmarkModel;

/// The table (`examples/hand_research.rs export`), one per landmark model: the same photos'
/// hands as each model places them (a handshape model trains on the landmarks it will read).
/// Its text also keys the reuse of trained handshape models, like the prior's.
pub(crate) fn embedded_table(landmarks: LandmarkModel) -> &'static str {
    match landmarks {
        LandmarkModel::Full => include_str!("../../data/other_signers_hands.json"),
        LandmarkModel::Lite => include_str!("../../data/other_signers_hands_lite.json"),
    }
}

/// Where a group of hands comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerSource {
    /// Short name, the prefix of the photos' file names (`<source>__<file>`, as in the dev set).
    pub source: String,
    /// The GitHub repository (`owner/name`).
    pub repository: String,
    /// The commit the photos were taken from.
    pub commit: String,
    /// The licence as the repository states it.
    pub licence: String,
}

/// One photo's hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignerHand {
    /// [`SignerSource::source`] of its repository.
    pub source: String,
    /// The photo, in the dev set's layout (`<LETTER>/<source>__<file>`; Roboflow's as
    /// `scripts/roboflow_letters_zip.py` names them).
    pub file: String,
    /// The letter signed.
    pub class: String,
    /// MediaPipe's "Right" score (see [`crate::hand::Hand::handedness_right`]).
    pub handedness_right: f32,
    /// Photo pixels, z in the same scale.
    pub landmarks: [[f32; 3]; 21],
}

/// The embedded table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OtherSigners {
    /// What the table is.
    pub about: String,
    /// The repositories.
    pub sources: Vec<SignerSource>,
    /// Their hands.
    pub hands: Vec<SignerHand>,
}

impl OtherSigners {
    /// The embedded table of landmark model `landmarks`, parsed once.
    pub fn embedded(landmarks: LandmarkModel) -> &'static OtherSigners {
        static FULL: OnceLock<OtherSigners> = OnceLock::new();
        static LITE: OnceLock<OtherSigners> = OnceLock::new();
        let table = match landmarks {
            LandmarkModel::Full => &FULL,
            LandmarkModel::Lite => &LITE,
        };
        table.get_or_init(|| {
            serde_json::from_str(embedded_table(landmarks)).expect("the embedded other signers' tables are valid")
        })
    }

    /// The hands of every source but those in `excluded`, as training hands.
    pub fn labelled(&self, excluded: &[String]) -> Vec<LabelledHand> {
        self.hands
            .iter()
            .filter(|h| !excluded.contains(&h.source))
            .filter_map(|h| {
                Some(LabelledHand {
                    class: class_index(&h.class)?,
                    landmarks: h.landmarks,
                    handedness_right: h.handedness_right,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::NUM_LETTERS;

    #[test]
    fn the_embedded_tables_hold_four_licensed_sources_of_every_letter() {
        // The hands per source that NOTICE_other_signers.md states (the lite landmark model
        // accepts five more of Roboflow's photos).
        for (model, counts) in [
            (LandmarkModel::Full, [120, 130, 130, 682]),
            (LandmarkModel::Lite, [120, 130, 130, 687]),
        ] {
            check_table(OtherSigners::embedded(model), counts);
        }
        // The same photos: all but 2 of the full table's photos have a hand in the lite table
        // (the lite model's presence score turned those two down).
        let full = OtherSigners::embedded(LandmarkModel::Full);
        let lite = OtherSigners::embedded(LandmarkModel::Lite);
        let in_lite = |f: &str| lite.hands.iter().any(|h| h.file == f);
        assert_eq!(full.hands.iter().filter(|h| !in_lite(&h.file)).count(), 2);
        assert_eq!(full.sources, lite.sources);
    }

    fn check_table(t: &OtherSigners, counts: [usize; 4]) {
        let names: Vec<&str> = t.sources.iter().map(|s| s.source.as_str()).collect();
        assert_eq!(names, ["hackmit", "longhongvo23", "seeeeeeel", "roboflow"]);
        // Only sources whose licence allows it (the dev set's unlicensed sources are not here).
        assert!(
            t.sources
                .iter()
                .all(|s| s.licence.starts_with("MIT") || s.licence.starts_with("Public domain"))
        );
        assert!(t.hands.iter().all(|h| names.contains(&h.source.as_str())));
        assert!(
            t.hands
                .iter()
                .all(|h| h.landmarks.iter().flatten().all(|v| v.is_finite()))
        );
        let all = t.labelled(&[]);
        assert_eq!(all.len(), t.hands.len(), "every hand has a letter");
        let mut letters = [0usize; NUM_LETTERS];
        for h in &all {
            assert!(h.class < NUM_LETTERS, "letters only");
            letters[h.class] += 1;
        }
        assert!(letters.iter().all(|&n| n >= 5), "{letters:?}");
        // Every source holds a share of every letter but its motion letters' gaps: at least 20
        // letters each (a table cut short by an export would not).
        for s in &names {
            let mut seen = [false; NUM_LETTERS];
            t.hands
                .iter()
                .filter(|h| h.source == *s)
                .filter_map(|h| crate::classes::class_index(&h.class))
                .for_each(|c| seen[c] = true);
            assert!(seen.iter().filter(|&&b| b).count() >= 20, "{s}: {seen:?}");
        }
        let count = |s: &str| t.hands.iter().filter(|h| h.source == s).count();
        assert_eq!(names.iter().map(|s| count(s)).collect::<Vec<_>>(), counts);
        let without = t.labelled(&["hackmit".into()]);
        let hackmit = t.hands.iter().filter(|h| h.source == "hackmit").count();
        assert!(hackmit > 50);
        assert_eq!(without.len(), all.len() - hackmit);
    }
}
