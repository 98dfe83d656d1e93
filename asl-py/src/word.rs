//! `asl.decode_word` and `asl.WordEstimate`: asl_core::decode and asl_core::word.
use std::borrow::Cow;
use std::path::{Path, PathBuf};

use asl_core::classes::NUM_CLASSES;
use asl_core::decode::{DecodeConfig, Lexicon};
use asl_core::infer::Prediction;
use asl_core::word::{PhotoBatch, WordAnswer};
use numpy::{PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::error::{Error, Result};

/// The decoder's arguments (`DecodeConfig` overrides, raw, word list).
pub(crate) struct DecodeArgs {
    pub raw: bool,
    pub lexicon: Option<PathBuf>,
    pub prior_weight: Option<f32>,
    pub beam_width: Option<usize>,
    pub oov_min_confidence: Option<f32>,
    pub oov_log_prior: Option<f32>,
    pub top_k: Option<usize>,
    pub collapse_repeats: Option<bool>,
}

impl DecodeArgs {
    /// `DecodeConfig::default()` (the tuned defaults) with the given overrides.
    pub fn config(&self) -> Result<DecodeConfig> {
        let mut c = DecodeConfig::default();
        if let Some(v) = self.prior_weight {
            c.prior_weight = v;
        }
        if let Some(v) = self.beam_width {
            if v == 0 {
                return Err(Error::value_error("beam_width must be at least 1"));
            }
            c.beam_width = v;
        }
        if let Some(v) = self.oov_min_confidence {
            c.oov_min_confidence = v;
        }
        if let Some(v) = self.oov_log_prior {
            c.oov_log_prior = v;
        }
        if let Some(v) = self.top_k {
            c.top_k = v;
        }
        if let Some(v) = self.collapse_repeats {
            c.collapse_repeats = v;
        }
        Ok(c)
    }

    /// The bundled English word list, or the one at `lexicon`.
    pub fn lexicon(&self) -> Result<Cow<'static, Lexicon>> {
        Ok(match &self.lexicon {
            Some(p) => Cow::Owned(Lexicon::load(p)?),
            None => Cow::Borrowed(Lexicon::bundled()),
        })
    }
}

/// The photos of a folder in the natural order of their names (as a zip upload is read);
/// dot files and non-images are skipped.
pub(crate) fn read_folder(dir: &Path) -> Result<PhotoBatch> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| Error::stage(crate::error::Stage::Word, format!("{}: {e}", dir.display())))?;
    let names: Vec<String> = rd
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    let (ordered, skipped) = asl_core::decode::order_entries(names);
    let paths: Vec<PathBuf> = ordered.iter().map(|n| dir.join(n)).collect();
    let mut batch = asl_core::word::read_files(&paths)?;
    batch.skipped = skipped;
    Ok(batch)
}

/// The most likely class of one photo.
#[pyclass(frozen, get_all, module = "asl")]
#[derive(Clone)]
pub struct Letter {
    /// The photo (file name, or ``[i]`` for the i-th array).
    file: String,
    /// ``"A"`` … ``"Z"``, ``"del"``, ``"nothing"`` or ``"space"``.
    label: String,
    confidence: f32,
}

#[pymethods]
impl Letter {
    fn __repr__(&self) -> String {
        format!(
            "Letter(file={:?}, label={:?}, confidence={:.3})",
            self.file, self.label, self.confidence
        )
    }
}

/// A candidate reading and its total log score (higher is better).
#[pyclass(frozen, get_all, module = "asl")]
#[derive(Clone)]
pub struct Alternative {
    text: String,
    score: f32,
}

#[pymethods]
impl Alternative {
    fn __repr__(&self) -> String {
        format!("Alternative(text={:?}, score={:.3})", self.text, self.score)
    }
}

/// The word (or phrase) a sequence of photos spells.
#[pyclass(frozen, module = "asl")]
pub struct WordEstimate {
    /// Words in upper case joined by single spaces; empty when nothing was read.
    #[pyo3(get)]
    text: String,
    /// In [0, 1]: the posterior probability of ``text`` among the readings found (raw
    /// decoding: the product of the letters' probabilities).
    #[pyo3(get)]
    confidence: f32,
    /// Best readings first; ``text`` is the first.
    #[pyo3(get)]
    alternatives: Vec<Alternative>,
    /// The most likely class of every photo, in order.
    #[pyo3(get)]
    letters: Vec<Letter>,
    /// ``(file, reason)`` of every photo that was left out.
    #[pyo3(get)]
    skipped: Vec<(String, String)>,
    /// The three most likely ``(class, probability)`` of every classified photo.
    #[pyo3(get)]
    top3: Vec<Vec<(String, f32)>>,
    /// False when some photos were skipped.
    #[pyo3(get)]
    complete: bool,
    json: String,
}

impl WordEstimate {
    pub(crate) fn from_answer(_py: Python<'_>, a: WordAnswer) -> Result<WordEstimate> {
        let json = serde_json::to_string(&a).unwrap_or_default();
        let e = a.estimate;
        Ok(WordEstimate {
            text: e.text,
            confidence: e.confidence,
            alternatives: e
                .alternatives
                .into_iter()
                .map(|x| Alternative {
                    text: x.text,
                    score: x.score,
                })
                .collect(),
            letters: e
                .letters
                .into_iter()
                .map(|l| Letter {
                    file: l.file,
                    label: l.class,
                    confidence: l.confidence,
                })
                .collect(),
            skipped: e.skipped.into_iter().map(|s| (s.file, s.reason)).collect(),
            top3: a.top3,
            complete: a.complete,
            json,
        })
    }
}

#[pymethods]
impl WordEstimate {
    /// The estimate as plain data, in the shape of ``asl predict --json`` (``letters`` items
    /// have a ``class`` key).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?.call_method1("loads", (self.json.as_str(),))
    }

    fn __str__(&self) -> String {
        self.text.clone()
    }

    fn __repr__(&self) -> String {
        let alts: Vec<&str> = self
            .alternatives
            .iter()
            .skip(1)
            .take(3)
            .map(|a| a.text.as_str())
            .collect();
        format!(
            "WordEstimate(text={:?}, confidence={:.3}, letters={}, alternatives={:?})",
            self.text,
            self.confidence,
            self.letters.len(),
            alts
        )
    }
}

/// The word from an `n × 29` probability matrix, through asl_core::word::estimate.
pub(crate) fn estimate_from_probs(
    py: Python<'_>,
    names: &[String],
    probs: &[f32],
    decode: &DecodeArgs,
    cfg: &DecodeConfig,
) -> Result<WordEstimate> {
    let answer = py.detach(|| -> Result<WordAnswer> {
        let preds: Vec<Prediction> = probs.chunks_exact(NUM_CLASSES).map(Prediction::from_probs).collect();
        let lexicon = decode.lexicon()?;
        Ok(asl_core::word::estimate(
            names,
            &preds,
            Vec::new(),
            decode.raw,
            &lexicon,
            cfg,
        )?)
    })?;
    WordEstimate::from_answer(py, answer)
}

/// Read the word a sequence of per-photo class probabilities spells.
///
/// ``space`` separates words, ``del`` deletes the previous character, ``nothing`` is ignored,
/// and every other row adds its letter. The lexicon decoder (default) corrects letters
/// towards dictionary words with a beam search, but lets a confidently spelled unknown word
/// (a name) through; ``raw=True`` reads the most likely class of each row.
///
/// Args:
///     probs: ``N×29`` (or ``29``) probabilities, columns in ``asl.CLASSES`` order; float32
///         (read in place) or float64.
///     names: a name per row (default ``[0]``, ``[1]``, …), echoed in ``letters``.
///     raw: argmax letters only, no lexicon.
///     lexicon: a word list file (``word<TAB>count`` per line) instead of the bundled one.
///     prior_weight: weight of the word-frequency log prior (default 0.5).
///     beam_width: prefixes kept per letter (default 32).
///     oov_min_confidence: an unknown word whose letters all have at least this probability
///         wins (default 0.6).
///     oov_log_prior: log prior of other unknown words (default -22).
///     top_k: readings returned in ``alternatives`` (default 5).
///     collapse_repeats: merge runs of the same class (video frames).
///
/// Returns:
///     WordEstimate
///
/// Raises:
///     TypeError: not a float array.
///     ValueError: not ``N×29``, or ``names`` of another length.
///     WordError: a negative or non-finite probability, or an unreadable word list.
#[pyfunction]
#[pyo3(name = "decode_word", signature = (probs, names = None, *, raw = false, lexicon = None, prior_weight = None, beam_width = None, oov_min_confidence = None, oov_log_prior = None, top_k = None, collapse_repeats = None))]
#[allow(clippy::too_many_arguments)]
fn py_decode_word(
    py: Python<'_>,
    probs: &Bound<'_, PyAny>,
    names: Option<Vec<String>>,
    raw: bool,
    lexicon: Option<PathBuf>,
    prior_weight: Option<f32>,
    beam_width: Option<usize>,
    oov_min_confidence: Option<f32>,
    oov_log_prior: Option<f32>,
    top_k: Option<usize>,
    collapse_repeats: Option<bool>,
) -> Result<WordEstimate> {
    let decode = DecodeArgs {
        raw,
        lexicon,
        prior_weight,
        beam_width,
        oov_min_confidence,
        oov_log_prior,
        top_k,
        collapse_repeats,
    };
    let cfg = decode.config()?;
    let arr = as_numpy_array(py, probs)?;
    let rows = probability_rows(&arr)?;
    let dtype = arr.dtype();
    let values: Cow<'_, [f32]>;
    let f32_guard;
    if dtype.is_equiv_to(&numpy::dtype::<f32>(py)) {
        f32_guard = arr
            .cast::<PyArrayDyn<f32>>()
            .map_err(PyErr::from)?
            .try_readonly()
            .map_err(|e| Error::value_error(format!("cannot read probs: {e}")))?;
        values = match f32_guard.as_slice() {
            Ok(s) if f32_guard.is_c_contiguous() => Cow::Borrowed(s),
            _ => Cow::Owned(f32_guard.as_array().iter().copied().collect()),
        };
    } else if dtype.is_equiv_to(&numpy::dtype::<f64>(py)) {
        let a = arr
            .cast::<PyArrayDyn<f64>>()
            .map_err(PyErr::from)?
            .try_readonly()
            .map_err(|e| Error::value_error(format!("cannot read probs: {e}")))?;
        values = Cow::Owned(a.as_array().iter().map(|&v| v as f32).collect());
    } else {
        return Err(Error::type_error(format!(
            "probs must be a float32 or float64 array, got dtype {}",
            dtype.str()?
        )));
    }
    let names = row_names(names, rows)?;
    estimate_from_probs(py, &names, &values, &decode, &cfg)
}

/// `probs` as a numpy array: arrays are used as they are; lists and other array-likes go
/// through `numpy.asarray`.
fn as_numpy_array<'py>(py: Python<'py>, probs: &Bound<'py, PyAny>) -> Result<Bound<'py, PyUntypedArray>> {
    Ok(match probs.cast::<PyUntypedArray>() {
        Ok(a) => a.clone(),
        Err(_) => py
            .import("numpy")?
            .call_method1("asarray", (probs,))?
            .cast_into::<PyUntypedArray>()
            .map_err(PyErr::from)?,
    })
}

/// The rows of an `N×29` (or `29`) probability array; any other shape is a ValueError.
fn probability_rows(arr: &Bound<'_, PyUntypedArray>) -> Result<usize> {
    let shape = arr.shape().to_vec();
    match shape.as_slice() {
        [c] if *c == NUM_CLASSES => Ok(1),
        [n, c] if *c == NUM_CLASSES => Ok(*n),
        _ => Err(Error::value_error(format!(
            "probs must have shape (N, {NUM_CLASSES}) or ({NUM_CLASSES},), got {shape:?}"
        ))),
    }
}

/// A name per row: the caller's (one per row, else a ValueError), or `[0]`, `[1]`, ….
fn row_names(names: Option<Vec<String>>, rows: usize) -> Result<Vec<String>> {
    match names {
        Some(n) if n.len() != rows => Err(Error::value_error(format!(
            "{} names for {rows} rows of probabilities",
            n.len()
        ))),
        Some(n) => Ok(n),
        None => Ok((0..rows).map(|i| format!("[{i}]")).collect()),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Letter>()?;
    m.add_class::<Alternative>()?;
    m.add_class::<WordEstimate>()?;
    m.add_function(wrap_pyfunction!(py_decode_word, m)?)?;
    Ok(())
}
