//! The database tier: PostgreSQL members run by Patroni in a StatefulSet (one per Citus
//! group), Patroni's least-privilege Role, the headless/primary/replicas Services, the PDB,
//! the Patroni configuration and the credentials `ExternalSecret`.
//!
//! Patroni keeps its state in ConfigMaps (`kubernetes.use_endpoints: false`) and labels the
//! leader pod `role=master`, which the primary Service selects (docs/database.md).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
    StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{
    Affinity, ConfigMap, Container, ContainerPort, EnvVar, EnvVarSource, ExecAction, HTTPGetAction,
    ObjectFieldSelector, PersistentVolumeClaim, PersistentVolumeClaimSpec, PodAffinityTerm,
    PodAntiAffinity, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, Service, ServicePort,
    ServiceSpec, Toleration, TopologySpreadConstraint, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

use super::credentials::{secret_key, secret_keys};
use super::names::{label, service, user};
use super::{Component, Object, labels, metadata, port, selector};
use crate::model::{Customer, Database};

/// Name of the StatefulSet, ServiceAccount, Role and PDB, and Patroni's scope.
pub const NAME: &str = super::workload::POSTGRES;
/// The ConfigMap with `patroni.yml` and the bootstrap script.
pub const CONFIG: &str = "postgres-patroni";
/// The uid of `postgres` in Debian-based PostgreSQL images.
pub const UID: i64 = 999;
/// Why checkov's CKV_K8S_40 (a high UID) does not fit a pod that runs PostgreSQL.
pub const POSTGRES_UID_SKIP: (&str, &str) = (
    "CKV_K8S_40",
    "PostgreSQL runs as the image's postgres user (uid 999); initdb needs the uid in /etc/passwd",
);
/// Where the container finds its files (translated by the real-component test).
pub const CONFIG_DIR: &str = "/etc/patroni";
pub const DATA_DIR: &str = "/var/lib/postgresql/data/pgdata";
pub const SOCKET_DIR: &str = "/var/run/postgresql";
/// Where the image keeps each major's binaries (`<major>/bin`, Debian's layout).
pub const BINARIES: &str = "/usr/lib/postgresql";
/// Patroni's `bin_dir`: a link start.sh points at the binaries of the major the data
/// directory holds, and major-upgrade.py re-points (memory-backed run volume).
const BIN_LINK: &str = "/var/run/postgresql/bin";
/// Patroni writes the passwords it connects with here: memory, not the node's disk.
const PGPASS: &str = "/var/run/postgresql/pgpass";
/// The operator's upgrade across majors, in the ConfigMap (templates/major-upgrade.py.j2).
pub const MAJOR_UPGRADE: &str = "major-upgrade.py";
pub const TLS_DIR: &str = "/etc/postgresql/tls";
/// Written by apply-config.sh once the dynamic configuration is in the cluster state.
const APPLIED_MARKER: &str = "/tmp/dynamic-config-applied";
pub const CREDENTIALS_DIR: &str = "/etc/postgresql/credentials";
/// Patroni timing: a dead leader's lock expires after `TTL` seconds (the RTO's main term).
/// How far (bytes of WAL) a standby may be behind the primary and still be promoted
/// (`maximum_lag_on_failover`) or serve reads (its readiness, so the standbys Service and
/// Pgpool's balanced reads hold only standbys within it).
pub const MAX_STANDBY_LAG_BYTES: u64 = 1_048_576;
const TTL: u32 = 30;
const LOOP_WAIT: u32 = 10;
const RETRY_TIMEOUT: u32 = 10;
/// Lets Patroni stop PostgreSQL cleanly and hand the leader lock over.
const TERMINATION_GRACE_SECONDS: i64 = 120;
const POST_BOOTSTRAP: &str = include_str!("templates/post-bootstrap.sh");

/// One Patroni cluster: the only one, or one Citus group.
struct Group {
    /// StatefulSet name, also the prefix of its pod names.
    statefulset: String,
    /// The Citus group (0 = coordinator); `None` without Citus.
    citus: Option<u32>,
}

fn groups(database: &Database) -> Vec<Group> {
    match database.citus_worker_groups {
        None => vec![Group {
            statefulset: NAME.into(),
            citus: None,
        }],
        Some(workers) => (0..=workers)
            .map(|g| Group {
                statefulset: format!("{NAME}-g{g}"),
                citus: Some(g),
            })
            .collect(),
    }
}

pub fn emit(customer: &Customer) -> Vec<Object> {
    let database = &customer.database;
    let labels = labels(customer, NAME, Component::DATABASE.as_str());
    let config_map = config_map(customer, &labels);
    let exporter_config = exporter_config_map(customer, &labels);
    // One annotation for both ConfigMaps the pods mount.
    let checksum = crate::serialize::digest(
        format!(
            "{}{}",
            super::checksum(&config_map),
            super::checksum(&exporter_config)
        )
        .as_bytes(),
    );
    let mut objects = vec![
        exporter_config,
        // Patroni keeps the cluster state in the Kubernetes API, so it needs its token.
        super::service_account(
            customer,
            Component::DATABASE,
            NAME,
            &labels,
            true,
            customer
                .archive
                .as_ref()
                .map(|a| a.gcp_service_account.as_str()),
        ),
        role(customer, &labels),
        super::role_binding(customer, Component::DATABASE, NAME, &labels),
        config_map,
        headless_service(customer, &labels),
        role_service(customer, &labels, service::PRIMARY, label::LEADER),
        role_service(customer, &labels, service::REPLICAS, label::REPLICA),
        // One member at a time: a drain never takes the standby a commit waits for together
        // with the primary. Across Citus groups too, to keep it simple.
        super::pod_disruption_budget(customer, Component::DATABASE, NAME, &labels, false),
    ];
    for group in groups(database) {
        objects.push(statefulset(customer, &labels, &group, &checksum));
    }
    objects.extend(member_claims(customer));
    objects.extend(super::archive::restore_test(customer, &checksum));
    objects
}

/// The StatefulSets of the cluster (one per Citus group).
pub fn statefulset_names(database: &Database) -> Vec<String> {
    groups(database)
        .into_iter()
        .map(|g| g.statefulset)
        .collect()
}

/// Patroni's names for its ConfigMaps: `<scope>[-<group>]-{config,leader,failover,sync}`.
pub fn patroni_config_maps(database: &Database) -> Vec<String> {
    let prefixes: Vec<String> = match database.citus_worker_groups {
        None => vec![NAME.into()],
        Some(workers) => (0..=workers).map(|g| format!("{NAME}-{g}")).collect(),
    };
    prefixes
        .iter()
        .flat_map(|p| {
            ["config", "failover", "leader", "sync"]
                .iter()
                .map(move |k| format!("{p}-{k}"))
        })
        .collect()
}

fn all_members(database: &Database) -> Vec<String> {
    groups(database)
        .iter()
        .flat_map(|g| (0..database.replicas).map(move |i| format!("{}-{i}", g.statefulset)))
        .collect()
}

/// Exactly what Patroni's Kubernetes DCS calls (patroni/dcs/kubernetes.py, ConfigMap mode):
/// it lists and watches pods and ConfigMaps with its label selector, creates its ConfigMaps,
/// reads and patches them by name, and patches its own pod's role label. Nothing on
/// Endpoints or Services: those are only used with `use_endpoints: true`.
fn role(customer: &Customer, labels: &BTreeMap<String, String>) -> Object {
    let rule = |resource: &str, verbs: &[&str], names: Option<Vec<String>>| PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(vec![resource.into()]),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        resource_names: names,
        ..PolicyRule::default()
    };
    let database = &customer.database;
    let role = Role {
        metadata: metadata(customer, NAME, labels.clone()),
        rules: Some(
            vec![
                // `create` and `list`/`watch` cannot be limited by name in RBAC.
                rule("configmaps", &["create", "list", "watch"], None),
                rule(
                    "configmaps",
                    &["get", "patch"],
                    Some(patroni_config_maps(database)),
                ),
                rule("pods", &["list", "watch"], None),
                rule("pods", &["get", "patch"], Some(all_members(database))),
            ]
            .into_iter()
            // passwords.py rolls the members onto Patroni's new passwords (and reads which
            // ones they were last rolled onto) and the app's pods onto the app's,
            // certificates.py Pgpool's when they serve an older certificate.
            .chain(std::iter::once(PolicyRule {
                api_groups: Some(vec!["apps".into()]),
                resources: Some(vec!["statefulsets".into()]),
                verbs: vec!["get".into(), "patch".into()],
                resource_names: Some(statefulset_names(database)),
                ..PolicyRule::default()
            }))
            .chain(std::iter::once(PolicyRule {
                api_groups: Some(vec!["apps".into()]),
                resources: Some(vec!["deployments".into()]),
                verbs: vec!["patch".into()],
                resource_names: Some(
                    std::iter::once(super::names::workload::APP)
                        .chain(
                            database
                                .tls_secret
                                .is_some()
                                .then_some(super::names::workload::PGPOOL),
                        )
                        .map(String::from)
                        .collect(),
                ),
                ..PolicyRule::default()
            }))
            .collect(),
        ),
    };
    Object::new(Component::DATABASE, NAME, &role)
}

/// The labels Patroni owns on its pods and ConfigMaps. The instance label is left out on
/// purpose: Argo CD's label tracking would otherwise adopt (and prune) Patroni's ConfigMaps.
fn patroni_labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app.kubernetes.io/name".to_string(), NAME.to_string())])
}

/// Patroni's dynamic configuration: kept in the DCS, the same on every member. It seeds a
/// new cluster (`bootstrap.dcs`) and `apply-config.sh` writes it back whenever a member
/// starts, so a change in the profile reaches a running cluster too.
pub fn dynamic_config(customer: &Customer) -> Value {
    let database = &customer.database;
    let mut parameters: BTreeMap<String, String> = BTreeMap::from([
        ("hot_standby".into(), "on".into()),
        ("max_replication_slots".into(), "10".into()),
        ("max_wal_senders".into(), "10".into()),
        // Citus moves shards with logical replication.
        (
            "wal_level".into(),
            if database.citus_worker_groups.is_some() {
                "logical"
            } else {
                "replica"
            }
            .into(),
        ),
        // pg_rewind needs hint bits in WAL to rejoin a failed primary as a standby.
        ("wal_log_hints".into(), "on".into()),
    ]);
    for (name, value) in &database.parameters {
        if crate::patroni::DCS_ONLY.contains(&name.as_str()) {
            parameters.insert(name.clone(), value.clone());
        }
    }
    json!({
        "ttl": TTL,
        "loop_wait": LOOP_WAIT,
        "retry_timeout": RETRY_TIMEOUT,
        // A standby further behind may not be promoted (asynchronous mode).
        "maximum_lag_on_failover": MAX_STANDBY_LAG_BYTES,
        "synchronous_mode": database.synchronous,
        // Keep accepting writes when no standby is left: availability over RPO 0 for the
        // time the cluster runs on one member (docs/database.md).
        "synchronous_mode_strict": false,
        // The Kubernetes API is Patroni's store: while it is out of reach the primary stays
        // primary if every member confirms it, instead of demoting itself after the TTL
        // (Patroni's `dcs_failsafe_mode`).
        "failsafe_mode": true,
        "postgresql": {
            "use_pg_rewind": true,
            "use_slots": true,
            "parameters": parameters,
        },
    })
}

/// What `apply-config.sh` patches into a running cluster's dynamic configuration: the keys
/// gitopsc owns, with a null (Patroni's `patch_config` removes the key) for each DCS-only
/// parameter the profile does not set, so a parameter dropped from the profile leaves the
/// cluster too. Every other key (`pause`, `slots`, an operator's own setting) is left alone.
fn dynamic_patch(customer: &Customer) -> Value {
    let mut patch = dynamic_config(customer);
    if let Some(parameters) = patch["postgresql"]["parameters"].as_object_mut() {
        for name in crate::patroni::DCS_ONLY {
            parameters.entry(*name).or_insert(Value::Null);
        }
    }
    patch
}

/// PostgreSQL's local parameters (patroni.yml) and its pg_hba rules.
fn local_parameters(customer: &Customer) -> (BTreeMap<String, String>, Vec<String>) {
    let database = &customer.database;
    let mut local: BTreeMap<String, String> = database
        .parameters
        .iter()
        .filter(|(name, _)| !crate::patroni::DCS_ONLY.contains(&name.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    local.insert("password_encryption".into(), "scram-sha-256".into());
    local.insert("unix_socket_directories".into(), SOCKET_DIR.into());
    // Every session's start (who, from where, authenticated how) and end in the log: the
    // audit's K8S-LOG-1. A profile may turn them off, and the audit then says so. `on` is
    // also PostgreSQL 18's word for receipt, authentication and authorization.
    for name in ["log_connections", "log_disconnections"] {
        local.entry(name.into()).or_insert_with(|| "on".into());
    }
    local.extend(super::archive::parameters(customer));
    // A standby that stops consuming its slot may hold back at most this much WAL; past it
    // the slot is lost (the standby catches up from the archive) instead of the disk
    // filling up under the primary.
    local
        .entry("max_slot_wal_keep_size".into())
        .or_insert_with(|| format!("{}MB", slot_wal_limit_mb(database)));
    let host = if database.tls_secret.is_some() {
        local.insert("ssl".into(), "on".into());
        local.insert("ssl_cert_file".into(), format!("{TLS_DIR}/tls.crt"));
        local.insert("ssl_key_file".into(), format!("{TLS_DIR}/tls.key"));
        "hostssl"
    } else {
        "host"
    };
    // The superuser only over the local socket (Patroni's own connections); nothing that
    // reaches a member over the network can log in as it.
    let mut pg_hba = vec![
        "local all all scram-sha-256".to_string(),
        format!("host all {} all reject", user::SUPERUSER),
        format!("{host} replication {} all scram-sha-256", user::REPLICATION),
        format!("{host} all all all scram-sha-256"),
    ];
    if database.tls_secret.is_some() {
        pg_hba.push("hostnossl all all all reject".into());
    }
    (local, pg_hba)
}

/// How a member's `initdb` creates the cluster (Patroni's `bootstrap.initdb` list), and how
/// major-upgrade.py creates the new major's data directory.
fn initdb_options() -> Value {
    json!([
        {"encoding": "UTF8"},
        {"locale": "C.UTF-8"},
        "data-checksums",
        {"auth-host": "scram-sha-256"},
        {"auth-local": "scram-sha-256"},
    ])
}

/// `patroni.yml`: everything but the values only a running pod knows (its name and IP come
/// from `PATRONI_*` environment variables, passwords from the Secret).
pub fn patroni_config(customer: &Customer) -> Value {
    let database = &customer.database;
    let (local, pg_hba) = local_parameters(customer);
    let mut config = json!({
        "scope": NAME,
        "kubernetes": {
            "labels": patroni_labels(),
            "scope_label": "cluster-name",
            "role_label": label::ROLE,
            "leader_label_value": label::LEADER,
            "standby_leader_label_value": label::LEADER,
            "use_endpoints": false,
        },
        "restapi": {"listen": format!("0.0.0.0:{}", port::PATRONI)},
        "bootstrap": {
            "dcs": dynamic_config(customer),
            "initdb": initdb_options(),
            "post_bootstrap": format!("{CONFIG_DIR}/post-bootstrap.sh"),
        },
        "postgresql": {
            "listen": format!("0.0.0.0:{}", port::POSTGRES),
            "data_dir": DATA_DIR,
            "bin_dir": BIN_LINK,
            "pgpass": PGPASS,
            "use_unix_socket": true,
            "use_unix_socket_repl": false,
            "authentication": {
                "superuser": {"username": user::SUPERUSER},
                "replication": {"username": user::REPLICATION},
                "rewind": {"username": user::REWIND},
            },
            "parameters": local,
            "pg_hba": pg_hba,
        },
        "watchdog": {"mode": "off"},
    });
    if let Some(recovery) = super::archive::recovery_conf(customer) {
        config["postgresql"]["recovery_conf"] = recovery;
    }
    if let Some(method) = super::archive::bootstrap(customer) {
        config["bootstrap"]["method"] = json!("pgbackrest");
        config["bootstrap"]["pgbackrest"] = method;
    }
    if database.citus_worker_groups.is_some() {
        // The group number comes from PATRONI_CITUS_GROUP, set per StatefulSet.
        config["citus"] = json!({"database": user::APP_DATABASE});
    }
    config
}

fn config_map(customer: &Customer, labels: &BTreeMap<String, String>) -> Object {
    let mut data = BTreeMap::from([
        (
            "patroni.yml".to_string(),
            crate::serialize::to_yaml(&patroni_config(customer)),
        ),
        (
            "dynamic.yml".to_string(),
            crate::serialize::to_yaml(&dynamic_patch(customer)),
        ),
        ("post-bootstrap.sh".to_string(), POST_BOOTSTRAP.to_string()),
        (
            "apply-config.sh".to_string(),
            super::render_template(
                "apply-config.sh",
                minijinja::context! {
                    marker => APPLIED_MARKER,
                    certificates => customer.database.tls_secret.is_some(),
                },
            ),
        ),
        (
            "start.sh".to_string(),
            super::render_template(
                "start-patroni.sh",
                minijinja::context! {
                    credentials_dir => CREDENTIALS_DIR,
                    config_dir => CONFIG_DIR,
                    keys => secret_keys(),
                    data_dir => DATA_DIR,
                    binaries => BINARIES,
                    bin_link => BIN_LINK,
                    version => customer.database.version,
                },
            ),
        ),
        (MAJOR_UPGRADE.to_string(), major_upgrade_script(customer)),
    ]);
    data.insert(PASSWORDS.into(), passwords_script());
    if customer.database.tls_secret.is_some() {
        data.insert("certificates.py".into(), certificates_script());
    }
    data.extend(super::archive::files(customer));
    let config_map = ConfigMap {
        metadata: metadata(customer, CONFIG, labels.clone()),
        data: Some(data),
        ..ConfigMap::default()
    };
    Object::new(Component::DATABASE, CONFIG, &config_map)
}

/// The operator's in-place upgrade to `postgresVersion` (templates/major-upgrade.py.j2),
/// with the same initdb options the cluster was created with.
fn major_upgrade_script(customer: &Customer) -> String {
    // A Python literal: JSON's strings, lists and objects read as Python's.
    let initdb = serde_json::to_string(&initdb_options()).expect("a JSON value serializes");
    super::render_template(
        MAJOR_UPGRADE,
        minijinja::context! {
            config_dir => CONFIG_DIR,
            data_dir => DATA_DIR,
            binaries => BINARIES,
            bin_link => BIN_LINK,
            version => customer.database.version,
            socket_dir => SOCKET_DIR,
            port => port::POSTGRES,
            patroni_port => port::PATRONI,
            superuser => user::SUPERUSER,
            password_file => format!("{CREDENTIALS_DIR}/{}", secret_key::SUPERUSER),
            initdb => initdb,
            archive => super::archive::stanza(customer),
        },
    )
}

/// The sidecar's script that keeps the roles' passwords equal to the Secret's.
const PASSWORDS: &str = "passwords.py";
/// How often it compares them (a verifier check per role, on the leader only).
const PASSWORD_CHECK_SECONDS: u32 = 10;

/// The `patroni-config` sidecar's password duty (templates/passwords.py.j2): the roles the
/// stack logs in as, other than Patroni's own, follow the credentials Secret.
fn passwords_script() -> String {
    let role = |name: &str, key: &str| minijinja::context! { name => name, key => key };
    super::render_template(
        PASSWORDS,
        minijinja::context! {
            credentials_dir => CREDENTIALS_DIR,
            superuser => user::SUPERUSER,
            keys => secret_keys(),
            patroni_roles => vec![
                role(user::SUPERUSER, secret_key::SUPERUSER),
                role(user::REPLICATION, secret_key::REPLICATION),
                role(user::REWIND, secret_key::REWIND),
            ],
            roles => vec![
                role(user::APP, secret_key::APP),
                role(user::MONITOR, secret_key::MONITOR),
                role(user::BACKUP, secret_key::BACKUP),
            ],
            pgpass => PGPASS,
            statefulset_annotation => super::names::PATRONI_CREDENTIALS_ANNOTATION,
            app_role => user::APP,
            socket_dir => SOCKET_DIR,
            port => port::POSTGRES,
            patroni_port => port::PATRONI,
            deployment => super::names::workload::APP,
            annotation => super::names::APP_CREDENTIALS_ANNOTATION,
            period => PASSWORD_CHECK_SECONDS,
        },
    )
}

/// How often the sidecar compares the certificates served with the TLS Secret's, and
/// after how long it asks again for a reload or a rollout that changed nothing.
const CERTIFICATE_CHECK_SECONDS: u32 = 30;
const CERTIFICATE_RETRY_SECONDS: u32 = 600;

/// The `patroni-config` sidecar's second job, once the dynamic configuration is written:
/// serve what the TLS Secret holds (templates/certificates.py.j2).
fn certificates_script() -> String {
    super::render_template(
        "certificates.py",
        minijinja::context! {
            tls_dir => TLS_DIR,
            postgres_port => port::POSTGRES,
            pgpool_host => super::names::workload::PGPOOL,
            pgpool_port => port::PGPOOL,
            patroni_port => port::PATRONI,
            pgpool_deployment => super::names::workload::PGPOOL,
            annotation => super::names::TLS_ROLL_ANNOTATION,
            metrics_port => port::CERTIFICATES,
            metric => super::monitoring::SERVED_CERTIFICATE_METRIC,
            period => CERTIFICATE_CHECK_SECONDS,
            retry => CERTIFICATE_RETRY_SECONDS,
        },
    )
}

/// `max_slot_wal_keep_size`, in MB: a fifth of a member's volume (the rest holds the data
/// and the WAL PostgreSQL keeps anyway).
pub fn slot_wal_limit_mb(database: &Database) -> u64 {
    let bytes = crate::syntax::quantity_value(&database.storage_size).unwrap_or(0.0);
    (bytes / 5.0 / 1024.0 / 1024.0) as u64
}

/// postgres_exporter's extra queries (`emit::monitoring::exporter_queries`).
pub const EXPORTER_CONFIG: &str = "postgres-exporter";
const EXPORTER_CONFIG_DIR: &str = "/etc/postgres-exporter";
const EXPORTER_START: &str = "start.sh";

fn exporter_config_map(customer: &Customer, labels: &BTreeMap<String, String>) -> Object {
    let config_map = ConfigMap {
        metadata: metadata(customer, EXPORTER_CONFIG, labels.clone()),
        data: Some(BTreeMap::from([
            (
                "queries.yaml".to_string(),
                crate::serialize::to_yaml(&super::monitoring::exporter_queries()),
            ),
            (
                EXPORTER_START.to_string(),
                super::ExporterStart {
                    program: "postgres_exporter",
                    command: format!(
                        "postgres_exporter --web.listen-address=:{}",
                        port::POSTGRES_EXPORTER
                    ),
                    password_file: format!("{CREDENTIALS_DIR}/{}", secret_key::MONITOR),
                    // It reads DATA_SOURCE_PASS_FILE itself (the container's environment).
                    password_env: None,
                    exports: Vec::new(),
                }
                .script(),
            ),
        ])),
        ..ConfigMap::default()
    };
    Object::new(Component::DATABASE, EXPORTER_CONFIG, &config_map)
}

fn service_port(name: &str, number: i32) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port: number,
        target_port: Some(IntOrString::String(name.into())),
        protocol: Some("TCP".into()),
        ..ServicePort::default()
    }
}

/// Gives every member a stable DNS name (`postgres-0.postgres-headless`), published before
/// the member is ready so standbys being cloned and the snapshot job can find it.
fn headless_service(customer: &Customer, labels: &BTreeMap<String, String>) -> Object {
    let service = Service {
        metadata: metadata(customer, service::HEADLESS, labels.clone()),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            publish_not_ready_addresses: Some(true),
            selector: Some(selector(customer, NAME)),
            ports: Some(vec![
                service_port("postgresql", port::POSTGRES),
                service_port("patroni", port::PATRONI),
            ]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    Object::new(Component::DATABASE, service::HEADLESS, &service)
}

/// The leader (`role=master`) or the standbys (`role=replica`); with Citus, of the
/// coordinator group, which is the one clients talk to.
fn role_service(
    customer: &Customer,
    labels: &BTreeMap<String, String>,
    name: &str,
    role: &str,
) -> Object {
    let mut pods = selector(customer, NAME);
    pods.insert(label::ROLE.into(), role.into());
    if customer.database.citus_worker_groups.is_some() {
        pods.insert(label::CITUS_GROUP.into(), "0".into());
    }
    let service = Service {
        metadata: metadata(customer, name, labels.clone()),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(pods),
            ports: Some(vec![service_port("postgresql", port::POSTGRES)]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    Object::new(Component::DATABASE, name, &service)
}

fn env_field(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn env_value(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

fn patroni_probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("patroni".into()),
            scheme: Some("HTTP".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(5),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

/// A member's pod: PostgreSQL under Patroni, the config sidecar and the exporter, spread
/// and placed so members do not share a node.
fn member_pod(
    customer: &Customer,
    labels: &BTreeMap<String, String>,
    group: &Group,
    match_labels: &BTreeMap<String, String>,
    checksum: &str,
) -> PodTemplateSpec {
    let database = &customer.database;
    let mut pod_labels = labels.clone();
    pod_labels.insert("cluster-name".into(), NAME.into());
    if let Some(g) = group.citus {
        pod_labels.insert(label::CITUS_GROUP.into(), g.to_string());
    }
    let (env, sidecar_env) = member_env(group);
    let (mounts, mut volumes) = member_volumes(database);
    if customer.archive.is_some() {
        volumes.push(super::credentials::volume(
            super::archive::PASSWORD_VOLUME,
            database,
            &[secret_key::SUPERUSER],
        ));
    }
    let mut containers = vec![
        postgres_container(database, env, mounts),
        config_sidecar(database, sidecar_env),
        exporter_sidecar(customer),
    ];
    containers.extend(super::archive::sidecar(customer));
    let Placement {
        anti_affinity,
        spread,
        node_selector,
        tolerations,
    } = placement(database, match_labels);
    PodTemplateSpec {
        metadata: Some(super::pod_metadata(&pod_labels, checksum)),
        spec: Some(PodSpec {
            service_account_name: Some(NAME.into()),
            automount_service_account_token: Some(true),
            termination_grace_period_seconds: Some(TERMINATION_GRACE_SECONDS),
            security_context: Some(k8s_openapi::api::core::v1::PodSecurityContext {
                // Large volumes: change ownership only when the root does not match.
                fs_group_change_policy: Some("OnRootMismatch".into()),
                ..super::restricted_pod(UID)
            }),
            affinity: Some(anti_affinity),
            topology_spread_constraints: Some(vec![spread]),
            node_selector,
            tolerations,
            containers,
            volumes: Some(volumes),
            ..PodSpec::default()
        }),
    }
}

fn statefulset(
    customer: &Customer,
    labels: &BTreeMap<String, String>,
    group: &Group,
    checksum: &str,
) -> Object {
    let database = &customer.database;
    let mut match_labels = selector(customer, NAME);
    if let Some(g) = group.citus {
        match_labels.insert(label::CITUS_GROUP.into(), g.to_string());
    }
    let pod = member_pod(customer, labels, group, &match_labels, checksum);
    let claim = PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some("data".into()),
            labels: Some(selector(customer, NAME)),
            ..ObjectMeta::default()
        },
        spec: Some(claim_spec(database)),
        ..PersistentVolumeClaim::default()
    };
    let mut meta = metadata(customer, &group.statefulset, labels.clone());
    let mut skips = vec![
        (
            "CKV_K8S_38",
            "Patroni keeps the cluster state in the Kubernetes API and needs its token",
        ),
        POSTGRES_UID_SKIP,
        (
            "CKV_K8S_8",
            "the patroni-config sidecar exits on failure and has a readiness check, the pgbackrest sidecar only waits and backs up; postgres has both probes",
        ),
    ];
    if customer.archive.is_some() {
        skips.push((
            "CKV_K8S_9",
            "a failing readiness probe on the pgbackrest sidecar would take the member out of its Services; the BackupTooOld and PostgresArchiveFailing alerts watch it",
        ));
    }
    let mut annotations = super::checkov_skips(&skips, database.image_by_tag.then_some("database"))
        .unwrap_or_default();
    annotations.insert(
        super::names::POSTGRES_MAJOR_ANNOTATION.into(),
        database.version.to_string(),
    );
    meta.annotations = Some(annotations);
    let statefulset = StatefulSet {
        metadata: meta,
        spec: Some(StatefulSetSpec {
            replicas: Some(i32::try_from(database.running_members()).unwrap_or(i32::MAX)),
            service_name: Some(service::HEADLESS.into()),
            // Members coordinate through Patroni, not through start order.
            pod_management_policy: Some("Parallel".into()),
            selector: LabelSelector {
                match_labels: Some(match_labels),
                ..LabelSelector::default()
            },
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                ..StatefulSetUpdateStrategy::default()
            }),
            // The data outlives the StatefulSet and a scale-down: deleting a volume is a
            // decision an operator makes, never a side effect of a sync.
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: Some("Retain".into()),
                    when_scaled: Some("Retain".into()),
                },
            ),
            template: pod,
            volume_claim_templates: Some(vec![claim]),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    };
    Object::new(Component::DATABASE, &group.statefulset, &statefulset)
}

/// Patroni's environment (what only the running pod knows), and the config sidecar's.
fn member_env(group: &Group) -> (Vec<EnvVar>, Vec<EnvVar>) {
    let mut env = vec![
        env_field("PATRONI_NAME", "metadata.name"),
        env_field("PATRONI_KUBERNETES_NAMESPACE", "metadata.namespace"),
        env_field("PATRONI_KUBERNETES_POD_IP", "status.podIP"),
        env_value(
            "PATRONI_POSTGRESQL_CONNECT_ADDRESS",
            &format!("$(PATRONI_KUBERNETES_POD_IP):{}", port::POSTGRES),
        ),
        env_value(
            "PATRONI_RESTAPI_CONNECT_ADDRESS",
            &format!("$(PATRONI_KUBERNETES_POD_IP):{}", port::PATRONI),
        ),
    ];
    let mut sidecar_env = vec![
        env_field("PATRONI_KUBERNETES_NAMESPACE", "metadata.namespace"),
        // passwords.py rolls its own StatefulSet onto Patroni's new passwords.
        env_value("GITOPSC_STATEFULSET", &group.statefulset),
    ];
    if let Some(g) = group.citus {
        env.push(env_value("PATRONI_CITUS_GROUP", &g.to_string()));
        sidecar_env.push(env_value("PATRONI_CITUS_GROUP", &g.to_string()));
    }
    (env, sidecar_env)
}

/// The member's mounts in the postgres container, and every volume of the pod.
fn member_volumes(database: &Database) -> (Vec<VolumeMount>, Vec<Volume>) {
    let mut mounts = vec![
        super::mount("data", "/var/lib/postgresql/data", false),
        super::mount("config", CONFIG_DIR, true),
        super::mount("credentials", CREDENTIALS_DIR, true),
        super::mount("run", SOCKET_DIR, false),
        super::mount("tmp", "/tmp", false),
        super::mount("shm", "/dev/shm", false),
    ];
    let mut volumes = vec![
        // The scripts are executed by Patroni and the sidecar.
        super::config_map_volume("config", CONFIG, 0o555),
        // Patroni needs every password: its own users, and the roles post-bootstrap.sh makes.
        super::credentials::volume("credentials", database, &secret_key::ALL),
        super::credentials::volume(
            super::credentials::MONITOR_VOLUME,
            database,
            &[secret_key::MONITOR],
        ),
        super::credentials::volume(super::credentials::ROLES_VOLUME, database, &secret_key::ALL),
        // The socket, and Patroni's pgpass: in memory.
        super::scratch_volume("run", "16Mi", true),
        super::scratch_volume("tmp", "1Gi", false),
        // PostgreSQL's dynamic shared memory; the runtime's 64 MiB default is too small
        // for parallel queries.
        super::scratch_volume("shm", "1Gi", true),
    ];
    if let Some(tls) = &database.tls_secret {
        mounts.push(super::mount("tls", TLS_DIR, true));
        // Owned by root, readable by the postgres group: what PostgreSQL accepts for a key
        // file it does not own.
        volumes.push(super::secret_volume("tls", tls, 0o640));
    }
    volumes.push(super::config_map_volume(
        "exporter-config",
        EXPORTER_CONFIG,
        0o444,
    ));
    (mounts, volumes)
}

/// PostgreSQL under Patroni.
fn postgres_container(
    database: &Database,
    env: Vec<EnvVar>,
    mounts: Vec<VolumeMount>,
) -> Container {
    Container {
        name: NAME.into(),
        image: Some(database.image.clone()),
        image_pull_policy: super::pull_policy(database.image_by_tag),
        command: Some(vec!["/bin/sh".into(), format!("{CONFIG_DIR}/start.sh")]),
        env: Some(env),
        ports: Some(vec![
            ContainerPort {
                name: Some("postgresql".into()),
                container_port: port::POSTGRES,
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            },
            ContainerPort {
                name: Some("patroni".into()),
                container_port: port::PATRONI,
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            },
        ]),
        resources: Some(ResourceRequirements {
            requests: Some(super::quantities(
                &database.requests.cpu,
                &database.requests.memory,
            )),
            limits: Some(super::quantities(
                &database.limits.cpu,
                &database.limits.memory,
            )),
            ..ResourceRequirements::default()
        }),
        // Ready: the leader, or a running standby within the lag bound (Patroni's
        // `/read-only?lag=`, the same answer in Patroni 3 and 4; `/readiness` applies a lag
        // only from 4.1), so a standby that fell behind leaves the standbys Service and
        // serves no balanced reads until it catches up.
        readiness_probe: Some(patroni_probe(
            &format!("/read-only?lag={MAX_STANDBY_LAG_BYTES}"),
            5,
            3,
        )),
        // Alive: Patroni's HA loop has run recently; a slow clone or crash recovery of
        // PostgreSQL does not fail it, so a long recovery is not killed.
        liveness_probe: Some(patroni_probe("/liveness", 10, 6)),
        security_context: Some(super::restricted_container(UID)),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

/// Writes the dynamic configuration into the cluster state (apply-config.sh), then keeps
/// the served certificates equal to the TLS Secret's (certificates.py).
fn config_sidecar(database: &Database, sidecar_env: Vec<EnvVar>) -> Container {
    let tls = database.tls_secret.is_some();
    let mut mounts = vec![
        super::mount("config", CONFIG_DIR, true),
        super::mount("tmp", "/tmp", false),
        // passwords.py logs in over the socket and reads the passwords it applies.
        super::mount("run", SOCKET_DIR, false),
        super::mount(super::credentials::ROLES_VOLUME, CREDENTIALS_DIR, true),
    ];
    if tls {
        mounts.push(super::mount("tls", TLS_DIR, true));
    }
    Container {
        name: "patroni-config".into(),
        image: Some(database.image.clone()),
        image_pull_policy: super::pull_policy(database.image_by_tag),
        command: Some(vec![
            "/bin/sh".into(),
            format!("{CONFIG_DIR}/apply-config.sh"),
        ]),
        env: Some(sidecar_env),
        resources: Some(ResourceRequirements {
            requests: Some(super::quantities("10m", "64Mi")),
            limits: Some(super::quantities("200m", "128Mi")),
            ..ResourceRequirements::default()
        }),
        // Ready once the dynamic configuration is written: a rolling update waits for it.
        readiness_probe: Some(Probe {
            exec: Some(ExecAction {
                command: Some(vec!["cat".into(), APPLIED_MARKER.into()]),
            }),
            period_seconds: Some(10),
            ..Probe::default()
        }),
        security_context: Some(super::restricted_container(UID)),
        volume_mounts: Some(mounts),
        ports: tls.then(|| {
            vec![ContainerPort {
                name: Some(port::CERTIFICATES_NAME.into()),
                container_port: port::CERTIFICATES,
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            }]
        }),
        ..Container::default()
    }
}

/// Scraped by the monitoring stack; it reads the monitor role's password from its file.
fn exporter_sidecar(customer: &Customer) -> Container {
    let database = &customer.database;
    Container {
        env: Some(vec![
            env_value(
                "DATA_SOURCE_URI",
                &format!(
                    "127.0.0.1:{}/postgres?sslmode={}",
                    port::POSTGRES,
                    if database.tls_secret.is_some() {
                        "require"
                    } else {
                        "disable"
                    }
                ),
            ),
            env_value("DATA_SOURCE_USER", user::MONITOR),
            env_value(
                "DATA_SOURCE_PASS_FILE",
                &format!("{CREDENTIALS_DIR}/{}", secret_key::MONITOR),
            ),
            env_value(
                "PG_EXPORTER_EXTEND_QUERY_PATH",
                &format!("{EXPORTER_CONFIG_DIR}/queries.yaml"),
            ),
        ]),
        // The image's busybox shell runs it (the upstream image is busybox-based).
        command: Some(vec![
            "/bin/sh".into(),
            format!("{EXPORTER_CONFIG_DIR}/{EXPORTER_START}"),
        ]),
        volume_mounts: Some(vec![
            super::mount(super::credentials::MONITOR_VOLUME, CREDENTIALS_DIR, true),
            super::mount("exporter-config", EXPORTER_CONFIG_DIR, true),
        ]),
        ..super::exporter_container(
            super::monitoring::POSTGRES_EXPORTER,
            &customer.monitoring.postgres_exporter_image,
            port::POSTGRES_EXPORTER,
            UID,
        )
    }
}

/// Where the members run: spread over zones (a hard rule), never two of one group on a node, on the
/// database node pool when there is one.
struct Placement {
    anti_affinity: Affinity,
    spread: TopologySpreadConstraint,
    node_selector: Option<BTreeMap<String, String>>,
    tolerations: Option<Vec<Toleration>>,
}

fn placement(database: &Database, match_labels: &BTreeMap<String, String>) -> Placement {
    // A hard rule: the disks are zonal, so members that crowd into one zone are lost with
    // it, and with no more members than zones each member has a zone of its own, which
    // keeps the synchronous standby out of the primary's zone. The compile-time check
    // (E0329) makes sure the pool has the nodes for it.
    let spread = TopologySpreadConstraint {
        max_skew: 1,
        topology_key: "topology.kubernetes.io/zone".into(),
        when_unsatisfiable: "DoNotSchedule".into(),
        // Counted as zones even while one has no node (scaled down, or lost): members never
        // crowd into the zones that are left, where their zonal disks could not follow.
        min_domains: Some(i32::try_from(database.replicas.min(database.zones)).unwrap_or(i32::MAX)),
        label_selector: Some(LabelSelector {
            match_labels: Some(match_labels.clone()),
            ..LabelSelector::default()
        }),
        ..TopologySpreadConstraint::default()
    };
    // Two members of one cluster (or Citus group) on one node would fail together: never
    // share a node. Members of different Citus groups may.
    let anti_affinity = Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                topology_key: "kubernetes.io/hostname".into(),
                label_selector: Some(LabelSelector {
                    match_labels: Some(match_labels.clone()),
                    ..LabelSelector::default()
                }),
                ..PodAffinityTerm::default()
            }]),
            ..PodAntiAffinity::default()
        }),
        ..Affinity::default()
    };
    let (node_selector, tolerations) = match &database.node_pool {
        Some(pool) => (
            Some(BTreeMap::from([(
                "cloud.google.com/gke-nodepool".to_string(),
                pool.name.clone(),
            )])),
            Some(
                pool.taints
                    .iter()
                    .map(|t| Toleration {
                        key: t.key.clone(),
                        operator: Some("Equal".into()),
                        value: t.value.clone(),
                        effect: t.effect.map(|e| {
                            match e {
                                crate::profile::TaintEffect::NoSchedule => "NoSchedule",
                                crate::profile::TaintEffect::PreferNoSchedule => "PreferNoSchedule",
                                crate::profile::TaintEffect::NoExecute => "NoExecute",
                            }
                            .into()
                        }),
                        ..Toleration::default()
                    })
                    .collect::<Vec<_>>(),
            )
            .filter(|t| !t.is_empty()),
        ),
        None => (None, None),
    };
    Placement {
        anti_affinity,
        spread,
        node_selector,
        tolerations,
    }
}

fn claim_spec(database: &Database) -> PersistentVolumeClaimSpec {
    PersistentVolumeClaimSpec {
        access_modes: Some(vec!["ReadWriteOnce".into()]),
        storage_class_name: database.storage_class.clone(),
        resources: Some(VolumeResourceRequirements {
            requests: Some(BTreeMap::from([(
                "storage".to_string(),
                Quantity(database.storage_size.clone()),
            )])),
            ..VolumeResourceRequirements::default()
        }),
        ..PersistentVolumeClaimSpec::default()
    }
}

/// Every member's volume as a claim of its own, named as the StatefulSet names the claims
/// it makes (`data-<statefulset>-<ordinal>`), which it then adopts. A claim's size may grow
/// in place (the CSI driver expands the disk) while a StatefulSet's `volumeClaimTemplates`
/// may never change; Argo CD ignores the template once the StatefulSet exists
/// (`package::argocd`), so a larger `storage.size` reaches the disks through these claims.
/// The first member's claim is made from the VolumeSnapshot while restoring. Only the
/// members that run get a claim: with `WaitForFirstConsumer` a claim stays Pending (Argo CD
/// health Progressing, `pkg/health/health_pvc.go`) until a pod uses it, and would hold
/// the sync wave. Argo CD never prunes or deletes a claim (the object transformer's sync
/// options), also not when a scale-down or the end of a restore drops it from the output.
fn member_claims(customer: &Customer) -> Vec<Object> {
    let database = &customer.database;
    let members = database.running_members();
    let mut claims = Vec::new();
    for (g, group) in groups(database).iter().enumerate() {
        for ordinal in 0..members {
            let name = format!("data-{}-{ordinal}", group.statefulset);
            let data_source = database
                .restore_from_snapshot
                .as_ref()
                .filter(|_| g == 0 && ordinal == 0)
                .map(
                    |snapshot| k8s_openapi::api::core::v1::TypedLocalObjectReference {
                        api_group: Some("snapshot.storage.k8s.io".into()),
                        kind: "VolumeSnapshot".into(),
                        name: snapshot.clone(),
                    },
                );
            let claim = PersistentVolumeClaim {
                metadata: metadata(
                    customer,
                    &name,
                    labels(customer, NAME, Component::DATABASE.as_str()),
                ),
                spec: Some(PersistentVolumeClaimSpec {
                    data_source,
                    ..claim_spec(database)
                }),
                ..PersistentVolumeClaim::default()
            };
            claims.push(Object::new(Component::DATABASE, &name, &claim));
        }
    }
    claims
}
