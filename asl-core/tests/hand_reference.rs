//! The hand pipeline (palm detector → rotated crop → 21 landmarks) on the burn backend against
//! MediaPipe 0.10.21 itself: `tests/data/hands/reference.json` is what MediaPipe's Python Hands
//! answered on 8 photos of other signers (`scripts/hand_models/reference.py`; photos and
//! licences in `tests/data/hands/NOTICE.md`). Found / not found must agree on every photo, and
//! the palm box, the hand's region and the landmarks within the tolerances below (the issue
//! asks for 2 % of the image side; the numpy spec on ONNX Runtime agrees within 0.003 %).
use std::path::Path;

use asl_core::hand::{self, BurnHandNets, DetectConfig, LandmarkModel};
use serde_json::Value;

fn reference() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hands/reference.json");
    serde_json::from_slice(&std::fs::read(&path).expect("reference.json")).expect("valid JSON")
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// MediaPipe decoded these photos with libjpeg-turbo; jpeg-decoder follows libjpeg's integer
/// IDCT and fancy upsampling, so the networks see the pixels MediaPipe saw (the image crate's
/// decoder differs by up to 4 levels, which moves weak detections by a few % of the side).
fn decode_like_libjpeg(bytes: &[u8]) -> image::RgbImage {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    let pixels = decoder.decode().expect("a JPEG");
    let info = decoder.info().expect("decoded");
    assert_eq!(info.pixel_format, jpeg_decoder::PixelFormat::RGB24);
    image::RgbImage::from_raw(u32::from(info.width), u32::from(info.height), pixels).expect("whole image")
}

#[test]
fn landmarks_match_mediapipe_on_other_signers_photos() {
    let reference = reference();
    let nets = BurnHandNets::load(&asl_core::model::device("flex").unwrap(), LandmarkModel::Full)
        .expect("the embedded weights load");
    let cfg = DetectConfig::default();
    let photos = reference["photos"].as_object().unwrap();
    assert_eq!(photos.len(), 8);
    let mut worst_landmark = 0f64;
    for (name, want) in photos {
        let bytes = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/hands")
                .join(name),
        )
        .unwrap();
        let img = decode_like_libjpeg(&bytes);
        let (w, h) = (f(&want["width"]), f(&want["height"]));
        assert_eq!((img.width() as f64, img.height() as f64), (w, h), "{name}");
        let side = w.max(h);

        // The palm detection and the hand's region, where MediaPipe found a palm.
        let palm = hand::detect_palm(&nets, &img, &cfg).unwrap();
        let palms = want["palm_detections"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        assert_eq!(palm.is_some(), !palms.is_empty(), "{name}: palm found or not");
        if let (Some(palm), Some(want_palm)) = (&palm, palms.first()) {
            assert!(
                (palm.score as f64 - f(&want_palm["score"])).abs() < 0.05,
                "{name}: palm score {} vs {}",
                palm.score,
                want_palm["score"]
            );
            let b = &want_palm["box"];
            let got = [
                palm.bbox[0] * w,
                palm.bbox[1] * h,
                (palm.bbox[2] - palm.bbox[0]) * w,
                (palm.bbox[3] - palm.bbox[1]) * h,
            ];
            let exp = [f(&b["xmin"]), f(&b["ymin"]), f(&b["width"]), f(&b["height"])];
            for (g, e) in got.iter().zip(exp) {
                assert!((g - e).abs() < 2e-2 * side, "{name}: palm box {got:?} vs {exp:?}");
            }
            let roi = hand::roi::palm_to_roi(palm, img.width(), img.height());
            let rect = &want["hand_rects_from_palm"][0];
            assert!(
                (roi.x_center - f(&rect["x_center"])).abs() < 2e-2 * side,
                "{name}: {roi:?} vs {rect}"
            );
            assert!(
                (roi.y_center - f(&rect["y_center"])).abs() < 2e-2 * side,
                "{name}: {roi:?} vs {rect}"
            );
            assert!(
                (roi.side - f(&rect["width"])).abs() < 2e-2 * side,
                "{name}: {roi:?} vs {rect}"
            );
        }

        // The hand: found or not, and its landmarks.
        let found = hand::detect(&nets, &img, &cfg).unwrap();
        assert_eq!(
            found.is_some(),
            want["found"].as_bool().unwrap(),
            "{name}: hand found or not"
        );
        let Some(found) = found else { continue };
        for (i, (got, exp)) in found
            .landmarks
            .iter()
            .zip(want["landmarks"].as_array().unwrap())
            .enumerate()
        {
            // x and y within the 2 % of the image side; z (depth, from the same
            // networks but far less constrained) within 5 %. On the same pixels this pipeline
            // agrees with the numpy spec within 0.012 %: what remains is the JPEG decoder
            // (the image crate's vs MediaPipe's libjpeg-turbo, up to 4 levels apart).
            for axis in 0..3 {
                let err = (got[axis] as f64 - f(&exp[axis])).abs() / side;
                let tolerance = if axis < 2 { 0.02 } else { 0.05 };
                if axis < 2 {
                    worst_landmark = worst_landmark.max(err);
                }
                assert!(
                    err < tolerance,
                    "{name}: landmark {i} axis {axis}: {} vs {} ({:.3} % of the side)",
                    got[axis],
                    exp[axis],
                    err * 100.0
                );
            }
        }
        let right = want["handedness"]["label"] == "Right";
        assert_eq!(
            found.handedness_right >= 0.5,
            right,
            "{name}: handedness {}",
            found.handedness_right
        );
    }
    eprintln!(
        "worst landmark (x, y) difference from MediaPipe: {:.4} % of the image side",
        worst_landmark * 100.0
    );
}

/// The detection cascade: where MediaPipe finds the hand at once, the cascade stops at step 1
/// with the same hand; a blank photo goes through every step and finds nothing; a hand that
/// fills its frame (a tight crop of a found hand, which the fixed-size palm anchors miss more
/// often) is still found, with landmarks moved back to the crop's own pixels.
#[test]
fn the_cascade_finds_what_one_pass_finds_and_more() {
    let reference = reference();
    let nets = BurnHandNets::load(&asl_core::model::device("flex").unwrap(), LandmarkModel::Full)
        .expect("the embedded weights load");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hands");
    let mut tight_found = 0;
    let mut found_once = 0;
    // Crops whose hand came from a bordered view: their landmarks had a border to remove.
    let mut checked_with_border = 0;
    for (name, want) in reference["photos"].as_object().unwrap() {
        let img = decode_like_libjpeg(&std::fs::read(dir.join(name)).unwrap());
        let once = hand::detect(&nets, &img, &DetectConfig::default()).unwrap();
        let cascade = hand::find_hand(&nets, &img).unwrap();
        if let Some(once) = &once {
            found_once += 1;
            let c = cascade.as_ref().expect("the cascade finds what one pass finds");
            assert_eq!(c.step, 1, "{name}");
            assert_eq!(&c.hand, once, "{name}");
        }
        assert_eq!(once.is_some(), want["found"].as_bool().unwrap(), "{name}");
        // A crop around the hand with a margin of a tenth of the hand's size.
        let Some(found) = cascade else { continue };
        let xs = found.hand.landmarks.map(|p| p[0]);
        let ys = found.hand.landmarks.map(|p| p[1]);
        let (x0, x1) = (
            xs.iter().copied().fold(f32::MAX, f32::min),
            xs.iter().copied().fold(f32::MIN, f32::max),
        );
        let (y0, y1) = (
            ys.iter().copied().fold(f32::MAX, f32::min),
            ys.iter().copied().fold(f32::MIN, f32::max),
        );
        let margin = 0.1 * (x1 - x0).max(y1 - y0);
        let left = (x0 - margin).max(0.0) as u32;
        let top = (y0 - margin).max(0.0) as u32;
        let right = ((x1 + margin) as u32).min(img.width());
        let bottom = ((y1 + margin) as u32).min(img.height());
        let crop = image::imageops::crop_imm(&img, left, top, right - left, bottom - top).to_image();
        if let Some(t) = hand::find_hand(&nets, &crop).unwrap() {
            tight_found += 1;
            eprintln!(
                "{name}: found at step {} in the photo, {} in the tight crop",
                found.step, t.step
            );
            if found.step != 1 {
                continue; // a weak hand (found late) may be re-detected elsewhere
            }
            // The same hand, in the crop's pixels: the landmarks' centre within a fifth of the
            // hand's size (a re-detected hand moves a little; a border left in the coordinates
            // would move it by a quarter of the crop or more).
            let centre = |l: &[[f32; 3]; 21]| {
                let n = l.len() as f32;
                (
                    l.iter().map(|p| p[0]).sum::<f32>() / n,
                    l.iter().map(|p| p[1]).sum::<f32>() / n,
                )
            };
            let (cx, cy) = centre(&found.hand.landmarks);
            let (tx, ty) = centre(&t.hand.landmarks);
            let dx = tx - (cx - left as f32);
            let dy = ty - (cy - top as f32);
            let tol = 0.2 * (x1 - x0).max(y1 - y0);
            assert!(
                dx.abs() < tol && dy.abs() < tol,
                "{name}: the hand moved by ({dx}, {dy})"
            );
            checked_with_border += usize::from(hand::CASCADE[usize::from(t.step) - 1].border > 0.0);
        }
    }
    assert!(
        found_once >= 5,
        "MediaPipe finds 6 of the 8 hands at once, burn found {found_once}"
    );
    assert!(tight_found >= 4, "only {tight_found} tight crops found a hand");
    assert!(
        checked_with_border >= 2,
        "{checked_with_border} crops checked through a border"
    );
    let blank = image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128]));
    assert!(hand::find_hand(&nets, &blank).unwrap().is_none());
}

/// The lite landmark model against MediaPipe's own (`model_complexity=0`,
/// `tests/data/hands/reference_lite.json`). MediaPipe's lite setting also swaps the palm
/// detector for its lite one, which asl does not ship; so the landmark model is given the very
/// square MediaPipe cropped (its `hand_rects_from_palm`), and its landmarks, presence and
/// handedness must be MediaPipe's: x and y within 1 % of the image side (the issue allows 2 %;
/// measured: 0.35 %). Photos where MediaPipe found no hand give no square and are skipped.
#[test]
fn lite_landmarks_match_mediapipe_in_its_own_crop() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hands/reference_lite.json");
    let reference: Value = serde_json::from_slice(&std::fs::read(&path).expect("reference_lite.json")).expect("JSON");
    assert_eq!(reference["settings"]["model_complexity"], 0);
    let nets = BurnHandNets::load(&asl_core::model::device("flex").unwrap(), LandmarkModel::Lite)
        .expect("the embedded weights load");
    assert_eq!(hand::HandNets::landmark_model(&nets), LandmarkModel::Lite);
    let mut compared = 0;
    let mut worst = 0f64;
    for (name, want) in reference["photos"].as_object().unwrap() {
        let Some(rect) = want["hand_rects_from_palm"].as_array().and_then(|r| r.first()) else {
            continue;
        };
        let bytes = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/hands")
                .join(name),
        )
        .unwrap();
        let img = decode_like_libjpeg(&bytes);
        let side = f(&want["width"]).max(f(&want["height"]));
        let roi = hand::Roi {
            x_center: f(&rect["x_center"]),
            y_center: f(&rect["y_center"]),
            side: f(&rect["width"]),
            rotation: f(&rect["rotation"]),
        };
        let crop = hand::roi::warp(&img, &roi, hand::LANDMARK_INPUT_SIZE, hand::roi::Border::Replicate);
        let out = hand::HandNets::landmarks(&nets, &hand::roi::to_nchw(&crop)).unwrap();
        let found = out.presence > 0.5;
        assert_eq!(
            found,
            want["found"].as_bool().unwrap(),
            "{name}: presence {}",
            out.presence
        );
        if !found {
            continue;
        }
        let raw = hand::landmarks::triples(&out.landmarks, "landmarks").unwrap();
        let got = hand::landmarks::project(&raw, &roi);
        for (i, (g, e)) in got.iter().zip(want["landmarks"].as_array().unwrap()).enumerate() {
            for axis in 0..2 {
                let err = (g[axis] as f64 - f(&e[axis])).abs() / side;
                worst = worst.max(err);
                assert!(
                    err < 0.01,
                    "{name}: landmark {i} axis {axis}: {} vs {}",
                    g[axis],
                    e[axis]
                );
            }
        }
        let right = want["handedness"]["label"] == "Right";
        assert_eq!(1.0 - out.handedness_left >= 0.5, right, "{name}: handedness");
        compared += 1;
    }
    assert!(
        compared >= 6,
        "only {compared} photos with a hand in the lite reference"
    );
    eprintln!(
        "lite landmark model: worst (x, y) difference from MediaPipe {:.4} % of the image side",
        worst * 100.0
    );
}
