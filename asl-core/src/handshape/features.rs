//! Handedness, normalisation and the 115-value feature vector of a hand's 21 landmarks.
//!
//! Port of `scripts/hand_models/prototype/features.py` (docs/hands/classifier.md section 2), the
//! executable spec: every function here computes what its Python namesake computes, in f64.
//! Landmark indices are MediaPipe's: 0 wrist; thumb 1 CMC, 2 MCP, 3 IP, 4 TIP; index 5 MCP,
//! 6 PIP, 7 DIP, 8 TIP; middle 9–12; ring 13–16; pinky 17–20. Photo landmarks are pixels
//! (x right, y down, z = MediaPipe z × image width, smaller = nearer the camera).

/// Landmarks per hand (MediaPipe's hand model).
pub const NUM_LANDMARKS: usize = 21;
/// Length of the feature vector (layout in [`features`]).
pub const NUM_FEATURES: usize = 115;
/// One hand's landmarks, `[x, y, z]` each.
pub type Points = [[f64; 3]; NUM_LANDMARKS];

/// The wrist landmark.
pub const WRIST: usize = 0;
/// The four joints of each digit, thumb first (its chain starts at the CMC).
pub const FINGERS: [[usize; 4]; 5] = [
    [1, 2, 3, 4],
    [5, 6, 7, 8],
    [9, 10, 11, 12],
    [13, 14, 15, 16],
    [17, 18, 19, 20],
];
/// Fingertips, thumb first.
pub const TIPS: [usize; 5] = [4, 8, 12, 16, 20];
/// The four finger MCPs (knuckles): their mean distance from the wrist is the palm size.
pub const MCPS: [usize; 4] = [5, 9, 13, 17];
/// |chirality| at or above which geometry decides handedness; below it MediaPipe's label does.
pub const CHIRALITY_CLEAR: f64 = 0.15;

/// Small 3-vector helpers shared by the handshape modules.
pub mod v3 {
    /// `a + b`.
    pub fn add(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
        [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
    }
    /// `a - b`.
    pub fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
        [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
    }
    /// `s * a`.
    pub fn scale(a: [f64; 3], s: f64) -> [f64; 3] {
        [s * a[0], s * a[1], s * a[2]]
    }
    /// `a / d` (component-wise division, as numpy's `a / d`).
    pub fn div(a: [f64; 3], d: f64) -> [f64; 3] {
        [a[0] / d, a[1] / d, a[2] / d]
    }
    /// Dot product.
    pub fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
        a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
    }
    /// Cross product `a × b`.
    pub fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
        [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ]
    }
    /// Euclidean length.
    pub fn norm(a: [f64; 3]) -> f64 {
        dot(a, a).sqrt()
    }
    /// `m @ v` for a row-major 3×3 matrix.
    pub fn mat_vec(m: &[[f64; 3]; 3], v: [f64; 3]) -> [f64; 3] {
        [dot(m[0], v), dot(m[1], v), dot(m[2], v)]
    }
}

use v3::{cross, div, dot, norm, sub};

/// Widens f32 landmarks (as the hand detector reports them) to [`Points`].
pub fn from_f32(p: &[[f32; 3]; NUM_LANDMARKS]) -> Points {
    p.map(|v| v.map(f64::from))
}

/// Narrows [`Points`] to f32 landmarks.
pub fn to_f32(p: &Points) -> [[f32; 3]; NUM_LANDMARKS] {
    p.map(|v| v.map(|x| x as f32))
}

/// Mean 3-D distance from the wrist to the four finger MCPs: the unit of the normalised hand.
pub fn palm_size(p: &Points) -> f64 {
    MCPS.iter().map(|&i| norm(sub(p[i], p[WRIST]))).sum::<f64>() / MCPS.len() as f64
}

/// Geometric handedness score: > 0 for a right hand, < 0 for a left hand (about ±0.1 to ±1).
///
/// n = (index MCP − wrist) × (pinky MCP − wrist) points out of the palm of a right hand (out of
/// the back of a left one) in this right-handed frame; fingers flex toward the palm, so the mean
/// offset of the finger PIP/DIP/TIP joints and the thumb tip from the palm centre along n, over
/// the palm size, has the hand's sign. Near zero for a flat hand: then MediaPipe's label decides.
pub fn chirality(p: &Points) -> f64 {
    const JOINTS: [usize; 13] = [6, 7, 8, 10, 11, 12, 14, 15, 16, 18, 19, 20, 4];
    const PALM: [usize; 5] = [0, 5, 9, 13, 17];
    let w = p[WRIST];
    let n = cross(sub(p[5], w), sub(p[17], w));
    let n = div(n, norm(n) + 1e-9);
    let mut centre = [0.0; 3];
    for &i in &PALM {
        centre = v3::add(centre, p[i]);
    }
    let centre = div(centre, PALM.len() as f64);
    let mean = JOINTS.iter().map(|&i| dot(sub(p[i], centre), n)).sum::<f64>() / JOINTS.len() as f64;
    mean / palm_size(p)
}

/// Whether the hand is the signer's right hand: geometry ([`chirality`]) when it is clear
/// (|c| ≥ 0.15), otherwise MediaPipe's label.
///
/// `handedness_right` is MediaPipe's score for "Right" as asl's hand detector reports it
/// (`crate::hand::Hand::handedness_right` = 1 − P(Left)). MediaPipe assumes a mirrored selfie
/// image, so on an ordinary photo its label "Left" (`handedness_right < 0.5`) means the signer's
/// RIGHT hand. (In the Python npz, hand_label 0 = "Left"; is_right_hand's mp_right = mp_label == 0.)
pub fn is_right_hand(p: &Points, handedness_right: f32) -> bool {
    let c = chirality(p);
    if c.abs() >= CHIRALITY_CLEAR {
        c > 0.0
    } else {
        handedness_right < 0.5
    }
}

/// Mirrors a left hand's x (about x = 0) so that every hand is a right hand.
fn mirrored(p: &Points, right: bool) -> Points {
    let mut q = *p;
    if !right {
        for v in &mut q {
            v[0] = -v[0];
        }
    }
    q
}

/// Mirrored to a right hand, wrist at origin, divided by palm size (pipeline.py load(): the "base").
///
/// This is the hand that augmentation and the prior work on; it keeps its in-plane angle.
/// As in the Python, there is no guard: a degenerate hand (palm size 0) gives non-finite values.
pub fn base(p: &Points, right: bool) -> Points {
    let mut q = mirrored(p, right);
    let w = q[WRIST];
    for v in &mut q {
        *v = sub(*v, w);
    }
    let size = palm_size(&q);
    q.map(|v| div(v, size))
}

/// A hand in the feature frame (see [`normalise`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalised {
    /// Right hand, wrist at the origin, palm size 1, wrist → middle MCP pointing up (−y).
    pub points: Points,
    /// Sine of the original in-plane angle of wrist → middle MCP (from "up", clockwise positive).
    pub sin: f64,
    /// Cosine of that angle.
    pub cos: f64,
}

/// Mirrors to a right hand, puts the wrist at the origin, scales by palm size and rotates about
/// the camera axis so that wrist → middle MCP points up (−y).
///
/// (sin, cos) keep the ORIGINAL in-plane angle of wrist → middle MCP, measured from "up",
/// clockwise positive (0 = up, +90° = toward the image right, after mirroring): the
/// orientation is part of some letters (H vs U, P vs K), so it goes into the features.
pub fn normalise(p: &Points, right: bool) -> Normalised {
    let mut q = mirrored(p, right);
    let w = q[WRIST];
    for v in &mut q {
        *v = sub(*v, w);
    }
    let size = palm_size(&q) + 1e-9;
    let q = q.map(|v| div(v, size));
    let v = q[9];
    let ang = v[0].atan2(-v[1]);
    let (s, c) = ang.sin_cos();
    // Rotate by −ang about z (new = R · old, R = [[c, s, 0], [−s, c, 0], [0, 0, 1]]), which maps
    // wrist → middle MCP onto (0, −|v|).
    let points = q.map(|v| [c * v[0] + s * v[1], -s * v[0] + c * v[1], v[2]]);
    Normalised { points, sin: s, cos: c }
}

/// Angle (radians) between two vectors, robust to zero length and rounding past ±1.
fn angle(u: [f64; 3], v: [f64; 3]) -> f64 {
    let cu = dot(u, v) / (norm(u) * norm(v) + 1e-9);
    cu.clamp(-1.0, 1.0).acos()
}

/// The feature vector in f64 (what [`features`] rounds to f32). Layout (115 values):
/// - `[0:63]` the 21 normalised (x, y, z);
/// - `[63:65]` sin, cos of the original in-plane angle;
/// - `[65:68]` unit palm normal (index MCP × pinky MCP, normalised frame);
/// - `[68:83]` 15 flexion angles (rad): per digit (thumb, index, middle, ring, pinky) the angle
///   between consecutive bones of the chain wrist → j1 → j2 → j3 → j4;
/// - `[83:87]` 4 spread angles between the proximal bones (thumb CMC→MCP, fingers MCP→PIP) of
///   adjacent digits;
/// - `[87:97]` 10 pairwise fingertip distances (tips 4, 8, 12, 16, 20; i < j);
/// - `[97:113]` 16 distances thumb tip → landmarks 5..20;
/// - `[113:115]` index tip → middle PIP, index tip → middle DIP.
pub fn features_f64(n: &Normalised) -> [f64; NUM_FEATURES] {
    let q = &n.points;
    let mut f = [0.0; NUM_FEATURES];
    let mut k = 0;
    let mut push = |x: f64| {
        f[k] = x;
        k += 1;
    };
    for v in q {
        v.iter().for_each(|&x| push(x));
    }
    push(n.sin);
    push(n.cos);
    let normal = cross(q[5], q[17]);
    div(normal, norm(normal) + 1e-9).iter().for_each(|&x| push(x));
    let mut prox = [[0.0; 3]; 5];
    for (d, ch) in FINGERS.iter().enumerate() {
        let pts = [WRIST, ch[0], ch[1], ch[2], ch[3]];
        let bones: [[f64; 3]; 4] = std::array::from_fn(|i| sub(q[pts[i + 1]], q[pts[i]]));
        for i in 0..3 {
            push(angle(bones[i], bones[i + 1]));
        }
        prox[d] = bones[1];
    }
    for i in 0..4 {
        push(angle(prox[i], prox[i + 1]));
    }
    for i in 0..TIPS.len() {
        for j in i + 1..TIPS.len() {
            push(norm(sub(q[TIPS[i]], q[TIPS[j]])));
        }
    }
    for p in &q[5..NUM_LANDMARKS] {
        push(norm(sub(*p, q[4])));
    }
    push(norm(sub(q[8], q[10])));
    push(norm(sub(q[8], q[11])));
    debug_assert_eq!(k, NUM_FEATURES);
    f
}

/// The 115 features of a normalised hand, as the classifier takes them (layout in [`features_f64`]).
pub fn features(n: &Normalised) -> [f32; NUM_FEATURES] {
    features_f64(n).map(|x| x as f32)
}

/// Photo landmarks (pixels, z in pixels) + MediaPipe's "Right" score → features (inference path).
pub fn photo_features(p: &Points, handedness_right: f32) -> [f32; NUM_FEATURES] {
    features(&normalise(p, is_right_hand(p, handedness_right)))
}

/// Training path: features of a base (already mirrored) hand, e.g. an augmented one or a prior
/// sample: `features(normalise(q, true))`.
pub fn base_features(q: &Points) -> [f32; NUM_FEATURES] {
    features(&normalise(q, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Case {
        name: String,
        landmarks: Points,
        handedness_right: f64,
        chirality: f64,
        palm_size: f64,
        right: bool,
        sin: f64,
        cos: f64,
        base: Points,
        base_features: Vec<f64>,
        features: Vec<f64>,
    }

    #[derive(Deserialize)]
    struct Fixture {
        cases: Vec<Case>,
    }

    /// Cases computed by features.py from the MediaPipe reference hands (+ mirrored, rotated,
    /// flattened and weak-geometry variants), see the fixture's `generator`.
    fn fixture() -> Fixture {
        serde_json::from_str(include_str!("../../tests/data/handshape/features_reference.json"))
            .expect("features fixture parses")
    }

    fn max_abs_diff(a: impl IntoIterator<Item = f64>, b: impl IntoIterator<Item = f64>) -> f64 {
        a.into_iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
    }

    #[test]
    fn matches_python_spec() {
        let fx = fixture();
        assert!(fx.cases.len() >= 16, "fixture has {} cases", fx.cases.len());
        let (mut d_chir, mut d_f32, mut d_f64, mut d_base, mut d_base_f) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
        let (mut weak, mut rights, mut lefts) = (0, 0, 0);
        for c in &fx.cases {
            let p = &c.landmarks;
            let hr = c.handedness_right as f32;
            let chir = chirality(p);
            assert!(
                (chir - c.chirality).abs() < 1e-6,
                "{}: chirality {chir} vs {}",
                c.name,
                c.chirality
            );
            d_chir = d_chir.max((chir - c.chirality).abs());
            assert!(
                (palm_size(p) - c.palm_size).abs() < 1e-9 * c.palm_size,
                "{}: palm size",
                c.name
            );
            let right = is_right_hand(p, hr);
            assert_eq!(
                right, c.right,
                "{}: handedness (chirality {chir}, mp right {hr})",
                c.name
            );
            weak += usize::from(chir.abs() < CHIRALITY_CLEAR);
            if right {
                rights += 1;
            } else {
                lefts += 1;
            }
            let n = normalise(p, right);
            assert!(
                (n.sin - c.sin).abs() < 1e-9 && (n.cos - c.cos).abs() < 1e-9,
                "{}: angle",
                c.name
            );
            let f = photo_features(p, hr);
            assert_eq!(c.features.len(), NUM_FEATURES);
            for (i, (&x, &y)) in f.iter().zip(&c.features).enumerate() {
                assert!((f64::from(x) - y).abs() < 1e-4, "{}: feature {i}: {x} vs {y}", c.name);
            }
            d_f32 = d_f32.max(max_abs_diff(
                f.iter().map(|&x| f64::from(x)),
                c.features.iter().copied(),
            ));
            d_f64 = d_f64.max(max_abs_diff(features_f64(&n), c.features.iter().copied()));
            let b = base(p, right);
            d_base = d_base.max(max_abs_diff(
                b.iter().flatten().copied(),
                c.base.iter().flatten().copied(),
            ));
            let bf = base_features(&b);
            for (i, (&x, &y)) in bf.iter().zip(&c.base_features).enumerate() {
                assert!(
                    (f64::from(x) - y).abs() < 1e-4,
                    "{}: base feature {i}: {x} vs {y}",
                    c.name
                );
            }
            d_base_f = d_base_f.max(max_abs_diff(
                bf.iter().map(|&x| f64::from(x)),
                c.base_features.iter().copied(),
            ));
        }
        eprintln!(
            "features vs features.py: max |d| chirality {d_chir:.2e}, features f32 {d_f32:.2e}, f64 {d_f64:.2e}, \
             base {d_base:.2e}, base features {d_base_f:.2e}"
        );
        assert!(d_f64 < 1e-7, "f64 features deviate by {d_f64}");
        assert!(d_base < 1e-9, "base deviates by {d_base}");
        // the fixture exercises both hands and the MediaPipe fallback
        assert!(
            weak >= 4 && rights >= 4 && lefts >= 4,
            "weak {weak}, right {rights}, left {lefts}"
        );
    }

    #[test]
    fn normalised_hand_points_up_with_unit_palm() {
        let fx = fixture();
        for c in &fx.cases {
            let n = normalise(&c.landmarks, c.right);
            let q = &n.points;
            assert_eq!(q[WRIST], [0.0; 3], "{}", c.name);
            assert!(
                q[9][0].abs() < 1e-9 && q[9][1] < 0.0,
                "{}: middle MCP not up: {:?}",
                c.name,
                q[9]
            );
            assert!((palm_size(q) - 1.0).abs() < 1e-6, "{}", c.name);
            assert!((n.sin.hypot(n.cos) - 1.0).abs() < 1e-12);
            // normalising the base hand again gives the same hand and angle (up to the 1e-9 that
            // normalise adds to the palm size, relative to 1 here, to a photo's ~100 px there)
            let again = normalise(&base(&c.landmarks, c.right), true);
            let d = max_abs_diff(again.points.iter().flatten().copied(), q.iter().flatten().copied());
            assert!(d < 1e-8 && (again.sin - n.sin).abs() < 1e-9, "{}: {d}", c.name);
        }
    }

    #[test]
    fn mirroring_flips_chirality_and_keeps_features() {
        let fx = fixture();
        let c = &fx.cases[0];
        let p = c.landmarks;
        let m = p.map(|v| [-v[0], v[1], v[2]]);
        assert!((chirality(&m) + chirality(&p)).abs() < 1e-12);
        assert!(chirality(&p).abs() > CHIRALITY_CLEAR);
        let right = is_right_hand(&p, 0.5);
        assert_eq!(is_right_hand(&m, 0.5), !right);
        let (a, b) = (photo_features(&p, 0.5), photo_features(&m, 0.5));
        let d = max_abs_diff(a.iter().map(|&x| f64::from(x)), b.iter().map(|&x| f64::from(x)));
        assert!(d < 1e-5, "mirror changes features by {d}");
    }

    #[test]
    fn flat_hand_falls_back_to_mediapipe() {
        let fx = fixture();
        let mut p = fx.cases[0].landmarks;
        for v in &mut p {
            v[2] = 0.0;
        }
        assert_eq!(chirality(&p), 0.0);
        // MediaPipe's "Left" (handedness_right < 0.5) is the signer's right hand on a photo
        assert!(is_right_hand(&p, 0.2));
        assert!(!is_right_hand(&p, 0.8));
        assert!(!is_right_hand(&p, 0.5));
    }

    #[test]
    fn conversions_round_trip() {
        let p = fixture().cases[0].landmarks;
        let back = from_f32(&to_f32(&p));
        let d = max_abs_diff(back.iter().flatten().copied(), p.iter().flatten().copied());
        assert!(d < 1e-4, "{d}");
    }
}
