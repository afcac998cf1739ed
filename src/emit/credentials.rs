//! Secrets that arrive by GitOps: the credentials `ExternalSecret` and the store it reads
//! (a namespaced `SecretStore` logging in by Workload Identity, or a profile-named
//! `ClusterSecretStore`), and the database's TLS Secret from a cert-manager `Certificate`
//! (a private CA compiled for the namespace, or a profile-named `ClusterIssuer`).
//!
//! Everything here syncs in wave 0 with the ServiceAccounts, so a store, an issuer and the
//! Secrets they make are in place before the database wave starts (docs/database.md).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{KeyToPath, Volume};
use serde::Serialize;

use super::{Component, CustomResource, Object, labels, metadata};
use crate::model::{Credentials, Customer, Database, SecretStore, TlsSource};

/// The ServiceAccount the compiled SecretStore logs in as.
pub const STORE_ACCOUNT: &str = "external-secrets";
/// The namespace's private CA: its self-signed root issuer, certificate/Secret and issuer.
pub const ROOT_ISSUER: &str = "selfsigned";
pub const CA: &str = "database-ca";
const COMPONENT: &str = "credentials";
/// The annotation GKE Workload Identity reads on a ServiceAccount.
pub const GCP_SERVICE_ACCOUNT_ANNOTATION: &str = "iam.gke.io/gcp-service-account";

/// Keys of the credentials Secret (docs/database.md).
pub mod secret_key {
    pub const SUPERUSER: &str = "superuser-password";
    pub const REPLICATION: &str = "replication-password";
    pub const APP: &str = "app-password";
    pub const MONITOR: &str = "monitor-password";
    pub const BACKUP: &str = "backup-password";
    pub const REWIND: &str = "rewind-password";
    pub const ALL: [&str; 6] = [SUPERUSER, REPLICATION, REWIND, APP, MONITOR, BACKUP];
}

/// The Secret's keys by role, for the templates.
pub fn secret_keys() -> minijinja::Value {
    minijinja::context! {
        superuser => secret_key::SUPERUSER,
        replication => secret_key::REPLICATION,
        app => secret_key::APP,
        monitor => secret_key::MONITOR,
        backup => secret_key::BACKUP,
        rewind => secret_key::REWIND,
    }
}

/// Keys of the credentials Secret as a read-only volume named `volume`, readable by the
/// pod's group only: a container mounts only the passwords it uses.
pub fn volume(volume: &str, database: &Database, keys: &[&str]) -> Volume {
    let mut volume = super::secret_volume(volume, secret_name(database), 0o440);
    if let Some(source) = volume.secret.as_mut() {
        source.items = Some(
            keys.iter()
                .map(|key| KeyToPath {
                    key: (*key).to_string(),
                    path: (*key).to_string(),
                    ..KeyToPath::default()
                })
                .collect(),
        );
    }
    volume
}

/// The volume that holds only the monitor role's password, for exporter sidecars.
pub const MONITOR_VOLUME: &str = "monitor-credentials";
/// The volume with the passwords the `patroni-config` sidecar keeps PostgreSQL's roles
/// equal to, and the superuser's it logs in with (passwords.py).
pub const ROLES_VOLUME: &str = "role-credentials";

/// The Secret the ExternalSecret creates when the profile names a Secret Manager secret.
const CREATED_SECRET: &str = "postgres-credentials";

/// The Secret the database pods, Pgpool, the app and the snapshot job read passwords from.
pub fn secret_name(database: &Database) -> &str {
    match &database.credentials {
        Credentials::Existing(name) => name,
        Credentials::External(_) => CREATED_SECRET,
    }
}

pub fn emit(customer: &Customer, services: &[String]) -> Vec<Object> {
    let labels = labels(customer, COMPONENT, COMPONENT);
    let database = &customer.database;
    let mut objects = Vec::new();
    if let Some(source) = database.credentials.external() {
        if let SecretStore::Compiled {
            name,
            gcp_service_account,
        } = &source.store
        {
            objects.push(super::service_account(
                customer,
                Component::DATABASE,
                STORE_ACCOUNT,
                &labels,
                false,
                gcp_service_account.as_deref(),
            ));
            objects.push(secret_store(customer, &labels, name));
        }
        objects.push(external_secret(customer, &labels, source));
    }
    if let (Some(secret), Some(source)) = (&database.tls_secret, &database.tls_source) {
        let issuer = match source {
            TlsSource::Existing => None,
            TlsSource::ClusterIssuer(name) => Some(IssuerRef {
                name: name.clone(),
                kind: "ClusterIssuer",
                group: "cert-manager.io",
            }),
            TlsSource::PrivateCa => {
                objects.extend(private_ca(customer, &labels));
                Some(issuer_ref(CA))
            }
        };
        if let Some(issuer_ref) = issuer {
            objects.push(certificate(
                customer,
                &labels,
                secret,
                CertificateSpec {
                    dns_names: Some(dns_names(customer, services)),
                    issuer_ref,
                    ..certificate_spec(CA)
                },
            ));
        }
    }
    objects
}

/// A CA of the customer's own: a self-signed root issuer, the CA certificate it signs, and
/// the issuer that signs the database's certificate with it.
fn private_ca(customer: &Customer, labels: &BTreeMap<String, String>) -> [Object; 3] {
    [
        issuer(
            customer,
            labels,
            ROOT_ISSUER,
            IssuerSpec {
                self_signed: Some(Empty {}),
                ca: None,
            },
        ),
        certificate(
            customer,
            labels,
            CA,
            CertificateSpec {
                secret_name: CA.into(),
                common_name: Some(format!("{} database CA", customer.name)),
                dns_names: None,
                is_ca: Some(true),
                duration: "87600h",
                renew_before: "720h",
                usages: None,
                ..certificate_spec(ROOT_ISSUER)
            },
        ),
        issuer(
            customer,
            labels,
            CA,
            IssuerSpec {
                self_signed: None,
                ca: Some(CaIssuer {
                    secret_name: CA.into(),
                }),
            },
        ),
    ]
}

/// Every name a client may use for a database or Pgpool Service, so `verify-full` holds
/// whichever one it is given: `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`,
/// and the members' own names under the headless Service.
fn dns_names(customer: &Customer, services: &[String]) -> Vec<String> {
    let ns = &customer.namespace;
    let mut names = Vec::new();
    for service in services {
        names.push(service.clone());
        names.push(format!("{service}.{ns}"));
        names.push(format!("{service}.{ns}.svc"));
        names.push(format!("{service}.{ns}.svc.{}", super::CLUSTER_DOMAIN));
        if service.ends_with("-headless") {
            names.push(format!("*.{service}"));
            names.push(format!("*.{service}.{ns}.svc"));
            names.push(format!("*.{service}.{ns}.svc.{}", super::CLUSTER_DOMAIN));
        }
    }
    names.sort();
    names.dedup();
    names
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IssuerSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    self_signed: Option<Empty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca: Option<CaIssuer>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CaIssuer {
    secret_name: String,
}

#[derive(Serialize)]
struct IssuerRef {
    name: String,
    kind: &'static str,
    group: &'static str,
}

fn issuer_ref(name: &str) -> IssuerRef {
    IssuerRef {
        name: name.into(),
        kind: "Issuer",
        group: "cert-manager.io",
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CertificateSpec {
    secret_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    common_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dns_names: Option<Vec<String>>,
    #[serde(rename = "isCA", skip_serializing_if = "Option::is_none")]
    is_ca: Option<bool>,
    duration: &'static str,
    renew_before: &'static str,
    private_key: PrivateKey,
    #[serde(skip_serializing_if = "Option::is_none")]
    usages: Option<Vec<&'static str>>,
    issuer_ref: IssuerRef,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PrivateKey {
    algorithm: &'static str,
    size: u32,
    rotation_policy: &'static str,
}

/// A server certificate for 90 days, renewed 30 days ahead, with a new key each time.
fn certificate_spec(issuer: &str) -> CertificateSpec {
    CertificateSpec {
        secret_name: String::new(),
        common_name: None,
        dns_names: None,
        is_ca: None,
        duration: "2160h",
        renew_before: "720h",
        private_key: PrivateKey {
            algorithm: "ECDSA",
            size: 256,
            rotation_policy: "Always",
        },
        usages: Some(vec!["server auth", "digital signature"]),
        issuer_ref: issuer_ref(issuer),
    }
}

/// A custom resource of this module, in the customer's namespace.
fn resource<S: Serialize>(
    customer: &Customer,
    labels: &BTreeMap<String, String>,
    (api_version, kind): (&'static str, &'static str),
    name: &str,
    spec: S,
) -> Object {
    CustomResource {
        api_version,
        kind,
        metadata: metadata(customer, name, labels.clone()),
        spec,
    }
    .into_object(Component::DATABASE)
}

const ISSUER: (&str, &str) = ("cert-manager.io/v1", "Issuer");
const CERTIFICATE: (&str, &str) = ("cert-manager.io/v1", "Certificate");
const SECRET_STORE: (&str, &str) = ("external-secrets.io/v1", "SecretStore");
const EXTERNAL_SECRET: (&str, &str) = ("external-secrets.io/v1", "ExternalSecret");

fn issuer(
    customer: &Customer,
    labels: &BTreeMap<String, String>,
    name: &str,
    spec: IssuerSpec,
) -> Object {
    resource(customer, labels, ISSUER, name, spec)
}

fn certificate(
    customer: &Customer,
    labels: &BTreeMap<String, String>,
    secret: &str,
    mut spec: CertificateSpec,
) -> Object {
    spec.secret_name = secret.to_string();
    resource(customer, labels, CERTIFICATE, secret, spec)
}

#[derive(Serialize)]
struct SecretStoreSpec {
    provider: Provider,
}

#[derive(Serialize)]
struct Provider {
    gcpsm: GcpSecretManager,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GcpSecretManager {
    #[serde(rename = "projectID")]
    project_id: String,
    auth: Auth,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Auth {
    workload_identity: WorkloadIdentity,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WorkloadIdentity {
    cluster_location: String,
    cluster_name: String,
    #[serde(rename = "clusterProjectID")]
    cluster_project_id: String,
    service_account_ref: AccountRef,
}

#[derive(Serialize)]
struct AccountRef {
    name: &'static str,
}

/// GCP Secret Manager in the customer's project, read as the namespace's own
/// ServiceAccount through Workload Identity: no key file, nothing that must exist first.
fn secret_store(customer: &Customer, labels: &BTreeMap<String, String>, name: &str) -> Object {
    let cluster = &customer.cluster;
    let spec = SecretStoreSpec {
        provider: Provider {
            gcpsm: GcpSecretManager {
                project_id: cluster.project_id.clone(),
                auth: Auth {
                    workload_identity: WorkloadIdentity {
                        cluster_location: cluster.location.clone(),
                        cluster_name: cluster.name.clone(),
                        cluster_project_id: cluster.project_id.clone(),
                        service_account_ref: AccountRef {
                            name: STORE_ACCOUNT,
                        },
                    },
                },
            },
        },
    };
    resource(customer, labels, SECRET_STORE, name, spec)
}

/// External Secrets Operator `ExternalSecret` (external-secrets.io/v1).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalSecretSpec {
    refresh_interval: &'static str,
    secret_store_ref: StoreRef,
    target: Target,
    data: Vec<SecretData>,
}

#[derive(Serialize)]
struct StoreRef {
    kind: &'static str,
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    name: String,
    creation_policy: &'static str,
    deletion_policy: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecretData {
    secret_key: &'static str,
    remote_ref: RemoteRef,
}

#[derive(Serialize)]
struct RemoteRef {
    key: String,
    property: &'static str,
}

/// Materialises the credentials Secret from one Secret Manager secret holding a JSON
/// object with the password keys; only those keys reach the cluster.
fn external_secret(
    customer: &Customer,
    labels: &BTreeMap<String, String>,
    source: &crate::model::ExternalSecretSource,
) -> Object {
    let name = secret_name(&customer.database);
    let (kind, store) = match &source.store {
        SecretStore::Compiled { name, .. } => ("SecretStore", name.clone()),
        SecretStore::Cluster(name) => ("ClusterSecretStore", name.clone()),
    };
    let spec = ExternalSecretSpec {
        refresh_interval: "1h",
        secret_store_ref: StoreRef { kind, name: store },
        target: Target {
            name: name.to_string(),
            creation_policy: "Owner",
            // A secret removed upstream must not take the running database's
            // passwords with it.
            deletion_policy: "Retain",
        },
        data: secret_key::ALL
            .iter()
            .map(|key| SecretData {
                secret_key: key,
                remote_ref: RemoteRef {
                    key: source.key.clone(),
                    property: key,
                },
            })
            .collect(),
    };
    resource(customer, labels, EXTERNAL_SECRET, name, spec)
}
