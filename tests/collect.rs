//! The collect flow end to end against a local server that speaks Kaggle's API
//! (tests/support/fake_kaggle.rs), with faults injected.
#[path = "support/fake_kaggle.rs"]
mod fake_kaggle;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use asl::AslHome;
use asl::dataset::{
    self, CollectOptions, CollectOutcome, DatasetError, DatasetRef, ExtractError, KaggleClient, KaggleError,
    kaggle::Credentials,
};
use asl::progress::{Cancel, NoProgress};
use fake_kaggle::{FakeKaggle, Fault};

const REF: &str = "grassknoted/asl-alphabet";

fn small_archive(seed: u64) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.zip");
    let cfg = asl::synth::SynthConfig {
        per_class: 3,
        image_size: 16,
        seed,
        ..Default::default()
    };
    asl::synth::write_zip(&cfg, &out).unwrap();
    std::fs::read(out).unwrap()
}

fn client(server: &FakeKaggle, creds: Credentials) -> KaggleClient {
    let base = asl::dataset::kaggle::resolve_api_base(Some(&server.base_url()), &Default::default()).unwrap();
    let mut c = KaggleClient::new(base, creds).unwrap();
    c.retry.base_delay = Duration::from_millis(10);
    c.retry.max_attempts = 6;
    c
}

fn opts() -> CollectOptions {
    CollectOptions::new(DatasetRef::parse(REF).unwrap().0)
}

fn run(home: &AslHome, c: &KaggleClient, o: &CollectOptions) -> Result<CollectOutcome, DatasetError> {
    dataset::collect(home, c, o, &NoProgress, &Cancel::new())
}

/// No manifest, no extracted folder, no temp dirs: nothing that looks complete.
fn assert_nothing_complete(home: &AslHome) {
    let d = home.dataset_dir("grassknoted", "asl-alphabet");
    let manifests: Vec<_> = std::fs::read_dir(&d)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".manifest.json"))
                .collect()
        })
        .unwrap_or_default();
    assert!(manifests.is_empty(), "a manifest was written");
    let versions = d.join("versions");
    let entries: Vec<_> = std::fs::read_dir(&versions)
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(entries.is_empty(), "left behind in versions/: {entries:?}");
}

#[test]
fn fresh_download_then_up_to_date_then_version_bump() {
    let server = FakeKaggle::start();
    server.publish(REF, 1, small_archive(1));
    let home_dir = tempfile::tempdir().unwrap();
    let home = AslHome::new(home_dir.path());
    let c = client(&server, Credentials::Anonymous);

    let out = run(&home, &c, &opts()).unwrap();
    let CollectOutcome::Downloaded { manifest, download } = out else {
        panic!("expected a download")
    };
    assert_eq!(manifest.version, 1);
    assert!(download.md5_verified);
    assert_eq!(manifest.total_images(), 29 * 3);
    assert!(manifest.images_per_class.iter().all(|c| c.images == 3));
    assert!(manifest.last_updated.is_some());
    let st = dataset::status(&home, Some(&c), &DatasetRef::parse(REF).unwrap().0, None).unwrap();
    assert_eq!(st.outdated, Some(false));

    // Second run: up to date, nothing downloaded.
    let gets = server.stats().storage_gets;
    assert!(matches!(run(&home, &c, &opts()).unwrap(), CollectOutcome::UpToDate(_)));
    assert_eq!(server.stats().storage_gets, gets);

    // The remote moves to version 2: status says outdated, collect downloads it.
    server.publish(REF, 2, small_archive(2));
    let st = dataset::status(&home, Some(&c), &DatasetRef::parse(REF).unwrap().0, None).unwrap();
    assert_eq!(st.outdated, Some(true));
    // A pinned, complete version 1 never goes stale, and needs no network.
    let pinned = dataset::status(&home, Some(&c), &DatasetRef::parse(REF).unwrap().0, Some(1)).unwrap();
    assert_eq!(pinned.outdated, Some(false));
    let mut o1 = opts();
    o1.version = Some(1);
    let rpcs = server.stats().get_dataset;
    assert!(matches!(run(&home, &c, &o1).unwrap(), CollectOutcome::UpToDate(_)));
    assert_eq!(server.stats().get_dataset, rpcs);

    let out = run(&home, &c, &opts()).unwrap();
    assert!(matches!(&out, CollectOutcome::Downloaded { manifest, .. } if manifest.version == 2));
    let st = dataset::status(&home, Some(&c), &DatasetRef::parse(REF).unwrap().0, None).unwrap();
    assert_eq!(
        (st.outdated, st.newest_complete, st.local_versions.len()),
        (Some(false), Some(2), 2)
    );
}

#[test]
fn a_cut_connection_is_resumed_not_restarted() {
    let server = FakeKaggle::start();
    let archive = small_archive(3);
    let len = archive.len();
    server.publish(REF, 1, archive);
    let home_dir = tempfile::tempdir().unwrap();
    let home = AslHome::new(home_dir.path());
    let c = client(&server, Credentials::Anonymous);
    server.push_fault(Fault::CutAfter(len / 2));
    let CollectOutcome::Downloaded { download, .. } = run(&home, &c, &opts()).unwrap() else {
        panic!()
    };
    assert!(download.attempts >= 2);
    let st = server.stats();
    assert!(st.storage_range_gets >= 1, "the retry must ask for the tail with Range");
    assert!(
        st.bytes_served < (len as u64) * 3 / 2 + 1024,
        "served {} for a {} byte archive",
        st.bytes_served,
        len
    );
}

#[test]
fn an_interrupted_run_resumes_in_the_next_run() {
    let server = FakeKaggle::start();
    let archive = small_archive(4);
    let len = archive.len();
    server.publish(REF, 1, archive);
    let home_dir = tempfile::tempdir().unwrap();
    let home = AslHome::new(home_dir.path());
    let mut c = client(&server, Credentials::Anonymous);
    c.retry.max_attempts = 1;
    server.push_fault(Fault::CutAfter(len / 3));
    let err = run(&home, &c, &opts()).unwrap_err();
    assert!(
        matches!(err, DatasetError::Kaggle(KaggleError::DownloadGaveUp { .. })),
        "{err}"
    );
    assert_nothing_complete(&home);
    let store = dataset::DatasetStore::new(&home, &DatasetRef::parse(REF).unwrap().0);
    assert_eq!(store.partial_download(1), Some((len / 3) as u64));

    // The next run gets a fresh signed URL and asks only for the rest.
    let CollectOutcome::Downloaded { download, manifest } = run(&home, &c, &opts()).unwrap() else {
        panic!()
    };
    assert_eq!(download.resumed_from, (len / 3) as u64);
    assert!(download.md5_verified);
    assert_eq!(manifest.total_images(), 87);
    assert!(
        server
            .stats()
            .last_range
            .is_some_and(|r| r.starts_with(&format!("bytes={}-", len / 3)))
    );
}

#[test]
fn a_server_that_stops_sending_is_timed_out_and_resumed() {
    let server = FakeKaggle::start();
    let archive = small_archive(11);
    let len = archive.len();
    server.publish(REF, 1, archive);
    let home_dir = tempfile::tempdir().unwrap();
    let home = AslHome::new(home_dir.path());
    let c = client(&server, Credentials::Anonymous)
        .with_read_timeout(Duration::from_millis(500))
        .unwrap();
    server.push_fault(Fault::StallAfter(len / 2));
    let started = Instant::now();
    let CollectOutcome::Downloaded { download, manifest } = run(&home, &c, &opts()).unwrap() else {
        panic!()
    };
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        download.attempts, 2,
        "the stalled attempt times out and the next one resumes"
    );
    assert!(download.md5_verified);
    assert_eq!(manifest.total_images(), 87);
    assert!(
        server
            .stats()
            .last_range
            .is_some_and(|r| r.starts_with(&format!("bytes={}-", len / 2)))
    );
}

#[test]
fn cancelling_a_stalled_download_returns_at_once_and_keeps_the_partial_file() {
    let server = FakeKaggle::start();
    let archive = small_archive(12);
    let len = archive.len();
    server.publish(REF, 1, archive);
    let home_dir = tempfile::tempdir().unwrap();
    let home = AslHome::new(home_dir.path());
    // The default read timeout (a minute): only the cancellation can end this attempt soon.
    let c = client(&server, Credentials::Anonymous);
    server.push_fault(Fault::StallAfter(len / 4));
    let cancel = Cancel::new();
    let flag = cancel.flag();
    // What Ctrl-C does in the CLI: set the flag while a read is blocked.
    let pressed = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        Instant::now()
    });
    let err = dataset::collect(&home, &c, &opts(), &NoProgress, &cancel).unwrap_err();
    let pressed_at = pressed.join().unwrap();
    assert!(matches!(err, DatasetError::Kaggle(KaggleError::Cancelled)), "{err}");
    assert!(
        pressed_at.elapsed() < Duration::from_secs(2),
        "cancellation took {:?}",
        pressed_at.elapsed()
    );
    let store = dataset::DatasetStore::new(&home, &DatasetRef::parse(REF).unwrap().0);
    assert_eq!(
        store.partial_download(1),
        Some((len / 4) as u64),
        "the bytes received stay for the next run"
    );
    assert_nothing_complete(&home);

    let CollectOutcome::Downloaded { download, .. } = run(&home, &c, &opts()).unwrap() else {
        panic!()
    };
    assert_eq!(download.resumed_from, (len / 4) as u64);
    assert!(download.md5_verified);
}

#[test]
fn a_killed_extraction_leaves_nothing_behind_after_the_next_run() {
    let home_dir = tempfile::tempdir().unwrap();
    let home = AslHome::new(home_dir.path());
    let zip = home_dir.path().join("a.zip");
    std::fs::write(&zip, small_archive(13)).unwrap();
    // What a SIGKILL mid-extraction leaves: a half-filled temporary folder.
    let versions = home.dataset_dir("grassknoted", "asl-alphabet").join("versions");
    let stale = versions.join(".extract-killed");
    std::fs::create_dir_all(stale.join("asl_alphabet_train/A")).unwrap();
    std::fs::write(stale.join("asl_alphabet_train/A/A1.jpg"), b"half").unwrap();
    let store = dataset::DatasetStore::new(&home, &DatasetRef::parse(REF).unwrap().0);
    let manifest = store
        .import_zip(&zip, 1, false, &Default::default(), &NoProgress)
        .unwrap();
    assert_eq!(manifest.total_images(), 87);
    assert!(!stale.exists(), "the killed run's folder was swept");
    let left: Vec<_> = std::fs::read_dir(&versions)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(left, ["1"], "only the complete version stays");
}

#[test]
fn an_expired_signed_url_is_refreshed() {
    let server = FakeKaggle::start();
    server.publish(REF, 1, small_archive(5));
    let home_dir = tempfile::tempdir().unwrap();
    let home = AslHome::new(home_dir.path());
    let c = client(&server, Credentials::Anonymous);
    server.push_fault(Fault::ExpiredUrl);
    assert!(matches!(
        run(&home, &c, &opts()).unwrap(),
        CollectOutcome::Downloaded { .. }
    ));
    assert!(server.stats().download_rpc >= 2, "a fresh URL must be asked for");
}

#[test]
fn rate_limit_is_waited_out_and_server_errors_retried() {
    let server = FakeKaggle::start();
    server.publish(REF, 1, small_archive(6));
    let home_dir = tempfile::tempdir().unwrap();
    let home = AslHome::new(home_dir.path());
    let c = client(&server, Credentials::Anonymous);
    server.push_fault(Fault::RateLimited { retry_after_secs: 1 });
    server.push_fault(Fault::RpcStatus(503));
    server.push_fault(Fault::StorageStatus(500));
    let t = Instant::now();
    assert!(matches!(
        run(&home, &c, &opts()).unwrap(),
        CollectOutcome::Downloaded { .. }
    ));
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "Retry-After: 1 must be honoured"
    );
}

#[test]
fn auth_and_not_found_errors_are_clear_and_write_nothing() {
    let server = FakeKaggle::start();
    server.publish(REF, 1, small_archive(7));
    server.require_auth(Some("Bearer good-token"));
    let home_dir = tempfile::tempdir().unwrap();
    let home = AslHome::new(home_dir.path());

    let bad = client(&server, Credentials::Token("s3cret-bad-token".into()));
    let err = run(&home, &bad, &opts()).unwrap_err();
    assert!(
        matches!(err, DatasetError::Kaggle(KaggleError::Unauthorized { status: 401, .. })),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("KAGGLE_API_TOKEN") && !msg.contains("s3cret-bad-token"),
        "{msg}"
    );
    assert_nothing_complete(&home);

    let good = client(&server, Credentials::Token("good-token".into()));
    let mut missing = opts();
    missing.dataset = DatasetRef::parse("nobody/nothing").unwrap().0;
    let err = run(&home, &good, &missing).unwrap_err();
    assert!(
        matches!(err, DatasetError::Kaggle(KaggleError::NotFound { .. })),
        "{err}"
    );

    server.push_fault(Fault::RpcErrorIn200);
    let err = run(&home, &good, &opts()).unwrap_err();
    assert!(
        matches!(err, DatasetError::Kaggle(KaggleError::NotFound { .. })),
        "{err}"
    );
    assert_nothing_complete(&home);

    assert!(matches!(
        run(&home, &good, &opts()).unwrap(),
        CollectOutcome::Downloaded { .. }
    ));
    assert_eq!(server.stats().last_authorization.as_deref(), Some("Bearer good-token"));
}

#[test]
fn a_wrong_md5_deletes_the_download() {
    let server = FakeKaggle::start();
    server.publish(REF, 1, small_archive(8));
    let home_dir = tempfile::tempdir().unwrap();
    let home = AslHome::new(home_dir.path());
    let c = client(&server, Credentials::Anonymous);
    server.push_fault(Fault::WrongMd5);
    let err = run(&home, &c, &opts()).unwrap_err();
    assert!(matches!(err, DatasetError::Kaggle(KaggleError::Checksum(_))), "{err}");
    assert_nothing_complete(&home);
    let store = dataset::DatasetStore::new(&home, &DatasetRef::parse(REF).unwrap().0);
    assert_eq!(store.partial_download(1), None);
    // The next run starts clean and succeeds.
    assert!(matches!(
        run(&home, &c, &opts()).unwrap(),
        CollectOutcome::Downloaded { .. }
    ));
}

fn zip_of(entries: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(
            *name,
            zip::write::SimpleFileOptions::default().compression_method(method),
        )
        .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn hostile_archives_are_refused() {
    let home_dir = tempfile::tempdir().unwrap();
    let home = AslHome::new(home_dir.path());
    let server = FakeKaggle::start();
    let c = client(&server, Credentials::Anonymous);

    server.publish(
        REF,
        1,
        zip_of(
            &[("asl_alphabet_train/A/A1.jpg", b"x"), ("../../escape.txt", b"evil")],
            zip::CompressionMethod::Stored,
        ),
    );
    let err = run(&home, &c, &opts()).unwrap_err();
    assert!(
        matches!(err, DatasetError::Extract(ExtractError::Unsafe { .. })),
        "{err}"
    );
    assert_nothing_complete(&home);
    assert!(!home_dir.path().join("escape.txt").exists() && !home_dir.path().join("../escape.txt").exists());

    let zeros = vec![0u8; 8 << 20];
    server.publish(
        REF,
        2,
        zip_of(
            &[("asl_alphabet_train/A/A1.jpg", &zeros)],
            zip::CompressionMethod::Deflated,
        ),
    );
    let err = run(&home, &c, &opts()).unwrap_err();
    assert!(matches!(err, DatasetError::Extract(ExtractError::TooBig(_))), "{err}");
    assert_nothing_complete(&home);
}

#[test]
fn offline_import_from_zip_and_dir() {
    let home_dir = tempfile::tempdir().unwrap();
    let home = AslHome::new(home_dir.path());
    let zip_path = home_dir.path().join("hand.zip");
    std::fs::write(&zip_path, small_archive(9)).unwrap();
    let store = dataset::DatasetStore::new(&home, &DatasetRef::parse(REF).unwrap().0);
    let m = store
        .import_zip(&zip_path, 1, false, &Default::default(), &NoProgress)
        .unwrap();
    assert_eq!(m.total_images(), 87);
    assert!(m.archive_md5.is_some());
    // The same archive again is kept as it is; `force` extracts it anew.
    let marker = std::fs::read(store.dir().join("1.manifest.json")).unwrap();
    assert_eq!(
        store
            .import_zip(&zip_path, 1, false, &Default::default(), &NoProgress)
            .unwrap(),
        m
    );
    assert_eq!(std::fs::read(store.dir().join("1.manifest.json")).unwrap(), marker);
    let forced = store
        .import_zip(&zip_path, 1, true, &Default::default(), &NoProgress)
        .unwrap();
    assert_eq!(forced.total_images(), 87);
    let train = store.train_root(&m);
    assert!(
        train.ends_with("asl_alphabet_train/asl_alphabet_train"),
        "{}",
        train.display()
    );

    let other = dataset::DatasetStore::new(&home, &DatasetRef::parse("me/by-hand").unwrap().0);
    let m2 = other.import_dir(&store.data_dir(&m), 3).unwrap();
    assert_eq!((m2.version, m2.total_images()), (3, 87));
    assert_eq!(other.newest_complete().unwrap().unwrap().version, 3);
}

/// The real (downscaled) Kaggle archive, when this machine has it: every image lands in its class.
#[test]
fn the_shared_real_archive_lands_in_the_right_classes() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/asl-alphabet-64px.zip");
    if !shared.exists() {
        eprintln!("skipped: {} not present", shared.display());
        return;
    }
    let server = FakeKaggle::start();
    server.publish(REF, 1, std::fs::read(&shared).unwrap());
    let home_dir = tempfile::tempdir().unwrap();
    let home = AslHome::new(home_dir.path());
    let c = client(&server, Credentials::Anonymous);
    let CollectOutcome::Downloaded { manifest, download } = run(&home, &c, &opts()).unwrap() else {
        panic!()
    };
    assert!(download.md5_verified);
    assert_eq!(manifest.files, 17_428);
    assert_eq!(manifest.images_per_class.len(), 29);
    for c in &manifest.images_per_class {
        assert_eq!(c.images, 600, "class {}", c.class);
    }
    // Spot-check that a class folder holds that class's files.
    let store = dataset::DatasetStore::new(&home, &DatasetRef::parse(REF).unwrap().0);
    let layout = dataset::layout::scan(&store.data_dir(&manifest)).unwrap();
    for (i, files) in layout.images.iter().enumerate() {
        let class = asl::classes::CLASSES[i];
        assert!(
            files
                .iter()
                .all(|f| f.file_name().unwrap().to_string_lossy().starts_with(class)),
            "{class}"
        );
    }
}
