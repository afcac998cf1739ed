//! Point-in-time recovery on real components. The compiled archive (pgBackRest to the
//! customer's GCS bucket, here gcp-storage-emulator) archives the WAL of a running cluster
//! and the compiled sidecar script takes its full backup under a stream of commits; the
//! cluster is then lost with its volumes and Patroni's store, and the profile with
//! `database.restoreToTime` brings it back with exactly the rows committed before that
//! moment.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::database::{Stack, compiled_acme_patroni_files, tools_present, wait_on};
use super::workspace;

/// The Patroni ConfigMap's data for acme with `database.restoreToTime` set to `target`,
/// compiled from a copy of the shipped profiles.
fn restoring_config(work: &Path, target: &str) -> Value {
    compiled_acme_patroni_files(work, |document| {
        document["spec"]["database"]["restoreToTime"] = Value::String(target.to_string());
    })
}

#[test]
fn the_archive_restores_a_lost_cluster_to_a_point_in_time() {
    let Some(bin) = tools_present() else {
        return;
    };
    let work = workspace("restore");
    let mut stack = Stack::start("acme", bin);
    let mut primary = 0;
    wait_on(&stack, Duration::from_secs(120), "a primary", || {
        stack.primary().map(|p| primary = p).is_some()
    });

    // 1. Under a stream of single-row commits, the sidecar creates the stanza, takes the
    //    first full backup, and records it where the exporter reads it.
    stack
        .member_sql(primary, "CREATE TABLE load (id int PRIMARY KEY)")
        .expect("create table");
    let script = work.path().join("load.sql");
    let statements: String = (1..=4000)
        .map(|n| format!("INSERT INTO load VALUES ({n});\nSELECT pg_sleep(0.003);\n"))
        .collect();
    std::fs::write(&script, statements).expect("write the load");
    let mut load = stack.member_script(primary, &script);
    let sidecar = stack.run_sidecar(primary, "pgbackrest-backup.sh");
    let recorded = "SELECT count(*) FROM pg_db_role_setting, unnest(setconfig) AS c \
                    WHERE c LIKE 'gitopsc.last_full_backup=%'";
    let backup = wait_on(&stack, Duration::from_secs(240), "the full backup", || {
        stack.member_sql(primary, recorded).as_deref() == Ok("1")
    });
    drop(sidecar);
    assert!(load.finished(), "the load ran to its end");
    let loaded = stack
        .member_sql(primary, "SELECT count(*) FROM load")
        .expect("count");
    assert_eq!(loaded, "4000");

    // 1b. The compiled restore test (the weekly CronJob's script) restores that backup on
    //     a folder of its own, promotes it with archiving off, and every database answers;
    //     nothing of the test reaches the archive (still timeline 1). The same script
    //     without a stanza to restore fails, as a lost archive would.
    let restore_dir = stack.member_tmp(primary, "restore-test");
    let local = |text: &str| {
        let line = "work=/var/lib/postgresql/restore-test\n";
        assert!(text.contains(line), "the restore test's folder");
        text.replace(line, &format!("work={}\n", restore_dir.display()))
    };
    let (ok, stdout, stderr) = stack.run_to_end(
        primary,
        "pgbackrest-restore-test.sh",
        local,
        Duration::from_secs(300),
    );
    assert!(ok, "the restore test fails:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("restored and promoted;") && stdout.contains("databases answer"),
        "{stdout}"
    );
    let info = |text: &str| {
        let conf = text
            .lines()
            .find(|l| l.starts_with("conf="))
            .expect("the script's configuration");
        format!("{conf}\npgbackrest --config=\"$conf\" --stanza=postgres --output=json info\n")
    };
    let (ok, repository, stderr) = stack.run_to_end(
        primary,
        "pgbackrest-restore-test.sh",
        info,
        Duration::from_secs(60),
    );
    assert!(ok, "{stderr}");
    let repository: Value = serde_json::from_str(&repository).expect("pgbackrest info JSON");
    let newest = repository[0]["archive"][0]["max"]
        .as_str()
        .unwrap_or_default();
    assert!(
        newest.starts_with("00000001"),
        "the test's promoted copy must not archive: {repository}"
    );
    let (ok, _, stderr) = stack.run_to_end(
        primary,
        "pgbackrest-restore-test.sh",
        |text| local(text).replace("stanza=postgres\n", "stanza=lost\n"),
        Duration::from_secs(120),
    );
    assert!(!ok, "a restore test without a backup must fail: {stderr}");

    // 2. Orders 1..=100 before the target, 101..=200 after it, each side over a second
    //    away (the target has a second's resolution).
    let sql = |s: &str| {
        stack
            .member_sql(primary, s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    };
    sql("CREATE TABLE orders (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())");
    sql("INSERT INTO orders (id) SELECT generate_series(1, 100)");
    std::thread::sleep(Duration::from_millis(1100));
    let target = sql("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
    std::thread::sleep(Duration::from_millis(1100));
    sql("INSERT INTO orders (id) SELECT generate_series(101, 200)");

    // 3. The segment holding them reaches the archive: how long that takes is the data
    //    a lost zone costs at most, beyond `archive_timeout`.
    let segment = sql("SELECT pg_walfile_name(pg_switch_wal())");
    let archived = format!("SELECT last_archived_wal >= '{segment}' FROM pg_stat_archiver");
    let archive_lag = wait_on(
        &stack,
        Duration::from_secs(60),
        "the segment archived",
        || stack.member_sql(primary, &archived).as_deref() == Ok("t"),
    );

    // 4. Everything but the bucket is lost, and the profile asks for the target.
    stack.destroy();
    let config = restoring_config(work.path(), &target);
    assert!(
        config.get("pgbackrest-restore.sh").is_some(),
        "restoreToTime compiles a restore"
    );
    let started = Instant::now();
    stack.start_member_from(0, config);
    wait_on(
        &stack,
        Duration::from_secs(300),
        "the restored member promoted",
        || stack.primary() == Some(0),
    );
    let recovery = started.elapsed();

    // 5. Exactly what was committed before the target, on a new timeline, and the roles
    //    the bootstrap creates log in as before.
    assert_eq!(
        stack
            .member_sql(0, "SELECT count(*), min(id), max(id) FROM orders")
            .as_deref(),
        Ok("100|1|100"),
        "rows committed before {target}"
    );
    assert_eq!(
        stack.member_sql(0, "SELECT count(*) FROM load").as_deref(),
        Ok("4000"),
        "every row committed under load during the backup"
    );
    assert_ne!(
        stack
            .member_sql(0, "SELECT timeline_id FROM pg_control_checkpoint()")
            .as_deref(),
        Ok("1"),
        "a promoted restore starts a new timeline"
    );
    assert_eq!(
        stack
            .member_sql(
                0,
                "SELECT count(*) FROM pg_roles WHERE rolname IN ('app', 'replicator')"
            )
            .as_deref(),
        Ok("2")
    );
    // 6. The restored cluster archives on its new timeline into the same repository.
    let segment = stack
        .member_sql(0, "SELECT pg_walfile_name(pg_switch_wal())")
        .expect("switch");
    let archived = format!("SELECT last_archived_wal >= '{segment}' FROM pg_stat_archiver");
    wait_on(
        &stack,
        Duration::from_secs(60),
        "archiving after the restore",
        || stack.member_sql(0, &archived).as_deref() == Ok("t"),
    );
    eprintln!(
        "full backup {:.1} s, archive lag {:.1} s, recovery {:.1} s",
        backup.as_secs_f64(),
        archive_lag.as_secs_f64(),
        recovery.as_secs_f64()
    );
}
