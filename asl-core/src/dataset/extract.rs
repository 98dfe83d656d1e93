//! Safe extraction of a dataset archive.
//!
//! Everything goes into a temporary directory beside the destination, which is renamed into
//! place only when the whole archive is out; the caller writes the completion marker after
//! that. Archives that try to escape (zip-slip), carry links or device files, or inflate
//! beyond the caps (zip bombs) are refused before anything lands in the destination.
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use crate::fsutil;

/// Why an archive was refused or could not be extracted; nothing is left at the destination.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The file is not a zip archive the reader can open.
    #[error("{archive}: not a readable zip archive: {reason}")]
    NotZip {
        /// The archive.
        archive: PathBuf,
        /// The zip reader's error.
        reason: String,
    },
    /// An entry would escape the destination (absolute path, `..`) or is a link or device file.
    #[error("refused {entry:?}: {reason} (unsafe archive, nothing was extracted)")]
    Unsafe {
        /// The entry's name in the archive.
        entry: String,
        /// What makes it unsafe.
        reason: String,
    },
    /// The archive exceeds an [`ExtractLimits`] cap (the message says which).
    #[error("refused archive: {0} (possible zip bomb; raise the limit if the archive is genuine)")]
    TooBig(String),
    /// An entry's data could not be read back intact.
    #[error("{entry:?} is corrupt: {reason}")]
    Corrupt {
        /// The entry's name in the archive.
        entry: String,
        /// The zip reader's error.
        reason: String,
    },
    /// Reading the archive or writing the extracted files failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ExtractError + '_ {
    move |source| ExtractError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Caps against zip bombs. The real dataset is 87,000 files, ~1.1 GB.
#[derive(Debug, Clone)]
pub struct ExtractLimits {
    /// Most entries an archive may hold (default 250,000).
    pub max_entries: usize,
    /// Most uncompressed bytes in all (default 16 GiB).
    pub max_total_bytes: u64,
    /// Largest uncompressed/compressed ratio of one entry (JPEGs are close to 1).
    pub max_ratio: u64,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        Self {
            max_entries: 250_000,
            max_total_bytes: 16 << 30,
            max_ratio: 200,
        }
    }
}

/// What an extraction wrote.
#[derive(Debug, Clone, Default)]
pub struct ExtractSummary {
    /// Files written.
    pub files: u64,
    /// Bytes written (uncompressed).
    pub bytes: u64,
    /// Entries left out on purpose (`__MACOSX/`, dot files), never silently.
    pub skipped: Vec<String>,
}

/// Why an entry name is unsafe, if it is.
fn check_name(name: &str) -> Result<PathBuf, String> {
    if name.contains('\0') {
        return Err("NUL in name".into());
    }
    if name.starts_with('/') || name.starts_with('\\') || name.contains(":\\") || name.contains(":/") {
        return Err("absolute path".into());
    }
    let mut out = PathBuf::new();
    for comp in Path::new(&name.replace('\\', "/")).components() {
        match comp {
            Component::Normal(c) => out.push(c),
            Component::CurDir => {}
            Component::ParentDir => return Err("'..' escapes the destination".into()),
            Component::RootDir | Component::Prefix(_) => return Err("absolute path".into()),
        }
    }
    Ok(out)
}

/// Entries we leave out on purpose: macOS resource forks and hidden files.
fn is_skipped(rel: &Path) -> bool {
    rel.components().any(|c| {
        let s = c.as_os_str().to_string_lossy();
        s == "__MACOSX" || s.starts_with('.')
    })
}

/// Extract `archive` to `dest` (which must not exist yet) through a temporary directory and a
/// rename. On any error nothing is left at `dest`.
pub fn extract_zip(
    archive: &Path,
    dest: &Path,
    limits: &ExtractLimits,
    progress: &dyn crate::progress::Progress,
) -> Result<ExtractSummary, ExtractError> {
    let file = File::open(archive).map_err(io_err(archive))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| ExtractError::NotZip {
        archive: archive.to_path_buf(),
        reason: e.to_string(),
    })?;
    if zip.len() > limits.max_entries {
        return Err(ExtractError::TooBig(format!(
            "{} entries, the limit is {}",
            zip.len(),
            limits.max_entries
        )));
    }
    validate_entries(&mut zip, archive, limits)?;

    let parent = fsutil::parent_dir(dest);
    fs::create_dir_all(parent).map_err(io_err(parent))?;
    let tmp = tempfile::Builder::new()
        .prefix(".extract-")
        .tempdir_in(parent)
        .map_err(io_err(parent))?;
    progress.begin("extract", Some(zip.len() as u64));
    let summary = extract_entries(&mut zip, archive, tmp.path(), limits, progress)?;
    progress.finish();
    let tmp_path = tmp.keep();
    if let Err(e) = fs::rename(&tmp_path, dest) {
        let _ = fs::remove_dir_all(&tmp_path);
        return Err(ExtractError::Io {
            path: dest.to_path_buf(),
            source: e,
        });
    }
    fsutil::sync_dir(parent).map_err(io_err(parent))?;
    Ok(summary)
}

/// Pass 1: validate every entry from the central directory before writing anything.
fn validate_entries(
    zip: &mut zip::ZipArchive<File>,
    archive: &Path,
    limits: &ExtractLimits,
) -> Result<(), ExtractError> {
    let mut declared_total = 0u64;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|e| ExtractError::NotZip {
            archive: archive.to_path_buf(),
            reason: e.to_string(),
        })?;
        let name = entry.name().to_string();
        check_name(&name).map_err(|reason| ExtractError::Unsafe {
            entry: name.clone(),
            reason,
        })?;
        if let Some(mode) = entry.unix_mode() {
            let kind = mode & 0o170000;
            if kind == 0o120000 {
                return Err(ExtractError::Unsafe {
                    entry: name,
                    reason: "symbolic link".into(),
                });
            }
            if kind != 0 && kind != 0o100000 && kind != 0o040000 {
                return Err(ExtractError::Unsafe {
                    entry: name,
                    reason: "device, FIFO or socket".into(),
                });
            }
        }
        let (size, packed) = (entry.size(), entry.compressed_size().max(1));
        if size / packed > limits.max_ratio {
            return Err(ExtractError::TooBig(format!(
                "{name:?} inflates {}× (limit {}×)",
                size / packed,
                limits.max_ratio
            )));
        }
        declared_total = declared_total.saturating_add(size);
        if declared_total > limits.max_total_bytes {
            return Err(ExtractError::TooBig(format!(
                "more than {} bytes uncompressed",
                limits.max_total_bytes
            )));
        }
    }
    Ok(())
}

/// Pass 2: extract into `tmp`. Sizes are enforced on the bytes actually inflated, not on the
/// headers, which a hostile archive can fake.
fn extract_entries(
    zip: &mut zip::ZipArchive<File>,
    archive: &Path,
    tmp: &Path,
    limits: &ExtractLimits,
    progress: &dyn crate::progress::Progress,
) -> Result<ExtractSummary, ExtractError> {
    let mut summary = ExtractSummary::default();
    let mut inflater = Inflater {
        buf: vec![0u8; 64 * 1024],
        written_total: 0,
        max_total_bytes: limits.max_total_bytes,
    };
    for i in 0..zip.len() {
        progress.advance(1);
        let mut entry = zip.by_index(i).map_err(|e| ExtractError::NotZip {
            archive: archive.to_path_buf(),
            reason: e.to_string(),
        })?;
        let name = entry.name().to_string();
        let rel = check_name(&name).map_err(|reason| ExtractError::Unsafe {
            entry: name.clone(),
            reason,
        })?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        if is_skipped(&rel) {
            summary.skipped.push(name);
            continue;
        }
        let out = tmp.join(&rel);
        if entry.is_dir() {
            fs::create_dir_all(&out).map_err(io_err(&out))?;
            continue;
        }
        if let Some(p) = out.parent() {
            fs::create_dir_all(p).map_err(io_err(p))?;
        }
        let declared = entry.size();
        let n_entry = inflater.copy(&mut entry, &name, declared, &out)?;
        summary.files += 1;
        summary.bytes += n_entry;
    }
    Ok(summary)
}

/// Writes entries out, counting the bytes actually inflated against the caps.
struct Inflater {
    buf: Vec<u8>,
    /// Bytes written over all entries so far.
    written_total: u64,
    max_total_bytes: u64,
}

impl Inflater {
    /// Writes the bytes of entry `name` (`declared` of them, at most) to `out`, synced, and
    /// returns how many there were.
    fn copy(&mut self, entry: &mut impl Read, name: &str, declared: u64, out: &Path) -> Result<u64, ExtractError> {
        let mut f = File::create(out).map_err(io_err(out))?;
        let mut n_entry = 0u64;
        loop {
            let n = entry.read(&mut self.buf).map_err(|e| ExtractError::Corrupt {
                entry: name.to_string(),
                reason: e.to_string(),
            })?;
            if n == 0 {
                break;
            }
            n_entry += n as u64;
            self.written_total += n as u64;
            if n_entry > declared || self.written_total > self.max_total_bytes {
                return Err(ExtractError::TooBig(format!(
                    "{name:?} inflates past its declared size"
                )));
            }
            f.write_all(&self.buf[..n]).map_err(io_err(out))?;
        }
        f.sync_all().map_err(io_err(out))?;
        Ok(n_entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use std::io::Cursor;
    use zip::write::SimpleFileOptions;

    fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn try_extract(bytes: &[u8], limits: &ExtractLimits) -> (Result<ExtractSummary, ExtractError>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.zip");
        fs::write(&a, bytes).unwrap();
        let r = extract_zip(&a, &dir.path().join("out"), limits, &NoProgress);
        (r, dir)
    }

    #[test]
    fn extracts_and_skips_hidden() {
        let z = zip_with(&[
            ("x/A/A1.jpg", b"abc"),
            ("__MACOSX/x/._A1.jpg", b"junk"),
            ("x/.DS_Store", b"j"),
        ]);
        let (r, dir) = try_extract(&z, &ExtractLimits::default());
        let s = r.unwrap();
        assert_eq!(s.files, 1);
        assert_eq!(s.skipped.len(), 2);
        assert_eq!(fs::read(dir.path().join("out/x/A/A1.jpg")).unwrap(), b"abc");
    }

    #[test]
    fn refuses_zip_slip_and_leaves_nothing() {
        for evil in ["../evil.txt", "/etc/evil", "a/../../evil", "C:\\evil"] {
            let z = zip_with(&[("ok.txt", b"fine"), (evil, b"bad")]);
            let (r, dir) = try_extract(&z, &ExtractLimits::default());
            assert!(matches!(r, Err(ExtractError::Unsafe { .. })), "{evil}: {r:?}");
            assert!(!dir.path().join("out").exists());
            assert!(!dir.path().parent().unwrap().join("evil.txt").exists());
        }
    }

    #[test]
    fn refuses_symlinks() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.add_symlink("link", "/etc/passwd", SimpleFileOptions::default())
            .unwrap();
        let z = w.finish().unwrap().into_inner();
        let (r, _d) = try_extract(&z, &ExtractLimits::default());
        assert!(matches!(r, Err(ExtractError::Unsafe { .. })), "{r:?}");
    }

    #[test]
    fn refuses_bombs() {
        let zeros = vec![0u8; 4 << 20];
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file(
            "zeros.bin",
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated),
        )
        .unwrap();
        w.write_all(&zeros).unwrap();
        let z = w.finish().unwrap().into_inner();
        let (r, dir) = try_extract(&z, &ExtractLimits::default());
        assert!(matches!(r, Err(ExtractError::TooBig(_))), "{r:?}");
        assert!(!dir.path().join("out").exists());
        let small = ExtractLimits {
            max_entries: 1,
            ..Default::default()
        };
        let (r, _d) = try_extract(&zip_with(&[("a", b"1"), ("b", b"2")]), &small);
        assert!(matches!(r, Err(ExtractError::TooBig(_))));
        let small = ExtractLimits {
            max_total_bytes: 3,
            ..Default::default()
        };
        let (r, _d) = try_extract(&zip_with(&[("a", b"12"), ("b", b"34")]), &small);
        assert!(matches!(r, Err(ExtractError::TooBig(_))));
    }

    #[test]
    fn not_a_zip() {
        let (r, _d) = try_extract(b"this is not a zip", &ExtractLimits::default());
        assert!(matches!(r, Err(ExtractError::NotZip { .. })));
    }
}
