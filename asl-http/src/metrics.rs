//! Prometheus metrics, one registry per server (tests run several servers in one process).
use std::time::Duration;

use asl_core::infer::ModelCard;
use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub images_per_request: Histogram,
    pub batch_size: Histogram,
    pub errors: IntCounterVec,
    pub in_flight: IntGauge,
    pub reloads: IntCounterVec,
    model_info: IntGaugeVec,
    /// Predictions by class (the served class mix).
    pub predictions: IntCounterVec,
    /// Predictions by the path that answered (`hand`, `no_hand_found`, `photo`).
    pub answer_paths: IntCounterVec,
    drift_no_hand: GaugeVec,
    drift_hand_presence: GaugeVec,
    drift_psi: GaugeVec,
    drift_ks: GaugeVec,
    drift_class_js: GaugeVec,
    drift_class_chi2_pvalue: GaugeVec,
    drift_low_confidence: GaugeVec,
    drift_nothing: GaugeVec,
    drift_window: IntGauge,
    drift_enough: IntGauge,
    /// Prediction-log rows dropped because the writer could not keep up.
    pub log_dropped: prometheus::IntCounter,
}

fn powers_of_two(max: f64) -> Vec<f64> {
    std::iter::successors(Some(1.0), |x| Some(x * 2.0))
        .take_while(|x| *x <= max)
        .collect()
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        // The process metrics every Prometheus exporter has (process_cpu_seconds_total,
        // process_resident_memory_bytes, process_open_fds, …); Linux only.
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("process metrics registered once");
        let http = RequestMetrics::register(&registry);
        let model = ModelMetrics::register(&registry);
        let drift = DriftMetrics::register(&registry);
        Metrics {
            registry,
            requests: http.requests,
            latency: http.latency,
            images_per_request: http.images_per_request,
            batch_size: http.batch_size,
            errors: http.errors,
            in_flight: http.in_flight,
            reloads: model.reloads,
            model_info: model.model_info,
            predictions: model.predictions,
            answer_paths: model.answer_paths,
            drift_no_hand: drift.no_hand,
            drift_hand_presence: drift.hand_presence,
            drift_psi: drift.psi,
            drift_ks: drift.ks,
            drift_class_js: drift.class_js,
            drift_class_chi2_pvalue: drift.class_chi2_pvalue,
            drift_low_confidence: drift.low_confidence,
            drift_nothing: drift.nothing,
            drift_window: drift.window,
            drift_enough: drift.enough,
            log_dropped: drift.log_dropped,
        }
    }

    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        self.requests.with_label_values(&[route, method, status.as_str()]).inc();
        self.latency.with_label_values(&[route]).observe(elapsed.as_secs_f64());
    }

    /// The info metric names exactly one model: the one being served.
    pub fn set_model(&self, card: Option<&ModelCard>) {
        self.model_info.reset();
        if let Some(c) = card {
            let labels = [
                c.name.clone(),
                c.created_at.to_string(),
                c.asl_version.clone(),
                c.format.to_string(),
                c.input_size.to_string(),
            ];
            self.model_info
                .with_label_values(&labels.each_ref().map(String::as_str))
                .set(1);
        }
    }

    /// Publish a drift snapshot.
    pub fn set_drift(&self, s: &asl_core::monitor::DriftSnapshot) {
        // Only the features this reference scores (a new model may score fewer).
        self.drift_psi.reset();
        self.drift_ks.reset();
        for f in &s.features {
            self.drift_psi.with_label_values(&[f.feature.as_str()]).set(f.psi);
            self.drift_ks.with_label_values(&[f.feature.as_str()]).set(f.ks);
        }
        self.drift_class_js.with_label_values(&[] as &[&str]).set(s.class_js);
        self.drift_class_chi2_pvalue
            .with_label_values(&[] as &[&str])
            .set(s.class_chi2_pvalue);
        self.drift_low_confidence
            .with_label_values(&[] as &[&str])
            .set(s.low_confidence_share);
        self.drift_nothing
            .with_label_values(&[] as &[&str])
            .set(s.nothing_share);
        // Absent, not zero, for a model without a hand path (or no hand seen yet).
        self.drift_no_hand.reset();
        self.drift_hand_presence.reset();
        if let Some(v) = s.no_hand_share {
            self.drift_no_hand.with_label_values(&[] as &[&str]).set(v);
        }
        if let Some(v) = s.mean_hand_presence {
            self.drift_hand_presence.with_label_values(&[] as &[&str]).set(v);
        }
        self.drift_window.set(s.window_images as i64);
        self.drift_enough.set(i64::from(s.enough_data));
    }

    /// No reference: no drift scores (absent, not zero).
    pub fn clear_drift(&self) {
        self.drift_psi.reset();
        self.drift_ks.reset();
        self.drift_class_js.reset();
        self.drift_class_chi2_pvalue.reset();
        self.drift_low_confidence.reset();
        self.drift_nothing.reset();
        self.drift_no_hand.reset();
        self.drift_hand_presence.reset();
        self.drift_window.set(0);
        self.drift_enough.set(0);
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding our own well-formed families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Adds `metric` to `registry` and hands it back (the registry keeps a clone; both count the
/// same values).
fn registered<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique");
    metric
}

/// The HTTP side: requests, their latency and size, errors.
struct RequestMetrics {
    requests: IntCounterVec,
    latency: HistogramVec,
    images_per_request: Histogram,
    batch_size: Histogram,
    errors: IntCounterVec,
    in_flight: IntGauge,
}

impl RequestMetrics {
    fn register(registry: &Registry) -> RequestMetrics {
        let requests = IntCounterVec::new(
            Opts::new("asl_http_requests_total", "HTTP requests by route and status"),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "asl_http_request_duration_seconds",
                "Time from request to response, by route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
            ]),
            &["route"],
        )
        .expect("valid metric");
        let images_per_request = Histogram::with_opts(
            HistogramOpts::new("asl_http_images_per_request", "Photos in one prediction request")
                .buckets(powers_of_two(512.0)),
        )
        .expect("valid metric");
        let batch_size = Histogram::with_opts(
            HistogramOpts::new("asl_http_batch_size", "Images in one forward pass of the model")
                .buckets(powers_of_two(1024.0)),
        )
        .expect("valid metric");
        let errors = IntCounterVec::new(
            Opts::new(
                "asl_http_errors_total",
                "Error responses by kind (the `error` code of the JSON body)",
            ),
            &["kind"],
        )
        .expect("valid metric");
        let in_flight =
            IntGauge::new("asl_http_requests_in_flight", "Requests being answered now").expect("valid metric");
        RequestMetrics {
            requests: registered(registry, requests),
            latency: registered(registry, latency),
            images_per_request: registered(registry, images_per_request),
            batch_size: registered(registry, batch_size),
            errors: registered(registry, errors),
            in_flight: registered(registry, in_flight),
        }
    }
}

/// The model side: which model is served, its reloads and what it answers.
struct ModelMetrics {
    reloads: IntCounterVec,
    model_info: IntGaugeVec,
    predictions: IntCounterVec,
    answer_paths: IntCounterVec,
}

impl ModelMetrics {
    fn register(registry: &Registry) -> ModelMetrics {
        let reloads = IntCounterVec::new(
            Opts::new("asl_http_model_reloads_total", "Model loads after start, by result"),
            &["result"],
        )
        .expect("valid metric");
        let model_info = IntGaugeVec::new(
            Opts::new("asl_model_info", "The model being served (value 1)"),
            &["name", "created_at", "asl_version", "format", "input_size"],
        )
        .expect("valid metric");
        let predictions = IntCounterVec::new(
            Opts::new("asl_predictions_total", "Predicted letters by class"),
            &["class"],
        )
        .expect("valid metric");
        let answer_paths = IntCounterVec::new(
            Opts::new(
                "asl_answer_path_total",
                "Answered photos by the path that answered: hand (landmarks read), no_hand_found or photo (the whole-photo CNN)",
            ),
            &["path"],
        )
        .expect("valid metric");
        ModelMetrics {
            reloads: registered(registry, reloads),
            model_info: registered(registry, model_info),
            predictions: registered(registry, predictions),
            answer_paths: registered(registry, answer_paths),
        }
    }
}

/// The live monitor: drift scores of the current window, and the prediction log's drops.
struct DriftMetrics {
    no_hand: GaugeVec,
    hand_presence: GaugeVec,
    psi: GaugeVec,
    ks: GaugeVec,
    class_js: GaugeVec,
    class_chi2_pvalue: GaugeVec,
    low_confidence: GaugeVec,
    nothing: GaugeVec,
    window: IntGauge,
    enough: IntGauge,
    log_dropped: prometheus::IntCounter,
}

impl DriftMetrics {
    fn register(registry: &Registry) -> DriftMetrics {
        let (psi, ks) = feature_drift_metrics();
        let (class_js, class_chi2_pvalue, low_confidence, nothing) = class_drift_metrics();
        let no_hand = GaugeVec::new(
            Opts::new(
                "asl_drift_no_hand_ratio",
                "Share of photos with no hand found in the live window (models with a hand path)",
            ),
            &[],
        )
        .expect("valid metric");
        let hand_presence = GaugeVec::new(
            Opts::new(
                "asl_drift_hand_presence_mean",
                "Mean hand-presence score of the hands found in the live window",
            ),
            &[],
        )
        .expect("valid metric");
        let window = IntGauge::new("asl_drift_window_images", "Photos in the live drift window").expect("valid metric");
        let enough = IntGauge::new(
            "asl_drift_enough_data",
            "1 when the window holds enough photos for the drift scores to mean something",
        )
        .expect("valid metric");
        let log_dropped = prometheus::IntCounter::new(
            "asl_monitor_log_dropped_total",
            "Prediction-log rows dropped since start (writer could not keep up)",
        )
        .expect("valid metric");
        DriftMetrics {
            no_hand: registered(registry, no_hand),
            hand_presence: registered(registry, hand_presence),
            psi: registered(registry, psi),
            ks: registered(registry, ks),
            class_js: registered(registry, class_js),
            class_chi2_pvalue: registered(registry, class_chi2_pvalue),
            low_confidence: registered(registry, low_confidence),
            nothing: registered(registry, nothing),
            window: registered(registry, window),
            enough: registered(registry, enough),
            log_dropped: registered(registry, log_dropped),
        }
    }
}

/// PSI and KS of each photo feature (unregistered).
fn feature_drift_metrics() -> (GaugeVec, GaugeVec) {
    let psi = GaugeVec::new(Opts::new("asl_drift_psi", "Population stability index of a photo feature, live window vs the model's reference (0.1 warn, 0.25 drift)"), &["feature"]).expect("valid metric");
    let ks = GaugeVec::new(
        Opts::new(
            "asl_drift_ks",
            "Kolmogorov-Smirnov statistic of a photo feature, live window vs reference (0.1 drift)",
        ),
        &["feature"],
    )
    .expect("valid metric");
    (psi, ks)
}

/// The predicted-class mix against the reference: JS distance, chi-square p-value, and the
/// low-confidence and `nothing` shares (unregistered).
fn class_drift_metrics() -> (GaugeVec, GaugeVec, GaugeVec, GaugeVec) {
    // Label-less vectors: absent (not stale) while no reference is loaded.
    let class_js = GaugeVec::new(
        Opts::new(
            "asl_drift_class_js",
            "Jensen-Shannon distance (base 2) of the predicted-class mix vs the reference",
        ),
        &[],
    )
    .expect("valid metric");
    let class_chi2_pvalue = GaugeVec::new(
        Opts::new(
            "asl_drift_class_chi2_pvalue",
            "Chi-square test p-value of the predicted-class counts vs the reference mix",
        ),
        &[],
    )
    .expect("valid metric");
    let low_confidence = GaugeVec::new(
        Opts::new(
            "asl_drift_low_confidence_ratio",
            "Share of low-confidence predictions in the live window",
        ),
        &[],
    )
    .expect("valid metric");
    let nothing = GaugeVec::new(
        Opts::new(
            "asl_drift_nothing_ratio",
            "Share of `nothing` predictions in the live window",
        ),
        &[],
    )
    .expect("valid metric");
    (class_js, class_chi2_pvalue, low_confidence, nothing)
}
