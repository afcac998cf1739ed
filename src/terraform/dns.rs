//! `dns.tf.json`: friendly names in the customer's Cloud DNS zones. The external hosts point
//! at the global address the Ingress takes, in the public zone; the internal name at a
//! reserved internal address the internal load balancer takes (its Service names it), in
//! the private zone. The plan checks each zone's visibility.

use serde_json::json;

use super::{Address, Block, File, Gcp, edge, network};
use crate::model::Customer;

const ZONE: Address = Address::data("google_dns_managed_zone", "zone");
const INTERNAL_ZONE: Address = Address::data("google_dns_managed_zone", "internal");
const INTERNAL_ADDRESS: Address = Address::resource("google_compute_address", "internal");

pub(super) fn file(customer: &Customer, gcp: &Gcp) -> File {
    let access = customer
        .profile
        .spec
        .as_ref()
        .and_then(|s| s.access.as_ref());
    let mut blocks = Vec::new();
    let mut records = Vec::new();
    if let Some(zone) = access.and_then(|a| a.dns_zone.as_ref()) {
        blocks.push(zone_block(gcp, zone, ZONE, "public"));
        if let Some(external) = &customer.access.external {
            if external.static_ip_name.is_some() {
                for (i, host) in external.hosts.iter().enumerate() {
                    let address = edge::GLOBAL_ADDRESS.attr("address");
                    records.push(record(gcp, format!("external_{i}"), &ZONE, host, address));
                }
            }
        }
    }
    let internal_zone = access.and_then(|a| a.internal_dns_zone.as_ref());
    let hostname = customer
        .access
        .internal
        .as_ref()
        .and_then(|i| i.hostname.as_ref());
    if let (Some(zone), Some(host)) = (internal_zone, hostname) {
        blocks.push(zone_block(gcp, zone, INTERNAL_ZONE, "private"));
        blocks.push(Block::new(
            INTERNAL_ADDRESS,
            json!({
                "name": crate::emit::names::internal_address(&customer.name),
                "project": gcp.project,
                "region": gcp.region,
                "subnetwork": network::subnetwork(gcp).attr("self_link"),
                "address_type": "INTERNAL"
            }),
        ));
        let address = INTERNAL_ADDRESS.attr("address");
        records.push(record(
            gcp,
            "internal".into(),
            &INTERNAL_ZONE,
            host,
            address,
        ));
    }
    blocks.extend(records);
    File::of(blocks)
}

/// A zone of the customer's project, read, and checked at plan for its visibility.
fn zone_block(
    gcp: &Gcp,
    zone: &crate::profile::DnsLabel,
    address: Address,
    visibility: &str,
) -> Block {
    let why = if visibility == "public" {
        "the external hosts' records would not resolve on the internet (access.dnsZone)"
    } else {
        "the internal address would be published (access.internalDnsZone)"
    };
    Block::new(
        address,
        json!({
            "name": zone.0,
            "project": gcp.project,
            "lifecycle": {"postcondition": [{
                "condition": format!("${{self.visibility == \"{visibility}\"}}"),
                "error_message": format!(
                    "Cloud DNS zone {} of project {} is not {visibility}: {why}",
                    zone.0, gcp.project
                )
            }]}
        }),
    )
}

/// An A record of `host` at `address` in `zone`.
fn record(gcp: &Gcp, name: String, zone: &Address, host: &str, address: super::Ref) -> Block {
    Block::new(
        Address::named("google_dns_record_set", name),
        json!({
            "project": gcp.project,
            "managed_zone": zone.attr("name"),
            "name": format!("{host}."),
            "type": "A",
            "ttl": 300,
            "rrdatas": [address]
        }),
    )
}
