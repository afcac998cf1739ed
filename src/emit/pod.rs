//! Pod building blocks shared by every workload: the restricted security contexts, volumes
//! and mounts, resource quantities, the exporter sidecar, and the pod metadata that rolls
//! pods when their configuration changes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, EmptyDirVolumeSource, PodSecurityContext, SeccompProfile, SecurityContext,
    TopologySpreadConstraint, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::{Object, monitoring};

/// A container that passes Pod Security "restricted" and the CIS checks: its own user,
/// no privilege escalation, no capabilities, a read-only root, the runtime's seccomp filter.
pub fn restricted_container(uid: i64) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Capabilities::default()
        }),
        seccomp_profile: Some(runtime_default()),
        ..SecurityContext::default()
    }
}

/// The pod-level half of `restricted_container`; volumes are group-owned by `uid`.
pub fn restricted_pod(uid: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        fs_group: Some(uid),
        seccomp_profile: Some(runtime_default()),
        ..PodSecurityContext::default()
    }
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        ..SeccompProfile::default()
    }
}

/// CPU and memory as a `requests`/`limits` map.
pub fn quantities(cpu: &str, memory: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_string(), Quantity(cpu.to_string())),
        ("memory".to_string(), Quantity(memory.to_string())),
    ])
}

/// A digest never changes, so a cached copy is exact; a tag can move, so re-check it.
pub fn pull_policy(by_tag: bool) -> Option<String> {
    Some(if by_tag { "Always" } else { "IfNotPresent" }.into())
}

/// The sha256 of a ConfigMap as compiled, for a pod template's `checksum/config`.
pub fn checksum(config_map: &Object) -> String {
    crate::serialize::digest(crate::serialize::to_yaml(&config_map.as_written()).as_bytes())
}

/// An `emptyDir` of at most `limit`, in memory when `memory`.
pub fn scratch_volume(name: &str, limit: &str, memory: bool) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: memory.then(|| "Memory".into()),
            size_limit: Some(Quantity(limit.into())),
        }),
        ..Volume::default()
    }
}

/// A volume mount, read-only or not.
pub fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

/// A sidecar exporter's container: its port named `metrics`, probes on its landing page,
/// small resources, the restricted security context of the pod's user.
pub fn exporter_container(
    name: &str,
    image: &str,
    port: i32,
    uid: i64,
) -> k8s_openapi::api::core::v1::Container {
    use k8s_openapi::api::core::v1::{
        Container, ContainerPort, HTTPGetAction, Probe, ResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let probe = |period: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/".into()),
            port: IntOrString::String(monitoring::EXPORTER_PORT.into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(3),
        ..Probe::default()
    };
    Container {
        name: name.into(),
        image: Some(image.into()),
        image_pull_policy: pull_policy(!image.contains("@sha256:")),
        ports: Some(vec![ContainerPort {
            name: Some(monitoring::EXPORTER_PORT.into()),
            container_port: port,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        resources: Some(ResourceRequirements {
            requests: Some(quantities("10m", "32Mi")),
            limits: Some(quantities("200m", "128Mi")),
            ..ResourceRequirements::default()
        }),
        readiness_probe: Some(probe(10)),
        liveness_probe: Some(probe(20)),
        security_context: Some(restricted_container(uid)),
        ..Container::default()
    }
}

/// How often an exporter's start script compares the monitor password's file.
const EXPORTER_PASSWORD_CHECK_SECONDS: u32 = 5;

/// How an exporter that logs in as the monitor role is started
/// (templates/start-exporter.sh.j2): `command` in the background, started again whenever
/// `password_file` changes; `password_env` names the variable the exporter takes the
/// password from when it cannot read a file, `exports` its other settings.
pub struct ExporterStart<'a> {
    pub program: &'a str,
    pub command: String,
    pub password_file: String,
    pub password_env: Option<&'a str>,
    pub exports: Vec<(&'a str, String)>,
}

impl ExporterStart<'_> {
    pub fn script(&self) -> String {
        super::render_template(
            "start-exporter.sh",
            minijinja::context! {
                program => self.program,
                command => self.command,
                password_file => self.password_file,
                password_env => self.password_env,
                exports => self.exports,
                period => EXPORTER_PASSWORD_CHECK_SECONDS,
            },
        )
    }
}

/// A ConfigMap mounted as a volume of the same name's files, with file `mode`.
pub fn config_map_volume(volume: &str, config_map: &str, mode: i32) -> Volume {
    Volume {
        name: volume.into(),
        config_map: Some(k8s_openapi::api::core::v1::ConfigMapVolumeSource {
            name: config_map.into(),
            default_mode: Some(mode),
            ..k8s_openapi::api::core::v1::ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// A Secret mounted as a volume, its files with `mode` (owner root, group the pod's).
pub fn secret_volume(volume: &str, secret: &str, mode: i32) -> Volume {
    Volume {
        name: volume.into(),
        secret: Some(k8s_openapi::api::core::v1::SecretVolumeSource {
            secret_name: Some(secret.into()),
            default_mode: Some(mode),
            ..k8s_openapi::api::core::v1::SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// A pod template's metadata: its labels, and the sha256 of the configuration it mounts as
/// `checksum/config`, so a configuration change rolls the pods and nothing else does.
pub fn pod_metadata(labels: &BTreeMap<String, String>, checksum: &str) -> ObjectMeta {
    ObjectMeta {
        labels: Some(labels.clone()),
        annotations: Some(BTreeMap::from([(
            "checksum/config".to_string(),
            checksum.to_string(),
        )])),
        ..ObjectMeta::default()
    }
}

/// Spread a Deployment's pods over `key` (zones, nodes) as evenly as the scheduler can.
pub fn spread(selector_labels: &BTreeMap<String, String>, key: &str) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        max_skew: 1,
        topology_key: key.into(),
        when_unsatisfiable: "ScheduleAnyway".into(),
        label_selector: Some(LabelSelector {
            match_labels: Some(selector_labels.clone()),
            ..LabelSelector::default()
        }),
        // Count only pods of the same rollout, so old pods do not skew new ones.
        match_label_keys: Some(vec!["pod-template-hash".into()]),
        ..TopologySpreadConstraint::default()
    }
}

/// The pod of a Job: runs once (`Never` restarts; the next scheduled run is the retry),
/// restricted as `uid`, as the ServiceAccount `account`, with its API token only when
/// `token`.
pub fn job_pod(
    labels: &BTreeMap<String, String>,
    checksum: &str,
    account: &str,
    token: bool,
    uid: i64,
    container: k8s_openapi::api::core::v1::Container,
    volumes: Vec<Volume>,
) -> k8s_openapi::api::core::v1::PodTemplateSpec {
    k8s_openapi::api::core::v1::PodTemplateSpec {
        metadata: Some(pod_metadata(labels, checksum)),
        spec: Some(k8s_openapi::api::core::v1::PodSpec {
            service_account_name: Some(account.into()),
            automount_service_account_token: Some(token),
            restart_policy: Some("Never".into()),
            security_context: Some(restricted_pod(uid)),
            containers: vec![container],
            volumes: Some(volumes),
            ..k8s_openapi::api::core::v1::PodSpec::default()
        }),
    }
}

/// A CronJob of the stack: UTC, never two runs at once, a missed run skipped after
/// `starting_deadline` seconds, no retries, each run bounded by `deadline` seconds, the
/// last three successes and failures kept for their logs.
pub fn cron_job(
    metadata: ObjectMeta,
    schedule: &str,
    starting_deadline: i64,
    deadline: i64,
    pod: k8s_openapi::api::core::v1::PodTemplateSpec,
) -> k8s_openapi::api::batch::v1::CronJob {
    use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
    CronJob {
        metadata,
        spec: Some(CronJobSpec {
            schedule: schedule.to_string(),
            time_zone: Some("Etc/UTC".into()),
            concurrency_policy: Some("Forbid".into()),
            starting_deadline_seconds: Some(starting_deadline),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(3),
            job_template: JobTemplateSpec {
                metadata: None,
                spec: Some(JobSpec {
                    backoff_limit: Some(0),
                    active_deadline_seconds: Some(deadline),
                    template: pod,
                    ..JobSpec::default()
                }),
            },
            ..CronJobSpec::default()
        }),
        ..CronJob::default()
    }
}
