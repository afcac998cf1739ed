//! `identity.tf.json`: the GSAs the compiled ServiceAccounts act as, each bound to exactly
//! that account through Workload Identity.

use serde_json::{Value, json};

use super::{Address, Block, File};
use crate::emit::{credentials, workload};
use crate::model::{Customer, SecretStore};

/// The GSA created for `key` (`app`, `secrets`).
pub fn account(key: &'static str) -> Address {
    Address::resource("google_service_account", key)
}

fn binding(key: &'static str) -> Address {
    Address::resource("google_service_account_iam_member", key)
}

pub(super) fn file(customer: &Customer) -> File {
    let store_account = match customer.database.credentials.external().map(|s| &s.store) {
        Some(SecretStore::Compiled {
            gcp_service_account: Some(email),
            ..
        }) => Some(email),
        _ => None,
    };
    let wanted = [
        (
            "app",
            customer.app.gcp_service_account.as_ref(),
            workload::APP,
        ),
        ("secrets", store_account, credentials::STORE_ACCOUNT),
    ];
    let mut blocks = Vec::new();
    for (key, email, kubernetes_account) in wanted {
        if let Some(email) = email {
            blocks.push(Block::new(
                account(key),
                gsa(customer, email, kubernetes_account),
            ));
            blocks.push(Block::new(
                binding(key),
                json!({
                    "service_account_id": account(key).attr("name"),
                    "role": "roles/iam.workloadIdentityUser",
                    "member": workload_member(customer, kubernetes_account)
                }),
            ));
        }
    }
    File::of(blocks)
}

/// A GSA named by its email in the profile, created in its own project.
fn gsa(customer: &Customer, email: &str, kubernetes_account: &str) -> Value {
    let (id, domain) = email.split_once('@').unwrap_or((email, ""));
    let project = domain
        .strip_suffix(".iam.gserviceaccount.com")
        .unwrap_or(&customer.cluster.project_id);
    json!({
        "project": project,
        "account_id": id,
        "display_name": format!("{kubernetes_account} of {}", customer.name)
    })
}

/// The Workload Identity member of a Kubernetes ServiceAccount of the customer. The pool
/// is read from the cluster, so every grant to it waits for the cluster: IAM refuses a
/// member of a pool that does not exist yet ("Identity Pool does not exist",
/// terraform-google-kubernetes-engine#916), which otherwise took a second apply.
pub fn workload_member(customer: &Customer, kubernetes_account: &str) -> String {
    format!(
        "serviceAccount:{}[{}/{kubernetes_account}]",
        super::CLUSTER.attr("workload_identity_config[0].workload_pool"),
        customer.namespace
    )
}
