//! Stage 6: a customer's objects → the files of `out/<customer>/`: one file per object,
//! `kustomization.yaml` listing them, and `gitopsc.lock` recording what was written.

use std::collections::BTreeMap;

use crate::emit::Object;
use crate::model::Customer;
use crate::serialize::{digest, to_yaml};

/// File name of the lock in each customer folder.
pub const LOCK: &str = "gitopsc.lock";
/// File name of the Kustomize entry point.
pub const KUSTOMIZATION: &str = "kustomization.yaml";

/// Everything `out/<name>/` holds, path → bytes, sorted by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerOutput {
    pub name: String,
    pub files: BTreeMap<String, String>,
}

pub fn package(customer: &Customer, objects: &[Object]) -> CustomerOutput {
    let mut files = BTreeMap::new();
    let mut resources = Vec::with_capacity(objects.len());
    for object in objects {
        let path = object.path();
        files.insert(path.clone(), to_yaml(&object.value));
        resources.push(serde_json::Value::String(path));
    }
    let kustomization = serde_json::json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    });
    files.insert(KUSTOMIZATION.to_string(), to_yaml(&kustomization));
    let input = digest(&serde_json::to_vec(&customer.profile).unwrap_or_default());
    files.insert(LOCK.to_string(), lock(&input, &files));
    CustomerOutput {
        name: customer.name.clone(),
        files,
    }
}

/// The lock: compiler version, digest of the effective profile, digest of every file.
fn lock(input: &str, files: &BTreeMap<String, String>) -> String {
    let mut text = String::from(
        "# Written by gitopsc; do not edit. `gitopsc render` refuses to replace this folder\n\
         # while it holds files that are missing here or differ from their digest.\n",
    );
    text.push_str(&format!(
        "compiler: gitopsc {}\n",
        env!("CARGO_PKG_VERSION")
    ));
    text.push_str(&format!("input: {input}\n"));
    text.push_str("files:\n");
    for (path, content) in files {
        text.push_str(&format!("  {path}: {}\n", digest(content.as_bytes())));
    }
    text
}

/// The file digests a lock lists; `None` if the text is not a lock.
pub fn parse_lock(text: &str) -> Option<BTreeMap<String, String>> {
    let (_, listing) = text.split_once("\nfiles:\n")?;
    listing
        .lines()
        .map(|line| {
            let (path, hash) = line.strip_prefix("  ")?.split_once(": ")?;
            Some((path.to_string(), hash.to_string()))
        })
        .collect()
}
