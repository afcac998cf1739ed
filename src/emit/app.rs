//! The app workload: Namespace, ServiceAccount, env ConfigMap, Deployment, Service, HPA, PDB.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget,
    ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EnvFromSource, EnvVar, EnvVarSource,
    HTTPGetAction, KeyToPath, Lifecycle, LifecycleHandler, Namespace, PodSpec, PodTemplateSpec,
    Probe, ResourceRequirements, SecretKeySelector, SecretVolumeSource, Service, ServicePort,
    ServiceSpec, SleepAction, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Component, Object, labels, metadata, selector};
use crate::model::{Customer, Scaling};
use crate::profile::defaults;

/// Name of the app's Deployment, Service, ServiceAccount, HPA and PDB.
pub const NAME: &str = super::workload::APP;
const PORT_NAME: &str = super::port::APP_NAME;

pub fn emit(customer: &Customer) -> Vec<Object> {
    let labels = labels(customer, NAME, Component::APP.as_str());
    let config_map = config_map(customer, &labels);
    let config_checksum = super::checksum(&config_map);
    let mut objects = vec![
        namespace(customer),
        app_service_account(customer, &labels),
        config_map,
        deployment(customer, &labels, &config_checksum),
        service(customer, &labels),
        super::pod_disruption_budget(customer, Component::APP, NAME, &labels, true),
    ];
    if let Some(hpa) = autoscaler(customer, &labels) {
        objects.push(hpa);
    }
    objects
}

fn namespace(customer: &Customer) -> Object {
    let mut labels = customer.labels.clone();
    labels.insert("app.kubernetes.io/instance".into(), customer.name.clone());
    labels.insert(super::MANAGED_BY.0.into(), super::MANAGED_BY.1.into());
    // Pod Security Admission: reject any pod of the namespace that is not "restricted".
    for mode in ["enforce", "audit", "warn"] {
        labels.insert(
            format!("pod-security.kubernetes.io/{mode}"),
            "restricted".into(),
        );
        labels.insert(
            format!("pod-security.kubernetes.io/{mode}-version"),
            "latest".into(),
        );
    }
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(customer.namespace.clone()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Object::new(Component::APP, &customer.namespace, &namespace)
}

fn app_service_account(customer: &Customer, labels: &BTreeMap<String, String>) -> Object {
    super::service_account(
        customer,
        Component::APP,
        NAME,
        labels,
        false,
        customer.app.gcp_service_account.as_deref(),
    )
}

fn config_map(customer: &Customer, labels: &BTreeMap<String, String>) -> Object {
    let name = format!("{NAME}-env");
    let config_map = ConfigMap {
        metadata: metadata(customer, &name, labels.clone()),
        data: Some(customer.app.env.clone()),
        ..ConfigMap::default()
    };
    Object::new(Component::APP, &name, &config_map)
}

/// Where the app finds the CA that signed Pgpool's certificate.
pub const DATABASE_CA_DIR: &str = "/etc/app/database-ca";
/// The CA certificate's key in a cert-manager (or `kubernetes.io/tls`) Secret.
pub const CA_FILE: &str = "ca.crt";

/// The DNS name the app reaches Pgpool by: one of the names on the database certificate.
pub fn database_host(customer: &Customer) -> String {
    format!(
        "{}.{}.svc.{}",
        super::workload::PGPOOL,
        customer.namespace,
        super::CLUSTER_DOMAIN
    )
}

/// The app's database connection (docs/database.md): Pgpool's Service, the app's database
/// and user, TLS verified against the database CA, and the password by reference only.
fn database_env(customer: &Customer) -> Vec<EnvVar> {
    use super::credentials::secret_key;
    use super::names::user::{APP as APP_USER, APP_DATABASE};
    let names = &customer.app.database_env;
    let tls = customer.database.tls_secret.is_some();
    let value = |name: &str, value: String| EnvVar {
        name: name.into(),
        value: Some(value),
        ..EnvVar::default()
    };
    let mut env = vec![
        value(&names.host, database_host(customer)),
        value(&names.port, super::port::PGPOOL.to_string()),
        value(&names.database, APP_DATABASE.into()),
        value(&names.user, APP_USER.into()),
        EnvVar {
            name: names.password.clone(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: super::credentials::secret_name(&customer.database).to_string(),
                    key: secret_key::APP.into(),
                    optional: Some(false),
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        },
        value(
            &names.ssl_mode,
            if tls { "verify-full" } else { "disable" }.into(),
        ),
    ];
    if tls {
        env.push(value(
            &names.ssl_root_cert,
            format!("{DATABASE_CA_DIR}/{CA_FILE}"),
        ));
    }
    env
}

fn http_probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::String(PORT_NAME.into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

fn deployment(
    customer: &Customer,
    labels: &BTreeMap<String, String>,
    config_checksum: &str,
) -> Object {
    let app = &customer.app;
    let selector_labels = selector(customer, NAME);
    let (mounts, volumes) = volumes(customer);
    let pod = PodTemplateSpec {
        metadata: Some(super::pod_metadata(labels, config_checksum)),
        spec: Some(PodSpec {
            service_account_name: Some(NAME.into()),
            automount_service_account_token: Some(false),
            termination_grace_period_seconds: Some(i64::from(app.termination_grace_seconds)),
            security_context: Some(super::restricted_pod(defaults::APP_UID)),
            topology_spread_constraints: Some(vec![
                super::spread(&selector_labels, "topology.kubernetes.io/zone"),
                super::spread(&selector_labels, "kubernetes.io/hostname"),
            ]),
            containers: vec![container(customer, mounts)],
            volumes: Some(volumes),
            ..PodSpec::default()
        }),
    };
    let mut meta = metadata(customer, NAME, labels.clone());
    meta.annotations = super::checkov_skips(
        &[(
            "CKV_K8S_35",
            "libpq reads the password from its PGPASSWORD variable; it comes from the credentials Secret by reference",
        )],
        app.image_by_tag.then_some("app"),
    );
    let deployment = Deployment {
        metadata: meta,
        spec: Some(DeploymentSpec {
            // The HPA owns the count when it exists; a value here would fight it on every sync.
            replicas: match app.scaling {
                Scaling::Fixed(n) => Some(n as i32),
                Scaling::Auto { .. } => None,
            },
            selector: LabelSelector {
                match_labels: Some(selector_labels.clone()),
                ..LabelSelector::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(app.max_surge as i32)),
                    max_unavailable: Some(IntOrString::Int(app.max_unavailable as i32)),
                }),
            }),
            template: pod,
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    };
    Object::new(Component::APP, NAME, &deployment)
}

/// A writable /tmp and, with database TLS, the CA that signed Pgpool's certificate.
fn volumes(customer: &Customer) -> (Vec<VolumeMount>, Vec<Volume>) {
    let mut mounts = vec![super::mount("tmp", "/tmp", false)];
    let mut volumes = vec![super::scratch_volume("tmp", "64Mi", false)];
    if let Some(secret) = &customer.database.tls_secret {
        // Only the CA certificate of the database's TLS Secret, never its key.
        mounts.push(super::mount("database-ca", DATABASE_CA_DIR, true));
        volumes.push(Volume {
            name: "database-ca".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.clone()),
                default_mode: Some(0o444),
                items: Some(vec![KeyToPath {
                    key: CA_FILE.into(),
                    path: CA_FILE.into(),
                    ..KeyToPath::default()
                }]),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    (mounts, volumes)
}

fn container(customer: &Customer, mounts: Vec<VolumeMount>) -> Container {
    let app = &customer.app;
    Container {
        name: NAME.into(),
        image: Some(app.image.clone()),
        image_pull_policy: super::pull_policy(app.image_by_tag),
        ports: Some(vec![ContainerPort {
            name: Some(PORT_NAME.into()),
            container_port: app.port as i32,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        env: Some(
            database_env(customer)
                .into_iter()
                .chain(super::EXTENSIONS.iter().flat_map(|e| (e.app_env)(customer)))
                .collect(),
        ),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: format!("{NAME}-env"),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        }]),
        resources: Some(ResourceRequirements {
            requests: Some(super::quantities(&app.requests.cpu, &app.requests.memory)),
            limits: Some(super::quantities(&app.limits.cpu, &app.limits.memory)),
            ..ResourceRequirements::default()
        }),
        readiness_probe: Some(http_probe(&app.readiness_path, 5, 3)),
        liveness_probe: Some(http_probe(&app.liveness_path, 10, 3)),
        startup_probe: Some(http_probe(
            &app.startup_path,
            5,
            (app.startup_timeout_seconds.div_ceil(5)) as i32,
        )),
        lifecycle: Some(Lifecycle {
            // Keep serving while endpoints and load balancers drop the pod, then SIGTERM.
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction {
                    seconds: i64::from(app.pre_stop_delay_seconds),
                }),
                ..LifecycleHandler::default()
            }),
            ..Lifecycle::default()
        }),
        security_context: Some(super::restricted_container(defaults::APP_UID)),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

fn service(customer: &Customer, labels: &BTreeMap<String, String>) -> Object {
    let mut meta = metadata(customer, NAME, labels.clone());
    if customer.access.external.is_some() {
        meta.annotations = Some(super::access::backend_service_annotations());
    }
    let service = Service {
        metadata: meta,
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector(customer, NAME)),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.into()),
                port: customer.app.port as i32,
                target_port: Some(IntOrString::String(PORT_NAME.into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    Object::new(Component::APP, NAME, &service)
}

fn autoscaler(customer: &Customer, labels: &BTreeMap<String, String>) -> Option<Object> {
    let Scaling::Auto {
        min,
        max,
        target_cpu_percent,
        scale_down_stabilization_seconds,
    } = customer.app.scaling
    else {
        return None;
    };
    let hpa = HorizontalPodAutoscaler {
        metadata: metadata(customer, NAME, labels.clone()),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: NAME.into(),
            },
            min_replicas: Some(min as i32),
            max_replicas: max as i32,
            metrics: Some(vec![MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(target_cpu_percent as i32),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            behavior: Some(HorizontalPodAutoscalerBehavior {
                // Scale down slowly (at most half the pods a minute, after a calm window),
                // so a short dip in traffic does not drop capacity.
                scale_down: Some(HPAScalingRules {
                    stabilization_window_seconds: Some(scale_down_stabilization_seconds as i32),
                    select_policy: Some("Max".into()),
                    policies: Some(vec![HPAScalingPolicy {
                        type_: "Percent".into(),
                        value: 50,
                        period_seconds: 60,
                    }]),
                    ..HPAScalingRules::default()
                }),
                ..HorizontalPodAutoscalerBehavior::default()
            }),
        }),
        ..HorizontalPodAutoscaler::default()
    };
    Some(Object::new(Component::APP, NAME, &hpa))
}
