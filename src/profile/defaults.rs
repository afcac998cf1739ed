//! Defaults of optional fields, in one place so the schema, the checks and the emitters
//! agree: a profile field's `#[schemars(extend("default" = ...))]` names its constant here,
//! and the model applies the same constant.

use crate::profile::{Engine, MonitoringProvider, ReleaseChannel, TlsSource};

/// An image by tag is refused unless its field opts out.
pub const ALLOW_UNPINNED_IMAGE: bool = false;
pub const AUTOSCALING: bool = false;
pub const INTERNAL_ACCESS: bool = false;
pub const GLOBAL_ACCESS: bool = false;
pub const EXTERNAL_ACCESS: bool = false;
pub const TLS_SOURCE: TlsSource = TlsSource::Managed;
pub const HTTP_REDIRECT: bool = false;
pub const ENGINE: Engine = Engine::Postgresql;
pub const DATABASE_TLS: bool = true;
pub const LOAD_BALANCE_READS: bool = true;
pub const SNAPSHOTS: bool = true;
pub const ONLINE_SNAPSHOTS: bool = false;
/// WAL archiving and full backups to GCS are on: the recovery point is minutes, not the
/// snapshot interval.
pub const ARCHIVE: bool = true;
pub const ARCHIVE_RETENTION_FULL: u32 = 4;
pub const FULL_BACKUP_INTERVAL_HOURS: u32 = 168;
pub const DIFFERENTIAL_BACKUP_INTERVAL_HOURS: u32 = 24;
pub const ARCHIVE_SOFT_DELETE_DAYS: u32 = 14;
pub const RESTORE_TEST_SCHEDULE: &str = "0 4 * * 3";
/// The log sink's bucket keeps every entry 400 days: a year's audit period and its
/// fieldwork.
pub const LOG_RETENTION_DAYS: u32 = 400;
pub const RECOVERY_POINT_SECONDS: u32 = 300;
pub const MONITORING_PROVIDER: MonitoringProvider = MonitoringProvider::PrometheusOperator;
pub const RELEASE_CHANNEL: ReleaseChannel = ReleaseChannel::Regular;
pub const CLOUD_NAT: bool = false;
pub const BINARY_AUTHORIZATION: bool = true;
pub const PUBLIC_ENDPOINT: bool = false;
/// GKE's maintenance window: weekends, 02:00 to 10:00 UTC (72 hours in any 32 days, over
/// GKE's minimum of 48).
pub const MAINTENANCE_DAYS: [crate::profile::Weekday; 2] =
    [crate::profile::Weekday::SA, crate::profile::Weekday::SU];
pub const MAINTENANCE_START_HOUR: u32 = 2;
pub const MAINTENANCE_HOURS: u32 = 8;
pub const MANAGE_STATE_BUCKET: bool = true;
pub const APP_PORT: u32 = 8080;
/// The reference app's gunicorn holds a connection per thread: 2 workers × 4 threads
/// (`examples/app/gunicorn.conf.py`).
pub const APP_DATABASE_CONNECTIONS: u32 = 8;
pub const APP_REPLICAS: u32 = 2;
pub const MIN_REPLICAS: u32 = 2;
pub const MAX_REPLICAS: u32 = 10;
pub const TARGET_CPU_PERCENT: u32 = 70;
pub const SCALE_DOWN_STABILIZATION_SECONDS: u32 = 300;
pub const READINESS_PATH: &str = "/readyz";
pub const LIVENESS_PATH: &str = "/healthz";
pub const STARTUP_TIMEOUT_SECONDS: u32 = 120;
pub const MAX_SURGE: u32 = 1;
pub const MAX_UNAVAILABLE: u32 = 0;
pub const TERMINATION_GRACE_SECONDS: u32 = 30;
pub const PRE_STOP_DELAY_SECONDS: u32 = 10;
/// The shortest preStop delay that covers a pod's removal from the load balancer: the
/// endpoint leaves the EndpointSlice, then the NEG controller detaches it from the
/// network endpoint group with a Compute Engine API call (docs/access.md).
pub const MIN_PRE_STOP_DELAY_SECONDS: u32 = 10;
pub const SHUTDOWN_SECONDS: u32 = 15;
pub const CPU_REQUEST: &str = "250m";
pub const MEMORY_REQUEST: &str = "256Mi";
pub const CPU_LIMIT: &str = "1";
pub const MEMORY_LIMIT: &str = "512Mi";
pub const POSTGRES_VERSION: u32 = 16;
pub const PGPOOL_REPLICAS: u32 = 2;
pub const NUM_INIT_CHILDREN: u32 = 32;
pub const MAX_POOL: u32 = 4;
/// A session reads its own writes: the promise an app written for one database expects.
pub const READ_AFTER_WRITE: crate::profile::ReadAfterWrite =
    crate::profile::ReadAfterWrite::Session;
pub const DATABASE_REPLICAS: u32 = 3;
pub const SYNCHRONOUS_MODE: bool = true;
pub const STORAGE_SIZE: &str = "20Gi";
pub const DATABASE_CPU_REQUEST: &str = "1";
pub const DATABASE_MEMORY_REQUEST: &str = "2Gi";
pub const DATABASE_CPU_LIMIT: &str = "2";
pub const DATABASE_MEMORY_LIMIT: &str = "2Gi";
pub const CITUS_WORKER_GROUPS: u32 = 2;
/// A Pgpool pod: one process per child, each a few MiB; the limit leaves room for 64.
pub const PGPOOL_CPU_REQUEST: &str = "250m";
pub const PGPOOL_MEMORY_REQUEST: &str = "256Mi";
pub const PGPOOL_CPU_LIMIT: &str = "1";
pub const PGPOOL_MEMORY_LIMIT: &str = "512Mi";
/// The node pool the database runs on when the profile names none but lists it.
pub const DATABASE_NODE_POOL: &str = "db";
/// A node pool's size over all its zones when the profile leaves it unset: one to three
/// nodes in each of GKE's default three zones.
pub const NODE_POOL_MIN_NODES: u32 = 3;
pub const NODE_POOL_MAX_NODES: u32 = 9;
/// The zones GKE puts a regional cluster's nodes in when `node_locations` is unset
/// (cloud.google.com/kubernetes-engine/docs/concepts/regional-clusters: "three zones").
pub const GKE_DEFAULT_ZONES: u32 = 3;
/// PostgreSQL's own default of `superuser_reserved_connections`.
pub const SUPERUSER_RESERVED_CONNECTIONS: u64 = 3;
/// `max_connections` when the profile leaves it unset: what Pgpool can open plus the
/// reserved slots plus room for replication, monitoring and backups, and never below
/// PostgreSQL's own default of 100.
pub fn max_connections(pgpool_demand: u64, reserved: u64) -> u64 {
    (pgpool_demand + reserved + 10).max(100)
}
/// The app's user and group: above 10000 so they never map to a host account.
pub const APP_UID: i64 = 10001;
/// GKE Standard's default DNS provider.
pub const DNS_PROVIDER: crate::profile::DnsProvider = crate::profile::DnsProvider::KubeDns;
/// NodeLocal DNSCache is on by default on GKE Standard 1.33.1 and later (docs/network.md).
pub const NODE_LOCAL_DNS_CACHE: bool = true;
pub const GOOGLE_APIS: crate::profile::GoogleApis = crate::profile::GoogleApis::Private;
/// libpq's names for the connection the app is given (docs/database.md).
pub const DATABASE_ENV: DatabaseEnv<&str> = DatabaseEnv {
    host: "PGHOST",
    port: "PGPORT",
    database: "PGDATABASE",
    user: "PGUSER",
    password: "PGPASSWORD",
    ssl_mode: "PGSSLMODE",
    ssl_root_cert: "PGSSLROOTCERT",
};
/// kube-prometheus-stack selects PodMonitors and PrometheusRules by its release label
/// (`podMonitorSelectorNilUsesHelmValues`, `ruleSelectorNilUsesHelmValues`: true).
pub const SELECTOR_LABEL: (&str, &str) = ("release", "kube-prometheus-stack");
pub const TARGET_REVISION: &str = "main";
pub const SNAPSHOT_SCHEDULE: &str = "0 */6 * * *";
pub const SNAPSHOT_RETAIN: u32 = 28;
pub const SNAPSHOT_READY_TIMEOUT_MINUTES: u32 = 20;
pub const RUNBOOK_BASE_URL: &str = "https://github.com/vendor/gitopsc/blob/main/docs/runbooks";
pub const REPLICATION_LAG_SECONDS: u32 = 30;
pub const SNAPSHOT_MAX_AGE_HOURS: u32 = 12;
pub const ERROR_RATIO_PERCENT: u32 = 5;
pub const LATENCY_P99_MILLISECONDS: u32 = 1000;
pub const CONNECTIONS_PERCENT: u32 = 80;
pub const VOLUME_FULL_PERCENT: u32 = 85;
pub const AUTOSCALER_AT_MAX_MINUTES: u32 = 30;

/// Names of the environment variables that carry the app's database connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseEnv<S = String> {
    pub host: S,
    pub port: S,
    pub database: S,
    pub user: S,
    pub password: S,
    pub ssl_mode: S,
    pub ssl_root_cert: S,
}

impl DatabaseEnv {
    /// The profile's names over libpq's defaults (`DATABASE_ENV`).
    pub fn from_profile(names: Option<&super::DatabaseEnv>) -> DatabaseEnv {
        let names = names.cloned().unwrap_or_default();
        let d = DATABASE_ENV;
        let pick = |name: Option<String>, default: &str| name.unwrap_or_else(|| default.into());
        DatabaseEnv {
            host: pick(names.host, d.host),
            port: pick(names.port, d.port),
            database: pick(names.database, d.database),
            user: pick(names.user, d.user),
            password: pick(names.password, d.password),
            ssl_mode: pick(names.ssl_mode, d.ssl_mode),
            ssl_root_cert: pick(names.ssl_root_cert, d.ssl_root_cert),
        }
    }

    /// (profile field under `app.databaseEnv`, variable name) of every variable.
    pub fn fields(&self) -> [(&'static str, &str); 7] {
        [
            ("host", &self.host),
            ("port", &self.port),
            ("database", &self.database),
            ("user", &self.user),
            ("password", &self.password),
            ("sslMode", &self.ssl_mode),
            ("sslRootCert", &self.ssl_root_cert),
        ]
    }
}

/// The message queue extension (docs/queue.md) is off unless the profile turns it on.
pub const QUEUE_ENABLED: bool = false;
pub const QUEUE_STORAGE_SIZE: &str = "8Gi";
