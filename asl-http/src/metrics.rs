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
        let drift_no_hand = GaugeVec::new(
            Opts::new(
                "asl_drift_no_hand_ratio",
                "Share of photos with no hand found in the live window (models with a hand path)",
            ),
            &[],
        )
        .expect("valid metric");
        let drift_hand_presence = GaugeVec::new(
            Opts::new(
                "asl_drift_hand_presence_mean",
                "Mean hand-presence score of the hands found in the live window",
            ),
            &[],
        )
        .expect("valid metric");
        let drift_psi = GaugeVec::new(Opts::new("asl_drift_psi", "Population stability index of a photo feature, live window vs the model's reference (0.1 warn, 0.25 drift)"), &["feature"]).expect("valid metric");
        let drift_ks = GaugeVec::new(
            Opts::new(
                "asl_drift_ks",
                "Kolmogorov-Smirnov statistic of a photo feature, live window vs reference (0.1 drift)",
            ),
            &["feature"],
        )
        .expect("valid metric");
        // Label-less vectors: absent (not stale) while no reference is loaded.
        let drift_class_js = GaugeVec::new(
            Opts::new(
                "asl_drift_class_js",
                "Jensen-Shannon distance (base 2) of the predicted-class mix vs the reference",
            ),
            &[],
        )
        .expect("valid metric");
        let drift_class_chi2_pvalue = GaugeVec::new(
            Opts::new(
                "asl_drift_class_chi2_pvalue",
                "Chi-square test p-value of the predicted-class counts vs the reference mix",
            ),
            &[],
        )
        .expect("valid metric");
        let drift_low_confidence = GaugeVec::new(
            Opts::new(
                "asl_drift_low_confidence_ratio",
                "Share of low-confidence predictions in the live window",
            ),
            &[],
        )
        .expect("valid metric");
        let drift_nothing = GaugeVec::new(
            Opts::new(
                "asl_drift_nothing_ratio",
                "Share of `nothing` predictions in the live window",
            ),
            &[],
        )
        .expect("valid metric");
        let drift_window =
            IntGauge::new("asl_drift_window_images", "Photos in the live drift window").expect("valid metric");
        let drift_enough = IntGauge::new(
            "asl_drift_enough_data",
            "1 when the window holds enough photos for the drift scores to mean something",
        )
        .expect("valid metric");
        let log_dropped = prometheus::IntCounter::new(
            "asl_monitor_log_dropped_total",
            "Prediction-log rows dropped since start (writer could not keep up)",
        )
        .expect("valid metric");
        for m in [
            Box::new(predictions.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(answer_paths.clone()),
            Box::new(drift_no_hand.clone()),
            Box::new(drift_hand_presence.clone()),
            Box::new(drift_psi.clone()),
            Box::new(drift_ks.clone()),
            Box::new(drift_class_js.clone()),
            Box::new(drift_class_chi2_pvalue.clone()),
            Box::new(drift_low_confidence.clone()),
            Box::new(drift_nothing.clone()),
            Box::new(drift_window.clone()),
            Box::new(drift_enough.clone()),
            Box::new(log_dropped.clone()),
            Box::new(requests.clone()),
            Box::new(latency.clone()),
            Box::new(images_per_request.clone()),
            Box::new(batch_size.clone()),
            Box::new(errors.clone()),
            Box::new(in_flight.clone()),
            Box::new(reloads.clone()),
            Box::new(model_info.clone()),
        ] {
            registry.register(m).expect("metric names are unique");
        }
        Metrics {
            registry,
            requests,
            latency,
            images_per_request,
            batch_size,
            errors,
            in_flight,
            reloads,
            model_info,
            predictions,
            answer_paths,
            drift_no_hand,
            drift_hand_presence,
            drift_psi,
            drift_ks,
            drift_class_js,
            drift_class_chi2_pvalue,
            drift_low_confidence,
            drift_nothing,
            drift_window,
            drift_enough,
            log_dropped,
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
