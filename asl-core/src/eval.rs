//! Evaluation: accuracy, macro-F1, per-class precision/recall, top-k, and the confusion matrix
//! as CSV and SVG — on a cache split, on any folder of class folders, or on a *stress set*
//! (validation images pushed off the dataset's look: new backgrounds, colours, scale, position).
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::augment::{AugmentConfig, augment_into};
use crate::classes::{CLASSES, NUM_CLASSES};
use crate::infer::{Classifier, InferError, MAX_BATCH, forward_probs};
use crate::prep::{Cache, Split};
use crate::rng::SplitMix64;

/// Why an evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Loading the model or classifying with it failed.
    #[error(transparent)]
    Infer(#[from] InferError),
    /// There is nothing to evaluate: the split named is empty.
    #[error("nothing to evaluate: {0}")]
    Empty(String),
    /// The cache holds images of another size than the model reads (prepare one of the
    /// model's size: the workspace's evaluation does).
    #[error("cache images are {cache}px, the model wants {model}px")]
    SizeMismatch {
        /// The cache's image side.
        cache: usize,
        /// The model's input side.
        model: usize,
    },
    /// Finding the hands of a cache's photos (for a model with a hand path) failed.
    #[error(transparent)]
    Hands(#[from] crate::hand_cache::HandCacheError),
    /// The handshape classifier failed on the hands found.
    #[error(transparent)]
    Handshape(#[from] crate::handshape::HandshapeError),
    /// A zip given as evaluation data could not be read or extracted.
    #[error("cannot extract {path}: {reason}")]
    Extract {
        /// The zip.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Writing a report file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClassMetrics {
    /// The class name (`A`–`Z`, `del`, `nothing`, `space`).
    pub class: String,
    /// Images whose true class this is.
    pub support: usize,
    /// Share of the images predicted as this class that are of it (0 when none was).
    pub precision: f64,
    /// Share of this class's images predicted as it (0 when it has none).
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
}

/// Metrics of a model on a set of labelled images. Rates are fractions (0–1).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    /// Images evaluated.
    pub images: usize,
    /// Share of images whose most likely class (the first on ties) is the true one.
    pub accuracy: f64,
    /// Mean F1 over the classes present in the set (support above 0).
    pub macro_f1: f64,
    /// Share of images whose true class is among the 3 most likely (ties count in its favour).
    pub top3_accuracy: f64,
    /// Share of images whose true class is among the 5 most likely (ties count in its favour).
    pub top5_accuracy: f64,
    /// Mean cross-entropy of the true class.
    pub loss: f64,
    /// Per class, in [`CLASSES`] order (every class, present or not).
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

/// The answer for one image's probabilities: the most likely class, the first on ties (as
/// the classifier answers). Every accuracy of this module counts with it.
fn predicted_class(p: &[f32]) -> usize {
    p.iter().enumerate().fold(0, |b, (i, v)| if *v > p[b] { i } else { b })
}

/// The rank of class `y` (0 = most likely): how many classes are strictly more likely, so ties
/// count in its favour in every top-k of this module.
fn rank_of(p: &[f32], y: usize) -> usize {
    p.iter().filter(|v| **v > p[y]).count()
}

impl EvalReport {
    /// Metrics from row-major `n × 29` probabilities and the true labels.
    pub fn from_probs(probs: &[f32], labels: &[u8]) -> EvalReport {
        let n = labels.len();
        let mut confusion = vec![vec![0usize; NUM_CLASSES]; NUM_CLASSES];
        let (mut top3, mut top5, mut loss) = (0usize, 0usize, 0f64);
        for (p, &y) in probs.chunks_exact(NUM_CLASSES).zip(labels) {
            let y = y as usize;
            confusion[y][predicted_class(p)] += 1;
            let rank = rank_of(p, y);
            top3 += (rank < 3) as usize;
            top5 += (rank < 5) as usize;
            loss -= (p[y].max(1e-7) as f64).ln();
        }
        let correct: usize = (0..NUM_CLASSES).map(|i| confusion[i][i]).sum();
        let per_class: Vec<ClassMetrics> = (0..NUM_CLASSES)
            .map(|c| {
                let tp = confusion[c][c] as f64;
                let support: usize = confusion[c].iter().sum();
                let predicted: usize = (0..NUM_CLASSES).map(|r| confusion[r][c]).sum();
                let precision = if predicted > 0 { tp / predicted as f64 } else { 0.0 };
                let recall = if support > 0 { tp / support as f64 } else { 0.0 };
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassMetrics {
                    class: CLASSES[c].to_string(),
                    support,
                    precision,
                    recall,
                    f1,
                }
            })
            .collect();
        // Macro-F1 over the classes present in the evaluation set.
        let present: Vec<&ClassMetrics> = per_class.iter().filter(|m| m.support > 0).collect();
        let macro_f1 = if present.is_empty() {
            0.0
        } else {
            present.iter().map(|m| m.f1).sum::<f64>() / present.len() as f64
        };
        let nf = n.max(1) as f64;
        EvalReport {
            images: n,
            accuracy: correct as f64 / nf,
            macro_f1,
            top3_accuracy: top3 as f64 / nf,
            top5_accuracy: top5 as f64 / nf,
            loss: loss / nf,
            per_class,
            confusion,
        }
    }

    /// Summary for model cards and run logs.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({"images": self.images, "accuracy": self.accuracy, "macro_f1": self.macro_f1, "top3_accuracy": self.top3_accuracy, "top5_accuracy": self.top5_accuracy, "loss": self.loss})
    }

    /// The confusion matrix as CSV: a header row of predicted classes, then one row per true class.
    pub fn confusion_csv(&self) -> String {
        let mut s = String::from("true\\predicted");
        for c in CLASSES {
            let _ = write!(s, ",{c}");
        }
        s.push('\n');
        for (i, row) in self.confusion.iter().enumerate() {
            s.push_str(CLASSES[i]);
            for v in row {
                let _ = write!(s, ",{v}");
            }
            s.push('\n');
        }
        s
    }

    /// The confusion matrix as a standalone SVG heat map (rows: true class, columns: predicted).
    pub fn confusion_svg(&self) -> String {
        let cell = 22;
        let margin = 70;
        let size = margin + cell * NUM_CLASSES + 10;
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{size}\" height=\"{size}\" font-family=\"sans-serif\" font-size=\"10\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        );
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"14\" font-size=\"12\">Confusion matrix (accuracy {:.2}%): rows true, columns predicted</text>",
            margin,
            self.accuracy * 100.0
        );
        for (i, c) in CLASSES.iter().enumerate() {
            let p = margin + i * cell + cell / 2;
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{c}</text>",
                margin - 4,
                p + 3
            );
            let _ = writeln!(
                s,
                "<text x=\"{p}\" y=\"{}\" text-anchor=\"end\" transform=\"rotate(-90 {p} {})\">{c}</text>",
                margin - 4,
                margin - 4
            );
        }
        for (i, row) in self.confusion.iter().enumerate() {
            let total: usize = row.iter().sum::<usize>().max(1);
            for (j, &v) in row.iter().enumerate() {
                let frac = v as f64 / total as f64;
                // Diagonal in blue, errors in red; intensity = share of the true class.
                let (r, g, b) = if i == j {
                    (255.0 * (1.0 - frac), 255.0 * (1.0 - 0.6 * frac), 255.0)
                } else {
                    (255.0, 255.0 * (1.0 - frac), 255.0 * (1.0 - frac))
                };
                let (x, y) = (margin + j * cell, margin + i * cell);
                let _ = writeln!(
                    s,
                    "<rect x=\"{x}\" y=\"{y}\" width=\"{cell}\" height=\"{cell}\" fill=\"rgb({:.0},{:.0},{:.0})\" stroke=\"#ddd\"><title>{} → {}: {v}</title></rect>",
                    r, g, b, CLASSES[i], CLASSES[j]
                );
                if v > 0 {
                    let colour = if frac > 0.5 { "white" } else { "black" };
                    let _ = writeln!(
                        s,
                        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"8\" fill=\"{colour}\">{v}</text>",
                        x + cell / 2,
                        y + cell / 2 + 3
                    );
                }
            }
        }
        s.push_str("</svg>\n");
        s
    }

    /// Write `confusion.csv`, `confusion.svg` and `eval.json` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), EvalError> {
        let io = |path: PathBuf| move |source| EvalError::Io { path, source };
        std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
        crate::fsutil::write_atomic(&dir.join("confusion.csv"), self.confusion_csv().as_bytes())
            .map_err(io(dir.join("confusion.csv")))?;
        crate::fsutil::write_atomic(&dir.join("confusion.svg"), self.confusion_svg().as_bytes())
            .map_err(io(dir.join("confusion.svg")))?;
        crate::fsutil::write_json_atomic(&dir.join("eval.json"), self).map_err(io(dir.join("eval.json")))?;
        Ok(())
    }
}

/// Evaluate on one split of a cache.
pub fn evaluate_cache(clf: &Classifier, cache: &Cache, split: Split) -> Result<EvalReport, EvalError> {
    let answers = split_probabilities(clf, cache, split)?;
    Ok(EvalReport::from_probs(&answers.probs, cache.labels(split)))
}

/// The model's answers for every photo of a cache split.
pub struct SplitAnswers {
    /// Row-major `n × 29`.
    pub probs: Vec<f32>,
    /// Per photo, whether the hand path answered (None: the model has no hand path).
    pub hand_found: Option<Vec<bool>>,
}

fn check_size(clf: &Classifier, cache: &Cache) -> Result<(), EvalError> {
    match (cache.image_size(), clf.input_size()) {
        (c, m) if c == m => Ok(()),
        (cache, model) => Err(EvalError::SizeMismatch { cache, model }),
    }
}

/// The model's probabilities for every image of a cache split: the photo CNN on the cached
/// pixels and, for a model with a hand path, the handshape model on the hands of the cache's
/// hand cache (built from the original photos when missing), fused as in serving.
pub fn split_probabilities(clf: &Classifier, cache: &Cache, split: Split) -> Result<SplitAnswers, EvalError> {
    let n = cache.len(split);
    if n == 0 {
        return Err(EvalError::Empty(format!(
            "the {split:?} split of {} is empty",
            cache.path.display()
        )));
    }
    check_size(clf, cache)?;
    let mut probs = clf.probabilities(&(0..n).map(|i| cache.pixels(split, i)).collect::<Vec<_>>())?;
    let Some(stage) = clf.hands() else {
        return Ok(SplitAnswers {
            probs,
            hand_found: None,
        });
    };
    let hands = crate::hand_cache::open_or_build(
        cache,
        stage.nets(),
        &crate::progress::NoProgress,
        &crate::progress::Cancel::new(),
    )?;
    let offset = if split == Split::Train { 0 } else { cache.header.n_train };
    let hand_rows: Vec<_> = (0..n)
        .filter_map(|i| {
            let h = hands.entries.get(offset + i)?.hand.as_ref()?;
            Some((i, h.landmarks, h.handedness_right))
        })
        .collect();
    let mut found = vec![false; n];
    for i in stage.answer_hands(&hand_rows, &mut probs)? {
        found[i] = true;
    }
    Ok(SplitAnswers {
        probs,
        hand_found: Some(found),
    })
}

/// Accuracy on the photos of one source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceMetrics {
    /// The source's name ([`source_of`]), `-` for photos without one.
    pub source: String,
    /// Photos of this source.
    pub images: usize,
    /// Share of its photos whose true class is the most likely, the first on ties (0–1).
    pub accuracy: f64,
    /// Share of its photos whose true class is among the 3 most likely, ties in its favour (0–1).
    pub top3_accuracy: f64,
    /// Share of the photos with a hand found (models with a hand path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection_rate: Option<f64>,
}

/// Accuracy per source of photos, and the mean over sources: photos of one source (one
/// person, camera, place) are far from independent, so the mean over sources says more about
/// a new signer than the pooled figure.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceReport {
    /// Sorted by name.
    pub sources: Vec<SourceMetrics>,
    /// Accuracy over all the photos together (0–1).
    pub pooled_accuracy: f64,
    /// Top-3 accuracy over all the photos together (0–1).
    pub pooled_top3_accuracy: f64,
    /// Mean of the sources' accuracies (each source weighs the same).
    pub mean_accuracy_over_sources: f64,
    /// Mean of the sources' top-3 accuracies (each source weighs the same).
    pub mean_top3_over_sources: f64,
    /// Share of all photos with a hand found (models with a hand path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection_rate: Option<f64>,
}

/// The source of a photo: its file name's prefix before `__` (`<LETTER>/<source>__<file>`, the
/// layout of `asl-ood-dev`); `-` when the name has none.
pub fn source_of(file: &str) -> &str {
    let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
    name.split_once("__").map_or("-", |(source, _)| source)
}

impl SourceReport {
    /// From row-major `n × 29` probabilities, the true labels, each photo's file name and,
    /// for a model with a hand path, whether a hand was found in it.
    pub fn from_probs(probs: &[f32], labels: &[u8], files: &[&str], hand_found: Option<&[bool]>) -> SourceReport {
        let mut tally: std::collections::BTreeMap<&str, (usize, usize, usize)> = Default::default();
        let mut hands: std::collections::BTreeMap<&str, usize> = Default::default();
        for (i, ((p, &y), file)) in probs.chunks_exact(NUM_CLASSES).zip(labels).zip(files).enumerate() {
            let y = y as usize;
            let t = tally.entry(source_of(file)).or_default();
            *t = (
                t.0 + 1,
                t.1 + usize::from(predicted_class(p) == y),
                t.2 + usize::from(rank_of(p, y) < 3),
            );
            if let Some(found) = hand_found {
                *hands.entry(source_of(file)).or_default() += usize::from(found.get(i).copied().unwrap_or(false));
            }
        }
        let ratio = |a: usize, n: usize| if n == 0 { 0.0 } else { a as f64 / n as f64 };
        let sources: Vec<SourceMetrics> = tally
            .iter()
            .map(|(s, &(n, ok, top3))| SourceMetrics {
                source: s.to_string(),
                images: n,
                accuracy: ratio(ok, n),
                top3_accuracy: ratio(top3, n),
                detection_rate: hand_found.map(|_| ratio(hands.get(s).copied().unwrap_or(0), n)),
            })
            .collect();
        let total: (usize, usize, usize) = tally.values().fold((0, 0, 0), |a, t| (a.0 + t.0, a.1 + t.1, a.2 + t.2));
        let mean = |f: fn(&SourceMetrics) -> f64| {
            if sources.is_empty() {
                0.0
            } else {
                sources.iter().map(f).sum::<f64>() / sources.len() as f64
            }
        };
        SourceReport {
            pooled_accuracy: ratio(total.1, total.0),
            pooled_top3_accuracy: ratio(total.2, total.0),
            mean_accuracy_over_sources: mean(|s| s.accuracy),
            mean_top3_over_sources: mean(|s| s.top3_accuracy),
            detection_rate: hand_found.map(|_| ratio(hands.values().sum(), total.0)),
            sources,
        }
    }
}

/// [`evaluate_cache`] plus the accuracy per source of the photos ([`source_of`]).
pub fn evaluate_by_source(
    clf: &Classifier,
    cache: &Cache,
    split: Split,
) -> Result<(EvalReport, SourceReport), EvalError> {
    let answers = split_probabilities(clf, cache, split)?;
    let files: Vec<&str> = (0..cache.len(split)).map(|i| cache.file(split, i)).collect();
    Ok((
        EvalReport::from_probs(&answers.probs, cache.labels(split)),
        SourceReport::from_probs(
            &answers.probs,
            cache.labels(split),
            &files,
            answers.hand_found.as_deref(),
        ),
    ))
}

/// The folder to evaluate on: `data` itself, or for a zip its contents, extracted once (safely:
/// the dataset extractor's limits) under `home`'s `eval-data/<digest of the zip>`.
pub fn data_folder(home: &crate::AslHome, data: &Path) -> Result<PathBuf, EvalError> {
    if data.is_dir() {
        return Ok(data.to_path_buf());
    }
    let bad = |reason: String| EvalError::Extract {
        path: data.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(data).map_err(|e| bad(e.to_string()))?;
    let digest = {
        use sha2::Digest;
        crate::dataset::download::hex(&sha2::Sha256::digest(&bytes)[..8])
    };
    let dest = home.eval_data_dir(&digest);
    if !dest.is_dir() {
        let parent = crate::fsutil::parent_dir(&dest);
        std::fs::create_dir_all(parent).map_err(|e| bad(e.to_string()))?;
        crate::dataset::extract::extract_zip(data, &dest, &Default::default(), &crate::progress::NoProgress)
            .map_err(|e| bad(e.to_string()))?;
    }
    Ok(dest)
}

/// How hard the stress set pushes the images off the dataset's look.
pub fn stress_augment() -> AugmentConfig {
    AugmentConfig {
        strength: 1.0,
        mirror: 0.5,
        background: 0.8,
        erase: 0.0,
    }
}

/// Evaluate on a stress set built from a split: every image transformed once, deterministically
/// (seeded), with new backgrounds, colour casts, skin-tone shifts, scale and position.
pub fn evaluate_stress(clf: &Classifier, cache: &Cache, split: Split, seed: u64) -> Result<EvalReport, EvalError> {
    let n = cache.len(split);
    let s = clf.input_size();
    if n == 0 {
        return Err(EvalError::Empty(format!(
            "the {split:?} split of {} is empty",
            cache.path.display()
        )));
    }
    check_size(clf, cache)?;
    let plane = 3 * s * s;
    let cfg = stress_augment();
    let mut probs = Vec::with_capacity(n * NUM_CLASSES);
    for start in (0..n).step_by(MAX_BATCH) {
        let end = (start + MAX_BATCH).min(n);
        let mut batch = vec![0f32; (end - start) * plane];
        for (k, dst) in batch.chunks_exact_mut(plane).enumerate() {
            let i = start + k;
            let mut rng = SplitMix64::new(seed ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407));
            augment_into(cache.pixels(split, i), s, &cfg, &mut rng, dst);
        }
        probs.extend(forward_probs(clf.model(), clf.device(), batch, end - start, s)?);
    }
    Ok(EvalReport::from_probs(&probs, cache.labels(split)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_from_known_confusions() {
        // Three images of A (one mistaken for B), one of B.
        let mut probs = vec![0f32; 4 * NUM_CLASSES];
        probs[0] = 0.9; // A → A
        probs[NUM_CLASSES] = 0.8; // A → A
        probs[2 * NUM_CLASSES + 1] = 0.6; // A → B
        probs[2 * NUM_CLASSES] = 0.3;
        probs[3 * NUM_CLASSES + 1] = 0.7; // B → B
        let r = EvalReport::from_probs(&probs, &[0, 0, 0, 1]);
        assert!((r.accuracy - 0.75).abs() < 1e-9);
        assert_eq!(r.confusion[0][1], 1);
        let a = &r.per_class[0];
        assert!((a.precision - 1.0).abs() < 1e-9 && (a.recall - 2.0 / 3.0).abs() < 1e-9);
        let b = &r.per_class[1];
        assert!((b.precision - 0.5).abs() < 1e-9 && (b.recall - 1.0).abs() < 1e-9);
        assert!((r.macro_f1 - (0.8 + 2.0 / 3.0) / 2.0).abs() < 1e-9);
        assert!((r.top3_accuracy - 1.0).abs() < 1e-9);
        assert!(r.confusion_csv().lines().count() == NUM_CLASSES + 1);
        assert!(r.confusion_svg().starts_with("<svg"));
    }
}

#[cfg(test)]
mod source_tests {
    use super::*;

    #[test]
    fn accuracy_per_source_and_the_mean_over_sources() {
        assert_eq!(source_of("A/hackmit__150.jpg"), "hackmit");
        assert_eq!(source_of("nesrine__IMG_1.jpg"), "nesrine");
        assert_eq!(source_of("A/A12.jpg"), "-");
        // Three photos of source a (2 right), one of b (wrong, but second most likely).
        let one_hot = |c: usize, second: Option<usize>| {
            let mut p = vec![0.0f32; NUM_CLASSES];
            p[c] = 0.8;
            if let Some(s) = second {
                p[s] = 0.15;
            }
            p
        };
        let probs: Vec<f32> = [
            one_hot(0, None),
            one_hot(1, None),
            one_hot(5, None),
            one_hot(7, Some(3)),
        ]
        .concat();
        let labels = [0u8, 1, 2, 3];
        let files = ["A/a__1.jpg", "B/a__2.jpg", "C/a__3.jpg", "D/b__1.jpg"];
        let r = SourceReport::from_probs(&probs, &labels, &files, Some(&[true, false, true, true]));
        assert_eq!(r.sources.len(), 2);
        assert_eq!(r.sources[0].detection_rate, Some(2.0 / 3.0));
        assert_eq!(r.sources[1].detection_rate, Some(1.0));
        assert_eq!(r.detection_rate, Some(0.75));
        assert_eq!(
            SourceReport::from_probs(&probs, &labels, &files, None).detection_rate,
            None
        );
        assert_eq!((r.sources[0].source.as_str(), r.sources[0].images), ("a", 3));
        assert!((r.sources[0].accuracy - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!((r.sources[1].accuracy, r.sources[1].top3_accuracy), (0.0, 1.0));
        assert!((r.pooled_accuracy - 0.5).abs() < 1e-12);
        assert!((r.mean_accuracy_over_sources - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn ties_count_the_same_in_both_reports() {
        // Image 0: a tie between B and A, true class B: the answer is A (the first), so it is
        // wrong, and B is still in the top 3. Image 1: no tie, right.
        let mut tie = vec![0.0f32; NUM_CLASSES];
        (tie[0], tie[1]) = (0.5, 0.5);
        let mut clear = vec![0.0f32; NUM_CLASSES];
        clear[2] = 1.0;
        let probs = [tie, clear].concat();
        let labels = [1u8, 2];
        let pooled = EvalReport::from_probs(&probs, &labels);
        let by_source = SourceReport::from_probs(&probs, &labels, &["s__1.jpg", "s__2.jpg"], None);
        assert_eq!((pooled.accuracy, pooled.top3_accuracy), (0.5, 1.0));
        assert_eq!((by_source.pooled_accuracy, by_source.pooled_top3_accuracy), (0.5, 1.0));
        assert_eq!(by_source.sources[0].accuracy, 0.5);
    }
}

/// For each class, the probability vectors the model gives that class's images in a split:
/// the "bank" word-level evaluation ([`crate::decode_eval`]) draws letters from.
pub fn probability_bank(clf: &Classifier, cache: &Cache, split: Split) -> Result<Vec<Vec<Vec<f32>>>, EvalError> {
    let probs = split_probabilities(clf, cache, split)?.probs;
    let mut bank = vec![Vec::new(); NUM_CLASSES];
    for (p, &y) in probs.chunks_exact(NUM_CLASSES).zip(cache.labels(split)) {
        bank[y as usize].push(p.to_vec());
    }
    Ok(bank)
}
