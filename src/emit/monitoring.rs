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

use super::{Component, Object, labels, metadata, port, selector, workload};
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
    /// The restore test's CronJob.
    restore_test_cron: String,
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
            restore_test_cron: format!(
                r#"namespace="{ns}",cronjob="{}""#,
                super::archive::RESTORE_TEST
            ),
        }
    }

    /// The share of the app's requests answered 5xx.
    fn error_ratio(&self) -> String {
        format!(
            r#"sum(rate(http_requests_total{{{app},code=~"5.."}}[5m])) / sum(rate(http_requests_total{{{app}}}[5m]))"#,
            app = self.app
        )
    }

    /// The app's request latency at quantile `q`, in seconds.
    fn latency(&self, q: f64) -> String {
        format!(
            "histogram_quantile({q}, sum by (le) (rate(http_request_duration_seconds_bucket{{{}}}[5m])))",
            self.app
        )
    }

    /// Each member's connections in use as a share of its `max_connections`.
    fn connections_ratio(&self) -> String {
        format!(
            "sum by (pod) (pg_stat_activity_count{{{pg}}}) / max by (pod) (pg_settings_max_connections{{{pg}}})",
            pg = self.pg
        )
    }

    /// Seconds since the snapshot CronJob last succeeded.
    fn snapshot_age(&self) -> String {
        format!(
            "time() - max(kube_cronjob_status_last_successful_time{{{}}})",
            self.snapshot_cron
        )
    }
}

/// One row of the alert table: when the alert applies, its PromQL over the shared
/// selectors, and its summary. Each row notes where its metrics come from.
struct Rule {
    name: &'static str,
    severity: &'static str,
    for_: fn(&Customer) -> String,
    applies: fn(&Customer) -> bool,
    expr: fn(&Selectors, &Customer) -> String,
    summary: fn(&Customer) -> String,
}

/// How old the last successful restore test may be: the schedule's longest gap and a day
/// for the run itself.
pub fn restore_test_max_age_seconds(customer: &Customer) -> u64 {
    let gap = customer
        .archive
        .as_ref()
        .and_then(|a| crate::syntax::cron_max_gap_minutes(&a.restore_test_schedule))
        .unwrap_or(7 * 24 * 60);
    gap * 60 + 24 * 3600
}

/// A CronJob's last success older than `age` seconds, or, when it never succeeded, the
/// CronJob itself that old.
fn cron_too_old(cron: &str, age: u64) -> String {
    format!(
        r#"(time() - max(kube_cronjob_status_last_successful_time{{{cron}}}) > {age}) or ((time() - max(kube_cronjob_created{{{cron}}}) > {age}) unless on () max(kube_cronjob_status_last_successful_time{{{cron}}}))"#
    )
}

fn always(_: &Customer) -> bool {
    true
}

/// Every alert, in the order the rule file lists them.
const RULES_TABLE: &[Rule] = &[
    // `up`: Prometheus's own scrape health of the app's pods.
    Rule {
        name: "AppUnavailable",
        severity: "critical",
        for_: |_| "5m".into(),
        applies: always,
        expr: |s, _| format!("absent(up{{{}}} == 1)", s.app),
        summary: |c| format!("No app pod of {} answers its metrics scrape", c.name),
    },
    // http_requests_total, http_request_duration_seconds: the app's own metrics endpoint
    // (the contract in docs/monitoring.md).
    Rule {
        name: "AppHighErrorRatio",
        severity: "critical",
        for_: |_| "10m".into(),
        applies: always,
        expr: |s, c| {
            format!(
                "{} > {}",
                s.error_ratio(),
                f64::from(c.monitoring.error_ratio_percent) / 100.0
            )
        },
        summary: |c| {
            format!(
                "More than {}% of {}'s requests fail with 5xx",
                c.monitoring.error_ratio_percent, c.name
            )
        },
    },
    Rule {
        name: "AppHighLatency",
        severity: "warning",
        for_: |_| "10m".into(),
        applies: always,
        expr: |s, c| {
            format!(
                "{} > {}",
                s.latency(0.99),
                f64::from(c.monitoring.latency_p99_milliseconds) / 1000.0
            )
        },
        summary: |c| {
            format!(
                "99th percentile latency of {} above {} ms",
                c.name, c.monitoring.latency_p99_milliseconds
            )
        },
    },
    // kube-state-metrics: kube_horizontalpodautoscaler_status_current_replicas,
    // kube_horizontalpodautoscaler_spec_max_replicas.
    Rule {
        name: "AppAutoscalerAtMax",
        severity: "warning",
        for_: |c| format!("{}m", c.monitoring.autoscaler_at_max_minutes),
        applies: |c| matches!(c.app.scaling, Scaling::Auto { .. }),
        expr: |s, _| {
            format!(
                "kube_horizontalpodautoscaler_status_current_replicas{{{hpa}}} >= kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}}",
                hpa = s.hpa
            )
        },
        summary: |c| {
            format!(
                "The app of {} has run at its autoscaling maximum for {} minutes",
                c.name, c.monitoring.autoscaler_at_max_minutes
            )
        },
    },
    // kube-state-metrics: kube_pod_container_status_waiting_reason.
    Rule {
        name: "PodCrashLooping",
        severity: "warning",
        for_: |_| "5m".into(),
        applies: always,
        expr: |s, _| {
            format!(
                r#"max by (pod, container) (kube_pod_container_status_waiting_reason{{{},reason="CrashLoopBackOff"}}) == 1"#,
                s.namespace
            )
        },
        summary: |_| "A container keeps crashing: {{ $labels.pod }}/{{ $labels.container }}".into(),
    },
    // postgres_exporter's built-in `replication` collector: pg_replication_is_replica,
    // pg_replication_lag_seconds; the `postgres-exporter` ConfigMap's query:
    // gitopsc_standbys_streaming.
    Rule {
        name: "PostgresNoPrimary",
        severity: "critical",
        for_: |_| "1m".into(),
        applies: always,
        expr: |s, _| format!("absent(pg_replication_is_replica{{{}}} == 0)", s.pg),
        summary: |c| format!("No PostgreSQL member of {} is primary", c.name),
    },
    Rule {
        name: "PostgresReplicationLag",
        severity: "warning",
        for_: |_| "5m".into(),
        applies: always,
        expr: |s, c| {
            format!(
                "max by (pod) (pg_replication_lag_seconds{{{}}}) > {}",
                s.pg, c.monitoring.replication_lag_seconds
            )
        },
        summary: |c| {
            format!(
                "Standby {{{{ $labels.pod }}}} is more than {} s behind the primary",
                c.monitoring.replication_lag_seconds
            )
        },
    },
    Rule {
        name: "PostgresStandbyNotStreaming",
        severity: "warning",
        for_: |_| "5m".into(),
        applies: |c| standbys(c) > 0,
        expr: |s, c| {
            format!(
                "max({CUSTOM_METRIC_PREFIX}standbys_streaming{{{pg}}} and on (pod) (pg_replication_is_replica{{{pg}}} == 0)) < {}",
                standbys(c),
                pg = s.pg
            )
        },
        summary: |c| {
            format!(
                "Fewer than {} standbys of {} stream from the primary",
                standbys(c),
                c.name
            )
        },
    },
    // postgres_exporter defaults: pg_stat_activity_count, pg_settings_max_connections.
    Rule {
        name: "PostgresConnectionsNearLimit",
        severity: "warning",
        for_: |_| "10m".into(),
        applies: always,
        expr: |s, c| {
            format!(
                "max by (pod) ({}) * 100 > {}",
                s.connections_ratio(),
                c.monitoring.connections_percent
            )
        },
        summary: |c| {
            format!(
                "PostgreSQL {{{{ $labels.pod }}}} uses more than {}% of max_connections",
                c.monitoring.connections_percent
            )
        },
    },
    // pgpool2_exporter (github.com/pgpool/pgpool2_exporter, README "Metrics"): pgpool2_up,
    // 0 when it cannot query Pgpool; and Prometheus' own `up`, 0 when the scrape hangs on a
    // session waiting for the primary. Every session needs backend 0, the primary Service,
    // so either means this Pgpool cannot reach a primary.
    Rule {
        name: "PgpoolNoPrimary",
        severity: "critical",
        for_: |_| "2m".into(),
        applies: always,
        expr: |s, _| {
            format!(
                r#"(max by (pod) (pgpool2_up{{{pgpool}}}) == 0) or (max by (pod) (up{{{pgpool}}}) == 0)"#,
                pgpool = s.pgpool
            )
        },
        summary: |_| "Pgpool {{ $labels.pod }} cannot open a session to the primary".into(),
    },
    // kube-state-metrics: kube_job_status_failed (label job_name; the CronJob's Jobs are
    // named `<cronjob>-<scheduled time>`).
    Rule {
        name: "SnapshotJobFailed",
        severity: "warning",
        for_: |_| "0m".into(),
        applies: |c| c.backup.is_some(),
        expr: |s, _| {
            format!(
                r#"max by (job_name) (kube_job_status_failed{{{},job_name=~"{}-.*"}}) > 0"#,
                s.namespace,
                super::backup::NAME
            )
        },
        summary: |_| "Snapshot job {{ $labels.job_name }} failed".into(),
    },
    // kube-state-metrics: kube_cronjob_status_last_successful_time (absent until a first
    // success: `unless`, which unlike `absent()` adds no labels), kube_cronjob_created. A
    // Job succeeds only when its snapshot is readyToUse, so this is the newest usable
    // snapshot; a CronJob older than the limit that never succeeded fires too.
    Rule {
        name: "SnapshotTooOld",
        severity: "critical",
        for_: |_| "10m".into(),
        applies: |c| c.backup.is_some(),
        expr: |s, c| {
            cron_too_old(
                &s.snapshot_cron,
                u64::from(c.monitoring.snapshot_max_age_hours) * 3600,
            )
        },
        summary: |c| {
            format!(
                "The newest database snapshot of {} is older than {} hours",
                c.name, c.monitoring.snapshot_max_age_hours
            )
        },
    },
    // The restore test's CronJob succeeds only when the restored copy answered: its last
    // success older than the schedule's longest gap and a day means no backup was proved
    // restorable in that time; a CronJob that never succeeded fires once that old too.
    Rule {
        name: "RestoreTestTooOld",
        severity: "warning",
        for_: |_| "10m".into(),
        applies: |c| c.archive.is_some(),
        expr: |s, c| cron_too_old(&s.restore_test_cron, restore_test_max_age_seconds(c)),
        summary: |c| {
            format!(
                "No restore test of {}'s newest backup succeeded in the last {} hours",
                c.name,
                restore_test_max_age_seconds(c) / 3600
            )
        },
    },
    // postgres_exporter's built-in `replication_slot` collector:
    // pg_replication_slot_safe_wal_size_bytes, the WAL a slot may still fall behind by
    // before `max_slot_wal_keep_size` invalidates it.
    Rule {
        name: "PostgresSlotNearWalLimit",
        severity: "warning",
        for_: |_| "10m".into(),
        applies: always,
        expr: |s, c| {
            format!(
                "min by (pod, slot_name) (pg_replication_slot_safe_wal_size_bytes{{{}}}) < {}",
                s.pg,
                slot_alert_bytes(c)
            )
        },
        summary: |_| {
            "Slot {{ $labels.slot_name }} on {{ $labels.pod }} is close to max_slot_wal_keep_size; its standby will have to catch up from the archive".into()
        },
    },
    // The `postgres-exporter` ConfigMap's query over pg_stat_archiver:
    // gitopsc_archiver_failing, 1 while the newest archiving attempt failed.
    Rule {
        name: "PostgresArchiveFailing",
        severity: "critical",
        for_: |_| "10m".into(),
        applies: |c| c.archive.is_some(),
        expr: |s, _| {
            format!(
                "max({CUSTOM_METRIC_PREFIX}archiver_failing{{{}}}) > 0",
                s.pg
            )
        },
        summary: |c| {
            format!(
                "WAL of {} is not reaching the archive: the recovery point grows and the primary's disk fills",
                c.name
            )
        },
    },
    // The same ConfigMap's query over the settings the backup sidecar records after each
    // success (gitopsc.last_full_backup): gitopsc_backup_age_seconds{kind="full"}.
    Rule {
        name: "BackupTooOld",
        severity: "critical",
        for_: |_| "30m".into(),
        applies: |c| c.archive.is_some(),
        expr: |s, c| {
            format!(
                r#"min({CUSTOM_METRIC_PREFIX}backup_age_seconds{{{},kind="full"}}) > {}"#,
                s.pg,
                full_backup_alert_seconds(c)
            )
        },
        summary: |c| {
            format!(
                "The newest full backup of {} in the archive is older than {} hours",
                c.name,
                full_backup_alert_seconds(c) / 3600
            )
        },
    },
    // The database sidecar's certificates.py: the notAfter of the certificate each of
    // PostgreSQL and Pgpool actually serves. cert-manager renews 30 days ahead
    // (`credentials::certificate_spec`) and the sidecar has the new one served within
    // minutes, so fewer days left means a renewal that failed or is not served.
    Rule {
        name: "ServedCertificateExpiring",
        severity: "critical",
        for_: |_| "1h".into(),
        applies: |c| c.database.tls_secret.is_some(),
        expr: |s, _| {
            format!(
                "min by (endpoint) ({SERVED_CERTIFICATE_METRIC}{{{}}}) - time() < {}",
                s.namespace,
                SERVED_CERTIFICATE_DAYS_LEFT * 86_400
            )
        },
        summary: |c| {
            format!(
                "The certificate {} serves on {{{{ $labels.endpoint }}}} expires in less than {} days",
                c.name, SERVED_CERTIFICATE_DAYS_LEFT
            )
        },
    },
    // kubelet: kubelet_volume_stats_available_bytes, kubelet_volume_stats_capacity_bytes.
    Rule {
        name: "VolumeAlmostFull",
        severity: "warning",
        for_: |_| "15m".into(),
        applies: always,
        expr: |s, c| {
            format!(
                r#"100 * (1 - kubelet_volume_stats_available_bytes{{{ns}}} / kubelet_volume_stats_capacity_bytes{{{ns}}}) > {}"#,
                c.monitoring.volume_full_percent,
                ns = s.namespace
            )
        },
        summary: |c| {
            format!(
                "Volume {{{{ $labels.persistentvolumeclaim }}}} is more than {}% full",
                c.monitoring.volume_full_percent
            )
        },
    },
];

/// The notAfter of the certificate an endpoint serves, from the database sidecar's
/// certificates.py (not postgres_exporter).
pub const SERVED_CERTIFICATE_METRIC: &str = "gitopsc_served_certificate_expiry_timestamp_seconds";

/// ServedCertificateExpiring fires with fewer days left than this: nine days after a
/// renewal that should have been served.
pub const SERVED_CERTIFICATE_DAYS_LEFT: u64 = 21;

/// PostgresSlotNearWalLimit fires when a slot may fall behind by less than a fifth of
/// `max_slot_wal_keep_size` more.
pub fn slot_alert_bytes(customer: &Customer) -> u64 {
    super::database::slot_wal_limit_mb(&customer.database) * 1024 * 1024 / 5
}

/// BackupTooOld fires when the newest full backup is half an interval late.
pub fn full_backup_alert_seconds(customer: &Customer) -> u64 {
    customer
        .archive
        .as_ref()
        .map_or(0, |a| u64::from(a.full_interval_hours) * 3600 * 3 / 2)
}

fn standbys(customer: &Customer) -> u32 {
    customer.database.replicas.saturating_sub(1)
}

/// Every alert of the customer that applies, in the table's order.
pub fn alerts(customer: &Customer) -> Vec<Alert> {
    let selectors = Selectors::of(customer);
    let table = RULES_TABLE
        .iter()
        .filter(|rule| (rule.applies)(customer))
        .map(|rule| {
            alert(
                customer,
                rule.name,
                rule.severity,
                &(rule.for_)(customer),
                (rule.expr)(&selectors, customer),
                (rule.summary)(customer),
            )
        });
    let extensions = super::EXTENSIONS
        .iter()
        .flat_map(|extension| (extension.alerts)(customer));
    table.chain(extensions).collect()
}

/// An alert an extension adds, with the labels and runbook link every alert carries.
pub fn extension_alert(
    customer: &Customer,
    name: &str,
    severity: &str,
    for_: &str,
    expr: String,
    summary: String,
) -> Alert {
    alert(customer, name, severity, for_, expr, summary)
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
        format!("{CUSTOM_METRIC_PREFIX}archiver"): {
            "query": "SELECT (last_failed_time IS NOT NULL AND (last_archived_time IS NULL OR last_failed_time > last_archived_time))::int AS failing FROM pg_stat_archiver",
            "master": true,
            "metrics": [
                {"failing": {"usage": "GAUGE", "description": "1 while the newest attempt to archive a WAL segment failed"}},
            ],
        },
        // The backup sidecar records each successful backup as a database setting
        // (`ALTER DATABASE postgres SET gitopsc.last_<type>_backup`): a catalog row that
        // replicates and needs no table. A kind never recorded reads as a billion seconds,
        // so a cluster that never backed up alerts instead of exporting nothing.
        format!("{CUSTOM_METRIC_PREFIX}backup"): {
            "query": "SELECT kind, coalesce(extract(epoch FROM now() - recorded.at), 1e9) AS age_seconds FROM (VALUES ('full'), ('diff')) AS kinds (kind) LEFT JOIN (SELECT substring(setting FROM '^gitopsc[.]last_([a-z]+)_backup=') AS kind, max(substring(setting FROM '=(.*)$')::timestamptz) AS at FROM pg_db_role_setting AS s CROSS JOIN LATERAL unnest(s.setconfig) AS setting WHERE s.setrole = 0 AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = 'postgres') AND setting ~ '^gitopsc[.]last_[a-z]+_backup=' GROUP BY 1) AS recorded USING (kind)",
            "master": true,
            "metrics": [
                {"kind": {"usage": "LABEL", "description": "full or diff"}},
                {"age_seconds": {"usage": "GAUGE", "description": "Seconds since the newest backup of this kind finished"}},
            ],
        },
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PodMonitorSpec {
    selector: LabelSelector,
    pod_metrics_endpoints: Vec<MetricsEndpoint>,
}

/// A scraped port: the same fields in both providers' resources.
#[derive(Serialize)]
struct MetricsEndpoint {
    port: String,
    path: &'static str,
    interval: &'static str,
}

#[derive(Serialize)]
struct PodMonitoringSpec {
    selector: LabelSelector,
    endpoints: Vec<MetricsEndpoint>,
}

/// The monitoring objects' labels, with the selector labels the Prometheus Operator only
/// reads monitors and rules by.
fn selected_labels(customer: &Customer) -> BTreeMap<String, String> {
    let mut selected = labels(customer, "monitoring", Component::MONITORING.as_str());
    if customer.monitoring.provider == MonitoringProvider::PrometheusOperator {
        selected.extend(customer.monitoring.selector_labels.clone());
    }
    selected
}

pub fn emit(customer: &Customer) -> Vec<Object> {
    let labels = labels(customer, "monitoring", Component::MONITORING.as_str());
    let selected = selected_labels(customer);
    let mut postgres_ports = vec![EXPORTER_PORT];
    if customer.database.tls_secret.is_some() {
        postgres_ports.push(port::CERTIFICATES_NAME);
    }
    let targets = [
        (workload::APP, vec![APP_PORT]),
        (workload::POSTGRES, postgres_ports),
        (workload::PGPOOL, vec![EXPORTER_PORT]),
    ];
    let mut objects: Vec<Object> = targets
        .iter()
        .map(|(name, port_names)| scrape_target(customer, name, port_names))
        .collect();
    let groups = json!({ "groups": rule_groups(customer) });
    objects.push(match customer.monitoring.provider {
        MonitoringProvider::PrometheusOperator => Resource {
            api_version: "monitoring.coreos.com/v1",
            kind: "PrometheusRule",
            metadata: metadata(customer, RULES, selected.clone()),
            spec: groups,
        }
        .into_object(Component::MONITORING),
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
        .into_object(Component::MONITORING),
    });
    objects.push(dashboard(customer, &labels));
    objects
}

/// The scrape target of one workload's pods on named ports, for the customer's provider.
pub fn scrape_target(customer: &Customer, name: &str, port_names: &[&str]) -> Object {
    let selector = LabelSelector {
        match_labels: Some(selector(customer, name)),
        ..LabelSelector::default()
    };
    let meta = metadata(customer, name, selected_labels(customer));
    let endpoints = port_names
        .iter()
        .map(|port_name| MetricsEndpoint {
            port: (*port_name).into(),
            path: "/metrics",
            interval: INTERVAL,
        })
        .collect();
    match customer.monitoring.provider {
        MonitoringProvider::PrometheusOperator => Resource {
            api_version: "monitoring.coreos.com/v1",
            kind: "PodMonitor",
            metadata: meta,
            spec: PodMonitorSpec {
                selector,
                pod_metrics_endpoints: endpoints,
            },
        }
        .into_object(Component::MONITORING),
        MonitoringProvider::GkeManagedPrometheus => Resource {
            api_version: "monitoring.googleapis.com/v1",
            kind: "PodMonitoring",
            metadata: meta,
            spec: PodMonitoringSpec {
                selector,
                endpoints,
            },
        }
        .into_object(Component::MONITORING),
    }
}

/// Cluster-scoped, so named after the customer: two customers in one cluster never share it.
pub fn cluster_rules_name(customer: &Customer) -> String {
    format!("{}-{RULES}", customer.name)
}

/// The Grafana dashboard: app traffic, errors and latency; replicas against the
/// autoscaler's bounds; PostgreSQL connections and replication lag; Pgpool backends; the
/// age of the newest snapshot.
/// The dashboard's panels: a title, a unit and the queries, over the alerts' selectors.
fn panels(customer: &Customer) -> Vec<(&'static str, &'static str, Vec<String>)> {
    let s = Selectors::of(customer);
    let mut panels = vec![
        (
            "Requests per second",
            "reqps",
            vec![format!(
                "sum by (code) (rate(http_requests_total{{{}}}[5m]))",
                s.app
            )],
        ),
        ("5xx ratio", "percentunit", vec![s.error_ratio()]),
        (
            "Latency p50 / p99",
            "s",
            vec![s.latency(0.5), s.latency(0.99)],
        ),
        (
            "App replicas and autoscaler bounds",
            "short",
            [
                "kube_horizontalpodautoscaler_status_current_replicas",
                "kube_horizontalpodautoscaler_spec_min_replicas",
                "kube_horizontalpodautoscaler_spec_max_replicas",
            ]
            .iter()
            .map(|metric| format!("{metric}{{{}}}", s.hpa))
            .collect(),
        ),
        (
            "PostgreSQL connections / max_connections",
            "percentunit",
            vec![s.connections_ratio()],
        ),
        (
            "Replication lag",
            "s",
            vec![format!("pg_replication_lag_seconds{{{}}}", s.pg)],
        ),
        (
            "Pgpool backends up",
            "short",
            vec![format!(
                "sum by (hostname) (pgpool2_pool_nodes_status{{{}}})",
                s.pgpool
            )],
        ),
    ];
    if customer.backup.is_some() {
        panels.push(("Age of the newest snapshot", "s", vec![s.snapshot_age()]));
    }
    panels
}

/// One timeseries panel, laid out two to a row.
fn panel(i: usize, title: &str, unit: &str, exprs: &[String]) -> Value {
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
}

fn dashboard(customer: &Customer, labels: &BTreeMap<String, String>) -> Object {
    let panels: Vec<Value> = panels(customer)
        .iter()
        .enumerate()
        .map(|(i, (title, unit, exprs))| panel(i, title, unit, exprs))
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
    Object::new(Component::MONITORING, DASHBOARD, &config_map)
}
