//! The message queue extension as a system: compiled for `tests/fixtures/valid/queue`, the
//! app is told where the queue is and reaches it, nothing else does, the monitoring stack
//! scrapes it, and each of its NetworkPolicies is load-bearing.

use serde_json::Value;

use super::netpol::{Cluster, Endpoint, Pod};

fn wonka() -> gitopsc::compiler::Compiled {
    super::compiled_customer("wonka")
}

fn objects(compiled: &gitopsc::compiler::Compiled) -> Vec<(String, Value)> {
    super::compiled_objects(compiled)
}

fn find<'a>(objects: &'a [(String, Value)], path: &str) -> &'a Value {
    &objects
        .iter()
        .find(|(p, _)| p == path)
        .unwrap_or_else(|| panic!("{path} is compiled"))
        .1
}

#[test]
fn the_app_reaches_the_queue_and_nothing_else_does() {
    let compiled = wonka();
    let objects = objects(&compiled);
    let ns = crate::model(&compiled).namespace.as_str();
    let app = Pod::of_workload(ns, find(&objects, "app/deployment-app.yaml"));
    let queue = Pod::of_workload(ns, find(&objects, "queue/statefulset-queue.yaml"));
    let monitoring = Pod::new(
        gitopsc::emit::network::monitoring_namespace(crate::model(&compiled).monitoring.provider),
        &[("app.kubernetes.io/name", "prometheus")],
    );
    let stranger = Pod::new(ns, &[("run", "debug")]);
    let policies: Vec<Value> = objects.iter().map(|(_, o)| o.clone()).collect();
    let cluster = Cluster::new(policies.clone());
    let (app, queue) = (Endpoint::Pod(app), Endpoint::Pod(queue));
    assert!(
        cluster.allows(&app, &queue, 5672, "TCP"),
        "app -> queue AMQP"
    );
    assert!(
        !cluster.allows(&app, &queue, 15692, "TCP"),
        "the app never scrapes"
    );
    let stranger = Endpoint::Pod(stranger);
    assert!(
        !cluster.allows(&stranger, &queue, 5672, "TCP"),
        "nothing else"
    );
    let monitoring = Endpoint::Pod(monitoring);
    assert!(cluster.allows(&monitoring, &queue, 15692, "TCP"), "scraped");
    assert!(
        !cluster.allows(&monitoring, &queue, 5672, "TCP"),
        "only metrics"
    );
    let internet = Endpoint::Ip("8.8.8.8".parse().expect("ip"));
    assert!(
        !cluster.allows(&queue, &internet, 443, "TCP"),
        "stays inside"
    );
    // Each of the queue's policies carries part of the flow.
    for name in ["allow-queue", "allow-app-to-queue"] {
        let without: Vec<Value> = policies
            .iter()
            .filter(|p| !(p["kind"] == "NetworkPolicy" && p["metadata"]["name"] == name))
            .cloned()
            .collect();
        assert!(
            !Cluster::new(without).allows(&app, &queue, 5672, "TCP"),
            "{name} is load-bearing"
        );
    }
}

#[test]
fn the_app_is_told_where_the_queue_is() {
    let compiled = wonka();
    let objects = objects(&compiled);
    let service = find(&objects, "queue/service-queue.yaml");
    let env = find(&objects, "app/deployment-app.yaml")["spec"]["template"]["spec"]["containers"]
        [0]["env"]
        .as_array()
        .expect("env")
        .clone();
    let value = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} is set"))
            .clone()
    };
    let host = format!(
        "{}.{}.svc.cluster.local",
        service["metadata"]["name"].as_str().expect("name"),
        service["metadata"]["namespace"]
            .as_str()
            .expect("namespace")
    );
    assert_eq!(value("QUEUE_HOST")["value"], host.as_str());
    assert_eq!(
        value("QUEUE_PORT")["value"],
        service["spec"]["ports"][0]["port"].to_string().as_str()
    );
    // The app connects as the user RabbitMQ creates, from the same Secret and keys.
    let statefulset = find(&objects, "queue/statefulset-queue.yaml");
    let queue_env = &statefulset["spec"]["template"]["spec"]["containers"][0]["env"];
    for (app_name, queue_name) in [
        ("QUEUE_USER", "RABBITMQ_DEFAULT_USER"),
        ("QUEUE_PASSWORD", "RABBITMQ_DEFAULT_PASS"),
    ] {
        let queue_ref = queue_env
            .as_array()
            .expect("queue env")
            .iter()
            .find(|e| e["name"] == queue_name)
            .expect(queue_name)["valueFrom"]
            .clone();
        assert_eq!(value(app_name)["valueFrom"], queue_ref, "{app_name}");
    }
    assert!(
        compiled.output.as_ref().expect("compiled output").files["PREREQUISITES.md"]
            .contains("`wonka-queue`"),
        "the user's Secret is a prerequisite"
    );
}

#[test]
fn customers_without_the_queue_get_nothing_of_it() {
    for compiled in super::compiled_customers() {
        let has_queue = compiled
            .output
            .as_ref()
            .expect("compiled output")
            .files
            .keys()
            .any(|p| p.starts_with("queue/"));
        let mentions = compiled
            .output
            .as_ref()
            .expect("compiled output")
            .files
            .values()
            .any(|text| text.contains("QUEUE_HOST") || text.contains("QueueUnavailable"));
        assert_eq!(
            has_queue,
            compiled.member.name == "wonka",
            "{}",
            compiled.member.name
        );
        assert_eq!(mentions, has_queue, "{}", compiled.member.name);
    }
}
