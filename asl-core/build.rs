// Records the git commit asl-core is built from (a tag on every tracked run): $ASL_GIT_COMMIT
// when the build is given one (a container build has no .git), else git's; absent otherwise.
fn main() {
    println!("cargo:rerun-if-env-changed=ASL_GIT_COMMIT");
    if let Ok(commit) = std::env::var("ASL_GIT_COMMIT")
        && !commit.trim().is_empty()
    {
        println!("cargo:rustc-env=ASL_GIT_COMMIT={}", commit.trim());
        return;
    }
    let head = std::path::Path::new("../.git/HEAD");
    if head.exists() {
        println!("cargo:rerun-if-changed=../.git/HEAD");
        println!("cargo:rerun-if-changed=../.git/refs/heads");
    }
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!("cargo:rustc-env=ASL_GIT_COMMIT={commit}");
}
