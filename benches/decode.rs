//! Decoder speed with the bundled lexicon: `cargo bench --bench decode`.
//!
//! Plain `std::time::Instant` timing (no criterion): each case is decoded many times and the
//! mean, median and 99th percentile of one `Lexicon::decode` call are printed in µs.

use std::hint::black_box;
use std::time::{Duration, Instant};

use asl::classes::{CLASSES, NUM_CLASSES, class_index};
use asl::decode::{DecodeConfig, LetterProbs, Lexicon};

const WARMUP: usize = 200;
const ITERATIONS: usize = 5_000;

/// Photos for `text` ("HELLO WORLD"): 0.7 on the true class, 0.2 on the next letter
/// (a stand-in for a confusable neighbour), the rest spread over the other classes.
fn photos(text: &str) -> Vec<Vec<f32>> {
    text.chars()
        .map(|c| {
            let name = if c == ' ' { "space".to_string() } else { c.to_string() };
            let true_class = class_index(&name).expect("bench text uses A-Z and spaces");
            let neighbour = (true_class + 1) % 26;
            let mut v = vec![0.1 / (NUM_CLASSES - 2) as f32; NUM_CLASSES];
            v[true_class] = 0.7;
            if true_class < 26 {
                v[neighbour] = 0.2;
            } else {
                v[0] = 0.2;
            }
            v
        })
        .collect()
}

fn bench(name: &str, text: &str, lexicon: &Lexicon, cfg: &DecodeConfig) {
    let probs = photos(text);
    let inputs: Vec<LetterProbs> = probs
        .iter()
        .map(|p| LetterProbs {
            file: "photo.jpg",
            probs: p,
        })
        .collect();
    let decoded = lexicon.decode(&inputs, cfg).expect("valid inputs");
    for _ in 0..WARMUP {
        black_box(lexicon.decode(black_box(&inputs), cfg).ok());
    }
    let mut times: Vec<Duration> = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let started = Instant::now();
        black_box(lexicon.decode(black_box(&inputs), cfg).ok());
        times.push(started.elapsed());
    }
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = times.iter().map(|&d| us(d)).sum::<f64>() / times.len() as f64;
    let p50 = us(times[times.len() / 2]);
    let p99 = us(times[times.len() * 99 / 100]);
    println!(
        "{name:<28} {text:?} -> {:?} ({:.2}): mean {mean:.1} µs, p50 {p50:.1} µs, p99 {p99:.1} µs per decode",
        decoded.text, decoded.confidence
    );
}

fn main() {
    let started = Instant::now();
    let lexicon = Lexicon::bundled();
    println!(
        "bundled lexicon: {} words, parsed in {:.1} ms ({} classes)",
        lexicon.len(),
        started.elapsed().as_secs_f64() * 1e3,
        CLASSES.len()
    );
    let cfg = DecodeConfig::default();
    println!("config: {cfg:?}, {ITERATIONS} iterations each");
    bench("10-letter word", "BASKETBALL", lexicon, &cfg);
    bench("3-word phrase", "SEE YOU SOON", lexicon, &cfg);
    bench(
        "10-letter word, beam 64",
        "BASKETBALL",
        lexicon,
        &DecodeConfig { beam_width: 64, ..cfg },
    );
}
