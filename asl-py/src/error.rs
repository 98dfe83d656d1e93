//! The one place where asl-core's errors become Python exceptions.
//!
//! Every core error type converts into [`Error`]; `Error` converts into a `PyErr` of a small
//! hierarchy rooted at `asl.AslError`, one subclass per pipeline stage, carrying the core's
//! message unchanged (the core's messages already say what to do). Wrong argument types and
//! values are Python's own `TypeError` / `ValueError`.
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;

use asl_core::dataset::{DatasetError as CoreDatasetError, KaggleError, LayoutError};
use asl_core::decode::DecodeError;
use asl_core::eval::EvalError;
use asl_core::hpo::HpoError as CoreHpoError;
use asl_core::infer::InferError;
use asl_core::model::ModelError as CoreModelError;
use asl_core::pipeline::PipelineError;
use asl_core::prep::{PrepError as CorePrepError, PrepFlowError};
use asl_core::registry::RegistryError;
use asl_core::synth::SynthError;
use asl_core::tracking::TrackingError as CoreTrackingError;
use asl_core::train::TrainError as CoreTrainError;
use asl_core::word::WordError as CoreWordError;
use asl_core::workspace::WorkspaceError;

pyo3::create_exception!(
    asl,
    AslError,
    PyException,
    "Base class of every error asl raises (its message is asl-core's)."
);
pyo3::create_exception!(
    asl,
    DatasetError,
    AslError,
    "Collecting or reading a dataset failed (Kaggle, archive, folder layout, synthetic data)."
);
pyo3::create_exception!(
    asl,
    PrepError,
    AslError,
    "Building or opening the prepared image cache failed."
);
pyo3::create_exception!(
    asl,
    ModelError,
    AslError,
    "Loading a model folder or running the model failed."
);
pyo3::create_exception!(
    asl,
    TrainError,
    AslError,
    "Training failed (bad configuration, checkpoint, resume)."
);
pyo3::create_exception!(asl, HpoError, AslError, "The hyper-parameter search failed.");
pyo3::create_exception!(
    asl,
    TrackingError,
    AslError,
    "The tracking store or the model registry failed."
);
pyo3::create_exception!(
    asl,
    WordError,
    AslError,
    "Reading a word from photos or probabilities failed."
);

/// Which exception class an error becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Dataset,
    Prep,
    Model,
    Train,
    Hpo,
    Tracking,
    Word,
    /// Not tied to a stage (a worker thread that panicked, for example).
    Other,
}

/// An error on its way to Python.
#[derive(Debug)]
pub enum Error {
    /// A core error: its stage and its message.
    Core(Stage, String),
    /// A wrong argument type (Python `TypeError`).
    Type(String),
    /// A wrong argument value (Python `ValueError`).
    Value(String),
    /// Already a Python exception (from a callback, `check_signals`, …).
    Py(PyErr),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn type_error(msg: impl Into<String>) -> Self {
        Error::Type(msg.into())
    }
    pub fn value_error(msg: impl Into<String>) -> Self {
        Error::Value(msg.into())
    }
    pub fn stage(stage: Stage, msg: impl Into<String>) -> Self {
        Error::Core(stage, msg.into())
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e {
            Error::Core(stage, msg) => match stage {
                Stage::Dataset => DatasetError::new_err(msg),
                Stage::Prep => PrepError::new_err(msg),
                Stage::Model => ModelError::new_err(msg),
                Stage::Train => TrainError::new_err(msg),
                Stage::Hpo => HpoError::new_err(msg),
                Stage::Tracking => TrackingError::new_err(msg),
                Stage::Word => WordError::new_err(msg),
                Stage::Other => AslError::new_err(msg),
            },
            Error::Type(msg) => PyTypeError::new_err(msg),
            Error::Value(msg) => PyValueError::new_err(msg),
            Error::Py(e) => e,
        }
    }
}

impl From<PyErr> for Error {
    fn from(e: PyErr) -> Self {
        Error::Py(e)
    }
}

/// `impl From<CoreError> for Error` mapping to one stage, keeping the core's message.
macro_rules! stage_of {
    ($($ty:ty => $stage:ident),* $(,)?) => {
        $(impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Error::Core(Stage::$stage, e.to_string())
            }
        })*
    };
}

stage_of! {
    CoreDatasetError => Dataset,
    KaggleError => Dataset,
    LayoutError => Dataset,
    SynthError => Dataset,
    CorePrepError => Prep,
    InferError => Model,
    CoreModelError => Model,
    EvalError => Model,
    CoreHpoError => Hpo,
    CoreTrackingError => Tracking,
    RegistryError => Tracking,
    CoreWordError => Word,
    DecodeError => Word,
}

impl From<CoreTrainError> for Error {
    fn from(e: CoreTrainError) -> Self {
        match e {
            // A dict that is not a configuration is a bad argument, as for any other function.
            CoreTrainError::UnreadableConfig(_) | CoreTrainError::UnknownConfigKey { .. } => {
                Error::Value(e.to_string())
            }
            _ => Error::Core(Stage::Train, e.to_string()),
        }
    }
}

impl From<PrepFlowError> for Error {
    fn from(e: PrepFlowError) -> Self {
        // Finding the data is the dataset's business; caching it is prep's.
        let stage = match e {
            PrepFlowError::Dataset(_) | PrepFlowError::Layout(_) => Stage::Dataset,
            PrepFlowError::Prep(_) => Stage::Prep,
        };
        Error::Core(stage, e.to_string())
    }
}

impl From<asl_core::tracking::run::TrackedTrainError> for Error {
    fn from(e: asl_core::tracking::run::TrackedTrainError) -> Self {
        use asl_core::tracking::run::TrackedTrainError as T;
        let stage = match e {
            T::Tracking(_) => Stage::Tracking,
            T::Infer(_) => Stage::Model,
            T::Train(_) | T::Io { .. } => Stage::Train,
        };
        Error::Core(stage, e.to_string())
    }
}

/// The class of a use-case error: its cause's stage (an argument out of range is a `ValueError`).
fn stage_of(e: &WorkspaceError) -> Stage {
    use asl_core::tracking::run::TrackedTrainError as T;
    match e {
        WorkspaceError::Kaggle(_)
        | WorkspaceError::Dataset(_)
        | WorkspaceError::Layout(_)
        | WorkspaceError::Synth(_) => Stage::Dataset,
        WorkspaceError::Prep(_)
        | WorkspaceError::NoHeldOut
        | WorkspaceError::NoTrainingCache { .. }
        | WorkspaceError::HandCache(_) => Stage::Prep,
        WorkspaceError::Word(_) => Stage::Word,
        WorkspaceError::Io { .. } | WorkspaceError::Monitor(_) => Stage::Other,
        WorkspaceError::NoReference(_) => Stage::Model,
        WorkspaceError::Train(T::Tracking(_)) => Stage::Tracking,
        WorkspaceError::Train(T::Infer(_)) => Stage::Model,
        WorkspaceError::Train(_) => Stage::Train,
        WorkspaceError::Hpo(_) => Stage::Hpo,
        WorkspaceError::Tracking(_) | WorkspaceError::Registry(_) => Stage::Tracking,
        WorkspaceError::Infer(_) | WorkspaceError::Eval(_) | WorkspaceError::NoModel(_) => Stage::Model,
        WorkspaceError::Invalid(_) => Stage::Other,
    }
}

impl From<WorkspaceError> for Error {
    fn from(e: WorkspaceError) -> Self {
        match e {
            WorkspaceError::Invalid(msg) => Error::Value(msg),
            e => Error::Core(stage_of(&e), e.to_string()),
        }
    }
}

impl From<PipelineError> for Error {
    fn from(e: PipelineError) -> Self {
        // The class of the cause; the message of the pipeline (which step, what is kept).
        let stage = match &e {
            PipelineError::Collect(_) => Stage::Dataset,
            PipelineError::Prep(w) | PipelineError::Register(w) => stage_of(w),
            PipelineError::Hpo(_) => Stage::Hpo,
            PipelineError::NothingToRegister(_) => Stage::Tracking,
        };
        Error::Core(stage, e.to_string())
    }
}

/// Register the exception classes on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("AslError", py.get_type::<AslError>())?;
    m.add("DatasetError", py.get_type::<DatasetError>())?;
    m.add("PrepError", py.get_type::<PrepError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("TrainError", py.get_type::<TrainError>())?;
    m.add("HpoError", py.get_type::<HpoError>())?;
    m.add("TrackingError", py.get_type::<TrackingError>())?;
    m.add("WordError", py.get_type::<WordError>())?;
    Ok(())
}
