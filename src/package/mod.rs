//! Stage 6: objects → folders of files. A customer's `out/<customer>/` (one file per
//! object, `kustomization.yaml`, `gitopsc.lock`), the fleet's `out/_argocd/`, or a Helm
//! chart per customer (`render --format helm`). Every folder carries a lock.

use std::collections::BTreeMap;

use crate::emit::Object;
use crate::model::Customer;
use crate::serialize::{digest, to_yaml};

/// File name of the lock in each customer folder.
pub const LOCK: &str = "gitopsc.lock";
/// The checklist of what must exist before a sync.
pub const PREREQUISITES: &str = "PREREQUISITES.md";
/// File name of the Kustomize entry point.
pub const KUSTOMIZATION: &str = "kustomization.yaml";

pub mod argocd;
pub mod helm;

/// One folder the compiler owns under the output folder: path → bytes, sorted by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub name: String,
    pub files: BTreeMap<String, String>,
}

/// What a folder holds; recorded in its lock so one format never overwrites the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain manifests and a kustomization (`render`, the default).
    Kustomize,
    /// A Helm chart (`render --format helm`).
    Helm,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Kustomize => "kustomize",
            Format::Helm => "helm",
        }
    }
}

/// `out/<customer>/`: the objects, a kustomization listing them, the lock.
pub fn kustomize(
    customer: &Customer,
    objects: &[Object],
    prerequisites: &[crate::prerequisite::Prerequisite],
) -> Folder {
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
    files.insert(
        PREREQUISITES.to_string(),
        crate::link::prerequisites_markdown(customer, prerequisites),
    );
    let images = crate::terraform::admission::images(objects.iter().map(|o| &o.value));
    files.extend(crate::terraform::files(customer, &images));
    locked(
        customer.name.clone(),
        Format::Kustomize,
        &input_digest(&customer.profile),
        files,
    )
}

/// A customer's compiled folder as `format` writes it: as it is, or as a Helm chart.
/// `input` is the digest of the customer's profile (`input_digest`).
pub fn in_format(customer: &Customer, input: &str, folder: Folder, format: Format) -> Folder {
    match format {
        Format::Kustomize => folder,
        Format::Helm => helm::chart(customer, &folder, input),
    }
}

/// sha256 of the effective (merged, typed) profile, as the fields it sets: an unset field
/// counts as absent, not as `null`, so a new optional field in a compiler release leaves
/// every lock as it was.
pub fn input_digest(profile: &crate::profile::Profile) -> String {
    let mut profile = serde_json::to_value(profile).unwrap_or_default();
    drop_nulls(&mut profile);
    digest(&serde_json::to_vec(&profile).unwrap_or_default())
}

fn drop_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(object) => {
            object.retain(|_, v| !v.is_null());
            object.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// The folder with its lock added.
pub fn locked(
    name: String,
    format: Format,
    input: &str,
    mut files: BTreeMap<String, String>,
) -> Folder {
    files.insert(LOCK.to_string(), lock(format, input, &files));
    Folder { name, files }
}

/// The lock: compiler version, format, input digest, digest of every file.
fn lock(format: Format, input: &str, files: &BTreeMap<String, String>) -> String {
    let mut text = lock_head(format, input);
    text.push_str("files:\n");
    for (path, content) in files {
        text.push_str(&format!("  {path}: {}\n", digest(content.as_bytes())));
    }
    text
}

/// The lock up to its file list: what a folder was compiled from and by. A folder whose
/// lock starts with the head of this compiler, format and input was compiled from exactly
/// this profile by exactly this compiler.
pub fn lock_head(format: Format, input: &str) -> String {
    format!(
        "# Written by gitopsc; do not edit. `gitopsc render` refuses to replace this folder\n\
         # while it holds files that are missing here or differ from their digest.\n\
         compiler: gitopsc {}\nformat: {}\ninput: {input}\n",
        env!("CARGO_PKG_VERSION"),
        format.as_str()
    )
}

/// The kind and name of every object of a Kustomize folder on disk, in its
/// kustomization's order; `None` when a listed file is missing or not an object.
pub fn objects_on_disk(
    files: &BTreeMap<String, Vec<u8>>,
) -> Option<Vec<(argocd::ObjectKind, String)>> {
    let kustomization = std::str::from_utf8(files.get(KUSTOMIZATION)?).ok()?;
    kustomization
        .lines()
        .filter_map(|line| line.strip_prefix("  - "))
        .map(|path| argocd::ObjectKind::read(std::str::from_utf8(files.get(path)?).ok()?))
        .collect()
}

/// The format a lock records.
pub fn lock_format(text: &str) -> Option<&str> {
    text.lines().find_map(|line| line.strip_prefix("format: "))
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
