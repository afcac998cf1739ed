//! `out/_argocd/`: how Argo CD delivers the fleet (docs/delivery.md). Per customer an
//! AppProject that fences it in and an Application that syncs `out/<customer>/`; and an
//! ApplicationSet that can replace the Applications.

use crate::emit::CustomResource as Resource;
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::{Folder, Format, locked};
use crate::emit::Object;
use crate::model::{Customer, Scaling};
use crate::serialize::{digest, to_yaml};

/// Name of the fleet folder under the output folder.
pub const FOLDER: &str = "_argocd";
/// Where Argo CD runs and reads its Applications and AppProjects.
const ARGOCD_NAMESPACE: &str = "argocd";
const API_VERSION: &str = "argoproj.io/v1alpha1";

/// The repository path Argo CD syncs for a customer: the committed output (DESIGN §3).
pub fn source_path(customer: &Member) -> String {
    format!("out/{}", customer.name)
}

/// What `_argocd/` needs of a customer. A fleet keeps this to the end instead of the
/// customer, whose model is most of its memory (docs/performance.md).
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub namespace: String,
    pub delivery: crate::model::Delivery,
    /// The HPA owns the Deployment's replicas.
    pub auto_scaled: bool,
    /// The ConfigMaps Patroni creates itself.
    pub patroni_config_maps: Vec<String>,
    /// The database's StatefulSets, whose claim templates Argo CD leaves as created.
    pub statefulsets: Vec<String>,
}

impl Member {
    pub fn of(customer: &Customer) -> Member {
        Member {
            name: customer.name.clone(),
            namespace: customer.namespace.clone(),
            delivery: customer.delivery.clone(),
            auto_scaled: matches!(customer.app.scaling, Scaling::Auto { .. }),
            patroni_config_maps: crate::emit::database::patroni_config_maps(&customer.database),
            statefulsets: crate::emit::database::statefulset_names(&customer.database),
        }
    }
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(ARGOCD_NAMESPACE.to_string()),
        labels: Some(BTreeMap::from([(
            crate::emit::MANAGED_BY.0.to_string(),
            crate::emit::MANAGED_BY.1.to_string(),
        )])),
        ..ObjectMeta::default()
    }
}

#[derive(Serialize, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct GroupKind {
    group: String,
    kind: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProjectSpec {
    description: String,
    source_repos: Vec<String>,
    destinations: Vec<Destination>,
    cluster_resource_whitelist: Vec<GroupKind>,
    namespace_resource_whitelist: Vec<GroupKind>,
    orphaned_resources: OrphanedResources,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Destination {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<String>,
}

#[derive(Serialize)]
struct OrphanedResources {
    warn: bool,
    ignore: Vec<OrphanedKey>,
}

#[derive(Serialize)]
struct OrphanedKey {
    group: &'static str,
    kind: &'static str,
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApplicationSpec {
    destination: Destination,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ignore_differences: Vec<IgnoreDifference>,
    project: String,
    source: Source,
    sync_policy: SyncPolicy,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Source {
    path: String,
    #[serde(rename = "repoURL")]
    repo_url: String,
    target_revision: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IgnoreDifference {
    group: String,
    json_pointers: Vec<String>,
    kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SyncPolicy {
    automated: Automated,
    retry: Retry,
    sync_options: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Automated {
    prune: bool,
    self_heal: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Retry {
    backoff: Backoff,
    limit: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Backoff {
    duration: String,
    factor: i64,
    max_duration: String,
}

/// Settings of every customer's sync: automated with prune and self-heal, server-side
/// apply, prune after everything else is healthy, retries that back off. Only what is out
/// of sync is applied (`ApplyOutOfSyncOnly`): gitops-engine waits for every object it
/// applies in a wave to be healthy before the next wave, so re-applying an unchanged
/// StatefulSet with a Pending member (Progressing while `readyReplicas < replicas`) would
/// hold back every later wave, the app's hotfix included (docs/delivery.md).
fn sync_policy() -> SyncPolicy {
    let options = vec![
        "PruneLast=true".to_string(),
        "ServerSideApply=true".to_string(),
        "ApplyOutOfSyncOnly=true".to_string(),
        "RespectIgnoreDifferences=true".to_string(),
    ];
    SyncPolicy {
        automated: Automated {
            prune: true,
            self_heal: true,
        },
        retry: Retry {
            backoff: Backoff {
                duration: "10s".into(),
                factor: 2,
                max_duration: "5m".into(),
            },
            limit: 5,
        },
        sync_options: options,
    }
}

struct Settings {
    project: String,
    repo_url: String,
    target_revision: String,
    destination: Destination,
}

fn settings(customer: &Member) -> Settings {
    let delivery = &customer.delivery;
    Settings {
        project: delivery.project.clone(),
        repo_url: delivery.repo_url.clone(),
        target_revision: delivery.target_revision.clone(),
        destination: destination(customer),
    }
}

/// The customer's destination as Argo CD spells it: the Application and the AppProject
/// carry the same one, so the project's match (name or server, and namespace) holds.
fn destination(customer: &Member) -> Destination {
    let destination = &customer.delivery.destination;
    Destination {
        name: destination.name().map(str::to_string),
        namespace: customer.namespace.clone(),
        server: destination.server().map(str::to_string),
    }
}

/// What an AppProject needs to know of an object: its API group, kind and scope.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectKind {
    pub group: String,
    pub kind: String,
    pub namespaced: bool,
}

impl ObjectKind {
    pub fn of(object: &Object) -> ObjectKind {
        let api_version = object.value["apiVersion"].as_str().unwrap_or_default();
        ObjectKind {
            group: api_version
                .rsplit_once('/')
                .map_or("", |(group, _)| group)
                .to_string(),
            kind: object.kind.clone(),
            namespaced: object.value["metadata"].get("namespace").is_some(),
        }
    }
}

impl ObjectKind {
    /// The kind and name of an object file gitopsc wrote (`apiVersion:` and `kind:` at the
    /// top level, `name:` and `namespace:` under `metadata:`): for a folder reused without
    /// compiling it, the same facts `of` takes from the compiled object.
    pub fn read(text: &str) -> Option<(ObjectKind, String)> {
        let (mut api_version, mut kind, mut name, mut namespaced) = (None, None, None, false);
        let mut in_metadata = false;
        for line in text.lines() {
            if let Some(value) = line.strip_prefix("apiVersion: ") {
                api_version = Some(unquote(value));
            } else if let Some(value) = line.strip_prefix("kind: ") {
                kind = Some(unquote(value));
            } else if line == "metadata:" {
                in_metadata = true;
            } else if !line.starts_with(' ') {
                // The serializer writes `apiVersion`, `kind` and `metadata` first: the rest
                // of the file (most of it) says nothing more.
                if in_metadata && kind.is_some() && api_version.is_some() {
                    break;
                }
                in_metadata = false;
            } else if in_metadata {
                if let Some(value) = line.strip_prefix("  name: ") {
                    name = Some(unquote(value));
                } else if line.starts_with("  namespace: ") {
                    namespaced = true;
                }
            }
        }
        let api_version = api_version?;
        Some((
            ObjectKind {
                group: api_version
                    .rsplit_once('/')
                    .map_or("", |(group, _)| group)
                    .to_string(),
                kind: kind?,
                namespaced,
            },
            name?,
        ))
    }
}

/// A scalar as the serializer may have quoted it (names and kinds never need escapes).
fn unquote(value: &str) -> String {
    value.trim_matches(|c| c == '"' || c == '\'').to_string()
}

/// The kinds, split into cluster-scoped and namespaced, each sorted and distinct.
fn kinds(objects: &[ObjectKind]) -> (Vec<GroupKind>, Vec<GroupKind>) {
    let mut cluster = BTreeSet::new();
    let mut namespaced = BTreeSet::new();
    for object in objects {
        let kind = GroupKind {
            group: object.group.clone(),
            kind: object.kind.clone(),
        };
        if object.namespaced {
            namespaced.insert(kind);
        } else {
            cluster.insert(kind);
        }
    }
    (
        cluster.into_iter().collect(),
        namespaced.into_iter().collect(),
    )
}

fn project(customer: &Member, settings: &Settings, objects: &[ObjectKind]) -> String {
    let (cluster, namespaced) = kinds(objects);
    to_yaml(&value(&Resource {
        api_version: API_VERSION,
        kind: "AppProject",
        metadata: meta(&settings.project),
        spec: ProjectSpec {
            description: format!("gitopsc: customer {}", customer.name),
            source_repos: vec![settings.repo_url.clone()],
            destinations: vec![settings.destination.clone()],
            // Exactly the kinds the customer's output holds, so nothing else can be synced.
            cluster_resource_whitelist: cluster,
            namespace_resource_whitelist: namespaced,
            // Patroni keeps the cluster state in ConfigMaps it creates itself: expected, not
            // orphans, so they raise no warning.
            orphaned_resources: OrphanedResources {
                warn: true,
                ignore: customer
                    .patroni_config_maps
                    .iter()
                    .map(|name| OrphanedKey {
                        group: "",
                        kind: "ConfigMap",
                        name: name.clone(),
                    })
                    .collect(),
            },
        },
    }))
}

/// Fields Argo CD neither compares nor applies (`RespectIgnoreDifferences`: on sync it
/// keeps their live values). An entry with a name matches only that object (argo-cd
/// `util/argo/normalizers/diff_normalizer.go`).
fn ignore_differences(customer: &Member) -> Vec<IgnoreDifference> {
    let mut ignored = Vec::new();
    // With the HPA in charge the app's Deployment omits `replicas`; should anything else
    // ever set it, Argo CD must not take it back. Only that Deployment: Pgpool's replicas
    // come from the profile and must reach the cluster.
    if customer.auto_scaled {
        ignored.push(ignore(
            "apps",
            "Deployment",
            crate::emit::names::workload::APP,
            &["/spec/replicas"],
        ));
    }
    ignored.extend(data_ignores(&customer.statefulsets));
    ignored
}

fn ignore(group: &str, kind: &str, name: &str, pointers: &[&str]) -> IgnoreDifference {
    IgnoreDifference {
        group: group.into(),
        json_pointers: pointers.iter().map(|p| p.to_string()).collect(),
        kind: kind.into(),
        name: name.into(),
    }
}

/// Kubernetes refuses any change of a StatefulSet's claim templates; the members' claims
/// are compiled objects of their own, which grow in place, so the template stays as it was
/// created. A claim restored from a snapshot keeps its (immutable) data source after the
/// profile stops naming the snapshot.
fn data_ignores(statefulsets: &[String]) -> Vec<IgnoreDifference> {
    let mut ignored: Vec<IgnoreDifference> = statefulsets
        .iter()
        .map(|name| ignore("apps", "StatefulSet", name, &["/spec/volumeClaimTemplates"]))
        .collect();
    ignored.push(ignore(
        "",
        "PersistentVolumeClaim",
        "",
        &["/spec/dataSource", "/spec/dataSourceRef"],
    ));
    ignored
}

fn application(customer: &Member, settings: &Settings) -> String {
    let ignore_differences = ignore_differences(customer);
    to_yaml(&value(&Resource {
        api_version: API_VERSION,
        kind: "Application",
        metadata: meta(&customer.name),
        spec: ApplicationSpec {
            destination: settings.destination.clone(),
            ignore_differences,
            project: settings.project.clone(),
            source: Source {
                path: source_path(customer),
                repo_url: settings.repo_url.clone(),
                target_revision: settings.target_revision.clone(),
            },
            sync_policy: sync_policy(),
        },
    }))
}

/// The ApplicationSet alternative: one generated Application per customer of the
/// repository, from a list whose elements carry what the Applications carry (name,
/// project, path, destination), so a generated Application equals the compiled one in what
/// its AppProject checks. Exactly one of `server` and `name` is set per element; Argo CD
/// treats the empty one as unset.
fn application_set(repo_url: &str, target_revision: &str, customers: &[&Member]) -> String {
    let elements: Vec<serde_json::Value> = customers
        .iter()
        .map(|customer| {
            let settings = settings(customer);
            serde_json::json!({
                "customer": customer.name,
                "project": settings.project,
                "path": source_path(customer),
                "namespace": settings.destination.namespace,
                "server": settings.destination.server.unwrap_or_default(),
                "cluster": settings.destination.name.unwrap_or_default(),
            })
        })
        .collect();
    let template = serde_json::json!({
        "metadata": { "name": "{{customer}}" },
        "spec": {
            "destination": {
                "name": "{{cluster}}",
                "namespace": "{{namespace}}",
                "server": "{{server}}",
            },
            // What every customer's Application ignores, for any StatefulSet (only the
            // database's exist); the app's replicas stay in the per-customer Applications.
            "ignoreDifferences": value(&data_ignores(&[String::new()])),
            "project": "{{project}}",
            "source": { "path": "{{path}}", "repoURL": repo_url, "targetRevision": target_revision },
            "syncPolicy": value(&sync_policy()),
        }
    });
    to_yaml(&serde_json::json!({
        "apiVersion": API_VERSION,
        "kind": "ApplicationSet",
        "metadata": value(&meta("gitopsc-fleet")),
        "spec": {
            "generators": [{ "list": { "elements": elements } }],
            "template": template,
        }
    }))
}

fn value<T: Serialize>(object: &T) -> serde_json::Value {
    serde_json::to_value(object).unwrap_or(serde_json::Value::Null)
}

/// `out/_argocd/` for the whole fleet, from each customer and its objects' kinds.
pub fn fleet(customers: &[(&Member, &[ObjectKind])]) -> Folder {
    let mut files = BTreeMap::new();
    let mut resources = Vec::new();
    let mut repos: BTreeMap<(String, String), Vec<&Member>> = BTreeMap::new();
    for (customer, objects) in customers {
        let settings = settings(customer);
        repos
            .entry((settings.repo_url.clone(), settings.target_revision.clone()))
            .or_default()
            .push(customer);
        for (path, text) in [
            (
                format!("projects/{}.yaml", settings.project),
                project(customer, &settings, objects),
            ),
            (
                format!("applications/{}.yaml", customer.name),
                application(customer, &settings),
            ),
        ] {
            resources.push(serde_json::Value::String(path.clone()));
            files.insert(path, text);
        }
    }
    // One ApplicationSet per repository the fleet's profiles name (usually one).
    for ((repo_url, revision), members) in &repos {
        let name = if repos.len() == 1 {
            "applicationset/fleet.yaml".to_string()
        } else {
            format!(
                "applicationset/fleet-{}.yaml",
                &digest(format!("{repo_url}\n{revision}").as_bytes())[7..15]
            )
        };
        files.insert(name, application_set(repo_url, revision, members));
    }
    resources.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    resources.dedup();
    let kustomization = serde_json::json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    });
    files.insert(super::KUSTOMIZATION.to_string(), to_yaml(&kustomization));
    // The folder is made of the Argo CD objects alone, so its input is their text: a profile
    // change that leaves every Application and project as it was leaves this folder, lock
    // included, as it was.
    let objects: Vec<String> = files
        .iter()
        .map(|(path, text)| format!("{path} {}", digest(text.as_bytes())))
        .collect();
    let input = digest(objects.join("\n").as_bytes());
    locked(FOLDER.to_string(), Format::Kustomize, &input, files)
}
