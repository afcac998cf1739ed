//! Names the commit gitopsc is built from, for `gitopsc --version`: `GITOPSC_COMMIT` when
//! set (a build from a source archive), else `git rev-parse`, else "unknown".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=GITOPSC_COMMIT");
    // A new commit moves the branch HEAD names (or packed-refs), not HEAD itself.
    for path in [".git/HEAD", ".git/packed-refs"] {
        println!("cargo:rerun-if-changed={path}");
    }
    if let Ok(head) = std::fs::read_to_string(".git/HEAD")
        && let Some(branch) = head.trim().strip_prefix("ref: ")
    {
        println!("cargo:rerun-if-changed=.git/{branch}");
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
