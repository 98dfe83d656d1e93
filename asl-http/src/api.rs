//! The JSON shapes of the API (also the schemas of `/openapi.json`).
use asl_core::decode::WordEstimate;
use asl_core::infer::{AnswerPath, Prediction};
use serde::Serialize;
use utoipa::ToSchema;

/// A class and its probability.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClassScore {
    /// "A".."Z", "del", "nothing" or "space".
    pub class: String,
    pub probability: f32,
}

/// Which part of the model answered a photo, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnsweredBy {
    /// `hand`: the handshape model read the hand's 21 landmarks (fused with the photo CNN);
    /// `no_hand_found`: no hand was found, the whole-photo CNN answered; `photo`: the model
    /// has no hand path, the whole-photo CNN answered.
    pub path: String,
    /// Why that path, in words.
    pub reason: String,
    /// The hand's presence score (0–1), on the hand path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hand_presence: Option<f32>,
    /// The detection cascade's step that found the hand (1 = the photo as is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detection_step: Option<u8>,
}

impl AnsweredBy {
    fn of(p: &Prediction) -> AnsweredBy {
        let reason = match p.path {
            AnswerPath::Hand => "a hand was found: its landmarks were read",
            AnswerPath::NoHandFound => "no hand was found in the photo: the whole-photo model answered",
            AnswerPath::Photo => "this model has no hand path: the whole-photo model answered",
        };
        AnsweredBy {
            path: p.path.as_str().to_string(),
            reason: reason.to_string(),
            hand_presence: p.hand.map(|h| h.presence),
            detection_step: p.hand.map(|h| h.step),
        }
    }
}

fn top3(p: &Prediction) -> Vec<ClassScore> {
    p.top_k(3)
        .into_iter()
        .map(|(class, probability)| ClassScore { class, probability })
        .collect()
}

/// The answer for one photo (a request with a single `image` field).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LetterResponse {
    pub file: String,
    /// The most likely class.
    pub class: String,
    pub confidence: f32,
    /// The three most likely classes, best first.
    pub top3: Vec<ClassScore>,
    /// Name of the model that answered.
    pub model: String,
    pub answered_by: AnsweredBy,
}

impl LetterResponse {
    pub fn new(file: String, p: &Prediction, model: &str) -> Self {
        LetterResponse {
            file,
            class: p.class.clone(),
            confidence: p.confidence,
            top3: top3(p),
            model: model.to_string(),
            answered_by: AnsweredBy::of(p),
        }
    }
}

/// One photo of a word.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LetterOut {
    pub file: String,
    pub class: String,
    pub confidence: f32,
    pub top3: Vec<ClassScore>,
    pub answered_by: AnsweredBy,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlternativeOut {
    pub text: String,
    /// Total log score; higher is better.
    pub score: f32,
}

/// A file of the upload that was not classified, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SkippedOut {
    pub file: String,
    pub reason: String,
}

/// The answer for several photos (a zip, or several `image` fields): every letter in order
/// and the word they spell.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WordResponse {
    /// The word (or words, upper case, single spaces); empty when nothing was read.
    pub text: String,
    /// Probability of `text`, 0..1.
    pub confidence: f32,
    /// Best phrases first; `text` is the first one.
    pub alternatives: Vec<AlternativeOut>,
    /// Every classified photo, in spelling order.
    pub letters: Vec<LetterOut>,
    /// Files that were not classified (not an image, unreadable, too large, …).
    pub skipped: Vec<SkippedOut>,
    /// False when something was skipped.
    pub complete: bool,
    /// Name of the model that answered.
    pub model: String,
}

impl WordResponse {
    pub fn new(est: WordEstimate, preds: &[Prediction], model: &str) -> Self {
        let complete = est.skipped.is_empty();
        WordResponse {
            text: est.text,
            confidence: est.confidence,
            alternatives: est
                .alternatives
                .into_iter()
                .map(|a| AlternativeOut {
                    text: a.text,
                    score: a.score,
                })
                .collect(),
            letters: est
                .letters
                .into_iter()
                .zip(preds)
                .map(|(l, p)| LetterOut {
                    file: l.file,
                    class: l.class,
                    confidence: l.confidence,
                    top3: top3(p),
                    answered_by: AnsweredBy::of(p),
                })
                .collect(),
            skipped: est
                .skipped
                .into_iter()
                .map(|s| SkippedOut {
                    file: s.file,
                    reason: s.reason,
                })
                .collect(),
            complete,
            model: model.to_string(),
        }
    }
}

/// `POST /predict` answers a letter for one `image`, a word for a zip or several images.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum PredictResponse {
    Letter(LetterResponse),
    Word(WordResponse),
}

/// The multipart form of `POST /predict`: either `image` (repeatable) or `zipfile`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PredictForm {
    /// A photo of one letter, JPEG or PNG, any size. Repeat the field to send several photos;
    /// they are read in the order sent.
    #[schema(value_type = Option<String>, format = Binary)]
    pub image: Option<Vec<u8>>,
    /// A zip of photos, read in natural order of their names.
    #[schema(value_type = Option<String>, format = Binary)]
    pub zipfile: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Ready {
    pub ready: bool,
    /// Name of the model being served.
    pub model: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reloaded {
    pub reloaded: bool,
    pub model: String,
    pub created_at: u64,
}
