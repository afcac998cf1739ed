//! `logging.tf.json`: the project's audit trail. Cloud Audit Logs' Data Access
//! configuration; a sink of every log entry to a bucket whose retention policy keeps it
//! for the profile's days; and log-based alerts on the changes an attacker makes first
//! (IAM, audit logging, roles, firewall rules, routes, networks, bucket permissions),
//! routed to the customer's notification channels.

use serde_json::json;

use super::{Address, Block, File, Gcp};
use crate::model::Customer;

/// Services whose Data Access audit logs are on: who read a secret, used a key or read the
/// Terraform state. Admin Activity logs are always on and cannot be turned off; the
/// Kubernetes API's reads (`container.googleapis.com`) stay off, their volume is that of
/// every controller's watch.
pub const DATA_ACCESS_LOGGED: &[&str] = &[
    "cloudkms.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
];

/// The bucket every log entry of the project is kept in, and the sink that fills it.
pub const LOG_BUCKET: Address = Address::resource("google_storage_bucket", "logs");
pub const SINK: Address = Address::resource("google_logging_project_sink", "all");
const SINK_WRITER: Address = Address::resource("google_storage_bucket_iam_member", "logs");

/// A change that raises an alert: (name, what changed, the log filter). The filters are
/// those of the CIS Google Cloud benchmark (2.4–2.10) as Prowler tests them, word for word
/// (`schema/audit-anchors.json`; `terraform::every_watched_change_is_prowlers_filter`).
pub const WATCHED_CHANGES: &[(&str, &str, &str)] = &[
    (
        "project-ownership",
        "project ownership",
        r#"(protoPayload.serviceName="cloudresourcemanager.googleapis.com") AND (ProjectOwnership OR projectOwnerInvitee) OR (protoPayload.serviceData.policyDelta.bindingDeltas.action="REMOVE" AND protoPayload.serviceData.policyDelta.bindingDeltas.role="roles/owner") OR (protoPayload.serviceData.policyDelta.bindingDeltas.action="ADD" AND protoPayload.serviceData.policyDelta.bindingDeltas.role="roles/owner")"#,
    ),
    (
        "audit-configuration",
        "audit logging configuration",
        r#"protoPayload.methodName="SetIamPolicy" AND protoPayload.serviceData.policyDelta.auditConfigDeltas:*"#,
    ),
    (
        "custom-role",
        "custom IAM roles",
        r#"resource.type="iam_role" AND (protoPayload.methodName="google.iam.admin.v1.CreateRole" OR protoPayload.methodName="google.iam.admin.v1.DeleteRole" OR protoPayload.methodName="google.iam.admin.v1.UpdateRole")"#,
    ),
    (
        "firewall-rule",
        "VPC firewall rules",
        r#"resource.type="gce_firewall_rule" AND (protoPayload.methodName:"compute.firewalls.patch" OR protoPayload.methodName:"compute.firewalls.insert" OR protoPayload.methodName:"compute.firewalls.delete")"#,
    ),
    (
        "route",
        "VPC routes",
        r#"resource.type="gce_route" AND (protoPayload.methodName:"compute.routes.delete" OR protoPayload.methodName:"compute.routes.insert")"#,
    ),
    (
        "network",
        "VPC networks",
        r#"resource.type="gce_network" AND (protoPayload.methodName:"compute.networks.insert" OR protoPayload.methodName:"compute.networks.patch" OR protoPayload.methodName:"compute.networks.delete" OR protoPayload.methodName:"compute.networks.removePeering" OR protoPayload.methodName:"compute.networks.addPeering")"#,
    ),
    (
        "bucket-permission",
        "Cloud Storage bucket permissions",
        r#"resource.type="gcs_bucket" AND protoPayload.methodName="storage.setIamPermissions""#,
    ),
];

/// The runbook every security alert links to (`docs/runbooks/`).
pub const RUNBOOK: &str = "SecurityConfigurationChanged";

pub(super) fn file(customer: &Customer, gcp: &Gcp) -> File {
    let mut blocks: Vec<Block> = DATA_ACCESS_LOGGED
        .iter()
        .map(|service| {
            let name = service.split('.').next().unwrap_or(service);
            Block::new(
                Address::named("google_project_iam_audit_config", name.to_string()),
                json!({
                    "project": gcp.project,
                    "service": service,
                    "audit_log_config": [
                        {"log_type": "ADMIN_READ"},
                        {"log_type": "DATA_READ"},
                        {"log_type": "DATA_WRITE"}
                    ]
                }),
            )
        })
        .collect();
    blocks.extend(sink(customer, gcp));
    blocks.extend(alerts(customer, gcp));
    File::of(blocks)
}

/// Every log entry of the project (no filter) into a private bucket whose retention policy
/// keeps each object `log_retention_days` days, then deletes it. The bucket holds
/// evidence, so Terraform never destroys it. The policy is not locked: locking is
/// irreversible, a decision for the customer to take (docs/audit.md).
fn sink(customer: &Customer, gcp: &Gcp) -> Vec<Block> {
    let days = gcp.log_retention_days;
    vec![
        Block::new(
            LOG_BUCKET,
            json!({
                "name": crate::model::project_bucket(gcp.project, &customer.name, "logs"),
                "project": gcp.project,
                "location": gcp.region,
                "storage_class": "STANDARD",
                "force_destroy": false,
                "uniform_bucket_level_access": true,
                "public_access_prevention": "enforced",
                "versioning": {"enabled": true},
                // Seconds, as text: the provider reads a string since 6.0.
                "retention_policy": {"retention_period": (u64::from(days) * 86_400).to_string()},
                "lifecycle_rule": [{
                    "action": {"type": "Delete"},
                    "condition": {"age": days}
                }],
                "labels": {"customer": customer.name, "managed-by": "gitopsc"},
                "lifecycle": {"prevent_destroy": true}
            }),
        ),
        Block::new(
            SINK,
            json!({
                "name": super::gce_name(&customer.name, "audit-trail"),
                "project": gcp.project,
                "destination": format!("storage.googleapis.com/{}", LOG_BUCKET.attr("name")),
                "unique_writer_identity": true
            }),
        ),
        Block::new(
            SINK_WRITER,
            json!({
                "bucket": LOG_BUCKET.attr("name"),
                // Create objects only: the sink cannot read or delete what it wrote.
                "role": "roles/storage.objectCreator",
                "member": SINK.attr("writer_identity").to_string()
            }),
        ),
    ]
}

/// A log-based metric and an alert policy per watched change: any matching entry in a
/// minute opens an incident on the customer's channels, with the runbook beside it.
fn alerts(customer: &Customer, gcp: &Gcp) -> Vec<Block> {
    let runbook = format!("{}/{RUNBOOK}.md", customer.monitoring.runbook_base_url);
    let mut blocks = Vec::new();
    for (name, what, filter) in WATCHED_CHANGES {
        let metric = Address::named("google_logging_metric", name.replace('-', "_"));
        let policy = Address::named("google_monitoring_alert_policy", name.replace('-', "_"));
        blocks.push(Block::new(
            metric.clone(),
            json!({
                "name": super::gce_name(&customer.name, &format!("{name}-changes")),
                "project": gcp.project,
                "description": format!("Changes to {what} (CIS Google Cloud benchmark)"),
                "filter": filter,
                "metric_descriptor": {"metric_kind": "DELTA", "value_type": "INT64"}
            }),
        ));
        blocks.push(Block::new(
            policy,
            json!({
                "project": gcp.project,
                "display_name": format!("{}: {what} changed", customer.name),
                "combiner": "OR",
                "severity": "CRITICAL",
                "conditions": [{
                    "display_name": format!("a change to {what}"),
                    "condition_threshold": {
                        "filter": format!(
                            "metric.type=\"logging.googleapis.com/user/{}\"",
                            metric.attr("name")
                        ),
                        "comparison": "COMPARISON_GT",
                        "threshold_value": 0,
                        "duration": "0s",
                        "aggregations": [{
                            "alignment_period": "60s",
                            "per_series_aligner": "ALIGN_COUNT"
                        }]
                    }
                }],
                "notification_channels": gcp.notification_channels,
                "documentation": {
                    "content": format!(
                        "A change to {what} in project {}: confirm it was planned, or treat it as an incident. Runbook: {runbook}",
                        gcp.project
                    ),
                    "mime_type": "text/markdown"
                }
            }),
        ));
    }
    blocks
}
