//! `templates/checks.yaml`: what `values.schema.json` cannot state, checked when Helm renders
//! the chart, each failure with the compiler's code and message (`check.rs`,
//! `pgsettings.rs`): the namespace the objects name, the rules between values (E0302,
//! E0308, E0326, E0327, a request above its limit) and the bounds of a PostgreSQL value
//! given with a unit or as text (E0310, E0322). Renders nothing.

use super::template::literal;
use crate::model::{Customer, Scaling};

pub fn checks(customer: &Customer) -> String {
    [
        "{{- /* Written by gitopsc: what values.schema.json cannot state. Renders nothing. */ -}}\n"
            .to_string(),
        namespace(customer),
        parameters(customer),
        app(customer),
        pgpool(customer),
        memory(customer),
        requests(customer),
    ]
    .concat()
}

fn namespace(customer: &Customer) -> String {
    format!(
        "{{{{- if ne .Release.Namespace {namespace} }}}}\n\
         {{{{- fail (printf \"the chart installs customer {name} into namespace {ns}, not %s: helm upgrade --install {name} <chart> --namespace {ns} --create-namespace --take-ownership\" .Release.Namespace) }}}}\n\
         {{{{- end }}}}\n",
        namespace = literal(&customer.namespace),
        name = customer.name,
        ns = customer.namespace,
    )
}

/// E0310 and E0322 for every numeric parameter: its value in base units against
/// PostgreSQL's bounds and Patroni's floor, as `pgsettings::check` computes it.
fn parameters(customer: &Customer) -> String {
    let version = customer.database.version;
    let float = |value: Option<f64>, otherwise: &str| {
        value.map_or_else(|| otherwise.to_string(), |v| format!("{v:?}"))
    };
    let bounds: Vec<String> = crate::pgsettings::table()
        .iter()
        .filter(|s| s.since <= version && s.until.is_none_or(|u| version <= u))
        .filter(|s| matches!(s.vartype.as_str(), "integer" | "real"))
        .map(|setting| {
            let (why, hint) = crate::pgsettings::out_of_range(setting);
            let floor = crate::patroni::floor(&setting.name).and_then(|(min, _)| min);
            format!(
                "{} (list {:?} {} {} {} {})",
                literal(&setting.name),
                crate::pgsettings::base_size(setting),
                float(setting.min, "-1e308"),
                float(setting.max, "1e308"),
                literal(&format!("{why}; {hint}")),
                floor.map_or_else(|| "-1e308".to_string(), |f| format!("{:?}", f as f64)),
            )
        })
        .collect();
    let sizes: Vec<String> = crate::pgsettings::unit_sizes()
        .map(|(unit, size)| format!("{} {size:?}", literal(unit)))
        .collect();
    format!(
        "{{{{- $bounds := dict {bounds} }}}}\n\
         {{{{- $sizes := dict {sizes} }}}}\n\
         {{{{- range $name, $value := .Values.database.parameters }}}}\n\
         {{{{- $bound := get $bounds $name }}}}\n\
         {{{{- if $bound }}}}\n\
         {{{{- $text := include \"gitopsc.parameter\" $value }}}}\n\
         {{{{- $number := regexFind \"^[0-9.+eE-]*\" (trim $text) }}}}\n\
         {{{{- $unit := trim (trimPrefix $number (trim $text)) }}}}\n\
         {{{{- $amount := float64 $number }}}}\n\
         {{{{- if $unit }}}}{{{{ $amount = divf (mulf $amount (get $sizes $unit)) (index $bound 0) }}}}{{{{ end }}}}\n\
         {{{{- if or (lt $amount (index $bound 1)) (gt $amount (index $bound 2)) }}}}\n\
         {{{{- fail (printf \"error[E0310]: `%s = %s`: %s\" $name $text (index $bound 3)) }}}}\n\
         {{{{- end }}}}\n\
         {{{{- if lt $amount (index $bound 4) }}}}\n\
         {{{{- fail (printf \"error[E0322]: Patroni replaces `%s = %s` with its own default; Patroni accepts `%s` from %.0f up\" $name (trim $text) $name (index $bound 4)) }}}}\n\
         {{{{- end }}}}\n\
         {{{{- end }}}}\n\
         {{{{- end }}}}\n",
        bounds = bounds.join(" "),
        sizes = sizes.join(" "),
    )
}

/// E0302 and E0327: the app's bounds in order, and the app at its largest against the
/// sessions Pgpool serves.
fn app(customer: &Customer) -> String {
    let (app, pgpool) = (&customer.app, &customer.database.pgpool);
    let mut out = String::new();
    let pods = match app.scaling {
        Scaling::Auto { .. } => {
            out.push_str(
                "{{- if gt (int64 .Values.app.autoscaling.minReplicas) (int64 .Values.app.autoscaling.maxReplicas) }}\n\
                 {{- fail (printf \"error[E0302]: minReplicas (%d) is greater than maxReplicas (%d); lower minReplicas or raise maxReplicas\" (int64 .Values.app.autoscaling.minReplicas) (int64 .Values.app.autoscaling.maxReplicas)) }}\n\
                 {{- end }}\n",
            );
            "(int64 .Values.app.autoscaling.maxReplicas)"
        }
        Scaling::Fixed(_) => "(int64 .Values.app.replicas)",
    };
    out.push_str(&format!(
        "{{{{- $pods := add {pods} {surge} }}}}\n\
         {{{{- $demand := mul $pods {per_pod} }}}}\n\
         {{{{- $children := int64 .Values.database.pgpool.numInitChildren }}}}\n\
         {{{{- $capacity := mul {replicas} $children }}}}\n\
         {{{{- if gt $demand $capacity }}}}\n\
         {{{{- fail (printf \"error[E0327]: the app can hold %d pods × {per_pod} = %d connections, but {replicas} Pgpool pods × %d children serve %d; raise pgpool.numInitChildren to %d (and check the Pgpool budget), add Pgpool replicas, or lower app.databaseConnectionsPerPod\" $pods $demand $children $capacity (div (add $demand {replicas_minus_one}) {replicas})) }}}}\n\
         {{{{- end }}}}\n",
        surge = app.max_surge,
        per_pod = app.database_connections_per_pod,
        replicas = pgpool.replicas.max(1),
        replicas_minus_one = pgpool.replicas.max(1) - 1,
    ));
    out
}

/// A parameter's whole-number value, as `model::reserved_connections` reads it, or a
/// default; into `$count`.
fn counts(defaults: &[(&str, &str)]) -> String {
    let pairs: Vec<String> = defaults
        .iter()
        .map(|(name, default)| format!("{} {default}", literal(name)))
        .collect();
    format!(
        "{{{{- $count := dict }}}}\n\
         {{{{- range $name, $default := dict {} }}}}\n\
         {{{{- $text := trim (include \"gitopsc.parameter\" (get $.Values.database.parameters $name | default \"\")) }}}}\n\
         {{{{- $_ := set $count $name (ternary (float64 $text) $default (regexMatch \"^[0-9]+(\\\\.[0-9]*)?$\" $text)) }}}}\n\
         {{{{- end }}}}\n",
        pairs.join(" ")
    )
}

/// E0308: Pgpool's connections against what PostgreSQL accepts.
fn pgpool(customer: &Customer) -> String {
    let replicas = customer.database.pgpool.replicas;
    let superuser = crate::profile::defaults::SUPERUSER_RESERVED_CONNECTIONS;
    let mut out = counts(&[
        ("superuser_reserved_connections", &format!("{superuser}.0")),
        ("reserved_connections", "0.0"),
        ("max_connections", "-1.0"),
    ]);
    out.push_str(&format!(
        "{{{{- $reserved := int64 (addf (get $count \"superuser_reserved_connections\") (get $count \"reserved_connections\")) }}}}\n\
         {{{{- $maxPool := int64 .Values.database.pgpool.maxPool }}}}\n\
         {{{{- $pgpoolDemand := mul {replicas} (int64 .Values.database.pgpool.numInitChildren) $maxPool }}}}\n\
         {{{{- $maxConnections := int64 (get $count \"max_connections\") }}}}\n\
         {{{{- $supply := max 0 (sub $maxConnections $reserved) }}}}\n\
         {{{{- if and (ge $maxConnections 0) (gt $pgpoolDemand $supply) }}}}\n\
         {{{{- fail (printf \"error[E0308]: Pgpool can open {replicas} × %d × %d = %d connections, but PostgreSQL accepts %d − %d reserved = %d; lower pgpool.numInitChildren or maxPool, or raise database.parameters.max_connections to at least %d\" (int64 .Values.database.pgpool.numInitChildren) $maxPool $pgpoolDemand $maxConnections $reserved $supply (add $pgpoolDemand $reserved)) }}}}\n\
         {{{{- end }}}}\n"
    ));
    out
}

/// E0326: PostgreSQL's memory at full use against the member's limit, as
/// `check::check_memory_budget` adds it up.
fn memory(_: &Customer) -> String {
    let base = |name: &str| crate::pgsettings::bytes(name, "1").unwrap_or(1.0);
    let mut out = counts(&[
        ("max_connections", "100.0"),
        ("autovacuum_max_workers", "3.0"),
    ]);
    let memory_units: Vec<String> = crate::pgsettings::unit_sizes()
        .take_while(|(unit, _)| *unit != "us")
        .map(|(unit, size)| format!("{} {size:?}", literal(unit)))
        .collect();
    out.push_str(&format!(
        "{{{{- $bytes := dict }}}}\n\
         {{{{- range $name, $spec := dict \"shared_buffers\" (list {shared:?} \"128MB\") \"work_mem\" (list {kb:?} \"4MB\") \"maintenance_work_mem\" (list {kb:?} \"64MB\") \"autovacuum_work_mem\" (list {kb:?} \"-1\") }}}}\n\
         {{{{- $text := trim (include \"gitopsc.parameter\" (get $.Values.database.parameters $name | default (index $spec 1))) }}}}\n\
         {{{{- $number := regexFind \"^[0-9-]*\" $text }}}}\n\
         {{{{- $unit := trim (trimPrefix $number $text) }}}}\n\
         {{{{- $units := dict \"\" (index $spec 0) {memory_units} }}}}\n\
         {{{{- $_ := set $bytes $name (ternary (mulf (float64 $number) (get $units $unit)) 0.0 (and (regexMatch \"^-?[0-9]+$\" $number) (hasKey $units $unit))) }}}}\n\
         {{{{- end }}}}\n\
         {{{{- $maintenance := get $bytes \"maintenance_work_mem\" }}}}\n\
         {{{{- $autovacuum := ternary (get $bytes \"autovacuum_work_mem\") $maintenance (gt (get $bytes \"autovacuum_work_mem\") 0.0) }}}}\n\
         {{{{- $connections := get $count \"max_connections\" }}}}\n\
         {{{{- $workers := get $count \"autovacuum_max_workers\" }}}}\n\
         {{{{- $total := addf (get $bytes \"shared_buffers\") (mulf $connections (get $bytes \"work_mem\")) (mulf $workers $autovacuum) $maintenance (mulf {overhead:?} 1048576.0) }}}}\n\
         {{{{- $limit := float64 (include \"gitopsc.quantity\" .Values.database.resources.limits.memory) }}}}\n\
         {{{{- if gt $total $limit }}}}\n\
         {{{{- $mib := round (divf $total 1048576.0) 0 }}}}\n\
         {{{{- fail (printf \"error[E0326]: PostgreSQL may use %.0f MiB: shared_buffers %.0f + %v connections × work_mem %.0f + %v autovacuum workers × %.0f + maintenance %.0f + {overhead} for the server and Patroni; the limit is %.0f MiB; raise the memory limit to at least %.0f MiB, or lower work_mem, max_connections or shared_buffers\" $mib (round (divf (get $bytes \"shared_buffers\") 1048576.0) 0) $connections (round (divf (get $bytes \"work_mem\") 1048576.0) 0) $workers (round (divf $autovacuum 1048576.0) 0) (round (divf $maintenance 1048576.0) 0) (round (divf $limit 1048576.0) 0) $mib) }}}}\n\
         {{{{- end }}}}\n",
        shared = base("shared_buffers"),
        kb = base("work_mem"),
        overhead = crate::check::MEMORY_OVERHEAD_MIB,
        memory_units = memory_units.join(" "),
    ));
    out
}

/// A request above its limit, which Kubernetes refuses (`check::check_resources`).
fn requests(_: &Customer) -> String {
    let mut out = String::new();
    for section in ["database.resources", "database.pgpool.resources"] {
        for resource in ["cpu", "memory"] {
            out.push_str(&format!(
                "{{{{- $request := toString .Values.{section}.requests.{resource} }}}}\n\
                 {{{{- $limit := toString .Values.{section}.limits.{resource} }}}}\n\
                 {{{{- if gt (float64 (include \"gitopsc.quantity\" $request)) (float64 (include \"gitopsc.quantity\" $limit)) }}}}\n\
                 {{{{- fail (printf \"error[E0317]: {resource} request (%s) is larger than its limit (%s); Kubernetes rejects a request above the limit\" $request $limit) }}}}\n\
                 {{{{- end }}}}\n"
            ));
        }
    }
    out
}
