//! Fixture folders: every bad profile's exact diagnostics, every good profile's output.
//! Snapshots are named after the fixture folder (`cargo insta review` to update).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{TempDir, root, run, text, tree};

fn cases(kind: &str) -> Vec<(String, std::path::PathBuf)> {
    let dir = root().join("tests/fixtures").join(kind);
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixture folder")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no fixtures in {}", dir.display());
    cases
}

/// The fixture folder a glob entry under `tests/fixtures/<kind>/` names, or `None` for
/// anything that is not one (the base folder itself, a stray file).
fn fixture(path: &Path, kind: &str) -> Option<String> {
    let parent = path.parent()?.file_name()?;
    (path.is_dir() && parent == kind)
        .then(|| path.file_name()?.to_str().map(str::to_string))
        .flatten()
}

/// `gitopsc validate .` in an invalid fixture: exit 1, and the diagnostics exactly. One
/// snapshot per fixture; every fixture runs even when an earlier one fails.
#[test]
fn invalid_profiles_report_exact_diagnostics() {
    assert!(!cases("invalid").is_empty());
    insta::glob!("../fixtures/invalid", "*", |dir| {
        let Some(name) = fixture(dir, "invalid") else {
            return;
        };
        let output = run(dir, &["--color", "never", "validate", "."]);
        let stderr = text(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{name}: validate must exit 1\n{stderr}"
        );
        assert!(
            stderr
                .lines()
                .next()
                .is_some_and(|l| l.contains(".yaml:") && l.contains(": error[E")),
            "{name}: the first line is `file:line:col: error[CODE]: message`\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name}: panic\n{stderr}");
        insta::assert_snapshot!(stderr);
    });
}

/// Rendering an invalid fixture writes nothing at all.
#[test]
fn invalid_profiles_write_nothing() {
    for (name, dir) in cases("invalid") {
        let out = TempDir::new("invalid-out");
        let target = out.path().join("out");
        let output = run(
            &dir,
            &["render", ".", "--out", target.to_str().expect("utf-8 path")],
        );
        assert_eq!(output.status.code(), Some(1), "{name}");
        assert!(
            !target.exists(),
            "{name}: render created {}",
            target.display()
        );
    }
}

/// `--message-format json`: one parseable object per diagnostic, with the same positions.
#[test]
fn json_diagnostics_are_one_object_per_line() {
    let dir = root().join("tests/fixtures/invalid/many-profiles-many-problems");
    let output = run(&dir, &["--message-format", "json", "validate", "."]);
    assert_eq!(output.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = text(&output.stderr)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    assert!(
        lines.len() >= 3,
        "every problem of every profile is reported"
    );
    let files: std::collections::BTreeSet<_> = lines
        .iter()
        .map(|l| l["file"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(files.len(), 3, "problems of all three profiles: {files:?}");
    insta::assert_snapshot!("json__many-profiles-many-problems", text(&output.stderr));
}

/// The shipped customer every valid fixture is compared with: committed in `out/`, reviewed
/// there, and kept current by `conformance.rs`.
const BASELINE: &str = "initech";

/// Every file of a compiled customer and of `_argocd/` as (path, text), the customer's name
/// and namespace written as `<customer>` and `<namespace>` so two customers compare; the
/// lock (all digests) is left out.
fn normalised(out: &Path, name: &str, namespace: &str) -> BTreeMap<String, String> {
    let generic = |text: &str| {
        let text = if namespace == name {
            text.to_string()
        } else {
            text.replace(namespace, "<namespace>")
        };
        text.replace(name, "<customer>")
    };
    let mut files = BTreeMap::new();
    for (path, bytes) in tree(&out.join(name)) {
        if path != "gitopsc.lock" {
            files.insert(generic(&format!("{name}/{path}")), generic(&text(&bytes)));
        }
    }
    // The customer's own Argo CD objects; the fleet's (the ApplicationSet, the
    // kustomization) list every customer and are `delivery.rs`'s.
    for (path, bytes) in tree(&out.join("_argocd")) {
        if path.ends_with(&format!("/{name}.yaml")) {
            files.insert(generic(&format!("_argocd/{path}")), generic(&text(&bytes)));
        }
    }
    files
}

/// A fixture's compiled output as its difference from the baseline customer's: only what
/// the fixture is about shows, and a change every customer shares (a label, a sync wave)
/// shows once, in the committed `out/`, instead of in every fixture's snapshot.
fn rendered(dir: &Path) -> String {
    let out = TempDir::new("valid-out");
    let output = run(
        dir,
        &[
            "render",
            ".",
            "--out",
            out.path().to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let customers: Vec<String> = tree(out.path())
        .into_iter()
        .filter_map(|(path, _)| path.strip_suffix("/gitopsc.lock").map(str::to_string))
        .filter(|folder| folder != "_argocd")
        .collect();
    let baseline = normalised(&root().join("out"), BASELINE, BASELINE);
    let mut all = format!("compared with out/{BASELINE} (names as <customer>, <namespace>)\n");
    for name in customers {
        let namespace = tree(&out.path().join(&name))
            .into_iter()
            .find_map(|(path, _)| {
                Some(
                    path.strip_prefix("app/namespace-")?
                        .strip_suffix(".yaml")?
                        .to_string(),
                )
            })
            .expect("a Namespace object");
        let compiled = normalised(out.path(), &name, &namespace);
        let paths: BTreeSet<&String> = baseline.keys().chain(compiled.keys()).collect();
        for path in paths {
            let (old, new) = (
                baseline.get(path).map_or("", String::as_str),
                compiled.get(path).map_or("", String::as_str),
            );
            if old == new {
                continue;
            }
            let diff = similar::TextDiff::from_lines(old, new);
            let label = match (baseline.contains_key(path), compiled.contains_key(path)) {
                (true, false) => "only in the baseline",
                (false, true) => "only in the fixture",
                _ => "changed",
            };
            all.push_str(&format!(
                "=== {path} ({label})\n{}",
                diff.unified_diff().context_radius(2)
            ));
        }
    }
    all
}

#[test]
fn valid_fixtures_compile_to_reviewed_output() {
    assert!(!cases("valid").is_empty());
    insta::glob!("../fixtures/valid", "*", |dir| {
        if fixture(dir, "valid").is_some() {
            insta::assert_snapshot!(rendered(dir));
        }
    });
}
