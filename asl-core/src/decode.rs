//! Turns per-photo class probabilities into a word or phrase.
//!
//! Each photo shows one sign. `space` ends a word, `del` deletes the previous character
//! (a letter or a space), `nothing` is ignored, and every other photo adds its letter, so
//! double letters stay (HELLO). [`raw`] reads the most likely class of each photo;
//! [`Lexicon::decode`] corrects letters towards dictionary words with a beam search over a
//! trie, but passes a confidently spelled unknown word (a name) through unchanged.
//!
//! Space, del and nothing are decided by the most likely class of each photo in both
//! decoders, so they always agree on where words start and end.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::classes::{CLASSES, DEL, NOTHING, NUM_CLASSES, NUM_LETTERS, SPACE, letter_char};

// ---------------------------------------------------------------------------------------------
// Defaults, in one place. Chosen by measurement for the people asl is for: `asl word-eval
// --data asl-ood-dev.zip` on a bank of the probabilities a hand-path model (2026-12-03, 67 % of
// letters right) gave the 604 photos of other people in ../shared/data/asl-ood-dev.zip, 2000
// words per run. `--tune` picked prior weight 0.5, beam 32 and OOV log prior -22 for two
// models and two seeds (lexicon word accuracy 39-41 % -> 62-64 %); an OOV confidence of 0.6
// rather than the tuned 0.8 keeps names the Kaggle signer spells clearly (its held-out
// photos' bank, noise 0: names 87.8 % vs 82.4 %, old defaults 89.9 %) for 0.2 point of dev
// words. Cost on that signer's bank: raw-right sequences broken 0.2 % at noise 0 and 1.6 % at
// noise 0.3 (old defaults: 0 and 0.15 %), names at noise 0.3 72.9 % (87.2 %). Before, tuned
// on the Kaggle signer alone: 0.3, 16, 0.8, -16 (dev words 39.4 %).

/// Weight of the word-frequency log prior against the photos' log likelihoods.
pub const DEFAULT_PRIOR_WEIGHT: f32 = 0.5;
/// Prefixes kept per letter position in the beam search.
pub const DEFAULT_BEAM_WIDTH: usize = 32;
/// An unknown word whose every letter has at least this probability wins over dictionary words.
pub const DEFAULT_OOV_MIN_CONFIDENCE: f32 = 0.6;
/// Log prior of an unknown (out-of-lexicon) word that is not confidently spelled; well below
/// the rarest bundled word (about ln(250 / 8e8) = -15).
pub const DEFAULT_OOV_LOG_PRIOR: f32 = -22.0;
/// Phrases returned in [`WordEstimate::alternatives`].
pub const DEFAULT_TOP_K: usize = 5;

/// Probabilities below this count as this in log space, so one photo that is confidently
/// wrong can still be corrected by the lexicon.
const PROB_FLOOR: f32 = 1e-4;
/// Longest dictionary word (the trie keeps a bit mask of word lengths per node).
pub const MAX_WORD_LEN: usize = 31;

static BUNDLED_WORDS: &str = include_str!("../data/words_en.txt");

// ---------------------------------------------------------------------------------------------
// Types

/// An upload entry that was not decoded, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Skipped {
    /// The entry's name as uploaded (a zip entry's path, or a file name).
    pub file: String,
    /// Why it was left out, for a person (e.g. `not an image (.txt)`).
    pub reason: String,
}

/// The most likely class of one photo (a letter, "space", "del" or "nothing").
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Letter {
    /// The photo's name, as given in [`LetterProbs::file`].
    pub file: String,
    /// The class name: `A`–`Z`, `space`, `del` or `nothing`.
    pub class: String,
    /// The class's probability for this photo (0–1).
    pub confidence: f32,
}

/// A candidate answer with its total log score (sum of log probabilities of the photos'
/// letters plus the weighted log priors of its words). Higher is better.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Alternative {
    /// Upper-case words joined by single spaces.
    pub text: String,
    /// Total log score (natural log); higher is better.
    pub score: f32,
}

/// The decoded answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WordEstimate {
    /// Words in upper case joined by single spaces; empty when nothing was read.
    pub text: String,
    /// In 0..=1, 0 when `text` is empty. [`raw`]: product of the letter photos'
    /// probabilities. [`Lexicon::decode`]: posterior probability of `text` among all word
    /// combinations the beam search found (the product over words of the softmax of the word
    /// scores). Space/del/nothing decisions are not part of it.
    pub confidence: f32,
    /// Best phrases first (ties broken by text); `text` is the first one.
    pub alternatives: Vec<Alternative>,
    /// The most likely class of every photo, in input order.
    pub letters: Vec<Letter>,
    /// Filled by the caller from [`order_entries`]; the decoders leave it empty.
    pub skipped: Vec<Skipped>,
}

/// One photo's classifier output: `probs` has [`NUM_CLASSES`] entries in [`CLASSES`] order.
#[derive(Debug, Clone, Copy)]
pub struct LetterProbs<'a> {
    /// The photo's name, echoed in [`Letter::file`] and in errors.
    pub file: &'a str,
    /// Class probabilities, one per class in [`CLASSES`] order (non-negative, finite).
    pub probs: &'a [f32],
}

/// Options of [`raw`].
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct DecodeOptions {
    /// Merge runs of consecutive photos with the same most likely class into one (for video
    /// frames). A `nothing` frame breaks a run, so "L L nothing L" reads "LL".
    pub collapse_repeats: bool,
}

/// Options of [`Lexicon::decode`]. `Default` uses the `DEFAULT_*` constants.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DecodeConfig {
    /// Weight of `ln P(word)` against the photos' log probabilities; 0 ignores frequencies
    /// (but still prefers dictionary words over unknown ones only through `oov_log_prior`).
    pub prior_weight: f32,
    /// Prefixes kept per letter position.
    pub beam_width: usize,
    /// An unknown word whose letters all have at least this probability wins (values above 1
    /// disable this).
    pub oov_min_confidence: f32,
    /// Log prior of an unknown word otherwise (multiplied by `prior_weight`).
    pub oov_log_prior: f32,
    /// Phrases returned in `alternatives`.
    pub top_k: usize,
    /// As in [`DecodeOptions`].
    pub collapse_repeats: bool,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
            prior_weight: DEFAULT_PRIOR_WEIGHT,
            beam_width: DEFAULT_BEAM_WIDTH,
            oov_min_confidence: DEFAULT_OOV_MIN_CONFIDENCE,
            oov_log_prior: DEFAULT_OOV_LOG_PRIOR,
            top_k: DEFAULT_TOP_K,
            collapse_repeats: false,
        }
    }
}

impl From<&DecodeConfig> for DecodeOptions {
    fn from(cfg: &DecodeConfig) -> Self {
        DecodeOptions {
            collapse_repeats: cfg.collapse_repeats,
        }
    }
}

/// Why decoding photos' probabilities, or reading a word list, failed.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// A photo's probabilities do not have one entry per class.
    #[error("{file}: expected {expected} class probabilities, got {found}")]
    WrongLength {
        /// The photo.
        file: String,
        /// The number of classes ([`NUM_CLASSES`]).
        expected: usize,
        /// The number of probabilities given.
        found: usize,
    },
    /// A probability is NaN or infinite.
    #[error("{file}: probability of class {class} is not a finite number")]
    NotFinite {
        /// The photo.
        file: String,
        /// The class whose probability it is.
        class: &'static str,
    },
    /// A probability is below zero.
    #[error("{file}: probability of class {class} is negative ({value})")]
    Negative {
        /// The photo.
        file: String,
        /// The class whose probability it is.
        class: &'static str,
        /// The probability given.
        value: f32,
    },
    /// A word list file could not be read.
    #[error("cannot read word list {path}: {source}")]
    LexiconIo {
        /// The word list file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A word list line is malformed (bad or zero count, or a field after the count).
    #[error("word list line {line}: {message}")]
    LexiconParse {
        /// The line's number, from 1.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
}

// ---------------------------------------------------------------------------------------------
// Upload ordering

/// Natural order of file names: digit runs compare by numeric value ("2.jpg" < "10.jpg",
/// "h_01" < "h_2"), other characters case-insensitively. Equal names under those rules are
/// ordered by the first difference in leading zeros (fewer first) or letter case (byte order),
/// and finally byte-wise, so this is a total order consistent with `==`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a, b);
    let mut tiebreak = Ordering::Equal;
    loop {
        let (ca, cb) = match (x.chars().next(), y.chars().next()) {
            (None, None) => break,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(ca), Some(cb)) => (ca, cb),
        };
        if ca.is_ascii_digit() && cb.is_ascii_digit() {
            let (da, ra) = split_digits(x);
            let (db, rb) = split_digits(y);
            let (va, vb) = (da.trim_start_matches('0'), db.trim_start_matches('0'));
            let by_value = va.len().cmp(&vb.len()).then_with(|| va.cmp(vb));
            if by_value != Ordering::Equal {
                return by_value;
            }
            if tiebreak == Ordering::Equal {
                tiebreak = da.len().cmp(&db.len());
            }
            (x, y) = (ra, rb);
        } else {
            // A digit run sorts where '0' would, so "a.jpg" < "a1.jpg" < "a_.jpg".
            let ka = if ca.is_ascii_digit() { '0' } else { fold_case(ca) };
            let kb = if cb.is_ascii_digit() { '0' } else { fold_case(cb) };
            if ka != kb {
                return ka.cmp(&kb);
            }
            if tiebreak == Ordering::Equal {
                tiebreak = ca.cmp(&cb);
            }
            (x, y) = (&x[ca.len_utf8()..], &y[cb.len_utf8()..]);
        }
    }
    tiebreak.then_with(|| a.cmp(b))
}

fn split_digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

fn fold_case(c: char) -> char {
    if c.is_ascii() {
        c.to_ascii_lowercase()
    } else {
        c.to_lowercase().next().unwrap_or(c)
    }
}

/// Splits upload entries (e.g. zip entry names) into image files in natural order and
/// everything else, each with a reason. Nothing is dropped silently.
pub fn order_entries(names: Vec<String>) -> (Vec<String>, Vec<Skipped>) {
    let mut images = Vec::with_capacity(names.len());
    let mut skipped = Vec::new();
    for name in names {
        match skip_reason(&name) {
            None => images.push(name),
            Some(reason) => skipped.push(Skipped { file: name, reason }),
        }
    }
    images.sort_by(|a, b| natural_cmp(a, b));
    skipped.sort_by(|a, b| natural_cmp(&a.file, &b.file));
    (images, skipped)
}

fn skip_reason(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("empty name".into());
    }
    if name.ends_with('/') || name.ends_with('\\') {
        return Some("directory".into());
    }
    let mut components = name.split(['/', '\\']).filter(|c| !c.is_empty() && *c != ".");
    if components.clone().any(|c| c == "__MACOSX") {
        return Some("macOS metadata (__MACOSX)".into());
    }
    if components.clone().any(|c| c.starts_with('.')) {
        return Some("hidden file (name starts with '.')".into());
    }
    let Some(file) = components.next_back() else {
        return Some("empty name".into());
    };
    match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => {
            if crate::photo::is_image_extension(ext) {
                None
            } else {
                Some(format!("not an image (.{ext})"))
            }
        }
        _ => Some("not an image (no extension)".into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Input checks and the edit semantics shared by both decoders

fn validate(inputs: &[LetterProbs]) -> Result<(), DecodeError> {
    for input in inputs {
        if input.probs.len() != NUM_CLASSES {
            return Err(DecodeError::WrongLength {
                file: input.file.to_string(),
                expected: NUM_CLASSES,
                found: input.probs.len(),
            });
        }
        for (class, &p) in CLASSES.iter().zip(input.probs) {
            if !p.is_finite() {
                return Err(DecodeError::NotFinite {
                    file: input.file.to_string(),
                    class,
                });
            }
            if p < 0.0 {
                return Err(DecodeError::Negative {
                    file: input.file.to_string(),
                    class,
                    value: p,
                });
            }
        }
    }
    Ok(())
}

/// Index of the largest probability; the first one on ties.
fn argmax(probs: &[f32]) -> usize {
    let mut best = 0;
    for (i, &p) in probs.iter().enumerate() {
        if p > probs[best] {
            best = i;
        }
    }
    best
}

/// One surviving edit: a letter or a space read from the photos `start..end` (one photo
/// unless repeats are collapsed).
#[derive(Debug, Clone, Copy)]
struct Slot {
    class: usize,
    start: usize,
    end: usize,
}

/// Applies space/del/nothing to the photos' most likely classes.
fn edit_slots(inputs: &[LetterProbs], classes: &[usize], collapse: bool, out: &mut Vec<Slot>) {
    out.clear();
    let mut start = 0;
    while start < inputs.len() {
        let class = classes[start];
        let mut end = start + 1;
        if collapse {
            while end < inputs.len() && classes[end] == class {
                end += 1;
            }
        }
        match class {
            NOTHING => {}
            DEL => {
                out.pop();
            }
            _ => out.push(Slot { class, start, end }),
        }
        start = end;
    }
}

/// Mean probability of `class` over the slot's photos.
fn slot_prob(inputs: &[LetterProbs], slot: &Slot, class: usize) -> f32 {
    let sum: f32 = inputs[slot.start..slot.end].iter().map(|x| x.probs[class]).sum();
    sum / (slot.end - slot.start) as f32
}

/// The letter slots of each word, in order; empty words (repeated spaces) are dropped.
fn words_of(slots: &[Slot]) -> impl Iterator<Item = &[Slot]> {
    slots.split(|s| s.class == SPACE).filter(|w| !w.is_empty())
}

fn letters_of(inputs: &[LetterProbs], classes: &[usize]) -> Vec<Letter> {
    inputs
        .iter()
        .zip(classes)
        .map(|(x, &c)| Letter {
            file: x.file.to_string(),
            class: CLASSES[c].to_string(),
            confidence: x.probs[c],
        })
        .collect()
}

fn ln_floor(p: f32) -> f32 {
    p.max(PROB_FLOOR).ln()
}

/// Reads the most likely class of each photo. `confidence` is the product of the
/// probabilities of the letters in the answer (each at least 1e-4, as in the lexicon's
/// scores); the only alternative is the answer itself, scored with the log of that.
pub fn raw(inputs: &[LetterProbs], opts: &DecodeOptions) -> Result<WordEstimate, DecodeError> {
    validate(inputs)?;
    let classes: Vec<usize> = inputs.iter().map(|x| argmax(x.probs)).collect();
    let mut slots = Vec::with_capacity(inputs.len());
    edit_slots(inputs, &classes, opts.collapse_repeats, &mut slots);

    let mut text = String::with_capacity(slots.len());
    let mut log_conf = 0.0f64;
    for word in words_of(&slots) {
        if !text.is_empty() {
            text.push(' ');
        }
        for slot in word {
            text.extend(letter_char(slot.class));
            log_conf += f64::from(ln_floor(slot_prob(inputs, slot, slot.class)));
        }
    }
    let (confidence, alternatives) = if text.is_empty() {
        (0.0, Vec::new())
    } else {
        let score = log_conf as f32;
        (
            score.exp(),
            vec![Alternative {
                text: text.clone(),
                score,
            }],
        )
    };
    Ok(WordEstimate {
        text,
        confidence,
        alternatives,
        letters: letters_of(inputs, &classes),
        skipped: Vec::new(),
    })
}

// ---------------------------------------------------------------------------------------------
// Lexicon

/// Trie node. Children are contiguous in `Lexicon::nodes` and sorted by letter; every child
/// has a larger index than its parent.
#[derive(Debug, Clone, Copy)]
struct Node {
    first_child: u32,
    parent: u32,
    /// Bit r set: some word ends exactly r letters below this node (bit 0: one ends here).
    len_mask: u32,
    /// Log prior of the word ending here, -inf if none.
    word_prior: f32,
    /// Largest `word_prior` in this subtree: an optimistic bound used to rank prefixes.
    best_prior: f32,
    n_children: u8,
    letter: u8,
}

/// An English (or any A-Z) word list with unigram frequencies, stored as a trie.
#[derive(Clone)]
pub struct Lexicon {
    nodes: Vec<Node>,
    words: usize,
}

// Not derived: the trie has hundreds of thousands of nodes.
impl std::fmt::Debug for Lexicon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lexicon")
            .field("words", &self.words)
            .field("trie_nodes", &self.nodes.len())
            .finish()
    }
}

impl Default for Lexicon {
    fn default() -> Self {
        Lexicon::build(Vec::new())
    }
}

impl std::str::FromStr for Lexicon {
    type Err = DecodeError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Lexicon::from_str(text)
    }
}

impl Lexicon {
    /// Reads a word list file; see [`Lexicon::from_str`] for the format.
    pub fn load(path: impl AsRef<Path>) -> Result<Lexicon, DecodeError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| DecodeError::LexiconIo {
            path: path.to_path_buf(),
            source,
        })?;
        Lexicon::from_str(&text)
    }

    /// Parses a word list: one `word<TAB>count` per line (a lone word counts 1), blank lines
    /// and `#` comments ignored. Words are upper-cased; words with characters other than A-Z
    /// or longer than [`MAX_WORD_LEN`] are left out; repeated words add their counts.
    #[allow(clippy::should_implement_trait)] // it is implemented too; this needs no import
    pub fn from_str(text: &str) -> Result<Lexicon, DecodeError> {
        let mut entries: Vec<(Vec<u8>, u64)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parse_err = |message: String| DecodeError::LexiconParse { line: i + 1, message };
            let mut fields = line.split_whitespace();
            let word = fields.next().unwrap_or_default();
            let count = match fields.next() {
                None => 1,
                Some(c) => c
                    .parse::<u64>()
                    .map_err(|e| parse_err(format!("bad count {c:?}: {e}")))?,
            };
            if let Some(extra) = fields.next() {
                return Err(parse_err(format!("unexpected field {extra:?} after the count")));
            }
            if count == 0 {
                return Err(parse_err(format!("count of {word:?} is 0")));
            }
            if word.len() <= MAX_WORD_LEN && word.bytes().all(|b| b.is_ascii_alphabetic()) {
                entries.push((word.bytes().map(|b| b.to_ascii_uppercase() - b'A').collect(), count));
            }
        }
        Ok(Lexicon::build(entries))
    }

    /// The bundled English list (wordfreq, CC BY-SA 4.0; see data/WORDS_LICENSE.md), parsed
    /// once on first use.
    pub fn bundled() -> &'static Lexicon {
        static LEXICON: OnceLock<Lexicon> = OnceLock::new();
        // The bundled file is tested to parse; an empty lexicon would make decode() = raw().
        LEXICON.get_or_init(|| Lexicon::from_str(BUNDLED_WORDS).unwrap_or_default())
    }

    /// Builds the trie breadth-first from words (letters 0..26) and counts.
    fn build(mut entries: Vec<(Vec<u8>, u64)>) -> Lexicon {
        entries.sort_unstable();
        // Merge repeated words.
        let mut merged: Vec<(Vec<u8>, u64)> = Vec::with_capacity(entries.len());
        for (word, count) in entries {
            match merged.last_mut() {
                Some((w, c)) if *w == word => *c = c.saturating_add(count),
                _ => merged.push((word, count)),
            }
        }
        let total: f64 = merged.iter().map(|(_, c)| *c as f64).sum();
        let log_total = total.ln();

        let root = Node {
            first_child: 0,
            parent: 0,
            len_mask: 0,
            word_prior: f32::NEG_INFINITY,
            best_prior: f32::NEG_INFINITY,
            n_children: 0,
            letter: 0,
        };
        let mut nodes = vec![root];
        // (node, words[lo..hi] below it, depth): those words share the node's prefix and are
        // sorted, so a word ending at this node comes first.
        let mut queue = std::collections::VecDeque::from([(0usize, 0usize, merged.len(), 0usize)]);
        while let Some((node, mut lo, hi, depth)) = queue.pop_front() {
            if lo < hi && merged[lo].0.len() == depth {
                nodes[node].word_prior = ((merged[lo].1 as f64).ln() - log_total) as f32;
                lo += 1;
            }
            nodes[node].first_child = nodes.len() as u32;
            while lo < hi {
                let letter = merged[lo].0[depth];
                let mut end = lo + 1;
                while end < hi && merged[end].0[depth] == letter {
                    end += 1;
                }
                queue.push_back((nodes.len(), lo, end, depth + 1));
                nodes.push(Node {
                    parent: node as u32,
                    letter,
                    ..root
                });
                nodes[node].n_children += 1;
                lo = end;
            }
        }
        // Children come after parents: fill masks and bounds bottom-up.
        for i in (0..nodes.len()).rev() {
            let n = nodes[i];
            let mut mask = u32::from(n.word_prior.is_finite());
            let mut best = n.word_prior;
            for c in &nodes[n.first_child as usize..][..usize::from(n.n_children)] {
                mask |= c.len_mask << 1;
                best = best.max(c.best_prior);
            }
            nodes[i].len_mask = mask;
            nodes[i].best_prior = best;
        }
        Lexicon {
            nodes,
            words: merged.len(),
        }
    }

    /// Number of distinct words.
    pub fn len(&self) -> usize {
        self.words
    }

    /// Whether the lexicon holds no word.
    pub fn is_empty(&self) -> bool {
        self.words == 0
    }

    fn children(&self, node: usize) -> &[Node] {
        let n = &self.nodes[node];
        &self.nodes[n.first_child as usize..][..usize::from(n.n_children)]
    }

    fn child(&self, node: usize, letter: u8) -> Option<usize> {
        let first = self.nodes[node].first_child as usize;
        self.children(node)
            .iter()
            .position(|c| c.letter == letter)
            .map(|i| first + i)
    }

    /// Trie node of a word given as letter indices, if it is a word.
    fn find(&self, letters: impl IntoIterator<Item = u8>) -> Option<usize> {
        let mut node = 0;
        for l in letters {
            node = self.child(node, l)?;
        }
        self.nodes[node].word_prior.is_finite().then_some(node)
    }

    fn find_str(&self, word: &str) -> Option<usize> {
        if !word.bytes().all(|b| b.is_ascii_alphabetic()) || word.is_empty() {
            return None;
        }
        self.find(word.bytes().map(|b| b.to_ascii_uppercase() - b'A'))
    }

    /// Whether `word` (any case) is in the list.
    pub fn contains(&self, word: &str) -> bool {
        self.find_str(word).is_some()
    }

    /// ln(count / total count) of `word` (any case), `None` if it is not in the list.
    pub fn log_prior(&self, word: &str) -> Option<f32> {
        self.find_str(word).map(|n| self.nodes[n].word_prior)
    }

    /// Calls `f(word, log_prior)` for every word, in alphabetical order.
    pub fn for_each_word(&self, mut f: impl FnMut(&str, f32)) {
        let mut word = String::new();
        // Depth-first with an explicit stack of (node, depth).
        let mut stack = vec![(0usize, 0usize)];
        while let Some((node, depth)) = stack.pop() {
            word.truncate(depth.saturating_sub(1));
            if node != 0 {
                word.push(char::from(b'A' + self.nodes[node].letter));
            }
            if self.nodes[node].word_prior.is_finite() {
                f(&word, self.nodes[node].word_prior);
            }
            let first = self.nodes[node].first_child as usize;
            let n = usize::from(self.nodes[node].n_children);
            stack.extend((first..first + n).rev().map(|c| (c, depth + 1)));
        }
    }

    /// Appends the word that ends at `node`.
    fn push_word(&self, mut node: usize, out: &mut String) {
        let mut rev = [0u8; MAX_WORD_LEN];
        let mut len = 0;
        while node != 0 && len < MAX_WORD_LEN {
            rev[len] = b'A' + self.nodes[node].letter;
            len += 1;
            node = self.nodes[node].parent as usize;
        }
        out.extend(rev[..len].iter().rev().map(|&b| char::from(b)));
    }

    /// Decodes photos into words, correcting letters towards words in this list.
    ///
    /// Words are delimited exactly as in [`raw`]. For a word of k letter photos, a candidate
    /// w scores `sum_i ln p_i(w_i) + prior_weight * ln P(w)`; a beam search over the trie
    /// keeps the `beam_width` best prefixes that can still end in a k-letter word. The raw
    /// reading of the photos is always a candidate too: with its lexicon prior if it is a
    /// word, else with prior `oov_log_prior`, or with prior 0 (so it wins) when every one of
    /// its letters has probability at least `oov_min_confidence`.
    pub fn decode(&self, inputs: &[LetterProbs], cfg: &DecodeConfig) -> Result<WordEstimate, DecodeError> {
        validate(inputs)?;
        let classes: Vec<usize> = inputs.iter().map(|x| argmax(x.probs)).collect();
        let mut slots = Vec::with_capacity(inputs.len());
        edit_slots(inputs, &classes, cfg.collapse_repeats, &mut slots);

        let keep = cfg.top_k.max(1);
        let mut scratch = Scratch::default();
        let mut phrases: Vec<Alternative> = vec![Alternative {
            text: String::new(),
            score: 0.0,
        }];
        let mut next_phrases: Vec<Alternative> = Vec::new();
        let mut log_norm = 0.0f64; // sum over words of ln(sum of exp(candidate scores))
        let mut any_word = false;
        for word in words_of(&slots) {
            any_word = true;
            self.decode_word(inputs, word, cfg, &mut scratch);
            log_norm += f64::from(log_sum_exp(scratch.cands.iter().map(|c| c.score)));
            // Best phrases so far x best candidates of this word, keeping the `keep` best.
            next_phrases.clear();
            for p in &phrases {
                for c in scratch.cands.iter().take(keep) {
                    let mut text = String::with_capacity(p.text.len() + 1 + c.text.len());
                    text.push_str(&p.text);
                    if !text.is_empty() {
                        text.push(' ');
                    }
                    text.push_str(&c.text);
                    next_phrases.push(Alternative {
                        text,
                        score: p.score + c.score,
                    });
                }
            }
            next_phrases.sort_by(by_score_then_text);
            next_phrases.truncate(keep);
            std::mem::swap(&mut phrases, &mut next_phrases);
        }

        let letters = letters_of(inputs, &classes);
        // Without words `phrases` holds just the empty start phrase; with words it holds at
        // least the raw reading.
        let Some(best) = phrases.first().filter(|_| any_word) else {
            return Ok(WordEstimate {
                text: String::new(),
                confidence: 0.0,
                alternatives: Vec::new(),
                letters,
                skipped: Vec::new(),
            });
        };
        let confidence = ((f64::from(best.score) - log_norm).exp() as f32).clamp(0.0, 1.0);
        let text = best.text.clone();
        phrases.truncate(cfg.top_k);
        Ok(WordEstimate {
            text,
            confidence,
            alternatives: phrases,
            letters,
            skipped: Vec::new(),
        })
    }

    /// Fills `scratch.cands` with the candidates for one word, best first.
    fn decode_word(&self, inputs: &[LetterProbs], word: &[Slot], cfg: &DecodeConfig, s: &mut Scratch) {
        let k = word.len();
        s.log_probs.clear();
        s.log_probs.extend(word.iter().map(|slot| {
            let mut lp = [0.0f32; NUM_LETTERS];
            for (c, v) in lp.iter_mut().enumerate() {
                *v = ln_floor(slot_prob(inputs, slot, c));
            }
            lp
        }));
        let w = cfg.prior_weight;

        // Beam search over the trie. `key` ranks prefixes: likelihood so far plus the best
        // prior reachable below (the word's own prior at the last letter).
        s.beam.clear();
        if k <= MAX_WORD_LEN && (self.nodes[0].len_mask >> k) & 1 == 1 {
            s.beam.push(Hyp {
                node: 0,
                score: 0.0,
                key: 0.0,
            });
        }
        for (i, lp) in s.log_probs.iter().enumerate() {
            let remaining = k - i - 1;
            s.next.clear();
            for h in &s.beam {
                let first = self.nodes[h.node as usize].first_child;
                for (j, c) in self.children(h.node as usize).iter().enumerate() {
                    if (c.len_mask >> remaining) & 1 == 0 {
                        continue;
                    }
                    let score = h.score + lp[usize::from(c.letter)];
                    let bound = if remaining == 0 { c.word_prior } else { c.best_prior };
                    s.next.push(Hyp {
                        node: first + j as u32,
                        score,
                        key: score + w * bound,
                    });
                }
            }
            let width = cfg.beam_width.max(1);
            if s.next.len() > width {
                s.next.select_nth_unstable_by(width - 1, by_key);
                s.next.truncate(width);
            }
            std::mem::swap(&mut s.beam, &mut s.next);
        }

        s.cands.clear();
        for h in &s.beam {
            let mut text = String::with_capacity(k);
            self.push_word(h.node as usize, &mut text);
            s.cands.push(Alternative { text, score: h.key });
        }

        // The raw reading: argmax letters (each slot's class is a letter).
        let raw_text: String = word.iter().filter_map(|slot| letter_char(slot.class)).collect();
        let raw_ll: f32 = word.iter().zip(&s.log_probs).map(|(slot, lp)| lp[slot.class]).sum();
        if !s.cands.iter().any(|c| c.text == raw_text) {
            let prior = match self.find(word.iter().map(|slot| slot.class as u8)) {
                Some(node) => self.nodes[node].word_prior,
                None => {
                    let confident = word
                        .iter()
                        .all(|slot| slot_prob(inputs, slot, slot.class) >= cfg.oov_min_confidence);
                    if confident { 0.0 } else { cfg.oov_log_prior }
                }
            };
            s.cands.push(Alternative {
                text: raw_text,
                score: raw_ll + w * prior,
            });
        }
        s.cands.sort_by(by_score_then_text);
    }
}

/// Reused buffers of one decode call.
#[derive(Default)]
struct Scratch {
    log_probs: Vec<[f32; NUM_LETTERS]>,
    beam: Vec<Hyp>,
    next: Vec<Hyp>,
    cands: Vec<Alternative>,
}

#[derive(Debug, Clone, Copy)]
struct Hyp {
    node: u32,
    score: f32,
    key: f32,
}

/// Best key first; node index breaks ties so pruning is deterministic.
fn by_key(a: &Hyp, b: &Hyp) -> Ordering {
    b.key.total_cmp(&a.key).then(a.node.cmp(&b.node))
}

fn by_score_then_text(a: &Alternative, b: &Alternative) -> Ordering {
    b.score.total_cmp(&a.score).then_with(|| a.text.cmp(&b.text))
}

fn log_sum_exp(xs: impl Iterator<Item = f32> + Clone) -> f32 {
    let max = xs.clone().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return max;
    }
    max + xs.map(|x| (x - max).exp()).sum::<f32>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::class_index;

    /// A probability vector with the given (class, p) pairs and the rest spread evenly.
    fn mix(pairs: &[(&str, f32)]) -> Vec<f32> {
        let mut v = vec![0.0; NUM_CLASSES];
        let mut used = 0.0;
        for (name, p) in pairs {
            v[class_index(name).unwrap()] = *p;
            used += p;
        }
        let rest = (1.0 - used) / (NUM_CLASSES - pairs.len()) as f32;
        for (i, x) in v.iter_mut().enumerate() {
            if !pairs.iter().any(|(name, _)| class_index(name) == Some(i)) {
                *x = rest;
            }
        }
        v
    }

    /// One photo per token ("H", "space", "del", ...), each with probability `p`.
    fn photos(tokens: &str, p: f32) -> Vec<Vec<f32>> {
        tokens.split_whitespace().map(|t| mix(&[(t, p)])).collect()
    }

    fn inputs(probs: &[Vec<f32>]) -> Vec<LetterProbs<'_>> {
        probs
            .iter()
            .map(|p| LetterProbs {
                file: "x.jpg",
                probs: p,
            })
            .collect()
    }

    fn raw_text(tokens: &str) -> String {
        raw(&inputs(&photos(tokens, 0.9)), &DecodeOptions::default())
            .unwrap()
            .text
    }

    fn lex_text(tokens: &str) -> String {
        let p = photos(tokens, 0.9);
        Lexicon::bundled()
            .decode(&inputs(&p), &DecodeConfig::default())
            .unwrap()
            .text
    }

    #[test]
    fn raw_semantics() {
        assert_eq!(raw_text("H E L L O"), "HELLO", "double letters stay");
        assert_eq!(raw_text("H I space Y O U"), "HI YOU");
        assert_eq!(raw_text("H X del I"), "HI");
        assert_eq!(raw_text("A space del B"), "AB", "del removes a space too");
        assert_eq!(raw_text("del del A B del del del C"), "C", "del on empty is a no-op");
        assert_eq!(raw_text("nothing H nothing I nothing"), "HI");
        assert_eq!(raw_text("space A space space B space"), "A B", "spaces normalised");
        assert_eq!(raw_text("J A Z Z"), "JAZZ");
        assert_eq!(raw_text(""), "");
        assert_eq!(raw_text("nothing nothing"), "");
        assert_eq!(raw_text("space del"), "");
    }

    #[test]
    fn raw_confidence_letters_and_collapse() {
        let mut p = photos("H nothing I", 0.9);
        p[2] = mix(&[("I", 0.5)]);
        let est = raw(&inputs(&p), &DecodeOptions::default()).unwrap();
        assert_eq!(est.text, "HI");
        assert!((est.confidence - 0.45).abs() < 1e-5);
        assert_eq!(
            est.alternatives,
            vec![Alternative {
                text: "HI".into(),
                score: 0.45f32.ln()
            }]
        );
        let classes: Vec<&str> = est.letters.iter().map(|l| l.class.as_str()).collect();
        assert_eq!(classes, ["H", "nothing", "I"]);

        let frames = photos("H H E L L nothing L O O", 0.9);
        let collapse = DecodeOptions { collapse_repeats: true };
        assert_eq!(raw(&inputs(&frames), &collapse).unwrap().text, "HELLO");
        assert_eq!(
            raw(&inputs(&frames), &DecodeOptions::default()).unwrap().text,
            "HHELLLOO"
        );
        let cfg = DecodeConfig {
            collapse_repeats: true,
            ..DecodeConfig::default()
        };
        assert_eq!(Lexicon::bundled().decode(&inputs(&frames), &cfg).unwrap().text, "HELLO");
    }

    #[test]
    fn empty_inputs() {
        for tokens in ["", "nothing nothing nothing", "space space", "A del"] {
            let p = photos(tokens, 0.9);
            for est in [
                raw(&inputs(&p), &DecodeOptions::default()).unwrap(),
                Lexicon::bundled()
                    .decode(&inputs(&p), &DecodeConfig::default())
                    .unwrap(),
            ] {
                assert_eq!(est.text, "", "{tokens:?}");
                assert_eq!(est.confidence, 0.0);
                assert!(est.alternatives.is_empty());
                assert_eq!(est.letters.len(), p.len());
            }
        }
    }

    #[test]
    fn bad_probabilities_are_errors() {
        let short = vec![0.5f32; 28];
        let mut nan = mix(&[("A", 0.9)]);
        nan[3] = f32::NAN;
        let mut neg = mix(&[("A", 0.9)]);
        neg[4] = -0.1;
        let lex = Lexicon::bundled();
        let cfg = DecodeConfig::default();
        fn one(p: &[f32]) -> Vec<LetterProbs<'_>> {
            vec![LetterProbs {
                file: "bad.jpg",
                probs: p,
            }]
        }
        assert!(matches!(
            raw(&one(&short), &DecodeOptions::default()),
            Err(DecodeError::WrongLength {
                expected: 29,
                found: 28,
                ..
            })
        ));
        assert!(matches!(
            lex.decode(&one(&short), &cfg),
            Err(DecodeError::WrongLength { .. })
        ));
        assert!(matches!(
            lex.decode(&one(&nan), &cfg),
            Err(DecodeError::NotFinite { class: "D", .. })
        ));
        assert!(matches!(
            raw(&one(&neg), &DecodeOptions::default()),
            Err(DecodeError::Negative { class: "E", .. })
        ));
        let msg = raw(&one(&short), &DecodeOptions::default()).unwrap_err().to_string();
        assert!(msg.contains("bad.jpg"), "{msg}");
    }

    #[test]
    fn natural_order() {
        let lt = |a: &str, b: &str| {
            assert_eq!(natural_cmp(a, b), Ordering::Less, "{a} < {b}");
            assert_eq!(natural_cmp(b, a), Ordering::Greater, "{b} > {a}");
        };
        lt("2.jpg", "10.jpg");
        lt("h_01", "h_2");
        lt("h_1", "h_01"); // same value: fewer leading zeros first
        lt("img9.png", "IMG10.png"); // case-insensitive first
        lt("A.jpg", "a.jpg"); // then case-sensitive
        lt("a.jpg", "b.JPG");
        lt("a.jpg", "a1.jpg");
        lt("x/9/1.jpg", "x/10/0.jpg");
        lt("99999999999999999999999.jpg", "100000000000000000000000.jpg"); // no overflow
        assert_eq!(natural_cmp("same.jpg", "same.jpg"), Ordering::Equal);
        let mut names = vec!["10.jpg", "1.jpg", "01.jpg", "2.jpg", "B.jpg", "a.jpg", "A.jpg"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["1.jpg", "01.jpg", "2.jpg", "10.jpg", "A.jpg", "a.jpg", "B.jpg"]);
    }

    #[test]
    fn order_entries_skips_with_reasons() {
        let names = [
            "word/10.JPG",
            "word/",
            "word/2.jpeg",
            "__MACOSX/word/._2.jpeg",
            "word/.DS_Store",
            "word/notes.txt",
            "word/1.png",
            "word/3.webp",
            "word/4.BMP",
            "word/5.gif",
            "README",
            ".hidden/6.jpg",
            "./7.jpg",
            "",
        ];
        let (images, skipped) = order_entries(names.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            images,
            [
                "./7.jpg",
                "word/1.png",
                "word/2.jpeg",
                "word/3.webp",
                "word/4.BMP",
                "word/5.gif",
                "word/10.JPG"
            ]
        );
        let reason = |f: &str| skipped.iter().find(|s| s.file == f).map(|s| s.reason.clone()).unwrap();
        assert_eq!(reason("word/"), "directory");
        assert!(reason("__MACOSX/word/._2.jpeg").contains("__MACOSX"));
        assert!(reason("word/.DS_Store").contains("hidden"));
        assert!(reason(".hidden/6.jpg").contains("hidden"));
        assert!(reason("word/notes.txt").contains("not an image"));
        assert!(reason("README").contains("no extension"));
        assert_eq!(reason(""), "empty name");
        assert_eq!(images.len() + skipped.len(), names.len(), "nothing dropped");
    }

    #[test]
    fn lexicon_parsing() {
        let lex = Lexicon::from_str("# comment\nhello\t10\nWorld 5\n\ndon't\t3\ncafé\t2\nhello\t5\nsolo\n").unwrap();
        assert_eq!(lex.len(), 3);
        assert!(lex.contains("HELLO") && lex.contains("world") && lex.contains("Solo"));
        assert!(!lex.contains("DONT") && !lex.contains("HELL") && !lex.contains("") && !lex.contains("HELLOS"));
        let total = 10.0f32 + 5.0 + 5.0 + 1.0;
        assert!((lex.log_prior("hello").unwrap() - (15.0 / total).ln()).abs() < 1e-6);
        assert_eq!(lex.log_prior("nope"), None);
        let mut all = Vec::new();
        lex.for_each_word(|w, _| all.push(w.to_string()));
        assert_eq!(all, ["HELLO", "SOLO", "WORLD"]);

        let err = Lexicon::from_str("a\t1\nb\tmany\n").unwrap_err();
        assert!(matches!(err, DecodeError::LexiconParse { line: 2, .. }), "{err}");
        assert!(matches!(
            Lexicon::from_str("a 1 2"),
            Err(DecodeError::LexiconParse { line: 1, .. })
        ));
        assert!(matches!(
            Lexicon::from_str("a 0"),
            Err(DecodeError::LexiconParse { line: 1, .. })
        ));
        assert!(matches!(
            Lexicon::load("/nonexistent/words.txt"),
            Err(DecodeError::LexiconIo { .. })
        ));
        assert!("a 1".parse::<Lexicon>().is_ok());
    }

    #[test]
    fn bundled_lexicon() {
        let lex = Lexicon::bundled();
        assert!(lex.len() > 50_000, "{}", lex.len());
        assert!(lex.contains("hello") && lex.contains("WORLD") && !lex.contains("XAVQ"));
        assert!(lex.log_prior("THE").unwrap() > lex.log_prior("HELLO").unwrap());
        let mut n = 0;
        lex.for_each_word(|w, p| {
            n += 1;
            assert!(p.is_finite() && p < 0.0 && lex.contains(w), "{w}");
        });
        assert_eq!(n, lex.len());
    }

    #[test]
    fn lexicon_fixes_a_confused_letter() {
        let mut p = photos("H E L L O", 0.9);
        p[1] = mix(&[("S", 0.55), ("E", 0.40)]);
        let input = inputs(&p);
        assert_eq!(raw(&input, &DecodeOptions::default()).unwrap().text, "HSLLO");
        let est = Lexicon::bundled().decode(&input, &DecodeConfig::default()).unwrap();
        assert_eq!(est.text, "HELLO");
        assert!(est.confidence > 0.5 && est.confidence <= 1.0, "{}", est.confidence);
        assert_eq!(est.alternatives[0].text, "HELLO");
        assert!(est.alternatives.len() > 1 && est.alternatives.len() <= DEFAULT_TOP_K);
        assert!(est.alternatives.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(
            est.alternatives.iter().any(|a| a.text == "HSLLO"),
            "raw reading kept as alternative"
        );
        assert_eq!(est.letters[1].class, "S", "letters are the raw argmax");
        // Deterministic.
        assert_eq!(
            est,
            Lexicon::bundled().decode(&input, &DecodeConfig::default()).unwrap()
        );
    }

    #[test]
    fn confident_unknown_word_passes_through() {
        assert_eq!(lex_text("X A V Q"), "XAVQ");
        let p = photos("X A V Q", 0.99);
        let est = Lexicon::bundled()
            .decode(&inputs(&p), &DecodeConfig::default())
            .unwrap();
        assert_eq!(est.text, "XAVQ");
        assert!(est.confidence > 0.9);
        // Unsure letters, though, go to the lexicon.
        let mut p = photos("W O R L D", 0.9);
        p[3] = mix(&[("K", 0.45), ("L", 0.35)]);
        assert_eq!(
            Lexicon::bundled()
                .decode(&inputs(&p), &DecodeConfig::default())
                .unwrap()
                .text,
            "WORLD"
        );
    }

    #[test]
    fn phrases_and_edits_match_raw() {
        assert_eq!(lex_text("H I space Y O U"), "HI YOU");
        assert_eq!(
            lex_text("H X del E L L O space del space W O R L D nothing"),
            "HELLO WORLD"
        );
        let mut p = photos("H E L L O space W O R L D", 0.9);
        p[1] = mix(&[("S", 0.55), ("E", 0.40)]);
        p[9] = mix(&[("I", 0.5), ("L", 0.4)]);
        let cfg = DecodeConfig {
            top_k: 3,
            ..DecodeConfig::default()
        };
        let est = Lexicon::bundled().decode(&inputs(&p), &cfg).unwrap();
        assert_eq!(est.text, "HELLO WORLD");
        assert_eq!(est.alternatives.len(), 3);
        assert!(est.alternatives.iter().all(|a| a.text.split(' ').count() == 2));
        let none = DecodeConfig {
            top_k: 0,
            ..DecodeConfig::default()
        };
        let est = Lexicon::bundled().decode(&inputs(&p), &none).unwrap();
        assert_eq!((est.text.as_str(), est.alternatives.len()), ("HELLO WORLD", 0));
    }

    #[test]
    fn small_and_empty_lexicons() {
        let lex = Lexicon::from_str("CAT 10\nCAR 5\nCART 1\n").unwrap();
        let mut p = photos("C A T", 0.9);
        p[2] = mix(&[("R", 0.5), ("T", 0.45)]);
        let cfg = DecodeConfig {
            beam_width: 1,
            ..DecodeConfig::default()
        };
        // Raw CAR is a word but CAT is twice as frequent and nearly as likely.
        assert_eq!(
            lex.decode(
                &inputs(&p),
                &DecodeConfig {
                    prior_weight: 1.0,
                    ..cfg
                }
            )
            .unwrap()
            .text,
            "CAT"
        );
        assert_eq!(
            lex.decode(
                &inputs(&p),
                &DecodeConfig {
                    prior_weight: 0.0,
                    ..cfg
                }
            )
            .unwrap()
            .text,
            "CAR"
        );
        // Longer than any word: only the raw reading is left.
        let long = photos("C A R T S", 0.5);
        assert_eq!(lex.decode(&inputs(&long), &cfg).unwrap().text, "CARTS");
        let empty = Lexicon::from_str("# nothing\n").unwrap();
        assert!(empty.is_empty());
        let est = empty.decode(&inputs(&p), &cfg).unwrap();
        assert_eq!((est.text.as_str(), est.confidence), ("CAR", 1.0));
    }
}
