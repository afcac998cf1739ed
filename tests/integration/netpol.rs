//! NetworkPolicy evaluation as Kubernetes defines it, for connectivity tests over compiled
//! output: a connection is allowed when the source's egress and the destination's ingress
//! both allow it. A pod is isolated in a direction once any policy of its namespace selects
//! it with that policy type; then only the union of those policies' rules lets traffic
//! through. Peers are pod selectors (same namespace), namespace selectors (with an optional
//! pod selector) and ipBlocks with exceptions; ports are numbers, names or ranges.
//! https://kubernetes.io/docs/concepts/services-networking/network-policies/

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;

/// A pod: where it runs, its labels, its named container ports.
#[derive(Debug, Clone)]
pub struct Pod {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub ports: BTreeMap<String, i64>,
}

impl Pod {
    pub fn new(namespace: &str, labels: &[(&str, &str)]) -> Pod {
        Pod {
            namespace: namespace.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ports: BTreeMap::new(),
        }
    }

    pub fn labelled(namespace: &str, labels: BTreeMap<String, String>) -> Pod {
        Pod {
            namespace: namespace.to_string(),
            labels,
            ports: BTreeMap::new(),
        }
    }

    /// A pod of a workload object (Deployment, StatefulSet): its template's labels.
    pub fn of_workload(namespace: &str, workload: &Value) -> Pod {
        let labels = workload["spec"]["template"]["metadata"]["labels"]
            .as_object()
            .expect("template labels")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        Pod::labelled(namespace, labels)
    }

    pub fn with_port(mut self, name: &str, number: i64) -> Pod {
        self.ports.insert(name.to_string(), number);
        self
    }
}

/// One end of a connection: a pod in the cluster, or an address outside it.
#[derive(Debug, Clone)]
pub enum Endpoint {
    Pod(Pod),
    Ip(IpAddr),
}

/// The policies of a cluster and the labels of its namespaces.
pub struct Cluster {
    policies: Vec<Value>,
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
}

impl Cluster {
    pub fn new(policies: Vec<Value>) -> Cluster {
        Cluster {
            policies: policies
                .into_iter()
                .filter(|p| p["kind"] == "NetworkPolicy")
                .collect(),
            namespaces: BTreeMap::new(),
        }
    }

    /// Kubernetes labels every namespace with its own name; more labels may be added.
    fn namespace_labels(&self, name: &str) -> BTreeMap<String, String> {
        let mut labels = self.namespaces.get(name).cloned().unwrap_or_default();
        labels.insert("kubernetes.io/metadata.name".into(), name.into());
        labels
    }

    /// Whether `source` may open a TCP/UDP connection to `destination` on `port`.
    pub fn allows(
        &self,
        source: &Endpoint,
        destination: &Endpoint,
        port: i64,
        protocol: &str,
    ) -> bool {
        let egress_ok = match source {
            Endpoint::Pod(pod) => self.direction_allows(pod, "Egress", destination, port, protocol),
            Endpoint::Ip(_) => true,
        };
        let ingress_ok = match destination {
            Endpoint::Pod(pod) => self.direction_allows(pod, "Ingress", source, port, protocol),
            Endpoint::Ip(_) => true,
        };
        egress_ok && ingress_ok
    }

    /// For `pod` in `direction`: not isolated, or some rule admits `peer` on the port.
    fn direction_allows(
        &self,
        pod: &Pod,
        direction: &str,
        peer: &Endpoint,
        port: i64,
        protocol: &str,
    ) -> bool {
        let selecting: Vec<&Value> = self
            .policies
            .iter()
            .filter(|p| p["metadata"]["namespace"].as_str() == Some(pod.namespace.as_str()))
            .filter(|p| selector_matches(&p["spec"]["podSelector"], &pod.labels))
            .filter(|p| policy_types(p).iter().any(|t| t == direction))
            .collect();
        if selecting.is_empty() {
            return true;
        }
        let (rules_key, peers_key) = if direction == "Ingress" {
            ("ingress", "from")
        } else {
            ("egress", "to")
        };
        // Named ports name the destination pod's container ports.
        let destination_ports = match (direction, peer) {
            ("Ingress", _) => Some(&pod.ports),
            (_, Endpoint::Pod(destination)) => Some(&destination.ports),
            _ => None,
        };
        selecting.iter().any(|policy| {
            let namespace = policy["metadata"]["namespace"].as_str().unwrap_or_default();
            policy["spec"][rules_key]
                .as_array()
                .into_iter()
                .flatten()
                .any(|rule| {
                    let peers_ok = match rule.get(peers_key).and_then(Value::as_array) {
                        None => true,
                        Some(peers) if peers.is_empty() => true,
                        Some(peers) => peers.iter().any(|p| self.peer_matches(p, namespace, peer)),
                    };
                    let ports_ok = match rule.get("ports").and_then(Value::as_array) {
                        None => true,
                        Some(ports) if ports.is_empty() => true,
                        Some(ports) => ports
                            .iter()
                            .any(|p| port_matches(p, port, protocol, destination_ports)),
                    };
                    peers_ok && ports_ok
                })
        })
    }

    fn peer_matches(&self, peer: &Value, policy_namespace: &str, endpoint: &Endpoint) -> bool {
        if let Some(block) = peer.get("ipBlock") {
            let Endpoint::Ip(ip) = endpoint else {
                // Pod addresses are not modelled: ipBlocks here name addresses outside the cluster.
                return false;
            };
            let inside = |cidr: &Value| {
                cidr.as_str()
                    .and_then(|c| gitopsc::cidr::parse_cidr(c).ok())
                    .is_some_and(|c| c.contains(*ip))
            };
            let excepted = block["except"].as_array().into_iter().flatten().any(inside);
            return inside(&block["cidr"]) && !excepted;
        }
        let Endpoint::Pod(pod) = endpoint else {
            return false;
        };
        let namespace_ok = match peer.get("namespaceSelector") {
            None => pod.namespace == policy_namespace,
            Some(selector) => selector_matches(selector, &self.namespace_labels(&pod.namespace)),
        };
        let pod_ok = match peer.get("podSelector") {
            None => true,
            Some(selector) => selector_matches(selector, &pod.labels),
        };
        namespace_ok && pod_ok
    }
}

/// `policyTypes`, or what Kubernetes infers when it is absent.
fn policy_types(policy: &Value) -> Vec<String> {
    match policy["spec"]["policyTypes"].as_array() {
        Some(types) => types
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        None => {
            let mut types = vec!["Ingress".to_string()];
            if policy["spec"].get("egress").is_some() {
                types.push("Egress".into());
            }
            types
        }
    }
}

/// A LabelSelector: matchLabels and matchExpressions, all of which must hold; `{}` matches all.
pub fn selector_matches(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    let expressions_ok = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let value = labels.get(key).map(String::as_str);
            match e["operator"].as_str() {
                Some("In") => value.is_some_and(|v| values.contains(&v)),
                Some("NotIn") => value.is_none_or(|v| !values.contains(&v)),
                Some("Exists") => value.is_some(),
                Some("DoesNotExist") => value.is_none(),
                _ => false,
            }
        });
    labels_ok && expressions_ok
}

fn port_matches(
    rule: &Value,
    port: i64,
    protocol: &str,
    named: Option<&BTreeMap<String, i64>>,
) -> bool {
    if rule["protocol"].as_str().unwrap_or("TCP") != protocol {
        return false;
    }
    let start = match &rule["port"] {
        Value::Null => return true,
        Value::Number(n) => n.as_i64(),
        Value::String(name) => named.and_then(|ports| ports.get(name).copied()),
        _ => None,
    };
    let Some(start) = start else { return false };
    let end = rule["endPort"].as_i64().unwrap_or(start);
    (start..=end).contains(&port)
}
