//! Palm detection around the network: letterboxed input, decoding against the anchors,
//! scores, weighted non-maximum suppression, letterbox removal.
//!
//! MediaPipe sources: PalmDetectionCpu's ImageToTensorCalculator (letterbox),
//! TensorsToDetectionsCalculator (tensors_to_detections_calculator.cc),
//! NonMaxSuppressionCalculator (non_max_suppression_calculator.cc, WEIGHTED),
//! DetectionLetterboxRemovalCalculator. Decoding is f32 like the spec's numpy arrays; from
//! NMS on the spec works in f64, and so does this.
use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::roi::{self, Border, Roi};

/// Values per anchor: box (x_center, y_center, w, h), then 7 keypoints × (x, y).
pub const NUM_COORDS: usize = 18;
/// Keypoints per palm detection (wrist, index/middle/ring/pinky-finger MCPs, thumb joints).
pub const NUM_KEYPOINTS: usize = 7;
/// The palm detector's input side in pixels.
pub const PALM_INPUT_SIZE: u32 = 192;
/// NonMaxSuppressionCalculator min_suppression_threshold: merged when IoU > 0.3.
pub const NMS_IOU: f64 = 0.3;

/// Offsets are in input pixels (x/y/w/h_scale 192); anchors are 1 × 1 (fixed_anchor_size).
const BOX_SCALE: f32 = 192.0;
const KEYPOINT_OFFSET: usize = 4;
/// score_clipping_thresh: logits are clipped to ±100 before the sigmoid.
const SCORE_CLIP: f32 = 100.0;

/// One palm. Box and keypoints are normalised to [0, 1]: of the letterboxed square before
/// [`remove_letterbox`], of the image after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PalmDetection {
    /// Probability (sigmoid of the clipped logit).
    pub score: f32,
    /// xmin, ymin, xmax, ymax.
    pub bbox: [f64; 4],
    /// In the model's order; 0 (wrist) → 2 (middle-finger MCP) sets the ROI's rotation.
    pub keypoints: [[f64; 2]; NUM_KEYPOINTS],
}

/// Letterbox padding as fractions of the square: `x` on the left and on the right, `y` on
/// the top and at the bottom (ImageToTensor's PadRoi splits it equally).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Padding {
    /// Padding on each of the left and right sides, as a fraction of the square's side.
    pub x: f64,
    /// Padding on each of the top and bottom, as a fraction of the square's side.
    pub y: f64,
}

/// The palm detector's 192×192 input: the whole image grown to a square (its longer side)
/// about its centre, black outside, sampled like every MediaPipe input.
pub fn letterbox(img: &RgbImage) -> (RgbImage, Padding) {
    let (w, h) = (f64::from(img.width()), f64::from(img.height()));
    let side = w.max(h);
    let padding = Padding {
        x: (1.0 - w / side) / 2.0,
        y: (1.0 - h / side) / 2.0,
    };
    let square = Roi {
        x_center: w / 2.0,
        y_center: h / 2.0,
        side,
        rotation: 0.0,
    };
    (roi::warp(img, &square, PALM_INPUT_SIZE, Border::Zero), padding)
}

/// Sigmoid of a logit clipped to ±100 (sigmoid_score with score_clipping_thresh).
pub fn sigmoid_score(logit: f32) -> f32 {
    let x = logit.clamp(-SCORE_CLIP, SCORE_CLIP);
    1.0 / (1.0 + (-x).exp())
}

/// Raw outputs (`regressors` NUM_ANCHORS × 18, `logits` NUM_ANCHORS) → the detections whose
/// score is >= `min_score`, in anchor order, in letterboxed [0, 1] coordinates.
pub fn decode(regressors: &[f32], logits: &[f32], anchors: &[[f32; 2]], min_score: f32) -> Vec<PalmDetection> {
    regressors
        .chunks_exact(NUM_COORDS)
        .zip(logits)
        .zip(anchors)
        .filter_map(|((raw, &logit), &anchor)| {
            let score = sigmoid_score(logit);
            // min_score_thresh keeps a score equal to the threshold.
            if score >= min_score {
                decode_one(raw, anchor, score)
            } else {
                None
            }
        })
        .collect()
}

/// One anchor's 18 values → a detection; None for a negative width or height, which
/// TensorsToDetectionsCalculator drops.
fn decode_one(raw: &[f32], anchor: [f32; 2], score: f32) -> Option<PalmDetection> {
    let [ax, ay] = anchor;
    // reverse_output_order: the layout is x, y, w, h.
    let cx = raw[0] / BOX_SCALE + ax;
    let cy = raw[1] / BOX_SCALE + ay;
    let w = raw[2] / BOX_SCALE;
    let h = raw[3] / BOX_SCALE;
    if w < 0.0 || h < 0.0 {
        return None;
    }
    let bbox = [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0].map(f64::from);
    let mut keypoints = [[0.0; 2]; NUM_KEYPOINTS];
    for (k, kp) in keypoints.iter_mut().enumerate() {
        let x = raw[KEYPOINT_OFFSET + 2 * k] / BOX_SCALE + ax;
        let y = raw[KEYPOINT_OFFSET + 2 * k + 1] / BOX_SCALE + ay;
        *kp = [f64::from(x), f64::from(y)];
    }
    Some(PalmDetection { score, bbox, keypoints })
}

/// Intersection over union of two (xmin, ymin, xmax, ymax) boxes. Touching boxes count as
/// intersecting (Rectangle_f::Intersects), which gives 0 anyway.
pub fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let ix = a[2].min(b[2]) - a[0].max(b[0]);
    let iy = a[3].min(b[3]) - a[1].max(b[1]);
    if ix < 0.0 || iy < 0.0 {
        return 0.0;
    }
    let inter = ix * iy;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// WeightedNonMaxSuppression: take the best remaining detection, merge every remaining one
/// with IoU > `iou_threshold` (itself included) into it, repeat on the rest. Output is in
/// order of the seeds' scores, so the first is MediaPipe's choice for one hand.
pub fn weighted_nms(mut dets: Vec<PalmDetection>, iou_threshold: f64) -> Vec<PalmDetection> {
    // Stable: equal scores keep anchor order, as the spec's sorted() does.
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    let mut remaining = dets;
    while let Some(seed) = remaining.first().cloned() {
        let (candidates, rest): (Vec<_>, Vec<_>) = remaining
            .into_iter()
            .partition(|d| iou(&d.bbox, &seed.bbox) > iou_threshold);
        out.push(merge(&seed, &candidates));
        // A degenerate seed overlaps nothing, not even itself: MediaPipe stops there.
        if candidates.is_empty() {
            break;
        }
        remaining = rest;
    }
    out
}

/// Score-weighted mean of the candidates' boxes and keypoints, keeping the seed's score.
/// Summed in candidate order, like the spec.
fn merge(seed: &PalmDetection, candidates: &[PalmDetection]) -> PalmDetection {
    if candidates.is_empty() {
        return seed.clone();
    }
    let mut total = 0.0f64;
    let mut bbox = [0.0f64; 4];
    let mut keypoints = [[0.0f64; 2]; NUM_KEYPOINTS];
    for d in candidates {
        let weight = f64::from(d.score);
        total += weight;
        for (acc, v) in bbox.iter_mut().zip(d.bbox) {
            *acc += v * weight;
        }
        for (acc, kp) in keypoints.iter_mut().zip(d.keypoints) {
            acc[0] += kp[0] * weight;
            acc[1] += kp[1] * weight;
        }
    }
    let bbox = bbox.map(|v| v / total);
    let keypoints = keypoints.map(|[x, y]| [x / total, y / total]);
    PalmDetection {
        score: seed.score,
        bbox,
        keypoints,
    }
}

/// Letterboxed [0, 1] coordinates → the image's [0, 1] coordinates
/// (DetectionLetterboxRemovalCalculator).
pub fn remove_letterbox(det: &PalmDetection, padding: Padding) -> PalmDetection {
    let (left, top, right, bottom) = (padding.x, padding.y, padding.x, padding.y);
    let sx = 1.0 - left - right;
    let sy = 1.0 - top - bottom;
    let [xmin, ymin, xmax, ymax] = det.bbox;
    PalmDetection {
        score: det.score,
        bbox: [
            (xmin - left) / sx,
            (ymin - top) / sy,
            (xmax - left) / sx,
            (ymax - top) / sy,
        ],
        keypoints: det.keypoints.map(|[x, y]| [(x - left) / sx, (y - top) / sy]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hand::anchors::{NUM_ANCHORS, ssd_anchors};
    use image::Rgb;

    fn detection(score: f32, bbox: [f64; 4]) -> PalmDetection {
        PalmDetection {
            score,
            bbox,
            keypoints: [[bbox[0], bbox[1]]; NUM_KEYPOINTS],
        }
    }

    #[test]
    fn score_is_a_clipped_sigmoid() {
        assert_eq!(sigmoid_score(0.0), 0.5);
        assert_eq!(sigmoid_score(1000.0), sigmoid_score(100.0));
        assert_eq!(sigmoid_score(-1000.0), sigmoid_score(-100.0));
        assert!((sigmoid_score(2.0) - 0.880_797).abs() < 1e-6);
    }

    #[test]
    fn decodes_offsets_relative_to_the_anchor() {
        let anchors = ssd_anchors();
        let mut regressors = vec![0.0f32; NUM_ANCHORS * NUM_COORDS];
        let mut logits = vec![-10.0f32; NUM_ANCHORS];
        // Cell (x 7, y 5) of the 12×12 grid, its 4th anchor.
        let hit = 1152 + 6 * (5 * 12 + 7) + 3;
        logits[hit] = 2.0;
        let raw = &mut regressors[hit * NUM_COORDS..(hit + 1) * NUM_COORDS];
        raw[..4].copy_from_slice(&[19.2, -9.6, 38.4, 19.2]);
        raw[4] = 96.0; // keypoint 0: x + 0.5
        raw[17] = -48.0; // keypoint 6: y − 0.25
        // A logit of 0 is exactly the threshold (kept); a negative width is dropped.
        logits[0] = 0.0;
        logits[1] = 5.0;
        regressors[NUM_COORDS + 2] = -1.0;
        let dets = decode(&regressors, &logits, &anchors, 0.5);
        assert_eq!(dets.len(), 2);
        assert_eq!(dets[0].score, 0.5);
        let d = &dets[1];
        let (ax, ay) = (7.5 / 12.0, 5.5 / 12.0);
        let expected = [ax + 0.1 - 0.1, ay - 0.05 - 0.05, ax + 0.1 + 0.1, ay - 0.05 + 0.05];
        for (got, want) in d.bbox.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{:?}", d.bbox);
        }
        assert!((d.keypoints[0][0] - (ax + 0.5)).abs() < 1e-6);
        assert!((d.keypoints[0][1] - ay).abs() < 1e-6);
        assert!((d.keypoints[6][1] - (ay - 0.25)).abs() < 1e-6);
        assert_eq!(d.score, sigmoid_score(2.0));
    }

    #[test]
    fn weighted_nms_merges_overlaps_and_keeps_the_rest() {
        let a = detection(0.9, [0.1, 0.1, 0.3, 0.3]);
        let b = detection(0.6, [0.12, 0.1, 0.32, 0.3]); // IoU 0.82 with a
        let c = detection(0.8, [0.6, 0.6, 0.8, 0.8]);
        let out = weighted_nms(vec![b, c.clone(), a], NMS_IOU);
        assert_eq!(out.len(), 2);
        let (w_a, w_b) = (f64::from(0.9f32), f64::from(0.6f32));
        let xmin = (0.1 * w_a + 0.12 * w_b) / (w_a + w_b);
        assert_eq!(out[0].score, 0.9);
        assert!((out[0].bbox[0] - xmin).abs() < 1e-12);
        assert!((out[0].keypoints[3][0] - xmin).abs() < 1e-12);
        assert!((out[0].bbox[2] - (xmin + 0.2)).abs() < 1e-12);
        // c alone: x · w / w, equal to c up to rounding.
        assert_eq!(out[1].score, c.score);
        for (got, want) in out[1].bbox.iter().zip(c.bbox) {
            assert!((got - want).abs() < 1e-12);
        }
    }

    #[test]
    fn iou_of_known_boxes() {
        assert_eq!(iou(&[0.0, 0.0, 1.0, 1.0], &[2.0, 2.0, 3.0, 3.0]), 0.0);
        assert_eq!(iou(&[0.0, 0.0, 1.0, 1.0], &[1.0, 0.0, 2.0, 1.0]), 0.0);
        assert!((iou(&[0.0, 0.0, 2.0, 1.0], &[1.0, 0.0, 3.0, 1.0]) - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn letterbox_is_centred_and_black() {
        // 4 × 2: a 4-px square with a 1-px black band above and below (padding y 0.25).
        let img = RgbImage::from_pixel(4, 2, Rgb([200, 100, 50]));
        let (input, padding) = letterbox(&img);
        assert_eq!(padding, Padding { x: 0.0, y: 0.25 });
        assert_eq!(input.dimensions(), (PALM_INPUT_SIZE, PALM_INPUT_SIZE));
        assert_eq!(input.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(input.get_pixel(96, 96).0, [200, 100, 50]);
        assert_eq!(input.get_pixel(0, 48).0, [200, 100, 50]);
        // Column 191 reads x = 3.98, between the last pixel and the black beyond it:
        // corners map to corners, with no half-pixel offset.
        assert_eq!(input.get_pixel(191, 96).0, [6, 3, 2]);
        // Row 47 reads y = −1/48 → −1/32 px: 31/32 of the image, 1/32 black, rounded.
        assert_eq!(input.get_pixel(96, 47).0, [194, 97, 48]);
        assert_eq!(input.get_pixel(96, 191).0, [0, 0, 0]);
    }

    #[test]
    fn letterbox_removal_undoes_the_padding() {
        let det = detection(0.7, [0.25, 0.25, 0.75, 0.5]);
        let out = remove_letterbox(&det, Padding { x: 0.0, y: 0.25 });
        assert_eq!(out.bbox, [0.25, 0.0, 0.75, 0.5]);
        assert_eq!(out.keypoints[0], [0.25, 0.0]);
    }
}
