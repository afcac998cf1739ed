//! The compiled alert rules, with the real tools: `promtool check rules` on every rule
//! file, `promtool test rules` with a firing and a silent case for every alert, and the
//! postgres_exporter metric names the rules use read from a real exporter's scrape.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gitopsc::compiler::Compiled;
use gitopsc::model::Customer;
use serde_json::{Value, json};

use super::pg_settings::{LocalServer, server_bin};
use super::{TempDir, free_port, parse_yaml, root, text, tool, tools_required};

/// The `spec` (rule groups) of the customer's PrometheusRule or ClusterRules object.
fn rule_file(compiled: &Compiled) -> Value {
    let (_, text) = compiled
        .output
        .as_ref()
        .expect("compiled output")
        .files
        .iter()
        .find(|(path, _)| {
            path.starts_with("monitoring/prometheusrule-")
                || path.starts_with("monitoring/clusterrules-")
        })
        .expect("a rule object");
    parse_yaml(text)["spec"].clone()
}

/// One series for a promtool test: `metric{labels}` and its values notation.
fn series(metric: &str, labels: &[(&str, &str)], values: &str) -> Value {
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    json!({"series": format!("{metric}{{{}}}", labels.join(",")), "values": values})
}

/// For one alert: the input series that make it fire, the series that keep it silent, the
/// time to evaluate at, and the labels the firing alert carries (besides the rule's own).
struct Case {
    firing: Vec<Value>,
    silent: Vec<Value>,
    eval_minutes: u32,
    labels: Vec<(&'static str, String)>,
}

/// The cases follow the alert's meaning and the customer's thresholds, not the rule text,
/// so a wrong expression fails them.
fn case(alert: &str, customer: &Customer) -> Case {
    let ns = customer.namespace.as_str();
    let m = &customer.monitoring;
    let app = [("namespace", ns), ("container", "app")];
    let pg = |pod: &'static str| {
        [
            ("namespace", ns),
            ("container", "postgres-exporter"),
            ("pod", pod),
        ]
    };
    let own = |pairs: &[(&'static str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (*k, v.to_string()))
            .collect::<Vec<_>>()
    };
    match alert {
        "AppUnavailable" => Case {
            firing: vec![series("up", &[app[0], app[1], ("pod", "app-1")], "0x20")],
            silent: vec![series("up", &[app[0], app[1], ("pod", "app-1")], "1x20")],
            eval_minutes: 15,
            // `absent` of a comparison carries no labels of the selector.
            labels: vec![],
        },
        "QueueUnavailable" => {
            let queue = [
                ("namespace", ns),
                ("container", "queue"),
                ("pod", "queue-0"),
            ];
            Case {
                firing: vec![series("up", &queue, "0x20")],
                silent: vec![series("up", &queue, "1x20")],
                eval_minutes: 15,
                labels: vec![],
            }
        }
        "AppHighErrorRatio" => {
            // 100 requests a minute; twice the threshold fail, or half of it.
            let requests = |errors: u32| {
                vec![
                    series(
                        "http_requests_total",
                        &[app[0], app[1], ("code", "500")],
                        &format!("0+{errors}x40"),
                    ),
                    series(
                        "http_requests_total",
                        &[app[0], app[1], ("code", "200")],
                        &format!("0+{}x40", 100 - errors),
                    ),
                ]
            };
            Case {
                firing: requests((m.error_ratio_percent * 2).min(100)),
                silent: requests(m.error_ratio_percent / 2),
                eval_minutes: 30,
                labels: vec![],
            }
        }
        "AppHighLatency" => {
            // All requests between 2 and 4 times the threshold, or under half of it.
            let limit = f64::from(m.latency_p99_milliseconds) / 1000.0;
            let buckets = |slow: bool| {
                let (low, high) = if slow { ("0", "60") } else { ("60", "60") };
                vec![
                    series(
                        "http_request_duration_seconds_bucket",
                        &[app[0], app[1], ("le", &format!("{}", limit / 2.0))],
                        &format!("0+{low}x40"),
                    ),
                    series(
                        "http_request_duration_seconds_bucket",
                        &[app[0], app[1], ("le", &format!("{}", limit * 4.0))],
                        &format!("0+{high}x40"),
                    ),
                    series(
                        "http_request_duration_seconds_bucket",
                        &[app[0], app[1], ("le", "+Inf")],
                        "0+60x40",
                    ),
                ]
            };
            Case {
                firing: buckets(true),
                silent: buckets(false),
                eval_minutes: 30,
                labels: vec![],
            }
        }
        "AppAutoscalerAtMax" => {
            let gitopsc::model::Scaling::Auto { max, .. } = customer.app.scaling else {
                panic!("AppAutoscalerAtMax without autoscaling");
            };
            let hpa = [("namespace", ns), ("horizontalpodautoscaler", "app")];
            let minutes = m.autoscaler_at_max_minutes + 20;
            let at = |current: u32| {
                vec![
                    series(
                        "kube_horizontalpodautoscaler_status_current_replicas",
                        &hpa,
                        &format!("{current}x{minutes}"),
                    ),
                    series(
                        "kube_horizontalpodautoscaler_spec_max_replicas",
                        &hpa,
                        &format!("{max}x{minutes}"),
                    ),
                ]
            };
            Case {
                firing: at(max),
                silent: at(max - 1),
                eval_minutes: m.autoscaler_at_max_minutes + 10,
                labels: own(&hpa),
            }
        }
        "PodCrashLooping" => {
            let labels = [
                ("namespace", ns),
                ("pod", "app-1"),
                ("container", "app"),
                ("reason", "CrashLoopBackOff"),
            ];
            Case {
                firing: vec![series(
                    "kube_pod_container_status_waiting_reason",
                    &labels,
                    "1x20",
                )],
                silent: vec![series(
                    "kube_pod_container_status_waiting_reason",
                    &labels,
                    "0x20",
                )],
                eval_minutes: 15,
                labels: own(&[("pod", "app-1"), ("container", "app")]),
            }
        }
        "PostgresNoPrimary" => Case {
            firing: vec![
                series("pg_replication_is_replica", &pg("postgres-0"), "1x20"),
                series("pg_replication_is_replica", &pg("postgres-1"), "1x20"),
            ],
            silent: vec![
                series("pg_replication_is_replica", &pg("postgres-0"), "0x20"),
                series("pg_replication_is_replica", &pg("postgres-1"), "1x20"),
            ],
            eval_minutes: 10,
            labels: vec![],
        },
        "PostgresReplicationLag" => Case {
            firing: vec![series(
                "pg_replication_lag_seconds",
                &pg("postgres-1"),
                &format!("{}x20", m.replication_lag_seconds * 2),
            )],
            silent: vec![series(
                "pg_replication_lag_seconds",
                &pg("postgres-1"),
                &format!("{}x20", m.replication_lag_seconds / 2),
            )],
            eval_minutes: 15,
            labels: own(&[("pod", "postgres-1")]),
        },
        "PostgresStandbyNotStreaming" => {
            let standbys = customer.database.replicas - 1;
            let streaming = |n: u32| {
                vec![
                    series(
                        "gitopsc_standbys_streaming",
                        &pg("postgres-0"),
                        &format!("{n}x20"),
                    ),
                    series("pg_replication_is_replica", &pg("postgres-0"), "0x20"),
                    // A standby reports 0 streaming from itself; it must not count.
                    series("gitopsc_standbys_streaming", &pg("postgres-1"), "0x20"),
                    series("pg_replication_is_replica", &pg("postgres-1"), "1x20"),
                ]
            };
            Case {
                firing: streaming(standbys - 1),
                silent: streaming(standbys),
                eval_minutes: 15,
                labels: vec![],
            }
        }
        "PostgresConnectionsNearLimit" => {
            let used = |n: u32| {
                vec![
                    series(
                        "pg_stat_activity_count",
                        &[
                            pg("postgres-0")[0],
                            pg("postgres-0")[1],
                            pg("postgres-0")[2],
                            ("state", "active"),
                        ],
                        &format!("{n}x20"),
                    ),
                    series("pg_settings_max_connections", &pg("postgres-0"), "100x20"),
                ]
            };
            Case {
                firing: used((m.connections_percent + 5).min(100)),
                silent: used(m.connections_percent / 2),
                eval_minutes: 15,
                labels: own(&[("pod", "postgres-0")]),
            }
        }
        "PgpoolNoPrimary" => {
            let labels = [
                ("namespace", ns),
                ("container", "pgpool-exporter"),
                ("pod", "pgpool-1"),
            ];
            Case {
                firing: vec![series("pgpool2_up", &labels, "0x20")],
                silent: vec![
                    series("pgpool2_up", &labels, "1x20"),
                    series("up", &labels, "1x20"),
                ],
                eval_minutes: 10,
                labels: own(&[("pod", "pgpool-1")]),
            }
        }
        "VolumeAlmostFull" => {
            let claim = [
                ("namespace", ns),
                ("persistentvolumeclaim", "data-postgres-0"),
            ];
            let free = |available: u32| {
                vec![
                    series(
                        "kubelet_volume_stats_available_bytes",
                        &claim,
                        &format!("{available}x30"),
                    ),
                    series("kubelet_volume_stats_capacity_bytes", &claim, "1000x30"),
                ]
            };
            Case {
                // Used: the threshold + 5 points, or half the threshold.
                firing: free(1000 - (m.volume_full_percent + 5).min(100) * 10),
                silent: free(1000 - m.volume_full_percent * 5),
                eval_minutes: 25,
                labels: own(&claim),
            }
        }
        "SnapshotJobFailed" => {
            let job = [
                ("namespace", ns),
                ("job_name", "postgres-snapshot-29431080"),
            ];
            Case {
                firing: vec![series("kube_job_status_failed", &job, "1x10")],
                silent: vec![series("kube_job_status_failed", &job, "0x10")],
                eval_minutes: 5,
                labels: own(&[("job_name", "postgres-snapshot-29431080")]),
            }
        }
        "SnapshotTooOld" => cron_too_old(ns, "postgres-snapshot", m.snapshot_max_age_hours * 60),
        "RestoreTestTooOld" => cron_too_old(
            ns,
            "postgres-restore-test",
            u32::try_from(gitopsc::emit::monitoring::restore_test_max_age_seconds(customer) / 60)
                .expect("minutes"),
        ),
        "PostgresSlotNearWalLimit" => {
            // A slot that may still fall behind by half the threshold, or by twice it.
            let threshold = gitopsc::emit::monitoring::slot_alert_bytes(customer);
            let slot = |bytes: u64| {
                vec![series(
                    "pg_replication_slot_safe_wal_size_bytes",
                    &[
                        pg("postgres-0")[0],
                        pg("postgres-0")[1],
                        pg("postgres-0")[2],
                        ("slot_name", "postgres_1"),
                    ],
                    &format!("{bytes}x20"),
                )]
            };
            Case {
                firing: slot(threshold / 2),
                silent: slot(threshold * 2),
                eval_minutes: 15,
                labels: own(&[("pod", "postgres-0"), ("slot_name", "postgres_1")]),
            }
        }
        "PostgresArchiveFailing" => Case {
            firing: vec![
                series("gitopsc_archiver_failing", &pg("postgres-0"), "1x20"),
                series("gitopsc_archiver_failing", &pg("postgres-1"), "0x20"),
            ],
            silent: vec![
                // A failure that the next attempt cleared within minutes.
                series("gitopsc_archiver_failing", &pg("postgres-0"), "0 1 1 0x17"),
                series("gitopsc_archiver_failing", &pg("postgres-1"), "0x20"),
            ],
            eval_minutes: 15,
            labels: vec![],
        },
        "BackupTooOld" => {
            // Ages that grow a minute a minute from just past, or well within, the limit;
            // the differential backups are fresh either way.
            let limit = gitopsc::emit::monitoring::full_backup_alert_seconds(customer);
            let ages = |start: u64| {
                let full = [
                    pg("postgres-0")[0],
                    pg("postgres-0")[1],
                    pg("postgres-0")[2],
                    ("kind", "full"),
                ];
                let diff = [full[0], full[1], full[2], ("kind", "diff")];
                vec![
                    series(
                        "gitopsc_backup_age_seconds",
                        &full,
                        &format!("{start}+60x45"),
                    ),
                    series("gitopsc_backup_age_seconds", &diff, "600x45"),
                ]
            };
            Case {
                firing: ages(limit + 60),
                silent: ages(limit / 2),
                eval_minutes: 40,
                labels: vec![],
            }
        }
        "ServedCertificateExpiring" => {
            // Pgpool still serving a certificate with the given days left (the clock of a
            // promtool test starts at 0), PostgreSQL the renewed one with 89.
            let days_left = gitopsc::emit::monitoring::SERVED_CERTIFICATE_DAYS_LEFT;
            let served = |pgpool_days: u64| {
                let endpoint = |name: &'static str| {
                    [
                        ("namespace", ns),
                        ("container", "patroni-config"),
                        ("pod", "postgres-0"),
                        ("endpoint", name),
                    ]
                };
                vec![
                    series(
                        "gitopsc_served_certificate_expiry_timestamp_seconds",
                        &endpoint("pgpool"),
                        &format!("{}x90", pgpool_days * 86_400),
                    ),
                    series(
                        "gitopsc_served_certificate_expiry_timestamp_seconds",
                        &endpoint("postgres"),
                        &format!("{}x90", 89 * 86_400),
                    ),
                ]
            };
            Case {
                firing: served(days_left - 1),
                silent: served(days_left + 1),
                eval_minutes: 75,
                labels: own(&[("endpoint", "pgpool")]),
            }
        }
        other => panic!("no promtool case for alert {other}: add one"),
    }
}

/// The labels Google Cloud Managed Service for Prometheus adds to every series it
/// collects (the `prometheus_target` resource: project_id, location, cluster; docs/
/// monitoring.md); none for the Prometheus Operator.
fn managed_collection_labels(customer: &Customer) -> Vec<(&'static str, String)> {
    match customer.monitoring.provider {
        gitopsc::profile::MonitoringProvider::GkeManagedPrometheus => vec![
            ("project_id", customer.cluster.project_id.clone()),
            ("location", customer.cluster.location.clone()),
            ("cluster", customer.cluster.name.clone()),
        ],
        gitopsc::profile::MonitoringProvider::PrometheusOperator => Vec::new(),
    }
}

/// A CronJob's "too old" alert over `limit` minutes: the last success at time 0 and never
/// again fires, a success every minute does not; the CronJob exists throughout (created at
/// time 0).
fn cron_too_old(ns: &str, cronjob: &str, limit: u32) -> Case {
    let samples = limit + 60;
    let cron = [("namespace", ns), ("cronjob", cronjob)];
    let created = series("kube_cronjob_created", &cron, &format!("0x{samples}"));
    let successes =
        |values: String| series("kube_cronjob_status_last_successful_time", &cron, &values);
    Case {
        firing: vec![created.clone(), successes(format!("0x{samples}"))],
        silent: vec![created, successes(format!("0+60x{samples}"))],
        eval_minutes: limit + 30,
        labels: vec![],
    }
}

/// Adds labels to a promtool input series (`metric{a="b"}`).
fn with_labels(series: &mut Value, labels: &[(&'static str, String)]) {
    if labels.is_empty() {
        return;
    }
    let text = series["series"].as_str().expect("series").to_string();
    let extra: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    let joined = if text.ends_with("{}") {
        format!("{}{}}}", &text[..text.len() - 1], extra.join(","))
    } else {
        format!("{},{}}}", &text[..text.len() - 1], extra.join(","))
    };
    series["series"] = Value::String(joined);
}

/// Further cases of an alert, beyond its firing and its silent one: (what, fires, series),
/// evaluated at the alert's case time.
fn more_cases(alert: &str, customer: &Customer) -> Vec<(&'static str, bool, Vec<Value>)> {
    let ns = customer.namespace.as_str();
    match alert {
        "PgpoolNoPrimary" => {
            // The session hangs on a frozen primary: no pgpool2_up at all, the scrape fails.
            let labels = [
                ("namespace", ns),
                ("container", "pgpool-exporter"),
                ("pod", "pgpool-1"),
            ];
            vec![("scrape hangs", true, vec![series("up", &labels, "0x20")])]
        }
        "SnapshotTooOld" => {
            let hours = customer.monitoring.snapshot_max_age_hours;
            let samples = hours * 60 + 60;
            let cron = [("namespace", ns), ("cronjob", "postgres-snapshot")];
            // No success ever: fires once the CronJob is older than the limit, not before.
            let young = hours * 60 * 60;
            vec![
                (
                    "never succeeded",
                    true,
                    vec![series(
                        "kube_cronjob_created",
                        &cron,
                        &format!("0x{samples}"),
                    )],
                ),
                (
                    "never succeeded yet, newly created",
                    false,
                    vec![series(
                        "kube_cronjob_created",
                        &cron,
                        &format!("{young}x{samples}"),
                    )],
                ),
            ]
        }
        _ => Vec::new(),
    }
}

/// `{{ $labels.x }}` in an annotation, expanded as Prometheus does for the alert's labels.
fn expand(template: &str, labels: &BTreeMap<String, String>) -> String {
    let mut out = template.to_string();
    for (key, value) in labels {
        out = out.replace(&format!("{{{{ $labels.{key} }}}}"), value);
    }
    out
}

#[test]
fn every_compiled_rule_passes_promtool_with_a_firing_and_a_silent_case() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let work = TempDir::new("promtool");
    let mut providers = BTreeSet::new();
    let mut alerts_tested = 0;
    for compiled in super::compiled_customers() {
        let customer = crate::model(&compiled);
        providers.insert(format!("{:?}", customer.monitoring.provider));
        let dir = work.path().join(&customer.name);
        std::fs::create_dir_all(&dir).expect("dir");
        let rules = rule_file(&compiled);
        std::fs::write(
            dir.join("rules.yaml"),
            serde_json::to_string(&rules).expect("json"),
        )
        .expect("write rules");
        let check = Command::new(&promtool)
            .args(["check", "rules"])
            .arg(dir.join("rules.yaml"))
            .output()
            .expect("promtool runs");
        assert!(
            check.status.success(),
            "{}: promtool check rules:\n{}{}",
            customer.name,
            text(&check.stdout),
            text(&check.stderr)
        );
        let mut tests = Vec::new();
        let managed = managed_collection_labels(customer);
        for rule in rules["groups"][0]["rules"].as_array().expect("rules") {
            let name = rule["alert"].as_str().expect("alert name");
            let mut case = case(name, customer);
            // Managed collection puts the monitored resource's labels on every series; an
            // alert that does not aggregate them away carries them too.
            if !managed.is_empty() {
                for series in case.firing.iter_mut().chain(case.silent.iter_mut()) {
                    with_labels(series, &managed);
                }
                if case.labels.iter().any(|(k, _)| *k == "namespace") {
                    case.labels.extend(managed.iter().cloned());
                }
            }
            let mut labels: BTreeMap<String, String> = rule["labels"]
                .as_object()
                .expect("labels")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            labels.extend(case.labels.iter().map(|(k, v)| (k.to_string(), v.clone())));
            let annotations: BTreeMap<String, String> = rule["annotations"]
                .as_object()
                .expect("annotations")
                .iter()
                .map(|(k, v)| (k.clone(), expand(v.as_str().unwrap_or_default(), &labels)))
                .collect();
            let eval_time = format!("{}m", case.eval_minutes);
            tests.push(json!({
                "name": format!("{name} fires"),
                "interval": "1m",
                "input_series": case.firing,
                "alert_rule_test": [{
                    "eval_time": eval_time,
                    "alertname": name,
                    "exp_alerts": [{"exp_labels": labels, "exp_annotations": annotations}],
                }],
            }));
            for (what, firing, mut series) in more_cases(name, customer) {
                for one in &mut series {
                    with_labels(one, &managed);
                }
                let exp_alerts = if firing {
                    json!([{"exp_labels": labels, "exp_annotations": annotations}])
                } else {
                    json!([])
                };
                tests.push(json!({
                    "name": format!("{name}: {what}"),
                    "interval": "1m",
                    "input_series": series,
                    "alert_rule_test": [{"eval_time": eval_time, "alertname": name, "exp_alerts": exp_alerts}],
                }));
            }
            tests.push(json!({
                "name": format!("{name} stays silent"),
                "interval": "1m",
                "input_series": case.silent,
                "alert_rule_test": [{"eval_time": eval_time, "alertname": name, "exp_alerts": []}],
            }));
            alerts_tested += 1;
        }
        let file = json!({
            "rule_files": ["rules.yaml"],
            "evaluation_interval": "1m",
            "tests": tests,
        });
        std::fs::write(
            dir.join("tests.yaml"),
            serde_json::to_string(&file).expect("json"),
        )
        .expect("write tests");
        let test = Command::new(&promtool)
            .args(["test", "rules", "tests.yaml"])
            .current_dir(&dir)
            .output()
            .expect("promtool runs");
        assert!(
            test.status.success(),
            "{}: promtool test rules:\n{}{}",
            customer.name,
            text(&test.stdout),
            text(&test.stderr)
        );
    }
    assert_eq!(
        providers.len(),
        2,
        "both monitoring providers compiled: {providers:?}"
    );
    assert!(alerts_tested > 50, "tested only {alerts_tested} alerts");
}

/// Every alert links a runbook that exists in docs/runbooks/.
#[test]
fn every_alert_has_a_runbook() {
    for compiled in super::compiled_customers() {
        for rule in rule_file(&compiled)["groups"][0]["rules"]
            .as_array()
            .expect("rules")
        {
            let name = rule["alert"].as_str().expect("name");
            let url = rule["annotations"]["runbook_url"]
                .as_str()
                .expect("runbook_url");
            assert!(url.ends_with(&format!("/docs/runbooks/{name}.md")), "{url}");
            let page = root().join("docs/runbooks").join(format!("{name}.md"));
            let body = std::fs::read_to_string(&page)
                .unwrap_or_else(|_| panic!("{} is missing", page.display()));
            assert!(body.starts_with(&format!("# {name}")), "{}", page.display());
        }
    }
}

struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scrape(port: u16) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    Some(body)
}

/// postgres_exporter's built-in collectors (upstream `config/config.go`, v0.20.1) and the
/// legacy default metric maps of 0.13–0.19 (`cmd/postgres_exporter/queries.go`); each owns
/// the metric names `pg_<name>_*`.
const BUILT_IN_COLLECTORS: &[&str] = &[
    "buffercache_summary",
    "database",
    "database_wraparound",
    "locks",
    "long_running_transactions",
    "postmaster",
    "process_idle",
    "replication",
    "replication_slot",
    "replication_slots",
    "roles",
    "settings",
    "stat_activity",
    "stat_activity_autovacuum",
    "stat_archiver",
    "stat_bgwriter",
    "stat_checkpointer",
    "stat_database",
    "stat_database_conflicts",
    "stat_progress_vacuum",
    "stat_replication",
    "stat_statements",
    "stat_user_tables",
    "stat_wal_receiver",
    "statio_user_indexes",
    "statio_user_tables",
    "wal",
    "xlog_location",
];

/// Every metric the compiled custom queries add (`<query>_<column>`), per customer.
fn custom_metrics() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for c in super::compiled_customers() {
        for (path, text) in &c.output.as_ref().expect("compiled output").files {
            if !path.ends_with("configmap-postgres-exporter.yaml") {
                continue;
            }
            let queries = parse_yaml(
                parse_yaml(text)["data"]["queries.yaml"]
                    .as_str()
                    .expect("queries.yaml"),
            );
            for (query, spec) in queries.as_object().expect("queries") {
                for metric in spec["metrics"].as_array().expect("metrics") {
                    for column in metric.as_object().expect("metric").keys() {
                        names.insert(format!("{query}_{column}"));
                    }
                }
            }
        }
    }
    names
}

/// A custom query whose metric repeats a built-in collector's name makes postgres_exporter
/// fail the whole scrape (`collected before with the same name`), silencing every alert.
#[test]
fn custom_exporter_metrics_stay_outside_the_built_in_collectors() {
    let names = custom_metrics();
    assert!(!names.is_empty(), "no custom metrics found");
    for name in &names {
        assert!(
            name.starts_with(gitopsc::emit::monitoring::CUSTOM_METRIC_PREFIX),
            "{name}: custom metrics carry gitopsc's own prefix"
        );
        for collector in BUILT_IN_COLLECTORS {
            assert!(
                !name.starts_with(&format!("pg_{collector}_")),
                "{name} is inside the built-in `{collector}` collector's names"
            );
        }
    }
    // The check itself catches the name that broke scrapes of the 0.15+ exporters.
    assert!(
        BUILT_IN_COLLECTORS
            .iter()
            .any(|c| "pg_replication_lag_seconds".starts_with(&format!("pg_{c}_")))
    );
}

/// The oldest postgres_exporter the compiled output supports: the built-in `replication`
/// collector the alerts use is on by default from 0.13 (docs/monitoring.md).
const EXPORTER_MINIMUM: (u32, u32) = (0, 13);

/// The postgres_exporter to test with: scripts/test.sh puts Debian's current package
/// (0.17.1, trixie) at `.venv/bin/postgres_exporter`; bookworm's 0.11 is too old.
fn postgres_exporter() -> Option<std::path::PathBuf> {
    let candidates = ["postgres_exporter", "prometheus-postgres-exporter"];
    let mut too_old = Vec::new();
    for path in candidates.iter().filter_map(|name| tool(name)) {
        let output = Command::new(&path).arg("--version").output().ok()?;
        let version = text(&output.stdout) + &text(&output.stderr);
        let parsed = version
            .split("version ")
            .nth(1)
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| {
                let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
                Some((parts.next()??, parts.next()??))
            });
        match parsed {
            Some(v) if v >= EXPORTER_MINIMUM => return Some(path),
            _ => too_old.push(format!(
                "{}: {}",
                path.display(),
                version.lines().next().unwrap_or("")
            )),
        }
    }
    assert!(
        !tools_required(),
        "postgres_exporter 0.13 or newer is required (scripts/test.sh installs 0.17.1); found {too_old:?}"
    );
    eprintln!("skipped: no postgres_exporter 0.13 or newer ({too_old:?})");
    None
}

/// A current postgres_exporter and a running PostgreSQL in a new folder named after
/// `test`; `None` (the test skipped) when a tool is missing and not required.
fn exporter_and_server(test: &str) -> Option<(std::path::PathBuf, TempDir, LocalServer)> {
    let exporter = postgres_exporter()?;
    let Some(bin) = server_bin() else {
        assert!(!tools_required(), "PostgreSQL is required");
        return None;
    };
    if !super::can_run_as_postgres("postgres_exporter") {
        return None;
    }
    let work = TempDir::new(test);
    let server = LocalServer::init_and_start(&bin, work.path());
    Some((exporter, work, server))
}

/// Every `pg_*` and custom metric an alert or the dashboard uses is one a real, current
/// postgres_exporter, given the compiled queries, exports from a real PostgreSQL, and the
/// scrape succeeds as a whole.
#[test]
fn postgres_exporter_exports_every_metric_the_rules_use() {
    let Some((exporter, work, server)) = exporter_and_server("exporter") else {
        return;
    };
    let pg_port = server.port;
    // A full backup an hour ago, as the backup sidecar records it; no differential yet.
    server
        .sql(
            "postgres",
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE postgres SET gitopsc.last_full_backup = %L', \
             to_char((now() - interval '1 hour') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')); END $$",
        )
        .expect("record a backup");
    // A standby's slot, as Patroni creates it, with the WAL limit gitopsc sets.
    for sql in [
        "ALTER SYSTEM SET max_slot_wal_keep_size = '1GB'",
        "SELECT pg_reload_conf()",
        "SELECT pg_create_physical_replication_slot('postgres_1', true)",
    ] {
        server.sql("postgres", sql).expect(sql);
    }

    // The queries exactly as compiled into the `postgres-exporter` ConfigMap.
    let config =
        std::fs::read_to_string(root().join("out/acme/database/configmap-postgres-exporter.yaml"))
            .expect("compiled exporter ConfigMap");
    let queries = work.path().join("queries.yaml");
    std::fs::write(
        &queries,
        parse_yaml(&config)["data"]["queries.yaml"]
            .as_str()
            .expect("queries.yaml"),
    )
    .expect("write queries");
    let port = free_port();
    let _exporter = Exporter(
        Command::new(exporter)
            .env(
                "DATA_SOURCE_NAME",
                format!(
                    "host=127.0.0.1 port={pg_port} user=postgres dbname=postgres sslmode=disable"
                ),
            )
            .env("PG_EXPORTER_EXTEND_QUERY_PATH", &queries)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("exporter starts"),
    );
    let started = Instant::now();
    let metrics = loop {
        let answered = |b: &String| b.contains("pg_up 1") || b.contains(" 500 ");
        if let Some(body) = scrape(port).filter(answered) {
            assert!(
                body.starts_with("HTTP/1.0 200") || body.starts_with("HTTP/1.1 200"),
                "the scrape failed: {}",
                body.lines().take(5).collect::<Vec<_>>().join("\n")
            );
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "postgres_exporter did not report pg_up 1"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let exported: BTreeSet<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    // The recorded backup's age, and a kind never recorded as a billion seconds.
    let backup_age = |kind: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with("gitopsc_backup_age_seconds{"))
            .filter(|l| l.contains(&format!("kind=\"{kind}\"")))
            .find_map(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no backup age of kind {kind}:\n{metrics}"))
    };
    let full = backup_age("full");
    assert!((3600.0..3700.0).contains(&full), "full backup age {full}");
    assert_eq!(backup_age("diff"), 1e9, "never recorded");
    let compiled = super::compiled_customers();
    let mut used = BTreeSet::new();
    for c in &compiled {
        let rules = rule_file(c);
        let dashboard = c
            .output
            .as_ref()
            .expect("compiled output")
            .files
            .iter()
            .find(|(p, _)| p.ends_with("configmap-grafana-dashboard.yaml"))
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        let exprs = rules.to_string() + &dashboard;
        for word in exprs.split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_')) {
            if word.starts_with("pg_")
                || word.starts_with(gitopsc::emit::monitoring::CUSTOM_METRIC_PREFIX)
            {
                used.insert(word.to_string());
            }
        }
    }
    assert!(used.len() >= 5, "found only {used:?}");
    // The served certificates' expiry comes from the database sidecar, not the exporter
    // (day2::a_renewed_certificate_is_served_without_an_outage reads it there).
    let missing: Vec<&String> = used
        .iter()
        .filter(|m| !exported.contains(m.as_str()))
        .filter(|m| *m != gitopsc::emit::monitoring::SERVED_CERTIFICATE_METRIC)
        .collect();
    assert!(
        missing.is_empty(),
        "metrics the rules use but postgres_exporter does not export: {missing:?}"
    );
}

/// The dashboard is valid JSON in a ConfigMap Grafana's sidecar picks up, and shows what
/// the operators watch: traffic, errors, latency, replicas against the autoscaler's
/// bounds, connections, replication lag, Pgpool backends and (with backups) snapshot age.
#[test]
fn dashboard_covers_the_stack() {
    for compiled in super::compiled_customers() {
        let (_, yaml) = compiled
            .output
            .as_ref()
            .expect("compiled output")
            .files
            .iter()
            .find(|(p, _)| p.as_str() == "monitoring/configmap-grafana-dashboard.yaml")
            .expect("dashboard");
        let config_map = parse_yaml(yaml);
        assert_eq!(config_map["metadata"]["labels"]["grafana_dashboard"], "1");
        let (_, text) = config_map["data"]
            .as_object()
            .and_then(|d| d.iter().next())
            .expect("one dashboard");
        let dashboard: Value =
            serde_json::from_str(text.as_str().expect("text")).expect("dashboard JSON");
        let exprs: Vec<String> = dashboard["panels"]
            .as_array()
            .expect("panels")
            .iter()
            .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
            .map(|t| t["expr"].as_str().unwrap_or_default().to_string())
            .collect();
        let mut wanted = vec![
            "http_requests_total",
            "code=~\"5..\"",
            "http_request_duration_seconds_bucket",
            "kube_horizontalpodautoscaler_spec_max_replicas",
            "pg_stat_activity_count",
            "pg_replication_lag_seconds",
            "pgpool2_pool_nodes_status",
        ];
        if crate::model(&compiled).backup.is_some() {
            wanted.push("kube_cronjob_status_last_successful_time");
        }
        for metric in wanted {
            assert!(
                exprs.iter().any(|e| e.contains(metric)),
                "{}: no panel uses {metric}",
                compiled.member.name
            );
        }
    }
}

/// The monitoring stack finds what is compiled for it: with the Prometheus Operator every
/// PodMonitor and the PrometheusRule carry the profile's selector labels (default
/// kube-prometheus-stack's `release` label); with Managed Prometheus the NetworkPolicies
/// admit the namespace GKE runs managed collection in, `gke-gmp-system`.
#[test]
fn the_monitoring_stack_selects_and_reaches_what_is_compiled() {
    let mut seen = BTreeSet::new();
    for compiled in super::compiled_customers() {
        let customer = crate::model(&compiled);
        for (path, text) in &compiled.output.as_ref().expect("compiled output").files {
            if !path.ends_with(".yaml") {
                continue;
            }
            let object = parse_yaml(text);
            match (customer.monitoring.provider, object["kind"].as_str()) {
                (
                    gitopsc::profile::MonitoringProvider::PrometheusOperator,
                    Some("PodMonitor" | "PrometheusRule"),
                ) => {
                    for (key, value) in &customer.monitoring.selector_labels {
                        assert_eq!(
                            object["metadata"]["labels"][key].as_str(),
                            Some(value.as_str()),
                            "{}/{path} lacks selector label {key}",
                            customer.name
                        );
                    }
                    seen.insert("operator");
                }
                (
                    gitopsc::profile::MonitoringProvider::GkeManagedPrometheus,
                    Some("NetworkPolicy"),
                ) => {
                    let peers = object["spec"]["ingress"].to_string();
                    if peers.contains("gmp-system") {
                        assert!(
                            peers.contains(r#""kubernetes.io/metadata.name":"gke-gmp-system""#),
                            "{}/{path}: scrapes come from gke-gmp-system: {peers}",
                            customer.name
                        );
                        seen.insert("managed");
                    }
                }
                _ => {}
            }
        }
        if customer.monitoring.provider == gitopsc::profile::MonitoringProvider::PrometheusOperator
            && customer
                .profile
                .spec
                .as_ref()
                .and_then(|s| s.monitoring.as_ref())
                .and_then(|m| m.selector_labels.as_ref())
                .is_none()
        {
            assert_eq!(
                customer
                    .monitoring
                    .selector_labels
                    .get("release")
                    .map(String::as_str),
                Some("kube-prometheus-stack"),
                "the documented default"
            );
        }
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
}

/// The compiled start script and its exporter, stopped as the kubelet stops the container
/// (SIGTERM to the script, which stops the exporter).
struct StartScript(Child);

impl Drop for StartScript {
    fn drop(&mut self) {
        // SAFETY: kill has no memory preconditions; the pid is our child's.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

/// `pg_up` of a scrape, once the exporter answers.
fn pg_up(port: u16) -> Option<bool> {
    let body = scrape(port)?;
    body.lines()
        .find_map(|line| line.strip_prefix("pg_up "))
        .map(|value| value.trim() == "1")
}

/// The database pod's exporter reads the monitor password only at start. After a rotation
/// (the leader's passwords.py has set the new one), its next connection is refused
/// (`pg_up 0`) until the compiled start script, seeing the file change, starts it again.
#[test]
fn the_exporter_starts_again_on_a_rotated_monitor_password() {
    let Some((exporter, work, server)) = exporter_and_server("exporter-rotation") else {
        return;
    };
    server
        .sql(
            "postgres",
            "CREATE ROLE monitor LOGIN PASSWORD 'first' IN ROLE pg_monitor",
        )
        .expect("monitor role");
    // The monitor role logs in with its password, as in the cluster's pg_hba.
    let hba = work.path().join("data/pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).expect("pg_hba.conf");
    std::fs::write(
        &hba,
        format!("host all monitor 127.0.0.1/32 scram-sha-256\n{rules}"),
    )
    .expect("pg_hba.conf");
    server
        .sql("postgres", "SELECT pg_reload_conf()")
        .expect("reload");

    let password = work.path().join("credentials/monitor-password");
    std::fs::create_dir_all(password.parent().expect("folder")).expect("credentials");
    std::fs::write(&password, "first").expect("password");
    let config =
        std::fs::read_to_string(root().join("out/acme/database/configmap-postgres-exporter.yaml"))
            .expect("compiled exporter ConfigMap");
    let port = free_port();
    let script = parse_yaml(&config)["data"]["start.sh"]
        .as_str()
        .expect("start.sh")
        .replace(
            "/etc/postgresql/credentials/monitor-password",
            &password.display().to_string(),
        )
        .replace(":9187", &format!("127.0.0.1:{port}"));
    let script_path = work.path().join("start.sh");
    std::fs::write(&script_path, script).expect("start.sh");
    let path = format!(
        "{}:{}",
        exporter.parent().expect("the exporter's folder").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The container's environment, as compiled (the URI's port is this server's).
    let _running = StartScript(
        Command::new("/bin/sh")
            .arg(&script_path)
            .env("PATH", path)
            .env(
                "DATA_SOURCE_URI",
                format!("127.0.0.1:{}/postgres?sslmode=disable", server.port),
            )
            .env("DATA_SOURCE_USER", "monitor")
            .env("DATA_SOURCE_PASS_FILE", &password)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start.sh starts"),
    );
    let until = |up: bool, limit: Duration| {
        let started = Instant::now();
        while pg_up(port) != Some(up) {
            assert!(started.elapsed() < limit, "pg_up never became {up}");
            std::thread::sleep(Duration::from_millis(200));
        }
        started.elapsed()
    };
    until(true, Duration::from_secs(30));

    // PostgreSQL has the new password; the exporter's connection ends (a failover, a
    // restart): with the old password it cannot log in again.
    let terminate =
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'monitor'";
    server
        .sql("postgres", "ALTER ROLE monitor PASSWORD 'second'")
        .expect("alter");
    server.sql("postgres", terminate).expect("terminate");
    until(false, Duration::from_secs(30));

    // The Secret's file changes: the script starts the exporter again, which logs in.
    let staged = password.with_extension("new");
    std::fs::write(&staged, "second").expect("staged");
    std::fs::rename(&staged, &password).expect("swap");
    let back = until(true, Duration::from_secs(30));
    eprintln!(
        "the exporter logs in with the rotated password {:.1} s after the file changed",
        back.as_secs_f64()
    );
}
