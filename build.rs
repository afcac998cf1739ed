//! Names the commit gitopsc is built from, for `gitopsc --version`: `GITOPSC_COMMIT` when
//! set (a build from a source archive), else `git rev-parse`, else "unknown".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=GITOPSC_COMMIT");
    // A new commit moves the branch HEAD names (or packed-refs), not HEAD itself. Only
    // files that exist are named: cargo reruns the script on every build for a missing one.
    let mut watched = vec![".git/HEAD".to_string(), ".git/packed-refs".to_string()];
    if let Ok(head) = std::fs::read_to_string(".git/HEAD")
        && let Some(branch) = head.trim().strip_prefix("ref: ")
    {
        watched.push(format!(".git/{branch}"));
    }
    for path in watched.iter().filter(|p| std::path::Path::new(p).exists()) {
        println!("cargo:rerun-if-changed={path}");
    }
    let commit = std::env::var("GITOPSC_COMMIT").ok().or_else(|| {
        let output = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()?;
        let commit = String::from_utf8(output.stdout).ok()?.trim().to_string();
        (output.status.success() && !commit.is_empty()).then_some(commit)
    });
    println!(
        "cargo:rustc-env=GITOPSC_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
}
