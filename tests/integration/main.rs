//! The one integration test binary: fixtures, CLI contract, output contract, conformance.

mod access;
mod audit;
mod backup;
mod cache;
mod cli;
mod conformance;
mod contract;
mod database;
mod day2;
mod delivery;
mod everyday;
mod fixtures;
mod guard;
mod helm;
#[path = "../support/fleet.rs"]
mod fleet;
mod link;
mod monitoring;
mod netpol;
mod pg_settings;
mod properties;
mod queue;
mod restore;
mod robustness;
mod secrets;
mod serialize;
mod structure;
mod terraform;
mod upgrade;
mod zero_downtime;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The compiled `gitopsc` binary, run in `dir`.
pub fn gitopsc(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gitopsc"));
    command.current_dir(dir).env_remove("NO_COLOR");
    command
}

/// Runs gitopsc with `args` in `dir` and returns its output.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    gitopsc(dir).args(args).output().expect("gitopsc runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A folder under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "gitopsc-test-{}-{}-{name}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A work folder holding a copy of the shipped profiles.
pub fn workspace(name: &str) -> TempDir {
    let work = TempDir::new(name);
    copy_tree(&root().join("profiles"), &work.path().join("profiles"));
    work
}

/// Runs gitopsc and requires exit 0.
pub fn render_ok(dir: &Path, args: &[&str]) {
    let output = run(dir, args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        text(&output.stderr)
    );
}

/// Every profile folder that must compile: the shipped fleet and each valid fixture.
pub fn profile_folders() -> Vec<PathBuf> {
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures/valid"))
        .expect("fixtures")
        .flatten()
        .map(|e| e.path())
        .collect();
    fixtures.sort();
    let mut folders = vec![root().join("profiles")];
    folders.extend(fixtures);
    folders
}

/// Copies a folder tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create target");
    for entry in std::fs::read_dir(from).expect("read source") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// Every file below `dir` as (relative path, bytes), sorted.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let relative = path
                    .strip_prefix(base)
                    .expect("below base")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((relative, std::fs::read(&path).expect("read")));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Parses one YAML document with gitopsc's own loader; any diagnostic fails the test.
pub fn parse_yaml(yaml: &str) -> serde_json::Value {
    let mut diagnostics = Vec::new();
    let (_, node) = gitopsc::load::parse_bytes(
        "test.yaml".into(),
        yaml.as_bytes().to_vec(),
        &mut diagnostics,
    );
    assert!(
        diagnostics.is_empty(),
        "unreadable YAML:\n{yaml}\n{diagnostics:?}"
    );
    node.expect("a document").to_json()
}

/// A Python that can import `modules` (the venv's, else PATH's), or a skip notice.
pub fn python_with(modules: &str) -> Option<PathBuf> {
    let venv = root().join(".venv/bin/python3");
    let python = if venv.is_file() {
        venv
    } else {
        tool("python3")?
    };
    let probe = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output()
        .expect("python runs");
    if !probe.status.success() {
        assert!(
            !tools_required(),
            "python modules {modules} are required (GITOPSC_REQUIRE_TOOLS=1)"
        );
        eprintln!("skipped: python modules {modules} not installed");
        return None;
    }
    Some(python)
}

/// Whether external tools are required (set by scripts/test.sh): then a missing tool fails.
pub fn tools_required() -> bool {
    std::env::var("GITOPSC_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// A tool from the project's venv (`.venv/bin`) or PATH; `None` prints why it is skipped,
/// and panics instead when tools are required.
pub fn tool(name: &str) -> Option<PathBuf> {
    let venv = root().join(".venv/bin").join(name);
    if venv.is_file() {
        return Some(venv);
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    assert!(
        !tools_required(),
        "{name} is required (GITOPSC_REQUIRE_TOOLS=1) but not installed"
    );
    eprintln!("skipped: {name} not installed");
    None
}

/// A loopback port nobody listens on right now, never handed out twice in one run: a test
/// that kills a server and starts it again on its port (a member coming back) must find
/// the port still free, so ports come from a counter below the kernel's ephemeral range
/// (32768 and up, where `bind(0)` and outgoing connections take theirs), skipping any
/// that something else holds.
pub fn free_port() -> u16 {
    const FIRST: usize = 10_000;
    const LAST: usize = 32_000;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    // Test processes that run at once (two checkouts) start far apart.
    let start = (std::process::id() as usize % 20) * 1_000;
    for _ in 0..LAST - FIRST {
        let offset = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % (LAST - FIRST);
        let port = u16::try_from(FIRST + offset).expect("a port");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between {FIRST} and {LAST}")
}

/// Hands `path` to the `postgres` user when we are root, so the servers we start as
/// `postgres` can use it.
pub fn chown_to_postgres(path: &Path) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .expect("chown");
        assert!(status.success());
    }
}

/// Whether servers can be started as `postgres` (we are root or postgres); otherwise a
/// skip notice, or a failure when tools are required.
pub fn can_run_as_postgres(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let able =
        unsafe { libc::geteuid() } == 0 || std::env::var("USER").as_deref() == Ok("postgres");
    if !able {
        assert!(
            !tools_required(),
            "the {test} test runs PostgreSQL as `postgres`: run it as root or postgres"
        );
        eprintln!("skipped: {test} needs root or the postgres user");
    }
    able
}

/// One customer of `compiled_customers`, by name.
pub fn compiled_customer(name: &str) -> gitopsc::compiler::Compiled {
    compiled_customers()
        .into_iter()
        .find(|c| c.member.name == name)
        .unwrap_or_else(|| panic!("customer {name} compiles"))
}

/// The model of a customer compiled in process (`compile` keeps it with the output).
pub fn model(compiled: &gitopsc::compiler::Compiled) -> &gitopsc::model::Customer {
    compiled.customer.as_deref().expect("compiled model")
}

/// The files of a customer compiled in process, by path in `out/<customer>/`.
pub fn compiled_files(
    compiled: &gitopsc::compiler::Compiled,
) -> &std::collections::BTreeMap<String, String> {
    &compiled.output.as_ref().expect("compiled output").files
}

/// The objects of a customer compiled in process, as (path in `out/<customer>/`, object).
pub fn compiled_objects(
    compiled: &gitopsc::compiler::Compiled,
) -> Vec<(String, serde_json::Value)> {
    compiled_files(compiled)
        .iter()
        .filter(|(path, _)| path.ends_with(".yaml") && *path != "kustomization.yaml")
        .map(|(path, text)| (path.clone(), parse_yaml(text)))
        .collect()
}

/// The text of one file of a customer compiled in process, by its path in `out/<customer>/`.
pub fn compiled_file<'a>(compiled: &'a gitopsc::compiler::Compiled, path: &str) -> Option<&'a str> {
    compiled_files(compiled)
        .iter()
        .find(|(p, _)| p.as_str() == path)
        .map(|(_, text)| text.as_str())
}

/// Every customer of the shipped profiles and the valid fixtures, compiled in process.
pub fn compiled_customers() -> Vec<gitopsc::compiler::Compiled> {
    let files = gitopsc::compiler::discover(&profile_folders())
        .expect("profiles")
        .files;
    let fleet = gitopsc::compiler::compile(&files, 2);
    assert!(!fleet.has_errors(), "{:?}", fleet.diagnostics);
    fleet.customers
}
