//! A client for Kaggle's public dataset API, as the official clients (kaggle 2.2.5,
//! kagglehub 1.0.3) use it: `POST {base}/v1/datasets.DatasetApiService/<Method>` with a JSON
//! body, and a redirect to a signed storage URL for the archive.
//! See `shared/docs/kaggle-api.md` for the facts this follows.
use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize};

/// The production API base (the SDK's PROD environment).
pub const PROD_BASE: &str = "https://api.kaggle.com/v1";
/// Explicit base URL override (ours; the SDK has none any more).
pub const BASE_URL_ENV: &str = "ASL_KAGGLE_URL";

/// Why a call to Kaggle (or resolving how to make one) failed.
#[derive(Debug, thiserror::Error)]
pub enum KaggleError {
    /// `KAGGLE_API_ENVIRONMENT` names no known environment (the value given).
    #[error("KAGGLE_API_ENVIRONMENT={0} is not one of PROD, LOCALHOST, TEST, STAGING, ADMIN, QA")]
    BadEnvironment(String),
    /// The base URL override is not an http(s) URL (the value given).
    #[error("bad Kaggle base URL {0:?}: expected http(s)://host[:port][/path]")]
    BadBaseUrl(String),
    /// A dataset reference is not `owner/slug[/N]` or `owner/slug/versions/N` (the text given).
    #[error("bad dataset reference {0:?}: expected owner/slug (optionally /versions/N)")]
    BadRef(String),
    /// A `kaggle.json` is not valid JSON or lacks `username` or `key`.
    #[error("{path}: {problem}")]
    Credentials {
        /// The file.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Kaggle refused the credentials (HTTP 401 or 403).
    #[error(
        "Kaggle refused the credentials (HTTP {status}): {message}. \
         Set KAGGLE_API_TOKEN or create ~/.kaggle/kaggle.json (kaggle.com → Settings → API)"
    )]
    Unauthorized {
        /// The HTTP status.
        status: u16,
        /// Kaggle's message.
        message: String,
    },
    /// No such dataset or version (HTTP 404).
    #[error(
        "Kaggle says not found (HTTP 404): {message}. Check the dataset reference \
         (owner/slug) and version"
    )]
    NotFound {
        /// Kaggle's message.
        message: String,
    },
    /// Any other error answer, including an error object inside an HTTP 200.
    #[error("Kaggle API error (HTTP {status}): {message}")]
    Api {
        /// The HTTP status (or the error object's code).
        status: u16,
        /// Kaggle's message.
        message: String,
    },
    /// Still 429 or 5xx after every retry.
    #[error("Kaggle is rate-limiting or unavailable (HTTP {status}) after {attempts} attempts")]
    GaveUp {
        /// The last HTTP status.
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// The connection failed (or the HTTP client could not be built).
    #[error("network error talking to {url}: {source}")]
    Network {
        /// The URL requested.
        url: String,
        /// The HTTP client's error.
        source: reqwest::Error,
    },
    /// A reply asl cannot read: bad JSON, a redirect without a usable `Location`, a bad
    /// `Content-Range`, …
    #[error("unexpected reply from {url}: {problem}")]
    Protocol {
        /// The URL requested.
        url: String,
        /// What was wrong with the reply.
        problem: String,
    },
    /// The archive download kept failing (or came out short); the partial file is kept.
    #[error(
        "download failed after {attempts} attempts: {last}. The partial file is kept and the \
         next run resumes it"
    )]
    DownloadGaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The downloaded archive's MD5 differs from the storage's; it was deleted.
    #[error("the downloaded archive is corrupt: {0}. It was deleted; run again to re-download")]
    Checksum(String),
    /// The download was cancelled through its [`crate::progress::Cancel`] token.
    #[error("the operation was cancelled")]
    Cancelled,
    /// Reading or writing a local file (credentials, partial download) failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KaggleError + '_ {
    move |source| KaggleError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `owner/slug`, as in `grassknoted/asl-alphabet`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DatasetRef {
    /// The owner's user name.
    pub owner: String,
    /// The dataset's slug.
    pub slug: String,
}

impl DatasetRef {
    /// Parses `owner/slug`, `owner/slug/N` (CLI form) or `owner/slug/versions/N` (kagglehub
    /// form). Returns the reference and the pinned version if one was given.
    pub fn parse(s: &str) -> Result<(DatasetRef, Option<u32>), KaggleError> {
        let bad = || KaggleError::BadRef(s.to_string());
        let parts: Vec<&str> = s.trim().trim_matches('/').split('/').collect();
        let valid = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
                && p != "."
                && p != ".."
        };
        let (owner, slug, version) = match parts.as_slice() {
            [o, s] => (*o, *s, None),
            [o, s, n] => (*o, *s, Some(*n)),
            [o, s, "versions", n] => (*o, *s, Some(*n)),
            _ => return Err(bad()),
        };
        if !valid(owner) || !valid(slug) {
            return Err(bad());
        }
        let version = match version {
            Some(n) => Some(n.parse::<u32>().map_err(|_| bad())?),
            None => None,
        };
        Ok((
            DatasetRef {
                owner: owner.to_string(),
                slug: slug.to_string(),
            },
            version,
        ))
    }
}

impl fmt::Display for DatasetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.slug)
    }
}

/// A snapshot of the environment variables the client reads, so that resolution is a pure
/// function (tests build one by hand instead of mutating the process environment).
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
    /// The user's home directory (for `~/.kaggle`).
    pub home: Option<PathBuf>,
}

impl Env {
    /// Reads the variables the client uses (`KAGGLE_*`, `ASL_KAGGLE_URL`, `XDG_CONFIG_HOME`) and
    /// `HOME` from the process.
    pub fn from_process() -> Self {
        let vars = std::env::vars()
            .filter(|(k, _)| k.starts_with("KAGGLE_") || k == BASE_URL_ENV || k == "XDG_CONFIG_HOME")
            .collect();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Self { vars, home }
    }
    /// The same snapshot with `key` set to `value`.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.vars.insert(key.to_string(), value.to_string());
        self
    }
    /// The same snapshot with another home directory.
    pub fn with_home(mut self, home: impl Into<PathBuf>) -> Self {
        self.home = Some(home.into());
        self
    }
    /// The value of `key`; `None` when unset or empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(|s| s.as_str()).filter(|s| !s.is_empty())
    }
}

/// Where the API lives: the `.../v1` prefix to which `datasets.DatasetApiService/...` is added.
pub fn resolve_api_base(explicit: Option<&str>, env: &Env) -> Result<String, KaggleError> {
    if let Some(url) = explicit.or(env.get(BASE_URL_ENV)) {
        return api_base_from_url(url);
    }
    // Non-PROD environments add an `/api` segment, as kagglesdk does.
    let endpoint = match env.get("KAGGLE_API_ENVIRONMENT").map(|s| s.to_ascii_uppercase()) {
        None => return Ok(PROD_BASE.to_string()),
        Some(e) if e == "PROD" => return Ok(PROD_BASE.to_string()),
        Some(e) => match e.as_str() {
            "LOCALHOST" => "http://localhost",
            "TEST" => "http://localhost:7777",
            "STAGING" => "https://staging.kaggle.com",
            "ADMIN" => "https://admin.kaggle.com",
            "QA" => "https://qa.kaggle.com",
            _ => return Err(KaggleError::BadEnvironment(e)),
        },
    };
    Ok(format!("{endpoint}/api/v1"))
}

/// An override is a server root (we add `/api/v1`, as for the SDK's non-PROD environments)
/// or an API base that already ends in `/v1` (a production proxy), kept as given.
fn api_base_from_url(url: &str) -> Result<String, KaggleError> {
    let url = url.trim().trim_end_matches('/');
    let ok = (url.starts_with("http://") || url.starts_with("https://")) && url.len() > "https://".len();
    if !ok {
        return Err(KaggleError::BadBaseUrl(url.to_string()));
    }
    if url.ends_with("/v1") {
        Ok(url.to_string())
    } else {
        Ok(format!("{url}/api/v1"))
    }
}

/// Credentials, resolved in the official precedence.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// API token ("KGAT"), sent as `Authorization: Bearer`.
    Token(String),
    /// Legacy username + key, sent as HTTP Basic.
    Basic {
        /// The Kaggle user name.
        username: String,
        /// The API key.
        key: String,
    },
    /// No credentials: only public endpoints work.
    Anonymous,
}

// Never print a secret, even in debug output.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Token(_) => write!(f, "Token(***)"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credentials::Anonymous => write!(f, "Anonymous"),
        }
    }
}

impl Credentials {
    fn authorization(&self) -> Option<String> {
        match self {
            Credentials::Token(t) => Some(format!("Bearer {t}")),
            Credentials::Basic { username, key } => {
                let raw = format!("{username}:{key}");
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ))
            }
            Credentials::Anonymous => None,
        }
    }
}

/// The credentials found, where they came from (never the secret), and warnings to show.
#[derive(Debug, Clone)]
pub struct ResolvedCredentials {
    /// The credentials to send.
    pub credentials: Credentials,
    /// Where they came from (an environment variable or a file path).
    pub source: String,
    /// Problems noticed on the way (a file readable by others, …), for the user.
    pub warnings: Vec<String>,
}

/// kagglehub 1.0.3's order: token (`KAGGLE_API_TOKEN` value or file, `~/.kaggle/access_token`,
/// `~/.kaggle/access_token.txt`), then `KAGGLE_USERNAME`+`KAGGLE_KEY`, then `kaggle.json` in
/// `$KAGGLE_CONFIG_DIR` or `~/.kaggle`, then anonymous.
pub fn resolve_credentials(env: &Env) -> Result<ResolvedCredentials, KaggleError> {
    let mut warnings = Vec::new();
    let found = |credentials, source: String, warnings| {
        Ok(ResolvedCredentials {
            credentials,
            source,
            warnings,
        })
    };

    if let Some(v) = env.get("KAGGLE_API_TOKEN") {
        let as_path = Path::new(v);
        if as_path.is_file() {
            let token = fs::read_to_string(as_path).map_err(io_err(as_path))?.trim().to_string();
            if !token.is_empty() {
                return found(
                    Credentials::Token(token),
                    format!("KAGGLE_API_TOKEN file {}", as_path.display()),
                    warnings,
                );
            }
        } else {
            return found(
                Credentials::Token(v.trim().to_string()),
                "KAGGLE_API_TOKEN".into(),
                warnings,
            );
        }
    }
    if let Some(home) = &env.home {
        for name in ["access_token", "access_token.txt"] {
            let p = home.join(".kaggle").join(name);
            if let Ok(text) = fs::read_to_string(&p) {
                let token = text.trim();
                if !token.is_empty() {
                    return found(Credentials::Token(token.to_string()), p.display().to_string(), warnings);
                }
            }
        }
    }
    if let (Some(u), Some(k)) = (env.get("KAGGLE_USERNAME"), env.get("KAGGLE_KEY")) {
        let creds = Credentials::Basic {
            username: u.to_string(),
            key: k.to_string(),
        };
        return found(creds, "KAGGLE_USERNAME/KAGGLE_KEY".into(), warnings);
    }
    let config_dir = env
        .get("KAGGLE_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| env.home.as_ref().map(|h| h.join(".kaggle")));
    if let Some(dir) = config_dir {
        let p = dir.join("kaggle.json");
        if p.is_file() {
            if let Some(w) = permission_warning(&p) {
                warnings.push(w);
            }
            let text = fs::read_to_string(&p).map_err(io_err(&p))?;
            #[derive(Deserialize)]
            struct KaggleJson {
                username: Option<String>,
                key: Option<String>,
            }
            let bad = |problem: &str| KaggleError::Credentials {
                path: p.display().to_string(),
                problem: problem.to_string(),
            };
            let parsed: KaggleJson =
                serde_json::from_str(&text).map_err(|_| bad("not valid JSON (expected {\"username\":…,\"key\":…})"))?;
            let (Some(username), Some(key)) = (parsed.username, parsed.key) else {
                return Err(bad("missing \"username\" or \"key\""));
            };
            return found(Credentials::Basic { username, key }, p.display().to_string(), warnings);
        }
    }
    found(Credentials::Anonymous, "anonymous".into(), warnings)
}

#[cfg(unix)]
fn permission_warning(p: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(p).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "warning: {} is readable by other users; run `chmod 600 {}`",
            p.display(),
            p.display()
        )
    })
}

#[cfg(not(unix))]
fn permission_warning(_: &Path) -> Option<String> {
    None
}

/// Parse an int64 that proto3 JSON may send as a number or as a string.
fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrStr {
        Num(i64),
        Float(f64),
        Str(String),
        Null,
    }
    Ok(match NumOrStr::deserialize(d)? {
        NumOrStr::Num(n) => Some(n),
        NumOrStr::Float(f) => Some(f as i64),
        NumOrStr::Str(s) => s.trim().parse().ok(),
        NumOrStr::Null => None,
    })
}

/// Metadata of a dataset (`ApiDataset`), decoded leniently: every key optional, unknown keys
/// ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct DatasetMetadata {
    /// Kaggle's numeric id of the dataset.
    #[serde(deserialize_with = "lenient_i64")]
    pub id: Option<i64>,
    /// `owner/slug`.
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// The dataset's title.
    pub title: Option<String>,
    /// The dataset's subtitle.
    pub subtitle: Option<String>,
    /// Display name of the owner.
    pub creator_name: Option<String>,
    /// Size of the dataset in bytes.
    #[serde(deserialize_with = "lenient_i64")]
    pub total_bytes: Option<i64>,
    /// The dataset's page on kaggle.com.
    pub url: Option<String>,
    /// When the current version was published (RFC 3339; see [`parse_timestamp`]).
    pub last_updated: Option<String>,
    /// Name of the dataset's licence.
    pub license_name: Option<String>,
    /// The current version number.
    #[serde(deserialize_with = "lenient_i64")]
    pub current_version_number: Option<i64>,
}

impl DatasetMetadata {
    /// `lastUpdated` as seconds since the epoch, if it parses.
    pub fn last_updated_unix(&self) -> Option<i64> {
        self.last_updated.as_deref().and_then(parse_timestamp)
    }
}

/// RFC 3339 with 0–9 fractional digits, with or without a zone (`Z`, `+hh:mm`); no zone means
/// UTC. Returns whole seconds since the Unix epoch.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        tz if (tz.starts_with('+') || tz.starts_with('-')) && tz.len() == 6 && &tz[3..4] == ":" => {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            sign * (tz[1..3].parse::<i64>().ok()? * 3600 + tz[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se - offset)
}

/// How long to wait between retries of transient failures (429, 5xx, cut connections).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (default 6).
    pub max_attempts: u32,
    /// Backoff base: the wait before retry `n` is `base_delay × 1.7^n` (default 0.5 s).
    pub base_delay: Duration,
    /// Longest wait between attempts, `Retry-After` included (default 60 s).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // The kaggle CLI's with_retry: 0.5 s × 1.7^attempt (we cap at 60 s), but 6 attempts
        // rather than 10: about 9 s of waiting before a person hears the network is down.
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry `attempt` (0-based): the server's `Retry-After` when it sent one,
    /// else exponential backoff; either way with up to +25 % random jitter, so that many
    /// clients refused together do not come back in lock-step.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let base = match retry_after {
            Some(ra) => ra.as_secs_f64(),
            None => self.base_delay.as_secs_f64() * 1.7f64.powi(attempt as i32),
        };
        let jittered = base * (1.0 + 0.25 * rand::random::<f64>());
        Duration::from_secs_f64(jittered.min(self.max_delay.as_secs_f64()))
    }
}

/// `Retry-After` in seconds or as an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// A client of Kaggle's dataset API: one API base and one set of credentials.
pub struct KaggleClient {
    api_base: String,
    credentials: Credentials,
    http: reqwest::blocking::Client,
    /// How failed requests and downloads are retried.
    pub retry: RetryPolicy,
}

/// Time to connect to Kaggle or its storage.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a response, and for each read of a body: a server that stops sending
/// mid-download fails the attempt (which is retried, resuming) instead of hanging.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

fn http_client(api_base: &str, read_timeout: Duration) -> Result<reqwest::blocking::Client, KaggleError> {
    reqwest::blocking::Client::builder()
        .user_agent(concat!("asl/", env!("CARGO_PKG_VERSION")))
        // We read Location ourselves: the signed URL is kept for resuming and we must not
        // forward credentials to the storage host.
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        // The blocking client applies this to the response head and to every body read.
        .timeout(read_timeout)
        .build()
        .map_err(|source| KaggleError::Network {
            url: api_base.to_string(),
            source,
        })
}

/// Where the archive of one version can be fetched right now (signed URLs expire).
#[derive(Debug, Clone)]
pub struct SignedUrl(pub String);

impl KaggleClient {
    /// A client of the API at `api_base` (a `.../v1` prefix, see [`resolve_api_base`]) sending
    /// `credentials`, with the default read timeout and retry policy.
    pub fn new(api_base: String, credentials: Credentials) -> Result<Self, KaggleError> {
        let http = http_client(&api_base, READ_TIMEOUT)?;
        Ok(Self {
            api_base,
            credentials,
            http,
            retry: RetryPolicy::default(),
        })
    }

    /// The same client with another read timeout (see [`READ_TIMEOUT`]).
    pub fn with_read_timeout(mut self, read_timeout: Duration) -> Result<Self, KaggleError> {
        self.http = http_client(&self.api_base, read_timeout)?;
        Ok(self)
    }

    /// Client configured from the environment and an optional explicit base URL.
    pub fn from_env(explicit_base: Option<&str>, env: &Env) -> Result<(Self, ResolvedCredentials), KaggleError> {
        let base = resolve_api_base(explicit_base, env)?;
        let creds = resolve_credentials(env)?;
        Ok((Self::new(base, creds.credentials.clone())?, creds))
    }

    /// The API base requests go to.
    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    pub(crate) fn http(&self) -> &reqwest::blocking::Client {
        &self.http
    }

    /// One RPC with retries on 429/5xx/connection errors. Returns the raw response on success
    /// (2xx or 3xx) after checking for an error object inside a 200.
    fn rpc(&self, method: &str, body: &serde_json::Value) -> Result<reqwest::blocking::Response, KaggleError> {
        let url = format!("{}/datasets.DatasetApiService/{method}", self.api_base);
        let mut attempt = 0;
        loop {
            let mut req = self.http.post(&url).json(body);
            if let Some(auth) = self.credentials.authorization() {
                req = req.header(reqwest::header::AUTHORIZATION, auth);
            }
            let outcome = req.send();
            let (status, retry_after) = match outcome {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if status < 400 {
                        return Ok(resp);
                    }
                    if status != 429 && status < 500 {
                        return Err(api_error(status, resp));
                    }
                    let ra = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    (status, ra)
                }
                Err(e) if attempt + 1 >= self.retry.max_attempts => {
                    return Err(KaggleError::Network { url, source: e });
                }
                Err(_) => (0, None),
            };
            attempt += 1;
            if attempt >= self.retry.max_attempts {
                return Err(KaggleError::GaveUp {
                    status,
                    attempts: attempt,
                });
            }
            std::thread::sleep(self.retry.delay(attempt - 1, retry_after));
        }
    }

    /// `GetDataset`: title, current version, last update, size, licence.
    pub fn get_dataset(&self, dataset: &DatasetRef) -> Result<DatasetMetadata, KaggleError> {
        let body = serde_json::json!({ "ownerSlug": dataset.owner, "datasetSlug": dataset.slug });
        let resp = self.rpc("GetDataset", &body)?;
        let url = resp.url().to_string();
        let text = resp.text().map_err(|source| KaggleError::Network {
            url: url.clone(),
            source,
        })?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| KaggleError::Protocol {
            url: url.clone(),
            problem: format!("not JSON: {e}"),
        })?;
        check_error_object(&value)?;
        serde_json::from_value(value).map_err(|e| KaggleError::Protocol {
            url,
            problem: format!("bad ApiDataset: {e}"),
        })
    }

    /// `DownloadDataset`: a fresh signed URL for the archive of `version` (None = current).
    pub fn signed_url(&self, dataset: &DatasetRef, version: Option<u32>) -> Result<SignedUrl, KaggleError> {
        let mut body = serde_json::json!({ "ownerSlug": dataset.owner, "datasetSlug": dataset.slug });
        if let Some(v) = version {
            body["datasetVersionNumber"] = v.into();
        }
        let resp = self.rpc("DownloadDataset", &body)?;
        let url = resp.url().to_string();
        if resp.status().is_redirection() {
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| KaggleError::Protocol {
                    url: url.clone(),
                    problem: "redirect without Location".into(),
                })?;
            // A relative Location resolves against the RPC URL.
            let target = resp.url().join(location).map_err(|e| KaggleError::Protocol {
                url,
                problem: format!("bad Location: {e}"),
            })?;
            return Ok(SignedUrl(target.to_string()));
        }
        // A 200 carrying JSON is an error object or something we do not understand.
        let text = resp.text().unwrap_or_default();
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
            check_error_object(&value)?;
        }
        Err(KaggleError::Protocol {
            url,
            problem: "DownloadDataset did not redirect to the archive".into(),
        })
    }
}

/// An HTTP error reply turned into the error a person can act on. The body may be JSON
/// (`{"code":…,"message":…}`) or anything else (HTML from a proxy), so parsing is best-effort.
fn api_error(status: u16, resp: reqwest::blocking::Response) -> KaggleError {
    let text = resp.text().unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_else(|| text.chars().take(200).collect::<String>().trim().to_string());
    status_error(status, message)
}

fn status_error(status: u16, message: String) -> KaggleError {
    match status {
        401 | 403 => KaggleError::Unauthorized { status, message },
        404 => KaggleError::NotFound { message },
        _ => KaggleError::Api { status, message },
    }
}

/// The SDK treats `{"code": >=400, "message": …}` and a non-empty `errorMessage` as errors even
/// inside an HTTP 200.
fn check_error_object(v: &serde_json::Value) -> Result<(), KaggleError> {
    let code = v
        .get("code")
        .and_then(|c| c.as_i64().or_else(|| c.as_str().and_then(|s| s.parse().ok())));
    let message = v.get("message").and_then(|m| m.as_str()).unwrap_or("").to_string();
    if let Some(code) = code.filter(|c| *c >= 400) {
        return Err(status_error(code.clamp(0, u16::MAX as i64) as u16, message));
    }
    if let Some(msg) = v.get("errorMessage").and_then(|m| m.as_str()).filter(|m| !m.is_empty()) {
        return Err(KaggleError::Api {
            status: 200,
            message: msg.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_with_any_fraction() {
        let base = parse_timestamp("2018-04-22T18:15:06Z").unwrap();
        assert_eq!(base, 1_524_420_906);
        for s in [
            "2018-04-22T18:15:06.5Z",
            "2018-04-22T18:15:06.527Z",
            "2018-04-22T18:15:06.5270000Z",
            "2018-04-22T18:15:06.527000000",
            "2018-04-22T18:15:06",
        ] {
            assert_eq!(parse_timestamp(s), Some(base), "{s}");
        }
        assert_eq!(parse_timestamp("2018-04-22T20:15:06+02:00"), Some(base));
        assert_eq!(parse_timestamp("2018-04-22T18:15:06.1234567890Z"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn metadata_is_lenient() {
        let m: DatasetMetadata = serde_json::from_str(
            r#"{"id":"23079","ref":"grassknoted/asl-alphabet","title":"ASL Alphabet","totalBytes":"1100000000",
                "currentVersionNumber":1,"lastUpdated":"2018-04-22T18:15:06.5270000Z","brandNewKey":{"x":1},"usabilityRating":0.875}"#,
        )
        .unwrap();
        assert_eq!(m.id, Some(23079));
        assert_eq!(m.total_bytes, Some(1_100_000_000));
        assert_eq!(m.current_version_number, Some(1));
        assert!(m.last_updated_unix().is_some());
    }

    #[test]
    fn error_object_inside_200() {
        let v = serde_json::json!({"code": 404, "message": "nope"});
        assert!(matches!(check_error_object(&v), Err(KaggleError::NotFound { .. })));
        let v = serde_json::json!({"code": "401", "message": "who"});
        assert!(matches!(check_error_object(&v), Err(KaggleError::Unauthorized { .. })));
        let v = serde_json::json!({"datasetFiles": [], "errorMessage": "broken"});
        assert!(matches!(check_error_object(&v), Err(KaggleError::Api { .. })));
        assert!(check_error_object(&serde_json::json!({"title": "x"})).is_ok());
    }

    #[test]
    fn endpoints() {
        let env = Env::default();
        assert_eq!(resolve_api_base(None, &env).unwrap(), PROD_BASE);
        let env = Env::default().with("KAGGLE_API_ENVIRONMENT", "TEST");
        assert_eq!(resolve_api_base(None, &env).unwrap(), "http://localhost:7777/api/v1");
        assert_eq!(
            resolve_api_base(Some("http://127.0.0.1:9/"), &env).unwrap(),
            "http://127.0.0.1:9/api/v1"
        );
        assert_eq!(
            resolve_api_base(Some("https://proxy/kaggle/v1"), &env).unwrap(),
            "https://proxy/kaggle/v1"
        );
        assert!(resolve_api_base(None, &Env::default().with("KAGGLE_API_ENVIRONMENT", "MARS")).is_err());
        assert!(resolve_api_base(Some("ftp://x"), &Env::default()).is_err());
    }

    #[test]
    fn refs() {
        let (r, v) = DatasetRef::parse("grassknoted/asl-alphabet").unwrap();
        assert_eq!((r.to_string(), v), ("grassknoted/asl-alphabet".to_string(), None));
        assert_eq!(DatasetRef::parse("a/b/3").unwrap().1, Some(3));
        assert_eq!(DatasetRef::parse("a/b/versions/7").unwrap().1, Some(7));
        for bad in ["a", "a/../b", "../a/b", "a/b/x", "a b/c", ""] {
            assert!(DatasetRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn credential_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        fs::create_dir_all(home.join(".kaggle")).unwrap();
        let kj = home.join(".kaggle/kaggle.json");
        fs::write(&kj, r#"{"username":"u1","key":"k1"}"#).unwrap();
        let env = Env::default().with_home(home);
        let r = resolve_credentials(&env).unwrap();
        assert_eq!(
            r.credentials,
            Credentials::Basic {
                username: "u1".into(),
                key: "k1".into()
            }
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&kj, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(
                resolve_credentials(&env)
                    .unwrap()
                    .warnings
                    .iter()
                    .any(|w| w.contains("chmod 600"))
            );
            fs::set_permissions(&kj, fs::Permissions::from_mode(0o600)).unwrap();
            assert!(resolve_credentials(&env).unwrap().warnings.is_empty());
        }
        let env2 = env.clone().with("KAGGLE_USERNAME", "u2").with("KAGGLE_KEY", "k2");
        assert_eq!(
            resolve_credentials(&env2).unwrap().credentials,
            Credentials::Basic {
                username: "u2".into(),
                key: "k2".into()
            }
        );
        fs::write(home.join(".kaggle/access_token"), "tok-file\n").unwrap();
        assert_eq!(
            resolve_credentials(&env2).unwrap().credentials,
            Credentials::Token("tok-file".into())
        );
        let env3 = env2.with("KAGGLE_API_TOKEN", "tok-env");
        let r = resolve_credentials(&env3).unwrap();
        assert_eq!(r.credentials, Credentials::Token("tok-env".into()));
        assert!(
            !format!("{:?}", r.credentials).contains("tok-env"),
            "secrets never printed"
        );
        let bad = tempfile::tempdir().unwrap();
        fs::write(bad.path().join("kaggle.json"), "{not json").unwrap();
        let env4 = Env::default().with("KAGGLE_CONFIG_DIR", bad.path().to_str().unwrap());
        assert!(matches!(
            resolve_credentials(&env4),
            Err(KaggleError::Credentials { .. })
        ));
        assert_eq!(
            resolve_credentials(&Env::default()).unwrap().credentials,
            Credentials::Anonymous
        );
    }

    #[test]
    fn retry_after_and_backoff() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT").is_some());
        let p = RetryPolicy::default();
        let waits: Vec<Duration> = (0..50).map(|_| p.delay(0, Some(Duration::from_secs(2)))).collect();
        assert!(
            waits
                .iter()
                .all(|w| (Duration::from_secs(2)..=Duration::from_millis(2_500)).contains(w)),
            "{waits:?}"
        );
        // Jitter: clients refused together come back spread out, not in lock-step.
        assert!(waits.iter().any(|w| *w != waits[0]), "{waits:?}");
        assert!(p.delay(20, None) <= Duration::from_secs(60));
        assert!(p.delay(1, None) >= Duration::from_millis(850));
    }
}
