//! `asl.Classifier`: asl_core::infer::Classifier over numpy arrays, PIL images and files.
//!
//! Images are read where they lie (the GIL is released while the model runs) and prepared by
//! the core's `Classifier::prepare_rgb` / `Classifier::decode`, bit for bit what the server
//! does: the CNN's input and, for a model with a hand path, the hand view its detector reads.
//! Probabilities come back as one N×29 float32 array.
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use asl_core::classes::{CLASSES, NUM_CLASSES};
use asl_core::infer::{Classifier as CoreClassifier, InferError, Prediction};
use asl_core::photo::DecodeBudget;
use asl_core::prep::PreparedPhoto;
use numpy::ndarray::Array2;
use numpy::{
    IntoPyArray, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use rayon::prelude::*;

use crate::error::{Error, Result, Stage};
use crate::word::{DecodeArgs, WordEstimate};

/// One image to classify, as the caller gave it.
enum Item {
    /// Rows `first..first + count` of the array at `array` (each `h × w × 3`).
    Array {
        array: usize,
        first: usize,
        count: usize,
        h: usize,
        w: usize,
    },
    File(PathBuf),
    /// Encoded image bytes (JPEG, PNG, …).
    Encoded(usize),
}

/// Images gathered under the GIL; the arrays stay borrowed (read-only) until this is dropped.
pub(crate) struct Gathered<'py> {
    arrays: Vec<PyReadonlyArrayDyn<'py, u8>>,
    encoded: Vec<Bound<'py, PyBytes>>,
    items: Vec<Item>,
}

/// What one input looks like, ready for the worker (no Python objects).
enum Input<'a> {
    Pixels { data: Cow<'a, [u8]>, h: usize, w: usize },
    File(&'a Path),
    Encoded(&'a [u8]),
}

impl<'py> Gathered<'py> {
    pub(crate) fn new() -> Self {
        Self {
            arrays: Vec::new(),
            encoded: Vec::new(),
            items: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items
            .iter()
            .map(|i| if let Item::Array { count, .. } = i { *count } else { 1 })
            .sum()
    }

    /// Add `x`: an image, a batch, or a list of those (one level).
    pub(crate) fn add(&mut self, x: &Bound<'py, PyAny>, top: bool) -> Result<()> {
        if let Ok(arr) = x.cast::<PyUntypedArray>() {
            return self.add_array(arr);
        }
        if let Ok(b) = x.cast::<PyBytes>() {
            self.encoded.push(b.clone());
            self.items.push(Item::Encoded(self.encoded.len() - 1));
            return Ok(());
        }
        if x.is_instance_of::<pyo3::types::PyString>() || x.hasattr("__fspath__")? {
            let p: PathBuf = x.extract()?;
            self.items.push(Item::File(p));
            return Ok(());
        }
        if is_pil_image(x)? {
            // PIL → RGB → numpy (alpha dropped, as asl_core's decoder does for RGBA files).
            let rgb = x.call_method1("convert", ("RGB",))?;
            let arr = x.py().import("numpy")?.call_method1("asarray", (rgb,))?;
            return self.add_array(arr.cast::<PyUntypedArray>().map_err(PyErr::from)?);
        }
        if top && (x.is_instance_of::<PyList>() || x.is_instance_of::<PyTuple>()) {
            for item in x.try_iter()? {
                let item = item?;
                if item.is_instance_of::<PyList>() || item.is_instance_of::<PyTuple>() {
                    return Err(Error::type_error(
                        "nested lists are not images: pass numpy arrays (np.asarray(...)), PIL images, paths or bytes",
                    ));
                }
                self.add(&item, false)?;
            }
            return Ok(());
        }
        Err(Error::type_error(format!(
            "cannot read an image from {}: pass a uint8 numpy array (H×W×3 or N×H×W×3), a PIL image, a path, encoded image bytes, or a list of those",
            x.get_type().name()?
        )))
    }

    fn add_array(&mut self, arr: &Bound<'py, PyUntypedArray>) -> Result<()> {
        let shape = arr.shape().to_vec();
        let dtype = arr.dtype();
        if !dtype.is_equiv_to(&numpy::dtype::<u8>(arr.py())) {
            let hint = if dtype.kind() == b'f' {
                "; images in [0, 1] can be converted with (x * 255).round().astype(np.uint8)"
            } else {
                "; convert with x.astype(np.uint8)"
            };
            return Err(Error::type_error(format!(
                "images must be uint8 (0–255) arrays, got dtype {}{hint}",
                dtype.str()?
            )));
        }
        let (count, h, w, c) = match shape.as_slice() {
            [h, w, c] => (1, *h, *w, *c),
            [n, h, w, c] => (*n, *h, *w, *c),
            _ => {
                return Err(Error::value_error(format!(
                    "images must have shape (H, W, 3) or (N, H, W, 3), got {shape:?}{}",
                    if shape.len() == 2 {
                        "; a grayscale image can be stacked to RGB with np.stack([x] * 3, axis=-1)"
                    } else {
                        ""
                    }
                )));
            }
        };
        if c != 3 {
            let hint = if c == 4 {
                "; drop the alpha channel with x[..., :3]"
            } else {
                ""
            };
            return Err(Error::value_error(format!(
                "images must have 3 channels (RGB) in the last axis, got shape {shape:?}{hint}"
            )));
        }
        if count > 0 && (h == 0 || w == 0) {
            return Err(Error::value_error(format!(
                "images must be at least 1×1 pixels, got shape {shape:?}"
            )));
        }
        let typed = arr.cast::<PyArrayDyn<u8>>().map_err(PyErr::from)?;
        let ro = typed
            .try_readonly()
            .map_err(|e| Error::value_error(format!("cannot read the array: {e}")))?;
        self.arrays.push(ro);
        if count > 0 {
            self.items.push(Item::Array {
                array: self.arrays.len() - 1,
                first: 0,
                count,
                h,
                w,
            });
        }
        Ok(())
    }

    /// The inputs as plain Rust data (zero-copy for C-contiguous arrays).
    fn inputs(&self) -> Vec<Input<'_>> {
        let mut out = Vec::with_capacity(self.len());
        for item in &self.items {
            match item {
                Item::Array {
                    array,
                    first,
                    count,
                    h,
                    w,
                } => {
                    let ro = &self.arrays[*array];
                    let plane = h * w * 3;
                    let all: Cow<'_, [u8]> = match ro.as_slice() {
                        Ok(s) if ro.is_c_contiguous() => Cow::Borrowed(s),
                        // Strided views (crops, flips, transposes): one copy in logical order.
                        _ => Cow::Owned(ro.as_array().iter().copied().collect()),
                    };
                    for k in *first..first + count {
                        let data = match &all {
                            Cow::Borrowed(s) => Cow::Borrowed(&s[k * plane..(k + 1) * plane]),
                            Cow::Owned(v) => Cow::Owned(v[k * plane..(k + 1) * plane].to_vec()),
                        };
                        out.push(Input::Pixels { data, h: *h, w: *w });
                    }
                }
                Item::File(p) => out.push(Input::File(p)),
                Item::Encoded(i) => out.push(Input::Encoded(self.encoded[*i].as_bytes())),
            }
        }
        out
    }

    /// A name per image for word estimates: the file name, else its position.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.len());
        for item in &self.items {
            match item {
                Item::Array { first, count, .. } => {
                    for _ in *first..first + count {
                        names.push(format!("[{}]", names.len()));
                    }
                }
                Item::File(p) => names.push(
                    p.file_name()
                        .map(|n| n.to_string_lossy().to_string())
                        .unwrap_or_else(|| p.display().to_string()),
                ),
                Item::Encoded(_) => names.push(format!("[{}]", names.len())),
            }
        }
        names
    }

    /// True when every input is a file path.
    pub(crate) fn only_files(&self) -> Option<Vec<PathBuf>> {
        self.items
            .iter()
            .map(|i| if let Item::File(p) = i { Some(p.clone()) } else { None })
            .collect()
    }
}

fn is_pil_image(x: &Bound<'_, PyAny>) -> PyResult<bool> {
    // Only look when PIL is already imported: a caller with a PIL image has imported it.
    let sys = x.py().import("sys")?;
    let Some(module) = sys
        .getattr("modules")?
        .call_method1("get", ("PIL.Image",))
        .ok()
        .filter(|m| !m.is_none())
    else {
        return Ok(false);
    };
    x.is_instance(&module.getattr("Image")?)
}

/// Decode (when encoded) and prepare one input for the model, exactly as the core does for
/// serving: the CNN's square input and, for a model with a hand path, the hand view.
fn prepare(input: &Input<'_>, clf: &CoreClassifier) -> std::result::Result<PreparedPhoto, InferError> {
    let budget = DecodeBudget::default();
    match input {
        Input::Pixels { data, h, w } => {
            let img =
                image::RgbImage::from_raw(*w as u32, *h as u32, data.to_vec()).ok_or_else(|| InferError::Image {
                    file: String::new(),
                    reason: "bad pixel buffer".into(),
                })?;
            Ok(clf.prepare_rgb(img))
        }
        Input::File(p) => {
            let bytes = std::fs::read(p).map_err(|source| InferError::Io {
                path: p.to_path_buf(),
                source,
            })?;
            clf.decode(&bytes, &budget).map_err(|e| InferError::Image {
                file: p.display().to_string(),
                reason: e.to_string(),
            })
        }
        Input::Encoded(bytes) => clf.decode(bytes, &budget).map_err(|e| InferError::Image {
            file: "<bytes>".into(),
            reason: e.to_string(),
        }),
    }
}

/// A trained model, ready to classify photos.
///
/// Load a model folder, or a version from the model registry::
///
///     clf = asl.Classifier.load(run.model_dir)      # a model folder
///     clf = asl.Classifier.load("champion")          # registry alias (or "3", "v3")
///     probs, labels = clf.predict(images)            # N×29 float32, N letters
///     clf.predict_word(["h.jpg", "i.jpg"]).text      # 'HI'
///
/// Thread-safe; ``predict`` releases the GIL while the model runs.
#[pyclass(frozen, module = "asl")]
pub struct Classifier {
    inner: Arc<CoreClassifier>,
}

impl Classifier {
    pub(crate) fn from_dir(dir: &Path, device: Option<&str>) -> Result<Self> {
        let clf = CoreClassifier::load_on(dir, device.unwrap_or(asl_core::model::default_device_name()))?;
        Ok(Self { inner: Arc::new(clf) })
    }

    /// Probabilities (`n × 29`, row-major) of the gathered images, computed without the GIL.
    pub(crate) fn probabilities(&self, py: Python<'_>, images: &Gathered<'_>) -> Result<Vec<f32>> {
        let inputs = images.inputs();
        let clf = &*self.inner;
        py.detach(|| -> Result<Vec<f32>> {
            let photos: Vec<PreparedPhoto> = inputs
                .par_iter()
                .map(|i| prepare(i, clf))
                .collect::<std::result::Result<_, _>>()?;
            let preds = clf.predict_prepared(&photos)?;
            Ok(preds.into_iter().flat_map(|p| p.probabilities).collect())
        })
    }
}

#[pymethods]
impl Classifier {
    /// Load a model folder, or a registered version.
    ///
    /// Args:
    ///     path_or_alias: a model folder (``weights.bpk`` + ``model.json``), or a version of
    ///         the registry's ``asl-fingerspelling`` model: an alias (``"champion"``,
    ///         ``"challenger"``) or a number (``"3"``, ``"v3"``), fetched from the tracking
    ///         store (local, or MLflow with ``MLFLOW_TRACKING_URI``) into ``$ASL_HOME/cache``.
    ///     home: state root (for the registry).
    ///     device: backend among those built in (default ``flex``, the CPU).
    ///
    /// Raises:
    ///     ModelError: not a model folder, or unreadable weights.
    ///     TrackingError: the registry has no such version or alias.
    #[staticmethod]
    #[pyo3(signature = (path_or_alias, *, home = None, device = None))]
    fn load(
        py: Python<'_>,
        path_or_alias: &Bound<'_, PyAny>,
        home: Option<PathBuf>,
        device: Option<&str>,
    ) -> Result<Self> {
        let given: PathBuf = path_or_alias
            .extract()
            .map_err(|_| Error::type_error("path_or_alias must be a str or os.PathLike"))?;
        let text = given.to_string_lossy().to_string();
        let looks_like_alias = !given.exists()
            && !text.contains(std::path::MAIN_SEPARATOR)
            && !text.starts_with('.')
            && !text.starts_with('~');
        let ws = crate::workspace(home);
        py.detach(|| {
            if !looks_like_alias {
                return Self::from_dir(&given, device);
            }
            let dir = ws
                .resolve_model(&asl_core::ModelRef::Registered(text.clone()))
                .map_err(|e| {
                    Error::stage(
                        Stage::Tracking,
                        format!("{text:?} is not a model folder, and the registry cannot resolve it: {e}"),
                    )
                })?;
            Self::from_dir(&dir, device)
        })
    }

    /// The most likely class of each image, scikit-learn style.
    ///
    /// Args:
    ///     x: a uint8 numpy array ``H×W×3`` (one image) or ``N×H×W×3`` (a batch), of any
    ///         size (resized as in training); a PIL image; a path; encoded image bytes; or a
    ///         list of those.
    ///
    /// Returns:
    ///     a numpy array of N class names (``"A"`` … ``"Z"``, ``"del"``, ``"nothing"``,
    ///     ``"space"``).
    ///
    /// Raises:
    ///     TypeError: not uint8, or not an image.
    ///     ValueError: not ``H×W×3`` / ``N×H×W×3``.
    ///     ModelError: a file cannot be read or decoded.
    fn predict<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> Result<Bound<'py, PyAny>> {
        let (_, labels) = self.predict_with_proba(py, x)?;
        Ok(py.import("numpy")?.call_method1("asarray", (labels,))?)
    }

    /// Class probabilities of each image, scikit-learn style: an ``N×29`` float32 array,
    /// columns in ``classes_`` (= ``asl.CLASSES``) order. ``x`` as for ``predict``.
    fn predict_proba<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> Result<Bound<'py, PyAny>> {
        Ok(self.predict_with_proba(py, x)?.0)
    }

    /// Both in one pass: ``(probabilities, labels)``, an ``N×29`` float32 array and a list of
    /// the N most likely classes. ``x`` as for ``predict``.
    fn predict_with_proba<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> Result<(Bound<'py, PyAny>, Vec<String>)> {
        let mut images = Gathered::new();
        images.add(x, true)?;
        let probs = self.probabilities(py, &images)?;
        drop(images);
        let labels: Vec<String> = probs
            .chunks_exact(NUM_CLASSES)
            .map(|row| Prediction::from_probs(row).class)
            .collect();
        let n = labels.len();
        let arr =
            Array2::from_shape_vec((n, NUM_CLASSES), probs).map_err(|e| Error::stage(Stage::Model, e.to_string()))?;
        Ok((arr.into_pyarray(py).into_any(), labels))
    }

    /// Read the word (or phrase) a sequence of photos spells, one sign per photo.
    ///
    /// ``space`` separates words, ``del`` deletes, ``nothing`` is ignored; a beam search over
    /// the bundled English word list corrects misread letters (``raw=True`` reads the most
    /// likely letters only).
    ///
    /// Args:
    ///     images: photos in spelling order — a list of paths, arrays, PIL images or bytes; an
    ///         ``N×H×W×3`` array; a zip of photos; or a folder of photos (zip and folder are read
    ///         in the natural order of the file names). Photos that cannot be decoded are
    ///         skipped and listed in ``skipped``.
    ///     raw, lexicon, prior_weight, beam_width, oov_min_confidence, oov_log_prior, top_k,
    ///         collapse_repeats: the decoder, as for ``asl.decode_word``.
    ///
    /// Returns:
    ///     WordEstimate
    #[pyo3(signature = (images, *, raw = false, lexicon = None, prior_weight = None, beam_width = None, oov_min_confidence = None, oov_log_prior = None, top_k = None, collapse_repeats = None))]
    #[allow(clippy::too_many_arguments)]
    fn predict_word(
        &self,
        py: Python<'_>,
        images: &Bound<'_, PyAny>,
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
        // A zip or a folder: the core's upload reader (natural order, skipped entries).
        let is_pathlike = images.is_instance_of::<pyo3::types::PyString>() || images.hasattr("__fspath__")?;
        if is_pathlike {
            let path: PathBuf = images.extract()?;
            let clf = &*self.inner;
            let answer = py.detach(|| -> Result<_> {
                let batch = if path.is_dir() {
                    crate::word::read_folder(&path)?
                } else if is_zip(&path) {
                    asl_core::word::read_zip_file(&path, &Default::default())?
                } else {
                    asl_core::word::read_files(std::slice::from_ref(&path))?
                };
                let lexicon = decode.lexicon()?;
                Ok(asl_core::word::predict_word(clf, &batch, decode.raw, &lexicon, &cfg)?)
            })?;
            return WordEstimate::from_answer(py, answer);
        }
        let mut gathered = Gathered::new();
        gathered.add(images, true)?;
        if let Some(paths) = gathered.only_files() {
            // Photo files: exactly `asl predict photo1.jpg photo2.jpg …`.
            let clf = &*self.inner;
            let answer = py.detach(|| -> Result<_> {
                let batch = asl_core::word::read_files(&paths)?;
                let lexicon = decode.lexicon()?;
                Ok(asl_core::word::predict_word(clf, &batch, decode.raw, &lexicon, &cfg)?)
            })?;
            return WordEstimate::from_answer(py, answer);
        }
        let names = gathered.names();
        let probs = self.probabilities(py, &gathered)?;
        drop(gathered);
        crate::word::estimate_from_probs(py, &names, &probs, &decode, &cfg)
    }

    /// Side of the square input the model was trained on, in pixels.
    #[getter]
    fn input_size(&self) -> usize {
        self.inner.input_size()
    }

    /// Class names in output order (as ``asl.CLASSES``).
    #[getter]
    fn classes(&self) -> Vec<&'static str> {
        CLASSES.to_vec()
    }

    /// Class names in ``predict_proba``'s column order, as a numpy array (scikit-learn's
    /// ``classes_``).
    #[getter]
    fn classes_<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        Ok(py.import("numpy")?.call_method1("asarray", (CLASSES.to_vec(),))?)
    }

    /// The model folder.
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.dir.clone()
    }

    /// The model card (``model.json``) as a dict: architecture, training configuration,
    /// metrics, lineage, history, …
    #[getter]
    fn card<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        crate::to_py(py, &self.inner.card)
    }

    fn __repr__(&self) -> String {
        let acc = self
            .inner
            .card
            .metrics
            .pointer("/validation/accuracy")
            .and_then(|v| v.as_f64())
            .map(|a| format!(", validation accuracy {:.2}%", a * 100.0))
            .unwrap_or_default();
        format!(
            "Classifier(name={:?}, input_size={}{acc}, path={:?})",
            self.inner.card.name,
            self.inner.input_size(),
            self.inner.dir.display().to_string()
        )
    }
}

/// A zip archive by its first bytes (a zip of photos may be named anything).
fn is_zip(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"PK\x03\x04"
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Classifier>()?;
    Ok(())
}
