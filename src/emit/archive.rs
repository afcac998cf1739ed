//! Continuous WAL archiving and scheduled backups with pgBackRest to the GCS bucket the
//! Terraform creates (docs/backup.md): what the database members need of it. The
//! configuration and scripts go into the Patroni ConfigMap (so a change rolls the
//! members), PostgreSQL archives with `archive_command` and a standby that lost its slot
//! catches up with `restore_command`, a sidecar takes the full and differential backups on
//! the primary, and `restoreToTime` bootstraps a new cluster from the archive.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, EphemeralVolumeSource, PersistentVolumeClaimSpec, PersistentVolumeClaimTemplate,
    PodTemplateSpec, ResourceRequirements, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::{Value, json};

use super::credentials::secret_key;
use super::database::{CONFIG, CONFIG_DIR, CREDENTIALS_DIR, DATA_DIR, NAME, SOCKET_DIR, UID};
use super::names::{user, workload};
use super::{Component, Object, labels, metadata, port};
use crate::model::{Archive, Customer};

/// pgBackRest's stanza: the cluster, named as Patroni's scope.
pub const STANZA: &str = NAME;
/// The files it adds to the Patroni ConfigMap, mounted at `CONFIG_DIR`.
pub const CONFIG_FILE: &str = "pgbackrest.conf";
const BACKUP_SCRIPT: &str = "pgbackrest-backup.sh";
const RESTORE_SCRIPT: &str = "pgbackrest-restore.sh";
pub const RESTORE_TEST_SCRIPT: &str = "pgbackrest-restore-test.sh";
/// The restore test's CronJob and ServiceAccount.
pub const RESTORE_TEST: &str = "postgres-restore-test";
/// Where the restore test restores to: a volume of its own, gone with its pod.
const RESTORE_DIR: &str = "/var/lib/postgresql/restore-test";
/// How long recovery and each start may take before the test fails.
const RESTORE_TIMEOUT_SECONDS: u32 = 3600;
/// The volume with only the superuser's password, which the backup sidecar logs in with.
pub const PASSWORD_VOLUME: &str = "credentials-superuser";
/// The repository's folder in the bucket.
const REPO_PATH: &str = "/pgbackrest";
/// How often the sidecar checks whether a backup is due.
const CHECK_SECONDS: u32 = 300;

fn config_path() -> String {
    format!("{CONFIG_DIR}/{CONFIG_FILE}")
}

/// pgBackRest as PostgreSQL and the scripts run it.
fn pgbackrest(command: &str) -> String {
    format!(
        "pgbackrest --config={} --stanza={STANZA} {command}",
        config_path()
    )
}

/// What a script needs to run pgBackRest on this cluster's archive; `None` without one.
pub fn stanza(customer: &Customer) -> Option<minijinja::Value> {
    customer.archive.as_ref().map(|_| {
        minijinja::context! {
            config => config_path(),
            stanza => STANZA,
        }
    })
}

/// The archive's files in the Patroni ConfigMap: the configuration, the backup loop, and
/// the point-in-time restore while one is asked for.
pub fn files(customer: &Customer) -> Vec<(String, String)> {
    let Some(archive) = &customer.archive else {
        return Vec::new();
    };
    let mut files = vec![
        (CONFIG_FILE.to_string(), config(customer, archive)),
        (BACKUP_SCRIPT.to_string(), backup_script(customer, archive)),
        (
            RESTORE_TEST_SCRIPT.to_string(),
            restore_test_script(customer),
        ),
    ];
    if let Some(target) = &customer.database.restore_to_time {
        files.push((RESTORE_SCRIPT.to_string(), restore_script(customer, target)));
    }
    files
}

fn config(customer: &Customer, archive: &Archive) -> String {
    super::render_template(
        CONFIG_FILE,
        minijinja::context! {
            customer => customer.name,
            bucket => archive.bucket,
            account => archive.gcp_service_account,
            repo_path => REPO_PATH,
            retention_full => archive.retention_full,
            lock_path => "/tmp/pgbackrest",
            stanza => STANZA,
            data_dir => DATA_DIR,
            port => port::POSTGRES,
            socket_dir => SOCKET_DIR,
            superuser => user::SUPERUSER,
        },
    )
}

fn backup_script(customer: &Customer, archive: &Archive) -> String {
    super::render_template(
        BACKUP_SCRIPT,
        minijinja::context! {
            customer => customer.name,
            config => config_path(),
            stanza => STANZA,
            password_file => format!("{CREDENTIALS_DIR}/{}", secret_key::SUPERUSER),
            socket_dir => SOCKET_DIR,
            port => port::POSTGRES,
            superuser => user::SUPERUSER,
            check_seconds => CHECK_SECONDS,
            full_hours => archive.full_interval_hours,
            diff_hours => archive.differential_interval_hours,
        },
    )
}

fn restore_test_script(customer: &Customer) -> String {
    super::render_template(
        RESTORE_TEST_SCRIPT,
        minijinja::context! {
            customer => customer.name,
            job => RESTORE_TEST,
            config => config_path(),
            stanza => STANZA,
            restore_dir => RESTORE_DIR,
            binaries => super::database::BINARIES,
            port => port::POSTGRES,
            superuser => user::SUPERUSER,
            timeout_seconds => RESTORE_TIMEOUT_SECONDS,
        },
    )
}

/// pgBackRest reads `--target` as `YYYY-MM-DD HH:MM:SS+00`; the profile writes RFC 3339.
fn recovery_target(rfc3339: &str) -> String {
    format!("{}+00", rfc3339.replacen('T', " ", 1).trim_end_matches('Z'))
}

fn restore_script(customer: &Customer, target: &str) -> String {
    super::render_template(
        RESTORE_SCRIPT,
        minijinja::context! {
            customer => customer.name,
            config => config_path(),
            stanza => STANZA,
            target => recovery_target(target),
        },
    )
}

/// PostgreSQL's own settings for the archive: every completed WAL segment is pushed, and a
/// segment is completed at least every `archive_timeout` (half the recovery point).
pub fn parameters(customer: &Customer) -> BTreeMap<String, String> {
    let Some(archive) = &customer.archive else {
        return BTreeMap::new();
    };
    let [mode, command, timeout] = crate::patroni::ARCHIVE_PARAMETERS;
    BTreeMap::from([
        (mode.into(), "on".into()),
        (command.into(), pgbackrest("archive-push \"%p\"")),
        (
            timeout.into(),
            format!("{}s", archive.archive_timeout_seconds),
        ),
    ])
}

/// Patroni's `postgresql.recovery_conf`: a standby that fell behind what its primary keeps
/// (a lost slot) fetches the missing WAL from the archive.
pub fn recovery_conf(customer: &Customer) -> Option<Value> {
    customer
        .archive
        .as_ref()
        .map(|_| json!({"restore_command": pgbackrest("archive-get %f \"%p\"")}))
}

/// Patroni's custom bootstrap while `restoreToTime` is set: the restore script instead of
/// initdb, its recovery settings kept, promoted at the target.
pub fn bootstrap(customer: &Customer) -> Option<Value> {
    customer.archive.as_ref()?;
    let target = customer.database.restore_to_time.as_ref()?;
    Some(json!({
        "command": format!("{CONFIG_DIR}/{RESTORE_SCRIPT}"),
        "no_params": true,
        "keep_existing_recovery_conf": true,
        "recovery_conf": {
            "restore_command": pgbackrest("archive-get %f \"%p\""),
            "recovery_target_time": recovery_target(target),
            "recovery_target_action": "promote",
        },
    }))
}

/// The sidecar that takes the backups; on a standby it only waits.
pub fn sidecar(customer: &Customer) -> Option<Container> {
    customer.archive.as_ref()?;
    let database = &customer.database;
    Some(Container {
        name: "pgbackrest".into(),
        image: Some(database.image.clone()),
        image_pull_policy: super::pull_policy(database.image_by_tag),
        command: Some(vec![
            "/bin/sh".into(),
            format!("{CONFIG_DIR}/{BACKUP_SCRIPT}"),
        ]),
        resources: Some(ResourceRequirements {
            requests: Some(super::quantities("50m", "128Mi")),
            limits: Some(super::quantities("1", "512Mi")),
            ..ResourceRequirements::default()
        }),
        security_context: Some(super::restricted_container(UID)),
        volume_mounts: Some(sidecar_mounts()),
        ..Container::default()
    })
}

/// The data directory read-only (a backup reads it, it never writes it), the socket to
/// PostgreSQL, the configuration, the superuser's password, and `/tmp` for pgBackRest's
/// lock.
fn sidecar_mounts() -> Vec<VolumeMount> {
    vec![
        super::mount("data", "/var/lib/postgresql/data", true),
        super::mount("config", CONFIG_DIR, true),
        super::mount(PASSWORD_VOLUME, CREDENTIALS_DIR, true),
        super::mount("run", SOCKET_DIR, false),
        super::mount("tmp", "/tmp", false),
    ]
}

/// The restore test: a CronJob that restores the newest backup on a volume of its own and
/// checks it answers (`pgbackrest-restore-test.sh`), as its own ServiceAccount acting as
/// the archive's GSA. Its last success is what RestoreTestTooOld watches (A1.3: recovery
/// is tested, not assumed).
pub fn restore_test(customer: &Customer, checksum: &str) -> Vec<Object> {
    let Some(archive) = &customer.archive else {
        return Vec::new();
    };
    let labels = labels(
        customer,
        workload::RESTORE_TEST,
        Component::DATABASE.as_str(),
    );
    let pod = restore_test_pod(customer, &labels, checksum);
    let mut meta = metadata(customer, RESTORE_TEST, labels.clone());
    meta.annotations = super::checkov_skips(
        &[super::database::POSTGRES_UID_SKIP],
        customer.database.image_by_tag.then_some("database"),
    );
    let cron_job = super::cron_job(
        meta,
        &archive.restore_test_schedule,
        3600,
        i64::from(RESTORE_TIMEOUT_SECONDS) * 3,
        pod,
    );
    vec![
        super::service_account(
            customer,
            Component::DATABASE,
            RESTORE_TEST,
            &labels,
            false,
            Some(archive.restore_test_account.as_str()),
        ),
        Object::new(Component::DATABASE, RESTORE_TEST, &cron_job),
    ]
}

/// The restore test's pod: the database image running the script as its own
/// ServiceAccount, on the restore volume, with the Patroni ConfigMap (pgBackRest's
/// configuration and the script).
fn restore_test_pod(
    customer: &Customer,
    labels: &std::collections::BTreeMap<String, String>,
    checksum: &str,
) -> PodTemplateSpec {
    let database = &customer.database;
    let container = Container {
        name: workload::RESTORE_TEST.into(),
        image: Some(database.image.clone()),
        image_pull_policy: super::pull_policy(database.image_by_tag),
        command: Some(vec![
            "/bin/sh".into(),
            format!("{CONFIG_DIR}/{RESTORE_TEST_SCRIPT}"),
        ]),
        resources: Some(ResourceRequirements {
            requests: Some(super::quantities("250m", "512Mi")),
            limits: Some(super::quantities("2", "1Gi")),
            ..ResourceRequirements::default()
        }),
        security_context: Some(super::restricted_container(UID)),
        volume_mounts: Some(vec![
            super::mount("config", CONFIG_DIR, true),
            super::mount("restore", RESTORE_DIR, false),
            super::mount("tmp", "/tmp", false),
        ]),
        ..Container::default()
    };
    super::job_pod(
        labels,
        checksum,
        RESTORE_TEST,
        false,
        UID,
        container,
        vec![
            super::config_map_volume("config", CONFIG, 0o555),
            restore_volume(customer),
            super::scratch_volume("tmp", "64Mi", false),
        ],
    )
}

/// A disk of the database's size and class for the pod's lifetime (a generic ephemeral
/// volume): created with the pod, deleted with it.
fn restore_volume(customer: &Customer) -> Volume {
    let database = &customer.database;
    Volume {
        name: "restore".into(),
        ephemeral: Some(EphemeralVolumeSource {
            volume_claim_template: Some(PersistentVolumeClaimTemplate {
                metadata: None,
                spec: PersistentVolumeClaimSpec {
                    access_modes: Some(vec!["ReadWriteOnce".into()]),
                    storage_class_name: database.storage_class.clone(),
                    resources: Some(VolumeResourceRequirements {
                        requests: Some(std::collections::BTreeMap::from([(
                            "storage".to_string(),
                            Quantity(database.storage_size.clone()),
                        )])),
                        ..VolumeResourceRequirements::default()
                    }),
                    ..PersistentVolumeClaimSpec::default()
                },
            }),
        }),
        ..Volume::default()
    }
}

#[cfg(test)]
mod tests {
    use super::recovery_target;

    #[test]
    fn the_target_is_written_as_pgbackrest_reads_it() {
        assert_eq!(
            recovery_target("2026-12-04T20:00:00Z"),
            "2026-12-04 20:00:00+00"
        );
    }
}
