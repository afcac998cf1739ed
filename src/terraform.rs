//! The customer's GCP infrastructure as Terraform JSON (`out/<customer>/terraform/`): the
//! same effective model the manifests come from, so the two halves cannot disagree (the
//! control-plane range, the DNS mode, managed Prometheus, the node pools' names and taints,
//! the Cloud Armor allow-list, the GSAs behind Workload Identity).
//!
//! Values are typed JSON, never templated HCL. Every resource and attribute is checked
//! against the hashicorp/google schema in `schema/google-provider.json` by the tests
//! (docs/infrastructure.md says where that schema comes from).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::emit::{credentials, workload};
use crate::model::{Customer, SecretStore};
use crate::profile::{DnsProvider, MonitoringProvider, ReleaseChannel, TaintEffect};

/// The provider range whose schema the tests check (`schema/google-provider.json`: 6.50.0).
pub const PROVIDER_VERSION: &str = "~> 6.50";
/// The folder inside `out/<customer>/`.
pub const FOLDER: &str = "terraform";
/// Terraform names of the objects other files refer to.
const NETWORK: &str = "network";
const SUBNETWORK: &str = "nodes";
const CLUSTER: &str = "cluster";
const NODE_ACCOUNT: &str = "nodes";
const NAT: &str = "nat";
const STATE_BUCKET: &str = "state";
/// The secondary ranges of a created subnetwork, which the cluster's pods and Services use.
const PODS_RANGE: &str = "pods";
const SERVICES_RANGE: &str = "services";
/// Cloud Armor takes at most 10 source ranges in one rule's `src_ip_ranges`.
pub const RANGES_PER_RULE: usize = 10;
/// The lowest priority Cloud Armor allows: the default rule's.
const DEFAULT_RULE_PRIORITY: i64 = 2_147_483_647;
/// Google's load balancer health checkers (docs/access.md).
pub const HEALTH_CHECK_RANGES: &[&str] = &["35.191.0.0/16", "130.211.0.0/22"];
/// The pool a profile without `infrastructure.nodePools` gets, and a pool's defaults.
pub const GENERAL_POOL: &str = "general";
const MACHINE_TYPE: &str = "e2-standard-4";
const MIN_NODES: u32 = 1;
const MAX_NODES: u32 = 3;
/// The least-privilege role of a node's service account (GKE hardening guide).
pub const NODE_ROLE: &str = "roles/container.defaultNodeServiceAccount";

/// Every Terraform file of the customer, by path inside `out/<customer>/`.
pub fn files(customer: &Customer) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let parts = [
        ("providers", providers(customer)),
        ("network", network(customer)),
        ("cluster", cluster(customer)),
        ("edge", edge(customer)),
        ("dns", dns(customer)),
        ("identity", identity(customer)),
        ("secrets", secrets(customer)),
        ("state", state(customer)),
        ("imports", imports(customer)),
        ("logging", logging(customer)),
    ];
    for (name, document) in parts {
        if document.as_object().is_some_and(|o| !o.is_empty()) {
            let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
            text.push('\n');
            files.insert(format!("{FOLDER}/{name}.tf.json"), text);
        }
    }
    files
}

/// The GCP-side settings the profile gives, every default applied.
struct Gcp<'a> {
    project: &'a str,
    region: &'a str,
    network: String,
    subnetwork: String,
    network_project: String,
    /// The ranges of a network gitopsc creates; `None`: the existing one is read.
    create: Option<crate::profile::NetworkRanges>,
    cloud_nat: bool,
}

impl Gcp<'_> {
    /// A reference to the network or the subnetwork, created or read.
    fn network(&self, which: &str, attribute: &str) -> String {
        let kind = match which {
            NETWORK => "google_compute_network",
            _ => "google_compute_subnetwork",
        };
        if self.create.is_some() {
            reference(kind, which, attribute)
        } else {
            reference(&format!("data.{kind}"), which, attribute)
        }
    }
}

fn gcp(customer: &Customer) -> Gcp<'_> {
    let profile = customer.profile.spec.as_ref().and_then(|s| s.gcp.as_ref());
    let project = customer.cluster.project_id.as_str();
    let text = |value: Option<&String>| value.cloned().unwrap_or_default();
    Gcp {
        project,
        region: customer.cluster.location.as_str(),
        network: text(profile.and_then(|g| g.network.as_ref())),
        subnetwork: text(profile.and_then(|g| g.subnetwork.as_ref())),
        network_project: profile
            .and_then(|g| g.network_project_id.as_ref())
            .map_or_else(|| project.to_string(), |p| p.0.clone()),
        create: profile.and_then(|g| g.create_network.clone()),
        cloud_nat: profile
            .and_then(|g| g.cloud_nat)
            .unwrap_or(crate::model::defaults::CLOUD_NAT),
    }
}

fn reference(kind: &str, name: &str, attribute: &str) -> String {
    format!("${{{kind}.{name}.{attribute}}}")
}

/// Where the customer's Terraform state lives, every default applied.
struct State {
    /// The customer's project, where a managed bucket must be.
    project: String,
    bucket: String,
    prefix: String,
    manage_bucket: bool,
    location: String,
}

fn state_settings(customer: &Customer) -> State {
    let gcp = gcp(customer);
    let state = customer
        .profile
        .spec
        .as_ref()
        .and_then(|s| s.infrastructure.as_ref())
        .and_then(|i| i.state.clone())
        .unwrap_or_default();
    State {
        project: gcp.project.to_string(),
        bucket: state
            .bucket
            .map_or_else(|| format!("{}-tfstate", gcp.project), String::from),
        prefix: state
            .prefix
            .unwrap_or_else(|| format!("gitopsc/{}", customer.name)),
        manage_bucket: state
            .manage_bucket
            .unwrap_or(crate::model::defaults::MANAGE_STATE_BUCKET),
        location: state.location.unwrap_or_else(|| gcp.region.to_string()),
    }
}

fn providers(customer: &Customer) -> Value {
    let gcp = gcp(customer);
    let state = state_settings(customer);
    // No `required_version`: checkov's .tf.json parser fails on it (bridgecrewio/checkov#7454).
    json!({
        "terraform": {
            "required_providers": {
                "google": {"source": "hashicorp/google", "version": PROVIDER_VERSION}
            },
            "backend": {"gcs": {"bucket": state.bucket, "prefix": state.prefix}}
        },
        "provider": {"google": {"project": gcp.project, "region": gcp.region}}
    })
}

/// The state bucket, adopted rather than created (it exists before the first `init`, and
/// `imports` brings it under this configuration), which keeps its history (versioning: a
/// bad apply's state can be restored), its access uniform and private, and refuses to
/// destroy it.
fn state(customer: &Customer) -> Value {
    let state = state_settings(customer);
    if !state.manage_bucket {
        return json!({});
    }
    json!({
        "resource": {"google_storage_bucket": {STATE_BUCKET: {
            "name": state.bucket,
            "project": state.project,
            "location": state.location,
            "force_destroy": false,
            "versioning": {"enabled": true},
            "uniform_bucket_level_access": true,
            "public_access_prevention": "enforced",
            "lifecycle": {"prevent_destroy": true}
        }}}
    })
}

/// Terraform 1.5's `import` blocks: the existing objects this configuration adopts. Their
/// own file, as Terraform's docs suggest (`imports.tf`), which also keeps checkov's JSON
/// parser, which reads labelled blocks only, off it.
fn imports(customer: &Customer) -> Value {
    let state = state_settings(customer);
    if !state.manage_bucket {
        return json!({});
    }
    json!({
        "import": [{
            "to": format!("google_storage_bucket.{STATE_BUCKET}"),
            "id": format!("{}/{}", state.project, state.bucket)
        }]
    })
}

/// Services whose Data Access audit logs are on: who read a secret, used a key or read the
/// Terraform state. Admin Activity logs are always on and cannot be turned off; the
/// Kubernetes API's reads (`container.googleapis.com`) stay off, their volume is that of
/// every controller's watch.
pub const DATA_ACCESS_LOGGED: &[&str] = &[
    "cloudkms.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
];

/// Cloud Audit Logs' Data Access configuration of the project, one resource per service
/// (each is authoritative for its service only).
fn logging(customer: &Customer) -> Value {
    let gcp = gcp(customer);
    let configs: Map<String, Value> = DATA_ACCESS_LOGGED
        .iter()
        .map(|service| {
            let name = service.split('.').next().unwrap_or(service);
            (
                name.to_string(),
                json!({
                    "project": gcp.project,
                    "service": service,
                    "audit_log_config": [
                        {"log_type": "ADMIN_READ"},
                        {"log_type": "DATA_READ"},
                        {"log_type": "DATA_WRITE"}
                    ]
                }),
            )
        })
        .collect();
    json!({"resource": {"google_project_iam_audit_config": configs}})
}

/// The customer's VPC and subnetwork: read (in the host project for a Shared VPC), or
/// created with Private Google Access, flow logs and the secondary ranges GKE uses; and,
/// when asked, Cloud Router and Cloud NAT for the private nodes' egress.
fn network(customer: &Customer) -> Value {
    let gcp = gcp(customer);
    let mut document = match &gcp.create {
        None => json!({
            "data": {
                "google_compute_network": {
                    NETWORK: {"name": gcp.network, "project": gcp.network_project}
                },
                "google_compute_subnetwork": {
                    SUBNETWORK: {
                        "name": gcp.subnetwork,
                        "region": gcp.region,
                        "project": gcp.network_project
                    }
                }
            }
        }),
        Some(ranges) => {
            let range = |r: &Option<crate::profile::CidrRange>| r.clone().map(String::from);
            json!({
                "resource": {
                    "google_compute_network": {
                        NETWORK: {
                            "name": gcp.network,
                            "project": gcp.network_project,
                            "auto_create_subnetworks": false,
                            "routing_mode": "REGIONAL"
                        }
                    },
                    "google_compute_subnetwork": {
                        SUBNETWORK: {
                            "name": gcp.subnetwork,
                            "project": gcp.network_project,
                            "region": gcp.region,
                            "network": gcp.network(NETWORK, "id"),
                            "ip_cidr_range": range(&ranges.nodes),
                            "private_ip_google_access": true,
                            "secondary_ip_range": [
                                {"range_name": PODS_RANGE, "ip_cidr_range": range(&ranges.pods)},
                                {"range_name": SERVICES_RANGE, "ip_cidr_range": range(&ranges.services)}
                            ],
                            "log_config": {
                                "aggregation_interval": "INTERVAL_5_SEC",
                                "flow_sampling": 0.5,
                                "metadata": "INCLUDE_ALL_METADATA"
                            }
                        }
                    },
                    // A created network states its baseline: no ingress but what a rule
                    // of higher priority allows (GKE's own rules, the entry points'), logged.
                    "google_compute_firewall": {
                        "deny_ingress": {
                            "name": format!("{}-deny-ingress", customer.name),
                            "project": gcp.network_project,
                            "network": gcp.network(NETWORK, "self_link"),
                            "direction": "INGRESS",
                            "priority": 65534,
                            "source_ranges": ["0.0.0.0/0"],
                            "deny": [{"protocol": "all"}],
                            "log_config": {"metadata": "INCLUDE_ALL_METADATA"}
                        }
                    }
                }
            })
        }
    };
    if gcp.cloud_nat {
        let resources = document
            .as_object_mut()
            .map(|d| d.entry("resource").or_insert_with(|| json!({})));
        if let Some(Value::Object(resources)) = resources {
            resources.insert(
                "google_compute_router".into(),
                json!({NAT: {
                    "name": format!("{}-router", customer.name),
                    "project": gcp.network_project,
                    "region": gcp.region,
                    "network": gcp.network(NETWORK, "id")
                }}),
            );
            resources.insert(
                "google_compute_router_nat".into(),
                json!({NAT: {
                    "name": format!("{}-nat", customer.name),
                    "project": gcp.network_project,
                    "region": gcp.region,
                    "router": reference("google_compute_router", NAT, "name"),
                    "nat_ip_allocate_option": "AUTO_ONLY",
                    "source_subnetwork_ip_ranges_to_nat": "LIST_OF_SUBNETWORKS",
                    "subnetwork": [{
                        "name": gcp.network(SUBNETWORK, "id"),
                        "source_ip_ranges_to_nat": ["ALL_IP_RANGES"]
                    }],
                    "log_config": {"enable": true, "filter": "ERRORS_ONLY"}
                }}),
            );
        }
    }
    document
}

fn release_channel(channel: ReleaseChannel) -> &'static str {
    match channel {
        ReleaseChannel::Rapid => "RAPID",
        ReleaseChannel::Regular => "REGULAR",
        ReleaseChannel::Stable => "STABLE",
    }
}

fn taint_effect(effect: TaintEffect) -> &'static str {
    match effect {
        TaintEffect::NoSchedule => "NO_SCHEDULE",
        TaintEffect::PreferNoSchedule => "PREFER_NO_SCHEDULE",
        TaintEffect::NoExecute => "NO_EXECUTE",
    }
}

/// The private GKE Standard cluster, its node pools and their service account.
fn cluster(customer: &Customer) -> Value {
    let gcp = gcp(customer);
    let infrastructure = customer
        .profile
        .spec
        .as_ref()
        .and_then(|s| s.infrastructure.clone())
        .unwrap_or_default();
    let cluster_profile = infrastructure.cluster.unwrap_or_default();
    let authorized: Vec<Value> = cluster_profile
        .master_authorized_networks
        .iter()
        .flatten()
        .map(|range| json!({"cidr_block": range.0, "display_name": range.0}))
        .collect();
    // A /28 is the private control plane's range; a /32 is a Private Service Connect
    // cluster's endpoint, which GKE places itself.
    let mut private = Map::new();
    private.insert("enable_private_nodes".into(), json!(true));
    private.insert("enable_private_endpoint".into(), json!(false));
    if customer.control_plane.prefix == 28 {
        private.insert(
            "master_ipv4_cidr_block".into(),
            json!(customer.control_plane.to_string()),
        );
    }
    let cloud_dns = customer.dns.provider == DnsProvider::CloudDns;
    let mut dns = Map::new();
    dns.insert(
        "cluster_dns".into(),
        json!(if cloud_dns {
            "CLOUD_DNS"
        } else {
            "PLATFORM_DEFAULT"
        }),
    );
    if cloud_dns {
        dns.insert("cluster_dns_scope".into(), json!("CLUSTER_SCOPE"));
    }
    let binary_authorization = if cluster_profile
        .binary_authorization
        .unwrap_or(crate::model::defaults::BINARY_AUTHORIZATION)
    {
        "PROJECT_SINGLETON_POLICY_ENFORCE"
    } else {
        "DISABLED"
    };
    let channel = cluster_profile
        .release_channel
        .unwrap_or(crate::model::defaults::RELEASE_CHANNEL);
    let account = reference("google_service_account", NODE_ACCOUNT, "email");
    // GKE makes its own secondary ranges in a subnetwork it reads; in one gitopsc creates
    // it uses the ones made for it.
    let ip_allocation = match gcp.create {
        Some(_) => json!({
            "cluster_secondary_range_name": PODS_RANGE,
            "services_secondary_range_name": SERVICES_RANGE
        }),
        None => json!({}),
    };
    // A cluster whose default pool is removed needs at least one pool of its own.
    let listed = infrastructure.node_pools.clone().unwrap_or_default();
    let pools = if listed.is_empty() {
        vec![crate::profile::NodePool {
            name: Some(crate::profile::DnsLabel(GENERAL_POOL.into())),
            ..Default::default()
        }]
    } else {
        listed
    };
    let pools: Map<String, Value> = pools
        .iter()
        .filter_map(|pool| {
            let name = pool.name.clone()?.0;
            let taints: Vec<Value> = pool
                .taints
                .iter()
                .flatten()
                .map(|t| {
                    json!({
                        "key": t.key.clone().unwrap_or_default(),
                        "value": t.value.clone().unwrap_or_default(),
                        "effect": taint_effect(t.effect.unwrap_or(TaintEffect::NoSchedule))
                    })
                })
                .collect();
            let mut node_config = json!({
                "machine_type": pool.machine_type.clone().unwrap_or_else(|| MACHINE_TYPE.into()),
                "image_type": "COS_CONTAINERD",
                "service_account": account,
                "oauth_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                "metadata": {"disable-legacy-endpoints": "true"},
                "workload_metadata_config": {"mode": "GKE_METADATA"},
                "shielded_instance_config": {
                    "enable_secure_boot": true,
                    "enable_integrity_monitoring": true
                },
                "labels": {"gitopsc.io/customer": customer.name}
            });
            if !taints.is_empty() {
                node_config["taint"] = Value::Array(taints);
            }
            Some((
                name.clone(),
                json!({
                    "name": name,
                    "project": gcp.project,
                    "location": gcp.region,
                    "cluster": reference("google_container_cluster", CLUSTER, "id"),
                    "autoscaling": {
                        "min_node_count": pool.min_nodes.unwrap_or(MIN_NODES),
                        "max_node_count": pool.max_nodes.unwrap_or(MAX_NODES)
                    },
                    "management": {"auto_repair": true, "auto_upgrade": true},
                    "node_config": node_config
                }),
            ))
        })
        .collect();
    let mut resources = json!({
        "google_service_account": {
            NODE_ACCOUNT: {
                "project": gcp.project,
                "account_id": format!("{}-nodes", short(&customer.name, 24)),
                "display_name": format!("GKE nodes of {}", customer.name)
            }
        },
        "google_project_iam_member": {
            NODE_ACCOUNT: {
                "project": gcp.project,
                "role": NODE_ROLE,
                "member": format!("serviceAccount:{account}")
            }
        },
        "google_container_cluster": {
            CLUSTER: {
                "name": customer.cluster.name,
                "project": gcp.project,
                "location": gcp.region,
                "network": gcp.network(NETWORK, "self_link"),
                "subnetwork": gcp.network(SUBNETWORK, "self_link"),
                "remove_default_node_pool": true,
                "initial_node_count": 1,
                "deletion_protection": true,
                "networking_mode": "VPC_NATIVE",
                "ip_allocation_policy": ip_allocation,
                "datapath_provider": "ADVANCED_DATAPATH",
                "enable_shielded_nodes": true,
                "enable_intranode_visibility": true,
                "private_cluster_config": private,
                "master_authorized_networks_config": {"cidr_blocks": authorized},
                "master_auth": {"client_certificate_config": {"issue_client_certificate": false}},
                "workload_identity_config": {"workload_pool": format!("{}.svc.id.goog", gcp.project)},
                "release_channel": {"channel": release_channel(channel)},
                "binary_authorization": {"evaluation_mode": binary_authorization},
                "addons_config": {
                    "http_load_balancing": {"disabled": false},
                    "gce_persistent_disk_csi_driver_config": {"enabled": true},
                    "dns_cache_config": {"enabled": customer.dns.node_local_cache}
                },
                "dns_config": dns,
                "logging_config": {"enable_components": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
                "monitoring_config": {
                    "enable_components": ["SYSTEM_COMPONENTS"],
                    "managed_prometheus": {
                        "enabled": customer.monitoring.provider == MonitoringProvider::GkeManagedPrometheus
                    }
                },
                "resource_labels": {"customer": customer.name, "managed-by": "gitopsc"}
            }
        },
        "google_container_node_pool": pools
    });
    let mut document = Map::new();
    if let Some(key) = &cluster_profile.secrets_encryption_key {
        resources["google_container_cluster"][CLUSTER]["database_encryption"] =
            json!({"state": "ENCRYPTED", "key_name": key.0});
        // GKE's service agent encrypts and decrypts with the key (its email carries the
        // project number, read from the project).
        resources["google_kms_crypto_key_iam_member"] = json!({"gke": {
            "crypto_key_id": key.0,
            "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
            "member": format!(
                "serviceAccount:service-{}@container-engine-robot.iam.gserviceaccount.com",
                reference("data.google_project", "project", "number")
            )
        }});
        document.insert(
            "data".into(),
            json!({"google_project": {"project": {"project_id": gcp.project}}}),
        );
    }
    document.insert("resource".into(), resources);
    Value::Object(document)
}

/// At most `max` characters, not ending in `-` (GCP account IDs are 6–30 characters).
fn short(name: &str, max: usize) -> String {
    let cut: String = name.chars().take(max).collect();
    cut.trim_end_matches('-').to_string()
}

/// Cloud Armor with the external allow-list and a default deny, the global address, the
/// SSL policy, and the firewall that admits the internal allow-list.
fn edge(customer: &Customer) -> Value {
    let gcp = gcp(customer);
    let mut resources = Map::new();
    if let Some(external) = &customer.access.external {
        let ranges = external.allowed.strings();
        let mut rules: Vec<Value> = ranges
            .chunks(RANGES_PER_RULE)
            .enumerate()
            .map(|(i, chunk)| {
                json!({
                    "priority": 1000 + i as i64,
                    "action": "allow",
                    "description": format!("external allow-list, part {}", i + 1),
                    "match": {
                        "versioned_expr": "SRC_IPS_V1",
                        "config": {"src_ip_ranges": chunk}
                    }
                })
            })
            .collect();
        // Before the allow rules: a request carrying a Log4j JNDI lookup is refused even
        // from an allowed range.
        rules.push(json!({
            "priority": 900,
            "action": "deny(403)",
            "description": "Log4j lookups (CVE-2021-44228)",
            "match": {"expr": {"expression": "evaluatePreconfiguredExpr('cve-canary')"}}
        }));
        rules.push(json!({
            "priority": DEFAULT_RULE_PRIORITY,
            "action": "deny(403)",
            "description": "everything not on the allow-list",
            "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}}
        }));
        resources.insert(
            "google_compute_security_policy".into(),
            json!({"edge": {
                "name": external.cloud_armor_policy,
                "project": gcp.project,
                "description": format!("The allow-list of {}'s external entry point", customer.name),
                "rule": rules
            }}),
        );
        if let Some(address) = &external.static_ip_name {
            resources.insert(
                "google_compute_global_address".into(),
                json!({"ingress": {"name": address, "project": gcp.project}}),
            );
        }
        if let Some(policy) = &external.ssl_policy {
            resources.insert(
                "google_compute_ssl_policy".into(),
                json!({"ingress": {
                    "name": policy,
                    "project": gcp.project,
                    "profile": "MODERN",
                    "min_tls_version": "TLS_1_2"
                }}),
            );
        }
    }
    if let Some(internal) = &customer.access.internal {
        let nodes = reference("google_service_account", NODE_ACCOUNT, "email");
        let network = gcp.network(NETWORK, "self_link");
        resources.insert(
            "google_compute_firewall".into(),
            json!({
                "internal_clients": {
                    "name": format!("{}-internal-clients", customer.name),
                    "project": gcp.network_project,
                    "network": network,
                    "direction": "INGRESS",
                    "source_ranges": internal.allowed.strings(),
                    "target_service_accounts": [nodes],
                    "allow": [{"protocol": "tcp", "ports": [customer.app.port.to_string()]}]
                },
                "health_checks": {
                    "name": format!("{}-health-checks", customer.name),
                    "project": gcp.network_project,
                    "network": network,
                    "direction": "INGRESS",
                    "source_ranges": HEALTH_CHECK_RANGES,
                    "target_service_accounts": [nodes],
                    // kube-proxy's health endpoint and the node ports a Service's
                    // `healthCheckNodePort` is taken from.
                    "allow": [{"protocol": "tcp", "ports": ["10256", "30000-32767"]}]
                }
            }),
        );
    }
    if resources.is_empty() {
        return json!({});
    }
    json!({ "resource": resources })
}

/// Friendly names in the customer's Cloud DNS zone: the external hosts at the global address
/// the Ingress takes, the internal name at a reserved internal address the internal load
/// balancer takes (its Service names it).
fn dns(customer: &Customer) -> Value {
    let gcp = gcp(customer);
    let Some(zone) = customer
        .profile
        .spec
        .as_ref()
        .and_then(|s| s.access.as_ref())
        .and_then(|a| a.dns_zone.clone())
    else {
        return json!({});
    };
    let zone_name = reference("data.google_dns_managed_zone", "zone", "name");
    let record = |host: &str, address: String| {
        json!({
            "project": gcp.project,
            "managed_zone": zone_name,
            "name": format!("{host}."),
            "type": "A",
            "ttl": 300,
            "rrdatas": [address]
        })
    };
    let mut records = Map::new();
    let mut resources = Map::new();
    if let Some(external) = &customer.access.external {
        if external.static_ip_name.is_some() {
            for (i, host) in external.hosts.iter().enumerate() {
                let address = reference("google_compute_global_address", "ingress", "address");
                records.insert(format!("external_{i}"), record(host, address));
            }
        }
    }
    if let Some(host) = customer
        .access
        .internal
        .as_ref()
        .and_then(|i| i.hostname.as_ref())
    {
        resources.insert(
            "google_compute_address".into(),
            json!({"internal": {
                "name": crate::emit::names::internal_address(&customer.name),
                "project": gcp.project,
                "region": gcp.region,
                "subnetwork": gcp.network(SUBNETWORK, "self_link"),
                "address_type": "INTERNAL"
            }}),
        );
        let address = reference("google_compute_address", "internal", "address");
        records.insert("internal".into(), record(host, address));
    }
    resources.insert("google_dns_record_set".into(), Value::Object(records));
    json!({
        "data": {"google_dns_managed_zone": {"zone": {"name": zone.0, "project": gcp.project}}},
        "resource": resources
    })
}

/// The Workload Identity member of a Kubernetes ServiceAccount of the customer.
fn workload_member(customer: &Customer, account: &str) -> String {
    format!(
        "serviceAccount:{}.svc.id.goog[{}/{account}]",
        customer.cluster.project_id, customer.namespace
    )
}

/// A GSA named by its email in the profile, created in its own project, and the binding
/// that lets the compiled Kubernetes ServiceAccount `account` act as it.
fn bound_account(customer: &Customer, email: &str, key: &str, account: &str) -> (Value, Value) {
    let (id, domain) = email.split_once('@').unwrap_or((email, ""));
    let project = domain
        .strip_suffix(".iam.gserviceaccount.com")
        .unwrap_or(&customer.cluster.project_id);
    (
        json!({
            "project": project,
            "account_id": id,
            "display_name": format!("{account} of {}", customer.name)
        }),
        json!({
            "service_account_id": reference("google_service_account", key, "name"),
            "role": "roles/iam.workloadIdentityUser",
            "member": workload_member(customer, account)
        }),
    )
}

/// The GSAs the compiled ServiceAccounts act as, each bound to exactly that account.
fn identity(customer: &Customer) -> Value {
    let store_account = match customer.database.credentials.external().map(|s| &s.store) {
        Some(SecretStore::Compiled {
            gcp_service_account: Some(email),
            ..
        }) => Some(email),
        _ => None,
    };
    let wanted = [
        (
            "app",
            customer.app.gcp_service_account.as_ref(),
            workload::APP,
        ),
        ("secrets", store_account, credentials::STORE_ACCOUNT),
    ];
    let mut accounts = Map::new();
    let mut bindings = Map::new();
    for (key, email, account) in wanted {
        if let Some(email) = email {
            let (gsa, binding) = bound_account(customer, email, key, account);
            accounts.insert(key.into(), gsa);
            bindings.insert(key.into(), binding);
        }
    }
    if accounts.is_empty() {
        return json!({});
    }
    json!({"resource": {
        "google_service_account": accounts,
        "google_service_account_iam_member": bindings
    }})
}

/// The Secret Manager secret the credentials ExternalSecret reads (no value, no version),
/// and read access to exactly it for the store's identity.
fn secrets(customer: &Customer) -> Value {
    let Some(source) = customer.database.credentials.external() else {
        return json!({});
    };
    let SecretStore::Compiled {
        gcp_service_account,
        ..
    } = &source.store
    else {
        // A ClusterSecretStore's identity and secrets are the cluster operator's.
        return json!({});
    };
    let member = match gcp_service_account {
        Some(_) => format!(
            "serviceAccount:{}",
            reference("google_service_account", "secrets", "email")
        ),
        None => workload_member(customer, credentials::STORE_ACCOUNT),
    };
    json!({
        "resource": {
            "google_secret_manager_secret": {
                "credentials": {
                    "project": customer.cluster.project_id,
                    "secret_id": source.key,
                    "replication": {"auto": {}},
                    "labels": {"customer": customer.name, "managed-by": "gitopsc"}
                }
            },
            "google_secret_manager_secret_iam_member": {
                "credentials": {
                    "project": customer.cluster.project_id,
                    "secret_id": reference("google_secret_manager_secret", "credentials", "secret_id"),
                    "role": "roles/secretmanager.secretAccessor",
                    "member": member
                }
            }
        }
    })
}
