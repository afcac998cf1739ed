//! `cluster.tf.json`: the private GKE Standard cluster, its node pools and their service
//! account, and (with the customer's key) application-layer secrets encryption.

use serde_json::{Map, Value, json};

use super::{Address, Block, File, Gcp, network};
use crate::model::Customer;
use crate::profile::{
    Cluster as ClusterSettings, DnsProvider, MonitoringProvider, NodePool, ReleaseChannel,
    TaintEffect, defaults,
};

pub const CLUSTER: Address = Address::resource("google_container_cluster", "cluster");
/// The nodes' service account, which firewall rules also target.
pub const NODE_ACCOUNT: Address = Address::resource("google_service_account", "nodes");
const NODE_ACCOUNT_ROLE: Address = Address::resource("google_project_iam_member", "nodes");
/// GKE's service agent's grant on the etcd key.
pub const KEY_GRANT: Address = Address::resource("google_kms_crypto_key_iam_member", "gke");
const PROJECT: Address = Address::data("google_project", "project");
/// The pool a profile without `infrastructure.nodePools` gets, and a pool's defaults.
pub const GENERAL_POOL: &str = "general";
const MACHINE_TYPE: &str = "e2-standard-4";
/// The least-privilege role of a node's service account (GKE hardening guide).
pub const NODE_ROLE: &str = "roles/container.defaultNodeServiceAccount";

pub(super) fn file(customer: &Customer, gcp: &Gcp) -> File {
    let infrastructure = customer
        .profile
        .spec
        .as_ref()
        .and_then(|s| s.infrastructure.clone())
        .unwrap_or_default();
    let settings = infrastructure.cluster.unwrap_or_default();
    let mut cluster = cluster(customer, gcp, &settings);
    let mut blocks = vec![
        Block::new(
            NODE_ACCOUNT,
            json!({
                "project": gcp.project,
                "account_id": format!("{}-nodes", short(&customer.name, 24)),
                "display_name": format!("GKE nodes of {}", customer.name)
            }),
        ),
        Block::new(
            NODE_ACCOUNT_ROLE,
            json!({
                "project": gcp.project,
                "role": NODE_ROLE,
                "member": format!("serviceAccount:{}", NODE_ACCOUNT.attr("email"))
            }),
        ),
    ];
    let mut encryption = Vec::new();
    if let Some(key) = &settings.secrets_encryption_key {
        cluster["database_encryption"] = json!({"state": "ENCRYPTED", "key_name": key.0});
        encryption = encrypted_with(&key.0, gcp);
    }
    if customer
        .access
        .internal
        .as_ref()
        .is_some_and(|i| i.hostname.is_some())
    {
        // The internal Service names its reserved address in
        // `networking.gke.io/load-balancer-ip-addresses`, which only ingress-gce's L4
        // controller reads (`pkg/address` `IPv4ToUse`), and that controller owns internal
        // load balancers only with subsetting; without it the service controller of
        // cloud-provider-gcp takes `spec.loadBalancerIP` alone (`ilbIPToUse`) and the DNS
        // record would point at an address the load balancer does not have. Once on,
        // GKE cannot turn it off: nothing here ever does.
        cluster["enable_l4_ilb_subsetting"] = json!(true);
    }
    if let Some(zones) = &settings.zones {
        // Every node pool inherits the cluster's zones; a set, so sorted.
        let zones: std::collections::BTreeSet<&str> = zones.iter().map(|z| z.0.as_str()).collect();
        cluster["node_locations"] = json!(zones);
    }
    let cluster = Block::new(CLUSTER, cluster);
    blocks.push(match encryption.is_empty() {
        true => cluster,
        // The key is named by its ID, not through the grant, yet GKE checks at creation
        // that its service agent may use it (application-layer Secrets encryption).
        false => cluster.after(
            &KEY_GRANT,
            "GKE refuses to create a cluster whose service agent may not use the etcd key",
        ),
    });
    // GKE's default is three zones of the region.
    let zones = settings.zones.as_ref().map_or(3, Vec::len).max(1);
    blocks.extend(node_pools(customer, gcp, infrastructure.node_pools, zones));
    blocks.extend(encryption);
    File::of(blocks)
}

/// The cluster's arguments.
fn cluster(customer: &Customer, gcp: &Gcp, settings: &ClusterSettings) -> Value {
    let authorized: Vec<Value> = settings
        .master_authorized_networks
        .iter()
        .flatten()
        .map(|range| json!({"cidr_block": range.0, "display_name": range.0}))
        .collect();
    let binary_authorization = if settings
        .binary_authorization
        .unwrap_or(defaults::BINARY_AUTHORIZATION)
    {
        "PROJECT_SINGLETON_POLICY_ENFORCE"
    } else {
        "DISABLED"
    };
    let channel = settings
        .release_channel
        .unwrap_or(defaults::RELEASE_CHANNEL);
    // The subnetwork's secondary ranges by name: those gitopsc creates, those the profile
    // names (a Shared VPC's, which GKE may not create); else GKE makes its own.
    let ranges = match (&gcp.create, &gcp.secondary_ranges) {
        (Some(_), _) => Some((network::PODS_RANGE, network::SERVICES_RANGE)),
        (None, Some((pods, services))) => Some((pods.as_str(), services.as_str())),
        (None, None) => None,
    };
    let ip_allocation = match ranges {
        Some((pods, services)) => json!({
            "cluster_secondary_range_name": pods,
            "services_secondary_range_name": services
        }),
        None => json!({}),
    };
    json!({
        "name": customer.cluster.name,
        "project": gcp.project,
        "location": gcp.region,
        "network": network::network(gcp).attr("self_link"),
        "subnetwork": network::subnetwork(gcp).attr("self_link"),
        "remove_default_node_pool": true,
        "initial_node_count": 1,
        // The temporary default pool, removed once the cluster exists, runs hardened and as
        // the nodes' own account like every pool: the Compute Engine default account it
        // would take otherwise is disabled or stripped of roles in hardened organisations
        // (`iam.automaticIamGrantsForDefaultServiceAccounts`), and creation would fail.
        "node_config": default_pool_config(),
        "deletion_protection": true,
        "networking_mode": "VPC_NATIVE",
        "ip_allocation_policy": ip_allocation,
        "datapath_provider": "ADVANCED_DATAPATH",
        "enable_shielded_nodes": true,
        "enable_intranode_visibility": true,
        "private_cluster_config": private_cluster(customer, gcp, settings),
        // The authorized networks hold on the private endpoint too, and Google Cloud's own
        // addresses get no way in through the public one.
        "master_authorized_networks_config": {
            "cidr_blocks": authorized,
            "private_endpoint_enforcement_enabled": true,
            "gcp_public_cidrs_access_enabled": false
        },
        "master_auth": {"client_certificate_config": {"issue_client_certificate": false}},
        "workload_identity_config": {"workload_pool": format!("{}.svc.id.goog", gcp.project)},
        "release_channel": {"channel": release_channel(channel)},
        "binary_authorization": {"evaluation_mode": binary_authorization},
        "addons_config": {
            "http_load_balancing": {"disabled": false},
            "gce_persistent_disk_csi_driver_config": {"enabled": true},
            "dns_cache_config": {"enabled": customer.dns.node_local_cache}
        },
        "dns_config": dns_config(customer),
        "logging_config": {"enable_components": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
        "monitoring_config": {
            "enable_components": ["SYSTEM_COMPONENTS"],
            "managed_prometheus": {
                "enabled": customer.monitoring.provider == MonitoringProvider::GkeManagedPrometheus
            }
        },
        "maintenance_policy": maintenance_policy(settings.maintenance.as_ref()),
        "resource_labels": {"customer": customer.name, "managed-by": "gitopsc"}
    })
}

/// The weekly window GKE upgrades in, and the exclusions. GKE reads a recurring window's
/// date only as its first occurrence, so a fixed past Saturday (2026-01-03) keeps the
/// output the same from one render to the next.
fn maintenance_policy(maintenance: Option<&crate::profile::Maintenance>) -> Value {
    let days: std::collections::BTreeSet<crate::profile::Weekday> =
        maintenance.and_then(|m| m.days.clone()).map_or_else(
            || defaults::MAINTENANCE_DAYS.into(),
            |d| d.into_iter().collect(),
        );
    let start = maintenance
        .and_then(|m| m.start_hour)
        .unwrap_or(defaults::MAINTENANCE_START_HOUR);
    let hours = maintenance
        .and_then(|m| m.hours)
        .unwrap_or(defaults::MAINTENANCE_HOURS);
    // Seconds from the first day's midnight, so a window may run past midnight.
    let at = |hour: u32| {
        let (day, hour) = (hour / 24, hour % 24);
        format!("2026-01-{:02}T{hour:02}:00:00Z", 3 + day)
    };
    let byday: Vec<String> = days.iter().map(|d| format!("{d:?}")).collect();
    let exclusions: Vec<Value> = maintenance
        .and_then(|m| m.exclusions.as_ref())
        .into_iter()
        .flatten()
        .map(|e| {
            let scope = e
                .scope
                .unwrap_or(crate::profile::ExclusionScope::NoMinorOrNodeUpgrades);
            json!({
                "exclusion_name": e.name.as_ref().map(|n| n.0.clone()).unwrap_or_default(),
                "start_time": e.start.as_ref().map(|t| t.0.clone()).unwrap_or_default(),
                "end_time": e.end.as_ref().map(|t| t.0.clone()).unwrap_or_default(),
                "exclusion_options": {"scope": scope.provider_value()}
            })
        })
        .collect();
    let mut policy = json!({
        "recurring_window": {
            "start_time": at(start),
            "end_time": at(start + hours),
            "recurrence": format!("FREQ=WEEKLY;BYDAY={}", byday.join(","))
        }
    });
    if !exclusions.is_empty() {
        policy["maintenance_exclusion"] = json!(exclusions);
    }
    policy
}

/// Private nodes, and a private control-plane endpoint reachable from every region
/// (global access) unless the profile asks for a public one too. A Private Service Connect
/// cluster takes its endpoint from the subnetwork the profile names; another has its /28.
fn private_cluster(customer: &Customer, gcp: &Gcp, settings: &ClusterSettings) -> Value {
    let public = settings
        .public_endpoint
        .unwrap_or(defaults::PUBLIC_ENDPOINT);
    let mut private = json!({
        "enable_private_nodes": true,
        "enable_private_endpoint": !public,
        "master_global_access_config": {"enabled": true}
    });
    match network::control_plane_subnetwork(gcp) {
        Some(subnetwork) => {
            private["private_endpoint_subnetwork"] = json!(subnetwork.attr("self_link"));
        }
        None => {
            private["master_ipv4_cidr_block"] = json!(customer.control_plane.to_string());
        }
    }
    private
}

/// The DNS the manifests' egress rules expect (docs/network.md).
fn dns_config(customer: &Customer) -> Map<String, Value> {
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
    dns
}

/// The profile's node pools; a cluster whose default pool is removed needs at least one
/// pool of its own.
fn node_pools(
    customer: &Customer,
    gcp: &Gcp,
    listed: Option<Vec<NodePool>>,
    zones: usize,
) -> Vec<Block> {
    let listed = listed.unwrap_or_default();
    let pools = if listed.is_empty() {
        vec![NodePool {
            name: Some(crate::profile::DnsLabel(GENERAL_POOL.into())),
            ..Default::default()
        }]
    } else {
        listed
    };
    pools
        .iter()
        .filter_map(|pool| {
            let name = pool.name.clone()?.0;
            let max = pool.max_nodes.unwrap_or(defaults::NODE_POOL_MAX_NODES);
            // An unset minimum never exceeds the pool's maximum.
            let min = pool
                .min_nodes
                .unwrap_or(defaults::NODE_POOL_MIN_NODES.min(max));
            // Per zone, as GKE counts a new pool's first nodes: enough for the minimum,
            // never more than the maximum (without it the provider asks for none).
            let zones = u32::try_from(zones).unwrap_or(u32::MAX);
            let initial = min.div_ceil(zones).min(max / zones);
            Some(Block::new(
                Address::named("google_container_node_pool", name.clone()),
                json!({
                    "name": name,
                    "project": gcp.project,
                    "location": gcp.region,
                    "cluster": CLUSTER.attr("id"),
                    // The profile's bounds count the pool's nodes in all its zones, kept
                    // balanced; `min_node_count`/`max_node_count` would count them per
                    // zone (a pool of 3 in three zones would be 9 nodes).
                    "initial_node_count": initial,
                    "autoscaling": {
                        "location_policy": "BALANCED",
                        "total_min_node_count": min,
                        "total_max_node_count": max
                    },
                    "management": {"auto_repair": true, "auto_upgrade": true},
                    "node_config": node_config(customer, pool),
                    // A pool's first size only: changing it replaces the pool (the
                    // provider's ForceNew), so a pool created before it was set, or a
                    // later minimum, never recreates every node (terraform-google-modules
                    // does the same).
                    "lifecycle": {"ignore_changes": ["initial_node_count"]}
                }),
            ))
        })
        .collect()
}

/// The hardening every node gets: COS, the nodes' own account, GKE's metadata server,
/// Shielded VMs.
fn default_pool_config() -> Value {
    json!({
        "image_type": "COS_CONTAINERD",
        "service_account": NODE_ACCOUNT.attr("email"),
        "oauth_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
        "metadata": {"disable-legacy-endpoints": "true"},
        "workload_metadata_config": {"mode": "GKE_METADATA"},
        "shielded_instance_config": {
            "enable_secure_boot": true,
            "enable_integrity_monitoring": true
        }
    })
}

/// A pool's nodes: the hardening of `default_pool_config`, the pool's machine type, and
/// its taints, which the compiled tolerations match.
fn node_config(customer: &Customer, pool: &NodePool) -> Value {
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
        "machine_type": pool.machine_type.clone().unwrap_or_else(|| MACHINE_TYPE.into())
    });
    if let (Some(config), Value::Object(hardening)) =
        (node_config.as_object_mut(), default_pool_config())
    {
        config.extend(hardening);
    }
    node_config["labels"] = json!({"gitopsc.io/customer": customer.name});
    if !taints.is_empty() {
        node_config["taint"] = Value::Array(taints);
    }
    node_config
}

/// GKE's service agent encrypts and decrypts with the key (its email carries the project
/// number, read from the project).
fn encrypted_with(key: &str, gcp: &Gcp) -> Vec<Block> {
    vec![
        Block::new(PROJECT, json!({"project_id": gcp.project})),
        Block::new(
            KEY_GRANT,
            json!({
                "crypto_key_id": key,
                "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
                "member": format!(
                    "serviceAccount:service-{}@container-engine-robot.iam.gserviceaccount.com",
                    PROJECT.attr("number")
                )
            }),
        ),
    ]
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

/// At most `max` characters, not ending in `-` (GCP account IDs are 6–30 characters).
fn short(name: &str, max: usize) -> String {
    let cut: String = name.chars().take(max).collect();
    cut.trim_end_matches('-').to_string()
}
