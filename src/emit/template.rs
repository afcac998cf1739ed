//! The text files inside ConfigMaps (scripts, `pgpool.conf`, `pool_hba.conf`): minijinja
//! templates compiled into the binary from `emit/templates/`.

/// The text files inside ConfigMaps, as minijinja templates (`emit/templates/`).
const TEMPLATES: &[(&str, &str)] = &[
    (
        "apply-config.sh",
        include_str!("templates/apply-config.sh.j2"),
    ),
    (
        "certificates.py",
        include_str!("templates/certificates.py.j2"),
    ),
    (
        "pgbackrest.conf",
        include_str!("templates/pgbackrest.conf.j2"),
    ),
    (
        "pgbackrest-backup.sh",
        include_str!("templates/pgbackrest-backup.sh.j2"),
    ),
    (
        "pgbackrest-restore.sh",
        include_str!("templates/pgbackrest-restore.sh.j2"),
    ),
    (
        "pgbackrest-restore-test.sh",
        include_str!("templates/pgbackrest-restore-test.sh.j2"),
    ),
    (
        "major-upgrade.py",
        include_str!("templates/major-upgrade.py.j2"),
    ),
    ("passwords.py", include_str!("templates/passwords.py.j2")),
    ("pgpool.conf", include_str!("templates/pgpool.conf.j2")),
    (
        "pgpool-ready.sh",
        include_str!("templates/pgpool-ready.sh.j2"),
    ),
    ("pool_hba.conf", include_str!("templates/pool_hba.conf.j2")),
    ("snapshot.sh", include_str!("templates/snapshot.sh.j2")),
    (
        "start-exporter.sh",
        include_str!("templates/start-exporter.sh.j2"),
    ),
    (
        "start-patroni.sh",
        include_str!("templates/start-patroni.sh.j2"),
    ),
    (
        "start-pgpool.sh",
        include_str!("templates/start-pgpool.sh.j2"),
    ),
];

/// Renders one of `TEMPLATES` with strict undefined-variable behaviour, so a template that
/// names a value the emitter did not pass fails instead of writing an empty string. The
/// templates are parsed once per process.
pub fn render_template(name: &str, context: minijinja::Value) -> String {
    static ENVIRONMENT: std::sync::OnceLock<minijinja::Environment<'static>> =
        std::sync::OnceLock::new();
    let environment = ENVIRONMENT.get_or_init(|| {
        let mut environment = minijinja::Environment::new();
        environment.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        environment.set_keep_trailing_newline(true);
        environment.set_trim_blocks(true);
        environment.set_lstrip_blocks(true);
        for (name, source) in TEMPLATES {
            // Compiled into the binary and rendered by every test: a failure is a bug in
            // gitopsc, never something a profile can cause.
            environment
                .add_template(name, source)
                .unwrap_or_else(|e| panic!("template {name}: {e:#}"));
        }
        environment
    });
    environment
        .get_template(name)
        .and_then(|template| template.render(context))
        .unwrap_or_else(|e| panic!("template {name}: {e:#}"))
}
