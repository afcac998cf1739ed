//! Stage 4: the merged, schema-valid profile → a `Customer` with every default applied.
//!
//! Fields that have no safe default must be set by the profile or one of its layers; their
//! absence is reported here, pointing at the nearest enclosing field that is present.

use std::collections::BTreeMap;

use crate::cidr::{Cidr, parse_cidr};
use crate::diag::{Code, Diagnostic, Location};
use crate::load::{Node, locate};
use crate::profile::defaults;
pub use crate::profile::defaults::DatabaseEnv;
use crate::profile::{Profile, SourceRange};
use crate::syntax::is_pinned;

/// One customer, ready for the emitters.
#[derive(Debug, Clone)]
pub struct Customer {
    pub name: String,
    pub namespace: String,
    /// `metadata.labels`, copied onto every object.
    pub labels: BTreeMap<String, String>,
    pub app: App,
    pub access: Access,
    /// The control plane's private range, the one place Patroni and the backup job may
    /// reach outside the namespace besides DNS.
    pub control_plane: Cidr,
    /// How the cluster resolves names.
    pub dns: Dns,
    /// The Private Google Access domain pods with Workload Identity reach Google APIs at.
    pub google_apis: crate::profile::GoogleApis,
    /// The GKE cluster, as the External Secrets Workload Identity login names it.
    pub cluster: ClusterIdentity,
    pub monitoring: Monitoring,
    /// How Argo CD delivers the customer.
    pub delivery: Delivery,
    pub database: Database,
    pub backup: Option<Backup>,
    pub archive: Option<Archive>,
    /// The recovery point the profile promises, in seconds (checked against the archive or
    /// the snapshot schedule).
    pub recovery_point_seconds: u32,
    /// The whole typed profile, for the lock's input digest and later components.
    pub profile: Profile,
}

/// The cluster Argo CD deploys a customer to: one concept for the Application, the
/// ApplicationSet and the AppProject, so the project admits what the Applications name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Destination {
    /// The cluster Argo CD runs in (`server: https://kubernetes.default.svc`).
    InCluster,
    /// A cluster registered in Argo CD under this name.
    Name(String),
    /// A cluster by API server URL.
    Server(String),
}

impl Destination {
    pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";

    pub fn server(&self) -> Option<&str> {
        match self {
            Destination::InCluster => Some(Self::IN_CLUSTER_SERVER),
            Destination::Server(server) => Some(server),
            Destination::Name(_) => None,
        }
    }

    pub fn name(&self) -> Option<&str> {
        match self {
            Destination::Name(name) => Some(name),
            _ => None,
        }
    }
}

/// The cluster's DNS: who answers pods' lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dns {
    pub provider: crate::profile::DnsProvider,
    pub node_local_cache: bool,
}

#[derive(Debug, Clone)]
pub struct ClusterIdentity {
    pub project_id: String,
    pub location: String,
    pub name: String,
}

/// The entry points that are enabled; a disabled one is `None`, never "open".
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub internal: Option<InternalEntry>,
    pub external: Option<ExternalEntry>,
}

/// VPC clients through a GKE internal passthrough load balancer.
#[derive(Debug, Clone)]
pub struct InternalEntry {
    pub allowed: AllowList,
    pub global_access: bool,
    /// The DNS name VPC clients use; the load balancer then takes a reserved address.
    pub hostname: Option<String>,
}

/// Public clients through the GKE external HTTP(S) load balancer.
#[derive(Debug, Clone)]
pub struct ExternalEntry {
    pub hosts: Vec<String>,
    /// Enforced at Google's edge by the Cloud Armor policy (Terraform), not in the cluster:
    /// behind the load balancer every request comes from Google's front ends.
    pub allowed: AllowList,
    pub tls: Tls,
    pub cloud_armor_policy: String,
    pub static_ip_name: Option<String>,
    pub ssl_policy: Option<String>,
    pub http_redirect: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    Managed,
    Secret(String),
}

/// An allow-list in one canonical form: sorted, without repeats or ranges that another
/// range already covers. The Service, the NetworkPolicies and (later) the Cloud Armor
/// policy and firewall rules all read this one list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList(Vec<Cidr>);

impl AllowList {
    /// Normalises valid, non-empty ranges (the checks have refused anything else).
    pub fn new(ranges: &[SourceRange]) -> Option<AllowList> {
        let mut parsed: Vec<Cidr> = ranges.iter().filter_map(|r| parse_cidr(r).ok()).collect();
        parsed.sort_by_key(|c| (c.address.is_ipv6(), c.address, c.prefix));
        parsed.dedup();
        let covered: Vec<bool> = parsed
            .iter()
            .map(|a| {
                parsed
                    .iter()
                    .any(|b| b != a && b.prefix < a.prefix && b.contains(a.address))
            })
            .collect();
        let ranges: Vec<Cidr> = parsed
            .into_iter()
            .zip(covered)
            .filter(|(_, c)| !c)
            .map(|(r, _)| r)
            .collect();
        (!ranges.is_empty()).then_some(AllowList(ranges))
    }

    pub fn ranges(&self) -> &[Cidr] {
        &self.0
    }

    /// The ranges as text, e.g. for `loadBalancerSourceRanges`.
    pub fn strings(&self) -> Vec<String> {
        self.0.iter().map(Cidr::to_string).collect()
    }
}

/// Scraping and alerting, every default applied.
#[derive(Debug, Clone)]
pub struct Monitoring {
    pub provider: crate::profile::MonitoringProvider,
    /// On every PodMonitor and PrometheusRule (Prometheus Operator only).
    pub selector_labels: BTreeMap<String, String>,
    pub postgres_exporter_image: String,
    pub pgpool_exporter_image: String,
    pub runbook_base_url: String,
    pub replication_lag_seconds: u32,
    pub snapshot_max_age_hours: u32,
    pub error_ratio_percent: u32,
    pub latency_p99_milliseconds: u32,
    pub connections_percent: u32,
    pub volume_full_percent: u32,
    pub autoscaler_at_max_minutes: u32,
}

/// The PostgreSQL cluster and Pgpool in front of it, every default applied.
#[derive(Debug, Clone)]
pub struct Database {
    pub version: u32,
    pub image: String,
    pub image_by_tag: bool,
    /// Members of one Patroni cluster (per Citus group).
    pub replicas: u32,
    pub synchronous: bool,
    pub storage_size: String,
    pub storage_class: Option<String>,
    pub requests: ResourcePair,
    pub limits: ResourcePair,
    /// The profile's `postgresql.conf` parameters, with `max_connections` always set.
    pub parameters: BTreeMap<String, String>,
    /// The `kubernetes.io/tls` Secret when TLS is on.
    pub tls_secret: Option<String>,
    /// Where that Secret comes from.
    pub tls_source: Option<TlsSource>,
    /// Where the passwords come from; emit names the Secret the pods read.
    pub credentials: Credentials,
    pub pgpool: Pgpool,
    /// Worker groups when `engine: citus`; `None` for a plain PostgreSQL cluster.
    pub citus_worker_groups: Option<u32>,
    /// The node pool, and the taints of it that the members tolerate.
    pub node_pool: Option<NodePlacement>,
    /// The zones the nodes run in (the profile's, or GKE's default of three) and the most
    /// nodes the members may use in each: the members spread over zones as a hard rule,
    /// one per node.
    pub zones: u32,
    pub nodes_per_zone: u32,
    /// The VolumeSnapshot the first member's volume is restored from.
    pub restore_from_snapshot: Option<String>,
    /// Point-in-time recovery from the archive to this moment (RFC 3339, UTC).
    pub restore_to_time: Option<String>,
}

impl Database {
    /// The cluster is being restored and runs its first member only: the standbys come
    /// back, cloned from it, once the restore field is removed.
    pub fn restoring(&self) -> bool {
        self.restore_from_snapshot.is_some() || self.restore_to_time.is_some()
    }

    /// Members that run per group: only the first while restoring, so no empty member can
    /// initialise a new cluster first (docs/restore.md).
    pub fn running_members(&self) -> u32 {
        if self.restoring() { 1 } else { self.replicas }
    }
}

/// Continuous WAL archiving and scheduled full backups with pgBackRest to a GCS bucket the
/// Terraform creates; `None` in `Customer` when disabled.
#[derive(Debug, Clone)]
pub struct Archive {
    pub bucket: String,
    pub location: String,
    pub retention_full: u32,
    pub full_interval_hours: u32,
    pub differential_interval_hours: u32,
    /// Days a deleted or replaced object stays recoverable (GCS soft delete).
    pub soft_delete_days: u32,
    /// The GSA the database pods act as (Workload Identity): the Terraform creates it and
    /// lets it write the bucket's objects, nothing else.
    pub gcp_service_account: String,
    /// The GSA the restore test acts as: it may read the bucket's objects, nothing else, so
    /// the Job that restores a copy can never change or delete a backup.
    pub restore_test_account: String,
    /// `archive_timeout`: a WAL segment is switched, and archived, at least this often.
    pub archive_timeout_seconds: u32,
    /// The restore test's cron schedule (UTC).
    pub restore_test_schedule: String,
}

/// Scheduled snapshots of the primary's volume; `None` in `Customer` when disabled.
#[derive(Debug, Clone)]
pub struct Backup {
    pub schedule: String,
    pub retain: u32,
    pub class_name: String,
    /// Pinned by digest: the checks refuse anything else (E0306).
    pub image: String,
    pub online: bool,
    pub ready_timeout_minutes: u32,
}

/// The database passwords, as the profile asks for them.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A Secret that already exists in the namespace.
    Existing(String),
    /// A Secret Manager secret, which an `ExternalSecret` gitopsc emits turns into a Secret.
    External(ExternalSecretSource),
}

impl Credentials {
    pub fn external(&self) -> Option<&ExternalSecretSource> {
        match self {
            Credentials::External(source) => Some(source),
            Credentials::Existing(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExternalSecretSource {
    pub store: SecretStore,
    pub key: String,
}

/// The store an `ExternalSecret` reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretStore {
    /// A namespaced store gitopsc compiles, logging in by Workload Identity.
    Compiled {
        name: String,
        gcp_service_account: Option<String>,
    },
    /// A `ClusterSecretStore` that exists before the sync.
    Cluster(String),
}

/// Where the database's TLS Secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// A cert-manager Certificate signed by a private CA compiled for the namespace.
    PrivateCa,
    /// A cert-manager Certificate signed by a `ClusterIssuer` that exists before the sync.
    ClusterIssuer(String),
    /// A Secret that exists before the sync.
    Existing,
}

#[derive(Debug, Clone)]
pub struct NodePlacement {
    pub name: String,
    pub taints: Vec<crate::profile::Taint>,
}

#[derive(Debug, Clone)]
pub struct Pgpool {
    pub image: String,
    pub image_by_tag: bool,
    pub replicas: u32,
    pub num_init_children: u32,
    pub max_pool: u32,
    pub load_balance_reads: bool,
    pub read_after_write: crate::profile::ReadAfterWrite,
    pub requests: ResourcePair,
    pub limits: ResourcePair,
}

/// How many app pods run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scaling {
    Fixed(u32),
    Auto {
        min: u32,
        max: u32,
        target_cpu_percent: u32,
        scale_down_stabilization_seconds: u32,
    },
}

#[derive(Debug, Clone)]
pub struct App {
    pub image: String,
    /// The image is referenced by tag (the profile opted out of digest pinning).
    pub image_by_tag: bool,
    pub port: u32,
    pub scaling: Scaling,
    pub requests: ResourcePair,
    pub limits: ResourcePair,
    pub readiness_path: String,
    pub liveness_path: String,
    pub startup_path: String,
    pub startup_timeout_seconds: u32,
    pub env: BTreeMap<String, String>,
    pub max_surge: u32,
    pub max_unavailable: u32,
    pub gcp_service_account: Option<String>,
    pub database_env: DatabaseEnv,
    pub database_connections_per_pod: u32,
    pub termination_grace_seconds: u32,
    pub pre_stop_delay_seconds: u32,
    pub shutdown_seconds: u32,
}

#[derive(Debug, Clone)]
pub struct ResourcePair {
    pub cpu: String,
    pub memory: String,
}

/// Fields that have no safe default; each must be set somewhere in the layer chain.
const REQUIRED: &[&str] = &[
    "/metadata/name",
    "/spec/gcp/projectId",
    "/spec/gcp/region",
    "/spec/gcp/network",
    "/spec/gcp/subnetwork",
    "/spec/app/image",
    "/spec/database/image",
    "/spec/database/credentials",
    "/spec/database/pgpool/image",
    "/spec/argocd/repoURL",
    "/spec/monitoring/postgresExporterImage",
    "/spec/monitoring/pgpoolExporterImage",
    "/spec/infrastructure/cluster/masterIpv4CidrBlock",
];

/// Why a required field has no default, where "set it" is not help enough.
fn required_help(pointer: &str) -> &'static str {
    match pointer {
        "/spec/infrastructure/cluster/masterIpv4CidrBlock" => {
            "Patroni and the snapshot job talk to the Kubernetes API, and egress is allowed only to \
             the control plane's address: set the cluster's private control-plane range \
             (`gcloud container clusters describe` shows privateClusterConfig.masterIpv4CidrBlock; \
             for a Private Service Connect cluster, its private endpoint as a /32)"
        }
        _ => "set it in this profile or in a layer it extends",
    }
}

/// Like `locate`, but only places in the profile file itself: a field the profile must set
/// is reported in the profile, even when a layer holds the enclosing mapping.
fn locate_in_profile(root: &Node, pointer: &str) -> Location {
    let profile = &root.location.file;
    let mut path = pointer;
    while let Some(cut) = path.rfind('/') {
        let location = locate(root, path);
        if std::sync::Arc::ptr_eq(&location.file, profile) && root.pointer(path).is_some() {
            return location;
        }
        path = &path[..cut];
    }
    Location::file_start(profile)
}

/// Builds the customer, or reports every required field that is missing.
///
/// A missing required field is reported here and given a stand-in value, so the customer
/// is still built and the rules between its other fields (`check::effective`) report in the
/// same run: every problem at once. A customer with a stand-in is never emitted, since its
/// missing field is an error.
pub fn build(profile: Profile, root: &Node, diagnostics: &mut Vec<Diagnostic>) -> Option<Customer> {
    let missing = missing_required(root, &profile, diagnostics);
    let profile = if missing.is_empty() {
        profile
    } else {
        with_stand_ins(profile, &missing)?
    };
    let name: String = profile.metadata.as_ref()?.name.clone()?.into();
    let spec = profile.spec.clone().unwrap_or_default();
    let app_model = app(spec.app.clone().unwrap_or_default())?;
    let access = access(spec.access.clone().unwrap_or_default());
    let cluster = spec
        .infrastructure
        .as_ref()
        .and_then(|i| i.cluster.clone())
        .unwrap_or_default();
    let control_plane = cluster.master_ipv4_cidr_block.as_deref()?;
    // GKE takes at most 40 characters.
    let cluster_name = cluster.name.clone().map_or_else(
        || crate::syntax::named_after(&name, "gke", 40),
        String::from,
    );
    let gcp = spec.gcp.clone().unwrap_or_default();
    let database = database(&name, &spec)?;
    let backup = backup(&name, &spec).unwrap_or_else(|()| {
        diagnostics.push(
            Diagnostic::error(
                Code::MissingField,
                "required field `spec.backup.snapshots.image` is not set".to_string(),
            )
            .at(locate_in_profile(root, "/spec/backup/snapshots/image"))
            .field("spec.backup.snapshots.image")
            .help("set the snapshot job's image, or `enabled: false`"),
        );
        // Reported; the rest of the customer is still checked.
        None
    });
    let backup_spec = spec.backup.clone().unwrap_or_default();
    Some(Customer {
        archive: archive(&name, &spec, &backup_spec),
        recovery_point_seconds: backup_spec
            .recovery_point_seconds
            .unwrap_or(defaults::RECOVERY_POINT_SECONDS),
        database,
        backup,
        access,
        control_plane: parse_cidr(control_plane).ok()?,
        dns: Dns {
            provider: cluster.dns_provider.unwrap_or(defaults::DNS_PROVIDER),
            node_local_cache: cluster
                .node_local_dns_cache
                .unwrap_or(defaults::NODE_LOCAL_DNS_CACHE),
        },
        google_apis: gcp.google_apis.unwrap_or(defaults::GOOGLE_APIS),
        delivery: delivery(&name, &spec, &cluster_name),
        cluster: ClusterIdentity {
            project_id: gcp.project_id.clone()?.into(),
            location: gcp.region.clone()?,
            name: cluster_name,
        },
        monitoring: monitoring(&spec)?,
        namespace: or(spec.namespace.clone(), &name),
        labels: profile
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default(),
        name,
        app: app_model,
        profile,
    })
}

/// The fields of `REQUIRED` that neither the profile nor a layer sets, each reported.
/// Required fields the profile lacks, each reported. Read from the typed profile, so a
/// value the schema check left out (`validate::leave_out`) counts as missing too and gets
/// its stand-in (its diagnostic is then the schema's alone).
fn missing_required(
    root: &Node,
    profile: &Profile,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<&'static str> {
    let document = serde_json::to_value(profile).unwrap_or_default();
    let mut missing = Vec::new();
    for pointer in REQUIRED {
        let present = document.pointer(pointer).is_some_and(|v| !v.is_null());
        if !present {
            missing.push(*pointer);
            let field = crate::load::dotted(pointer);
            diagnostics.push(
                Diagnostic::error(
                    Code::MissingField,
                    format!("required field `{field}` is not set"),
                )
                .at(locate_in_profile(root, pointer))
                .field(field.clone())
                .help(required_help(pointer)),
            );
        }
    }
    missing
}

/// The value a missing required field stands in with while the other rules run: valid for
/// its type, never emitted.
fn stand_in(pointer: &str) -> serde_json::Value {
    const IMAGE: &str = "missing.invalid/image@sha256:0000000000000000000000000000000000000000000000000000000000000000";
    match pointer {
        "/spec/database/credentials" => serde_json::json!({"existingSecret": "missing"}),
        "/spec/infrastructure/cluster/masterIpv4CidrBlock" => "172.16.0.0/28".into(),
        "/spec/argocd/repoURL" => "https://missing.invalid/fleet.git".into(),
        _ if pointer.ends_with("image") || pointer.ends_with("Image") => IMAGE.into(),
        _ => "missing".into(),
    }
}

/// `profile` with a stand-in at each of `missing`.
fn with_stand_ins(profile: Profile, missing: &[&str]) -> Option<Profile> {
    let mut document = serde_json::to_value(profile).ok()?;
    for pointer in missing {
        let mut here = &mut document;
        for segment in crate::load::pointer_segments(pointer) {
            if !here.is_object() {
                *here = serde_json::json!({});
            }
            here = here
                .as_object_mut()?
                .entry(segment)
                .or_insert(serde_json::Value::Null);
        }
        *here = stand_in(pointer);
    }
    serde_json::from_value(document).ok()
}

/// The app's effective settings; `None` only when a required field is missing (reported).
fn app(app: crate::profile::App) -> Option<App> {
    let autoscaling = app.autoscaling.clone().unwrap_or_default();
    let resources = app.resources.clone().unwrap_or_default();
    let requests = resources.requests.unwrap_or_default();
    let limits = resources.limits.unwrap_or_default();
    let probes = app.probes.clone().unwrap_or_default();
    let rollout = app.rollout.clone().unwrap_or_default();
    let liveness_path = or(probes.liveness_path, defaults::LIVENESS_PATH);
    let scaling = if autoscaling.enabled.unwrap_or(defaults::AUTOSCALING) {
        Scaling::Auto {
            min: autoscaling.min_replicas.unwrap_or(defaults::MIN_REPLICAS),
            max: autoscaling.max_replicas.unwrap_or(defaults::MAX_REPLICAS),
            target_cpu_percent: autoscaling
                .target_cpu_utilization_percentage
                .unwrap_or(defaults::TARGET_CPU_PERCENT),
            scale_down_stabilization_seconds: autoscaling
                .scale_down_stabilization_seconds
                .unwrap_or(defaults::SCALE_DOWN_STABILIZATION_SECONDS),
        }
    } else {
        Scaling::Fixed(app.replicas.unwrap_or(defaults::APP_REPLICAS))
    };
    Some(App {
        image_by_tag: !is_pinned(app.image.as_deref()?),
        image: app.image.clone()?.into(),
        port: app.port.unwrap_or(defaults::APP_PORT),
        scaling,
        requests: ResourcePair {
            cpu: or(requests.cpu, defaults::CPU_REQUEST),
            memory: or(requests.memory, defaults::MEMORY_REQUEST),
        },
        limits: ResourcePair {
            cpu: or(limits.cpu, defaults::CPU_LIMIT),
            memory: or(limits.memory, defaults::MEMORY_LIMIT),
        },
        readiness_path: or(probes.readiness_path, defaults::READINESS_PATH),
        startup_path: or(probes.startup_path, &liveness_path),
        liveness_path,
        startup_timeout_seconds: probes
            .startup_timeout_seconds
            .unwrap_or(defaults::STARTUP_TIMEOUT_SECONDS),
        env: app.env.clone().unwrap_or_default(),
        max_surge: rollout.max_surge.unwrap_or(defaults::MAX_SURGE),
        max_unavailable: rollout.max_unavailable.unwrap_or(defaults::MAX_UNAVAILABLE),
        gcp_service_account: app
            .workload_identity
            .and_then(|w| w.gcp_service_account)
            .map(String::from),
        database_env: DatabaseEnv::from_profile(app.database_env.as_ref()),
        database_connections_per_pod: app
            .database_connections_per_pod
            .unwrap_or(defaults::APP_DATABASE_CONNECTIONS),
        termination_grace_seconds: app
            .termination_grace_period_seconds
            .unwrap_or(defaults::TERMINATION_GRACE_SECONDS),
        shutdown_seconds: app.shutdown_seconds.unwrap_or(defaults::SHUTDOWN_SECONDS),
        pre_stop_delay_seconds: app
            .pre_stop_delay_seconds
            .unwrap_or(defaults::PRE_STOP_DELAY_SECONDS),
    })
}

/// The entry points the profile turns on, each with its allow-list in canonical form.
fn access(access: crate::profile::Access) -> Access {
    let internal = access
        .internal
        .filter(crate::profile::InternalAccess::enabled)
        .and_then(|i| {
            Some(InternalEntry {
                allowed: AllowList::new(i.allowed_source_ranges.as_deref()?)?,
                global_access: i.global_access.unwrap_or(defaults::GLOBAL_ACCESS),
                hostname: i.hostname.map(String::from),
            })
        });
    let external = access
        .external
        .filter(crate::profile::ExternalAccess::enabled)
        .and_then(|e| {
            Some(ExternalEntry {
                allowed: AllowList::new(e.allowed_source_ranges.as_deref()?)?,
                tls: match e.tls_source() {
                    crate::profile::TlsSource::Managed => Tls::Managed,
                    crate::profile::TlsSource::Secret => Tls::Secret(e.tls_secret_name?.into()),
                },
                hosts: e
                    .hosts
                    .filter(|h| !h.is_empty())?
                    .into_iter()
                    .map(String::from)
                    .collect(),
                cloud_armor_policy: e.cloud_armor_policy?.into(),
                static_ip_name: e.static_ip_name.map(String::from),
                ssl_policy: e.ssl_policy.map(String::from),
                http_redirect: e.http_redirect.unwrap_or(defaults::HTTP_REDIRECT),
            })
        });
    Access { internal, external }
}

/// The database tier; `None` only when a required field is missing (already reported).
fn database(name: &str, spec: &crate::profile::Spec) -> Option<Database> {
    let db = spec.database.clone()?;
    let resources = db.resources.clone().unwrap_or_default();
    let requests = resources.requests.unwrap_or_default();
    let limits = resources.limits.unwrap_or_default();
    let storage = db.storage.clone().unwrap_or_default();
    let pgpool_model = pgpool(db.pgpool.clone().unwrap_or_default())?;
    let parameters = parameters(&db, &pgpool_model);
    let credentials = credentials(db.credentials.clone()?)?;
    let node_pool = placement(&db, spec);
    let nodes_per_zone = nodes_per_zone(node_pool.as_ref(), spec);
    Some(Database {
        version: db.postgres_version.unwrap_or(defaults::POSTGRES_VERSION),
        image_by_tag: !is_pinned(db.image.as_deref()?),
        image: db.image.clone()?.into(),
        replicas: db.replicas.unwrap_or(defaults::DATABASE_REPLICAS),
        synchronous: db.synchronous_mode.unwrap_or(defaults::SYNCHRONOUS_MODE),
        storage_size: or(storage.size, defaults::STORAGE_SIZE),
        storage_class: storage.storage_class_name.map(String::from),
        requests: ResourcePair {
            cpu: or(requests.cpu, defaults::DATABASE_CPU_REQUEST),
            memory: or(requests.memory, defaults::DATABASE_MEMORY_REQUEST),
        },
        limits: ResourcePair {
            cpu: or(limits.cpu, defaults::DATABASE_CPU_LIMIT),
            memory: or(limits.memory, defaults::DATABASE_MEMORY_LIMIT),
        },
        parameters,
        tls_secret: db.tls.unwrap_or(defaults::DATABASE_TLS).then(|| {
            db.tls_secret_name
                .clone()
                .map_or_else(|| format!("{name}-db-tls"), String::from)
        }),
        tls_source: db.tls.unwrap_or(defaults::DATABASE_TLS).then(|| {
            match (&db.tls_secret_name, &db.tls_cluster_issuer) {
                (Some(_), _) => TlsSource::Existing,
                (None, Some(issuer)) => TlsSource::ClusterIssuer(issuer.to_string()),
                (None, None) => TlsSource::PrivateCa,
            }
        }),
        credentials,
        pgpool: pgpool_model,
        citus_worker_groups: (db.engine.unwrap_or(defaults::ENGINE)
            == crate::profile::Engine::Citus)
            .then(|| {
                db.citus
                    .and_then(|c| c.worker_groups)
                    .unwrap_or(defaults::CITUS_WORKER_GROUPS)
            }),
        node_pool,
        zones: zones(spec),
        nodes_per_zone,
        restore_from_snapshot: db.restore_from_snapshot.clone().map(String::from),
        restore_to_time: db.restore_to_time.clone().map(String::from),
    })
}

/// Pgpool's effective settings; `None` only when its image is missing (reported).
fn pgpool(pgpool: crate::profile::Pgpool) -> Option<Pgpool> {
    let resources = pgpool.resources.clone().unwrap_or_default();
    let requests = resources.requests.unwrap_or_default();
    let limits = resources.limits.unwrap_or_default();
    Some(Pgpool {
        requests: ResourcePair {
            cpu: or(requests.cpu, defaults::PGPOOL_CPU_REQUEST),
            memory: or(requests.memory, defaults::PGPOOL_MEMORY_REQUEST),
        },
        limits: ResourcePair {
            cpu: or(limits.cpu, defaults::PGPOOL_CPU_LIMIT),
            memory: or(limits.memory, defaults::PGPOOL_MEMORY_LIMIT),
        },
        image_by_tag: !is_pinned(pgpool.image.as_deref()?),
        image: pgpool.image.clone()?.into(),
        replicas: pgpool.replicas.unwrap_or(defaults::PGPOOL_REPLICAS),
        num_init_children: pgpool
            .num_init_children
            .unwrap_or(defaults::NUM_INIT_CHILDREN),
        max_pool: pgpool.max_pool.unwrap_or(defaults::MAX_POOL),
        load_balance_reads: pgpool
            .load_balance_reads
            .unwrap_or(defaults::LOAD_BALANCE_READS),
        read_after_write: pgpool
            .read_after_write
            .unwrap_or(defaults::READ_AFTER_WRITE),
    })
}

/// The profile's PostgreSQL parameters, with `max_connections` sized for Pgpool when the
/// profile leaves it unset.
fn parameters(db: &crate::profile::Database, pgpool: &Pgpool) -> BTreeMap<String, String> {
    let mut parameters: BTreeMap<String, String> = db
        .parameters
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    if !parameters.contains_key("max_connections") {
        let reserved = reserved_connections(&parameters);
        let demand = pgpool.demand();
        parameters.insert(
            "max_connections".into(),
            defaults::max_connections(demand, reserved).to_string(),
        );
    }
    parameters
}

/// Where the passwords come from; `None` when neither source is complete (reported).
fn credentials(credentials: crate::profile::Credentials) -> Option<Credentials> {
    let external_secret = credentials.external_secret.and_then(|e| {
        let store = match (e.secret_store, e.cluster_secret_store) {
            (Some(name), None) => SecretStore::Compiled {
                name: name.into(),
                gcp_service_account: e.gcp_service_account.map(String::from),
            },
            (None, Some(name)) => SecretStore::Cluster(name.into()),
            _ => return None,
        };
        Some(ExternalSecretSource {
            store,
            key: e.key?.into(),
        })
    });
    match (credentials.existing_secret, external_secret) {
        (Some(existing), _) => Some(Credentials::Existing(existing.into())),
        (None, Some(source)) => Some(Credentials::External(source)),
        (None, None) => None,
    }
}

/// The node pool the database runs on, with its taints: the one the profile names, else
/// the `db` pool when the profile lists one.
fn placement(db: &crate::profile::Database, spec: &crate::profile::Spec) -> Option<NodePlacement> {
    let pools = spec
        .infrastructure
        .as_ref()
        .and_then(|i| i.node_pools.clone())
        .unwrap_or_default();
    match &db.node_pool {
        Some(wanted) => Some(NodePlacement {
            name: wanted.clone(),
            taints: pools
                .iter()
                .find(|p| p.name.as_deref() == Some(wanted.as_str()))
                .and_then(|p| p.taints.clone())
                .unwrap_or_default(),
        }),
        None => pools
            .iter()
            .find(|p| p.name.as_deref() == Some(defaults::DATABASE_NODE_POOL))
            .map(|p| NodePlacement {
                name: defaults::DATABASE_NODE_POOL.into(),
                taints: p.taints.clone().unwrap_or_default(),
            }),
    }
}

/// How many zones the cluster's nodes run in.
fn zones(spec: &crate::profile::Spec) -> u32 {
    spec.infrastructure
        .as_ref()
        .and_then(|i| i.cluster.as_ref())
        .and_then(|c| c.zones.as_ref())
        .map_or(defaults::GKE_DEFAULT_ZONES, |zones| {
            let distinct: std::collections::BTreeSet<&str> =
                zones.iter().map(|z| z.0.as_str()).collect();
            u32::try_from(distinct.len()).unwrap_or(u32::MAX)
        })
}

/// The most nodes per zone the members can run on: their pool's maximum, or, with no
/// pool of their own, every pool's (the default pool's when none is listed), as a total
/// over the zones. The autoscaler balances a pool over its zones (`location_policy`
/// BALANCED), so every zone can have the total divided by the zones, rounded down.
fn nodes_per_zone(placement: Option<&NodePlacement>, spec: &crate::profile::Spec) -> u32 {
    pool_total(placement, spec) / zones(spec).max(1)
}

fn pool_total(placement: Option<&NodePlacement>, spec: &crate::profile::Spec) -> u32 {
    let pools = spec
        .infrastructure
        .as_ref()
        .and_then(|i| i.node_pools.clone())
        .unwrap_or_default();
    let max =
        |pool: &crate::profile::NodePool| pool.max_nodes.unwrap_or(defaults::NODE_POOL_MAX_NODES);
    match placement {
        Some(placement) => pools
            .iter()
            .find(|p| p.name.as_deref() == Some(placement.name.as_str()))
            .map_or(defaults::NODE_POOL_MAX_NODES, max),
        None if pools.is_empty() => defaults::NODE_POOL_MAX_NODES,
        None => pools.iter().map(max).fold(0, u32::saturating_add),
    }
}

/// The archive, every default applied; `None` when it is off.
fn archive(
    name: &str,
    spec: &crate::profile::Spec,
    backup: &crate::profile::Backup,
) -> Option<Archive> {
    let archive = backup.archive.clone().unwrap_or_default();
    if !archive.enabled.unwrap_or(defaults::ARCHIVE) {
        return None;
    }
    let gcp = spec.gcp.clone().unwrap_or_default();
    let project = gcp.project_id.map(String::from).unwrap_or_default();
    let region = gcp.region.unwrap_or_default();
    let recovery_point = backup
        .recovery_point_seconds
        .unwrap_or(defaults::RECOVERY_POINT_SECONDS);
    Some(Archive {
        bucket: archive
            .bucket
            .map_or_else(|| default_bucket(&project, name), String::from),
        location: archive.location.unwrap_or(region),
        retention_full: archive
            .retention_full
            .unwrap_or(defaults::ARCHIVE_RETENTION_FULL),
        full_interval_hours: archive
            .full_backup_interval_hours
            .unwrap_or(defaults::FULL_BACKUP_INTERVAL_HOURS),
        differential_interval_hours: archive
            .differential_backup_interval_hours
            .unwrap_or(defaults::DIFFERENTIAL_BACKUP_INTERVAL_HOURS),
        soft_delete_days: archive
            .soft_delete_days
            .unwrap_or(defaults::ARCHIVE_SOFT_DELETE_DAYS),
        gcp_service_account: format!(
            "{}@{project}.iam.gserviceaccount.com",
            archive_account_id(name)
        ),
        restore_test_account: format!(
            "{}@{project}.iam.gserviceaccount.com",
            restore_test_account_id(name)
        ),
        archive_timeout_seconds: recovery_point / 2,
        restore_test_schedule: archive
            .restore_test_schedule
            .map_or_else(|| defaults::RESTORE_TEST_SCHEDULE.to_string(), String::from),
    })
}

/// `<project>-<customer>-archive`, the customer cut so the name fits GCS's 63 characters.
fn default_bucket(project: &str, customer: &str) -> String {
    project_bucket(project, customer, "archive")
}

/// A bucket of the customer's in its project: `<project>-<customer>-<what>`, the customer
/// cut so the name fits GCS's 63 characters.
pub fn project_bucket(project: &str, customer: &str, what: &str) -> String {
    let room = 63usize.saturating_sub(project.len() + 2 + what.len());
    let cut: String = customer.chars().take(room).collect();
    format!("{project}-{}-{what}", cut.trim_end_matches('-'))
}

/// The archive's GSA: `<customer>-pgbackrest`, the customer cut so the ID fits the
/// provider's 30 characters.
pub fn archive_account_id(customer: &str) -> String {
    crate::syntax::named_after(customer, "pgbackrest", 30)
}

/// The restore test's GSA: `<customer>-restore-test`, cut like the archive's.
pub fn restore_test_account_id(customer: &str) -> String {
    crate::syntax::named_after(customer, "restore-test", 30)
}

fn backup(name: &str, spec: &crate::profile::Spec) -> Result<Option<Backup>, ()> {
    let snapshots = spec
        .backup
        .as_ref()
        .and_then(|b| b.snapshots.clone())
        .unwrap_or_default();
    if !snapshots.enabled.unwrap_or(defaults::SNAPSHOTS) {
        return Ok(None);
    }
    let image = snapshots.image.ok_or(())?.into();
    Ok(Some(Backup {
        schedule: or(snapshots.schedule, defaults::SNAPSHOT_SCHEDULE),
        retain: snapshots.retain.unwrap_or(defaults::SNAPSHOT_RETAIN),
        class_name: snapshots
            .volume_snapshot_class_name
            .map_or_else(|| format!("{name}-snapshots"), String::from),
        image,
        online: snapshots.online.unwrap_or(defaults::ONLINE_SNAPSHOTS),
        ready_timeout_minutes: snapshots
            .ready_timeout_minutes
            .unwrap_or(defaults::SNAPSHOT_READY_TIMEOUT_MINUTES),
    }))
}

/// Connection slots Pgpool can never use: `superuser_reserved_connections` (PostgreSQL's
/// default 3) plus `reserved_connections` (PostgreSQL 16 and later, default 0).
pub fn reserved_connections(parameters: &BTreeMap<String, String>) -> u64 {
    let setting = |name: &str, default: u64| {
        parameters
            .get(name)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(default)
    };
    setting(
        "superuser_reserved_connections",
        defaults::SUPERUSER_RESERVED_CONNECTIONS,
    ) + setting("reserved_connections", 0)
}

impl Pgpool {
    /// Backend connections every Pgpool pod together may open.
    pub fn demand(&self) -> u64 {
        u64::from(self.replicas) * u64::from(self.num_init_children) * u64::from(self.max_pool)
    }
}

/// `spec.argocd`, every default applied.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The AppProject; default: the customer's name.
    pub project: String,
    pub repo_url: String,
    /// Default: `main`.
    pub target_revision: String,
    pub destination: Destination,
}

fn delivery(name: &str, spec: &crate::profile::Spec, cluster: &str) -> Delivery {
    let argocd = spec.argocd.clone().unwrap_or_default();
    Delivery {
        project: argocd.project.unwrap_or_else(|| name.to_string()),
        repo_url: or(argocd.repo_url, ""),
        target_revision: argocd
            .target_revision
            .unwrap_or_else(|| defaults::TARGET_REVISION.into()),
        destination: destination(argocd.destination.unwrap_or_default(), cluster),
    }
}

/// `argocd.destination`: a server URL, a registered cluster name, or (neither) the
/// customer's own GKE cluster by the name it is registered under. The cluster Argo CD runs
/// in only when the profile names its server. Both at once is refused by the checks (E0323).
fn destination(destination: crate::profile::ArgoDestination, cluster: &str) -> Destination {
    match (destination.server, destination.name) {
        (Some(server), _) if server != Destination::IN_CLUSTER_SERVER => {
            Destination::Server(server)
        }
        (Some(_), _) => Destination::InCluster,
        (None, Some(name)) => Destination::Name(name),
        (None, None) => Destination::Name(cluster.to_string()),
    }
}

fn monitoring(spec: &crate::profile::Spec) -> Option<Monitoring> {
    let monitoring = spec.monitoring.clone().unwrap_or_default();
    let alerts = monitoring.alerts.unwrap_or_default();
    Some(Monitoring {
        provider: monitoring.provider.unwrap_or(defaults::MONITORING_PROVIDER),
        selector_labels: monitoring.selector_labels.unwrap_or_else(|| {
            BTreeMap::from([(
                defaults::SELECTOR_LABEL.0.to_string(),
                defaults::SELECTOR_LABEL.1.to_string(),
            )])
        }),
        postgres_exporter_image: monitoring.postgres_exporter_image?.into(),
        pgpool_exporter_image: monitoring.pgpool_exporter_image?.into(),
        runbook_base_url: monitoring
            .runbook_base_url
            .unwrap_or_else(|| defaults::RUNBOOK_BASE_URL.into())
            .trim_end_matches('/')
            .to_string(),
        replication_lag_seconds: alerts
            .replication_lag_seconds
            .unwrap_or(defaults::REPLICATION_LAG_SECONDS),
        snapshot_max_age_hours: alerts
            .snapshot_max_age_hours
            .unwrap_or(defaults::SNAPSHOT_MAX_AGE_HOURS),
        error_ratio_percent: alerts
            .error_ratio_percent
            .unwrap_or(defaults::ERROR_RATIO_PERCENT),
        latency_p99_milliseconds: alerts
            .latency_p99_milliseconds
            .unwrap_or(defaults::LATENCY_P99_MILLISECONDS),
        connections_percent: alerts
            .connections_percent
            .unwrap_or(defaults::CONNECTIONS_PERCENT),
        volume_full_percent: alerts
            .volume_full_percent
            .unwrap_or(defaults::VOLUME_FULL_PERCENT),
        autoscaler_at_max_minutes: alerts
            .autoscaler_at_max_minutes
            .unwrap_or(defaults::AUTOSCALER_AT_MAX_MINUTES),
    })
}

/// A profile value, or the default when the profile leaves it out.
fn or<T: Into<String>>(value: Option<T>, default: &str) -> String {
    value.map_or_else(|| default.to_string(), Into::into)
}
