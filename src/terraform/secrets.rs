//! `secrets.tf.json`: the Secret Manager secret the credentials ExternalSecret reads (no
//! value, no version), and read access to exactly it for the store's identity.

use serde_json::json;

use super::{Address, Block, File, identity};
use crate::emit::credentials;
use crate::model::{Customer, SecretStore};

const SECRET: Address = Address::resource("google_secret_manager_secret", "credentials");
const READER: Address = Address::resource("google_secret_manager_secret_iam_member", "credentials");

pub(super) fn file(customer: &Customer) -> File {
    let Some(source) = customer.database.credentials.external() else {
        return File::default();
    };
    let SecretStore::Compiled {
        gcp_service_account,
        ..
    } = &source.store
    else {
        // A ClusterSecretStore's identity and secrets are the cluster operator's.
        return File::default();
    };
    let member = match gcp_service_account {
        Some(_) => format!(
            "serviceAccount:{}",
            identity::account("secrets").attr("email")
        ),
        None => identity::workload_member(customer, credentials::STORE_ACCOUNT),
    };
    File::of(vec![
        Block::new(
            SECRET,
            json!({
                "project": customer.cluster.project_id,
                "secret_id": source.key,
                "replication": {"auto": {}},
                "labels": {"customer": customer.name, "managed-by": "gitopsc"}
            }),
        ),
        Block::new(
            READER,
            json!({
                "project": customer.cluster.project_id,
                "secret_id": SECRET.attr("secret_id"),
                "role": "roles/secretmanager.secretAccessor",
                "member": member
            }),
        ),
    ])
}
