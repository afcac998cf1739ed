//! The compiled stack fits together: every reference of every compiled customer resolves to
//! an object of its folder or to a prerequisite its PREREQUISITES.md lists, read from the
//! files on disk. Selectors and named ports are also checked here by rules of the test's
//! own, so a bug in the link stage cannot hide the problem it should have found.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use gitopsc::prerequisite::{Prerequisite, Section};
use serde_json::Value;

use super::netpol::selector_matches;
use super::parse_yaml;

/// (path, object) of every object a customer folder's kustomization lists.
fn objects(customer: &Path) -> Vec<(String, Value)> {
    super::conformance::object_files(customer)
        .into_iter()
        .map(|file| {
            let path = file
                .strip_prefix(customer)
                .expect("inside")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&file).expect("object file");
            (path, parse_yaml(&text))
        })
        .collect()
}

/// The objects as the link stage takes them.
fn refs(objects: &[(String, Value)]) -> Vec<(String, &Value)> {
    objects.iter().map(|(p, o)| (p.clone(), o)).collect()
}

/// The Kubernetes objects PREREQUISITES.md lists, as the link stage declares them.
fn listed_objects(customer: &Path) -> Vec<Prerequisite> {
    let text =
        std::fs::read_to_string(customer.join("PREREQUISITES.md")).expect("PREREQUISITES.md");
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with("Objects the profile names"))
        .unwrap_or_default();
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells.get(2)?.strip_prefix('`')?.strip_suffix('`')?;
            Some(Prerequisite {
                section: Section::Object,
                kind: cells.get(1)?.to_string(),
                name: name.to_string(),
                why: String::new(),
            })
        })
        .collect()
}

/// Every compiled customer folder (shipped, fixtures, generated), without `_argocd/`.
fn customer_folders() -> Vec<std::path::PathBuf> {
    super::conformance::customers()
        .into_iter()
        .filter(|p| p.join("PREREQUISITES.md").is_file())
        .collect()
}

#[test]
fn every_reference_of_every_customer_resolves() {
    for customer in &customer_folders() {
        let objects = objects(customer);
        let prerequisites = listed_objects(customer);
        assert!(
            prerequisites.iter().any(|p| p.kind == "StorageClass"),
            "{}: PREREQUISITES.md lists the StorageClass",
            customer.display()
        );
        let unresolved = gitopsc::link::check(&refs(&objects), &prerequisites);
        assert!(
            unresolved.is_empty(),
            "{}:\n{}",
            customer.display(),
            unresolved
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Pod templates of a folder: (labels, container port names and numbers).
fn pod_templates(objects: &[(String, Value)]) -> Vec<(BTreeMap<String, String>, BTreeSet<String>)> {
    objects
        .iter()
        .filter_map(|(_, o)| {
            let template = match o["kind"].as_str()? {
                "Deployment" | "StatefulSet" => &o["spec"]["template"],
                "CronJob" => &o["spec"]["jobTemplate"]["spec"]["template"],
                _ => return None,
            };
            let mut labels: BTreeMap<String, String> = template["metadata"]["labels"]
                .as_object()?
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            // Patroni's role label is set at run time; the pods may carry either value.
            if labels.get("app.kubernetes.io/name").map(String::as_str) == Some("postgres") {
                labels.insert("role".into(), "*".into());
            }
            let ports = template["spec"]["containers"]
                .as_array()?
                .iter()
                .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
                .flat_map(|p| {
                    [
                        p["name"].as_str().map(String::from),
                        p["containerPort"].as_i64().map(|n| n.to_string()),
                    ]
                })
                .flatten()
                .collect();
            Some((labels, ports))
        })
        .collect()
}

fn matches(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let mut labels = labels.clone();
    if labels.get("role").map(String::as_str) == Some("*") {
        if let Some(role) = selector["matchLabels"]["role"].as_str() {
            if ["master", "replica"].contains(&role) {
                labels.insert("role".into(), role.into());
            }
        }
    }
    selector_matches(selector, &labels)
}

#[test]
fn every_selector_picks_pods_and_every_named_port_exists() {
    for customer in customer_folders() {
        let objects = objects(&customer);
        let pods = pod_templates(&objects);
        let mut checked = 0;
        for (path, o) in &objects {
            let (selector, ports): (Value, Vec<String>) = match o["kind"].as_str() {
                Some("Service") if o["spec"]["selector"].is_object() => (
                    serde_json::json!({"matchLabels": o["spec"]["selector"]}),
                    o["spec"]["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| match &p["targetPort"] {
                            Value::String(s) => Some(s.clone()),
                            Value::Number(n) => Some(n.to_string()),
                            _ => None,
                        })
                        .collect(),
                ),
                Some("PodDisruptionBudget") => (o["spec"]["selector"].clone(), vec![]),
                // Prometheus Operator and managed Prometheus name the endpoint list apart.
                Some(kind @ ("PodMonitor" | "PodMonitoring")) => {
                    let list = if kind == "PodMonitor" {
                        "podMetricsEndpoints"
                    } else {
                        "endpoints"
                    };
                    (
                        o["spec"]["selector"].clone(),
                        o["spec"][list]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|e| e["port"].as_str().map(String::from))
                            .collect(),
                    )
                }
                _ => continue,
            };
            checked += 1;
            let chosen: Vec<_> = pods
                .iter()
                .filter(|(labels, _)| matches(&selector, labels))
                .collect();
            assert!(
                !chosen.is_empty(),
                "{}/{path}: selector {selector} picks no pod template",
                customer.display()
            );
            for port in ports {
                assert!(
                    chosen.iter().all(|(_, named)| named.contains(&port)),
                    "{}/{path}: port `{port}` is missing on a selected pod",
                    customer.display()
                );
            }
        }
        assert!(
            checked >= 8,
            "{}: only {checked} selectors",
            customer.display()
        );
    }
}

/// A file, a change to one of its objects, and what the report must say.
type Injection<'a> = (&'a str, &'a dyn Fn(&mut Value), &'a str);

/// The link stage finds what it is there to find: each injected fault is reported, naming
/// the file that refers and the thing it refers to.
#[test]
fn injected_dangling_references_are_reported() {
    let acme = super::root().join("out/acme");
    let clean = objects(&acme);
    let prerequisites = listed_objects(&acme);
    assert!(gitopsc::link::check(&refs(&clean), &prerequisites).is_empty());
    let edit = |path: &str, change: &dyn Fn(&mut Value)| {
        let mut objects = clean.clone();
        let (_, object) = objects.iter_mut().find(|(p, _)| p == path).expect(path);
        change(object);
        gitopsc::link::check(&refs(&objects), &prerequisites)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let cases: [Injection; 7] = [
        (
            "backup/cronjob-postgres-snapshot.yaml",
            &|o| {
                o["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"] =
                    "pd-snapshot".into()
            },
            "names in its environment VolumeSnapshotClass `pd-snapshot`",
        ),
        (
            "app/deployment-app.yaml",
            &|o| {
                o["spec"]["template"]["spec"]["volumes"][1]["secret"]["secretName"] =
                    "acme-tls-typo".into()
            },
            "`app/deployment-app.yaml` mounts Secret `acme-tls-typo`",
        ),
        (
            "database/externalsecret-postgres-credentials.yaml",
            &|o| o["spec"]["secretStoreRef"]["name"] = "gcp-secret-manger".into(),
            "reads from SecretStore `gcp-secret-manger`",
        ),
        (
            "database/certificate-acme-db-tls.yaml",
            &|o| o["spec"]["issuerRef"]["name"] = "missing-ca".into(),
            "is signed by Issuer `missing-ca`",
        ),
        (
            "pgpool/service-pgpool.yaml",
            &|o| o["spec"]["selector"]["app.kubernetes.io/name"] = "pgpol".into(),
            "`pgpool/service-pgpool.yaml` sends traffic to pods labelled",
        ),
        (
            "monitoring/podmonitor-postgres.yaml",
            &|o| o["spec"]["podMetricsEndpoints"][0]["port"] = "metric".into(),
            "scrapes port `metric`",
        ),
        (
            "app/deployment-app.yaml",
            &|o| o["spec"]["template"]["spec"]["serviceAccountName"] = "default-app".into(),
            "runs as ServiceAccount `default-app`",
        ),
    ];
    for (path, change, expected) in cases {
        let found = edit(path, change);
        assert!(
            found.contains(expected),
            "injected fault in {path} not reported as `{expected}`:\n{found}"
        );
    }
    // A prerequisite that is not listed is a dangling reference too.
    let initech = super::root().join("out/initech");
    let without_secret: Vec<Prerequisite> = listed_objects(&initech)
        .into_iter()
        .filter(|p| p.kind != "Secret")
        .collect();
    let found: Vec<String> = gitopsc::link::check(&refs(&objects(&initech)), &without_secret)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        found
            .iter()
            .any(|f| f.contains("Secret `initech-db-credentials`")),
        "{found:?}"
    );
}
