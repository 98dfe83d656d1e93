//! Serves a local zip as Kaggle's `grassknoted/asl-alphabet`, so that `asl collect` can be tried
//! by hand without the internet:
//!
//! ```text
//! cargo run --example fake_kaggle -- path/to/archive.zip [--port 7777] [--version 1]
//! KAGGLE_API_ENVIRONMENT=TEST asl collect      # in another terminal
//! ```
//!
//! It serves until Ctrl-C and logs every request to stderr.
#[path = "../tests/support/fake_kaggle.rs"]
mod fake_kaggle;

use std::process::ExitCode;

const USAGE: &str = "usage: fake_kaggle ARCHIVE.zip [--port N (default 7777)] [--version N (default 1)]";
const DATASET: &str = "grassknoted/asl-alphabet";

struct Args {
    archive: String,
    port: u16,
    version: u32,
}

fn parse_args() -> Result<Args, String> {
    let mut archive = None;
    let (mut port, mut version) = (7777u16, 1u32);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let value = args.next().ok_or("--port needs a value")?;
                port = value.parse().map_err(|_| format!("bad port {value:?}"))?;
            }
            "--version" => {
                let value = args.next().ok_or("--version needs a value")?;
                version = value
                    .parse()
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or(format!("bad version {value:?}"))?;
            }
            "-h" | "--help" => return Err(String::new()),
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}")),
            _ if archive.is_none() => archive = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    let archive = archive.ok_or("the archive path is missing")?;
    Ok(Args { archive, port, version })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("fake_kaggle: {problem}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let bytes = match std::fs::read(&args.archive) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("fake_kaggle: cannot read {}: {e}", args.archive);
            return ExitCode::FAILURE;
        }
    };
    let server = match fake_kaggle::FakeKaggle::start_on(&format!("127.0.0.1:{}", args.port)) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("fake_kaggle: cannot listen on 127.0.0.1:{}: {e}", args.port);
            return ExitCode::FAILURE;
        }
    };
    let size = bytes.len();
    server.publish(DATASET, args.version, bytes);
    server.set_logging(true);

    let base = server.base_url();
    println!(
        "Fake Kaggle at {base}: {DATASET} version {} = {} ({size} bytes)",
        args.version, args.archive
    );
    println!("Point the client at it from another terminal:");
    if args.port == 7777 {
        println!("    KAGGLE_API_ENVIRONMENT=TEST asl collect      # TEST means http://localhost:7777");
    }
    println!("    ASL_KAGGLE_URL={base} asl collect");
    println!("Ctrl-C stops the server.");

    // Ctrl-C ends the process; until then the server thread does the work.
    loop {
        std::thread::park();
    }
}
