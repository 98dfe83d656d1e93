//! How a failed command ends: its exit status, and with `--json` one object on stdout with a
//! stable `error` code that a script can branch on (the message may change; the code does not).
use std::error::Error;

use asl_core::dataset::{DatasetError, ExtractError, KaggleError};
use asl_core::workspace::WorkspaceError;

/// Exit statuses (also in `asl --help` and README).
pub const EXIT_STATUSES: &str = "Exit status: 0 success; 1 failure (the message says why; with --json \
an object {\"error\": CODE, \"message\": …} on stdout); 2 usage error (bad flags); 3 `asl status \
--exit-code` found the local dataset outdated or missing; 130 interrupted (Ctrl-C).";

pub const FAILURE: u8 = 1;
pub const OUTDATED: u8 = 3;
pub const INTERRUPTED: u8 = 130;

/// `asl status --exit-code`: the dataset needs `asl collect` (not an error to print).
#[derive(Debug)]
pub struct Outdated;

impl std::fmt::Display for Outdated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the local copy of the dataset is outdated or missing")
    }
}

impl Error for Outdated {}

/// The stable code and the exit status of an error.
pub fn classify(e: &(dyn Error + 'static)) -> (&'static str, u8) {
    if e.is::<Outdated>() {
        return ("outdated", OUTDATED);
    }
    let code = code(e);
    (code, if code == "cancelled" { INTERRUPTED } else { FAILURE })
}

fn code(e: &(dyn Error + 'static)) -> &'static str {
    use asl_core::pipeline::PipelineError as P;
    if let Some(w) = e.downcast_ref::<WorkspaceError>() {
        return workspace_code(w);
    }
    if let Some(p) = e.downcast_ref::<P>() {
        return match p {
            P::Collect(d) => dataset_code(d),
            P::Prep(w) | P::Register(w) => workspace_code(w),
            P::Hpo(h) => hpo_code(h),
            P::NothingToRegister(_) => "nothing_to_register",
        };
    }
    if let Some(d) = e.downcast_ref::<DatasetError>() {
        return dataset_code(d);
    }
    if let Some(k) = e.downcast_ref::<KaggleError>() {
        return kaggle_code(k);
    }
    if let Some(h) = e.downcast_ref::<asl_core::hpo::HpoError>() {
        return hpo_code(h);
    }
    if let Some(p) = e.downcast_ref::<asl_core::prep::PrepError>() {
        return prep_code(p);
    }
    if let Some(t) = e.downcast_ref::<asl_core::train::TrainError>() {
        use asl_core::train::TrainError as T;
        return match t {
            T::UnreadableConfig(_) | T::UnknownConfigKey { .. } => "invalid_argument",
            _ => "train",
        };
    }
    if e.is::<asl_core::registry::RegistryError>() {
        return "registry";
    }
    if e.is::<asl_core::tracking::TrackingError>() {
        return "tracking";
    }
    if e.is::<asl_core::infer::InferError>() || e.is::<asl_core::eval::EvalError>() {
        return "model";
    }
    if e.is::<asl_core::word::WordError>() || e.is::<asl_core::decode::DecodeError>() {
        return "word";
    }
    if e.is::<asl_core::monitor::MonitorError>() {
        return "monitor";
    }
    if e.is::<asl_core::pipeline::DurationError>() || e.is::<serde_json::Error>() {
        return "invalid_argument";
    }
    if e.is::<std::io::Error>() {
        return "io";
    }
    "error"
}

fn workspace_code(w: &WorkspaceError) -> &'static str {
    use asl_core::tracking::run::TrackedTrainError as T;
    match w {
        WorkspaceError::Kaggle(k) => kaggle_code(k),
        WorkspaceError::Dataset(d) => dataset_code(d),
        WorkspaceError::Layout(_) | WorkspaceError::Synth(_) => "dataset",
        WorkspaceError::Prep(p) => prep_code(p),
        WorkspaceError::NoHeldOut | WorkspaceError::NoTrainingCache { .. } => "prep",
        WorkspaceError::HandCache(asl_core::hand_cache::HandCacheError::Cancelled) => "cancelled",
        WorkspaceError::HandCache(_) => "prep",
        WorkspaceError::Train(T::Train(asl_core::train::TrainError::Cancelled(_))) => "cancelled",
        WorkspaceError::Train(T::Tracking(_)) => "tracking",
        WorkspaceError::Train(_) => "train",
        WorkspaceError::Hpo(h) => hpo_code(h),
        WorkspaceError::Tracking(_) => "tracking",
        WorkspaceError::Registry(_) => "registry",
        WorkspaceError::Infer(_) | WorkspaceError::Eval(_) => "model",
        WorkspaceError::NoModel(_) => "no_model",
        WorkspaceError::Invalid(_) => "invalid_argument",
        WorkspaceError::Word(_) => "word",
        WorkspaceError::Io { .. } => "io",
        WorkspaceError::Monitor(_) => "monitor",
        WorkspaceError::NoReference(_) => "no_reference",
    }
}

fn dataset_code(d: &DatasetError) -> &'static str {
    match d {
        DatasetError::Kaggle(k) => kaggle_code(k),
        DatasetError::Extract(ExtractError::NotZip { .. }) => "archive_unreadable",
        DatasetError::Extract(_) => "archive_rejected",
        DatasetError::NotCollected(_) => "not_collected",
        _ => "dataset",
    }
}

fn kaggle_code(k: &KaggleError) -> &'static str {
    match k {
        KaggleError::Unauthorized { .. } | KaggleError::Credentials { .. } => "kaggle_unauthorized",
        KaggleError::NotFound { .. } => "kaggle_not_found",
        KaggleError::BadRef(_) => "bad_dataset_reference",
        KaggleError::BadEnvironment(_) | KaggleError::BadBaseUrl(_) => "invalid_argument",
        KaggleError::GaveUp { .. } | KaggleError::Network { .. } | KaggleError::DownloadGaveUp { .. } => {
            "kaggle_unavailable"
        }
        KaggleError::Api { status, .. } if *status >= 500 || *status == 429 => "kaggle_unavailable",
        KaggleError::Checksum(_) => "download_corrupt",
        KaggleError::Cancelled => "cancelled",
        _ => "kaggle",
    }
}

fn hpo_code(h: &asl_core::hpo::HpoError) -> &'static str {
    use asl_core::hpo::HpoError as H;
    match h {
        H::Cancelled => "cancelled",
        H::BadSpace(_) | H::UnknownSampler(_) => "invalid_argument",
        H::Incompatible { .. } => "study_incompatible",
        H::Tracking(_) => "tracking",
        _ => "hpo",
    }
}

fn prep_code(p: &asl_core::prep::PrepError) -> &'static str {
    match p {
        asl_core::prep::PrepError::Cancelled => "cancelled",
        _ => "prep",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_cause() {
        let no_model = WorkspaceError::NoModel("/m".into());
        assert_eq!(classify(&no_model), ("no_model", FAILURE));
        let refused: Box<dyn Error> = Box::new(DatasetError::Kaggle(KaggleError::Unauthorized {
            status: 401,
            message: "no".into(),
        }));
        assert_eq!(classify(&*refused), ("kaggle_unauthorized", FAILURE));
        let busy = WorkspaceError::Kaggle(KaggleError::Api {
            status: 503,
            message: "busy".into(),
        });
        assert_eq!(classify(&busy).0, "kaggle_unavailable");
        assert_eq!(
            classify(&asl_core::hpo::HpoError::Cancelled),
            ("cancelled", INTERRUPTED)
        );
        assert_eq!(classify(&Outdated), ("outdated", OUTDATED));
        let text: Box<dyn Error> = "give photos to classify".into();
        assert_eq!(classify(&*text), ("error", FAILURE));
    }
}
