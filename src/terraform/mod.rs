//! The customer's GCP infrastructure as Terraform JSON (`out/<customer>/terraform/`): the
//! same effective model the manifests come from, so the two halves cannot disagree (the
//! control-plane range, the DNS mode, managed Prometheus, the node pools' names and taints,
//! the Cloud Armor allow-list, the GSAs behind Workload Identity).
//!
//! One module per concern, each a file of the customer's root module, as in
//! terraform-google-modules: `providers`, `network`, `cluster`, `edge`, `dns`, `identity`,
//! `secrets`, `archive`, `state`, `imports`, `logging`, `admission`. Blocks refer to each other through `Address`
//! values (`block.rs`), never hand-built strings, so the order Terraform applies them in is
//! data (`Module::graph`) a test can read.
//!
//! Values are typed JSON, never templated HCL. Every resource and attribute is checked
//! against the hashicorp/google schema in `schema/google-provider.json` by the tests
//! (docs/infrastructure.md says where that schema comes from).

use std::collections::BTreeMap;

use crate::model::Customer;
use crate::profile::defaults;

pub mod admission;
mod archive;
pub mod block;
pub mod bootstrap;
mod cluster;
mod dns;
mod edge;
mod identity;
mod imports;
mod logging;
mod network;
mod providers;
mod secrets;
mod state;

pub use archive::BUCKET as ARCHIVE_BUCKET;
pub use block::{Address, Block, File, Graph, Ref};
pub use cluster::{CLUSTER, GENERAL_POOL, KEY_GRANT, NODE_ACCOUNT, NODE_ROLE};
pub use edge::{HEALTH_CHECK_RANGES, RANGES_PER_RULE};
pub use logging::{DATA_ACCESS_LOGGED, WATCHED_CHANGES};

/// The provider range whose schema the tests check (`schema/google-provider.json`: 8.7.0).
pub const PROVIDER_VERSION: &str = "~> 8.7";
/// The folder inside `out/<customer>/`.
pub const FOLDER: &str = "terraform";

/// The customer's root module: its files by name (`cluster` for `cluster.tf.json`), in the
/// order they are written; a concern with nothing to create has no file.
pub struct Module {
    pub files: Vec<(&'static str, File)>,
}

impl Module {
    /// Which blocks wait for which, as Terraform will order them.
    pub fn graph(&self) -> Graph {
        let documents: Vec<serde_json::Value> =
            self.files.iter().map(|(_, file)| file.to_json()).collect();
        Graph::of(&documents)
    }
}

/// The customer's root module; `images` are those its manifests run
/// (`admission::images`), which the Binary Authorization policy admits.
pub fn module(customer: &Customer, images: &std::collections::BTreeSet<String>) -> Module {
    let gcp = Gcp::of(customer);
    let state = State::of(customer, &gcp);
    let files = [
        ("providers", providers::file(&gcp, &state)),
        ("network", network::file(customer, &gcp)),
        ("cluster", cluster::file(customer, &gcp)),
        ("edge", edge::file(customer, &gcp)),
        ("dns", dns::file(customer, &gcp)),
        ("identity", identity::file(customer)),
        ("secrets", secrets::file(customer)),
        ("archive", archive::file(customer, &gcp)),
        ("state", state::file(&state)),
        ("imports", imports::file(&state)),
        ("logging", logging::file(customer, &gcp)),
        ("admission", admission::file(customer, &gcp, images)),
    ];
    Module {
        files: files
            .into_iter()
            .filter(|(_, file)| !file.is_empty())
            .collect(),
    }
}

/// A Compute Engine name of the customer's: `<customer>-<what>`, the customer's part cut so
/// the whole fits the 63 characters the provider allows (`verify.ValidateGCEName`).
fn gce_name(customer: &str, what: &str) -> String {
    crate::syntax::named_after(customer, what, 63)
}

/// The bootstrap root applied before the customer's (`bootstrap.rs`).
pub fn bootstrap(customer: &Customer, root: &Module) -> Module {
    bootstrap::module(&Gcp::of(customer), &bootstrap::apis(root))
}

/// Every Terraform file of the customer, by path inside `out/<customer>/`: the customer's
/// root in `terraform/`, the bootstrap root in `terraform/bootstrap/`.
pub fn files(
    customer: &Customer,
    images: &std::collections::BTreeSet<String>,
) -> BTreeMap<String, String> {
    let root = module(customer, images);
    let bootstrap = bootstrap(customer, &root);
    let folder = format!("{FOLDER}/{}", bootstrap::FOLDER);
    [(FOLDER, &root), (folder.as_str(), &bootstrap)]
        .into_iter()
        .flat_map(|(folder, module)| {
            module.files.iter().map(move |(name, file)| {
                let mut text = serde_json::to_string_pretty(&file.to_json()).unwrap_or_default();
                text.push('\n');
                (format!("{folder}/{name}.tf.json"), text)
            })
        })
        .collect()
}

/// The GCP-side settings the profile gives, every default applied.
struct Gcp<'a> {
    project: &'a str,
    region: &'a str,
    network: String,
    subnetwork: String,
    network_project: String,
    /// The ranges of a network gitopsc creates; `None`: the existing one is read.
    create: Option<crate::profile::NetworkRanges>,
    /// The existing subnetwork's secondary ranges by name: (pods, Services).
    secondary_ranges: Option<(String, String)>,
    /// A Private Service Connect cluster's endpoint subnetwork.
    endpoint_subnetwork: Option<String>,
    cloud_nat: bool,
    /// Days the log sink's bucket keeps every entry.
    log_retention_days: u32,
    /// Where the security alerts go (`projects/P/notificationChannels/ID`).
    notification_channels: Vec<String>,
}

impl Gcp<'_> {
    fn of(customer: &Customer) -> Gcp<'_> {
        let profile = customer.profile.spec.as_ref().and_then(|s| s.gcp.as_ref());
        let project = customer.cluster.project_id.as_str();
        let text = |value: Option<&crate::syntax::GceName>| {
            value.map(|name| name.0.clone()).unwrap_or_default()
        };
        Gcp {
            project,
            region: customer.cluster.location.as_str(),
            network: text(profile.and_then(|g| g.network.as_ref())),
            subnetwork: text(profile.and_then(|g| g.subnetwork.as_ref())),
            network_project: profile
                .and_then(|g| g.network_project_id.as_ref())
                .map_or_else(|| project.to_string(), |p| p.0.clone()),
            create: profile.and_then(|g| g.create_network.clone()),
            endpoint_subnetwork: customer
                .profile
                .spec
                .as_ref()
                .and_then(|s| s.infrastructure.as_ref())
                .and_then(|i| i.cluster.as_ref())
                .and_then(|c| c.private_endpoint_subnetwork.as_ref())
                .map(|name| name.0.clone()),
            secondary_ranges: profile
                .and_then(|g| g.secondary_ranges.as_ref())
                .map(|r| (text(r.pods.as_ref()), text(r.services.as_ref()))),
            cloud_nat: profile
                .and_then(|g| g.cloud_nat)
                .unwrap_or(defaults::CLOUD_NAT),
            log_retention_days: profile
                .and_then(|g| g.logging.as_ref())
                .and_then(|l| l.retention_days)
                .unwrap_or(defaults::LOG_RETENTION_DAYS),
            notification_channels: profile
                .and_then(|g| g.logging.as_ref())
                .and_then(|l| l.notification_channels.as_ref())
                .map(|channels| channels.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
        }
    }
}

/// Where the customer's Terraform state lives, every default applied.
struct State {
    /// The customer's project, where a managed bucket must be.
    project: String,
    bucket: String,
    prefix: String,
    manage_bucket: bool,
    location: String,
}

impl State {
    fn of(customer: &Customer, gcp: &Gcp) -> State {
        let state = customer
            .profile
            .spec
            .as_ref()
            .and_then(|s| s.infrastructure.as_ref())
            .and_then(|i| i.state.clone())
            .unwrap_or_default();
        State {
            project: gcp.project.to_string(),
            bucket: state
                .bucket
                .map_or_else(|| format!("{}-tfstate", gcp.project), String::from),
            prefix: state
                .prefix
                .unwrap_or_else(|| format!("gitopsc/{}", customer.name)),
            manage_bucket: state.manage_bucket.unwrap_or(defaults::MANAGE_STATE_BUCKET),
            location: state.location.unwrap_or_else(|| gcp.region.to_string()),
        }
    }
}
