//! `bootstrap/`: a second root module, applied once before the customer's root. It turns on
//! the Google APIs the customer's root calls. They cannot be in that root: Terraform reads
//! data sources (the network, the project) when it plans, before anything is applied, and
//! every call to an API that is off fails (docs/decisions.md, "A bootstrap root").
//!
//! Its state is local and disposable: enabling an API that is on changes nothing, and
//! `disable_on_destroy: false` keeps a lost or destroyed state from turning one off under
//! the running cluster. The APIs are read off the customer's root module, so a resource
//! added there brings its API here.

use std::collections::BTreeSet;

use serde_json::json;

use super::{Address, Block, File, Gcp, Module, PROVIDER_VERSION};

/// The folder inside `terraform/`.
pub const FOLDER: &str = "bootstrap";

/// The API that serves each resource type and data source, by the longest matching prefix
/// of its type (each resource's page in the provider's documentation names its API).
const API_OF_TYPE: [(&str, &str); 12] = [
    (
        "google_binary_authorization_",
        "binaryauthorization.googleapis.com",
    ),
    ("google_compute_", "compute.googleapis.com"),
    ("google_container_", "container.googleapis.com"),
    ("google_dns_", "dns.googleapis.com"),
    ("google_kms_", "cloudkms.googleapis.com"),
    ("google_logging_", "logging.googleapis.com"),
    ("google_monitoring_", "monitoring.googleapis.com"),
    ("google_project", "cloudresourcemanager.googleapis.com"),
    ("google_secret_manager_", "secretmanager.googleapis.com"),
    ("google_service_account", "iam.googleapis.com"),
    ("google_service_account_iam_", "iam.googleapis.com"),
    ("google_storage_", "storage.googleapis.com"),
];

/// APIs the running system calls although no resource of that type is declared: (the type
/// whose presence needs it, the API, why).
const API_AT_RUN_TIME: [(&str, &str, &str); 3] = [
    (
        "google_container_cluster",
        "logging.googleapis.com",
        "GKE writes the system and workload logs the cluster's logging_config asks for",
    ),
    (
        "google_container_cluster",
        "monitoring.googleapis.com",
        "GKE's system metrics and managed Prometheus",
    ),
    (
        "google_service_account_iam_member",
        "iamcredentials.googleapis.com",
        "Workload Identity mints the Google service accounts' tokens through it",
    ),
];

/// The API a resource type or data source is served by; `None` for a type the table does
/// not know (a test keeps every compiled type known).
pub fn api_of(kind: &str) -> Option<&'static str> {
    API_OF_TYPE
        .iter()
        .filter(|(prefix, _)| kind.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, api)| *api)
}

/// The APIs the customer's root module needs on in the customer's project, sorted.
pub fn apis(root: &Module) -> BTreeSet<&'static str> {
    let blocks = || root.files.iter().flat_map(|(_, file)| file.blocks.iter());
    let kinds: BTreeSet<&str> = blocks().map(|block| block.address.kind).collect();
    let mut apis: BTreeSet<&'static str> = kinds.iter().filter_map(|k| api_of(k)).collect();
    for (kind, api, _) in API_AT_RUN_TIME {
        if kinds.contains(kind) {
            apis.insert(api);
        }
    }
    // A cluster that evaluates Binary Authorization needs its API on, with or without a
    // policy resource.
    let evaluates = blocks().any(|block| {
        block.address == super::CLUSTER
            && block.body["binary_authorization"]["evaluation_mode"]
                .as_str()
                .is_some_and(|mode| mode != "DISABLED")
    });
    if evaluates {
        apis.insert("binaryauthorization.googleapis.com");
    }
    apis
}

/// The bootstrap root: the provider (no backend: the state is local) and one
/// `google_project_service` per API.
pub(super) fn module(gcp: &Gcp, apis: &BTreeSet<&'static str>) -> Module {
    let settings = json!({
        "terraform": {
            "required_providers": {
                "google": {"source": "hashicorp/google", "version": PROVIDER_VERSION}
            }
        },
        "provider": {"google": {"project": gcp.project, "region": gcp.region}}
    });
    let providers = File {
        settings: settings.as_object().cloned().unwrap_or_default(),
        blocks: Vec::new(),
    };
    let services = apis
        .iter()
        .map(|api| {
            let name = api.trim_end_matches(".googleapis.com").to_string();
            Block::new(
                Address::named("google_project_service", name),
                json!({
                    "project": gcp.project,
                    "service": api,
                    "disable_on_destroy": false,
                    "disable_dependent_services": false
                }),
            )
        })
        .collect();
    Module {
        files: vec![("providers", providers), ("services", File::of(services))],
    }
}
