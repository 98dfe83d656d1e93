//! The handshape prior: a small kinematic right-hand model posed per letter from written
//! descriptions of the ASL handshapes, sampled with joint-angle jitter to add synthetic hands to
//! the classifier's training set.
//!
//! Port of `build_hand`, `to_image` and `Prior.sample` of `scripts/hand_models/prototype/prior.py`
//! (docs/hands/classifier.md section 4). The per-letter thumb angles come from the Python's
//! inverse kinematics; they, the palm geometry and the orientations are embedded from
//! `prior_table.json` (train_final.py's table at full precision, so that the orientations are
//! orthonormal; rounded, it is the committed `scripts/hand_models/prototype/prior_table.json`).
//!
//! Model coordinates are the palm frame (a, u, n): a = across the palm toward the thumb, u =
//! wrist → middle MCP, n = a × u = out of the palm; units = palm size. The canonical pose faces
//! the camera with the fingers up: image x = a, y = −u, z = −n; letters defined partly by
//! orientation (C G H J O P Q Z) are then turned by their mean Kaggle rotation R.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use super::augment::normal;
use super::features::v3::{add, div, dot, mat_vec, norm, scale, sub};
use super::features::{FINGERS, NUM_LANDMARKS, Points};
use crate::rng::SplitMix64;

/// Standard deviation of the finger flexion jitter (MCP, PIP, DIP), degrees.
pub const JITTER_FINGER_DEG: f64 = 8.0;
/// Standard deviation of the finger spread jitter, degrees.
pub const JITTER_SPREAD_DEG: f64 = 4.0;
/// Standard deviation of the thumb angle jitter (b, g, tm, ti), degrees.
pub const JITTER_THUMB_DEG: f64 = 7.0;
/// Finger flexion after jitter is clipped to this range (degrees): no hyperextension past 10°,
/// no curl past 160° (a fist's PIP is 140° as MediaPipe's landmarks show it: prior.py `FIST`).
pub const FLEX_RANGE_DEG: (f64, f64) = (-10.0, 160.0);

/// Landmarks placed directly from the palm geometry (wrist, thumb CMC, finger MCPs).
const PALM_LANDMARKS: [usize; 6] = [0, 1, 5, 9, 13, 17];

/// Median palm points and bone lengths of the Kaggle hands.
#[derive(Debug, Clone, Deserialize)]
struct Geometry {
    /// (a, u, n) of landmarks 0, 1, 5, 9, 13, 17.
    palm: [[f64; 3]; 6],
    /// Bone lengths per digit (thumb, index, middle, ring, pinky), from its base joint outward.
    bones: [[f64; 3]; 5],
}

/// One letter's pose.
#[derive(Debug, Clone, Deserialize)]
struct Pose {
    /// MCP, PIP, DIP flexion (degrees, + toward the palm) of index, middle, ring, pinky.
    fingers: [[f64; 3]; 4],
    /// Spread (degrees, + toward the thumb) of index, middle, ring, pinky.
    spreads: [f64; 4],
    /// Thumb b, g, tm, ti (degrees): abduction, elevation, MCP and IP flexion.
    thumb_deg: [f64; 4],
    /// Orientation (row-major, canonical image axes → the letter's); none = canonical pose.
    #[serde(rename = "R")]
    r: Option<[[f64; 3]; 3]>,
}

#[derive(Deserialize)]
struct Table {
    geometry: Geometry,
    letters: BTreeMap<String, Pose>,
}

/// Offsets (degrees) added to a letter's joint angles; [`Jitter::draw`] is `Prior.sample`'s.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Jitter {
    /// Added to MCP, PIP, DIP flexion of index, middle, ring, pinky (then clipped to [`FLEX_RANGE_DEG`]).
    pub fingers: [[f64; 3]; 4],
    /// Added to the four finger spreads.
    pub spreads: [f64; 4],
    /// Added to the thumb's b, g, tm, ti.
    pub thumb_deg: [f64; 4],
}

impl Jitter {
    /// No jitter: the letter's canonical pose.
    pub const ZERO: Self = Self {
        fingers: [[0.0; 3]; 4],
        spreads: [0.0; 4],
        thumb_deg: [0.0; 4],
    };

    /// Gaussian jitter, drawn in prior.py's order (fingers row by row, spreads, thumb).
    pub fn draw(rng: &mut SplitMix64) -> Self {
        let fingers = std::array::from_fn(|_| std::array::from_fn(|_| JITTER_FINGER_DEG * normal(rng)));
        let spreads = std::array::from_fn(|_| JITTER_SPREAD_DEG * normal(rng));
        let thumb_deg = std::array::from_fn(|_| JITTER_THUMB_DEG * normal(rng));
        Self {
            fingers,
            spreads,
            thumb_deg,
        }
    }
}

/// The kinematic hand model with its per-letter poses.
#[derive(Debug, Clone)]
pub struct Prior {
    geometry: Geometry,
    letters: Vec<String>,
    poses: Vec<Pose>,
}

/// The table train_final.py wrote (full precision), embedded so the prior needs no files.
/// The prior every training run uses (its text also keys the reuse of trained handshape
/// models: a new table trains anew).
pub(crate) const EMBEDDED_TABLE: &str = include_str!("prior_table.json");

impl Prior {
    /// Parses a prior table (the JSON layout of `prior_table.json`).
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        let table: Table = serde_json::from_str(json)?;
        let (letters, poses) = table.letters.into_iter().unzip();
        Ok(Self {
            geometry: table.geometry,
            letters,
            poses,
        })
    }

    /// The embedded prior, parsed once.
    pub fn embedded() -> &'static Prior {
        static PRIOR: OnceLock<Prior> = OnceLock::new();
        PRIOR.get_or_init(|| Prior::from_json(EMBEDDED_TABLE).expect("embedded prior_table.json is valid"))
    }

    /// The letters the prior can pose ("A".."Z", sorted).
    pub fn letters(&self) -> &[String] {
        &self.letters
    }

    fn pose(&self, letter: &str) -> Option<&Pose> {
        self.letters.iter().position(|l| l == letter).map(|i| &self.poses[i])
    }

    /// A letter's hand with the given joint-angle offsets, in image axes (x right, y down, z away
    /// from the camera), wrist at the origin, palm size units; `None` for an unknown letter.
    pub fn hand(&self, letter: &str, jitter: &Jitter) -> Option<Points> {
        let pose = self.pose(letter)?;
        let (lo, hi) = FLEX_RANGE_DEG;
        let fingers: [[f64; 3]; 4] =
            std::array::from_fn(|f| std::array::from_fn(|k| (pose.fingers[f][k] + jitter.fingers[f][k]).clamp(lo, hi)));
        let spreads: [f64; 4] = std::array::from_fn(|f| pose.spreads[f] + jitter.spreads[f]);
        let thumb: [f64; 4] =
            std::array::from_fn(|i| pose.thumb_deg[i].to_radians() + jitter.thumb_deg[i].to_radians());
        let p = build_hand(&self.geometry, &fingers, &spreads, thumb);
        Some(to_image(&p, pose.r.as_ref()))
    }

    /// A letter's canonical hand (no jitter); `None` for an unknown letter.
    pub fn canonical(&self, letter: &str) -> Option<Points> {
        self.hand(letter, &Jitter::ZERO)
    }

    /// A random hand of the letter (joint angles jittered as in prior.py); `None` for an unknown
    /// letter. Like real hands, it then goes through augmentation before training.
    pub fn sample(&self, letter: &str, rng: &mut SplitMix64) -> Option<Points> {
        self.pose(letter)?;
        self.hand(letter, &Jitter::draw(rng))
    }
}

/// Landmarks in palm-frame (a, u, n) coordinates. `fingers`: MCP, PIP, DIP flexion (degrees) of
/// index..pinky; `spreads`: degrees; `thumb`: b, g, tm, ti in RADIANS (as prior.py's build_hand).
///
/// Finger: straight direction d0 = cos φ u + sin φ a; bone k along cos(T_k) d0 + sin(T_k) n with
/// T_k the cumulative flexion. Thumb: metacarpal along d_m = cos g (cos b u + sin b a) + sin g n;
/// phalanges bend toward w = (−a + n) ⟂ d_m by tm, then tm + ti.
fn build_hand(geo: &Geometry, fingers: &[[f64; 3]; 4], spreads: &[f64; 4], thumb: [f64; 4]) -> Points {
    let mut p = [[0.0; 3]; NUM_LANDMARKS];
    for (&k, &pt) in PALM_LANDMARKS.iter().zip(&geo.palm) {
        p[k] = pt;
    }
    for fi in 0..4 {
        let ch = FINGERS[fi + 1];
        let (sin_phi, cos_phi) = spreads[fi].to_radians().sin_cos();
        let mut t = 0.0;
        for k in 0..3 {
            t += fingers[fi][k].to_radians();
            let (s, c) = f64::sin_cos(t);
            let dir = [c * sin_phi, c * cos_phi, s];
            p[ch[k + 1]] = add(p[ch[k]], scale(dir, geo.bones[fi + 1][k]));
        }
    }
    let [b, g, tm, ti] = thumb;
    let dm = [g.cos() * b.sin(), g.cos() * b.cos(), g.sin()];
    let w = [-1.0, 0.0, 1.0];
    let w = sub(w, scale(dm, dot(w, dm)));
    let w = div(w, norm(w));
    let l = geo.bones[0];
    let along = |ang: f64| add(scale(dm, ang.cos()), scale(w, ang.sin()));
    p[2] = add(p[1], scale(dm, l[0]));
    p[3] = add(p[2], scale(along(tm), l[1]));
    p[4] = add(p[3], scale(along(tm + ti), l[2]));
    p
}

/// (a, u, n) model coordinates → image axes (x, y down, z away), then the orientation `r`.
fn to_image(p: &Points, r: Option<&[[f64; 3]; 3]>) -> Points {
    p.map(|[a, u, n]| {
        let q = [a, -u, -n];
        r.map_or(q, |r| mat_vec(r, q))
    })
}

#[cfg(test)]
mod tests {
    use super::super::augment::{AugmentConfig, augment};
    use super::super::features::{base_features, palm_size};
    use super::*;

    #[derive(Deserialize)]
    struct Jittered {
        letter: String,
        d_fingers: [[f64; 3]; 4],
        d_spreads: [f64; 4],
        d_thumb_deg: [f64; 4],
        points: Points,
    }

    #[derive(Deserialize)]
    struct Fixture {
        canonical: BTreeMap<String, Points>,
        jittered: Vec<Jittered>,
    }

    /// Hands computed by prior.py's build_hand / to_image from the embedded table.
    fn fixture() -> Fixture {
        serde_json::from_str(include_str!("../../tests/data/handshape/prior_reference.json"))
            .expect("prior fixture parses")
    }

    fn max_abs_diff(a: &Points, b: &Points) -> f64 {
        a.iter()
            .flatten()
            .zip(b.iter().flatten())
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    fn angle_deg(u: [f64; 3], v: [f64; 3]) -> f64 {
        (dot(u, v) / (norm(u) * norm(v))).clamp(-1.0, 1.0).acos().to_degrees()
    }

    #[test]
    fn canonical_matches_python_spec() {
        let prior = Prior::embedded();
        let fx = fixture();
        let letters: Vec<String> = (b'A'..=b'Z').map(|c| char::from(c).to_string()).collect();
        assert_eq!(prior.letters(), letters.as_slice());
        assert_eq!(fx.canonical.len(), 26);
        let mut worst = 0.0f64;
        for (letter, want) in &fx.canonical {
            let got = prior.canonical(letter).expect("letter known");
            let d = max_abs_diff(&got, want);
            assert!(d < 1e-4, "{letter}: {d}");
            worst = worst.max(d);
        }
        let mut worst_j = 0.0f64;
        for j in &fx.jittered {
            let jitter = Jitter {
                fingers: j.d_fingers,
                spreads: j.d_spreads,
                thumb_deg: j.d_thumb_deg,
            };
            let got = prior.hand(&j.letter, &jitter).expect("letter known");
            let d = max_abs_diff(&got, &j.points);
            assert!(d < 1e-4, "jittered {}: {d}", j.letter);
            worst_j = worst_j.max(d);
        }
        eprintln!("prior vs prior.py: max |d| canonical {worst:.2e}, fixed jitter (clip included) {worst_j:.2e}");
        assert!(worst < 1e-9 && worst_j < 1e-9);
        assert!(prior.canonical("a").is_none() && prior.canonical("del").is_none());
        assert!(prior.sample("?", &mut SplitMix64::new(0)).is_none());
    }

    #[test]
    fn canonical_pose_faces_the_camera_fingers_up() {
        // B (canonical orientation, flat fingers): fingertips above the wrist (y < 0), wrist at
        // the origin, index on the image right of the pinky (a right hand's palm faces the camera).
        let b = Prior::embedded().canonical("B").expect("B");
        assert_eq!(b[0], [0.0; 3]);
        assert!(b[12][1] < -1.5, "{:?}", b[12]);
        assert!(b[5][0] > b[17][0]);
        assert!((palm_size(&b) - 1.0).abs() < 0.02, "{}", palm_size(&b));
    }

    #[test]
    fn sample_keeps_bone_lengths_and_stays_plausible() {
        let prior = Prior::embedded();
        let geo = &prior.geometry;
        let mut rng = SplitMix64::new(1);
        let mut mean_shift = 0.0;
        let mut count = 0;
        let mut worst_bone = 0.0f64;
        for letter in prior.letters() {
            let canon = prior.canonical(letter).expect("letter");
            for _ in 0..50 {
                let p = prior.sample(letter, &mut rng).expect("letter");
                assert_eq!(p[0], [0.0; 3]);
                for (d, ch) in FINGERS.iter().enumerate() {
                    for k in 0..3 {
                        let len = norm(sub(p[ch[k + 1]], p[ch[k]]));
                        worst_bone = worst_bone.max((len - geo.bones[d][k]).abs());
                    }
                    // flexion between consecutive finger bones stays within the clip range
                    if d > 0 {
                        for k in 0..2 {
                            let a = angle_deg(sub(p[ch[k + 1]], p[ch[k]]), sub(p[ch[k + 2]], p[ch[k + 1]]));
                            assert!(a <= FLEX_RANGE_DEG.1 + 1e-6, "{letter}: {a}");
                        }
                    }
                }
                // the palm is rigid: palm points keep their distances
                for (i, &pi) in PALM_LANDMARKS.iter().enumerate() {
                    for (j, &pj) in PALM_LANDMARKS.iter().enumerate().skip(i + 1) {
                        let want = norm(sub(geo.palm[i], geo.palm[j]));
                        assert!((norm(sub(p[pi], p[pj])) - want).abs() < 1e-9);
                    }
                }
                // every landmark within reach: palm point + its digit's length
                assert!(p.iter().all(|v| norm(*v) < 2.3), "{letter}: {p:?}");
                assert!(base_features(&p).iter().all(|x| x.is_finite()));
                mean_shift += (0..NUM_LANDMARKS).map(|i| norm(sub(p[i], canon[i]))).sum::<f64>() / 21.0;
                count += 1;
            }
        }
        let mean_shift = mean_shift / count as f64;
        eprintln!("sample: max |bone - geometry| {worst_bone:.2e}, mean landmark shift {mean_shift:.3} palm units");
        assert!(worst_bone < 1e-9, "{worst_bone}");
        assert!(mean_shift > 0.03 && mean_shift < 0.3, "{mean_shift}");
    }

    #[test]
    fn jitter_has_prior_py_scale() {
        // C: PIP 45°, thumb tm 58.5° and ti 53.4° (far from the clip and from 0, so the measured
        // angles are the jittered ones); their sds must be 8° and 7° (catches radians/degrees mix-ups).
        let prior = Prior::embedded();
        let mut rng = SplitMix64::new(2);
        let n = 3000;
        let (mut pip, mut tm) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let p = prior.sample("C", &mut rng).expect("C");
            pip.push(angle_deg(sub(p[10], p[9]), sub(p[11], p[10])));
            tm.push(angle_deg(sub(p[2], p[1]), sub(p[3], p[2])));
        }
        let sd = |v: &[f64]| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            (
                (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt(),
                m,
            )
        };
        let ((sd_pip, m_pip), (sd_tm, m_tm)) = (sd(&pip), sd(&tm));
        eprintln!("C: PIP {m_pip:.1} ± {sd_pip:.2} deg (45 ± 8), thumb tm {m_tm:.1} ± {sd_tm:.2} deg (58.5 ± 7)");
        assert!((sd_pip - 8.0).abs() < 0.5 && (m_pip - 45.0).abs() < 0.6);
        assert!((sd_tm - 7.0).abs() < 0.5 && (m_tm - 58.5).abs() < 0.6);
    }

    #[test]
    fn clip_limits_flexion() {
        let prior = Prior::embedded();
        let mut j = Jitter::ZERO;
        j.fingers[1][1] = 200.0; // middle PIP 140 + 200 → 160
        j.fingers[0][0] = -50.0; // index MCP 45 − 50 = −5 (inside the range)
        let p = prior.hand("A", &j).expect("A");
        let pip = angle_deg(sub(p[10], p[9]), sub(p[11], p[10]));
        assert!((pip - 160.0).abs() < 1e-6, "{pip}");
        j.fingers[1][1] = -200.0; // → −10: bent backwards by 10°
        let p = prior.hand("A", &j).expect("A");
        let pip = angle_deg(sub(p[10], p[9]), sub(p[11], p[10]));
        assert!((pip - 10.0).abs() < 1e-6, "{pip}");
    }

    #[test]
    fn sample_is_deterministic_per_seed() {
        let prior = Prior::embedded();
        let a = prior.sample("K", &mut SplitMix64::new(5)).expect("K");
        let b = prior.sample("K", &mut SplitMix64::new(5)).expect("K");
        let c = prior.sample("K", &mut SplitMix64::new(6)).expect("K");
        assert_eq!(a, b);
        assert!(max_abs_diff(&a, &c) > 1e-3);
        let aug = augment(&a, &mut SplitMix64::new(5), &AugmentConfig::STRONG);
        assert!(base_features(&aug).iter().all(|x| x.is_finite()));
    }

    #[test]
    fn embedded_orientations_are_rotations() {
        for (letter, pose) in Prior::embedded().letters.iter().zip(&Prior::embedded().poses) {
            if let Some(r) = &pose.r {
                for i in 0..3 {
                    for j in 0..3 {
                        let want = if i == j { 1.0 } else { 0.0 };
                        assert!((dot(r[i], r[j]) - want).abs() < 1e-9, "{letter}");
                    }
                }
            }
        }
        let oriented: String = Prior::embedded()
            .letters
            .iter()
            .zip(&Prior::embedded().poses)
            .filter(|(_, p)| p.r.is_some())
            .map(|(l, _)| l.as_str())
            .collect();
        assert_eq!(oriented, "CGHJOPQZ");
    }
}
