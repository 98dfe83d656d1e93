//! Hand landmarks in one photo: MediaPipe Hands' static-image pipeline (one hand, MediaPipe
//! 0.10.21's CPU graph) around two neural networks that the caller supplies via [`HandNets`].
//!
//! The executable specification is `scripts/hand_models/pipeline_numpy.py`; the MediaPipe
//! graph options and calculators behind every constant are listed there and in
//! `docs/hands/models.md`. Steps of [`detect`]:
//!
//! 1. [`palm::letterbox`]: the whole image, grown to a centred square with black borders,
//!    sampled to 192×192 ([`roi::warp`]), as NCHW f32 in [0, 1] ([`roi::to_nchw`]).
//! 2. The palm network → 2016 × 18 regressors + 2016 logits; [`palm::decode`] against the
//!    2016 anchors ([`anchors`]: 2 per cell on the 24×24 grid, 6 per cell on the 12×12
//!    grid), logits clipped to ±100 and passed through a sigmoid, kept at score >= 0.5;
//!    [`palm::weighted_nms`] (IoU > 0.3 merges); the best detection; letterbox removed.
//! 3. [`roi::palm_to_roi`]: rotation from palm keypoint 0 (wrist) to 2 (middle-finger MCP),
//!    centre shifted by half the box height along the hand, square of 2.6 × the longer side.
//! 4. That rotated square sampled to 224×224 with replicated edges.
//! 5. The landmark network → 21 landmarks in crop pixels, presence, handedness, world
//!    landmarks; presence must be strictly > 0.5; [`landmarks::project`] back to the image.
//!
//! Both samplings copy OpenCV's `warpPerspective(INTER_LINEAR)` as MediaPipe calls it:
//! output pixel u reads the source at corner + u·step (no half-pixel offset), coordinates
//! rounded to 1/32 pixel, values rounded to u8. Plain float bilinear moves landmarks by up to
//! 4 % of the image on weak detections (docs/hands/models.md).
//!
//! Precision follows the spec: f32 where its numpy arrays are float32 (decoding, the tensors,
//! the landmark projection), f64 where it computes in double (NMS, letterbox removal, the
//! ROI, the warp's source coordinates).
//!
//! # Comparing with MediaPipe (`tests/data/hands/reference.json`)
//!
//! The file holds `settings` (`model_complexity` 1 = the `*_full.onnx` models;
//! `reference_lite.json` has 0 = `*_lite.onnx`) and `photos`: a map from file name (in the
//! same folder) to `{width, height, found, landmarks: [[x, y, z]; 21] (image px, z = normalised
//! z × width, the same units as [`Hand::landmarks`]), z_norm, world_landmarks_m: [[x, y, z];
//! 21], handedness: {label, score, index}, palm_detections: [{score, box: {xmin, ymin, width,
//! height} (px), keypoints: [[x, y]; 7] (px)}], hand_rects_from_palm: [{x_center, y_center,
//! width, height, rotation}] (px, rad)}`; the last three keys are absent or empty when no
//! palm (or no hand) was found. A test, per photo (decoded to RGB with the `image` crate):
//! - `found` == `detect(..)?.is_some()` for all 8 (C has no palm; D has a palm but presence
//!   0.024, so it checks the presence gate).
//! - When `palm_detections` is non-empty, [`detect_palm`] returns Some: score within 1e-3,
//!   box corners and keypoints × (width, height) within 1e-3 × max(width, height); and
//!   [`roi::palm_to_roi`] of it matches `hand_rects_from_palm[0]` (centre and `width` vs
//!   `side` within 0.01 px, rotation within 1e-4 rad; the numpy spec gets 1e-4 px, 2e-7 rad).
//! - When found: landmark x, y within 0.05 % of max(width, height) (the numpy spec with ONNX
//!   Runtime gets 0.003 %; allow for the Rust inference engine), z likewise; world landmarks
//!   within 0.1 mm; handedness: label "Right" iff `handedness_right >= 0.5`, its score is
//!   `handedness_right` (Right) or `1 − handedness_right` (Left), within 1e-3.
//!
//! The JSON numbers are rounded to 7 significant digits, so tolerances below ~1e-6 relative
//! are meaningless.
pub mod anchors;
pub mod cascade;
pub mod crop;
pub mod fused;
pub mod landmarks;
pub mod nets;
pub mod palm;
pub mod roi;

use image::RgbImage;
use serde::{Deserialize, Serialize};

pub use cascade::{CASCADE, CascadeStep, FoundHand, find_hand};
pub use landmarks::{LANDMARK_INPUT_SIZE, NUM_LANDMARKS};
pub use nets::BurnHandNets;
pub use palm::{PALM_INPUT_SIZE, PalmDetection};
pub use roi::Roi;

use anchors::NUM_ANCHORS;
use roi::Border;

/// Raw palm-detector outputs (ONNX `Identity`, `Identity_1`).
#[derive(Debug, Clone, PartialEq)]
pub struct PalmOutput {
    /// 2016 × 18, anchor-major: (x_center, y_center, w, h, 7 × (x, y)) in 192-px units
    /// relative to the anchor centre.
    pub regressors: Vec<f32>,
    /// 2016 logits (no sigmoid applied).
    pub scores: Vec<f32>,
}

/// Raw landmark-model outputs (ONNX `Identity` … `Identity_3`).
#[derive(Debug, Clone, PartialEq)]
pub struct LandmarkOutput {
    /// 21 × (x, y, z) in crop pixels (0..224).
    pub landmarks: Vec<f32>,
    /// Hand presence, a probability: the converted model applies the sigmoid itself.
    pub presence: f32,
    /// P("Left") as MediaPipe labels it (sigmoid applied; MediaPipe assumes a mirrored
    /// image).
    pub handedness_left: f32,
    /// 21 × (x, y, z) in metres, hand-centred, in the crop's orientation.
    pub world_landmarks: Vec<f32>,
}

/// Which of MediaPipe's two hand-landmark models reads the hand crop. Same input, same
/// outputs; the lite model does 146 M multiply-adds to the full model's 331 M, and places the
/// landmarks a little differently, so a handshape model reads the landmarks of the model it
/// was trained on (its card records it; `docs/hands/runtime.md`, last section).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LandmarkModel {
    /// `hand_landmark_full` (MediaPipe's model_complexity 1); what a card without the field
    /// was trained on.
    #[default]
    Full,
    /// `hand_landmark_lite` (model_complexity 0).
    Lite,
}

impl LandmarkModel {
    /// Its name in cards, file names and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LandmarkModel::Full => "full",
            LandmarkModel::Lite => "lite",
        }
    }

    /// The tag of the files derived from a cache with this model (`<cache>.hands.json`,
    /// `<cache>.hands-probe.json`; `hands-lite` for the lite model). The full model keeps the
    /// names from before there was a choice, so its caches stay valid.
    pub fn hands_file_tag(self) -> &'static str {
        match self {
            LandmarkModel::Full => "hands",
            LandmarkModel::Lite => "hands-lite",
        }
    }

    /// The full model (the default, and all there was before the choice).
    pub fn is_full(&self) -> bool {
        *self == LandmarkModel::Full
    }
}

/// The two networks. Inputs are NCHW f32 RGB in [0, 1]: [1, 3, 192, 192] for the palm
/// detector, [1, 3, 224, 224] for the landmark model.
pub trait HandNets {
    /// Runs the palm detector on one 3 × 192 × 192 input.
    fn palm(&self, input: &[f32]) -> Result<PalmOutput, HandError>;
    /// Runs the landmark model on one 3 × 224 × 224 crop.
    fn landmarks(&self, input: &[f32]) -> Result<LandmarkOutput, HandError>;
    /// Which landmark model [`landmarks`](Self::landmarks) runs (hand caches are kept per model).
    fn landmark_model(&self) -> LandmarkModel;
}

/// Why hand detection failed (a photo without a hand is not an error).
#[derive(Debug, thiserror::Error)]
pub enum HandError {
    /// The network implementation failed.
    #[error("hand network: {0}")]
    Net(String),
    /// A network returned the wrong number of values.
    #[error("{what}: expected {expected} values, got {got}")]
    OutputSize {
        /// Which output (or input) it was.
        what: &'static str,
        /// The number of values it must have.
        expected: usize,
        /// The number it had.
        got: usize,
    },
    /// The image has no pixels.
    #[error("empty image ({width}×{height})")]
    EmptyImage {
        /// Its width in pixels.
        width: u32,
        /// Its height in pixels.
        height: u32,
    },
}

/// Thresholds; the defaults are MediaPipe Hands' (min_detection_confidence,
/// min_tracking_confidence = 0.5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DetectConfig {
    /// A palm is kept when its score is >= this.
    pub min_palm_score: f32,
    /// A hand is accepted when its presence is > this (strictly).
    pub min_presence: f32,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            min_palm_score: 0.5,
            min_presence: 0.5,
        }
    }
}

/// One detected hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hand {
    /// Image pixels x, y (origin top-left, pixel centres at integers) and z (MediaPipe's
    /// normalised z × image width; negative = nearer the camera than the wrist).
    pub landmarks: [[f32; 3]; NUM_LANDMARKS],
    /// Metres, hand-centred, rotated to the image's orientation.
    pub world_landmarks: [[f32; 3]; NUM_LANDMARKS],
    /// The landmark model's hand presence, a probability (above the threshold, or there would
    /// be no hand).
    pub presence: f32,
    /// MediaPipe's score for "Right" (1 − P(Left)); MediaPipe assumes a mirrored image.
    pub handedness_right: f32,
    /// The score of the palm detection the hand was found from, a probability.
    pub palm_score: f32,
    /// The rotated square the landmark model saw.
    pub roi: Roi,
}

/// The photo's longer side is brought into this range before hand detection: small photos
/// (the 64 px archive) are enlarged so the landmark crop has pixels to sample, large ones
/// reduced so that a request's photos stay small in memory. Training and serving both go
/// through [`view`], so landmarks are measured the same way.
pub const VIEW_MIN_SIDE: u32 = 192;
/// The longest side, in pixels, a photo keeps for hand detection; larger photos are reduced to
/// it (see [`VIEW_MIN_SIDE`]).
pub const VIEW_MAX_SIDE: u32 = 640;

/// The photo as the hand pipeline sees it (bilinear resampling, aspect ratio kept).
pub fn view(img: &RgbImage) -> RgbImage {
    let (w, h) = img.dimensions();
    let longer = w.max(h);
    if longer == 0 || (VIEW_MIN_SIDE..=VIEW_MAX_SIDE).contains(&longer) {
        return img.clone();
    }
    let target = longer.clamp(VIEW_MIN_SIDE, VIEW_MAX_SIDE);
    let scale = f64::from(target) / f64::from(longer);
    let nw = ((f64::from(w) * scale).round() as u32).max(1);
    let nh = ((f64::from(h) * scale).round() as u32).max(1);
    image::imageops::resize(img, nw, nh, image::imageops::FilterType::Triangle)
}

/// The hand in `img`, or None when no palm scores high enough or the landmark model says
/// the best palm is no hand (MediaPipe does not try the next palm in static mode).
pub fn detect(nets: &dyn HandNets, img: &RgbImage, cfg: &DetectConfig) -> Result<Option<Hand>, HandError> {
    let palms = run_palm_detector(nets, img)?;
    match palms.best(cfg.min_palm_score) {
        Some(palm) => hand_from_palm(nets, img, &palm, cfg.min_presence),
        None => Ok(None),
    }
}

/// The best palm after weighted NMS, box and keypoints normalised to the image (MediaPipe's
/// `palm_detections` output with max_num_hands = 1), or None.
pub fn detect_palm(
    nets: &dyn HandNets,
    img: &RgbImage,
    cfg: &DetectConfig,
) -> Result<Option<PalmDetection>, HandError> {
    Ok(run_palm_detector(nets, img)?.best(cfg.min_palm_score))
}

/// The palm detector's raw answer for one image, kept so that several score thresholds can be
/// tried without running the network again (the detection cascade does).
pub struct PalmScan {
    output: PalmOutput,
    padding: palm::Padding,
}

impl PalmScan {
    /// The best palm scoring at least `min_score`, in the image's [0, 1] coordinates.
    pub fn best(&self, min_score: f32) -> Option<PalmDetection> {
        let dets = palm::decode(
            &self.output.regressors,
            &self.output.scores,
            anchors::anchors(),
            min_score,
        );
        // ClipDetectionVectorSizeCalculator keeps the first NMS output: the best seed.
        let best = palm::weighted_nms(dets, palm::NMS_IOU).into_iter().next();
        best.map(|d| palm::remove_letterbox(&d, self.padding))
    }
}

/// Runs the palm detector on the letterboxed image.
pub fn run_palm_detector(nets: &dyn HandNets, img: &RgbImage) -> Result<PalmScan, HandError> {
    let (width, height) = img.dimensions();
    if width == 0 || height == 0 {
        return Err(HandError::EmptyImage { width, height });
    }
    let (input, padding) = palm::letterbox(img);
    let output = nets.palm(&roi::to_nchw(&input))?;
    check_len("palm regressors", &output.regressors, NUM_ANCHORS * palm::NUM_COORDS)?;
    check_len("palm scores", &output.scores, NUM_ANCHORS)?;
    Ok(PalmScan { output, padding })
}

/// Landmarks of the hand around `palm`, or None when their presence is not above
/// `min_presence`.
pub fn hand_from_palm(
    nets: &dyn HandNets,
    img: &RgbImage,
    palm: &PalmDetection,
    min_presence: f32,
) -> Result<Option<Hand>, HandError> {
    let hand_roi = roi::palm_to_roi(palm, img.width(), img.height());
    let crop = roi::warp(img, &hand_roi, LANDMARK_INPUT_SIZE, Border::Replicate);
    let out = nets.landmarks(&roi::to_nchw(&crop))?;
    let raw = landmarks::triples(&out.landmarks, "landmarks")?;
    let world = landmarks::triples(&out.world_landmarks, "world landmarks")?;
    // ThresholdingCalculator accepts only value > threshold; NaN is no hand.
    if out.presence.partial_cmp(&min_presence) != Some(std::cmp::Ordering::Greater) {
        return Ok(None);
    }
    Ok(Some(Hand {
        landmarks: landmarks::project(&raw, &hand_roi),
        world_landmarks: landmarks::project_world(&world, &hand_roi),
        presence: out.presence,
        // binary_classification: score(Right) = 1 − score(Left), in float.
        handedness_right: 1.0 - out.handedness_left,
        palm_score: palm.score,
        roi: hand_roi,
    }))
}

fn check_len(what: &'static str, values: &[f32], expected: usize) -> Result<(), HandError> {
    if values.len() == expected {
        Ok(())
    } else {
        Err(HandError::OutputSize {
            what,
            expected,
            got: values.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Networks with canned outputs: one palm on a 24×24-grid anchor, every landmark at the
    /// crop centre.
    struct FakeNets {
        presence: f32,
        landmark_values: usize,
    }

    /// Anchor of cell (12, 12) on the 24×24 grid: centre (12.5/24, 12.5/24).
    const HIT: usize = 2 * (12 * 24 + 12);

    impl HandNets for FakeNets {
        fn palm(&self, input: &[f32]) -> Result<PalmOutput, HandError> {
            assert_eq!(input.len(), 3 * 192 * 192);
            let mut regressors = vec![0.0; NUM_ANCHORS * palm::NUM_COORDS];
            let mut scores = vec![-10.0; NUM_ANCHORS];
            scores[HIT] = 3.0;
            let raw = &mut regressors[HIT * palm::NUM_COORDS..(HIT + 1) * palm::NUM_COORDS];
            raw[2] = 38.4; // box 0.2 × 0.2 of the input
            raw[3] = 38.4;
            raw[5] = 19.2; // keypoint 0 (wrist) below the centre
            raw[9] = -19.2; // keypoint 2 above: an upright hand
            Ok(PalmOutput { regressors, scores })
        }

        fn landmarks(&self, input: &[f32]) -> Result<LandmarkOutput, HandError> {
            assert_eq!(input.len(), 3 * 224 * 224);
            Ok(LandmarkOutput {
                landmarks: [112.0, 112.0, 0.0].repeat(self.landmark_values / 3),
                presence: self.presence,
                handedness_left: 0.25,
                world_landmarks: vec![0.0; 63],
            })
        }

        fn landmark_model(&self) -> LandmarkModel {
            LandmarkModel::Full
        }
    }

    #[test]
    fn detect_runs_the_whole_chain() {
        let img = RgbImage::from_pixel(100, 100, image::Rgb([90, 120, 150]));
        let nets = FakeNets {
            presence: 0.9,
            landmark_values: 63,
        };
        let hand = detect(&nets, &img, &DetectConfig::default())
            .expect("runs")
            .expect("a hand");
        let centre = 100.0 * 12.5 / 24.0;
        // Upright: no rotation, centre moved up by half the 20-px box, side 2.6 × 20.
        assert!(hand.roi.rotation.abs() < 1e-6);
        assert!((hand.roi.x_center - centre).abs() < 1e-4, "{:?}", hand.roi);
        assert!((hand.roi.y_center - (centre - 10.0)).abs() < 1e-4, "{:?}", hand.roi);
        assert!((hand.roi.side - 52.0).abs() < 1e-4, "{:?}", hand.roi);
        for [x, y, z] in hand.landmarks {
            assert!((f64::from(x) - hand.roi.x_center).abs() < 1e-3);
            assert!((f64::from(y) - hand.roi.y_center).abs() < 1e-3);
            assert_eq!(z, 0.0);
        }
        assert_eq!(hand.handedness_right, 0.75);
        assert_eq!(hand.palm_score, palm::sigmoid_score(3.0));
    }

    #[test]
    fn presence_must_exceed_the_threshold() {
        let img = RgbImage::from_pixel(64, 48, image::Rgb([0, 0, 0]));
        let cfg = DetectConfig::default();
        let at_threshold = FakeNets {
            presence: 0.5,
            landmark_values: 63,
        };
        assert!(detect(&at_threshold, &img, &cfg).expect("runs").is_none());
        let nan = FakeNets {
            presence: f32::NAN,
            landmark_values: 63,
        };
        assert!(detect(&nan, &img, &cfg).expect("runs").is_none());
    }

    #[test]
    fn bad_output_sizes_and_empty_images_are_errors() {
        let img = RgbImage::from_pixel(64, 48, image::Rgb([0, 0, 0]));
        let short = FakeNets {
            presence: 0.9,
            landmark_values: 60,
        };
        let err = detect(&short, &img, &DetectConfig::default());
        assert!(matches!(err, Err(HandError::OutputSize { got: 60, .. })));
        let empty = RgbImage::new(0, 10);
        let err = detect(&short, &empty, &DetectConfig::default());
        assert!(matches!(err, Err(HandError::EmptyImage { width: 0, height: 10 })));
    }
}
