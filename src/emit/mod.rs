//! Stage 5: a `Customer` → typed Kubernetes objects, one module per component.
//!
//! Emitters build `k8s-openapi` values (never text templates) and hand them on as JSON
//! trees tagged with their component; labels and selectors come from this module only, so
//! every workload, Service and (later) NetworkPolicy agrees on them.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use crate::model::Customer;

pub mod access;
pub mod app;
pub mod network;

/// Output folder of an object inside `out/<customer>/`, in DESIGN §3 order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    App,
    Access,
    Network,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Component::App => "app",
            Component::Access => "access",
            Component::Network => "network",
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
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "ConfigMap",
            "NetworkPolicy",
            "Service",
            "StatefulSet",
            "Deployment",
            "CronJob",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "BackendConfig",
            "FrontendConfig",
            "ManagedCertificate",
            "Ingress",
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
            | "NetworkPolicy",
        ) => 0,
        (Component::Network, _) => 0,
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
    objects
        .sort_by(|a, b| (a.kind_rank(), &a.kind, &a.name).cmp(&(b.kind_rank(), &b.kind, &b.name)));
    objects
}

/// The `app.kubernetes.io/name` of each workload's pods: the one source of the labels that
/// Deployments, StatefulSets, Services and NetworkPolicies select on.
pub mod workload {
    pub const APP: &str = "app";
    pub const PGPOOL: &str = "pgpool";
    pub const POSTGRES: &str = "postgres";
    pub const BACKUP: &str = "backup";
}

/// Ports the components agree on.
pub mod port {
    /// The app's named container port (its number is `app.port`).
    pub const APP_NAME: &str = "http";
    pub const POSTGRES: i32 = 5432;
    /// Patroni's REST API: leader election, health, member replication state.
    pub const PATRONI: i32 = 8008;
    pub const PGPOOL: i32 = 9999;
    /// postgres_exporter's default listen port.
    pub const POSTGRES_EXPORTER: i32 = 9187;
    /// pgpool2_exporter's default listen port.
    pub const PGPOOL_EXPORTER: i32 = 9719;
    /// The Kubernetes API on GKE's private control-plane endpoint.
    pub const KUBERNETES_API: i32 = 443;
}

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
