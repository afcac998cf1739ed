//! Reusing current folders (`render`, `render --check` and `diff` skip a customer whose
//! lock names this compiler and the profile's digest and whose files hash to it): every
//! change that matters is still noticed, with and without the cache, and `--no-cache` is
//! the full comparison.

use std::collections::BTreeSet;
use std::path::Path;

use super::{render_ok, run, text, workspace};

/// The files `render --check` names, and its exit code.
fn drift(dir: &Path, extra: &[&str]) -> (Option<i32>, BTreeSet<String>) {
    let mut args = vec!["render", "--check"];
    args.extend(extra);
    let output = run(dir, &args);
    let named = text(&output.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("drift: "))
        .filter_map(|l| l.split(':').next())
        .map(|p| p.trim_start_matches("out/").to_string())
        .collect();
    (output.status.code(), named)
}

/// Both paths name the same files.
fn noticed(dir: &Path) -> BTreeSet<String> {
    let (code, cached) = drift(dir, &[]);
    let (full_code, full) = drift(dir, &["--no-cache"]);
    assert_eq!(
        (code, &cached),
        (full_code, &full),
        "cache and --no-cache agree"
    );
    cached
}

/// The folders that changed. The Argo CD folder is one of them only when one of its
/// objects changes: its lock records them, not the profiles.
fn customers(files: &BTreeSet<String>) -> BTreeSet<&str> {
    files.iter().filter_map(|f| f.split('/').next()).collect()
}

fn edit(path: &Path, from: &str, to: &str) -> String {
    let before = std::fs::read_to_string(path).expect("read");
    assert!(before.contains(from), "{} holds {from:?}", path.display());
    std::fs::write(path, before.replacen(from, to, 1)).expect("write");
    before
}

#[test]
fn every_change_is_noticed_with_and_without_the_cache() {
    let work = workspace("cache");
    let dir = work.path();
    render_ok(dir, &["render"]);
    assert_eq!(noticed(dir), BTreeSet::new());

    // A profile: exactly its customer, both halves (the Argo CD folder only if one of its
    // objects changes).
    let acme = dir.join("profiles/acme.yaml");
    let before = edit(
        &acme,
        "        machineType: e2-standard-4\n",
        "        machineType: e2-standard-8\n",
    );
    let found = noticed(dir);
    assert_eq!(customers(&found), BTreeSet::from(["acme"]), "{found:?}");
    assert!(
        found.contains("acme/terraform/cluster.tf.json"),
        "{found:?}"
    );
    std::fs::write(&acme, &before).expect("restore");
    // The cluster's name is also the Argo CD destination: both folders.
    edit(&acme, "      name: acme-gke\n", "      name: acme-gke2\n");
    let found = noticed(dir);
    assert_eq!(
        customers(&found),
        BTreeSet::from(["_argocd", "acme"]),
        "{found:?}"
    );
    let diff = text(&run(dir, &["diff"]).stdout);
    assert!(diff.contains("acme") && !diff.contains("globex"), "{diff}");
    std::fs::write(&acme, before).expect("restore");

    // A layer: every customer that extends it.
    let layer = dir.join("profiles/_defaults.yaml");
    let before = edit(&layer, "      retain: 28\n", "      retain: 21\n");
    let found = noticed(dir);
    assert_eq!(
        customers(&found),
        BTreeSet::from(["acme", "globex", "initech"]),
        "{found:?}"
    );
    std::fs::write(&layer, before).expect("restore");
    assert_eq!(noticed(dir), BTreeSet::new());

    // Another compiler version wrote the folder: its lock is rewritten.
    let lock = dir.join("out/globex/gitopsc.lock");
    let before = edit(&lock, "compiler: gitopsc ", "compiler: gitopsc 0.0.0-");
    assert_eq!(
        noticed(dir),
        BTreeSet::from(["globex/gitopsc.lock".to_string()])
    );
    std::fs::write(&lock, before).expect("restore");

    // One byte of one output file.
    let service = dir.join("out/initech/app/service-app.yaml");
    let before = edit(&service, "      port: 8080", "      port: 8081");
    assert_eq!(
        noticed(dir),
        BTreeSet::from(["initech/app/service-app.yaml".to_string()])
    );

    // The same byte with the lock's digest forged to match: the cache trusts the lock (it
    // is what it verifies), the full comparison does not.
    let edited = std::fs::read(&service).expect("read");
    let lock = dir.join("out/initech/gitopsc.lock");
    let pristine = gitopsc::serialize::digest(before.as_bytes());
    edit(&lock, &pristine, &gitopsc::serialize::digest(&edited));
    assert_eq!(drift(dir, &[]), (Some(0), BTreeSet::new()));
    let (code, full) = drift(dir, &["--no-cache"]);
    assert_eq!(code, Some(1));
    assert!(full.contains("initech/app/service-app.yaml"), "{full:?}");
    // A writing render repairs both with --no-cache.
    render_ok(dir, &["render", "--no-cache"]);
    assert_eq!(noticed(dir), BTreeSet::new());
    assert_eq!(std::fs::read_to_string(&service).expect("read"), before);
}
