//! The compiled snapshot script against a real PostgreSQL under write load, in its dry-run
//! mode (everything but the Kubernetes API): the CHECKPOINT it runs, the VolumeSnapshot
//! it would create (checked by the CRD validator), and, in online mode, a copy taken where
//! the snapshot is taken that starts as a consistent cluster with every row committed
//! before the backup began.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::pg_settings::{LocalServer, as_db_user, server_bin};
use super::{TempDir, chown_to_postgres, parse_yaml, python_with, root, text, tools_required};

const PASSWORDS: [(&str, &str); 5] = [
    ("superuser-password", "test-superuser-secret"),
    ("replication-password", "test-replication-secret"),
    ("app-password", "test-app-secret"),
    ("monitor-password", "test-monitor-secret"),
    ("backup-password", "test-backup-secret"),
];

fn compiled_script(customer: &str) -> String {
    let yaml = std::fs::read_to_string(
        root()
            .join("out")
            .join(customer)
            .join("backup/configmap-postgres-snapshot.yaml"),
    )
    .expect("compiled snapshot ConfigMap");
    parse_yaml(&yaml)["data"]["snapshot.sh"]
        .as_str()
        .expect("snapshot.sh")
        .to_string()
}

fn compiled_post_bootstrap() -> String {
    let yaml =
        std::fs::read_to_string(root().join("out/acme/database/configmap-postgres-patroni.yaml"))
            .expect("compiled Patroni ConfigMap");
    parse_yaml(&yaml)["data"]["post-bootstrap.sh"]
        .as_str()
        .expect("post-bootstrap.sh")
        .to_string()
}

/// The VolumeSnapshotClass the compiled CronJob names to its script.
fn compiled_class(customer: &str) -> String {
    let yaml = std::fs::read_to_string(root().join(format!(
        "out/{customer}/backup/cronjob-postgres-snapshot.yaml"
    )))
    .expect("compiled CronJob");
    let cron = parse_yaml(&yaml);
    cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == "VOLUME_SNAPSHOT_CLASS")
        .and_then(|e| e["value"].as_str())
        .expect("the class variable")
        .to_string()
}

/// Runs the compiled script as the database user, translated only in the credentials
/// path, with the dry-run switches and the server's address.
fn run_script(work: &Path, customer: &str, server: &LocalServer, standin: Option<&str>) -> Output {
    let credentials = work.join("credentials");
    let script = compiled_script(customer).replace(
        "/etc/snapshot/credentials",
        credentials.to_str().expect("utf-8"),
    );
    let file = work.join(format!("snapshot-{customer}.sh"));
    std::fs::write(&file, script).expect("write script");
    chown_to_postgres(work);
    let mut command = as_db_user(Path::new("/usr/bin/env"));
    command
        .arg(format!("NAMESPACE={customer}"))
        .arg(format!(
            "VOLUME_SNAPSHOT_CLASS={}",
            compiled_class(customer)
        ))
        .arg("SNAPSHOT_DRY_RUN=1")
        .arg("SNAPSHOT_PRIMARY=postgres-0")
        .arg("PGHOST=127.0.0.1")
        .arg(format!("PGPORT={}", server.port))
        .arg("PGSSLMODE=disable")
        .arg(format!("PATH={}:/usr/bin:/bin", server.bin.display()))
        .arg(format!("SNAPSHOT_STANDIN={}", standin.unwrap_or_default()))
        .arg(format!(
            "SNAPSHOT_STATUS_DIR={}",
            work.join("status").display()
        ))
        .arg("timeout")
        .arg("300")
        .arg("/bin/sh")
        .arg(&file);
    command.output().expect("snapshot.sh runs")
}

fn tools() -> Option<PathBuf> {
    let bin = server_bin();
    if bin.is_none() {
        assert!(!tools_required(), "PostgreSQL is required");
        return None;
    }
    if !super::can_run_as_postgres("backup") {
        return None;
    }
    bin
}

/// Inserts rows through its own connections until stopped; returns the ids committed.
fn write_load(
    bin: PathBuf,
    port: u16,
    stop: Arc<AtomicBool>,
    committed: Arc<std::sync::Mutex<Vec<u64>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut next = 1u64;
        // Bounded: at most 10,000 inserts, and the test stops it much earlier.
        while !stop.load(Ordering::Relaxed) && next < 10_000 {
            let ok = Command::new(bin.join("psql"))
                .arg(format!(
                    "host=127.0.0.1 port={port} user=app dbname=app sslmode=disable connect_timeout=5"
                ))
                .args(["-XAtq", "-v", "ON_ERROR_STOP=1", "-c"])
                .arg(format!(
                    "INSERT INTO acknowledged VALUES ({next}, repeat('x', 2000))"
                ))
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                committed.lock().expect("lock").push(next);
            }
            next += 1;
        }
    })
}

/// A PostgreSQL in `base` with the roles exactly as Patroni's post_bootstrap creates them,
/// and the credentials "Secret" beside it.
fn bootstrapped_server(bin: &Path, base: &Path) -> LocalServer {
    for (key, value) in PASSWORDS {
        let path = base.join("credentials").join(key);
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, value).expect("password file");
    }
    chown_to_postgres(base);
    let server = LocalServer::init_and_start(bin, base);

    // The roles exactly as Patroni's post_bootstrap creates them in the cluster.
    let post_bootstrap = base.join("post-bootstrap.sh");
    std::fs::write(&post_bootstrap, compiled_post_bootstrap()).expect("write");
    chown_to_postgres(base);
    let bootstrap = as_db_user(Path::new("/usr/bin/env"))
        .args([
            "APP_PASSWORD=test-app-secret",
            "MONITOR_PASSWORD=test-monitor-secret",
            "BACKUP_PASSWORD=test-backup-secret",
        ])
        .arg(format!("PATH={}:/usr/bin:/bin", bin.display()))
        .arg("/bin/sh")
        .arg(&post_bootstrap)
        .arg(format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            server.port
        ))
        .output()
        .expect("post-bootstrap.sh");
    assert!(
        bootstrap.status.success(),
        "post-bootstrap.sh: {}",
        text(&bootstrap.stderr)
    );
    server
}

#[test]
fn snapshot_script_checkpoints_and_its_online_copy_restores_every_committed_row() {
    let Some(bin) = tools() else {
        return;
    };
    let work = TempDir::new("backup");
    let base = work.path();
    let server = bootstrapped_server(&bin, base);
    let data = server.data.clone();
    server
        .sql("app", "CREATE TABLE acknowledged (id bigint PRIMARY KEY, pad text); ALTER TABLE acknowledged OWNER TO app")
        .expect("table");

    // Default mode (initech): CHECKPOINT, then the snapshot; a requested checkpoint shows.
    let before: u64 = server
        .sql("postgres", "SELECT checkpoints_req FROM pg_stat_bgwriter")
        .expect("stats")
        .parse()
        .expect("number");
    let output = run_script(base, "initech", &server, None);
    assert!(
        output.status.success(),
        "snapshot.sh (initech): {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let after: u64 = server
        .sql("postgres", "SELECT checkpoints_req FROM pg_stat_bgwriter")
        .expect("stats")
        .parse()
        .expect("number");
    assert!(
        after > before,
        "the script ran CHECKPOINT ({before} -> {after})"
    );
    let default_manifest = text(&output.stdout);

    // Online mode (acme) under write load; the copy stands in for the disk snapshot.
    let stop = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let load = write_load(bin.clone(), server.port, stop.clone(), committed.clone());
    std::thread::sleep(Duration::from_secs(2));
    let before_backup: Vec<u64> = committed.lock().expect("lock").clone();
    assert!(!before_backup.is_empty(), "the write load commits");
    // As a CSI driver does: the VolumeSnapshot exists at once, the disk is cut a while
    // later, and only then does the snapshot get its creationTime.
    let copy = base.join("copy");
    let status = base.join("status");
    std::fs::create_dir_all(&status).expect("status dir");
    let creation_time = status.join("creationTime");
    let standin = format!(
        "(sleep 2; cp -a {} {} && date -u +%Y-%m-%dT%H:%M:%SZ > {}) >/dev/null 2>&1 &",
        data.display(),
        copy.display(),
        creation_time.display()
    );
    let output = run_script(base, "acme", &server, Some(&standin));
    // pg_backup_stop ran only once the snapshot was cut: the cut had happened when the
    // script ended, and the script said when before it printed the label.
    assert!(
        creation_time.exists(),
        "the backup was stopped before the snapshot had a creationTime: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    load.join().expect("load thread");
    assert!(
        output.status.success(),
        "snapshot.sh (acme): {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let stdout = text(&output.stdout);
    let cut_line = stdout.lines().position(|l| l.contains(" cut at "));
    let label_line = stdout
        .lines()
        .position(|l| l.starts_with("# gitopsc.io/backup-label: "));
    assert!(
        matches!((cut_line, label_line), (Some(c), Some(l)) if c < l),
        "the creationTime comes before the backup stops: {stdout}"
    );
    let label = stdout
        .lines()
        .find_map(|l| l.strip_prefix("# gitopsc.io/backup-label: "))
        .expect("the backup label");
    let label = base64_decode(label);
    assert!(label.contains("START WAL LOCATION"), "{label}");
    assert!(label.contains("LABEL: acme-postgres-"), "{label}");

    // The VolumeSnapshots the script would create pass the CRD validator.
    let manifest: String = stdout
        .lines()
        .filter(|l| !l.starts_with("snapshot: "))
        .map(|l| format!("{l}\n"))
        .collect();
    check_with_crd_validator(base, &[&default_manifest, &manifest]);

    // Restore the copy: the backup label, and the WAL written until pg_backup_stop (which
    // the WAL archive provides in production; here, from the running server).
    std::fs::write(copy.join("backup_label"), &label).expect("backup_label");
    let _ = std::fs::remove_file(copy.join("postmaster.pid"));
    let wal = Command::new("cp")
        .args(["-a", "--no-target-directory"])
        .arg(data.join("pg_wal"))
        .arg(copy.join("pg_wal"))
        .status()
        .expect("cp pg_wal");
    assert!(wal.success());
    chown_to_postgres(&copy);
    let restored = LocalServer::start(&bin, &copy, &base.join("restored.log"), base);
    assert_eq!(
        restored
            .sql("postgres", "SELECT pg_is_in_recovery()")
            .as_deref(),
        Ok("f"),
        "the copy finished recovery"
    );
    let rows: std::collections::BTreeSet<u64> = restored
        .sql("app", "SELECT id FROM acknowledged")
        .expect("rows in the copy")
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    let missing: Vec<&u64> = before_backup
        .iter()
        .filter(|id| !rows.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "rows committed before the backup began are missing: {missing:?}"
    );
    let integrity = restored
        .sql(
            "app",
            "SELECT count(*) FROM acknowledged WHERE length(pad) <> 2000",
        )
        .expect("scan");
    assert_eq!(integrity, "0", "every restored row is whole");
    eprintln!(
        "online snapshot: {} rows committed before the backup, {} in the copy",
        before_backup.len(),
        rows.len()
    );
}

fn base64_decode(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text
        .bytes()
        .filter(|b| *b != b'=' && !b.is_ascii_whitespace())
    {
        let value = ALPHABET
            .iter()
            .position(|c| *c == byte)
            .expect("base64 digit") as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8(out).expect("UTF-8 label")
}

fn check_with_crd_validator(base: &Path, outputs: &[&str]) {
    let crds = root().join("../shared/crds");
    if !crds.join("validate.py").is_file() {
        assert!(!tools_required(), "../shared/crds/validate.py is required");
        return;
    }
    let Some(python) = python_with("yaml, jsonschema") else {
        return;
    };
    let dir = base.join("snapshots");
    std::fs::create_dir_all(&dir).expect("dir");
    for (i, output) in outputs.iter().enumerate() {
        let manifest: String = output
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(manifest.contains("kind: VolumeSnapshot"), "{output}");
        std::fs::write(
            dir.join(format!("volumesnapshot-{i}.yaml")),
            manifest + "\n",
        )
        .expect("write");
    }
    let output = Command::new(python)
        .arg(crds.join("validate.py"))
        .arg("--crds")
        .arg(&crds)
        .arg(&dir)
        .output()
        .expect("validate.py");
    let report = text(&output.stdout);
    assert!(
        output.status.success(),
        "validate.py: {report}{}",
        text(&output.stderr)
    );
    assert!(report.contains("2 passed, 0 failed"), "{report}");
}

/// The restore runbook cannot destroy data: every PersistentVolume is set to `Retain`
/// before any claim is deleted, and old volumes are deleted only in the last section,
/// after the restored cluster is verified.
#[test]
fn restore_runbook_keeps_the_old_disks_until_the_restore_is_verified() {
    let runbook = std::fs::read_to_string(super::root().join("docs/restore.md")).expect("runbook");
    let position = |needle: &str| {
        runbook
            .find(needle)
            .unwrap_or_else(|| panic!("docs/restore.md has no `{needle}`"))
    };
    let retain = position(r#"{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}"#);
    let first_claim_deleted = position("delete pvc");
    assert!(
        retain < first_claim_deleted,
        "the volumes are kept (Retain) before any claim is deleted"
    );
    let verify = position("## 7. Verify, then remove the old volumes");
    let first_volume_deleted = position("delete pv ");
    assert!(
        verify < first_volume_deleted,
        "old volumes are deleted only after the restore is verified"
    );
    assert_eq!(
        runbook.matches("delete pv ").count(),
        1,
        "one place deletes old volumes"
    );
}

/// The Job outlives the profile's wait for `readyToUse`, so a slow first snapshot fails
/// with the script's message, not by the deadline cutting it off.
#[test]
fn snapshot_job_deadline_covers_the_wait_for_ready() {
    let mut checked = 0;
    for compiled in super::compiled_customers() {
        let Some(backup) = &crate::model(&compiled).backup else {
            continue;
        };
        let cron = super::parse_yaml(
            super::compiled_file(&compiled, "backup/cronjob-postgres-snapshot.yaml")
                .expect("the CronJob"),
        );
        let deadline = cron["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"]
            .as_u64()
            .expect("a deadline");
        let wait = u64::from(backup.ready_timeout_minutes) * 60;
        assert!(
            deadline > wait,
            "{}: deadline {deadline} s, wait {wait} s",
            compiled.member.name
        );
        let script = super::parse_yaml(
            super::compiled_file(&compiled, "backup/configmap-postgres-snapshot.yaml")
                .expect("the script ConfigMap"),
        )["data"]["snapshot.sh"]
            .as_str()
            .expect("snapshot.sh")
            .to_string();
        assert!(
            script.contains(&format!("timeout_seconds={wait}\n")),
            "{}: the script waits {wait} s",
            compiled.member.name
        );
        checked += 1;
    }
    assert!(checked >= 3);
}

/// The Kubernetes API as the snapshot job sees it, for the part the dry run skips: a
/// `kubectl` that keeps the customer's VolumeSnapshots in a JSON file (oldest first), makes
/// each new one ready or failed as the file `outcome` says, and records what is released
/// and deleted.
const KUBECTL_STANDIN: &str = r#"#!/usr/bin/env python3
import json, os, sys
state_file = os.path.join(os.environ["KUBE_STATE"], "state.json")
state = json.load(open(state_file))
args = sys.argv[1:]
def save():
    json.dump(state, open(state_file, "w"))
def value(flag):
    return args[args.index(flag) + 1] if flag in args else ""
if args[:1] == ["-n"]:
    args = args[2:]
verb = args[0]
if verb == "get" and args[1] == "pods":
    print("postgres-0")
elif verb == "create":
    name = next(l.split(":", 1)[1].strip() for l in sys.stdin.read().splitlines()
                if l.startswith("  name:"))
    outcome = open(os.path.join(os.environ["KUBE_STATE"], "outcome")).read().strip()
    state["snapshots"].append({"name": name, "ready": outcome == "ready",
        "content": "content-" + name if outcome == "ready" else "",
        "error": "" if outcome == "ready" else "the disk snapshot failed"})
    save()
elif verb == "get" and args[1] == "volumesnapshot" and "-l" in args:
    for s in state["snapshots"]:
        print("%s|%s|%s" % (s["name"], "true" if s["ready"] else "", s["content"]))
elif verb == "get" and args[1] == "volumesnapshot":
    snap = next(s for s in state["snapshots"] if s["name"] == args[2])
    field = value("-o")
    if field.endswith("readyToUse}"):
        sys.stdout.write("true" if snap["ready"] else "")
    elif field.endswith("error.message}"):
        sys.stdout.write(snap["error"])
elif verb == "patch" and args[1] == "volumesnapshotcontent":
    assert json.loads(value("-p")) == {"spec": {"deletionPolicy": "Delete"}}
    state["released"].append(args[2])
    save()
elif verb == "delete" and args[1] == "volumesnapshot":
    snap = next(s for s in state["snapshots"] if s["name"] == args[2])
    assert not snap["content"] or snap["content"] in state["released"], "deleted before released"
    state["snapshots"].remove(snap)
    state["deleted"].append(args[2])
    save()
else:
    sys.exit("kubectl stand-in: unexpected " + " ".join(sys.argv[1:]))
"#;

/// Three failed runs and then a good one: pruning counts only ready snapshots against
/// `retain`, deletes the failed ones, and releases each disk snapshot before its object
/// goes (the class retains them).
#[test]
fn pruning_keeps_every_good_snapshot_through_a_streak_of_failures() {
    let Some(bin) = tools() else {
        return;
    };
    let work = TempDir::new("backup-prune");
    let base = work.path();
    let server = bootstrapped_server(&bin, base);
    let retain = compiled_script("initech")
        .lines()
        .find_map(|l| l.strip_prefix("retain="))
        .and_then(|n| n.parse::<usize>().ok())
        .expect("retain");
    let kube = base.join("kube");
    std::fs::create_dir_all(&kube).expect("kube dir");
    std::fs::write(kube.join("kubectl"), KUBECTL_STANDIN).expect("stand-in");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(kube.join("kubectl"), std::fs::Permissions::from_mode(0o755))
        .expect("executable");
    let good: Vec<String> = (0..retain)
        .map(|i| format!("initech-postgres-20260101t{i:06}z"))
        .collect();
    let snapshots: Vec<serde_json::Value> = good
        .iter()
        .map(|name| serde_json::json!({"name": name, "ready": true, "content": format!("content-{name}"), "error": ""}))
        .collect();
    let state = serde_json::json!({"snapshots": snapshots, "released": [], "deleted": []});
    std::fs::write(kube.join("state.json"), state.to_string()).expect("state");
    let script = base.join("snapshot.sh");
    std::fs::write(
        &script,
        compiled_script("initech").replace(
            "/etc/snapshot/credentials",
            base.join("credentials").to_str().expect("utf-8"),
        ),
    )
    .expect("script");
    chown_to_postgres(base);
    let std_path = format!("{}:{}:/usr/bin:/bin", kube.display(), server.bin.display());
    let run = |outcome: &str| {
        std::fs::write(kube.join("outcome"), outcome).expect("outcome");
        chown_to_postgres(&kube);
        // Runs are seconds apart, as scheduled ones are (the run id is the time).
        std::thread::sleep(Duration::from_millis(1100));
        as_db_user(Path::new("/usr/bin/env"))
            .arg(format!("KUBE_STATE={}", kube.display()))
            .arg("NAMESPACE=initech")
            .arg(format!(
                "VOLUME_SNAPSHOT_CLASS={}",
                compiled_class("initech")
            ))
            .arg("PGHOST=127.0.0.1")
            .arg(format!("PGPORT={}", server.port))
            .arg("PGSSLMODE=disable")
            .arg(format!("PATH={std_path}"))
            .arg("timeout")
            .arg("120")
            .arg("/bin/sh")
            .arg(&script)
            .output()
            .expect("snapshot.sh runs")
    };
    for _ in 0..3 {
        let output = run("error");
        assert!(!output.status.success(), "a failed snapshot fails the job");
        assert!(
            text(&output.stderr).contains("failed: the disk snapshot failed"),
            "{}",
            text(&output.stderr)
        );
    }
    let output = run("ready");
    assert!(
        output.status.success(),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(kube.join("state.json")).expect("state"))
            .expect("json");
    let left: Vec<&str> = state["snapshots"]
        .as_array()
        .expect("snapshots")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(left.len(), retain, "{left:?}");
    assert!(
        state["snapshots"]
            .as_array()
            .expect("snapshots")
            .iter()
            .all(|s| s["ready"] == true),
        "only ready snapshots are kept: {left:?}"
    );
    // Of the good ones only the oldest went (the new one is the newest of `retain`).
    assert_eq!(
        left[..retain - 1],
        good[1..].iter().map(String::as_str).collect::<Vec<_>>()[..]
    );
    let deleted: Vec<&str> = state["deleted"]
        .as_array()
        .expect("deleted")
        .iter()
        .map(|d| d.as_str().expect("name"))
        .collect();
    assert_eq!(
        deleted.len(),
        4,
        "the oldest good one and the three failed: {deleted:?}"
    );
    assert!(deleted.contains(&good[0].as_str()), "{deleted:?}");
    assert_eq!(
        state["released"],
        serde_json::json!([format!("content-{}", good[0])]),
        "the pruned good snapshot's disk snapshot was released first"
    );
}
