//! Research harness of the hand path (issue 18; docs/hands/classifier.md, sections 11.6–11.9).
//!
//! ```text
//! cargo run --release --example hand_research -- crops <kaggle cache> <dev cache> <model dir> <out dir> [budget s]
//! cargo run --release --example hand_research -- loso <kaggle cache> <dev cache> <model dir> [repeat] [seed] [excluded,sources]
//! cargo run --release --example hand_research -- export <out json> <dev cache> <roboflow cache> [<landmark rows json>...]
//! ```
//! The caches are pixel caches with their hand caches (`asl prep --detect-hands` on the 200 px
//! subset, and the ones `asl eval --data asl-ood-dev.zip` and `asl eval --data <Roboflow zip>`
//! build); the model folder is one `asl train --hands on` wrote.
//! - `crops`: builds a crop cache of each (hands found only), trains the default CNN on the
//!   Kaggle crops, and prints accuracies per source for the photo CNN, the hand path, the crop
//!   CNN and their fusions.
//! - `loso`: the handshape model with the embedded other signers' hands, each of their sources
//!   among the photos read by a model trained without it (leave one source out; the sources
//!   named last are left out of every run); then the photo CNN's weight in the fusion and a
//!   gate on its confidence, swept on the Kaggle signer's held-out photos and the photos read.
//! - `export`: writes the hands of the table's sources (`TABLE_SOURCES`) found in the given
//!   caches, and the landmark-only rows of the given `.json` files, as the table
//!   `asl_core::handshape::signers` embeds.
//!
//! The commands that read a model read the hand caches of its landmark model (its card's);
//! the others read the full landmark model's, or with `LANDMARKS=lite` in the environment the
//! lite model's (`asl prep --detect-hands --landmarks lite`, and `asl eval` with a model
//! trained with `--landmarks lite`).
use std::path::{Path, PathBuf};

use asl::classes::NUM_CLASSES;
use asl::hand::crop::hand_crop;
use asl::hand_cache::HandCache;
use asl::handshape::features::{from_f32, is_right_hand, photo_features};
use asl::handshape::train::argmax;
use asl::infer::{Classifier, Lineage, fuse};
use asl::prep::{Cache, CacheHeader, Split, write_cache};
use asl::progress::{Cancel, NoProgress};
use asl::train::{NoCallback, TrainConfig, train};
use rayon::prelude::*;

type Error = Box<dyn std::error::Error>;

/// Whose hand caches to read: `LANDMARKS=lite` for the lite landmark model's.
fn landmark_model() -> asl::hand::LandmarkModel {
    match std::env::var("LANDMARKS").as_deref() {
        Ok("lite") => asl::hand::LandmarkModel::Lite,
        _ => asl::hand::LandmarkModel::Full,
    }
}

/// A crop cache beside `out`, and for each crop its split and index in the pixel cache.
fn crop_cache(cache: &Cache, out: &Path, side: u32) -> Result<(Cache, Vec<(Split, usize)>), Error> {
    let hands = HandCache::open(cache, landmark_model()).ok_or("no current hand cache: run asl prep --detect-hands")?;
    let root = cache.header.train_root.clone().ok_or("no training root")?;
    let n_train = cache.header.n_train;
    let rows: Vec<(Split, usize, usize)> = (0..n_train + cache.header.n_val)
        .filter(|&i| hands.entries[i].hand.is_some())
        .map(|i| {
            if i < n_train {
                (Split::Train, i, i)
            } else {
                (Split::Val, i - n_train, i)
            }
        })
        .collect();
    let crops: Vec<image::RgbImage> = rows
        .par_iter()
        .map(|&(_, _, i)| -> Result<image::RgbImage, String> {
            let h = hands.entries[i].hand.as_ref().ok_or("no hand")?;
            let bytes = std::fs::read(root.join(&cache.header.files[i])).map_err(|e| e.to_string())?;
            let rgb = asl::photo::decode(
                &bytes,
                &Default::default(),
                asl::photo::needed_side(cache.header.config.image_size),
            )
            .map_err(|e| e.to_string())?;
            let view = asl::hand::view(&rgb);
            let right = is_right_hand(&from_f32(&h.landmarks), h.handedness_right);
            Ok(hand_crop(&view, &h.landmarks, right, side))
        })
        .collect::<Result<_, _>>()?;
    let labels: Vec<u8> = rows.iter().map(|&(s, j, _)| cache.labels(s)[j]).collect();
    let mut header: CacheHeader = cache.header.clone();
    header.source_hash = format!("crops-of-{}", cache.header.hash());
    header.config.image_size = side;
    header.n_train = rows.iter().filter(|r| r.0 == Split::Train).count();
    header.n_val = rows.len() - header.n_train;
    header.files = rows.iter().map(|&(_, _, i)| cache.header.files[i].clone()).collect();
    let path = out.join(format!("{}.crops.aslcache", cache.header.hash()));
    write_cache(&path, &header, &labels, crops.iter())?;
    Ok((Cache::open(&path)?, rows.iter().map(|&(s, j, _)| (s, j)).collect()))
}

/// The photos' classes and file names (their source is the prefix before `__`).
struct Truth {
    labels: Vec<u8>,
    files: Vec<String>,
}

/// Per-photo probabilities of every reader, for one split of a pixel cache.
struct Readers {
    truth: Truth,
    photo: Vec<Vec<f32>>,
    /// The model's answer as served today (hand path fused with the photo CNN where a hand is found).
    served: Vec<Vec<f32>>,
    shape: Vec<Option<Vec<f32>>>,
    crop: Vec<Option<Vec<f32>>>,
}

fn readers(
    clf: &Classifier,
    crop_clf: &Classifier,
    cache: &Cache,
    split: Split,
    crops: &Cache,
    crop_rows: &[(Split, usize)],
) -> Result<Readers, Error> {
    let n = cache.len(split);
    let stage = clf.hands().ok_or("the model has no hand path")?;
    // The landmarks of the model's own landmark network, whatever LANDMARKS says.
    let hands = HandCache::open(cache, stage.shape.card.landmark_model).ok_or("no hand cache")?;
    let offset = if split == Split::Train { 0 } else { cache.header.n_train };
    let photo = clf.probabilities(&(0..n).map(|i| cache.pixels(split, i)).collect::<Vec<_>>())?;
    let mut served = photo.clone();
    let rows: Vec<_> = (0..n)
        .filter_map(|i| {
            let h = hands.entries[offset + i].hand.as_ref()?;
            Some((i, h.landmarks, h.handedness_right))
        })
        .collect();
    stage.answer_hands(&rows, &mut served)?;
    let feats: Vec<_> = rows.iter().map(|(_, l, r)| photo_features(&from_f32(l), *r)).collect();
    let shape_p = stage.shape.probabilities(&feats)?;
    let mut shape = vec![None; n];
    for ((i, _, _), p) in rows.iter().zip(shape_p.chunks_exact(NUM_CLASSES)) {
        shape[*i] = Some(p.to_vec());
    }
    // This split's crops: crop-cache rows are in pixel-cache order, training crops first.
    let base = if split == Split::Train { 0 } else { crops.header.n_train };
    let mine: Vec<(usize, usize)> = crop_rows
        .iter()
        .enumerate()
        .filter(|(_, (s, _))| *s == split)
        .map(|(k, (_, j))| (k - base, *j))
        .collect();
    let pix: Vec<&[u8]> = mine.iter().map(|&(k, _)| crops.pixels(split, k)).collect();
    let crop_p = crop_clf.probabilities(&pix)?;
    let mut crop = vec![None; n];
    for ((_, j), p) in mine.iter().zip(crop_p.chunks_exact(NUM_CLASSES)) {
        crop[*j] = Some(p.to_vec());
    }
    Ok(Readers {
        truth: Truth {
            labels: cache.labels(split).to_vec(),
            files: (0..n).map(|i| cache.file(split, i).to_string()).collect(),
        },
        photo: photo.chunks_exact(NUM_CLASSES).map(<[f32]>::to_vec).collect(),
        served: served.chunks_exact(NUM_CLASSES).map(<[f32]>::to_vec).collect(),
        shape,
        crop,
    })
}

/// Accuracy pooled, mean over sources, and per source, of answers `a` (`asl eval --by-source`'s
/// figures).
fn report(name: &str, r: &Truth, a: &[Vec<f32>]) {
    let probs: Vec<f32> = a.concat();
    let files: Vec<&str> = r.files.iter().map(String::as_str).collect();
    let rep = asl::eval::SourceReport::from_probs(&probs, &r.labels, &files, None);
    let per: Vec<String> = rep
        .sources
        .iter()
        .map(|s| format!("{} {:.1}", &s.source[..s.source.len().min(6)], 100.0 * s.accuracy))
        .collect();
    println!(
        "{name:<28} mean {:.1} pooled {:.1} | {}",
        100.0 * rep.mean_accuracy_over_sources,
        100.0 * rep.pooled_accuracy,
        per.join(" ")
    );
}

fn letters(name: &str, r: &Truth, a: &[Vec<f32>]) {
    let classes = asl::classes::CLASSES;
    let mut s = String::new();
    for (c, cname) in classes.iter().enumerate().take(26) {
        let idx: Vec<usize> = (0..a.len()).filter(|&i| r.labels[i] as usize == c).collect();
        if idx.is_empty() {
            continue;
        }
        let k = idx.iter().filter(|&&i| argmax(&a[i]) == c).count();
        s += &format!("{cname}{k}/{} ", idx.len());
    }
    println!("{name:<28} {s}");
}

/// The sources whose hands the table holds: (source, repository, commit, licence as the
/// repository states it). The first three are the dev set's MIT-licensed sources; `roboflow` is
/// David Lee's public-domain Roboflow set as `thesoorajsingh/Project-S` holds it, one copy of
/// each source photo (section 11.8).
const TABLE_SOURCES: [(&str, &str, &str, &str); 4] = [
    (
        "hackmit",
        "helloparthshah/HackMIT",
        "3bd0ae716e380d373f080f8c2f71bbee73e84ea0",
        "MIT © Parth Shah (README)",
    ),
    (
        "longhongvo23",
        "longhongvo23/ASL-Recognition-System",
        "44d10e5a3f042d6c02a75f554f403a3e5b1f0653",
        "MIT (README: \"available under the MIT License\"), © 2025 longhongvo23",
    ),
    (
        "seeeeeeel",
        "seeeeeeel/Hand_sign_language",
        "01ff9720da32622e026dedccd4686a70c3ad9085",
        "MIT (License file), © 2023 Computer vision developer",
    ),
    (
        "roboflow",
        "thesoorajsingh/Project-S",
        "2f4c8d5010b27d49ac162a586efd4b9a6bdf90c9",
        "Public domain (data/ASL-data/README.md: David Lee's Roboflow \"American Sign Language Letters\" v1, \"License: Public Domain\"); repository MIT © 2021 Sooraj Singh",
    ),
];

/// Writes the hands the detector found in the photos of the table's sources, read from the
/// caches `asl eval` built of them (`asl-ood-dev.zip`, the Roboflow set), and the sources
/// that come as landmarks only (`landmark_files`: JSON lists of table rows, as
/// `scripts/borisgraudt_landmarks.py` writes them; such a source needs its line in
/// `TABLE_SOURCES` too, docs/hands/classifier.md 11.10), as the table
/// `asl_core::handshape::signers` embeds (landmarks rounded to 0.01 px).
fn export(caches: &[Cache], landmark_files: &[PathBuf], out: &Path) -> Result<(), Error> {
    use asl::handshape::signers::{OtherSigners, SignerHand, SignerSource};
    let round = |v: f32| (v * 100.0).round() / 100.0;
    let mut hands = Vec::new();
    let (mut photos, mut landmark_rows) = (0, 0);
    for file in landmark_files {
        let rows: Vec<SignerHand> = std::fs::read(file)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
            .map_err(|e| format!("{}: {e}", file.display()))?;
        if let Some(h) = rows.iter().find(|h| !TABLE_SOURCES.iter().any(|m| m.0 == h.source)) {
            return Err(format!("{}: source {} is not in TABLE_SOURCES", file.display(), h.source).into());
        }
        if let Some(h) = rows.iter().find(|h| asl::classes::class_index(&h.class).is_none()) {
            return Err(format!("{}: {} is not a class ({})", file.display(), h.class, h.file).into());
        }
        landmark_rows += rows.len();
        hands.extend(rows.into_iter().map(|h| SignerHand {
            handedness_right: round(h.handedness_right),
            landmarks: h.landmarks.map(|p| p.map(round)),
            ..h
        }));
    }
    for cache in caches {
        let ch = HandCache::open(cache, landmark_model()).ok_or("no hand cache: run asl eval --data <zip> first")?;
        for i in 0..cache.len(Split::Val) {
            let file = cache.file(Split::Val, i);
            let src = asl::eval::source_of(file);
            if !TABLE_SOURCES.iter().any(|m| m.0 == src) {
                continue;
            }
            photos += 1;
            let Some(h) = ch.entries[cache.header.n_train + i].hand.as_ref() else {
                continue;
            };
            hands.push(SignerHand {
                source: src.to_string(),
                file: file.to_string(),
                class: asl::classes::CLASSES[cache.labels(Split::Val)[i] as usize].to_string(),
                handedness_right: round(h.handedness_right),
                landmarks: h.landmarks.map(|p| p.map(round)),
            });
        }
    }
    // A table cut short would silently train on fewer signers: every source must have hands.
    if let Some((missing, ..)) = TABLE_SOURCES.iter().find(|m| !hands.iter().any(|h| h.source == m.0)) {
        return Err(format!("no hands of source {missing} in the caches given: nothing written").into());
    }
    hands.sort_by(|a, b| a.file.cmp(&b.file));
    let table = OtherSigners {
        about: format!(
            "Hands of other signers than the Kaggle dataset's: the 21 landmarks (photo pixels, z in the same scale) and MediaPipe's Right score that asl's detection cascade{} found in the photos of the MIT-licensed sources of asl-ood-dev and of David Lee's public-domain Roboflow ASL letters (examples/hand_research.rs export). Derived from those photos; their licences: NOTICE_other_signers.md beside this file.",
            match landmark_model() {
                asl::hand::LandmarkModel::Full => "",
                asl::hand::LandmarkModel::Lite => " (with MediaPipe's lite landmark model)",
            }
        ),
        sources: TABLE_SOURCES
            .iter()
            .map(|(source, repository, commit, licence)| SignerSource {
                source: source.to_string(),
                repository: repository.to_string(),
                commit: commit.to_string(),
                licence: licence.to_string(),
            })
            .collect(),
        hands,
    };
    // One hand a line: reviewable diffs, still compact.
    let text = serde_json::to_string(&table)?.replace("},{\"source\"", "},\n{\"source\"");
    std::fs::write(out, text.as_bytes())?;
    println!(
        "{} hands: {} found in {photos} photos, {landmark_rows} from landmark rows",
        table.hands.len(),
        table.hands.len() - landmark_rows
    );
    Ok(())
}

/// Leave-one-source-out: the handshape model trained on the Kaggle hands plus the embedded
/// other signers' hands (`asl_core::handshape::signers`, each `repeat` times), every source of
/// that table read by the model trained without it, the other dev sources by the model trained
/// with all of it; against the same training without other signers. `always_excluded` sources
/// are left out of every run (and read, where present, by the model trained on the rest).
fn leave_one_source_out(
    kaggle: &Cache,
    dev: &Cache,
    model: &Path,
    repeat: usize,
    seed: u64,
    always_excluded: &[String],
) -> Result<(), Error> {
    let clf = Classifier::load(model)?;
    let card = &clf.hands().ok_or("no hand path")?.shape.card;
    let (served_w, landmarks) = (card.fusion_photo_weight, card.landmark_model);
    let table = asl::handshape::signers::OtherSigners::embedded(landmarks);
    let table_sources: Vec<String> = table.sources.iter().map(|s| s.source.clone()).collect();
    let kh = HandCache::open(kaggle, landmarks).ok_or("no hand cache")?;
    let dh = HandCache::open(dev, landmarks).ok_or("no dev hand cache")?;
    let train_hands = kh.labelled(kaggle, Split::Train);
    let val_hands = kh.labelled(kaggle, Split::Val);
    let n = dev.len(Split::Val);
    let files: Vec<String> = (0..n).map(|i| dev.file(Split::Val, i).to_string()).collect();
    let labels = dev.labels(Split::Val).to_vec();
    let photo = clf.probabilities(&(0..n).map(|i| dev.pixels(Split::Val, i)).collect::<Vec<_>>())?;
    // The Kaggle signer's held-out photos: the photo CNN's answers and the hands found.
    let nk = kaggle.len(Split::Val);
    let kphoto = clf.probabilities(&(0..nk).map(|i| kaggle.pixels(Split::Val, i)).collect::<Vec<_>>())?;
    let krows: Vec<(usize, asl::handshape::LabelledHand)> = (0..nk)
        .filter_map(|i| {
            let h = kh.entries[kaggle.header.n_train + i].hand.as_ref()?;
            Some((
                i,
                asl::handshape::LabelledHand {
                    class: kaggle.labels(Split::Val)[i] as usize,
                    landmarks: h.landmarks,
                    handedness_right: h.handedness_right,
                },
            ))
        })
        .collect();
    // Handshape probabilities (temperature applied) per dev photo: without other signers, and
    // leaving each photo's source out; per Kaggle photo: without, and with all other signers.
    let mut dev_base: Vec<Option<Vec<f32>>> = vec![None; n];
    let mut dev_loso: Vec<Option<Vec<f32>>> = vec![None; n];
    let mut kaggle_base: Vec<Option<Vec<f32>>> = vec![None; nk];
    let mut kaggle_all: Vec<Option<Vec<f32>>> = vec![None; nk];
    // None: no other signers (the baseline); Some(s): all of the table but source s ("" = all).
    let mut runs: Vec<Option<String>> = vec![None, Some(String::new())];
    // Leaving out a source only matters where the photos read include it.
    runs.extend(
        table_sources
            .iter()
            .filter(|s| !always_excluded.contains(s) && files.iter().any(|f| asl::eval::source_of(f) == s.as_str()))
            .cloned()
            .map(Some),
    );
    for held in runs {
        let cfg = asl::handshape::HandTrainConfig {
            seed,
            other_signers_repeat: if held.is_some() { repeat } else { 0 },
            excluded_signer_sources: held
                .iter()
                .filter(|h| !h.is_empty())
                .chain(always_excluded)
                .cloned()
                .collect(),
            landmark_model: landmarks,
            ..Default::default()
        };
        let t = std::time::Instant::now();
        let m =
            asl::handshape::train_handshape_model(&train_hands, &val_hands, &cfg, "flex", &NoProgress, &Cancel::new())?;
        let kaggle_acc = asl::handshape::train::accuracy(&m, &val_hands)?.unwrap_or(0.0);
        println!(
            "trained {held:?}: Kaggle held-out hands {:.2} % ({:.0} s)",
            100.0 * kaggle_acc,
            t.elapsed().as_secs_f64()
        );
        if held.as_deref().is_none_or(str::is_empty) {
            let feats: Vec<_> = krows.iter().map(|(_, h)| h.features()).collect();
            let p = m.probabilities(&feats)?;
            let slot = if held.is_none() {
                &mut kaggle_base
            } else {
                &mut kaggle_all
            };
            for ((i, _), p) in krows.iter().zip(p.chunks_exact(NUM_CLASSES)) {
                slot[*i] = Some(p.to_vec());
            }
        }
        for i in 0..n {
            let src = asl::eval::source_of(&files[i]);
            let mine = match held.as_deref() {
                None => true,
                Some("") => !table_sources.iter().any(|s| s == src) || always_excluded.iter().any(|s| s == src),
                Some(h) => src == h,
            };
            let Some(h) = dh.entries[dev.header.n_train + i].hand.as_ref().filter(|_| mine) else {
                continue;
            };
            let hand = asl::handshape::LabelledHand {
                class: labels[i] as usize,
                landmarks: h.landmarks,
                handedness_right: h.handedness_right,
            };
            let p = m.probabilities(&[hand.features()])?;
            if held.is_none() {
                dev_base[i] = Some(p);
            } else {
                dev_loso[i] = Some(p);
            }
        }
    }
    // Each photo's answer: fused where a hand was found, else the photo CNN's. The photo
    // weight is `w_sure` where the CNN's top probability reaches `tau`, else `w`.
    let top = |p: &[f32]| p.iter().copied().fold(0.0f32, f32::max);
    let gated = |hands: &[Option<Vec<f32>>], photo: &[f32], w: f32, tau: f32, w_sure: f32| -> Vec<Vec<f32>> {
        hands
            .iter()
            .zip(photo.chunks_exact(NUM_CLASSES))
            .map(|(h, p)| {
                let w = if top(p) >= tau { w_sure } else { w };
                h.as_ref().map_or_else(|| p.to_vec(), |h| fuse(h, p, w))
            })
            .collect()
    };
    let answer = |hands: &[Option<Vec<f32>>], photo: &[f32], w: f32| gated(hands, photo, w, f32::INFINITY, w);
    let r = Truth { labels, files };
    let base = answer(&dev_base, &photo, served_w);
    let answers = answer(&dev_loso, &photo, served_w);
    report("Kaggle signer only", &r, &base);
    letters("Kaggle signer only", &r, &base);
    report("+ other signers, LOSO", &r, &answers);
    letters("+ other signers, LOSO", &r, &answers);
    // The photo CNN's weight in the fusion, on both kinds of photos.
    let klabels = kaggle.labels(Split::Val);
    let kaggle_accuracy = |a: &[Vec<f32>]| {
        let right = a.iter().zip(klabels).filter(|(p, y)| argmax(p) == **y as usize).count();
        100.0 * right as f64 / nk.max(1) as f64
    };
    println!(
        "photo CNN alone: Kaggle held-out {:.2} %",
        kaggle_accuracy(&answer(&vec![None; nk], &kphoto, 0.0))
    );
    for w in [0.0f32, 0.125, 0.25, 0.5, 1.0, 2.0] {
        println!(
            "photo weight {w}: Kaggle held-out {:.2} % (without other signers {:.2} %)",
            kaggle_accuracy(&answer(&kaggle_all, &kphoto, w)),
            kaggle_accuracy(&answer(&kaggle_base, &kphoto, w))
        );
        report(
            &format!("  dev LOSO, photo weight {w}"),
            &r,
            &answer(&dev_loso, &photo, w),
        );
    }
    // A gate: the photo CNN's weight raised where it is sure (its training signer's look?).
    let share_sure = |photo: &[f32], tau: f32| {
        let rows = photo.chunks_exact(NUM_CLASSES);
        let n = rows.len().max(1);
        100.0 * rows.filter(|p| top(p) >= tau).count() as f64 / n as f64
    };
    for tau in [0.6f32, 0.7, 0.8, 0.85, 0.88] {
        println!(
            "photo CNN max p >= {tau}: Kaggle {:.1} % of photos, dev {:.1} %",
            share_sure(&kphoto, tau),
            share_sure(&photo, tau)
        );
        for w_hi in [0.5f32, 1.0] {
            println!(
                "gate {tau} -> weight {w_hi}: Kaggle held-out {:.2} %",
                kaggle_accuracy(&gated(&kaggle_all, &kphoto, served_w, tau, w_hi))
            );
            report(
                &format!("  dev LOSO gate {tau}/{w_hi}"),
                &r,
                &gated(&dev_loso, &photo, served_w, tau, w_hi),
            );
        }
    }
    // Words as `asl word-eval --data asl-ood-dev.zip` spells them (2,000 lexicon words and
    // names, each letter a random dev photo of it), from each set of answers.
    for (name, a) in [("Kaggle signer only", &base), ("+ other signers, LOSO", &answers)] {
        let mut bank = vec![Vec::new(); NUM_CLASSES];
        for (p, &label) in a.iter().zip(&r.labels) {
            bank[label as usize].push(p.clone());
        }
        let w = asl::decode_eval::evaluate(
            &bank,
            asl::decode::Lexicon::bundled(),
            &Default::default(),
            0,
            2000,
            0.0,
        )?;
        println!(
            "{name:<28} words: {:.1} % read right ({:.1} % letter by letter)",
            100.0 * w.lexicon_word_acc,
            100.0 * w.raw_word_acc
        );
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("export") {
        let out = PathBuf::from(args.get(1).cloned().unwrap_or_default());
        // Caches are folders; a `.json` argument is a list of landmark-only rows.
        let (landmark_files, cache_dirs): (Vec<PathBuf>, Vec<PathBuf>) = args[2.min(args.len())..]
            .iter()
            .map(PathBuf::from)
            .partition(|p| p.extension().is_some_and(|e| e == "json"));
        let caches = cache_dirs
            .iter()
            .map(|p| Cache::open(p))
            .collect::<Result<Vec<_>, _>>()?;
        return export(&caches, &landmark_files, &out);
    }
    if args.first().map(String::as_str) == Some("loso") {
        let [kaggle, dev, model] = [1, 2, 3].map(|i| PathBuf::from(args.get(i).cloned().unwrap_or_default()));
        let repeat = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(8);
        let seed = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(0);
        let always_excluded: Vec<String> = args
            .get(6)
            .map(|s| s.split(',').filter(|s| !s.is_empty()).map(String::from).collect())
            .unwrap_or_default();
        return leave_one_source_out(
            &Cache::open(&kaggle)?,
            &Cache::open(&dev)?,
            &model,
            repeat,
            seed,
            &always_excluded,
        );
    }
    if args.first().map(String::as_str) != Some("crops") {
        return Err("usage: hand_research crops|loso|export ... (see the file's header)".into());
    }
    let [kaggle, dev, model, out] = [1, 2, 3, 4].map(|i| PathBuf::from(args.get(i).cloned().unwrap_or_default()));
    let budget: f64 = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(300.0);
    std::fs::create_dir_all(&out)?;
    let kaggle = Cache::open(&kaggle)?;
    let dev = Cache::open(&dev)?;
    let t = std::time::Instant::now();
    let (kc, krows) = crop_cache(&kaggle, &out, 48)?;
    let (dc, drows) = crop_cache(&dev, &out, 48)?;
    println!(
        "crops: kaggle {} + {}, dev {} + {} ({:.0} s)",
        kc.header.n_train,
        kc.header.n_val,
        dc.header.n_train,
        dc.header.n_val,
        t.elapsed().as_secs_f64()
    );
    let crop_model = out.join("crop-model");
    if !crop_model.join("model.json").is_file() {
        let mut cfg = TrainConfig {
            time_budget_secs: Some(budget),
            hands: asl::handshape::HandsMode::Off,
            ..TrainConfig::default()
        };
        cfg.augment.mirror = 0.0;
        let o = train(
            &kc,
            &cfg,
            Lineage::of(&kc),
            &out.join("crop-run"),
            &crop_model,
            &mut NoCallback,
            &NoProgress,
            &Cancel::new(),
        )?;
        println!("crop CNN trained: {:?}", o.history.last().map(|m| m.val_accuracy));
    }
    let clf = Classifier::load(&model)?;
    let trained_on_others = clf
        .hands()
        .and_then(|h| h.shape.card.training.get("other_signers_repeat")?.as_u64())
        .is_some_and(|r| r > 0);
    if trained_on_others {
        println!(
            "note: this model's handshape MLP trained on the other signers' table: its dev figures of those sources are no measurement"
        );
    }
    let crop_clf = Classifier::load(&crop_model)?;
    for (name, cache, split, crops, rows) in [
        ("kaggle val", &kaggle, Split::Val, &kc, &krows),
        ("dev", &dev, Split::Val, &dc, &drows),
    ] {
        let r = readers(&clf, &crop_clf, cache, split, crops, rows)?;
        println!("== {name}: {} photos", r.truth.labels.len());
        let n = r.truth.labels.len();
        let pick = |f: &dyn Fn(usize) -> Vec<f32>| (0..n).map(f).collect::<Vec<_>>();
        report("photo CNN", &r.truth, &r.photo);
        report("served (hand+photo)", &r.truth, &r.served);
        let shape_only = pick(&|i| r.shape[i].clone().unwrap_or_else(|| r.photo[i].clone()));
        report("handshape alone", &r.truth, &shape_only);
        let crop_only = pick(&|i| r.crop[i].clone().unwrap_or_else(|| r.photo[i].clone()));
        report("crop CNN alone", &r.truth, &crop_only);
        letters("served", &r.truth, &r.served);
        letters("crop", &r.truth, &crop_only);
        for w in [0.1f32, 0.25, 0.5, 1.0] {
            let a = pick(&|i| match &r.crop[i] {
                Some(c) if r.shape[i].is_some() => fuse(&r.served[i], c, w),
                _ => r.served[i].clone(),
            });
            report(&format!("served x crop^{w}"), &r.truth, &a);
            if w == 0.25 || w == 0.5 {
                letters(&format!("served x crop^{w}"), &r.truth, &a);
            }
        }
    }
    Ok(())
}
