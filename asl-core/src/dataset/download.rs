//! Resumable, verified download of a dataset archive from its signed storage URL.
//!
//! The bytes go to `<N>.zip.part`; `<N>.zip.part.json` records what they are (version, the
//! storage validator and the expected size) so that a later run resumes with `Range` +
//! `If-Range` on a *fresh* signed URL (they expire). The archive is renamed into place only after
//! its length, and its MD5 when the storage sends one, check out.
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use base64::Engine;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::kaggle::{DatasetRef, KaggleClient, KaggleError, parse_retry_after};
use crate::fsutil;
use crate::progress::{Cancel, Progress};

/// Resume state stored beside the partial file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct PartState {
    version: u32,
    /// ETag, or Last-Modified when there is no ETag.
    validator: Option<String>,
    /// Full size of the object (Content-Length of a 200, or the total of a Content-Range).
    size: u64,
    /// Base64 MD5 from `x-goog-hash`, when the storage sent one.
    md5: Option<String>,
}

/// What a finished download produced.
#[derive(Debug, Clone)]
pub struct Downloaded {
    /// The archive file.
    pub path: PathBuf,
    /// Size of the archive in bytes.
    pub bytes: u64,
    /// Hex MD5 of the whole archive (always computed by us).
    pub md5_hex: String,
    /// Whether the storage sent an MD5 that we checked against.
    pub md5_verified: bool,
    /// Bytes that were already on disk from an interrupted run.
    pub resumed_from: u64,
    /// Download attempts made, the successful one included.
    pub attempts: u32,
}

/// A transient failure worth another attempt, with the server's requested delay.
struct Retry {
    reason: String,
    retry_after: Option<std::time::Duration>,
    /// The signed URL is no longer good: ask for a fresh one.
    refresh_url: bool,
}

enum Attempt {
    Done { size: u64, md5: Option<String> },
    Retry(Retry),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KaggleError + '_ {
    move |source| KaggleError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Download version `version` of `dataset` into `dest` (the final archive path).
pub fn download_archive(
    client: &KaggleClient,
    dataset: &DatasetRef,
    version: u32,
    dest: &Path,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<Downloaded, KaggleError> {
    let part = dest.with_extension("zip.part");
    let state_path = dest.with_extension("zip.part.json");
    let files = PartFiles {
        part: &part,
        state_path: &state_path,
        version,
    };
    if let Some(dir) = dest.parent() {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let mut state = load_state(&state_path, version);
    if state.is_none() {
        // A part file without (valid) state cannot be trusted for resuming.
        let _ = fs::remove_file(&part);
    }
    let resumed_from = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let mut attempts = 0;
    let mut url = client.signed_url(dataset, Some(version))?;
    let outcome = loop {
        if cancel.is_cancelled() {
            break Err(KaggleError::Cancelled);
        }
        attempts += 1;
        match fetch_once(client, &url.0, files, &mut state, progress, cancel)? {
            Attempt::Done { size, md5 } => break Ok((size, md5)),
            Attempt::Retry(r) => {
                if attempts >= client.retry.max_attempts {
                    break Err(KaggleError::DownloadGaveUp {
                        attempts,
                        last: r.reason,
                    });
                }
                progress.message(&format!("download interrupted ({}); retrying", r.reason));
                std::thread::sleep(client.retry.delay(attempts - 1, r.retry_after));
                if r.refresh_url {
                    url = client.signed_url(dataset, Some(version))?;
                }
            }
        }
    };
    progress.finish();
    let (size, expected_md5) = outcome?;
    let (md5_hex, md5_verified) = verify_part(files, size, expected_md5, attempts)?;
    fs::rename(&part, dest).map_err(io_err(dest))?;
    let _ = fs::remove_file(&state_path);
    fsutil::sync_dir(fsutil::parent_dir(dest)).map_err(io_err(dest))?;
    Ok(Downloaded {
        path: dest.to_path_buf(),
        bytes: size,
        md5_hex,
        md5_verified,
        resumed_from,
        attempts,
    })
}

/// Verify the whole part file: length always, MD5 when the storage told us one (a mismatch
/// deletes the part and its record). Returns the hex MD5 and whether it was checked.
fn verify_part(
    files: PartFiles<'_>,
    size: u64,
    expected_md5: Option<String>,
    attempts: u32,
) -> Result<(String, bool), KaggleError> {
    let (have, md5_bytes) = hash_file(files.part)?;
    let md5_hex = hex(&md5_bytes);
    if have != size {
        return Err(KaggleError::DownloadGaveUp {
            attempts,
            last: format!("got {have} bytes of {size}"),
        });
    }
    let mut md5_verified = false;
    if let Some(expected) = expected_md5 {
        let got = base64::engine::general_purpose::STANDARD.encode(md5_bytes);
        if got != expected {
            let _ = fs::remove_file(files.part);
            let _ = fs::remove_file(files.state_path);
            return Err(KaggleError::Checksum(format!(
                "MD5 {got} does not match the storage's {expected}"
            )));
        }
        md5_verified = true;
    }
    Ok((md5_hex, md5_verified))
}

fn load_state(path: &Path, version: u32) -> Option<PartState> {
    let text = fs::read(path).ok()?;
    let s: PartState = serde_json::from_slice(&text).ok()?;
    (s.version == version).then_some(s)
}

/// The part file of one archive version, and its resume record.
#[derive(Clone, Copy)]
struct PartFiles<'a> {
    /// `<N>.zip.part`: the bytes so far.
    part: &'a Path,
    /// `<N>.zip.part.json`: what they are ([`PartState`]).
    state_path: &'a Path,
    version: u32,
}

/// One GET of the signed URL, appending to the part file. Errors that cannot get better by
/// retrying are returned as `Err`; transient ones as `Attempt::Retry`.
fn fetch_once(
    client: &KaggleClient,
    url: &str,
    files: PartFiles<'_>,
    state: &mut Option<PartState>,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<Attempt, KaggleError> {
    let PartFiles {
        part,
        state_path,
        version,
    } = files;
    let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let resp = match request(client, url, have, state.as_ref()).send() {
        Ok(r) => r,
        Err(e) => {
            return Ok(Attempt::Retry(Retry {
                reason: format!("connection error: {e}"),
                retry_after: None,
                refresh_url: false,
            }));
        }
    };
    if let Some(retry) = check_status(&resp, url, part, state)? {
        return Ok(Attempt::Retry(retry));
    }
    let Reply {
        md5,
        validator,
        total,
        append,
    } = match read_reply(&resp, url, have, part, state)? {
        ControlFlow::Continue(reply) => reply,
        ControlFlow::Break(retry) => return Ok(Attempt::Retry(retry)),
    };
    // Record what the part file holds before writing a byte of it.
    let new_state = PartState {
        version,
        validator,
        size: total,
        md5: md5.or_else(|| state.as_ref().and_then(|s| s.md5.clone())),
    };
    fsutil::write_json_atomic(state_path, &new_state).map_err(io_err(state_path))?;
    *state = Some(new_state.clone());

    let written = match write_body(resp, part, append, have, total, progress, cancel)? {
        ControlFlow::Continue(written) => written,
        ControlFlow::Break(retry) => return Ok(Attempt::Retry(retry)),
    };
    if written < total {
        return Ok(Attempt::Retry(Retry {
            reason: format!("connection cut at {written} of {total} bytes"),
            retry_after: None,
            refresh_url: false,
        }));
    }
    if written > total {
        let _ = fs::remove_file(part);
        *state = None;
        return Ok(Attempt::Retry(Retry {
            reason: format!("received {written} bytes, more than the announced {total}"),
            retry_after: None,
            refresh_url: false,
        }));
    }
    Ok(Attempt::Done {
        size: total,
        md5: new_state.md5,
    })
}

/// The GET of the signed URL, with `Range` + `If-Range` when resuming from `have` bytes.
fn request(
    client: &KaggleClient,
    url: &str,
    have: u64,
    state: Option<&PartState>,
) -> reqwest::blocking::RequestBuilder {
    let mut req = client.http().get(url);
    let resuming = have > 0 && state.is_some();
    if resuming {
        req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
        if let Some(v) = state.and_then(|s| s.validator.clone()) {
            req = req.header(reqwest::header::IF_RANGE, v);
        }
    }
    req
}

fn header(resp: &reqwest::blocking::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// What a status other than 200 and 206 (None) calls for: a retry, or an error when retrying
/// cannot help. A 416 discards the part file first.
fn check_status(
    resp: &reqwest::blocking::Response,
    url: &str,
    part: &Path,
    state: &mut Option<PartState>,
) -> Result<Option<Retry>, KaggleError> {
    let status = resp.status().as_u16();
    match status {
        200 | 206 => Ok(None),
        416 => {
            // Our part is not a prefix of what the storage has: start over.
            let _ = fs::remove_file(part);
            *state = None;
            Ok(Some(Retry {
                reason: "range not satisfiable; restarting".into(),
                retry_after: None,
                refresh_url: false,
            }))
        }
        // An expired or revoked signed URL: storage answers 403 (or 400/401); get a new one.
        400 | 401 | 403 => Ok(Some(Retry {
            reason: format!("storage answered {status} (signed URL expired?)"),
            retry_after: None,
            refresh_url: true,
        })),
        404 => Err(KaggleError::NotFound {
            message: "the archive is gone from storage".into(),
        }),
        429 | 500..=599 => {
            let ra = header(resp, "retry-after").and_then(|v| parse_retry_after(&v));
            Ok(Some(Retry {
                reason: format!("storage answered {status}"),
                retry_after: ra,
                refresh_url: false,
            }))
        }
        _ => Err(KaggleError::Api {
            status,
            message: format!("unexpected storage reply for {}", redact(url)),
        }),
    }
}

/// What a 200 or 206 announces about the bytes that follow.
struct Reply {
    /// Base64 MD5 from `x-goog-hash`.
    md5: Option<String>,
    validator: Option<String>,
    /// Full size of the object.
    total: u64,
    /// A 206: the body continues the part file.
    append: bool,
}

/// Reads a 200's or 206's headers. A 206 that does not continue our part file (it starts
/// elsewhere, or the archive's size changed) discards the part and calls for a retry.
fn read_reply(
    resp: &reqwest::blocking::Response,
    url: &str,
    have: u64,
    part: &Path,
    state: &mut Option<PartState>,
) -> Result<ControlFlow<Retry, Reply>, KaggleError> {
    let md5 = header(resp, "x-goog-hash").and_then(|h| {
        h.split(',')
            .find_map(|kv| kv.trim().strip_prefix("md5=").map(|s| s.trim().to_string()))
    });
    let validator = header(resp, "etag").or_else(|| header(resp, "last-modified"));
    let content_length = resp.content_length();
    let append = resp.status().as_u16() == 206;
    let total = if append {
        // Content-Range: bytes START-END/TOTAL — the tail must start where our part ends.
        let range = header(resp, "content-range").unwrap_or_default();
        let (start, total) = parse_content_range(&range).ok_or_else(|| KaggleError::Protocol {
            url: redact(url),
            problem: format!("bad Content-Range {range:?}"),
        })?;
        if start != have {
            let _ = fs::remove_file(part);
            *state = None;
            return Ok(ControlFlow::Break(Retry {
                reason: format!("storage resumed at {start}, not {have}"),
                retry_after: None,
                refresh_url: false,
            }));
        }
        total
    } else {
        content_length.ok_or_else(|| KaggleError::Protocol {
            url: redact(url),
            problem: "no Content-Length".into(),
        })?
    };
    if append
        && let Some(s) = state.as_ref()
        && s.size != total
    {
        let _ = fs::remove_file(part);
        *state = None;
        return Ok(ControlFlow::Break(Retry {
            reason: "the archive changed on the server".into(),
            retry_after: None,
            refresh_url: false,
        }));
    }
    Ok(ControlFlow::Continue(Reply {
        md5,
        validator,
        total,
        append,
    }))
}

/// Streams the body into the part file (appended to after `have` bytes for a 206) and returns
/// the bytes the part then holds, or the retry for a connection cut mid-body. The file is
/// synced on every way out.
fn write_body(
    resp: reqwest::blocking::Response,
    part: &Path,
    append: bool,
    have: u64,
    total: u64,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<ControlFlow<Retry, u64>, KaggleError> {
    let mut file = if append {
        OpenOptions::new().append(true).open(part).map_err(io_err(part))?
    } else {
        File::create(part).map_err(io_err(part))?
    };
    progress.begin("download", Some(total));
    progress.set_position(if append { have } else { 0 });
    let mut written = if append { have } else { 0 };
    let chunks = read_in_background(resp);
    loop {
        if cancel.is_cancelled() {
            // What arrived stays on disk, with its resume record, for the next run.
            file.sync_all().map_err(io_err(part))?;
            return Err(KaggleError::Cancelled);
        }
        let chunk = match chunks.recv_timeout(CANCEL_POLL) {
            Ok(Ok(chunk)) => chunk,
            Ok(Err(e)) => {
                file.sync_all().map_err(io_err(part))?;
                return Ok(ControlFlow::Break(Retry {
                    reason: format!("connection cut at {written} of {total} bytes: {e}"),
                    retry_after: None,
                    refresh_url: false,
                }));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        file.write_all(&chunk).map_err(io_err(part))?;
        written += chunk.len() as u64;
        progress.advance(chunk.len() as u64);
    }
    file.sync_all().map_err(io_err(part))?;
    Ok(ControlFlow::Continue(written))
}

/// How often a download waiting for data checks for cancellation (Ctrl-C).
const CANCEL_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Reads the response body on a thread of its own and hands the chunks over a small channel,
/// so the caller can notice a cancellation while a read blocks. The channel closes at the end
/// of the body; a failed read (the client's read timeout included) is sent, then it closes.
/// After a cancellation the thread ends at its next read, at most one read timeout later.
fn read_in_background(mut resp: reqwest::blocking::Response) -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::sync_channel(4);
    std::thread::spawn(move || {
        loop {
            let mut buf = vec![0u8; 256 * 1024];
            match resp.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.send(Ok(buf)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    });
    rx
}

/// `bytes START-END/TOTAL` → (START, TOTAL).
fn parse_content_range(v: &str) -> Option<(u64, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()?))
}

/// Signed URLs carry credentials in their query: never print that part.
pub fn redact(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_string(),
    }
}

/// Size and MD5 of a file.
pub fn hash_file(path: &Path) -> Result<(u64, [u8; 16]), KaggleError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n_total = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        n_total += n as u64;
    }
    Ok((n_total, h.finalize().into()))
}

/// Lower-case hexadecimal of `bytes`, two digits a byte.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("bytes 100-199/200"), Some((100, 200)));
        assert_eq!(parse_content_range("bytes */200"), None);
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("https://s/x.zip?X-Goog-Signature=secret"), "https://s/x.zip?…");
    }
}
