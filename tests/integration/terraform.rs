//! The Terraform half (`out/<customer>/terraform/*.tf.json`) of every shipped profile and
//! fixture: it fits the hashicorp/google provider schema (`schema/google-provider.json`,
//! extracted by `scripts/provider-schema.py`), checkov passes it, and it agrees with the
//! manifests on every GCP name and value they depend on.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

use super::{TempDir, compiled_objects, root, text, tool};

fn provider_schema() -> Value {
    let text = std::fs::read_to_string(root().join("schema/google-provider.json"))
        .expect("schema/google-provider.json");
    serde_json::from_str(&text).expect("JSON")
}

/// Every customer's Terraform files: (customer, path, document).
fn terraform() -> Vec<(String, BTreeMap<String, Value>)> {
    super::compiled_customers()
        .into_iter()
        .map(|compiled| {
            let files = super::compiled_files(&compiled)
                .iter()
                .filter(|(path, _)| path.starts_with("terraform/"))
                .map(|(path, text)| (path.clone(), serde_json::from_str(text).expect("JSON")))
                .collect();
            (compiled.member.name.clone(), files)
        })
        .collect()
}

/// Meta-arguments Terraform accepts on every resource and data source.
const META: &[&str] = &["count", "depends_on", "for_each", "lifecycle", "provider"];

/// The problems of one block body against its schema (`arguments`, `blocks`).
fn check_body(schema: &Value, body: &Value, at: &str, problems: &mut Vec<String>) {
    let Some(body) = body.as_object() else {
        problems.push(format!("{at}: expected an object"));
        return;
    };
    let arguments = schema["arguments"].as_object().cloned().unwrap_or_default();
    let blocks = schema["blocks"].as_object().cloned().unwrap_or_default();
    for (name, value) in body {
        let here = format!("{at}.{name}");
        if let Some(argument) = arguments.get(name) {
            check_type(
                argument["type"].as_str().unwrap_or("dynamic"),
                value,
                &here,
                problems,
            );
        } else if let Some(block) = blocks.get(name) {
            let nested: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            if block["nesting"] == "single" && nested.len() > 1 {
                problems.push(format!("{here}: at most one block"));
            }
            for (i, item) in nested.iter().enumerate() {
                check_body(block, item, &format!("{here}[{i}]"), problems);
            }
        } else if !META.contains(&name.as_str()) {
            problems.push(format!("{here}: no such argument or block"));
        }
    }
    for (name, argument) in &arguments {
        if argument["required"] == true && !body.contains_key(name) && name != "id" {
            problems.push(format!("{at}: required argument `{name}` is missing"));
        }
    }
    for (name, block) in &blocks {
        if block["required"] == true && !body.contains_key(name) {
            problems.push(format!("{at}: required block `{name}` is missing"));
        }
    }
}

fn is_reference(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.starts_with("${"))
}

fn check_type(kind: &str, value: &Value, at: &str, problems: &mut Vec<String>) {
    let ok = match kind {
        "string" => value.is_string(),
        "number" => value.is_number() || is_reference(value),
        "bool" => value.is_boolean() || is_reference(value),
        "dynamic" => true,
        list if list.starts_with("list(") => match value {
            Value::Array(items) => {
                let inner = &list[5..list.len() - 1];
                items
                    .iter()
                    .enumerate()
                    .for_each(|(i, v)| check_type(inner, v, &format!("{at}[{i}]"), problems));
                true
            }
            other => is_reference(other),
        },
        map if map.starts_with("map(") => value.is_object() || is_reference(value),
        _ => true,
    };
    if !ok {
        problems.push(format!("{at}: expected {kind}, found {value}"));
    }
}

/// Every `${...}` reference in the value: (kind, name, attribute), `data.` kept in kind.
fn references(document: &Value, out: &mut Vec<(String, String, String)>) {
    for (section, prefix) in [("resource", ""), ("data", "data.")] {
        for (kind, instances) in document[section].as_object().into_iter().flatten() {
            for (name, body) in instances.as_object().into_iter().flatten() {
                expressions(body, &(format!("{prefix}{kind}"), name.clone()), out);
            }
        }
    }
}

/// The references of every `${…}` in `value`, a block's body: `type.name.attr`,
/// `data.type.name.attr`, and `self.attr` (in a condition: the block `this` itself). Function
/// names, literals and `var.`/`each.` names are not references.
fn expressions(value: &Value, this: &(String, String), out: &mut Vec<(String, String, String)>) {
    match value {
        Value::String(text) => {
            let mut rest = text.as_str();
            while let Some(start) = rest.find("${") {
                let Some(end) = rest[start..].find('}') else {
                    break;
                };
                let inner = &rest[start + 2..start + end];
                // `block[0].argument` and `block[*].argument` are checked as `block.argument`.
                let path = |rest: &[&str]| {
                    rest.iter()
                        .map(|part| part.split('[').next().unwrap_or(part))
                        .collect::<Vec<_>>()
                        .join(".")
                };
                let tokens =
                    inner.split(|c: char| !(c.is_ascii_alphanumeric() || "_.-[]*".contains(c)));
                for token in tokens {
                    let parts: Vec<&str> = token.split('.').collect();
                    match parts.as_slice() {
                        ["self", rest @ ..] if !rest.is_empty() => {
                            out.push((this.0.clone(), this.1.clone(), path(rest)))
                        }
                        ["data", kind, name, rest @ ..] if !rest.is_empty() => {
                            out.push((format!("data.{kind}"), name.to_string(), path(rest)))
                        }
                        [kind, name, rest @ ..] if !rest.is_empty() && kind.contains('_') => {
                            out.push((kind.to_string(), name.to_string(), path(rest)))
                        }
                        _ => {}
                    }
                }
                rest = &rest[start + end..];
            }
        }
        Value::Array(items) => items.iter().for_each(|v| expressions(v, this, out)),
        Value::Object(map) => map.values().for_each(|v| expressions(v, this, out)),
        _ => {}
    }
}

/// The problems of one customer's Terraform against the provider schema.
fn validate(schema: &Value, files: &BTreeMap<String, Value>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut declared: BTreeSet<(String, String)> = BTreeSet::new();
    for document in files.values() {
        for (section, prefix) in [("resource", ""), ("data", "data.")] {
            for (kind, instances) in document[section].as_object().into_iter().flatten() {
                for name in instances.as_object().into_iter().flatten().map(|(n, _)| n) {
                    declared.insert((format!("{prefix}{kind}"), name.clone()));
                }
            }
        }
    }
    for (path, document) in files {
        for (key, value) in document.as_object().into_iter().flatten() {
            match key.as_str() {
                "terraform" => {
                    for (name, _) in value.as_object().into_iter().flatten() {
                        if !["required_providers", "backend"].contains(&name.as_str()) {
                            problems.push(format!(
                                "{path}: terraform.{name} is not emitted on purpose"
                            ));
                        }
                    }
                }
                "provider" => {
                    for (name, body) in value.as_object().into_iter().flatten() {
                        match schema["provider"].get(name) {
                            Some(provider) => check_body(
                                provider,
                                body,
                                &format!("{path}: provider.{name}"),
                                &mut problems,
                            ),
                            None => problems.push(format!("{path}: unknown provider {name}")),
                        }
                    }
                }
                "resource" | "data" => {
                    for (kind, instances) in value.as_object().into_iter().flatten() {
                        let Some(type_schema) = schema[key.as_str()].get(kind) else {
                            problems.push(format!("{path}: unknown {key} type {kind}"));
                            continue;
                        };
                        for (name, body) in instances.as_object().into_iter().flatten() {
                            check_body(
                                type_schema,
                                body,
                                &format!("{path}: {kind}.{name}"),
                                &mut problems,
                            );
                        }
                    }
                }
                // Terraform 1.5+ adopts an existing object: `to` names a resource declared
                // here, as a plain address (no `${}` in JSON, hashicorp/terraform#33081).
                "import" => {
                    for block in value.as_array().into_iter().flatten() {
                        let to = block["to"].as_str().unwrap_or_default();
                        let target = to
                            .split_once('.')
                            .map(|(k, n)| (k.to_string(), n.to_string()));
                        if !target.is_some_and(|t| declared.contains(&t)) {
                            problems
                                .push(format!("{path}: import into `{to}`, which is not declared"));
                        }
                        if block["id"].as_str().is_none_or(str::is_empty) {
                            problems.push(format!("{path}: import into `{to}` has no id"));
                        }
                    }
                }
                other => problems.push(format!("{path}: unknown top-level key {other}")),
            }
        }
        let mut found = Vec::new();
        references(document, &mut found);
        for (kind, name, attribute) in found {
            let section = if kind.starts_with("data.") {
                "data"
            } else {
                "resource"
            };
            let bare = kind.trim_start_matches("data.");
            if !declared.contains(&(kind.clone(), name.clone())) {
                problems.push(format!("{path}: ${{{kind}.{name}}} is not declared"));
                continue;
            }
            // An attribute, or an argument of a nested block (`block.argument`).
            let known = match attribute.split_once('.') {
                None => schema[section][bare]["attributes"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == attribute.as_str())),
                // A nested block's argument, or a field of a computed list of objects
                // (the schema lists those among the attributes only).
                Some((block, argument)) => {
                    schema[section][bare]["blocks"][block]["arguments"]
                        .get(argument)
                        .is_some()
                        || schema[section][bare]["attributes"]
                            .as_array()
                            .is_some_and(|a| a.iter().any(|x| x == block))
                }
            };
            if !known {
                problems.push(format!("{path}: {kind} has no attribute `{attribute}`"));
            }
        }
    }
    problems
}

#[test]
fn every_terraform_file_fits_the_provider_schema() {
    let schema = provider_schema();
    assert_eq!(schema["provenance"]["provider"], "hashicorp/google 8.7.0");
    let mut customers = 0;
    for (customer, files) in terraform() {
        assert!(files.len() >= 3, "{customer}: {:?}", files.keys());
        let problems = validate(&schema, &files);
        assert!(problems.is_empty(), "{customer}:\n{}", problems.join("\n"));
        customers += 1;
    }
    assert!(customers >= 5);
}

fn body(v: &mut Value) -> &mut serde_json::Map<String, Value> {
    v["resource"]["google_container_cluster"]["cluster"]
        .as_object_mut()
        .expect("cluster")
}

/// The validator is not a rubber stamp: each kind of mistake it exists for is caught.
#[test]
fn the_schema_check_catches_injected_mistakes() {
    let schema = provider_schema();
    let (_, files) = terraform()
        .into_iter()
        .find(|(c, _)| c == "acme")
        .expect("acme");
    let cluster = "terraform/cluster.tf.json";
    let mutate = |edit: &dyn Fn(&mut Value)| {
        let mut files = files.clone();
        edit(files.get_mut(cluster).expect("cluster file"));
        validate(&schema, &files)
    };
    let typo = mutate(&|v| {
        let private = body(v).remove("private_cluster_config").expect("private");
        body(v).insert("private_cluster_conifg".into(), private);
    });
    assert!(
        typo.iter()
            .any(|p| p.contains("private_cluster_conifg: no such")),
        "{typo:?}"
    );
    let missing = mutate(&|v| {
        body(v).remove("name");
    });
    assert!(
        missing
            .iter()
            .any(|p| p.contains("required argument `name`")),
        "{missing:?}"
    );
    let wrong_type = mutate(&|v| {
        body(v).insert("deletion_protection".into(), Value::String("yes".into()));
    });
    assert!(
        wrong_type.iter().any(|p| p.contains("expected bool")),
        "{wrong_type:?}"
    );
    let two = mutate(&|v| {
        let release = body(v)["release_channel"].clone();
        body(v).insert(
            "release_channel".into(),
            Value::Array(vec![release.clone(), release]),
        );
    });
    assert!(
        two.iter().any(|p| p.contains("at most one block")),
        "{two:?}"
    );
    let dangling = mutate(&|v| {
        body(v).insert(
            "network".into(),
            Value::String("${data.google_compute_network.nowhere.self_link}".into()),
        );
    });
    assert!(
        dangling.iter().any(|p| p.contains("is not declared")),
        "{dangling:?}"
    );
    let attribute = mutate(&|v| {
        body(v).insert(
            "network".into(),
            Value::String("${data.google_compute_network.network.selflink}".into()),
        );
    });
    assert!(
        attribute
            .iter()
            .any(|p| p.contains("no attribute `selflink`")),
        "{attribute:?}"
    );
    let unknown = mutate(&|v| {
        v["resource"]["google_container_clusters"] = serde_json::json!({"x": {}});
    });
    assert!(
        unknown.iter().any(|p| p.contains("unknown resource type")),
        "{unknown:?}"
    );
    let mut stray = files.clone();
    stray
        .get_mut("terraform/imports.tf.json")
        .expect("imports file")["import"][0]["to"] =
        Value::String("google_storage_bucket.nowhere".into());
    let stray = validate(&schema, &stray);
    assert!(
        stray
            .iter()
            .any(|p| p.contains("`google_storage_bucket.nowhere`, which is not declared")),
        "{stray:?}"
    );
}

#[test]
fn checkov_passes_the_terraform_of_every_customer() {
    let Some(checkov) = tool("checkov") else {
        return;
    };
    let work = TempDir::new("checkov-terraform");
    let mut written = 0;
    for (customer, files) in terraform() {
        let dir = work.path().join(&customer);
        std::fs::create_dir_all(&dir).expect("dir");
        for (path, document) in files {
            let name = path.trim_start_matches("terraform/");
            // checkov 3.3's terraform_json parser reads labelled blocks only and fails on
            // an `import` block; the schema test above checks this file.
            if name == "imports.tf.json" {
                continue;
            }
            let file = dir.join(name);
            std::fs::create_dir_all(file.parent().expect("folder")).expect("dir");
            std::fs::write(file, serde_json::to_string_pretty(&document).expect("json"))
                .expect("write");
            written += 1;
        }
    }
    let output = Command::new(checkov)
        .args([
            "--framework",
            "terraform_json",
            "--skip-download",
            "--quiet",
            "-o",
            "json",
        ])
        .arg("--config-file")
        .arg(root().join("tests/config/checkov-terraform.yaml"))
        .arg("-d")
        .arg(work.path())
        .output()
        .expect("checkov runs");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "checkov JSON:\n{}{}",
            text(&output.stdout),
            text(&output.stderr)
        )
    });
    let summary = &report["summary"];
    assert_eq!(summary["parsing_errors"], 0, "{summary}");
    let failed: Vec<String> = report["results"]["failed_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{} {} {}", c["check_id"], c["file_path"], c["resource"]))
        .collect();
    assert!(failed.is_empty(), "failed checks:\n{}", failed.join("\n"));
    assert!(
        summary["passed"].as_u64().unwrap_or(0) > written,
        "{summary}"
    );
}

/// What the manifests of one customer depend on, read from its compiled objects.
fn kinds<'a>(objects: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    objects
        .iter()
        .filter(|(_, o)| o["kind"] == kind)
        .map(|(_, o)| o)
        .collect()
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

#[test]
fn terraform_and_manifests_agree() {
    let all = terraform();
    for compiled in super::compiled_customers() {
        let customer = crate::model(&compiled);
        let objects = compiled_objects(&compiled);
        let (_, files) = all
            .iter()
            .find(|(c, _)| *c == customer.name)
            .expect("terraform");
        let resource = |kind: &str| -> Vec<Value> {
            files
                .values()
                .filter_map(|d| d["resource"][kind].as_object())
                .flat_map(|m| m.values().cloned())
                .collect()
        };
        let cluster = resource("google_container_cluster");
        assert_eq!(cluster.len(), 1, "{}", customer.name);
        let cluster = &cluster[0];
        // Cloud Armor: named as the BackendConfig says, allowing exactly the external list.
        for backend in kinds(&objects, "BackendConfig") {
            let name = &backend["spec"]["securityPolicy"]["name"];
            let policy = resource("google_compute_security_policy")
                .into_iter()
                .find(|p| p["name"] == *name)
                .unwrap_or_else(|| panic!("{}: no security policy {name}", customer.name));
            let rules = policy["rule"].as_array().expect("rules");
            let allowed: BTreeSet<String> = rules
                .iter()
                .filter(|r| r["action"] == "allow")
                .flat_map(|r| strings(&r["match"]["config"]["src_ip_ranges"]))
                .collect();
            let expected: BTreeSet<String> = customer
                .access
                .external
                .as_ref()
                .expect("external")
                .allowed
                .strings()
                .into_iter()
                .collect();
            assert_eq!(
                allowed, expected,
                "{}: Cloud Armor = the allow-list",
                customer.name
            );
            for rule in rules.iter().filter(|r| r["action"] == "allow") {
                let ranges = rule["match"]["config"]["src_ip_ranges"]
                    .as_array()
                    .map_or(0, Vec::len);
                assert!(
                    (1..=gitopsc::terraform::RANGES_PER_RULE).contains(&ranges),
                    "{}: {ranges} ranges in one rule",
                    customer.name
                );
            }
            let last = rules
                .iter()
                .max_by_key(|r| r["priority"].as_i64())
                .expect("rule");
            assert_eq!(
                last["action"], "deny(403)",
                "{}: default deny",
                customer.name
            );
        }
        // The Ingress's static IP and the FrontendConfig's SSL policy are created.
        for ingress in kinds(&objects, "Ingress") {
            if let Some(ip) =
                ingress["metadata"]["annotations"]["kubernetes.io/ingress.global-static-ip-name"]
                    .as_str()
            {
                assert!(
                    resource("google_compute_global_address")
                        .iter()
                        .any(|a| a["name"] == ip),
                    "{}: {ip}",
                    customer.name
                );
            }
        }
        for frontend in kinds(&objects, "FrontendConfig") {
            if let Some(policy) = frontend["spec"]["sslPolicy"].as_str() {
                let created = resource("google_compute_ssl_policy");
                let policy = created
                    .iter()
                    .find(|p| p["name"] == policy)
                    .expect("ssl policy");
                assert_eq!(policy["min_tls_version"], "TLS_1_2");
            }
        }
        // The internal Service's ranges are the firewall's.
        for service in kinds(&objects, "Service") {
            let ranges = strings(&service["spec"]["loadBalancerSourceRanges"]);
            if ranges.is_empty() {
                continue;
            }
            // One rule per address family (GCP refuses a rule that mixes them), together
            // the Service's ranges.
            let rules: Vec<Value> = resource("google_compute_firewall")
                .into_iter()
                .filter(|f| {
                    f["name"].as_str().is_some_and(|n| {
                        n.ends_with("-internal-clients") || n.ends_with("-internal-clients-v6")
                    })
                })
                .collect();
            let mut together = std::collections::BTreeSet::new();
            for rule in &rules {
                let families: std::collections::BTreeSet<bool> = strings(&rule["source_ranges"])
                    .iter()
                    .map(|r| r.contains(':'))
                    .collect();
                assert_eq!(families.len(), 1, "{}: {rule}", customer.name);
                together.extend(strings(&rule["source_ranges"]));
            }
            assert_eq!(together, ranges, "{}", customer.name);
        }
        // Firewall rules live with the network: the host project of a Shared VPC.
        let gcp = customer
            .profile
            .spec
            .as_ref()
            .and_then(|s| s.gcp.clone())
            .unwrap_or_default();
        let network_project = gcp
            .network_project_id
            .map_or_else(|| customer.cluster.project_id.clone(), String::from);
        for firewall in resource("google_compute_firewall") {
            assert_eq!(
                firewall["project"],
                network_project.as_str(),
                "{}",
                customer.name
            );
        }
        assert_eq!(
            !resource("google_compute_router_nat").is_empty(),
            gcp.cloud_nat == Some(true),
            "{}: Cloud NAT exactly when asked",
            customer.name
        );
        // Dynamic port allocation, as the Compute API allows it: not with
        // endpoint-independent mapping, ports per VM powers of two, at least 32, max > min.
        for nat in resource("google_compute_router_nat") {
            let ports = |key: &str| nat[key].as_u64().unwrap_or_default();
            let (min, max) = (ports("min_ports_per_vm"), ports("max_ports_per_vm"));
            assert!(
                nat["enable_dynamic_port_allocation"] == true
                    && nat["enable_endpoint_independent_mapping"] == false
                    && min >= 32
                    && min.is_power_of_two()
                    && max.is_power_of_two()
                    && max > min,
                "{}: {nat}",
                customer.name
            );
        }
        // The internal load balancer takes the address the Terraform reserves, and each DNS
        // record points at the address its entry point takes.
        let records = resource("google_dns_record_set");
        for service in kinds(&objects, "Service") {
            let Some(address) =
                service["metadata"]["annotations"]["networking.gke.io/load-balancer-ip-addresses"]
                    .as_str()
            else {
                continue;
            };
            assert!(
                resource("google_compute_address")
                    .iter()
                    .any(|a| a["name"] == address && a["address_type"] == "INTERNAL"),
                "{}: {address}",
                customer.name
            );
            // Only ingress-gce's L4 controller reads the annotation, and it owns internal
            // load balancers only with subsetting (cloud-provider-gcp's `ilbIPToUse`
            // takes `spec.loadBalancerIP` alone).
            assert!(
                resource("google_container_cluster")
                    .iter()
                    .all(|c| c["enable_l4_ilb_subsetting"] == true),
                "{}: the reserved address is used only with L4 ILB subsetting",
                customer.name
            );
            let host = customer
                .access
                .internal
                .as_ref()
                .and_then(|i| i.hostname.clone())
                .expect("hostname");
            assert!(
                records
                    .iter()
                    .any(|r| r["name"] == format!("{host}.").as_str()
                        && r["rrdatas"][0] == "${google_compute_address.internal.address}"),
                "{}: {host}",
                customer.name
            );
        }
        if !records.is_empty() {
            for host in customer.access.external.iter().flat_map(|e| e.hosts.iter()) {
                assert!(
                    records
                        .iter()
                        .any(|r| r["name"] == format!("{host}.").as_str()
                            && r["rrdatas"][0]
                                == "${google_compute_global_address.ingress.address}"),
                    "{}: {host}",
                    customer.name
                );
            }
        }
        // Every GSA a ServiceAccount acts as exists and lets exactly that account in.
        for account in kinds(&objects, "ServiceAccount") {
            let Some(email) =
                account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"].as_str()
            else {
                continue;
            };
            let (id, domain) = email.split_once('@').expect("email");
            let project = domain.trim_end_matches(".iam.gserviceaccount.com");
            let gsas = resource("google_service_account");
            assert!(
                gsas.iter()
                    .any(|g| g["account_id"] == id && g["project"] == project),
                "{}: {email}",
                customer.name
            );
            // The cluster's pool (`<project>.svc.id.goog`), read from the cluster.
            let member = format!(
                "serviceAccount:${{google_container_cluster.cluster.workload_identity_config[0].workload_pool}}[{}/{}]",
                account["metadata"]["namespace"]
                    .as_str()
                    .expect("namespace"),
                account["metadata"]["name"].as_str().expect("name")
            );
            assert!(
                resource("google_service_account_iam_member")
                    .iter()
                    .any(|b| b["member"] == member.as_str()
                        && b["role"] == "roles/iam.workloadIdentityUser"),
                "{}: {member}",
                customer.name
            );
        }
        // The database's node pool exists with the taints its tolerations expect.
        for statefulset in kinds(&objects, "StatefulSet") {
            let spec = &statefulset["spec"]["template"]["spec"];
            let Some(pool) = spec["nodeSelector"]["cloud.google.com/gke-nodepool"].as_str() else {
                continue;
            };
            let pools = resource("google_container_node_pool");
            let created = pools
                .iter()
                .find(|p| p["name"] == pool)
                .unwrap_or_else(|| panic!("{}: node pool {pool}", customer.name));
            for taint in created["node_config"]["taint"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let effect = match taint["effect"].as_str() {
                    Some("NO_SCHEDULE") => "NoSchedule",
                    Some("PREFER_NO_SCHEDULE") => "PreferNoSchedule",
                    _ => "NoExecute",
                };
                let tolerated = spec["tolerations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| {
                        t["key"] == taint["key"]
                            && t["value"] == taint["value"]
                            && t["effect"] == effect
                    });
                assert!(tolerated, "{}: {pool} taint {taint}", customer.name);
            }
        }
        // The control plane the NetworkPolicies allow is the cluster's: its own /28, or the
        // range of the subnetwork a Private Service Connect endpoint is taken from, which
        // the plan checks.
        let range = customer.control_plane.to_string();
        let private = &cluster["private_cluster_config"];
        match private["private_endpoint_subnetwork"].as_str() {
            None => assert_eq!(
                private["master_ipv4_cidr_block"],
                range.as_str(),
                "{}",
                customer.name
            ),
            Some(subnetwork) => {
                assert!(
                    private.get("master_ipv4_cidr_block").is_none(),
                    "{}",
                    customer.name
                );
                let read = files
                    .values()
                    .find_map(|d| d.pointer("/data/google_compute_subnetwork/control_plane"))
                    .unwrap_or_else(|| {
                        panic!("{}: the endpoint subnetwork is read", customer.name)
                    });
                assert_eq!(
                    subnetwork,
                    "${data.google_compute_subnetwork.control_plane.self_link}"
                );
                let condition = read["lifecycle"]["postcondition"][0]["condition"].to_string();
                assert!(
                    condition.contains(&format!("self.ip_cidr_range == \\\"{range}\\\"")),
                    "{condition}"
                );
            }
        }
        assert_eq!(private["enable_private_nodes"], true);
        let policies = kinds(&objects, "NetworkPolicy");
        assert!(
            policies.iter().any(|p| p.to_string().contains(&range)),
            "{}: the API's range in a NetworkPolicy",
            customer.name
        );
        // DNS mode and NodeLocal DNSCache as the DNS egress policy assumes.
        let metadata_server = kinds(&objects, "NetworkPolicy").iter().any(|p| {
            p["metadata"]["name"] == "allow-dns-egress"
                && p.to_string().contains("169.254.169.254/32")
        });
        assert_eq!(
            cluster["dns_config"]["cluster_dns"] == "CLOUD_DNS",
            metadata_server,
            "{}",
            customer.name
        );
        assert_eq!(
            cluster["addons_config"]["dns_cache_config"]["enabled"],
            customer.dns.node_local_cache
        );
        // Managed Prometheus exactly when the manifests use its PodMonitoring.
        let managed = !kinds(&objects, "PodMonitoring").is_empty();
        assert_eq!(
            cluster["monitoring_config"]["managed_prometheus"]["enabled"], managed,
            "{}",
            customer.name
        );
        // The customer's key encrypts the cluster's Secrets, and GKE may use it.
        let key = customer
            .profile
            .spec
            .as_ref()
            .and_then(|s| s.infrastructure.as_ref())
            .and_then(|i| i.cluster.as_ref())
            .and_then(|c| c.secrets_encryption_key.clone());
        match key {
            Some(key) => {
                assert_eq!(cluster["database_encryption"]["key_name"], key.0.as_str());
                assert!(
                    resource("google_kms_crypto_key_iam_member")
                        .iter()
                        .any(|m| m["crypto_key_id"] == key.0.as_str())
                );
            }
            None => assert!(cluster.get("database_encryption").is_none()),
        }
        // The snapshot class's CSI driver is enabled.
        for class in kinds(&objects, "VolumeSnapshotClass") {
            assert_eq!(class["driver"], "pd.csi.storage.gke.io");
            assert_eq!(
                cluster["addons_config"]["gce_persistent_disk_csi_driver_config"]["enabled"],
                true
            );
        }
    }
}

/// The dependency graph of every customer's module is data (`terraform::Module::graph`):
/// each reference names a block of the module, and the orders the module relies on are
/// edges of it. The same reader gives the same graph from the compiled files.
#[test]
fn the_module_graph_orders_what_refers_to_what() {
    use gitopsc::terraform::{Address, CLUSTER, Graph, NODE_ACCOUNT, module};
    for compiled in super::compiled_customers() {
        let customer = super::model(&compiled);
        let name = &customer.name;
        let objects = compiled_objects(&compiled);
        let images = gitopsc::terraform::admission::images(objects.iter().map(|(_, o)| o));
        let module = module(customer, &images);
        let graph = module.graph();
        assert_eq!(graph.dangling(), Vec::new(), "{name}");
        let files = root_module(&compiled);
        assert_eq!(Graph::of(&files), graph, "{name}: the files' graph");
        let blocks = |prefix: &str| -> Vec<String> {
            graph
                .edges
                .keys()
                .filter(|b| b.starts_with(prefix))
                .cloned()
                .collect()
        };
        let pools = blocks("google_container_node_pool.");
        assert!(!pools.is_empty(), "{name}");
        for pool in pools {
            let needs = &graph.edges[&pool];
            assert!(
                needs.contains(&CLUSTER.to_string()),
                "{name}: {pool} waits for the cluster"
            );
            assert!(
                needs.contains(&NODE_ACCOUNT.to_string()),
                "{name}: {pool} runs as the node account"
            );
        }
        let network = graph.edges[&CLUSTER.to_string()]
            .iter()
            .filter(|b| {
                b.contains("google_compute_network.")
                    || b.contains("google_compute_subnetwork.nodes")
            })
            .count();
        assert_eq!(
            network, 2,
            "{name}: the cluster waits for its network and subnetwork"
        );
        // A question a test can ask of any pair: the node pools' account grant does not
        // need the cluster, the cluster does not need a pool.
        let grant = Address::resource("google_project_iam_member", "nodes");
        assert!(graph.waits_for(&grant, &NODE_ACCOUNT), "{name}");
        assert!(!graph.waits_for(&CLUSTER, &grant), "{name}");
        assert_eq!(
            ordering_faults(&files),
            Vec::<String>::new(),
            "{name}: the orders one apply needs"
        );
    }
}

/// The files of a compiled customer's root module (`terraform/*.tf.json`, not the
/// bootstrap's).
fn root_module(compiled: &gitopsc::compiler::Compiled) -> Vec<Value> {
    super::compiled_files(compiled)
        .iter()
        .filter(|(path, _)| {
            path.strip_prefix("terraform/")
                .is_some_and(|name| !name.contains('/'))
        })
        .map(|(_, text)| serde_json::from_str(text).expect("JSON"))
        .collect()
}

/// The block at `pointer` (`/resource/<type>/<name>`) in whichever file of a root holds it.
fn root_block<'a>(files: &'a [Value], pointer: &str) -> Option<&'a Value> {
    files.iter().find_map(|f| f.pointer(pointer))
}

/// What one `terraform apply` of a fresh project needs ordered, against the graph of a
/// customer's files: the cluster after the GKE service agent's grant on the etcd key (GKE
/// checks it at creation), and every grant to a Workload Identity member after the cluster
/// (its pool exists only then). The faults found.
fn ordering_faults(files: &[Value]) -> Vec<String> {
    use gitopsc::terraform::{CLUSTER, Graph, KEY_GRANT};
    let graph = Graph::of(files);
    let mut faults = Vec::new();
    if graph.edges.contains_key(&KEY_GRANT.to_string()) && !graph.waits_for(&CLUSTER, &KEY_GRANT) {
        faults.push("the cluster does not wait for the key grant".to_string());
    }
    for file in files {
        for (kind, blocks) in file["resource"].as_object().into_iter().flatten() {
            for (name, body) in blocks.as_object().into_iter().flatten() {
                let member = body["member"].as_str().unwrap_or_default();
                let workload = member.contains("workload_pool") || member.contains(".svc.id.goog[");
                if workload
                    && !graph.block_waits_for(&format!("{kind}.{name}"), &CLUSTER.to_string())
                {
                    faults.push(format!("{kind}.{name} does not wait for the cluster"));
                }
            }
        }
    }
    faults
}

/// The ordering check finds each edge removed: the cluster's `depends_on` on the key
/// grant, and a Workload Identity member written as a literal pool.
#[test]
fn the_ordering_check_fails_when_an_edge_is_removed() {
    let compiled = super::compiled_customer("acme");
    let files = root_module(&compiled);
    assert_eq!(ordering_faults(&files), Vec::<String>::new());
    let without = |edit: &dyn Fn(&mut Value) -> bool| -> Vec<String> {
        let mut changed = files.clone();
        assert!(changed.iter_mut().any(edit), "the edit applies");
        ordering_faults(&changed)
    };
    let faults = without(&|file| {
        file.pointer_mut("/resource/google_container_cluster/cluster")
            .and_then(Value::as_object_mut)
            .is_some_and(|cluster| cluster.remove("depends_on").is_some())
    });
    assert_eq!(faults, vec!["the cluster does not wait for the key grant"]);
    let faults = without(&|file| {
        file.pointer_mut("/resource/google_service_account_iam_member/app/member")
            .is_some_and(|member| {
                *member =
                    Value::String("serviceAccount:acme-prod-4821.svc.id.goog[acme/app]".into());
                true
            })
    });
    assert_eq!(
        faults,
        vec!["google_service_account_iam_member.app does not wait for the cluster"]
    );
}

/// Every service account the Terraform creates has an ID the google provider accepts at
/// plan (`google_service_account.account_id`: `validateRFC1035Name(6, 30)`), whether it
/// comes from a profile's email or is compiled (`<customer>-nodes`, `<customer>-pgbackrest`,
/// cut to fit), for every shipped customer and fixture.
#[test]
fn every_service_account_id_passes_the_providers_rule() {
    let mut checked = 0;
    for compiled in super::compiled_customers() {
        for (path, text) in super::compiled_files(&compiled) {
            if !path.starts_with("terraform/") {
                continue;
            }
            let document: Value = serde_json::from_str(text).expect("JSON");
            let accounts = document["resource"]["google_service_account"].as_object();
            for (name, body) in accounts.into_iter().flatten() {
                let id = body["account_id"].as_str().expect("account_id");
                assert_eq!(
                    gitopsc::syntax::service_account_id(id),
                    Ok(()),
                    "{}: google_service_account.{name}.account_id {id:?}",
                    compiled.member.name
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 6, "{checked} accounts checked");
    // The rule itself: the provider's bounds and alphabet.
    for (id, valid) in [
        ("acme-api", true),
        ("abcdef", true),
        ("abcde", false),
        (&"a".repeat(30), true),
        (&"a".repeat(31), false),
        ("1abcdef", false),
        ("abcdef-", false),
        ("Abcdef", false),
        ("abc_def", false),
    ] {
        assert_eq!(
            gitopsc::syntax::service_account_id(id).is_ok(),
            valid,
            "{id}"
        );
    }
}

/// The bootstrap root turns on, in the customer's project, the API of every resource and
/// data source of the customer's root (read from the compiled files, not the module), and
/// nothing of the customer's root is left without one: a data source read at plan, or a
/// resource created at apply, never meets an API that is off.
#[test]
fn the_bootstrap_enables_every_api_the_customer_root_calls() {
    use gitopsc::terraform::bootstrap::api_of;
    let mut customers = 0;
    for compiled in super::compiled_customers() {
        let name = &compiled.member.name;
        let project = &super::model(&compiled).cluster.project_id;
        let mut kinds = BTreeSet::new();
        for file in root_module(&compiled) {
            for section in ["resource", "data"] {
                kinds.extend(
                    file[section]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, _)| k.clone()),
                );
            }
        }
        let services = super::compiled_file(&compiled, "terraform/bootstrap/services.tf.json")
            .map(|text| serde_json::from_str::<Value>(text).expect("JSON"))
            .unwrap_or_else(|| panic!("{name}: no bootstrap"));
        let enabled: BTreeSet<&str> = services["resource"]["google_project_service"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, body)| {
                assert_eq!(body["project"], project.as_str(), "{name}");
                assert_eq!(
                    body["disable_on_destroy"], false,
                    "{name}: never turned off"
                );
                body["service"].as_str().expect("service")
            })
            .collect();
        for kind in &kinds {
            let api = api_of(kind).unwrap_or_else(|| panic!("{name}: no API known for {kind}"));
            assert!(
                enabled.contains(api),
                "{name}: {kind} needs {api}, which is not enabled"
            );
        }
        for needed in [
            "container.googleapis.com",
            "compute.googleapis.com",
            "iamcredentials.googleapis.com",
            "logging.googleapis.com",
        ] {
            assert!(enabled.contains(needed), "{name}: {needed}");
        }
        // The bootstrap has no backend: its state is local, and nothing in it is lost with
        // it (enabling is idempotent).
        let providers = super::compiled_file(&compiled, "terraform/bootstrap/providers.tf.json")
            .expect("bootstrap providers");
        assert!(!providers.contains("backend"), "{name}");
        customers += 1;
    }
    assert!(customers >= 5);
    // The table answers for the types it is asked about, by the longest prefix.
    assert_eq!(
        api_of("google_service_account_iam_member"),
        Some("iam.googleapis.com")
    );
    assert_eq!(
        api_of("google_project_iam_audit_config"),
        Some("cloudresourcemanager.googleapis.com")
    );
    assert_eq!(
        api_of("google_container_node_pool"),
        Some("container.googleapis.com")
    );
    assert_eq!(api_of("google_sql_database_instance"), None);
}

/// Binary Authorization enforces a policy that admits every image the customer's manifests
/// run (read from the compiled objects) and the profile's add-on patterns, and denies the
/// rest: enforcing a new project's admit-all policy would prove nothing. A customer that
/// turns Binary Authorization off gets no policy.
#[test]
fn the_admission_policy_admits_every_compiled_image_and_denies_the_rest() {
    let admits = |pattern: &str, image: &str| match pattern.strip_suffix('*') {
        Some(prefix) => image.starts_with(prefix),
        None => image == pattern,
    };
    let mut checked = 0;
    for compiled in super::compiled_customers() {
        let name = &compiled.member.name;
        let files = root_module(&compiled);
        let cluster =
            root_block(&files, "/resource/google_container_cluster/cluster").expect("cluster");
        let policy = root_block(
            &files,
            "/resource/google_binary_authorization_policy/policy",
        );
        let mode = cluster["binary_authorization"]["evaluation_mode"].as_str();
        let Some(policy) = policy else {
            assert_eq!(mode, Some("DISABLED"), "{name}: enforced without a policy");
            continue;
        };
        assert_eq!(mode, Some("PROJECT_SINGLETON_POLICY_ENFORCE"), "{name}");
        assert_eq!(
            policy["default_admission_rule"]["evaluation_mode"],
            "ALWAYS_DENY"
        );
        assert_eq!(
            policy["default_admission_rule"]["enforcement_mode"],
            "ENFORCED_BLOCK_AND_AUDIT_LOG"
        );
        let patterns: Vec<&str> = policy["admission_whitelist_patterns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name_pattern"].as_str())
            .collect();
        for pattern in &patterns {
            let (host, _) = pattern.split_once('/').expect("a host and a path");
            assert!(
                host.contains('.') && !pattern.trim_end_matches('*').ends_with(host),
                "{name}: {pattern} admits a whole registry"
            );
        }
        let objects = compiled_objects(&compiled);
        let images = gitopsc::terraform::admission::images(objects.iter().map(|(_, o)| o));
        assert!(!images.is_empty());
        for image in &images {
            assert!(
                patterns.iter().any(|p| admits(p, image)),
                "{name}: {image} is denied"
            );
            checked += 1;
        }
        assert!(
            !patterns
                .iter()
                .any(|p| admits(p, "docker.io/library/nginx:latest")),
            "{name}"
        );
        assert!(
            !patterns
                .iter()
                .any(|p| admits(p, "us-docker.pkg.dev/someone-else/x/y:1")),
            "{name}"
        );
    }
    assert!(checked >= 20, "{checked} images");
}

/// The verdicts of the provider's rules on `cases` ((patterns, lengths, value)), as the
/// provider reaches them: its patterns, all matching (Python's `re` reads these RE2 patterns alike) and
/// its length bounds, in bytes as Go's `len`.
fn provider_verdicts(cases: &[(Value, Value, String)]) -> Vec<bool> {
    let script = "import json, re, sys\n\
cases = json.load(sys.stdin)\n\
print(json.dumps([all(re.search(p, v) for p in ps) and (l is None or l[0] <= len(v.encode()) <= l[1]) for ps, l, v in cases]))\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let input = serde_json::to_vec(cases).expect("json");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), &input).expect("write");
    let output = child.wait_with_output().expect("python3 ends");
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("verdicts")
}

/// Every provider rule gitopsc applies at the profile's line agrees with the provider
/// source it was read from (`schema/provider-rules.json`, pinned to a commit by
/// `scripts/provider-rules.py`): over a corpus of names, the provider's rule and gitopsc's
/// give the same verdict, so a rule cannot drift from its source silently. And every name
/// the Terraform of every customer gives such an argument passes the provider's rule.
#[test]
fn every_provider_rule_matches_its_pinned_source() {
    let pinned: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schema/provider-rules.json")).expect("rules"),
    )
    .expect("JSON");
    assert_eq!(
        pinned["provenance"]["commit"].as_str().map(str::len),
        Some(40)
    );
    let rules = pinned["rules"].as_array().expect("rules");
    let ours = |rule: &Value| -> Option<fn(&str) -> bool> {
        match rule["validate"].as_str()? {
            "verify.ValidateGCEName" => Some(|v| gitopsc::syntax::gce_name_rule(v).is_ok()),
            r if r.starts_with("verify.ValidateRegexp(")
                && rule["resource"] == "google_compute_address" =>
            {
                Some(|v| gitopsc::syntax::gce_name_rule(v).is_ok())
            }
            "verify.ValidateRFC1035Name(6, 30)" => {
                Some(|v| gitopsc::syntax::service_account_id(v).is_ok())
            }
            "inline" if rule["resource"] == "google_container_cluster" => {
                Some(|v| gitopsc::syntax::gke_cluster_name_rule(v).is_ok())
            }
            _ => None,
        }
    };
    let mut corpus: Vec<String> = [
        "a",
        "ab",
        "a-",
        "-a",
        "1a",
        "a1",
        "A",
        "aB",
        "a_b",
        "a.b",
        "abcde",
        "abcdef",
        "a--b",
        "abc-def-ghi",
        "é",
        "",
        "api",
        "acme-api",
        "acme-prod-4821",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for n in [29, 30, 31, 39, 40, 41, 62, 63, 64] {
        corpus.push("a".repeat(n));
        corpus.push(format!("{}1", "b".repeat(n - 1)));
    }
    let mut compared = 0;
    for rule in rules {
        let Some(check) = ours(rule) else {
            continue;
        };
        let cases: Vec<(Value, Value, String)> = corpus
            .iter()
            .map(|v| (rule["patterns"].clone(), rule["lengths"].clone(), v.clone()))
            .collect();
        for ((_, _, value), provider) in cases.iter().zip(provider_verdicts(&cases)) {
            assert_eq!(
                check(value),
                provider,
                "{} {}: {value:?}",
                rule["resource"],
                rule["validate"]
            );
            compared += 1;
        }
    }
    assert!(compared >= 8 * corpus.len(), "{compared}");

    // Every compiled value of those arguments passes the provider's rule.
    let mut cases = Vec::new();
    let mut names = Vec::new();
    for compiled in super::compiled_customers() {
        for file in root_module(&compiled) {
            for rule in rules {
                let kind = rule["resource"].as_str().expect("resource");
                let argument = rule["argument"].as_str().expect("argument");
                for (name, body) in file["resource"][kind].as_object().into_iter().flatten() {
                    let Some(value) = body[argument].as_str().filter(|v| !v.contains("${")) else {
                        continue;
                    };
                    cases.push((
                        rule["patterns"].clone(),
                        rule["lengths"].clone(),
                        value.to_string(),
                    ));
                    names.push(format!(
                        "{}: {kind}.{name}.{argument} = {value:?}",
                        compiled.member.name
                    ));
                }
            }
        }
    }
    assert!(cases.len() >= 20, "{} compiled names", cases.len());
    for (name, ok) in names.iter().zip(provider_verdicts(&cases)) {
        assert!(ok, "{name} breaks the provider's rule");
    }
}

/// A new node pool starts with its minimum, over the cluster's zones, never above its
/// maximum (unset, the provider asks GKE for no nodes at all); and a changed first size
/// never replaces an existing pool (`initial_node_count` forces a new pool, so it is
/// ignored after creation).
#[test]
fn node_pools_start_at_their_minimum_and_are_never_replaced_for_it() {
    let mut pools = 0;
    for compiled in super::compiled_customers() {
        let name = &compiled.member.name;
        let files = root_module(&compiled);
        let cluster =
            root_block(&files, "/resource/google_container_cluster/cluster").expect("cluster");
        let zones = cluster["node_locations"].as_array().map_or(3, Vec::len) as u64;
        for file in &files {
            for (pool, body) in file["resource"]["google_container_node_pool"]
                .as_object()
                .into_iter()
                .flatten()
            {
                let initial = body["initial_node_count"].as_u64().expect("initial");
                let min = body["autoscaling"]["total_min_node_count"]
                    .as_u64()
                    .expect("min");
                let max = body["autoscaling"]["total_max_node_count"]
                    .as_u64()
                    .expect("max");
                assert!(
                    initial * zones <= max,
                    "{name}: {pool} starts above its maximum"
                );
                assert!(
                    initial * zones >= min || (initial + 1) * zones > max,
                    "{name}: {pool} starts below its minimum"
                );
                assert_eq!(
                    body["lifecycle"]["ignore_changes"],
                    serde_json::json!(["initial_node_count"]),
                    "{name}: {pool}"
                );
                pools += 1;
            }
        }
    }
    assert!(pools >= 8, "{pools} pools");
}
