//! The customer profile as users write it: the contract behind `schema/profile.schema.json`.
//!
//! Every field is optional here because the same shape serves profiles and layers
//! (`_defaults.yaml`): a value may come from any layer. Which fields must be set once the
//! layers are merged, and the defaults of the rest, are decided in `model.rs`.
//! Doc comments become the schema's descriptions, so they are written for users.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

pub mod defaults;

pub use crate::syntax::{
    BucketName, Bytes, CidrRange, ControlPlaneRange, Cron, DnsLabel, HostName, HttpPath, Image,
    KmsKey, ObjectName, PinnedImage, ProjectId, Quantity, RepoUrl, ScalarText, SecretId,
    ServiceAccount, SourceRange, Timestamp, Zone,
};

/// The only profile format this compiler reads.
pub const API_VERSION: &str = "gitopsc/v1alpha1";
/// The kind every profile and layer declares.
pub const KIND: &str = "CustomerProfile";

/// A customer profile (or a layer such as `_defaults.yaml`): one customer's stack, compiled by
/// gitopsc into `out/<metadata.name>/`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "gitopsc CustomerProfile")]
pub struct Profile {
    /// Profile format version. Supported: `gitopsc/v1alpha1`.
    pub api_version: Option<String>,
    /// Always `CustomerProfile`.
    pub kind: Option<String>,
    /// Identity of the customer. Required in a profile, absent in a layer.
    pub metadata: Option<Metadata>,
    /// Layer files merged under this file, in order, relative to this file's folder; this
    /// file is merged last. Maps merge deeply; lists and scalars replace.
    pub extends: Option<Vec<String>>,
    /// The customer's stack.
    pub spec: Option<Spec>,
}

/// Identity of the customer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Customer name: a DNS-1123 label (lowercase letters, digits, `-`; at most 63
    /// characters), unique in the fleet. Names the output folder `out/<name>/`.
    pub name: Option<DnsLabel>,
    /// Labels copied onto every compiled object (never into selectors). Keys and values
    /// follow Kubernetes label syntax.
    pub labels: Option<BTreeMap<String, String>>,
}

/// The customer's stack.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spec {
    /// Kubernetes namespace that holds the whole stack. Default: `metadata.name`.
    pub namespace: Option<DnsLabel>,
    /// The customer's GCP project and network.
    pub gcp: Option<Gcp>,
    /// The web application.
    pub app: Option<App>,
    /// Who may reach the app, and through which load balancer.
    pub access: Option<Access>,
    /// The PostgreSQL cluster and its Pgpool-II connection broker.
    pub database: Option<Database>,
    /// Volume snapshots of the database.
    pub backup: Option<Backup>,
    /// Metrics scraping and alerting.
    pub monitoring: Option<Monitoring>,
    /// How Argo CD delivers `out/<customer>/` to the customer's cluster.
    pub argocd: Option<ArgoCd>,
    /// Terraform for the customer's GKE cluster.
    pub infrastructure: Option<Infrastructure>,
    /// Optional components beside the stack.
    pub extensions: Option<Extensions>,
}

/// The customer's GCP project and network.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gcp {
    /// GCP project ID (6–30 characters: lowercase letters, digits, `-`). Required.
    pub project_id: Option<ProjectId>,
    /// The project that holds `network` when it is a Shared VPC (its host project); the
    /// firewall rules are created there. Default: `projectId`.
    pub network_project_id: Option<ProjectId>,
    /// Create `network` and `subnetwork` with these ranges instead of reading the
    /// customer's existing ones.
    pub create_network: Option<NetworkRanges>,
    /// The existing subnetwork's secondary ranges GKE takes pod and Service addresses
    /// from, by name. Required with a Shared VPC (`networkProjectId`): GKE may not create
    /// ranges in the host project's subnetwork. Otherwise optional (GKE then creates its
    /// own); not with `createNetwork`, whose ranges gitopsc names.
    pub secondary_ranges: Option<SecondaryRangeNames>,
    /// Cloud Router and Cloud NAT in `region`, so the private nodes reach the internet
    /// (image registries outside Google, the app's external APIs).
    #[schemars(extend("default" = crate::profile::defaults::CLOUD_NAT))]
    pub cloud_nat: Option<bool>,
    /// GCP region of the cluster, e.g. `us-central1`. Required.
    pub region: Option<String>,
    /// VPC network name in the project. Required.
    pub network: Option<crate::syntax::GceName>,
    /// Subnetwork of the cluster's nodes. Required.
    pub subnetwork: Option<crate::syntax::GceName>,
    /// The Private Google Access addresses pods with Workload Identity reach Google APIs
    /// at (the VPC resolves `*.googleapis.com` to them): `private` (199.36.153.8/30) or
    /// `restricted` (199.36.153.4/30, VPC Service Controls).
    #[schemars(extend("default" = crate::profile::defaults::GOOGLE_APIS))]
    pub google_apis: Option<GoogleApis>,
    /// The project's audit trail: where every log entry is kept, and who hears of a change
    /// to IAM, audit logging, firewall rules, routes or networks.
    pub logging: Option<ProjectLogging>,
}

/// Every log entry of the project goes to a Cloud Storage bucket with a retention policy
/// (a sink), and log-based alerts watch the changes an attacker makes first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectLogging {
    /// Days the sink's bucket keeps every log entry; nothing in it can be deleted
    /// earlier. Default: 400, an audit period of a year and its fieldwork.
    #[schemars(range(min = 30, max = 3650))]
    #[schemars(extend("default" = crate::profile::defaults::LOG_RETENTION_DAYS))]
    pub retention_days: Option<u32>,
    /// Cloud Monitoring notification channels of the customer's project
    /// (`projects/P/notificationChannels/ID`) that the security alerts go to. The audit
    /// requires at least one (GCP-LOG-3): an alert nobody receives is no alert.
    pub notification_channels: Option<Vec<crate::syntax::NotificationChannel>>,
}

impl InternalAccess {
    pub fn enabled(&self) -> bool {
        self.enabled
            .unwrap_or(crate::profile::defaults::INTERNAL_ACCESS)
    }
}

impl ExternalAccess {
    pub fn enabled(&self) -> bool {
        self.enabled
            .unwrap_or(crate::profile::defaults::EXTERNAL_ACCESS)
    }

    pub fn tls_source(&self) -> TlsSource {
        self.tls.unwrap_or(crate::profile::defaults::TLS_SOURCE)
    }
}

/// The ranges of a subnetwork gitopsc creates: the nodes' primary range and the secondary
/// ranges GKE takes pod and Service addresses from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("required" = ["nodes", "pods", "services"]))]
pub struct NetworkRanges {
    /// The nodes' (primary) range, e.g. `10.10.0.0/20`.
    pub nodes: Option<CidrRange>,
    /// The pods' secondary range, e.g. `10.12.0.0/14`.
    pub pods: Option<CidrRange>,
    /// The Services' secondary range, e.g. `10.16.0.0/20`.
    pub services: Option<CidrRange>,
}

/// The names of an existing subnetwork's secondary ranges (Compute Engine names).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("required" = ["pods", "services"]))]
pub struct SecondaryRangeNames {
    /// The pods' range, e.g. `massive-pods`.
    pub pods: Option<crate::syntax::GceName>,
    /// The Services' range, e.g. `massive-services`.
    pub services: Option<crate::syntax::GceName>,
}

/// Private Google Access domain the VPC routes Google APIs through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum GoogleApis {
    /// `private.googleapis.com`, 199.36.153.8/30.
    Private,
    /// `restricted.googleapis.com`, 199.36.153.4/30 (VPC Service Controls).
    Restricted,
}

/// The web application: a Deployment with zero-downtime rollouts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct App {
    /// Container image, pinned by digest (`repo@sha256:<64 hex>`) unless
    /// `allowUnpinnedImage` is true. Required.
    pub image: Option<Image>,
    /// Accept an image reference by tag. A tag can be moved under a running cluster, so the
    /// reviewed output would no longer say what runs.
    #[schemars(extend("default" = crate::profile::defaults::ALLOW_UNPINNED_IMAGE))]
    pub allow_unpinned_image: Option<bool>,
    /// Port the app listens on (HTTP).
    #[schemars(range(min = 1, max = 65535))]
    #[schemars(extend("default" = crate::profile::defaults::APP_PORT))]
    pub port: Option<u32>,
    /// Fixed replica count when autoscaling is off; ignored when it is on.
    #[schemars(range(min = 1, max = 1000))]
    #[schemars(extend("default" = crate::profile::defaults::APP_REPLICAS))]
    pub replicas: Option<u32>,
    /// Horizontal Pod Autoscaler. When enabled the HPA owns the replica count.
    pub autoscaling: Option<Autoscaling>,
    /// CPU and memory requests and limits of the app container.
    pub resources: Option<Resources>,
    /// HTTP health endpoints.
    pub probes: Option<Probes>,
    /// Plain environment variables, rendered into a ConfigMap. Names that look like
    /// credentials are rejected: secrets never go in a profile.
    pub env: Option<BTreeMap<String, String>>,
    /// Rolling update settings.
    pub rollout: Option<Rollout>,
    /// Bind the app's Kubernetes ServiceAccount to a GCP service account.
    pub workload_identity: Option<WorkloadIdentity>,
    /// How the app is told where its database is: the names of the environment variables
    /// that carry Pgpool's host and port, the database, the user, the TLS mode, the CA
    /// file and the password (by reference to the credentials Secret). Default: libpq's
    /// own `PG*` names, so a libpq-based client needs no code to connect.
    pub database_env: Option<DatabaseEnv>,
    /// Database connections one app pod may hold at once (its connection pool, or its
    /// workers × threads). Checked against what Pgpool serves at the app's largest size.
    /// Default: the reference app's gunicorn, 2 workers × 4 threads.
    #[schemars(range(min = 1, max = 1000))]
    #[schemars(extend("default" = crate::profile::defaults::APP_DATABASE_CONNECTIONS))]
    pub database_connections_per_pod: Option<u32>,
    /// Seconds Kubernetes waits between SIGTERM and SIGKILL. Must exceed the preStop
    /// delay.
    #[schemars(range(min = 1, max = 3600))]
    #[schemars(extend("default" = crate::profile::defaults::TERMINATION_GRACE_SECONDS))]
    pub termination_grace_period_seconds: Option<u32>,
    /// Seconds a terminating pod keeps serving before SIGTERM, so load balancers stop
    /// sending it traffic first.
    #[schemars(range(min = 0, max = 600))]
    #[schemars(extend("default" = crate::profile::defaults::PRE_STOP_DELAY_SECONDS))]
    pub pre_stop_delay_seconds: Option<u32>,
    /// Seconds the app needs after SIGTERM to finish its in-flight requests and exit (the
    /// reference app's gunicorn `graceful_timeout`). `terminationGracePeriodSeconds` must
    /// cover `preStopDelaySeconds` plus this.
    #[schemars(range(min = 0, max = 3600))]
    #[schemars(extend("default" = crate::profile::defaults::SHUTDOWN_SECONDS))]
    pub shutdown_seconds: Option<u32>,
}

/// Horizontal Pod Autoscaler (autoscaling/v2) settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Autoscaling {
    /// Scale the app on CPU utilisation.
    #[schemars(extend("default" = crate::profile::defaults::AUTOSCALING))]
    pub enabled: Option<bool>,
    /// Lowest replica count.
    #[schemars(range(min = 1, max = 1000))]
    #[schemars(extend("default" = crate::profile::defaults::MIN_REPLICAS))]
    pub min_replicas: Option<u32>,
    /// Highest replica count; at least `minReplicas`.
    #[schemars(range(min = 1, max = 1000))]
    #[schemars(extend("default" = crate::profile::defaults::MAX_REPLICAS))]
    pub max_replicas: Option<u32>,
    /// Target average CPU utilisation, in percent of the CPU request.
    #[serde(rename = "targetCPUUtilizationPercentage")]
    #[schemars(range(min = 1, max = 100))]
    #[schemars(extend("default" = crate::profile::defaults::TARGET_CPU_PERCENT))]
    pub target_cpu_utilization_percentage: Option<u32>,
    /// Seconds of lower load before the HPA removes replicas.
    #[schemars(range(min = 0, max = 3600))]
    #[schemars(extend("default" = crate::profile::defaults::SCALE_DOWN_STABILIZATION_SECONDS))]
    pub scale_down_stabilization_seconds: Option<u32>,
}

/// Requests and limits of one container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    /// What the scheduler reserves for the container.
    pub requests: Option<ResourceAmounts>,
    /// The most the container may use.
    pub limits: Option<ResourceAmounts>,
}

/// An amount of CPU and memory.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceAmounts {
    /// CPU as a Kubernetes quantity, e.g. `250m` or `"1"`.
    pub cpu: Option<Quantity>,
    /// Memory as a Kubernetes quantity, e.g. `256Mi` or `4Gi`.
    pub memory: Option<Bytes>,
}

/// HTTP health endpoints of the app.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Probes {
    /// Path that answers 2xx when the app can take traffic.
    #[schemars(extend("default" = crate::profile::defaults::READINESS_PATH))]
    pub readiness_path: Option<HttpPath>,
    /// Path that answers 2xx while the app is alive.
    #[schemars(extend("default" = crate::profile::defaults::LIVENESS_PATH))]
    pub liveness_path: Option<HttpPath>,
    /// Path checked until the app has started. Default: the liveness path.
    pub startup_path: Option<HttpPath>,
    /// Seconds the app may take to start before it is restarted.
    #[schemars(range(min = 5, max = 3600))]
    #[schemars(extend("default" = crate::profile::defaults::STARTUP_TIMEOUT_SECONDS))]
    pub startup_timeout_seconds: Option<u32>,
}

/// Rolling update settings of the app Deployment.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rollout {
    /// Extra pods created during a rollout.
    #[schemars(range(min = 0, max = 100))]
    #[schemars(extend("default" = crate::profile::defaults::MAX_SURGE))]
    pub max_surge: Option<u32>,
    /// Pods that may be unavailable during a rollout. 0 keeps full capacity (zero
    /// downtime); anything else is a warning.
    #[schemars(range(min = 0, max = 100))]
    #[schemars(extend("default" = crate::profile::defaults::MAX_UNAVAILABLE))]
    pub max_unavailable: Option<u32>,
}

/// Names of the environment variables that tell the app how to reach its database. Each
/// is a C identifier; unset ones keep libpq's name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatabaseEnv {
    /// Pgpool's Service DNS name.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    #[schemars(extend("default" = crate::profile::defaults::DATABASE_ENV.host))]
    pub host: Option<String>,
    /// Pgpool's port.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    #[schemars(extend("default" = crate::profile::defaults::DATABASE_ENV.port))]
    pub port: Option<String>,
    /// The app's database.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    #[schemars(extend("default" = crate::profile::defaults::DATABASE_ENV.database))]
    pub database: Option<String>,
    /// The app's database user.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    #[schemars(extend("default" = crate::profile::defaults::DATABASE_ENV.user))]
    pub user: Option<String>,
    /// The password, as a reference to the credentials Secret's `app-password` key (never a
    /// value in the output).
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    #[schemars(extend("default" = crate::profile::defaults::DATABASE_ENV.password))]
    pub password: Option<String>,
    /// libpq's TLS mode: `verify-full` when the database serves TLS, else `disable`.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    #[schemars(extend("default" = crate::profile::defaults::DATABASE_ENV.ssl_mode))]
    pub ssl_mode: Option<String>,
    /// Path of the CA certificate that signed Pgpool's certificate.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    #[schemars(extend("default" = crate::profile::defaults::DATABASE_ENV.ssl_root_cert))]
    pub ssl_root_cert: Option<String>,
}

/// GKE Workload Identity binding.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadIdentity {
    /// GCP service account email the app acts as, e.g.
    /// `acme-api@acme-prod-4821.iam.gserviceaccount.com`.
    pub gcp_service_account: Option<ServiceAccount>,
}

/// Who may reach the app. Nothing is exposed unless an entry point is enabled with a
/// non-empty allow-list; `0.0.0.0/0` and `::/0` are refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Access {
    /// A public Cloud DNS managed zone of the customer's project: gitopsc's Terraform
    /// writes A records there for the external `hosts` (at `staticIpName`'s address). The
    /// plan checks that it is public.
    pub dns_zone: Option<DnsLabel>,
    /// A private Cloud DNS managed zone of the customer's project, visible to the VPC:
    /// the internal `hostname`'s A record (at a reserved internal address the internal
    /// load balancer then uses). The plan checks that it is private, so an internal
    /// address is never published.
    pub internal_dns_zone: Option<DnsLabel>,
    /// VPC clients, through a GKE internal passthrough load balancer.
    pub internal: Option<InternalAccess>,
    /// Public clients, through the GKE external HTTP(S) load balancer.
    pub external: Option<ExternalAccess>,
}

/// Entry for VPC clients.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InternalAccess {
    /// Emit the internal load balancer.
    #[schemars(extend("default" = crate::profile::defaults::INTERNAL_ACCESS))]
    pub enabled: Option<bool>,
    /// CIDR ranges allowed to connect (IPv4 or IPv6).
    pub allowed_source_ranges: Option<Vec<SourceRange>>,
    /// Allow clients from other regions of the VPC.
    #[schemars(extend("default" = crate::profile::defaults::GLOBAL_ACCESS))]
    pub global_access: Option<bool>,
    /// The DNS name VPC clients use, in `access.internalDnsZone`, e.g.
    /// `api.acme.internal.example`.
    pub hostname: Option<HostName>,
}

/// Entry for public clients.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalAccess {
    /// Emit the external HTTP(S) load balancer.
    #[schemars(extend("default" = crate::profile::defaults::EXTERNAL_ACCESS))]
    pub enabled: Option<bool>,
    /// DNS names the app answers on; one certificate covers them.
    pub hosts: Option<Vec<HostName>>,
    /// CIDR ranges allowed through the Cloud Armor policy (IPv4 or IPv6).
    pub allowed_source_ranges: Option<Vec<SourceRange>>,
    /// Where the TLS certificate comes from.
    #[schemars(extend("default" = crate::profile::defaults::TLS_SOURCE))]
    pub tls: Option<TlsSource>,
    /// Name of an existing `kubernetes.io/tls` Secret, when `tls: secret`.
    pub tls_secret_name: Option<ObjectName>,
    /// Name of the Cloud Armor security policy that holds the allow-list.
    pub cloud_armor_policy: Option<crate::syntax::GceName>,
    /// Name of the reserved global static IP address.
    pub static_ip_name: Option<crate::syntax::GceName>,
    /// Name of the GCP SSL policy (minimum TLS version, cipher profile), set on the load
    /// balancer through a FrontendConfig.
    pub ssl_policy: Option<crate::syntax::GceName>,
    /// Answer plain-HTTP requests with a redirect to HTTPS instead of serving no HTTP at
    /// all. Off, the load balancer has no port-80 frontend.
    #[schemars(extend("default" = crate::profile::defaults::HTTP_REDIRECT))]
    pub http_redirect: Option<bool>,
}

/// Source of the external entry's TLS certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TlsSource {
    /// A Google-managed certificate (ManagedCertificate) for the hosts.
    Managed,
    /// A TLS Secret that already exists in the namespace (`tlsSecretName`).
    Secret,
}

/// The PostgreSQL cluster, managed by Patroni, behind Pgpool-II.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Database {
    /// Database engine.
    #[schemars(extend("default" = crate::profile::defaults::ENGINE))]
    pub engine: Option<Engine>,
    /// PostgreSQL major version: 15, 16, 17 or 18. Selects the parameter table that
    /// `parameters` are validated against, and the server's folder in the image
    /// (`/usr/lib/postgresql/<major>/bin`). Raising it on a running cluster changes no
    /// member's data: each keeps running its major until `major-upgrade.py` runs in the
    /// leader (docs/runbooks/major-upgrade.md); lowering it is refused.
    #[schemars(range(min = 15, max = 18))]
    #[schemars(extend("default" = crate::profile::defaults::POSTGRES_VERSION))]
    pub postgres_version: Option<u32>,
    /// PostgreSQL + Patroni image, pinned by digest unless `allowUnpinnedImage`. Required.
    pub image: Option<Image>,
    /// Accept `image` by tag.
    #[schemars(extend("default" = crate::profile::defaults::ALLOW_UNPINNED_IMAGE))]
    pub allow_unpinned_image: Option<bool>,
    /// Cluster members: one primary, the rest streaming standbys.
    #[schemars(range(min = 1, max = 9))]
    #[schemars(extend("default" = crate::profile::defaults::DATABASE_REPLICAS))]
    pub replicas: Option<u32>,
    /// A commit waits until one standby has it (RPO 0).
    #[schemars(extend("default" = crate::profile::defaults::SYNCHRONOUS_MODE))]
    pub synchronous_mode: Option<bool>,
    /// Persistent volume of each member.
    pub storage: Option<Storage>,
    /// CPU and memory of each member.
    pub resources: Option<Resources>,
    /// `postgresql.conf` parameters. Names must be known to the chosen PostgreSQL
    /// version and values must carry valid units.
    pub parameters: Option<BTreeMap<String, ParameterValue>>,
    /// Serve TLS (`ssl = on`, `hostssl` rules) with certificates from a Secret.
    #[schemars(extend("default" = crate::profile::defaults::DATABASE_TLS))]
    pub tls: Option<bool>,
    /// Name of an existing `kubernetes.io/tls` Secret with the server certificate and the
    /// `ca.crt` that signed it, when `tls`. It must exist before the sync (PREREQUISITES.md).
    /// Default: none; gitopsc compiles a cert-manager `Certificate` for `<customer>-db-tls`.
    pub tls_secret_name: Option<ObjectName>,
    /// The cert-manager `ClusterIssuer` that signs the compiled database certificate; it
    /// must put `ca.crt` in the Secret (a CA or Vault issuer does). Default: none; gitopsc
    /// compiles a private CA for the namespace (a self-signed `Issuer`, a CA `Certificate`
    /// and a CA `Issuer`).
    pub tls_cluster_issuer: Option<ObjectName>,
    /// Where the database credentials come from. Required.
    pub credentials: Option<Credentials>,
    /// Pgpool-II, the connection broker in front of the cluster.
    pub pgpool: Option<Pgpool>,
    /// Citus layout, when `engine: citus`.
    pub citus: Option<Citus>,
    /// GKE node pool the members run on: they get its `nodeSelector` and tolerate its
    /// taints. Default: the pool named `db` when `infrastructure.nodePools` lists one.
    pub node_pool: Option<String>,
    /// Restore: the VolumeSnapshot the first member's volume is created from. While set,
    /// the cluster runs that one member; remove it to bring the standbys back, which
    /// clone from it (docs/restore.md).
    pub restore_from_snapshot: Option<DnsLabel>,
    /// Point-in-time recovery: a new cluster is bootstrapped from the archive's backups and
    /// WAL up to this moment (RFC 3339, UTC, e.g. `2026-12-04T20:00:00Z`), then promoted.
    /// While set the cluster runs one member; the old cluster's state must be removed first
    /// (docs/restore.md).
    pub restore_to_time: Option<Timestamp>,
}

/// Database engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Engine {
    /// A single PostgreSQL cluster.
    Postgresql,
    /// A Citus coordinator group and worker groups.
    Citus,
}

/// Optional components beside the stack, each in its own output folder.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Extensions {
    /// A RabbitMQ message queue the app reaches on AMQP (docs/queue.md).
    pub queue: Option<Queue>,
}

/// A single-node RabbitMQ StatefulSet with its Service, the NetworkPolicies that let the app
/// in, a scrape target and an alert. `image` and `credentialsSecret` are required once
/// `enabled` is true.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend(
    "if" = {"properties": {"enabled": {"const": true}}, "required": ["enabled"]},
    "then" = {"required": ["image", "credentialsSecret"]}
))]
pub struct Queue {
    /// Run the queue.
    #[schemars(extend("default" = crate::profile::defaults::QUEUE_ENABLED))]
    pub enabled: Option<bool>,
    /// The RabbitMQ image (the official `rabbitmq` image or one built on it), pinned by
    /// digest.
    pub image: Option<PinnedImage>,
    /// A Secret in the namespace with the keys `username` and `password`: RabbitMQ creates
    /// this user at its first start, and the app connects as it.
    pub credentials_secret: Option<ObjectName>,
    /// Size of the queue's volume.
    #[schemars(extend("default" = crate::profile::defaults::QUEUE_STORAGE_SIZE))]
    pub storage_size: Option<Bytes>,
    /// StorageClass of the volume. Default: the cluster's default class.
    pub storage_class_name: Option<ObjectName>,
}

/// Persistent volume of a database member.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Storage {
    /// Volume size as a Kubernetes quantity, e.g. `100Gi`.
    #[schemars(extend("default" = crate::profile::defaults::STORAGE_SIZE))]
    pub size: Option<Bytes>,
    /// StorageClass of the volumes. Default: the cluster's default class.
    pub storage_class_name: Option<ObjectName>,
}

/// Database credentials, by reference only: exactly one of the two.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Credentials {
    /// Name of a Secret that already exists in the namespace.
    pub existing_secret: Option<ObjectName>,
    /// An External Secrets Operator `ExternalSecret` that materialises the Secret from
    /// GCP Secret Manager.
    pub external_secret: Option<ExternalSecretRef>,
}

/// Where an `ExternalSecret` reads the credentials: a `SecretStore` that gitopsc compiles
/// in the namespace (with its ServiceAccount for Workload Identity), or a
/// `ClusterSecretStore` that already exists. Exactly one of the two.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalSecretRef {
    /// Name of the namespaced `SecretStore` for GCP Secret Manager that gitopsc compiles,
    /// authenticated by Workload Identity as the ServiceAccount `external-secrets`.
    pub secret_store: Option<ObjectName>,
    /// Name of an existing `ClusterSecretStore` backed by GCP Secret Manager, instead of
    /// `secretStore`.
    pub cluster_secret_store: Option<ObjectName>,
    /// GCP service account the compiled `SecretStore` acts as (Workload Identity). Default:
    /// none; the ServiceAccount's own Workload Identity principal reads the secret, which
    /// needs `roles/secretmanager.secretAccessor` on it (PREREQUISITES.md).
    pub gcp_service_account: Option<ServiceAccount>,
    /// Secret Manager secret that holds the credentials.
    pub key: Option<SecretId>,
}

/// Pgpool-II settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pgpool {
    /// Pgpool-II image, pinned by digest unless `allowUnpinnedImage`. Required.
    pub image: Option<Image>,
    /// Accept `image` by tag.
    #[schemars(extend("default" = crate::profile::defaults::ALLOW_UNPINNED_IMAGE))]
    pub allow_unpinned_image: Option<bool>,
    /// Pgpool pods; at least 2.
    #[schemars(range(min = 2, max = 20))]
    #[schemars(extend("default" = crate::profile::defaults::PGPOOL_REPLICAS))]
    pub replicas: Option<u32>,
    /// Pgpool child processes per pod (concurrent client sessions).
    #[schemars(range(min = 1, max = 10000))]
    #[schemars(extend("default" = crate::profile::defaults::NUM_INIT_CHILDREN))]
    pub num_init_children: Option<u32>,
    /// Cached backend connections per child.
    #[schemars(range(min = 1, max = 100))]
    #[schemars(extend("default" = crate::profile::defaults::MAX_POOL))]
    pub max_pool: Option<u32>,
    /// Send read-only queries to standbys too.
    #[schemars(extend("default" = crate::profile::defaults::LOAD_BALANCE_READS))]
    pub load_balance_reads: Option<bool>,
    /// Which reads after a write go to the primary, so they see the write.
    #[schemars(extend("default" = crate::profile::defaults::READ_AFTER_WRITE))]
    pub read_after_write: Option<ReadAfterWrite>,
    /// Requests and limits of the Pgpool container (its exporter's are fixed). Default:
    /// 250m CPU and 256Mi requested, 1 CPU and 512Mi at most.
    pub resources: Option<Resources>,
}

/// What a client is promised about reading its own writes while reads are balanced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReadAfterWrite {
    /// After a session's first write, all its reads go to the primary: a session always
    /// reads its own writes (Pgpool `disable_load_balance_on_write = 'always'`).
    Session,
    /// Only reads inside the writing transaction go to the primary; a later transaction may
    /// read from a standby that has not replayed the write yet (`'transaction'`).
    Transaction,
}

/// Citus layout.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Citus {
    /// Worker groups, each a Patroni cluster of `database.replicas` members.
    #[schemars(range(min = 1, max = 64))]
    #[schemars(extend("default" = crate::profile::defaults::CITUS_WORKER_GROUPS))]
    pub worker_groups: Option<u32>,
}

/// Volume snapshots of the database.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Backup {
    /// Scheduled CHECKPOINT + VolumeSnapshot of the primary's volume.
    pub snapshots: Option<Snapshots>,
    /// Continuous WAL archiving and scheduled full backups to a GCS bucket with pgBackRest
    /// (docs/backup.md): point-in-time recovery, and a copy of the data outside the
    /// cluster.
    pub archive: Option<Archive>,
    /// The recovery point the customer is promised, in seconds: the most committed work a
    /// lost cluster may lose. Checked against what the archive (its `archive_timeout`) or,
    /// without one, the snapshot schedule can give.
    #[schemars(range(min = 60, max = 604800))]
    #[schemars(extend("default" = crate::profile::defaults::RECOVERY_POINT_SECONDS))]
    pub recovery_point_seconds: Option<u32>,
}

/// The WAL archive and full backups (pgBackRest, repository type `gcs`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Archive {
    /// Archive WAL and take full backups. The database image must carry pgBackRest.
    #[schemars(extend("default" = crate::profile::defaults::ARCHIVE))]
    pub enabled: Option<bool>,
    /// The GCS bucket the Terraform creates for the archive. Default:
    /// `<projectId>-<customer>-archive`.
    pub bucket: Option<BucketName>,
    /// The bucket's location (a region, dual-region or multi-region). Default: the
    /// cluster's region.
    pub location: Option<String>,
    /// Full backups kept; older ones, and the WAL only they need, are expired.
    #[schemars(range(min = 1, max = 100))]
    #[schemars(extend("default" = crate::profile::defaults::ARCHIVE_RETENTION_FULL))]
    pub retention_full: Option<u32>,
    /// Hours between full backups.
    #[schemars(range(min = 1, max = 2160))]
    #[schemars(extend("default" = crate::profile::defaults::FULL_BACKUP_INTERVAL_HOURS))]
    pub full_backup_interval_hours: Option<u32>,
    /// Hours between differential backups (the changes since the last full one).
    #[schemars(range(min = 1, max = 2160))]
    #[schemars(extend("default" = crate::profile::defaults::DIFFERENTIAL_BACKUP_INTERVAL_HOURS))]
    pub differential_backup_interval_hours: Option<u32>,
    /// Days a deleted or replaced object of the bucket stays recoverable (GCS soft
    /// delete): a compromised database or cluster cannot erase recent backups for good.
    /// The bucket also keeps replaced versions (object versioning) for 30 days. A
    /// retention lock is not used: pgBackRest rewrites its `backup.info` after every backup.
    #[schemars(range(min = 7, max = 90))]
    #[schemars(extend("default" = crate::profile::defaults::ARCHIVE_SOFT_DELETE_DAYS))]
    pub soft_delete_days: Option<u32>,
    /// When the restore test restores the newest backup on a disk of its own and checks
    /// that every database answers (five-field cron, UTC; docs/restore.md). At least
    /// weekly: the audit (K8S-RST-1) wants a tested restore within 7 days. Default:
    /// Wednesdays 04:00, outside the default maintenance window.
    #[schemars(extend("default" = crate::profile::defaults::RESTORE_TEST_SCHEDULE))]
    pub restore_test_schedule: Option<Cron>,
}

/// Snapshot schedule and retention.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Snapshots {
    /// Take snapshots.
    #[schemars(extend("default" = crate::profile::defaults::SNAPSHOTS))]
    pub enabled: Option<bool>,
    /// Five-field cron expression (UTC).
    #[schemars(extend("default" = crate::profile::defaults::SNAPSHOT_SCHEDULE))]
    pub schedule: Option<Cron>,
    /// Snapshots kept; older ones are deleted.
    #[schemars(range(min = 1, max = 1000))]
    #[schemars(extend("default" = crate::profile::defaults::SNAPSHOT_RETAIN))]
    pub retain: Option<u32>,
    /// VolumeSnapshotClass for `pd.csi.storage.gke.io`. Default: `<customer>-snapshots`.
    pub volume_snapshot_class_name: Option<ObjectName>,
    /// Image of the snapshot job, with `/bin/sh`, `psql` and `kubectl`, pinned by digest.
    /// Required when snapshots are enabled.
    pub image: Option<PinnedImage>,
    /// How long the job waits for a snapshot to become `readyToUse` (the disk copy to
    /// finish) before it fails. Size it for the disk: the first snapshot of a large disk
    /// copies all of it.
    #[schemars(range(min = 1, max = 1440))]
    #[schemars(extend("default" = crate::profile::defaults::SNAPSHOT_READY_TIMEOUT_MINUTES))]
    pub ready_timeout_minutes: Option<u32>,
    /// Take the snapshot between `pg_backup_start` and `pg_backup_stop` and keep the backup
    /// label on the VolumeSnapshot; restoring such a snapshot needs the WAL archive. Off,
    /// the snapshot is crash-consistent, taken after a `CHECKPOINT`.
    #[schemars(extend("default" = crate::profile::defaults::ONLINE_SNAPSHOTS))]
    pub online: Option<bool>,
}

/// Metrics scraping and alerting.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Monitoring {
    /// Which monitoring stack scrapes the customer's cluster.
    #[schemars(extend("default" = crate::profile::defaults::MONITORING_PROVIDER))]
    pub provider: Option<MonitoringProvider>,
    /// Labels put on the PodMonitors and the PrometheusRule so the Prometheus Operator
    /// selects them (`podMonitorSelector`, `ruleSelector`). Default: `release:
    /// kube-prometheus-stack`, what the kube-prometheus-stack chart installed under that
    /// release name selects. Ignored with `gke-managed-prometheus`, which selects all.
    pub selector_labels: Option<BTreeMap<String, String>>,
    /// Alert thresholds.
    pub alerts: Option<Alerts>,
    /// postgres_exporter image for the sidecar in every database member, pinned by
    /// digest. Required.
    pub postgres_exporter_image: Option<PinnedImage>,
    /// pgpool2_exporter image for the sidecar in every Pgpool pod, pinned by digest.
    /// Required.
    pub pgpool_exporter_image: Option<PinnedImage>,
    /// Where the alerts' `runbook_url` points: the folder that holds `<Alert>.md`.
    #[schemars(extend("default" = crate::profile::defaults::RUNBOOK_BASE_URL))]
    pub runbook_base_url: Option<String>,
}

/// Monitoring stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MonitoringProvider {
    /// ServiceMonitor / PodMonitor and PrometheusRule objects.
    PrometheusOperator,
    /// Google Cloud Managed Service for Prometheus: PodMonitoring and Rules objects.
    GkeManagedPrometheus,
}

/// Alert thresholds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Alerts {
    /// Replication lag that raises an alert, in seconds.
    #[schemars(range(min = 1, max = 86400))]
    #[schemars(extend("default" = crate::profile::defaults::REPLICATION_LAG_SECONDS))]
    pub replication_lag_seconds: Option<u32>,
    /// Age of the newest snapshot that raises an alert, in hours.
    #[schemars(range(min = 1, max = 8760))]
    #[schemars(extend("default" = crate::profile::defaults::SNAPSHOT_MAX_AGE_HOURS))]
    pub snapshot_max_age_hours: Option<u32>,
    /// Share of the app's requests answered 5xx that raises an alert, in percent.
    #[schemars(range(min = 1, max = 100))]
    #[schemars(extend("default" = crate::profile::defaults::ERROR_RATIO_PERCENT))]
    pub error_ratio_percent: Option<u32>,
    /// 99th percentile of the app's request latency that raises an alert, in
    /// milliseconds.
    #[schemars(range(min = 10, max = 600000))]
    #[schemars(extend("default" = crate::profile::defaults::LATENCY_P99_MILLISECONDS))]
    pub latency_p99_milliseconds: Option<u32>,
    /// PostgreSQL connections in use, as a percentage of `max_connections`, that raise an
    /// alert.
    #[schemars(range(min = 10, max = 100))]
    #[schemars(extend("default" = crate::profile::defaults::CONNECTIONS_PERCENT))]
    pub connections_percent: Option<u32>,
    /// Used share of a persistent volume that raises an alert, in percent.
    #[schemars(range(min = 10, max = 100))]
    #[schemars(extend("default" = crate::profile::defaults::VOLUME_FULL_PERCENT))]
    pub volume_full_percent: Option<u32>,
    /// How long the app's autoscaler may sit at `maxReplicas` before an alert, in
    /// minutes.
    #[schemars(range(min = 1, max = 1440))]
    #[schemars(extend("default" = crate::profile::defaults::AUTOSCALER_AT_MAX_MINUTES))]
    pub autoscaler_at_max_minutes: Option<u32>,
}

/// How Argo CD delivers the compiled output.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArgoCd {
    /// AppProject name. Default: `metadata.name`.
    pub project: Option<String>,
    /// Git repository that holds `out/`. Required.
    #[serde(rename = "repoURL")]
    pub repo_url: Option<RepoUrl>,
    /// Branch, tag or commit Argo CD follows.
    #[schemars(extend("default" = crate::profile::defaults::TARGET_REVISION))]
    pub target_revision: Option<String>,
    /// The customer's cluster.
    pub destination: Option<ArgoDestination>,
}

/// The cluster Argo CD deploys to. Default: the customer's own GKE cluster (the one its
/// Terraform creates, `infrastructure.cluster.name`), registered in Argo CD under that name
/// (docs/bring-up.md). Set `server: https://kubernetes.default.svc` only to deploy into the
/// cluster Argo CD itself runs in.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArgoDestination {
    /// API server URL (instead of `name`).
    pub server: Option<String>,
    /// Cluster name registered in Argo CD (instead of `server`). Default: the customer's
    /// GKE cluster name.
    pub name: Option<String>,
}

/// Terraform for the customer's GKE cluster.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Infrastructure {
    /// Where Terraform keeps the customer's state: a GCS bucket that exists before the
    /// first `terraform apply` (docs/infrastructure.md).
    pub state: Option<TerraformState>,
    /// The private regional GKE cluster.
    pub cluster: Option<Cluster>,
    /// Node pools of the cluster.
    pub node_pools: Option<Vec<NodePool>>,
}

/// Terraform's GCS backend.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TerraformState {
    /// GCS bucket of the state. Default: `<projectId>-tfstate`.
    pub bucket: Option<ObjectName>,
    /// Folder of this customer's state in the bucket. Default: `gitopsc/<customer>`.
    pub prefix: Option<String>,
    /// The Terraform adopts the bucket (an `import` block) and keeps it versioned, with
    /// uniform access, public access prevented and `prevent_destroy`. The bucket must then
    /// be in `gcp.projectId` and hold only this customer's state; turn this off for a
    /// bucket managed elsewhere, and record an exception for GCP-STATE-1
    /// (docs/infrastructure.md).
    #[schemars(extend("default" = crate::profile::defaults::MANAGE_STATE_BUCKET))]
    pub manage_bucket: Option<bool>,
    /// The bucket's location as it exists (a region such as `us-central1`, a dual- or
    /// multi-region such as `US`): a different value would plan the bucket's replacement,
    /// which `prevent_destroy` stops. Default: `gcp.region`.
    pub location: Option<String>,
}

/// The GKE cluster.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cluster {
    /// Cluster name, at most 40 characters. Default: `<customer>-gke`, the customer's part
    /// cut to fit.
    pub name: Option<crate::syntax::ClusterName>,
    /// GKE release channel.
    #[schemars(extend("default" = crate::profile::defaults::RELEASE_CHANNEL))]
    pub release_channel: Option<ReleaseChannel>,
    /// CIDR ranges allowed to reach the control plane.
    pub master_authorized_networks: Option<Vec<SourceRange>>,
    /// Where the cluster's control plane is: its private range (a /28) or, for a Private
    /// Service Connect cluster (`privateEndpointSubnetwork`), the range of the subnetwork
    /// GKE takes its endpoint from. Patroni and the snapshot job reach the Kubernetes API
    /// there, and the NetworkPolicies allow exactly that. Required: there is no address
    /// every cluster shares.
    pub master_ipv4_cidr_block: Option<ControlPlaneRange>,
    /// A Private Service Connect cluster: the existing subnetwork of `gcp.network` GKE takes
    /// the control plane's endpoint from; its range is `masterIpv4CidrBlock` (the plan
    /// checks it). Unset: a private cluster with a /28 of its own.
    pub private_endpoint_subnetwork: Option<crate::syntax::GceName>,
    /// Also give the control plane a public endpoint, reachable only from
    /// `masterAuthorizedNetworks`, for clients outside the VPC (an Argo CD with no private
    /// route to it). Default: the private endpoint only, reachable from every region of the
    /// VPC and connected networks, also limited to `masterAuthorizedNetworks`.
    #[schemars(extend("default" = crate::profile::defaults::PUBLIC_ENDPOINT))]
    pub public_endpoint: Option<bool>,
    /// The cluster's DNS provider: `kube-dns` (GKE Standard's default) or `cloud-dns`
    /// (Cloud DNS for GKE, answered by the node's metadata server).
    #[schemars(extend("default" = crate::profile::defaults::DNS_PROVIDER))]
    pub dns_provider: Option<DnsProvider>,
    /// Binary Authorization: the cluster enforces the project's policy, which gitopsc
    /// writes (`terraform/admission.tf.json`): the images the manifests run and
    /// `admittedImages` are admitted, Google's system images too, everything else denied.
    #[schemars(extend("default" = crate::profile::defaults::BINARY_AUTHORIZATION))]
    pub binary_authorization: Option<bool>,
    /// With `binaryAuthorization`, image name patterns the project's policy admits beside
    /// the folders of the images the manifests run: the cluster add-ons' (cert-manager,
    /// External Secrets, Prometheus), e.g. `quay.io/jetstack/*`. A trailing `*` is the only
    /// wildcard; everything else is denied.
    pub admitted_images: Option<Vec<String>>,
    /// A Cloud KMS key that encrypts the cluster's Secrets in etcd (application-layer
    /// secrets encryption); GKE's service agent is given encrypt and decrypt on it.
    /// Default: Google-managed encryption only.
    pub secrets_encryption_key: Option<KmsKey>,
    /// NodeLocal DNSCache runs on the nodes (pods ask 169.254.20.10 first). On by default
    /// on GKE Standard 1.33.1 and later.
    #[schemars(extend("default" = crate::profile::defaults::NODE_LOCAL_DNS_CACHE))]
    pub node_local_dns_cache: Option<bool>,
    /// The zones of `gcp.region` the nodes run in (GKE's `node_locations`); every node
    /// pool's `minNodes`..`maxNodes` count its nodes over all of them, kept balanced. The
    /// database's members spread over them, one zone's loss taking at most its share.
    /// Default: GKE's choice, three zones of the region.
    pub zones: Option<Vec<Zone>>,
    /// When GKE may upgrade and repair the control plane and the nodes (a node upgrade
    /// restarts a database member). Default: Saturdays and Sundays, 02:00 to 10:00 UTC.
    pub maintenance: Option<Maintenance>,
}

/// GKE's maintenance policy: one weekly window and the periods it must not touch.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Maintenance {
    /// The days of the weekly window.
    #[schemars(extend("default" = ["SA", "SU"]))]
    pub days: Option<Vec<Weekday>>,
    /// The hour (UTC, 0 to 23) each window opens.
    #[schemars(range(max = 23), extend("default" = crate::profile::defaults::MAINTENANCE_START_HOUR))]
    pub start_hour: Option<u32>,
    /// How long each window lasts, in hours: at least 4 (GKE's shortest), and the windows
    /// of any 32 days at least 48 hours together (GKE refuses less).
    #[schemars(range(min = 4, max = 24), extend("default" = crate::profile::defaults::MAINTENANCE_HOURS))]
    pub hours: Option<u32>,
    /// Periods without automatic upgrades (a sales event, an audit).
    pub exclusions: Option<Vec<MaintenanceExclusion>>,
}

/// A day of the week, as RFC 5545 recurrence rules name it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Weekday {
    MO,
    TU,
    WE,
    TH,
    FR,
    SA,
    SU,
}

/// One period GKE does not upgrade in.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("required" = ["name", "start", "end"]))]
pub struct MaintenanceExclusion {
    /// A name for people, e.g. `black-friday`.
    pub name: Option<DnsLabel>,
    /// When it begins (UTC).
    pub start: Option<Timestamp>,
    /// When it ends (UTC): at most 30 days after `start` for `no-upgrades`, 180 for the
    /// other scopes (GKE's limits).
    pub end: Option<Timestamp>,
    /// What it holds back: `no-upgrades` (everything, also patches), `no-minor-upgrades`,
    /// or `no-minor-or-node-upgrades`.
    #[schemars(extend("default" = "no-minor-or-node-upgrades"))]
    pub scope: Option<ExclusionScope>,
}

/// What a maintenance exclusion holds back (GKE's exclusion scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ExclusionScope {
    NoUpgrades,
    NoMinorUpgrades,
    NoMinorOrNodeUpgrades,
}

impl ExclusionScope {
    /// The provider's value (`exclusion_options.scope`).
    pub fn provider_value(self) -> &'static str {
        match self {
            ExclusionScope::NoUpgrades => "NO_UPGRADES",
            ExclusionScope::NoMinorUpgrades => "NO_MINOR_UPGRADES",
            ExclusionScope::NoMinorOrNodeUpgrades => "NO_MINOR_OR_NODE_UPGRADES",
        }
    }

    /// The profile's spelling.
    pub fn name(self) -> &'static str {
        match self {
            ExclusionScope::NoUpgrades => "no-upgrades",
            ExclusionScope::NoMinorUpgrades => "no-minor-upgrades",
            ExclusionScope::NoMinorOrNodeUpgrades => "no-minor-or-node-upgrades",
        }
    }

    /// GKE's longest exclusion of this scope, in days.
    pub fn max_days(self) -> i64 {
        match self {
            ExclusionScope::NoUpgrades => 30,
            _ => 180,
        }
    }
}

/// How the cluster resolves names; DNS egress follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DnsProvider {
    /// kube-dns pods in `kube-system`.
    KubeDns,
    /// Cloud DNS for GKE: the node's metadata server (169.254.169.254) answers.
    CloudDns,
}

/// GKE release channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReleaseChannel {
    /// Newest versions first.
    Rapid,
    /// The default balance of features and stability.
    Regular,
    /// Versions that have been in Regular longest.
    Stable,
}

/// A GKE node pool.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodePool {
    /// Node pool name (DNS-1123 label).
    pub name: Option<DnsLabel>,
    /// Compute Engine machine type, e.g. `e2-standard-4`.
    pub machine_type: Option<String>,
    /// Fewest nodes in the pool, over all its zones (GKE's `total_min_node_count`; the
    /// autoscaler keeps the zones balanced).
    #[schemars(range(min = 0, max = 1000))]
    pub min_nodes: Option<u32>,
    /// Most nodes in the pool, over all its zones; at least `minNodes`.
    #[schemars(range(min = 1, max = 1000))]
    pub max_nodes: Option<u32>,
    /// Taints that keep other workloads off these nodes.
    pub taints: Option<Vec<Taint>>,
}

/// A node taint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Taint {
    /// Taint key.
    pub key: Option<String>,
    /// Taint value.
    pub value: Option<String>,
    /// What the taint does to pods that do not tolerate it.
    pub effect: Option<TaintEffect>,
}

/// Effect of a GKE node taint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaintEffect {
    /// New pods without a toleration are not scheduled.
    NoSchedule,
    /// The scheduler avoids the nodes when it can.
    PreferNoSchedule,
    /// Running pods without a toleration are evicted.
    NoExecute,
}

/// A `postgresql.conf` value: text (`16MB`, `on`), a number or a boolean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "ScalarText", into = "String")]
pub struct ParameterValue(pub String);

impl From<ScalarText> for ParameterValue {
    fn from(text: ScalarText) -> Self {
        ParameterValue(text.0)
    }
}

impl From<ParameterValue> for String {
    fn from(value: ParameterValue) -> Self {
        value.0
    }
}

impl JsonSchema for ParameterValue {
    fn schema_name() -> Cow<'static, str> {
        "ParameterValue".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A postgresql.conf value: text such as `16MB` or `on`, a number, or a boolean.",
            "type": ["string", "number", "boolean"]
        })
    }
}
