//! The hand crop: the square around a hand's 21 landmarks, turned so that the wrist → middle
//! knuckle direction points up and mirrored to a right hand, so that a crop classifier sees
//! every hand the same way up whatever the photo's framing, as the handshape features do.
use image::RgbImage;
use image::imageops::FilterType;

use super::NUM_LANDMARKS;
use super::roi::{self, Border, Roi};

/// The crop's side over the longer extent of the landmarks (along the turned axes): the hand
/// and a margin of what is around it.
pub const CROP_MARGIN: f64 = 1.6;
/// Pixels of the photo's edge that read as black: the Kaggle photos have a 3 px blue frame
/// that a crop near the edge would otherwise copy in, a cue of that one dataset.
pub const EDGE_IGNORED: u32 = 3;
/// The crop is sampled at this side first and then reduced with a triangle filter: a direct
/// bilinear sample of a large hand at 48 px would alias.
const SAMPLE_SIDE: u32 = 96;

/// The rotated square around `landmarks` (photo pixels) that [`hand_crop`] samples.
pub fn crop_roi(landmarks: &[[f32; 3]; NUM_LANDMARKS]) -> Roi {
    let (wx, wy) = (f64::from(landmarks[0][0]), f64::from(landmarks[0][1]));
    let (mx, my) = (f64::from(landmarks[9][0]), f64::from(landmarks[9][1]));
    // Output "up" reads the source along (sin r, −cos r): make that wrist → middle MCP.
    let rotation = (mx - wx).atan2(-(my - wy));
    let (c, s) = (rotation.cos(), rotation.sin());
    let (mut u_lo, mut u_hi, mut v_lo, mut v_hi) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in landmarks {
        let (x, y) = (f64::from(p[0]), f64::from(p[1]));
        let (u, v) = (x * c + y * s, -x * s + y * c);
        u_lo = u_lo.min(u);
        u_hi = u_hi.max(u);
        v_lo = v_lo.min(v);
        v_hi = v_hi.max(v);
    }
    let (uc, vc) = ((u_lo + u_hi) / 2.0, (v_lo + v_hi) / 2.0);
    Roi {
        x_center: uc * c - vc * s,
        y_center: uc * s + vc * c,
        side: (CROP_MARGIN * (u_hi - u_lo).max(v_hi - v_lo)).max(1.0),
        rotation,
    }
}

/// The hand of `photo` (the [`super::view`] its landmarks were measured in) as a `side` ×
/// `side` crop: turned upright, mirrored when `right` is false, black outside the photo and on
/// its outer [`EDGE_IGNORED`] pixels.
pub fn hand_crop(photo: &RgbImage, landmarks: &[[f32; 3]; NUM_LANDMARKS], right: bool, side: u32) -> RgbImage {
    let mut framed = photo.clone();
    let (w, h) = framed.dimensions();
    for (x, y, px) in framed.enumerate_pixels_mut() {
        if x < EDGE_IGNORED || y < EDGE_IGNORED || x + EDGE_IGNORED >= w || y + EDGE_IGNORED >= h {
            *px = image::Rgb([0, 0, 0]);
        }
    }
    let mut crop = roi::warp(&framed, &crop_roi(landmarks), SAMPLE_SIDE, Border::Zero);
    if !right {
        image::imageops::flip_horizontal_in_place(&mut crop);
    }
    if side == SAMPLE_SIDE {
        crop
    } else {
        image::imageops::resize(&crop, side, side, FilterType::Triangle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand drawn as landmarks on a slanted line up to (120, 50), the wrist at (100, 150) and the
    /// middle knuckle straight above it at (100, 100).
    fn upright_hand() -> [[f32; 3]; NUM_LANDMARKS] {
        let mut l = [[0.0f32; 3]; NUM_LANDMARKS];
        for (i, p) in l.iter_mut().enumerate() {
            let t = i as f32 / 20.0;
            *p = [80.0 + 40.0 * t, 150.0 - 100.0 * t, 0.0];
        }
        l[0] = [100.0, 150.0, 0.0];
        l[9] = [100.0, 100.0, 0.0];
        l
    }

    #[test]
    fn an_upright_hand_is_not_turned_and_a_sideways_one_is() {
        let r = crop_roi(&upright_hand());
        assert!(r.rotation.abs() < 1e-9, "{r:?}");
        // Landmarks span x 82..120 (the wrist at 100) and y 50..150.
        assert!(
            (r.x_center - 101.0).abs() < 1e-6 && (r.y_center - 100.0).abs() < 1e-6,
            "{r:?}"
        );
        assert!((r.side - 160.0).abs() < 1e-6, "{r:?}");
        // The same hand pointing right (x grows from the wrist): turned by +90°.
        let right = upright_hand().map(|[x, y, z]| [100.0 + (150.0 - y), 100.0 + (x - 100.0), z]);
        let r = crop_roi(&right);
        assert!((r.rotation - std::f64::consts::FRAC_PI_2).abs() < 1e-9, "{r:?}");
        // The same square, turned with the hand: centre (101, 100) maps to (150, 101).
        assert!(
            (r.x_center - 150.0).abs() < 1e-6 && (r.y_center - 101.0).abs() < 1e-6,
            "{r:?}"
        );
        assert!((r.side - 160.0).abs() < 1e-6, "{r:?}");
    }

    #[test]
    fn the_crop_puts_the_fingertips_at_the_top_and_mirrors_left_hands() {
        // A photo whose upper-left quarter (fingers of the upright hand, left of centre) is white.
        let mut photo = RgbImage::new(200, 200);
        for y in 40..100 {
            for x in 60..100 {
                photo.put_pixel(x, y, image::Rgb([255, 255, 255]));
            }
        }
        let crop = hand_crop(&photo, &upright_hand(), true, 48);
        assert_eq!(crop.dimensions(), (48, 48));
        let at = |c: &RgbImage, x: u32, y: u32| c.get_pixel(x, y)[0];
        assert!(at(&crop, 18, 12) > 200 && at(&crop, 30, 36) < 50, "fingers up, left");
        let mirrored = hand_crop(&photo, &upright_hand(), false, 48);
        assert!(
            at(&mirrored, 29, 12) > 200 && at(&mirrored, 18, 12) < 50,
            "mirrored: right"
        );
    }

    #[test]
    fn the_photo_edge_reads_black() {
        let photo = RgbImage::from_pixel(200, 200, image::Rgb([0, 0, 255]));
        let mut l = upright_hand();
        for p in &mut l {
            p[0] -= 95.0; // the hand at the photo's left edge: the crop spans x −74..86
        }
        let crop = hand_crop(&photo, &l, true, SAMPLE_SIDE);
        let blue = |u: u32| crop.get_pixel(u, 48)[2];
        // Column u reads x = −74 + u·160/96: u 20 is outside the photo, u 45 (x 1) on its
        // ignored edge, u 50 (x 9) inside.
        assert_eq!(blue(20), 0, "outside the photo");
        assert_eq!(blue(45), 0, "the photo's outer pixels");
        assert_eq!(blue(50), 255, "inside the photo");
    }
}
