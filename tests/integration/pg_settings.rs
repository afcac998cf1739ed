//! The committed PostgreSQL parameter table against the installed server's `pg_settings`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{TempDir, text, tools_required};

/// The newest installed PostgreSQL server's bin folder (Debian layout, or pg_config).
pub fn server_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("postgres").is_file())
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// Runs a server binary as a user PostgreSQL accepts: `postgres` when we are root.
pub fn as_db_user(program: &Path) -> Command {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

struct Server {
    bin: PathBuf,
    data: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = as_db_user(&self.bin.join("pg_ctl"))
            .args(["-D"])
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

#[test]
fn table_matches_the_installed_servers_pg_settings() {
    let Some(bin) = server_bin() else {
        assert!(
            !tools_required(),
            "PostgreSQL is required (GITOPSC_REQUIRE_TOOLS=1) but not installed"
        );
        eprintln!("skipped: postgres not installed");
        return;
    };
    let work = TempDir::new("pg-settings");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let status = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(work.path())
            .status()
            .expect("chown");
        assert!(status.success());
    }
    let data = work.path().join("data");
    let init = as_db_user(&bin.join("initdb"))
        .args(["-D"])
        .arg(&data)
        .args(["-A", "trust", "--no-sync", "-U", "postgres"])
        .output()
        .expect("initdb runs");
    assert!(init.status.success(), "initdb: {}", text(&init.stderr));
    let server = Server {
        bin: bin.clone(),
        data: data.clone(),
    };
    let socket = work.path().to_str().expect("utf-8").to_string();
    let start = as_db_user(&bin.join("pg_ctl"))
        .args(["-D"])
        .arg(&data)
        .args(["-w", "-t", "60", "-l"])
        .arg(work.path().join("server.log"))
        .args([
            "-o",
            &format!("-p 5999 -k {socket} -c listen_addresses=''"),
            "start",
        ])
        .output()
        .expect("pg_ctl runs");
    assert!(
        start.status.success(),
        "pg_ctl start: {}{}",
        text(&start.stdout),
        text(&start.stderr)
    );
    let query = "select name, vartype, coalesce(unit,''), coalesce(min_val,''), coalesce(max_val,''), \
                 coalesce(array_to_string(enumvals, ','),'') from pg_settings \
                 where context <> 'internal' and name not like '%.%' order by name";
    let psql = as_db_user(&bin.join("psql"))
        .args([
            "-h", &socket, "-p", "5999", "-U", "postgres", "-d", "postgres", "-AtF", "\t", "-c",
            query,
        ])
        .output()
        .expect("psql runs");
    assert!(psql.status.success(), "psql: {}", text(&psql.stderr));
    let version_output = as_db_user(&bin.join("postgres"))
        .arg("--version")
        .output()
        .expect("postgres --version");
    let version: u32 = text(&version_output.stdout)
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.split('.').next())
        .and_then(|v| v.parse().ok())
        .expect("a version number");
    drop(server);

    let live: Vec<String> = text(&psql.stdout).lines().map(str::to_string).collect();
    let committed: Vec<String> = include_str!("../../src/data/pg_settings.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let since: u32 = fields.get(6)?.parse().ok()?;
            let until: Option<u32> = fields.get(7).and_then(|u| u.parse().ok());
            (since <= version && until.is_none_or(|u| version <= u)).then(|| fields[..6].join("\t"))
        })
        .collect();
    assert!(live.len() > 300, "pg_settings returned {} rows", live.len());
    let missing: Vec<_> = live.iter().filter(|l| !committed.contains(l)).collect();
    let extra: Vec<_> = committed.iter().filter(|l| !live.contains(l)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "src/data/pg_settings.tsv differs from PostgreSQL {version}:\nmissing or different: {missing:#?}\nnot in the server: {extra:#?}"
    );
    // The checker agrees with the server on the values it knows.
    assert!(gitopsc::pgsettings::check(version, "shared_buffers", "1GB").is_ok());
    assert!(gitopsc::pgsettings::check(version, "shared_buffers", "1gb").is_err());
}

/// A PostgreSQL server on a loopback port, stopped when dropped.
pub struct LocalServer {
    pub bin: PathBuf,
    pub data: PathBuf,
    pub port: u16,
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = as_db_user(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

impl LocalServer {
    pub fn start(bin: &Path, data: &Path, log: &Path, socket: &Path) -> LocalServer {
        let server = LocalServer {
            bin: bin.to_path_buf(),
            data: data.to_path_buf(),
            port: super::free_port(),
        };
        let start = as_db_user(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(data)
            .args(["-w", "-t", "120", "-l"])
            .arg(log)
            .args([
                "-o",
                &format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1",
                    server.port,
                    socket.display()
                ),
                "start",
            ])
            .output()
            .expect("pg_ctl");
        assert!(
            start.status.success(),
            "pg_ctl start: {}{}\n{}",
            text(&start.stdout),
            text(&start.stderr),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        server
    }

    /// A new cluster in `work/data` (trust authentication, superuser `postgres`), started.
    pub fn init_and_start(bin: &Path, work: &Path) -> LocalServer {
        super::chown_to_postgres(work);
        let data = work.join("data");
        let init = as_db_user(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "--no-sync", "-U", "postgres"])
            .output()
            .expect("initdb runs");
        assert!(init.status.success(), "initdb: {}", text(&init.stderr));
        LocalServer::start(bin, &data, &work.join("server.log"), work)
    }

    pub fn sql(&self, database: &str, sql: &str) -> Result<String, String> {
        let output = Command::new(self.bin.join("psql"))
            .arg(format!(
                "host=127.0.0.1 port={} user=postgres dbname={database} sslmode=disable connect_timeout=5",
                self.port
            ))
            .args(["-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("psql");
        if output.status.success() {
            Ok(text(&output.stdout).trim().to_string())
        } else {
            Err(text(&output.stderr))
        }
    }
}
