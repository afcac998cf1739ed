//! Secrets shared least, on every compiled customer: each container sees only the keys of
//! the credentials Secret it uses (Secret volumes list their `items:`), and the superuser's
//! password is visible to Patroni alone, never to an exporter, Pgpool or the snapshot job.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::parse_yaml;

/// For every container of a pod spec: the keys of `secret` it can read through its mounts.
fn visible_keys(pod: &Value, secret: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut volumes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for volume in pod["volumes"].as_array().into_iter().flatten() {
        if volume["secret"]["secretName"] != secret {
            continue;
        }
        let items = volume["secret"]["items"]
            .as_array()
            .unwrap_or_else(|| panic!("volume {} mounts the whole Secret", volume["name"]));
        volumes.insert(
            volume["name"].as_str().expect("name").to_string(),
            items
                .iter()
                .map(|i| i["key"].as_str().expect("key").to_string())
                .collect(),
        );
    }
    let mut seen = BTreeMap::new();
    for container in pod["containers"].as_array().into_iter().flatten() {
        let mut keys = BTreeSet::new();
        for mount in container["volumeMounts"].as_array().into_iter().flatten() {
            if let Some(items) = mount["name"].as_str().and_then(|n| volumes.get(n)) {
                keys.extend(items.iter().cloned());
            }
        }
        seen.insert(container["name"].as_str().expect("name").to_string(), keys);
    }
    seen
}

#[test]
fn every_container_sees_only_the_passwords_it_uses() {
    use gitopsc::emit::credentials::secret_key;
    let expected: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        ("postgres", secret_key::ALL.to_vec()),
        // passwords.py keeps every role's password equal to the Secret's, on the leader.
        ("patroni-config", secret_key::ALL.to_vec()),
        ("postgres-exporter", vec![secret_key::MONITOR]),
        ("pgpool", vec![secret_key::APP, secret_key::MONITOR]),
        ("pgpool-exporter", vec![secret_key::MONITOR]),
        ("snapshot", vec![secret_key::BACKUP]),
        // pgBackRest logs in as the superuser (docs/decisions.md): the sidecar reads the
        // data directory itself, so the password adds no data it could not read.
        ("pgbackrest", vec![secret_key::SUPERUSER]),
    ]);
    let mut checked = BTreeSet::new();
    for compiled in super::compiled_customers() {
        let secret =
            gitopsc::emit::credentials::secret_name(&crate::model(&compiled).database).to_string();
        for (path, text) in &compiled.output.as_ref().expect("compiled output").files {
            if !path.ends_with(".yaml") {
                continue;
            }
            let object = parse_yaml(text);
            let pod = match object["kind"].as_str() {
                Some("StatefulSet" | "Deployment") => &object["spec"]["template"]["spec"],
                Some("CronJob") => &object["spec"]["jobTemplate"]["spec"]["template"]["spec"],
                _ => continue,
            };
            for (container, keys) in visible_keys(pod, &secret) {
                let name = if path.starts_with("backup/") {
                    "snapshot"
                } else {
                    container.as_str()
                };
                let Some(wanted) = expected.get(name) else {
                    assert!(
                        keys.is_empty(),
                        "{}/{path}: {container} sees {keys:?}",
                        compiled.member.name
                    );
                    continue;
                };
                let wanted: BTreeSet<String> = wanted.iter().map(|k| k.to_string()).collect();
                assert_eq!(
                    keys, wanted,
                    "{}/{path}: the keys {container} can read",
                    compiled.member.name
                );
                // Only the database's own containers may log in as the superuser.
                if !["postgres", "pgbackrest", "patroni-config"].contains(&name) {
                    assert!(!keys.contains(secret_key::SUPERUSER));
                }
                checked.insert(name.to_string());
            }
        }
    }
    assert_eq!(
        checked.len(),
        expected.len(),
        "every kind of container checked: {checked:?}"
    );
}
