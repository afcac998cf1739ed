//! Zero-downtime invariants, computed on every compiled customer (the shipped profiles and
//! the valid fixtures) from the objects as written, against the profile's own timings:
//! the app keeps serving until the load balancer has let go, then finishes its requests,
//! inside a grace period that also bounds the load balancer's connection draining; a new
//! pod is ready before an old one goes; Pgpool drains its clients the same way. A profile
//! that breaks one is refused (fixture `invalid/zero-downtime`).

use serde_json::Value;

use super::parse_yaml;

fn object(compiled: &gitopsc::compiler::Compiled, path: &str) -> Option<Value> {
    super::compiled_file(compiled, path).map(parse_yaml)
}

fn seconds(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("a number of seconds, found {value}"))
}

/// preStop sleep, grace period, maxUnavailable and readiness of one Deployment.
fn shutdown_of(deployment: &Value, container: &str) -> (u64, u64, Value, bool) {
    let pod = &deployment["spec"]["template"]["spec"];
    let main = pod["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .find(|c| c["name"] == container)
        .unwrap_or_else(|| panic!("container {container}"));
    (
        seconds(&main["lifecycle"]["preStop"]["sleep"]["seconds"]),
        seconds(&pod["terminationGracePeriodSeconds"]),
        deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"].clone(),
        main["readinessProbe"].is_object(),
    )
}

#[test]
fn every_customer_rolls_and_shuts_down_without_dropping_requests() {
    let customers = super::compiled_customers();
    assert!(customers.len() >= 6, "{} customers", customers.len());
    let mut with_load_balancer = 0;
    for compiled in &customers {
        let customer = crate::model(compiled);
        let name = &customer.name;
        let app = object(compiled, "app/deployment-app.yaml").expect("the app Deployment");
        let (pre_stop, grace, unavailable, ready) = shutdown_of(&app, "app");
        assert!(
            pre_stop >= u64::from(gitopsc::profile::defaults::MIN_PRE_STOP_DELAY_SECONDS),
            "{name}: preStop {pre_stop} s ends before the load balancer lets go"
        );
        let shutdown = u64::from(customer.app.shutdown_seconds);
        assert!(
            grace >= pre_stop + shutdown,
            "{name}: grace {grace} s < preStop {pre_stop} s + shutdown {shutdown} s"
        );
        assert_eq!(unavailable, Value::from(0), "{name}: app maxUnavailable");
        assert!(ready, "{name}: the app is gated on readiness");
        if let Some(backend) = object(compiled, "access/backendconfig-app.yaml") {
            with_load_balancer += 1;
            let draining = seconds(&backend["spec"]["connectionDraining"]["drainingTimeoutSec"]);
            assert!(
                draining <= grace,
                "{name}: the load balancer drains for {draining} s, the pod lives {grace} s"
            );
        }
        let pgpool = object(compiled, "pgpool/deployment-pgpool.yaml").expect("Pgpool");
        let (pre_stop, grace, unavailable, ready) = shutdown_of(&pgpool, "pgpool");
        assert!(
            pre_stop >= 5,
            "{name}: Pgpool leaves the Service before it stops"
        );
        assert!(
            grace >= pre_stop + gitopsc::emit::pgpool::DRAIN_SECONDS as u64,
            "{name}: Pgpool's grace {grace} s leaves no time to drain its clients"
        );
        assert_eq!(unavailable, Value::from(0), "{name}: Pgpool maxUnavailable");
        assert!(ready, "{name}: Pgpool is gated on readiness");
    }
    assert!(
        with_load_balancer >= 2,
        "customers with a load balancer: {with_load_balancer}"
    );
}
