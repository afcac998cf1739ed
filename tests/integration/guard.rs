//! Nothing that holds or locates a customer's data is lost as a side effect: `render`
//! refuses a change that would delete or replace it unless `--allow-destroy` names the
//! customer, `diff` shows it first, and every such object tells Argo CD never to prune or
//! delete it.

use super::{render_ok, run, text, tree, workspace};

/// Edits a profile file of the workspace.
fn edit(path: &std::path::Path, from: &str, to: &str) {
    let before = std::fs::read_to_string(path).expect("read");
    assert!(before.contains(from), "{} holds {from:?}", path.display());
    std::fs::write(path, before.replacen(from, to, 1)).expect("write");
}

/// Each change is refused with the objects named and nothing written, shown in `diff`, and
/// goes through with the customer's `--allow-destroy`.
fn refused_then_allowed(change: impl Fn(&std::path::Path), customer: &str, lost: &[&str]) {
    let work = workspace("guard");
    let dir = work.path();
    render_ok(dir, &["render"]);
    let before = tree(&dir.join("out"));
    change(dir);
    let output = run(dir, &["render"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for object in lost {
        assert!(
            stderr.contains(&format!("error[E0328]: out/{customer}/"))
                && stderr.contains(&format!("{object} would be lost")),
            "{object}: {stderr}"
        );
    }
    assert!(
        stderr.contains(&format!("--allow-destroy {customer}")),
        "{stderr}"
    );
    assert_eq!(tree(&dir.join("out")), before, "nothing was written");
    let diff = text(&run(dir, &["diff"]).stdout);
    assert!(diff.starts_with("DATA AT RISK"), "{diff}");
    let markdown = text(&run(dir, &["diff", "--format", "markdown"]).stdout);
    assert!(markdown.contains("**Data at risk**"), "{markdown}");
    let json: serde_json::Value =
        serde_json::from_slice(&run(dir, &["diff", "--format", "json"]).stdout).expect("json");
    assert!(
        json["data_at_risk"]
            .as_array()
            .is_some_and(|losses| losses.iter().any(|l| l["customer"] == customer)),
        "{json}"
    );
    // Another customer's allowance does not cover it.
    let other = if customer == "acme" { "globex" } else { "acme" };
    let output = run(dir, &["render", "--allow-destroy", other]);
    assert_eq!(output.status.code(), Some(1));
    render_ok(dir, &["render", "--allow-destroy", customer]);
    assert_ne!(tree(&dir.join("out")), before, "written with the allowance");
}

#[test]
fn a_namespace_rename_is_refused_with_what_it_loses() {
    refused_then_allowed(
        |dir| {
            edit(
                &dir.join("profiles/acme.yaml"),
                "  namespace: acme\n",
                "  namespace: acme-eu\n",
            )
        },
        "acme",
        &["Namespace/acme"],
    );
}

#[test]
fn a_renamed_credentials_secret_is_refused_as_a_replacement() {
    refused_then_allowed(
        |dir| {
            edit(
                &dir.join("profiles/acme.yaml"),
                "        key: acme-db\n",
                "        key: acme-database\n",
            )
        },
        "acme",
        &["google_secret_manager_secret.credentials"],
    );
}

#[test]
fn a_storage_class_change_is_refused_as_a_statefulset_replacement() {
    refused_then_allowed(
        |dir| {
            let globex = dir.join("profiles/globex.yaml");
            edit(
                &globex,
                "      size: 250Gi\n",
                "      size: 250Gi\n      storageClassName: standard-rwo\n",
            );
        },
        "globex",
        &["StatefulSet/postgres"],
    );
}

#[test]
fn a_customer_removal_is_refused_with_its_namespace_database_and_buckets() {
    refused_then_allowed(
        |dir| std::fs::remove_file(dir.join("profiles/initech.yaml")).expect("remove"),
        "initech",
        &[
            "Namespace/initech",
            "StatefulSet/postgres",
            "google_storage_bucket.archive",
            "google_container_cluster.cluster",
        ],
    );
}

/// Kinds that hold or locate data, listed here on their own (not taken from the code that
/// annotates them).
const DATA_KINDS: &[&str] = &[
    "Namespace",
    "StatefulSet",
    "PersistentVolumeClaim",
    "VolumeSnapshotClass",
    "VolumeSnapshot",
];

/// Argo CD never prunes nor cascade-deletes them: the sync options "No Prune Resources" and
/// "No Resource Deletion" on every such object of every compiled customer.
#[test]
fn argo_cd_may_never_delete_what_holds_data() {
    let mut seen = std::collections::BTreeSet::new();
    for compiled in super::compiled_customers() {
        for (path, object) in super::compiled_objects(&compiled) {
            let kind = object["kind"].as_str().unwrap_or_default();
            if !DATA_KINDS.contains(&kind) {
                continue;
            }
            seen.insert(kind.to_string());
            let options = object["metadata"]["annotations"]["argocd.argoproj.io/sync-options"]
                .as_str()
                .unwrap_or_default();
            let options: Vec<&str> = options.split(',').map(str::trim).collect();
            assert!(
                options.contains(&"Prune=false") && options.contains(&"Delete=false"),
                "{} {path}: {options:?}",
                compiled.member.name
            );
        }
    }
    for kind in [
        "Namespace",
        "StatefulSet",
        "VolumeSnapshotClass",
        "PersistentVolumeClaim",
    ] {
        assert!(seen.contains(kind), "no {kind} compiled to check: {seen:?}");
    }
}
