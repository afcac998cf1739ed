//! `logging.tf.json`: Cloud Audit Logs' Data Access configuration of the project.

use serde_json::json;

use super::{Address, Block, File, Gcp};

/// Services whose Data Access audit logs are on: who read a secret, used a key or read the
/// Terraform state. Admin Activity logs are always on and cannot be turned off; the
/// Kubernetes API's reads (`container.googleapis.com`) stay off, their volume is that of
/// every controller's watch.
pub const DATA_ACCESS_LOGGED: &[&str] = &[
    "cloudkms.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
];

/// One resource per service (each is authoritative for its service only).
pub(super) fn file(gcp: &Gcp) -> File {
    let blocks = DATA_ACCESS_LOGGED
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
    File::of(blocks)
}
