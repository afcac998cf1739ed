//! Entry points (docs/access.md): an internal passthrough load balancer for VPC clients and
//! the external HTTP(S) load balancer (Ingress + BackendConfig + FrontendConfig +
//! ManagedCertificate) for public ones. Nothing is emitted for an entry point that is not
//! enabled with a non-empty allow-list.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use super::{Component, CustomResource, Object, labels, metadata, selector, workload};
use crate::model::{Customer, ExternalEntry, InternalEntry, Tls};

/// Name of the Ingress, BackendConfig, FrontendConfig and ManagedCertificate.
const NAME: &str = "app";
/// Name of the internal load balancer Service.
const INTERNAL_NAME: &str = "app-internal";

pub fn emit(customer: &Customer) -> Vec<Object> {
    let labels = labels(customer, workload::APP, "access");
    let mut objects = Vec::new();
    if let Some(internal) = &customer.access.internal {
        objects.push(internal_service(customer, internal, &labels));
    }
    if let Some(external) = &customer.access.external {
        objects.push(backend_config(customer, external, &labels));
        if let Some(frontend) = frontend_config(customer, external, &labels) {
            objects.push(frontend);
        }
        if external.tls == Tls::Managed {
            objects.push(managed_certificate(customer, external, &labels));
        }
        objects.push(ingress(customer, external, &labels));
    }
    objects
}

/// Annotations on the app's ClusterIP Service when the external entry exists: serve it
/// through network endpoint groups (pod IPs as backends) with our BackendConfig.
pub fn backend_service_annotations() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "cloud.google.com/backend-config".to_string(),
            format!(r#"{{"default": "{NAME}"}}"#),
        ),
        (
            "cloud.google.com/neg".to_string(),
            r#"{"ingress": true}"#.to_string(),
        ),
    ])
}

fn annotated(
    customer: &Customer,
    name: &str,
    labels: &BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
) -> ObjectMeta {
    let mut meta = metadata(customer, name, labels.clone());
    meta.annotations = (!annotations.is_empty()).then_some(annotations);
    meta
}

fn internal_service(
    customer: &Customer,
    internal: &InternalEntry,
    labels: &BTreeMap<String, String>,
) -> Object {
    let mut annotations = BTreeMap::from([(
        "networking.gke.io/load-balancer-type".to_string(),
        "Internal".to_string(),
    )]);
    if internal.global_access {
        annotations.insert(
            "networking.gke.io/internal-load-balancer-allow-global-access".into(),
            "true".into(),
        );
    }
    // GKE's L4 controller takes the forwarding rule's address from this annotation (names of
    // reserved addresses) before the deprecated `spec.loadBalancerIP` (kubernetes/ingress-gce,
    // pkg/address `IPv4ToUse`).
    if internal.hostname.is_some() {
        annotations.insert(
            "networking.gke.io/load-balancer-ip-addresses".into(),
            super::names::internal_address(&customer.name),
        );
    }
    let service = Service {
        metadata: annotated(customer, INTERNAL_NAME, labels, annotations),
        spec: Some(ServiceSpec {
            type_: Some("LoadBalancer".into()),
            // Keeps the client's source address, so the NetworkPolicy can check it too.
            external_traffic_policy: Some("Local".into()),
            load_balancer_source_ranges: Some(internal.allowed.strings()),
            selector: Some(selector(customer, workload::APP)),
            ports: Some(vec![ServicePort {
                name: Some(super::port::APP_NAME.into()),
                port: customer.app.port as i32,
                target_port: Some(IntOrString::String(super::port::APP_NAME.into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    Object::new(Component::ACCESS, INTERNAL_NAME, &service)
}

fn ingress(
    customer: &Customer,
    external: &ExternalEntry,
    labels: &BTreeMap<String, String>,
) -> Object {
    let mut annotations =
        BTreeMap::from([("kubernetes.io/ingress.class".to_string(), "gce".to_string())]);
    if !external.http_redirect {
        annotations.insert("kubernetes.io/ingress.allow-http".into(), "false".into());
    }
    if let Some(ip) = &external.static_ip_name {
        annotations.insert(
            "kubernetes.io/ingress.global-static-ip-name".into(),
            ip.clone(),
        );
    }
    if external.tls == Tls::Managed {
        annotations.insert("networking.gke.io/managed-certificates".into(), NAME.into());
    }
    if needs_frontend_config(external) {
        annotations.insert(
            "networking.gke.io/v1beta1.FrontendConfig".into(),
            NAME.into(),
        );
    }
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: workload::APP.into(),
            port: Some(ServiceBackendPort {
                name: Some(super::port::APP_NAME.into()),
                ..ServiceBackendPort::default()
            }),
        }),
        ..IngressBackend::default()
    };
    let rules = external
        .hosts
        .iter()
        .map(|host| IngressRule {
            host: Some(host.clone()),
            http: Some(HTTPIngressRuleValue {
                paths: vec![HTTPIngressPath {
                    path: Some("/".into()),
                    path_type: "Prefix".into(),
                    backend: backend.clone(),
                }],
            }),
        })
        .collect();
    let tls = match &external.tls {
        Tls::Managed => None,
        Tls::Secret(secret) => Some(vec![IngressTLS {
            hosts: Some(external.hosts.clone()),
            secret_name: Some(secret.clone()),
        }]),
    };
    let ingress = Ingress {
        metadata: annotated(customer, NAME, labels, annotations),
        spec: Some(IngressSpec {
            rules: Some(rules),
            tls,
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    };
    Object::new(Component::ACCESS, NAME, &ingress)
}

/// `cloud.google.com/v1` BackendConfig: the load balancer's side of the app Service.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BackendConfigSpec {
    connection_draining: ConnectionDraining,
    health_check: HealthCheck,
    logging: Logging,
    security_policy: SecurityPolicy,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionDraining {
    draining_timeout_sec: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HealthCheck {
    check_interval_sec: u32,
    healthy_threshold: u32,
    port: u32,
    request_path: String,
    timeout_sec: u32,
    #[serde(rename = "type")]
    type_: &'static str,
    unhealthy_threshold: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Logging {
    enable: bool,
}

#[derive(Serialize)]
struct SecurityPolicy {
    name: String,
}

fn backend_config(
    customer: &Customer,
    external: &ExternalEntry,
    labels: &BTreeMap<String, String>,
) -> Object {
    let app = &customer.app;
    CustomResource {
        api_version: "cloud.google.com/v1",
        kind: "BackendConfig",
        metadata: metadata(customer, NAME, labels.clone()),
        spec: BackendConfigSpec {
            // Finish in-flight requests for as long as the pod itself is given to stop.
            connection_draining: ConnectionDraining {
                draining_timeout_sec: app.termination_grace_seconds,
            },
            health_check: HealthCheck {
                check_interval_sec: 5,
                healthy_threshold: 1,
                port: app.port,
                request_path: app.readiness_path.clone(),
                timeout_sec: 3,
                type_: "HTTP",
                unhealthy_threshold: 3,
            },
            // Every request at the edge is logged (the sample rate defaults to 1.0): the
            // audit trail of who reached the app.
            logging: Logging { enable: true },
            security_policy: SecurityPolicy {
                name: external.cloud_armor_policy.clone(),
            },
        },
    }
    .into_object(Component::ACCESS)
}

/// `networking.gke.io/v1beta1` FrontendConfig: TLS policy and the HTTP redirect.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FrontendConfigSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect_to_https: Option<RedirectToHttps>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ssl_policy: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RedirectToHttps {
    enabled: bool,
    response_code_name: &'static str,
}

/// A FrontendConfig only carries something when there is a policy or a redirect.
fn needs_frontend_config(external: &ExternalEntry) -> bool {
    external.ssl_policy.is_some() || external.http_redirect
}

fn frontend_config(
    customer: &Customer,
    external: &ExternalEntry,
    labels: &BTreeMap<String, String>,
) -> Option<Object> {
    if !needs_frontend_config(external) {
        return None;
    }
    Some(
        CustomResource {
            api_version: "networking.gke.io/v1beta1",
            kind: "FrontendConfig",
            metadata: metadata(customer, NAME, labels.clone()),
            spec: FrontendConfigSpec {
                redirect_to_https: external.http_redirect.then_some(RedirectToHttps {
                    enabled: true,
                    response_code_name: "MOVED_PERMANENTLY_DEFAULT",
                }),
                ssl_policy: external.ssl_policy.clone(),
            },
        }
        .into_object(Component::ACCESS),
    )
}

/// `networking.gke.io/v1` ManagedCertificate for the hosts.
#[derive(Serialize)]
struct ManagedCertificateSpec {
    domains: Vec<String>,
}

fn managed_certificate(
    customer: &Customer,
    external: &ExternalEntry,
    labels: &BTreeMap<String, String>,
) -> Object {
    CustomResource {
        api_version: "networking.gke.io/v1",
        kind: "ManagedCertificate",
        metadata: metadata(customer, NAME, labels.clone()),
        spec: ManagedCertificateSpec {
            domains: external.hosts.clone(),
        },
    }
    .into_object(Component::ACCESS)
}
