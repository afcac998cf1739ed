//! Stage 3b: rules the JSON Schema cannot express, each with its own diagnostic code.
//!
//! Checks read the typed profile and point at the merged tree's locations, so a bad value
//! inherited from `_defaults.yaml` is reported at its line in `_defaults.yaml`.

use std::collections::BTreeMap;

use crate::cidr::{Cidr, parse_cidr};
use crate::diag::{Code, Diagnostic};
use crate::load::Node;
use crate::load::locate;
use crate::pgsettings;
use crate::profile::Profile;
use crate::profile::defaults;
use crate::syntax::{Image, dns_label_rule, is_hostname, is_pinned, quantity_value};

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

    /// A problem at the line that sets `pointer`; when a layer sets it, a note names the
    /// profile whose values broke the rule (the layer may be fine for every other one).
    fn report(&mut self, diagnostic: Diagnostic, pointer: &str, help: String) {
        let at = locate(self.root, pointer);
        let in_layer = !std::sync::Arc::ptr_eq(&at.file, &self.root.location.file);
        let mut diagnostic = diagnostic.at(at).field(crate::load::dotted(pointer));
        if in_layer {
            diagnostic = diagnostic.note(
                locate(self.root, "/metadata/name"),
                "checked for this profile",
            );
        }
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
        labels(&mut c, "/metadata/labels", metadata.labels.iter().flatten());
        let name = metadata.name.as_ref().map(|n| n.0.as_str()).unwrap_or("a");
        if name.starts_with(|ch: char| ch.is_ascii_digit()) {
            c.error(
                Code::InvalidName,
                "/metadata/name",
                format!("customer `{name}` starts with a digit"),
                "start it with a letter: its GCP resources are named after it (`<name>-nodes`, its firewall rules), and Compute Engine and IAM names start with a letter",
            );
        }
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
    if let Some(app) = &spec.app {
        check_app(&mut c, app);
    }
    if let Some(access) = &spec.access {
        check_access(&mut c, access);
    }
    if let Some(database) = &spec.database {
        let pools: Vec<String> = spec
            .infrastructure
            .as_ref()
            .and_then(|i| i.node_pools.as_ref())
            .map(|pools| {
                pools
                    .iter()
                    .filter_map(|p| p.name.clone().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        check_database(&mut c, database, &pools);
    }
    if let Some(destination) = spec.argocd.as_ref().and_then(|a| a.destination.as_ref()) {
        if destination.name.is_some() && destination.server.is_some() {
            c.error(
                Code::AmbiguousDestination,
                "/spec/argocd/destination/name",
                "`destination` names both a registered cluster (`name`) and a `server`",
                "keep one: `name` for a cluster registered in Argo CD, `server` for its API URL; neither means the cluster Argo CD runs in",
            );
        }
    }
    check_infrastructure(&mut c, spec);
    c.diagnostics
}

/// The cluster, its network and node pools.
fn check_infrastructure(c: &mut Checker<'_>, spec: &crate::profile::Spec) {
    check_zones(c, spec);
    if let Some(cluster) = spec
        .infrastructure
        .as_ref()
        .and_then(|i| i.cluster.as_ref())
    {
        check_control_plane(c, cluster);
        if let Some(maintenance) = &cluster.maintenance {
            check_maintenance(c, maintenance);
        }
    }
    if let Some(gcp) = &spec.gcp {
        check_network(c, gcp);
    }
    for (i, pool) in spec
        .infrastructure
        .iter()
        .flat_map(|i| i.node_pools.iter().flatten())
        .enumerate()
    {
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

fn check_app(c: &mut Checker<'_>, app: &crate::profile::App) {
    if let Some(image) = &app.image {
        pinned(c, "/spec/app/image", image, app.allow_unpinned_image);
    }
    if let Some(resources) = &app.resources {
        check_resources(c, "/spec/app/resources", resources);
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
    check_scaling_and_rollout(c, &customer.app);
    check_shutdown(c, &customer.app);
    check_parameters(c, customer);
    check_pgpool_budget(c, &customer.database);
    check_synchronous_members(c, &customer.database);
    check_zone_spread(c, &customer.database);
    check_recovery_point(c, customer);
    check_snapshot_alert(c, customer);
    check_memory_budget(c, &customer.database);
    check_app_connections(c, customer);
    std::mem::take(&mut c.diagnostics)
}

/// What the backups can give against what the profile promises: with the archive, a WAL
/// segment at least every `archive_timeout` (half the recovery point, at least 60 s); without
/// it, the longest gap of the snapshot schedule. Online snapshots and a point-in-time
/// restore need the archive.
fn check_recovery_point(c: &mut Checker<'_>, customer: &crate::model::Customer) {
    let promised = customer.recovery_point_seconds;
    let pointer = "/spec/backup/recoveryPointSeconds";
    if customer.archive.is_some() {
        if promised < 120 {
            c.error(
                Code::RecoveryPoint,
                pointer,
                format!("a recovery point of {promised} s needs an `archive_timeout` of {} s, below the 60 s that keeps the archive from filling with empty segments", promised / 2),
                "state 120 seconds or more",
            );
        }
    } else {
        let snapshots = customer
            .backup
            .as_ref()
            .and_then(|b| crate::syntax::cron_max_gap_minutes(&b.schedule));
        match snapshots {
            None => c.error(
                Code::RecoveryPoint,
                "/spec/backup",
                "neither the archive nor snapshots are on: a lost cluster loses everything",
                "turn on `backup.archive` (the default) or `backup.snapshots`",
            ),
            Some(gap) if gap * 60 > u64::from(promised) => c.error(
                Code::RecoveryPoint,
                pointer,
                format!(
                    "without the archive the snapshots are the recovery point, up to {} min apart, more than the {promised} s promised",
                    gap
                ),
                "turn on `backup.archive` (the default), or state a recovery point the schedule gives",
            ),
            Some(_) => {}
        }
    }
    let backup = customer.backup.as_ref();
    if customer.archive.is_none() && backup.is_some_and(|b| b.online) {
        c.error(
            Code::InvalidField,
            "/spec/backup/snapshots/online",
            "an online snapshot restores only with the WAL written while it was taken, which only the archive keeps",
            "turn on `backup.archive`, or take crash-consistent snapshots (`online: false`)",
        );
    }
    let database = &customer.database;
    if database.restore_to_time.is_some() {
        if customer.archive.is_none() {
            c.error(
                Code::InvalidField,
                "/spec/database/restoreToTime",
                "a point-in-time restore replays the archive, which is off",
                "turn on `backup.archive` with the bucket that holds the backups",
            );
        }
        if database.restore_from_snapshot.is_some() {
            c.error(
                Code::InvalidField,
                "/spec/database/restoreToTime",
                "`restoreToTime` and `restoreFromSnapshot` both say where the data comes from",
                "keep one",
            );
        }
    }
}

/// PostgreSQL's memory at full use against the member's limit: shared buffers, `work_mem`
/// for every connection, the autovacuum workers' and one manual maintenance's
/// `maintenance_work_mem`, and what the server and Patroni need besides. A member past its
/// limit is killed by the kernel mid-transaction.
/// What PostgreSQL and Patroni need besides the buffers and work memory (E0326).
pub const MEMORY_OVERHEAD_MIB: f64 = 256.0;

fn check_memory_budget(c: &mut Checker<'_>, database: &crate::model::Database) {
    const OVERHEAD_MIB: f64 = MEMORY_OVERHEAD_MIB;
    const MIB: f64 = 1_048_576.0;
    let parameter = |name: &str, default: &str| -> f64 {
        let value = database
            .parameters
            .get(name)
            .map_or(default, String::as_str);
        crate::pgsettings::bytes(name, value).unwrap_or(0.0)
    };
    let count = |name: &str, default: f64| -> f64 {
        database
            .parameters
            .get(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    };
    let shared = parameter("shared_buffers", "128MB");
    let work = parameter("work_mem", "4MB");
    let maintenance = parameter("maintenance_work_mem", "64MB");
    let autovacuum = match parameter("autovacuum_work_mem", "-1") {
        v if v > 0.0 => v,
        _ => maintenance,
    };
    let connections = count("max_connections", 100.0);
    let workers = count("autovacuum_max_workers", 3.0);
    let Some(limit) = crate::syntax::quantity_value(&database.limits.memory) else {
        return;
    };
    let total =
        shared + connections * work + workers * autovacuum + maintenance + OVERHEAD_MIB * MIB;
    if total > limit {
        let mib = |bytes: f64| (bytes / MIB).round();
        c.error(
            Code::MemoryBudget,
            "/spec/database/resources/limits/memory",
            format!(
                "PostgreSQL may use {} MiB: shared_buffers {} + {connections} connections × work_mem {} + {} autovacuum workers × {} + maintenance {} + {OVERHEAD_MIB} for the server and Patroni; the limit is {} MiB",
                mib(total),
                mib(shared),
                mib(work),
                workers,
                mib(autovacuum),
                mib(maintenance),
                mib(limit)
            ),
            format!(
                "raise the memory limit to at least {} MiB, or lower work_mem, max_connections or shared_buffers",
                mib(total).ceil()
            ),
        );
    }
}

/// The app at its largest (the autoscaling maximum or its fixed size, plus the rollout's
/// surge) against the sessions Pgpool serves at once; past them clients wait in Pgpool's
/// listen queue.
fn check_app_connections(c: &mut Checker<'_>, customer: &crate::model::Customer) {
    let app = &customer.app;
    let pods = match app.scaling {
        crate::model::Scaling::Auto { max, .. } => max,
        crate::model::Scaling::Fixed(n) => n,
    } + app.max_surge;
    let per_pod = app.database_connections_per_pod;
    let demand = u64::from(pods) * u64::from(per_pod);
    let pgpool = &customer.database.pgpool;
    let capacity = u64::from(pgpool.replicas) * u64::from(pgpool.num_init_children);
    if demand > capacity {
        c.error(
            Code::AppConnections,
            "/spec/database/pgpool/numInitChildren",
            format!(
                "the app can hold {pods} pods × {per_pod} = {demand} connections, but {} Pgpool pods × {} children serve {capacity}",
                pgpool.replicas, pgpool.num_init_children
            ),
            format!(
                "raise pgpool.numInitChildren to {} (and check the Pgpool budget), add Pgpool replicas, or lower app.databaseConnectionsPerPod",
                demand.div_ceil(u64::from(pgpool.replicas.max(1)))
            ),
        );
    }
}

/// Autoscaling bounds in order, and a rollout that progresses without taking serving pods
/// away.
fn check_scaling_and_rollout(c: &mut Checker<'_>, app: &crate::model::App) {
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
}

/// Zero-downtime shutdown (docs/access.md): keep serving until the load balancer has
/// stopped sending, then finish in-flight requests, all inside the grace period, which
/// also bounds the BackendConfig's connection draining.
fn check_shutdown(c: &mut Checker<'_>, app: &crate::model::App) {
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
}

/// Synchronous replication that a single lost member turns off.
fn check_synchronous_members(c: &mut Checker<'_>, database: &crate::model::Database) {
    let replicas = database.replicas;
    if database.synchronous && replicas < 3 {
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
}

/// The members spread over the zones as a hard rule, one per node: a zone must have a
/// node for each member it gets (more members than zones put two in some zone).
fn check_zone_spread(c: &mut Checker<'_>, database: &crate::model::Database) {
    let (members, zones) = (database.replicas, database.zones.max(1));
    let per_zone = members.div_ceil(zones);
    let pool = database.node_pool.as_ref().map_or_else(
        || "the cluster's pools".to_string(),
        |p| format!("pool `{}`", p.name),
    );
    if per_zone > database.nodes_per_zone {
        c.error(
            Code::ZoneSpread,
            "/spec/database/replicas",
            format!(
                "{members} members over {zones} zones need {per_zone} nodes in a zone, one per member; {pool} can have at most {} in each zone",
                database.nodes_per_zone
            ),
            format!(
                "raise `maxNodes` of {pool} to {} (it counts the nodes of all zones), add zones (`infrastructure.cluster.zones`), or run fewer members",
                per_zone * zones
            ),
        );
    } else if members > zones && members > 1 {
        let consequence = if database.synchronous {
            "the synchronous standby may share the primary's zone and be lost with it"
        } else {
            "one zone's loss takes two members"
        };
        c.warning(
            Code::SharedZone,
            "/spec/database/replicas",
            format!("{members} members over {zones} zones put two in one zone: {consequence}"),
            "run no more members than zones, or list more zones in `infrastructure.cluster.zones`",
        );
    }
}

/// The profile's zones are zones of its region, each once.
fn check_zones(c: &mut Checker<'_>, spec: &crate::profile::Spec) {
    let region = spec.gcp.as_ref().and_then(|g| g.region.as_deref());
    let zones = spec
        .infrastructure
        .as_ref()
        .and_then(|i| i.cluster.as_ref())
        .and_then(|c| c.zones.as_ref());
    let (Some(region), Some(zones)) = (region, zones) else {
        return;
    };
    let mut seen = std::collections::BTreeSet::new();
    for (i, zone) in zones.iter().enumerate() {
        let pointer = format!("/spec/infrastructure/cluster/zones/{i}");
        if crate::syntax::gcp_zone(zone).is_err() {
            continue; // reported by the zone's own syntax
        }
        if zone
            .strip_prefix(region)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_none()
        {
            c.error(
                Code::InvalidField,
                &pointer,
                format!("zone `{zone}` is not in the cluster's region `{region}`"),
                format!(
                    "a regional cluster's nodes are in its own region's zones, e.g. `{region}-a`"
                ),
            );
        } else if !seen.insert(zone.0.as_str()) {
            c.error(
                Code::InvalidField,
                &pointer,
                format!("zone `{zone}` is listed twice"),
                "list each zone once",
            );
        }
    }
}

/// The control plane's range fits its kind (a /28 of its own, or a Private Service Connect
/// endpoint subnetwork's range), and a public endpoint has an allow-list.
fn check_control_plane(c: &mut Checker<'_>, cluster: &crate::profile::Cluster) {
    const POINTER: &str = "/spec/infrastructure/cluster";
    let range = cluster
        .master_ipv4_cidr_block
        .as_ref()
        .and_then(|r| crate::cidr::parse_cidr(r).ok());
    if let (Some(range), None) = (range, &cluster.private_endpoint_subnetwork) {
        // Wider than a /28 (anything else is refused by the field's own syntax).
        if range.prefix < 28 {
            c.error(
                Code::InvalidCidr,
                &format!("{POINTER}/masterIpv4CidrBlock"),
                format!("a private cluster's control plane takes a /28, not a /{}", range.prefix),
                "give a /28, or name the Private Service Connect endpoint's subnetwork in `privateEndpointSubnetwork`",
            );
        }
    }
    for (i, pattern) in cluster.admitted_images.iter().flatten().enumerate() {
        let stem = pattern.strip_suffix('*').unwrap_or(pattern);
        let folder = stem
            .split_once('/')
            .is_some_and(|(host, rest)| host.contains('.') && !rest.is_empty() && !host.is_empty());
        if !folder || stem.contains('*') || pattern.contains(char::is_whitespace) {
            c.error(
                Code::InvalidField,
                &format!("{POINTER}/admittedImages/{i}"),
                format!("`{pattern}` is not an image pattern Binary Authorization takes"),
                "a registry host and a path, with at most a trailing `*`, e.g. `quay.io/jetstack/*`",
            );
        }
    }
    let public = cluster
        .public_endpoint
        .unwrap_or(crate::profile::defaults::PUBLIC_ENDPOINT);
    let authorized = cluster
        .master_authorized_networks
        .as_ref()
        .is_some_and(|n| !n.is_empty());
    if public && !authorized {
        c.error(
            Code::EmptyAllowList,
            &format!("{POINTER}/publicEndpoint"),
            "a public control-plane endpoint with no `masterAuthorizedNetworks` is open to every address",
            "list the ranges that may reach it (Argo CD's egress, the operators') in `masterAuthorizedNetworks`",
        );
    }
}

/// GKE's rules for a maintenance policy, which it otherwise refuses at apply: windows that
/// add up to 48 hours in any 32 days (each weekday comes at least 4 times in 32 days), and
/// exclusions that end after they start, within their scope's longest term.
fn check_maintenance(c: &mut Checker<'_>, maintenance: &crate::profile::Maintenance) {
    use crate::profile::defaults;
    const POINTER: &str = "/spec/infrastructure/cluster/maintenance";
    let days: std::collections::BTreeSet<_> = match &maintenance.days {
        Some(days) => days.iter().copied().collect(),
        None => defaults::MAINTENANCE_DAYS.into_iter().collect(),
    };
    let hours = maintenance.hours.unwrap_or(defaults::MAINTENANCE_HOURS);
    let least = days.len() as u32 * 4 * hours;
    if least < 48 {
        c.error(
            Code::InvalidField,
            &format!("{POINTER}/days"),
            format!(
                "the maintenance windows give {least} hours in some 32 days ({} day(s) a week × {hours} hours); GKE requires at least 48",
                days.len()
            ),
            "add days or hours: e.g. two days of 6 hours, or one day of 12",
        );
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, exclusion) in maintenance.exclusions.iter().flatten().enumerate() {
        let at = format!("{POINTER}/exclusions/{i}");
        if let Some(name) = &exclusion.name {
            if !names.insert(name.0.as_str()) {
                c.error(
                    Code::InvalidField,
                    &format!("{at}/name"),
                    format!("exclusion `{name}` is listed twice"),
                    "give each exclusion its own name",
                );
            }
        }
        let seconds = |t: &Option<crate::syntax::Timestamp>| {
            t.as_ref().and_then(|t| crate::syntax::timestamp_seconds(t))
        };
        let (Some(start), Some(end)) = (seconds(&exclusion.start), seconds(&exclusion.end)) else {
            continue;
        };
        let scope = exclusion
            .scope
            .unwrap_or(crate::profile::ExclusionScope::NoMinorOrNodeUpgrades);
        if end <= start {
            c.error(
                Code::InvalidField,
                &format!("{at}/end"),
                "the exclusion ends before it starts",
                "set `end` after `start`",
            );
        } else if end - start > scope.max_days() * 86_400 {
            c.error(
                Code::InvalidField,
                &format!("{at}/end"),
                format!(
                    "the exclusion lasts {:.1} days; GKE allows at most {} for scope `{}`",
                    (end - start) as f64 / 86_400.0,
                    scope.max_days(),
                    scope.name()
                ),
                "shorten it, or hold back less (`no-minor-or-node-upgrades` may last 180 days)",
            );
        }
    }
}

/// The subnetwork's secondary ranges: named for a Shared VPC (GKE may not create ranges in
/// the host project's subnetwork), never beside `createNetwork` (which names its own).
fn check_network(c: &mut Checker<'_>, gcp: &crate::profile::Gcp) {
    let host = gcp.network_project_id.as_ref();
    let shared = host.is_some_and(|host| Some(host) != gcp.project_id.as_ref());
    match (&gcp.create_network, &gcp.secondary_ranges) {
        (Some(_), Some(_)) => c.error(
            Code::InvalidField,
            "/spec/gcp/secondaryRanges",
            "`secondaryRanges` names ranges of an existing subnetwork, but `createNetwork` creates it",
            "remove `secondaryRanges`: the created subnetwork's ranges are `pods` and `services`",
        ),
        (None, None) if shared => c.error(
            Code::InvalidField,
            "/spec/gcp/networkProjectId",
            format!(
                "a Shared VPC subnetwork of `{}` needs the names of its secondary ranges for pods and Services",
                host.map(|h| h.0.as_str()).unwrap_or_default()
            ),
            "set `gcp.secondaryRanges: {pods: <range>, services: <range>}` to the ranges the host project's admin made for this cluster (`gcloud compute networks subnets describe`)",
        ),
        _ => {}
    }
}

fn check_access(c: &mut Checker<'_>, access: &crate::profile::Access) {
    let dns_zone = &access.dns_zone;
    if let Some(internal) = &access.internal {
        if internal.hostname.is_some() && access.internal_dns_zone.is_none() {
            c.error(
                Code::MissingField,
                "/spec/access/internal/hostname",
                "`internal.hostname` needs `internalDnsZone`, the private Cloud DNS zone its record goes in",
                "name the customer's private managed zone (a public `dnsZone` would publish an internal address), or remove `hostname`",
            );
        }
        allow_list(
            c,
            "/spec/access/internal",
            internal.enabled(),
            internal.allowed_source_ranges.as_deref(),
        );
    }
    if let Some(external) = &access.external {
        check_external(c, external, dns_zone.is_some());
    }
}

/// The external entry: its allow-list, hosts, certificate source, address, SSL policy and
/// Cloud Armor policy.
fn check_external(c: &mut Checker<'_>, external: &crate::profile::ExternalAccess, dns_zone: bool) {
    let enabled = external.enabled();
    allow_list(
        c,
        "/spec/access/external",
        enabled,
        external.allowed_source_ranges.as_deref(),
    );
    let managed = external.tls_source() == crate::profile::TlsSource::Managed;
    for (i, host) in external.hosts.iter().flatten().enumerate() {
        let pointer = format!("/spec/access/external/hosts/{i}");
        if managed && is_hostname(host) && host.len() > 63 {
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
    if dns_zone && external.static_ip_name.is_none() {
        c.error(
            Code::MissingField,
            "/spec/access/external/staticIpName",
            "`dnsZone` records the external hosts, which needs `staticIpName`",
            "name the global address the Ingress takes, so the records point at an address that stays",
        );
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
fn allow_list(
    c: &mut Checker<'_>,
    entry: &str,
    enabled: bool,
    ranges: Option<&[crate::profile::SourceRange]>,
) {
    let pointer = format!("{entry}/allowedSourceRanges");
    if enabled && ranges.is_none_or(<[_]>::is_empty) {
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
    check_database_images(c, database);
    if let Some(resources) = &database.resources {
        check_resources(c, "/spec/database/resources", resources);
    }
    check_storage_and_restore(c, database);
    if let Some(pool) = &database.node_pool {
        check_node_pool(c, pool, pools);
    }
    if let Some(credentials) = &database.credentials {
        check_credentials(c, credentials);
    }
    check_database_tls(c, database);
}

/// The database's and Pgpool's images are pinned unless the profile opts out.
fn check_database_images(c: &mut Checker<'_>, database: &crate::profile::Database) {
    if let Some(image) = &database.image {
        pinned(
            c,
            "/spec/database/image",
            image,
            database.allow_unpinned_image,
        );
    }
    if let Some(resources) = database.pgpool.as_ref().and_then(|p| p.resources.as_ref()) {
        check_resources(c, "/spec/database/pgpool/resources", resources);
    }
    if let Some(pgpool) = &database.pgpool {
        if let Some(image) = &pgpool.image {
            pinned(
                c,
                "/spec/database/pgpool/image",
                image,
                pgpool.allow_unpinned_image,
            );
        }
    }
}

/// A volume large enough for WAL, and a restore that only a single PostgreSQL cluster can do.
fn check_storage_and_restore(c: &mut Checker<'_>, database: &crate::profile::Database) {
    if let Some(size) = database.storage.as_ref().and_then(|s| s.size.as_ref()) {
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
}

/// The database's node pool is one the profile lists.
fn check_node_pool(c: &mut Checker<'_>, pool: &str, pools: &[String]) {
    if pools.is_empty() || pools.iter().any(|p| p == pool) {
        return;
    }
    let help = match crate::diag::closest(pool, pools) {
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

/// One source for the database certificate, and none when TLS is off.
fn check_database_tls(c: &mut Checker<'_>, database: &crate::profile::Database) {
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
    }
}

/// The newest snapshot is as old as the schedule's longest gap just before the next run:
/// an alert limit that the gap reaches can fire on an ordinary cycle, and an alert that
/// fires with nothing wrong is one nobody reads.
fn check_snapshot_alert(c: &mut Checker<'_>, customer: &crate::model::Customer) {
    let limit = customer.monitoring.snapshot_max_age_hours;
    let gap = customer
        .backup
        .as_ref()
        .and_then(|b| crate::syntax::cron_max_gap_minutes(&b.schedule));
    if let Some(gap) = gap.filter(|gap| *gap >= u64::from(limit) * 60) {
        c.warning(
            Code::SnapshotAlertTooSoon,
            "/spec/backup/snapshots/schedule",
            format!(
                "snapshots up to {} apart: the newest is {limit} h old, SnapshotTooOld's limit, before the next one is ready, so the alert can fire with nothing wrong",
                hours_and_minutes(gap)
            ),
            "snapshot more often, or raise `monitoring.alerts.snapshotMaxAgeHours` above the longest gap with room for the job to run",
        );
    }
}

/// `90` → "1 h 30 min", `1440` → "24 h".
fn hours_and_minutes(minutes: u64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// Every PostgreSQL parameter the profile sets: not one gitopsc owns (E0321; the
/// archive's own while it is on), known to the profile's major version with a valid value
/// (E0309, E0310), within Patroni's bounds.
fn check_parameters(c: &mut Checker<'_>, customer: &crate::model::Customer) {
    let database = &customer.database;
    let version = database.version;
    for (name, value) in &database.parameters {
        let pointer = format!(
            "/spec/database/parameters/{}",
            crate::load::escape_segment(name)
        );
        let archived = customer.archive.is_some()
            && crate::patroni::ARCHIVE_PARAMETERS.contains(&name.as_str());
        if archived || crate::patroni::MANAGED_PARAMETERS.contains(&name.as_str()) {
            let location = root_key(c.root, &pointer);
            c.diagnostics.push(
                Diagnostic::error(
                    Code::ManagedParameter,
                    format!("`{name}` is set by gitopsc and Patroni, not by the profile"),
                )
                .at(location)
                .field(crate::load::dotted(&pointer))
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
                    .field(crate::load::dotted(&pointer))
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
        _ if crate::patroni::ARCHIVE_PARAMETERS.contains(&name) => {
            "the WAL archive (`backup.archive`) sets it: remove it, or turn the archive off to archive another way; `backup.recoveryPointSeconds` sets `archive_timeout`".into()
        }
        _ => "remove it; docs/database.md lists the parameters gitopsc sets".into(),
    }
}

fn root_key(root: &Node, pointer: &str) -> crate::diag::Location {
    root.pointer(pointer)
        .and_then(|(_, key)| key.cloned())
        .unwrap_or_else(|| locate(root, pointer))
}

fn check_resources(c: &mut Checker<'_>, pointer: &str, resources: &crate::profile::Resources) {
    let requests = resources.requests.clone().unwrap_or_default();
    let limits = resources.limits.clone().unwrap_or_default();
    for (resource, request, limit) in [
        (
            "cpu",
            requests.cpu.map(String::from),
            limits.cpu.map(String::from),
        ),
        (
            "memory",
            requests.memory.map(String::from),
            limits.memory.map(String::from),
        ),
    ] {
        let (Some(request), Some(limit)) = (request, limit) else {
            continue;
        };
        if let (Some(r), Some(l)) = (quantity_value(&request), quantity_value(&limit)) {
            if r > l {
                c.error(
                    Code::InvalidField,
                    &format!("{pointer}/requests/{resource}"),
                    format!("{resource} request ({request}) is larger than its limit ({limit})"),
                    "Kubernetes rejects a request above the limit",
                );
            }
        }
    }
}

/// An image by tag needs its field's opt-out, `allowUnpinnedImage` (images without one are
/// `syntax::PinnedImage`). The reference's syntax is its type's.
fn pinned(c: &mut Checker<'_>, pointer: &str, image: &Image, opt_out: Option<bool>) {
    if is_pinned(image)
        || opt_out.unwrap_or(defaults::ALLOW_UNPINNED_IMAGE)
        || crate::syntax::problem(Image::FORMAT, image).is_some()
    {
        return;
    }
    let field = pointer.rsplit_once('/').map_or("", |(parent, _)| parent);
    c.error(
        Code::UnpinnedImage,
        pointer,
        format!("image `{}` is not pinned by digest", image.0),
        format!(
            "append `@sha256:<digest>` so the reviewed output is what runs, or set `{}.allowUnpinnedImage: true`",
            crate::load::dotted(field)
        ),
    );
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
pub fn looks_like_secret_value(value: &str) -> bool {
    value.contains("-----BEGIN")
        || value.split_once("://").is_some_and(|(_, rest)| {
            rest.split('/')
                .next()
                .is_some_and(|auth| auth.contains(':') && auth.contains('@'))
        })
}
