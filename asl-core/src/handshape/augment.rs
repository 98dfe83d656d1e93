//! Landmark-space augmentation for training the landmark classifier.
//!
//! Port of `scripts/hand_models/prototype/augment.py` (docs/hands/classifier.md section 3). It
//! works on a base hand ([`super::features::base`]: right hand, wrist at the origin, palm size 1,
//! NOT yet rotated in the image plane, so the in-plane angle keeps its meaning); the augmented
//! hand goes through [`super::features::normalise`] again. Axes: x right, y down, z away from the
//! camera. The random stream is SplitMix64, not numpy's, so the draws differ from the Python's
//! while their distributions and order are the same.

use super::features::v3::{add, cross, div, dot, mat_vec, norm, scale, sub};
use super::features::{FINGERS, Points, WRIST};
use crate::rng::SplitMix64;

/// Strength of each augmentation; every factor is drawn uniformly, noise is Gaussian.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AugmentConfig {
    /// Per-digit length factor U(1 − a, 1 + a) applied to all the digit's bones.
    pub finger_len: f64,
    /// Extra per-bone length factor U(1 − a, 1 + a).
    pub bone_len: f64,
    /// Hand width factor along the palm's across axis U(1 − a, 1 + a).
    pub width: f64,
    /// Depth factor U(1 − a, 1 + a) (MediaPipe's z is the least reliable axis).
    pub z_scale: f64,
    /// Rotation about the hand's up axis (wrist → middle MCP), degrees U(−a, a).
    pub yaw_deg: f64,
    /// Rotation about the hand's across axis, degrees U(−a, a).
    pub pitch_deg: f64,
    /// In-plane rotation about the camera axis, degrees U(−a, a).
    pub roll_deg: f64,
    /// Gaussian noise σ on x and y (palm-size units).
    pub noise: f64,
    /// Gaussian noise σ on z (palm-size units).
    pub noise_z: f64,
}

impl AugmentConfig {
    /// augment.py's `AUG` (its default; the design table's plain augmentation).
    pub const MILD: Self = Self {
        finger_len: 0.12,
        bone_len: 0.05,
        width: 0.12,
        z_scale: 0.30,
        yaw_deg: 25.0,
        pitch_deg: 25.0,
        roll_deg: 20.0,
        noise: 0.03,
        noise_z: 0.05,
    };
    /// augment.py's `AUG_STRONG`, the chosen design: wider viewpoint and depth range, more noise.
    pub const STRONG: Self = Self {
        z_scale: 0.5,
        yaw_deg: 40.0,
        pitch_deg: 40.0,
        noise: 0.05,
        ..Self::MILD
    };
    /// No augmentation: [`augment`] returns its input (up to rounding).
    pub const NONE: Self = Self {
        finger_len: 0.0,
        bone_len: 0.0,
        width: 0.0,
        z_scale: 0.0,
        yaw_deg: 0.0,
        pitch_deg: 0.0,
        roll_deg: 0.0,
        noise: 0.0,
        noise_z: 0.0,
    };
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self::STRONG
    }
}

/// Uniform in [lo, hi) with 53 random bits (the crate PRNG's `range` is f32 only).
pub fn uniform(rng: &mut SplitMix64, lo: f64, hi: f64) -> f64 {
    let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    lo + (hi - lo) * u
}

/// Standard normal draw (Box–Muller; the second value of the pair is dropped for simplicity).
pub fn normal(rng: &mut SplitMix64) -> f64 {
    let u1 = 1.0 - uniform(rng, 0.0, 1.0); // (0, 1]: ln is finite
    let u2 = uniform(rng, 0.0, 1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Unit palm axes (a, u, n): u = wrist → middle MCP; a = across toward the thumb side (index MCP
/// − pinky MCP, made orthogonal to u); n = a × u = out of the palm (right hand).
pub fn palm_frame(q: &Points) -> ([f64; 3], [f64; 3], [f64; 3]) {
    let u = sub(q[9], q[WRIST]);
    let u = div(u, norm(u) + 1e-9);
    let a = sub(q[5], q[17]);
    let a = sub(a, scale(u, dot(a, u)));
    let a = div(a, norm(a) + 1e-9);
    (a, u, cross(a, u))
}

/// A row-major 3×3 matrix.
pub type Mat3 = [[f64; 3]; 3];

/// Rodrigues rotation matrix about an axis (normalised here), angle in radians.
pub fn rotation(axis: [f64; 3], angle: f64) -> Mat3 {
    let [x, y, z] = div(axis, norm(axis) + 1e-9);
    let k = [[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]];
    let kk = mat_mul(&k, &k);
    let (s, c) = (angle.sin(), 1.0 - angle.cos());
    std::array::from_fn(|i| std::array::from_fn(|j| f64::from(u8::from(i == j)) + s * k[i][j] + c * kk[i][j]))
}

/// Row-major 3×3 product `a @ b`.
pub fn mat_mul(a: &Mat3, b: &Mat3) -> Mat3 {
    std::array::from_fn(|i| std::array::from_fn(|j| a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j]))
}

/// One augmented copy of a base hand. In order (as augment.py): bone lengths (each digit's chain
/// rebuilt from its base joint with scaled bones), width along the palm's across axis, depth
/// scale, 3-D rotation about the wrist (yaw about the up axis, then pitch about the across axis,
/// then roll about the camera axis), Gaussian noise.
pub fn augment(q: &Points, rng: &mut SplitMix64, cfg: &AugmentConfig) -> Points {
    let mut q = *q;
    // 1. bone lengths
    for ch in &FINGERS {
        let f = uniform(rng, 1.0 - cfg.finger_len, 1.0 + cfg.finger_len);
        let old = ch.map(|i| q[i]);
        for k in 1..4 {
            let b = sub(old[k], old[k - 1]);
            let s = f * uniform(rng, 1.0 - cfg.bone_len, 1.0 + cfg.bone_len);
            q[ch[k]] = add(q[ch[k - 1]], scale(b, s));
        }
    }
    // 2. width along the across axis
    let (a, _, _) = palm_frame(&q);
    let w = uniform(rng, 1.0 - cfg.width, 1.0 + cfg.width);
    for v in &mut q {
        *v = add(*v, scale(a, dot(*v, a) * (w - 1.0)));
    }
    // 3. depth
    let zf = uniform(rng, 1.0 - cfg.z_scale, 1.0 + cfg.z_scale);
    for v in &mut q {
        v[2] *= zf;
    }
    // 4. rotation about the wrist: R = roll(z) · pitch(a) · yaw(u), drawn in that order
    let (a, u, _) = palm_frame(&q);
    let roll = rotation([0.0, 0.0, 1.0], (uniform(rng, -1.0, 1.0) * cfg.roll_deg).to_radians());
    let pitch = rotation(a, (uniform(rng, -1.0, 1.0) * cfg.pitch_deg).to_radians());
    let yaw = rotation(u, (uniform(rng, -1.0, 1.0) * cfg.yaw_deg).to_radians());
    let r = mat_mul(&mat_mul(&roll, &pitch), &yaw);
    for v in &mut q {
        *v = mat_vec(&r, *v);
    }
    // 5. noise: x, y of every landmark, then z
    for v in &mut q {
        v[0] += cfg.noise * normal(rng);
        v[1] += cfg.noise * normal(rng);
    }
    for v in &mut q {
        v[2] += cfg.noise_z * normal(rng);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::super::features::{NUM_LANDMARKS, base_features, normalise, palm_size};
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Case {
        base: Points,
    }

    #[derive(Deserialize)]
    struct Fixture {
        cases: Vec<Case>,
    }

    /// Base hands (mirrored, centred, scaled) of the MediaPipe reference photos and variants.
    fn hands() -> Vec<Points> {
        let fx: Fixture = serde_json::from_str(include_str!("../../tests/data/handshape/features_reference.json"))
            .expect("features fixture parses");
        fx.cases.into_iter().map(|c| c.base).collect()
    }

    fn max_abs_diff(a: &Points, b: &Points) -> f64 {
        a.iter()
            .flatten()
            .zip(b.iter().flatten())
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    fn in_plane_angle(q: &Points) -> f64 {
        let n = normalise(q, true);
        n.sin.atan2(n.cos)
    }

    #[test]
    fn none_is_identity() {
        let mut rng = SplitMix64::new(1);
        let mut worst = 0.0f64;
        for q in hands() {
            let out = augment(&q, &mut rng, &AugmentConfig::NONE);
            worst = worst.max(max_abs_diff(&out, &q));
        }
        eprintln!("NONE: max |augment(q) - q| = {worst:.2e}");
        assert!(worst < 1e-12, "{worst}");
        assert_eq!(AugmentConfig::default(), AugmentConfig::STRONG);
    }

    #[test]
    fn deterministic_per_seed() {
        let q = hands()[0];
        let a = augment(&q, &mut SplitMix64::new(42), &AugmentConfig::STRONG);
        let b = augment(&q, &mut SplitMix64::new(42), &AugmentConfig::STRONG);
        let c = augment(&q, &mut SplitMix64::new(43), &AugmentConfig::STRONG);
        assert_eq!(a, b);
        assert!(max_abs_diff(&a, &c) > 1e-3);
        assert!(max_abs_diff(&a, &q) > 1e-3);
    }

    #[test]
    fn bone_lengths_scale_within_factors() {
        let cfg = AugmentConfig {
            finger_len: 0.12,
            bone_len: 0.05,
            ..AugmentConfig::NONE
        };
        let (lo, hi) = ((1.0 - 0.12) * (1.0 - 0.05), (1.0 + 0.12) * (1.0 + 0.05));
        let mut rng = SplitMix64::new(7);
        let (mut min_r, mut max_r) = (f64::MAX, f64::MIN);
        for q in hands() {
            for _ in 0..50 {
                let out = augment(&q, &mut rng, &cfg);
                // palm points (chain bases) stay put
                for i in [0, 1, 5, 9, 13, 17] {
                    assert!(norm(sub(out[i], q[i])) < 1e-12);
                }
                for ch in &FINGERS {
                    let r: [f64; 3] = std::array::from_fn(|k| {
                        norm(sub(out[ch[k + 1]], out[ch[k]])) / norm(sub(q[ch[k + 1]], q[ch[k]]))
                    });
                    for (k, &x) in r.iter().enumerate() {
                        assert!(x > lo - 1e-9 && x < hi + 1e-9, "bone {k} of {ch:?}: {x}");
                        // bones of one digit share the digit factor
                        assert!(x / r[0] > 0.95 / 1.05 - 1e-9 && x / r[0] < 1.05 / 0.95 + 1e-9);
                        min_r = min_r.min(x);
                        max_r = max_r.max(x);
                    }
                    // direction of each bone is kept
                    for k in 0..3 {
                        let (b0, b1) = (sub(q[ch[k + 1]], q[ch[k]]), sub(out[ch[k + 1]], out[ch[k]]));
                        assert!(norm(cross(b0, b1)) < 1e-9 * norm(b0) * norm(b1) + 1e-12);
                    }
                }
            }
        }
        assert!(min_r < 0.87 && max_r > 1.15, "bone factors span [{min_r}, {max_r}]");
    }

    #[test]
    fn strong_keeps_wrist_and_palm_size_within_width_factor() {
        // STRONG's geometry without noise (which moves the wrist too) and depth scaling (which
        // changes the palm's z extent): rotations keep palm size, width scales it by at most ±12 %.
        // The palm's wrist → MCP vectors run mostly along the up axis, so palm size moves little;
        // the knuckle span along the across axis scales by exactly the width factor.
        let cfg = AugmentConfig {
            noise: 0.0,
            noise_z: 0.0,
            z_scale: 0.0,
            ..AugmentConfig::STRONG
        };
        let mut rng = SplitMix64::new(11);
        let (mut min_r, mut max_r, mut min_w, mut max_w) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for q in hands() {
            let (a0, _, _) = palm_frame(&q);
            for _ in 0..100 {
                let out = augment(&q, &mut rng, &cfg);
                assert!(norm(out[WRIST]) < 1e-12, "wrist moved to {:?}", out[WRIST]);
                let r = palm_size(&out) / palm_size(&q);
                assert!(
                    r > 1.0 - cfg.width - 1e-9 && r < 1.0 + cfg.width + 1e-9,
                    "palm size ratio {r}"
                );
                let (a, _, _) = palm_frame(&out);
                let w = dot(sub(out[5], out[17]), a) / dot(sub(q[5], q[17]), a0);
                assert!(
                    w > 1.0 - cfg.width - 1e-9 && w < 1.0 + cfg.width + 1e-9,
                    "width ratio {w}"
                );
                (min_r, max_r, min_w, max_w) = (min_r.min(r), max_r.max(r), min_w.min(w), max_w.max(w));
                assert!(base_features(&out).iter().all(|x| x.is_finite()));
            }
        }
        eprintln!(
            "STRONG (no noise, no depth): palm size ratio in [{min_r:.3}, {max_r:.3}], knuckle span ratio in \
             [{min_w:.3}, {max_w:.3}]"
        );
        assert!(min_w < 0.9 && max_w > 1.1);
        // with depth scaling on as well, the wrist still stays at the origin
        let cfg = AugmentConfig {
            noise: 0.0,
            noise_z: 0.0,
            ..AugmentConfig::STRONG
        };
        for q in hands() {
            let out = augment(&q, &mut rng, &cfg);
            assert!(norm(out[WRIST]) < 1e-12);
            let r = palm_size(&out) / palm_size(&q);
            assert!(r > 0.88 * 0.5 && r < 1.12 * 1.5, "{r}");
        }
    }

    #[test]
    fn width_and_depth_scale_their_axes() {
        let mut rng = SplitMix64::new(5);
        let q = hands()[2];
        let (a, u, _) = palm_frame(&q);
        let cfg = AugmentConfig {
            width: 0.12,
            ..AugmentConfig::NONE
        };
        for _ in 0..100 {
            let out = augment(&q, &mut rng, &cfg);
            let w = dot(out[5], a) / dot(q[5], a);
            assert!((0.88..=1.12).contains(&w), "{w}");
            for i in 0..NUM_LANDMARKS {
                // the across component scales by the one factor, the up component is kept
                assert!((dot(out[i], a) - w * dot(q[i], a)).abs() < 1e-9);
                assert!((dot(out[i], u) - dot(q[i], u)).abs() < 1e-9);
            }
        }
        let cfg = AugmentConfig {
            z_scale: 0.5,
            ..AugmentConfig::NONE
        };
        for _ in 0..100 {
            let out = augment(&q, &mut rng, &cfg);
            let f = out[4][2] / q[4][2];
            assert!((0.5..=1.5).contains(&f), "{f}");
            for i in 0..NUM_LANDMARKS {
                assert!((out[i][0] - q[i][0]).abs() < 1e-12 && (out[i][1] - q[i][1]).abs() < 1e-12);
                assert!((out[i][2] - f * q[i][2]).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn roll_spreads_uniformly_over_20_degrees() {
        let cfg = AugmentConfig {
            roll_deg: 20.0,
            ..AugmentConfig::NONE
        };
        let q = hands()[0];
        let a0 = in_plane_angle(&q);
        let mut rng = SplitMix64::new(3);
        let n = 2000;
        let (mut sum, mut max, mut sum_signed) = (0.0, 0.0f64, 0.0);
        for _ in 0..n {
            let out = augment(&q, &mut rng, &cfg);
            let d = (in_plane_angle(&out) - a0).sin().asin().to_degrees();
            // a pure roll keeps every distance from the wrist and the depth
            for i in 0..NUM_LANDMARKS {
                assert!((norm(out[i]) - norm(q[i])).abs() < 1e-9 && (out[i][2] - q[i][2]).abs() < 1e-12);
            }
            sum += d.abs();
            sum_signed += d;
            max = max.max(d.abs());
        }
        let mean = sum / n as f64;
        eprintln!(
            "roll: mean |roll| {mean:.2} deg (U(-20, 20): 10), max {max:.2}, mean {:.2}",
            sum_signed / n as f64
        );
        // |U(-20, 20)| has mean 10 and sd 5.77: the mean of 2000 is 10 ± 0.13
        assert!((mean - 10.0).abs() < 0.6, "{mean}");
        assert!(max <= 20.0 + 1e-9 && max > 19.5, "{max}");
        assert!((sum_signed / n as f64).abs() < 1.0);
    }

    #[test]
    fn yaw_keeps_up_axis_and_pitch_keeps_across_axis() {
        let q = hands()[1];
        let (a0, u0, _) = palm_frame(&q);
        let mut rng = SplitMix64::new(9);
        let cfg = AugmentConfig {
            yaw_deg: 40.0,
            ..AugmentConfig::NONE
        };
        let mut max_turn = 0.0f64;
        for _ in 0..200 {
            let out = augment(&q, &mut rng, &cfg);
            let (a, u, _) = palm_frame(&out);
            assert!(norm(sub(u, u0)) < 1e-9);
            max_turn = max_turn.max(dot(a, a0).clamp(-1.0, 1.0).acos().to_degrees());
        }
        assert!(
            max_turn > 35.0 && max_turn <= 40.0 + 1e-6,
            "yaw turned the across axis by {max_turn}"
        );
        let cfg = AugmentConfig {
            pitch_deg: 40.0,
            ..AugmentConfig::NONE
        };
        let mut max_turn = 0.0f64;
        for _ in 0..200 {
            let out = augment(&q, &mut rng, &cfg);
            let (a, u, _) = palm_frame(&out);
            assert!(norm(sub(a, a0)) < 1e-9);
            max_turn = max_turn.max(dot(u, u0).clamp(-1.0, 1.0).acos().to_degrees());
        }
        assert!(
            max_turn > 35.0 && max_turn <= 40.0 + 1e-6,
            "pitch turned the up axis by {max_turn}"
        );
    }

    #[test]
    fn rotations_compose_yaw_then_pitch_then_roll() {
        // augment.py: R = roll(z) · pitch(a) · yaw(u), with a and u taken before rotating.
        // (Rodrigues of the 1e-9-shortened axis is a rotation to ~1e-9 only, hence 1e-7.)
        let q = hands()[4];
        let (a0, u0, _) = palm_frame(&q);
        let mut rng = SplitMix64::new(19);
        let yaw_pitch = AugmentConfig {
            yaw_deg: 40.0,
            pitch_deg: 40.0,
            ..AugmentConfig::NONE
        };
        let pitch_roll = AugmentConfig {
            pitch_deg: 40.0,
            roll_deg: 20.0,
            ..AugmentConfig::NONE
        };
        let yaw_roll = AugmentConfig {
            yaw_deg: 40.0,
            roll_deg: 20.0,
            ..AugmentConfig::NONE
        };
        for _ in 0..100 {
            // yaw keeps u, then pitch about a turns it: u stays perpendicular to the old across axis
            let (_, u, _) = palm_frame(&augment(&q, &mut rng, &yaw_pitch));
            assert!(dot(u, a0).abs() < 1e-7, "{}", dot(u, a0));
            // pitch keeps a, then roll turns it about the camera axis: its depth is kept
            let (a, _, _) = palm_frame(&augment(&q, &mut rng, &pitch_roll));
            assert!((a[2] - a0[2]).abs() < 1e-7, "{} vs {}", a[2], a0[2]);
            // yaw keeps u, then roll keeps its depth
            let (_, u, _) = palm_frame(&augment(&q, &mut rng, &yaw_roll));
            assert!((u[2] - u0[2]).abs() < 1e-7, "{} vs {}", u[2], u0[2]);
        }
    }

    #[test]
    fn noise_has_configured_sigma() {
        let cfg = AugmentConfig {
            noise: 0.05,
            noise_z: 0.05 * 2.0,
            ..AugmentConfig::NONE
        };
        let q = hands()[3];
        let mut rng = SplitMix64::new(13);
        let mut ss = [0.0; 3];
        let n = 500;
        for _ in 0..n {
            let out = augment(&q, &mut rng, &cfg);
            for i in 0..NUM_LANDMARKS {
                for (k, s) in ss.iter_mut().enumerate() {
                    *s += (out[i][k] - q[i][k]).powi(2);
                }
            }
        }
        let sd = ss.map(|s| (s / (n * NUM_LANDMARKS) as f64).sqrt());
        eprintln!("noise sd x, y, z: {sd:?} (want 0.05, 0.05, 0.10)");
        assert!((sd[0] / 0.05 - 1.0).abs() < 0.05 && (sd[1] / 0.05 - 1.0).abs() < 0.05);
        assert!((sd[2] / 0.10 - 1.0).abs() < 0.05);
    }

    #[test]
    fn normal_is_standard() {
        let mut rng = SplitMix64::new(17);
        let n = 40_000;
        let xs: Vec<f64> = (0..n).map(|_| normal(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        let within1 = xs.iter().filter(|x| x.abs() < 1.0).count() as f64 / n as f64;
        assert!(mean.abs() < 0.02, "{mean}");
        assert!((var - 1.0).abs() < 0.03, "{var}");
        assert!((within1 - 0.6827).abs() < 0.01, "{within1}");
        assert!(xs.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn strong_augmented_hands_have_finite_features_and_noisy_wrist() {
        let mut rng = SplitMix64::new(21);
        let mut wrist_ss = 0.0;
        let mut count = 0;
        for q in hands() {
            for _ in 0..100 {
                let out = augment(&q, &mut rng, &AugmentConfig::STRONG);
                assert!(out.iter().flatten().all(|x| x.is_finite()));
                assert!(base_features(&out).iter().all(|x| x.is_finite()));
                wrist_ss += dot(out[WRIST], out[WRIST]);
                count += 1;
            }
        }
        // the wrist moves by the noise only: E|d|² = 2 · 0.05² + 0.05²
        let ms = wrist_ss / count as f64;
        assert!((ms / 0.0075 - 1.0).abs() < 0.15, "{ms}");
    }
}
