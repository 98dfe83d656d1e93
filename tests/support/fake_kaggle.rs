//! A local fake of Kaggle's dataset API, as the official clients (kaggle 2.2.5, kagglehub 1.0.3)
//! use it, plus a fake signed-URL storage host, with injectable faults. See
//! `shared/docs/kaggle-api.md` (§1 base URLs, §2 RPC conventions, §4 dataset RPCs, §5 downloads,
//! §7 errors, §9 Kaggle's own stubs).
//!
//! The server runs on its own tokio runtime in a background thread, so plain `#[test]` fns and
//! blocking clients can use it. Dropping the [`FakeKaggle`] stops it.
//!
//! Routes (under [`FakeKaggle::base_url`]):
//! * `POST /api/v1/datasets.DatasetApiService/{GetDataset,DownloadDataset,ListDatasetFiles}`
//! * `POST /api/v1/api.v1.DiagnosticsService/Hello`
//! * `GET  /storage/{owner}/{slug}/{version}/archive.zip?X-Goog-Signature=…` (the signed URL that
//!   DownloadDataset redirects to; it needs no auth but a signature this server handed out)
//! * anything else: 404 `{"code":"404","message":"Not found"}`
//!
//! ```ignore
//! let kaggle = FakeKaggle::start();
//! kaggle.publish("grassknoted/asl-alphabet", 1, zip_bytes);
//! kaggle.push_fault(Fault::CutAfter(1000)); // the next archive GET breaks after 1000 bytes
//! // ... point the client at kaggle.base_url() and run it ...
//! assert_eq!(kaggle.stats().storage_range_gets, 1); // it resumed
//! ```
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::IntoFuture;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::header::{self, IntoHeaderName};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::{IncomingStream, Listener};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest, Md5};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Lifetime that the signed URLs claim (`X-Goog-Expires`), as seen on real Kaggle URLs.
const SIGNED_URL_EXPIRES: u64 = 259_199;
/// 2018-04-22T18:15:06Z: the timestamp of version 1.
const VERSION_1_UNIX: u64 = 1_524_420_906;
/// Each later version is this much newer.
const VERSION_STEP_SECS: u64 = 30 * 86_400;

/// A fault to inject. RPC faults are consumed by the next RPC (any method), storage faults by the
/// next storage GET, each kind in the order pushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The next RPC answers this HTTP status with `{"code":N,"message":"..."}`.
    RpcStatus(u16),
    /// The next RPC answers HTTP 200 with `{"code":404,"message":"..."}` (§2, §7).
    RpcErrorIn200,
    /// The next RPC answers 429 with `Retry-After: <secs>`.
    RateLimited { retry_after_secs: u64 },
    /// The next storage GET answers this HTTP status (with a GCS-style XML body).
    StorageStatus(u16),
    /// The next storage GET that would send bytes advertises the full length, sends only this
    /// many body bytes and drops the connection (if the body is longer than that).
    CutAfter(usize),
    /// Applied at once: the signed URL handed out by the latest DownloadDataset is expired, so
    /// a storage GET with it answers 403 (`ExpiredToken`). Before any DownloadDataset, the next
    /// URL handed out is born expired.
    ExpiredUrl,
    /// The next storage GET that would send bytes advertises the full length, sends this
    /// many body bytes and then stops sending, keeping the connection open (for an hour).
    StallAfter(usize),
    /// The next storage GET that would send bytes advertises a wrong md5 in `x-goog-hash`.
    WrongMd5,
}

/// What the server has seen. Counts include requests answered with a fault or an error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub get_dataset: usize,
    pub download_rpc: usize,
    pub list_files: usize,
    pub hello: usize,
    /// Storage GETs (HEADs are counted in `storage_heads` only).
    pub storage_gets: usize,
    /// Storage GETs that carried a `Range` header.
    pub storage_range_gets: usize,
    pub storage_heads: usize,
    /// Body bytes that storage GETs sent (or, for `CutAfter`, sent before the cut).
    pub bytes_served: u64,
    /// `Authorization` of the latest RPC (`None` if it had none).
    pub last_authorization: Option<String>,
    /// `Range` / `If-Range` of the latest storage GET.
    pub last_range: Option<String>,
    pub last_if_range: Option<String>,
    /// `Authorization` of the latest storage GET: a client should not send its Kaggle
    /// credentials to the storage host (the real one is another host).
    pub last_storage_authorization: Option<String>,
}

/// A running fake server. Dropping it shuts the server down and frees the port.
pub struct FakeKaggle {
    addr: SocketAddr,
    base_url: String,
    shared: Shared,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeKaggle {
    /// Starts on a free port of 127.0.0.1. Panics if that fails (test setup).
    pub fn start() -> FakeKaggle {
        match FakeKaggle::start_on("127.0.0.1:0") {
            Ok(server) => server,
            Err(e) => panic!("fake Kaggle: cannot start on 127.0.0.1: {e}"),
        }
    }

    /// Starts on the given address, e.g. `"127.0.0.1:7777"` (what `KAGGLE_API_ENVIRONMENT=TEST`
    /// points at, through `localhost`).
    pub fn start_on(addr: &str) -> std::io::Result<FakeKaggle> {
        // Bind here, so that a busy port is reported to the caller.
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        // A wildcard bind is reached through loopback.
        let host = match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let base_url = format!("http://{}", SocketAddr::new(host, addr.port()));

        let shared: Shared = Arc::new(Mutex::new(Inner::new(base_url.clone())));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fake-kaggle-worker")
            .enable_all()
            .build()?;
        let listener = {
            let _in_runtime = runtime.enter();
            CutListener(TcpListener::from_std(listener)?)
        };
        let app = router(shared.clone()).into_make_service_with_connect_info::<CutSwitch>();
        let (shutdown, stop) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("fake-kaggle".into()).spawn(move || {
            runtime.block_on(async move {
                tokio::select! {
                    result = axum::serve(listener, app).into_future() => {
                        if let Err(e) = result {
                            eprintln!("fake Kaggle: server stopped: {e}");
                        }
                    }
                    _ = stop => {}
                }
            });
            // Dropping the runtime cancels the connection tasks, which closes their sockets.
            runtime.shutdown_timeout(Duration::from_secs(2));
        })?;
        Ok(FakeKaggle {
            addr,
            base_url,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash; the client appends `/api/v1/...`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds (or replaces) `version` of `owner_slug` ("owner/slug"); the highest version is the
    /// current one.
    pub fn publish(&self, owner_slug: &str, version: u32, archive: Vec<u8>) {
        let (owner, slug) = match owner_slug.split_once('/') {
            Some((o, s)) if !o.is_empty() && !s.is_empty() && !s.contains('/') => (o, s),
            _ => panic!("fake Kaggle: publish wants \"owner/slug\", got {owner_slug:?}"),
        };
        assert!(version > 0, "fake Kaggle: version numbers start at 1");
        let archive = Archive::new(archive, version);
        let mut inner = lock(&self.shared);
        let dataset = inner.datasets.entry((owner.to_string(), slug.to_string())).or_default();
        dataset.versions.insert(version, archive);
    }

    pub fn push_fault(&self, fault: Fault) {
        let mut inner = lock(&self.shared);
        match fault {
            Fault::RpcStatus(_) | Fault::RpcErrorIn200 | Fault::RateLimited { .. } => inner.rpc_faults.push_back(fault),
            Fault::StorageStatus(_) | Fault::CutAfter(_) | Fault::StallAfter(_) | Fault::WrongMd5 => {
                inner.storage_faults.push_back(fault)
            }
            Fault::ExpiredUrl => match inner.last_signature {
                Some(signature) => {
                    inner.expired.insert(signature);
                }
                None => inner.expire_next = true,
            },
        }
    }

    /// When `Some`, every RPC without exactly this `Authorization` header gets 401.
    /// Storage GETs never need auth.
    pub fn require_auth(&self, header_value: Option<&str>) {
        lock(&self.shared).required_auth = header_value.map(str::to_string);
    }

    pub fn stats(&self) -> Stats {
        lock(&self.shared).stats.clone()
    }

    pub fn reset_stats(&self) {
        lock(&self.shared).stats = Stats::default();
    }

    /// Prints one line per request to stderr.
    pub fn set_logging(&self, on: bool) {
        lock(&self.shared).log = on;
    }
}

impl Drop for FakeKaggle {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shared state

type Shared = Arc<Mutex<Inner>>;

struct Inner {
    base_url: String,
    datasets: BTreeMap<(String, String), Dataset>,
    rpc_faults: VecDeque<Fault>,
    storage_faults: VecDeque<Fault>,
    required_auth: Option<String>,
    /// Signature number → the storage path it was issued for.
    issued: HashMap<u64, String>,
    expired: HashSet<u64>,
    last_signature: Option<u64>,
    expire_next: bool,
    stats: Stats,
    log: bool,
}

impl Inner {
    fn new(base_url: String) -> Inner {
        Inner {
            base_url,
            datasets: BTreeMap::new(),
            rpc_faults: VecDeque::new(),
            storage_faults: VecDeque::new(),
            required_auth: None,
            issued: HashMap::new(),
            expired: HashSet::new(),
            last_signature: None,
            expire_next: false,
            stats: Stats::default(),
            log: false,
        }
    }

    fn dataset(&self, owner: &str, slug: &str) -> Option<&Dataset> {
        self.datasets.get(&(owner.to_string(), slug.to_string()))
    }
}

/// A handler that panicked must not take the other tests' requests down with it.
fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
struct Dataset {
    versions: BTreeMap<u32, Archive>,
}

impl Dataset {
    fn current(&self) -> Option<(u32, &Archive)> {
        self.versions.iter().next_back().map(|(v, a)| (*v, a))
    }
}

struct Archive {
    bytes: Bytes,
    md5: [u8; 16],
    crc32c: u32,
    /// Both `lastUpdated` (RPC) and `Last-Modified` (storage) derive from this.
    unix: u64,
}

impl Archive {
    fn new(bytes: Vec<u8>, version: u32) -> Archive {
        let md5: [u8; 16] = Md5::digest(&bytes).into();
        let crc32c = crc32c(&bytes);
        let unix = VERSION_1_UNIX + u64::from(version - 1) * VERSION_STEP_SECS;
        Archive {
            bytes: Bytes::from(bytes),
            md5,
            crc32c,
            unix,
        }
    }

    fn etag(&self) -> String {
        let hex: String = self.md5.iter().map(|b| format!("{b:02x}")).collect();
        format!("\"{hex}\"")
    }
}

// ---------------------------------------------------------------------------------------------
// Routing

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/api/v1/{service}/{method}", post(rpc))
        .route("/storage/{owner}/{slug}/{version}/{file}", get(storage))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), log_request))
        .with_state(shared)
}

async fn log_request(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let line = format!("{} {}", request.method(), request.uri());
    let range = request
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|r| format!(" [Range: {r}]"));
    let response = next.run(request).await;
    if lock(&shared).log {
        eprintln!(
            "fake Kaggle: {line}{} -> {}",
            range.unwrap_or_default(),
            response.status().as_u16()
        );
    }
    response
}

/// Kaggle's stubs answer unknown routes like this (note the code as a string).
async fn not_found() -> Response {
    let body = r#"{"code":"404","message":"Not found"}"#;
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// RPCs: POST /api/v1/{service}/{method} with a JSON object body

#[derive(Clone, Copy)]
enum Rpc {
    GetDataset,
    DownloadDataset,
    ListDatasetFiles,
    Hello,
}

async fn rpc(
    State(shared): State<Shared>,
    Path((service, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rpc = match (service.as_str(), method.as_str()) {
        ("datasets.DatasetApiService", "GetDataset") => Rpc::GetDataset,
        ("datasets.DatasetApiService", "DownloadDataset") => Rpc::DownloadDataset,
        ("datasets.DatasetApiService", "ListDatasetFiles") => Rpc::ListDatasetFiles,
        ("api.v1.DiagnosticsService", "Hello") => Rpc::Hello,
        _ => return not_found().await,
    };
    handle_rpc(&mut lock(&shared), rpc, &headers, &body)
}

fn handle_rpc(inner: &mut Inner, rpc: Rpc, headers: &HeaderMap, body: &[u8]) -> Response {
    let stats = &mut inner.stats;
    match rpc {
        Rpc::GetDataset => stats.get_dataset += 1,
        Rpc::DownloadDataset => stats.download_rpc += 1,
        Rpc::ListDatasetFiles => stats.list_files += 1,
        Rpc::Hello => stats.hello += 1,
    }
    stats.last_authorization = header_string(headers, header::AUTHORIZATION);

    // Injected faults come first, then authentication, then the request itself.
    if let Some(fault) = inner.rpc_faults.pop_front() {
        return rpc_fault(fault);
    }
    if let Some(required) = &inner.required_auth
        && headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes) != Some(required.as_bytes())
    {
        return rpc_error(401, "Unauthenticated: missing or wrong Authorization header");
    }
    let result = parse_request(body).and_then(|request| match rpc {
        Rpc::GetDataset => get_dataset(inner, &request),
        Rpc::DownloadDataset => download_dataset(inner, &request),
        Rpc::ListDatasetFiles => list_dataset_files(inner, &request),
        Rpc::Hello => Ok(json_response(StatusCode::OK, &json!({"userName": "tester"}))),
    });
    result.unwrap_or_else(|RpcError(code, message)| rpc_error(code, &message))
}

/// An RPC that fails with `{"code":N,"message":...}` and HTTP status N.
struct RpcError(u16, String);

fn fail(code: u16, message: impl Into<String>) -> RpcError {
    RpcError(code, message.into())
}

fn rpc_fault(fault: Fault) -> Response {
    match fault {
        Fault::RpcStatus(code) => rpc_error(code, &format!("Injected error (HTTP {code})")),
        // §2: clients must look at "code" even when the HTTP status is 200.
        Fault::RpcErrorIn200 => json_response(
            StatusCode::OK,
            &json!({"code": 404, "message": "Injected: Dataset not found (in a 200)"}),
        ),
        Fault::RateLimited { retry_after_secs } => {
            let mut response = rpc_error(429, "Too many requests");
            put(response.headers_mut(), header::RETRY_AFTER, retry_after_secs);
            response
        }
        // Storage faults never reach the RPC queue.
        other => rpc_error(500, &format!("fake Kaggle: misplaced fault {other:?}")),
    }
}

/// POST GetDataset {"ownerSlug","datasetSlug"} → ApiDataset (§4.1).
fn get_dataset(inner: &Inner, request: &Value) -> Result<Response, RpcError> {
    let (owner, slug) = (
        string_field(request, "ownerSlug")?,
        string_field(request, "datasetSlug")?,
    );
    let dataset = inner.dataset(owner, slug).ok_or_else(dataset_not_found)?;
    let (current, archive) = dataset.current().ok_or_else(dataset_not_found)?;
    let versions: Vec<Value> = dataset
        .versions
        .iter()
        .rev() // newest first: old clients read versions[0] as the latest
        .map(|(number, archive)| {
            json!({
                "versionNumber": number,
                "creationDate": iso_timestamp(archive.unix),
                "creatorName": "Akash Nagaraj",
                "creatorRef": owner,
                "versionNotes": format!("Version {number}"),
                "status": "Ready",
            })
        })
        .collect();
    let body = json!({
        "id": 23079,
        "ref": format!("{owner}/{slug}"),
        "title": "ASL Alphabet",
        "subtitle": "Image data set for alphabets in the American Sign Language",
        "creatorName": "Akash Nagaraj",
        "creatorUrl": owner,
        // int64 as a string, as proto3 JSON may send it. Deliberately not the archive size:
        // the real API reports the uncompressed size (§4.1).
        "totalBytes": (archive.bytes.len() as u64 * 2 + 12_345).to_string(),
        "url": format!("https://www.kaggle.com/datasets/{owner}/{slug}"),
        "lastUpdated": iso_timestamp(archive.unix),
        "downloadCount": "123456",
        "isPrivate": false,
        "isFeatured": false,
        "licenseName": "GPL 2",
        "description": "The data set is a collection of images of alphabets from the American Sign Language.",
        "ownerName": "Akash Nagaraj",
        "ownerRef": owner,
        "kernelCount": 321,
        "viewCount": "1000000",
        "voteCount": 2000,
        "currentVersionNumber": current,
        "usabilityRating": 0.875,
        "tags": [{"ref": "computer-vision", "name": "computer vision", "fullPath": "technique > computer vision"}],
        "files": [],
        "versions": versions,
        // Keys no client knows: a lenient parser skips them.
        "totalBytesNullable": archive.bytes.len().to_string(),
        "fakeServerOnly": {"nested": [1, "two", null, {"three": 3.0}]},
    });
    Ok(json_response(StatusCode::OK, &body))
}

/// POST DownloadDataset {"ownerSlug","datasetSlug","datasetVersionNumber"?} → 302 to a signed
/// storage URL (§4.6, §5). Each call hands out a fresh signature.
fn download_dataset(inner: &mut Inner, request: &Value) -> Result<Response, RpcError> {
    let (owner, slug) = (
        string_field(request, "ownerSlug")?,
        string_field(request, "datasetSlug")?,
    );
    let version = version_field(request)?;
    let dataset = inner.dataset(owner, slug).ok_or_else(dataset_not_found)?;
    let version = match version {
        Some(v) if dataset.versions.contains_key(&v) => v,
        Some(v) => return Err(fail(404, format!("Dataset version {v} not found"))),
        None => dataset.current().ok_or_else(dataset_not_found)?.0,
    };

    let path = format!("/storage/{owner}/{slug}/{version}/archive.zip");
    let signature = inner.issued.len() as u64 + 1;
    inner.issued.insert(signature, path.clone());
    inner.last_signature = Some(signature);
    if std::mem::take(&mut inner.expire_next) {
        inner.expired.insert(signature);
    }
    let location = format!(
        "{}{path}?X-Goog-Signature={}&X-Goog-Expires={SIGNED_URL_EXPIRES}",
        inner.base_url,
        signature_text(signature)
    );
    let mut response = StatusCode::FOUND.into_response();
    put(response.headers_mut(), header::LOCATION, location);
    put(response.headers_mut(), header::CONTENT_LENGTH, 0);
    Ok(response)
}

/// POST ListDatasetFiles → one page of a few fake files (§4.2).
fn list_dataset_files(inner: &Inner, request: &Value) -> Result<Response, RpcError> {
    let (owner, slug) = (
        string_field(request, "ownerSlug")?,
        string_field(request, "datasetSlug")?,
    );
    let version = version_field(request)?;
    let dataset = inner.dataset(owner, slug).ok_or_else(dataset_not_found)?;
    let archive = match version {
        Some(v) => dataset
            .versions
            .get(&v)
            .ok_or_else(|| fail(404, format!("Dataset version {v} not found")))?,
        None => dataset.current().ok_or_else(dataset_not_found)?.1,
    };
    let names = [
        ("asl_alphabet_train/asl_alphabet_train/A/A1.jpg", 15_360),
        ("asl_alphabet_train/asl_alphabet_train/B/B1.jpg", 14_848),
        ("asl_alphabet_train/asl_alphabet_train/nothing/nothing1.jpg", 12_288),
        ("asl_alphabet_test/asl_alphabet_test/A_test.jpg", 15_104),
    ];
    let files: Vec<Value> = names
        .iter()
        .map(|(name, bytes)| {
            json!({
                "ref": format!("{owner}/{slug}/{name}"),
                "datasetRef": format!("{owner}/{slug}"),
                "ownerRef": owner,
                "name": name,
                "creationDate": iso_timestamp(archive.unix),
                "description": "",
                "fileType": ".jpg",
                "url": format!("https://www.kaggle.com/datasets/{owner}/{slug}?select={name}"),
                "totalBytes": bytes.to_string(),
                "columns": [],
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"datasetFiles": files, "nextPageToken": ""}),
    ))
}

/// The body is a JSON object; an empty body counts as `{}`.
fn parse_request(body: &[u8]) -> Result<Value, RpcError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(fail(400, "The request body must be a JSON object")),
        Err(e) => Err(fail(400, format!("Bad JSON in the request body: {e}"))),
    }
}

fn string_field<'a>(request: &'a Value, key: &str) -> Result<&'a str, RpcError> {
    match request.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(fail(400, format!("{key} is required"))),
        Some(_) => Err(fail(400, format!("{key} must be a string"))),
    }
}

/// `datasetVersionNumber`: absent, null or 0 (the proto default) means "current". A number or a
/// numeric string is accepted.
fn version_field(request: &Value) -> Result<Option<u32>, RpcError> {
    let bad = || fail(400, "datasetVersionNumber must be a positive integer");
    let number = match request.get("datasetVersionNumber") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(bad)?,
        Some(Value::String(s)) => s.trim().parse::<u64>().map_err(|_| bad())?,
        Some(_) => return Err(bad()),
    };
    match number {
        0 => Ok(None),
        n => u32::try_from(n).map(Some).map_err(|_| bad()),
    }
}

fn dataset_not_found() -> RpcError {
    fail(404, "Dataset not found")
}

fn rpc_error(code: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &json!({"code": code, "message": message}))
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

// ---------------------------------------------------------------------------------------------
// Storage: GET /storage/{owner}/{slug}/{version}/archive.zip?X-Goog-Signature=N&…

async fn storage(
    State(shared): State<Shared>,
    ConnectInfo(connection): ConnectInfo<CutSwitch>,
    method: Method,
    Path((owner, slug, version, file)): Path<(String, String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let object = ObjectPath {
        owner,
        slug,
        version,
        file,
    };
    handle_storage(
        &mut lock(&shared),
        method == Method::HEAD,
        &object,
        &query,
        &headers,
        &connection,
    )
}

struct ObjectPath {
    owner: String,
    slug: String,
    version: String,
    file: String,
}

fn handle_storage(
    inner: &mut Inner,
    is_head: bool,
    object: &ObjectPath,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    connection: &CutSwitch,
) -> Response {
    let range = header_string(headers, header::RANGE);
    let if_range = header_string(headers, header::IF_RANGE);
    if is_head {
        inner.stats.storage_heads += 1;
    } else {
        let stats = &mut inner.stats;
        stats.storage_gets += 1;
        stats.storage_range_gets += usize::from(range.is_some());
        stats.last_range = range.clone();
        stats.last_if_range = if_range.clone();
        stats.last_storage_authorization = header_string(headers, header::AUTHORIZATION);
    }

    // An injected status pre-empts everything else.
    if !is_head && let Some(Fault::StorageStatus(code)) = inner.storage_faults.front().cloned() {
        inner.storage_faults.pop_front();
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return gcs_error(status, "InternalError", "Injected storage error.", None);
    }

    // The signed URL must carry a signature that this server issued for this object.
    let path = format!(
        "/storage/{}/{}/{}/{}",
        object.owner, object.slug, object.version, object.file
    );
    let Some(signature_param) = query.get("X-Goog-Signature") else {
        return gcs_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Anonymous caller does not have storage.objects.get access.",
            None,
        );
    };
    let signature = parse_signature(signature_param);
    let issued_for = signature.and_then(|s| inner.issued.get(&s));
    let (Some(signature), Some(issued_for)) = (signature, issued_for) else {
        return signature_mismatch();
    };
    if *issued_for != path {
        return signature_mismatch();
    }
    if inner.expired.contains(&signature) {
        return gcs_error(
            StatusCode::FORBIDDEN,
            "ExpiredToken",
            "The provided token has expired.",
            Some("Request signature expired at: 2018-04-25T18:15:05+00:00"),
        );
    }

    let archive = object
        .version
        .parse::<u32>()
        .ok()
        .filter(|_| object.file == "archive.zip")
        .and_then(|version| {
            // (a field borrow, so that the fault queue and stats stay writable below)
            let key = (object.owner.clone(), object.slug.clone());
            inner
                .datasets
                .get(&key)
                .and_then(|dataset| dataset.versions.get(&version))
        });
    let Some(archive) = archive else {
        return gcs_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
            None,
        );
    };
    let len = archive.bytes.len() as u64;
    let etag = archive.etag();
    let last_modified = http_date(archive.unix);

    // Range (with If-Range) → 206 / 416; a non-matching If-Range or an unusable Range → 200.
    let mut span = 0..len;
    let mut partial = false;
    let validator_ok = if_range.as_deref().is_none_or(|v| v == etag || v == last_modified);
    if let Some(range) = range.as_deref()
        && validator_ok
    {
        match parse_range(range, len) {
            RangeSpec::Satisfiable(start, end) => {
                span = start..end;
                partial = true;
            }
            RangeSpec::Unsatisfiable => {
                let mut response = gcs_error(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "InvalidRange",
                    "The requested range cannot be satisfied.",
                    Some(range),
                );
                put(response.headers_mut(), header::CONTENT_RANGE, format!("bytes */{len}"));
                return response;
            }
            RangeSpec::Ignore => {}
        }
    }

    // Faults that change a successful answer.
    let fault = match inner.storage_faults.front() {
        Some(Fault::CutAfter(_) | Fault::StallAfter(_) | Fault::WrongMd5) if !is_head => {
            inner.storage_faults.pop_front()
        }
        _ => None,
    };
    let mut md5 = archive.md5;
    if fault == Some(Fault::WrongMd5) {
        md5[0] ^= 0xff;
    }

    let body = archive.bytes.slice(span.start as usize..span.end as usize);
    let content_length = body.len() as u64;
    if !is_head {
        let sent = match fault {
            // The connection's writer lets the head and `n` body bytes out, then fails, so hyper
            // drops the connection. (A body that just ends early is not enough: hyper then
            // aborts without flushing what it buffered, and the client may get nothing.)
            Some(Fault::CutAfter(n)) if (n as u64) < content_length => {
                connection.cut_after_body_bytes(n);
                n as u64
            }
            Some(Fault::StallAfter(n)) if (n as u64) < content_length => n as u64,
            _ => content_length,
        };
        inner.stats.bytes_served += sent;
    }

    let mut response = match fault {
        Some(Fault::StallAfter(n)) if !is_head && (n as u64) < content_length => {
            Response::new(stalled_body(body.slice(..n)))
        }
        _ => Response::new(Body::from(body)),
    };
    *response.status_mut() = if partial {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let h = response.headers_mut();
    put(h, header::CONTENT_LENGTH, content_length);
    put(h, header::CONTENT_TYPE, "application/zip");
    put(h, header::ACCEPT_RANGES, "bytes");
    put(h, header::ETAG, etag);
    put(h, header::LAST_MODIFIED, last_modified);
    // GCS sends the whole object's hashes, also on a 206.
    let hashes = format!(
        "crc32c={},md5={}",
        BASE64.encode(archive.crc32c.to_be_bytes()),
        BASE64.encode(md5)
    );
    put(h, "x-goog-hash", hashes);
    put(h, "x-goog-stored-content-length", len);
    put(h, "x-goog-storage-class", "STANDARD");
    if partial {
        put(
            h,
            header::CONTENT_RANGE,
            format!("bytes {}-{}/{len}", span.start, span.end - 1),
        );
    }
    response
}

/// A body that sends `first` and then nothing for an hour (the connection stays open).
fn stalled_body(first: Bytes) -> Body {
    use futures_util::StreamExt;
    let head = futures_util::stream::once(async move { Ok::<_, io::Error>(first) });
    let stall = futures_util::stream::once(async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Err(io::Error::other("fake Kaggle: stalled body"))
    });
    Body::from_stream(head.chain(stall))
}

fn signature_mismatch() -> Response {
    gcs_error(
        StatusCode::FORBIDDEN,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
        None,
    )
}

/// Signatures look like hex digests; this one just encodes a counter.
fn signature_text(n: u64) -> String {
    format!("{n:064x}")
}

fn parse_signature(text: &str) -> Option<u64> {
    (text.len() == 64)
        .then(|| u64::from_str_radix(text.trim_start_matches('0'), 16).ok())
        .flatten()
}

enum RangeSpec {
    /// Serve `start..end` (end exclusive).
    Satisfiable(u64, u64),
    Unsatisfiable,
    /// Not a single byte range we understand: serve the whole object, as servers may.
    Ignore,
}

/// `bytes=N-`, `bytes=N-M` or `bytes=-SUFFIX`.
fn parse_range(header: &str, len: u64) -> RangeSpec {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return RangeSpec::Ignore;
    };
    if spec.contains(',') {
        return RangeSpec::Ignore;
    }
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        return match last.parse::<u64>() {
            Ok(0) => RangeSpec::Unsatisfiable,
            Ok(_) if len == 0 => RangeSpec::Unsatisfiable,
            Ok(suffix) => RangeSpec::Satisfiable(len.saturating_sub(suffix), len),
            Err(_) => RangeSpec::Ignore,
        };
    }
    let Ok(start) = first.parse::<u64>() else {
        return RangeSpec::Ignore;
    };
    let end = match last {
        "" => len,
        _ => match last.parse::<u64>() {
            Ok(last) if last >= start => (last + 1).min(len),
            _ => return RangeSpec::Ignore,
        },
    };
    if start >= len {
        RangeSpec::Unsatisfiable
    } else {
        RangeSpec::Satisfiable(start, end)
    }
}

/// A GCS-style XML error.
fn gcs_error(status: StatusCode, code: &str, message: &str, details: Option<&str>) -> Response {
    let details = details
        .map(|d| format!("<Details>{}</Details>", xml_escape(d)))
        .unwrap_or_default();
    let body = format!(
        "<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message>{details}</Error>"
    );
    (status, [(header::CONTENT_TYPE, "application/xml; charset=UTF-8")], body).into_response()
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

// ---------------------------------------------------------------------------------------------
// Connections that a handler can cut part-way through its response body (Fault::CutAfter)

/// Accepts TCP connections, each wrapped in a [`CutStream`].
struct CutListener(TcpListener);

impl Listener for CutListener {
    type Io = CutStream;
    /// The "address" handed to the router is the connection's cut switch (see `Connected`).
    type Addr = CutSwitch;

    async fn accept(&mut self) -> (CutStream, CutSwitch) {
        loop {
            match self.0.accept().await {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    let switch = CutSwitch::default();
                    return (
                        CutStream {
                            tcp,
                            switch: switch.clone(),
                        },
                        switch,
                    );
                }
                // E.g. out of file descriptors: wait a little and retry, as axum does.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<CutSwitch> {
        Ok(CutSwitch::default())
    }
}

/// Shared between a connection's writer and the handlers of its requests.
#[derive(Clone, Default)]
struct CutSwitch(Arc<Mutex<Option<CutPlan>>>);

/// axum wants to be able to print a listener's addresses.
impl std::fmt::Debug for CutSwitch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CutSwitch")
    }
}

impl CutSwitch {
    /// Lets the next response head and `n` bytes of its body out, then fails every write.
    fn cut_after_body_bytes(&self, n: usize) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(CutPlan {
            body_left: n,
            in_body: false,
            last4: 0,
        });
    }
}

impl Connected<IncomingStream<'_, CutListener>> for CutSwitch {
    fn connect_info(stream: IncomingStream<'_, CutListener>) -> Self {
        stream.remote_addr().clone()
    }
}

struct CutPlan {
    body_left: usize,
    /// Whether the head's final CRLFCRLF has gone out; `last4` holds the last 4 bytes written.
    in_body: bool,
    last4: u32,
}

impl CutPlan {
    /// How many bytes at the start of `buf` may still go out.
    fn allowed(&self, buf: &[u8]) -> usize {
        if self.in_body {
            return self.body_left.min(buf.len());
        }
        let mut last4 = self.last4;
        for (i, &b) in buf.iter().enumerate() {
            last4 = (last4 << 8) | u32::from(b);
            if last4 == 0x0d0a_0d0a {
                return i + 1 + self.body_left.min(buf.len() - i - 1);
            }
        }
        buf.len()
    }

    /// Accounts for bytes that went out.
    fn sent(&mut self, written: &[u8]) {
        for (i, &b) in written.iter().enumerate() {
            if self.in_body {
                self.body_left -= written.len() - i;
                return;
            }
            self.last4 = (self.last4 << 8) | u32::from(b);
            self.in_body = self.last4 == 0x0d0a_0d0a;
        }
    }
}

/// A TCP stream whose writes obey the connection's [`CutPlan`], if one is set.
struct CutStream {
    tcp: TcpStream,
    switch: CutSwitch,
}

impl AsyncRead for CutStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for CutStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut plan = this.switch.0.lock().unwrap_or_else(|p| p.into_inner());
        let Some(plan) = plan.as_mut().filter(|_| !buf.is_empty()) else {
            return Pin::new(&mut this.tcp).poll_write(cx, buf);
        };
        let allowed = plan.allowed(buf);
        if allowed == 0 {
            let cut = io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "fake Kaggle: connection cut (Fault::CutAfter)",
            );
            return Poll::Ready(Err(cut));
        }
        let result = Pin::new(&mut this.tcp).poll_write(cx, &buf[..allowed]);
        if let Poll::Ready(Ok(n)) = result {
            plan.sent(&buf[..n]);
        }
        result
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

fn header_string(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Sets a header from a value we formatted ourselves (always valid).
fn put(headers: &mut HeaderMap, name: impl IntoHeaderName, value: impl ToString) {
    if let Ok(value) = HeaderValue::from_str(&value.to_string()) {
        headers.insert(name, value);
    }
}

/// CRC-32C (Castagnoli), as in `x-goog-hash: crc32c=` (base64 of the big-endian value).
fn crc32c(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut bit = 0;
            while bit < 8 {
                c = if c & 1 != 0 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
                bit += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    !data.iter().fold(!0u32, |crc, &b| {
        TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8)
    })
}

/// `2018-04-22T18:15:06.5270000Z`: 7 fractional digits, as .NET-backed services send (§2).
fn iso_timestamp(unix: u64) -> String {
    asl_core::clock::rfc3339(unix).replace('Z', ".5270000Z")
}

/// RFC 1123, e.g. `Sun, 22 Apr 2018 18:15:06 GMT`.
fn http_date(unix: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix))
}
