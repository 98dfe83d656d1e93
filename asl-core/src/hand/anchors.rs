//! SSD anchors of the palm detector, in the order of the model's 2016 outputs.
//!
//! MediaPipe's PalmDetectionCpu / SsdAnchorsCalculator options: input 192×192, 4 layers with
//! strides 8, 16, 16, 16, anchor offset 0.5, `fixed_anchor_size: true` (every anchor is
//! 1 × 1, so only the centres matter), aspect ratios [1.0] and
//! `interpolated_scale_aspect_ratio` left at its proto default 1.0, which adds a second
//! anchor per layer. Consecutive layers with the same stride share one grid and their anchors
//! interleave per cell (ssd_anchors_calculator.cc), so the order is 24×24 cells × 2 anchors,
//! then 12×12 cells × 6 anchors: 1152 + 864 = 2016.
use std::sync::OnceLock;

/// Anchors, i.e. palm-detector outputs.
pub const NUM_ANCHORS: usize = 2016;

const INPUT_SIZE: u32 = 192;
const STRIDES: [u32; 4] = [8, 16, 16, 16];
/// Aspect ratio 1.0 plus the interpolated-scale anchor.
const ANCHORS_PER_LAYER: usize = 2;
const ANCHOR_OFFSET: f64 = 0.5;

/// Anchor centres (x, y) in [0, 1] of the 192×192 input, computed once.
pub fn anchors() -> &'static [[f32; 2]] {
    static ANCHORS: OnceLock<Vec<[f32; 2]>> = OnceLock::new();
    ANCHORS.get_or_init(ssd_anchors)
}

/// Anchor centres (x, y) in [0, 1], in output order (see the module docs).
pub fn ssd_anchors() -> Vec<[f32; 2]> {
    let mut centres = Vec::with_capacity(NUM_ANCHORS);
    let mut layer = 0;
    while layer < STRIDES.len() {
        let stride = STRIDES[layer];
        // Layers sharing a stride share a grid; their anchors repeat per cell.
        let merged = STRIDES[layer..].iter().take_while(|&&s| s == stride).count();
        let per_cell = ANCHORS_PER_LAYER * merged;
        let grid = INPUT_SIZE.div_ceil(stride);
        let grid_f = f64::from(grid);
        for y in 0..grid {
            for x in 0..grid {
                // Computed in double and stored as float32, as the spec does.
                let centre = [
                    ((f64::from(x) + ANCHOR_OFFSET) / grid_f) as f32,
                    ((f64::from(y) + ANCHOR_OFFSET) / grid_f) as f32,
                ];
                centres.extend(std::iter::repeat_n(centre, per_cell));
            }
        }
        layer += merged;
    }
    centres
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_and_layout_match_the_palm_model() {
        let a = ssd_anchors();
        assert_eq!(a.len(), NUM_ANCHORS);
        // 24×24 grid, 2 per cell: the first cell's two anchors, the last cell of that grid.
        let first = (0.5f64 / 24.0) as f32;
        assert_eq!(a[0], [first, first]);
        assert_eq!(a[1], [first, first]);
        assert_eq!(a[2], [(1.5f64 / 24.0) as f32, first]);
        let last24 = (23.5f64 / 24.0) as f32;
        assert_eq!(a[24 * 24 * 2 - 1], [last24, last24]);
        // 12×12 grid, 6 per cell.
        let first12 = (0.5f64 / 12.0) as f32;
        for anchor in &a[1152..1158] {
            assert_eq!(*anchor, [first12, first12]);
        }
        assert_eq!(a[1158], [(1.5f64 / 12.0) as f32, first12]);
        let last = (11.5f64 / 12.0) as f32;
        assert_eq!(a[NUM_ANCHORS - 1], [last, last]);
        assert_eq!(a[NUM_ANCHORS - 6], [last, last]);
        assert_eq!(anchors(), a.as_slice());
    }
}
