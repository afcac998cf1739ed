//! Scraping and alerting: pod monitors for the app, PostgreSQL (postgres_exporter sidecar)
//! and Pgpool (pgpool2_exporter sidecar), the alert rules, and a Grafana dashboard, for
//! the Prometheus Operator (PodMonitor, PrometheusRule) or Google Cloud Managed Service
//! for Prometheus (PodMonitoring, Rules).
//!
//! Where each alert's metrics come from is noted beside the alert; the tests check the
//! postgres_exporter names against a real exporter and every rule with promtool.

use super::CustomResource as Resource;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::Serialize;
use serde_json::{Value, json};

use super::{Component, Object, labels, metadata, selector, workload};
use crate::model::{Customer, Scaling};
use crate::profile::MonitoringProvider;

/// The named container ports the monitors scrape.
pub const APP_PORT: &str = super::port::APP_NAME;
pub const EXPORTER_PORT: &str = "metrics";
/// Name of the PrometheusRule / Rules object.
pub const RULES: &str = "stack";
/// The dashboard ConfigMap, with the label Grafana's dashboard sidecar watches.
pub const DASHBOARD: &str = "grafana-dashboard";
pub const DASHBOARD_LABEL: (&str, &str) = ("grafana_dashboard", "1");
/// How often every target is scraped.
const INTERVAL: &str = "30s";

/// One alert rule.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub alert: String,
    pub expr: String,
    #[serde(rename = "for")]
    pub for_: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

fn alert(
    customer: &Customer,
    name: &str,
    severity: &str,
    for_: &str,
    expr: String,
    summary: String,
) -> Alert {
    Alert {
        alert: name.into(),
        expr,
        for_: for_.into(),
        labels: BTreeMap::from([
            ("severity".to_string(), severity.to_string()),
            ("customer".to_string(), customer.name.clone()),
        ]),
        annotations: BTreeMap::from([
            ("summary".to_string(), summary),
            (
                "runbook_url".to_string(),
                format!("{}/{name}.md", customer.monitoring.runbook_base_url),
            ),
        ]),
    }
}

/// The label matchers that pick the customer's series, shared by the alerts and the
/// dashboard so both always look at the same series.
struct Selectors {
    namespace: String,
    /// The app's own metrics.
    app: String,
    /// postgres_exporter in every member.
    pg: String,
    /// pgpool2_exporter in every Pgpool pod.
    pgpool: String,
    /// kube-state-metrics for the app's HPA.
    hpa: String,
    /// kube-state-metrics for the snapshot CronJob.
    snapshot_cron: String,
}

impl Selectors {
    fn of(customer: &Customer) -> Selectors {
        let ns = &customer.namespace;
        Selectors {
            namespace: format!(r#"namespace="{ns}""#),
            app: format!(r#"namespace="{ns}",container="{}""#, workload::APP),
            pg: format!(r#"namespace="{ns}",container="{POSTGRES_EXPORTER}""#),
            pgpool: format!(r#"namespace="{ns}",container="{PGPOOL_EXPORTER}""#),
            hpa: format!(
                r#"namespace="{ns}",horizontalpodautoscaler="{}""#,
                workload::APP
            ),
            snapshot_cron: format!(r#"namespace="{ns}",cronjob="{}""#, super::backup::NAME),
        }
    }
}

/// Every alert of the customer, in a fixed order.
pub fn alerts(customer: &Customer) -> Vec<Alert> {
    let m = &customer.monitoring;
    let selectors = Selectors::of(customer);
    let Selectors { app, pg, .. } = &selectors;
    let mut alerts = vec![
        // `up`: Prometheus's own scrape health of the app's pods.
        alert(
            customer,
            "AppUnavailable",
            "critical",
            "5m",
            format!("absent(up{{{app}}} == 1)"),
            format!("No app pod of {} answers its metrics scrape", customer.name),
        ),
        // http_requests_total, http_request_duration_seconds: the app's own metrics
        // endpoint (the contract in docs/monitoring.md).
        alert(
            customer,
            "AppHighErrorRatio",
            "critical",
            "10m",
            format!(
                r#"sum(rate(http_requests_total{{{app},code=~"5.."}}[5m])) / sum(rate(http_requests_total{{{app}}}[5m])) > {}"#,
                f64::from(m.error_ratio_percent) / 100.0
            ),
            format!(
                "More than {}% of {}'s requests fail with 5xx",
                m.error_ratio_percent, customer.name
            ),
        ),
        alert(
            customer,
            "AppHighLatency",
            "warning",
            "10m",
            format!(
                "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{{app}}}[5m]))) > {}",
                f64::from(m.latency_p99_milliseconds) / 1000.0
            ),
            format!(
                "99th percentile latency of {} above {} ms",
                customer.name, m.latency_p99_milliseconds
            ),
        ),
    ];
    if matches!(customer.app.scaling, Scaling::Auto { .. }) {
        // kube-state-metrics: kube_horizontalpodautoscaler_status_current_replicas,
        // kube_horizontalpodautoscaler_spec_max_replicas.
        let hpa = &selectors.hpa;
        alerts.push(alert(
            customer,
            "AppAutoscalerAtMax",
            "warning",
            &format!("{}m", m.autoscaler_at_max_minutes),
            format!(
                "kube_horizontalpodautoscaler_status_current_replicas{{{hpa}}} >= kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}}"
            ),
            format!(
                "The app of {} has run at its autoscaling maximum for {} minutes",
                customer.name, m.autoscaler_at_max_minutes
            ),
        ));
    }
    alerts.extend([
        // kube-state-metrics: kube_pod_container_status_waiting_reason.
        alert(
            customer,
            "PodCrashLooping",
            "warning",
            "5m",
            format!(
                r#"max by (pod, container) (kube_pod_container_status_waiting_reason{{{namespace},reason="CrashLoopBackOff"}}) == 1"#, namespace = selectors.namespace
            ),
            "A container keeps crashing: {{ $labels.pod }}/{{ $labels.container }}".into(),
        ),
        // postgres_exporter's built-in `replication` collector: pg_replication_is_replica,
        // pg_replication_lag_seconds; the `postgres-exporter` ConfigMap's query:
        // gitopsc_standbys_streaming.
        alert(
            customer,
            "PostgresNoPrimary",
            "critical",
            "1m",
            format!("absent(pg_replication_is_replica{{{pg}}} == 0)"),
            format!("No PostgreSQL member of {} is primary", customer.name),
        ),
        alert(
            customer,
            "PostgresReplicationLag",
            "warning",
            "5m",
            format!(
                "max by (pod) (pg_replication_lag_seconds{{{pg}}}) > {}",
                m.replication_lag_seconds
            ),
            format!(
                "Standby {{{{ $labels.pod }}}} is more than {} s behind the primary",
                m.replication_lag_seconds
            ),
        ),
    ]);
    let standbys = customer.database.replicas.saturating_sub(1);
    if standbys > 0 {
        alerts.push(alert(
            customer,
            "PostgresStandbyNotStreaming",
            "warning",
            "5m",
            format!(
                "max({CUSTOM_METRIC_PREFIX}standbys_streaming{{{pg}}} and on (pod) (pg_replication_is_replica{{{pg}}} == 0)) < {standbys}"
            ),
            format!(
                "Fewer than {standbys} standbys of {} stream from the primary",
                customer.name
            ),
        ));
    }
    alerts.extend([
        // postgres_exporter defaults: pg_stat_activity_count, pg_settings_max_connections.
        alert(
            customer,
            "PostgresConnectionsNearLimit",
            "warning",
            "10m",
            format!(
                "max by (pod) (sum by (pod) (pg_stat_activity_count{{{pg}}}) / max by (pod) (pg_settings_max_connections{{{pg}}})) * 100 > {}",
                m.connections_percent
            ),
            format!(
                "PostgreSQL {{{{ $labels.pod }}}} uses more than {}% of max_connections",
                m.connections_percent
            ),
        ),
        // pgpool2_exporter (github.com/pgpool/pgpool2_exporter, README "Metrics"):
        // pgpool2_up, 0 when it cannot query Pgpool; and Prometheus' own `up`, 0 when the
        // scrape hangs on a session waiting for the primary. Every session needs backend
        // 0, the primary Service, so either means this Pgpool cannot reach a primary.
        alert(
            customer,
            "PgpoolNoPrimary",
            "critical",
            "2m",
            format!(
                r#"(max by (pod) (pgpool2_up{{{pgpool}}}) == 0) or (max by (pod) (up{{{pgpool}}}) == 0)"#,
                pgpool = selectors.pgpool
            ),
            "Pgpool {{ $labels.pod }} cannot open a session to the primary".into(),
        ),
    ]);
    if customer.backup.is_some() {
        let job = super::backup::NAME;
        alerts.extend([
            // kube-state-metrics: kube_job_status_failed (label job_name; the CronJob's
            // Jobs are named `<cronjob>-<scheduled time>`).
            alert(
                customer,
                "SnapshotJobFailed",
                "warning",
                "0m",
                format!(
                    r#"max by (job_name) (kube_job_status_failed{{{namespace},job_name=~"{job}-.*"}}) > 0"#,
                    namespace = selectors.namespace
                ),
                "Snapshot job {{ $labels.job_name }} failed".into(),
            ),
            // kube-state-metrics: kube_cronjob_status_last_successful_time (absent until a
            // first success: `unless`, which unlike `absent()` adds no labels),
            // kube_cronjob_created. A Job succeeds only when its snapshot
            // is readyToUse, so this is the newest usable snapshot; a CronJob older than
            // the limit that never succeeded fires too.
            alert(
                customer,
                "SnapshotTooOld",
                "critical",
                "10m",
                format!(
                    r#"(time() - max(kube_cronjob_status_last_successful_time{{{cron}}}) > {age}) or ((time() - max(kube_cronjob_created{{{cron}}}) > {age}) unless on () max(kube_cronjob_status_last_successful_time{{{cron}}}))"#,
                    cron = selectors.snapshot_cron,
                    age = m.snapshot_max_age_hours * 3600
                ),
                format!(
                    "The newest database snapshot of {} is older than {} hours",
                    customer.name, m.snapshot_max_age_hours
                ),
            ),
        ]);
    }
    alerts.extend([
        // kubelet: kubelet_volume_stats_available_bytes, kubelet_volume_stats_capacity_bytes.
        alert(
            customer,
            "VolumeAlmostFull",
            "warning",
            "15m",
            format!(
                r#"100 * (1 - kubelet_volume_stats_available_bytes{{{namespace}}} / kubelet_volume_stats_capacity_bytes{{{namespace}}}) > {}"#,
                m.volume_full_percent,
                namespace = selectors.namespace
            ),
            format!(
                "Volume {{{{ $labels.persistentvolumeclaim }}}} is more than {}% full",
                m.volume_full_percent
            ),
        ),
    ]);
    alerts
}

/// Container names of the exporter sidecars, which the rules select on.
pub const POSTGRES_EXPORTER: &str = "postgres-exporter";
pub const PGPOOL_EXPORTER: &str = "pgpool-exporter";

/// The rule groups, as Prometheus reads them (`groups:` of a rule file).
pub fn rule_groups(customer: &Customer) -> Value {
    json!([{ "name": format!("{}-stack", customer.name), "rules": alerts(customer) }])
}

/// The prefix of every metric the custom queries add. postgres_exporter's built-in
/// collectors own `pg_<collector>_*` (upstream `config/config.go`), and a custom metric that
/// repeats one of their names fails the whole scrape, so ours never start with `pg_`.
pub const CUSTOM_METRIC_PREFIX: &str = "gitopsc_";

/// postgres_exporter's extra queries: only what no built-in collector exports, the standbys
/// streaming from a member. Role and lag come from the built-in `replication` collector
/// (`pg_replication_is_replica`, `pg_replication_lag_seconds`, on by default since 0.13).
pub fn exporter_queries() -> Value {
    json!({
        format!("{CUSTOM_METRIC_PREFIX}standbys"): {
            "query": "SELECT count(*) FILTER (WHERE state = 'streaming') AS streaming FROM pg_stat_replication",
            "master": true,
            "metrics": [
                {"streaming": {"usage": "GAUGE", "description": "Standbys streaming from this member"}},
            ],
        },
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PodMonitorSpec {
    selector: LabelSelector,
    pod_metrics_endpoints: Vec<PodMetricsEndpoint>,
}

#[derive(Serialize)]
struct PodMetricsEndpoint {
    port: String,
    path: &'static str,
    interval: &'static str,
}

#[derive(Serialize)]
struct PodMonitoringSpec {
    selector: LabelSelector,
    endpoints: Vec<PodMonitoringEndpoint>,
}

#[derive(Serialize)]
struct PodMonitoringEndpoint {
    port: String,
    path: &'static str,
    interval: &'static str,
}

pub fn emit(customer: &Customer) -> Vec<Object> {
    let labels = labels(customer, "monitoring", Component::Monitoring.as_str());
    // The Prometheus Operator only reads monitors and rules its selectors match.
    let mut selected = labels.clone();
    if customer.monitoring.provider == MonitoringProvider::PrometheusOperator {
        selected.extend(customer.monitoring.selector_labels.clone());
    }
    let targets = [
        (workload::APP, APP_PORT),
        (workload::POSTGRES, EXPORTER_PORT),
        (workload::PGPOOL, EXPORTER_PORT),
    ];
    let mut objects = Vec::new();
    for (name, port_name) in targets {
        let selector = LabelSelector {
            match_labels: Some(selector(customer, name)),
            ..LabelSelector::default()
        };
        let meta = metadata(customer, name, selected.clone());
        objects.push(match customer.monitoring.provider {
            MonitoringProvider::PrometheusOperator => Resource {
                api_version: "monitoring.coreos.com/v1",
                kind: "PodMonitor",
                metadata: meta,
                spec: PodMonitorSpec {
                    selector,
                    pod_metrics_endpoints: vec![PodMetricsEndpoint {
                        port: port_name.into(),
                        path: "/metrics",
                        interval: INTERVAL,
                    }],
                },
            }
            .into_object(Component::Monitoring),
            MonitoringProvider::GkeManagedPrometheus => Resource {
                api_version: "monitoring.googleapis.com/v1",
                kind: "PodMonitoring",
                metadata: meta,
                spec: PodMonitoringSpec {
                    selector,
                    endpoints: vec![PodMonitoringEndpoint {
                        port: port_name.into(),
                        path: "/metrics",
                        interval: INTERVAL,
                    }],
                },
            }
            .into_object(Component::Monitoring),
        });
    }
    let groups = json!({ "groups": rule_groups(customer) });
    objects.push(match customer.monitoring.provider {
        MonitoringProvider::PrometheusOperator => Resource {
            api_version: "monitoring.coreos.com/v1",
            kind: "PrometheusRule",
            metadata: metadata(customer, RULES, selected.clone()),
            spec: groups,
        }
        .into_object(Component::Monitoring),
        // Managed Prometheus scopes a namespaced `Rules` to series of its own namespace,
        // which kube-state-metrics' and the kubelet's series do not carry; `ClusterRules`
        // see the whole cluster, and every expression names the customer's namespace.
        MonitoringProvider::GkeManagedPrometheus => Resource {
            api_version: "monitoring.googleapis.com/v1",
            kind: "ClusterRules",
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(cluster_rules_name(customer)),
                labels: Some(labels.clone()),
                ..Default::default()
            },
            spec: groups,
        }
        .into_object(Component::Monitoring),
    });
    objects.push(dashboard(customer, &labels));
    objects
}

/// Cluster-scoped, so named after the customer: two customers in one cluster never share it.
pub fn cluster_rules_name(customer: &Customer) -> String {
    format!("{}-{RULES}", customer.name)
}

/// The Grafana dashboard: app traffic, errors and latency; replicas against the
/// autoscaler's bounds; PostgreSQL connections and replication lag; Pgpool backends; the
/// age of the newest snapshot.
fn dashboard(customer: &Customer, labels: &BTreeMap<String, String>) -> Object {
    let selectors = Selectors::of(customer);
    let Selectors {
        app,
        pg,
        pgpool,
        hpa,
        snapshot_cron,
        ..
    } = &selectors;
    let mut panels: Vec<(&str, &str, Vec<String>)> = vec![
        (
            "Requests per second",
            "reqps",
            vec![format!(
                "sum by (code) (rate(http_requests_total{{{app}}}[5m]))"
            )],
        ),
        (
            "5xx ratio",
            "percentunit",
            vec![format!(
                r#"sum(rate(http_requests_total{{{app},code=~"5.."}}[5m])) / sum(rate(http_requests_total{{{app}}}[5m]))"#
            )],
        ),
        (
            "Latency p50 / p99",
            "s",
            vec![
                format!(
                    "histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket{{{app}}}[5m])))"
                ),
                format!(
                    "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{{app}}}[5m])))"
                ),
            ],
        ),
        (
            "App replicas and autoscaler bounds",
            "short",
            vec![
                format!("kube_horizontalpodautoscaler_status_current_replicas{{{hpa}}}"),
                format!("kube_horizontalpodautoscaler_spec_min_replicas{{{hpa}}}"),
                format!("kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}}"),
            ],
        ),
        (
            "PostgreSQL connections / max_connections",
            "percentunit",
            vec![format!(
                "sum by (pod) (pg_stat_activity_count{{{pg}}}) / max by (pod) (pg_settings_max_connections{{{pg}}})"
            )],
        ),
        (
            "Replication lag",
            "s",
            vec![format!("pg_replication_lag_seconds{{{pg}}}")],
        ),
        (
            "Pgpool backends up",
            "short",
            vec![format!(
                "sum by (hostname) (pgpool2_pool_nodes_status{{{pgpool}}})"
            )],
        ),
    ];
    if customer.backup.is_some() {
        panels.push((
            "Age of the newest snapshot",
            "s",
            vec![format!(
                "time() - max(kube_cronjob_status_last_successful_time{{{snapshot_cron}}})"
            )],
        ));
    }
    let panels: Vec<Value> = panels
        .into_iter()
        .enumerate()
        .map(|(i, (title, unit, exprs))| {
            json!({
                "id": i + 1,
                "type": "timeseries",
                "title": title,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i / 2) * 8},
                "targets": exprs
                    .iter()
                    .enumerate()
                    .map(|(j, e)| {
                        let ref_id = ["A", "B", "C"].get(j).copied().unwrap_or("Z");
                        json!({"expr": e, "refId": ref_id})
                    })
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    let dashboard = json!({
        "title": format!("{} stack", customer.name),
        "uid": format!("gitopsc-{}", customer.name),
        "schemaVersion": 39,
        "editable": false,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{
            "name": "datasource",
            "type": "datasource",
            "query": "prometheus",
        }]},
        "panels": panels,
    });
    let mut labels = labels.clone();
    labels.insert(DASHBOARD_LABEL.0.into(), DASHBOARD_LABEL.1.into());
    let text = serde_json::to_string_pretty(&dashboard).unwrap_or_default() + "\n";
    let config_map = ConfigMap {
        metadata: metadata(customer, DASHBOARD, labels),
        data: Some(BTreeMap::from([(
            format!("{}-stack.json", customer.name),
            text,
        )])),
        ..ConfigMap::default()
    };
    Object::new(Component::Monitoring, DASHBOARD, &config_map)
}
