//! `edge.tf.json`: Cloud Armor with the external allow-list and a default deny, the global
//! address, the SSL policy, and the firewall that admits the internal allow-list.

use serde_json::{Value, json};

use super::{Address, Block, File, Gcp, NODE_ACCOUNT, network};
use crate::cidr::Cidr;
use crate::model::{Customer, ExternalEntry, InternalEntry};

/// The external entry's global address, which its DNS records point at.
pub const GLOBAL_ADDRESS: Address = Address::resource("google_compute_global_address", "ingress");
const SECURITY_POLICY: Address = Address::resource("google_compute_security_policy", "edge");
const SSL_POLICY: Address = Address::resource("google_compute_ssl_policy", "ingress");
const INTERNAL_CLIENTS: Address = Address::resource("google_compute_firewall", "internal_clients");
/// The IPv6 part of the internal allow-list: a firewall rule takes one address family.
const INTERNAL_CLIENTS_V6: Address =
    Address::resource("google_compute_firewall", "internal_clients_v6");
const HEALTH_CHECKS: Address = Address::resource("google_compute_firewall", "health_checks");
/// Cloud Armor takes at most 10 source ranges in one rule's `src_ip_ranges`.
pub const RANGES_PER_RULE: usize = 10;
/// The lowest priority Cloud Armor allows: the default rule's.
const DEFAULT_RULE_PRIORITY: i64 = 2_147_483_647;
/// Google's load balancer health checkers (docs/access.md).
pub const HEALTH_CHECK_RANGES: &[&str] = &["35.191.0.0/16", "130.211.0.0/22"];

pub(super) fn file(customer: &Customer, gcp: &Gcp) -> File {
    let mut blocks = Vec::new();
    if let Some(external) = &customer.access.external {
        blocks.extend(external_entry(customer, gcp, external));
    }
    if let Some(internal) = &customer.access.internal {
        blocks.extend(internal_entry(customer, gcp, internal));
    }
    if customer.access.external.is_some() || customer.access.internal.is_some() {
        blocks.push(health_checks(customer, gcp));
    }
    File::of(blocks)
}

/// Google's health checkers and front ends to the nodes: the external entry's load balancer
/// sends checks and proxied requests to the app's pods (container-native, the pod port),
/// the internal one checks the nodes (kube-proxy's health endpoint and the node ports a
/// Service's `healthCheckNodePort` is taken from). Compiled here, in the network's
/// project, because GKE's controllers cannot create it in a Shared VPC's host project
/// (ingress-gce `FirewallXPNError`): they only report it.
fn health_checks(customer: &Customer, gcp: &Gcp) -> Block {
    Block::new(
        HEALTH_CHECKS,
        json!({
            "name": super::gce_name(&customer.name, "health-checks"),
            "project": gcp.network_project,
            "network": network::network(gcp).attr("self_link"),
            "direction": "INGRESS",
            "source_ranges": HEALTH_CHECK_RANGES,
            "target_service_accounts": [NODE_ACCOUNT.attr("email")],
            "allow": [{
                "protocol": "tcp",
                "ports": [customer.app.port.to_string(), "10256", "30000-32767"]
            }]
        }),
    )
}

fn external_entry(customer: &Customer, gcp: &Gcp, external: &ExternalEntry) -> Vec<Block> {
    let mut blocks = vec![Block::new(
        SECURITY_POLICY,
        json!({
            "name": external.cloud_armor_policy,
            "project": gcp.project,
            "description": format!("The allow-list of {}'s external entry point", customer.name),
            "rule": armor_rules(external)
        }),
    )];
    if let Some(address) = &external.static_ip_name {
        blocks.push(Block::new(
            GLOBAL_ADDRESS,
            json!({"name": address, "project": gcp.project}),
        ));
    }
    if let Some(policy) = &external.ssl_policy {
        blocks.push(Block::new(
            SSL_POLICY,
            json!({
                "name": policy,
                "project": gcp.project,
                "profile": "MODERN",
                "min_tls_version": "TLS_1_2"
            }),
        ));
    }
    blocks
}

/// The allow-list in rules of at most `RANGES_PER_RULE` ranges, then the Log4j rule and the
/// default deny.
fn armor_rules(external: &ExternalEntry) -> Vec<Value> {
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
    // Before the allow rules: a request carrying a Log4j JNDI lookup is refused even from an
    // allowed range.
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
    rules
}

fn internal_entry(customer: &Customer, gcp: &Gcp, internal: &InternalEntry) -> Vec<Block> {
    let nodes = NODE_ACCOUNT.attr("email");
    let network = network::network(gcp).attr("self_link");
    // GCP refuses a rule whose source ranges mix IPv4 and IPv6: one rule per family.
    let (v6, v4): (Vec<&Cidr>, Vec<&Cidr>) = internal
        .allowed
        .ranges()
        .iter()
        .partition(|range| range.address.is_ipv6());
    [(INTERNAL_CLIENTS, "", v4), (INTERNAL_CLIENTS_V6, "-v6", v6)]
        .into_iter()
        .filter(|(_, _, ranges)| !ranges.is_empty())
        .map(|(address, suffix, ranges)| {
            let ranges: Vec<String> = ranges.iter().map(ToString::to_string).collect();
            Block::new(
                address,
                json!({
                    "name": super::gce_name(&customer.name, &format!("internal-clients{suffix}")),
                    "project": gcp.network_project,
                    "network": network,
                    "direction": "INGRESS",
                    "source_ranges": ranges,
                    "target_service_accounts": [nodes],
                    "allow": [{"protocol": "tcp", "ports": [customer.app.port.to_string()]}]
                }),
            )
        })
        .collect()
}
