//! The command-line contract of DESIGN §1: commands, exit codes, schema, explain.

use super::{TempDir, copy_tree, root, run, text};

#[test]
fn validate_exit_codes() {
    let repo = root();
    assert_eq!(
        run(&repo, &["validate"]).status.code(),
        Some(0),
        "shipped profiles are valid"
    );
    let invalid = repo.join("tests/fixtures/invalid/unknown-field");
    assert_eq!(run(&invalid, &["validate", "."]).status.code(), Some(1));
    let missing = run(&repo, &["validate", "no/such/profiles"]);
    assert_eq!(
        missing.status.code(),
        Some(2),
        "a missing path is an IO error"
    );
    assert!(
        text(&missing.stderr).contains("no/such/profiles"),
        "{}",
        text(&missing.stderr)
    );
    assert_eq!(
        run(&repo, &["validate", "--no-such-flag"]).status.code(),
        Some(2),
        "usage error"
    );
    let empty = TempDir::new("empty-profiles");
    let none = run(empty.path(), &["validate", "."]);
    assert_eq!(
        none.status.code(),
        Some(2),
        "no profiles at all is a usage error"
    );
}

#[test]
fn warnings_do_not_fail_validation() {
    let dir = root().join("tests/fixtures/valid/unpinned-opt-out");
    let output = run(&dir, &["--color", "never", "validate", "."]);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        text(&output.stderr).contains("warning[W0101]"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn render_exit_codes() {
    let work = TempDir::new("render-codes");
    copy_tree(&root().join("profiles"), &work.path().join("profiles"));
    assert_eq!(run(work.path(), &["render"]).status.code(), Some(0));
    assert_eq!(
        run(work.path(), &["render", "--check"]).status.code(),
        Some(0)
    );
    let bad = run(work.path(), &["render", "--jobs", "zero"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn schema_command_prints_the_committed_schema() {
    let output = run(&root(), &["schema"]);
    assert_eq!(output.status.code(), Some(0));
    let committed = std::fs::read_to_string(root().join("schema/profile.schema.json"))
        .expect("committed schema");
    assert!(
        text(&output.stdout) == committed,
        "schema/profile.schema.json is stale: run `cargo run -- schema > schema/profile.schema.json`"
    );
}

#[test]
fn every_field_of_the_schema_is_documented() {
    let schema: serde_json::Value =
        serde_json::from_slice(&run(&root(), &["schema"]).stdout).expect("JSON");
    fn walk(node: &serde_json::Value, path: &str, undocumented: &mut Vec<String>) {
        if let Some(properties) = node.get("properties").and_then(|p| p.as_object()) {
            for (name, property) in properties {
                if property.get("description").is_none() {
                    undocumented.push(format!("{path}.{name}"));
                }
            }
        }
        if let Some(object) = node.as_object() {
            // Conditions (`if`/`then`) name fields documented where they are defined.
            for (key, value) in object
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "if" | "then"))
            {
                walk(value, &format!("{path}/{key}"), undocumented);
            }
        }
    }
    let mut undocumented = Vec::new();
    walk(&schema, "", &mut undocumented);
    assert!(
        undocumented.is_empty(),
        "fields without a doc comment: {undocumented:?}"
    );
}

#[test]
fn explain_names_the_layer_that_set_a_value() {
    let repo = root();
    let inherited = run(
        &repo,
        &[
            "explain",
            "profiles/initech.yaml",
            "spec.database.pgpool.maxPool",
        ],
    );
    assert_eq!(
        inherited.status.code(),
        Some(0),
        "{}",
        text(&inherited.stderr)
    );
    let stdout = text(&inherited.stdout);
    assert!(
        stdout.starts_with("spec.database.pgpool.maxPool = 4\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("set in profiles/_defaults.yaml:"),
        "{stdout}"
    );

    let own = text(
        &run(
            &repo,
            &[
                "explain",
                "profiles/acme.yaml",
                "spec.app.autoscaling.maxReplicas",
            ],
        )
        .stdout,
    );
    assert!(
        own.contains("= 12") && own.contains("profiles/acme.yaml:"),
        "{own}"
    );

    let indexed = text(
        &run(
            &repo,
            &[
                "explain",
                "profiles/acme.yaml",
                "spec.access.internal.allowedSourceRanges[1]",
            ],
        )
        .stdout,
    );
    assert!(
        indexed.starts_with("spec.access.internal.allowedSourceRanges[1] = 10.30.4.0/24"),
        "{indexed}"
    );

    let unset = run(
        &repo,
        &[
            "explain",
            "profiles/initech.yaml",
            "spec.app.preStopDelaySeconds",
        ],
    );
    assert_eq!(unset.status.code(), Some(0));
    assert!(
        text(&unset.stdout).starts_with(
            "spec.app.preStopDelaySeconds = 10  (the default: not set by profiles/initech.yaml"
        ),
        "{}",
        text(&unset.stdout)
    );

    let unknown = run(
        &repo,
        &["explain", "profiles/acme.yaml", "spec.app.replica"],
    );
    assert_eq!(unknown.status.code(), Some(1), "an unknown field exits 1");

    let whole = text(&run(&repo, &["explain", "profiles/initech.yaml"]).stdout);
    assert!(
        whole.contains("existingSecret: initech-db-credentials  # profiles/initech.yaml:"),
        "{whole}"
    );
    assert!(
        whole.contains("numInitChildren: 32  # profiles/_defaults.yaml:"),
        "{whole}"
    );
}

#[test]
fn every_diagnostic_code_is_documented() {
    let doc =
        std::fs::read_to_string(root().join("docs/diagnostics.md")).expect("docs/diagnostics.md");
    for code in gitopsc::diag::Code::ALL {
        let row = format!("| {} | {} |", code.as_str(), code.summary());
        assert!(
            doc.contains(&row),
            "docs/diagnostics.md lacks the row `{row}`"
        );
    }
}

#[test]
fn an_oversized_file_is_refused_before_parsing() {
    let work = TempDir::new("oversized");
    let mut big = String::from("apiVersion: gitopsc/v1alpha1\nkind: CustomerProfile\n");
    while big.len() <= gitopsc::load::MAX_FILE_BYTES {
        big.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    std::fs::write(work.path().join("big.yaml"), big).expect("write");
    let output = run(work.path(), &["--color", "never", "validate", "."]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).starts_with("big.yaml:1:1: error[E0011]"),
        "{}",
        text(&output.stderr)
    );
}

/// The archive's own parameters are the archive's while it is on (E0321 at the profile's
/// line, not overridden without a word), and the profile's to set once it is off.
#[test]
fn archive_parameters_belong_to_the_archive_while_it_is_on() {
    let work = TempDir::new("archive-parameters");
    copy_tree(&root().join("profiles"), &work.path().join("profiles"));
    let profile = work.path().join("profiles/acme.yaml");
    let shipped = std::fs::read_to_string(&profile).expect("acme");
    let own = shipped.replacen(
        "    parameters:\n",
        "    parameters:\n      archive_command: \"cp %p /mnt/archive/%f\"\n",
        1,
    );
    assert_ne!(own, shipped, "the parameter is added");
    let validate = |profile_text: &str| {
        std::fs::write(&profile, profile_text).expect("write acme");
        run(work.path(), &["validate", "profiles/acme.yaml"])
    };
    let on = text(&validate(&own).stderr);
    assert!(
        on.contains("error[E0321]: `archive_command`") && on.contains("backup.archive"),
        "{on}"
    );
    // Without the archive the snapshots are the recovery point, taken crash-consistent.
    let off = own
        .replacen(
            "  backup:\n",
            "  backup:\n    archive:\n      enabled: false\n    recoveryPointSeconds: 86400\n",
            1,
        )
        .replacen("      online: true\n", "      online: false\n", 1);
    let off = validate(&off);
    assert_eq!(
        off.status.code(),
        Some(0),
        "the profile's archive_command without the archive: {}",
        text(&off.stderr)
    );
}
