//! What gitopsc knows of Patroni's handling of PostgreSQL parameters, shared by the checks
//! (which refuse what Patroni would override or ignore) and the emitter (which puts each
//! parameter where Patroni reads it). Beside `pgsettings.rs`, PostgreSQL's own rules.

/// Parameters PostgreSQL reads only from Patroni's DCS copy, never from the local file
/// (Patroni's `CMDLINE_OPTIONS`); they go to `bootstrap.dcs`.
pub const DCS_ONLY: &[&str] = &[
    "max_connections",
    "max_locks_per_transaction",
    "max_prepared_transactions",
    "max_replication_slots",
    "max_wal_senders",
    "max_worker_processes",
    "track_commit_timestamp",
    "wal_keep_size",
    "wal_level",
];
/// Parameters gitopsc sets itself; a profile may not (the checks report E0321).
pub const MANAGED_PARAMETERS: &[&str] = &[
    "cluster_name",
    "config_file",
    "data_directory",
    "hba_file",
    "hot_standby",
    "ident_file",
    "listen_addresses",
    "password_encryption",
    "port",
    "primary_conninfo",
    "primary_slot_name",
    "ssl",
    "ssl_ca_file",
    "ssl_cert_file",
    "ssl_key_file",
    "synchronous_standby_names",
    "unix_socket_directories",
    "wal_log_hints",
];

/// Parameters gitopsc sets when the WAL archive is on (`emit::archive::parameters`, in this
/// order); a profile with the archive may not set them (E0321).
pub const ARCHIVE_PARAMETERS: [&str; 3] = ["archive_mode", "archive_command", "archive_timeout"];

/// Patroni's own bounds for the parameters it passes on the command line
/// (patroni/postgresql/config.py, `CMDLINE_OPTIONS`): a value outside them is silently
/// replaced by Patroni's default. `(Some(minimum), _)` for integers, `(None, allowed)` else.
pub fn floor(name: &str) -> Option<(Option<i64>, &'static [&'static str])> {
    Some(match name {
        "max_connections" => (Some(25), &[]),
        "max_wal_senders" => (Some(3), &[]),
        "max_replication_slots" => (Some(4), &[]),
        "max_worker_processes" => (Some(2), &[]),
        "max_locks_per_transaction" => (Some(32), &[]),
        "max_prepared_transactions" => (Some(0), &[]),
        "wal_level" => (None, &["replica", "logical"]),
        _ => return None,
    })
}
