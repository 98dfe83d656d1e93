//! MLflow over REST (tracking, artifact proxy, model registry), as verified against MLflow
//! 3.17 (`shared/docs/mlflow-rest.md`): string ids, empty fields left out, 400 for "already
//! exists" and for an unknown alias, artifacts through `/api/2.0/mlflow-artifacts`.
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

use super::*;
use crate::fsutil;

/// A tracking store on an MLflow server, over its REST API.
pub struct MlflowStore {
    base: String,
    http: Client,
    auth: Auth,
    /// Experiment name → id, and back.
    experiments: Mutex<HashMap<String, String>>,
}

enum Auth {
    None,
    Basic(String, String),
    Bearer(String),
}

const API: &str = "/api/2.0/mlflow";
const ARTIFACTS: &str = "/api/2.0/mlflow-artifacts/artifacts";

fn kv(map: &BTreeMap<String, String>) -> Vec<Value> {
    map.iter().map(|(k, v)| json!({"key": k, "value": v})).collect()
}

fn kv_back(v: &Value) -> BTreeMap<String, String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e["key"].as_str()?.to_string(), e["value"].as_str()?.to_string())))
        .collect()
}

/// MLflow returns NaN as the string "NaN" (and ±Infinity as strings or huge numbers).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0)
}

/// `mlflow-artifacts:/1/<run>/artifacts/model` (or with an authority) → `1/<run>/artifacts/model`.
pub fn artifact_proxy_path(uri: &str) -> Result<String, TrackingError> {
    let rest = uri.strip_prefix("mlflow-artifacts:").ok_or_else(|| {
        TrackingError::Invalid(format!(
            "artifact URI {uri:?} is not served by the MLflow artifact proxy (start the server with artifact proxying)"
        ))
    })?;
    let rest = match rest.strip_prefix("//") {
        Some(with_authority) => with_authority.split_once('/').map(|(_, p)| p).unwrap_or(""),
        None => rest,
    };
    Ok(rest.trim_start_matches('/').trim_end_matches('/').to_string())
}

impl MlflowStore {
    /// A store for the server at `uri`, with credentials from `MLFLOW_TRACKING_USERNAME` /
    /// `MLFLOW_TRACKING_PASSWORD` or `MLFLOW_TRACKING_TOKEN` (MLflow's own variables).
    pub fn from_env(uri: &str) -> Result<MlflowStore, TrackingError> {
        let auth = match (
            std::env::var("MLFLOW_TRACKING_USERNAME"),
            std::env::var("MLFLOW_TRACKING_PASSWORD"),
            std::env::var("MLFLOW_TRACKING_TOKEN"),
        ) {
            (Ok(u), Ok(p), _) => Auth::Basic(u, p),
            (_, _, Ok(t)) => Auth::Bearer(t),
            _ => Auth::None,
        };
        Self::new(uri, auth)
    }

    /// A store for the server at `uri`, without credentials. Nothing is sent until the first
    /// call.
    pub fn connect(uri: &str) -> Result<MlflowStore, TrackingError> {
        Self::new(uri, Auth::None)
    }

    fn new(uri: &str, auth: Auth) -> Result<MlflowStore, TrackingError> {
        let http = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .user_agent(concat!("asl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TrackingError::Network {
                url: uri.to_string(),
                source: e,
            })?;
        Ok(MlflowStore {
            base: uri.trim_end_matches('/').to_string(),
            http,
            auth,
            experiments: Mutex::new(HashMap::new()),
        })
    }

    fn authed(&self, rb: RequestBuilder) -> RequestBuilder {
        match &self.auth {
            Auth::None => rb,
            Auth::Basic(u, p) => rb.basic_auth(u, Some(p)),
            Auth::Bearer(t) => rb.bearer_auth(t),
        }
    }

    /// Send with a few retries (the server may be restarting). Requests that create something
    /// (`idempotent = false`) are retried only when the connection failed before sending, so a
    /// retry never makes a second run or version.
    fn send_with(
        &self,
        url: &str,
        idempotent: bool,
        make: impl Fn() -> RequestBuilder,
    ) -> Result<Response, TrackingError> {
        let mut delay = Duration::from_millis(300);
        for attempt in 1..=4 {
            match self.authed(make()).send() {
                Ok(r) if idempotent && (r.status().as_u16() == 429 || r.status().is_server_error()) && attempt < 4 => {}
                Ok(r) => return Ok(r),
                Err(e) if attempt == 4 || !(e.is_connect() || (idempotent && e.is_timeout())) => {
                    return Err(TrackingError::Network {
                        url: url.to_string(),
                        source: e,
                    });
                }
                Err(_) => {}
            }
            std::thread::sleep(delay);
            delay *= 2;
        }
        unreachable!("the last attempt returns")
    }

    fn send(&self, url: &str, make: impl Fn() -> RequestBuilder) -> Result<Response, TrackingError> {
        self.send_with(url, true, make)
    }

    /// Turn a non-2xx answer into an error; JSON bodies carry `error_code` and `message`.
    fn check(url: &str, r: Response) -> Result<Response, TrackingError> {
        if r.status().is_success() {
            return Ok(r);
        }
        let status = r.status().as_u16();
        let text = r.text().unwrap_or_default();
        let (code, message) = match serde_json::from_str::<Value>(&text) {
            Ok(v) if v.get("error_code").is_some() => (
                v["error_code"].as_str().unwrap_or("").to_string(),
                v["message"].as_str().unwrap_or("").to_string(),
            ),
            _ => (String::new(), text.chars().take(300).collect()),
        };
        if status == 404 && (code == "RESOURCE_DOES_NOT_EXIST" || code.is_empty()) && !message.contains("<html") {
            return Err(TrackingError::NotFound(format!("{url}: {message}")));
        }
        Err(TrackingError::Api {
            url: url.to_string(),
            status,
            code,
            message,
        })
    }

    fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, TrackingError> {
        let url = format!("{}{API}/{path}", self.base);
        let r = Self::check(&url, self.send(&url, || self.http.get(&url).query(query))?)?;
        r.json().map_err(|e| TrackingError::Network { url, source: e })
    }

    fn post(&self, path: &str, body: &Value) -> Result<Value, TrackingError> {
        // Creations are not idempotent; every other POST asl makes (log-batch with the same
        // values, update, alias, set-tag, search) is.
        let idempotent = !path.ends_with("/create");
        let url = format!("{}{API}/{path}", self.base);
        let r = Self::check(
            &url,
            self.send_with(&url, idempotent, || self.http.post(&url).json(body))?,
        )?;
        let text = r.text().map_err(|e| TrackingError::Network {
            url: url.clone(),
            source: e,
        })?;
        if text.trim().is_empty() {
            Ok(json!({}))
        } else {
            serde_json::from_str(&text).map_err(|e| TrackingError::Api {
                url,
                status: 200,
                code: "BAD_JSON".into(),
                message: e.to_string(),
            })
        }
    }

    fn experiment_id(&self, name: &str) -> Result<String, TrackingError> {
        if let Some(id) = self.experiments.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Ok(id.clone());
        }
        let id = match self.get("experiments/get-by-name", &[("experiment_name", name)]) {
            Ok(v) => {
                let id = v["experiment"]["experiment_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if v["experiment"]["lifecycle_stage"] == "deleted" {
                    self.post("experiments/restore", &json!({"experiment_id": id}))?;
                }
                id
            }
            Err(TrackingError::NotFound(_)) => match self.post("experiments/create", &json!({"name": name})) {
                Ok(v) => v["experiment_id"].as_str().unwrap_or_default().to_string(),
                // Another process created it first.
                Err(TrackingError::Api { code, .. }) if code == "RESOURCE_ALREADY_EXISTS" => self
                    .get("experiments/get-by-name", &[("experiment_name", name)])?["experiment"]["experiment_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        };
        self.experiments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), id.clone());
        Ok(id)
    }

    fn experiment_name(&self, id: &str) -> Result<String, TrackingError> {
        if let Some((n, _)) = self
            .experiments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(_, v)| *v == id)
        {
            return Ok(n.clone());
        }
        let v = self.get("experiments/get", &[("experiment_id", id)])?;
        let name = v["experiment"]["name"].as_str().unwrap_or_default().to_string();
        self.experiments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.clone(), id.to_string());
        Ok(name)
    }

    fn run_from(&self, run: &Value) -> Result<RunInfo, TrackingError> {
        let info = &run["info"];
        let data = &run["data"];
        let metrics = data["metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| Some((m["key"].as_str()?.to_string(), number(&m["value"])?)))
            .collect();
        let status = info["status"].as_str().unwrap_or("RUNNING");
        let status = RunStatus::parse(status).ok_or_else(|| {
            TrackingError::Invalid(format!(
                "the server reports run {} with status {status:?}, which MLflow does not define",
                info["run_id"]
            ))
        })?;
        Ok(RunInfo {
            run_id: info["run_id"].as_str().unwrap_or_default().to_string(),
            experiment: self.experiment_name(info["experiment_id"].as_str().unwrap_or_default())?,
            name: info["run_name"].as_str().unwrap_or_default().to_string(),
            status,
            start_time_ms: int(&info["start_time"]),
            end_time_ms: info.get("end_time").map(int),
            params: kv_back(&data["params"]),
            metrics,
            // MLflow's own bookkeeping tags stay out; the standard ones asl sets itself come
            // back, as from the local store.
            tags: kv_back(&data["tags"])
                .into_iter()
                .filter(|(k, _)| !k.starts_with("mlflow.") || super::is_standard_tag(k))
                .collect(),
        })
    }

    fn artifact_uri(&self, run_id: &str) -> Result<String, TrackingError> {
        let v = self.get("runs/get", &[("run_id", run_id)])?;
        v["run"]["info"]["artifact_uri"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| TrackingError::Invalid(format!("run {run_id} has no artifact_uri")))
    }

    fn version_from(v: &Value) -> ModelVersion {
        ModelVersion {
            name: v["name"].as_str().unwrap_or_default().to_string(),
            version: int(&v["version"]) as u32,
            run_id: v["run_id"].as_str().unwrap_or_default().to_string(),
            source: v["source"].as_str().unwrap_or_default().to_string(),
            created_ms: int(&v["creation_timestamp"]),
            tags: kv_back(&v["tags"]),
            aliases: v["aliases"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect(),
        }
    }

    /// Download every file under the proxy path `path` into `dest`, recursing into folders.
    fn download_tree(&self, path: &str, dest: &Path) -> Result<(), TrackingError> {
        let url = format!("{}{ARTIFACTS}", self.base);
        let listing: Value = Self::check(&url, self.send(&url, || self.http.get(&url).query(&[("path", path)]))?)?
            .json()
            .map_err(|e| TrackingError::Network {
                url: url.clone(),
                source: e,
            })?;
        for f in listing["files"].as_array().into_iter().flatten() {
            let name = f["path"].as_str().unwrap_or_default();
            let rel = safe_relative(name)?;
            let child = format!("{path}/{name}");
            if f["is_dir"].as_bool().unwrap_or(false) {
                self.download_tree(&child, &dest.join(rel))?;
                continue;
            }
            let file_url = format!("{}{ARTIFACTS}/{child}", self.base);
            let r = Self::check(&file_url, self.send(&file_url, || self.http.get(&file_url))?)?;
            let bytes = r.bytes().map_err(|e| TrackingError::Network {
                url: file_url.clone(),
                source: e,
            })?;
            if let Some(size) = f["file_size"]
                .as_u64()
                .or_else(|| f["file_size"].as_str().and_then(|s| s.parse().ok()))
                && size != bytes.len() as u64
            {
                return Err(TrackingError::Invalid(format!(
                    "{file_url}: got {} bytes, the listing says {size}",
                    bytes.len()
                )));
            }
            let to = dest.join(rel);
            let parent = fsutil::parent_dir(&to);
            fs::create_dir_all(parent).map_err(io_err(parent))?;
            fsutil::write_atomic(&to, &bytes).map_err(io_err(&to))?;
        }
        Ok(())
    }
}

impl TrackingStore for MlflowStore {
    fn describe(&self) -> String {
        format!("MLflow at {}", self.base)
    }

    fn create_run(
        &self,
        experiment: &str,
        run_name: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<RunInfo, TrackingError> {
        let exp = self.experiment_id(experiment)?;
        let v = self.post(
            "runs/create",
            &json!({"experiment_id": exp, "run_name": run_name, "start_time": now_ms(), "tags": kv(tags)}),
        )?;
        self.run_from(&v["run"])
    }

    fn log_params(&self, run_id: &str, params: &BTreeMap<String, String>) -> Result<(), TrackingError> {
        let items: Vec<(&String, &String)> = params.iter().collect();
        for chunk in items.chunks(100) {
            for (k, v) in chunk {
                check_key(k)?;
                if v.chars().count() > 6000 {
                    return Err(TrackingError::Invalid(format!(
                        "param {k} is longer than MLflow's 6000 characters"
                    )));
                }
            }
            let params: Vec<Value> = chunk.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
            self.post("runs/log-batch", &json!({"run_id": run_id, "params": params}))?;
        }
        Ok(())
    }

    fn log_metrics(&self, run_id: &str, metrics: &[MetricPoint]) -> Result<(), TrackingError> {
        for chunk in metrics.chunks(1000) {
            let mut items = Vec::with_capacity(chunk.len());
            for m in chunk {
                check_key(&m.key)?;
                if !m.value.is_finite() {
                    return Err(TrackingError::Invalid(format!(
                        "metric {} = {}: only finite values are logged",
                        m.key, m.value
                    )));
                }
                items.push(json!({"key": m.key, "value": m.value, "timestamp": m.timestamp_ms, "step": m.step}));
            }
            self.post("runs/log-batch", &json!({"run_id": run_id, "metrics": items}))?;
        }
        Ok(())
    }

    fn set_tags(&self, run_id: &str, tags: &BTreeMap<String, String>) -> Result<(), TrackingError> {
        let items: Vec<(&String, &String)> = tags.iter().collect();
        for chunk in items.chunks(100) {
            let tags: Vec<Value> = chunk.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
            self.post("runs/log-batch", &json!({"run_id": run_id, "tags": tags}))?;
        }
        Ok(())
    }

    fn log_inputs(&self, run_id: &str, inputs: &[super::DatasetInput]) -> Result<(), TrackingError> {
        let datasets: Vec<Value> = inputs
            .iter()
            .map(|d| {
                json!({
                    "tags": [{"key": "mlflow.data.context", "value": d.context}],
                    "dataset": {
                        "name": d.name,
                        "digest": d.digest,
                        "source_type": d.source_type,
                        "source": d.source,
                        "profile": d.profile,
                    },
                })
            })
            .collect();
        self.post("runs/log-inputs", &json!({"run_id": run_id, "datasets": datasets}))?;
        Ok(())
    }

    fn log_artifacts(&self, run_id: &str, local_dir: &Path, artifact_path: &str) -> Result<(), TrackingError> {
        let root = artifact_proxy_path(&self.artifact_uri(run_id)?)?;
        let prefix = safe_relative(artifact_path)?;
        for rel in files_under(local_dir)? {
            let from = local_dir.join(&rel);
            let bytes = fs::read(&from).map_err(io_err(&from))?;
            let rel = prefix.join(&rel);
            let segments: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().to_string())
                .collect();
            let url = format!("{}{ARTIFACTS}/{root}/{}", self.base, segments.join("/"));
            Self::check(
                &url,
                self.send(&url, || {
                    self.http
                        .put(&url)
                        .header("content-type", "application/octet-stream")
                        .body(bytes.clone())
                })?,
            )?;
        }
        Ok(())
    }

    fn finish_run(&self, run_id: &str, status: RunStatus) -> Result<(), TrackingError> {
        let v = self.post(
            "runs/update",
            &json!({"run_id": run_id, "status": status.as_str(), "end_time": now_ms()}),
        )?;
        // An unknown status is silently ignored by the server: check what it stored.
        match v["run_info"]["status"].as_str() {
            Some(s) if s == status.as_str() => Ok(()),
            other => Err(TrackingError::Invalid(format!(
                "run {run_id}: asked for status {}, the server kept {other:?}",
                status.as_str()
            ))),
        }
    }

    fn get_run(&self, run_id: &str) -> Result<RunInfo, TrackingError> {
        let v = self.get("runs/get", &[("run_id", run_id)])?;
        self.run_from(&v["run"])
    }

    fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<MetricPoint>, TrackingError> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let mut q = vec![("run_id", run_id), ("metric_key", key), ("max_results", "25000")];
            if !token.is_empty() {
                q.push(("page_token", &token));
            }
            let v = self.get("metrics/get-history", &q)?;
            out.extend(v["metrics"].as_array().into_iter().flatten().filter_map(|m| {
                Some(MetricPoint {
                    key: key.to_string(),
                    value: number(&m["value"])?,
                    step: int(&m["step"]),
                    timestamp_ms: int(&m["timestamp"]),
                })
            }));
            match v["next_page_token"].as_str() {
                Some(t) if !t.is_empty() => token = t.to_string(),
                _ => break,
            }
        }
        // The server does not order by step.
        out.sort_by_key(|m| (m.step, m.timestamp_ms));
        Ok(out)
    }

    fn search_runs(&self, experiment: &str, query: &RunQuery) -> Result<Vec<RunInfo>, TrackingError> {
        let exp = match self.experiment_id(experiment) {
            Ok(id) => id,
            Err(TrackingError::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut filters = Vec::new();
        if query.finished_only {
            filters.push("attributes.status = 'FINISHED'".to_string());
        }
        for (k, v) in &query.tags {
            check_key(k)?;
            filters.push(format!("tags.`{k}` = '{}'", v.replace('\'', "\\'")));
        }
        let mut body = json!({"experiment_ids": [exp], "filter": filters.join(" and "), "run_view_type": "ACTIVE_ONLY", "max_results": query.max_results.unwrap_or(1000).min(50_000)});
        if let Some(m) = &query.order_by_metric_desc {
            check_key(m)?;
            body["order_by"] = json!([format!("metrics.`{m}` DESC"), "attributes.start_time DESC"]);
        }
        let mut runs = Vec::new();
        loop {
            let v = self.post("runs/search", &body)?;
            for r in v["runs"].as_array().into_iter().flatten() {
                runs.push(self.run_from(r)?);
            }
            let done = query.max_results.is_some_and(|n| runs.len() >= n);
            match v["next_page_token"].as_str() {
                Some(t) if !t.is_empty() && !done && v["runs"].as_array().is_some_and(|a| !a.is_empty()) => {
                    body["page_token"] = json!(t)
                }
                _ => break,
            }
        }
        if let Some(n) = query.max_results {
            runs.truncate(n);
        }
        Ok(runs)
    }

    fn create_model_version(
        &self,
        model: &str,
        run_id: &str,
        artifact_path: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<ModelVersion, TrackingError> {
        match self.post(
            "registered-models/create",
            &json!({"name": model, "description": "American Sign Language fingerspelling classifier (asl)"}),
        ) {
            Ok(_) => {}
            Err(TrackingError::Api { code, .. }) if code == "RESOURCE_ALREADY_EXISTS" => {}
            Err(e) => return Err(e),
        }
        let rel = safe_relative(artifact_path)?;
        let uri = self.artifact_uri(run_id)?;
        let source = if rel.as_os_str().is_empty() {
            uri
        } else {
            format!("{uri}/{}", artifact_path.trim_matches('/'))
        };
        let v = self.post(
            "model-versions/create",
            &json!({"name": model, "source": source, "run_id": run_id, "tags": kv(tags)}),
        )?;
        let mut mv = Self::version_from(&v["model_version"]);
        // SQLite answers READY at once; other backends may need a moment.
        let mut status = v["model_version"]["status"].as_str().unwrap_or("READY").to_string();
        for _ in 0..60 {
            match status.as_str() {
                "READY" => return Ok(mv),
                "FAILED_REGISTRATION" => break,
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(500));
            let now = self.get(
                "model-versions/get",
                &[("name", model), ("version", &mv.version.to_string())],
            )?;
            status = now["model_version"]["status"].as_str().unwrap_or("").to_string();
            mv = Self::version_from(&now["model_version"]);
        }
        Err(TrackingError::Invalid(format!(
            "{model} v{}: registration ended as {status:?}, not READY",
            mv.version
        )))
    }

    fn list_versions(&self, model: &str) -> Result<Vec<ModelVersion>, TrackingError> {
        let filter = format!("name='{}'", model.replace('\'', "\\'"));
        let v = self.get(
            "model-versions/search",
            &[("filter", filter.as_str()), ("max_results", "10000")],
        )?;
        let mut versions: Vec<ModelVersion> = v["model_versions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(Self::version_from)
            .collect();
        // Search results carry no aliases; the registered model does.
        let aliases = match self.get("registered-models/get", &[("name", model)]) {
            Ok(m) => m["registered_model"]["aliases"].as_array().cloned().unwrap_or_default(),
            Err(TrackingError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        for mv in &mut versions {
            mv.aliases = aliases
                .iter()
                .filter(|a| int(&a["version"]) as u32 == mv.version)
                .filter_map(|a| a["alias"].as_str().map(str::to_string))
                .collect();
        }
        versions.sort_by_key(|v| v.version);
        Ok(versions)
    }

    fn set_alias(&self, model: &str, alias: &str, version: u32) -> Result<(), TrackingError> {
        check_alias(alias)?;
        self.post(
            "registered-models/alias",
            &json!({"name": model, "alias": alias, "version": version.to_string()}),
        )?;
        Ok(())
    }

    fn delete_alias(&self, model: &str, alias: &str) -> Result<(), TrackingError> {
        let url = format!("{}{API}/registered-models/alias", self.base);
        let body = json!({"name": model, "alias": alias});
        Self::check(&url, self.send(&url, || self.http.delete(&url).json(&body))?)?;
        Ok(())
    }

    fn alias_version(&self, model: &str, alias: &str) -> Result<Option<ModelVersion>, TrackingError> {
        match self.get("registered-models/alias", &[("name", model), ("alias", alias)]) {
            Ok(v) => Ok(Some(Self::version_from(&v["model_version"]))),
            Err(TrackingError::NotFound(_)) => Ok(None),
            // An unknown alias is a 400, not a 404.
            Err(TrackingError::Api { code, message, .. })
                if code == "INVALID_PARAMETER_VALUE" && message.contains("not found") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn set_version_tag(&self, model: &str, version: u32, key: &str, value: &str) -> Result<(), TrackingError> {
        check_key(key)?;
        self.post(
            "model-versions/set-tag",
            &json!({"name": model, "version": version.to_string(), "key": key, "value": value}),
        )?;
        Ok(())
    }

    fn download_version(&self, model: &str, version: u32, dest: &Path) -> Result<(), TrackingError> {
        let v = self.get(
            "model-versions/get-download-uri",
            &[("name", model), ("version", &version.to_string())],
        )?;
        let uri = v["artifact_uri"]
            .as_str()
            .ok_or_else(|| TrackingError::Invalid(format!("{model} v{version}: no download URI")))?;
        self.download_tree(&artifact_proxy_path(uri)?, dest)
    }
}
