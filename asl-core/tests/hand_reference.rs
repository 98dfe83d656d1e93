//! The hand pipeline (palm detector → rotated crop → 21 landmarks) on the burn backend against
//! MediaPipe 0.10.21 itself: `tests/data/hands/reference.json` is what MediaPipe's Python Hands
//! answered on 8 photos of other signers (`scripts/hand_models/reference.py`; photos and
//! licences in `tests/data/hands/NOTICE.md`). Found / not found must agree on every photo, and
//! the palm box, the hand's region and the landmarks within the tolerances below (the issue
//! asks for 2 % of the image side; the numpy spec on ONNX Runtime agrees within 0.003 %).
use std::path::Path;

use asl_core::hand::{self, BurnHandNets, DetectConfig};
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
    let nets = BurnHandNets::load(&asl_core::model::device("flex").unwrap()).expect("the embedded weights load");
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
