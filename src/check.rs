//! Stage 3b: rules the JSON Schema cannot express, each with its own diagnostic code.
//!
//! Checks read the typed profile and point at the merged tree's locations, so a bad value
//! inherited from `_defaults.yaml` is reported at its line in `_defaults.yaml`.

use std::collections::BTreeMap;

use crate::cidr::{Cidr, parse_cidr};
use crate::diag::{Code, Diagnostic};
use crate::load::Node;
use crate::model::{defaults, locate};
use crate::pgsettings;
use crate::profile::{Profile, Quantity};

struct Checker<'a> {
    root: &'a Node,
    diagnostics: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn error(
        &mut self,
        code: Code,
        pointer: &str,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.report(Diagnostic::error(code, message), pointer, help.into());
    }

    fn warning(
        &mut self,
        code: Code,
        pointer: &str,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.report(Diagnostic::warning(code, message), pointer, help.into());
    }

    fn report(&mut self, diagnostic: Diagnostic, pointer: &str, help: String) {
        let mut diagnostic = diagnostic
            .at(locate(self.root, pointer))
            .field(crate::validate::dotted(pointer));
        if !help.is_empty() {
            diagnostic = diagnostic.help(help);
        }
        self.diagnostics.push(diagnostic);
    }
}

/// Every semantic problem of one schema-valid profile.
pub fn check(profile: &Profile, root: &Node) -> Vec<Diagnostic> {
    let mut c = Checker {
        root,
        diagnostics: Vec::new(),
    };
    if let Some(metadata) = &profile.metadata {
        if let Some(name) = &metadata.name {
            dns_label(&mut c, "/metadata/name", name, "customer name");
        }
        labels(&mut c, "/metadata/labels", metadata.labels.iter().flatten());
    }
    let Some(spec) = &profile.spec else {
        return c.diagnostics;
    };
    if let Some(selector) = spec
        .monitoring
        .as_ref()
        .and_then(|m| m.selector_labels.as_ref())
    {
        labels(&mut c, "/spec/monitoring/selectorLabels", selector);
    }
    if let Some(namespace) = &spec.namespace {
        dns_label(&mut c, "/spec/namespace", namespace, "namespace");
    }
    if let Some(gcp) = &spec.gcp {
        if let Some(project) = &gcp.project_id {
            let ok = (6..=30).contains(&project.len())
                && project.starts_with(|ch: char| ch.is_ascii_lowercase())
                && !project.ends_with('-')
                && project
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                c.error(
                    Code::InvalidField,
                    "/spec/gcp/projectId",
                    format!("`{project}` is not a GCP project ID"),
                    "6–30 characters: lowercase letters, digits and `-`, starting with a letter",
                );
            }
        }
    }
    if let Some(app) = &spec.app {
        check_app(&mut c, app);
    }
    if let Some(access) = &spec.access {
        check_access(&mut c, access);
    }
    if let Some(monitoring) = &spec.monitoring {
        for (field, image) in [
            ("postgresExporterImage", &monitoring.postgres_exporter_image),
            ("pgpoolExporterImage", &monitoring.pgpool_exporter_image),
        ] {
            if let Some(image) = image {
                check_image(&mut c, &format!("/spec/monitoring/{field}"), image, None);
            }
        }
    }
    if let Some(database) = &spec.database {
        let pools: Vec<String> = spec
            .infrastructure
            .as_ref()
            .and_then(|i| i.node_pools.as_ref())
            .map(|pools| pools.iter().filter_map(|p| p.name.clone()).collect())
            .unwrap_or_default();
        check_database(&mut c, database, &pools);
    }
    if let Some(snapshots) = spec.backup.as_ref().and_then(|b| b.snapshots.as_ref()) {
        // No opt-out: the snapshot job runs as the backup role against the primary.
        if let Some(image) = &snapshots.image {
            check_image(&mut c, "/spec/backup/snapshots/image", image, None);
        }
        if let Some(class) = &snapshots.volume_snapshot_class_name {
            object_name(
                &mut c,
                "/spec/backup/snapshots/volumeSnapshotClassName",
                class,
            );
        }
        if let Some(schedule) = &snapshots.schedule {
            if let Err(why) = cron(schedule) {
                c.error(
                    Code::InvalidCron,
                    "/spec/backup/snapshots/schedule",
                    format!("`{schedule}` is not a valid cron schedule: {why}"),
                    "five fields: minute hour day-of-month month day-of-week, e.g. `0 */6 * * *`",
                );
            }
        }
    }
    if let Some(argocd) = &spec.argocd {
        if let Some(url) = &argocd.repo_url {
            let ok =
                url.starts_with("https://") || url.starts_with("ssh://") || url.starts_with("git@");
            if !ok || url.contains(char::is_whitespace) {
                c.error(
                    Code::InvalidField,
                    "/spec/argocd/repoURL",
                    format!("`{url}` is not a Git repository URL"),
                    "use an https:// or ssh:// URL (or git@host:path)",
                );
            }
        }
        if let Some(destination) = &argocd.destination {
            if destination.name.is_some() && destination.server.is_some() {
                c.error(
                    Code::AmbiguousDestination,
                    "/spec/argocd/destination/name",
                    "`destination` names both a registered cluster (`name`) and a `server`",
                    "keep one: `name` for a cluster registered in Argo CD, `server` for its API URL; neither means the cluster Argo CD runs in",
                );
            }
        }
    }
    if let Some(infrastructure) = &spec.infrastructure {
        if let Some(cluster) = &infrastructure.cluster {
            if let Some(name) = &cluster.name {
                dns_label(
                    &mut c,
                    "/spec/infrastructure/cluster/name",
                    name,
                    "cluster name",
                );
            }
            cidrs(
                &mut c,
                "/spec/infrastructure/cluster/masterAuthorizedNetworks",
                cluster.master_authorized_networks.as_deref(),
            );
            if let Some(block) = &cluster.master_ipv4_cidr_block {
                let pointer = "/spec/infrastructure/cluster/masterIpv4CidrBlock";
                match parse_cidr(block) {
                    Err(why) => c.error(
                        Code::InvalidCidr,
                        pointer,
                        format!("`{block}` is not a CIDR range: {why}"),
                        "GKE takes a private /28, e.g. `172.16.0.0/28`",
                    ),
                    Ok(cidr) if !matches!(cidr.prefix, 28 | 32) || !cidr.address.is_ipv4() => c
                        .error(
                            Code::InvalidCidr,
                            pointer,
                            format!("`{block}` is neither an IPv4 /28 nor a /32"),
                            "a private cluster's control plane has a /28, e.g. `172.16.0.0/28`; \
                             a Private Service Connect cluster's endpoint is one address (/32)",
                        ),
                    Ok(_) => {}
                }
            }
        }
        for (i, pool) in infrastructure.node_pools.iter().flatten().enumerate() {
            if let Some(name) = &pool.name {
                dns_label(
                    &mut c,
                    &format!("/spec/infrastructure/nodePools/{i}/name"),
                    name,
                    "node pool name",
                );
            }
            if let (Some(min), Some(max)) = (pool.min_nodes, pool.max_nodes) {
                if min > max {
                    c.error(
                        Code::ReplicaBounds,
                        &format!("/spec/infrastructure/nodePools/{i}/minNodes"),
                        format!("minNodes ({min}) is greater than maxNodes ({max})"),
                        "lower minNodes or raise maxNodes",
                    );
                }
            }
        }
    }
    c.diagnostics
}

fn check_app(c: &mut Checker<'_>, app: &crate::profile::App) {
    if let Some(image) = &app.image {
        check_image(
            c,
            "/spec/app/image",
            image,
            Some(app.allow_unpinned_image.unwrap_or(false)),
        );
    }
    if let Some(resources) = &app.resources {
        check_resources(c, "/spec/app/resources", resources);
    }
    if let Some(account) = app
        .workload_identity
        .as_ref()
        .and_then(|w| w.gcp_service_account.as_ref())
    {
        gcp_service_account(c, "/spec/app/workloadIdentity/gcpServiceAccount", account);
    }
    // The connection variables and the profile's own `env` share one environment.
    let names = crate::model::DatabaseEnv::from_profile(app.database_env.as_ref());
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (field, name) in names.fields() {
        let pointer = format!("/spec/app/databaseEnv/{field}");
        if let Some(first) = seen.insert(name, field) {
            c.error(
                Code::InvalidField,
                &pointer,
                format!("`{name}` carries both `{first}` and `{field}`"),
                "give each connection variable its own name",
            );
        }
        if app.env.as_ref().is_some_and(|env| env.contains_key(name)) {
            c.error(
                Code::InvalidField,
                &format!("/spec/app/env/{name}"),
                format!("`{name}` is the database connection's `{field}` variable"),
                "gitopsc sets it from the database tier; remove it from `env` or rename the \
                 connection variable in `databaseEnv`",
            );
        }
    }
    for (name, value) in app.env.iter().flatten() {
        let pointer = format!("/spec/app/env/{}", crate::load::escape_segment(name));
        let valid = name.starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            c.error(
                Code::InvalidField,
                &pointer,
                format!("`{name}` is not an environment variable name"),
                "letters, digits and `_`, not starting with a digit",
            );
        }
        if looks_like_secret(name) || looks_like_secret_value(value) {
            c.error(
                Code::SecretInProfile,
                &pointer,
                format!("`{name}` looks like a credential"),
                "secrets never go in a profile: keep them in Secret Manager and reference them",
            );
        }
    }
    for (field, path) in [
        (
            "readinessPath",
            app.probes.as_ref().and_then(|p| p.readiness_path.as_ref()),
        ),
        (
            "livenessPath",
            app.probes.as_ref().and_then(|p| p.liveness_path.as_ref()),
        ),
        (
            "startupPath",
            app.probes.as_ref().and_then(|p| p.startup_path.as_ref()),
        ),
    ] {
        if let Some(path) = path {
            if !path.starts_with('/') || path.contains(char::is_whitespace) {
                c.error(
                    Code::InvalidField,
                    &format!("/spec/app/probes/{field}"),
                    format!("`{path}` is not an HTTP path"),
                    "an absolute path such as `/healthz`",
                );
            }
        }
    }
}

/// Rules between fields, on the effective values (every default applied once, by the
/// model): a rollout that can progress without taking capacity away, and a shutdown that
/// fits its grace period. Reported at the profile's lines like every other check.
pub fn effective(customer: &crate::model::Customer, root: &Node) -> Vec<Diagnostic> {
    let mut c = Checker {
        root,
        diagnostics: Vec::new(),
    };
    let c = &mut c;
    let app = &customer.app;
    if let crate::model::Scaling::Auto { min, max, .. } = app.scaling {
        if min > max {
            c.error(
                Code::ReplicaBounds,
                "/spec/app/autoscaling/minReplicas",
                format!("minReplicas ({min}) is greater than maxReplicas ({max})"),
                "lower minReplicas or raise maxReplicas",
            );
        }
    }
    let (surge, unavailable) = (app.max_surge, app.max_unavailable);
    if surge == 0 && unavailable == 0 {
        c.error(
            Code::InvalidRollout,
            "/spec/app/rollout/maxSurge",
            "maxSurge and maxUnavailable are both 0, so a rollout can never progress",
            "set maxSurge to 1 or more",
        );
    } else if unavailable > 0 {
        c.error(
            Code::InvalidRollout,
            "/spec/app/rollout/maxUnavailable",
            format!("maxUnavailable is {unavailable}: rollouts take serving pods away before their replacements are ready"),
            "set maxUnavailable to 0 (and maxSurge to 1 or more): a new pod must be ready before an old one goes",
        );
    }
    // Zero-downtime shutdown (docs/access.md): keep serving until the load balancer has
    // stopped sending, then finish in-flight requests, all inside the grace period, which
    // also bounds the BackendConfig's connection draining.
    let (grace, delay, shutdown) = (
        app.termination_grace_seconds,
        app.pre_stop_delay_seconds,
        app.shutdown_seconds,
    );
    if delay < defaults::MIN_PRE_STOP_DELAY_SECONDS {
        c.error(
            Code::InvalidRollout,
            "/spec/app/preStopDelaySeconds",
            format!(
                "preStopDelaySeconds ({delay}) is shorter than the {} s a pod takes to leave the load balancer",
                defaults::MIN_PRE_STOP_DELAY_SECONDS
            ),
            format!(
                "set preStopDelaySeconds to {} or more",
                defaults::MIN_PRE_STOP_DELAY_SECONDS
            ),
        );
    }
    if grace < delay + shutdown {
        c.error(
            Code::InvalidRollout,
            "/spec/app/terminationGracePeriodSeconds",
            format!(
                "terminationGracePeriodSeconds ({grace}) is less than preStopDelaySeconds ({delay}) + shutdownSeconds ({shutdown})"
            ),
            format!(
                "raise terminationGracePeriodSeconds to {} or more, or lower preStopDelaySeconds or shutdownSeconds",
                delay + shutdown
            ),
        );
    }
    check_parameters(c, &customer.database);
    check_pgpool_budget(c, &customer.database);
    // Synchronous replication that a single lost member turns off.
    let replicas = customer.database.replicas;
    if customer.database.synchronous && replicas < 3 {
        c.warning(
            Code::FewSyncReplicas,
            "/spec/database/replicas",
            if replicas == 1 {
                "synchronous mode with 1 member: no standby can confirm a commit".to_string()
            } else {
                format!("synchronous mode with {replicas} members: losing one standby leaves commits unprotected")
            },
            "run 3 members so one standby can fail while commits stay synchronous",
        );
    }
    std::mem::take(&mut c.diagnostics)
}

fn check_access(c: &mut Checker<'_>, access: &crate::profile::Access) {
    if let Some(internal) = &access.internal {
        allow_list(
            c,
            "/spec/access/internal",
            internal.enabled.unwrap_or(false),
            internal.allowed_source_ranges.as_deref(),
        );
    }
    let Some(external) = &access.external else {
        return;
    };
    let enabled = external.enabled.unwrap_or(false);
    allow_list(
        c,
        "/spec/access/external",
        enabled,
        external.allowed_source_ranges.as_deref(),
    );
    let managed = external.tls.unwrap_or(crate::profile::TlsSource::Managed)
        == crate::profile::TlsSource::Managed;
    for (i, host) in external.hosts.iter().flatten().enumerate() {
        let pointer = format!("/spec/access/external/hosts/{i}");
        if !is_hostname(host) {
            c.error(
                Code::InvalidHostname,
                &pointer,
                format!("`{host}` is not a valid DNS host name"),
                "labels of letters, digits and `-`, separated by dots, e.g. `api.acme.example.com`",
            );
        } else if managed && host.len() > 63 {
            c.error(
                Code::InvalidHostname,
                &pointer,
                format!(
                    "`{host}` is longer than the 63 characters a Google-managed certificate accepts"
                ),
                "use a shorter host name, or `tls: secret` with your own certificate",
            );
        }
    }
    if let Some(secret) = &external.tls_secret_name {
        object_name(c, "/spec/access/external/tlsSecretName", secret);
    }
    if external.tls == Some(crate::profile::TlsSource::Secret) && external.tls_secret_name.is_none()
    {
        c.error(
            Code::MissingField,
            "/spec/access/external/tls",
            "`tls: secret` needs `tlsSecretName`",
            "name the kubernetes.io/tls Secret that holds the certificate",
        );
    }
    if !enabled {
        return;
    }
    if external.hosts.as_ref().is_none_or(Vec::is_empty) {
        c.error(
            Code::MissingField,
            "/spec/access/external/hosts",
            "the external entry needs at least one host",
            "list the DNS names the app answers on; the certificate covers them",
        );
    }
    if external.ssl_policy.is_none() {
        c.warning(
            Code::DefaultSslPolicy,
            "/spec/access/external/enabled",
            "no `sslPolicy`: the load balancer uses GCP's default policy, which still accepts TLS 1.0 and 1.1",
            "name an SSL policy with a minimum of TLS 1.2 in `sslPolicy`",
        );
    }
    if external.cloud_armor_policy.is_none() {
        c.error(
            Code::MissingField,
            "/spec/access/external/cloudArmorPolicy",
            "the external entry needs `cloudArmorPolicy`",
            "the Cloud Armor policy is what holds the allow-list at Google's edge; without it the load balancer admits everyone",
        );
    }
}

/// An enabled entry point needs a non-empty list of valid, non-open ranges; repeats and
/// ranges inside other ranges are allowed but reported.
fn allow_list(c: &mut Checker<'_>, entry: &str, enabled: bool, ranges: Option<&[String]>) {
    let pointer = format!("{entry}/allowedSourceRanges");
    cidrs(c, &pointer, ranges);
    if enabled && ranges.is_none_or(<[String]>::is_empty) {
        let at = if ranges.is_some() {
            pointer.clone()
        } else {
            format!("{entry}/enabled")
        };
        c.error(
            Code::EmptyAllowList,
            &at,
            "the entry point is enabled but allows no source range",
            "list the client ranges that may connect; an empty list never means \"everyone\"",
        );
    }
    let parsed: Vec<(usize, Cidr)> = ranges
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, r)| parse_cidr(r).ok().map(|cidr| (i, cidr)))
        // An open range is an error already; do not also call it an overlap.
        .filter(|(_, cidr)| cidr.prefix != 0)
        .collect();
    for (n, (i, a)) in parsed.iter().enumerate() {
        if let Some((j, b)) = parsed[..n].iter().find(|(_, b)| b.overlaps(a)) {
            let what = if a == b {
                format!("`{a}` is listed twice (also at index {j})")
            } else if b.contains(a.address) && b.prefix <= a.prefix {
                format!("`{a}` lies inside `{b}` (index {j})")
            } else {
                format!("`{a}` contains `{b}` (index {j})")
            };
            let help = if a == b {
                "remove the repeat"
            } else {
                "remove the narrower range; the wider one already allows it"
            };
            c.warning(
                Code::OverlappingRanges,
                &format!("{pointer}/{i}"),
                what,
                help,
            );
        }
    }
}

fn check_database(c: &mut Checker<'_>, database: &crate::profile::Database, pools: &[String]) {
    let credentials = database.credentials.clone().unwrap_or_default();
    let external = credentials.external_secret.clone().unwrap_or_default();
    let storage = database.storage.clone().unwrap_or_default();
    for (pointer, name) in [
        (
            "/spec/database/credentials/existingSecret",
            &credentials.existing_secret,
        ),
        (
            "/spec/database/credentials/externalSecret/secretStore",
            &external.secret_store,
        ),
        (
            "/spec/database/credentials/externalSecret/clusterSecretStore",
            &external.cluster_secret_store,
        ),
        ("/spec/database/tlsSecretName", &database.tls_secret_name),
        (
            "/spec/database/tlsClusterIssuer",
            &database.tls_cluster_issuer,
        ),
        (
            "/spec/database/storage/storageClassName",
            &storage.storage_class_name,
        ),
    ] {
        if let Some(name) = name {
            object_name(c, pointer, name);
        }
    }
    if let Some(key) = &external.key {
        // Secret Manager secret IDs: letters, digits, `-` and `_`, at most 255.
        let valid = !key.is_empty()
            && key.len() <= 255
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            c.error(
                Code::InvalidName,
                "/spec/database/credentials/externalSecret/key",
                format!("`{key}` is not a Secret Manager secret ID"),
                "1–255 letters, digits, `-` and `_`",
            );
        }
    }
    if let Some(image) = &database.image {
        check_image(
            c,
            "/spec/database/image",
            image,
            Some(database.allow_unpinned_image.unwrap_or(false)),
        );
    }
    if let Some(pgpool) = &database.pgpool {
        if let Some(image) = &pgpool.image {
            check_image(
                c,
                "/spec/database/pgpool/image",
                image,
                Some(pgpool.allow_unpinned_image.unwrap_or(false)),
            );
        }
    }
    if let Some(resources) = &database.resources {
        check_resources(c, "/spec/database/resources", resources);
    }
    if let Some(size) = database.storage.as_ref().and_then(|s| s.size.as_ref()) {
        quantity(c, "/spec/database/storage/size", size, Unit::Memory);
        // initdb, a few WAL segments kept for standbys and a checkpoint's worth of WAL do
        // not fit below this; a smaller volume fills up on the first busy hour.
        const MIN_STORAGE_BYTES: f64 = 1024.0 * 1024.0 * 1024.0;
        if quantity_value(&size.0).is_some_and(|v| v > 0.0 && v < MIN_STORAGE_BYTES) {
            c.error(
                Code::InvalidField,
                "/spec/database/storage/size",
                format!("a database volume of `{}` is too small", size.0),
                "give each member at least `1Gi`; WAL alone needs hundreds of MiB",
            );
        }
    }
    if let Some(snapshot) = &database.restore_from_snapshot {
        let pointer = "/spec/database/restoreFromSnapshot";
        dns_label(c, pointer, snapshot, "a VolumeSnapshot name");
        if database.engine == Some(crate::profile::Engine::Citus) {
            c.error(
                Code::InvalidField,
                pointer,
                "`restoreFromSnapshot` restores a single PostgreSQL cluster, not Citus groups",
                "restore each Citus group by hand (docs/restore.md)",
            );
        } else {
            c.warning(
                Code::RestoreInProgress,
                pointer,
                format!("restoring from `{snapshot}`: the cluster runs one member until this field is removed"),
                "remove `restoreFromSnapshot` once the restored primary runs; the standbys then clone from it",
            );
        }
    }
    if let Some(pool) = &database.node_pool {
        if !pools.is_empty() && !pools.contains(pool) {
            let help = match crate::validate::closest(pool, pools) {
                Some(best) => format!(
                    "did you mean `{best}`? The listed pools: {}",
                    pools.join(", ")
                ),
                None => format!("the listed pools: {}", pools.join(", ")),
            };
            c.error(
                Code::UnknownNodePool,
                "/spec/database/nodePool",
                format!("node pool `{pool}` is not in infrastructure.nodePools"),
                help,
            );
        }
    }
    if let Some(credentials) = &database.credentials {
        check_credentials(c, credentials);
    }
    if database.tls == Some(false)
        && (database.tls_secret_name.is_some() || database.tls_cluster_issuer.is_some())
    {
        c.error(
            Code::InvalidField,
            "/spec/database/tls",
            "`tls: false` with a certificate source".to_string(),
            "remove `tlsSecretName`/`tlsClusterIssuer`, or turn TLS on",
        );
    }
    if database.tls_secret_name.is_some() && database.tls_cluster_issuer.is_some() {
        c.error(
            Code::InvalidField,
            "/spec/database/tlsClusterIssuer",
            "the database certificate names two sources".to_string(),
            "`tlsSecretName` names an existing Secret; `tlsClusterIssuer` signs a compiled \
             Certificate: keep one",
        );
    }
}

/// One source of passwords (E0315), and a usable external store when that is the source.
fn check_credentials(c: &mut Checker<'_>, credentials: &crate::profile::Credentials) {
    let sources = usize::from(credentials.existing_secret.is_some())
        + usize::from(credentials.external_secret.is_some());
    if sources != 1 {
        c.error(
            Code::InvalidCredentials,
            "/spec/database/credentials",
            format!("credentials name {sources} sources; exactly one is needed"),
            "set either `existingSecret` or `externalSecret`",
        );
    }
    if let Some(external) = &credentials.external_secret {
        let pointer = "/spec/database/credentials/externalSecret";
        if external.key.is_none() {
            c.error(
                Code::MissingField,
                &format!("{pointer}/key"),
                "`externalSecret` needs `key`".to_string(),
                "name the Secret Manager secret that holds the passwords",
            );
        }
        match (&external.secret_store, &external.cluster_secret_store) {
            (Some(_), Some(_)) | (None, None) => c.error(
                Code::InvalidCredentials,
                pointer,
                "`externalSecret` needs exactly one of `secretStore` and `clusterSecretStore`"
                    .to_string(),
                "`secretStore` names the SecretStore gitopsc compiles in the namespace; \
                 `clusterSecretStore` names one that already exists in the cluster",
            ),
            (None, Some(_)) if external.gcp_service_account.is_some() => c.error(
                Code::InvalidCredentials,
                &format!("{pointer}/gcpServiceAccount"),
                "`gcpServiceAccount` is for the SecretStore gitopsc compiles".to_string(),
                "a ClusterSecretStore carries its own identity; remove `gcpServiceAccount`",
            ),
            _ => {}
        }
        if let Some(account) = &external.gcp_service_account {
            gcp_service_account(c, &format!("{pointer}/gcpServiceAccount"), account);
        }
    }
}

/// Every PostgreSQL parameter the profile sets: not one gitopsc owns (E0321), known to the
/// profile's major version with a valid value (E0309, E0310), within Patroni's bounds.
fn check_parameters(c: &mut Checker<'_>, database: &crate::model::Database) {
    let version = database.version;
    for (name, value) in &database.parameters {
        let pointer = format!(
            "/spec/database/parameters/{}",
            crate::load::escape_segment(name)
        );
        if crate::patroni::MANAGED_PARAMETERS.contains(&name.as_str()) {
            let location = root_key(c.root, &pointer);
            c.diagnostics.push(
                Diagnostic::error(
                    Code::ManagedParameter,
                    format!("`{name}` is set by gitopsc and Patroni, not by the profile"),
                )
                .at(location)
                .field(crate::validate::dotted(&pointer))
                .help(managed_parameter_help(name)),
            );
            continue;
        }
        match pgsettings::check(version, name, value) {
            Ok(()) => patroni_bounds(c, name, value, &pointer),
            Err(pgsettings::Problem::UnknownName { suggestion }) => {
                let help = match suggestion {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!("see the parameter list of PostgreSQL {version}"),
                };
                let location = root_key(c.root, &pointer);
                c.diagnostics.push(
                    Diagnostic::error(
                        Code::UnknownParameter,
                        format!("PostgreSQL {version} has no parameter `{name}`"),
                    )
                    .at(location)
                    .field(crate::validate::dotted(&pointer))
                    .help(help),
                );
            }
            Err(pgsettings::Problem::InvalidValue { why, hint }) => {
                c.error(
                    Code::InvalidParameter,
                    &pointer,
                    format!("`{name} = {}`: {why}", value),
                    hint,
                );
            }
        }
    }
}

/// Pgpool's connections fit what PostgreSQL accepts (E0308).
/// On the effective values: the model sizes an unset `max_connections` for Pgpool, so only
/// a value the profile sets can be too small.
fn check_pgpool_budget(c: &mut Checker<'_>, database: &crate::model::Database) {
    let parameters = &database.parameters;
    let pgpool = &database.pgpool;
    let pool_replicas = u64::from(pgpool.replicas);
    let children = u64::from(pgpool.num_init_children);
    let max_pool = u64::from(pgpool.max_pool);
    let reserved = crate::model::reserved_connections(parameters);
    let demand = pgpool.demand();
    let Some(max_connections) = parameters
        .get("max_connections")
        .and_then(|v| v.trim().parse::<u64>().ok())
    else {
        return;
    };
    let supply = max_connections.saturating_sub(reserved);
    if demand > supply {
        c.error(
            Code::PgpoolBudget,
            "/spec/database/pgpool/numInitChildren",
            format!(
                "Pgpool can open {pool_replicas} × {children} × {max_pool} = {demand} connections, but PostgreSQL accepts {max_connections} − {reserved} reserved = {supply}"
            ),
            format!(
                "lower pgpool.numInitChildren or maxPool, or raise database.parameters.max_connections to at least {}",
                demand + reserved
            ),
        );
    }
}

/// A valid PostgreSQL value may still be one Patroni replaces (E0322).
fn patroni_bounds(c: &mut Checker<'_>, name: &str, value: &str, pointer: &str) {
    let Some((minimum, allowed)) = crate::patroni::floor(name) else {
        return;
    };
    let text = value.trim();
    let accepted = match minimum {
        Some(min) => text.parse::<i64>().is_ok_and(|v| v >= min),
        None => allowed.contains(&text),
    };
    if !accepted {
        c.error(
            Code::PatroniIgnoresValue,
            pointer,
            format!("Patroni replaces `{name} = {text}` with its own default"),
            match minimum {
                Some(min) => format!("Patroni accepts `{name}` from {min} up"),
                None => format!("Patroni accepts `{name}` = {}", allowed.join(" or ")),
            },
        );
    }
}

/// Where the setting that a managed parameter stands for lives in the profile.
fn managed_parameter_help(name: &str) -> String {
    match name {
        "ssl" | "ssl_cert_file" | "ssl_key_file" | "ssl_ca_file" => {
            "use `database.tls` and `database.tlsSecretName`".into()
        }
        "synchronous_standby_names" => "use `database.synchronousMode`".into(),
        _ => "remove it; docs/database.md lists the parameters gitopsc sets".into(),
    }
}

fn root_key(root: &Node, pointer: &str) -> crate::diag::Location {
    root.pointer(pointer)
        .and_then(|(_, key)| key.cloned())
        .unwrap_or_else(|| locate(root, pointer))
}

fn check_resources(c: &mut Checker<'_>, pointer: &str, resources: &crate::profile::Resources) {
    for (kind, amounts) in [
        ("requests", &resources.requests),
        ("limits", &resources.limits),
    ] {
        let Some(amounts) = amounts else { continue };
        if let Some(cpu) = &amounts.cpu {
            quantity(c, &format!("{pointer}/{kind}/cpu"), cpu, Unit::Cpu);
        }
        if let Some(memory) = &amounts.memory {
            quantity(c, &format!("{pointer}/{kind}/memory"), memory, Unit::Memory);
        }
    }
    let requests = resources.requests.clone().unwrap_or_default();
    let limits = resources.limits.clone().unwrap_or_default();
    for (resource, request, limit) in [
        ("cpu", &requests.cpu, &limits.cpu),
        ("memory", &requests.memory, &limits.memory),
    ] {
        if let (Some(request), Some(limit)) = (request, limit) {
            if let (Some(r), Some(l)) = (quantity_value(&request.0), quantity_value(&limit.0)) {
                if r > l {
                    c.error(
                        Code::InvalidField,
                        &format!("{pointer}/requests/{resource}"),
                        format!(
                            "{resource} request ({}) is larger than its limit ({})",
                            request.0, limit.0
                        ),
                        "Kubernetes rejects a request above the limit",
                    );
                }
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Unit {
    Cpu,
    Memory,
}

fn quantity(c: &mut Checker<'_>, pointer: &str, quantity: &Quantity, unit: Unit) {
    let text = &quantity.0;
    match quantity_value(text) {
        None => c.error(
            Code::InvalidQuantity,
            pointer,
            format!("`{text}` is not a Kubernetes quantity"),
            "a number with an optional suffix: m, k, M, G, T, Ki, Mi, Gi, Ti, e.g. `250m`, `512Mi`",
        ),
        Some(value) if value <= 0.0 => c.error(
            Code::InvalidQuantity,
            pointer,
            format!("`{text}` must be positive"),
            "",
        ),
        Some(_) if unit == Unit::Memory && text.ends_with('m') => c.error(
            Code::InvalidQuantity,
            pointer,
            format!(
                "`{text}` means {} thousandths of a byte",
                text.trim_end_matches('m')
            ),
            format!("did you mean `{}Mi`?", text.trim_end_matches('m')),
        ),
        Some(_) => {}
    }
}

/// A quantity's value in base units, or `None` when it does not parse.
pub fn quantity_value(text: &str) -> Option<f64> {
    let split = text
        .find(|ch: char| !(ch.is_ascii_digit() || ch == '.' || ch == '+' || ch == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    if number.is_empty() || number.matches('.').count() > 1 || number[1..].contains(['+', '-']) {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent if exponent.starts_with(['e', 'E']) => {
            10f64.powi(exponent[1..].parse::<i32>().ok()?)
        }
        _ => return None,
    };
    Some(value * scale)
}

/// `opt_out`: the field's `allowUnpinnedImage` when it has one (`None`: no opt-out exists).
fn check_image(c: &mut Checker<'_>, pointer: &str, image: &str, opt_out: Option<bool>) {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    if let Some(digest) = digest {
        let valid = digest.strip_prefix("sha256:").is_some_and(|hex| {
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if !valid {
            c.error(
                Code::InvalidImage,
                pointer,
                format!("`{digest}` is not an image digest"),
                "a digest is `sha256:` followed by 64 lowercase hex digits",
            );
            return;
        }
    }
    // The repository path without a tag: a colon after the last `/` starts the tag.
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    let path = repository
        .split_once('/')
        .map_or(repository, |(host, rest)| {
            if host.contains(['.', ':']) || host == "localhost" {
                rest
            } else {
                repository
            }
        });
    let path_ok = !path.is_empty()
        && path.split('/').all(|component| {
            !component.is_empty()
                && component
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && component.starts_with(|ch: char| ch.is_ascii_alphanumeric())
        });
    let tag_ok = tag.is_none_or(|t| {
        !t.is_empty()
            && t.len() <= 128
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    });
    if !path_ok || !tag_ok || image.contains(char::is_whitespace) {
        c.error(
            Code::InvalidImage,
            pointer,
            format!("`{image}` is not an image reference"),
            "e.g. `us-docker.pkg.dev/project/repo/name@sha256:<64 hex digits>`",
        );
        return;
    }
    if digest.is_none() && opt_out != Some(true) {
        let pin = "append `@sha256:<digest>` so the reviewed output is what runs";
        let help = match (opt_out, pointer.rsplit_once('/')) {
            (Some(_), Some((parent, _))) => format!(
                "{pin}, or set `{}.allowUnpinnedImage: true`",
                crate::validate::dotted(parent)
            ),
            _ => pin.to_string(),
        };
        c.error(
            Code::UnpinnedImage,
            pointer,
            format!("image `{image}` is not pinned by digest"),
            help,
        );
    }
}

/// The name of a Kubernetes object the profile refers to: a DNS subdomain (RFC 1123),
/// the rule for Secrets, stores, issuers and classes alike.
fn object_name(c: &mut Checker<'_>, pointer: &str, name: &str) {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| dns_label_rule(label).is_ok());
    if !valid {
        c.error(
            Code::InvalidName,
            pointer,
            format!("`{name}` is not a Kubernetes object name"),
            "lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit, at most 253",
        );
    }
}

/// A GCP service account email: `NAME@DOMAIN.gserviceaccount.com`, lowercase.
fn gcp_service_account(c: &mut Checker<'_>, pointer: &str, email: &str) {
    let word = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    let valid = email.split_once('@').is_some_and(|(name, domain)| {
        word(name)
            && domain
                .strip_suffix(".gserviceaccount.com")
                .is_some_and(word)
    });
    if !valid {
        c.error(
            Code::InvalidField,
            pointer,
            format!("`{email}` is not a GCP service account email"),
            "expected NAME@PROJECT.iam.gserviceaccount.com",
        );
    }
}

fn dns_label(c: &mut Checker<'_>, pointer: &str, value: &str, what: &str) {
    if let Err(why) = dns_label_rule(value) {
        c.error(
            Code::InvalidName,
            pointer,
            format!("{what} `{value}` is not a DNS-1123 label: {why}"),
            "lowercase letters, digits and `-`, starting and ending with a letter or digit, at most 63 characters",
        );
    }
}

pub fn dns_label_rule(value: &str) -> Result<(), &'static str> {
    if value.is_empty() {
        return Err("it is empty");
    }
    if value.len() > 63 {
        return Err("it is longer than 63 characters");
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("it has characters other than a-z, 0-9 and -");
    }
    if value.starts_with('-') || value.ends_with('-') {
        return Err("it starts or ends with -");
    }
    Ok(())
}

fn is_hostname(host: &str) -> bool {
    host.len() <= 253
        && host.contains('.')
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Kubernetes label syntax for every key and value of a map the profile gives as labels.
fn labels<'a>(
    c: &mut Checker,
    base: &str,
    map: impl IntoIterator<Item = (&'a String, &'a String)>,
) {
    for (key, value) in map {
        let pointer = format!("{base}/{}", crate::load::escape_segment(key));
        if let Err(why) = label_key(key) {
            c.error(
                Code::InvalidLabel,
                &pointer,
                format!("label key `{key}` is invalid: {why}"),
                "",
            );
        }
        if let Err(why) = label_value(value) {
            c.error(
                Code::InvalidLabel,
                &pointer,
                format!("label value `{value}` is invalid: {why}"),
                "",
            );
        }
    }
}

fn label_key(key: &str) -> Result<(), &'static str> {
    let name = match key.rsplit_once('/') {
        Some((prefix, name)) => {
            if !is_hostname(prefix) && dns_label_rule(prefix).is_err() {
                return Err("its prefix is not a DNS subdomain");
            }
            name
        }
        None => key,
    };
    label_name(name, false)
}

fn label_value(value: &str) -> Result<(), &'static str> {
    label_name(value, true)
}

fn label_name(name: &str, may_be_empty: bool) -> Result<(), &'static str> {
    if name.is_empty() {
        return if may_be_empty {
            Ok(())
        } else {
            Err("it is empty")
        };
    }
    if name.len() > 63 {
        return Err("it is longer than 63 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err("it has characters other than letters, digits, -, _ and .");
    }
    if !name.starts_with(|ch: char| ch.is_ascii_alphanumeric())
        || !name.ends_with(|ch: char| ch.is_ascii_alphanumeric())
    {
        return Err("it must start and end with a letter or digit");
    }
    Ok(())
}

fn cidrs(c: &mut Checker<'_>, pointer: &str, ranges: Option<&[String]>) {
    for (i, range) in ranges.into_iter().flatten().enumerate() {
        let here = format!("{pointer}/{i}");
        match parse_cidr(range) {
            Err(why) => c.error(
                Code::InvalidCidr,
                &here,
                format!("`{range}` is not a CIDR range: {why}"),
                "write an address and a prefix length, e.g. `10.20.0.0/16`",
            ),
            Ok(cidr) if cidr.prefix == 0 => c.error(
                Code::OpenCidr,
                &here,
                format!("`{range}` allows every address"),
                "access is always limited to the customer's ranges; list them instead",
            ),
            Ok(_) => {}
        }
    }
}

fn looks_like_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "PRIVATE_KEY",
        "API_KEY",
        "APIKEY",
        "CREDENTIAL",
        "ACCESS_KEY",
    ]
    .iter()
    .any(|word| upper.contains(word))
}

/// Values that carry credentials whatever the name: a URL with a password, a PEM key.
fn looks_like_secret_value(value: &str) -> bool {
    value.contains("-----BEGIN")
        || value.split_once("://").is_some_and(|(_, rest)| {
            rest.split('/')
                .next()
                .is_some_and(|auth| auth.contains(':') && auth.contains('@'))
        })
}

/// Validates a five-field cron expression (or a Kubernetes `@` macro).
pub fn cron(expression: &str) -> Result<(), String> {
    if expression.starts_with('@') {
        return match expression {
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight"
            | "@hourly" => Ok(()),
            _ => Err(format!("unknown macro `{expression}`")),
        };
    }
    if expression.contains("TZ=") {
        return Err("time zones are not set in the schedule (it runs in UTC)".into());
    }
    let fields: Vec<&str> = expression.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("it has {} fields, not 5", fields.len()));
    }
    const MONTHS: &[&str] = &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let specs: [(&str, u32, u32, &[&str]); 5] = [
        ("minute", 0, 59, &[]),
        ("hour", 0, 23, &[]),
        ("day of month", 1, 31, &[]),
        ("month", 1, 12, MONTHS),
        ("day of week", 0, 7, DAYS),
    ];
    for (field, (what, low, high, names)) in fields.iter().zip(specs) {
        let value = |text: &str| -> Result<u32, String> {
            if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
                return Ok(i as u32 + if what == "month" { 1 } else { 0 });
            }
            let n: u32 = text
                .parse()
                .map_err(|_| format!("`{text}` is not a valid {what}"))?;
            if n < low || n > high {
                return Err(format!("{what} {n} is outside {low}–{high}"));
            }
            Ok(n)
        };
        for part in field.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((range, step)) => (range, Some(step)),
                None => (part, None),
            };
            if let Some(step) = step {
                let step: u32 = step
                    .parse()
                    .map_err(|_| format!("step `{step}` in the {what} field is not a number"))?;
                if step == 0 || step > high {
                    return Err(format!("step {step} in the {what} field is out of range"));
                }
            }
            match range {
                "*" | "?" if range == "*" || what.starts_with("day") => {}
                _ => match range.split_once('-') {
                    Some((from, to)) => {
                        if value(from)? > value(to)? {
                            return Err(format!(
                                "range `{range}` in the {what} field runs backwards"
                            ));
                        }
                    }
                    None => {
                        value(range)?;
                    }
                },
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_rules() {
        for good in [
            "0 */6 * * *",
            "*/15 2-4 1,15 jan-mar mon-fri",
            "0 0 * * 7",
            "@daily",
            "5 4 * * sun",
        ] {
            assert_eq!(cron(good), Ok(()), "{good}");
        }
        for bad in [
            "0 */6 * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 8",
            "*/0 * * * *",
            "5-1 * * * *",
            "@often",
            "TZ=UTC 0 * * * *",
            "a * * * *",
        ] {
            assert!(cron(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn quantity_values() {
        assert_eq!(quantity_value("250m"), Some(0.25));
        assert_eq!(quantity_value("1"), Some(1.0));
        assert_eq!(quantity_value("512Mi"), Some(512.0 * 1024.0 * 1024.0));
        assert_eq!(quantity_value("1e3"), Some(1000.0));
        assert_eq!(quantity_value("1.5Gi"), Some(1.5 * 1024f64.powi(3)));
        for bad in ["", "Mi", "1.2.3", "1X", "1-2", "lots"] {
            assert_eq!(quantity_value(bad), None, "{bad}");
        }
    }

    #[test]
    fn hostnames() {
        assert!(is_hostname("api.acme.example.com"));
        assert!(!is_hostname("localhost"));
        assert!(!is_hostname("*.acme.example.com"));
        assert!(!is_hostname("-api.example.com"));
        assert!(!is_hostname("API.example.com"));
    }
}
