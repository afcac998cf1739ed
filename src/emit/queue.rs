//! The message queue extension (`spec.extensions.queue`): a single-node RabbitMQ the app
//! reaches on AMQP. Everything about it is here: its effective settings and their defaults,
//! its objects, the NetworkPolicies of its flows, its scrape target, its alert, the
//! variables that tell the app where it is, and the Secret it needs (docs/queue.md).
//!
//! Facts of the official image (docker-library/rabbitmq, 3.13 and 4.x Dockerfiles): data and
//! `HOME` (the Erlang cookie) in `/var/lib/rabbitmq`; the `rabbitmq_prometheus` plugin on by
//! default, on port 15692; logs to the console; the first user from `RABBITMQ_DEFAULT_USER`
//! and `RABBITMQ_DEFAULT_PASS`, read at the first start only.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EnvVarSource, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
    SecretKeySelector, Service, ServicePort, ServiceSpec, TCPSocketAction,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Component, Extension, Object, labels, metadata, selector, workload};
use crate::model::Customer;
use crate::prerequisite::{Prerequisite, Section, prerequisite};
use crate::profile::defaults;

pub const EXTENSION: Extension = Extension {
    emit,
    alerts,
    app_env,
    prerequisites,
};

/// Its own folder, `queue/`; its workload with the database's wave, before the app.
pub const COMPONENT: Component = Component::new("queue", 1);
/// The workload, its Service and its container.
pub const NAME: &str = "queue";
pub const AMQP_PORT: i32 = 5672;
const AMQP_PORT_NAME: &str = "amqp";
/// rabbitmq_prometheus' listener.
pub const METRICS_PORT: i32 = 15692;
const METRICS_PORT_NAME: &str = "metrics";
const DATA_DIR: &str = "/var/lib/rabbitmq";
/// Above 10000 so it never maps to a host account; the data volume is group-owned by it.
const UID: i64 = 10002;
/// The keys of `credentialsSecret`.
pub const USERNAME_KEY: &str = "username";
pub const PASSWORD_KEY: &str = "password";

const CPU_REQUEST: &str = "250m";
const MEMORY_REQUEST: &str = "512Mi";
const CPU_LIMIT: &str = "1";
const MEMORY_LIMIT: &str = "1Gi";

/// What the profile asks of the queue, every default applied.
struct Queue {
    image: String,
    credentials_secret: String,
    storage_size: String,
    storage_class: Option<String>,
}

/// The queue when the profile turns it on. The schema requires `image` and
/// `credentialsSecret` then, so a missing one never reaches here.
fn queue(customer: &Customer) -> Option<Queue> {
    let queue = customer
        .profile
        .spec
        .as_ref()?
        .extensions
        .as_ref()?
        .queue
        .clone()?;
    if !queue.enabled.unwrap_or(defaults::QUEUE_ENABLED) {
        return None;
    }
    Some(Queue {
        image: queue.image?.into(),
        credentials_secret: queue.credentials_secret?.into(),
        storage_size: queue
            .storage_size
            .map_or_else(|| defaults::QUEUE_STORAGE_SIZE.to_string(), String::from),
        storage_class: queue.storage_class_name.map(String::from),
    })
}

fn emit(customer: &Customer) -> Vec<Object> {
    let Some(queue) = queue(customer) else {
        return Vec::new();
    };
    let labels = labels(customer, NAME, COMPONENT.as_str());
    let mut objects = vec![
        super::service_account(customer, COMPONENT, NAME, &labels, false, None),
        service(customer, &labels),
        statefulset(customer, &queue, &labels),
        super::monitoring::scrape_target(customer, NAME, &[METRICS_PORT_NAME]),
    ];
    objects.extend(super::network::service_flows(
        customer,
        NAME,
        &[workload::APP],
        AMQP_PORT,
        METRICS_PORT,
    ));
    objects
}

fn service(customer: &Customer, labels: &BTreeMap<String, String>) -> Object {
    let service = Service {
        metadata: metadata(customer, NAME, labels.clone()),
        spec: Some(ServiceSpec {
            selector: Some(selector(customer, NAME)),
            ports: Some(vec![ServicePort {
                name: Some(AMQP_PORT_NAME.into()),
                port: AMQP_PORT,
                target_port: Some(IntOrString::String(AMQP_PORT_NAME.into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    Object::new(COMPONENT, NAME, &service)
}

fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// Ready once it accepts AMQP connections; restarted only after a minute without them.
fn amqp_probe(period: i32, failures: i32) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::String(AMQP_PORT_NAME.into()),
            ..TCPSocketAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

fn container(queue: &Queue) -> Container {
    let port = |name: &str, number: i32| ContainerPort {
        name: Some(name.into()),
        container_port: number,
        protocol: Some("TCP".into()),
        ..ContainerPort::default()
    };
    Container {
        name: NAME.into(),
        image: Some(queue.image.clone()),
        image_pull_policy: super::pull_policy(false),
        ports: Some(vec![
            port(AMQP_PORT_NAME, AMQP_PORT),
            port(METRICS_PORT_NAME, METRICS_PORT),
        ]),
        env: Some(vec![
            secret_env(
                "RABBITMQ_DEFAULT_USER",
                &queue.credentials_secret,
                USERNAME_KEY,
            ),
            secret_env(
                "RABBITMQ_DEFAULT_PASS",
                &queue.credentials_secret,
                PASSWORD_KEY,
            ),
        ]),
        resources: Some(ResourceRequirements {
            requests: Some(super::quantities(CPU_REQUEST, MEMORY_REQUEST)),
            limits: Some(super::quantities(CPU_LIMIT, MEMORY_LIMIT)),
            ..ResourceRequirements::default()
        }),
        readiness_probe: Some(amqp_probe(5, 3)),
        liveness_probe: Some(amqp_probe(10, 6)),
        security_context: Some(super::restricted_container(UID)),
        volume_mounts: Some(vec![
            super::mount("data", DATA_DIR, false),
            super::mount("tmp", "/tmp", false),
        ]),
        ..Container::default()
    }
}

fn statefulset(customer: &Customer, queue: &Queue, labels: &BTreeMap<String, String>) -> Object {
    let claim = PersistentVolumeClaim {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("data".into()),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: queue.storage_class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Quantity(queue.storage_size.clone()),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    };
    let mut meta = metadata(customer, NAME, labels.clone());
    meta.annotations = super::checkov_skips(
        &[(
            "CKV_K8S_35",
            "RabbitMQ reads its first user only from RABBITMQ_DEFAULT_USER/PASS; they come from the Secret by reference",
        )],
        None,
    );
    let statefulset = StatefulSet {
        metadata: meta,
        spec: Some(StatefulSetSpec {
            // One node: a RabbitMQ cluster needs peer discovery and quorum queues, which
            // this extension does not configure (docs/queue.md).
            replicas: Some(1),
            service_name: Some(NAME.into()),
            selector: LabelSelector {
                match_labels: Some(selector(customer, NAME)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                    labels: Some(labels.clone()),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(NAME.into()),
                    automount_service_account_token: Some(false),
                    security_context: Some(super::restricted_pod(UID)),
                    containers: vec![container(queue)],
                    volumes: Some(vec![super::scratch_volume("tmp", "64Mi", false)]),
                    ..PodSpec::default()
                }),
            },
            volume_claim_templates: Some(vec![claim]),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    };
    Object::new(COMPONENT, NAME, &statefulset)
}

fn alerts(customer: &Customer) -> Vec<super::monitoring::Alert> {
    if queue(customer).is_none() {
        return Vec::new();
    }
    vec![super::monitoring::extension_alert(
        customer,
        "QueueUnavailable",
        "critical",
        "5m",
        // Prometheus's own scrape health of the queue's metrics listener.
        format!(
            r#"absent(up{{namespace="{}",container="{NAME}"}} == 1)"#,
            customer.namespace
        ),
        format!("The message queue of {} answers no scrape", customer.name),
    )]
}

/// Where the app finds the queue: the Service's name and port, and the user.
fn app_env(customer: &Customer) -> Vec<EnvVar> {
    let Some(queue) = queue(customer) else {
        return Vec::new();
    };
    let value = |name: &str, value: String| EnvVar {
        name: name.into(),
        value: Some(value),
        ..EnvVar::default()
    };
    vec![
        value(
            "QUEUE_HOST",
            format!(
                "{NAME}.{}.svc.{}",
                customer.namespace,
                super::CLUSTER_DOMAIN
            ),
        ),
        value("QUEUE_PORT", AMQP_PORT.to_string()),
        secret_env("QUEUE_USER", &queue.credentials_secret, USERNAME_KEY),
        secret_env("QUEUE_PASSWORD", &queue.credentials_secret, PASSWORD_KEY),
    ]
}

fn prerequisites(customer: &Customer) -> Vec<Prerequisite> {
    let Some(queue) = queue(customer) else {
        return Vec::new();
    };
    vec![prerequisite(
        Section::Object,
        "Secret",
        &queue.credentials_secret,
        format!(
            "the queue's user (`spec.extensions.queue.credentialsSecret`), with keys {USERNAME_KEY}, {PASSWORD_KEY}"
        ),
    )]
}
