//! The output type: one compiled object, its component (output folder), its place in the
//! fixed kind order, its path, and its Argo CD sync wave; and the custom-resource wrapper
//! every CRD-backed object is built with.

use std::collections::BTreeMap;

use serde::Serialize;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// A part of the stack: its output folder inside `out/<customer>/` and the Argo CD sync
/// wave of its workloads. Each component module declares its own; the built-in ones are
/// here, in DESIGN §3 order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Component {
    folder: &'static str,
    wave: i32,
}

impl Component {
    pub const APP: Component = Component::new("app", 3);
    // The entry points last, so nothing is exposed before what it exposes is ready.
    pub const ACCESS: Component = Component::new("access", 4);
    pub const NETWORK: Component = Component::new("network", 0);
    pub const DATABASE: Component = Component::new("database", 1);
    pub const PGPOOL: Component = Component::new("pgpool", 2);
    // With the database: the job needs the primary, the class the driver.
    pub const BACKUP: Component = Component::new("backup", 1);
    // Scrape targets and rules are configuration: in place before what they watch.
    pub const MONITORING: Component = Component::new("monitoring", 0);

    pub const fn new(folder: &'static str, wave: i32) -> Component {
        Component { folder, wave }
    }

    pub fn as_str(self) -> &'static str {
        self.folder
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
        Object {
            component,
            kind: kind.to_string(),
            name: name.to_string(),
            value: serde_json::to_value(object).unwrap_or(serde_json::Value::Null),
        }
    }

    /// The object as it is written: with the transforms `transform` applies to the whole
    /// set (for the checksum of a ConfigMap, taken before the set is complete).
    pub fn as_written(&self) -> serde_json::Value {
        let mut written = self.clone();
        transform(std::slice::from_mut(&mut written));
        written.value
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
            "ClusterRole",
            "ClusterRoleBinding",
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

/// Namespace first; then configuration and network policies; then each component's
/// workloads in the order of their waves (the database, Pgpool, the app, the entry points).
fn sync_wave(component: Component, kind: &str) -> i32 {
    match kind {
        "Namespace" => -1,
        "ServiceAccount" | "Role" | "RoleBinding" | "ClusterRole" | "ClusterRoleBinding"
        | "ConfigMap" | "Secret" | "ExternalSecret" | "SecretStore" | "Issuer" | "Certificate"
        | "NetworkPolicy" => 0,
        _ => component.wave,
    }
}

/// Argo CD's per-object sync options (docs/delivery.md).
pub const SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";
/// Never pruned when it leaves the output, never deleted with its Application (Argo CD
/// sync options "No Prune Resources" and "No Resource Deletion").
pub const KEEP: &str = "Prune=false,Delete=false";
/// The same for a Helm release: `helm uninstall` and an upgrade that drops the object leave
/// it in place (Helm's `helm.sh/resource-policy: keep`).
pub const HELM_RESOURCE_POLICY: (&str, &str) = ("helm.sh/resource-policy", "keep");
/// Kinds whose objects hold or locate a customer's data: deleting one deletes the data
/// (a Namespace cascades to everything in it, a StatefulSet's claims follow their pods'
/// volumes, a snapshot class decides whether its snapshots outlive their objects).
pub const HOLDS_DATA: &[&str] = &[
    "Namespace",
    "StatefulSet",
    "PersistentVolumeClaim",
    "VolumeSnapshotClass",
    "VolumeSnapshot",
];

/// What applies to every object alike, run over the whole set as kustomize runs its
/// transformers: the Argo CD sync wave, from the object's component and kind; and for what
/// holds data, the sync options that keep Argo CD from ever deleting it.
pub fn transform(objects: &mut [Object]) {
    for object in objects {
        let wave = sync_wave(object.component, &object.kind).to_string();
        annotate(&mut object.value, SYNC_WAVE, &wave);
        if HOLDS_DATA.contains(&object.kind.as_str()) {
            annotate(&mut object.value, SYNC_OPTIONS, KEEP);
            annotate(
                &mut object.value,
                HELM_RESOURCE_POLICY.0,
                HELM_RESOURCE_POLICY.1,
            );
        }
    }
}

/// Adds one annotation to a serialised object, keeping the metadata's keys in order.
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
