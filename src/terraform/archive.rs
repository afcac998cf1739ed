//! `archive.tf.json`: the bucket that holds the database's WAL archive and backups
//! (pgBackRest), the GSA the database pods act as, and the two grants that tie them: the
//! pods' Kubernetes ServiceAccount may act as the GSA, and the GSA may read and write the
//! bucket's objects, nothing else. The restore test has a GSA of its own that may only
//! read them.

use serde_json::json;

use super::{Address, Block, File, Gcp, identity};
use crate::emit::database;
use crate::model::{Archive, Customer};

/// The archive's bucket: it holds data, so it is never destroyed by Terraform.
pub const BUCKET: Address = Address::resource("google_storage_bucket", "archive");
const ACCOUNT: Address = Address::resource("google_service_account", "archive");
const WORKLOAD_BINDING: Address = Address::resource("google_service_account_iam_member", "archive");
const OBJECT_ACCESS: Address = Address::resource("google_storage_bucket_iam_member", "archive");
/// The restore test reads the repository and writes nothing to it: its own GSA, so the Job
/// that restores a copy can never change or delete a backup.
const RESTORE_TEST_ACCOUNT: Address =
    Address::resource("google_service_account", "archive_restore_test");
const RESTORE_TEST_BINDING: Address =
    Address::resource("google_service_account_iam_member", "archive_restore_test");
const RESTORE_TEST_READ: Address =
    Address::resource("google_storage_bucket_iam_member", "archive_restore_test");
/// Replaced versions of pgBackRest's info files are kept this long.
const NONCURRENT_DAYS: u32 = 30;

pub(super) fn file(customer: &Customer, gcp: &Gcp) -> File {
    let Some(archive) = &customer.archive else {
        return File::default();
    };
    let account_id = |email: &str| email.split('@').next().unwrap_or_default().to_string();
    File::of(vec![
        Block::new(BUCKET, bucket(customer, gcp, archive)),
        Block::new(
            ACCOUNT,
            json!({
                "project": gcp.project,
                "account_id": account_id(&archive.gcp_service_account),
                "display_name": format!("pgBackRest of {}", customer.name)
            }),
        ),
        Block::new(
            WORKLOAD_BINDING,
            json!({
                "service_account_id": ACCOUNT.attr("name"),
                "role": "roles/iam.workloadIdentityUser",
                "member": identity::workload_member(customer, database::NAME)
            }),
        ),
        Block::new(
            OBJECT_ACCESS,
            json!({
                "bucket": BUCKET.attr("name"),
                // Create, read, list and delete objects (pgBackRest's expire deletes): no
                // bucket settings, no IAM.
                "role": "roles/storage.objectUser",
                "member": format!("serviceAccount:{}", ACCOUNT.attr("email"))
            }),
        ),
        Block::new(
            RESTORE_TEST_ACCOUNT,
            json!({
                "project": gcp.project,
                "account_id": account_id(&archive.restore_test_account),
                "display_name": format!("Restore test of {}", customer.name)
            }),
        ),
        Block::new(
            RESTORE_TEST_BINDING,
            json!({
                "service_account_id": RESTORE_TEST_ACCOUNT.attr("name"),
                "role": "roles/iam.workloadIdentityUser",
                "member": identity::workload_member(customer, crate::emit::archive::RESTORE_TEST)
            }),
        ),
        Block::new(
            RESTORE_TEST_READ,
            json!({
                "bucket": BUCKET.attr("name"),
                // Read and list objects: what pgBackRest's restore and archive-get need.
                "role": "roles/storage.objectViewer",
                "member": format!("serviceAccount:{}", RESTORE_TEST_ACCOUNT.attr("email"))
            }),
        ),
    ])
}

/// Private, uniform access, versioned (a replaced `backup.info` stays readable), soft
/// delete for the profile's days (a deleted object stays recoverable), and never
/// destroyed by Terraform. No retention lock: pgBackRest rewrites its info files, which a
/// locked bucket refuses.
fn bucket(customer: &Customer, gcp: &Gcp, archive: &Archive) -> serde_json::Value {
    json!({
        "name": archive.bucket,
        "project": gcp.project,
        "location": archive.location,
        "storage_class": "STANDARD",
        "force_destroy": false,
        "uniform_bucket_level_access": true,
        "public_access_prevention": "enforced",
        "versioning": {"enabled": true},
        "soft_delete_policy": {
            "retention_duration_seconds": u64::from(archive.soft_delete_days) * 86_400
        },
        "lifecycle_rule": [{
            "action": {"type": "Delete"},
            "condition": {"days_since_noncurrent_time": NONCURRENT_DAYS, "with_state": "ARCHIVED"}
        }],
        "labels": {"customer": customer.name, "managed-by": "gitopsc"},
        "lifecycle": {"prevent_destroy": true}
    })
}
