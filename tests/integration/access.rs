//! Entry points and network isolation of compiled customers (docs/access.md, docs/network.md).

use std::collections::BTreeSet;
use std::net::IpAddr;

use gitopsc::compiler::Compiled;
use gitopsc::emit::{port, selector, workload};
use gitopsc::profile::DnsProvider;
use serde_json::Value;

use super::netpol::{Cluster, Endpoint, Pod};

fn customer(name: &str) -> Compiled {
    super::compiled_customer(name)
}

fn objects(compiled: &Compiled) -> Vec<Value> {
    super::compiled_objects(compiled)
        .into_iter()
        .map(|(_, object)| object)
        .collect()
}

fn access_kinds(compiled: &Compiled) -> BTreeSet<String> {
    compiled
        .output
        .as_ref()
        .expect("compiled output")
        .files
        .keys()
        .filter_map(|path| path.strip_prefix("access/"))
        .map(|file| file.trim_end_matches(".yaml").to_string())
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

#[test]
fn entry_points_follow_the_profile() {
    let set = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    // Both: internal load balancer and the whole external chain.
    assert_eq!(
        access_kinds(&customer("acme")),
        set(&[
            "backendconfig-app",
            "frontendconfig-app",
            "ingress-app",
            "managedcertificate-app",
            "service-app-internal"
        ])
    );
    // Internal only.
    assert_eq!(
        access_kinds(&customer("globex")),
        set(&["service-app-internal"])
    );
    // Neither: nothing is exposed.
    assert_eq!(access_kinds(&customer("initech")), set(&[]));
    // External only, with the customer's own certificate: no ManagedCertificate.
    assert_eq!(
        access_kinds(&customer("pendant")),
        set(&["backendconfig-app", "frontendconfig-app", "ingress-app"])
    );

    for name in ["acme", "globex", "initech", "pendant"] {
        let compiled = customer(name);
        let all = objects(&compiled);
        let service = find(&all, "Service", "app");
        let external = crate::model(&compiled).access.external.is_some();
        assert_eq!(
            service["metadata"]["annotations"]["cloud.google.com/neg"].as_str(),
            external.then_some(r#"{"ingress": true}"#),
            "{name}: NEG annotation only with the external entry"
        );
    }
}

#[test]
fn internal_entry_carries_the_normalised_allow_list() {
    let acme = objects(&customer("acme"));
    let service = find(&acme, "Service", "app-internal");
    assert_eq!(service["spec"]["type"], "LoadBalancer");
    assert_eq!(
        service["metadata"]["annotations"]["networking.gke.io/load-balancer-type"],
        "Internal"
    );
    assert_eq!(
        service["spec"]["loadBalancerSourceRanges"],
        serde_json::json!(["10.20.0.0/16", "10.30.4.0/24"])
    );
    assert!(service["metadata"]["annotations"]["networking.gke.io/internal-load-balancer-allow-global-access"].is_null());

    // Repeats and covered ranges are dropped; IPv4 before IPv6; global access on request.
    let vandelay = objects(&customer("vandelay"));
    let service = find(&vandelay, "Service", "app-internal");
    assert_eq!(
        service["spec"]["loadBalancerSourceRanges"],
        serde_json::json!(["10.40.0.0/16", "192.168.10.0/24", "fd00:10::/48"])
    );
    assert_eq!(
        service["metadata"]["annotations"]["networking.gke.io/internal-load-balancer-allow-global-access"],
        "true"
    );
}

#[test]
fn external_entry_is_https_only_and_armoured() {
    let acme = objects(&customer("acme"));
    let ingress = find(&acme, "Ingress", "app");
    let annotations = &ingress["metadata"]["annotations"];
    assert_eq!(annotations["kubernetes.io/ingress.class"], "gce");
    assert_eq!(annotations["kubernetes.io/ingress.allow-http"], "false");
    assert_eq!(
        annotations["kubernetes.io/ingress.global-static-ip-name"],
        "acme-api-ip"
    );
    assert_eq!(annotations["networking.gke.io/managed-certificates"], "app");
    assert_eq!(
        annotations["networking.gke.io/v1beta1.FrontendConfig"],
        "app"
    );
    let backend = find(&acme, "BackendConfig", "app");
    assert_eq!(backend["spec"]["securityPolicy"]["name"], "acme-allowlist");
    assert_eq!(backend["spec"]["healthCheck"]["requestPath"], "/readyz");
    let deployment = find(&acme, "Deployment", "app");
    assert_eq!(
        backend["spec"]["connectionDraining"]["drainingTimeoutSec"],
        deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
        "the load balancer drains for as long as a pod takes to stop"
    );
    let certificate = find(&acme, "ManagedCertificate", "app");
    assert_eq!(
        certificate["spec"]["domains"],
        serde_json::json!(["api.acme.example.com"])
    );

    // `tls: secret` with a redirect: port 80 answers with a redirect, the Secret is referenced.
    let pendant = objects(&customer("pendant"));
    let ingress = find(&pendant, "Ingress", "app");
    assert!(ingress["metadata"]["annotations"]["kubernetes.io/ingress.allow-http"].is_null());
    assert_eq!(ingress["spec"]["tls"][0]["secretName"], "pendant-tls");
    let frontend = find(&pendant, "FrontendConfig", "app");
    assert_eq!(frontend["spec"]["redirectToHttps"]["enabled"], true);
    assert_eq!(frontend["spec"]["sslPolicy"], "pendant-modern");
    assert!(
        pendant.iter().all(|o| o["kind"] != "Secret"),
        "a Secret is referenced, never emitted"
    );
}

/// The cells of the connectivity matrix: who talks to whom, on which port.
struct Matrix {
    sources: Vec<(String, Endpoint)>,
    destinations: Vec<(String, Endpoint)>,
    ports: Vec<(i64, &'static str)>,
}

/// Pods of every component of the stack and addresses around it, for one customer.
fn matrix(compiled: &Compiled) -> Matrix {
    let customer = crate::model(compiled);
    let ns = customer.namespace.as_str();
    let pod = |name: &str| Pod::labelled(ns, selector(customer, name));
    // The app pod carries exactly the labels of the compiled Deployment's template.
    let all = objects(compiled);
    let app = Pod::of_workload(ns, find(&all, "Deployment", "app"))
        .with_port("http", i64::from(customer.app.port));
    let monitoring = gitopsc::emit::network::monitoring_namespace(customer.monitoring.provider);
    let ip = |text: &str| Endpoint::Ip(text.parse::<IpAddr>().expect("address"));
    let control_plane = {
        let base = customer.control_plane.address;
        let IpAddr::V4(v4) = base else {
            panic!("IPv4 control plane")
        };
        // An address of the range (a /32 is the endpoint itself).
        let offset = if customer.control_plane.prefix == 32 {
            0
        } else {
            2
        };
        Endpoint::Ip(IpAddr::V4(std::net::Ipv4Addr::from(u32::from(v4) + offset)))
    };
    // An address inside the profile's Private Google Access range.
    let google_apis = {
        let range = gitopsc::cidr::parse_cidr(gitopsc::emit::network::google_apis_range(
            customer.google_apis,
        ))
        .expect("range");
        let IpAddr::V4(v4) = range.address else {
            panic!("IPv4 range")
        };
        Endpoint::Ip(IpAddr::V4(std::net::Ipv4Addr::from(u32::from(v4) + 1)))
    };
    let internal_client = customer
        .access
        .internal
        .as_ref()
        .map(|i| i.allowed.ranges()[0].address.to_string())
        .unwrap_or_else(|| "10.20.0.9".into());
    let pods = vec![
        ("app".to_string(), Endpoint::Pod(app)),
        (
            "pgpool".to_string(),
            Endpoint::Pod(pod(workload::PGPOOL).with_port("pgpool", i64::from(port::PGPOOL))),
        ),
        (
            "postgres".to_string(),
            Endpoint::Pod(pod(workload::POSTGRES)),
        ),
        ("backup".to_string(), Endpoint::Pod(pod(workload::BACKUP))),
        (
            "restore-test".to_string(),
            Endpoint::Pod(pod(workload::RESTORE_TEST)),
        ),
        (
            "debug-pod".to_string(),
            Endpoint::Pod(Pod::new(ns, &[("run", "debug")])),
        ),
        (
            "prometheus".to_string(),
            Endpoint::Pod(Pod::new(
                monitoring,
                &[("app.kubernetes.io/name", "prometheus")],
            )),
        ),
        (
            "other-namespace".to_string(),
            Endpoint::Pod(Pod::new("other", &[("app.kubernetes.io/name", "app")])),
        ),
    ];
    let mut sources = pods.clone();
    sources.extend([
        ("internal-client".to_string(), ip(&internal_client)),
        ("unlisted-vpc-client".to_string(), ip("10.250.0.1")),
        ("google-front-end".to_string(), ip("35.191.3.4")),
        ("internet".to_string(), ip("8.8.8.8")),
    ]);
    let mut destinations = pods;
    destinations.extend([
        (
            "kube-dns".to_string(),
            Endpoint::Pod(Pod::new("kube-system", &[("k8s-app", "kube-dns")])),
        ),
        (
            "kube-system-other".to_string(),
            Endpoint::Pod(Pod::new("kube-system", &[("k8s-app", "metrics-server")])),
        ),
        ("control-plane".to_string(), control_plane),
        ("internet".to_string(), ip("8.8.8.8")),
        ("node-local-dns".to_string(), ip("169.254.20.10")),
        ("metadata-server".to_string(), ip("169.254.169.254")),
        ("metadata-server-calico".to_string(), ip("169.254.169.252")),
        ("google-apis".to_string(), google_apis),
        ("google-apis-public".to_string(), ip("142.250.64.74")),
    ]);
    let app_port = i64::from(customer.app.port);
    Matrix {
        sources,
        destinations,
        ports: vec![
            (app_port, "TCP"),
            (i64::from(port::PGPOOL), "TCP"),
            (i64::from(port::POSTGRES), "TCP"),
            (i64::from(port::PATRONI), "TCP"),
            (i64::from(port::POSTGRES_EXPORTER), "TCP"),
            (i64::from(port::PGPOOL_EXPORTER), "TCP"),
            (i64::from(port::KUBERNETES_API), "TCP"),
            (53, "UDP"),
            (53, "TCP"),
            (22, "TCP"),
            (80, "TCP"),
            (8080, "TCP"),
            (987, "TCP"),
            (988, "TCP"),
        ],
    }
}

/// DESIGN §5 "Network", as (source, destination, port) cells; everything else is denied.
fn expected(compiled: &Compiled, source: &str, destination: &str, port_number: i64) -> bool {
    let customer = crate::model(compiled);
    let app_port = i64::from(customer.app.port);
    let in_namespace = [
        "app",
        "pgpool",
        "postgres",
        "backup",
        "restore-test",
        "debug-pod",
    ];
    let backup = customer.backup.is_some();
    let tls = customer.database.tls_secret.is_some();
    // Workload Identity: the app when it has a GSA; the database members when they
    // archive to the bucket (pgBackRest's tokens and GCS), and the restore test reading it.
    let workload_identity = match source {
        "app" => customer.app.gcp_service_account.is_some(),
        "postgres" | "restore-test" => customer.archive.is_some(),
        _ => false,
    };
    match (source, destination) {
        ("internal-client", "app") => customer.access.internal.is_some() && port_number == app_port,
        ("google-front-end", "app") => {
            customer.access.external.is_some() && port_number == app_port
        }
        ("prometheus", "app") => port_number == app_port,
        ("app", "pgpool") => port_number == i64::from(port::PGPOOL),
        ("prometheus", "pgpool") => port_number == i64::from(port::PGPOOL_EXPORTER),
        ("pgpool", "postgres") => port_number == i64::from(port::POSTGRES),
        ("backup", "postgres") => backup && port_number == i64::from(port::POSTGRES),
        ("postgres", "postgres") => [port::POSTGRES, port::PATRONI]
            .map(i64::from)
            .contains(&port_number),
        ("prometheus", "postgres") => {
            port_number == i64::from(port::POSTGRES_EXPORTER)
                || (tls && port_number == i64::from(port::CERTIFICATES))
        }
        // The database sidecar reads the certificate Pgpool serves (certificates.py).
        ("postgres", "pgpool") => tls && port_number == i64::from(port::PGPOOL),
        ("postgres", "control-plane") => port_number == i64::from(port::KUBERNETES_API),
        ("backup", "control-plane") => backup && port_number == i64::from(port::KUBERNETES_API),
        // DNS goes where the cluster answers it, from every pod of the namespace.
        (source, "kube-dns") if in_namespace.contains(&source) => {
            port_number == 53 && customer.dns.provider == DnsProvider::KubeDns
        }
        (source, "node-local-dns") if in_namespace.contains(&source) => {
            port_number == 53 && customer.dns.node_local_cache
        }
        (source, "metadata-server") if in_namespace.contains(&source) => {
            (port_number == 53 && customer.dns.provider == DnsProvider::CloudDns)
                || (workload_identity && [80, 8080].contains(&port_number))
        }
        (_, "metadata-server-calico") => workload_identity && [987, 988].contains(&port_number),
        (_, "google-apis") => workload_identity && port_number == 443,
        _ => false,
    }
}

/// Only cells our policies govern: one end in the customer's namespace.
fn governed(source: &Endpoint, destination: &Endpoint, namespace: &str) -> bool {
    let inside = |e: &Endpoint| matches!(e, Endpoint::Pod(p) if p.namespace == namespace);
    inside(source) || inside(destination)
}

/// Every governed cell as (description, allowed).
fn evaluate(cluster: &Cluster, compiled: &Compiled) -> Vec<(String, bool)> {
    let matrix = matrix(compiled);
    let mut cells = Vec::new();
    for (source_name, source) in &matrix.sources {
        for (destination_name, destination) in &matrix.destinations {
            if !governed(source, destination, &crate::model(compiled).namespace) {
                continue;
            }
            for (number, protocol) in &matrix.ports {
                cells.push((
                    format!("{source_name} -> {destination_name}:{number}/{protocol}"),
                    cluster.allows(source, destination, *number, protocol),
                ));
            }
        }
    }
    cells
}

#[test]
fn connectivity_matrix_matches_the_design() {
    for compiled in super::compiled_customers() {
        let cluster = Cluster::new(objects(&compiled));
        let matrix = matrix(&compiled);
        let mut wrong = Vec::new();
        let mut allowed = 0;
        for (source_name, source) in &matrix.sources {
            for (destination_name, destination) in &matrix.destinations {
                if !governed(source, destination, &crate::model(&compiled).namespace) {
                    continue;
                }
                for (number, protocol) in &matrix.ports {
                    let actual = cluster.allows(source, destination, *number, protocol);
                    let want = expected(&compiled, source_name, destination_name, *number);
                    allowed += usize::from(actual);
                    if actual != want {
                        wrong.push(format!(
                            "{source_name} -> {destination_name}:{number}/{protocol}: expected {}, got {}",
                            if want { "allow" } else { "deny" },
                            if actual { "allow" } else { "deny" }
                        ));
                    }
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "{}: connectivity differs from the design:\n{}",
            compiled.member.name,
            wrong.join("\n")
        );
        assert!(
            allowed >= 10,
            "{}: the matrix allows some flows",
            compiled.member.name
        );
    }
}

/// Removing any one compiled NetworkPolicy changes at least one cell: every policy matters,
/// and the matrix test would catch its loss.
#[test]
fn every_policy_is_load_bearing() {
    let acme = customer("acme");
    let all = objects(&acme);
    let full = evaluate(&Cluster::new(all.clone()), &acme);
    let policies: Vec<&Value> = all
        .iter()
        .filter(|o| o["kind"] == "NetworkPolicy")
        .collect();
    assert!(
        policies.len() >= 6,
        "default-deny, DNS and one per workload"
    );
    for policy in policies {
        let name = policy["metadata"]["name"].as_str().unwrap_or_default();
        let without: Vec<Value> = all.iter().filter(|o| *o != policy).cloned().collect();
        let reduced = evaluate(&Cluster::new(without), &acme);
        let changed: Vec<&String> = full
            .iter()
            .zip(&reduced)
            .filter(|(a, b)| a.1 != b.1)
            .map(|(a, _)| &a.0)
            .collect();
        assert!(
            !changed.is_empty(),
            "removing NetworkPolicy {name} changes nothing"
        );
    }
}

#[test]
fn evaluator_follows_kubernetes_semantics() {
    use serde_json::json;
    let policy = |spec: Value| json!({"kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "a"}, "spec": spec});
    let web = Endpoint::Pod(Pod::new("a", &[("role", "web")]).with_port("http", 80));
    let db = Endpoint::Pod(Pod::new("a", &[("role", "db")]));
    let outsider = Endpoint::Pod(Pod::new("b", &[("role", "web")]));
    let ip = |s: &str| Endpoint::Ip(s.parse().expect("ip"));

    // No policy: everything flows.
    assert!(Cluster::new(vec![]).allows(&outsider, &web, 80, "TCP"));
    // Selected for Ingress with no rules: isolated.
    let deny = policy(json!({"podSelector": {}, "policyTypes": ["Ingress"]}));
    assert!(!Cluster::new(vec![deny.clone()]).allows(&db, &web, 80, "TCP"));
    assert!(
        Cluster::new(vec![deny]).allows(&web, &ip("8.8.8.8"), 443, "TCP"),
        "egress not isolated"
    );
    // Named port, pod selector in the policy's namespace only.
    let allow = policy(
        json!({"podSelector": {"matchLabels": {"role": "web"}}, "ingress": [
        {"from": [{"podSelector": {"matchLabels": {"role": "db"}}}], "ports": [{"port": "http"}]}]}),
    );
    let cluster = Cluster::new(vec![allow]);
    assert!(cluster.allows(&db, &web, 80, "TCP"));
    assert!(!cluster.allows(&db, &web, 81, "TCP"));
    assert!(!cluster.allows(&db, &web, 80, "UDP"));
    assert!(
        !cluster.allows(&outsider, &web, 80, "TCP"),
        "podSelector alone means the same namespace"
    );
    // ipBlock with except, port ranges, matchExpressions.
    let blocks = policy(
        json!({"podSelector": {"matchExpressions": [{"key": "role", "operator": "In", "values": ["web"]}]},
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                     "ports": [{"port": 8000, "endPort": 8100}]}]}),
    );
    let cluster = Cluster::new(vec![blocks]);
    assert!(cluster.allows(&ip("10.2.3.4"), &web, 8050, "TCP"));
    assert!(
        !cluster.allows(&ip("10.1.3.4"), &web, 8050, "TCP"),
        "except"
    );
    assert!(
        !cluster.allows(&ip("10.2.3.4"), &web, 8101, "TCP"),
        "endPort"
    );
    assert!(
        cluster.allows(&ip("10.1.3.4"), &db, 5432, "TCP"),
        "db is not selected"
    );
    // Namespace selectors match the automatic name label.
    let from_b = policy(json!({"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "b"}}}]}]}));
    assert!(Cluster::new(vec![from_b.clone()]).allows(&outsider, &web, 1, "TCP"));
    assert!(!Cluster::new(vec![from_b]).allows(&db, &web, 1, "TCP"));
}
