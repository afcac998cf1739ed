//! `network.tf.json`: the customer's VPC and subnetwork, read (in the host project for a
//! Shared VPC) or created with Private Google Access, flow logs and the secondary ranges
//! GKE uses; and, when asked, Cloud Router and Cloud NAT for the private nodes' egress.

use serde_json::json;

use super::{Address, Block, File, Gcp};
use crate::model::Customer;

/// The secondary ranges of a created subnetwork, which the cluster's pods and Services use.
pub const PODS_RANGE: &str = "pods";
pub const SERVICES_RANGE: &str = "services";
const NETWORK: &str = "network";
const CONTROL_PLANE: Address = Address::data("google_compute_subnetwork", "control_plane");
const SUBNETWORK: &str = "nodes";
const ROUTER: Address = Address::resource("google_compute_router", "nat");
const NAT: Address = Address::resource("google_compute_router_nat", "nat");
const DENY_INGRESS: Address = Address::resource("google_compute_firewall", "deny_ingress");
const GOOGLE_APIS_ZONE: Address = Address::resource("google_dns_managed_zone", "googleapis");

/// The VPC: the block that creates it, or the one that reads it.
pub fn network(gcp: &Gcp) -> Address {
    match gcp.create {
        Some(_) => Address::resource("google_compute_network", NETWORK),
        None => Address::data("google_compute_network", NETWORK),
    }
}

/// The nodes' subnetwork: the block that creates it, or the one that reads it.
pub fn subnetwork(gcp: &Gcp) -> Address {
    match gcp.create {
        Some(_) => Address::resource("google_compute_subnetwork", SUBNETWORK),
        None => Address::data("google_compute_subnetwork", SUBNETWORK),
    }
}

/// The subnetwork a Private Service Connect cluster takes its endpoint from, when the
/// profile names one.
pub fn control_plane_subnetwork(gcp: &Gcp) -> Option<Address> {
    gcp.endpoint_subnetwork.as_ref().map(|_| CONTROL_PLANE)
}

pub(super) fn file(customer: &Customer, gcp: &Gcp) -> File {
    let mut blocks = match &gcp.create {
        None => read(gcp),
        Some(ranges) => {
            let mut blocks = create(customer, gcp, ranges);
            blocks.extend(google_apis_zone(customer, gcp));
            blocks
        }
    };
    if let Some(name) = &gcp.endpoint_subnetwork {
        // The NetworkPolicies allow this range for the Kubernetes API: the plan checks that
        // it is the subnetwork's.
        let range = customer.control_plane.to_string();
        blocks.push(Block::new(
            CONTROL_PLANE,
            json!({
                "name": name,
                "region": gcp.region,
                "project": gcp.network_project,
                "lifecycle": {"postcondition": [{
                    "condition": format!("${{self.ip_cidr_range == \"{range}\"}}"),
                    "error_message": format!(
                        "subnetwork {name} of project {} has another range than {range}, the control plane's range the NetworkPolicies allow (infrastructure.cluster.masterIpv4CidrBlock)",
                        gcp.network_project
                    )
                }]}
            }),
        ));
    }
    if gcp.cloud_nat {
        blocks.extend(nat(customer, gcp));
    }
    File::of(blocks)
}

fn read(gcp: &Gcp) -> Vec<Block> {
    vec![
        Block::new(
            network(gcp),
            json!({"name": gcp.network, "project": gcp.network_project}),
        ),
        Block::new(
            subnetwork(gcp),
            json!({
                "name": gcp.subnetwork,
                "region": gcp.region,
                "project": gcp.network_project,
                "lifecycle": {"postcondition": read_conditions(gcp)}
            }),
        ),
    ]
}

/// What the plan checks of a subnetwork it reads, before anything is created: Private
/// Google Access (the private nodes and the Workload Identity pods reach Google APIs only
/// through it; on a Shared VPC only the host project's admin can turn it on), and the
/// secondary ranges the cluster names.
fn read_conditions(gcp: &Gcp) -> Vec<serde_json::Value> {
    let place = format!(
        "subnetwork {} of project {} ({})",
        gcp.subnetwork, gcp.network_project, gcp.region
    );
    let mut conditions = vec![json!({
        "condition": "${self.private_ip_google_access}",
        "error_message": format!(
            "Private Google Access is off on {place}: the private nodes and the pods with Workload Identity reach Google APIs only through it. Its project's network admin turns it on (docs/infrastructure.md, \"Shared VPC\")."
        )
    })];
    if let Some((pods, services)) = &gcp.secondary_ranges {
        for (what, range) in [("pods", pods), ("Services", services)] {
            conditions.push(json!({
                "condition": format!("${{contains(self.secondary_ip_range[*].range_name, \"{range}\")}}"),
                "error_message": format!(
                    "{place} has no secondary range `{range}` for the {what} (gcp.secondaryRanges)."
                )
            }));
        }
    }
    conditions
}

fn create(customer: &Customer, gcp: &Gcp, ranges: &crate::profile::NetworkRanges) -> Vec<Block> {
    let range = |r: &Option<crate::profile::CidrRange>| r.clone().map(String::from);
    vec![
        Block::new(
            network(gcp),
            json!({
                "name": gcp.network,
                "project": gcp.network_project,
                "auto_create_subnetworks": false,
                "routing_mode": "REGIONAL"
            }),
        ),
        Block::new(
            subnetwork(gcp),
            json!({
                "name": gcp.subnetwork,
                "project": gcp.network_project,
                "region": gcp.region,
                "network": network(gcp).attr("id"),
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
            }),
        ),
        // A created network states its baseline: no ingress but what a rule of higher
        // priority allows (GKE's own rules, the entry points'), logged.
        Block::new(
            DENY_INGRESS,
            json!({
                "name": super::gce_name(&customer.name, "deny-ingress"),
                "project": gcp.network_project,
                "network": network(gcp).attr("self_link"),
                "direction": "INGRESS",
                "priority": 65534,
                "source_ranges": ["0.0.0.0/0"],
                "deny": [{"protocol": "all"}],
                "log_config": {"metadata": "INCLUDE_ALL_METADATA"}
            }),
        ),
    ]
}

/// The VPC resolves `*.googleapis.com` to the Private Google Access addresses the pods'
/// egress allows (`gcp.googleApis`): a private zone for `googleapis.com.` bound to the
/// created network, as Google's Private Google Access guide sets it up. For a network
/// gitopsc reads, the zone is the network owner's (PREREQUISITES.md).
fn google_apis_zone(customer: &Customer, gcp: &Gcp) -> Vec<Block> {
    let range = crate::emit::network::google_apis_range(customer.google_apis);
    let name = match customer.google_apis {
        crate::profile::GoogleApis::Private => "private.googleapis.com.",
        crate::profile::GoogleApis::Restricted => "restricted.googleapis.com.",
    };
    let addresses: Vec<String> = match crate::cidr::parse_cidr(range).map(|c| c.address) {
        Ok(std::net::IpAddr::V4(first)) => (0..4u32)
            .map(|i| std::net::Ipv4Addr::from(u32::from(first) + i).to_string())
            .collect(),
        _ => Vec::new(),
    };
    let record = |label: &str, kind: &str, data: Vec<String>| {
        Block::new(
            Address::named("google_dns_record_set", format!("googleapis_{label}")),
            json!({
                "project": gcp.network_project,
                "managed_zone": GOOGLE_APIS_ZONE.attr("name"),
                "name": if kind == "A" { name.to_string() } else { "*.googleapis.com.".to_string() },
                "type": kind,
                "ttl": 300,
                "rrdatas": data
            }),
        )
    };
    vec![
        Block::new(
            GOOGLE_APIS_ZONE,
            json!({
                "name": super::gce_name(&customer.name, "googleapis"),
                "project": gcp.network_project,
                "dns_name": "googleapis.com.",
                "description": "Private Google Access: Google APIs at the addresses the pods' egress allows",
                "visibility": "private",
                "private_visibility_config": {
                    "networks": [{"network_url": network(gcp).attr("id")}]
                }
            }),
        ),
        record("a", "A", addresses),
        record("cname", "CNAME", vec![name.to_string()]),
    ]
}

fn nat(customer: &Customer, gcp: &Gcp) -> [Block; 2] {
    [
        Block::new(
            ROUTER,
            json!({
                "name": super::gce_name(&customer.name, "router"),
                "project": gcp.network_project,
                "region": gcp.region,
                "network": network(gcp).attr("id")
            }),
        ),
        Block::new(
            NAT,
            json!({
                "name": super::gce_name(&customer.name, "nat"),
                "project": gcp.network_project,
                "region": gcp.region,
                "router": ROUTER.attr("name"),
                "nat_ip_allocate_option": "AUTO_ONLY",
                "source_subnetwork_ip_ranges_to_nat": "LIST_OF_SUBNETWORKS",
                "subnetwork": [{
                    "name": subnetwork(gcp).attr("id"),
                    "source_ip_ranges_to_nat": ["ALL_IP_RANGES"]
                }],
                // Ports follow each node's connections (64 up to 4,096), instead of a fixed
                // 64 per VM that a busy node exhausts; Google's rule: dynamic allocation
                // excludes endpoint-independent mapping.
                "enable_dynamic_port_allocation": true,
                "enable_endpoint_independent_mapping": false,
                "min_ports_per_vm": 64,
                "max_ports_per_vm": 4096,
                "log_config": {"enable": true, "filter": "ERRORS_ONLY"}
            }),
        ),
    ]
}
