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

/// The control plane's range is fixed at creation (`master_ipv4_cidr_block` and
/// `private_endpoint_subnetwork` force a new cluster): a new cluster, with new disks.
#[test]
fn a_new_control_plane_range_is_refused_as_a_new_cluster() {
    refused_then_allowed(
        |dir| {
            edit(
                &dir.join("profiles/acme.yaml"),
                "      masterIpv4CidrBlock: 172.16.0.0/28\n",
                "      masterIpv4CidrBlock: 172.16.0.16/28\n",
            )
        },
        "acme",
        &["google_container_cluster.cluster"],
    );
}

#[test]
fn a_storage_class_change_is_refused_as_new_disks() {
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
        &[
            "PersistentVolumeClaim/data-postgres-0",
            "PersistentVolumeClaim/data-postgres-2",
        ],
    );
}

#[test]
fn a_smaller_storage_size_is_refused() {
    refused_then_allowed(
        |dir| {
            edit(
                &dir.join("profiles/globex.yaml"),
                "      size: 250Gi\n",
                "      size: 200Gi\n",
            )
        },
        "globex",
        &["PersistentVolumeClaim/data-postgres-1"],
    );
}

/// Kubernetes' rule for a bound claim's update (`ValidatePersistentVolumeClaimUpdate` in
/// kubernetes `pkg/apis/core/validation`): the spec is immutable except
/// `resources.requests` (and `volumeAttributesClassName`), and storage may only grow.
fn claim_update_allowed(before: &serde_json::Value, after: &serde_json::Value) -> bool {
    let mut old_spec = before["spec"].clone();
    let mut new_spec = after["spec"].clone();
    let size = |spec: &serde_json::Value| {
        spec["resources"]["requests"]["storage"]
            .as_str()
            .and_then(gitopsc::syntax::quantity_value)
    };
    let grows = size(&new_spec) >= size(&old_spec);
    for spec in [&mut old_spec, &mut new_spec] {
        spec["resources"]["requests"] = serde_json::Value::Null;
    }
    old_spec == new_spec && grows
}

/// A larger `storage.size` reaches the disks in place: render needs no allowance, each
/// member's claim changes only in what Kubernetes lets a bound claim change, and the one
/// StatefulSet field that changes is the claim template, which the compiled Application
/// tells Argo CD to leave as it is (Kubernetes refuses to change it).
#[test]
fn a_larger_storage_size_grows_the_claims_in_place() {
    let work = workspace("guard");
    let dir = work.path();
    render_ok(dir, &["render"]);
    let read = |path: &str| {
        super::parse_yaml(&std::fs::read_to_string(dir.join("out").join(path)).expect(path))
    };
    let claims = [
        "globex/database/persistentvolumeclaim-data-postgres-0.yaml",
        "globex/database/persistentvolumeclaim-data-postgres-1.yaml",
        "globex/database/persistentvolumeclaim-data-postgres-2.yaml",
    ];
    let before: Vec<serde_json::Value> = claims.iter().map(|c| read(c)).collect();
    let statefulset_before = read("globex/database/statefulset-postgres.yaml");
    edit(
        &dir.join("profiles/globex.yaml"),
        "      size: 250Gi\n",
        "      size: 400Gi\n",
    );
    render_ok(dir, &["render"]);
    for (claim, old) in claims.iter().zip(&before) {
        let new = read(claim);
        assert_ne!(&new, old, "{claim} grows");
        assert_eq!(new["spec"]["resources"]["requests"]["storage"], "400Gi");
        assert!(claim_update_allowed(old, &new), "{claim}: {old} -> {new}");
    }
    let mut statefulset_after = read("globex/database/statefulset-postgres.yaml");
    statefulset_after["spec"]["volumeClaimTemplates"] =
        statefulset_before["spec"]["volumeClaimTemplates"].clone();
    // max_slot_wal_keep_size is a share of the volume: the configuration digest follows it.
    let checksum = "/spec/template/metadata/annotations/checksum~1config";
    let patroni = |path: &str| read(path)["data"]["patroni.yml"].to_string();
    let config = "globex/database/configmap-postgres-patroni.yaml";
    assert_ne!(
        statefulset_after.pointer(checksum),
        statefulset_before.pointer(checksum)
    );
    assert!(
        patroni(config).contains("max_slot_wal_keep_size: 81920MB"),
        "a fifth of 400Gi"
    );
    *statefulset_after.pointer_mut(checksum).expect("checksum") = statefulset_before
        .pointer(checksum)
        .expect("checksum")
        .clone();
    assert_eq!(
        statefulset_after, statefulset_before,
        "only the template and digest differ"
    );
    let application = read("_argocd/applications/globex.yaml");
    let ignored = application["spec"]["ignoreDifferences"]
        .as_array()
        .expect("ignores");
    assert!(ignored.iter().any(|entry| {
        entry["kind"] == "StatefulSet"
            && entry["name"] == "postgres"
            && entry["jsonPointers"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p == "/spec/volumeClaimTemplates"))
    }));
    let options = application["spec"]["syncPolicy"]["syncOptions"].to_string();
    assert!(
        options.contains("RespectIgnoreDifferences=true"),
        "{options}"
    );
    // Shrinking back is what the rule forbids, and what render refuses (above).
    let shrunk = read(claims[0]);
    assert!(!claim_update_allowed(&shrunk, &before[0]));
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

#[test]
fn a_lower_postgres_major_is_refused_and_a_higher_one_renders() {
    let database = "  database:\n";
    refused_then_allowed(
        |dir| {
            edit(
                &dir.join("profiles/acme.yaml"),
                database,
                "  database:\n    postgresVersion: 15\n",
            )
        },
        "acme",
        &["StatefulSet/postgres"],
    );
    // Up is the upgrade path: the members keep their major until major-upgrade.py runs.
    let work = workspace("guard-upgrade");
    let dir = work.path();
    render_ok(dir, &["render"]);
    edit(
        &dir.join("profiles/acme.yaml"),
        database,
        "  database:\n    postgresVersion: 17\n",
    );
    render_ok(dir, &["render"]);
    let statefulset =
        std::fs::read_to_string(dir.join("out/acme/database/statefulset-postgres.yaml"))
            .expect("the StatefulSet");
    assert!(
        statefulset.contains("gitopsc.io/postgres-major: \"17\""),
        "{statefulset}"
    );
}
