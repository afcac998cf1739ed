//! Network isolation (docs/network.md): the namespace denies all traffic, then one policy
//! per workload allows exactly the flows of DESIGN §5 "Network" and nothing else.
//!
//! Policies select pods by the labels of `emit::selector`, the same ones the workloads carry,
//! so a policy can exist before its workload does (the database tier comes later) and
//! starts to apply the moment the pods appear.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Component, Object, metadata, port, selector, workload};
use crate::model::Customer;
use crate::profile::{DnsProvider, GoogleApis, MonitoringProvider};

/// Source ranges of Google's front ends and health checkers: behind the external load
/// balancer every request, and every NEG health check, comes from these
/// (https://cloud.google.com/load-balancing/docs/health-check-concepts#ip-ranges).
pub const GOOGLE_LOAD_BALANCER_RANGES: &[&str] = &["35.191.0.0/16", "130.211.0.0/22"];

/// The namespace whose Prometheus scrapes the exporters, by monitoring provider.
pub fn monitoring_namespace(provider: MonitoringProvider) -> &'static str {
    match provider {
        MonitoringProvider::PrometheusOperator => "monitoring",
        // GKE runs managed collection in `gke-gmp-system`; `gmp-system` is only the
        // namespace of self-deployed or non-GKE managed collection (docs/monitoring.md).
        MonitoringProvider::GkeManagedPrometheus => "gke-gmp-system",
    }
}

pub fn emit(customer: &Customer) -> Vec<Object> {
    let mut policies = vec![
        default_deny(customer),
        dns_egress(customer),
        app_policy(customer),
        pgpool_policy(customer),
        postgres_policy(customer),
    ];
    if customer.backup.is_some() {
        policies.push(backup_policy(customer));
    }
    if customer.archive.is_some() {
        policies.push(restore_test_policy(customer));
    }
    policies
}

fn policy(customer: &Customer, name: &str, spec: NetworkPolicySpec) -> Object {
    let policy = NetworkPolicy {
        metadata: metadata(
            customer,
            name,
            super::labels(customer, "network", "network"),
        ),
        spec: Some(spec),
    };
    Object::new(Component::NETWORK, name, &policy)
}

fn labels_selector(labels: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels),
        ..LabelSelector::default()
    }
}

/// Pods of one workload of this customer, in the policy's own namespace.
fn pods(customer: &Customer, name: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(labels_selector(selector(customer, name))),
        ..NetworkPolicyPeer::default()
    }
}

/// Every pod of a namespace, chosen by the name label Kubernetes sets on each namespace.
fn namespace(name: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(labels_selector(BTreeMap::from([(
            "kubernetes.io/metadata.name".to_string(),
            name.to_string(),
        )]))),
        ..NetworkPolicyPeer::default()
    }
}

fn ip_block(cidr: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: cidr.to_string(),
            ..IPBlock::default()
        }),
        ..NetworkPolicyPeer::default()
    }
}

fn tcp(port: IntOrString) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(port),
        protocol: Some("TCP".into()),
        ..NetworkPolicyPort::default()
    }
}

fn tcp_ports(numbers: &[i32]) -> Vec<NetworkPolicyPort> {
    numbers.iter().map(|n| tcp(IntOrString::Int(*n))).collect()
}

fn ingress(
    from: Vec<NetworkPolicyPeer>,
    ports: Vec<NetworkPolicyPort>,
) -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule {
        from: Some(from),
        ports: Some(ports),
    }
}

fn egress(to: Vec<NetworkPolicyPeer>, ports: Vec<NetworkPolicyPort>) -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        to: Some(to),
        ports: Some(ports),
    }
}

/// A policy for the pods of `name` with these rules; the policy types follow the rules, so
/// an empty direction stays governed by `default-deny` alone.
fn workload_policy(
    customer: &Customer,
    name: &str,
    ingress_rules: Vec<NetworkPolicyIngressRule>,
    egress_rules: Vec<NetworkPolicyEgressRule>,
) -> Object {
    pods_policy(
        customer,
        &format!("allow-{name}"),
        name,
        ingress_rules,
        egress_rules,
    )
}

/// The flows of a service other workloads of the customer call (an extension's): its
/// clients in on `port` and the monitoring namespace in on `metrics_port`
/// (`allow-<name>`), and each client out to it (`allow-<client>-to-<name>`). Policies add
/// up, so the clients' own policies stay as they are.
pub fn service_flows(
    customer: &Customer,
    name: &str,
    clients: &[&str],
    port: i32,
    metrics_port: i32,
) -> Vec<Object> {
    let callers = clients
        .iter()
        .map(|client| pods(customer, client))
        .collect();
    let monitoring = namespace(monitoring_namespace(customer.monitoring.provider));
    let mut policies = vec![workload_policy(
        customer,
        name,
        vec![
            ingress(callers, tcp_ports(&[port])),
            ingress(vec![monitoring], tcp_ports(&[metrics_port])),
        ],
        Vec::new(),
    )];
    for client in clients {
        policies.push(pods_policy(
            customer,
            &format!("allow-{client}-to-{name}"),
            client,
            Vec::new(),
            vec![egress(vec![pods(customer, name)], tcp_ports(&[port]))],
        ));
    }
    policies
}

fn pods_policy(
    customer: &Customer,
    policy_name: &str,
    name: &str,
    ingress_rules: Vec<NetworkPolicyIngressRule>,
    egress_rules: Vec<NetworkPolicyEgressRule>,
) -> Object {
    let mut types = Vec::new();
    if !ingress_rules.is_empty() {
        types.push("Ingress".to_string());
    }
    if !egress_rules.is_empty() {
        types.push("Egress".to_string());
    }
    policy(
        customer,
        policy_name,
        NetworkPolicySpec {
            pod_selector: Some(labels_selector(selector(customer, name))),
            policy_types: Some(types),
            ingress: (!ingress_rules.is_empty()).then_some(ingress_rules),
            egress: (!egress_rules.is_empty()).then_some(egress_rules),
        },
    )
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

/// NodeLocal DNSCache's address on every node (GKE "Set up NodeLocal DNSCache").
pub const NODE_LOCAL_DNS: &str = "169.254.20.10/32";
/// The node's metadata server: Cloud DNS for GKE answers there on port 53, and the GKE
/// metadata server (Workload Identity) on port 80 under Dataplane V2.
pub const METADATA_SERVER: &str = "169.254.169.254/32";
/// The GKE metadata server's address and ports without Dataplane V2 (Calico).
pub const METADATA_SERVER_CALICO: (&str, &[i32]) = ("169.254.169.252/32", &[987, 988]);
/// The GKE metadata server's ports at 169.254.169.254 under Dataplane V2.
pub const METADATA_PORTS: &[i32] = &[80, 8080];
pub const DNS_PORT: i32 = 53;
pub const HTTPS_PORT: i32 = 443;

/// The Private Google Access range Google APIs are reached at
/// (https://cloud.google.com/vpc/docs/configure-private-google-access#domain-options).
pub fn google_apis_range(apis: GoogleApis) -> &'static str {
    match apis {
        GoogleApis::Private => "199.36.153.8/30",
        GoogleApis::Restricted => "199.36.153.4/30",
    }
}

/// Every pod may resolve names where the cluster answers them, and nowhere else: the
/// kube-dns pods (kube-dns), the node's metadata server (Cloud DNS), and NodeLocal
/// DNSCache's link-local address when it runs. A pod selector cannot match the last two:
/// they are host-network addresses, so only an ipBlock admits them.
fn dns_egress(customer: &Customer) -> Object {
    let port = |protocol: &str| NetworkPolicyPort {
        port: Some(IntOrString::Int(DNS_PORT)),
        protocol: Some(protocol.into()),
        ..NetworkPolicyPort::default()
    };
    let mut peers = Vec::new();
    match customer.dns.provider {
        DnsProvider::KubeDns => peers.push(NetworkPolicyPeer {
            pod_selector: Some(labels_selector(BTreeMap::from([(
                "k8s-app".to_string(),
                "kube-dns".to_string(),
            )]))),
            ..namespace("kube-system")
        }),
        DnsProvider::CloudDns => peers.push(ip_block(METADATA_SERVER)),
    }
    if customer.dns.node_local_cache {
        peers.push(ip_block(NODE_LOCAL_DNS));
    }
    policy(
        customer,
        "allow-dns-egress",
        NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Egress".into()]),
            egress: Some(vec![egress(peers, vec![port("UDP"), port("TCP")])]),
            ..NetworkPolicySpec::default()
        },
    )
}

/// A pod with Workload Identity gets its tokens from the GKE metadata server and spends
/// them at Google APIs: both out, for that pod only.
fn workload_identity_egress(customer: &Customer) -> Vec<NetworkPolicyEgressRule> {
    vec![
        egress(vec![ip_block(METADATA_SERVER)], tcp_ports(METADATA_PORTS)),
        egress(
            vec![ip_block(METADATA_SERVER_CALICO.0)],
            tcp_ports(METADATA_SERVER_CALICO.1),
        ),
        egress(
            vec![ip_block(google_apis_range(customer.google_apis))],
            tcp_ports(&[HTTPS_PORT]),
        ),
    ]
}

/// App: clients of the enabled entry points and the monitoring namespace in; Pgpool out.
fn app_policy(customer: &Customer) -> Object {
    let mut clients = Vec::new();
    if let Some(internal) = &customer.access.internal {
        // The internal load balancer passes client addresses through (externalTrafficPolicy
        // Local), so the allow-list is enforced here a second time.
        clients.extend(internal.allowed.strings().iter().map(|cidr| ip_block(cidr)));
    }
    if customer.access.external.is_some() {
        clients.extend(
            GOOGLE_LOAD_BALANCER_RANGES
                .iter()
                .map(|cidr| ip_block(cidr)),
        );
    }
    clients.push(namespace(monitoring_namespace(
        customer.monitoring.provider,
    )));
    let http = vec![tcp(IntOrString::String(port::APP_NAME.into()))];
    let mut out = vec![egress(
        vec![pods(customer, workload::PGPOOL)],
        tcp_ports(&[port::PGPOOL]),
    )];
    if customer.app.gcp_service_account.is_some() {
        out.extend(workload_identity_egress(customer));
    }
    workload_policy(customer, workload::APP, vec![ingress(clients, http)], out)
}

/// Pgpool: the app (and with TLS the database's certificate check) and the monitoring
/// namespace in; PostgreSQL out.
fn pgpool_policy(customer: &Customer) -> Object {
    let tls = customer.database.tls_secret.is_some();
    workload_policy(
        customer,
        workload::PGPOOL,
        vec![
            // The database's sidecar reads the certificate Pgpool serves (certificates.py).
            ingress(
                std::iter::once(pods(customer, workload::APP))
                    .chain(tls.then(|| pods(customer, workload::POSTGRES)))
                    .collect(),
                tcp_ports(&[port::PGPOOL]),
            ),
            ingress(
                vec![namespace(monitoring_namespace(
                    customer.monitoring.provider,
                ))],
                tcp_ports(&[port::PGPOOL_EXPORTER]),
            ),
        ],
        vec![egress(
            vec![pods(customer, workload::POSTGRES)],
            tcp_ports(&[port::POSTGRES]),
        )],
    )
}

/// PostgreSQL members: Pgpool, the backup job and each other in (replication and the
/// Patroni API), the monitoring namespace to the exporter (and with TLS the served
/// certificates' expiry); each other and the Kubernetes API (Patroni keeps its leader lock
/// there) out, with TLS Pgpool (its served certificate), and with the archive, the metadata
/// server and Google APIs (pgBackRest's Workload Identity and the bucket).
fn postgres_policy(customer: &Customer) -> Object {
    let members = || vec![pods(customer, workload::POSTGRES)];
    let mut out = vec![
        egress(members(), tcp_ports(&[port::POSTGRES, port::PATRONI])),
        egress(
            vec![ip_block(&customer.control_plane.to_string())],
            tcp_ports(&[port::KUBERNETES_API]),
        ),
    ];
    if customer.archive.is_some() {
        out.extend(workload_identity_egress(customer));
    }
    let tls = customer.database.tls_secret.is_some();
    if tls {
        out.push(egress(
            vec![pods(customer, workload::PGPOOL)],
            tcp_ports(&[port::PGPOOL]),
        ));
    }
    let scraped: &[i32] = if tls {
        &[port::POSTGRES_EXPORTER, port::CERTIFICATES]
    } else {
        &[port::POSTGRES_EXPORTER]
    };
    workload_policy(
        customer,
        workload::POSTGRES,
        vec![
            ingress(
                std::iter::once(pods(customer, workload::PGPOOL))
                    .chain(
                        customer
                            .backup
                            .is_some()
                            .then(|| pods(customer, workload::BACKUP)),
                    )
                    .collect(),
                tcp_ports(&[port::POSTGRES]),
            ),
            ingress(members(), tcp_ports(&[port::POSTGRES, port::PATRONI])),
            ingress(
                vec![namespace(monitoring_namespace(
                    customer.monitoring.provider,
                ))],
                tcp_ports(scraped),
            ),
        ],
        out,
    )
}

/// The restore test: the archive (Workload Identity's metadata server and Google APIs)
/// out, nothing in: the PostgreSQL it starts listens on its own socket only.
fn restore_test_policy(customer: &Customer) -> Object {
    workload_policy(
        customer,
        workload::RESTORE_TEST,
        Vec::new(),
        workload_identity_egress(customer),
    )
}

/// The snapshot job: PostgreSQL (CHECKPOINT) and the Kubernetes API (VolumeSnapshots) out.
fn backup_policy(customer: &Customer) -> Object {
    workload_policy(
        customer,
        workload::BACKUP,
        Vec::new(),
        vec![
            egress(
                vec![pods(customer, workload::POSTGRES)],
                tcp_ports(&[port::POSTGRES]),
            ),
            egress(
                vec![ip_block(&customer.control_plane.to_string())],
                tcp_ports(&[port::KUBERNETES_API]),
            ),
        ],
    )
}
