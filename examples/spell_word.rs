//! Spells a word from photo files with the `asl` library alone (no CLI, no server):
//!
//! ```text
//! cargo run --release --example spell_word -- [--home DIR] [--model DIR|ALIAS] h.jpg e.jpg l.jpg l.jpg o.jpg
//! ```
//!
//! The model is a folder, a registered alias or version (`champion`, `3`), or by default the
//! newest model under the state root (`--home`, else `$ASL_HOME`).
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use asl::decode::Lexicon;
use asl::infer::Classifier;
use asl::{ModelRef, Workspace, word};

fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let (mut home, mut model, mut photos) = (None, None, Vec::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--home" => home = Some(PathBuf::from(it.next().ok_or("--home needs a folder")?)),
            "--model" => model = Some(it.next().ok_or("--model needs a folder or an alias")?.clone()),
            _ => photos.push(PathBuf::from(a)),
        }
    }
    if photos.is_empty() {
        return Err("usage: spell_word [--home DIR] [--model DIR|ALIAS] PHOTO...".into());
    }
    let ws = Workspace::resolve(home.as_deref());
    let which = match model {
        Some(m) if Path::new(&m).is_dir() => ModelRef::Dir(m.into()),
        Some(alias) => ModelRef::Registered(alias),
        None => ModelRef::Newest,
    };
    let clf = Classifier::load(&ws.resolve_model(&which)?)?;
    let batch = word::read_files(&photos)?;
    let answer = word::predict_word(&clf, &batch, false, Lexicon::bundled(), &Default::default())?;
    for (letter, path) in answer.estimate.letters.iter().zip(&answer.answered_by) {
        println!(
            "{:<24} {:<8} {:>5.1}%  [{}]",
            letter.file,
            letter.class,
            letter.confidence * 100.0,
            path.as_str()
        );
    }
    for s in &answer.estimate.skipped {
        println!("{:<24} skipped: {}", s.file, s.reason);
    }
    println!(
        "word: {} (confidence {:.2})",
        answer.estimate.text, answer.estimate.confidence
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
