//! `dns.tf.json`: friendly names in the customer's Cloud DNS zone. The external hosts point
//! at the global address the Ingress takes, the internal name at a reserved internal
//! address the internal load balancer takes (its Service names it).

use serde_json::{Value, json};

use super::{Address, Block, File, Gcp, edge, network};
use crate::model::Customer;

const ZONE: Address = Address::data("google_dns_managed_zone", "zone");
const INTERNAL_ADDRESS: Address = Address::resource("google_compute_address", "internal");

pub(super) fn file(customer: &Customer, gcp: &Gcp) -> File {
    let Some(zone) = customer
        .profile
        .spec
        .as_ref()
        .and_then(|s| s.access.as_ref())
        .and_then(|a| a.dns_zone.clone())
    else {
        return File::default();
    };
    let record = |host: &str, address: super::Ref| {
        json!({
            "project": gcp.project,
            "managed_zone": ZONE.attr("name"),
            "name": format!("{host}."),
            "type": "A",
            "ttl": 300,
            "rrdatas": [address]
        })
    };
    let record_set =
        |name: String, body: Value| Block::new(Address::named("google_dns_record_set", name), body);
    let mut blocks = vec![Block::new(
        ZONE,
        json!({"name": zone.0, "project": gcp.project}),
    )];
    let mut records = Vec::new();
    if let Some(external) = &customer.access.external {
        if external.static_ip_name.is_some() {
            for (i, host) in external.hosts.iter().enumerate() {
                let address = edge::GLOBAL_ADDRESS.attr("address");
                records.push(record_set(format!("external_{i}"), record(host, address)));
            }
        }
    }
    if let Some(host) = customer
        .access
        .internal
        .as_ref()
        .and_then(|i| i.hostname.as_ref())
    {
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
        records.push(record_set("internal".into(), record(host, address)));
    }
    blocks.extend(records);
    File::of(blocks)
}
