//! `admission.tf.json`: the project's Binary Authorization policy, which the cluster
//! enforces (`binary_authorization.evaluation_mode`). A new project's policy admits every
//! image, so enforcing it alone proves nothing: this one admits the repositories of the
//! images the customer's manifests run, the patterns the profile adds for the cluster's add-ons
//! (`infrastructure.cluster.admittedImages`), and Google's own system images, and denies
//! the rest, logged.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{Address, Block, File, Gcp};
use crate::model::Customer;

pub const POLICY: Address = Address::resource("google_binary_authorization_policy", "policy");

/// Every container image of the manifests (`containers`, `initContainers`, at any depth:
/// a CronJob's pods too).
pub fn images<'a>(objects: impl IntoIterator<Item = &'a Value>) -> BTreeSet<String> {
    fn walk(value: &Value, found: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    if key == "containers" || key == "initContainers" {
                        for container in inner.as_array().into_iter().flatten() {
                            found.extend(container["image"].as_str().map(str::to_string));
                        }
                    }
                    walk(inner, found);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let mut found = BTreeSet::new();
    for object in objects {
        walk(object, &mut found);
    }
    found
}

/// The allow-list pattern of an image: its repository with a trailing `*`, the one
/// wildcard the policy takes, so any digest or tag of it is admitted and nothing beside it
/// (`us-docker.pkg.dev/vendor/apps/api@sha256:…` → `us-docker.pkg.dev/vendor/apps/api*`).
/// `None` for a Docker Hub short name, which only an explicit pattern admits.
pub fn pattern(image: &str) -> Option<String> {
    let repository = image.split('@').next().unwrap_or(image);
    // A tag follows the last `:` after the last `/` (a registry port comes before it).
    let (folder, name) = repository.rsplit_once('/')?;
    let name = name.split(':').next().unwrap_or(name);
    Some(format!("{folder}/{name}*"))
}

pub(super) fn file(customer: &Customer, gcp: &Gcp, images: &BTreeSet<String>) -> File {
    let settings = customer
        .profile
        .spec
        .as_ref()
        .and_then(|s| s.infrastructure.as_ref())
        .and_then(|i| i.cluster.as_ref());
    let enforced = settings
        .and_then(|c| c.binary_authorization)
        .unwrap_or(crate::profile::defaults::BINARY_AUTHORIZATION);
    if !enforced {
        return File::default();
    }
    let mut patterns: BTreeSet<String> = images.iter().filter_map(|i| pattern(i)).collect();
    patterns.extend(
        settings
            .and_then(|c| c.admitted_images.clone())
            .into_iter()
            .flatten(),
    );
    let allowed: Vec<Value> = patterns
        .iter()
        .map(|p| json!({"name_pattern": p}))
        .collect();
    File::of(vec![Block::new(
        POLICY,
        json!({
            "project": gcp.project,
            "description": format!("Images {}'s clusters may run (gitopsc)", customer.name),
            // Google-maintained system images (GKE's own pods) are admitted by Google's
            // global policy.
            "global_policy_evaluation_mode": "ENABLE",
            "admission_whitelist_patterns": allowed,
            "default_admission_rule": {
                "evaluation_mode": "ALWAYS_DENY",
                "enforcement_mode": "ENFORCED_BLOCK_AND_AUDIT_LOG"
            }
        }),
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_is_admitted_by_its_repository() {
        for (image, want) in [
            (
                "us-docker.pkg.dev/vendor/apps/api@sha256:0123",
                Some("us-docker.pkg.dev/vendor/apps/api*"),
            ),
            (
                "quay.io/jetstack/cert-manager-controller:v1.21.2",
                Some("quay.io/jetstack/cert-manager-controller*"),
            ),
            ("registry:5000/team/app:1", Some("registry:5000/team/app*")),
            ("gcr.io/app", Some("gcr.io/app*")),
            ("postgres:16", None),
        ] {
            assert_eq!(pattern(image).as_deref(), want, "{image}");
        }
        let objects = [
            json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
                "initContainers": [{"image": "a.io/x/init:1"}],
                "containers": [{"image": "a.io/x/app:1"}, {"image": "b.io/y/side:2"}]
            }}}}}}),
        ];
        let found: Vec<String> = images(objects.iter()).into_iter().collect();
        assert_eq!(found, ["a.io/x/app:1", "a.io/x/init:1", "b.io/y/side:2"]);
    }
}
