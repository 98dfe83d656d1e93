//! Measures what [`Lexicon::decode`] gains over [`decode::raw`], without running a model.
//!
//! The input is a *probability bank*: for each of the 29 classes, the probability vectors a
//! trained model produced for held-out photos of that class. [`evaluate`] spells words with
//! them: for each letter of a word it draws a random vector of that letter's class, so the
//! classifier's real confusions are replayed. Words (3 to 10 letters) are drawn from the
//! lexicon in proportion to their counts; about 10% of the sequences are made-up names that
//! are not in the lexicon, to measure what the lexicon breaks.
//!
//! Noise (`noise` = η in 0..=1) makes the bank's vectors harder: each vector p becomes
//! `(1 - η) p + η d`, where d is a random spiky distribution over the 26 letters
//! (d_j ∝ e_j^4 with e_j ~ Exp(1), so most of its mass sits on one or two random letters: a
//! random confusion rather than a uniform blur). η = 0 leaves the vectors unchanged. Noise
//! never moves mass to space/del/nothing, so word boundaries stay as the bank has them.
//!
//! Everything is deterministic for a seed (a splitmix64 generator), except `mean_decode_us`.

use std::cmp::Ordering;
use std::time::Instant;

use crate::classes::{CLASSES, NUM_CLASSES, NUM_LETTERS, is_letter};
use crate::decode::{self, DecodeConfig, DecodeError, DecodeOptions, LetterProbs, Lexicon};

/// Share of sequences that are made-up out-of-lexicon names.
const OOV_SHARE: f64 = 0.1;
const MIN_WORD_LEN: usize = 3;
const MAX_WORD_LEN: usize = 10;
/// Most raw-correct sequences the lexicon may break, as a fraction of n, for [`tune`].
pub const MAX_TURNED_WRONG_RATE: f64 = 1.0 / 200.0;

/// Why an evaluation or a tuning run could not start: a malformed probability bank, a lexicon
/// with nothing to spell, or a decoder error.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The bank does not have one entry per class (the number it has).
    #[error("probability bank has {0} classes, expected {NUM_CLASSES}")]
    BankClasses(usize),
    #[error("probability bank has no vectors for class {0}")]
    /// A letter class has no vectors to draw from (the class named).
    EmptyClass(&'static str),
    #[error("probability bank vector for class {class} has {found} entries, expected {NUM_CLASSES}")]
    /// A vector does not have one probability per class.
    BankVectorLength {
        /// The class whose vector is wrong.
        class: &'static str,
        /// How many entries the vector has.
        found: usize,
    },
    #[error("the lexicon has no words of {MIN_WORD_LEN} to {MAX_WORD_LEN} letters")]
    /// The lexicon has no word of 3 to 10 letters to spell.
    NoWords,
    /// Raw or lexicon decoding failed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Results of one evaluation. Accuracies are exact matches of the whole text; CER is the
/// total Levenshtein distance over the total reference length.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EvalReport {
    /// Number of sequences decoded.
    pub n: usize,
    /// The noise level η the bank's vectors were mixed with, as passed in.
    pub noise: f32,
    /// Share of sequences [`decode::raw`] read exactly right, in 0..=1.
    pub raw_word_acc: f32,
    /// Share of sequences [`Lexicon::decode`] read exactly right, in 0..=1.
    pub lexicon_word_acc: f32,
    /// Character error rate of [`decode::raw`].
    pub raw_cer: f32,
    /// Character error rate of [`Lexicon::decode`].
    pub lexicon_cer: f32,
    /// Sequences raw read right and the lexicon got wrong.
    pub raw_correct_turned_wrong: usize,
    /// Sequences raw read wrong and the lexicon got right.
    pub wrong_turned_correct: usize,
    /// How many sequences were made-up names, and the accuracies on them alone.
    pub oov_n: usize,
    /// Share of the made-up names [`decode::raw`] read exactly right.
    pub raw_oov_acc: f32,
    /// Share of the made-up names [`Lexicon::decode`] read exactly right.
    pub lexicon_oov_acc: f32,
    /// Mean wall time of one `Lexicon::decode` call, in microseconds.
    pub mean_decode_us: f32,
}

/// The values [`tune`] tries; every combination is evaluated. The OOV log prior is in the
/// grid too because what matters for unknown words is `prior_weight * oov_log_prior`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TuneGrid {
    /// Values of [`DecodeConfig::prior_weight`] tried.
    pub prior_weights: Vec<f32>,
    /// Values of [`DecodeConfig::oov_min_confidence`] tried (above 1 never trusts an unknown word).
    pub oov_min_confidences: Vec<f32>,
    /// Values of [`DecodeConfig::beam_width`] tried.
    pub beam_widths: Vec<usize>,
    /// Values of [`DecodeConfig::oov_log_prior`] tried.
    pub oov_log_priors: Vec<f32>,
}

impl Default for TuneGrid {
    fn default() -> Self {
        TuneGrid {
            prior_weights: vec![0.05, 0.1, 0.2, 0.3, 0.5, 1.0],
            // 1.01 never trusts an unknown word.
            oov_min_confidences: vec![0.8, 0.9, 0.95, 0.99, 1.01],
            beam_widths: vec![8, 16, 32],
            oov_log_priors: vec![-14.0, -16.0, -18.0, -22.0],
        }
    }
}

/// What [`tune`] found: the chosen configuration, its report and every configuration tried.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TuneResult {
    /// The chosen configuration (`base` itself when the grid is empty).
    pub best: DecodeConfig,
    /// The evaluation of `best` on the tuning sequences.
    pub report: EvalReport,
    /// Whether `best` meets `raw_correct_turned_wrong / n <= MAX_TURNED_WRONG_RATE`.
    pub feasible: bool,
    /// Every configuration tried, in grid order.
    pub tried: Vec<(DecodeConfig, EvalReport)>,
}

/// Builds `n` sequences from `bank` (see the module docs) and decodes each with [`decode::raw`]
/// and with `lexicon.decode(cfg)`.
pub fn evaluate(
    bank: &[Vec<Vec<f32>>],
    lexicon: &Lexicon,
    cfg: &DecodeConfig,
    seed: u64,
    n: usize,
    noise: f32,
) -> Result<EvalReport, EvalError> {
    let cases = build_cases(bank, lexicon, seed, n, noise, &DecodeOptions::from(cfg))?;
    run_cases(&cases, lexicon, cfg, noise)
}

/// Grid-searches prior weight × OOV confidence × beam width × OOV log prior on one set of
/// sequences (other fields from `base`). The best configuration has the highest lexicon word accuracy among
/// those that break at most n/200 sequences raw read right (ties: fewer broken, then the
/// smaller beam, then grid order). If none qualifies, the one that breaks fewest wins.
pub fn tune(
    bank: &[Vec<Vec<f32>>],
    lexicon: &Lexicon,
    base: &DecodeConfig,
    grid: &TuneGrid,
    seed: u64,
    n: usize,
    noise: f32,
) -> Result<TuneResult, EvalError> {
    let cases = build_cases(bank, lexicon, seed, n, noise, &DecodeOptions::from(base))?;
    let mut tried = Vec::new();
    for &prior_weight in &grid.prior_weights {
        for &oov_min_confidence in &grid.oov_min_confidences {
            for &beam_width in &grid.beam_widths {
                for &oov_log_prior in &grid.oov_log_priors {
                    let cfg = DecodeConfig {
                        prior_weight,
                        oov_min_confidence,
                        beam_width,
                        oov_log_prior,
                        ..*base
                    };
                    let report = run_cases(&cases, lexicon, &cfg, noise)?;
                    tried.push((cfg, report));
                }
            }
        }
    }
    // The best: highest rank, the first one on ties.
    let mut best: Option<usize> = None;
    for (i, (cfg, r)) in tried.iter().enumerate() {
        if best.is_none_or(|b| rank(cfg, r).partial_cmp(&rank(&tried[b].0, &tried[b].1)) == Some(Ordering::Greater)) {
            best = Some(i);
        }
    }
    let Some(b) = best else {
        // An empty grid: report the base configuration.
        let report = run_cases(&cases, lexicon, base, noise)?;
        return Ok(TuneResult {
            best: *base,
            feasible: feasible(&report),
            report,
            tried,
        });
    };
    let (best, report) = tried[b].clone();
    Ok(TuneResult {
        best,
        feasible: feasible(&report),
        report,
        tried,
    })
}

fn feasible(r: &EvalReport) -> bool {
    r.raw_correct_turned_wrong as f64 <= MAX_TURNED_WRONG_RATE * r.n as f64
}

/// Order of preference in [`tune`]: feasible first; then accuracy, fewer broken, smaller beam
/// (or, among infeasible ones, fewer broken before accuracy).
fn rank(cfg: &DecodeConfig, r: &EvalReport) -> (bool, f32, f32, f32) {
    let (acc, broken, beam) = (
        r.lexicon_word_acc,
        -(r.raw_correct_turned_wrong as f32),
        -(cfg.beam_width as f32),
    );
    if feasible(r) {
        (true, acc, broken, beam)
    } else {
        (false, broken, acc, beam)
    }
}

/// A bank for testing without a model: `per_class` vectors per class. The true class gets
/// 0.3..0.99 (median about 0.8), a confusable neighbour (by handshape, e.g. A/S/E/T, M/N,
/// U/V/R) most of the rest, and the remainder is spread at random; so the argmax is wrong
/// for roughly 5% of photos, mostly towards the neighbour.
pub fn synthetic_bank(seed: u64, per_class: usize) -> Vec<Vec<Vec<f32>>> {
    // Letters each letter is confused with (by index A..Z).
    const NEIGHBOURS: [&str; NUM_LETTERS] = [
        "SET", "FE", "O", "IF", "SAO", "DBW", "HQ", "GU", "JY", "I", "VP", "G", "NS", "MT", "CE", "KQ", "PG", "U",
        "AET", "ASN", "VR", "UK", "FV", "D", "I", "D",
    ];
    let mut rng = Rng::new(seed);
    let mut bank = Vec::with_capacity(NUM_CLASSES);
    for class in 0..NUM_CLASSES {
        let mut vectors = Vec::with_capacity(per_class);
        for _ in 0..per_class {
            let mut v: Vec<f32> = (0..NUM_CLASSES).map(|_| rng.exp() as f32).collect();
            v[class] = 0.0;
            let spread: f32 = v.iter().sum();
            let t = 0.3 + 0.69 * rng.next_f64().sqrt();
            let rest = 1.0 - t;
            let neighbour = NEIGHBOURS
                .get(class)
                .map(|n| n.as_bytes())
                .filter(|n| !n.is_empty())
                .map(|n| usize::from(n[rng.below(n.len())] - b'A'));
            let neighbour_share = if neighbour.is_some() {
                0.5 + 0.5 * rng.next_f64()
            } else {
                0.0
            };
            for x in v.iter_mut() {
                *x *= ((1.0 - neighbour_share) * rest) as f32 / spread;
            }
            if let Some(nb) = neighbour {
                v[nb] += (neighbour_share * rest) as f32;
            }
            v[class] = t as f32;
            vectors.push(v);
        }
        bank.push(vectors);
    }
    bank
}

/// One test sequence: its true text, the probability vectors of its photos (29 each,
/// concatenated) and what [`decode::raw`] reads from them.
struct Case {
    text: String,
    oov: bool,
    probs: Vec<f32>,
    raw: String,
}

fn check_bank(bank: &[Vec<Vec<f32>>]) -> Result<(), EvalError> {
    if bank.len() != NUM_CLASSES {
        return Err(EvalError::BankClasses(bank.len()));
    }
    for (class, vectors) in CLASSES.iter().zip(bank) {
        if let Some(v) = vectors.iter().find(|v| v.len() != NUM_CLASSES) {
            return Err(EvalError::BankVectorLength { class, found: v.len() });
        }
    }
    // Only letters are spelled.
    if let Some(i) = (0..NUM_LETTERS).find(|&i| bank[i].is_empty()) {
        return Err(EvalError::EmptyClass(CLASSES[i]));
    }
    Ok(())
}

fn build_cases(
    bank: &[Vec<Vec<f32>>],
    lexicon: &Lexicon,
    seed: u64,
    n: usize,
    noise: f32,
    opts: &DecodeOptions,
) -> Result<Vec<Case>, EvalError> {
    check_bank(bank)?;
    let mut words = Vec::new();
    let mut cumulative = Vec::new();
    let mut total = 0.0f64;
    lexicon.for_each_word(|w, log_prior| {
        if (MIN_WORD_LEN..=MAX_WORD_LEN).contains(&w.len()) {
            total += f64::from(log_prior).exp();
            words.push(w.to_string());
            cumulative.push(total);
        }
    });
    if words.is_empty() {
        return Err(EvalError::NoWords);
    }

    let noise = noise.clamp(0.0, 1.0);
    let mut rng = Rng::new(seed);
    // Noise draws its own stream, so every noise level spells the same words with the same
    // bank vectors.
    let mut noise_rng = Rng::new(seed ^ 0x6E6F_6973_6521);
    let mut cases = Vec::with_capacity(n);
    for _ in 0..n {
        let oov = rng.next_f64() < OOV_SHARE;
        let text = if oov {
            made_up_name(&mut rng, lexicon)
        } else {
            let x = rng.next_f64() * total;
            let i = cumulative.partition_point(|&c| c <= x).min(words.len() - 1);
            words[i].clone()
        };
        let mut probs = Vec::with_capacity(text.len() * NUM_CLASSES);
        for b in text.bytes() {
            let class = usize::from(b - b'A');
            let vectors = &bank[class];
            let start = probs.len();
            probs.extend_from_slice(&vectors[rng.below(vectors.len())]);
            if noise > 0.0 {
                add_noise(&mut probs[start..], noise, &mut noise_rng);
            }
        }
        let inputs: Vec<LetterProbs> = probs
            .chunks(NUM_CLASSES)
            .map(|probs| LetterProbs { file: "", probs })
            .collect();
        let raw = decode::raw(&inputs, opts)?.text;
        cases.push(Case { text, oov, probs, raw });
    }
    Ok(cases)
}

/// `(1 - noise) p + noise d` with d a random spiky distribution over the letters.
fn add_noise(p: &mut [f32], noise: f32, rng: &mut Rng) {
    let mut d = [0.0f64; NUM_LETTERS];
    for x in d.iter_mut() {
        *x = rng.exp().powi(4);
    }
    let sum: f64 = d.iter().sum();
    for (i, x) in p.iter_mut().enumerate() {
        let extra = if is_letter(i) { (d[i] / sum) as f32 } else { 0.0 };
        *x = (1.0 - noise) * *x + noise * extra;
    }
}

/// A random 3..=8 letter name that is not in the lexicon: half consonant-vowel patterns
/// ("KAVOTE"), half random letters.
fn made_up_name(rng: &mut Rng, lexicon: &Lexicon) -> String {
    const VOWELS: &[u8] = b"AEIOUY";
    const CONSONANTS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
    loop {
        let len = 3 + rng.below(6);
        let pattern = rng.next_f64() < 0.5;
        let vowel_first = rng.next_f64() < 0.5;
        let name: String = (0..len)
            .map(|i| {
                let set: &[u8] = match pattern {
                    true if (i % 2 == 0) == vowel_first => VOWELS,
                    true => CONSONANTS,
                    false => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                };
                char::from(set[rng.below(set.len())])
            })
            .collect();
        if !lexicon.contains(&name) {
            return name;
        }
    }
}

fn run_cases(cases: &[Case], lexicon: &Lexicon, cfg: &DecodeConfig, noise: f32) -> Result<EvalReport, EvalError> {
    let mut inputs: Vec<LetterProbs> = Vec::new();
    let mut lev = Levenshtein::default();
    let (mut raw_ok, mut lex_ok, mut broken, mut fixed) = (0usize, 0usize, 0usize, 0usize);
    let (mut oov_n, mut raw_oov_ok, mut lex_oov_ok) = (0usize, 0usize, 0usize);
    let (mut raw_dist, mut lex_dist, mut ref_len) = (0usize, 0usize, 0usize);
    let mut decode_secs = 0.0f64;
    for case in cases {
        inputs.clear();
        inputs.extend(
            case.probs
                .chunks(NUM_CLASSES)
                .map(|probs| LetterProbs { file: "", probs }),
        );
        let started = Instant::now();
        let lex = lexicon.decode(&inputs, cfg)?;
        decode_secs += started.elapsed().as_secs_f64();

        let (r, l) = (case.raw == case.text, lex.text == case.text);
        raw_ok += usize::from(r);
        lex_ok += usize::from(l);
        broken += usize::from(r && !l);
        fixed += usize::from(!r && l);
        if case.oov {
            oov_n += 1;
            raw_oov_ok += usize::from(r);
            lex_oov_ok += usize::from(l);
        }
        raw_dist += lev.distance(&case.raw, &case.text);
        lex_dist += lev.distance(&lex.text, &case.text);
        ref_len += case.text.chars().count();
    }
    let ratio = |a: usize, b: usize| {
        if b == 0 { 0.0 } else { (a as f64 / b as f64) as f32 }
    };
    Ok(EvalReport {
        n: cases.len(),
        noise,
        raw_word_acc: ratio(raw_ok, cases.len()),
        lexicon_word_acc: ratio(lex_ok, cases.len()),
        raw_cer: ratio(raw_dist, ref_len),
        lexicon_cer: ratio(lex_dist, ref_len),
        raw_correct_turned_wrong: broken,
        wrong_turned_correct: fixed,
        oov_n,
        raw_oov_acc: ratio(raw_oov_ok, oov_n),
        lexicon_oov_acc: ratio(lex_oov_ok, oov_n),
        mean_decode_us: if cases.is_empty() {
            0.0
        } else {
            (decode_secs * 1e6 / cases.len() as f64) as f32
        },
    })
}

/// Levenshtein distance over chars, reusing its buffers.
#[derive(Default)]
struct Levenshtein {
    a: Vec<char>,
    prev: Vec<usize>,
    cur: Vec<usize>,
}

impl Levenshtein {
    fn distance(&mut self, a: &str, b: &str) -> usize {
        self.a.clear();
        self.a.extend(a.chars());
        self.prev.clear();
        self.prev.extend(0..=self.a.len());
        for (j, cb) in b.chars().enumerate() {
            self.cur.clear();
            self.cur.push(j + 1);
            for (i, &ca) in self.a.iter().enumerate() {
                let substitute = self.prev[i] + usize::from(ca != cb);
                let best = substitute.min(self.prev[i + 1] + 1).min(self.cur[i] + 1);
                self.cur.push(best);
            }
            std::mem::swap(&mut self.prev, &mut self.cur);
        }
        self.prev[self.a.len()]
    }
}

/// splitmix64: tiny, fast, and good enough for sampling test data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in 0..n (n > 0); the multiply-shift bias is negligible for small n.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Exp(1).
    fn exp(&mut self) -> f64 {
        -(1.0 - self.next_f64()).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_lexicon() -> Lexicon {
        Lexicon::from_str("HELLO 50\nWORLD 40\nSEAT 30\nMEAT 20\nNEAT 10\nTEAM 5\nSTEAM 5\nCAT 60\nCUT 20\n").unwrap()
    }

    #[test]
    fn perfect_bank_reads_everything() {
        let mut bank = vec![Vec::new(); NUM_CLASSES];
        for (class, vectors) in bank.iter_mut().enumerate() {
            let mut v = vec![0.0; NUM_CLASSES];
            v[class] = 1.0;
            vectors.push(v);
        }
        let r = evaluate(&bank, &small_lexicon(), &DecodeConfig::default(), 7, 300, 0.0).unwrap();
        assert_eq!(
            (r.n, r.raw_word_acc, r.lexicon_word_acc, r.raw_cer, r.lexicon_cer),
            (300, 1.0, 1.0, 0.0, 0.0)
        );
        assert_eq!((r.raw_correct_turned_wrong, r.wrong_turned_correct), (0, 0));
        assert!(r.oov_n > 10 && r.oov_n < 60, "{}", r.oov_n);
    }

    #[test]
    fn lexicon_helps_on_a_confusable_bank() {
        let bank = synthetic_bank(1, 50);
        let lex = small_lexicon();
        let cfg = DecodeConfig::default();
        let a = evaluate(&bank, &lex, &cfg, 3, 400, 0.3).unwrap();
        let b = evaluate(&bank, &lex, &cfg, 3, 400, 0.3).unwrap();
        assert_eq!(
            EvalReport {
                mean_decode_us: 0.0,
                ..a.clone()
            },
            EvalReport {
                mean_decode_us: 0.0,
                ..b
            }
        );
        assert!(a.lexicon_word_acc > a.raw_word_acc, "{a:?}");
        assert!(a.lexicon_cer < a.raw_cer, "{a:?}");
        assert!(a.wrong_turned_correct > a.raw_correct_turned_wrong, "{a:?}");
        let clean = evaluate(&bank, &lex, &cfg, 3, 400, 0.0).unwrap();
        assert!(clean.raw_word_acc > a.raw_word_acc, "noise makes raw worse");
    }

    #[test]
    fn tune_picks_a_feasible_config() {
        let bank = synthetic_bank(2, 30);
        let grid = TuneGrid {
            prior_weights: vec![0.0, 0.5],
            oov_min_confidences: vec![0.9],
            beam_widths: vec![4, 16],
            oov_log_priors: vec![-16.0],
        };
        let t = tune(&bank, &small_lexicon(), &DecodeConfig::default(), &grid, 5, 200, 0.3).unwrap();
        assert_eq!(t.tried.len(), 4);
        assert!(t.feasible);
        let best_acc = t.tried.iter().map(|(_, r)| r.lexicon_word_acc).fold(0.0, f32::max);
        assert!(t.report.lexicon_word_acc <= best_acc);
        assert!(t.tried.iter().any(|(c, r)| *c == t.best && *r == t.report));
    }

    #[test]
    fn bad_banks_are_errors() {
        let lex = small_lexicon();
        let cfg = DecodeConfig::default();
        let mut bank = synthetic_bank(1, 2);
        bank.pop();
        assert!(matches!(
            evaluate(&bank, &lex, &cfg, 1, 10, 0.0),
            Err(EvalError::BankClasses(28))
        ));
        let mut bank = synthetic_bank(1, 2);
        bank[3].clear();
        assert!(matches!(
            evaluate(&bank, &lex, &cfg, 1, 10, 0.0),
            Err(EvalError::EmptyClass("D"))
        ));
        let mut bank = synthetic_bank(1, 2);
        bank[0][1].pop();
        assert!(matches!(
            evaluate(&bank, &lex, &cfg, 1, 10, 0.0),
            Err(EvalError::BankVectorLength { class: "A", .. })
        ));
        let empty = Lexicon::from_str("").unwrap();
        assert!(matches!(
            evaluate(&synthetic_bank(1, 2), &empty, &cfg, 1, 10, 0.0),
            Err(EvalError::NoWords)
        ));
    }

    #[test]
    fn levenshtein() {
        let mut l = Levenshtein::default();
        assert_eq!(l.distance("KITTEN", "SITTING"), 3);
        assert_eq!(l.distance("", "ABC"), 3);
        assert_eq!(l.distance("ABC", ""), 3);
        assert_eq!(l.distance("HELLO WORLD", "HELLO WORLD"), 0);
    }

    #[test]
    fn synthetic_bank_shape() {
        let bank = synthetic_bank(9, 20);
        assert_eq!(bank.len(), NUM_CLASSES);
        for (class, vectors) in bank.iter().enumerate() {
            assert_eq!(vectors.len(), 20);
            for v in vectors {
                assert!((v.iter().sum::<f32>() - 1.0).abs() < 1e-4);
                assert!(v.iter().all(|&p| p >= 0.0) && v[class] >= 0.3);
            }
        }
    }
}
