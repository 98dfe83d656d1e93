//! Drift statistics and their thresholds.
//!
//! Per feature: the population stability index (PSI) over the reference's quantile bins, and
//! the Kolmogorov–Smirnov distance to the reference CDF. For the predicted classes: a
//! chi-square test against the reference proportions and the Jensen–Shannon distance.
//! Checked against SciPy in the tests (fixtures in `tests/fixtures/drift_scipy.json`).
//!
//! Thresholds, and why:
//! - PSI: the usual credit-scoring rule, below [`PSI_WARN`] (0.1) stable, [`PSI_WARN`]–[`PSI_DRIFT`]
//!   (0.25) a moderate shift, above [`PSI_DRIFT`] a shift worth acting on. With 10 bins the PSI of
//!   an unshifted sample of n photos is about 9/n, so below ~100 photos it is noise.
//! - KS: [`KS_DRIFT`] = 0.1, i.e. the two CDFs differ by 10 percentage points somewhere. That is
//!   an effect size, not a significance level: for a window of 200 photos the 5 % critical value
//!   is 1.36/√200 ≈ 0.096, so 0.1 is both significant and big enough to matter there; with
//!   larger windows tinier, harmless shifts would be significant, which is why we do not use
//!   the p-value.
//! - Classes: the chi-square p-value alone flags harmless differences once windows are large,
//!   and JS distance alone is noisy on small windows (29 classes, 200 photos: ≈0.16 with no
//!   drift at all, ≈0.07 at 1000), so the class mix drifts when both agree:
//!   p < [`CHI2_P_DRIFT`] and JS ≥ [`CLASS_JS_DRIFT`].
use serde::{Deserialize, Serialize};

use super::sketch::{ClassDistribution, FeatureSketch};

/// PSI at or above which a feature warns (a moderate shift).
pub const PSI_WARN: f64 = 0.1;
/// PSI at or above which a feature drifts (a shift worth acting on).
pub const PSI_DRIFT: f64 = 0.25;
/// KS distance at or above which a feature's level is raised one step.
pub const KS_DRIFT: f64 = 0.1;
/// Chi-square p-value below which the class mix may drift (with [`CLASS_JS_DRIFT`]).
pub const CHI2_P_DRIFT: f64 = 0.01;
/// Jensen–Shannon distance at or above which the class mix may drift (with [`CHI2_P_DRIFT`]).
pub const CLASS_JS_DRIFT: f64 = 0.1;
/// Floor for an empty bin's share, so PSI stays finite (ln of 0).
pub const PSI_EPSILON: f64 = 1e-4;
/// Pseudo-count per class added to the reference class counts for the chi-square test, so a
/// class never predicted on the reference sample does not make the statistic infinite.
pub const CLASS_PSEUDO_COUNT: f64 = 0.5;
/// Fewer photos than this and the statistics above are mostly sampling noise.
pub const MIN_IMAGES_FOR_DRIFT: usize = 100;

/// How far live data has moved from the reference; ordered `Ok < Warn < Drift`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftLevel {
    /// Within the thresholds.
    Ok,
    /// A moderate shift.
    Warn,
    /// A shift worth acting on.
    Drift,
}

impl DriftLevel {
    /// The level's name: `ok`, `warn` or `drift`.
    pub fn as_str(self) -> &'static str {
        match self {
            DriftLevel::Ok => "ok",
            DriftLevel::Warn => "warn",
            DriftLevel::Drift => "drift",
        }
    }

    fn raised(self) -> DriftLevel {
        match self {
            DriftLevel::Ok => DriftLevel::Warn,
            _ => DriftLevel::Drift,
        }
    }
}

/// The level of a PSI alone: [`PSI_WARN`] and [`PSI_DRIFT`] are the thresholds.
pub fn psi_level(psi: f64) -> DriftLevel {
    if psi >= PSI_DRIFT {
        DriftLevel::Drift
    } else if psi >= PSI_WARN {
        DriftLevel::Warn
    } else {
        DriftLevel::Ok
    }
}

/// PSI decides; a KS distance at or above [`KS_DRIFT`] raises the level one step (so a shift
/// that PSI's coarse bins miss still shows as a warning).
pub fn feature_level(psi: f64, ks: f64) -> DriftLevel {
    let level = psi_level(psi);
    if ks >= KS_DRIFT { level.raised() } else { level }
}

/// Drift when the chi-square p-value is below [`CHI2_P_DRIFT`] and the Jensen–Shannon distance
/// is at least [`CLASS_JS_DRIFT`]; otherwise ok (the class mix never warns).
pub fn class_level(chi2_p_value: f64, js: f64) -> DriftLevel {
    if chi2_p_value < CHI2_P_DRIFT && js >= CLASS_JS_DRIFT {
        DriftLevel::Drift
    } else {
        DriftLevel::Ok
    }
}

/// Population stability index of `actual` against `expected`, both bin counts over the same
/// bins: `sum (a - e) * ln(a / e)` over bin shares, empty shares floored at [`PSI_EPSILON`].
pub fn psi(expected_counts: &[u64], actual_counts: &[u64]) -> f64 {
    let shares = |counts: &[u64]| {
        let total = counts.iter().sum::<u64>().max(1) as f64;
        counts.iter().map(|c| *c as f64 / total).collect::<Vec<_>>()
    };
    psi_from_shares(&shares(expected_counts), &shares(actual_counts))
}

/// [`psi`] of bin shares (each summing to 1) instead of counts.
pub fn psi_from_shares(expected: &[f64], actual: &[f64]) -> f64 {
    expected
        .iter()
        .zip(actual)
        .map(|(e, a)| {
            let (e, a) = (e.max(PSI_EPSILON), a.max(PSI_EPSILON));
            (a - e) * (a / e).ln()
        })
        .sum()
}

/// Two-sample Kolmogorov–Smirnov statistic `sup |F_a - F_b|` (the `statistic` of
/// `scipy.stats.ks_2samp`). 0 when either sample is empty.
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> f64 {
    let sorted = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v
    };
    ks_two_sample_sorted(&sorted(a), &sorted(b))
}

/// [`ks_two_sample`] of samples already sorted ascending.
pub fn ks_two_sample_sorted(a: &[f64], b: &[f64]) -> f64 {
    let (na, nb) = (a.len(), b.len());
    if na == 0 || nb == 0 {
        return 0.0;
    }
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    // Both empirical CDFs are steps at the data points; step over each distinct value at once
    // (ties), then compare. Once one sample is used up the gap can only shrink.
    while i < na && j < nb {
        let x = a[i].min(b[j]);
        while i < na && a[i] <= x {
            i += 1;
        }
        while j < nb && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / na as f64 - j as f64 / nb as f64).abs());
    }
    d
}

/// Kolmogorov–Smirnov distance of a sorted sample to a sketch's CDF (piecewise linear between
/// its stored quantiles). 0 for an empty sample.
pub fn ks_against_sketch(sorted: &[f64], sketch: &FeatureSketch) -> f64 {
    let n = sorted.len() as f64;
    let mut d = 0.0f64;
    let mut i = 0;
    // Between data points the empirical CDF is flat and the reference's rises, so the
    // supremum is at a data point: just before it, or at it.
    while i < sorted.len() {
        let x = sorted[i];
        let below = i as f64 / n;
        while i < sorted.len() && sorted[i] <= x {
            i += 1;
        }
        let at = i as f64 / n;
        d = d
            .max((below - sketch.cdf_before(x)).abs())
            .max((at - sketch.cdf(x)).abs());
    }
    d
}

/// PSI and KS of live values of one feature against its sketch. Sorts `values` in place;
/// non-finite values are ignored. `(0, 0)` when there is nothing to compare.
pub fn feature_drift(sketch: &FeatureSketch, values: &mut Vec<f64>) -> (f64, f64) {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return (0.0, 0.0);
    }
    values.sort_by(f64::total_cmp);
    let psi = psi(&sketch.counts, &sketch.bin_counts(values.iter().copied()));
    (psi, ks_against_sketch(values, sketch))
}

/// A chi-square test's result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChiSquare {
    /// The chi-square statistic.
    pub statistic: f64,
    /// Degrees of freedom.
    pub dof: usize,
    /// The p-value (upper tail).
    pub p_value: f64,
}

/// Pearson's chi-square goodness-of-fit test of `observed` counts against expected
/// proportions (as `scipy.stats.chisquare(observed, f_exp=p * observed.sum())`). A category
/// expected never but observed makes the statistic infinite (p = 0); one neither expected nor
/// observed is left out. No observations: statistic 0, p = 1.
pub fn chi_square(observed: &[u64], expected_proportions: &[f64]) -> ChiSquare {
    let total: u64 = observed.iter().sum();
    let share_total: f64 = expected_proportions.iter().sum();
    if total == 0 || share_total <= 0.0 {
        return ChiSquare {
            statistic: 0.0,
            dof: 0,
            p_value: 1.0,
        };
    }
    let (mut statistic, mut categories) = (0.0, 0usize);
    for (o, p) in observed.iter().zip(expected_proportions) {
        let (o, e) = (*o as f64, p / share_total * total as f64);
        if e > 0.0 {
            statistic += (o - e) * (o - e) / e;
            categories += 1;
        } else if o > 0.0 {
            statistic = f64::INFINITY;
            categories += 1;
        }
    }
    let dof = categories.saturating_sub(1);
    ChiSquare {
        statistic,
        dof,
        p_value: chi_square_sf(statistic, dof),
    }
}

/// Survival function of the chi-square distribution: P(X >= statistic).
pub fn chi_square_sf(statistic: f64, dof: usize) -> f64 {
    if dof == 0 || statistic.is_nan() {
        return 1.0;
    }
    if statistic == f64::INFINITY {
        return 0.0;
    }
    gamma_q(dof as f64 / 2.0, statistic / 2.0)
}

/// Chi-square p-value and JS distance of observed class counts against the reference's class
/// mix (smoothed by [`CLASS_PSEUDO_COUNT`] for the test; raw for JS).
pub fn class_drift(reference: &ClassDistribution, observed: &[u64]) -> (ChiSquare, f64) {
    let chi = chi_square(observed, &reference.smoothed_proportions(CLASS_PSEUDO_COUNT));
    let observed: Vec<f64> = observed.iter().map(|c| *c as f64).collect();
    let expected: Vec<f64> = reference.counts.iter().map(|c| *c as f64).collect();
    (chi, jensen_shannon(&expected, &observed))
}

/// Jensen–Shannon distance in bits (`scipy.spatial.distance.jensenshannon(p, q, base=2)`):
/// the square root of the divergence, in [0, 1]. Both are normalised first; 0 when either
/// is all zeros (nothing to compare).
pub fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    if sp <= 0.0 || sq <= 0.0 {
        return 0.0;
    }
    // x ln(x/m); m > 0 wherever x > 0 since m is the average.
    let rel_entr = |x: f64, m: f64| if x > 0.0 { x * (x / m).ln() } else { 0.0 };
    let divergence: f64 = p
        .iter()
        .zip(q)
        .map(|(a, b)| {
            let (a, b) = (a / sp, b / sq);
            let m = (a + b) / 2.0;
            rel_entr(a, m) + rel_entr(b, m)
        })
        .sum::<f64>()
        / std::f64::consts::LN_2;
    (divergence / 2.0).max(0.0).sqrt()
}

/// Regularised upper incomplete gamma function `Q(a, x) = Γ(a, x) / Γ(a)` for `a > 0`,
/// `x >= 0` (`scipy.special.gammaincc`). Series below `x = a + 1`, Lentz's continued fraction
/// above (Numerical Recipes §6.2); absolute error ~1e-15 for the `a` of our tests (a ≤ a few
/// hundred). NaN outside the domain.
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if a.is_nan() || x.is_nan() || a <= 0.0 || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return 1.0;
    }
    if x == f64::INFINITY {
        return 0.0;
    }
    if x < a + 1.0 {
        1.0 - gamma_p_series(a, x)
    } else {
        gamma_q_continued_fraction(a, x)
    }
}

/// Regularised lower incomplete gamma function `P(a, x) = 1 - Q(a, x)`.
pub fn gamma_p(a: f64, x: f64) -> f64 {
    1.0 - gamma_q(a, x)
}

const GAMMA_MAX_ITERATIONS: usize = 100_000;

/// `x^a e^-x / Γ(a)`, the common prefactor, computed in logs to avoid overflow.
fn gamma_prefactor(a: f64, x: f64) -> f64 {
    (a * x.ln() - x - ln_gamma(a)).exp()
}

fn gamma_p_series(a: f64, x: f64) -> f64 {
    let (mut ap, mut term) = (a, 1.0 / a);
    let mut sum = term;
    for _ in 0..GAMMA_MAX_ITERATIONS {
        ap += 1.0;
        term *= x / ap;
        sum += term;
        if term.abs() < sum.abs() * f64::EPSILON {
            break;
        }
    }
    sum * gamma_prefactor(a, x)
}

fn gamma_q_continued_fraction(a: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..GAMMA_MAX_ITERATIONS {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < f64::EPSILON {
            break;
        }
    }
    gamma_prefactor(a, x) * h
}

/// `ln Γ(x)` for `x > 0`: Lanczos approximation (g = 7, 9 terms; relative error ~1e-15),
/// with the reflection formula below 1/2.
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin().abs()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let series = COEFFICIENTS[1..]
        .iter()
        .enumerate()
        .fold(COEFFICIENTS[0], |acc, (i, c)| acc + c / (x + i as f64 + 1.0));
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn fixtures() -> Value {
        serde_json::from_str(include_str!("../../tests/fixtures/drift_scipy.json")).expect("fixture is JSON")
    }

    fn floats(v: &Value) -> Vec<f64> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|x| x.as_f64().expect("number"))
            .collect()
    }

    fn num(v: &Value) -> f64 {
        v.as_f64().expect("number")
    }

    /// Deterministic normal samples (Box–Muller over a 32-bit LCG).
    fn normals(seed: u32, n: usize, mean: f64, std: f64) -> Vec<f64> {
        let mut s = seed;
        let mut uniform = move || {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s as f64 + 0.5) / 4_294_967_296.0
        };
        (0..n)
            .map(|_| {
                let (u, v) = (uniform(), uniform());
                mean + std * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
            })
            .collect()
    }

    #[test]
    fn ks_two_sample_matches_scipy() {
        let f = fixtures();
        for case in f["ks_2samp"].as_array().expect("cases") {
            let (a, b) = (floats(&case["a"]), floats(&case["b"]));
            let expected = num(&case["statistic"]);
            let got = ks_two_sample(&a, &b);
            assert!(
                (got - expected).abs() < 1e-12,
                "{}: {got} vs scipy {expected}",
                case["name"]
            );
            assert_eq!(ks_two_sample(&b, &a), got, "symmetric");
        }
    }

    #[test]
    fn chi_square_matches_scipy() {
        let f = fixtures();
        for case in f["chisquare"].as_array().expect("cases") {
            let observed: Vec<u64> = floats(&case["observed"]).iter().map(|x| *x as u64).collect();
            let got = chi_square(&observed, &floats(&case["expected_proportions"]));
            let (stat, p) = (num(&case["statistic"]), num(&case["p_value"]));
            assert!(
                (got.statistic - stat).abs() < 1e-9 * stat.max(1.0),
                "{}: statistic {} vs {stat}",
                case["name"],
                got.statistic
            );
            assert!(
                (got.p_value - p).abs() < 1e-6,
                "{}: p {} vs {p}",
                case["name"],
                got.p_value
            );
            assert_eq!(got.dof, observed.len() - 1);
        }
    }

    #[test]
    fn jensen_shannon_matches_scipy() {
        let f = fixtures();
        for case in f["jensenshannon_base2"].as_array().expect("cases") {
            let expected = num(&case["distance"]);
            let got = jensen_shannon(&floats(&case["p"]), &floats(&case["q"]));
            assert!(
                (got - expected).abs() < 1e-6,
                "{}: {got} vs scipy {expected}",
                case["name"]
            );
        }
    }

    #[test]
    fn gamma_q_matches_scipy() {
        let f = fixtures();
        for case in f["gammaincc"].as_array().expect("cases") {
            let (a, x, expected) = (num(&case["a"]), num(&case["x"]), num(&case["q"]));
            let got = gamma_q(a, x);
            assert!((got - expected).abs() < 1e-10, "Q({a}, {x}) = {got}, scipy {expected}");
            // Tiny tails come from the continued fraction, accurate relative to the value too.
            if expected < 1e-3 && x >= a + 1.0 {
                assert!(
                    ((got - expected) / expected).abs() < 1e-9,
                    "Q({a}, {x}) = {got}, scipy {expected}"
                );
            }
        }
    }

    #[test]
    fn gamma_edge_cases() {
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-14);
        assert!((ln_gamma(10.0) - 362_880f64.ln()).abs() < 1e-12);
        assert!(ln_gamma(1.0).abs() < 1e-14 && ln_gamma(2.0).abs() < 1e-14);
        assert_eq!(gamma_q(3.0, 0.0), 1.0);
        assert!(gamma_q(0.0, 1.0).is_nan() && gamma_q(1.0, -1.0).is_nan());
        // Q(1, x) = e^-x.
        for x in [0.01, 0.5, 1.9, 2.0, 7.0, 40.0] {
            assert!((gamma_q(1.0, x) - (-x).exp()).abs() < 1e-14, "x = {x}");
        }
        assert!((gamma_p(2.0, 3.0) + gamma_q(2.0, 3.0) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn chi_square_edge_cases() {
        assert_eq!(chi_square(&[0, 0], &[0.5, 0.5]).p_value, 1.0);
        let never_expected = chi_square(&[5, 5, 1], &[0.5, 0.5, 0.0]);
        assert_eq!((never_expected.statistic, never_expected.p_value), (f64::INFINITY, 0.0));
        let left_out = chi_square(&[5, 5, 0], &[0.5, 0.5, 0.0]);
        assert_eq!((left_out.statistic, left_out.dof, left_out.p_value), (0.0, 1, 1.0));
    }

    #[test]
    fn identical_distributions_do_not_drift() {
        let values = normals(11, 1000, 120.0, 25.0);
        let sketch = FeatureSketch::from_values(&values).expect("finite");
        let (psi, ks) = feature_drift(&sketch, &mut values.clone());
        assert!(psi.abs() < 1e-12, "psi {psi}");
        // The sketch's CDF is the sample's, smoothed between 101 quantiles.
        assert!(ks < 0.011, "ks {ks}");
        assert_eq!(ks_two_sample(&values, &values), 0.0);
        assert_eq!(feature_level(psi, ks), DriftLevel::Ok);

        // A fresh sample of the same distribution stays below the thresholds too.
        let (psi, ks) = feature_drift(&sketch, &mut normals(12, 500, 120.0, 25.0));
        assert!(psi < PSI_WARN && ks < KS_DRIFT, "psi {psi}, ks {ks}");
    }

    #[test]
    fn brightness_shift_drifts() {
        let reference = normals(21, 2000, 120.0, 25.0);
        let sketch = FeatureSketch::from_values(&reference).expect("finite");
        let mut brighter: Vec<f64> = normals(22, 300, 120.0, 25.0)
            .iter()
            .map(|b| (b + 40.0).min(255.0))
            .collect();
        let (psi, ks) = feature_drift(&sketch, &mut brighter);
        assert!(psi > PSI_DRIFT, "psi {psi}");
        assert!(ks > KS_DRIFT, "ks {ks}");
        assert_eq!(feature_level(psi, ks), DriftLevel::Drift);
        // Against the raw sample, the sketch's KS is close to the exact two-sample one.
        let exact = ks_two_sample(&reference, &brighter);
        assert!((ks - exact).abs() < 0.02, "sketch {ks} vs exact {exact}");
    }

    #[test]
    fn psi_of_empty_bins_is_finite() {
        let p = psi(&[10, 10, 0], &[0, 10, 10]);
        assert!(p.is_finite() && p > PSI_DRIFT, "{p}");
        assert_eq!(psi(&[3, 4], &[3, 4]), 0.0);
    }

    #[test]
    fn levels() {
        assert_eq!(psi_level(0.05), DriftLevel::Ok);
        assert_eq!(psi_level(0.1), DriftLevel::Warn);
        assert_eq!(psi_level(0.3), DriftLevel::Drift);
        assert_eq!(feature_level(0.05, 0.2), DriftLevel::Warn);
        assert_eq!(feature_level(0.15, 0.2), DriftLevel::Drift);
        assert_eq!(class_level(0.001, 0.2), DriftLevel::Drift);
        assert_eq!(class_level(0.001, 0.05), DriftLevel::Ok);
    }

    #[test]
    fn class_drift_against_reference() {
        let mut reference = ClassDistribution::new(&["A", "B", "nothing"]);
        for (class, n) in [(0, 500), (1, 500), (2, 0)] {
            (0..n).for_each(|_| reference.add(class));
        }
        let (same, js) = class_drift(&reference, &[100, 100, 0]);
        assert!(same.p_value > 0.9 && js < 1e-12, "{same:?} {js}");
        let (shifted, js) = class_drift(&reference, &[50, 50, 100]);
        assert!(shifted.p_value < 1e-10 && js > 0.3, "{shifted:?} {js}");
        assert_eq!(class_level(shifted.p_value, js), DriftLevel::Drift);
    }
}
