//! Landmark-model outputs → image coordinates.
//!
//! TensorsToLandmarksCalculator (crop pixels / 224; z / 224 / 0.4) followed by
//! LandmarkProjectionCalculator (rotate about the crop centre by the ROI rotation, scale by
//! the ROI side, add the ROI centre; z scaled by the ROI width). Because the ROI is square in
//! pixels this equals the spec's pixel form, which is done here in f32 as the spec's numpy
//! arrays are.
use super::HandError;
use super::roi::Roi;

/// Landmarks per hand (MediaPipe's 21: the wrist and four joints per finger).
pub const NUM_LANDMARKS: usize = 21;
/// The landmark model's input side in pixels.
pub const LANDMARK_INPUT_SIZE: u32 = 224;
/// TensorsToLandmarksCalculator normalize_z.
const NORMALIZE_Z: f32 = 0.4;

/// 63 values → 21 (x, y, z); `what` names the output in the error.
pub fn triples(values: &[f32], what: &'static str) -> Result<[[f32; 3]; NUM_LANDMARKS], HandError> {
    if values.len() != 3 * NUM_LANDMARKS {
        return Err(HandError::OutputSize {
            what,
            expected: 3 * NUM_LANDMARKS,
            got: values.len(),
        });
    }
    let mut out = [[0.0f32; 3]; NUM_LANDMARKS];
    for (point, chunk) in out.iter_mut().zip(values.chunks_exact(3)) {
        point.copy_from_slice(chunk);
    }
    Ok(out)
}

/// Landmarks in crop pixels (0..224) → image pixels (x, y) and z in image pixels too
/// (MediaPipe's normalised z × image width = z / 224 / 0.4 × ROI side; negative = nearer).
pub fn project(raw: &[[f32; 3]; NUM_LANDMARKS], roi: &Roi) -> [[f32; 3]; NUM_LANDMARKS] {
    let size = LANDMARK_INPUT_SIZE as f32;
    // The spec's numpy turns these doubles into float32 before the arithmetic.
    let (c, s) = (roi.rotation.cos() as f32, roi.rotation.sin() as f32);
    let (side, cx, cy) = (roi.side as f32, roi.x_center as f32, roi.y_center as f32);
    raw.map(|[x, y, z]| {
        let nx = x / size - 0.5;
        let ny = y / size - 0.5;
        let nz = z / size;
        [
            (c * nx - s * ny) * side + cx,
            (s * nx + c * ny) * side + cy,
            nz / NORMALIZE_Z * side,
        ]
    })
}

/// World landmarks (metres, hand-centred) rotated by the ROI rotation about z; z unchanged
/// (WorldLandmarkProjectionCalculator).
pub fn project_world(raw: &[[f32; 3]; NUM_LANDMARKS], roi: &Roi) -> [[f32; 3]; NUM_LANDMARKS] {
    let (c, s) = (roi.rotation.cos() as f32, roi.rotation.sin() as f32);
    raw.map(|[x, y, z]| [c * x - s * y, s * x + c * y, z])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f32; 3], b: [f32; 3]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-3)
    }

    #[test]
    fn unrotated_roi_of_the_crop_size_only_scales_z() {
        let roi = Roi {
            x_center: 112.0,
            y_center: 112.0,
            side: 224.0,
            rotation: 0.0,
        };
        let mut raw = [[0.0f32; 3]; NUM_LANDMARKS];
        raw[0] = [10.0, 200.0, -8.0];
        raw[20] = [112.0, 112.0, 4.0];
        let out = project(&raw, &roi);
        assert!(close(out[0], [10.0, 200.0, -20.0]), "{:?}", out[0]);
        assert!(close(out[20], [112.0, 112.0, 10.0]), "{:?}", out[20]);
    }

    #[test]
    fn rotated_roi_maps_crop_right_to_image_down() {
        // Rotation +90° is clockwise on screen: the crop's +x axis is the image's +y axis.
        let roi = Roi {
            x_center: 300.0,
            y_center: 200.0,
            side: 448.0,
            rotation: std::f64::consts::FRAC_PI_2,
        };
        let mut raw = [[112.0f32, 112.0, 0.0]; NUM_LANDMARKS];
        raw[1] = [168.0, 112.0, 22.4]; // a quarter of the crop right of the centre
        raw[2] = [112.0, 56.0, 0.0]; // a quarter above
        let out = project(&raw, &roi);
        assert!(close(out[0], [300.0, 200.0, 0.0]), "{:?}", out[0]);
        // 0.25 × 448 = 112 px; z = 22.4 / 224 / 0.4 × 448 = 112.
        assert!(close(out[1], [300.0, 312.0, 112.0]), "{:?}", out[1]);
        assert!(close(out[2], [412.0, 200.0, 0.0]), "{:?}", out[2]);
        let world = project_world(&[[0.01, 0.0, 0.02]; NUM_LANDMARKS], &roi);
        assert!(
            world[0]
                .iter()
                .zip([0.0, 0.01, 0.02])
                .all(|(a, b)| (a - b).abs() < 1e-7)
        );
    }

    #[test]
    fn triples_checks_the_length() {
        let values: Vec<f32> = (0..63).map(|i| i as f32).collect();
        let t = triples(&values, "landmarks").expect("63 values");
        assert_eq!(t[20], [60.0, 61.0, 62.0]);
        assert!(matches!(
            triples(&values[..60], "landmarks"),
            Err(HandError::OutputSize {
                expected: 63,
                got: 60,
                ..
            })
        ));
    }
}
