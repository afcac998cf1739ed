//! Controls on the Kubernetes half: the manifests Argo CD applies.

use std::collections::BTreeMap;

use super::output::{
    Observation, Output, at, is_true, items, kustomization, not_applicable, objects, observe,
    patroni_setting, pod_spec, text, workloads,
};
use crate::load::{Node, Value};

pub(super) fn default_deny(output: &Output) -> Vec<Observation> {
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

pub(super) fn workload_policies(output: &Output) -> Vec<Observation> {
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
                format!(
                    "`{}`: {}",
                    text(w, &["metadata", "name"]).unwrap_or("?"),
                    if selected {
                        "an allow policy names its pods and flows"
                    } else {
                        "no allow policy selects its pods"
                    }
                ),
            )
        })
        .collect()
}

pub(super) fn no_secret_values(output: &Output) -> Vec<Observation> {
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
    // Every string of every file, both halves: environment values, ConfigMaps and the
    // scripts in them, Terraform arguments.
    fn strings<'a>(node: &'a Node, into: &mut Vec<(&'a Node, &'a str)>) {
        match &node.value {
            Value::String(text) => into.push((node, text)),
            Value::Seq(items) => items.iter().for_each(|n| strings(n, into)),
            Value::Map(entries) => entries.iter().for_each(|e| strings(&e.value, into)),
            _ => {}
        }
    }
    let mut scanned = 0;
    for (file, document) in &output.documents {
        let mut found = Vec::new();
        strings(document, &mut found);
        scanned += found.len();
        for (node, value) in found {
            let rules = super::secrets::found_in(value);
            if !rules.is_empty() {
                seen.push(observe(
                    file,
                    node,
                    false,
                    format!(
                        "a credential in the output (gitleaks rule {})",
                        rules.join(", ")
                    ),
                ));
            }
        }
    }
    if let Some((file, node)) = output.documents.first() {
        seen.push(observe(
            file,
            node,
            true,
            format!(
                "{scanned} strings of {} files scanned for credentials; secrets come by reference",
                output.documents.len()
            ),
        ));
    }
    seen
}

pub(super) fn restricted_pods(output: &Output) -> Vec<Observation> {
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

pub(super) fn least_rbac(output: &Output) -> Vec<Observation> {
    let mut seen = Vec::new();
    for kind in ["Role", "ClusterRole"] {
        for (file, role) in objects(output, kind) {
            for rule in items(role.get("rules")) {
                let list = |field: &str| -> Vec<&str> {
                    items(rule.get(field))
                        .iter()
                        .filter_map(Node::as_str)
                        .collect()
                };
                let (verbs, resources, groups) =
                    (list("verbs"), list("resources"), list("apiGroups"));
                let wildcard = [&verbs, &resources, &groups]
                    .iter()
                    .any(|names| names.contains(&"*"));
                // Reading Secrets is reading every credential of the namespace (Kubescape
                // C-0186): no role the output creates may.
                let reads_secrets = resources.contains(&"secrets")
                    && verbs
                        .iter()
                        .any(|v| matches!(*v, "get" | "list" | "watch" | "*"));
                seen.push(observe(
                    file,
                    rule,
                    !wildcard && !reads_secrets,
                    format!(
                        "the rule grants [{}] on [{}] of groups [{}]",
                        verbs.join(", "),
                        resources.join(", "),
                        groups
                            .iter()
                            .map(|g| if g.is_empty() { "core" } else { g })
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
    }
    for kind in ["RoleBinding", "ClusterRoleBinding"] {
        for (file, binding) in objects(output, kind) {
            let role = text(binding, &["roleRef", "name"]).unwrap_or_default();
            let admin = role == "cluster-admin" || role == "admin";
            seen.push(observe(
                file,
                binding,
                !admin,
                format!(
                    "the binding grants `{role}`{}",
                    if admin {
                        ", an administrative role"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
    seen
}

pub(super) fn ingress_tls(output: &Output) -> Vec<Observation> {
    let mut seen: Vec<Observation> = objects(output, "Ingress")
        .map(|(file, ingress)| {
            let annotation = |key: &str| text(ingress, &["metadata", "annotations", key]);
            let managed = annotation("networking.gke.io/managed-certificates").is_some();
            let own = !items(at(ingress, &["spec", "tls"])).is_empty();
            // The versions served are the SSL policy's: none named is GCP's default,
            // which accepts TLS 1.0.
            let policy = annotation("networking.gke.io/v1beta1.FrontendConfig")
                .and_then(|name| {
                    objects(output, "FrontendConfig")
                        .find(|(_, f)| text(f, &["metadata", "name"]) == Some(name))
                })
                .and_then(|(_, f)| text(f, &["spec", "sslPolicy"]));
            let minimum = policy.and_then(|name| {
                super::output::resources(output, "google_compute_ssl_policy")
                    .into_iter()
                    .find(|(_, p)| text(p, &["name"]) == Some(name))
                    .and_then(|(_, p)| text(p, &["min_tls_version"]))
            });
            let modern = matches!(minimum, Some("TLS_1_2" | "TLS_1_3"));
            observe(
                file,
                ingress,
                (managed || own) && modern,
                format!(
                    "the Ingress serves TLS with a {} certificate, minimum version {} (SSL policy {})",
                    if managed { "managed" } else if own { "named" } else { "missing" },
                    minimum.unwrap_or("TLS_1_0, GCP's default"),
                    policy.map_or("none".to_string(), |p| format!("`{p}`")),
                ),
            )
        })
        .collect();
    // The database speaks TLS too: Pgpool's effective `ssl` (the last assignment wins) and
    // every network line of pool_hba.conf `hostssl`.
    for (file, config) in objects(output, "ConfigMap") {
        if text(config, &["metadata", "name"]) != Some("pgpool") {
            continue;
        }
        let conf = text(config, &["data", "pgpool.conf"]).unwrap_or_default();
        let ssl = conf
            .lines()
            .map(|l| l.split('#').next().unwrap_or_default().trim())
            .filter_map(|l| l.split_once('='))
            .filter(|(key, _)| key.trim() == "ssl")
            .map(|(_, value)| value.trim().trim_matches('\''))
            .next_back();
        let hba = text(config, &["data", "pool_hba.conf"]).unwrap_or_default();
        let plain: Vec<&str> = hba
            .lines()
            .map(|l| l.split('#').next().unwrap_or_default().trim())
            .filter(|l| {
                let kind = l.split_whitespace().next().unwrap_or_default();
                kind.starts_with("host") && kind != "hostssl"
            })
            .collect();
        seen.push(observe(
            file,
            config,
            ssl == Some("on") && plain.is_empty() && !hba.is_empty(),
            format!(
                "Pgpool's effective ssl = {}; network lines of pool_hba.conf without TLS: {}",
                ssl.unwrap_or("unset (off)"),
                if plain.is_empty() {
                    "none".to_string()
                } else {
                    plain.join("; ")
                }
            ),
        ));
    }
    seen
}

/// How many of `replicas` pods a budget lets a drain evict at once: `maxUnavailable`
/// (rounded up when a percentage), or the replicas above `minAvailable` (rounded up).
fn disruptions_allowed(budget: &Node, replicas: u64) -> u64 {
    let amount = |field: &str| -> Option<(u64, bool)> {
        match &at(budget, &["spec", field])?.value {
            Value::Number(n) => Some((n.as_u64()?, false)),
            Value::String(text) => Some((text.strip_suffix('%')?.parse().ok()?, true)),
            _ => None,
        }
    };
    let of = |(value, percent): (u64, bool)| {
        if percent {
            (value * replicas).div_ceil(100)
        } else {
            value
        }
    };
    match (amount("maxUnavailable"), amount("minAvailable")) {
        (Some(max), _) => of(max).min(replicas),
        (None, Some(min)) => replicas.saturating_sub(of(min)),
        // Neither: nothing defaults them, and the disruption controller then allows no
        // eviction at all (kubernetes' `getExpectedPodCount`; emqx/emqx-operator#1227).
        (None, None) => 0,
    }
}

/// A workload's replicas: `spec.replicas`, or for an autoscaled one (which leaves it to
/// its autoscaler) the autoscaler's floor.
fn replicas_of(output: &Output, workload: &Node) -> u64 {
    let number = |node: Option<&Node>| match node.map(|n| &n.value) {
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    };
    number(at(workload, &["spec", "replicas"])).unwrap_or_else(|| {
        let name = text(workload, &["metadata", "name"]);
        objects(output, "HorizontalPodAutoscaler")
            .find(|(_, h)| text(h, &["spec", "scaleTargetRef", "name"]) == name)
            .map_or(1, |(_, h)| {
                number(at(h, &["spec", "minReplicas"])).unwrap_or(1)
            })
    })
}

pub(super) fn disruption_budgets(output: &Output) -> Vec<Observation> {
    let budgets: Vec<(BTreeMap<String, String>, &str, &Node)> =
        objects(output, "PodDisruptionBudget")
            .map(|(f, p)| (labels(at(p, &["spec", "selector", "matchLabels"])), f, p))
            .collect();
    let replicas = |w: &Node| replicas_of(output, w);
    let mut seen: Vec<Observation> = ["Deployment", "StatefulSet"]
        .iter()
        .flat_map(|kind| objects(output, kind))
        .filter(|(_, w)| {
            // Single-replica workloads (an extension's one node) cannot have a budget that
            // lets a drain through; the database and Pgpool are counted below.
            replicas(w) != 1
        })
        .map(|(file, w)| {
            let pod = labels(at(w, &["spec", "template", "metadata", "labels"]));
            let budget = budgets
                .iter()
                .find(|(s, _, _)| !s.is_empty() && s.iter().all(|(k, v)| pod.get(k) == Some(v)));
            let allowed = budget.map(|(_, _, b)| disruptions_allowed(b, replicas(w)));
            // At the budget that judges it, or at the workload none selects.
            let (file, node) = budget.map_or((file, w), |(_, f, b)| (*f, *b));
            observe(
                file,
                node,
                allowed.is_some_and(|n| n >= 1),
                format!(
                    "`{}` ({} replicas): {}",
                    text(w, &["metadata", "name"]).unwrap_or("?"),
                    replicas(w),
                    match allowed {
                        None => "no PodDisruptionBudget selects its pods".to_string(),
                        Some(0) =>
                            "its PodDisruptionBudget lets no pod go: every node drain blocks"
                                .to_string(),
                        Some(n) => format!(
                            "its PodDisruptionBudget lets {n} pod(s) go at a time through a drain"
                        ),
                    }
                ),
            )
        })
        .collect();
    // Enough copies to lose one: three database members (a leader and a standby left after
    // one is lost) and two Pgpools.
    for (kind, name, least, what) in [
        (
            "StatefulSet",
            crate::emit::names::workload::POSTGRES,
            3,
            "database members",
        ),
        (
            "Deployment",
            crate::emit::names::workload::PGPOOL,
            2,
            "Pgpool pods",
        ),
    ] {
        for (file, w) in
            objects(output, kind).filter(|(_, w)| text(w, &["metadata", "name"]) == Some(name))
        {
            let count = replicas(w);
            seen.push(observe(
                file,
                w,
                count >= least,
                format!("{count} {what} (at least {least})"),
            ));
        }
    }
    seen
}

pub(super) fn snapshots(output: &Output) -> Vec<Observation> {
    let mut seen = Vec::new();
    let jobs: Vec<(&str, &Node)> = objects(output, "CronJob")
        .filter(|(_, job)| {
            text(job, &["metadata", "name"]).is_some_and(|n| n.ends_with("snapshot"))
        })
        .collect();
    let mut gaps = Vec::new();
    for (file, job) in &jobs {
        let schedule = text(job, &["spec", "schedule"]).unwrap_or_default();
        let suspended = is_true(at(job, &["spec", "suspend"]));
        let gap = crate::syntax::cron_max_gap_minutes(schedule);
        gaps.extend(gap);
        seen.push(observe(
            file,
            job,
            !suspended && gap.is_some_and(|g| g <= 24 * 60),
            format!(
                "database snapshots at `{schedule}`, at most {} h apart (at most 24), {}",
                gap.map_or("?".to_string(), |g| (g / 60).to_string()),
                if suspended {
                    "suspended"
                } else {
                    "not suspended"
                },
            ),
        ));
    }
    // The snapshot script's retention (`retain=N`): the kept snapshots reach a week back.
    for (file, config) in objects(output, "ConfigMap") {
        let retain = match config.get("data").map(|d| &d.value) {
            Some(Value::Map(entries)) => entries
                .iter()
                .filter_map(|e| e.value.as_str())
                .flat_map(str::lines)
                .find_map(|l| l.trim().strip_prefix("retain=")?.parse::<u64>().ok()),
            _ => None,
        };
        let (Some(retain), Some(gap)) = (retain, gaps.iter().max()) else {
            continue;
        };
        let hours = retain * gap / 60;
        seen.push(observe(
            file,
            config,
            hours >= 7 * 24,
            format!("{retain} snapshots kept, reaching {hours} h back (at least 168)"),
        ));
    }
    seen.extend(alerts_present(
        output,
        &["SnapshotTooOld"],
        "an alert (SnapshotTooOld) fires when the newest snapshot is too old",
        "nothing fires when snapshots stop",
    ));
    seen
}

/// One observation per rule file: every alert of `names` is there (`present`), or which
/// are not and what then goes unnoticed.
fn alerts_present(
    output: &Output,
    names: &[&str],
    present: &str,
    unnoticed: &str,
) -> Vec<Observation> {
    rule_files(output)
        .into_iter()
        .map(|(file, object, alerts)| {
            let found: Vec<&str> = alerts.iter().filter_map(|r| text(r, &["alert"])).collect();
            let missing: Vec<&str> = names
                .iter()
                .copied()
                .filter(|alert| !found.contains(alert))
                .collect();
            observe(
                file,
                object,
                missing.is_empty(),
                if missing.is_empty() {
                    present.to_string()
                } else {
                    format!("no alert {}: {unnoticed}", missing.join(", "))
                },
            )
        })
        .collect()
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

pub(super) fn monitoring(output: &Output) -> Vec<Observation> {
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

pub(super) fn secrets_mounted_least(output: &Output) -> Vec<Observation> {
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

/// GKE's own StorageClasses, all of the Persistent Disk CSI driver; a claim that names none
/// gets the cluster's default, `standard-rwo`. A class the customer created is not in the
/// output, so the audit cannot show how it encrypts.
const GKE_STORAGE_CLASSES: &[&str] = &["standard-rwo", "premium-rwo", "standard"];

pub(super) fn encrypted_volumes(output: &Output) -> Vec<Observation> {
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

pub(super) fn request_and_session_logs(output: &Output) -> Vec<Observation> {
    let mut seen: Vec<Observation> = objects(output, "BackendConfig")
        .map(|(file, config)| {
            let enabled = is_true(at(config, &["spec", "logging", "enable"]));
            let rate = match at(config, &["spec", "logging", "sampleRate"]).map(|n| &n.value) {
                Some(Value::Number(n)) => n.as_f64(),
                _ => None,
            };
            let name = text(config, &["metadata", "name"]).unwrap_or_default();
            observe(
                file,
                config,
                enabled && rate.is_none_or(|r| r >= 1.0),
                format!(
                    "the load balancer logs requests to backend `{name}`: enable = {enabled}, sample rate {}",
                    rate.map_or("1.0 (every request)".to_string(), |r| r.to_string())
                ),
            )
        })
        .collect();
    if objects(output, "Ingress").next().is_none() {
        if let Some((file, node)) = kustomization(output) {
            seen.push(not_applicable(
                file,
                node,
                "no external entry point is compiled: no load balancer to log",
            ));
        }
    }
    // Patroni's local parameters: every session's start and end in PostgreSQL's log.
    for (file, config) in objects(output, "ConfigMap") {
        let Some(patroni) = text(config, &["data", "patroni.yml"]) else {
            continue;
        };
        let setting = |name: &str| patroni_setting(patroni, name);
        let logs = |value: Option<&str>| {
            value.is_some_and(|v| {
                !matches!(
                    v.to_ascii_lowercase().as_str(),
                    "" | "off" | "false" | "no" | "0"
                )
            })
        };
        let (connections, disconnections) =
            (setting("log_connections"), setting("log_disconnections"));
        seen.push(observe(
            file,
            config,
            logs(connections) && logs(disconnections),
            format!(
                "PostgreSQL's log_connections = {}, log_disconnections = {}",
                connections.unwrap_or("unset (off)"),
                disconnections.unwrap_or("unset (off)")
            ),
        ));
    }
    seen
}

pub(super) fn capacity(output: &Output) -> Vec<Observation> {
    let mut seen = container_bounds(output);
    seen.extend(autoscaling_and_alerts(output));
    seen
}

/// Every container of every workload requests CPU and memory and has a memory limit.
fn container_bounds(output: &Output) -> Vec<Observation> {
    let mut seen = Vec::new();
    for (file, workload) in workloads(output) {
        let Some(spec) = pod_spec(workload) else {
            continue;
        };
        let name = text(workload, &["metadata", "name"]).unwrap_or_default();
        let mut unbounded = Vec::new();
        for container in items(spec.get("initContainers"))
            .iter()
            .chain(items(spec.get("containers")))
        {
            let resources = container.get("resources");
            let missing: Vec<&str> = [
                ("requests", "cpu"),
                ("requests", "memory"),
                ("limits", "memory"),
            ]
            .iter()
            .filter(|(kind, what)| resources.and_then(|r| at(r, &[kind, what])).is_none())
            .map(|(kind, what)| match (*kind, *what) {
                ("requests", "cpu") => "a CPU request",
                ("requests", _) => "a memory request",
                _ => "a memory limit",
            })
            .collect();
            if !missing.is_empty() {
                unbounded.push(format!(
                    "`{}` without {}",
                    text(container, &["name"]).unwrap_or("?"),
                    missing.join(", ")
                ));
            }
        }
        seen.push(observe(
            file,
            workload,
            unbounded.is_empty(),
            if unbounded.is_empty() {
                format!(
                    "every container of `{name}` requests CPU and memory and has a memory limit"
                )
            } else {
                format!("`{name}`: {}", unbounded.join("; "))
            },
        ));
    }
    seen
}

/// Autoscalers have bounds; alerts fire before a volume fills or connections run out.
fn autoscaling_and_alerts(output: &Output) -> Vec<Observation> {
    let mut seen = Vec::new();
    for (file, autoscaler) in objects(output, "HorizontalPodAutoscaler") {
        let bound = |field: &str| match at(autoscaler, &["spec", field]).map(|n| &n.value) {
            Some(Value::Number(n)) => n.as_u64(),
            _ => None,
        };
        let (min, max) = (bound("minReplicas").unwrap_or(1), bound("maxReplicas"));
        seen.push(observe(
            file,
            autoscaler,
            max.is_some_and(|max| max >= min && min >= 1),
            format!(
                "`{}` autoscales from {min} to {} replicas",
                text(autoscaler, &["spec", "scaleTargetRef", "name"]).unwrap_or("?"),
                max.map_or("?".to_string(), |m| m.to_string())
            ),
        ));
    }
    // Alerts before a resource runs out: a volume filling, connections near the limit.
    seen.extend(alerts_present(
        output,
        &["VolumeAlmostFull", "PostgresConnectionsNearLimit"],
        "alerts fire before a volume fills (VolumeAlmostFull) and before connections run out (PostgresConnectionsNearLimit)",
        "nothing fires before the volume or the connections run out",
    ));
    seen
}

/// Alert severities a route can act on.
const SEVERITIES: [&str; 3] = ["critical", "warning", "info"];

pub(super) fn alert_runbooks(output: &Output) -> Vec<Observation> {
    let mut seen = Vec::new();
    for (file, _, alerts) in rule_files(output) {
        for alert in alerts {
            let Some(name) = text(alert, &["alert"]) else {
                continue;
            };
            let severity = text(alert, &["labels", "severity"]);
            let runbook = text(alert, &["annotations", "runbook_url"]).filter(|u| !u.is_empty());
            let summary = text(alert, &["annotations", "summary"]).filter(|u| !u.is_empty());
            seen.push(observe(
                file,
                alert,
                severity.is_some_and(|s| SEVERITIES.contains(&s))
                    && runbook.is_some()
                    && summary.is_some(),
                format!(
                    "alert {name}: severity {}, runbook {}, summary {}",
                    severity.unwrap_or("none"),
                    runbook.unwrap_or("none"),
                    if summary.is_some() { "present" } else { "none" }
                ),
            ));
        }
    }
    // Routing by severity is the Alertmanager's configuration: the vendor's operations
    // own it for the whole fleet, not this customer's output.
    if let Some((file, object, _)) = rule_files(output).into_iter().next() {
        seen.push(not_applicable(
            file,
            object,
            "the route from severity to receiver is the fleet's Alertmanager configuration, outside this output: the vendor's operations own it (docs/monitoring.md)",
        ));
    }
    seen
}

/// A restore is tested at least this often.
const RESTORE_TEST_GAP_MINUTES: u64 = 7 * 24 * 60;

pub(super) fn restore_test(output: &Output) -> Vec<Observation> {
    let mut seen: Vec<Observation> = objects(output, "CronJob")
        .filter(|(_, job)| {
            text(job, &["metadata", "name"]) == Some(crate::emit::archive::RESTORE_TEST)
        })
        .map(|(file, job)| {
            let schedule = text(job, &["spec", "schedule"]).unwrap_or_default();
            let suspended = is_true(at(job, &["spec", "suspend"]));
            let gap = crate::syntax::cron_max_gap_minutes(schedule);
            observe(
                file,
                job,
                !suspended && gap.is_some_and(|g| g <= RESTORE_TEST_GAP_MINUTES),
                format!(
                    "the newest backup is restored and checked at `{schedule}`, at most {} days apart (at most 7), {}",
                    gap.map_or("?".to_string(), |g| format!("{:.1}", g as f64 / 1440.0)),
                    if suspended { "suspended" } else { "not suspended" }
                ),
            )
        })
        .collect();
    if seen.is_empty() {
        seen.push(Observation {
            file: format!("{}/kustomization.yaml", output.customer),
            line: 1,
            holds: false,
            applies: true,
            what: "no restore test is compiled (it needs the WAL archive): no backup is proved restorable".into(),
        });
        return seen;
    }
    seen.extend(alerts_present(
        output,
        &["RestoreTestTooOld"],
        "an alert (RestoreTestTooOld) fires when the last successful restore test is too old",
        "nothing fires when restore tests stop succeeding",
    ));
    seen
}
