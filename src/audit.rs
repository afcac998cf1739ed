//! `gitopsc audit`: SOC 2 evidence from the committed output of each customer, both halves
//! (the manifests Argo CD applies and the Terraform), with the file and line behind every
//! verdict. The catalogue is `CONTROLS`, one row per control (docs/audit.md); a control's
//! check reads the committed files, never the profile, so it judges what is deployed.
//!
//! The report is evidence for the controls listed, not a certification.

use std::collections::BTreeMap;
use std::path::Path;

use crate::load::{Node, Value};

/// Which half of the environment a control looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    Kubernetes,
    Gcp,
    Change,
}

/// One control of the catalogue.
pub struct Control {
    pub id: &'static str,
    /// SOC 2 trust-services criteria the control supports.
    pub criteria: &'static [&'static str],
    pub half: Half,
    pub statement: &'static str,
    pub rationale: &'static str,
    /// The same idea in Kubescape, the CIS GKE benchmark or checkov.
    pub anchors: &'static [&'static str],
    /// The profile field (a JSON pointer) whose value decides the control's outcome; the
    /// report names the line that sets it, in the profile or the layer it comes from.
    pub source: &'static str,
    check: fn(&Output) -> Vec<Observation>,
}

/// What a check saw at one place of the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub file: String,
    pub line: usize,
    pub holds: bool,
    pub what: String,
}

/// The committed files of one customer, parsed with their lines.
pub struct Output {
    pub customer: String,
    /// Path inside `out/` (`acme/app/deployment-app.yaml`) and the parsed document.
    pub documents: Vec<(String, Node)>,
    /// Files of the folder (paths inside `out/`) that are not what the profiles compile to:
    /// edited, added or missing (`render --check`'s findings).
    pub drift: Vec<String>,
}

/// The verdict of one control for one customer.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub control: &'static str,
    pub passed: bool,
    pub observations: Vec<Observation>,
    /// The risk acceptance under which a failing control is tolerated.
    pub excepted: Option<Exception>,
    /// `file:line` of the profile (or layer) line behind the control's outcome.
    pub profile: Option<String>,
}

impl Verdict {
    /// `pass`, `excepted` or `fail`: what every report shows for the verdict.
    pub fn outcome(&self) -> &'static str {
        match (self.passed, &self.excepted) {
            (true, _) => "pass",
            (false, Some(_)) => "excepted",
            (false, None) => "fail",
        }
    }
}

/// Reads `out/<customer>/` into parsed documents; unreadable or unparsable files are
/// observations of their own (a control that needs them then fails).
pub fn read(out: &Path, customer: &str, drift: Vec<String>) -> std::io::Result<Output> {
    let mut documents = Vec::new();
    let mut paths = Vec::new();
    collect(&out.join(customer), &mut paths)?;
    paths.sort();
    for path in paths {
        let name = path.to_string_lossy();
        if !(name.ends_with(".yaml") || name.ends_with(".tf.json")) {
            continue;
        }
        let relative = path
            .strip_prefix(out)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let mut diagnostics = Vec::new();
        let (_, node) = crate::load::load_file(&path, &mut diagnostics);
        if let Some(node) = node {
            documents.push((relative, node));
        }
    }
    Ok(Output {
        customer: customer.to_string(),
        documents,
        drift,
    })
}

fn collect(dir: &Path, into: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, into)?;
        } else {
            into.push(path);
        }
    }
    Ok(())
}

/// Every control of the catalogue on one customer's output.
pub fn evaluate(output: &Output) -> Vec<Verdict> {
    CONTROLS
        .iter()
        .map(|control| {
            let observations = (control.check)(output);
            // A control with nothing to show for it is not met.
            let passed = !observations.is_empty() && observations.iter().all(|o| o.holds);
            Verdict {
                control: control.id,
                passed,
                observations,
                excepted: None,
                profile: None,
            }
        })
        .collect()
}

fn at<'a>(node: &'a Node, path: &[&str]) -> Option<&'a Node> {
    path.iter().try_fold(node, |node, key| node.get(key))
}

fn text<'a>(node: &'a Node, path: &[&str]) -> Option<&'a str> {
    at(node, path).and_then(Node::as_str)
}

fn items(node: Option<&Node>) -> &[Node] {
    match node.map(|n| &n.value) {
        Some(Value::Seq(items)) => items,
        _ => &[],
    }
}

fn is_true(node: Option<&Node>) -> bool {
    matches!(node.map(|n| &n.value), Some(Value::Bool(true)))
}

fn observe(file: &str, node: &Node, holds: bool, what: impl Into<String>) -> Observation {
    Observation {
        file: file.to_string(),
        line: node.location.line,
        holds,
        what: what.into(),
    }
}

/// The Kubernetes objects of the output, with their files.
fn objects<'a>(output: &'a Output, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Node)> {
    output
        .documents
        .iter()
        .filter(move |(path, node)| path.ends_with(".yaml") && text(node, &["kind"]) == Some(kind))
        .map(|(path, node)| (path.as_str(), node))
}

/// Terraform resources of one type: (file, resource body).
fn resources<'a>(output: &'a Output, kind: &'a str) -> Vec<(&'a str, &'a Node)> {
    let mut found = Vec::new();
    for (path, node) in &output.documents {
        if !path.ends_with(".tf.json") {
            continue;
        }
        if let Some(Value::Map(entries)) = at(node, &["resource", kind]).map(|n| &n.value) {
            found.extend(entries.iter().map(|e| (path.as_str(), &e.value)));
        }
    }
    found
}

fn pod_spec(node: &Node) -> Option<&Node> {
    match text(node, &["kind"])? {
        "Deployment" | "StatefulSet" => at(node, &["spec", "template", "spec"]),
        "CronJob" => at(node, &["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

fn workloads(output: &Output) -> Vec<(&str, &Node)> {
    ["Deployment", "StatefulSet", "CronJob"]
        .iter()
        .flat_map(|kind| objects(output, kind))
        .collect()
}

fn default_deny(output: &Output) -> Vec<Observation> {
    let empty = |node: Option<&Node>| match node.map(|n| &n.value) {
        Some(Value::Map(entries)) => entries.is_empty(),
        Some(Value::Seq(items)) => items.is_empty(),
        None => true,
        _ => false,
    };
    objects(output, "NetworkPolicy")
        .filter(|(_, p)| {
            let types: Vec<&str> = items(at(p, &["spec", "policyTypes"]))
                .iter()
                .filter_map(Node::as_str)
                .collect();
            matches!(at(p, &["spec", "podSelector"]).map(|n| &n.value), Some(Value::Map(e)) if e.is_empty())
                && types.contains(&"Ingress")
                && types.contains(&"Egress")
                && empty(at(p, &["spec", "ingress"]))
                && empty(at(p, &["spec", "egress"]))
        })
        .map(|(file, p)| {
            let selector = at(p, &["spec", "podSelector"]).unwrap_or(p);
            observe(file, selector, true, "a policy selects every pod and allows nothing: traffic is denied unless another policy names it")
        })
        .collect()
}

fn labels(node: Option<&Node>) -> BTreeMap<String, String> {
    match node.map(|n| &n.value) {
        Some(Value::Map(entries)) => entries
            .iter()
            .filter_map(|e| Some((e.key.clone(), e.value.as_str()?.to_string())))
            .collect(),
        _ => BTreeMap::new(),
    }
}

fn workload_policies(output: &Output) -> Vec<Observation> {
    let selectors: Vec<BTreeMap<String, String>> = objects(output, "NetworkPolicy")
        .map(|(_, p)| labels(at(p, &["spec", "podSelector", "matchLabels"])))
        .filter(|s| !s.is_empty())
        .collect();
    workloads(output)
        .into_iter()
        .map(|(file, w)| {
            let template = match text(w, &["kind"]) {
                Some("CronJob") => at(w, &["spec", "jobTemplate", "spec", "template"]),
                _ => at(w, &["spec", "template"]),
            };
            let pod = labels(template.and_then(|t| at(t, &["metadata", "labels"])));
            let selected = selectors
                .iter()
                .any(|s| s.iter().all(|(k, v)| pod.get(k) == Some(v)));
            observe(
                file,
                w,
                selected,
                "an allow policy names this workload's pods and flows",
            )
        })
        .collect()
}

fn no_secret_values(output: &Output) -> Vec<Observation> {
    let mut seen = Vec::new();
    for (file, node) in &output.documents {
        if file.ends_with(".yaml") && text(node, &["kind"]) == Some("Secret") {
            seen.push(observe(
                file,
                node,
                false,
                "a Secret object carries values in Git",
            ));
        }
    }
    for (file, w) in workloads(output) {
        let spec = pod_spec(w);
        let containers = items(spec.and_then(|s| s.get("containers")));
        for container in containers {
            for variable in items(container.get("env")) {
                let Some(value) = text(variable, &["value"]) else {
                    continue;
                };
                if crate::check::looks_like_secret_value(value) {
                    seen.push(observe(
                        file,
                        variable,
                        false,
                        "an environment value holds a credential",
                    ));
                }
            }
        }
        seen.push(observe(
            file,
            w,
            true,
            "variables carry no credential; secrets come by reference",
        ));
    }
    seen
}

fn restricted_pods(output: &Output) -> Vec<Observation> {
    let mut seen = Vec::new();
    for (file, w) in workloads(output) {
        let Some(spec) = pod_spec(w) else { continue };
        let pod_non_root = is_true(at(spec, &["securityContext", "runAsNonRoot"]));
        let pod_seccomp =
            text(spec, &["securityContext", "seccompProfile", "type"]) == Some("RuntimeDefault");
        for container in items(spec.get("initContainers"))
            .iter()
            .chain(items(spec.get("containers")))
        {
            let context = container.get("securityContext");
            let non_root = pod_non_root || is_true(context.and_then(|c| c.get("runAsNonRoot")));
            let no_escalation = matches!(
                context
                    .and_then(|c| c.get("allowPrivilegeEscalation"))
                    .map(|n| &n.value),
                Some(Value::Bool(false))
            );
            let drops_all = items(context.and_then(|c| at(c, &["capabilities", "drop"])))
                .iter()
                .any(|d| d.as_str() == Some("ALL"));
            let seccomp = pod_seccomp
                || context.and_then(|c| text(c, &["seccompProfile", "type"]))
                    == Some("RuntimeDefault");
            let name = text(container, &["name"]).unwrap_or("?");
            seen.push(observe(
                file,
                container,
                non_root && no_escalation && drops_all && seccomp,
                format!("container `{name}`: non-root, no privilege escalation, all capabilities dropped, RuntimeDefault seccomp"),
            ));
        }
    }
    seen
}

fn least_rbac(output: &Output) -> Vec<Observation> {
    let mut seen = Vec::new();
    for kind in ["Role", "ClusterRole"] {
        for (file, role) in objects(output, kind) {
            for rule in items(role.get("rules")) {
                let wildcard = ["verbs", "resources", "apiGroups"].iter().any(|field| {
                    items(rule.get(field))
                        .iter()
                        .any(|v| v.as_str() == Some("*"))
                });
                seen.push(observe(
                    file,
                    rule,
                    !wildcard,
                    "the rule names its verbs, resources and groups",
                ));
            }
        }
    }
    for kind in ["RoleBinding", "ClusterRoleBinding"] {
        for (file, binding) in objects(output, kind) {
            let admin = text(binding, &["roleRef", "name"])
                .is_some_and(|n| n == "cluster-admin" || n == "admin");
            seen.push(observe(
                file,
                binding,
                !admin,
                "the binding grants no administrative role",
            ));
        }
    }
    seen
}

fn ingress_tls(output: &Output) -> Vec<Observation> {
    let ingresses: Vec<Observation> = objects(output, "Ingress")
        .map(|(file, ingress)| {
            let managed = text(
                ingress,
                &[
                    "metadata",
                    "annotations",
                    "networking.gke.io/managed-certificates",
                ],
            )
            .is_some();
            let own = !items(at(ingress, &["spec", "tls"])).is_empty();
            observe(
                file,
                ingress,
                managed || own,
                "the Ingress serves TLS with a managed or named certificate",
            )
        })
        .collect();
    let mut seen = ingresses;
    // The database speaks TLS too: Pgpool's configuration turns SSL on.
    for (file, config) in objects(output, "ConfigMap") {
        if text(config, &["metadata", "name"]) != Some("pgpool") {
            continue;
        }
        let on = text(config, &["data", "pgpool.conf"]).is_some_and(|c| c.contains("ssl = on"));
        seen.push(observe(
            file,
            config,
            on,
            "Pgpool accepts TLS connections (ssl = on)",
        ));
    }
    seen
}

fn disruption_budgets(output: &Output) -> Vec<Observation> {
    let budgets: Vec<BTreeMap<String, String>> = objects(output, "PodDisruptionBudget")
        .map(|(_, p)| labels(at(p, &["spec", "selector", "matchLabels"])))
        .collect();
    ["Deployment", "StatefulSet"]
        .iter()
        .flat_map(|kind| objects(output, kind))
        .filter(|(_, w)| {
            // Single-replica workloads (an extension's one node) cannot have a budget that
            // lets a drain through; they are not what this control is about.
            !matches!(at(w, &["spec", "replicas"]).map(|n| &n.value), Some(Value::Number(n)) if n.as_u64() == Some(1))
        })
        .map(|(file, w)| {
            let pod = labels(at(w, &["spec", "template", "metadata", "labels"]));
            let covered = budgets.iter().any(|s| !s.is_empty() && s.iter().all(|(k, v)| pod.get(k) == Some(v)));
            observe(file, w, covered, "a PodDisruptionBudget keeps replicas up through node drains")
        })
        .collect()
}

fn snapshots(output: &Output) -> Vec<Observation> {
    let mut seen: Vec<Observation> = objects(output, "CronJob")
        .map(|(file, job)| {
            observe(
                file,
                job,
                text(job, &["spec", "schedule"]).is_some(),
                "database snapshots run on a schedule",
            )
        })
        .collect();
    for (file, object, alerts) in rule_files(output) {
        let alerting = alerts
            .iter()
            .any(|r| text(r, &["alert"]) == Some("SnapshotTooOld"));
        seen.push(observe(
            file,
            object,
            alerting,
            "an alert fires when the newest snapshot is too old",
        ));
    }
    seen
}

/// The rule objects of either monitoring provider, each with its alert rules.
fn rule_files(output: &Output) -> Vec<(&str, &Node, Vec<&Node>)> {
    ["PrometheusRule", "ClusterRules"]
        .iter()
        .flat_map(|kind| objects(output, kind))
        .map(|(file, rules)| {
            let alerts = items(at(rules, &["spec", "groups"]))
                .iter()
                .flat_map(|g| items(g.get("rules")))
                .collect();
            (file, rules, alerts)
        })
        .collect()
}

fn monitoring(output: &Output) -> Vec<Observation> {
    let mut seen: Vec<Observation> = rule_files(output)
        .into_iter()
        .map(|(file, object, alerts)| {
            let count = alerts.len();
            observe(file, object, count > 0, format!("{count} alert rules"))
        })
        .collect();
    let monitors = ["PodMonitor", "PodMonitoring"]
        .iter()
        .map(|k| objects(output, k).count())
        .sum::<usize>();
    if let Some((file, node)) = output
        .documents
        .iter()
        .find(|(p, _)| p.contains("/monitoring/"))
    {
        seen.push(observe(
            file,
            node,
            monitors >= 3,
            format!("{monitors} scrape targets (app, PostgreSQL, Pgpool)"),
        ));
    }
    seen
}

fn private_cluster(output: &Output) -> Vec<Observation> {
    resources(output, "google_container_cluster")
        .into_iter()
        .flat_map(|(file, cluster)| {
            let private = is_true(at(
                cluster,
                &["private_cluster_config", "enable_private_nodes"],
            ));
            let authorized = at(cluster, &["master_authorized_networks_config"]).is_some();
            vec![
                observe(file, cluster, private, "nodes have private addresses only"),
                observe(
                    file,
                    cluster,
                    authorized,
                    "the control plane admits the authorized networks only",
                ),
            ]
        })
        .collect()
}

fn node_hardening(output: &Output) -> Vec<Observation> {
    let mut seen = Vec::new();
    for (file, cluster) in resources(output, "google_container_cluster") {
        let identity = at(cluster, &["workload_identity_config", "workload_pool"]).is_some();
        let shielded = is_true(cluster.get("enable_shielded_nodes"));
        seen.push(observe(
            file,
            cluster,
            identity && shielded,
            "Workload Identity and shielded nodes",
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
            "GKE metadata server and secure boot on the pool's nodes",
        ));
    }
    seen
}

fn upgrades(output: &Output) -> Vec<Observation> {
    let mut seen = Vec::new();
    for (file, cluster) in resources(output, "google_container_cluster") {
        seen.push(observe(
            file,
            cluster,
            at(cluster, &["release_channel", "channel"]).is_some(),
            "the cluster follows a release channel",
        ));
    }
    for (file, pool) in resources(output, "google_container_node_pool") {
        let both = is_true(at(pool, &["management", "auto_upgrade"]))
            && is_true(at(pool, &["management", "auto_repair"]));
        seen.push(observe(
            file,
            pool,
            both,
            "the pool's nodes are upgraded and repaired automatically",
        ));
    }
    seen
}

fn edge_default_deny(output: &Output) -> Vec<Observation> {
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
            observe(
                file,
                policy,
                denies,
                "Cloud Armor denies what the allow-list does not name",
            )
        })
        .collect();
    if ingresses == 0 {
        // No external entry point: nothing public to guard; the absence is the evidence.
        if let Some((file, node)) = output
            .documents
            .iter()
            .find(|(p, _)| p.ends_with("/cluster.tf.json"))
        {
            seen.push(observe(
                file,
                node,
                true,
                "no external entry point is compiled",
            ));
        }
    }
    seen
}

fn closed_firewall(output: &Output) -> Vec<Observation> {
    let mut seen: Vec<Observation> = resources(output, "google_compute_firewall")
        .into_iter()
        .map(|(file, rule)| {
            let allows = rule.get("allow").is_some();
            let open = items(rule.get("source_ranges"))
                .iter()
                .any(|r| r.as_str() == Some("0.0.0.0/0"));
            observe(
                file,
                rule,
                !(allows && open),
                "no rule admits every address",
            )
        })
        .collect();
    if seen.is_empty() {
        if let Some((file, node)) = output
            .documents
            .iter()
            .find(|(p, _)| p.ends_with("/cluster.tf.json"))
        {
            seen.push(observe(
                file,
                node,
                true,
                "no firewall rule is compiled (GKE's own rules only)",
            ));
        }
    }
    seen
}

fn logging(output: &Output) -> Vec<Observation> {
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
            "system and workload logs go to Cloud Logging",
        ));
    }
    // A subnetwork the Terraform creates records flow logs; one it reads is the customer's.
    for (file, subnetwork) in resources(output, "google_compute_subnetwork") {
        seen.push(observe(
            file,
            subnetwork,
            subnetwork.get("log_config").is_some(),
            "the subnetwork records VPC flow logs",
        ));
    }
    seen
}

fn secrets_mounted_least(output: &Output) -> Vec<Observation> {
    // A Secret a cert-manager Certificate writes holds its certificate and key, all of which
    // the mounting container uses; any other Secret is mounted key by key.
    let certificates: Vec<&str> = objects(output, "Certificate")
        .filter_map(|(_, c)| text(c, &["spec", "secretName"]))
        .collect();
    let mut seen = Vec::new();
    for (file, w) in workloads(output) {
        for volume in items(pod_spec(w).and_then(|s| s.get("volumes"))) {
            let Some(secret) = text(volume, &["secret", "secretName"]) else {
                continue;
            };
            let listed = !items(at(volume, &["secret", "items"])).is_empty();
            seen.push(observe(
                file,
                volume,
                listed || certificates.contains(&secret),
                format!("Secret `{secret}` is mounted with only the keys the container uses"),
            ));
        }
    }
    seen
}

fn workload_accounts(output: &Output) -> Vec<Observation> {
    let mut seen = Vec::new();
    let nodes = format!(
        "serviceAccount:${{google_service_account.{}.email}}",
        "nodes"
    );
    for (file, member) in resources(output, "google_project_iam_member") {
        let to_nodes = text(member, &["member"]) == Some(nodes.as_str());
        seen.push(observe(
            file,
            member,
            to_nodes,
            "project roles go to the node account only, never to a workload's",
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
            "the store reads exactly its secret",
        ));
    }
    seen
}

fn deletion_protection(output: &Output) -> Vec<Observation> {
    resources(output, "google_container_cluster")
        .into_iter()
        .map(|(file, c)| {
            observe(
                file,
                c,
                is_true(c.get("deletion_protection")),
                "the cluster cannot be deleted by accident",
            )
        })
        .collect()
}

fn node_account(output: &Output) -> Vec<Observation> {
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

/// GKE's own StorageClasses, all of the Persistent Disk CSI driver; a claim that names none
/// gets the cluster's default, `standard-rwo`. A class the customer created is not in the
/// output, so the audit cannot show how it encrypts.
const GKE_STORAGE_CLASSES: &[&str] = &["standard-rwo", "premium-rwo", "standard"];

fn encrypted_volumes(output: &Output) -> Vec<Observation> {
    let mut claims: Vec<(&str, &Node)> = objects(output, "PersistentVolumeClaim").collect();
    for (file, set) in objects(output, "StatefulSet") {
        claims.extend(
            items(at(set, &["spec", "volumeClaimTemplates"]))
                .iter()
                .map(|claim| (file, claim)),
        );
    }
    claims
        .into_iter()
        .map(|(file, claim)| {
            let spec = claim.get("spec").unwrap_or(claim);
            match text(spec, &["storageClassName"]) {
                Some(class) => observe(
                    file,
                    spec.get("storageClassName").unwrap_or(spec),
                    GKE_STORAGE_CLASSES.contains(&class),
                    format!("StorageClass `{class}` is GKE's, provisioned by pd.csi.storage.gke.io and encrypted at rest"),
                ),
                None => observe(
                    file,
                    spec,
                    true,
                    "the cluster's default StorageClass (`standard-rwo`, pd.csi.storage.gke.io) encrypts at rest",
                ),
            }
        })
        .collect()
}

fn secrets_encryption(output: &Output) -> Vec<Observation> {
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

fn data_access_logs(output: &Output) -> Vec<Observation> {
    let configs = resources(output, "google_project_iam_audit_config");
    let mut seen = Vec::new();
    for service in crate::terraform::DATA_ACCESS_LOGGED {
        let found = configs
            .iter()
            .find(|(_, c)| text(c, &["service"]) == Some(service));
        let Some((file, config)) = found else {
            seen.push(Observation {
                file: format!("{}/terraform", output.customer),
                line: 1,
                holds: false,
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

fn state_bucket(output: &Output) -> Vec<Observation> {
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

fn compiled_output(output: &Output) -> Vec<Observation> {
    if output.drift.is_empty() {
        return vec![Observation {
            file: format!("{}/{}", output.customer, crate::package::LOCK),
            // The lock's `compiler:` line names the version that compiled the folder.
            line: 3,
            holds: true,
            what: "every file is what the profiles compile to, by the compiler the lock names"
                .into(),
        }];
    }
    output
        .drift
        .iter()
        .map(|file| Observation {
            file: file.clone(),
            line: 1,
            holds: false,
            what: "differs from what the profiles compile to (edited, added or missing)".into(),
        })
        .collect()
}

/// The catalogue. docs/audit.md shows it as a table; a test keeps the two in step.
pub const CONTROLS: &[Control] = &[
    Control {
        id: "K8S-NET-1",
        criteria: &["CC6.6"],
        half: Half::Kubernetes,
        statement: "Every namespace denies all traffic by default.",
        rationale: "A pod reachable by anything in the cluster is one compromised neighbour away.",
        anchors: &["Kubescape C-0260"],
        source: "/spec/access",
        check: default_deny,
    },
    Control {
        id: "K8S-NET-2",
        criteria: &["CC6.6"],
        half: Half::Kubernetes,
        statement: "Every workload's allowed flows are named by a NetworkPolicy.",
        rationale: "Flows are reviewed in the pull request that opens them.",
        anchors: &["Kubescape C-0260"],
        source: "/spec/access",
        check: workload_policies,
    },
    Control {
        id: "K8S-SEC-1",
        criteria: &["CC6.1"],
        half: Half::Kubernetes,
        statement: "No credential is in the committed output; secrets come by reference.",
        rationale: "Git history is forever and widely readable.",
        anchors: &["Kubescape C-0012"],
        source: "/spec/database/credentials",
        check: no_secret_values,
    },
    Control {
        id: "K8S-SEC-2",
        criteria: &["CC6.1", "CC6.3"],
        half: Half::Kubernetes,
        statement: "Every Secret is mounted with only the keys the container uses.",
        rationale: "A container that reads the app's password cannot read the superuser's.",
        anchors: &["Kubescape C-0186"],
        source: "/spec/database/credentials",
        check: secrets_mounted_least,
    },
    Control {
        id: "K8S-ENC-1",
        criteria: &["CC6.1"],
        half: Half::Kubernetes,
        statement: "Every persistent volume is provisioned by GKE's Persistent Disk CSI driver, which encrypts it at rest.",
        rationale: "Data on a disk that leaves Google's custody is unreadable.",
        anchors: &["Kubescape C-0264"],
        source: "/spec/database/storage",
        check: encrypted_volumes,
    },
    Control {
        id: "K8S-POD-1",
        criteria: &["CC6.8"],
        half: Half::Kubernetes,
        statement: "Every container runs restricted: non-root, no privilege escalation, no capabilities, RuntimeDefault seccomp.",
        rationale: "A container escape starts from privileges the container did not need.",
        anchors: &[
            "checkov CKV_K8S_20",
            "checkov CKV_K8S_28",
            "checkov CKV_K8S_37",
        ],
        source: "/spec/app",
        check: restricted_pods,
    },
    Control {
        id: "K8S-RBAC-1",
        criteria: &["CC6.2", "CC6.3"],
        half: Half::Kubernetes,
        statement: "No role grants wildcards and no binding grants an administrative role.",
        rationale: "Least privilege for every ServiceAccount the output creates.",
        anchors: &["Kubescape C-0035", "checkov CKV_K8S_49"],
        source: "/spec/database",
        check: least_rbac,
    },
    Control {
        id: "K8S-TLS-1",
        criteria: &["CC6.7"],
        half: Half::Kubernetes,
        statement: "Traffic is encrypted at the edge (Ingress TLS) and to the database (Pgpool SSL).",
        rationale: "Credentials and data never cross a network in clear text.",
        anchors: &["Kubescape C-0263"],
        source: "/spec/access/external",
        check: ingress_tls,
    },
    Control {
        id: "K8S-AV-1",
        criteria: &["A1.2"],
        half: Half::Kubernetes,
        statement: "Every replicated workload has a PodDisruptionBudget.",
        rationale: "Node upgrades and drains never take a service below its capacity.",
        anchors: &[],
        source: "/spec/database/pgpool/replicas",
        check: disruption_budgets,
    },
    Control {
        id: "K8S-BAK-1",
        criteria: &["A1.2"],
        half: Half::Kubernetes,
        statement: "Database snapshots run on a schedule and an alert fires when they stop.",
        rationale: "A backup nobody notices failing is no backup.",
        anchors: &[],
        source: "/spec/backup/snapshots",
        check: snapshots,
    },
    Control {
        id: "K8S-MON-1",
        criteria: &["CC7.2"],
        half: Half::Kubernetes,
        statement: "The stack is scraped and alert rules are in place.",
        rationale: "Incidents are detected by the system, not by customers.",
        anchors: &[],
        source: "/spec/monitoring",
        check: monitoring,
    },
    Control {
        id: "GCP-GKE-1",
        criteria: &["CC6.6"],
        half: Half::Gcp,
        statement: "The cluster's nodes are private and its control plane admits authorized networks only.",
        rationale: "Nothing in the cluster is addressable from the internet but what an entry point exposes.",
        // Not checkov's CKV_GCP_25: it passes a cluster whose nodes are public.
        anchors: &["CIS GKE 5.6.3", "CIS GKE 5.6.5", "checkov CKV_GCP_20"],
        source: "/spec/infrastructure/cluster/masterAuthorizedNetworks",
        check: private_cluster,
    },
    Control {
        id: "GCP-GKE-2",
        criteria: &["CC6.1", "CC6.8"],
        half: Half::Gcp,
        statement: "Workloads authenticate with Workload Identity; nodes are shielded with secure boot and the GKE metadata server.",
        rationale: "No node credentials or long-lived keys reach a pod.",
        anchors: &[
            "checkov CKV_GCP_69",
            "checkov CKV_GCP_71",
            "checkov CKV_GCP_68",
        ],
        source: "/spec/infrastructure/cluster",
        check: node_hardening,
    },
    Control {
        id: "GCP-ENC-1",
        criteria: &["CC6.1"],
        half: Half::Gcp,
        statement: "Kubernetes Secrets are encrypted in etcd with the customer's Cloud KMS key, which GKE's service agent may use.",
        rationale: "Revoking the key makes every Secret of the cluster unreadable, the customer's choice to make.",
        anchors: &["CIS GKE 5.3.1"],
        source: "/spec/infrastructure/cluster/secretsEncryptionKey",
        check: secrets_encryption,
    },
    Control {
        id: "GCP-GKE-3",
        criteria: &["CC7.1"],
        half: Half::Gcp,
        statement: "The cluster follows a release channel; nodes upgrade and repair automatically.",
        rationale: "Security patches arrive without a human remembering them.",
        anchors: &[
            "checkov CKV_GCP_70",
            "checkov CKV_GCP_10",
            "checkov CKV_GCP_9",
        ],
        source: "/spec/infrastructure/cluster/releaseChannel",
        check: upgrades,
    },
    Control {
        id: "GCP-EDGE-1",
        criteria: &["CC6.6"],
        half: Half::Gcp,
        statement: "Cloud Armor admits the external allow-list and denies everything else.",
        rationale: "The allow-list is enforced at Google's edge, before the load balancer.",
        anchors: &[],
        source: "/spec/access/external/allowedSourceRanges",
        check: edge_default_deny,
    },
    Control {
        id: "GCP-NET-1",
        criteria: &["CC6.6"],
        half: Half::Gcp,
        statement: "No firewall rule admits every address.",
        rationale: "Ingress is limited to the customer's ranges and Google's health checkers.",
        anchors: &["checkov CKV_GCP_2", "checkov CKV_GCP_3"],
        source: "/spec/access/internal/allowedSourceRanges",
        check: closed_firewall,
    },
    Control {
        id: "GCP-IAM-1",
        criteria: &["CC6.3"],
        half: Half::Gcp,
        statement: "The node service account holds only GKE's least-privilege node role.",
        rationale: "A node compromise does not reach the rest of the project.",
        anchors: &["CIS GKE 5.2.1"],
        source: "/spec/infrastructure/nodePools",
        check: node_account,
    },
    Control {
        id: "GCP-IAM-2",
        criteria: &["CC6.3"],
        half: Half::Gcp,
        statement: "Workload service accounts hold no project role; the secret store reads exactly its secret.",
        rationale: "A compromised pod reaches what its own service needs, nothing else.",
        anchors: &[],
        source: "/spec/app/workloadIdentity",
        check: workload_accounts,
    },
    Control {
        id: "GCP-LOG-1",
        criteria: &["CC7.2"],
        half: Half::Gcp,
        statement: "The cluster sends system and workload logs to Cloud Logging; a subnetwork gitopsc creates records flow logs.",
        rationale: "Investigations have the events and the traffic to work from.",
        anchors: &["checkov CKV_GCP_1", "checkov CKV_GCP_26"],
        source: "/spec/infrastructure/cluster",
        check: logging,
    },
    Control {
        id: "GCP-LOG-2",
        criteria: &["CC7.2", "CC6.8"],
        half: Half::Gcp,
        statement: "Cloud Audit Logs record every read and write of secrets, keys and storage (Data Access logs), for every user.",
        rationale: "Who read a credential or the Terraform state is answerable after the fact.",
        anchors: &["Kubescape C-0067"],
        source: "/spec/gcp/projectId",
        check: data_access_logs,
    },
    Control {
        id: "GCP-AV-1",
        criteria: &["A1.2"],
        half: Half::Gcp,
        statement: "The cluster has deletion protection.",
        rationale: "A mistaken apply or destroy cannot remove the environment.",
        anchors: &[],
        source: "/spec/infrastructure/cluster",
        check: deletion_protection,
    },
    Control {
        id: "GCP-STATE-1",
        criteria: &["CC8.1", "A1.2"],
        half: Half::Gcp,
        statement: "The Terraform state bucket is managed: versioned, uniform access, public access prevented, never destroyed.",
        rationale: "An earlier state can be restored after a bad apply, and nobody outside the project reads it.",
        anchors: &[
            "checkov CKV_GCP_78",
            "checkov CKV_GCP_29",
            "checkov CKV_GCP_114",
        ],
        source: "/spec/infrastructure/state",
        check: state_bucket,
    },
    Control {
        id: "CHG-1",
        criteria: &["CC8.1"],
        half: Half::Change,
        statement: "The committed output is exactly what the reviewed profiles compile to, by a named compiler version.",
        rationale: "What Argo CD and Terraform apply went through the pull request.",
        anchors: &[],
        source: "/metadata/name",
        check: compiled_output,
    },
];

/// A risk acceptance: a control that may fail for the customers `customers` (a name or a
/// glob with `*`) until `expires`, for `reason`, approved by `approver`.
#[derive(Debug, Clone)]
pub struct Exception {
    pub control: String,
    pub customers: String,
    pub reason: String,
    pub approver: String,
    /// `YYYY-MM-DD`; the exception holds through that day.
    pub expires: String,
    /// Where the exception is written: `file:line`.
    pub at: String,
}

impl Exception {
    pub fn covers(&self, control: &str, customer: &str) -> bool {
        self.control == control && glob(&self.customers, customer)
    }

    pub fn expired(&self, today: &str) -> bool {
        self.expires.as_str() < today
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.starts_with(head)
                && (0..=name.len() - head.len().min(name.len())).any(|i| {
                    name.get(head.len() + i..)
                        .is_some_and(|rest| glob(tail, rest))
                })
        }
    }
}

/// Applies the exceptions to the verdicts: a failing control covered by a current exception
/// is excepted. Returns the problems: an expired exception (its controls stay failed) and an
/// exception that covers no failing control (a stale acceptance hides the next failure).
pub fn apply_exceptions(
    results: &mut [(String, Vec<Verdict>)],
    exceptions: &[Exception],
    today: &str,
) -> Vec<String> {
    let mut used = vec![false; exceptions.len()];
    let mut problems = Vec::new();
    for (customer, verdicts) in results.iter_mut() {
        for verdict in verdicts.iter_mut().filter(|v| !v.passed) {
            let Some(i) = exceptions
                .iter()
                .position(|e| e.covers(verdict.control, customer))
            else {
                continue;
            };
            used[i] = true;
            if exceptions[i].expired(today) {
                problems.push(format!(
                    "{}: the exception for {} on {customer} expired on {}",
                    exceptions[i].at, verdict.control, exceptions[i].expires
                ));
            } else {
                verdict.excepted = Some(exceptions[i].clone());
            }
        }
    }
    for (exception, used) in exceptions.iter().zip(used) {
        if !used {
            problems.push(format!(
                "{}: the exception for {} on `{}` covers no failing control; remove it",
                exception.at, exception.control, exception.customers
            ));
        }
    }
    problems
}

/// Reads the exceptions file: a mapping with `exceptions:`, a list of entries with
/// `control`, `customers`, `reason`, `approver`, `expires`. Every problem is reported with
/// its line.
pub fn read_exceptions(path: &Path) -> Result<Vec<Exception>, Vec<String>> {
    let mut diagnostics = Vec::new();
    let (_, root) = crate::load::load_file(path, &mut diagnostics);
    let mut problems: Vec<String> = diagnostics
        .iter()
        .map(|d| match &d.location {
            Some(at) => format!("{}:{}: {}", path.display(), at.line, d.message),
            None => d.message.clone(),
        })
        .collect();
    let Some(root) = root else {
        return Err(problems);
    };
    let place = |node: &Node| format!("{}:{}", path.display(), node.location.line);
    let mut exceptions = Vec::new();
    for entry in items(root.get("exceptions")) {
        let field = |name: &str| text(entry, &[name]).map(str::to_string);
        let mut missing = Vec::new();
        let mut value = |name: &'static str| {
            field(name).unwrap_or_else(|| {
                missing.push(name);
                String::new()
            })
        };
        let exception = Exception {
            control: value("control"),
            customers: value("customers"),
            reason: value("reason"),
            approver: value("approver"),
            expires: value("expires"),
            at: place(entry),
        };
        if !missing.is_empty() {
            problems.push(format!(
                "{}: the exception needs {}",
                place(entry),
                missing.join(", ")
            ));
            continue;
        }
        let date_ok = exception.expires.len() == 10
            && exception.expires.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !date_ok {
            problems.push(format!(
                "{}: `expires` is not a date (YYYY-MM-DD)",
                place(entry)
            ));
        }
        if !CONTROLS.iter().any(|c| c.id == exception.control) {
            problems.push(format!(
                "{}: `{}` is not a control of the catalogue",
                place(entry),
                exception.control
            ));
        }
        exceptions.push(exception);
    }
    if root.get("exceptions").is_none() {
        problems.push(format!(
            "{}: expected a mapping with `exceptions:`",
            place(&root)
        ));
    }
    if problems.is_empty() {
        Ok(exceptions)
    } else {
        Err(problems)
    }
}

/// Today's date in UTC as `YYYY-MM-DD` (days since the epoch to the civil calendar).
pub fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Names, on each verdict, the profile line behind it: the line that sets the control's
/// `source` field in the merged profile (the layer's line when a layer sets it), or the
/// nearest field above it that is set.
pub fn attribute(verdicts: &mut [Verdict], profile: &Path) {
    let cache = crate::layer::LayerCache::default();
    let mut diagnostics = Vec::new();
    let Some(root) = crate::compiler::merged(profile, &cache, &mut diagnostics) else {
        return;
    };
    for (verdict, control) in verdicts.iter_mut().zip(CONTROLS) {
        let at = crate::model::locate(&root, control.source);
        verdict.profile = Some(format!("{}:{}", at.file.path.display(), at.line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("acme", "acme"));
        assert!(glob("staging-*", "staging-eu"));
        assert!(glob("*-eu", "staging-eu"));
        assert!(glob("*", "anything"));
        assert!(!glob("staging-*", "prod-eu"));
        assert!(!glob("acme", "acme2"));
    }

    #[test]
    fn today_is_a_date() {
        let today = today();
        assert_eq!(today.len(), 10);
        assert!(today.as_str() > "2024-01-01", "{today}");
    }
}
