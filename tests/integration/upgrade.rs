//! A major upgrade on real components: a cluster of Patroni 3.0 and Debian's PostgreSQL 15
//! is rolled onto the compilation for 16 (each member keeps running 15), then the compiled
//! major-upgrade.py runs in the leader as an operator runs it, with PostgreSQL 16.2 from
//! PyPI's pgserver (a relocatable build with pg_upgrade) as the image's second major.
//!
//! pgserver is built without OpenSSL, so this cluster runs without TLS (the only change to
//! the compiled files beyond the harness's translations), and pgBackRest 2.45 (Debian's)
//! does not know PostgreSQL 16, so the profile has no archive here: the script's stanza
//! upgrade and first full backup are the commands pgBackRest's upgrade guide names, not
//! run on this machine.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::database::{Stack, compiled_acme_patroni_files, tools_present, wait_on};
use super::{parse_yaml, root, tools_required, workspace};

/// PostgreSQL 16 from the pgserver wheel scripts/test.sh installs into the venv: the folder
/// holding `bin/`.
fn postgres_16() -> Option<PathBuf> {
    let found = std::fs::read_dir(root().join(".venv/lib"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|python| python.path().join("site-packages/pgserver/pginstall"))
        .find(|dir| dir.join("bin/pg_upgrade").is_file());
    assert!(
        found.is_some() || !tools_required(),
        "pgserver's PostgreSQL 16 is required (GITOPSC_REQUIRE_TOOLS=1): scripts/test.sh installs it"
    );
    if found.is_none() {
        eprintln!("skipped: pgserver's PostgreSQL 16 is not installed");
    }
    found
}

/// acme's Patroni ConfigMap for `major`, without the archive, and without TLS, which
/// pgserver's build cannot serve.
fn compiled_for(work: &std::path::Path, major: u32) -> Value {
    let mut files = compiled_acme_patroni_files(work, |document| {
        document["spec"]["database"]["postgresVersion"] = Value::from(major);
        document["spec"]["backup"] = serde_json::json!({
            "archive": {"enabled": false},
            "snapshots": {"online": false},
            "recoveryPointSeconds": 21600,
        });
    });
    assert!(files.get("pgbackrest.conf").is_none(), "no archive");
    let mut patroni = parse_yaml(files["patroni.yml"].as_str().expect("patroni.yml"));
    let parameters = patroni["postgresql"]["parameters"]
        .as_object_mut()
        .expect("parameters");
    for tls in ["ssl", "ssl_cert_file", "ssl_key_file"] {
        assert!(parameters.remove(tls).is_some(), "{tls}");
    }
    let hba = patroni["postgresql"]["pg_hba"]
        .as_array_mut()
        .expect("pg_hba");
    hba.retain(|line| !line.as_str().is_some_and(|l| l.starts_with("hostnossl")));
    for line in hba.iter_mut() {
        if let Some(text) = line.as_str().and_then(|l| l.strip_prefix("hostssl ")) {
            *line = Value::String(format!("host {text}"));
        }
    }
    files["patroni.yml"] = Value::String(gitopsc::serialize::to_yaml(&patroni));
    files
}

fn server_major(stack: &Stack, i: usize) -> Option<u32> {
    stack
        .member_sql(i, "SHOW server_version_num")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .map(|number| number / 10000)
}

/// `postgresVersion` 15 → 16: syncing the new compilation changes no member's major, the
/// compiled script upgrades the leader with pg_upgrade --link while the standbys clone the
/// new primary, every row is kept, and the time without writes is measured.
#[test]
fn a_major_upgrade_keeps_every_row_and_rebuilds_the_standbys() {
    let Some(bin) = tools_present() else {
        return;
    };
    let Some(postgres_16) = postgres_16() else {
        return;
    };
    let work = workspace("major-upgrade");
    let debian = bin.parent().expect("Debian's PostgreSQL").to_path_buf();
    let on_15 = compiled_for(work.path(), 15);
    let on_16 = compiled_for(work.path(), 16);
    let majors = vec![(15, debian), (16, postgres_16)];
    let mut stack = Stack::start_with("acme", bin, on_15, majors);
    let primary = stack.wait_for_streaming_primary();
    let sql = |stack: &Stack, i: usize, s: &str| {
        stack
            .member_sql(i, s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    };
    sql(
        &stack,
        primary,
        "CREATE TABLE orders AS SELECT n AS id, md5(n::text) AS note FROM generate_series(1, 20000) n",
    );
    let digest = "SELECT count(*) || ':' || md5(string_agg(note, ',' ORDER BY id)) FROM orders";
    let before = sql(&stack, primary, digest);

    // 1. Argo CD syncs the compilation for 16: the members roll (standbys first, as the
    //    StatefulSet's update does from the highest ordinal), each back on 15.
    let mut order: Vec<usize> = (0..3).filter(|&i| i != primary).collect();
    order.push(primary);
    for i in order {
        stack.restart_member_from(i, on_16.clone());
        stack.wait_for_streaming_primary();
    }
    for i in 0..3 {
        assert_eq!(server_major(&stack, i), Some(15), "member {i} keeps 15");
    }
    let leader = stack.wait_for_streaming_primary();
    assert!(
        stack
            .member_log(leader, "patroni.log")
            .contains("running it with 15's binaries until the upgrade to 16"),
        "{}",
        stack.member_log(leader, "patroni.log")
    );

    // 2. The operator runs the script in the leader; the kubelet restarts every member
    //    whose Patroni exits (the standbys, on the new system identifier).
    let started = Instant::now();
    let mut script = stack.exec_python(leader, "major-upgrade.py");
    let status = loop {
        if let Some(status) = script.try_wait().expect("the script") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the upgrade ran 10 minutes"
        );
        stack.restart_ended_members();
        std::thread::sleep(Duration::from_millis(500));
    };
    let output = stack.member_log(leader, "major-upgrade.py.log");
    assert!(
        status.success(),
        "{output}\n{}",
        stack.member_log(leader, "major-upgrade.py-stderr.log")
    );
    let downtime: f64 = output
        .lines()
        .find_map(|line| {
            line.strip_prefix("the leader accepts writes again: ")?
                .strip_suffix(" s without")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("the script says how long writes stopped: {output}"));
    let upgraded = started.elapsed();

    // 3. The standbys clone the new primary; every member runs 16 with every row.
    let mut new_primary = None;
    while new_primary.is_none() {
        stack.restart_ended_members();
        new_primary = stack.primary().filter(|&p| {
            stack.streaming(p).len() == 2 && (0..3).all(|i| server_major(&stack, i) == Some(16))
        });
        if started.elapsed() > Duration::from_secs(600) {
            panic!(
                "every member on 16, both standbys streaming: not after 10 minutes\n{}",
                stack.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let new_primary = new_primary.expect("a primary");
    let rebuilt = started.elapsed();
    assert_eq!(new_primary, leader, "the upgraded member leads");
    for i in 0..3 {
        wait_on(
            &stack,
            Duration::from_secs(30),
            "the rows on each member",
            || stack.member_sql(i, digest).as_deref() == Ok(before.as_str()),
        );
    }
    // The old major's directory stays beside the new one on the leader until deleted.
    let kept = stack.member_data_dir(leader).with_extension("15");
    assert!(kept.join("PG_VERSION").is_file(), "{kept:?}");
    assert!(
        stack
            .member_log(
                (0..3).find(|&i| i != leader).expect("a standby"),
                "patroni.log"
            )
            .contains("copy from before the cluster's upgrade to 16"),
        "a standby re-cloned"
    );

    // 4. Running it again changes nothing; restarting the leader's pod (the runbook's last
    //    step) brings it back on 16 as a member of the same cluster.
    let mut again = stack.exec_python(leader, "major-upgrade.py");
    assert!(again.wait().expect("again").success());
    assert!(
        stack
            .member_log(leader, "major-upgrade.py.log")
            .contains("PostgreSQL 16 already: nothing to upgrade")
    );
    stack.restart_member_from(leader, on_16.clone());
    let after = stack.wait_for_streaming_primary();
    assert_eq!(server_major(&stack, leader), Some(16));
    assert_eq!(sql(&stack, after, digest), before);
    eprintln!(
        "major upgrade 15 -> 16: writes stopped for {downtime:.1} s; script {:.1} s; \
         standbys streaming again after {:.1} s",
        upgraded.as_secs_f64(),
        rebuilt.as_secs_f64()
    );
}
