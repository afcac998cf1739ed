//! Network isolation: the namespace denies all traffic unless a policy allows it.
//!
//! This is the floor every component builds on; the flows between components and from the
//! allow-listed clients are added as policies beside these two.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Component, Object, metadata};
use crate::model::Customer;

pub fn emit(customer: &Customer) -> Vec<Object> {
    vec![default_deny(customer), dns_egress(customer)]
}

fn labels(customer: &Customer) -> BTreeMap<String, String> {
    super::labels(customer, "network", "network")
}

fn policy(customer: &Customer, name: &str, spec: NetworkPolicySpec) -> Object {
    let policy = NetworkPolicy {
        metadata: metadata(customer, name, labels(customer)),
        spec: Some(spec),
    };
    Object::new(Component::Network, name, &policy)
}

/// Every pod of the namespace: no traffic in or out unless another policy allows it.
fn default_deny(customer: &Customer) -> Object {
    policy(
        customer,
        "default-deny",
        NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ..NetworkPolicySpec::default()
        },
    )
}

/// Every pod may resolve names through kube-dns, and nothing else in kube-system.
fn dns_egress(customer: &Customer) -> Object {
    let port = |protocol: &str| NetworkPolicyPort {
        port: Some(IntOrString::Int(53)),
        protocol: Some(protocol.into()),
        ..NetworkPolicyPort::default()
    };
    policy(
        customer,
        "allow-dns-egress",
        NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Egress".into()]),
            egress: Some(vec![NetworkPolicyEgressRule {
                to: Some(vec![NetworkPolicyPeer {
                    namespace_selector: Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([(
                            "kubernetes.io/metadata.name".to_string(),
                            "kube-system".to_string(),
                        )])),
                        ..LabelSelector::default()
                    }),
                    pod_selector: Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([(
                            "k8s-app".to_string(),
                            "kube-dns".to_string(),
                        )])),
                        ..LabelSelector::default()
                    }),
                    ..NetworkPolicyPeer::default()
                }]),
                ports: Some(vec![port("UDP"), port("TCP")]),
            }]),
            ..NetworkPolicySpec::default()
        },
    )
}
