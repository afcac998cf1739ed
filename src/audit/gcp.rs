//! Controls on the GCP half: the customer's Terraform.

use super::output::{
    Observation, Output, at, data_sources, is_true, items, kustomization, named_resources,
    not_applicable, objects, observe, patroni_setting, resources, text,
};
use crate::load::{Node, Value};

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

pub(super) fn private_cluster(output: &Output) -> Vec<Observation> {
    resources(output, "google_container_cluster")
        .into_iter()
        .flat_map(|(file, cluster)| {
            let private = is_true(at(
                cluster,
                &["private_cluster_config", "enable_private_nodes"],
            ));
            let networks = at(cluster, &["master_authorized_networks_config"]);
            let ranges: Vec<&str> = items(networks.and_then(|n| n.get("cidr_blocks")))
                .iter()
                .filter_map(|b| text(b, &["cidr_block"]))
                .collect();
            let exposure = super::exposure::of(ranges.iter().copied());
            let public = !is_true(at(
                cluster,
                &["private_cluster_config", "enable_private_endpoint"],
            ));
            // A public endpoint with no list admits everyone.
            let admitted = networks.is_some() && exposure.within_policy() && !(public && ranges.is_empty());
            vec![
                observe(file, cluster, private, "nodes have private addresses only"),
                observe(
                    file,
                    cluster,
                    admitted,
                    format!(
                        "the control plane ({} endpoint) admits the authorized networks only: [{}], {}",
                        if public { "public" } else { "private" },
                        ranges.join(", "),
                        exposure.describe()
                    ),
                ),
            ]
        })
        .collect()
}

pub(super) fn node_hardening(output: &Output) -> Vec<Observation> {
    let mut seen = Vec::new();
    for (file, cluster) in resources(output, "google_container_cluster") {
        let identity = at(cluster, &["workload_identity_config", "workload_pool"]).is_some();
        let shielded = is_true(cluster.get("enable_shielded_nodes"));
        seen.push(observe(
            file,
            cluster,
            identity && shielded,
            format!(
                "Workload Identity {}, shielded nodes {}",
                on_off(identity),
                on_off(shielded)
            ),
        ));
    }
    for (file, pool) in resources(output, "google_container_node_pool") {
        let metadata = text(pool, &["node_config", "workload_metadata_config", "mode"])
            == Some("GKE_METADATA");
        let secure_boot = is_true(at(
            pool,
            &[
                "node_config",
                "shielded_instance_config",
                "enable_secure_boot",
            ],
        ));
        seen.push(observe(
            file,
            pool,
            metadata && secure_boot,
            format!(
                "the pool's nodes: GKE metadata server {}, secure boot {}",
                on_off(metadata),
                on_off(secure_boot)
            ),
        ));
    }
    seen
}

pub(super) fn upgrades(output: &Output) -> Vec<Observation> {
    let mut seen = Vec::new();
    for (file, cluster) in resources(output, "google_container_cluster") {
        let channel = text(cluster, &["release_channel", "channel"]);
        seen.push(observe(
            file,
            cluster,
            channel.is_some_and(|c| c != "UNSPECIFIED"),
            format!("release channel {}", channel.unwrap_or("none")),
        ));
    }
    for (file, pool) in resources(output, "google_container_node_pool") {
        let upgrade = is_true(at(pool, &["management", "auto_upgrade"]));
        let repair = is_true(at(pool, &["management", "auto_repair"]));
        seen.push(observe(
            file,
            pool,
            upgrade && repair,
            format!(
                "the pool's auto-upgrade {}, auto-repair {}",
                on_off(upgrade),
                on_off(repair)
            ),
        ));
    }
    seen
}

pub(super) fn edge_default_deny(output: &Output) -> Vec<Observation> {
    let ingresses = objects(output, "Ingress").count();
    let policies = resources(output, "google_compute_security_policy");
    let mut seen: Vec<Observation> = policies
        .iter()
        .map(|(file, policy)| {
            let last = items(policy.get("rule")).iter().max_by_key(|r| {
                match at(r, &["priority"]).map(|n| &n.value) {
                    Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
                    _ => 0,
                }
            });
            let denies = last
                .and_then(|r| text(r, &["action"]))
                .is_some_and(|a| a.starts_with("deny"));
            let allowed: Vec<&str> = items(policy.get("rule"))
                .iter()
                .filter(|r| text(r, &["action"]) == Some("allow"))
                .flat_map(|r| items(at(r, &["match", "config", "src_ip_ranges"])))
                .filter_map(Node::as_str)
                .collect();
            let exposure = super::exposure::of(allowed.iter().copied());
            observe(
                file,
                policy,
                denies && exposure.within_policy(),
                format!(
                    "Cloud Armor allows [{}] ({}) and denies the rest at its lowest priority: {}",
                    allowed.join(", "),
                    exposure.describe(),
                    if denies { "yes" } else { "no" }
                ),
            )
        })
        .collect();
    if ingresses == 0 {
        // No external entry point: nothing public to guard. The customer's kustomization
        // lists every manifest Argo CD applies, none of them an Ingress.
        if let Some((file, node)) = kustomization(output) {
            seen.push(not_applicable(
                file,
                node,
                "no external entry point is compiled: nothing is served to the internet",
            ));
        }
    }
    seen
}

pub(super) fn closed_firewall(output: &Output) -> Vec<Observation> {
    let mut seen: Vec<Observation> = resources(output, "google_compute_firewall")
        .into_iter()
        .map(|(file, rule)| {
            let allows = rule.get("allow").is_some();
            let ranges: Vec<&str> = items(rule.get("source_ranges"))
                .iter()
                .filter_map(Node::as_str)
                .collect();
            let exposure = super::exposure::of(ranges.iter().copied());
            let name = text(rule, &["name"]).unwrap_or_default();
            observe(
                file,
                rule,
                !allows || exposure.within_policy(),
                if allows {
                    format!(
                        "rule `{name}` admits [{}]: {}",
                        ranges.join(", "),
                        exposure.describe()
                    )
                } else {
                    format!("rule `{name}` denies")
                },
            )
        })
        .collect();
    if seen.is_empty() {
        // Where a rule would be: the network's file.
        if let Some((file, node)) = output
            .documents
            .iter()
            .find(|(p, _)| p.ends_with("/network.tf.json"))
        {
            seen.push(not_applicable(
                file,
                node,
                "no firewall rule is compiled: GKE's own rules only; rules the network's owner adds are theirs to review",
            ));
        }
    }
    seen
}

pub(super) fn logging(output: &Output) -> Vec<Observation> {
    let mut seen = Vec::new();
    for (file, cluster) in resources(output, "google_container_cluster") {
        let components: Vec<&str> = items(at(cluster, &["logging_config", "enable_components"]))
            .iter()
            .filter_map(Node::as_str)
            .collect();
        seen.push(observe(
            file,
            cluster,
            components.contains(&"SYSTEM_COMPONENTS") && components.contains(&"WORKLOADS"),
            format!(
                "the cluster sends [{}] to Cloud Logging (system and workload logs needed)",
                components.join(", ")
            ),
        ));
    }
    // A subnetwork the Terraform creates records flow logs; one it reads is the customer's,
    // and so are its flow logs.
    for (file, subnetwork) in resources(output, "google_compute_subnetwork") {
        seen.push(observe(
            file,
            subnetwork,
            subnetwork.get("log_config").is_some(),
            format!(
                "the subnetwork `{}` records VPC flow logs: {}",
                text(subnetwork, &["name"]).unwrap_or("?"),
                if subnetwork.get("log_config").is_some() {
                    "yes"
                } else {
                    "no"
                }
            ),
        ));
    }
    for (file, subnetwork) in data_sources(output, "google_compute_subnetwork") {
        let name = text(subnetwork, &["name"]).unwrap_or_default();
        let project = text(subnetwork, &["project"]).unwrap_or("the customer's project");
        seen.push(not_applicable(
            file,
            subnetwork,
            format!(
                "the subnetwork `{name}` is read, not created: its VPC flow logs are the duty of its owner ({project}), outside this output"
            ),
        ));
    }
    seen
}

pub(super) fn workload_accounts(output: &Output) -> Vec<Observation> {
    let mut seen = Vec::new();
    let nodes = format!(
        "serviceAccount:{}",
        crate::terraform::NODE_ACCOUNT.attr("email")
    );
    for (file, member) in resources(output, "google_project_iam_member") {
        let who = text(member, &["member"]).unwrap_or_default();
        seen.push(observe(
            file,
            member,
            who == nodes,
            format!(
                "project role `{}` to {}",
                text(member, &["role"]).unwrap_or("?"),
                if who == nodes {
                    "the node account"
                } else {
                    who
                }
            ),
        ));
    }
    for (file, member) in resources(output, "google_secret_manager_secret_iam_member") {
        let one_secret = text(member, &["secret_id"])
            .is_some_and(|id| id.starts_with("${google_secret_manager_secret."));
        let reader = text(member, &["role"]) == Some("roles/secretmanager.secretAccessor");
        seen.push(observe(
            file,
            member,
            one_secret && reader,
            format!(
                "`{}` on secret {}",
                text(member, &["role"]).unwrap_or("?"),
                text(member, &["secret_id"]).unwrap_or("?")
            ),
        ));
    }
    seen
}

pub(super) fn deletion_protection(output: &Output) -> Vec<Observation> {
    resources(output, "google_container_cluster")
        .into_iter()
        .map(|(file, c)| {
            let protected = is_true(c.get("deletion_protection"));
            observe(
                file,
                c,
                protected,
                format!("the cluster's deletion protection {}", on_off(protected)),
            )
        })
        .collect()
}

pub(super) fn node_account(output: &Output) -> Vec<Observation> {
    resources(output, "google_project_iam_member")
        .into_iter()
        .map(|(file, member)| {
            let role = text(member, &["role"]).unwrap_or_default();
            observe(
                file,
                member,
                role == crate::terraform::NODE_ROLE,
                format!("project role `{role}` is the node account's least-privilege role"),
            )
        })
        .collect()
}

pub(super) fn secrets_encryption(output: &Output) -> Vec<Observation> {
    let granted: Vec<&str> = resources(output, "google_kms_crypto_key_iam_member")
        .into_iter()
        .filter(|(_, m)| {
            text(m, &["role"]) == Some("roles/cloudkms.cryptoKeyEncrypterDecrypter")
                && text(m, &["member"]).is_some_and(|m| m.contains("@container-engine-robot."))
        })
        .filter_map(|(_, m)| text(m, &["crypto_key_id"]))
        .collect();
    resources(output, "google_container_cluster")
        .into_iter()
        .map(|(file, cluster)| {
            let encryption = cluster.get("database_encryption");
            let key = encryption.and_then(|e| text(e, &["key_name"]));
            let holds = encryption.is_some_and(|e| text(e, &["state"]) == Some("ENCRYPTED"))
                && key.is_some_and(|k| granted.contains(&k));
            let what = match key {
                Some(key) => format!(
                    "Secrets in etcd are encrypted with `{key}`, which GKE's service agent may use"
                ),
                None => "Secrets in etcd are encrypted with the customer's Cloud KMS key".into(),
            };
            observe(file, encryption.unwrap_or(cluster), holds, what)
        })
        .collect()
}

pub(super) fn data_access_logs(output: &Output) -> Vec<Observation> {
    let configs = resources(output, "google_project_iam_audit_config");
    let mut seen = Vec::new();
    for service in crate::terraform::DATA_ACCESS_LOGGED {
        let found = configs
            .iter()
            .find(|(_, c)| text(c, &["service"]) == Some(service));
        let Some((file, config)) = found else {
            seen.push(Observation {
                file: format!("{}/terraform/logging.tf.json", output.customer),
                line: 1,
                holds: false,
                applies: true,
                what: format!("no Data Access audit logs are configured for `{service}`"),
            });
            continue;
        };
        let logged = items(config.get("audit_log_config"));
        let types: Vec<&str> = logged
            .iter()
            .filter_map(|l| text(l, &["log_type"]))
            .collect();
        let exempted = logged
            .iter()
            .any(|l| !items(l.get("exempted_members")).is_empty());
        seen.push(observe(
            file,
            config,
            ["ADMIN_READ", "DATA_READ", "DATA_WRITE"]
                .iter()
                .all(|t| types.contains(t))
                && !exempted,
            format!("`{service}` records admin reads, data reads and data writes, nobody exempted"),
        ));
    }
    seen
}

pub(super) fn state_bucket(output: &Output) -> Vec<Observation> {
    let terraform = || {
        output
            .documents
            .iter()
            .filter(|(path, _)| path.ends_with(".tf.json"))
    };
    let adopted: Vec<&str> = terraform()
        .flat_map(|(_, d)| items(d.get("import")))
        .filter_map(|i| text(i, &["to"]))
        .collect();
    // (file, resource label, body) of every bucket the Terraform manages.
    let mut buckets = Vec::new();
    for (file, document) in terraform() {
        if let Some(Value::Map(entries)) =
            at(document, &["resource", "google_storage_bucket"]).map(|n| &n.value)
        {
            buckets.extend(entries.iter().map(|e| (file.as_str(), &e.key, &e.value)));
        }
    }
    let mut seen = Vec::new();
    for (file, document) in terraform() {
        let Some(backend) = at(document, &["terraform", "backend", "gcs", "bucket"]) else {
            continue;
        };
        let name = backend.as_str().unwrap_or_default();
        let managed = buckets
            .iter()
            .find(|(_, _, b)| text(b, &["name"]) == Some(name));
        let Some((bucket_file, label, bucket)) = managed else {
            seen.push(observe(
                file,
                backend,
                false,
                format!("the state bucket `{name}` is not managed here: its versioning is not in evidence"),
            ));
            continue;
        };
        let holds = is_true(at(bucket, &["versioning", "enabled"]))
            && is_true(bucket.get("uniform_bucket_level_access"))
            && text(bucket, &["public_access_prevention"]) == Some("enforced")
            && is_true(at(bucket, &["lifecycle", "prevent_destroy"]))
            && adopted.contains(&format!("google_storage_bucket.{label}").as_str());
        seen.push(observe(
            bucket_file,
            bucket,
            holds,
            format!("the state bucket `{name}` is adopted, versioned, uniformly accessed, private and kept from destruction"),
        ));
    }
    seen
}

pub(super) fn supply_chain(output: &Output) -> Vec<Observation> {
    let mut seen = Vec::new();
    let policies = resources(output, "google_binary_authorization_policy");
    for (file, cluster) in resources(output, "google_container_cluster") {
        let mode =
            text(cluster, &["binary_authorization", "evaluation_mode"]).unwrap_or("DISABLED");
        seen.push(observe(
            file,
            cluster,
            mode == "PROJECT_SINGLETON_POLICY_ENFORCE" && !policies.is_empty(),
            format!(
                "Binary Authorization {mode}, with {} policy in the output",
                if policies.is_empty() { "no" } else { "a" }
            ),
        ));
    }
    for (file, policy) in &policies {
        let rule = |key: &str| text(policy, &["default_admission_rule", key]).unwrap_or("unset");
        let (evaluation, enforcement) = (rule("evaluation_mode"), rule("enforcement_mode"));
        seen.push(observe(
            file,
            policy,
            evaluation == "ALWAYS_DENY" && enforcement == "ENFORCED_BLOCK_AND_AUDIT_LOG",
            format!(
                "images the policy does not name: {evaluation}, {enforcement}; it names {}",
                items(policy.get("admission_whitelist_patterns")).len()
            ),
        ));
    }
    for (file, workload) in super::output::workloads(output) {
        let spec = super::output::pod_spec(workload);
        for key in ["initContainers", "containers"] {
            for container in items(spec.and_then(|s| s.get(key))) {
                let image = text(container, &["image"]).unwrap_or_default();
                if !crate::syntax::is_pinned(image) {
                    seen.push(observe(
                        file,
                        container,
                        false,
                        format!("image `{image}` is not pinned by digest"),
                    ));
                }
            }
        }
    }
    seen
}

/// Deleted or overwritten backup objects stay recoverable at least this long.
const SOFT_DELETE_SECONDS: i64 = 7 * 24 * 3600;

pub(super) fn offsite_backups(output: &Output) -> Vec<Observation> {
    let mut seen = Vec::new();
    // The archive bucket: outside the cluster and its disks, in Cloud Storage.
    let archives: Vec<(&str, &Node)> = resources(output, "google_storage_bucket")
        .into_iter()
        .filter(|(file, _)| file.ends_with("/archive.tf.json"))
        .collect();
    for (file, bucket) in &archives {
        let versioned = is_true(at(bucket, &["versioning", "enabled"]));
        let soft_delete = match at(
            bucket,
            &["soft_delete_policy", "retention_duration_seconds"],
        )
        .map(|n| &n.value)
        {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
            _ => 0,
        };
        let private = text(bucket, &["public_access_prevention"]) == Some("enforced");
        let kept = is_true(at(bucket, &["lifecycle", "prevent_destroy"]))
            && !is_true(bucket.get("force_destroy"));
        seen.push(observe(
            file,
            bucket,
            versioned && soft_delete >= SOFT_DELETE_SECONDS && private && kept,
            format!(
                "the archive bucket `{}`: versioning {}, deleted objects kept {} days (at least 7), public access {}, {}",
                text(bucket, &["name"]).unwrap_or("?"),
                if versioned { "on" } else { "off" },
                soft_delete / 86_400,
                if private { "prevented" } else { "not prevented" },
                if kept {
                    "never destroyed by Terraform"
                } else {
                    "destroyable by Terraform"
                }
            ),
        ));
    }
    if archives.is_empty() {
        seen.push(Observation {
            file: format!("{}/terraform/archive.tf.json", output.customer),
            line: 1,
            holds: false,
            applies: true,
            what: "no archive bucket: backups never leave the cluster's disks".into(),
        });
    }
    // The database ships every WAL segment there.
    for (file, config) in objects(output, "ConfigMap") {
        let Some(patroni) = text(config, &["data", "patroni.yml"]) else {
            continue;
        };
        let setting = |name: &str| patroni_setting(patroni, name);
        let mode = setting("archive_mode");
        let command = setting("archive_command").unwrap_or_default();
        seen.push(observe(
            file,
            config,
            matches!(mode, Some("on" | "always")) && command.contains("archive-push"),
            format!(
                "PostgreSQL's archive_mode = {}, archive_command {}",
                mode.unwrap_or("unset (off)"),
                if command.is_empty() {
                    "unset".to_string()
                } else {
                    format!("`{command}`")
                }
            ),
        ));
    }
    seen
}

/// Log entries are kept at least a year: a SOC 2 Type II period.
const LOG_RETENTION_SECONDS: i64 = 365 * 86_400;

pub(super) fn audit_trail(output: &Output) -> Vec<Observation> {
    let mut seen = log_sinks(output);
    seen.extend(change_alerts(output));
    seen
}

/// Each sink: no filter (every entry), to a bucket of the output kept at least a year.
fn log_sinks(output: &Output) -> Vec<Observation> {
    let mut seen = Vec::new();
    let buckets = named_resources(output, "google_storage_bucket");
    for (file, _, sink) in named_resources(output, "google_logging_project_sink") {
        let filter = text(sink, &["filter"]).unwrap_or_default();
        let destination = text(sink, &["destination"]).unwrap_or_default();
        // `storage.googleapis.com/<bucket>`, the bucket by its name or by its address.
        let bucket = buckets.iter().find(|(_, address, bucket)| {
            let named = text(bucket, &["name"]).unwrap_or_default();
            destination == format!("storage.googleapis.com/{named}")
                || destination
                    == format!("storage.googleapis.com/${{google_storage_bucket.{address}.name}}")
        });
        // Seconds, as text (the provider's type) or a number.
        let retention = bucket
            .and_then(|(_, _, b)| at(b, &["retention_policy", "retention_period"]))
            .and_then(|n| match &n.value {
                Value::Number(n) => n.as_i64(),
                Value::String(text) => text.parse().ok(),
                _ => None,
            })
            .unwrap_or(0);
        seen.push(observe(
            file,
            sink,
            filter.trim().is_empty() && bucket.is_some() && retention >= LOG_RETENTION_SECONDS,
            format!(
                "the sink `{}` exports {} to {}, kept {} days (at least 365)",
                text(sink, &["name"]).unwrap_or("?"),
                if filter.trim().is_empty() {
                    "every log entry".to_string()
                } else {
                    format!("only `{filter}`")
                },
                if bucket.is_some() {
                    "a bucket of this output"
                } else {
                    "a destination outside this output"
                },
                retention / 86_400
            ),
        ));
    }
    if seen.is_empty() {
        seen.push(Observation {
            file: format!("{}/terraform/logging.tf.json", output.customer),
            line: 1,
            holds: false,
            applies: true,
            what: "no log sink: entries are kept only as long as Cloud Logging's default".into(),
        });
    }
    seen
}

/// Each watched change: a log-based metric with its filter, counted by an alert policy
/// that notifies a channel.
fn change_alerts(output: &Output) -> Vec<Observation> {
    let mut seen = Vec::new();
    let metrics = named_resources(output, "google_logging_metric");
    let policies = resources(output, "google_monitoring_alert_policy");
    for (_, what, filter) in crate::terraform::WATCHED_CHANGES {
        let metric = metrics
            .iter()
            .find(|(_, _, m)| text(m, &["filter"]).is_some_and(|f| f.contains(filter)));
        let Some((file, address, metric)) = metric else {
            seen.push(Observation {
                file: format!("{}/terraform/logging.tf.json", output.customer),
                line: 1,
                holds: false,
                applies: true,
                what: format!("no log-based metric watches changes to {what}"),
            });
            continue;
        };
        let name = text(metric, &["name"]).unwrap_or_default();
        // The policy whose condition counts the metric, named literally or by its address.
        let counts = |condition: &str| {
            condition.contains(&format!("logging.googleapis.com/user/{name}\""))
                || condition.contains(&format!("${{google_logging_metric.{address}.name}}"))
        };
        let policy = policies.iter().find(|(_, p)| {
            items(p.get("conditions"))
                .iter()
                .any(|c| text(c, &["condition_threshold", "filter"]).is_some_and(counts))
        });
        let channels = policy.map_or(0, |(_, p)| items(p.get("notification_channels")).len());
        seen.push(observe(
            file,
            metric,
            policy.is_some() && channels > 0,
            format!(
                "changes to {what}: metric `{name}`, {}",
                match policy {
                    None => "no alert policy counts it".to_string(),
                    Some(_) => format!("an alert policy to {channels} notification channels"),
                }
            ),
        ));
    }
    seen
}
