//! The compiled database tier on real components: three Patroni members with PostgreSQL,
//! etcd as Patroni's store and Pgpool-II, all on loopback, configured from `out/` and
//! nothing else (see `Translation`), then exercised: replication, routing, balancing,
//! Pgpool's live settings, a primary killed under write load, and its return as a standby.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::pg_settings::{as_db_user, server_bin};
use super::{TempDir, chown_to_postgres, free_port, parse_yaml, root, text, tool, tools_required};

/// Passwords the test puts in the credentials "Secret" (a folder of files, as mounted).
const PASSWORDS: [(&str, &str); 6] = [
    ("superuser-password", "test-superuser-secret"),
    ("replication-password", "test-replication-secret"),
    ("rewind-password", "test-rewind-secret"),
    ("app-password", "test-app-secret"),
    ("monitor-password", "test-monitor-secret"),
    ("backup-password", "test-backup-secret"),
];

pub(super) fn password(key: &str) -> &'static str {
    PASSWORDS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
        .expect("known key")
}

/// One data file of a ConfigMap in `out/<customer>/`.
fn config_map_file(customer: &str, path: &str, key: &str) -> String {
    let yaml = std::fs::read_to_string(root().join("out").join(customer).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    parse_yaml(&yaml)["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("{path} has no data.{key}"))
        .to_string()
}

/// The only changes made to the compiled files, each because this machine is not a pod:
/// - paths: the mounts and volumes of the pod become folders of the test;
/// - `/usr/lib/postgresql/<major>`: a folder of links to the binaries each major runs
///   with (the installed ones for every major, unless a test gives others);
/// - Patroni's store: the Kubernetes API becomes a local etcd (`kubernetes` → `etcd3`);
/// - addresses: pod IPs and DNS names become 127.0.0.1 and a port per member.
struct Translation {
    /// (pod path, test path); the first that matches at a position wins.
    paths: Vec<(String, String)>,
}

impl Translation {
    /// Replaces every pod path in one pass, so a replacement is never translated again.
    fn apply(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        'scan: while !rest.is_empty() {
            for (from, to) in &self.paths {
                if let Some(after) = rest.strip_prefix(from.as_str()) {
                    out.push_str(to);
                    rest = after;
                    continue 'scan;
                }
            }
            let mut chars = rest.chars();
            out.extend(chars.next());
            rest = chars.as_str();
        }
        out
    }
}

struct Member {
    name: String,
    pg_port: u16,
    rest_port: u16,
    dir: PathBuf,
    process: Option<Child>,
}

impl Member {
    fn data_dir(&self) -> PathBuf {
        self.dir.join("data/pgdata")
    }

    /// Kills the member like a lost node: Patroni and PostgreSQL (its own session) at once.
    /// A killed postmaster cannot remove its shared memory, so the test does.
    fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            kill_group(child.id() as i32);
            let _ = child.wait();
        }
        if let Some(postmaster) = Postmaster::running(&self.data_dir()) {
            kill_group(postmaster.pid);
            postmaster.remove_shared_memory();
        }
    }

    /// Stops the member for good: Patroni first, so that it cannot start PostgreSQL again,
    /// then a fast shutdown, which removes PostgreSQL's shared memory itself; a member
    /// still up after 10 s is killed.
    fn stop(&mut self) {
        if let Some(mut child) = self.process.take() {
            kill_group(child.id() as i32);
            let _ = child.wait();
        }
        let data = self.data_dir();
        if let Some(postmaster) = Postmaster::running(&data) {
            // SAFETY: kill has no memory preconditions; `running` checked the process.
            unsafe {
                libc::kill(postmaster.pid, libc::SIGINT);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Postmaster::running(&data).is_some() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.kill();
    }
}

/// A running postmaster and the shared memory it would remove on a clean shutdown: its
/// System V segment (`shared_buffers`, tens of MB) and the POSIX segments it maps from
/// /dev/shm. Left behind by every killed member, they filled the machine's memory after
/// a few hundred test runs.
struct Postmaster {
    pid: i32,
    system_v_segment: Option<i32>,
    posix_segments: Vec<PathBuf>,
}

impl Postmaster {
    /// The postmaster of `data`, when its pid file names a live PostgreSQL of that folder
    /// (a stale file's pid may by now be any other process).
    fn running(data: &Path) -> Option<Postmaster> {
        let pid_file = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
        let mut lines = pid_file.lines();
        let pid: i32 = lines.next()?.trim().parse().ok()?;
        let command = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let data_text = data.display().to_string();
        if !String::from_utf8_lossy(&command).contains(&data_text) {
            return None;
        }
        // Line 7 is "<key> <shmid>" (PostgreSQL's pidfile.h).
        let system_v_segment = lines
            .nth(5)
            .and_then(|line| line.split_whitespace().nth(1)?.parse().ok());
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
        let mut posix_segments: Vec<PathBuf> = maps
            .lines()
            .filter_map(|line| line.split_whitespace().nth(5))
            .filter(|path| path.starts_with("/dev/shm/PostgreSQL."))
            .map(PathBuf::from)
            .collect();
        posix_segments.dedup();
        Some(Postmaster {
            pid,
            system_v_segment,
            posix_segments,
        })
    }

    fn remove_shared_memory(&self) {
        if let Some(id) = self.system_v_segment {
            // SAFETY: IPC_RMID takes no buffer; the kernel removes the segment once the
            // killed processes have detached.
            unsafe {
                libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
            }
        }
        for path in &self.posix_segments {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A member's process groups, stopped; `thaw` lets them go on where they were.
struct Frozen(Vec<i32>);

impl Member {
    /// Stops Patroni and PostgreSQL (SIGSTOP to both process groups): the node is there,
    /// its sockets accept, nothing answers.
    fn freeze(&self) -> Frozen {
        let groups: Vec<i32> = self
            .process
            .iter()
            .map(|c| c.id() as i32)
            .chain(Postmaster::running(&self.data_dir()).map(|postmaster| postmaster.pid))
            .collect();
        for pid in &groups {
            // SAFETY: kill has no memory preconditions; the groups are this test's.
            unsafe {
                libc::kill(-pid, libc::SIGSTOP);
            }
        }
        Frozen(groups)
    }
}

impl Frozen {
    fn thaw(self) {
        for pid in &self.0 {
            // SAFETY: as in `freeze`.
            unsafe {
                libc::kill(-pid, libc::SIGCONT);
            }
        }
    }
}

/// How soon after a frozen primary answers again writes succeed through every Pgpool
/// (docs/database.md states the bound and the measured figure).
const FROZEN_PRIMARY_RECOVERY: Duration = Duration::from_secs(15);

/// A fast shutdown (SIGINT), after which Pgpool removes its shared memory (private System V
/// segments of over 100 MB each, which a SIGKILL leaves behind); killed if still up after 10 s.
fn stop_pgpool(mut child: Child) {
    // SAFETY: kill has no memory preconditions; the group is this test's.
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    kill_group(child.id() as i32);
    let _ = child.wait();
}

fn kill_group(pid: i32) {
    // SAFETY: kill has no memory preconditions; a stale pid at worst fails with ESRCH.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
        libc::kill(pid, libc::SIGKILL);
    }
}

/// Everything the test started; dropping it stops all of it.
pub(super) struct Stack {
    customer: String,
    work: TempDir,
    translation: Translation,
    etcd: Option<Child>,
    etcd_port: u16,
    members: Vec<Member>,
    /// Stands in for the primary and standbys Services (see `start_services`).
    haproxy: Option<Child>,
    pub(super) primary_service_port: u16,
    replicas_service_port: u16,
    /// Two Pgpool pods; clients use the first unless a test says otherwise.
    pgpools: Vec<Option<Child>>,
    pub(super) pgpool_ports: Vec<u16>,
    pgpool_port: u16,
    app: Option<Child>,
    app_port: u16,
    bin: PathBuf,
    /// The data of the compiled Patroni ConfigMap the members run with: `out/`'s, until a
    /// test compiles another (`restore`).
    patroni_files: Value,
    /// The archive bucket, when the profile archives: gcp-storage-emulator behind HAProxy
    /// with TLS, as pgBackRest only speaks HTTPS (see `start_archive`).
    archive: Vec<Child>,
    archive_port: u16,
}

/// A sidecar script the test started; dropping it stops the script and what it runs.
pub(super) struct Sidecar(Child);

impl Sidecar {
    /// Waits until it ends by itself; whether it succeeded.
    pub(super) fn finished(&mut self) -> bool {
        self.0.wait().is_ok_and(|status| status.success())
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        kill_group(self.0.id() as i32);
        let _ = self.0.wait();
    }
}

/// pgBackRest's configuration as this machine needs it: the bucket at the emulator
/// (`repo1-gcs-endpoint`, the certificate the test's own), a fixed token instead of the
/// metadata server's, and the member's port.
fn archive_translation(conf: &str, archive_port: u16, pg_port: u16) -> String {
    let mut conf = conf.to_string();
    for (from, to) in [
        (
            "repo1-gcs-key-type=auto\n".to_string(),
            format!(
                "repo1-gcs-key-type=token\nrepo1-gcs-key=test-token\nrepo1-gcs-endpoint=localhost:{archive_port}\nrepo1-storage-verify-tls=n\n"
            ),
        ),
        (
            "pg1-port=5432\n".to_string(),
            format!("pg1-port={pg_port}\n"),
        ),
    ] {
        assert!(conf.contains(&from), "pgbackrest.conf has {from:?}");
        conf = conf.replace(&from, &to);
    }
    conf
}

/// The data of the compiled Patroni ConfigMap in `out/<customer>/`.
fn compiled_patroni_files(customer: &str) -> Value {
    let path = root()
        .join("out")
        .join(customer)
        .join("database/configmap-postgres-patroni.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    parse_yaml(&yaml)["data"].clone()
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(mut child) = self.app.take() {
            kill_group(child.id() as i32);
            let _ = child.wait();
        }
        for child in self.pgpools.iter_mut().filter_map(Option::take) {
            stop_pgpool(child);
        }
        if let Some(mut child) = self.haproxy.take() {
            kill_group(child.id() as i32);
            let _ = child.wait();
        }
        for member in &mut self.members {
            member.stop();
        }
        for mut child in self.archive.drain(..).chain(self.etcd.take()) {
            kill_group(child.id() as i32);
            let _ = child.wait();
        }
        let _ = &self.work;
    }
}

fn openssl_in(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?}");
}

/// `openssl x509 -fingerprint -sha256` of the certificate `source` (a shell pipeline)
/// prints, as lowercase hex.
fn fingerprint_of(source: &str) -> Option<String> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{source} | openssl x509 -noout -fingerprint -sha256"
        ))
        .output()
        .expect("sh runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let (_, hex) = text.trim().split_once('=')?;
    output
        .status
        .success()
        .then(|| hex.replace(':', "").to_lowercase())
}

fn write(path: &Path, content: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Logs of a started process go to a file in the work folder, shown when a wait fails.
fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::File::create(dir.join(format!("{name}.log"))).expect("log file")
}

impl Stack {
    pub(super) fn start(customer: &str, bin: PathBuf) -> Stack {
        let installed = bin.parent().expect("bin's parent").to_path_buf();
        let majors = (15..=18).map(|major| (major, installed.clone())).collect();
        Stack::start_with(customer, bin, compiled_patroni_files(customer), majors)
    }

    /// A cluster of `customer` that runs `patroni_files` (a Patroni ConfigMap's data), with
    /// `majors` as the image's `/usr/lib/postgresql/<major>` (`start` gives every major the
    /// installed binaries: the profile's `postgresVersion` runs as Debian's).
    pub(super) fn start_with(
        customer: &str,
        bin: PathBuf,
        patroni_files: Value,
        majors: Vec<(u32, PathBuf)>,
    ) -> Stack {
        let work = TempDir::new(&format!("database-{customer}"));
        let base = work.path().to_path_buf();
        let members: Vec<Member> = (0..3)
            .map(|i| Member {
                name: format!("postgres-{i}"),
                pg_port: free_port(),
                rest_port: free_port(),
                dir: base.join(format!("postgres-{i}")),
                process: None,
            })
            .collect();
        let translation = Translation {
            paths: vec![
                (
                    "/etc/postgresql/credentials".into(),
                    base.join("credentials").display().to_string(),
                ),
                (
                    "/etc/pgpool/credentials".into(),
                    base.join("credentials").display().to_string(),
                ),
                (
                    "/etc/postgresql/tls".into(),
                    base.join("tls").display().to_string(),
                ),
                (
                    "/etc/pgpool/tls".into(),
                    base.join("tls").display().to_string(),
                ),
                (
                    "/usr/lib/postgresql".into(),
                    base.join("binaries").display().to_string(),
                ),
            ],
        };
        std::fs::create_dir_all(base.join("binaries")).expect("binaries folder");
        for (major, dir) in majors {
            std::os::unix::fs::symlink(dir, base.join("binaries").join(major.to_string()))
                .expect("link a major's binaries");
        }
        let mut stack = Stack {
            customer: customer.to_string(),
            etcd_port: free_port(),
            haproxy: None,
            primary_service_port: free_port(),
            replicas_service_port: free_port(),
            pgpools: Vec::new(),
            pgpool_ports: Vec::new(),
            pgpool_port: 0,
            work,
            translation,
            etcd: None,
            members,
            app: None,
            app_port: free_port(),
            bin,
            patroni_files,
            archive: Vec::new(),
            archive_port: free_port(),
        };
        stack.write_secrets();
        if stack.patroni_files.get("pgbackrest.conf").is_some() {
            stack.start_archive();
        }
        stack.start_etcd();
        for i in 0..stack.members.len() {
            stack.write_member_config(i);
        }
        chown_to_postgres(stack.work.path());
        for i in 0..stack.members.len() {
            stack.start_member(i);
        }
        stack
    }

    fn base(&self) -> &Path {
        self.work.path()
    }

    /// The credentials Secret and the TLS Secret, as their volumes would hold them.
    fn write_secrets(&self) {
        for (key, value) in PASSWORDS {
            write(&self.base().join("credentials").join(key), value, 0o600);
        }
        // As cert-manager would issue it: a CA, and a server certificate for every name the
        // compiled Certificate lists, with the CA beside it as `ca.crt`. The CA's key stays
        // outside the "volume", for renewals.
        let ca = self.base().join("ca");
        std::fs::create_dir_all(&ca).expect("ca dir");
        openssl_in(
            &ca,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=test database CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ],
        );
        self.issue_certificate("..2026_01_01");
    }

    /// Issues a server certificate into a new version folder of the TLS "volume" and
    /// switches the volume to it at once, as the kubelet updates a Secret's volume (its
    /// AtomicWriter: the files are links through `..data`, which is swapped by a rename).
    pub(super) fn issue_certificate(&self, version: &str) {
        let tls = self.base().join("tls");
        let dir = tls.join(version);
        std::fs::create_dir_all(&dir).expect("tls version dir");
        let ca = self.base().join("ca");
        openssl_in(
            &dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=pgpool",
                "-keyout",
                "tls.key",
                "-out",
                "tls.csr",
            ],
        );
        let names = certificate_names(&self.customer);
        let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
        write(
            &dir.join("san.cnf"),
            &format!(
                "subjectAltName={}\nextendedKeyUsage=serverAuth\n",
                san.join(",")
            ),
            0o644,
        );
        let (ca_crt, ca_key, serial) = (ca.join("ca.crt"), ca.join("ca.key"), ca.join("ca.srl"));
        openssl_in(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "tls.csr",
                "-CA",
                &ca_crt.display().to_string(),
                "-CAkey",
                &ca_key.display().to_string(),
                "-CAserial",
                &serial.display().to_string(),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "san.cnf",
                "-out",
                "tls.crt",
            ],
        );
        std::fs::copy(&ca_crt, dir.join("ca.crt")).expect("ca.crt");
        for file in ["tls.csr", "san.cnf"] {
            let _ = std::fs::remove_file(dir.join(file));
        }
        chown_to_postgres(&dir);
        let next = tls.join("..data_tmp");
        let _ = std::fs::remove_file(&next);
        std::os::unix::fs::symlink(version, &next).expect("..data_tmp");
        std::fs::rename(&next, tls.join("..data")).expect("swap ..data");
        for file in ["tls.crt", "tls.key", "ca.crt"] {
            let link = tls.join(file);
            if std::fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(format!("..data/{file}"), &link).expect("link");
            }
        }
    }

    /// The SHA-256 fingerprint (hex of the DER) of the certificate in the TLS "volume".
    pub(super) fn certificate_fingerprint(&self) -> String {
        let path = self.base().join("tls/tls.crt");
        fingerprint_of(&format!("openssl x509 -in '{}'", path.display()))
            .expect("the certificate's fingerprint")
    }

    /// The fingerprint of the certificate served on `port` (PostgreSQL's SSLRequest).
    pub(super) fn served_fingerprint(&self, port: u16) -> Option<String> {
        fingerprint_of(&format!(
            "openssl s_client -starttls postgres -connect 127.0.0.1:{port} </dev/null 2>/dev/null"
        ))
    }

    fn start_etcd(&mut self) {
        let peer = free_port();
        let client = format!("http://127.0.0.1:{}", self.etcd_port);
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new("etcd")
            .args(["--name", "test", "--data-dir"])
            .arg(self.base().join("etcd"))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("test={peer_url}")])
            .stdout(log_file(self.base(), "etcd"))
            .stderr(log_file(self.base(), "etcd-stderr"))
            .process_group(0)
            .spawn()
            .expect("etcd starts");
        self.etcd = Some(child);
        wait_for(Duration::from_secs(30), "etcd to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", self.etcd_port)).is_ok()
        });
    }

    /// The archive bucket. pgBackRest reaches GCS over HTTPS only and the emulator speaks
    /// plain HTTP/1.0, so HAProxy terminates TLS in front of it (with the test's server
    /// certificate, which `archive_translation` tells pgBackRest not to verify) and closes
    /// each connection after its answer, as HTTP/1.0 does.
    fn start_archive(&mut self) {
        let conf = self.patroni_files["pgbackrest.conf"]
            .as_str()
            .expect("pgbackrest.conf");
        let bucket = conf
            .lines()
            .find_map(|l| l.strip_prefix("repo1-gcs-bucket="))
            .expect("the compiled bucket");
        let emulator_port = free_port();
        let emulator = Command::new(tool("gcp-storage-emulator").expect("checked"))
            .args(["start", "--host", "127.0.0.1", "--port"])
            .arg(emulator_port.to_string())
            .args(["--in-memory", "--quiet", "--default-bucket", bucket])
            .current_dir(self.base())
            .stdout(log_file(self.base(), "gcs"))
            .stderr(Stdio::from(log_file(self.base(), "gcs-stderr")))
            .process_group(0)
            .spawn()
            .expect("gcp-storage-emulator starts");
        self.archive.push(emulator);
        let tls = self.base().join("tls");
        let pem = [tls.join("tls.crt"), tls.join("tls.key")]
            .iter()
            .map(|f| std::fs::read_to_string(f).expect("test certificate"))
            .collect::<String>();
        let pem_path = self.base().join("archive.pem");
        write(&pem_path, &pem, 0o600);
        let config = format!(
            "global\n  maxconn 200\ndefaults\n  mode http\n  option httpclose\n  timeout connect 2s\n  timeout client 60s\n  timeout server 60s\nfrontend gcs\n  bind 127.0.0.1:{} ssl crt {}\n  default_backend emulator\nbackend emulator\n  server emulator 127.0.0.1:{emulator_port}\n",
            self.archive_port,
            pem_path.display()
        );
        let path = self.base().join("haproxy-archive.cfg");
        write(&path, &config, 0o644);
        let proxy = Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&path)
            .stdout(log_file(self.base(), "haproxy-archive"))
            .stderr(Stdio::from(log_file(self.base(), "haproxy-archive-stderr")))
            .process_group(0)
            .spawn()
            .expect("haproxy starts");
        self.archive.push(proxy);
        for port in [emulator_port, self.archive_port] {
            wait_for(Duration::from_secs(30), "the archive bucket", || {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
        }
    }

    /// Loses everything but the archive bucket: every member stopped and its volume
    /// deleted, and Patroni's store emptied, as when the cluster and its disks are gone.
    pub(super) fn destroy(&mut self) {
        for member in &mut self.members {
            member.stop();
            std::fs::remove_dir_all(member.dir.join("data")).expect("delete the volume");
        }
        if let Some(mut child) = self.etcd.take() {
            kill_group(child.id() as i32);
            let _ = child.wait();
        }
        std::fs::remove_dir_all(self.base().join("etcd")).expect("empty the store");
        self.start_etcd();
    }

    /// Starts member `i` from another compilation of the customer: its Patroni
    /// ConfigMap's data.
    pub(super) fn start_member_from(&mut self, i: usize, patroni_files: Value) {
        self.patroni_files = patroni_files;
        self.write_member_config(i);
        chown_to_postgres(&self.members[i].dir);
        self.start_member(i);
    }

    /// Stops member `i` and starts it from another compilation, as a StatefulSet's rolling
    /// update replaces a pod (the volume stays).
    pub(super) fn restart_member_from(&mut self, i: usize, patroni_files: Value) {
        self.members[i].stop();
        self.start_member_from(i, patroni_files);
    }

    /// One of member `i`'s compiled Python scripts as an operator runs it in the pod
    /// (`kubectl exec <pod> -c postgres -- python3 /etc/patroni/<script>`), until it ends.
    pub(super) fn exec_python(&self, i: usize, script: &str) -> Child {
        let path = self.members[i].dir.join("config").join(script);
        self.member_command(i, "/usr/bin/python3", &path, script)
            .spawn()
            .expect("the script starts")
    }

    /// `program script` as the database user in member `i`'s "container": the installed
    /// PostgreSQL first in `PATH`, its own process group, its output in `<log>.log` and
    /// `<log>-stderr.log` beside the member.
    fn member_command(&self, i: usize, program: &str, script: &Path, log: &str) -> Command {
        let member = &self.members[i];
        let mut command = as_db_user(Path::new(program));
        command
            .arg(script)
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", self.bin.display()),
            )
            .stdout(log_file(&member.dir, log))
            .stderr(Stdio::from(log_file(&member.dir, &format!("{log}-stderr"))))
            .process_group(0);
        command
    }

    /// What the kubelet does when a member's container ends (Patroni exited): its other
    /// processes end with it (PostgreSQL included) and it starts again. The members
    /// restarted.
    pub(super) fn restart_ended_members(&mut self) -> Vec<usize> {
        let ended: Vec<usize> = (0..self.members.len())
            .filter(|&i| {
                self.members[i]
                    .process
                    .as_mut()
                    .is_some_and(|child| matches!(child.try_wait(), Ok(Some(_))))
            })
            .collect();
        for &i in &ended {
            self.members[i].kill();
            self.start_member(i);
        }
        ended
    }

    /// Replaces member `i`'s pod as a StatefulSet's rolling update does: SIGTERM to Patroni,
    /// which stops PostgreSQL and, on the leader, gives up the leader lock, within the
    /// compiled grace period; then the same volume starts again.
    pub(super) fn replace_member(&mut self, i: usize) {
        if let Some(child) = self.members[i].process.as_mut() {
            // SAFETY: kill has no memory preconditions; the pid is our child's.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(120);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        self.members[i].kill();
        self.start_member(i);
    }

    /// Member `i`'s log files, for a failure message.
    pub(super) fn member_log(&self, i: usize, name: &str) -> String {
        std::fs::read_to_string(self.members[i].dir.join(name)).unwrap_or_default()
    }

    /// Member `i`'s data directory on this machine.
    pub(super) fn member_data_dir(&self, i: usize) -> PathBuf {
        self.members[i].data_dir()
    }

    /// Runs the SQL script `path` on member `i` as the superuser, statement by statement
    /// (each its own transaction), in the background.
    pub(super) fn member_script(&self, i: usize, path: &Path) -> Sidecar {
        let member = &self.members[i];
        let child = Command::new(self.bin.join("psql"))
            .arg(format!(
                "host={} port={} user=postgres dbname=postgres sslmode=disable",
                member.dir.join("run").display(),
                member.pg_port
            ))
            .args(["-XAtq", "-v", "ON_ERROR_STOP=1", "-f"])
            .arg(path)
            .env("PGPASSWORD", self.secret("superuser-password"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file(self.base(), "load")))
            .process_group(0)
            .spawn()
            .expect("psql starts");
        Sidecar(child)
    }

    /// Replaces one file of member `i`'s "ConfigMap mount", as a ConfigMap change does.
    pub(super) fn update_member_file(&self, i: usize, key: &str, content: &str) {
        let path = self.members[i].dir.join("config").join(key);
        write(&path, content, 0o644);
        chown_to_postgres(&path);
    }

    /// Waits for a primary with both standbys streaming from it; the primary's index.
    pub(super) fn wait_for_streaming_primary(&self) -> usize {
        let mut primary = 0;
        wait_on(
            self,
            Duration::from_secs(120),
            "a primary with 2 streaming standbys",
            || match self.primary() {
                Some(p) => {
                    primary = p;
                    let standbys = self.streaming(p);
                    standbys.len() == 2 && standbys.iter().all(|(_, state, _)| state == "streaming")
                }
                None => false,
            },
        );
        primary
    }

    /// The primary and standbys Services, then `count` Pgpool pods, until each is ready
    /// (its readiness reaches the primary).
    pub(super) fn start_services_and_pgpools(&mut self, count: usize) {
        self.start_services();
        for _ in 0..count {
            self.start_pgpool();
        }
        wait_on(self, Duration::from_secs(60), "every Pgpool ready", || {
            (0..count).all(|k| self.pgpool_ready(k))
        });
    }

    /// A key of the credentials "Secret" as its volume holds it now (a test may rotate it).
    pub(super) fn secret(&self, key: &str) -> String {
        std::fs::read_to_string(self.base().join("credentials").join(key))
            .expect("a credentials file")
            .trim_end_matches('\n')
            .to_string()
    }

    /// Replaces a key of the credentials "Secret" at once, as the kubelet does.
    pub(super) fn rotate_secret(&self, key: &str, value: &str) {
        let file = self.base().join("credentials").join(key);
        let staged = file.with_extension("new");
        write(&staged, value, 0o600);
        chown_to_postgres(&staged);
        std::fs::rename(&staged, &file).expect("swap the credentials file");
    }

    /// Member `i`'s PostgreSQL port on this machine.
    pub(super) fn member_port(&self, i: usize) -> u16 {
        self.members[i].pg_port
    }

    /// The folder that stands for the pods' volumes.
    pub(super) fn base_path(&self) -> &Path {
        self.base()
    }

    /// The file member `i`'s `/tmp/<name>` is on this machine.
    pub(super) fn member_tmp(&self, i: usize, name: &str) -> PathBuf {
        self.members[i].dir.join("tmp").join(name)
    }

    /// Member `i`'s readiness as the kubelet sees it: the HTTP status of the compiled
    /// probe's path on its Patroni REST API.
    pub(super) fn member_ready(&self, i: usize) -> bool {
        let path = member_readiness_path(&self.customer);
        http(self.members[i].rest_port, "GET", &path, "").is_some_and(|(status, _)| status == 200)
    }

    /// patronictl with member `i`'s configuration, as an operator runs it in the pod.
    pub(super) fn patronictl(&self, i: usize, args: &[&str]) -> Result<String, String> {
        let output = Command::new("patronictl")
            .arg("-c")
            .arg(self.members[i].dir.join("config/patroni.yml"))
            .args(args)
            .output()
            .expect("patronictl runs");
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// Runs the script `file` of member `i`'s configuration folder as its pod would, with
    /// `edit` applied to its text first, to its end (bounded by `timeout`): whether it
    /// succeeded, and its output and errors.
    pub(super) fn run_to_end(
        &self,
        i: usize,
        file: &str,
        edit: impl Fn(&str) -> String,
        timeout: Duration,
    ) -> (bool, String, String) {
        let dir = self.members[i].dir.join("config");
        let text = std::fs::read_to_string(dir.join(file)).expect("the compiled script");
        let edited = dir.join(format!("edited-{file}"));
        write(&edited, &edit(&text), 0o755);
        let log = format!("run-{file}");
        let mut child = self
            .member_command(i, "/bin/sh", &edited, &log)
            .spawn()
            .expect("the script starts");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if started.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{file} did not end within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        (
            status.success(),
            self.member_log(i, &format!("{log}.log")),
            self.member_log(i, &format!("{log}-stderr.log")),
        )
    }

    /// Runs one of the member's compiled scripts as its sidecar would, until dropped.
    pub(super) fn run_sidecar(&self, i: usize, script: &str) -> Sidecar {
        let path = self.members[i].dir.join("config").join(script);
        let child = self
            .member_command(i, "/bin/sh", &path, script)
            .spawn()
            .expect("the sidecar starts");
        Sidecar(child)
    }

    /// The member's "ConfigMap mount": every compiled file, translated.
    fn write_member_config(&mut self, i: usize) {
        let member = &self.members[i];
        let config_dir = member.dir.join("config");
        let member_paths = Translation {
            paths: [
                ("/etc/patroni", config_dir.clone()),
                ("/var/lib/postgresql/data", member.dir.join("data")),
                ("/var/run/postgresql", member.dir.join("run")),
                ("/tmp/", member.dir.join("tmp/")),
            ]
            .into_iter()
            .map(|(from, to)| (from.to_string(), to.display().to_string()))
            .chain(self.translation.paths.iter().cloned())
            .collect(),
        };
        for dir in ["run", "tmp", "data"] {
            std::fs::create_dir_all(member.dir.join(dir)).expect("member dir");
        }
        let files = self.patroni_files.as_object().expect("ConfigMap data");
        for (key, content) in files.iter().filter(|(key, _)| *key != "patroni.yml") {
            let mut content = member_paths.apply(content.as_str().expect("text"));
            if key == "pgbackrest.conf" {
                content = archive_translation(&content, self.archive_port, member.pg_port);
            }
            if key == "pgbackrest-backup.sh" {
                assert!(content.contains("PGPORT=5432\n"), "the sidecar's port");
                content = content.replace("PGPORT=5432\n", &format!("PGPORT={}\n", member.pg_port));
            }
            if key == "major-upgrade.py" || key == "passwords.py" {
                for (from, to) in [
                    (
                        "PORT = \"5432\"\n".to_string(),
                        format!("PORT = \"{}\"\n", member.pg_port),
                    ),
                    (
                        "PATRONI = \"http://127.0.0.1:8008\"".to_string(),
                        format!("PATRONI = \"http://127.0.0.1:{}\"", member.rest_port),
                    ),
                ] {
                    assert!(content.contains(&from), "{key} has {from}");
                    content = content.replace(&from, &to);
                }
            }
            let mode = if key.ends_with(".sh") { 0o755 } else { 0o644 };
            write(&config_dir.join(key), &content, mode);
        }
        let patroni_yml = self.patroni_files["patroni.yml"]
            .as_str()
            .expect("patroni.yml");
        let mut patroni = parse_yaml(&member_paths.apply(patroni_yml));
        let object = patroni.as_object_mut().expect("patroni.yml is a mapping");
        assert!(object.remove("kubernetes").is_some(), "Kubernetes store");
        object.insert(
            "etcd3".into(),
            serde_json::json!({"hosts": [format!("127.0.0.1:{}", self.etcd_port)]}),
        );
        object.insert("name".into(), Value::String(member.name.clone()));
        let rest = format!("127.0.0.1:{}", member.rest_port);
        patroni["restapi"] = serde_json::json!({"listen": rest, "connect_address": rest});
        let pg = format!("127.0.0.1:{}", member.pg_port);
        patroni["postgresql"]["listen"] = Value::String(pg.clone());
        patroni["postgresql"]["connect_address"] = Value::String(pg);
        write(
            &config_dir.join("patroni.yml"),
            &gitopsc::serialize::to_yaml(&patroni),
            0o644,
        );
    }

    fn start_member(&mut self, i: usize) {
        let member = &self.members[i];
        let child = as_db_user(Path::new("/bin/sh"))
            .arg(member.dir.join("config/start.sh"))
            .stdout(log_file(&member.dir, "patroni"))
            .stderr(Stdio::from(log_file(&member.dir, "patroni-stderr")))
            .process_group(0)
            .spawn()
            .expect("patroni starts");
        self.members[i].process = Some(child);
    }

    /// Runs apply-config.sh as the sidecar does, until it has written the configuration.
    fn apply_dynamic_config(&self) {
        let member = &self.members[0];
        let mut child = as_db_user(Path::new("/bin/sh"))
            .arg(member.dir.join("config/apply-config.sh"))
            .stdout(log_file(&member.dir, "apply-config"))
            .stderr(Stdio::from(log_file(&member.dir, "apply-config-stderr")))
            .process_group(0)
            .spawn()
            .expect("apply-config.sh starts");
        let marker = member.dir.join("tmp/dynamic-config-applied");
        wait_for(Duration::from_secs(60), "apply-config.sh", || {
            marker.exists()
        });
        kill_group(child.id() as i32);
        let _ = child.wait();
    }

    /// The primary and standbys Services as HAProxy: Kubernetes sends a Service's traffic
    /// to the ready pods its selector picks, and Patroni labels the leader `role=master`
    /// and the streaming standbys `role=replica`; HAProxy picks the same members by asking
    /// each member's Patroni (`/primary`, `/replica`), once a second.
    pub(super) fn start_services(&mut self) {
        let mut config = String::from(
            "global\n  maxconn 4000\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 1h\n  timeout server 1h\n  default-server inter 1s fall 2 rise 1\n",
        );
        // The standbys Service holds the pods labelled `replica` that are ready: Patroni's
        // `/replica` with the compiled readiness's lag bound.
        let readiness = member_readiness_path(&self.customer);
        let lag = readiness
            .split_once('?')
            .map_or(String::new(), |(_, query)| format!("?{query}"));
        let replica_check = format!("/replica{lag}");
        for (name, port, check) in [
            ("primary", self.primary_service_port, "/primary"),
            (
                "replicas",
                self.replicas_service_port,
                replica_check.as_str(),
            ),
        ] {
            config.push_str(&format!(
                "listen {name}\n  bind 127.0.0.1:{port}\n  balance roundrobin\n  option httpchk GET {check}\n  http-check expect status 200\n"
            ));
            for member in &self.members {
                config.push_str(&format!(
                    "  server {} 127.0.0.1:{} check port {}\n",
                    member.name, member.pg_port, member.rest_port
                ));
            }
        }
        let path = self.base().join("haproxy.cfg");
        write(&path, &config, 0o644);
        let child = Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&path)
            .stdout(log_file(self.base(), "haproxy"))
            .stderr(Stdio::from(log_file(self.base(), "haproxy-stderr")))
            .process_group(0)
            .spawn()
            .expect("haproxy starts");
        self.haproxy = Some(child);
        // HAProxy counts a server up until its checks have failed `fall` times, as the
        // primary Service is only once Patroni has labelled the leader: until then a new
        // session may reach a standby. Wait until sessions land on the primary only.
        if self.primary().is_some() {
            let mut in_a_row = 0;
            wait_for(Duration::from_secs(30), "the primary Service", || {
                let primary = self.psql(
                    self.primary_service_port,
                    "monitor",
                    "postgres",
                    "SELECT pg_is_in_recovery()",
                );
                in_a_row = if primary.as_deref() == Ok("f") {
                    in_a_row + 1
                } else {
                    0
                };
                in_a_row >= 6
            });
        }
    }

    /// One Pgpool pod: its ConfigMap's files in its own folders, the Services' names
    /// translated to HAProxy's addresses.
    pub(super) fn start_pgpool(&mut self) {
        let k = self.pgpools.len();
        let pgpool_dir = self.base().join(format!("pgpool-{k}"));
        let config_dir = pgpool_dir.join("config");
        let translation = Translation {
            paths: [
                ("/etc/pgpool/config", config_dir.clone()),
                ("/var/run/pgpool", pgpool_dir.join("run")),
            ]
            .into_iter()
            .map(|(from, to)| (from.to_string(), to.display().to_string()))
            .chain(self.translation.paths.iter().cloned())
            .collect(),
        };
        std::fs::create_dir_all(pgpool_dir.join("run")).expect("pgpool run dir");
        let port = free_port();
        let file = "pgpool/configmap-pgpool.yaml";
        let mut conf = translation.apply(&config_map_file(&self.customer, file, "pgpool.conf"));
        for (service, service_port) in [
            ("postgres-primary", self.primary_service_port),
            ("postgres-replicas", self.replicas_service_port),
        ] {
            if let Some(i) =
                (0..2).find(|i| conf.contains(&format!("backend_hostname{i} = '{service}'")))
            {
                conf = conf
                    .replace(
                        &format!("backend_hostname{i} = '{service}'"),
                        &format!("backend_hostname{i} = '127.0.0.1'"),
                    )
                    .replace(
                        &format!("backend_port{i} = 5432"),
                        &format!("backend_port{i} = {service_port}"),
                    );
            }
        }
        conf = conf
            .replace("listen_addresses = '*'", "listen_addresses = '127.0.0.1'")
            .replace("port = 9999", &format!("port = {port}"));
        assert!(
            !conf.contains("backend_hostname0 = 'postgres")
                && !conf.contains("backend_port0 = 5432"),
            "every backend translated"
        );
        write(&config_dir.join("pgpool.conf"), &conf, 0o644);
        for key in ["pool_hba.conf", "pcp.conf", "start.sh", "ready.sh"] {
            let content = translation
                .apply(&config_map_file(&self.customer, file, key))
                .replace("port=9999", &format!("port={port}"))
                .replace(".s.PGSQL.9999", &format!(".s.PGSQL.{port}"))
                .replace(
                    "-h postgres-primary -p 5432",
                    &format!("-h 127.0.0.1 -p {}", self.primary_service_port),
                );
            write(&config_dir.join(key), &content, 0o644);
        }
        chown_to_postgres(&pgpool_dir);
        let child = as_db_user(Path::new("/bin/sh"))
            .arg(config_dir.join("start.sh"))
            .stdout(log_file(&pgpool_dir, "pgpool"))
            .stderr(Stdio::from(log_file(&pgpool_dir, "pgpool-stderr")))
            .process_group(0)
            .spawn()
            .expect("pgpool starts");
        self.pgpools.push(Some(child));
        self.pgpool_ports.push(port);
        if k == 0 {
            self.pgpool_port = port;
        }
    }

    /// Pgpool `k`'s pod replaced by a new one (a rollout): the same files, read afresh.
    pub(super) fn restart_pgpool(&mut self, k: usize) {
        if let Some(child) = self.pgpools[k].take() {
            stop_pgpool(child);
        }
        let pgpool_dir = self.base().join(format!("pgpool-{k}"));
        let child = as_db_user(Path::new("/bin/sh"))
            .arg(pgpool_dir.join("config/start.sh"))
            .stdout(log_file(&pgpool_dir, "pgpool-restarted"))
            .stderr(Stdio::from(log_file(
                &pgpool_dir,
                "pgpool-restarted-stderr",
            )))
            .process_group(0)
            .spawn()
            .expect("pgpool starts");
        self.pgpools[k] = Some(child);
    }

    /// `certificates.py` as member `i`'s sidecar runs it, its addresses translated to this
    /// machine's: the member's PostgreSQL and Patroni, Pgpool `k` for the Service, the
    /// Kubernetes API at `api`, its `/metrics` on `metrics`.
    pub(super) fn run_certificates(
        &self,
        i: usize,
        pgpool: Option<usize>,
        api: u16,
        metrics: u16,
    ) -> Sidecar {
        let member = &self.members[i];
        let text = std::fs::read_to_string(member.dir.join("config/certificates.py"))
            .expect("certificates.py");
        let translations = [
            (
                "POSTGRES = (\"127.0.0.1\", 5432)".to_string(),
                format!("POSTGRES = (\"127.0.0.1\", {})", member.pg_port),
            ),
            (
                "PGPOOL = (\"pgpool\", 9999)".to_string(),
                format!(
                    "PGPOOL = (\"127.0.0.1\", {})",
                    pgpool.map_or_else(free_port, |k| self.pgpool_ports[k])
                ),
            ),
            (
                "PATRONI = \"http://127.0.0.1:8008\"".to_string(),
                format!("PATRONI = \"http://127.0.0.1:{}\"", member.rest_port),
            ),
            (
                "KUBERNETES = \"https://kubernetes.default.svc\"".to_string(),
                format!("KUBERNETES = \"http://127.0.0.1:{api}\""),
            ),
            (
                "METRICS_PORT = 9188".to_string(),
                format!("METRICS_PORT = {metrics}"),
            ),
        ];
        let translated = translations.iter().fold(text, |text, (from, to)| {
            assert!(text.contains(from.as_str()), "certificates.py has {from}");
            text.replace(from.as_str(), to)
        });
        let path = member.dir.join("certificates-here.py");
        write(&path, &translated, 0o644);
        chown_to_postgres(&path);
        let child = as_db_user(Path::new("python3"))
            .arg(&path)
            .env(
                "PATRONI_KUBERNETES_NAMESPACE",
                compiled_model(&self.customer).namespace,
            )
            .stdout(log_file(&member.dir, "certificates"))
            .stderr(Stdio::from(log_file(&member.dir, "certificates-stderr")))
            .process_group(0)
            .spawn()
            .expect("certificates.py starts");
        Sidecar(child)
    }

    /// `passwords.py` as member `i`'s sidecar runs it, with the Kubernetes API at `api`.
    pub(super) fn run_passwords(&self, i: usize, api: u16) -> Sidecar {
        let member = &self.members[i];
        let text =
            std::fs::read_to_string(member.dir.join("config/passwords.py")).expect("passwords.py");
        let from = "KUBERNETES = \"https://kubernetes.default.svc\"";
        assert!(text.contains(from), "passwords.py has {from}");
        let translated = text.replace(from, &format!("KUBERNETES = \"http://127.0.0.1:{api}\""));
        let path = member.dir.join("passwords-here.py");
        write(&path, &translated, 0o644);
        chown_to_postgres(&path);
        let child = self
            .member_command(i, "/usr/bin/python3", &path, "passwords")
            .env(
                "PATRONI_KUBERNETES_NAMESPACE",
                compiled_model(&self.customer).namespace,
            )
            .env("GITOPSC_STATEFULSET", "postgres")
            .spawn()
            .expect("passwords.py starts");
        Sidecar(child)
    }

    /// Whether Pgpool `k` is still the process that was started.
    pub(super) fn pgpool_running(&mut self, k: usize) -> bool {
        self.pgpools[k]
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Whether every Pgpool started is still the same running process.
    fn pgpools_running(&mut self) -> bool {
        self.pgpools
            .iter_mut()
            .all(|c| c.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None))))
    }

    /// Runs Pgpool `k`'s compiled readiness script, bounded as the kubelet bounds it.
    pub(super) fn pgpool_ready(&self, k: usize) -> bool {
        let script = self.base().join(format!("pgpool-{k}/config/ready.sh"));
        Command::new("timeout")
            .arg("5")
            .arg("/bin/sh")
            .arg(script)
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The reference app under gunicorn with the compiled Deployment's environment. The
    /// only translations: Pgpool's address (`PGHOSTADDR`, so `PGHOST` stays the Service name
    /// that verify-full checks), its port, the CA's mount path, and the app's own port.
    fn start_app(&mut self) -> BTreeMap<String, String> {
        let env = compiled_app_env(&self.customer, &self.base().join("credentials"));
        let mut run_env = env.clone();
        run_env.insert("PGHOSTADDR".into(), "127.0.0.1".into());
        run_env.insert("PGPORT".into(), self.pgpool_port.to_string());
        if let Some(path) = run_env.get_mut("PGSSLROOTCERT") {
            *path = path.replace(
                "/etc/app/database-ca",
                &self.base().join("tls").display().to_string(),
            );
        }
        run_env.insert("PORT".into(), self.app_port.to_string());
        let app_dir = root().join("examples/app");
        let child = Command::new("gunicorn")
            .args(["--config", "gunicorn.conf.py", "app:app"])
            .current_dir(&app_dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&run_env)
            .stdout(log_file(self.base(), "app"))
            .stderr(Stdio::from(log_file(self.base(), "app-stderr")))
            .process_group(0)
            .spawn()
            .expect("gunicorn starts");
        self.app = Some(child);
        env
    }

    fn app_request(&self, method: &str, path: &str, body: &str) -> Option<(u16, Value)> {
        http(self.app_port, method, path, body)
    }

    /// A client session through Pgpool `k` as `app` running `sql`, in the background; it
    /// waits up to `connect_timeout` seconds for Pgpool to take it.
    pub(super) fn pgpool_client(&self, k: usize, sql: &str, connect_timeout: u32) -> Child {
        Command::new(self.bin.join("psql"))
            .arg(format!(
                "host=127.0.0.1 port={} user=app dbname=app sslmode=require connect_timeout={connect_timeout}",
                self.pgpool_ports[k]
            ))
            .args(["-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGPASSWORD", password("app-password"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("psql starts")
    }

    fn psql(&self, port: u16, user: &str, database: &str, sql: &str) -> Result<String, String> {
        self.psql_at("127.0.0.1", port, user, database, sql)
    }

    /// `host` is an address, or a socket folder for the local socket.
    fn psql_at(
        &self,
        host: &str,
        port: u16,
        user: &str,
        database: &str,
        sql: &str,
    ) -> Result<String, String> {
        let key = match user {
            "postgres" => "superuser-password",
            "app" => "app-password",
            _ => "monitor-password",
        };
        let ssl = if host.starts_with('/') {
            "disable"
        } else {
            "require"
        };
        let output = Command::new("timeout")
            .arg("15")
            .arg(self.bin.join("psql"))
            .arg(format!(
                "host={host} port={port} user={user} dbname={database} sslmode={ssl} connect_timeout=5"
            ))
            .args(["-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGPASSWORD", self.secret(key))
            .output()
            .expect("psql runs");
        if output.status.success() {
            Ok(text(&output.stdout).trim().to_string())
        } else {
            Err(text(&output.stderr))
        }
    }

    /// SQL on member `i` as the superuser, over its local socket: the only way pg_hba
    /// lets the superuser in.
    pub(super) fn member_sql(&self, i: usize, sql: &str) -> Result<String, String> {
        self.member_sql_in(i, "postgres", sql)
    }

    /// SQL on member `i` as the superuser in `database`, over its local socket.
    pub(super) fn member_sql_in(
        &self,
        i: usize,
        database: &str,
        sql: &str,
    ) -> Result<String, String> {
        let member = &self.members[i];
        let socket = member.dir.join("run").display().to_string();
        self.psql_at(&socket, member.pg_port, "postgres", database, sql)
    }

    fn pgpool_sql(&self, sql: &str) -> Result<String, String> {
        self.psql(self.pgpool_port, "app", "app", sql)
    }

    /// The index of the member that is primary, if exactly one is.
    pub(super) fn primary(&self) -> Option<usize> {
        let primaries: Vec<usize> = (0..self.members.len())
            .filter(|&i| {
                self.members[i].process.is_some()
                    && self.member_sql(i, "SELECT pg_is_in_recovery()").as_deref() == Ok("f")
            })
            .collect();
        (primaries.len() == 1).then(|| primaries[0])
    }

    /// `(application_name, state, sync_state)` of the standbys streaming from `primary`.
    pub(super) fn streaming(&self, primary: usize) -> Vec<(String, String, String)> {
        self.member_sql(
            primary,
            "SELECT application_name, state, sync_state FROM pg_stat_replication ORDER BY 1",
        )
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split('|');
            Some((f.next()?.into(), f.next()?.into(), f.next()?.into()))
        })
        .collect()
    }

    /// `SHOW pool_nodes` through Pgpool: per backend port, (status, role, select_cnt).
    fn pool_nodes(&self) -> BTreeMap<u16, (String, String, u64)> {
        let Ok(rows) = self.pgpool_sql("SHOW pool_nodes") else {
            return BTreeMap::new();
        };
        // node_id|hostname|port|status|pg_status|lb_weight|role|pg_role|select_cnt|...
        rows.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('|').collect();
                Some((
                    f.get(2)?.parse().ok()?,
                    (
                        f.get(3)?.to_string(),
                        f.get(6)?.to_string(),
                        f.get(8)?.parse().ok()?,
                    ),
                ))
            })
            .collect()
    }

    pub(super) fn logs(&self) -> String {
        let mut out = String::new();
        let mut files: Vec<PathBuf> = Vec::new();
        collect_logs(self.base(), &mut files);
        files.sort();
        for file in files {
            let content = std::fs::read_to_string(&file).unwrap_or_default();
            let lines = std::env::var("GITOPSC_TEST_LOG_LINES")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(25);
            let tail: Vec<&str> = content.lines().rev().take(lines).collect();
            out.push_str(&format!("==> {} <==\n", file.display()));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

fn collect_logs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !path.ends_with("data") && !path.ends_with("etcd") {
                collect_logs(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "log") {
            out.push(path);
        }
    }
}

/// Polls `ready` every 250 ms until it holds or `limit` passes (then panics).
fn wait_for(limit: Duration, what: &str, mut ready: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

/// Like `wait_for`, but shows every log of the stack when it times out.
pub(super) fn wait_on(
    stack: &Stack,
    limit: Duration,
    what: &str,
    mut ready: impl FnMut() -> bool,
) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!(
        "timed out after {limit:?} waiting for {what}\n{}",
        stack.logs()
    );
}

pub(super) fn tools_present() -> Option<PathBuf> {
    let bin = server_bin();
    let mut missing: Vec<&str> = [
        "patroni",
        "patronictl",
        "etcd",
        "pgpool",
        "haproxy",
        "openssl",
        "gunicorn",
        "pgbackrest",
        "gcp-storage-emulator",
    ]
    .into_iter()
    .filter(|t| tool(t).is_none())
    .collect();
    // The reference app runs on Debian's python3-flask and python3-psycopg2, imported by
    // the interpreter gunicorn runs on (its shebang).
    let app_modules = tool("gunicorn")
        .and_then(|g| std::fs::read_to_string(g).ok())
        .and_then(|text| {
            let interpreter = text
                .lines()
                .next()?
                .strip_prefix("#!")?
                .split_whitespace()
                .next()?
                .to_string();
            Some(interpreter)
        })
        .is_some_and(|interpreter| {
            Command::new(interpreter)
                .args(["-c", "import flask, psycopg2"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    if !app_modules {
        missing.push("python3-flask/python3-psycopg2");
    }
    if bin.is_none() || !missing.is_empty() {
        assert!(
            !tools_required(),
            "PostgreSQL, Patroni, etcd, Pgpool-II, HAProxy, openssl, pgBackRest, gcp-storage-emulator and the reference app's packages are required (missing: {missing:?})"
        );
        if !missing.is_empty() {
            eprintln!("skipped: {} not installed", missing.join(", "));
        }
        return None;
    }
    if !super::can_run_as_postgres("database") {
        return None;
    }
    bin
}

/// acme: synchronous replication, reads balanced, credentials from an ExternalSecret.
#[test]
fn synchronous_cluster_replicates_routes_and_fails_over_without_loss() {
    cluster_replicates_routes_and_fails_over("acme");
}

/// globex: asynchronous replication, reads on the primary only.
#[test]
fn asynchronous_cluster_replicates_routes_and_fails_over() {
    cluster_replicates_routes_and_fails_over("globex");
}

fn cluster_replicates_routes_and_fails_over(customer: &str) {
    let Some(bin) = tools_present() else {
        return;
    };
    let customer_model = compiled_model(customer);
    let mut stack = Stack::start(customer, bin);

    // 1. A leader, and every standby streaming from it (one synchronously).
    let mut primary = stack.wait_for_streaming_primary();
    stack.apply_dynamic_config();
    // The dynamic configuration from out/ is what the cluster runs with.
    let max_connections = customer_model.database.parameters["max_connections"].clone();
    for i in 0..3 {
        wait_on(
            &stack,
            Duration::from_secs(60),
            "max_connections from the profile",
            || {
                stack.member_sql(i, "SHOW max_connections").as_deref()
                    == Ok(max_connections.as_str())
            },
        );
    }
    let sync_expected = customer_model.database.synchronous;
    wait_on(
        &stack,
        Duration::from_secs(60),
        "a synchronous standby",
        || {
            let sync = stack
                .streaming(primary)
                .iter()
                .filter(|(_, _, s)| s == "sync")
                .count();
            sync == usize::from(sync_expected)
        },
    );
    let tls = if customer_model.database.tls_secret.is_some() {
        "on"
    } else {
        "off"
    };
    assert_eq!(
        stack.member_sql(primary, "SHOW ssl").as_deref(),
        Ok(tls),
        "TLS from the profile"
    );
    // The roles post-bootstrap.sh created log in; the superuser is not in pool_passwd.
    stack.start_services_and_pgpools(2);
    let nodes = stack.pool_nodes();
    assert_eq!(
        nodes
            .get(&stack.primary_service_port)
            .map(|(_, role, _)| role.as_str()),
        Some("primary"),
        "backend 0 is the primary Service: {nodes:?}"
    );
    assert!(
        stack
            .psql(stack.pgpool_port, "postgres", "postgres", "SELECT 1")
            .is_err(),
        "the superuser cannot log in through Pgpool"
    );
    let remote_superuser = stack.psql(
        stack.members[primary].pg_port,
        "postgres",
        "postgres",
        "SELECT 1",
    );
    assert!(
        remote_superuser
            .as_ref()
            .is_err_and(|e| e.contains("rejects connection")),
        "the superuser logs in only over the local socket: {remote_superuser:?}"
    );

    // 2. Pgpool's live settings are the profile's.
    let pgpool = &customer_model.database.pgpool;
    let expected = [
        (
            "backend_clustering_mode",
            "streaming_replication".to_string(),
        ),
        ("num_init_children", pgpool.num_init_children.to_string()),
        ("max_pool", pgpool.max_pool.to_string()),
        (
            "load_balance_mode",
            if pgpool.load_balance_reads {
                "on"
            } else {
                "off"
            }
            .to_string(),
        ),
        ("failover_on_backend_error", "off".to_string()),
        ("failover_on_backend_shutdown", "off".to_string()),
        ("failover_command", String::new()),
        ("auto_failback", "off".to_string()),
        (
            "disable_load_balance_on_write",
            match pgpool.read_after_write {
                gitopsc::profile::ReadAfterWrite::Session => "always",
                gitopsc::profile::ReadAfterWrite::Transaction => "transaction",
            }
            .to_string(),
        ),
        ("use_watchdog", "off".to_string()),
        ("connection_cache", "on".to_string()),
        ("enable_pool_hba", "on".to_string()),
        ("ssl", tls.to_string()),
    ];
    for (name, value) in &expected {
        assert_eq!(
            stack.pgpool_sql(&format!("PGPOOL SHOW {name}")).as_deref(),
            Ok(value.as_str()),
            "PGPOOL SHOW {name}"
        );
    }

    // Every line of the file Pgpool started with is a setting Pgpool knows and runs with.
    let started = std::fs::read_to_string(stack.base().join("pgpool-0/config/pgpool.conf"))
        .expect("started pgpool.conf");
    let live: BTreeMap<String, String> = stack
        .pgpool_sql("PGPOOL SHOW ALL")
        .expect("PGPOOL SHOW ALL")
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, '|');
            Some((f.next()?.to_string(), f.next()?.to_string()))
        })
        .collect();
    let mut compared = 0;
    let mut differences = Vec::new();
    for line in started.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once('=').expect("name = value");
        let (name, value) = (name.trim(), value.trim().trim_matches('\''));
        compared += 1;
        let value = value.trim();
        match live.get(name).map(|v| v.trim()) {
            Some(shown) if same_setting(name, value, shown) => {}
            shown => differences.push(format!("{name}: file `{value}`, Pgpool {shown:?}")),
        }
    }
    assert!(compared > 50, "compared only {compared} settings");
    assert!(
        differences.is_empty(),
        "PGPOOL SHOW ALL differs from pgpool.conf:\n{}",
        differences.join("\n")
    );

    // 3. Writes land on the primary, reads are balanced over the members.
    stack
        .pgpool_sql("CREATE TABLE acknowledged (id bigint PRIMARY KEY)")
        .expect("create table through Pgpool");
    let primary_port = stack.members[primary].pg_port.to_string();
    assert_eq!(
        stack
            .pgpool_sql(
                "BEGIN; INSERT INTO acknowledged VALUES (0); SELECT inet_server_port(); COMMIT"
            )
            .as_deref(),
        Ok(primary_port.as_str()),
        "a write goes to the primary"
    );
    // Fresh sessions that only read are balanced over the members by the two Services.
    let mut served = BTreeMap::<String, u32>::new();
    for _ in 0..40 {
        let port = stack.pgpool_sql("SELECT inet_server_port()").expect("read");
        *served.entry(port).or_default() += 1;
    }
    if pgpool.load_balance_reads {
        assert!(
            served.len() >= 2,
            "reads spread over the members: {served:?}"
        );
    } else {
        assert_eq!(
            served.keys().collect::<Vec<_>>(),
            vec![&primary_port],
            "without load balancing every read goes to the primary"
        );
    }
    // 3a. Reads after writes: what `readAfterWrite` promises, write then read in a loop in
    // one session (a standby that has not replayed the write would show the previous id).
    if pgpool.read_after_write == gitopsc::profile::ReadAfterWrite::Session {
        stack
            .pgpool_sql("CREATE TABLE written (id bigint PRIMARY KEY)")
            .expect("create table");
        let script: String = (1..=300)
            .map(|n| format!("INSERT INTO written VALUES ({n});\nSELECT max(id) FROM written;\n"))
            .collect();
        let seen = stack.pgpool_sql(&script).expect("write then read");
        let stale: Vec<(usize, &str)> = seen
            .lines()
            .enumerate()
            .filter(|(i, line)| *line != (i + 1).to_string())
            .collect();
        assert_eq!(seen.lines().count(), 300, "{seen}");
        assert!(stale.is_empty(), "stale reads after writes: {stale:?}");
        assert_eq!(
            stack
                .pgpool_sql("INSERT INTO written VALUES (0); SELECT inet_server_port()")
                .as_deref(),
            Ok(primary_port.as_str()),
            "after a write the session reads from the primary"
        );
        eprintln!(
            "{customer} read after write: 300 writes, each read back in its session, 0 stale"
        );
    }

    // 3c. A healthy primary frozen for 20 s (a long pause, a network blip): Pgpool takes no
    // clients meanwhile (readiness), detaches nothing, and serves writes again through
    // every Pgpool soon after the primary answers, with no restart.
    let frozen_name = stack.members[primary].name.clone();
    let frozen = stack.members[primary].freeze();
    let freeze_start = Instant::now();
    std::thread::sleep(Duration::from_secs(8));
    let ready_while_frozen: Vec<bool> = (0..2).map(|k| stack.pgpool_ready(k)).collect();
    std::thread::sleep(Duration::from_secs(20).saturating_sub(freeze_start.elapsed()));
    frozen.thaw();
    let thawed = Instant::now();
    let mut back = [None, None];
    while thawed.elapsed() < Duration::from_secs(60) && back.iter().any(Option::is_none) {
        for (when, port) in back.iter_mut().zip(&stack.pgpool_ports) {
            if when.is_none()
                && stack
                    .psql(
                        *port,
                        "app",
                        "app",
                        "INSERT INTO acknowledged VALUES (-1 - (random() * 1e9)::bigint)",
                    )
                    .is_ok()
            {
                *when = Some(thawed.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let back: Vec<Duration> = back
        .iter()
        .map(|b| {
            b.unwrap_or_else(|| {
                panic!(
                    "writes did not come back after the freeze\n{}",
                    stack.logs()
                )
            })
        })
        .collect();
    let worst = back.iter().max().copied().unwrap_or_default();
    eprintln!(
        "{customer} frozen primary (20 s): ready while frozen {ready_while_frozen:?}, writes through both Pgpools again {:.1} s / {:.1} s after it answered",
        back[0].as_secs_f64(),
        back[1].as_secs_f64()
    );
    assert_eq!(
        ready_while_frozen,
        vec![false, false],
        "a Pgpool that cannot reach a primary must not be ready"
    );
    assert!(
        worst < FROZEN_PRIMARY_RECOVERY,
        "writes came back {worst:?} after the primary did (bound {FROZEN_PRIMARY_RECOVERY:?})"
    );
    wait_on(
        &stack,
        Duration::from_secs(30),
        "both Pgpools ready again",
        || (0..2).all(|k| stack.pgpool_ready(k)),
    );
    assert!(stack.pgpools_running(), "no Pgpool exited or was restarted");
    wait_on(&stack, Duration::from_secs(60), "one primary", || {
        stack.primary().inspect(|p| primary = *p).is_some()
    });
    eprintln!(
        "{customer} after the freeze: primary is {} (it was {})",
        stack.members[primary].name, frozen_name
    );

    // 3b. The reference app, with the compiled Deployment's environment: ready, logged in as
    // `app` with SCRAM (pool_hba.conf allows nothing else), over TLS verified against the
    // database CA for Pgpool's Service name, writing and reading through Pgpool.
    let app_env = stack.start_app();
    assert_eq!(
        app_env["PGHOST"],
        gitopsc::emit::app::database_host(&customer_model),
        "the app is pointed at Pgpool's Service"
    );
    assert_eq!(app_env["PGPORT"], gitopsc::emit::port::PGPOOL.to_string());
    wait_on(&stack, Duration::from_secs(60), "the app ready", || {
        stack
            .app_request("GET", "/readyz", "")
            .is_some_and(|(status, _)| status == 200)
    });
    let (status, session) = stack
        .app_request("GET", "/connection", "")
        .expect("the app answers");
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["user"], "app", "{session}");
    assert_eq!(session["database"], "app", "{session}");
    assert_eq!(
        session["ssl"],
        Value::Bool(tls == "on"),
        "pg_stat_ssl: {session}"
    );
    if tls == "on" {
        assert_eq!(app_env["PGSSLMODE"], "verify-full");
    }
    if tls == "on" {
        // verify-full is in force: the same environment with a host name the certificate
        // does not list is refused by the client, before any password is sent.
        let connect = |host: &str| {
            Command::new("timeout")
                .arg("15")
                .arg(stack.bin.join("psql"))
                .args(["-XAtq", "-c", "SELECT 1"])
                .env_clear()
                .envs(&app_env)
                .env("PGHOST", host)
                .env("PGHOSTADDR", "127.0.0.1")
                .env("PGPORT", stack.pgpool_port.to_string())
                .env(
                    "PGSSLROOTCERT",
                    stack.base().join("tls").join(gitopsc::emit::app::CA_FILE),
                )
                .output()
                .expect("psql runs")
        };
        let listed = connect(&app_env["PGHOST"]);
        assert!(listed.status.success(), "{}", text(&listed.stderr));
        let unlisted = connect("pgpool.elsewhere.svc.cluster.local");
        assert!(
            !unlisted.status.success() && text(&unlisted.stderr).contains("does not match"),
            "a name outside the certificate must be refused: {}",
            text(&unlisted.stderr)
        );
    }
    let (status, created) = stack
        .app_request("POST", "/items", r#"{"value":"first"}"#)
        .expect("the app answers");
    assert_eq!(status, 201, "{created}");
    let first = created["id"].as_i64().expect("an id");
    let (status, read) = stack
        .app_request("GET", &format!("/items/{first}"), "")
        .expect("the app answers");
    assert_eq!((status, read["value"].as_str()), (200, Some("first")));

    // 4. The primary dies under a write load; Patroni promotes the synchronous standby and
    // Pgpool sends the writes there. Every acknowledged insert must survive.
    let mut acknowledged: Vec<u64> = vec![0];
    let mut next = 1u64;
    let write = |stack: &Stack, n: u64| {
        stack
            .pgpool_sql(&format!("INSERT INTO acknowledged VALUES ({n})"))
            .is_ok()
    };
    // The app writes beside psql: each 201 is an acknowledged id.
    let mut app_acknowledged: Vec<i64> = vec![first];
    let app_write = |stack: &Stack| match stack.app_request("POST", "/items", r#"{"value":"load"}"#)
    {
        Some((201, body)) => body["id"].as_i64(),
        _ => None,
    };
    let load_start = Instant::now();
    while load_start.elapsed() < Duration::from_secs(3) {
        if write(&stack, next) {
            acknowledged.push(next);
        }
        next += 1;
        app_acknowledged.extend(app_write(&stack));
    }
    let before_kill = acknowledged.len();
    let killed_at = Instant::now();
    stack.members[primary].kill();
    let mut recovered = None;
    let mut failed_writes = 0u64;
    // The app's view: when its first request failed, and when one succeeded again.
    let mut app_failed_at: Option<Duration> = None;
    let mut app_back: Option<Duration> = None;
    let mut app_failed = 0u64;
    while killed_at.elapsed() < Duration::from_secs(120) {
        if write(&stack, next) {
            acknowledged.push(next);
            if recovered.is_none() && stack.primary().is_some_and(|p| p != primary) {
                recovered = Some(killed_at.elapsed());
            }
        } else {
            failed_writes += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        next += 1;
        match app_write(&stack) {
            Some(id) => {
                app_acknowledged.push(id);
                if app_failed_at.is_some() && app_back.is_none() {
                    app_back = Some(killed_at.elapsed());
                }
            }
            None => {
                app_failed += 1;
                app_failed_at.get_or_insert(killed_at.elapsed());
            }
        }
        if recovered.is_some() && app_back.is_some() && acknowledged.len() > before_kill + 50 {
            break;
        }
    }
    let rto = recovered
        .unwrap_or_else(|| panic!("no write succeeded on a new primary\n{}", stack.logs()));
    let new_primary = stack.primary().expect("one new primary");
    assert_ne!(new_primary, primary);
    let stored: Vec<u64> = stack
        .psql(
            stack.members[new_primary].pg_port,
            "app",
            "app",
            "SELECT id FROM acknowledged ORDER BY id",
        )
        .expect("read on the new primary")
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    let lost: Vec<&u64> = acknowledged
        .iter()
        .filter(|id| stored.binary_search(id).is_err())
        .collect();
    eprintln!(
        "{customer} failover: RTO {:.1} s (kill to first write on the new primary), {} acknowledged writes, {} lost, {failed_writes} refused during failover",
        rto.as_secs_f64(),
        acknowledged.len(),
        lost.len()
    );
    // The app's acknowledged writes, read back through Pgpool by the app itself. Pgpool
    // balances reads onto the standbys, and one that is still catching up with the new
    // primary answers 404 for a write the primary has: a write is lost only if it never
    // shows, so what is missing is asked again for up to 15 s.
    let app_missing = |ids: &[i64]| -> Vec<i64> {
        ids.iter()
            .copied()
            .filter(|id| {
                stack
                    .app_request("GET", &format!("/items/{id}"), "")
                    .is_none_or(|(status, _)| status != 200)
            })
            .collect()
    };
    let mut app_lost = app_missing(&app_acknowledged);
    let asked_again = Instant::now();
    while !app_lost.is_empty() && asked_again.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(500));
        app_lost = app_missing(&app_lost);
    }
    let app_back =
        app_back.unwrap_or_else(|| panic!("the app never wrote again\n{}", stack.logs()));
    let app_failed_at = app_failed_at.unwrap_or_default();
    eprintln!(
        "{customer} app failover: first failed request {:.1} s after the kill, writes again {:.1} s after it (error window {:.1} s), {} acknowledged app writes, {} lost, {app_failed} failed requests",
        app_failed_at.as_secs_f64(),
        app_back.as_secs_f64(),
        (app_back - app_failed_at).as_secs_f64(),
        app_acknowledged.len(),
        app_lost.len()
    );
    if sync_expected {
        assert!(
            lost.is_empty(),
            "synchronous mode lost acknowledged writes: {lost:?}"
        );
        assert!(
            app_lost.is_empty(),
            "synchronous mode lost writes the app acknowledged: {app_lost:?}"
        );
    }

    // 5. The old primary comes back as a standby of the new one, and Pgpool uses it again.
    let old = primary;
    stack.start_member(old);
    let old_name = stack.members[old].name.clone();
    let rejoin = wait_on(
        &stack,
        Duration::from_secs(120),
        "the old primary streaming",
        || {
            stack
                .streaming(new_primary)
                .iter()
                .any(|(name, state, _)| *name == old_name && state == "streaming")
        },
    );
    // Nothing in Pgpool to re-attach: the standbys Service picks the member up, and
    // balanced reads reach it.
    if pgpool.load_balance_reads {
        let old_port = stack.members[old].pg_port.to_string();
        wait_on(
            &stack,
            Duration::from_secs(90),
            "balanced reads on the old primary",
            || stack.pgpool_sql("SELECT inet_server_port()").as_deref() == Ok(old_port.as_str()),
        );
    }
    eprintln!(
        "{customer} rejoin: old primary streaming {:.1} s after restart",
        rejoin.as_secs_f64()
    );

    // 6. SIGTERM (after the preStop delay in a pod): gunicorn finishes and exits cleanly.
    let mut app = stack.app.take().expect("the app runs");
    // SAFETY: kill has no memory preconditions; the child is ours and not yet reaped.
    unsafe {
        libc::kill(app.id() as i32, libc::SIGTERM);
    }
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = app.try_wait().expect("wait") {
            break status;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(20),
            "gunicorn did not stop within its graceful timeout"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "gunicorn exits cleanly on SIGTERM: {status:?}"
    );
    let _ = std::io::stderr().flush();
}

/// The names on the compiled database Certificate (cert-manager's `dnsNames`).
fn certificate_names(customer: &str) -> Vec<String> {
    let model = compiled_model(customer);
    let secret = model.database.tls_secret.expect("TLS on");
    let path = format!("database/certificate-{secret}.yaml");
    let yaml = std::fs::read_to_string(root().join("out").join(customer).join(&path))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    parse_yaml(&yaml)["spec"]["dnsNames"]
        .as_array()
        .expect("dnsNames")
        .iter()
        .map(|n| n.as_str().expect("name").to_string())
        .collect()
}

/// The app container's environment as the compiled Deployment sets it: `env` values, the
/// `app-env` ConfigMap, and each `secretKeyRef` read from the mounted credentials folder.
fn compiled_app_env(customer: &str, credentials: &Path) -> BTreeMap<String, String> {
    let out = root().join("out").join(customer);
    let deployment = parse_yaml(
        &std::fs::read_to_string(out.join("app/deployment-app.yaml")).expect("deployment"),
    );
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let mut env: BTreeMap<String, String> = parse_yaml(
        &std::fs::read_to_string(out.join("app/configmap-app-env.yaml")).expect("app-env"),
    )["data"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    for var in container["env"].as_array().expect("env") {
        let name = var["name"].as_str().expect("name").to_string();
        let value = match var["value"].as_str() {
            Some(value) => value.to_string(),
            None => {
                let key = var["valueFrom"]["secretKeyRef"]["key"]
                    .as_str()
                    .expect("secret ref");
                std::fs::read_to_string(credentials.join(key)).expect("secret key")
            }
        };
        env.insert(name, value);
    }
    env
}

/// The path of the compiled members' readiness probe (Patroni's REST API).
pub(super) fn member_readiness_path(customer: &str) -> String {
    let statefulset = parse_yaml(
        &std::fs::read_to_string(
            root().join(format!("out/{customer}/database/statefulset-postgres.yaml")),
        )
        .expect("the compiled StatefulSet"),
    );
    statefulset["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .find(|c| c["name"] == "postgres")
        .and_then(|c| c["readinessProbe"]["httpGet"]["path"].as_str())
        .expect("the postgres container's readiness path")
        .to_string()
}

/// One HTTP/1.0 request on loopback, bounded by a 10 s timeout: (status, JSON body).
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, Value)> {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: app\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let (_, json) = response.split_once("\r\n\r\n")?;
    Some((status, serde_json::from_str(json).unwrap_or(Value::Null)))
}

/// Whether Pgpool shows `value` of the file as `shown`: Pgpool prints times with a unit
/// (`300` seconds as `5min`) and masks passwords and the pool_passwd path.
fn same_setting(name: &str, value: &str, shown: &str) -> bool {
    if shown == value {
        return true;
    }
    // Pgpool shows only the failover part of a backend's flags (`ALWAYS_PRIMARY|...`).
    if name.starts_with("backend_flag") {
        return value.split('|').any(|flag| flag == shown);
    }
    if shown == "*****" {
        return name.contains("password") || name == "pool_passwd";
    }
    let Ok(number) = value.parse::<f64>() else {
        return false;
    };
    let split = shown
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(shown.len());
    let (digits, unit) = shown.split_at(split);
    let Ok(amount) = digits.parse::<f64>() else {
        return false;
    };
    let milliseconds = match unit {
        "ms" => amount,
        "s" => amount * 1e3,
        "min" => amount * 60e3,
        "h" => amount * 3600e3,
        "d" => amount * 86_400e3,
        _ => return false,
    };
    // The file's number is in the parameter's base unit: seconds or milliseconds.
    milliseconds == number * 1e3 || milliseconds == number
}

/// The model of the customer the test starts, for the values the cluster must show.
/// The data of acme's Patroni ConfigMap compiled from the profile in `work` after `edit`.
pub(super) fn compiled_acme_patroni_files(work: &Path, edit: impl FnOnce(&mut Value)) -> Value {
    let profile = work.join("profiles/acme.yaml");
    let mut document = parse_yaml(&std::fs::read_to_string(&profile).expect("acme.yaml"));
    edit(&mut document);
    std::fs::write(&profile, gitopsc::serialize::to_yaml(&document)).expect("write acme.yaml");
    let fleet = gitopsc::compiler::compile(&[profile], 1);
    assert!(!fleet.has_errors(), "{:?}", fleet.diagnostics);
    let compiled = fleet.customers.into_iter().next().expect("acme");
    let output = compiled.output.expect("compiled output");
    let (_, text) = output
        .files
        .iter()
        .find(|(path, _)| *path == "database/configmap-postgres-patroni.yaml")
        .expect("the Patroni ConfigMap");
    parse_yaml(text)["data"].clone()
}

pub(super) fn compiled_model(customer: &str) -> gitopsc::model::Customer {
    let profile = root().join("profiles").join(format!("{customer}.yaml"));
    let fleet = gitopsc::compiler::compile(&[profile], 1);
    assert!(!fleet.has_errors(), "{:?}", fleet.diagnostics);
    fleet
        .customers
        .into_iter()
        .next()
        .expect("one customer")
        .customer
        .map(|customer| *customer)
        .expect("compiled model")
}

/// A new database image changes the members' containers and nothing else of the
/// StatefulSet: the pods roll one at a time, and the volume claims (which a StatefulSet
/// can never change) stay exactly as they were, retained on delete and scale-down.
#[test]
fn image_change_rolls_the_members_and_keeps_the_volumes() {
    let work = super::workspace("image-change");
    let statefulset = |dir: &Path| -> Value {
        let fleet = gitopsc::compiler::compile(&[dir.join("profiles/acme.yaml")], 1);
        assert!(!fleet.has_errors(), "{:?}", fleet.diagnostics);
        let compiled = fleet.customers.into_iter().next().expect("acme");
        let text = &compiled
            .output
            .as_ref()
            .expect("compiled output")
            .files
            .iter()
            .find(|(path, _)| *path == "database/statefulset-postgres.yaml")
            .expect("the StatefulSet")
            .1;
        parse_yaml(text)
    };
    let before = statefulset(work.path());
    let defaults = work.path().join("profiles/_defaults.yaml");
    let old_digest = "2b4d6f8a0c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d";
    let new_digest = "0000000000000000000000000000000000000000000000000000000000000001";
    let text = std::fs::read_to_string(&defaults).expect("defaults");
    assert!(text.contains(old_digest), "the shipped database image");
    std::fs::write(&defaults, text.replace(old_digest, new_digest)).expect("write");
    let after = statefulset(work.path());

    let spec = |v: &Value, pointer: &str| v.pointer(pointer).cloned().expect(pointer);
    for pointer in [
        "/spec/volumeClaimTemplates",
        "/spec/persistentVolumeClaimRetentionPolicy",
        "/spec/selector",
        "/spec/serviceName",
        "/spec/updateStrategy",
        "/spec/template/metadata",
    ] {
        assert_eq!(spec(&before, pointer), spec(&after, pointer), "{pointer}");
    }
    assert_eq!(
        spec(&after, "/spec/persistentVolumeClaimRetentionPolicy"),
        serde_json::json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    assert_eq!(
        spec(&after, "/spec/updateStrategy/type"),
        Value::String("RollingUpdate".into())
    );
    // Only the images differ, and each now names the new digest.
    let mut changed = before.clone();
    for container in changed["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .expect("containers")
    {
        let image = container["image"]
            .as_str()
            .expect("image")
            .replace(old_digest, new_digest);
        container["image"] = Value::String(image);
    }
    assert_ne!(before, after, "the image change reaches the StatefulSet");
    assert_eq!(changed, after, "nothing but the images changed");
}
