//! Pgpool-II in front of the database: a Deployment of at least two pods (no watchdog:
//! Kubernetes restarts a failed pod and the Service spreads clients), its ConfigMap with
//! `pgpool.conf` and `pool_hba.conf` rendered from templates, the Service and the PDB.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, ContainerPort, ExecAction, Lifecycle, LifecycleHandler, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, Service, ServicePort, ServiceSpec, SleepAction,
    TCPSocketAction, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::credentials;
use super::names::{service, user};
use super::{Component, Object, labels, metadata, port, selector};
use crate::model::Customer;
use crate::profile::ReadAfterWrite;

/// Name of the Deployment, Service, ServiceAccount, ConfigMap and PDB.
pub const NAME: &str = super::workload::PGPOOL;
/// Where the container finds its files (translated by the real-component test).
pub const CONFIG_DIR: &str = "/etc/pgpool/config";
pub const CREDENTIALS_DIR: &str = "/etc/pgpool/credentials";
pub const RUN_DIR: &str = "/var/run/pgpool";
pub const TLS_DIR: &str = "/etc/pgpool/tls";
/// Pgpool reads only mounted files and writes only its memory volume, so it runs as an
/// unprivileged uid that maps to no account on the node.
const UID: i64 = 10001;
/// The readiness script (in the ConfigMap) and how long it waits for the primary to
/// answer: a Pgpool that cannot reach one takes no clients.
pub const READY_SCRIPT: &str = "ready.sh";
const READY_TIMEOUT_SECONDS: i32 = 3;
/// After SIGTERM Pgpool waits for its clients to leave (smart shutdown); before it, the
/// pod is taken out of the Service's endpoints while it still serves.
pub const PRE_STOP_DELAY_SECONDS: i64 = 10;
/// preStop, then up to this long for clients to finish, then SIGKILL.
pub const DRAIN_SECONDS: i64 = 30;

pub fn emit(customer: &Customer) -> Vec<Object> {
    let labels = labels(customer, NAME, Component::PGPOOL.as_str());
    let config_map = config_map(customer, &labels);
    let checksum = super::checksum(&config_map);
    vec![
        super::service_account(customer, Component::PGPOOL, NAME, &labels, false, None),
        config_map,
        deployment(customer, &labels, &checksum),
        service(customer, &labels),
        super::pod_disruption_budget(customer, Component::PGPOOL, NAME, &labels, true),
    ]
}

/// How often start.sh compares the credentials Secret's files with pool_passwd.
const PASSWORD_CHECK_SECONDS: u32 = 5;

/// The files of the ConfigMap, by name.
pub fn files(customer: &Customer) -> BTreeMap<String, String> {
    let database = &customer.database;
    let tls = database.tls_secret.is_some();
    let context = minijinja::context! {
        customer => customer.name,
        backends => backends(customer),
        postgres_port => port::POSTGRES,
        pgpool_port => port::PGPOOL,
        run_dir => RUN_DIR,
        config_dir => CONFIG_DIR,
        tls_dir => TLS_DIR,
        tls => tls,
        num_init_children => database.pgpool.num_init_children,
        max_pool => database.pgpool.max_pool,
        load_balance => database.pgpool.load_balance_reads,
        read_after_write => read_after_write(database.pgpool.read_after_write),
        monitor_user => user::MONITOR,
        app_user => user::APP,
        credentials_dir => CREDENTIALS_DIR,
        keys => credentials::secret_keys(),
        exporter_port => port::PGPOOL_EXPORTER,
        ready_timeout => READY_TIMEOUT_SECONDS,
        primary_host => service::PRIMARY,
        period => PASSWORD_CHECK_SECONDS,
    };
    BTreeMap::from([
        (
            "pgpool.conf".to_string(),
            super::render_template("pgpool.conf", context.clone()),
        ),
        (
            "pool_hba.conf".to_string(),
            super::render_template("pool_hba.conf", context.clone()),
        ),
        (
            // PCP (Pgpool's admin protocol) is off: no TCP listener and no users.
            "pcp.conf".to_string(),
            "# PCP is disabled (pcp_listen_addresses = ''); no users.\n".to_string(),
        ),
        (
            "start.sh".to_string(),
            super::render_template("start-pgpool.sh", context.clone()),
        ),
        (
            "start-exporter.sh".to_string(),
            super::ExporterStart {
                program: "pgpool2_exporter",
                command: format!(
                    "pgpool2_exporter --web.listen-address=:{}",
                    port::PGPOOL_EXPORTER
                ),
                password_file: format!("{CREDENTIALS_DIR}/{}", credentials::secret_key::MONITOR),
                password_env: Some("DATA_SOURCE_PASS"),
                exports: vec![
                    ("DATA_SOURCE_USER", user::MONITOR.to_string()),
                    (
                        "DATA_SOURCE_URI",
                        format!(
                            "127.0.0.1:{}/postgres?sslmode={}",
                            port::PGPOOL,
                            if tls { "require" } else { "disable" }
                        ),
                    ),
                ],
            }
            .script(),
        ),
        (
            READY_SCRIPT.to_string(),
            super::render_template("pgpool-ready.sh", context),
        ),
    ])
}

/// Pgpool's two backends, as its Kubernetes pattern has them: the primary Service (always
/// the primary, never detached) and, when reads are balanced, the standbys Service. The
/// weights give every member an equal share of the balanced reads.
fn backends(customer: &Customer) -> Vec<minijinja::Value> {
    let database = &customer.database;
    let standbys = database.replicas.saturating_sub(1);
    let mut backends = vec![minijinja::context! {
        host => service::PRIMARY,
        name => service::PRIMARY,
        weight => 1,
        flag => "ALWAYS_PRIMARY|DISALLOW_TO_FAILOVER",
    }];
    if database.pgpool.load_balance_reads && standbys > 0 {
        backends.push(minijinja::context! {
            host => service::REPLICAS,
            name => service::REPLICAS,
            weight => standbys,
            flag => "DISALLOW_TO_FAILOVER",
        });
    }
    backends
}

/// `disable_load_balance_on_write` for the profile's promise, and what it covers.
fn read_after_write(promise: ReadAfterWrite) -> minijinja::Value {
    let (name, setting, scope) = match promise {
        ReadAfterWrite::Session => (
            "session",
            "always",
            "every read of a session after its first write",
        ),
        ReadAfterWrite::Transaction => (
            "transaction",
            "transaction",
            "the reads after a write in its transaction",
        ),
    };
    minijinja::context! { name => name, setting => setting, scope => scope }
}

fn config_map(customer: &Customer, labels: &BTreeMap<String, String>) -> Object {
    let config_map = ConfigMap {
        metadata: metadata(customer, NAME, labels.clone()),
        data: Some(files(customer)),
        ..ConfigMap::default()
    };
    Object::new(Component::PGPOOL, NAME, &config_map)
}

fn tcp_probe(period: i32, failures: i32) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::String("postgresql".into()),
            ..TCPSocketAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

fn deployment(customer: &Customer, labels: &BTreeMap<String, String>, checksum: &str) -> Object {
    let pgpool = &customer.database.pgpool;
    let (mounts, volumes) = volumes(&customer.database);
    let exporter = Container {
        command: Some(vec![
            "/bin/sh".into(),
            format!("{CONFIG_DIR}/start-exporter.sh"),
        ]),
        volume_mounts: Some(vec![
            super::mount("config", CONFIG_DIR, true),
            super::mount(credentials::MONITOR_VOLUME, CREDENTIALS_DIR, true),
        ]),
        ..super::exporter_container(
            super::monitoring::PGPOOL_EXPORTER,
            &customer.monitoring.pgpool_exporter_image,
            port::PGPOOL_EXPORTER,
            UID,
        )
    };
    let selector_labels = selector(customer, NAME);
    let pod = PodTemplateSpec {
        metadata: Some(super::pod_metadata(labels, checksum)),
        spec: Some(PodSpec {
            service_account_name: Some(NAME.into()),
            automount_service_account_token: Some(false),
            termination_grace_period_seconds: Some(PRE_STOP_DELAY_SECONDS + DRAIN_SECONDS),
            security_context: Some(super::restricted_pod(UID)),
            topology_spread_constraints: Some(vec![
                super::spread(&selector_labels, "topology.kubernetes.io/zone"),
                super::spread(&selector_labels, "kubernetes.io/hostname"),
            ]),
            containers: vec![container(pgpool, mounts), exporter],
            volumes: Some(volumes),
            ..PodSpec::default()
        }),
    };
    let mut meta = metadata(customer, NAME, labels.clone());
    meta.annotations = super::checkov_skips(&[], pgpool.image_by_tag.then_some("pgpool"));
    let deployment = Deployment {
        metadata: meta,
        spec: Some(DeploymentSpec {
            replicas: Some(pgpool.replicas as i32),
            selector: LabelSelector {
                match_labels: Some(selector_labels),
                ..LabelSelector::default()
            },
            // A new pod is ready before an old one goes: clients always find a Pgpool.
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: pod,
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    };
    Object::new(Component::PGPOOL, NAME, &deployment)
}

/// The compiled configuration, the roles' passwords Pgpool needs (never the superuser's),
/// an in-memory run folder and, with TLS, the server certificate.
fn volumes(database: &crate::model::Database) -> (Vec<VolumeMount>, Vec<Volume>) {
    let mut mounts = vec![
        super::mount("config", CONFIG_DIR, true),
        super::mount("credentials", CREDENTIALS_DIR, true),
        super::mount("run", RUN_DIR, false),
    ];
    let mut volumes = vec![
        super::config_map_volume("config", NAME, 0o444),
        // pool_passwd holds the app and monitor roles; the superuser's is never here.
        super::credentials::volume(
            "credentials",
            database,
            &[
                credentials::secret_key::APP,
                credentials::secret_key::MONITOR,
            ],
        ),
        super::credentials::volume(
            credentials::MONITOR_VOLUME,
            database,
            &[credentials::secret_key::MONITOR],
        ),
        // pool_passwd lives here: in memory, never on a node's disk.
        super::scratch_volume("run", "16Mi", true),
    ];
    if let Some(tls) = &database.tls_secret {
        mounts.push(super::mount("tls", TLS_DIR, true));
        volumes.push(super::secret_volume("tls", tls, 0o440));
    }
    (mounts, volumes)
}

fn container(pgpool: &crate::model::Pgpool, mounts: Vec<VolumeMount>) -> Container {
    Container {
        name: NAME.into(),
        image: Some(pgpool.image.clone()),
        image_pull_policy: super::pull_policy(pgpool.image_by_tag),
        command: Some(vec!["/bin/sh".into(), format!("{CONFIG_DIR}/start.sh")]),
        ports: Some(vec![ContainerPort {
            name: Some("postgresql".into()),
            container_port: port::PGPOOL,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        resources: Some(ResourceRequirements {
            requests: Some(super::quantities(
                &pgpool.requests.cpu,
                &pgpool.requests.memory,
            )),
            limits: Some(super::quantities(&pgpool.limits.cpu, &pgpool.limits.memory)),
            ..ResourceRequirements::default()
        }),
        // Ready only while Pgpool listens and the primary answers (no session, so neither
        // saturation nor a rotated password fails it); alive while it accepts connections
        // at all, so a missing primary never restarts it.
        readiness_probe: Some(Probe {
            exec: Some(ExecAction {
                command: Some(vec![
                    "/bin/sh".into(),
                    format!("{CONFIG_DIR}/{READY_SCRIPT}"),
                ]),
            }),
            period_seconds: Some(5),
            timeout_seconds: Some(READY_TIMEOUT_SECONDS + 1),
            failure_threshold: Some(2),
            ..Probe::default()
        }),
        liveness_probe: Some(tcp_probe(10, 6)),
        lifecycle: Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction {
                    seconds: PRE_STOP_DELAY_SECONDS,
                }),
                ..LifecycleHandler::default()
            }),
            ..Lifecycle::default()
        }),
        security_context: Some(super::restricted_container(UID)),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

fn service(customer: &Customer, labels: &BTreeMap<String, String>) -> Object {
    let service = Service {
        metadata: metadata(customer, NAME, labels.clone()),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector(customer, NAME)),
            ports: Some(vec![ServicePort {
                name: Some("postgresql".into()),
                port: port::PGPOOL,
                target_port: Some(IntOrString::String("postgresql".into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    Object::new(Component::PGPOOL, NAME, &service)
}
