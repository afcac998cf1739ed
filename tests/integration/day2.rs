//! Day-2 operations on real components (Patroni, PostgreSQL, Pgpool-II): what an operator
//! or ordinary load does to a running cluster must neither undo the operator's work nor
//! take the service down.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::database::{
    Stack, compiled_acme_patroni_files, compiled_model, password, tools_present, wait_on,
};
use super::{parse_yaml, workspace};

/// The compiled `dynamic.yml` for acme with `max_connections` set to `value`.
fn dynamic_config_with_max_connections(work: &Path, value: u32) -> String {
    let files = compiled_acme_patroni_files(work, |document| {
        document["spec"]["database"]["parameters"]["max_connections"] = Value::from(value);
    });
    files["dynamic.yml"]
        .as_str()
        .expect("dynamic.yml")
        .to_string()
}

/// The cluster's dynamic configuration as `patronictl show-config` prints it.
fn cluster_config(stack: &Stack) -> Value {
    parse_yaml(&stack.patronictl(0, &["show-config"]).expect("show-config"))
}

/// A setting as text, whether Patroni kept it as a string or a number.
fn setting(config: &Value, pointer: &str) -> Option<String> {
    config.pointer(pointer).map(|value| match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    })
}

/// The dynamic-configuration sidecar (`apply-config.sh`) patches only the keys the profile
/// owns, applies nothing while an operator has paused the cluster (the member stays
/// ready), and the profile's change arrives once the operator resumes.
#[test]
fn the_config_sidecar_waits_out_maintenance_and_keeps_operator_keys() {
    let Some(bin) = tools_present() else {
        return;
    };
    let work = workspace("maintenance");
    let stack = Stack::start("acme", bin);
    wait_on(&stack, Duration::from_secs(120), "a primary", || {
        stack.primary().is_some()
    });
    let marker = stack.member_tmp(0, "dynamic-config-applied");
    let max_connections = "/postgresql/parameters/max_connections";

    // 1. The first start of a member writes the profile's configuration.
    let first = stack.run_sidecar(0, "apply-config.sh");
    wait_on(&stack, Duration::from_secs(60), "the first apply", || {
        marker.exists()
    });
    drop(first);
    assert_eq!(
        setting(&cluster_config(&stack), max_connections).as_deref(),
        Some("300")
    );

    // 2. An operator pauses the cluster for maintenance and sets a key of their own.
    stack
        .patronictl(0, &["pause", "--wait"])
        .expect("patronictl pause");
    stack
        .patronictl(
            0,
            &[
                "edit-config",
                "--force",
                "--quiet",
                "-s",
                "check_timeline=true",
            ],
        )
        .expect("an operator's edit");

    // 3. Meanwhile the profile changes; the ConfigMap change restarts the pod and with it
    //    the sidecar. The member is ready, but nothing is applied while paused.
    let changed = dynamic_config_with_max_connections(work.path(), 310);
    stack.update_member_file(0, "dynamic.yml", &changed);
    std::fs::remove_file(&marker).expect("the old pod's marker goes with it");
    let restarted = stack.run_sidecar(0, "apply-config.sh");
    wait_on(
        &stack,
        Duration::from_secs(60),
        "the sidecar ready while paused",
        || marker.exists(),
    );
    // Past the sidecar's next check (every 10 s) the cluster is still as the operator left it.
    std::thread::sleep(Duration::from_secs(12));
    let paused = cluster_config(&stack);
    assert_eq!(paused["pause"], Value::Bool(true), "still paused: {paused}");
    assert_eq!(
        setting(&paused, max_connections).as_deref(),
        Some("300"),
        "nothing applied while paused"
    );
    assert_eq!(paused["check_timeline"], Value::Bool(true));

    // 4. Once the operator resumes, the profile's change arrives and the operator's key stays.
    stack
        .patronictl(0, &["resume", "--wait"])
        .expect("patronictl resume");
    wait_on(
        &stack,
        Duration::from_secs(60),
        "the profile's change after resume",
        || setting(&cluster_config(&stack), max_connections).as_deref() == Some("310"),
    );
    let resumed = cluster_config(&stack);
    assert_eq!(resumed["check_timeline"], Value::Bool(true), "{resumed}");
    assert!(resumed.get("pause").is_none(), "{resumed}");
    assert_eq!(resumed["failsafe_mode"], Value::Bool(true));
    drop(restarted);
}

/// Both Pgpools saturated beyond `numInitChildren` (every child busy, clients queued in the
/// listen backlog) stay ready, and every queued client is served as children free up.
#[test]
fn pgpool_readiness_survives_saturation() {
    let Some(bin) = tools_present() else {
        return;
    };
    let children = compiled_model("globex").database.pgpool.num_init_children as usize;
    let queued = 6;
    let mut stack = Stack::start("globex", bin);
    let mut primary = 0;
    wait_on(&stack, Duration::from_secs(120), "a primary", || {
        stack.primary().map(|p| primary = p).is_some()
    });
    stack.start_services_and_pgpools(2);

    let hold = "SELECT pg_sleep(10)";
    let mut clients: Vec<_> = (0..2)
        .flat_map(|k| (0..children + queued).map(move |_| k))
        .map(|k| stack.pgpool_client(k, hold, 60))
        .collect();
    let busy = format!("SELECT count(*) FROM pg_stat_activity WHERE query = '{hold}'");
    wait_on(
        &stack,
        Duration::from_secs(30),
        "every Pgpool child of both pods busy",
        || stack.member_sql(primary, &busy).ok() == Some((2 * children).to_string()),
    );
    // Saturated: a new session waits in the backlog (what the former, logged-in probe did
    // and failed on), while the readiness probe of both pods passes, again and again.
    let mut waiting = stack.pgpool_client(0, "SELECT 1", 2);
    let waited = waiting.wait().expect("psql ends");
    assert!(
        !waited.success(),
        "a saturated Pgpool takes no new session within 2 s"
    );
    for _ in 0..3 {
        assert!(
            (0..2).all(|k| stack.pgpool_ready(k)),
            "both Pgpools ready while saturated"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let served = clients
        .iter_mut()
        .map(|client| client.wait().is_ok_and(|status| status.success()))
        .filter(|served| *served)
        .count();
    assert_eq!(
        served,
        2 * (children + queued),
        "every queued client served"
    );
}

/// One zone of nodes, as the scheduler sees it: how many of the pods the constraint
/// selects it already runs.
struct Zone {
    name: &'static str,
    members: u32,
    has_nodes: bool,
}

/// Whether kube-scheduler's PodTopologySpread filter admits a pod in `zone` under
/// `constraint` (kubernetes.io/docs/concepts/scheduling-eviction/topology-spread-constraints,
/// and `pkg/scheduler/framework/plugins/podtopologyspread/filtering.go`): only zones with
/// eligible nodes count; the skew is the zone's matching pods plus this one minus the
/// global minimum, which is 0 while fewer zones count than `minDomains`; `ScheduleAnyway`
/// never filters.
fn spread_admits(constraint: &Value, zones: &[Zone], zone: &str) -> bool {
    if constraint["whenUnsatisfiable"] != "DoNotSchedule" {
        return true;
    }
    let counted: Vec<&Zone> = zones.iter().filter(|z| z.has_nodes).collect();
    let Some(target) = counted.iter().find(|z| z.name == zone) else {
        return false;
    };
    let min_domains = constraint["minDomains"].as_u64().unwrap_or(1) as usize;
    let global_minimum = if counted.len() < min_domains {
        0
    } else {
        counted.iter().map(|z| z.members).min().unwrap_or(0)
    };
    let max_skew = constraint["maxSkew"].as_u64().expect("maxSkew") as u32;
    target.members + 1 - global_minimum <= max_skew
}

/// The members' zone spread as the scheduler applies it: three members take three zones
/// (so the synchronous standby is never in the primary's zone), and when a zone is lost
/// its member waits there for its zonal disk instead of crowding into a zone that is left.
#[test]
fn members_take_a_zone_each_and_a_lost_zone_keeps_its_member_pending() {
    let statefulset = parse_yaml(
        &std::fs::read_to_string(super::root().join("out/acme/database/statefulset-postgres.yaml"))
            .expect("the compiled StatefulSet"),
    );
    let spec = &statefulset["spec"]["template"]["spec"];
    let constraint = spec["topologySpreadConstraints"]
        .as_array()
        .expect("a spread")
        .iter()
        .find(|c| c["topologyKey"] == "topology.kubernetes.io/zone")
        .expect("a zone spread")
        .clone();
    let model = compiled_model("acme");
    assert_eq!(model.database.replicas, 3);
    assert_eq!(model.database.zones, 3, "GKE's default of three zones");
    let mut zones: Vec<Zone> = ["us-central1-a", "us-central1-b", "us-central1-c"]
        .into_iter()
        .map(|name| Zone {
            name,
            members: 0,
            has_nodes: true,
        })
        .collect();
    // Each member goes to the first zone the filter admits (the scorer's choice among the
    // admitted ones does not matter to the assertion: any admitted zone is tried).
    for member in 0..model.database.replicas {
        let admitted: Vec<&str> = zones
            .iter()
            .filter(|z| spread_admits(&constraint, &zones, z.name))
            .map(|z| z.name)
            .collect();
        assert!(!admitted.is_empty(), "member {member} schedulable");
        for name in &admitted {
            assert!(
                zones
                    .iter()
                    .find(|z| z.name == *name)
                    .is_some_and(|z| z.members == 0),
                "member {member} may only go to an empty zone, admitted {admitted:?}"
            );
        }
        let first = admitted[0];
        if let Some(zone) = zones.iter_mut().find(|z| z.name == first) {
            zone.members += 1;
        }
    }
    assert!(zones.iter().all(|z| z.members == 1), "a zone each");

    // Zone a is lost with its member; the member's replacement may not go elsewhere.
    zones[0].has_nodes = false;
    zones[0].members = 0;
    for zone in ["us-central1-b", "us-central1-c"] {
        assert!(
            !spread_admits(&constraint, &zones, zone),
            "the lost member stays Pending rather than join {zone}"
        );
    }
    // Without `minDomains` the two zones left would take it (the rule the field exists for).
    let mut without = constraint.clone();
    without
        .as_object_mut()
        .expect("constraint")
        .remove("minDomains");
    assert!(spread_admits(&without, &zones, "us-central1-b"));
    // Zone a back: the member returns to it.
    zones[0].has_nodes = true;
    assert!(spread_admits(&constraint, &zones, "us-central1-a"));
}

/// gitops-engine's StatefulSet health (`pkg/health/health_statefulset.go`): Progressing
/// while fewer pods are ready than `replicas`.
fn statefulset_healthy(spec_replicas: u64, ready: u64) -> bool {
    ready >= spec_replicas
}

/// The compiled objects of a customer with their sync waves, by `Kind/name`.
fn compiled_waves(customer: &str) -> Vec<(String, i64, Value)> {
    let mut objects = Vec::new();
    let folder = super::root().join("out").join(customer);
    for dir in std::fs::read_dir(&folder).expect("out/<customer>") {
        let dir = dir.expect("entry").path();
        if !dir.is_dir() || dir.ends_with("terraform") {
            continue;
        }
        for file in std::fs::read_dir(&dir).expect("component folder") {
            let file = file.expect("entry").path();
            if file.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let object = parse_yaml(&std::fs::read_to_string(&file).expect("object"));
            let wave = object
                .pointer("/metadata/annotations/argocd.argoproj.io~1sync-wave")
                .and_then(Value::as_str)
                .and_then(|w| w.parse().ok())
                .unwrap_or(0);
            let key = format!(
                "{}/{}",
                object["kind"].as_str().unwrap_or_default(),
                object["metadata"]["name"].as_str().unwrap_or_default()
            );
            objects.push((key, wave, object));
        }
    }
    objects
}

/// A hotfix of the app syncs while a database member is Pending: the compiled Application
/// applies only what is out of sync, and gitops-engine waits for the health of the objects
/// it applies in a wave before the next (`pkg/sync/sync_context.go`: running tasks of a
/// multi-step sync are waited on; `filterOutOfSyncTasks` drops unmodified ones under
/// `ApplyOutOfSyncOnly`). Its `ignoreDifferences` leaves the HPA the app's replicas and
/// nothing else (argo-cd `util/argo/normalizers/diff_normalizer.go`: an entry with a
/// name matches only that object).
#[test]
fn an_app_hotfix_syncs_while_a_database_member_is_pending() {
    let application = parse_yaml(
        &std::fs::read_to_string(super::root().join("out/_argocd/applications/acme.yaml"))
            .expect("the compiled Application"),
    );
    let options: Vec<&str> = application["spec"]["syncPolicy"]["syncOptions"]
        .as_array()
        .expect("syncOptions")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let objects = compiled_waves("acme");
    let modified = "Deployment/app";
    let statefulset = objects
        .iter()
        .find(|(key, _, _)| key == "StatefulSet/postgres")
        .expect("the StatefulSet");
    let replicas = statefulset.2["spec"]["replicas"]
        .as_u64()
        .expect("replicas");
    // One member Pending: two of three ready.
    let healthy = |key: &str| key != "StatefulSet/postgres" || statefulset_healthy(replicas, 2);

    // The sync as gitops-engine runs it: wave by wave, each applied task healthy first.
    let sync = |apply_out_of_sync_only: bool| -> Vec<String> {
        let mut tasks: Vec<&(String, i64, Value)> = objects
            .iter()
            .filter(|(key, _, _)| !apply_out_of_sync_only || key == modified)
            .collect();
        tasks.sort_by_key(|(_, wave, _)| *wave);
        let mut applied = Vec::new();
        let waves: std::collections::BTreeSet<i64> = tasks.iter().map(|(_, w, _)| *w).collect();
        for wave in waves {
            let in_wave: Vec<&String> = tasks
                .iter()
                .filter(|(_, w, _)| *w == wave)
                .map(|(key, _, _)| key)
                .collect();
            applied.extend(in_wave.iter().map(|k| k.to_string()));
            if !in_wave.iter().all(|key| healthy(key)) {
                break; // the operation waits here until they are healthy
            }
        }
        applied
    };
    assert!(options.contains(&"ApplyOutOfSyncOnly=true"), "{options:?}");
    assert!(
        sync(true).iter().any(|key| key == modified),
        "the hotfix is applied"
    );
    // What the option prevents: re-applying every object stops at the StatefulSet's wave.
    let everything = sync(false);
    assert!(everything.iter().any(|key| key == "StatefulSet/postgres"));
    assert!(
        !everything.iter().any(|key| key == modified),
        "{everything:?}"
    );

    // ignoreDifferences: the app's replicas (the HPA's) are ignored, Pgpool's are not.
    let ignored = application["spec"]["ignoreDifferences"]
        .as_array()
        .expect("ignoreDifferences")
        .clone();
    let ignores = |kind: &str, name: &str, pointer: &str| {
        ignored.iter().any(|entry| {
            entry["kind"] == kind
                && entry["group"] == "apps"
                && entry["name"]
                    .as_str()
                    .is_none_or(|n| n.is_empty() || n == name)
                && entry["jsonPointers"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p == pointer))
        })
    };
    assert!(ignores("Deployment", "app", "/spec/replicas"));
    assert!(!ignores("Deployment", "pgpool", "/spec/replicas"));
    let pgpool = objects
        .iter()
        .find(|(key, _, _)| key == "Deployment/pgpool")
        .expect("Pgpool's Deployment");
    assert_eq!(
        pgpool.2["spec"]["replicas"].as_u64(),
        Some(u64::from(compiled_model("acme").database.pgpool.replicas)),
        "Pgpool's replicas come from the profile"
    );
}

/// A standby whose replay falls behind the compiled lag bound fails its readiness (on the
/// real Patroni) and so leaves the standbys Service and Pgpool's balanced reads; the
/// primary and the other standby stay ready, and it returns once it has caught up.
#[test]
fn a_standby_behind_the_lag_bound_is_not_ready_until_it_catches_up() {
    let Some(bin) = tools_present() else {
        return;
    };
    let stack = Stack::start("acme", bin);
    let primary = stack.wait_for_streaming_primary();
    wait_on(
        &stack,
        Duration::from_secs(60),
        "every member ready",
        || (0..3).all(|i| stack.member_ready(i)),
    );
    let behind = (primary + 1) % 3;
    let other = (primary + 2) % 3;
    // Outside maintenance mode Patroni resumes a paused replay on its next loop
    // (`postgresql/__init__.py` `handle_parameter_change`): pause the cluster first.
    stack
        .patronictl(0, &["pause", "--wait"])
        .expect("patronictl pause");
    stack
        .member_sql(behind, "SELECT pg_wal_replay_pause()")
        .expect("pause replay");
    // About 8 MiB of WAL, far past the 1 MiB bound.
    stack
        .member_sql(
            primary,
            "CREATE TABLE bulk AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 60000) g",
        )
        .expect("write WAL");
    // Patroni compares with the leader's position in its store, renewed every loop (10 s).
    wait_on(
        &stack,
        Duration::from_secs(40),
        "the lagging standby unready",
        || !stack.member_ready(behind),
    );
    assert!(stack.member_ready(primary), "the primary stays ready");
    assert!(
        stack.member_ready(other),
        "the caught-up standby stays ready"
    );
    stack
        .member_sql(behind, "SELECT pg_wal_replay_resume()")
        .expect("resume replay");
    wait_on(
        &stack,
        Duration::from_secs(40),
        "the standby ready again once caught up",
        || stack.member_ready(behind),
    );
    stack
        .patronictl(0, &["resume", "--wait"])
        .expect("patronictl resume");
}

/// The Kubernetes API as far as certificates.py uses it, which cannot run on this machine:
/// a loopback HTTP server that answers every request 200 and records it (method, path,
/// body). The test holds what it recorded against the Kubernetes API's rules and the
/// compiled Role.
struct ApiRecorder {
    port: u16,
    requests: Arc<Mutex<Vec<(String, String, String)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ApiRecorder {
    fn start() -> ApiRecorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (recorded, stopped) = (Arc::clone(&requests), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Some(request) = answer(stream) {
                            recorded.lock().expect("requests").push(request);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
        ApiRecorder {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> Vec<(String, String, String)> {
        self.requests.lock().expect("requests").clone()
    }
}

impl Drop for ApiRecorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one HTTP/1.1 request (headers, then `Content-Length` bytes) and answers 200.
fn answer(mut stream: TcpStream) -> Option<(String, String, String)> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let _ = stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    Some((method, path, String::from_utf8_lossy(&body).into_owned()))
}

/// New sessions, one after another, through Pgpool and straight to the primary, each with
/// TLS verified against the database CA, as clients open them during the renewal.
struct Sessions {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<(u32, Vec<String>)>>,
}

impl Sessions {
    fn start(psql: PathBuf, ports: Vec<u16>, ca: PathBuf) -> Sessions {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let (mut opened, mut failures) = (0, Vec::new());
            while !stopped.load(Ordering::Relaxed) {
                for port in &ports {
                    let output = std::process::Command::new(&psql)
                        .arg(format!(
                            "host=127.0.0.1 port={port} user=app dbname=app sslmode=verify-ca sslrootcert={} connect_timeout=5",
                            ca.display()
                        ))
                        .args(["-XAtq", "-c", "SELECT 1"])
                        .env("PGPASSWORD", password("app-password"))
                        .output()
                        .expect("psql runs");
                    opened += 1;
                    if !output.status.success() {
                        failures.push(format!(
                            "port {port}: {}",
                            String::from_utf8_lossy(&output.stderr).trim()
                        ));
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            (opened, failures)
        });
        Sessions {
            stop,
            thread: Some(thread),
        }
    }

    /// Sessions opened, and the failures' messages.
    fn finish(mut self) -> (u32, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Sessions {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The served certificates' expiry by endpoint, from certificates.py's `/metrics`.
fn served_expiry(port: u16) -> BTreeMap<String, u64> {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return BTreeMap::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text.lines()
        .filter_map(|line| {
            let rest = line
                .strip_prefix("gitopsc_served_certificate_expiry_timestamp_seconds{endpoint=\"")?;
            let (endpoint, value) = rest.split_once("\"} ")?;
            Some((endpoint.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// cert-manager renews the server certificate (a new key, the same CA) and the kubelet
/// swaps the Secret's files: every member's PostgreSQL serves the new one after a reload
/// its sidecar asks Patroni for, with no session refused, and the leader's sidecar asks
/// Kubernetes to roll Pgpool (the only request it makes, and one the compiled Role allows),
/// whose new pod serves it too. The sidecars' `/metrics` follow what is served.
#[test]
fn a_renewed_certificate_is_served_without_an_outage() {
    let Some(bin) = tools_present() else {
        return;
    };
    let mut stack = Stack::start("acme", bin.clone());
    stack.wait_for_streaming_primary();
    wait_on(
        &stack,
        Duration::from_secs(60),
        "every member ready",
        || (0..3).all(|i| stack.member_ready(i)),
    );
    stack.start_services_and_pgpools(1);
    let api = ApiRecorder::start();
    let metrics: Vec<u16> = (0..3).map(|_| super::free_port()).collect();
    let _sidecars: Vec<_> = (0..3)
        .map(|i| stack.run_certificates(i, Some(0), api.port, metrics[i]))
        .collect();
    let issued = stack.certificate_fingerprint();
    wait_on(
        &stack,
        Duration::from_secs(60),
        "every sidecar's metrics",
        || metrics.iter().all(|port| served_expiry(*port).len() == 2),
    );
    let expiry_before = served_expiry(metrics[0]);
    for i in 0..3 {
        assert_eq!(
            stack.served_fingerprint(stack.member_port(i)),
            Some(issued.clone())
        );
    }
    assert!(
        api.requests().is_empty(),
        "nothing to ask for: {:?}",
        api.requests()
    );

    let sessions = Sessions::start(
        bin.join("psql"),
        vec![stack.pgpool_ports[0], stack.primary_service_port],
        stack.base_path().join("tls/ca.crt"),
    );
    std::thread::sleep(Duration::from_secs(3));
    let renewed = Instant::now();
    // cert-manager's renewal: a new key and certificate from the same CA.
    stack.issue_certificate("..2026_02_01");
    let fingerprint = stack.certificate_fingerprint();
    assert_ne!(fingerprint, issued, "a new certificate");
    wait_on(
        &stack,
        Duration::from_secs(90),
        "every member serving the renewed certificate",
        || {
            (0..3).all(|i| {
                stack.served_fingerprint(stack.member_port(i)).as_ref() == Some(&fingerprint)
            })
        },
    );
    let served_after = renewed.elapsed();
    wait_on(
        &stack,
        Duration::from_secs(60),
        "the request to roll Pgpool",
        || !api.requests().is_empty(),
    );
    std::thread::sleep(Duration::from_secs(2));
    let (opened, failures) = sessions.finish();
    assert!(
        failures.is_empty(),
        "{} of {opened} sessions failed: {failures:#?}",
        failures.len()
    );

    // One request, from the leader's sidecar: a strategic merge patch of the Deployment's
    // pod template, which Kubernetes answers with a rolling update.
    let namespace = compiled_model("acme").namespace;
    let wanted = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {
        gitopsc::emit::names::TLS_ROLL_ANNOTATION: format!("sha256:{fingerprint}")}}}}});
    let requests = api.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let (method, path, body) = &requests[0];
    assert_eq!(method, "PATCH");
    assert_eq!(
        path,
        &format!("/apis/apps/v1/namespaces/{namespace}/deployments/pgpool")
    );
    assert_eq!(
        serde_json::from_str::<Value>(body).expect("JSON body"),
        wanted
    );
    let role = parse_yaml(
        &std::fs::read_to_string(super::root().join("out/acme/database/role-postgres.yaml"))
            .expect("the compiled Role"),
    );
    let allowed = role["rules"].as_array().expect("rules").iter().any(|rule| {
        rule["apiGroups"] == serde_json::json!(["apps"])
            && rule["resources"] == serde_json::json!(["deployments"])
            && rule["verbs"] == serde_json::json!(["patch"])
            && rule["resourceNames"]
                .as_array()
                .is_some_and(|names| names.iter().any(|n| n == "pgpool"))
    });
    assert!(allowed, "the Role allows the patch: {}", role["rules"]);

    // Pgpool serves the old certificate until Kubernetes replaces its pod.
    assert_eq!(
        stack.served_fingerprint(stack.pgpool_ports[0]),
        Some(issued)
    );
    stack.restart_pgpool(0);
    wait_on(
        &stack,
        Duration::from_secs(60),
        "the new Pgpool pod ready",
        || stack.pgpool_ready(0),
    );
    assert_eq!(
        stack.served_fingerprint(stack.pgpool_ports[0]),
        Some(fingerprint)
    );
    wait_on(
        &stack,
        Duration::from_secs(60),
        "the metrics following",
        || {
            let now = served_expiry(metrics[0]);
            ["postgres", "pgpool"]
                .iter()
                .all(|endpoint| now.get(*endpoint) > expiry_before.get(*endpoint))
        },
    );
    println!(
        "renewal: served by every member {:.1} s after the swap, {opened} sessions, none refused",
        served_after.as_secs_f64()
    );
}

/// One session through Pgpool `port` as `app` with `secret`: whether it ran.
fn app_session(psql: &Path, port: u16, secret: &str) -> bool {
    std::process::Command::new(psql)
        .arg(format!(
            "host=127.0.0.1 port={port} user=app dbname=app sslmode=require connect_timeout=5"
        ))
        .args(["-XAtq", "-c", "SELECT 1"])
        .env("PGPASSWORD", secret)
        .output()
        .is_ok_and(|output| output.status.success())
}

/// A loop of attempts (a session, a write), one every 50 ms, in the background until
/// finished: how many succeeded, and each one that failed.
type Refusals = Vec<Refusal>;

/// A refused attempt: when it began and when the client gave up (since `started`; a
/// connection through a Service whose server is gone can take seconds to fail), and what
/// the client said.
#[derive(Debug)]
struct Refusal {
    began: Duration,
    ended: Duration,
    why: String,
}

struct Attempts {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<(u32, Refusals)>>,
}

impl Attempts {
    fn start(
        started: Instant,
        mut attempt: impl FnMut() -> Result<(), String> + Send + 'static,
    ) -> Attempts {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let (mut succeeded, mut failed) = (0, Vec::new());
            while !stopped.load(Ordering::Relaxed) {
                let began = started.elapsed();
                match attempt() {
                    Ok(()) => succeeded += 1,
                    Err(why) => failed.push(Refusal {
                        began,
                        ended: started.elapsed(),
                        why,
                    }),
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            (succeeded, failed)
        });
        Attempts {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (u32, Refusals) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Attempts {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Seconds from the first refusal to the last (0 without any).
fn refusal_window(refused: &[Refusal]) -> f64 {
    match (refused.first(), refused.last()) {
        (Some(first), Some(last)) => (last.ended - first.ended).as_secs_f64(),
        _ => 0.0,
    }
}

/// The pod-template patches the leader's passwords.py asked for on `workload`
/// (`deployments/app`, `statefulsets/postgres`): the values of `annotation`, in order.
fn rolls(api: &ApiRecorder, namespace: &str, workload: &str, annotation: &str) -> Vec<String> {
    let path = format!("/apis/apps/v1/namespaces/{namespace}/{workload}");
    api.requests()
        .into_iter()
        .filter(|(method, p, _)| method == "PATCH" && *p == path)
        .map(|(_, _, body)| {
            let body: Value = serde_json::from_str(&body).expect("a JSON patch");
            body["spec"]["template"]["metadata"]["annotations"][annotation]
                .as_str()
                .expect("the annotation")
                .to_string()
        })
        .collect()
}

fn app_rolls(api: &ApiRecorder, namespace: &str) -> Vec<String> {
    rolls(
        api,
        namespace,
        "deployments/app",
        gitopsc::emit::names::APP_CREDENTIALS_ANNOTATION,
    )
}

fn member_rolls(api: &ApiRecorder, namespace: &str) -> Vec<String> {
    rolls(
        api,
        namespace,
        "statefulsets/postgres",
        gitopsc::emit::names::PATRONI_CREDENTIALS_ANNOTATION,
    )
}

/// Rotating the app's, the monitor's and the backup role's password is one step, the
/// Secret: the leader's passwords.py sets each in PostgreSQL (a SCRAM verifier it computes,
/// never the password in a statement) and asks Kubernetes to roll the app (a keyed digest
/// in the pod template, the only request it makes, and one the compiled Role allows);
/// Pgpool's start.sh follows with pool_passwd, without a restart, and a session opened
/// before runs to its end. The app's sessions refused between Pgpool taking the new file
/// and the app's pods having the new password are counted (the rollout here is instant).
#[test]
fn a_rotated_secret_reaches_postgresql_pgpool_and_the_app() {
    let Some(bin) = tools_present() else {
        return;
    };
    let namespace = compiled_model("globex").namespace;
    let mut stack = Stack::start("globex", bin.clone());
    wait_on(&stack, Duration::from_secs(120), "a primary", || {
        stack.primary().is_some()
    });
    stack.start_services_and_pgpools(1);
    let psql = bin.join("psql");
    let port = stack.pgpool_ports[0];
    let old = password("app-password");
    wait_on(
        &stack,
        Duration::from_secs(60),
        "Pgpool taking sessions",
        || app_session(&psql, port, old),
    );
    let primary = stack.primary().expect("a primary");
    let api = ApiRecorder::start();
    let _standby_sidecar = stack.run_passwords((primary + 1) % 3, api.port);
    let _sidecar = stack.run_passwords(primary, api.port);
    // Once, the leader gives the app's pod template the digest of the password it has.
    wait_on(&stack, Duration::from_secs(30), "the first digest", || {
        !app_rolls(&api, &namespace).is_empty()
    });
    let first = app_rolls(&api, &namespace);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(!first[0].contains(old), "a digest, not the password");

    let current = Arc::new(Mutex::new(old.to_string()));
    let started = Instant::now();
    // The app's sessions, each with the password its running pods have.
    let load = {
        let (psql, current) = (psql.clone(), Arc::clone(&current));
        Attempts::start(started, move || {
            let secret = current.lock().expect("password").clone();
            app_session(&psql, port, &secret)
                .then_some(())
                .ok_or_else(|| "refused".to_string())
        })
    };
    let mut open = stack.pgpool_client(0, "SELECT pg_sleep(20)", 5);
    std::thread::sleep(Duration::from_secs(1));

    // 1. The kubelet swaps the Secret's files; nobody runs SQL.
    let rotated = [
        ("app-password", "rotated-app-password-2026"),
        ("monitor-password", "rotated-monitor-password-2026"),
        ("backup-password", "rotated-backup-password-2026"),
    ];
    for (key, value) in rotated {
        stack.rotate_secret(key, value);
    }
    let swapped = started.elapsed();
    // 2. The leader asks for the app's rollout; the new pods have the new password.
    let roll = wait_on(&stack, Duration::from_secs(30), "the app's rollout", || {
        app_rolls(&api, &namespace).len() == 2
    });
    *current.lock().expect("password") = rotated[0].1.to_string();
    std::thread::sleep(Duration::from_secs(3));
    let (served, refused) = load.finish();
    let opened = served as usize + refused.len();

    let rolls = app_rolls(&api, &namespace);
    assert_ne!(rolls[0], rolls[1], "a new digest");
    for (key, value) in rotated {
        let role = key.trim_end_matches("-password");
        let login = |secret: &str| {
            std::process::Command::new(&psql)
                .arg(format!(
                    "host=127.0.0.1 port={} user={role} dbname=postgres sslmode=require connect_timeout=5",
                    stack.member_port(primary)
                ))
                .args(["-XAtq", "-c", "SELECT 1"])
                .env("PGPASSWORD", secret)
                .output()
                .is_ok_and(|output| output.status.success())
        };
        assert!(
            login(value),
            "{role} logs in with the Secret's new password"
        );
        assert!(!login(password(key)), "{role}'s old password is refused");
    }
    // Pgpool compares the Secret's files with pool_passwd every few seconds (start.sh), so
    // it takes the new password within a period and a reload of the swap, not at once.
    wait_on(
        &stack,
        Duration::from_secs(15),
        "Pgpool taking the new password",
        || app_session(&psql, port, rotated[0].1),
    );
    assert!(!app_session(&psql, port, old), "and refuses the old one");
    assert!(
        open.wait().expect("the open session").success(),
        "the session opened before the rotation ran to its end"
    );
    assert!(stack.pgpool_running(0), "the same Pgpool process");
    // Nothing is refused before the swap; what is refused after it ends when the app has
    // the new password.
    assert!(refused.iter().all(|r| r.ended >= swapped), "{refused:?}");
    let window = refusal_window(&refused);
    assert!(window < 15.0, "{window} s of refused sessions");
    // No new password in any log: PostgreSQL's, Patroni's, Pgpool's, the sidecars'.
    let mut logs = Vec::new();
    collect_files(stack.base_path(), &mut logs);
    for path in logs
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
    {
        let text = String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
        for (_, value) in rotated {
            assert!(!text.contains(value), "{path:?} holds a password");
        }
    }
    println!(
        "rotation: the leader asked for the app's rollout {:.1} s after the swap; {} of {opened} app sessions refused over {window:.1} s (Pgpool had the new password, the app not yet)",
        roll.as_secs_f64(),
        refused.len()
    );
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_symlink() {
            continue;
        }
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Patroni's own passwords (superuser, replication, rewind) rotated in the Secret only:
/// the leader's passwords.py sets them in PostgreSQL (the superuser's with the password
/// Patroni started with) and asks Kubernetes to roll the StatefulSet, once, and never at a
/// first start; the members replaced one at a time (as the StatefulSet controller does,
/// the leader handing over on SIGTERM) stream again with the new replication password.
/// Writes through Pgpool are counted throughout.
#[test]
fn patronis_passwords_follow_the_secret_through_a_rolling_restart() {
    let Some(bin) = tools_present() else {
        return;
    };
    let namespace = compiled_model("globex").namespace;
    let mut stack = Stack::start("globex", bin.clone());
    let primary = stack.wait_for_streaming_primary();
    stack.start_services_and_pgpools(1);
    for sql in [
        "CREATE TABLE writes (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())",
        "ALTER TABLE writes OWNER TO app",
    ] {
        stack.member_sql_in(primary, "app", sql).expect(sql);
    }
    let api = ApiRecorder::start();
    let mut sidecar = Some(stack.run_passwords(primary, api.port));
    wait_on(
        &stack,
        Duration::from_secs(30),
        "the app's first digest",
        || !app_rolls(&api, &namespace).is_empty(),
    );
    assert!(
        member_rolls(&api, &namespace).is_empty(),
        "no rollout of the members at a first start"
    );

    let psql = bin.join("psql");
    let started = Instant::now();
    let writes = {
        let (psql, port) = (psql.clone(), stack.pgpool_ports[0]);
        Attempts::start(started, move || {
            std::process::Command::new(&psql)
                .arg(format!(
                    "host=127.0.0.1 port={port} user=app dbname=app sslmode=require connect_timeout=3"
                ))
                .args(["-XAtq", "-c", "INSERT INTO writes DEFAULT VALUES"])
                .env("PGPASSWORD", password("app-password"))
                .output()
                .map_err(|e| e.to_string())
                .and_then(|output| {
                    output
                        .status
                        .success()
                        .then_some(())
                        .ok_or_else(|| String::from_utf8_lossy(&output.stderr).trim().to_string())
                })
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let rotated = [
        ("superuser-password", "rotated-superuser-password-2026"),
        ("replication-password", "rotated-replication-password-2026"),
        ("rewind-password", "rotated-rewind-password-2026"),
    ];
    for (key, value) in rotated {
        stack.rotate_secret(key, value);
    }
    let asked = wait_on(
        &stack,
        Duration::from_secs(30),
        "the members' rollout",
        || member_rolls(&api, &namespace).len() == 1,
    );
    // The superuser logs in with the new password (member_sql reads the Secret), the
    // replication and rewind users with theirs, and not with the old ones.
    assert!(
        stack.member_sql(primary, "SELECT 1").is_ok(),
        "the superuser's new password"
    );
    // `extra`: `replication=true` for a walsender session (IDENTIFY_SYSTEM), else a database.
    let network_login = |user: &str, secret: &str, extra: &str| {
        let command = if extra.starts_with("replication") {
            "IDENTIFY_SYSTEM"
        } else {
            "SELECT 1"
        };
        std::process::Command::new(&psql)
            .arg(format!(
                "host=127.0.0.1 port={} user={user} {extra} sslmode=require connect_timeout=5",
                stack.member_port(primary)
            ))
            .args(["-XAtq", "-c", command])
            .env("PGPASSWORD", secret)
            .output()
            .is_ok_and(|output| output.status.success())
    };
    for (user, key, new, extra) in [
        (
            "replicator",
            "replication-password",
            rotated[1].1,
            "replication=true",
        ),
        (
            "rewinder",
            "rewind-password",
            rotated[2].1,
            "dbname=postgres",
        ),
    ] {
        assert!(
            network_login(user, new, extra),
            "{user} with the new password"
        );
        assert!(
            !network_login(user, password(key), extra),
            "{user} not with the old one"
        );
    }

    // 2. The rollout, from the highest ordinal, each member ready before the next.
    // 2. The rollout as the StatefulSet controller runs it: from the highest ordinal, each
    //    pod replaced once the one before is ready. Members not replaced yet still have
    //    the old passwords and may fail to reconnect meanwhile.
    let (mut handovers, mut replaced) = (Vec::new(), Vec::new());
    for i in (0..3).rev() {
        let before = started.elapsed();
        let was_leader = stack.primary() == Some(i);
        if i == primary {
            // The sidecar stops with its pod.
            sidecar = None;
        }
        stack.replace_member(i);
        wait_on(
            &stack,
            Duration::from_secs(120),
            "the replaced member ready",
            || stack.member_ready(i),
        );
        if was_leader {
            // Writes go on once Pgpool reaches the new leader.
            wait_on(
                &stack,
                Duration::from_secs(60),
                "writes through Pgpool",
                || stack.primary().is_some(),
            );
            handovers.push(before..started.elapsed());
        }
        replaced.push((i, before..started.elapsed()));
    }
    stack.wait_for_streaming_primary();
    std::thread::sleep(Duration::from_secs(2));
    let (committed, refused) = writes.finish();
    drop(sidecar);
    let leader = stack.wait_for_streaming_primary();
    assert_eq!(member_rolls(&api, &namespace).len(), 1, "one rollout");
    let window = refusal_window(&refused);
    let rows = stack
        .member_sql_in(leader, "app", "SELECT count(*) FROM writes")
        .expect("count");
    assert!(committed > 100, "{committed} writes committed");
    // Writes are refused only when begun while the leader's pod is replaced (the
    // handover every rolling update has; such a write may take seconds to fail), never
    // because of the new passwords.
    let settle = Duration::from_secs(5);
    let outside: Vec<&Refusal> = refused
        .iter()
        .filter(|r| {
            !handovers
                .iter()
                .any(|h| h.start <= r.began && r.began <= h.end + settle)
        })
        .collect();
    assert!(
        outside.is_empty(),
        "{} of {} refused writes begun outside the handovers {handovers:?} (members replaced over {:?}); the first: {:?}",
        outside.len(),
        refused.len(),
        replaced,
        outside.iter().take(3).collect::<Vec<_>>()
    );
    let for_password = refused.iter().find(|r| r.why.contains("password"));
    assert!(
        for_password.is_none(),
        "a write refused for its password: {for_password:?}"
    );
    assert_eq!(rows, committed.to_string(), "every acknowledged write kept");
    println!(
        "Patroni's passwords: the leader asked for the rollout {:.1} s after the swap; {} writes refused over {window:.1} s, all begun while a leader's pod was replaced ({} handovers; the slowest took {:.1} s to fail), {committed} committed",
        asked.as_secs_f64(),
        refused.len(),
        handovers.len(),
        refused
            .iter()
            .map(|r| (r.ended - r.began).as_secs_f64())
            .fold(0.0, f64::max)
    );
}
