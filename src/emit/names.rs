//! Names and ports the components agree on: the one place a component learns another's
//! Service, user, label or port, so no component reaches into another for them.

/// The `app.kubernetes.io/name` of each workload's pods: the one source of the labels that
/// Deployments, StatefulSets, Services and NetworkPolicies select on.
pub mod workload {
    pub const APP: &str = "app";
    pub const PGPOOL: &str = "pgpool";
    pub const POSTGRES: &str = "postgres";
    pub const BACKUP: &str = "backup";
    pub const RESTORE_TEST: &str = "restore-test";
}

/// The reserved internal address the internal load balancer takes when the internal entry
/// has a DNS name: created by the Terraform, named by the Service.
pub fn internal_address(customer: &str) -> String {
    // A Compute Engine name: at most 63 characters.
    crate::syntax::named_after(customer, "internal", 63)
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
    /// The expiry of the certificates served, from the database's `patroni-config`
    /// sidecar (`certificates.py`).
    pub const CERTIFICATES: i32 = 9188;
    pub const CERTIFICATES_NAME: &str = "certificates";
    /// The Kubernetes API on GKE's private control-plane endpoint.
    pub const KUBERNETES_API: i32 = 443;
}

/// The Pgpool pod template's annotation that the database's `patroni-config` sidecar sets
/// to the TLS Secret's certificate fingerprint when Pgpool serves an older one: a new value
/// rolls Pgpool's pods, which read the certificate only at start.
pub const TLS_ROLL_ANNOTATION: &str = "gitopsc.io/tls-certificate";

/// The app Deployment's pod template annotation that the database's `patroni-config`
/// sidecar sets to a keyed digest of the app's password when it changes: a new value rolls
/// the app's pods, which read `PGPASSWORD` only at start.
pub const APP_CREDENTIALS_ANNOTATION: &str = "gitopsc.io/app-credentials";

/// The database StatefulSet's pod template annotation that the leader's `patroni-config`
/// sidecar sets to a keyed digest of Patroni's three passwords when it has changed them:
/// a new value restarts the members one at a time, and Patroni reads passwords at start.
pub const PATRONI_CREDENTIALS_ANNOTATION: &str = "gitopsc.io/patroni-credentials";

/// The database StatefulSet's annotation with the profile's PostgreSQL major: the guard
/// refuses a render that lowers it, as no member could run the newer data it holds.
pub const POSTGRES_MAJOR_ANNOTATION: &str = "gitopsc.io/postgres-major";

/// Services of the database tier: every member by DNS, the leader, the streaming standbys.
pub mod service {
    pub const HEADLESS: &str = "postgres-headless";
    pub const PRIMARY: &str = "postgres-primary";
    pub const REPLICAS: &str = "postgres-replicas";
}

/// Labels Patroni puts on the members at run time.
pub mod label {
    /// Patroni's role label and the value it puts on the leader. `master` is the only value
    /// Patroni 3 writes; Patroni 4 is told to keep it (`leader_label_value`).
    pub const ROLE: &str = "role";
    pub const LEADER: &str = "master";
    pub const REPLICA: &str = "replica";
    /// Patroni's label for the Citus group of a member.
    pub const CITUS_GROUP: &str = "citus-group";
}

/// Users the cluster has; their passwords are keys of the credentials Secret
/// (`credentials::secret_key`).
pub mod user {
    pub const SUPERUSER: &str = "postgres";
    pub const REPLICATION: &str = "replicator";
    /// pg_rewind's user: the superuser logs in only over the local socket, and a rejoining
    /// member runs pg_rewind against the new primary over the network.
    pub const REWIND: &str = "rewinder";
    pub const APP: &str = "app";
    pub const APP_DATABASE: &str = "app";
    pub const MONITOR: &str = "monitor";
    pub const BACKUP: &str = "backup";
}
