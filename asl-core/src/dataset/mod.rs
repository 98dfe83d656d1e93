//! The collect flow: read a dataset's metadata from Kaggle, tell whether the local copy is
//! outdated, download, verify and extract it — or register a copy made by hand.
//!
//! A version is *complete* only when its manifest (`<N>.manifest.json`, the completion marker)
//! exists; it is written last, atomically, after the extracted folder has been renamed into
//! place. A crash at any point leaves either the old state or an incomplete version that the
//! next run repairs.
pub mod download;
pub mod extract;
pub mod kaggle;
pub mod layout;

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use download::Downloaded;
pub use extract::{ExtractError, ExtractLimits};
pub use kaggle::{DatasetMetadata, DatasetRef, Env, KaggleClient, KaggleError};
pub use layout::{ClassCount, Layout, LayoutError};

use crate::fsutil;
use crate::home::AslHome;
use crate::progress::{Cancel, Progress};

/// The dataset asl is about.
pub const DEFAULT_DATASET: &str = "grassknoted/asl-alphabet";
/// Manifest format; bump when its meaning changes.
pub const MANIFEST_FORMAT: u32 = 1;

/// Why collecting, importing or finding a dataset version failed.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// Talking to Kaggle (metadata or download) failed.
    #[error(transparent)]
    Kaggle(#[from] KaggleError),
    /// The archive was refused or could not be extracted.
    #[error(transparent)]
    Extract(#[from] ExtractError),
    /// The extracted data has no folder of class folders.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// Kaggle did not say which version is current, and none was pinned (the dataset named).
    #[error("Kaggle's metadata for {0} has no currentVersionNumber; pass --version N")]
    NoVersion(String),
    /// No complete local version of the dataset named.
    #[error("no complete local copy of {0}; run `asl collect` first")]
    NotCollected(String),
    /// A manifest is not valid JSON, or of another format.
    #[error("{path}: corrupt manifest ({reason}); run `asl collect --force` to repair")]
    BadManifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The folder given to import does not exist or is not a folder.
    #[error("{0} does not exist or is not a directory")]
    NotADir(PathBuf),
    /// Reading or writing a file of the store failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl DatasetError {
    /// Worth retrying later (network trouble, rate limits, server errors, a cut download),
    /// as opposed to a wrong reference, refused credentials or a bad archive.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            DatasetError::Kaggle(
                KaggleError::GaveUp { .. }
                    | KaggleError::Network { .. }
                    | KaggleError::DownloadGaveUp { .. }
                    | KaggleError::Checksum(_)
            )
        ) || matches!(self, DatasetError::Kaggle(KaggleError::Api { status, .. }) if *status >= 500 || *status == 429)
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What we know about one complete local version. Written last: its presence means complete.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Manifest format it was written in ([`MANIFEST_FORMAT`]).
    pub format: u32,
    /// The dataset, `owner/slug`.
    pub dataset: String,
    /// The version number (Kaggle's, or the one given to an import).
    pub version: u32,
    /// Kaggle's `lastUpdated` for the version, when known.
    pub last_updated: Option<String>,
    /// `kaggle`, `zip:<path>` or `dir:<path>`.
    pub source: String,
    /// Size of the archive in bytes; `None` for a folder import.
    pub archive_bytes: Option<u64>,
    /// Hex MD5 of the archive; `None` for a folder import.
    pub archive_md5: Option<String>,
    /// Whether the storage's MD5 was checked.
    pub md5_verified: bool,
    /// The dataset folder: relative to the dataset's own folder, or absolute for `--from-dir`.
    pub data_dir: PathBuf,
    /// Training root relative to `data_dir`.
    pub train_root: PathBuf,
    /// Files in the dataset folder.
    pub files: u64,
    /// Bytes in the dataset folder.
    pub bytes: u64,
    /// Images found per class, in canonical class order.
    pub images_per_class: Vec<ClassCount>,
    /// Folders under the training root that are not classes.
    pub unknown_folders: Vec<String>,
    /// Archive entries left out on purpose (`__MACOSX/`, dot files).
    pub skipped_entries: usize,
    /// Unix seconds.
    pub completed_at: u64,
    /// Always true in a written manifest (the marker is written only when complete).
    pub complete: bool,
}

impl Manifest {
    /// Images over all classes.
    pub fn total_images(&self) -> u64 {
        self.images_per_class.iter().map(|c| c.images).sum()
    }
    /// A short stable hash of what the data is (for cache keys and run tags).
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        let key = serde_json::json!([
            self.dataset,
            self.version,
            self.source,
            self.archive_md5,
            self.files,
            self.bytes,
            self.images_per_class
        ]);
        h.update(key.to_string().as_bytes());
        download::hex(&h.finalize()[..8])
    }
}

/// The local store of one dataset under the state root.
#[derive(Debug, Clone)]
pub struct DatasetStore {
    /// The dataset it holds.
    pub dataset: DatasetRef,
    dir: PathBuf,
}

impl DatasetStore {
    /// The store of `dataset` under `home` (nothing is created until a write).
    pub fn new(home: &AslHome, dataset: &DatasetRef) -> Self {
        Self {
            dataset: dataset.clone(),
            dir: home.dataset_dir(&dataset.owner, &dataset.slug),
        }
    }
    /// The store's folder (versions, manifests, downloads).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// Where version `v` is extracted (`versions/<v>`); a folder import stays in place instead.
    pub fn version_dir(&self, v: u32) -> PathBuf {
        self.dir.join("versions").join(v.to_string())
    }
    fn manifest_path(&self, v: u32) -> PathBuf {
        self.dir.join(format!("{v}.manifest.json"))
    }
    fn archive_path(&self, v: u32) -> PathBuf {
        self.dir.join("downloads").join(format!("{v}.zip"))
    }

    /// Hold this while changing the store: a second `asl collect` on the same dataset waits
    /// instead of extracting into the same folders.
    pub fn lock(&self) -> Result<fs::File, DatasetError> {
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let p = self.dir.join(".lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err(&p))?;
        f.lock().map_err(io_err(&p))?;
        // Under the lock nobody else is extracting: what a killed run left is garbage.
        let versions = self.dir.join("versions");
        fsutil::sweep_stale(&versions, ".extract-").map_err(io_err(&versions))?;
        Ok(f)
    }

    /// The manifest of version `v` if that version is complete.
    pub fn manifest(&self, v: u32) -> Result<Option<Manifest>, DatasetError> {
        let p = self.manifest_path(v);
        let bytes = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(DatasetError::Io { path: p, source: e }),
        };
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| DatasetError::BadManifest {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        if m.format != MANIFEST_FORMAT {
            return Err(DatasetError::BadManifest {
                path: p,
                reason: format!("format {} (this asl reads {MANIFEST_FORMAT})", m.format),
            });
        }
        // The folder must still be there: a marker without data is not complete.
        Ok((m.complete && self.data_dir(&m).is_dir()).then_some(m))
    }

    /// Versions with a manifest, newest first (complete ones only).
    pub fn complete_versions(&self) -> Result<Vec<Manifest>, DatasetError> {
        let mut out = Vec::new();
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Ok(out);
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(v) = name.strip_suffix(".manifest.json").and_then(|v| v.parse::<u32>().ok())
                && let Some(m) = self.manifest(v)?
            {
                out.push(m);
            }
        }
        out.sort_by_key(|m| std::cmp::Reverse(m.version));
        Ok(out)
    }

    /// The complete version with the highest number, if any.
    pub fn newest_complete(&self) -> Result<Option<Manifest>, DatasetError> {
        Ok(self.complete_versions()?.into_iter().next())
    }

    /// Absolute folder of a manifest's data.
    pub fn data_dir(&self, m: &Manifest) -> PathBuf {
        if m.data_dir.is_absolute() {
            m.data_dir.clone()
        } else {
            self.dir.join(&m.data_dir)
        }
    }

    /// Absolute training root of a manifest.
    pub fn train_root(&self, m: &Manifest) -> PathBuf {
        self.data_dir(m).join(&m.train_root)
    }

    /// Bytes of an interrupted download of version `v`, if any.
    pub fn partial_download(&self, v: u32) -> Option<u64> {
        fs::metadata(self.archive_path(v).with_extension("zip.part"))
            .ok()
            .map(|m| m.len())
    }

    /// Forget version `v` (marker first, so a crash leaves it incomplete, never half-complete).
    fn invalidate(&self, v: u32) -> Result<(), DatasetError> {
        let marker = self.manifest_path(v);
        if marker.exists() {
            fs::remove_file(&marker).map_err(io_err(&marker))?;
            fsutil::sync_dir(&self.dir).map_err(io_err(&self.dir))?;
        }
        let d = self.version_dir(v);
        if d.exists() {
            fs::remove_dir_all(&d).map_err(io_err(&d))?;
        }
        Ok(())
    }

    /// Extract `archive` as version `v` and write its manifest last.
    fn install_archive(
        &self,
        v: u32,
        archive: &Path,
        base: Manifest,
        limits: &ExtractLimits,
        progress: &dyn Progress,
    ) -> Result<Manifest, DatasetError> {
        self.invalidate(v)?;
        let dest = self.version_dir(v);
        let summary = extract::extract_zip(archive, &dest, limits, progress)?;
        let mut m = base;
        m.data_dir = PathBuf::from("versions").join(v.to_string());
        m.files = summary.files;
        m.bytes = summary.bytes;
        m.skipped_entries = summary.skipped.len();
        self.finish(m, &dest)
    }

    /// Scan the layout and write the completion marker.
    fn finish(&self, mut m: Manifest, data_dir: &Path) -> Result<Manifest, DatasetError> {
        let layout = layout::scan(data_dir)?;
        m.train_root = layout
            .train_root
            .strip_prefix(data_dir)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        m.images_per_class = layout.counts();
        m.unknown_folders = layout.unknown_folders;
        m.completed_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        m.complete = true;
        let p = self.manifest_path(m.version);
        fsutil::write_json_atomic(&p, &m).map_err(io_err(&p))?;
        Ok(m)
    }

    fn base_manifest(&self, version: u32, source: String) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT,
            dataset: self.dataset.to_string(),
            version,
            last_updated: None,
            source,
            archive_bytes: None,
            archive_md5: None,
            md5_verified: false,
            data_dir: PathBuf::new(),
            train_root: PathBuf::new(),
            files: 0,
            bytes: 0,
            images_per_class: Vec::new(),
            unknown_folders: Vec::new(),
            skipped_entries: 0,
            completed_at: 0,
            complete: false,
        }
    }

    /// Register an archive downloaded by hand as version `v`. The same archive (by MD5) already
    /// complete as `v` is kept as it is unless `force`.
    pub fn import_zip(
        &self,
        zip_path: &Path,
        v: u32,
        force: bool,
        limits: &ExtractLimits,
        progress: &dyn Progress,
    ) -> Result<Manifest, DatasetError> {
        let _lock = self.lock()?;
        let (bytes, md5) = download::hash_file(zip_path)?;
        if let (false, Some(m)) = (force, self.manifest(v)?)
            && m.archive_md5.as_deref() == Some(download::hex(&md5).as_str())
        {
            return Ok(m);
        }
        let abs = fs::canonicalize(zip_path).map_err(io_err(zip_path))?;
        let mut base = self.base_manifest(v, format!("zip:{}", abs.display()));
        base.archive_bytes = Some(bytes);
        base.archive_md5 = Some(download::hex(&md5));
        self.install_archive(v, zip_path, base, limits, progress)
    }

    /// Register a folder extracted by hand as version `v`, in place (nothing is copied).
    pub fn import_dir(&self, dir: &Path, v: u32) -> Result<Manifest, DatasetError> {
        if !dir.is_dir() {
            return Err(DatasetError::NotADir(dir.to_path_buf()));
        }
        let abs = fs::canonicalize(dir).map_err(io_err(dir))?;
        let _lock = self.lock()?;
        self.invalidate(v)?;
        let mut m = self.base_manifest(v, format!("dir:{}", abs.display()));
        let (bytes, files) = fsutil::dir_size(&abs).map_err(io_err(&abs))?;
        m.bytes = bytes;
        m.files = files;
        m.data_dir = abs.clone();
        self.finish(m, &abs)
    }
}

/// What `collect` should do.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// The Kaggle dataset to collect.
    pub dataset: DatasetRef,
    /// Pin a version; None = Kaggle's current one.
    pub version: Option<u32>,
    /// Re-download and re-extract even when a complete copy exists.
    pub force: bool,
    /// Caps on the archive's extraction.
    pub limits: ExtractLimits,
    /// Keep the downloaded archive after extracting it.
    pub keep_archive: bool,
}

impl CollectOptions {
    /// Options to collect Kaggle's current version, without forcing and without keeping the archive.
    pub fn new(dataset: DatasetRef) -> Self {
        Self {
            dataset,
            version: None,
            force: false,
            limits: ExtractLimits::default(),
            keep_archive: false,
        }
    }
}

/// What [`collect`] did.
#[derive(Debug, Clone)]
pub enum CollectOutcome {
    /// A complete copy of the wanted version was already there; nothing was downloaded.
    UpToDate(Manifest),
    /// A version was downloaded and extracted.
    Downloaded {
        /// The new version's manifest.
        manifest: Manifest,
        /// The download (size, MD5, whether the MD5 was checked).
        download: Downloaded,
    },
}

impl CollectOutcome {
    /// The manifest of the version now on disk.
    pub fn manifest(&self) -> &Manifest {
        match self {
            CollectOutcome::UpToDate(m) => m,
            CollectOutcome::Downloaded { manifest, .. } => manifest,
        }
    }
}

/// Bring the wanted version of a dataset from Kaggle onto disk, unless it is already there.
pub fn collect(
    home: &AslHome,
    client: &KaggleClient,
    opts: &CollectOptions,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<CollectOutcome, DatasetError> {
    let store = DatasetStore::new(home, &opts.dataset);
    let _lock = store.lock()?;
    // A pinned version that is complete locally never needs the network.
    if let (Some(v), false) = (opts.version, opts.force)
        && let Some(m) = store.manifest(v)?
    {
        return Ok(CollectOutcome::UpToDate(m));
    }
    let meta = client.get_dataset(&opts.dataset)?;
    let version = match opts.version {
        Some(v) => v,
        None => meta
            .current_version_number
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| DatasetError::NoVersion(opts.dataset.to_string()))?,
    };
    if !opts.force
        && let Some(m) = store.manifest(version)?
    {
        return Ok(CollectOutcome::UpToDate(m));
    }
    let archive = store.archive_path(version);
    let download = download::download_archive(client, &opts.dataset, version, &archive, progress, cancel)?;
    let mut base = store.base_manifest(version, "kaggle".into());
    // lastUpdated describes the current version; it only belongs to a pinned older one if equal.
    if meta.current_version_number == Some(version as i64) {
        base.last_updated = meta.last_updated.clone();
    }
    base.archive_bytes = Some(download.bytes);
    base.archive_md5 = Some(download.md5_hex.clone());
    base.md5_verified = download.md5_verified;
    let manifest = store.install_archive(version, &archive, base, &opts.limits, progress)?;
    if !opts.keep_archive {
        let _ = fs::remove_file(&archive);
    }
    Ok(CollectOutcome::Downloaded { manifest, download })
}

/// Local versus remote state of a dataset.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetStatus {
    /// The dataset, `owner/slug`.
    pub dataset: String,
    /// The version asked for, if one was pinned.
    pub pinned_version: Option<u32>,
    /// Complete local versions, newest first.
    pub local_versions: Vec<LocalVersion>,
    /// The highest complete local version, if any.
    pub newest_complete: Option<u32>,
    /// Bytes of an interrupted download of the remote current version, if any.
    pub partial_download_bytes: Option<u64>,
    /// Kaggle's metadata, when a client was given and the call succeeded.
    pub remote: Option<RemoteInfo>,
    /// Why the remote could not be asked, when it could not.
    pub remote_error: Option<String>,
    /// None when it cannot be told (remote unknown and nothing pinned).
    pub outdated: Option<bool>,
}

/// One complete local version, as [`status`] lists it.
#[derive(Debug, Clone, Serialize)]
pub struct LocalVersion {
    /// The version number.
    pub version: u32,
    /// Where it came from: `kaggle`, `zip:<path>` or `dir:<path>`.
    pub source: String,
    /// Kaggle's `lastUpdated` for the version, when known.
    pub last_updated: Option<String>,
    /// Images over all classes.
    pub images: u64,
    /// Bytes of the extracted data.
    pub bytes: u64,
    /// Size of the archive in bytes; `None` for a folder import.
    pub archive_bytes: Option<u64>,
    /// The absolute data folder.
    pub path: PathBuf,
}

/// What Kaggle says about a dataset, as [`status`] reports it.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteInfo {
    /// The dataset's title.
    pub title: Option<String>,
    /// Kaggle's current version number.
    pub current_version: Option<i64>,
    /// When Kaggle last updated the dataset.
    pub last_updated: Option<String>,
    /// Size of the dataset in bytes, as Kaggle reports it.
    pub total_bytes: Option<i64>,
    /// Name of the dataset's licence.
    pub license: Option<String>,
}

/// Outdated = the remote's current version is newer than the newest complete local one.
/// A pinned version is never outdated once it is complete.
pub fn status(
    home: &AslHome,
    client: Option<&KaggleClient>,
    dataset: &DatasetRef,
    pinned: Option<u32>,
) -> Result<DatasetStatus, DatasetError> {
    let store = DatasetStore::new(home, dataset);
    let complete = store.complete_versions()?;
    let newest = complete.first().map(|m| m.version);
    let local_versions = complete
        .iter()
        .map(|m| LocalVersion {
            version: m.version,
            source: m.source.clone(),
            last_updated: m.last_updated.clone(),
            images: m.total_images(),
            bytes: m.bytes,
            archive_bytes: m.archive_bytes,
            path: store.data_dir(m),
        })
        .collect();
    let (remote, remote_error) = match client {
        Some(c) => match c.get_dataset(dataset) {
            Ok(meta) => (
                Some(RemoteInfo {
                    title: meta.title,
                    current_version: meta.current_version_number,
                    last_updated: meta.last_updated,
                    total_bytes: meta.total_bytes,
                    license: meta.license_name,
                }),
                None,
            ),
            Err(e) => (None, Some(e.to_string())),
        },
        None => (None, Some("offline".into())),
    };
    let outdated = match (pinned, &remote) {
        (Some(p), _) => Some(!complete.iter().any(|m| m.version == p)),
        (None, Some(r)) => r.current_version.map(|cur| newest.is_none_or(|n| (n as i64) < cur)),
        (None, None) => None,
    };
    let wanted = pinned.or(remote
        .as_ref()
        .and_then(|r| r.current_version)
        .and_then(|v| u32::try_from(v).ok()));
    let partial_download_bytes = wanted.and_then(|v| store.partial_download(v));
    Ok(DatasetStatus {
        dataset: dataset.to_string(),
        pinned_version: pinned,
        local_versions,
        newest_complete: newest,
        partial_download_bytes,
        remote,
        remote_error,
        outdated,
    })
}

/// The newest complete copy of `dataset` (what prep reads by default).
pub fn newest_local(home: &AslHome, dataset: &DatasetRef) -> Result<(DatasetStore, Manifest), DatasetError> {
    let store = DatasetStore::new(home, dataset);
    let m = store
        .newest_complete()?
        .ok_or_else(|| DatasetError::NotCollected(dataset.to_string()))?;
    Ok((store, m))
}
