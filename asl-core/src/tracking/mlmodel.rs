//! MLflow's model format around an asl model folder: an `MLmodel` file with a
//! `python_function` flavour whose loader is in the asl Python package
//! (`asl.mlflow_model`), plus the environment files MLflow reads. With it,
//! `mlflow.pyfunc.load_model("models:/asl-fingerspelling@champion")` predicts, the Models tab
//! shows the flavour, and `mlflow models serve --env-manager local` serves the model where the
//! package is installed.
use std::path::Path;

use crate::fsutil;

/// The Python distribution whose `asl.mlflow_model` loads the model.
pub const PYTHON_DISTRIBUTION: &str = "asl-fingerspelling";
/// The module MLflow imports (`_load_pyfunc(path)`).
pub const LOADER_MODULE: &str = "asl.mlflow_model";
/// Python the wheel supports at least (abi3).
const PYTHON_VERSION: &str = "3.10";

/// Writes `MLmodel`, `python_env.yaml` and `requirements.txt` into the model folder `dir`
/// (atomically each). `run_id` and `created` (seconds since the epoch) describe its run.
pub fn write(dir: &Path, run_id: &str, created: u64) -> std::io::Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    let requirement = format!("{PYTHON_DISTRIBUTION}=={version}");
    fsutil::write_atomic(&dir.join("MLmodel"), mlmodel(run_id, created, version).as_bytes())?;
    fsutil::write_atomic(
        &dir.join("python_env.yaml"),
        format!("python: \"{PYTHON_VERSION}\"\nbuild_dependencies:\n  - pip\ndependencies:\n  - -r requirements.txt\n")
            .as_bytes(),
    )?;
    fsutil::write_atomic(&dir.join("requirements.txt"), format!("{requirement}\n").as_bytes())
}

fn mlmodel(run_id: &str, created: u64, version: &str) -> String {
    // MLflow reads MLmodel with yaml.safe_load; values are quoted where YAML could misread them.
    format!(
        "artifact_path: {artifact}\n\
         flavors:\n\
         \x20 python_function:\n\
         \x20   loader_module: {LOADER_MODULE}\n\
         \x20   env:\n\
         \x20     virtualenv: python_env.yaml\n\
         \x20   python_version: \"{PYTHON_VERSION}\"\n\
         \x20 asl:\n\
         \x20   asl_version: \"{version}\"\n\
         \x20   model_card: model.json\n\
         model_uuid: \"{uuid}\"\n\
         run_id: \"{run_id}\"\n\
         utc_time_created: \"{time}\"\n",
        artifact = crate::registry::MODEL_ARTIFACT,
        uuid = uuid_of(run_id, created),
        time = crate::clock::rfc3339(created),
    )
}

/// A stable 32-hex-digit id (MLflow's model_uuid is a uuid4 hex; ours derives from the run).
fn uuid_of(run_id: &str, created: u64) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{run_id}/{created}").as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlmodel_names_the_python_loader_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "abc123", 1_764_000_000).unwrap();
        let text = std::fs::read_to_string(dir.path().join("MLmodel")).unwrap();
        assert!(
            text.contains("  python_function:\n    loader_module: asl.mlflow_model\n"),
            "{text}"
        );
        assert!(text.contains("\n      virtualenv: python_env.yaml\n"), "{text}");
        assert!(
            text.contains("run_id: \"abc123\"\n") && text.starts_with("artifact_path: model\n"),
            "{text}"
        );
        let uuid = text
            .lines()
            .find_map(|l| l.strip_prefix("model_uuid: "))
            .unwrap()
            .trim_matches('"');
        assert!(uuid.len() == 32 && uuid.bytes().all(|b| b.is_ascii_hexdigit()));
        let req = std::fs::read_to_string(dir.path().join("requirements.txt")).unwrap();
        assert_eq!(req, format!("asl-fingerspelling=={}\n", env!("CARGO_PKG_VERSION")));
        assert!(
            std::fs::read_to_string(dir.path().join("python_env.yaml"))
                .unwrap()
                .contains("-r requirements.txt")
        );
    }
}
