//! Stage 5: a `Customer` → typed Kubernetes objects, one module per component.
//!
//! Emitters build `k8s-openapi` values (never text templates) and hand them on as JSON
//! trees tagged with their component; labels and selectors come from this module only, so
//! every workload, Service and (later) NetworkPolicy agrees on them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, EmptyDirVolumeSource, PodSecurityContext, SeccompProfile, SecurityContext,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use crate::model::Customer;

pub use names::{port, workload};

pub mod access;
pub mod app;
pub mod backup;
pub mod credentials;
pub mod database;
pub mod monitoring;
pub mod names;
pub mod network;
pub mod pgpool;

/// Output folder of an object inside `out/<customer>/`, in DESIGN §3 order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    App,
    Access,
    Network,
    Database,
    Pgpool,
    Backup,
    Monitoring,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Component::App => "app",
            Component::Access => "access",
            Component::Network => "network",
            Component::Database => "database",
            Component::Pgpool => "pgpool",
            Component::Monitoring => "monitoring",
            Component::Backup => "backup",
        }
    }
}

/// One compiled Kubernetes object.
#[derive(Debug, Clone)]
pub struct Object {
    pub component: Component,
    pub kind: String,
    pub name: String,
    pub value: serde_json::Value,
}

impl Object {
    pub fn new<T: Serialize + k8s_openapi::Resource>(
        component: Component,
        name: &str,
        object: &T,
    ) -> Self {
        Object::custom(component, T::KIND, name, object)
    }

    /// A custom resource, built from one of our own typed structs.
    pub fn custom<T: Serialize>(component: Component, kind: &str, name: &str, object: &T) -> Self {
        let mut value = serde_json::to_value(object).unwrap_or(serde_json::Value::Null);
        annotate(
            &mut value,
            SYNC_WAVE,
            &sync_wave(component, kind).to_string(),
        );
        Object {
            component,
            kind: kind.to_string(),
            name: name.to_string(),
            value,
        }
    }

    /// Position of the kind in the fixed output order: what others depend on comes first.
    pub fn kind_rank(&self) -> usize {
        const ORDER: &[&str] = &[
            "Namespace",
            "VolumeSnapshotClass",
            "ServiceAccount",
            "SecretStore",
            "ExternalSecret",
            "Issuer",
            "Certificate",
            "Role",
            "RoleBinding",
            "ConfigMap",
            "NetworkPolicy",
            "Service",
            "PersistentVolumeClaim",
            "StatefulSet",
            "Deployment",
            "CronJob",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "BackendConfig",
            "FrontendConfig",
            "ManagedCertificate",
            "Ingress",
            "PodMonitor",
            "PodMonitoring",
            "PrometheusRule",
            "ClusterRules",
        ];
        ORDER
            .iter()
            .position(|k| *k == self.kind)
            .unwrap_or(ORDER.len())
    }

    /// `app/deployment-app.yaml`: one object per file, lowercase kind.
    pub fn path(&self) -> String {
        format!(
            "{}/{}-{}.yaml",
            self.component.as_str(),
            self.kind.to_lowercase(),
            self.name
        )
    }
}

/// The Argo CD annotation that orders a sync: lower waves are applied, and healthy, first.
pub const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";

/// Namespace first; then configuration and network policies; then the database, Pgpool,
/// the app; the entry points last, so nothing is exposed before what it exposes is ready.
fn sync_wave(component: Component, kind: &str) -> i32 {
    match (component, kind) {
        (_, "Namespace") => -1,
        (
            _,
            "ServiceAccount" | "Role" | "RoleBinding" | "ConfigMap" | "Secret" | "ExternalSecret"
            | "SecretStore" | "Issuer" | "Certificate" | "NetworkPolicy",
        ) => 0,
        (Component::Network, _) => 0,
        (Component::Database, _) => 1,
        (Component::Pgpool, _) => 2,
        // Scrape targets and rules are configuration: in place before what they watch.
        (Component::Monitoring, _) => 0,
        // With the database: the job needs the primary, the class the driver.
        (Component::Backup, _) => 1,
        (Component::App, _) => 3,
        (Component::Access, _) => 4,
    }
}

/// Adds one annotation to an object's metadata, keeping metadata's keys in the sorted order
/// the typed objects use.
fn annotate(object: &mut serde_json::Value, key: &str, text: &str) {
    let Some(metadata) = object
        .get_mut("metadata")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    let mut annotations: BTreeMap<String, serde_json::Value> = metadata
        .remove("annotations")
        .and_then(|a| serde_json::from_value(a).ok())
        .unwrap_or_default();
    annotations.insert(key.to_string(), serde_json::Value::String(text.to_string()));
    metadata.insert(
        "annotations".into(),
        serde_json::to_value(annotations).unwrap_or_default(),
    );
    let mut entries: Vec<(String, serde_json::Value)> =
        std::mem::take(metadata).into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    metadata.extend(entries);
}

/// Every object of a customer, in the fixed kind order, then by name.
pub fn emit(customer: &Customer) -> Vec<Object> {
    let mut objects = app::emit(customer);
    objects.extend(access::emit(customer));
    objects.extend(network::emit(customer));
    objects.extend(database::emit(customer));
    objects.extend(pgpool::emit(customer));
    objects.extend(backup::emit(customer));
    objects.extend(monitoring::emit(customer));
    // The database certificate names every Service a client may reach it by.
    let services: Vec<String> = objects
        .iter()
        .filter(|o| {
            o.kind == "Service" && matches!(o.component, Component::Database | Component::Pgpool)
        })
        .map(|o| o.name.clone())
        .collect();
    objects.extend(credentials::emit(customer, &services));
    objects
        .sort_by(|a, b| (a.kind_rank(), &a.kind, &a.name).cmp(&(b.kind_rank(), &b.kind, &b.name)));
    objects
}

/// The cluster's DNS domain; GKE's is always `cluster.local`.
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// The label that ties an object to this tool.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "gitopsc");

/// Labels that select a workload's pods. Never change them: selectors are immutable.
pub fn selector(customer: &Customer, name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/instance".to_string(),
            customer.name.clone(),
        ),
        ("app.kubernetes.io/name".to_string(), name.to_string()),
    ])
}

/// The recommended `app.kubernetes.io/*` labels plus the profile's own.
pub fn labels(customer: &Customer, name: &str, component: &str) -> BTreeMap<String, String> {
    let mut labels = customer.labels.clone();
    labels.extend(selector(customer, name));
    labels.insert("app.kubernetes.io/component".into(), component.into());
    labels.insert("app.kubernetes.io/part-of".into(), "gitopsc-stack".into());
    labels.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    labels
}

/// Metadata of a namespaced object.
pub fn metadata(customer: &Customer, name: &str, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(customer.namespace.clone()),
        labels: Some(labels),
        ..ObjectMeta::default()
    }
}

/// A container that passes Pod Security "restricted" and the CIS checks: its own user,
/// no privilege escalation, no capabilities, a read-only root, the runtime's seccomp filter.
pub fn restricted_container(uid: i64) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Capabilities::default()
        }),
        seccomp_profile: Some(runtime_default()),
        ..SecurityContext::default()
    }
}

/// The pod-level half of `restricted_container`; volumes are group-owned by `uid`.
pub fn restricted_pod(uid: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        fs_group: Some(uid),
        seccomp_profile: Some(runtime_default()),
        ..PodSecurityContext::default()
    }
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        ..SeccompProfile::default()
    }
}

/// CPU and memory as a `requests`/`limits` map.
pub fn quantities(cpu: &str, memory: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_string(), Quantity(cpu.to_string())),
        ("memory".to_string(), Quantity(memory.to_string())),
    ])
}

/// A digest never changes, so a cached copy is exact; a tag can move, so re-check it.
pub fn pull_policy(by_tag: bool) -> Option<String> {
    Some(if by_tag { "Always" } else { "IfNotPresent" }.into())
}

/// The sha256 of a ConfigMap as compiled, for a pod template's `checksum/config`.
pub fn checksum(config_map: &Object) -> String {
    crate::serialize::digest(crate::serialize::to_yaml(&config_map.value).as_bytes())
}

/// An `emptyDir` of at most `limit`, in memory when `memory`.
pub fn scratch_volume(name: &str, limit: &str, memory: bool) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: memory.then(|| "Memory".into()),
            size_limit: Some(Quantity(limit.into())),
        }),
        ..Volume::default()
    }
}

/// A volume mount, read-only or not.
pub fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

/// The text files inside ConfigMaps, as minijinja templates (`emit/templates/`).
const TEMPLATES: &[(&str, &str)] = &[
    (
        "apply-config.sh",
        include_str!("templates/apply-config.sh.j2"),
    ),
    ("pgpool.conf", include_str!("templates/pgpool.conf.j2")),
    (
        "pgpool-ready.sh",
        include_str!("templates/pgpool-ready.sh.j2"),
    ),
    ("pool_hba.conf", include_str!("templates/pool_hba.conf.j2")),
    ("snapshot.sh", include_str!("templates/snapshot.sh.j2")),
    (
        "start-patroni.sh",
        include_str!("templates/start-patroni.sh.j2"),
    ),
    (
        "start-pgpool-exporter.sh",
        include_str!("templates/start-pgpool-exporter.sh.j2"),
    ),
    (
        "start-pgpool.sh",
        include_str!("templates/start-pgpool.sh.j2"),
    ),
];

/// Renders one of `TEMPLATES` with strict undefined-variable behaviour, so a template that
/// names a value the emitter did not pass fails instead of writing an empty string. The
/// templates are parsed once per process.
pub fn render_template(name: &str, context: minijinja::Value) -> String {
    static ENVIRONMENT: std::sync::OnceLock<minijinja::Environment<'static>> =
        std::sync::OnceLock::new();
    let environment = ENVIRONMENT.get_or_init(|| {
        let mut environment = minijinja::Environment::new();
        environment.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        environment.set_keep_trailing_newline(true);
        environment.set_trim_blocks(true);
        environment.set_lstrip_blocks(true);
        for (name, source) in TEMPLATES {
            // Compiled into the binary and rendered by every test: a failure is a bug in
            // gitopsc, never something a profile can cause.
            environment
                .add_template(name, source)
                .unwrap_or_else(|e| panic!("template {name}: {e:#}"));
        }
        environment
    });
    environment
        .get_template(name)
        .and_then(|template| template.render(context))
        .unwrap_or_else(|e| panic!("template {name}: {e:#}"))
}

/// `checkov.io/skipN` annotations, each with the reason, for checks that do not fit.
pub fn checkov_skips(skips: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    (!skips.is_empty()).then(|| {
        skips
            .iter()
            .enumerate()
            .map(|(i, (check, why))| {
                (
                    format!("checkov.io/skip{}", i + 1),
                    format!("{check}={why}"),
                )
            })
            .collect()
    })
}

/// A sidecar exporter's container: its port named `metrics`, probes on its landing page,
/// small resources, the restricted security context of the pod's user.
pub fn exporter_container(
    name: &str,
    image: &str,
    port: i32,
    uid: i64,
) -> k8s_openapi::api::core::v1::Container {
    use k8s_openapi::api::core::v1::{
        Container, ContainerPort, HTTPGetAction, Probe, ResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let probe = |period: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/".into()),
            port: IntOrString::String(monitoring::EXPORTER_PORT.into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(3),
        ..Probe::default()
    };
    Container {
        name: name.into(),
        image: Some(image.into()),
        image_pull_policy: pull_policy(!image.contains("@sha256:")),
        ports: Some(vec![ContainerPort {
            name: Some(monitoring::EXPORTER_PORT.into()),
            container_port: port,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        resources: Some(ResourceRequirements {
            requests: Some(quantities("10m", "32Mi")),
            limits: Some(quantities("200m", "128Mi")),
            ..ResourceRequirements::default()
        }),
        readiness_probe: Some(probe(10)),
        liveness_probe: Some(probe(20)),
        security_context: Some(restricted_container(uid)),
        ..Container::default()
    }
}

/// The ServiceAccount of a workload; `token` when its pods call the Kubernetes API.
pub fn service_account(
    customer: &Customer,
    component: Component,
    name: &str,
    labels: &BTreeMap<String, String>,
    token: bool,
) -> Object {
    let account = k8s_openapi::api::core::v1::ServiceAccount {
        metadata: metadata(customer, name, labels.clone()),
        automount_service_account_token: Some(token),
        ..k8s_openapi::api::core::v1::ServiceAccount::default()
    };
    Object::new(component, name, &account)
}

/// Binds the Role `name` to the ServiceAccount `name`, in the customer's namespace.
pub fn role_binding(
    customer: &Customer,
    component: Component,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> Object {
    use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
    let binding = RoleBinding {
        metadata: metadata(customer, name, labels.clone()),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: name.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: name.into(),
            namespace: Some(customer.namespace.clone()),
            ..Subject::default()
        }]),
    };
    Object::new(component, name, &binding)
}

/// One pod of the workload at a time may be disrupted. `unhealthy_may_go`: pods that are
/// not ready never block a drain (stateless workloads); otherwise the default, which
/// counts them (the database, where "not ready" may be a member catching up).
pub fn pod_disruption_budget(
    customer: &Customer,
    component: Component,
    name: &str,
    labels: &BTreeMap<String, String>,
    unhealthy_may_go: bool,
) -> Object {
    use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let pdb = PodDisruptionBudget {
        metadata: metadata(customer, name, labels.clone()),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(selector(customer, name)),
                ..LabelSelector::default()
            }),
            unhealthy_pod_eviction_policy: unhealthy_may_go.then(|| "AlwaysAllow".into()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    };
    Object::new(component, name, &pdb)
}

/// A ConfigMap mounted as a volume of the same name's files, with file `mode`.
pub fn config_map_volume(volume: &str, config_map: &str, mode: i32) -> Volume {
    Volume {
        name: volume.into(),
        config_map: Some(k8s_openapi::api::core::v1::ConfigMapVolumeSource {
            name: config_map.into(),
            default_mode: Some(mode),
            ..k8s_openapi::api::core::v1::ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// A Secret mounted as a volume, its files with `mode` (owner root, group the pod's).
pub fn secret_volume(volume: &str, secret: &str, mode: i32) -> Volume {
    Volume {
        name: volume.into(),
        secret: Some(k8s_openapi::api::core::v1::SecretVolumeSource {
            secret_name: Some(secret.into()),
            default_mode: Some(mode),
            ..k8s_openapi::api::core::v1::SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// A pod template's metadata: its labels, and the sha256 of the configuration it mounts as
/// `checksum/config`, so a configuration change rolls the pods and nothing else does.
pub fn pod_metadata(labels: &BTreeMap<String, String>, checksum: &str) -> ObjectMeta {
    ObjectMeta {
        labels: Some(labels.clone()),
        annotations: Some(BTreeMap::from([(
            "checksum/config".to_string(),
            checksum.to_string(),
        )])),
        ..ObjectMeta::default()
    }
}

/// A custom resource of our own: apiVersion, kind, metadata and a typed spec. Its kind and
/// name are spelled once, here, and the `Object` takes them from it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomResource<S> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: S,
}

impl<S: Serialize> CustomResource<S> {
    pub fn into_object(self, component: Component) -> Object {
        let name = self.metadata.name.clone().unwrap_or_default();
        Object::custom(component, self.kind, &name, &self)
    }
}
