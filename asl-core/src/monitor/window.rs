//! The server's sliding window of recent predictions and the drift it shows.
//!
//! The window keeps the last [`WindowConfig::max_images`] observations that are also at most
//! [`WindowConfig::max_age_secs`] old: "the last hour, or the last 1000 photos if that is less".
//! Pushing is O(1) amortised; a snapshot is O(window · log window) (one sort per feature), a
//! few milliseconds for 10 000 photos, so it suits a snapshot per scrape, not per request.
//! Not synchronised: the server holds it in a `Mutex`.
use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::drift::{self, DriftLevel, MIN_IMAGES_FOR_DRIFT};
use super::features::{FEATURE_NAMES, ImageFeatures, NUM_FEATURES};
use super::sketch::Reference;

/// One answered photo.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Unix seconds.
    pub ts: u64,
    /// The photo's monitoring features.
    pub features: ImageFeatures,
    /// Predicted class index.
    pub class: usize,
    /// The predicted class's probability, 0 to 1.
    pub confidence: f32,
    /// For a model with a hand path: the found hand's presence score, 0 when no hand was
    /// found. None for a photo-only model.
    #[serde(default)]
    pub hand: Option<f32>,
}

/// Size, age limit and thresholds of the [`LiveWindow`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowConfig {
    /// Most observations kept (default 1000).
    pub max_images: usize,
    /// Observations older than this many seconds are dropped (default 3600).
    pub max_age_secs: u64,
    /// Predictions below this confidence count as low-confidence.
    pub low_confidence: f32,
    /// Index of the `nothing` class (no hand in the photo).
    pub nothing_class: usize,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            max_images: 1000,
            max_age_secs: 3600,
            low_confidence: 0.5,
            nothing_class: crate::classes::NOTHING,
        }
    }
}

/// How far one feature has moved from the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    /// The feature's name (one of [`FEATURE_NAMES`], or `hand_found`).
    pub feature: String,
    /// Population stability index over the reference's bins.
    pub psi: f64,
    /// Kolmogorov–Smirnov distance to the reference CDF.
    pub ks: f64,
    /// The level PSI and KS give (see [`drift::feature_level`]).
    pub level: DriftLevel,
}

/// Drift of the window against the reference. With an empty window every score is 0 (and the
/// p-value 1): nothing seen, nothing drifted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftSnapshot {
    /// Unix seconds the snapshot was taken at.
    pub at: u64,
    /// Observations in the window.
    pub window_images: usize,
    /// At least [`MIN_IMAGES_FOR_DRIFT`] photos: below that the scores are mostly noise.
    pub enough_data: bool,
    /// In [`FEATURE_NAMES`] order; features the reference lacks are left out.
    pub features: Vec<FeatureDrift>,
    /// Chi-square p-value of the predicted classes against the reference's mix.
    pub class_chi2_pvalue: f64,
    /// Jensen–Shannon distance of the predicted class mix to the reference's.
    pub class_js: f64,
    /// The class mix's level (see [`drift::class_level`]).
    pub class_level: DriftLevel,
    /// Share of predictions below [`WindowConfig::low_confidence`].
    pub low_confidence_share: f64,
    /// Share of predictions of the `nothing` class.
    pub nothing_share: f64,
    /// Share of photos with no hand found (models with a hand path). A camera that stops
    /// showing hands drifts here first; against the reference it is scored as the
    /// `hand_found` feature.
    #[serde(default)]
    pub no_hand_share: Option<f64>,
    /// Mean presence score of the hands found.
    #[serde(default)]
    pub mean_hand_presence: Option<f64>,
    /// The worst of the feature and class levels; `Ok` without enough data.
    pub level: DriftLevel,
}

impl DriftSnapshot {
    /// The drift of the feature named, if it was scored.
    pub fn feature(&self, name: &str) -> Option<&FeatureDrift> {
        self.features.iter().find(|f| f.feature == name)
    }

    /// Names of the features at [`DriftLevel::Drift`].
    pub fn drifting_features(&self) -> Vec<&str> {
        self.features
            .iter()
            .filter(|f| f.level == DriftLevel::Drift)
            .map(|f| f.feature.as_str())
            .collect()
    }
}

/// The server's window of recent observations (see the module docs).
#[derive(Debug, Clone)]
pub struct LiveWindow {
    config: WindowConfig,
    observations: VecDeque<Observation>,
}

impl LiveWindow {
    /// An empty window.
    pub fn new(config: WindowConfig) -> LiveWindow {
        // Capacity up front: the window fills within minutes and then stays full.
        let capacity = config.max_images.clamp(1, 100_000);
        LiveWindow {
            config,
            observations: VecDeque::with_capacity(capacity),
        }
    }

    /// The window's settings.
    pub fn config(&self) -> &WindowConfig {
        &self.config
    }

    /// Observations in the window.
    pub fn len(&self) -> usize {
        self.observations.len()
    }

    /// True when the window holds no observation.
    pub fn is_empty(&self) -> bool {
        self.observations.is_empty()
    }

    /// Forgets every observation.
    pub fn clear(&mut self) {
        self.observations.clear();
    }

    /// Adds an observation, dropping the oldest beyond `max_images` and those older than
    /// `max_age_secs` before it.
    pub fn push(&mut self, observation: Observation) {
        let now = observation.ts;
        self.observations.push_back(observation);
        while self.observations.len() > self.config.max_images.max(1) {
            self.observations.pop_front();
        }
        self.evict_expired(now);
    }

    /// Drops observations older than `max_age_secs` at `now`. Arrival order is time order up to
    /// clock steps, so looking at the front is enough.
    pub fn evict_expired(&mut self, now: u64) {
        while self.observations.front().is_some_and(|o| self.is_expired(o, now)) {
            self.observations.pop_front();
        }
    }

    fn is_expired(&self, o: &Observation, now: u64) -> bool {
        o.ts.saturating_add(self.config.max_age_secs) < now
    }

    /// Drift of the window now.
    pub fn snapshot(&self, reference: &Reference) -> DriftSnapshot {
        self.snapshot_at(reference, crate::clock::now_unix())
    }

    /// Drift of the observations not expired at `now`.
    pub fn snapshot_at(&self, reference: &Reference, now: u64) -> DriftSnapshot {
        snapshot_of(
            self.observations.iter().filter(|o| !self.is_expired(o, now)),
            reference,
            &self.config,
            now,
        )
    }
}

/// Drift of any set of observations (a window, a day of logged predictions) against the
/// reference; `at` is only recorded. Uses `config`'s thresholds, not its limits.
pub fn snapshot_of<'a>(
    observations: impl IntoIterator<Item = &'a Observation>,
    reference: &Reference,
    config: &WindowConfig,
    at: u64,
) -> DriftSnapshot {
    let mut columns: [Vec<f64>; NUM_FEATURES] = Default::default();
    let mut class_counts = vec![0u64; reference.class_distribution.counts.len()];
    let (mut n, mut low_confidence, mut nothing) = (0usize, 0usize, 0usize);
    let (mut hand_seen, mut hand_found, mut presence_sum) = (0usize, 0usize, 0f64);
    for o in observations {
        n += 1;
        if let Some(presence) = o.hand {
            hand_seen += 1;
            if presence > 0.0 {
                hand_found += 1;
                presence_sum += f64::from(presence);
            }
        }
        for (column, value) in columns.iter_mut().zip(o.features.values()) {
            column.push(value);
        }
        if let Some(c) = class_counts.get_mut(o.class) {
            *c += 1;
        }
        low_confidence += usize::from(o.confidence < config.low_confidence);
        nothing += usize::from(o.class == config.nothing_class);
    }

    let mut features: Vec<FeatureDrift> = FEATURE_NAMES
        .iter()
        .zip(columns.iter_mut())
        .filter_map(|(name, values)| {
            let sketch = reference.feature(name)?;
            let (psi, ks) = drift::feature_drift(sketch, values);
            Some(FeatureDrift {
                feature: name.to_string(),
                psi,
                ks,
                level: drift::feature_level(psi, ks),
            })
        })
        .collect();
    let found_share = (hand_seen > 0).then(|| hand_found as f64 / hand_seen as f64);
    if let (Some(expected), Some(live)) = (reference.hand_found_share, found_share) {
        // A yes/no feature: PSI over its two bins; KS of two Bernoulli laws is |p − q|.
        let psi = drift::psi_from_shares(&[expected, 1.0 - expected], &[live, 1.0 - live]);
        let ks = (expected - live).abs();
        features.push(FeatureDrift {
            feature: "hand_found".into(),
            psi,
            ks,
            level: drift::feature_level(psi, ks),
        });
    }
    let (chi, class_js) = drift::class_drift(&reference.class_distribution, &class_counts);
    let class_level = drift::class_level(chi.p_value, class_js);
    let share = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    let enough_data = n >= MIN_IMAGES_FOR_DRIFT;
    let worst = features
        .iter()
        .map(|f| f.level)
        .chain([class_level])
        .max()
        .unwrap_or(DriftLevel::Ok);
    DriftSnapshot {
        at,
        window_images: n,
        enough_data,
        features,
        class_chi2_pvalue: chi.p_value,
        class_js,
        class_level,
        low_confidence_share: share(low_confidence),
        nothing_share: share(nothing),
        no_hand_share: found_share.map(|f| 1.0 - f),
        mean_hand_presence: (hand_found > 0).then(|| presence_sum / hand_found as f64),
        level: if enough_data { worst } else { DriftLevel::Ok },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASSES: [&str; 3] = ["A", "B", "nothing"];

    fn photo(brightness: f64) -> ImageFeatures {
        ImageFeatures {
            mean_r: brightness,
            mean_g: brightness,
            mean_b: brightness,
            brightness,
            contrast: 40.0,
            sharpness: 100.0,
            aspect_ratio: 1.0,
            width: 200,
            height: 200,
        }
    }

    /// Brightness spread evenly over 80..=160 (a deterministic "training set").
    fn brightness(i: usize) -> f64 {
        80.0 + (i * 37 % 400) as f64 / 5.0
    }

    fn reference() -> Reference {
        let features: Vec<ImageFeatures> = (0..400).map(|i| photo(brightness(i))).collect();
        let predicted: Vec<usize> = (0..400).map(|i| i % 2).collect();
        Reference::from_samples(&features, &predicted, &vec![0.9; 400], &CLASSES).expect("valid reference")
    }

    fn config() -> WindowConfig {
        WindowConfig {
            max_images: 300,
            max_age_secs: 60,
            low_confidence: 0.5,
            nothing_class: 2,
        }
    }

    #[test]
    fn keeps_the_last_n_within_the_age_limit() {
        let mut w = LiveWindow::new(config());
        for i in 0..500u64 {
            w.push(Observation {
                ts: 1000,
                features: photo(100.0),
                class: 0,
                confidence: 0.9,
                hand: None,
            });
            assert_eq!(w.len(), (i as usize + 1).min(300));
        }
        // Everything older than 60 s goes when a newer photo arrives.
        w.push(Observation {
            ts: 1061,
            features: photo(100.0),
            class: 0,
            confidence: 0.9,
            hand: None,
        });
        assert_eq!(w.len(), 1);
        // The snapshot also ignores what expired since the last push.
        assert_eq!(w.snapshot_at(&reference(), 1200).window_images, 0);
        w.evict_expired(1200);
        assert!(w.is_empty());
    }

    /// A camera that stops showing hands: the reference found a hand in 90 % of its photos,
    /// the window in 30 %: `hand_found` drifts, with the shares and mean presence reported.
    #[test]
    fn fewer_hands_than_the_reference_is_drift() {
        let mut r = reference();
        r.hand_found_share = Some(0.9);
        let mut w = LiveWindow::new(config());
        for i in 0..300 {
            w.push(Observation {
                ts: 5000,
                features: photo(brightness(i + 7)),
                class: i % 2,
                confidence: 0.9,
                hand: Some(if i % 10 < 3 { 0.8 } else { 0.0 }),
            });
        }
        let s = w.snapshot_at(&r, 5000);
        let hand = s.feature("hand_found").expect("scored against the reference");
        assert!(hand.psi > 0.25 && (hand.ks - 0.6).abs() < 1e-9, "{hand:?}");
        assert_eq!(hand.level, DriftLevel::Drift);
        assert_eq!(s.level, DriftLevel::Drift);
        assert!((s.no_hand_share.unwrap() - 0.7).abs() < 1e-9);
        assert!((s.mean_hand_presence.unwrap() - 0.8).abs() < 1e-6);
        // The same share as the reference is no drift; a photo-only model scores nothing.
        let mut same = LiveWindow::new(config());
        for i in 0..300 {
            same.push(Observation {
                ts: 5000,
                features: photo(brightness(i + 7)),
                class: i % 2,
                confidence: 0.9,
                hand: Some(if i % 10 == 0 { 0.0 } else { 0.9 }),
            });
        }
        assert_eq!(
            same.snapshot_at(&r, 5000).feature("hand_found").unwrap().level,
            DriftLevel::Ok
        );
        let photo_only = LiveWindow::new(config()).snapshot_at(&r, 5000);
        assert!(photo_only.feature("hand_found").is_none() && photo_only.no_hand_share.is_none());
    }

    #[test]
    fn same_distribution_is_ok() {
        let r = reference();
        let mut w = LiveWindow::new(config());
        for i in 0..300 {
            w.push(Observation {
                ts: 5000,
                features: photo(brightness(i + 7)),
                class: i % 2,
                confidence: 0.9,
                hand: None,
            });
        }
        let s = w.snapshot_at(&r, 5000);
        assert_eq!((s.window_images, s.enough_data), (300, true));
        assert_eq!(s.features.len(), NUM_FEATURES);
        assert!(s.drifting_features().is_empty(), "{s:?}");
        assert_eq!(s.level, DriftLevel::Ok, "{s:?}");
        assert!(s.class_chi2_pvalue > 0.5 && s.class_js < 0.05, "{s:?}");
        assert_eq!((s.low_confidence_share, s.nothing_share), (0.0, 0.0));
    }

    #[test]
    fn shifted_window_drifts() {
        let r = reference();
        let mut w = LiveWindow::new(config());
        for i in 0..200 {
            let class = if i % 4 == 0 { 2 } else { i % 2 };
            let confidence = if i % 5 == 0 { 0.3 } else { 0.9 };
            w.push(Observation {
                ts: 5000,
                features: photo(brightness(i) + 40.0),
                class,
                confidence,
                hand: None,
            });
        }
        let s = w.snapshot_at(&r, 5000);
        let b = s.feature("brightness").expect("brightness is monitored");
        assert!(b.psi > drift::PSI_DRIFT && b.ks > drift::KS_DRIFT, "{b:?}");
        assert!(s.drifting_features().contains(&"brightness"));
        assert!(!s.drifting_features().contains(&"width"));
        assert_eq!(s.class_level, DriftLevel::Drift, "{s:?}");
        assert_eq!(s.level, DriftLevel::Drift);
        assert!((s.low_confidence_share - 0.2).abs() < 1e-12);
        assert!((s.nothing_share - 0.25).abs() < 1e-12);
    }

    #[test]
    fn empty_window_is_calm() {
        let s = LiveWindow::new(WindowConfig::default()).snapshot_at(&reference(), 0);
        assert_eq!((s.window_images, s.enough_data, s.level), (0, false, DriftLevel::Ok));
        assert!(s.features.iter().all(|f| f.psi == 0.0 && f.ks == 0.0));
        assert_eq!((s.class_chi2_pvalue, s.class_js, s.nothing_share), (1.0, 0.0, 0.0));
    }
}
