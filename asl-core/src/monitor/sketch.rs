//! The reference distribution a model is monitored against, summarised at training time.
//!
//! Per feature a [`FeatureSketch`]: [`PSI_BINS`] bins with quantile edges (each bin holds about
//! a tenth of the training photos, so PSI weighs all parts of the range alike) and
//! [`SKETCH_QUANTILES`] stored quantiles, a piecewise-linear CDF for Kolmogorov–Smirnov against
//! live samples. The whole [`Reference`] is some 20 KB of JSON, stored in the model card under
//! `extra.monitoring_reference`.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::MonitorError;
use super::features::{FEATURE_NAMES, ImageFeatures, NUM_FEATURES};

/// Bumped when the meaning of a field changes; older references are refused, not misread.
pub const REFERENCE_VERSION: u32 = 1;
/// Bins of a feature's PSI (fewer when training values tie).
pub const PSI_BINS: usize = 10;
/// Quantiles at 0%, 1%, …, 100%.
pub const SKETCH_QUANTILES: usize = 101;
/// Equal bins of the confidence histogram over [0, 1].
pub const CONFIDENCE_BINS: usize = 20;

/// The training distribution of one feature: quantile bins for PSI, quantiles for KS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSketch {
    /// Strictly increasing inner bin edges; bin `i` holds `edges[i-1] < v <= edges[i]`, the
    /// first and last bins are open-ended. Ties in the training data merge edges, so a
    /// feature that never varied (every photo 200 px wide) has one edge and two bins.
    pub edges: Vec<f64>,
    /// Training photos per bin (`edges.len() + 1` entries).
    pub counts: Vec<u64>,
    /// `quantiles[i]` is the value at probability `i / (len - 1)`.
    pub quantiles: Vec<f64>,
    /// Finite training values summarised.
    pub n: u64,
}

impl FeatureSketch {
    /// Sketch of the finite values among `values`; `None` when there are none.
    pub fn from_values(values: &[f64]) -> Option<FeatureSketch> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let mut edges: Vec<f64> = (1..PSI_BINS)
            .map(|k| quantile_sorted(&sorted, k as f64 / PSI_BINS as f64))
            .collect();
        edges.dedup();
        let quantiles = (0..SKETCH_QUANTILES)
            .map(|i| quantile_sorted(&sorted, i as f64 / (SKETCH_QUANTILES - 1) as f64))
            .collect();
        let mut sketch = FeatureSketch {
            counts: Vec::new(),
            edges,
            quantiles,
            n: sorted.len() as u64,
        };
        sketch.counts = sketch.bin_counts(sorted.iter().copied());
        Some(sketch)
    }

    /// Number of bins (`edges.len() + 1`).
    pub fn bins(&self) -> usize {
        self.edges.len() + 1
    }

    /// The bin `v` falls in (see [`FeatureSketch::edges`]).
    pub fn bin_of(&self, v: f64) -> usize {
        self.edges.partition_point(|e| *e < v)
    }

    /// How many of `values` fall in each bin (non-finite values are skipped).
    pub fn bin_counts(&self, values: impl IntoIterator<Item = f64>) -> Vec<u64> {
        let mut counts = vec![0; self.bins()];
        for v in values.into_iter().filter(|v| v.is_finite()) {
            counts[self.bin_of(v)] += 1;
        }
        counts
    }

    /// The reference CDF at `x`: linear between stored quantiles, with jumps where they tie.
    pub fn cdf(&self, x: f64) -> f64 {
        let q = &self.quantiles;
        let k = q.partition_point(|v| *v <= x);
        self.interpolate(k, x)
    }

    /// `lim cdf(t)` as `t` rises to `x` (differs from [`cdf`](Self::cdf) at a jump).
    pub fn cdf_before(&self, x: f64) -> f64 {
        let k = self.quantiles.partition_point(|v| *v < x);
        self.interpolate(k, x)
    }

    /// CDF on the segment that ends at quantile `k` (`quantiles[k-1] <= x <= quantiles[k]`).
    fn interpolate(&self, k: usize, x: f64) -> f64 {
        let q = &self.quantiles;
        if k == 0 {
            return 0.0;
        }
        if k >= q.len() {
            return 1.0;
        }
        let step = 1.0 / (q.len() - 1) as f64;
        let (lo, hi) = (q[k - 1], q[k]);
        let p_lo = (k - 1) as f64 * step;
        if hi > lo {
            p_lo + (x - lo) / (hi - lo) * step
        } else {
            p_lo
        }
    }

    /// The stored 50 % quantile; NaN when there are no quantiles.
    pub fn median(&self) -> f64 {
        self.quantiles
            .get(self.quantiles.len() / 2)
            .copied()
            .unwrap_or(f64::NAN)
    }
}

/// Type-7 (linear) sample quantile of sorted, non-empty data.
pub fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    match sorted.get(lo + 1) {
        Some(next) => sorted[lo] + (h - lo as f64) * (next - sorted[lo]),
        None => sorted[lo],
    }
}

/// How often each class was predicted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassDistribution {
    /// Class names, in the model's class order.
    pub classes: Vec<String>,
    /// Predictions per class, in the same order.
    pub counts: Vec<u64>,
}

impl ClassDistribution {
    /// An empty distribution over `class_names`.
    pub fn new(class_names: &[&str]) -> ClassDistribution {
        ClassDistribution {
            classes: class_names.iter().map(|c| c.to_string()).collect(),
            counts: vec![0; class_names.len()],
        }
    }

    /// Counts one prediction; an index outside the class list is ignored.
    pub fn add(&mut self, class: usize) {
        if let Some(c) = self.counts.get_mut(class) {
            *c += 1;
        }
    }

    /// Predictions counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Each class's share of the predictions (all 0 when there are none).
    pub fn proportions(&self) -> Vec<f64> {
        let total = self.total().max(1) as f64;
        self.counts.iter().map(|c| *c as f64 / total).collect()
    }

    /// Proportions after adding `pseudo_count` to every class: a class never predicted on the
    /// training data still has a small expected share, so a test against it stays finite.
    pub fn smoothed_proportions(&self, pseudo_count: f64) -> Vec<f64> {
        let total = self.total() as f64 + pseudo_count * self.counts.len() as f64;
        self.counts.iter().map(|c| (*c as f64 + pseudo_count) / total).collect()
    }
}

/// Confidences in [`CONFIDENCE_BINS`] equal bins over [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceHistogram {
    /// Predictions per bin; bin `i` covers confidences from `i / 20` up to `(i + 1) / 20`.
    pub counts: Vec<u64>,
}

impl Default for ConfidenceHistogram {
    fn default() -> Self {
        ConfidenceHistogram {
            counts: vec![0; CONFIDENCE_BINS],
        }
    }
}

impl ConfidenceHistogram {
    /// The histogram of `confidences`.
    pub fn from_confidences(confidences: impl IntoIterator<Item = f32>) -> ConfidenceHistogram {
        let mut h = ConfidenceHistogram::default();
        for c in confidences {
            h.add(c);
        }
        h
    }

    /// The bin of a confidence (clamped to [0, 1]; 1.0 in the last bin, NaN in the first).
    pub fn bin_of(confidence: f32) -> usize {
        // 1.0 belongs to the last bin; NaN casts to 0.
        ((confidence.clamp(0.0, 1.0) * CONFIDENCE_BINS as f32) as usize).min(CONFIDENCE_BINS - 1)
    }

    /// Counts one confidence.
    pub fn add(&mut self, confidence: f32) {
        let bin = Self::bin_of(confidence);
        if let Some(c) = self.counts.get_mut(bin) {
            *c += 1;
        }
    }

    /// Confidences counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Each bin's share of the confidences (all 0 when there are none).
    pub fn shares(&self) -> Vec<f64> {
        let total = self.total().max(1) as f64;
        self.counts.iter().map(|c| *c as f64 / total).collect()
    }
}

/// What a model saw at training time: per-feature sketches, the predicted class mix and the
/// confidence histogram of a held-out sample. Stored in the model card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// Reference format ([`REFERENCE_VERSION`]).
    pub version: u32,
    /// Unix seconds.
    pub created_at: u64,
    /// Photos in the sample.
    pub n_images: u64,
    /// By feature name ([`FEATURE_NAMES`]).
    pub features: BTreeMap<String, FeatureSketch>,
    /// Classes the model predicted on the sample.
    pub class_distribution: ClassDistribution,
    /// Confidences the model gave on the sample.
    pub confidence_histogram: ConfidenceHistogram,
    /// Share of the reference photos with a hand found (models with a hand path).
    #[serde(default)]
    pub hand_found_share: Option<f64>,
}

impl Reference {
    /// The reference of a sample of photos (typically the validation split) with the model's
    /// predicted class index and confidence for each.
    pub fn from_samples(
        features: &[ImageFeatures],
        predicted: &[usize],
        confidences: &[f32],
        class_names: &[&str],
    ) -> Result<Reference, MonitorError> {
        if features.is_empty() {
            return Err(MonitorError::Reference("no photos".into()));
        }
        if predicted.len() != features.len() || confidences.len() != features.len() {
            return Err(MonitorError::Reference(format!(
                "{} photos but {} predicted classes and {} confidences",
                features.len(),
                predicted.len(),
                confidences.len()
            )));
        }
        if let Some(bad) = predicted.iter().find(|c| **c >= class_names.len()) {
            return Err(MonitorError::Reference(format!(
                "class index {bad} with only {} classes",
                class_names.len()
            )));
        }
        let rows: Vec<[f64; NUM_FEATURES]> = features.iter().map(ImageFeatures::values).collect();
        let mut sketches = BTreeMap::new();
        for (i, name) in FEATURE_NAMES.iter().enumerate() {
            let column: Vec<f64> = rows.iter().map(|r| r[i]).collect();
            let sketch = FeatureSketch::from_values(&column)
                .ok_or_else(|| MonitorError::Reference(format!("feature {name} has no finite value")))?;
            sketches.insert(name.to_string(), sketch);
        }
        let mut class_distribution = ClassDistribution::new(class_names);
        predicted.iter().for_each(|c| class_distribution.add(*c));
        Ok(Reference {
            version: REFERENCE_VERSION,
            created_at: crate::clock::now_unix(),
            n_images: features.len() as u64,
            features: sketches,
            class_distribution,
            confidence_histogram: ConfidenceHistogram::from_confidences(confidences.iter().copied()),
            hand_found_share: None,
        })
    }

    /// The sketch of the feature named, if the reference has it.
    pub fn feature(&self, name: &str) -> Option<&FeatureSketch> {
        self.features.get(name)
    }

    /// The reference as JSON, for the model card.
    pub fn to_json(&self) -> serde_json::Value {
        // A struct of strings, numbers and maps with string keys always serialises.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Reads a reference from the model card's JSON.
    ///
    /// # Errors
    /// [`MonitorError::ReferenceFormat`] when it does not parse; [`MonitorError::Reference`] when it
    /// is of another [`REFERENCE_VERSION`].
    pub fn from_json(value: &serde_json::Value) -> Result<Reference, MonitorError> {
        let reference = Reference::deserialize(value)?;
        if reference.version != REFERENCE_VERSION {
            return Err(MonitorError::Reference(format!(
                "reference version {} (this build reads {REFERENCE_VERSION})",
                reference.version
            )));
        }
        Ok(reference)
    }

    /// The reference stored in a model card's `extra` map, if any.
    pub fn from_card_extra(
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Option<Result<Reference, MonitorError>> {
        extra.get(super::REFERENCE_CARD_KEY).map(Reference::from_json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sketch_of_continuous_values() {
        let values: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        let s = FeatureSketch::from_values(&values).expect("finite values");
        assert_eq!(s.bins(), PSI_BINS);
        assert!(s.counts.iter().all(|c| (99..=101).contains(c)), "{:?}", s.counts);
        assert_eq!(s.quantiles.len(), SKETCH_QUANTILES);
        assert_eq!((s.quantiles[0], s.quantiles[100]), (0.0, 999.0));
        assert!((s.cdf(499.5) - 0.5).abs() < 1e-9);
        assert_eq!((s.cdf(-1.0), s.cdf(999.0), s.cdf(1e9)), (0.0, 1.0, 1.0));
    }

    #[test]
    fn constant_feature_has_two_bins_and_a_jump() {
        let s = FeatureSketch::from_values(&[200.0; 50]).expect("finite values");
        assert_eq!((s.edges.clone(), s.counts.clone()), (vec![200.0], vec![50, 0]));
        assert_eq!(s.bin_of(200.0), 0);
        assert_eq!(s.bin_of(201.0), 1);
        assert_eq!((s.cdf_before(200.0), s.cdf(200.0)), (0.0, 1.0));
    }

    #[test]
    fn non_finite_values_are_skipped() {
        assert!(FeatureSketch::from_values(&[f64::NAN, f64::INFINITY]).is_none());
        assert_eq!(FeatureSketch::from_values(&[1.0, f64::NAN, 2.0]).map(|s| s.n), Some(2));
    }

    #[test]
    fn confidence_bins() {
        assert_eq!(ConfidenceHistogram::bin_of(0.0), 0);
        assert_eq!(ConfidenceHistogram::bin_of(0.049), 0);
        assert_eq!(ConfidenceHistogram::bin_of(0.05), 1);
        assert_eq!(ConfidenceHistogram::bin_of(1.0), CONFIDENCE_BINS - 1);
        assert_eq!(ConfidenceHistogram::bin_of(f32::NAN), 0);
        assert_eq!(ConfidenceHistogram::from_confidences([0.1, 0.99, 0.97]).total(), 3);
    }

    #[test]
    fn reference_round_trips_through_json() {
        let features: Vec<ImageFeatures> = (0..40)
            .map(|i| ImageFeatures {
                brightness: i as f64,
                width: 200,
                height: 200,
                aspect_ratio: 1.0,
                ..Default::default()
            })
            .collect();
        let predicted: Vec<usize> = (0..40).map(|i| i % 3).collect();
        let confidences = vec![0.9f32; 40];
        let r = Reference::from_samples(&features, &predicted, &confidences, &["A", "B", "C"]).expect("valid sample");
        assert_eq!(r.class_distribution.counts, vec![14, 13, 13]);
        assert_eq!(r.features.len(), NUM_FEATURES);
        let json = r.to_json();
        assert_eq!(Reference::from_json(&json).expect("round trip"), r);
        let mut extra = serde_json::Map::new();
        extra.insert(crate::monitor::REFERENCE_CARD_KEY.into(), json);
        assert!(matches!(Reference::from_card_extra(&extra), Some(Ok(_))));

        let mut old = r.to_json();
        old["version"] = 0.into();
        assert!(Reference::from_json(&old).is_err());
        assert!(Reference::from_samples(&features, &predicted[..3], &confidences, &["A", "B", "C"]).is_err());
        assert!(Reference::from_samples(&features, &predicted, &confidences, &["A", "B"]).is_err());
        assert!(Reference::from_samples(&[], &[], &[], &["A"]).is_err());
    }
}
