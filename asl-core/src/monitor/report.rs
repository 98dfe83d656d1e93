//! A drift report over logged predictions: one self-contained HTML file (inline CSS and SVG,
//! no script, no external URL), readable in a minute. The summary at the top says in words
//! what drifted; the charts below show it per day against the thresholds.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::MonitorError;
use super::drift::{self, DriftLevel, KS_DRIFT, MIN_IMAGES_FOR_DRIFT, PSI_DRIFT, PSI_WARN};
use super::features::FEATURE_NAMES;
use super::log::LoggedPrediction;
use super::sketch::{CONFIDENCE_BINS, ConfidenceHistogram, Reference, quantile_sorted};
use super::window::{DriftSnapshot, Observation, WindowConfig, snapshot_of};

const DAY: u64 = 86_400;
const COLOR_OK: &str = "#2e7d32";
const COLOR_WARN: &str = "#e69500";
const COLOR_DRIFT: &str = "#c62828";
const COLOR_REFERENCE: &str = "#9e9e9e";
const COLOR_LIVE: &str = "#1565c0";
const COLOR_KS: &str = "#8e24aa";

/// What each feature means, for readers who did not write the code.
fn describe(feature: &str) -> &'static str {
    match feature {
        "mean_r" => "mean red, 0–255",
        "mean_g" => "mean green, 0–255",
        "mean_b" => "mean blue, 0–255",
        "brightness" => "mean luma, 0–255",
        "contrast" => "spread of luma",
        "sharpness" => "edge strength; low means blurred",
        "aspect_ratio" => "width ÷ height",
        "width" => "photo width, px",
        "height" => "photo height, px",
        _ => "",
    }
}

/// One day (UTC) of predictions and its drift.
#[derive(Debug, Clone)]
pub struct DayStats {
    /// Unix seconds of the day's midnight, UTC.
    pub day_start: u64,
    /// Predictions logged that day.
    pub predictions: usize,
    /// The day's drift against the reference.
    pub drift: DriftSnapshot,
}

impl DayStats {
    /// The day as `YYYY-MM-DD` (UTC).
    pub fn date(&self) -> String {
        date(self.day_start)
    }
}

fn date(unix: u64) -> String {
    crate::clock::rfc3339(unix).chars().take(10).collect()
}

fn observation(row: &LoggedPrediction) -> Observation {
    Observation {
        ts: row.ts,
        features: row.features,
        class: row.class_index,
        confidence: row.confidence,
        // The log keeps no hand scores: reports leave the hand_found drift out.
        hand: None,
    }
}

fn report_config(class_names: &[&str]) -> WindowConfig {
    // No `nothing` among the classes: no prediction counts as one.
    let nothing_class = class_names
        .iter()
        .position(|c| c.eq_ignore_ascii_case("nothing"))
        .unwrap_or(usize::MAX);
    WindowConfig {
        nothing_class,
        ..WindowConfig::default()
    }
}

/// Drift per UTC day, oldest first.
pub fn daily_stats(rows: &[LoggedPrediction], reference: &Reference, class_names: &[&str]) -> Vec<DayStats> {
    let config = report_config(class_names);
    let mut days: BTreeMap<u64, Vec<Observation>> = BTreeMap::new();
    for row in rows {
        days.entry(row.ts / DAY * DAY).or_default().push(observation(row));
    }
    days.into_iter()
        .map(|(day_start, obs)| DayStats {
            day_start,
            predictions: obs.len(),
            drift: snapshot_of(&obs, reference, &config, day_start),
        })
        .collect()
}

/// Writes a rendered report atomically (a reader never sees half a page).
pub fn write_report(path: &Path, html: &str) -> Result<(), MonitorError> {
    crate::fsutil::write_atomic(path, html.as_bytes()).map_err(|source| MonitorError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The report of `rows` (any order) against `reference`; `class_names` in the model's
/// output order.
pub fn render_report(rows: &[LoggedPrediction], reference: &Reference, class_names: &[&str], title: &str) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{CSS}</style></head>\n<body>\n<h1>{}</h1>\n",
        esc(title),
        esc(title)
    );
    if rows.is_empty() {
        html.push_str(
            "<section class=\"summary level-none\"><h2>No predictions in this period</h2><p>The prediction log has no rows for the period asked for, so there is nothing to compare with the reference. Check that the server is running with monitoring on and that the period covers the time it answered requests.</p></section>\n",
        );
        reference_note(&mut html, reference);
        html.push_str(&footer());
        html.push_str("</body></html>\n");
        return html;
    }

    let config = report_config(class_names);
    let observations: Vec<Observation> = rows.iter().map(observation).collect();
    let (first, last) = rows
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), r| (lo.min(r.ts), hi.max(r.ts)));
    let overall = snapshot_of(&observations, reference, &config, last);
    let days = daily_stats(rows, reference, class_names);

    // Meta line: period, volume, models.
    let mut models: BTreeMap<&str, usize> = BTreeMap::new();
    rows.iter()
        .for_each(|r| *models.entry(r.model.as_str()).or_default() += 1);
    let models: Vec<String> = models.iter().map(|(m, n)| format!("{} ({n})", esc(m))).collect();
    let _ = writeln!(
        html,
        "<p class=\"meta\">{} to {} (UTC) · {} predictions over {} day{} · model{}: {}</p>",
        crate::clock::rfc3339(first),
        crate::clock::rfc3339(last),
        rows.len(),
        days.len(),
        plural(days.len()),
        plural(models.len()),
        models.join(", ")
    );

    summary(&mut html, rows, reference, class_names, &config, &overall, &days);
    volume_section(&mut html, &days);
    features_section(&mut html, rows, reference, &overall);
    daily_drift_section(&mut html, &days);
    classes_section(&mut html, rows, reference, class_names, &overall, &days);
    confidence_section(&mut html, rows, reference, &config, &days);
    days_section(&mut html, &days);
    reference_note(&mut html, reference);
    html.push_str(&footer());
    html.push_str("</body></html>\n");
    html
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn level_color(level: DriftLevel) -> &'static str {
    match level {
        DriftLevel::Ok => COLOR_OK,
        DriftLevel::Warn => COLOR_WARN,
        DriftLevel::Drift => COLOR_DRIFT,
    }
}

fn badge(level: DriftLevel) -> String {
    format!(
        "<span class=\"badge\" style=\"background:{}\">{}</span>",
        level_color(level),
        level.as_str()
    )
}

fn p_value(p: f64) -> String {
    if p < 0.001 {
        "&lt; 0.001".into()
    } else {
        format!("{p:.3}")
    }
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// A number with as many decimals as its size warrants.
fn num(v: f64) -> String {
    match v.abs() {
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    }
}

fn median_of(rows: &[LoggedPrediction], feature: &str) -> Option<f64> {
    let mut values: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.features.get(feature))
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(quantile_sorted(&values, 0.5))
}

/// Reference share of confidences below `threshold` (bins entirely below it).
fn reference_low_confidence(reference: &Reference, threshold: f32) -> f64 {
    let shares = reference.confidence_histogram.shares();
    shares
        .iter()
        .enumerate()
        .filter(|(i, _)| (*i + 1) as f32 / CONFIDENCE_BINS as f32 <= threshold)
        .map(|(_, s)| s)
        .sum()
}

fn summary(
    html: &mut String,
    rows: &[LoggedPrediction],
    reference: &Reference,
    class_names: &[&str],
    config: &WindowConfig,
    overall: &DriftSnapshot,
    days: &[DayStats],
) {
    let worst = overall
        .features
        .iter()
        .map(|f| f.level)
        .chain([overall.class_level])
        .max()
        .unwrap_or(DriftLevel::Ok);
    let (class_name, headline) = match (overall.enough_data, worst) {
        (false, _) => ("level-none", "Too few predictions to judge"),
        (true, DriftLevel::Ok) => ("level-ok", "No drift"),
        (true, DriftLevel::Warn) => ("level-warn", "Some change, below the drift threshold"),
        (true, DriftLevel::Drift) => ("level-drift", "Drift"),
    };
    let _ = writeln!(html, "<section class=\"summary {class_name}\"><h2>{headline}</h2><ul>");
    if !overall.enough_data {
        let _ = writeln!(
            html,
            "<li>Only {} predictions: below {MIN_IMAGES_FOR_DRIFT} the scores below are mostly sampling noise, read them as hints.</li>",
            overall.window_images
        );
    }
    summary_features(html, rows, reference, overall);
    summary_class_mix(html, rows, reference, class_names, overall);
    summary_confidence(html, reference, class_names, config, overall);
    summary_days(html, days);
    html.push_str("</ul></section>\n");
}

/// The summary's lines on the photo features: which drifted, which changed less.
fn summary_features(html: &mut String, rows: &[LoggedPrediction], reference: &Reference, overall: &DriftSnapshot) {
    let describe_feature = |f: &super::window::FeatureDrift| {
        let medians = match (
            reference.feature(&f.feature).map(|s| s.median()),
            median_of(rows, &f.feature),
        ) {
            (Some(r), Some(l)) => format!("; median {} → {}", num(r), num(l)),
            _ => String::new(),
        };
        format!("<b>{}</b> (PSI {:.2}, KS {:.2}{medians})", f.feature, f.psi, f.ks)
    };
    let drifting: Vec<String> = overall
        .features
        .iter()
        .filter(|f| f.level == DriftLevel::Drift)
        .map(describe_feature)
        .collect();
    let warning: Vec<String> = overall
        .features
        .iter()
        .filter(|f| f.level == DriftLevel::Warn)
        .map(describe_feature)
        .collect();
    if drifting.is_empty() && warning.is_empty() {
        let _ = writeln!(
            html,
            "<li>The photos look like the training photos: every feature has PSI below {PSI_WARN} and KS below {KS_DRIFT}.</li>"
        );
    }
    if !drifting.is_empty() {
        let _ = writeln!(
            html,
            "<li>The photos differ from the training photos in {}.</li>",
            join_words(&drifting)
        );
    }
    if !warning.is_empty() {
        let _ = writeln!(
            html,
            "<li>Smaller changes (warning level) in {}.</li>",
            join_words(&warning)
        );
    }
}

/// The summary's line on the class mix: when it drifted, the classes whose share moved most.
fn summary_class_mix(
    html: &mut String,
    rows: &[LoggedPrediction],
    reference: &Reference,
    class_names: &[&str],
    overall: &DriftSnapshot,
) {
    let live = class_counts(rows, reference.class_distribution.counts.len());
    let live_total = live.iter().sum::<u64>().max(1) as f64;
    let ref_shares = reference.class_distribution.proportions();
    let mut moves: Vec<(usize, f64)> = ref_shares
        .iter()
        .enumerate()
        .map(|(i, r)| (i, live[i] as f64 / live_total - r))
        .collect();
    moves.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    let moved: Vec<String> = moves
        .iter()
        .take(3)
        .filter(|(_, d)| d.abs() >= 0.01)
        .map(|(i, d)| {
            format!(
                "{} {:+.1} pts",
                esc(class_names.get(*i).copied().unwrap_or("?")),
                d * 100.0
            )
        })
        .collect();
    let stats = format!(
        "JS distance {:.2}, chi² p {}",
        overall.class_js,
        p_value(overall.class_chi2_pvalue)
    );
    if overall.class_level == DriftLevel::Drift {
        let _ = writeln!(
            html,
            "<li>The mix of predicted classes differs from the reference ({stats}); biggest moves: {}.</li>",
            moved.join(", ")
        );
    } else {
        let _ = writeln!(
            html,
            "<li>The mix of predicted classes is in line with the reference ({stats}).</li>"
        );
    }
}

/// The summary's lines on low-confidence and “nothing” predictions, against the reference.
fn summary_confidence(
    html: &mut String,
    reference: &Reference,
    class_names: &[&str],
    config: &WindowConfig,
    overall: &DriftSnapshot,
) {
    let _ = writeln!(
        html,
        "<li>{} of predictions had confidence below {} (reference {}).</li>",
        percent(overall.low_confidence_share),
        config.low_confidence,
        percent(reference_low_confidence(reference, config.low_confidence))
    );
    if let Some(nothing) = class_names.get(config.nothing_class) {
        let ref_shares = reference.class_distribution.proportions();
        let reference_share = ref_shares.get(config.nothing_class).copied().unwrap_or(0.0);
        let _ = writeln!(
            html,
            "<li>{} were “{}”, i.e. no hand seen (reference {}).</li>",
            percent(overall.nothing_share),
            esc(nothing),
            percent(reference_share)
        );
    }
}

/// The summary's line on the days: which drifted, or that none did.
fn summary_days(html: &mut String, days: &[DayStats]) {
    let drift_days: Vec<String> = days
        .iter()
        .filter(|d| d.drift.level == DriftLevel::Drift)
        .map(|d| {
            let what: Vec<&str> = d.drift.drifting_features();
            let what = if what.is_empty() {
                "class mix".to_string()
            } else {
                what.join(", ")
            };
            format!("{} ({what})", d.date())
        })
        .collect();
    let judged = days.iter().filter(|d| d.drift.enough_data).count();
    if !drift_days.is_empty() {
        let _ = writeln!(
            html,
            "<li>Drift on {} of {judged} days with enough data: {}.</li>",
            drift_days.len(),
            drift_days.join("; ")
        );
    } else if days.len() > 1 {
        let _ = writeln!(
            html,
            "<li>No single day drifted ({judged} of {} days had at least {MIN_IMAGES_FOR_DRIFT} predictions).</li>",
            days.len()
        );
    }
}

fn join_words(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn class_counts(rows: &[LoggedPrediction], classes: usize) -> Vec<u64> {
    let mut counts = vec![0u64; classes];
    for r in rows {
        if let Some(c) = counts.get_mut(r.class_index) {
            *c += 1;
        }
    }
    counts
}

fn volume_section(html: &mut String, days: &[DayStats]) {
    html.push_str("<section><h2>Requests per day</h2>\n");
    let bars: Vec<(String, f64)> = days.iter().map(|d| (d.date(), d.predictions as f64)).collect();
    html.push_str(&bar_chart(&bars, COLOR_LIVE, "predictions"));
    html.push_str("</section>\n");
}

fn features_section(html: &mut String, rows: &[LoggedPrediction], reference: &Reference, overall: &DriftSnapshot) {
    html.push_str("<section><h2>Photo features over the whole period</h2>\n<table><tr><th>feature</th><th>meaning</th><th>reference median</th><th>median here</th><th>PSI</th><th>KS</th><th>status</th></tr>\n");
    for f in &overall.features {
        let reference_median = reference
            .feature(&f.feature)
            .map(|s| num(s.median()))
            .unwrap_or_default();
        let live_median = median_of(rows, &f.feature).map(num).unwrap_or_default();
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td class=\"muted\">{}</td><td class=\"n\">{reference_median}</td><td class=\"n\">{live_median}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td><td>{}</td></tr>",
            f.feature,
            describe(&f.feature),
            f.psi,
            f.ks,
            badge(f.level)
        );
    }
    html.push_str("</table></section>\n");
}

fn daily_drift_section(html: &mut String, days: &[DayStats]) {
    let _ = write!(
        html,
        "<section><h2>Drift per feature, per day</h2>\n<p class=\"legend\"><span style=\"color:{COLOR_LIVE}\">━ PSI</span> &nbsp; <span style=\"color:{COLOR_KS}\">┅ KS</span> &nbsp; <span style=\"color:{COLOR_WARN}\">- - PSI warn {PSI_WARN} / KS drift {KS_DRIFT}</span> &nbsp; <span style=\"color:{COLOR_DRIFT}\">- - PSI drift {PSI_DRIFT}</span> &nbsp; hollow dots: fewer than {MIN_IMAGES_FOR_DRIFT} predictions that day</p>\n<div class=\"grid\">\n"
    );
    let labels: Vec<String> = days.iter().map(DayStats::date).collect();
    let thin: Vec<bool> = days.iter().map(|d| !d.drift.enough_data).collect();
    for name in FEATURE_NAMES {
        let psi: Vec<f64> = days
            .iter()
            .map(|d| d.drift.feature(name).map_or(0.0, |f| f.psi))
            .collect();
        let ks: Vec<f64> = days
            .iter()
            .map(|d| d.drift.feature(name).map_or(0.0, |f| f.ks))
            .collect();
        let worst = days
            .iter()
            .filter(|d| d.drift.enough_data)
            .filter_map(|d| d.drift.feature(name))
            .map(|f| f.level)
            .max()
            .unwrap_or(DriftLevel::Ok);
        let _ = write!(html, "<div class=\"card\"><h3>{name} {}</h3>", badge(worst));
        let series = [
            Series {
                color: COLOR_LIVE,
                dashed: false,
                values: &psi,
            },
            Series {
                color: COLOR_KS,
                dashed: true,
                values: &ks,
            },
        ];
        let thresholds = [(PSI_WARN, COLOR_WARN), (PSI_DRIFT, COLOR_DRIFT)];
        html.push_str(&line_chart(330.0, &labels, &series, &thresholds, &thin));
        html.push_str("</div>\n");
    }
    html.push_str("</div></section>\n");
}

fn classes_section(
    html: &mut String,
    rows: &[LoggedPrediction],
    reference: &Reference,
    class_names: &[&str],
    overall: &DriftSnapshot,
    days: &[DayStats],
) {
    let live = class_counts(rows, reference.class_distribution.counts.len());
    let live_total = live.iter().sum::<u64>().max(1) as f64;
    let live_shares: Vec<f64> = live.iter().map(|c| *c as f64 / live_total).collect();
    let ref_shares = reference.class_distribution.proportions();
    let labels: Vec<String> = (0..ref_shares.len())
        .map(|i| class_names.get(i).map_or_else(|| format!("#{i}"), |c| c.to_string()))
        .collect();
    let _ = write!(
        html,
        "<section><h2>Predicted classes vs reference {}</h2>\n<p>Whole period: JS distance {:.3} (drift at ≥ {} with chi² p &lt; {}), chi² p {}. <span style=\"color:{COLOR_REFERENCE}\">■ reference</span> <span style=\"color:{COLOR_LIVE}\">■ this period</span></p>\n",
        badge(overall.class_level),
        overall.class_js,
        drift::CLASS_JS_DRIFT,
        drift::CHI2_P_DRIFT,
        p_value(overall.class_chi2_pvalue)
    );
    html.push_str(&paired_hbars(&labels, &ref_shares, &live_shares));
    if days.len() > 1 {
        let labels: Vec<String> = days.iter().map(DayStats::date).collect();
        let js: Vec<f64> = days.iter().map(|d| d.drift.class_js).collect();
        let thin: Vec<bool> = days.iter().map(|d| !d.drift.enough_data).collect();
        html.push_str("<h3>Class-mix JS distance per day</h3>");
        html.push_str(&line_chart(
            900.0,
            &labels,
            &[Series {
                color: COLOR_LIVE,
                dashed: false,
                values: &js,
            }],
            &[(drift::CLASS_JS_DRIFT, COLOR_DRIFT)],
            &thin,
        ));
    }
    html.push_str("</section>\n");
}

fn confidence_section(
    html: &mut String,
    rows: &[LoggedPrediction],
    reference: &Reference,
    config: &WindowConfig,
    days: &[DayStats],
) {
    let live = ConfidenceHistogram::from_confidences(rows.iter().map(|r| r.confidence));
    let _ = write!(
        html,
        "<section><h2>Confidence of the predictions</h2>\n<p><span style=\"color:{COLOR_REFERENCE}\">■ reference</span> <span style=\"color:{COLOR_LIVE}\">■ this period</span> (share of predictions per 0.05 of confidence)</p>\n"
    );
    html.push_str(&paired_histogram(
        &reference.confidence_histogram.shares(),
        &live.shares(),
    ));
    if days.len() > 1 {
        let labels: Vec<String> = days.iter().map(DayStats::date).collect();
        let low: Vec<f64> = days.iter().map(|d| d.drift.low_confidence_share).collect();
        let nothing: Vec<f64> = days.iter().map(|d| d.drift.nothing_share).collect();
        let thin: Vec<bool> = days.iter().map(|d| !d.drift.enough_data).collect();
        let _ = write!(
            html,
            "<h3>Per day: <span style=\"color:{COLOR_LIVE}\">━ share below confidence {}</span> &nbsp; <span style=\"color:{COLOR_KS}\">┅ share “nothing”</span></h3>",
            config.low_confidence
        );
        let series = [
            Series {
                color: COLOR_LIVE,
                dashed: false,
                values: &low,
            },
            Series {
                color: COLOR_KS,
                dashed: true,
                values: &nothing,
            },
        ];
        html.push_str(&line_chart(900.0, &labels, &series, &[], &thin));
    }
    html.push_str("</section>\n");
}

fn days_section(html: &mut String, days: &[DayStats]) {
    html.push_str("<section><h2>Per day</h2>\n<table><tr><th>day</th><th>predictions</th><th>drifting features</th><th>class JS</th><th>chi² p</th><th>low confidence</th><th>nothing</th><th>status</th></tr>\n");
    for d in days {
        let drifting = d.drift.drifting_features().join(", ");
        let (drifting, status) = if d.drift.enough_data {
            (drifting, badge(d.drift.level))
        } else {
            (
                format!("<span class=\"muted\">{drifting}</span>"),
                "<span class=\"muted\">too few to judge</span>".into(),
            )
        };
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td class=\"n\">{}</td><td>{drifting}</td><td class=\"n\">{:.3}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{status}</td></tr>",
            d.date(),
            d.predictions,
            d.drift.class_js,
            p_value(d.drift.class_chi2_pvalue),
            percent(d.drift.low_confidence_share),
            percent(d.drift.nothing_share)
        );
    }
    html.push_str("</table></section>\n");
}

fn reference_note(html: &mut String, reference: &Reference) {
    let _ = writeln!(
        html,
        "<p class=\"muted\">Reference: {} photos, built {} (UTC).</p>",
        reference.n_images,
        crate::clock::rfc3339(reference.created_at)
    );
}

fn footer() -> String {
    format!(
        "<footer><p><b>How to read this.</b> PSI (population stability index) compares how photos spread over ten bins of the training data; below {PSI_WARN} is stable, {PSI_WARN}–{PSI_DRIFT} a moderate change, above {PSI_DRIFT} drift. KS is the largest gap between the two cumulative distributions; at or above {KS_DRIFT} it raises the level one step. The class mix drifts when its Jensen–Shannon distance is at least {} and the chi-square test is significant (p &lt; {}). Days with fewer than {MIN_IMAGES_FOR_DRIFT} predictions are shown but not judged. Generated {}.</p></footer>\n",
        drift::CLASS_JS_DRIFT,
        drift::CHI2_P_DRIFT,
        crate::clock::rfc3339(crate::clock::now_unix())
    )
}

const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#212121;line-height:1.45}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #e0e0e0;padding-bottom:.2em}h3{font-size:1em;margin:.6em 0 .3em}
.meta,.muted{color:#616161}.legend{font-size:.9em}
.summary{border-left:6px solid #9e9e9e;background:#fafafa;padding:.5em 1.2em;margin:1em 0}
.summary h2{border:0;margin:.3em 0}
.level-ok{border-color:#2e7d32}.level-warn{border-color:#e69500}.level-drift{border-color:#c62828}.level-none{border-color:#9e9e9e}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}th,td{padding:.25em .7em;border-bottom:1px solid #eee;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{color:#fff;border-radius:3px;padding:0 .45em;font-size:.8em;font-weight:600;vertical-align:middle}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:.8em}
.card{border:1px solid #e0e0e0;border-radius:4px;padding:.3em .6em}
svg{display:block;max-width:100%;height:auto}svg text{font-family:inherit;font-size:11px;fill:#424242}
footer{margin-top:2.5em;font-size:.88em;color:#616161;border-top:1px solid #e0e0e0}
";

// --- SVG helpers -----------------------------------------------------------------------------

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten, at least `max`.
fn nice_max(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|v| *v >= max * (1.0 - 1e-12))
        .unwrap_or(10.0 * magnitude)
}

fn tick_label(v: f64) -> String {
    if v >= 1000.0 || v == v.round() {
        format!("{v:.0}")
    } else {
        format!("{}", (v * 1000.0).round() / 1000.0)
    }
}

/// Which of `n` x labels to print so at most ~`room` show.
fn label_every(n: usize, room: usize) -> usize {
    n.div_ceil(room.max(1)).max(1)
}

struct Frame {
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    y_max: f64,
}

impl Frame {
    fn plot_width(&self) -> f64 {
        self.width - self.left - self.right
    }
    fn plot_height(&self) -> f64 {
        self.height - self.top - self.bottom
    }
    fn y(&self, v: f64) -> f64 {
        self.top + self.plot_height() * (1.0 - (v / self.y_max).clamp(0.0, 1.0))
    }
    /// Centre of slot `i` of `n`.
    fn x(&self, i: usize, n: usize) -> f64 {
        self.left + self.plot_width() * (i as f64 + 0.5) / n.max(1) as f64
    }

    fn open(&self, svg: &mut String, aria: &str) {
        let _ = write!(
            svg,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{}\">",
            esc(aria),
            w = self.width,
            h = self.height
        );
    }

    /// Horizontal grid lines and y tick labels at round steps (`y_max` is a "nice" number).
    fn y_axis(&self, svg: &mut String, percent: bool) {
        let leading = self.y_max / 10f64.powf(self.y_max.log10().floor());
        let steps = if (leading - 2.0).abs() < 1e-9 { 4 } else { 5 };
        for k in 0..=steps {
            let v = self.y_max * k as f64 / steps as f64;
            let y = self.y(v);
            let label = if percent {
                format!("{}%", tick_label(v * 100.0))
            } else {
                tick_label(v)
            };
            let _ = write!(
                svg,
                "<line x1=\"{l}\" x2=\"{r}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eee\"/><text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\">{label}</text>",
                l = self.left,
                r = self.width - self.right,
                tx = self.left - 4.0,
                ty = y + 4.0
            );
        }
    }

    /// Dates as x labels; narrow charts drop the year (`MM-DD`).
    fn x_labels(&self, svg: &mut String, labels: &[String]) {
        let narrow = self.width < 500.0;
        let every = label_every(
            labels.len(),
            (self.plot_width() / if narrow { 45.0 } else { 75.0 }) as usize,
        );
        for (i, label) in labels.iter().enumerate().filter(|(i, _)| i % every == 0) {
            let label = if narrow && label.len() == 10 {
                &label[5..]
            } else {
                label.as_str()
            };
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                self.x(i, labels.len()),
                self.height - 6.0,
                esc(label)
            );
        }
    }
}

fn bar_chart(bars: &[(String, f64)], color: &str, what: &str) -> String {
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max);
    let frame = Frame {
        width: 900.0,
        height: 200.0,
        left: 50.0,
        right: 10.0,
        top: 10.0,
        bottom: 24.0,
        y_max: nice_max(max),
    };
    let mut svg = String::new();
    frame.open(&mut svg, &format!("{what} per day"));
    frame.y_axis(&mut svg, false);
    let slot = frame.plot_width() / bars.len().max(1) as f64;
    let bar_width = (slot * 0.7).min(60.0);
    for (i, (label, v)) in bars.iter().enumerate() {
        let (x, y) = (frame.x(i, bars.len()) - bar_width / 2.0, frame.y(*v));
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_width:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{}: {v} {what}</title></rect>",
            frame.y(0.0) - y,
            esc(label)
        );
    }
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    frame.x_labels(&mut svg, &labels);
    svg.push_str("</svg>\n");
    svg
}

struct Series<'a> {
    color: &'a str,
    dashed: bool,
    values: &'a [f64],
}

/// Lines over days with dashed threshold lines; values above the axis are drawn at its top
/// (the axis stops at 2 so thresholds stay readable). `thin[i]`: day `i` had too little data
/// (hollow dot).
fn line_chart(width: f64, labels: &[String], series: &[Series], thresholds: &[(f64, &str)], thin: &[bool]) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .chain(thresholds.iter().map(|t| t.0 * 1.2))
        .fold(0.0, f64::max);
    let percent = thresholds.is_empty();
    let left = if percent { 44.0 } else { 36.0 };
    let frame = Frame {
        width,
        height: 150.0,
        left,
        right: 12.0,
        top: 8.0,
        bottom: 22.0,
        y_max: nice_max(max.min(2.0)),
    };
    let mut svg = String::new();
    frame.open(&mut svg, "scores per day");
    frame.y_axis(&mut svg, percent);
    for (v, color) in thresholds {
        let y = frame.y(*v);
        let _ = write!(
            svg,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"{color}\" stroke-dasharray=\"5 4\"/>",
            frame.left,
            frame.width - frame.right
        );
    }
    let n = labels.len();
    for s in series {
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", frame.x(i, n), frame.y(*v)))
            .collect();
        if points.len() > 1 {
            let dash = if s.dashed { " stroke-dasharray=\"2 3\"" } else { "" };
            let _ = write!(
                svg,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\"{dash}/>",
                points.join(" "),
                s.color
            );
        }
        for (i, v) in s.values.iter().enumerate() {
            let fill = if thin.get(i).copied().unwrap_or(false) {
                "#fff"
            } else {
                s.color
            };
            let label = labels.get(i).map(String::as_str).unwrap_or("");
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.8\" fill=\"{fill}\" stroke=\"{}\"><title>{}: {:.3}</title></circle>",
                frame.x(i, n),
                frame.y(*v),
                s.color,
                esc(label),
                v
            );
        }
    }
    frame.x_labels(&mut svg, labels);
    svg.push_str("</svg>\n");
    svg
}

/// One row per class: the reference share (grey) over this period's share (blue).
fn paired_hbars(labels: &[String], reference: &[f64], live: &[f64]) -> String {
    let row = 16.0;
    let (left, right, top) = (70.0, 60.0, 4.0);
    let width = 900.0;
    let height = top + row * labels.len() as f64 + 4.0;
    let max = reference.iter().chain(live).copied().fold(0.0, f64::max);
    let scale = (width - left - right) / nice_max(max);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"class shares, reference and this period\">"
    );
    for (i, label) in labels.iter().enumerate() {
        let y = top + row * i as f64;
        let (r, l) = (
            reference.get(i).copied().unwrap_or(0.0),
            live.get(i).copied().unwrap_or(0.0),
        );
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><rect x=\"{left}\" y=\"{:.1}\" width=\"{:.1}\" height=\"6\" fill=\"{COLOR_REFERENCE}\"><title>reference {}</title></rect><rect x=\"{left}\" y=\"{:.1}\" width=\"{:.1}\" height=\"7\" fill=\"{COLOR_LIVE}\"><title>this period {}</title></rect><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            left - 6.0,
            y + 11.0,
            esc(label),
            y + 1.0,
            r * scale,
            percent(r),
            y + 7.0,
            l * scale,
            percent(l),
            left + l.max(r) * scale + 4.0,
            y + 12.0,
            percent(l)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Confidence histograms side by side per bin.
fn paired_histogram(reference: &[f64], live: &[f64]) -> String {
    let max = reference.iter().chain(live).copied().fold(0.0, f64::max);
    let frame = Frame {
        width: 900.0,
        height: 200.0,
        left: 50.0,
        right: 10.0,
        top: 10.0,
        bottom: 24.0,
        y_max: nice_max(max),
    };
    let mut svg = String::new();
    frame.open(&mut svg, "confidence histogram, reference and this period");
    frame.y_axis(&mut svg, true);
    let bins = reference.len().max(live.len());
    let slot = frame.plot_width() / bins.max(1) as f64;
    for i in 0..bins {
        let x = frame.left + slot * i as f64;
        for (k, (shares, color)) in [(reference, COLOR_REFERENCE), (live, COLOR_LIVE)]
            .into_iter()
            .enumerate()
        {
            let v = shares.get(i).copied().unwrap_or(0.0);
            let y = frame.y(v);
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{:.2}–{:.2}: {}</title></rect>",
                x + slot * (0.1 + 0.4 * k as f64),
                slot * 0.4,
                frame.y(0.0) - y,
                i as f64 / bins as f64,
                (i + 1) as f64 / bins as f64,
                percent(v)
            );
        }
    }
    for tick in 0..=4 {
        let v = tick as f64 / 4.0;
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{v}</text>",
            frame.left + frame.plot_width() * v,
            frame.height - 6.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::features::ImageFeatures;

    const CLASSES: [&str; 3] = ["A", "B", "nothing"];

    fn photo(brightness: f64) -> ImageFeatures {
        ImageFeatures {
            mean_r: 100.0,
            mean_g: 100.0,
            mean_b: 100.0,
            brightness,
            contrast: 30.0,
            sharpness: 50.0,
            aspect_ratio: 1.0,
            width: 200,
            height: 200,
        }
    }

    fn brightness(i: usize) -> f64 {
        80.0 + (i * 37 % 400) as f64 / 5.0
    }

    fn reference() -> Reference {
        let features: Vec<ImageFeatures> = (0..400).map(|i| photo(brightness(i))).collect();
        let predicted: Vec<usize> = (0..400).map(|i| i % 2).collect();
        Reference::from_samples(&features, &predicted, &vec![0.9; 400], &CLASSES).expect("valid reference")
    }

    fn rows(day: u64, n: usize, shift: f64, class: impl Fn(usize) -> usize) -> Vec<LoggedPrediction> {
        (0..n)
            .map(|i| LoggedPrediction {
                ts: day * DAY + 3600 + i as u64,
                model: "asl-<test>".into(),
                request_id: format!("r{i}"),
                class_index: class(i),
                class: CLASSES[class(i)].into(),
                confidence: if i % 10 == 0 { 0.3 } else { 0.92 },
                features: photo(brightness(i) + shift),
            })
            .collect()
    }

    #[test]
    fn empty_period_says_so() {
        let html = render_report(&[], &reference(), &CLASSES, "Weekly <report>");
        assert!(html.contains("No predictions in this period"));
        assert!(html.contains("Weekly &lt;report&gt;"));
        assert!(!html.contains("<svg"));
    }

    #[test]
    fn names_the_drifting_feature() {
        // Day 1 like the reference, day 2 brighter with more "nothing".
        let mut all = rows(20_000, 300, 0.0, |i| i % 2);
        all.extend(rows(20_001, 300, 40.0, |i| if i % 3 == 0 { 2 } else { i % 2 }));
        let html = render_report(&all, &reference(), &CLASSES, "asl drift");
        let summary = &html[html.find("class=\"summary").expect("summary")..html.find("</section>").expect("end")];
        assert!(summary.contains("level-drift"), "{summary}");
        assert!(summary.contains("<b>brightness</b>"), "{summary}");
        assert!(!summary.contains("<b>contrast</b>"), "{summary}");
        assert!(summary.contains("2024-10-05 (brightness)"), "{summary}");
        assert!(summary.contains("differs from the reference"), "{summary}");
        assert!(html.contains("asl-&lt;test&gt; (600)"));
        // Self-contained: no script, no external resource.
        let outside_svg_namespace = html.replace("http://www.w3.org/2000/svg", "");
        assert!(!html.contains("<script") && !outside_svg_namespace.contains("http://") && !html.contains("https://"));
        assert!(!html.contains("NaN") && !html.contains(">inf") && !html.contains(" inf"));
    }

    #[test]
    fn calm_period_is_calm() {
        let all = rows(20_000, 400, 0.0, |i| i % 2);
        let html = render_report(&all, &reference(), &CLASSES, "asl drift");
        assert!(
            html.contains("class=\"summary level-ok\""),
            "{}",
            &html[..html.len().min(4000)]
        );
        assert!(html.contains("The photos look like the training photos"));
    }

    #[test]
    fn few_rows_are_flagged() {
        let all = rows(20_000, 20, 0.0, |i| i % 2);
        let html = render_report(&all, &reference(), &CLASSES, "asl drift");
        assert!(html.contains("Too few predictions to judge"));
    }

    #[test]
    fn writes_atomically() {
        let dir = std::env::temp_dir().join(format!("asl-report-{}", std::process::id()));
        let path = dir.join("report.html");
        write_report(&path, "<p>hi</p>").expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "<p>hi</p>");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn nice_axis_bounds() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(0.27), 0.5);
        assert_eq!(nice_max(3.0), 5.0);
        assert_eq!(nice_max(1000.0), 1000.0);
        assert_eq!(nice_max(1001.0), 2000.0);
    }
}
