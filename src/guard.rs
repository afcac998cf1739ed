//! The destructive-change guard: before `render` replaces a customer's committed folder it
//! compares the two, and a change that would delete or replace something that holds or
//! locates the customer's data is refused unless the command allows it for that customer
//! (`--allow-destroy`). `diff` shows the same findings first (docs/backup.md).
//!
//! What counts: a Namespace, StatefulSet, PersistentVolumeClaim, VolumeSnapshotClass or
//! VolumeSnapshot that leaves the output (a renamed namespace or class is one that leaves
//! and one that comes: the new one starts empty); a StatefulSet change Kubernetes refuses in
//! place (`selector`, `serviceName`, `volumeClaimTemplates`, `podManagementPolicy`: it would
//! have to be deleted and re-created); and in the Terraform a bucket, the cluster or the
//! Secret Manager secret with the database's passwords that leaves, or whose name,
//! location or project changes (Terraform replaces it). A customer whose profile is gone
//! loses all of it.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use serde_json::Value;

use crate::emit::HOLDS_DATA;
use crate::package::Folder;

/// Something a change would delete or replace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Loss {
    pub customer: String,
    /// `Namespace/acme`, `google_storage_bucket.archive`.
    pub object: String,
    /// The committed file that holds it.
    pub file: String,
    pub why: String,
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} ({}): {}",
            self.customer, self.object, self.file, self.why
        )
    }
}

/// StatefulSet fields Kubernetes refuses to change in place (apps/v1 validation: only
/// `replicas`, `ordinals`, `template`, `updateStrategy`,
/// `persistentVolumeClaimRetentionPolicy` and `minReadySeconds` may change).
/// `volumeClaimTemplates` is left out: Argo CD keeps the live template (the compiled
/// Application ignores it) and the members' claims are objects of their own, checked below.
const STATEFULSET_IMMUTABLE: &[&str] = &["selector", "serviceName", "podManagementPolicy"];

/// Terraform resources that hold or locate data, and the arguments that make Terraform
/// replace them.
const TERRAFORM_DATA: &[(&str, &[&str])] = &[
    ("google_storage_bucket", &["/name", "/location", "/project"]),
    (
        "google_container_cluster",
        &[
            "/name",
            "/location",
            "/project",
            "/network",
            "/subnetwork",
            "/private_cluster_config/master_ipv4_cidr_block",
            "/private_cluster_config/private_endpoint_subnetwork",
        ],
    ),
    // The database's passwords: destroying the secret destroys every version of them.
    (
        "google_secret_manager_secret",
        &["/secret_id", "/project", "/replication"],
    ),
];

/// What replacing the committed copy of `folder` under `out` would lose.
pub fn folder(out: &Path, folder: &Folder) -> io::Result<Vec<Loss>> {
    let committed = crate::write::current(out, &folder.name)?.into_files();
    let compiled: BTreeMap<String, Vec<u8>> = folder
        .files
        .iter()
        .map(|(path, text)| (path.clone(), text.clone().into_bytes()))
        .collect();
    Ok(compare(&folder.name, &committed, &compiled))
}

/// What removing the folder `name` (no profile produces it any more) would lose.
pub fn removed(out: &Path, name: &str) -> io::Result<Vec<Loss>> {
    let committed = crate::write::current(out, name)?.into_files();
    Ok(compare(name, &committed, &BTreeMap::new()))
}

/// What turning `committed` (a folder's files on disk) into `compiled` would lose.
pub fn compare(
    customer: &str,
    committed: &BTreeMap<String, Vec<u8>>,
    compiled: &BTreeMap<String, Vec<u8>>,
) -> Vec<Loss> {
    let mut losses = Vec::new();
    let old = objects(committed);
    let new = objects(compiled);
    let loss = |object: String, file: &str, why: String| Loss {
        customer: customer.to_string(),
        object,
        file: file.to_string(),
        why,
    };
    for ((kind, name), (file, before)) in &old {
        let object = format!("{kind}/{name}");
        match new.get(&(kind.clone(), name.clone())) {
            // A member's claim that a scale-down or the end of a restore drops stays in the
            // cluster (Argo CD never prunes it) while its StatefulSet runs on.
            None if kind == "PersistentVolumeClaim" && claim_of_running(name, &new) => {}
            None => losses.push(loss(object, file, gone_why(kind))),
            Some((_, after)) if kind == "PersistentVolumeClaim" => {
                losses.extend(claim_change(before, after).map(|why| loss(object, file, why)));
            }
            Some((_, after)) if kind == "StatefulSet" => {
                losses.extend(
                    major_lowered(before, after).map(|why| loss(object.clone(), file, why)),
                );
                for field in STATEFULSET_IMMUTABLE {
                    if before["spec"][field] != after["spec"][field] {
                        losses.push(loss(object.clone(), file, format!(
                            "`spec.{field}` changes, which Kubernetes refuses in place: the StatefulSet would have to be deleted and re-created, and its members restarted on volumes made from the new template"
                        )));
                    }
                }
            }
            Some(_) => {}
        }
    }
    losses.extend(terraform_losses(customer, committed, compiled));
    losses
}

/// Whether `claim` is a member's claim (`data-<statefulset>-<ordinal>`) of a StatefulSet
/// that stays in the output.
fn claim_of_running(claim: &str, new: &BTreeMap<(String, String), (String, Value)>) -> bool {
    new.keys()
        .filter(|(kind, _)| kind == "StatefulSet")
        .any(|(_, statefulset)| {
            claim
                .strip_prefix("data-")
                .and_then(|rest| rest.strip_prefix(statefulset.as_str()))
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|ordinal| ordinal.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// A lower PostgreSQL major than the running one: data directories only move forward
/// (pg_upgrade), so the members would not start, and going back is a restore of a logical
/// dump into a new cluster.
fn major_lowered(before: &Value, after: &Value) -> Option<String> {
    let major = |statefulset: &Value| {
        statefulset["metadata"]["annotations"][crate::emit::names::POSTGRES_MAJOR_ANNOTATION]
            .as_str()
            .and_then(|v| v.parse::<u32>().ok())
    };
    match (major(before), major(after)) {
        (Some(old), Some(new)) if new < old => Some(format!(
            "`postgresVersion` goes down from {old} to {new}: the members' data is PostgreSQL {old}, which {new} cannot run, and no tool converts it back; keep {old} (a downgrade is a logical dump restored into a new cluster)"
        )),
        _ => None,
    }
}

/// What a claim's change would cost: Kubernetes lets a bound claim only grow (the CSI
/// driver expands the disk in place); a new class or a smaller size needs a new disk.
fn claim_change(before: &Value, after: &Value) -> Option<String> {
    let class = |claim: &Value| claim["spec"]["storageClassName"].clone();
    if class(before) != class(after) {
        return Some(format!(
            "the claim's storage class changes from {} to {}, which Kubernetes refuses in place: the data would have to move to a new disk",
            class(before),
            class(after)
        ));
    }
    let size = |claim: &Value| {
        claim["spec"]["resources"]["requests"]["storage"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_default()
    };
    let (old_size, new_size) = (size(before), size(after));
    match (
        crate::syntax::quantity_value(&old_size),
        crate::syntax::quantity_value(&new_size),
    ) {
        (Some(old_bytes), Some(new_bytes)) if new_bytes < old_bytes => Some(format!(
            "the claim would shrink from {old_size} to {new_size}: a disk only grows, so the data would have to move to a new, smaller disk; keep `storage.size` at {old_size} or more"
        )),
        _ => None,
    }
}

fn gone_why(kind: &str) -> String {
    match kind {
        "Namespace" => "the namespace leaves the output: its workloads would start again, empty, wherever the new output puts them, and deleting it deletes every claim and snapshot in it".into(),
        "StatefulSet" => "the database's StatefulSet leaves the output: the cluster would stop, and a new one would start on empty volumes".into(),
        "VolumeSnapshotClass" => "the snapshot class leaves the output: the snapshots taken with it lose the class that locates them".into(),
        _ => format!("the {kind} leaves the output, and the data it holds with it"),
    }
}

/// The objects of a folder's YAML files by (kind, name), with their file, for the kinds
/// that hold data.
fn objects(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<(String, String), (String, Value)> {
    let mut found = BTreeMap::new();
    for (path, bytes) in files.iter().filter(|(p, _)| p.ends_with(".yaml")) {
        let mut diagnostics = Vec::new();
        let (_, node) = crate::load::parse_bytes(path.into(), bytes.clone(), &mut diagnostics);
        let Some(object) = node.map(|n| n.to_json()) else {
            continue;
        };
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        if HOLDS_DATA.contains(&kind.as_str()) {
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            found.insert((kind, name), (path.clone(), object));
        }
    }
    found
}

/// Buckets and the cluster that leave the Terraform, or that Terraform would replace.
fn terraform_losses(
    customer: &str,
    committed: &BTreeMap<String, Vec<u8>>,
    compiled: &BTreeMap<String, Vec<u8>>,
) -> Vec<Loss> {
    let old = terraform_blocks(committed);
    let new = terraform_blocks(compiled);
    let mut losses = Vec::new();
    for ((kind, name), (file, before)) in &old {
        let Some((_, replaced_by)) = TERRAFORM_DATA.iter().find(|(k, _)| k == kind) else {
            continue;
        };
        let object = format!("{kind}.{name}");
        let why = match new.get(&(kind.clone(), name.clone())) {
            None => Some(
                "it leaves the Terraform: `terraform apply` would destroy it and what it holds"
                    .to_string(),
            ),
            Some((_, after)) => replaced_by
                .iter()
                .find(|arg| before.pointer(arg) != after.pointer(arg))
                .map(|arg| {
                    let shown = |v: Option<&Value>| v.map_or("unset".to_string(), Value::to_string);
                    format!(
                        "`{}` changes from {} to {}, which Terraform can only do by destroying it and creating another",
                        arg.trim_start_matches('/').replace('/', "."),
                        shown(before.pointer(arg)),
                        shown(after.pointer(arg))
                    )
                }),
        };
        if let Some(why) = why {
            losses.push(Loss {
                customer: customer.to_string(),
                object,
                file: file.clone(),
                why,
            });
        }
    }
    losses
}

fn terraform_blocks(
    files: &BTreeMap<String, Vec<u8>>,
) -> BTreeMap<(String, String), (String, Value)> {
    let mut found = BTreeMap::new();
    for (path, bytes) in files.iter().filter(|(p, _)| p.ends_with(".tf.json")) {
        let document: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
        for (kind, blocks) in document["resource"].as_object().into_iter().flatten() {
            for (name, body) in blocks.as_object().into_iter().flatten() {
                found.insert((kind.clone(), name.clone()), (path.clone(), body.clone()));
            }
        }
    }
    found
}

/// The losses no `--allow-destroy` covers.
pub fn refused(losses: Vec<Loss>, allowed: &[String]) -> Vec<Loss> {
    losses
        .into_iter()
        .filter(|loss| !allowed.contains(&loss.customer))
        .collect()
}
