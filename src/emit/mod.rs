//! Stage 5: a `Customer` → typed Kubernetes objects, one module per component.
//!
//! Emitters build `k8s-openapi` values (never text templates) and hand them on as JSON
//! trees tagged with their component. By concern: `object.rs` the output type, kind order,
//! paths and sync waves; `names.rs` the names and ports components share; `pod.rs` the pod
//! building blocks; `template.rs` the text files; this module the entry point and the
//! metadata every component uses (labels and selectors come from here only, so every
//! workload, Service and NetworkPolicy agrees on them).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::model::Customer;

pub use names::{port, workload};
pub use object::{Component, CustomResource, HOLDS_DATA, KEEP, Object, SYNC_OPTIONS, SYNC_WAVE};
pub use pod::*;
pub use template::render_template;

pub mod access;
pub mod app;
pub mod archive;
pub mod backup;
pub mod credentials;
pub mod database;
pub mod monitoring;
pub mod names;
pub mod network;
mod object;
pub mod pgpool;
mod pod;
pub mod queue;
mod template;

/// An optional component that plugs into the stack. It emits its own objects (its workload,
/// Service, NetworkPolicies, scrape target), and hands the shared parts what they need of
/// it: its alerts for the customer's rules, the variables that tell the app where it is,
/// and what it needs but does not create. Adding one takes its module, its line in
/// `EXTENSIONS`, its profile section under `spec.extensions` and its docs.
pub struct Extension {
    /// The objects; none when the profile does not ask for the component.
    pub emit: fn(&Customer) -> Vec<Object>,
    pub alerts: fn(&Customer) -> Vec<monitoring::Alert>,
    pub app_env: fn(&Customer) -> Vec<k8s_openapi::api::core::v1::EnvVar>,
    pub prerequisites: fn(&Customer) -> Vec<crate::prerequisite::Prerequisite>,
}

/// Every extension, in output order.
pub const EXTENSIONS: &[Extension] = &[queue::EXTENSION];

/// Every object of a customer, in the fixed kind order, then by name.
pub fn emit(customer: &Customer) -> Vec<Object> {
    let mut objects = app::emit(customer);
    objects.extend(access::emit(customer));
    objects.extend(network::emit(customer));
    objects.extend(database::emit(customer));
    objects.extend(pgpool::emit(customer));
    objects.extend(backup::emit(customer));
    objects.extend(monitoring::emit(customer));
    for extension in EXTENSIONS {
        objects.extend((extension.emit)(customer));
    }
    // The database certificate names every Service a client may reach it by.
    let services: Vec<String> = objects
        .iter()
        .filter(|o| {
            o.kind == "Service" && matches!(o.component, Component::DATABASE | Component::PGPOOL)
        })
        .map(|o| o.name.clone())
        .collect();
    objects.extend(credentials::emit(customer, &services));
    object::transform(&mut objects);
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

/// `checkov.io/skipN` annotations, each with the reason, for checks that do not fit; plus
/// the digest-pinning check (CKV_K8S_43) when `unpinned` names the profile section whose
/// `allowUnpinnedImage` let an image by tag through.
pub fn checkov_skips(
    skips: &[(&str, &str)],
    unpinned: Option<&str>,
) -> Option<BTreeMap<String, String>> {
    let pinning = unpinned.map(|section| {
        format!("the profile opts out of digest pinning with {section}.allowUnpinnedImage")
    });
    let all: Vec<(&str, &str)> = skips
        .iter()
        .copied()
        .chain(pinning.as_deref().map(|why| ("CKV_K8S_43", why)))
        .collect();
    (!all.is_empty()).then(|| {
        all.iter()
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

/// The ServiceAccount of a workload; `token` when its pods call the Kubernetes API.
pub fn service_account(
    customer: &Customer,
    component: Component,
    name: &str,
    labels: &BTreeMap<String, String>,
    token: bool,
    gcp_service_account: Option<&str>,
) -> Object {
    let mut metadata = metadata(customer, name, labels.clone());
    // Workload Identity: the GSA this ServiceAccount acts as.
    metadata.annotations = gcp_service_account.map(|gsa| {
        BTreeMap::from([(
            credentials::GCP_SERVICE_ACCOUNT_ANNOTATION.to_string(),
            gsa.to_string(),
        )])
    });
    let account = k8s_openapi::api::core::v1::ServiceAccount {
        metadata,
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
