//! Consistent snapshots of the primary's volume: a CronJob that runs `snapshot.sh` (a
//! ConfigMap), its ServiceAccount and least-privilege Role, and the VolumeSnapshotClass of
//! GKE's Persistent Disk CSI driver (docs/backup.md).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, EnvVar, EnvVarSource, ObjectFieldSelector, PodTemplateSpec,
    ResourceRequirements,
};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::credentials;
use super::names::{label, service, user};
use super::{Component, Object, labels, metadata, port, selector, workload};
use crate::model::{Backup, Customer};

/// Name of the CronJob, ServiceAccount, Role and ConfigMap.
pub const NAME: &str = "postgres-snapshot";
const CONFIG_DIR: &str = "/etc/snapshot";
const CREDENTIALS_DIR: &str = "/etc/snapshot/credentials";
/// The annotation that carries the backup label of an online snapshot (base64).
pub const LABEL_ANNOTATION: &str = "gitopsc.io/backup-label";
/// The label that marks the snapshots this job owns (and may prune).
pub const SNAPSHOT_LABEL: (&str, &str) = ("gitopsc.io/snapshot-of", "postgres");
/// How long the job may wait for the snapshot's `creationTime` (the moment the disk was
/// cut, before which an online backup must not stop), and what the job needs beyond the
/// wait for `readyToUse` (checkpoint, backup start and stop, pruning).
const CREATION_TIMEOUT_SECONDS: u32 = 300;
const JOB_OVERHEAD_SECONDS: i64 = 600;

/// The job's deadline: the profile's wait for `readyToUse` plus the rest of the job.
fn job_deadline_seconds(backup: &Backup) -> i64 {
    i64::from(backup.ready_timeout_minutes) * 60 + JOB_OVERHEAD_SECONDS
}
/// The Persistent Disk CSI driver of GKE.
pub const DRIVER: &str = "pd.csi.storage.gke.io";
const UID: i64 = 10001;

pub fn emit(customer: &Customer) -> Vec<Object> {
    let Some(backup) = &customer.backup else {
        return Vec::new();
    };
    let labels = labels(customer, workload::BACKUP, Component::BACKUP.as_str());
    let config_map = config_map(customer, backup, &labels);
    let checksum = super::checksum(&config_map);
    vec![
        super::service_account(customer, Component::BACKUP, NAME, &labels, false, None),
        role(customer, &labels),
        super::role_binding(customer, Component::BACKUP, NAME, &labels),
        contents_role(customer, &labels),
        contents_binding(customer, &labels),
        config_map,
        cron_job(customer, backup, &labels, &checksum),
        snapshot_class(backup, &labels),
    ]
}

/// The cluster-scoped role and binding that let the job release a snapshot it prunes: the
/// class keeps disk snapshots (`Retain`), so pruning first sets the bound
/// VolumeSnapshotContent to `Delete`. Named after the customer: cluster-scoped objects of
/// two customers in one cluster must not collide.
pub fn contents_role_name(customer: &Customer) -> String {
    format!("{}-{NAME}-contents", customer.name)
}

/// Read and patch VolumeSnapshotContents, nothing else.
fn contents_role(customer: &Customer, labels: &BTreeMap<String, String>) -> Object {
    let name = contents_role_name(customer);
    let role = ClusterRole {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["snapshot.storage.k8s.io".into()]),
            resources: Some(vec!["volumesnapshotcontents".into()]),
            verbs: vec!["get".into(), "patch".into()],
            ..PolicyRule::default()
        }]),
        ..ClusterRole::default()
    };
    Object::new(Component::BACKUP, &name, &role)
}

fn contents_binding(customer: &Customer, labels: &BTreeMap<String, String>) -> Object {
    let name = contents_role_name(customer);
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: NAME.into(),
            namespace: Some(customer.namespace.clone()),
            ..Subject::default()
        }]),
    };
    Object::new(Component::BACKUP, &name, &binding)
}

/// What snapshot.sh calls: list pods (to find the primary by label); create, read,
/// annotate, list and delete VolumeSnapshots. No wildcards, nothing else.
fn role(customer: &Customer, labels: &BTreeMap<String, String>) -> Object {
    let rule = |group: &str, resource: &str, verbs: &[&str]| PolicyRule {
        api_groups: Some(vec![group.into()]),
        resources: Some(vec![resource.into()]),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..PolicyRule::default()
    };
    let role = Role {
        metadata: metadata(customer, NAME, labels.clone()),
        rules: Some(vec![
            rule("", "pods", &["list"]),
            rule(
                "snapshot.storage.k8s.io",
                "volumesnapshots",
                &["create", "delete", "get", "list", "patch"],
            ),
        ]),
    };
    Object::new(Component::BACKUP, NAME, &role)
}

fn selector_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The labels every snapshot of this customer carries, which pruning selects on.
pub fn snapshot_labels(customer: &Customer) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/instance".to_string(),
            customer.name.clone(),
        ),
        (SNAPSHOT_LABEL.0.to_string(), SNAPSHOT_LABEL.1.to_string()),
    ])
}

/// `snapshot.sh` as compiled.
pub fn script(customer: &Customer, backup: &Backup) -> String {
    let mut primary = selector(customer, workload::POSTGRES);
    primary.insert(label::ROLE.into(), label::LEADER.into());
    if customer.database.citus_worker_groups.is_some() {
        primary.insert(label::CITUS_GROUP.into(), "0".into());
    }
    let snapshot_labels = snapshot_labels(customer);
    let label_yaml = snapshot_labels
        .iter()
        .map(|(k, v)| format!("    {k}: {v}"))
        .collect::<Vec<_>>()
        .join("\n");
    super::render_template(
        "snapshot.sh",
        minijinja::context! {
            customer => customer.name,
            online => backup.online,
            retain => backup.retain,
            ready_timeout => backup.ready_timeout_minutes * 60,
            creation_timeout => CREATION_TIMEOUT_SECONDS,
            primary_selector => selector_text(&primary),
            snapshot_selector => selector_text(&snapshot_labels),
            snapshot_label_yaml => label_yaml,
            snapshot_prefix => format!("{}-postgres", customer.name),
            headless => service::HEADLESS,
            postgres_port => port::POSTGRES,
            backup_user => user::BACKUP,
            sslmode => if customer.database.tls_secret.is_some() { "require" } else { "disable" },
            credentials_dir => CREDENTIALS_DIR,
            keys => credentials::secret_keys(),
            label_annotation => LABEL_ANNOTATION,
        },
    )
}

fn config_map(customer: &Customer, backup: &Backup, labels: &BTreeMap<String, String>) -> Object {
    let config_map = ConfigMap {
        metadata: metadata(customer, NAME, labels.clone()),
        data: Some(BTreeMap::from([(
            "snapshot.sh".to_string(),
            script(customer, backup),
        )])),
        ..ConfigMap::default()
    };
    Object::new(Component::BACKUP, NAME, &config_map)
}

/// The variable that names the VolumeSnapshotClass to the script (a reference the link
/// stage resolves).
pub const SNAPSHOT_CLASS_ENV: &str = "VOLUME_SNAPSHOT_CLASS";

/// The job's pod: the snapshot script with the backup user's password and the API token.
fn snapshot_pod(
    customer: &Customer,
    backup: &Backup,
    labels: &BTreeMap<String, String>,
    checksum: &str,
) -> PodTemplateSpec {
    let container = Container {
        name: "snapshot".into(),
        image: Some(backup.image.clone()),
        image_pull_policy: super::pull_policy(false),
        command: Some(vec!["/bin/sh".into(), format!("{CONFIG_DIR}/snapshot.sh")]),
        env: Some(vec![
            EnvVar {
                name: "NAMESPACE".into(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: "metadata.namespace".into(),
                        ..ObjectFieldSelector::default()
                    }),
                    ..EnvVarSource::default()
                }),
                ..EnvVar::default()
            },
            EnvVar {
                name: SNAPSHOT_CLASS_ENV.into(),
                value: Some(backup.class_name.clone()),
                ..EnvVar::default()
            },
        ]),
        resources: Some(ResourceRequirements {
            requests: Some(super::quantities("50m", "64Mi")),
            limits: Some(super::quantities("500m", "256Mi")),
            ..ResourceRequirements::default()
        }),
        security_context: Some(super::restricted_container(UID)),
        volume_mounts: Some(vec![
            super::mount("script", CONFIG_DIR, true),
            super::mount("credentials", CREDENTIALS_DIR, true),
            super::mount("tmp", "/tmp", false),
        ]),
        ..Container::default()
    };
    // The job talks to the Kubernetes API; only its pod gets the token.
    super::job_pod(
        labels,
        checksum,
        NAME,
        true,
        UID,
        container,
        vec![
            super::config_map_volume("script", NAME, 0o444),
            super::credentials::volume(
                "credentials",
                &customer.database,
                &[credentials::secret_key::BACKUP],
            ),
            super::scratch_volume("tmp", "16Mi", false),
        ],
    )
}

fn cron_job(
    customer: &Customer,
    backup: &Backup,
    labels: &BTreeMap<String, String>,
    checksum: &str,
) -> Object {
    let pod = snapshot_pod(customer, backup, labels, checksum);
    let mut meta = metadata(customer, NAME, labels.clone());
    meta.annotations = super::checkov_skips(
        &[(
            "CKV_K8S_38",
            "the snapshot job creates and prunes VolumeSnapshots through the Kubernetes API",
        )],
        None,
    );
    // A missed run is skipped after 10 minutes; a retry would take a second snapshot.
    let cron_job = super::cron_job(
        meta,
        &backup.schedule,
        600,
        job_deadline_seconds(backup),
        pod,
    );
    Object::new(Component::BACKUP, NAME, &cron_job)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VolumeSnapshotClass {
    api_version: &'static str,
    kind: &'static str,
    metadata: ObjectMeta,
    driver: &'static str,
    deletion_policy: &'static str,
}

/// Cluster-scoped: one per customer cluster. `Retain`: a disk snapshot outlives its
/// VolumeSnapshot, so deleting the namespace (which deletes every VolumeSnapshot in it)
/// deletes no backup; only the job's pruning releases one, on purpose (docs/backup.md).
fn snapshot_class(backup: &Backup, labels: &BTreeMap<String, String>) -> Object {
    const KIND: &str = "VolumeSnapshotClass";
    let class = VolumeSnapshotClass {
        api_version: "snapshot.storage.k8s.io/v1",
        kind: KIND,
        metadata: ObjectMeta {
            name: Some(backup.class_name.clone()),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        },
        driver: DRIVER,
        deletion_policy: "Retain",
    };
    Object::custom(Component::BACKUP, KIND, &backup.class_name, &class)
}
