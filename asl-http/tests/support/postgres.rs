//! A real PostgreSQL server for a test: Debian's `initdb` + `pg_ctl` in a temporary folder, on
//! a free port, stopped on drop. Under CI=true a missing PostgreSQL fails the test; elsewhere
//! the test is skipped (`start` answers None).
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Postgres {
    pub url: String,
    bin: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    _dir: tempfile::TempDir,
}

fn bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("pg_ctl"))
            .find(|p| p.is_file())
            .and_then(|p| std::fs::canonicalize(p).ok())
            .and_then(|p| p.parent().map(Path::to_path_buf))
    });
    on_path.or_else(|| {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("pg_ctl").is_file())
            .collect();
        versions.sort();
        versions.pop()
    })
}

/// A PostgreSQL tool, run as the `postgres` user when we are root (the server refuses root).
fn tool(path: &Path, as_postgres: bool) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

fn run(path: &Path, args: &[&str], as_postgres: bool) {
    let out = tool(path, as_postgres)
        .args(args)
        .output()
        .expect("run a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Postgres {
    pub fn start() -> Option<Postgres> {
        let Some(bin) = bin_dir() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but no PostgreSQL: scripts/test.sh installs Debian's postgresql"
            );
            eprintln!("skipped: PostgreSQL is not installed");
            return None;
        };
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let dir = tempfile::tempdir().unwrap();
        if as_postgres {
            let status = Command::new("chown")
                .args(["postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let data = dir.path().join("data");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (data_s, dir_s) = (data.to_str().unwrap(), dir.path().to_str().unwrap());
        run(
            &bin.join("initdb"),
            &["-D", data_s, "-U", "asl", "--auth=trust", "-E", "UTF8"],
            as_postgres,
        );
        let log = dir.path().join("server.log");
        let options = format!("-p {port} -k {dir_s} -c listen_addresses=127.0.0.1");
        run(
            &bin.join("pg_ctl"),
            &["-D", data_s, "-l", log.to_str().unwrap(), "-w", "-o", &options, "start"],
            as_postgres,
        );
        let server = Postgres {
            url: format!("postgresql://asl@127.0.0.1:{port}/asl_log"),
            bin: bin.clone(),
            data,
            as_postgres,
            _dir: dir,
        };
        run(
            &bin.join("createdb"),
            &["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "asl", "asl_log"],
            false,
        );
        Some(server)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data.to_string_lossy().into_owned();
        let _ = tool(&self.bin.join("pg_ctl"), self.as_postgres)
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}
